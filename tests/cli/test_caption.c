/* test_caption.c — `vlkit caption` end to end: the binary's --json ids for the fixture images
 * equal transformers' generate() ids (greedy and beam 3 with a prompt, flags taken from the
 * fixture's kwargs); bad images are reported and skipped with exit status 1; usage errors exit 2. */
#include "tests/common/cli_run.h"
#include "tests/common/fixtures.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const cJSON *generation(cJSON *expected, const char *name) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected, "generation"), name);
    cr_assert_not_null(g);
    return g;
}

static void check_lines(const char *output, const cJSON *want_ids, const char *const *images) {
    const char *line = output;
    for (int i = 0; i < cJSON_GetArraySize(want_ids); i++) {
        const char *end = strchr(line, '\n');
        cr_assert_not_null(end, "missing output line %d in:\n%s", i, output);
        cJSON *o = cJSON_ParseWithLength(line, (size_t)(end - line));
        cr_assert_not_null(o, "not JSON: %.*s", (int)(end - line), line);
        cr_assert(strstr(cJSON_GetObjectItemCaseSensitive(o, "image")->valuestring, images[i]));
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(o, "ids"), *want = cJSON_GetArrayItem(want_ids, i);
        char *a = cJSON_PrintUnformatted(ids), *b = cJSON_PrintUnformatted(want);
        cr_assert_str_eq(a, b, "image %s", images[i]);
        free(a), free(b);
        cJSON_Delete(o);
        line = end + 1;
    }
}

static const char *const images[] = {"img0_landscape_rgb.png", "img1_portrait_rgb_q90_420.jpg"};

Test(cli_caption, greedy_ids_equal_transformers) {
    cJSON *expected = fixture_json("blip-tiny/captioning/expected.json");
    const cJSON *g = generation(expected, "greedy");
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(g, "kwargs");
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "%s caption --json --max-length %d --model %s %s/%s %s/%s", vlkit(),
             cJSON_GetObjectItemCaseSensitive(kw, "max_length")->valueint, fixture_path("blip-tiny/captioning/model"),
             fixture_path("blip-tiny/preprocess/images"), images[0], fixture_path("blip-tiny/preprocess/images"), images[1]);
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    check_lines(out, cJSON_GetObjectItemCaseSensitive(g, "ids"), images);
    free(out);
    cJSON_Delete(expected);
}

Test(cli_caption, beam_search_with_prompt_ids_equal_transformers) {
    cJSON *expected = fixture_json("blip-tiny/captioning/expected.json");
    const cJSON *g = generation(expected, "beam3_prompt");
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(g, "kwargs");
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "%s caption --json --beams %d --max-length %d --min-length %d --prompt '%s' --model %s %s/%s %s/%s",
             vlkit(), cJSON_GetObjectItemCaseSensitive(kw, "num_beams")->valueint,
             cJSON_GetObjectItemCaseSensitive(kw, "max_length")->valueint,
             cJSON_GetObjectItemCaseSensitive(kw, "min_length")->valueint,
             cJSON_GetObjectItemCaseSensitive(g, "prompt")->valuestring, fixture_path("blip-tiny/captioning/model"),
             fixture_path("blip-tiny/preprocess/images"), images[0], fixture_path("blip-tiny/preprocess/images"), images[1]);
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    check_lines(out, cJSON_GetObjectItemCaseSensitive(g, "ids"), images);
    free(out);
    /* the plain output is "path<TAB>caption" with the decoded text */
    snprintf(cmd, sizeof cmd, "%s caption --beams 3 --min-length 5 --prompt 'a picture of' --model %s %s/%s", vlkit(),
             fixture_path("blip-tiny/captioning/model"), fixture_path("blip-tiny/preprocess/images"), images[0]);
    cr_assert_eq(run(cmd, &out), 0);
    const char *tab = strchr(out, '\t');
    cr_assert_not_null(tab);
    char want[512];
    snprintf(want, sizeof want, "%s\n", cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "texts"), 0)->valuestring);
    cr_assert_str_eq(tab + 1, want);
    free(out);
    cJSON_Delete(expected);
}

