/* test_retrieval.c — `vlkit index` and `vlkit search` end to end with the blip-tiny ITM model:
 * the index file as docs/retrieval.md describes it (read here with the plain safetensors reader,
 * not vlkit's index code), incremental adds that keep existing rows bit for bit, rankings and
 * scores equal to cosines computed here from the index rows, cosines and ITM probabilities
 * equal to transformers' (fixture itm/expected.json), and the errors (one line, exit 1; usage 2). */
#include "model/weights/safetensors.h"
#include "tests/common/cli_run.h"
#include "tests/common/fixtures.h"
#include "util/error.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define MODEL "blip-tiny/itm/model"
#define IMAGES "blip-tiny/preprocess/images"

static char *slurp(const char *path) {
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "cat '%s'", path);
    run(cmd, &out);
    return out;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* The index read with the generic safetensors reader. */
typedef struct {
    vk_weights *w;
    cJSON *paths;
    int n, dim;
    const float *emb;
} index_file;

static index_file open_index(const char *path) {
    index_file f = {0};
    f.w = vk_safetensors_open(path);
    cr_assert_not_null(f.w, "%s", vk_err_msg());
    cr_assert_str_eq(vk_weights_metadata_get(f.w, "vlkit_index"), "1");
    cr_assert_str_eq(vk_weights_metadata_get(f.w, "format"), "pt");
    char *model = realpath(fixture_path(MODEL), NULL);
    cr_assert_str_eq(vk_weights_metadata_get(f.w, "model"), model);
    free(model);
    cr_assert_str_eq(vk_weights_metadata_get(f.w, "image_size"), "32");
    f.dim = atoi(vk_weights_metadata_get(f.w, "dim"));
    f.n = atoi(vk_weights_metadata_get(f.w, "count"));
    cr_assert_eq(f.dim, 16, "image_text_hidden_size of the tiny ITM model");
    f.paths = cJSON_Parse(vk_weights_metadata_get(f.w, "paths"));
    cr_assert(cJSON_IsArray(f.paths) && cJSON_GetArraySize(f.paths) == f.n);
    const vk_tensor_view *e = vk_weights_find(f.w, "embeddings");
    cr_assert(e && e->dtype == VK_DTYPE_F32 && e->ndim == 2 && e->shape[0] == f.n && e->shape[1] == f.dim);
    f.emb = e->data;
    for (int i = 0; i < f.n; i++) {
        double s = 0;
        for (int d = 0; d < f.dim; d++) s += (double)f.emb[i * f.dim + d] * f.emb[i * f.dim + d];
        cr_assert(fabs(sqrt(s) - 1) < 1e-5, "row %d has norm %g, not 1", i, sqrt(s));
        cr_assert(cJSON_IsString(cJSON_GetArrayItem(f.paths, i)) && cJSON_GetArrayItem(f.paths, i)->valuestring[0] == '/',
                  "paths are absolute");
    }
    return f;
}

static void close_index(index_file *f) {
    cJSON_Delete(f->paths);
    vk_weights_close(f->w);
}

static int row_of(const index_file *f, const char *name) {
    for (int i = 0; i < f->n; i++) {
        const char *p = cJSON_GetArrayItem(f->paths, i)->valuestring, *slash = strrchr(p, '/');
        if (strcmp(slash ? slash + 1 : p, name) == 0) return i;
    }
    cr_assert_fail("%s is not in the index", name);
    return -1;
}

/* Index the six fixture images into dir/ix.safetensors: two first, then the folder. */
static char *make_index(const char *dir) {
    char cmd[4096], *out, *ix = malloc(1024);
    snprintf(ix, 1024, "%s/ix.safetensors", dir);
    snprintf(cmd, sizeof cmd, "%s index --model %s --out %s %s/img0_landscape_rgb.png %s/img1_portrait_rgb_q90_420.jpg", vlkit(),
             fixture_path(MODEL), ix, fixture_path(IMAGES), fixture_path(IMAGES));
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    cr_assert(strstr(out, "2 images (2 added, 0 already indexed), 16 dims"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s index --model %s --out %s --batch-size 3 %s", vlkit(), fixture_path(MODEL), ix, fixture_path(IMAGES));
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    cr_assert(strstr(out, "6 images (4 added, 2 already indexed)"), "%s", out);
    free(out);
    return ix;
}

Test(cli_retrieval, index_is_incremental_and_keeps_rows) {
    char *dir = test_tmpdir(), cmd[4096], *out;
    char first[1024];
    snprintf(first, sizeof first, "%s/two.safetensors", dir);
    snprintf(cmd, sizeof cmd, "%s index --model %s --out %s %s/img0_landscape_rgb.png %s/img1_portrait_rgb_q90_420.jpg", vlkit(),
             fixture_path(MODEL), first, fixture_path(IMAGES), fixture_path(IMAGES));
    cr_assert_eq(run(cmd, NULL), 0);
    index_file a = open_index(first);
    cr_assert_eq(a.n, 2);
    char *ix = make_index(dir);
    index_file b = open_index(ix);
    cr_assert_eq(b.n, 6);
    /* the first two rows are the same images, bit for bit; every fixture image once */
    for (int i = 0; i < 2; i++) {
        cr_assert_str_eq(cJSON_GetArrayItem(a.paths, i)->valuestring, cJSON_GetArrayItem(b.paths, i)->valuestring);
        cr_assert(memcmp(a.emb + i * 16, b.emb + i * 16, 16 * sizeof(float)) == 0, "row %d changed when images were added", i);
    }
    const char *names[] = {"img0_landscape_rgb.png", "img1_portrait_rgb_q90_420.jpg", "img2_gray.png",
                           "img3_rgba.png",          "img4_exact_rgb.png",            "img5_small_q95_444.jpg"};
    for (int i = 0; i < 6; i++) row_of(&b, names[i]);
    /* batching does not change a row: the folder run (batch 3) agrees with a one-image run */
    char one[1024];
    snprintf(one, sizeof one, "%s/one.safetensors", dir);
    snprintf(cmd, sizeof cmd, "%s index --model %s --out %s --batch-size 1 %s/img4_exact_rgb.png", vlkit(), fixture_path(MODEL), one,
             fixture_path(IMAGES));
    cr_assert_eq(run(cmd, NULL), 0);
    index_file c = open_index(one);
    int r4 = row_of(&b, "img4_exact_rgb.png");
    for (int d = 0; d < 16; d++) cr_assert(fabsf(c.emb[d] - b.emb[r4 * 16 + d]) < 1e-6);
    close_index(&c);
    /* nothing new: the file is left as it is (same bytes), exit 0; a path given twice counts once */
    char *before = slurp(ix);
    snprintf(cmd, sizeof cmd, "%s index --model %s --out %s %s %s/img2_gray.png", vlkit(), fixture_path(MODEL), ix, fixture_path(IMAGES),
             fixture_path(IMAGES));
    cr_assert_eq(run(cmd, &out), 0);
    cr_assert(strstr(out, "6 images, nothing new to add"), "%s", out);
    free(out);
    char *after = slurp(ix);
    cr_assert_str_eq(before, after);
    free(before), free(after);
    close_index(&a), close_index(&b);
    free(ix), free(dir);
}

Test(cli_retrieval, image_query_scores_equal_cosines_of_the_index_rows) {
    char *dir = test_tmpdir(), cmd[4096], *out;
    char *ix = make_index(dir);
    index_file f = open_index(ix);
    snprintf(cmd, sizeof cmd, "%s search --index %s --model %s --image %s/img2_gray.png --top 0 --json", vlkit(), ix,
             fixture_path(MODEL), fixture_path(IMAGES));
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    cr_assert_eq(count_lines(out), 6, "%s", out);
    int q = row_of(&f, "img2_gray.png");
    double prev = INFINITY;
    const char *line = out;
    for (int rank = 1; rank <= 6; rank++) {
        const char *end = strchr(line, '\n');
        cJSON *o = cJSON_ParseWithLength(line, (size_t)(end - line));
        cr_assert_not_null(o, "not JSON: %.*s", (int)(end - line), line);
        cr_assert_eq(cJSON_GetObjectItem(o, "rank")->valueint, rank);
        const char *path = cJSON_GetObjectItem(o, "path")->valuestring, *slash = strrchr(path, '/');
        int r = row_of(&f, slash + 1);
        double want = 0;
        for (int d = 0; d < 16; d++) want += (double)f.emb[q * 16 + d] * f.emb[r * 16 + d];
        double score = cJSON_GetObjectItem(o, "score")->valuedouble;
        cr_assert(fabs(score - want) < 1e-5, "rank %d %s: score %.7f, cosine of the index rows %.7f", rank, path, score, want);
        cr_assert(score <= prev + 1e-7, "scores must not increase down the ranking");
        if (rank == 1) cr_assert_eq(r, q, "the query image itself ranks first");
        prev = score;
        cJSON_Delete(o);
        line = end + 1;
    }
    free(out);
    close_index(&f);
    free(ix), free(dir);
}

Test(cli_retrieval, text_query_cosines_and_rerank_match_transformers) {
    cJSON *expected = fixture_json("blip-tiny/itm/expected.json");
    const cJSON *texts = cJSON_GetObjectItem(cJSON_GetObjectItem(expected, "inputs"), "texts");
    const char *cat = cJSON_GetArrayItem(texts, 0)->valuestring;
    double want_cos = cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(expected, "cosine_sim"), 0), 0)->valuedouble;
    double want_itm = cJSON_GetArrayItem(cJSON_GetObjectItem(expected, "itm_match_prob"), 0)->valuedouble;
    char *dir = test_tmpdir(), cmd[4096], *out;
    char *ix = make_index(dir);
    /* plain output: rank<TAB>score<TAB>path, all six, scores descending; img0 (a PNG, decoded
     * exactly as PIL does) has transformers' cosine_sim[0][0] */
    snprintf(cmd, sizeof cmd, "%s search --index %s --model %s --text '%s' --top 0", vlkit(), ix, fixture_path(MODEL), cat);
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    cr_assert_eq(count_lines(out), 6, "%s", out);
    const char *line = out;
    double prev = INFINITY;
    int found = 0;
    for (int rank = 1; rank <= 6; rank++) {
        int r;
        double score;
        char path[1024];
        cr_assert_eq(sscanf(line, "%d\t%lf\t%1023[^\n]", &r, &score, path), 3, "%s", line);
        cr_assert_eq(r, rank);
        cr_assert(score <= prev);
        prev = score;
        if (strstr(path, "img0_landscape_rgb.png")) {
            cr_assert(fabs(score - want_cos) < 1e-5, "cosine %.7f, transformers %.7f", score, want_cos);
            found = 1;
        }
        line = strchr(line, '\n') + 1;
    }
    cr_assert(found);
    free(out);
    /* --top 6 --rerank 6: every image re-scored by the ITM head, sorted by match probability */
    snprintf(cmd, sizeof cmd, "%s search --index %s --model %s --text '%s' --top 6 --rerank 6 --json", vlkit(), ix, fixture_path(MODEL),
             cat);
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    cr_assert_eq(count_lines(out), 6, "%s", out);
    line = out;
    prev = INFINITY;
    for (int rank = 1; rank <= 6; rank++) {
        const char *end = strchr(line, '\n');
        cJSON *o = cJSON_ParseWithLength(line, (size_t)(end - line));
        const cJSON *itm = cJSON_GetObjectItem(o, "itm");
        cr_assert(cJSON_IsNumber(itm), "re-ranked hits carry itm: %.*s", (int)(end - line), line);
        cr_assert_eq(cJSON_GetObjectItem(o, "score")->valuedouble, itm->valuedouble);
        cr_assert(itm->valuedouble <= prev);
        prev = itm->valuedouble;
        if (strstr(cJSON_GetObjectItem(o, "path")->valuestring, "img0_landscape_rgb.png"))
            cr_assert(fabs(itm->valuedouble - want_itm) < 1e-5, "itm %.7f, transformers %.7f", itm->valuedouble, want_itm);
        cJSON_Delete(o);
        line = end + 1;
    }
    free(out);
    /* --top 2 prints two */
    snprintf(cmd, sizeof cmd, "%s search --index %s --model %s --text '%s' --top 2", vlkit(), ix, fixture_path(MODEL), cat);
    cr_assert_eq(run(cmd, &out), 0);
    cr_assert_eq(count_lines(out), 2, "%s", out);
    free(out);
    cJSON_Delete(expected);
    free(ix), free(dir);
}