Test(cli_caption, bf16_beam_search_keeps_the_prompt_and_the_lengths) {
    /* bf16 ids need not equal float32's (near-ties), but the run must succeed, keep the prompt's
     * ids as transformers builds them, and honour min/max length with [SEP] then [PAD] */
    cJSON *expected = fixture_json("blip-tiny/captioning/expected.json");
    const cJSON *g = generation(expected, "beam3_prompt");
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(g, "kwargs");
    int max_length = cJSON_GetObjectItemCaseSensitive(kw, "max_length")->valueint;
    int min_length = cJSON_GetObjectItemCaseSensitive(kw, "min_length")->valueint;
    int prompt_len = cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "prompt_input_ids"), 0)) - 1;
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "%s caption --json --dtype bf16 --beams 3 --max-length %d --min-length %d --prompt '%s' --model %s %s/%s %s/%s",
             vlkit(), max_length, min_length, cJSON_GetObjectItemCaseSensitive(g, "prompt")->valuestring,
             fixture_path("blip-tiny/captioning/model"), fixture_path("blip-tiny/preprocess/images"), images[0],
             fixture_path("blip-tiny/preprocess/images"), images[1]);
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    cJSON *cfg = fixture_json("blip-tiny/captioning/model/config.json");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");
    const cJSON *sep_j = cJSON_GetObjectItemCaseSensitive(tc, "sep_token_id"), *pad_j = cJSON_GetObjectItemCaseSensitive(tc, "pad_token_id");
    int sep = cJSON_IsNumber(sep_j) ? sep_j->valueint : 102, pad = cJSON_IsNumber(pad_j) ? pad_j->valueint : 0;
    const char *line = out;
    for (int i = 0; i < 2; i++) {
        const char *end = strchr(line, '\n');
        cr_assert_not_null(end, "missing output line %d in:\n%s", i, out);
        cJSON *o = cJSON_ParseWithLength(line, (size_t)(end - line));
        cr_assert_not_null(o);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(o, "ids");
        const cJSON *want = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "ids"), i);
        int n = cJSON_GetArraySize(ids), stop = -1;
        cr_assert(n <= max_length, "image %d: %d ids > max_length %d", i, n, max_length);
        for (int j = 0; j < prompt_len; j++)
            cr_assert_eq(cJSON_GetArrayItem(ids, j)->valueint, cJSON_GetArrayItem(want, j)->valueint, "image %d prompt id %d", i, j);
        for (int j = prompt_len; j < n && stop < 0; j++)
            if (cJSON_GetArrayItem(ids, j)->valueint == sep) stop = j;
        if (stop >= 0) {
            cr_assert(stop >= min_length, "image %d: [SEP] at %d, before min_length %d", i, stop, min_length);
            for (int j = stop + 1; j < n; j++) cr_assert_eq(cJSON_GetArrayItem(ids, j)->valueint, pad, "image %d id %d after [SEP]", i, j);
        }
        cJSON_Delete(o);
        line = end + 1;
    }
    cr_assert_eq(*line, 0, "extra output: %s", line);
    free(out);
    cJSON_Delete(cfg);
    cJSON_Delete(expected);
}

Test(cli_caption, bad_images_are_reported_and_skipped) {
    char *dir = test_tmpdir();
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "printf 'not an image' > %s/broken.png && : > %s/empty.jpg", dir, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s caption --model %s %s/broken.png %s/%s %s/empty.jpg %s/missing.png 2>%s/err", vlkit(),
             fixture_path("blip-tiny/captioning/model"), dir, fixture_path("blip-tiny/preprocess/images"), images[0], dir, dir,
             dir);
    cr_assert_eq(run(cmd, &out), 1, "a failed image must make the exit status 1");
    cr_assert_eq(strchr(out, '\n') - out + 1, (long)strlen(out), "exactly the good image is captioned:\n%s", out);
    cr_assert(strstr(out, images[0]));
    free(out);
    snprintf(cmd, sizeof cmd, "cat %s/err", dir);
    run(cmd, &out);
    cr_assert(strstr(out, "broken.png") && strstr(out, "empty.jpg") && strstr(out, "missing.png"), "%s", out);
    cr_assert(strstr(out, "3 of 4 images"), "%s", out);
    free(out);
    free(dir);
}

Test(cli_caption, usage_and_model_errors) {
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "%s caption --model %s --beams 0 x.png 2>&1", vlkit(), fixture_path("blip-tiny/captioning/model"));
    cr_assert_eq(run(cmd, &out), 2);
    cr_assert(strstr(out, "--beams"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s caption --model /nonexistent/model x.png 2>&1", vlkit());
    cr_assert_eq(run(cmd, &out), 1);
    cr_assert(strstr(out, "vlkit: error:") && strstr(out, "/nonexistent/model"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s caption --model %s --dtype f8 x.png 2>&1", vlkit(), fixture_path("blip-tiny/captioning/model"));
    cr_assert_eq(run(cmd, &out), 2);
    free(out);
    snprintf(cmd, sizeof cmd, "%s caption --help", vlkit());
    cr_assert_eq(run(cmd, &out), 0);
    cr_assert(strstr(out, "--beams") && strstr(out, "--prompt"));
    free(out);
}

Test(cli_caption, adapter_and_export_give_peft_ids) {
    cJSON *lora = fixture_json("blip-tiny/captioning/lora/expected.json");
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(lora, "gen_greedy_ids");
    char cmd[8192], *out;
    snprintf(cmd, sizeof cmd, "%s caption --json --model %s --adapter %s %s/%s %s/%s", vlkit(),
             fixture_path("blip-tiny/captioning/model"), fixture_path("blip-tiny/captioning/lora/adapter"),
             fixture_path("blip-tiny/preprocess/images"), images[0], fixture_path("blip-tiny/preprocess/images"), images[1]);
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    check_lines(out, want, images);
    free(out);
    char *dir = test_tmpdir();
    snprintf(cmd, sizeof cmd, "%s export --model %s --adapter %s --out %s/merged", vlkit(), fixture_path("blip-tiny/captioning/model"),
             fixture_path("blip-tiny/captioning/lora/adapter"), dir);
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    free(out);
    snprintf(cmd, sizeof cmd, "%s caption --json --model %s/merged %s/%s %s/%s", vlkit(), dir,
             fixture_path("blip-tiny/preprocess/images"), images[0], fixture_path("blip-tiny/preprocess/images"), images[1]);
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    check_lines(out, want, images);
    free(out);
    free(dir);
    cJSON_Delete(lora);
}