Test(cli_retrieval, image_to_text_ranks_captions_as_transformers) {
    cJSON *expected = fixture_json("blip-tiny/itm/expected.json");
    const cJSON *texts = cJSON_GetObjectItem(cJSON_GetObjectItem(expected, "inputs"), "texts");
    const cJSON *cos = cJSON_GetArrayItem(cJSON_GetObjectItem(expected, "cosine_sim"), 0);
    vk_weights *w = vk_safetensors_open(fixture_path("blip-tiny/itm/expected.safetensors"));
    cr_assert_not_null(w, "%s", vk_err_msg());
    const float *itm = vk_weights_find(w, "itm_match_prob_matrix")->data; /* [image, text], row 0 = img0 */
    char *dir = test_tmpdir(), cmd[4096], *out, file[1024];
    snprintf(file, sizeof file, "%s/captions.txt", dir);
    FILE *fp = fopen(file, "w");
    fprintf(fp, "%s\r\n\n%s\n", cJSON_GetArrayItem(texts, 0)->valuestring, cJSON_GetArrayItem(texts, 1)->valuestring);
    fclose(fp);
    for (int re = 0; re <= 2; re += 2) {
        snprintf(cmd, sizeof cmd, "%s search --model %s --image %s/img0_landscape_rgb.png --texts %s --rerank %d --json", vlkit(),
                 fixture_path(MODEL), fixture_path(IMAGES), file, re);
        cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
        cr_assert_eq(count_lines(out), 2, "%s", out);
        const char *line = out;
        for (int k = 0; k < 2; k++) {
            const char *end = strchr(line, '\n');
            cJSON *o = cJSON_ParseWithLength(line, (size_t)(end - line));
            const char *text = cJSON_GetObjectItem(o, "text")->valuestring;
            int j = strcmp(text, cJSON_GetArrayItem(texts, 0)->valuestring) == 0 ? 0 : 1;
            cr_assert_str_eq(text, cJSON_GetArrayItem(texts, j)->valuestring);
            cr_assert(fabs(cJSON_GetObjectItem(o, "cosine")->valuedouble - cJSON_GetArrayItem(cos, j)->valuedouble) < 1e-5);
            if (re) cr_assert(fabs(cJSON_GetObjectItem(o, "itm")->valuedouble - itm[j]) < 1e-5);
            else cr_assert_null(cJSON_GetObjectItem(o, "itm"));
            cJSON_Delete(o);
            line = end + 1;
        }
        free(out);
    }
    vk_weights_close(w);
    cJSON_Delete(expected);
    free(dir);
}

/* Exit status; stderr must be exactly one "vlkit: error: ..." line containing `want`. */
static void expect_error(const char *dir, const char *args, int status, const char *want) {
    char cmd[4096], err[1024], *out;
    snprintf(err, sizeof err, "%s/stderr", dir);
    snprintf(cmd, sizeof cmd, "%s %s 2>%s", vlkit(), args, err);
    cr_assert_eq(run(cmd, &out), status, "%s", cmd);
    free(out);
    char *msg = slurp(err);
    cr_assert(strncmp(msg, "vlkit: error: ", 14) == 0 && count_lines(msg) == 1 && strstr(msg, want), "%s\n-> %s", args, msg);
    free(msg);
}

Test(cli_retrieval, errors_are_one_clear_line) {
    char *dir = test_tmpdir(), args[4096], ix[1024];
    const char *model = fixture_path(MODEL), *images = fixture_path(IMAGES);
    /* a missing index */
    snprintf(args, sizeof args, "search --index %s/missing.safetensors --model %s --text 'a cat'", dir, model);
    expect_error(dir, args, 1, "missing.safetensors");
    /* an index of another embedding size (8 here, 16 for this model): index and search refuse it */
    snprintf(ix, sizeof ix, "%s/other.safetensors", dir);
    float e[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    vk_tensor_view t = {.name = "embeddings", .dtype = VK_DTYPE_F32, .ndim = 2, .shape = {1, 8}, .data = e, .nbytes = sizeof e};
    const vk_safetensors_kv meta[] = {{"vlkit_index", "1"}, {"model", "/elsewhere/blip-8"}, {"dim", "8"},
                                      {"count", "1"},       {"paths", "[\"/x.png\"]"}};
    cr_assert_eq(vk_safetensors_write(ix, &t, 1, meta, 5), 0, "%s", vk_err_msg());
    char *before = slurp(ix);
    snprintf(args, sizeof args, "index --model %s --out %s %s/img0_landscape_rgb.png", model, ix, images);
    expect_error(dir, args, 1, "8-dim");
    char *after = slurp(ix);
    cr_assert(memcmp(before, after, 64) == 0, "the refused index is left as it was");
    free(before), free(after);
    snprintf(args, sizeof args, "search --index %s --model %s --text 'a cat'", ix, model);
    expect_error(dir, args, 1, "8-dim");
    /* a file that is not an index */
    snprintf(args, sizeof args, "search --index %s/model.safetensors --model %s --text 'a cat'", model, model);
    expect_error(dir, args, 1, "not a vlkit index");
    /* a captioning model is refused by name */
    snprintf(args, sizeof args, "index --model %s --out %s/c.safetensors %s", fixture_path("blip-tiny/captioning/model"), dir, images);
    expect_error(dir, args, 1, "BlipForImageTextRetrieval");
    /* usage errors exit 2 */
    snprintf(args, sizeof args, "search --index %s --model %s", ix, model);
    expect_error(dir, args, 2, "one query");
    snprintf(args, sizeof args, "search --model %s --text 'a cat'", model);
    expect_error(dir, args, 2, "--index is required");
    snprintf(args, sizeof args, "index --model %s --out %s/x.safetensors --batch-size 0 %s", model, dir, images);
    expect_error(dir, args, 2, "--batch-size");
    /* nothing readable to index: exit 1 and no file */
    snprintf(args, sizeof args, "printf 'nope' > %s/bad.png", dir);
    cr_assert_eq(system(args), 0);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s index --model %s --out %s/bad.safetensors %s/bad.png 2>/dev/null", vlkit(), model, dir, dir);
    cr_assert_eq(run(cmd, NULL), 1);
    snprintf(cmd, sizeof cmd, "%s/bad.safetensors", dir);
    FILE *f = fopen(cmd, "r");
    cr_assert_null(f, "no index is written when no image could be read");
    free(dir);
}
