/* test_eval_inputs.c — the evaluators' input handling: every supported reference format gives
 * the official scores, and bad input (malformed JSON, wrong types, empty files, a 1 MB caption,
 * invalid UTF-8, NUL bytes, ids as strings, unknown / duplicate / missing results) is a clear
 * error that names the file and the problem — never a crash (these tests also run under
 * ASan/UBSan in `make asan`). */
#include "eval/eval.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmp_dir;

static void setup(void) { tmp_dir = test_tmpdir(); }
static void teardown(void) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    cr_expect_eq(system(cmd), 0);
    free(tmp_dir);
}

/* Write text (len bytes; -1 = strlen) to tmp_dir/name; returns the path (static slots). */
static const char *put(const char *name, const char *text, long len) {
    static char paths[8][4300];
    static int slot;
    char *p = paths[slot++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", tmp_dir, name);
    cr_assert_eq(vk_write_file_atomic(p, text, len < 0 ? strlen(text) : (size_t)len), 0, "%s", vk_err_msg());
    return p;
}

static const char *ANN = "{\"images\":[{\"id\":1},{\"id\":2}],\"annotations\":["
                         "{\"image_id\":1,\"caption\":\"A dog runs.\"},{\"image_id\":1,\"caption\":\"a dog running\"},"
                         "{\"image_id\":2,\"caption\":\"A cat sleeps.\"},{\"image_id\":2,\"caption\":\"a sleeping cat\"}]}";

/* caption_set_load must fail with a message containing both needles. */
static void expect_caption_error(const char *ann, const char *res, const char *needle1, const char *needle2) {
    caption_set s;
    cr_expect_eq(caption_set_load(&s, ann, res), -1, "loading %s / %s should fail", ann, res);
    const char *m = vk_err_msg();
    cr_expect(strstr(m, needle1) != NULL, "message \"%s\" should contain \"%s\"", m, needle1);
    if (needle2) cr_expect(strstr(m, needle2) != NULL, "message \"%s\" should contain \"%s\"", m, needle2);
}

TestSuite(eval_inputs, .init = setup, .fini = teardown);

Test(eval_inputs, caption_results_errors) {
    char ann[4300]; /* put() reuses 8 path slots: keep a copy */
    snprintf(ann, sizeof ann, "%s", put("ann.json", ANN, -1));
    expect_caption_error(ann, put("r1.json", "[{\"image_id\":1,\"caption\":\"a dog\"", -1), "r1.json", "not valid JSON");
    expect_caption_error(ann, put("r2.json", "", -1), "r2.json", "empty");
    expect_caption_error(ann, put("r3.json", "{\"image_id\":1}", -1), "r3.json", "array");
    expect_caption_error(ann, put("r4.json", "[{\"image_id\":\"1\",\"caption\":\"a dog\"}]", -1), "r4.json", "string");
    expect_caption_error(ann, put("r5.json", "[{\"image_id\":1,\"caption\":5}]", -1), "r5.json", "not a string");
    expect_caption_error(ann, put("r6.json", "[{\"image_id\":1}]", -1), "r6.json", "no \"caption\"");
    expect_caption_error(ann, put("r7.json", "[{\"image_id\":3,\"caption\":\"x\"}]", -1), "r7.json", "image_id 3");
    expect_caption_error(ann, put("r8.json", "[{\"image_id\":1,\"caption\":\"x\"},{\"image_id\":1,\"caption\":\"y\"}]", -1),
                         "r8.json", "second result");
    expect_caption_error(ann, put("r9.json", "[{\"image_id\":1.5,\"caption\":\"x\"}]", -1), "r9.json", "not an integer");
    expect_caption_error(ann, put("r10.json", "[{\"image_id\":1,\"caption\":\"a \xff dog\"}]", -1), "r10.json", "invalid UTF-8");
    expect_caption_error(ann, put("r11.json", "[{\"image_id\":1,\"caption\":\"a \\u0000 dog\"}]", -1), "r11.json", "NUL");
    expect_caption_error(ann, put("r12.json", "[{\"image_id\":1,\"caption\":\"a\0dog\"}]", 33), "r12.json", "NUL");
    expect_caption_error(ann, put("r13.json", "[{\"image_id\":1,\"caption\":\"\\ud83d\"}]", -1), "r13.json", "not valid JSON");
    expect_caption_error(ann, put("r14.json", "[]", -1), "r14.json", "no results");
    expect_caption_error(ann, put("r15.json", "[1, 2]", -1), "r15.json", "not an object");
}

Test(eval_inputs, caption_annotation_errors) {
    char res[4300];
    snprintf(res, sizeof res, "%s", put("res.json", "[{\"image_id\":1,\"caption\":\"a dog\"}]", -1));
    expect_caption_error(put("a1.json", "{\"annotations\": 3}", -1), res, "a1.json", "not an array");
    expect_caption_error(put("a2.json", "{\"foo\": []}", -1), res, "a2.json", "not a captions file");
    expect_caption_error(put("a3.json", "{\"annotations\":[{\"image_id\":\"1\",\"caption\":\"x\"}]}", -1), res, "a3.json",
                         "JSON integers");
    expect_caption_error(put("a4.json", "   \n", -1), res, "a4.json", "empty");
    expect_caption_error(put("a5.json", "{\"images\":[{\"id\":1}],\"annotations\":[]}", -1), res, "res.json",
                         "no reference captions");
    expect_caption_error("/nonexistent/ann.json", res, "/nonexistent/ann.json", "cannot open");
}

Test(eval_inputs, one_megabyte_caption_is_refused_clearly) {
    size_t n = 1000000;
    char *big = malloc(n + 64);
    strcpy(big, "[{\"image_id\":1,\"caption\":\"");
    size_t k = strlen(big);
    for (size_t i = 0; i < n; i++) big[k++] = "a dog "[i % 6];
    strcpy(big + k, "\"}]");
    const char *res = put("big.json", big, -1);
    free(big);
    expect_caption_error(put("ann.json", ANN, -1), res, "big.json", "limit");
}

Test(eval_inputs, images_without_results_are_not_scored) {
    caption_set s;
    const char *ann = put("ann.json", ANN, -1);
    const char *res = put("res.json", "[{\"image_id\":2,\"caption\":\"a cat sleeping\"}]", -1);
    cr_assert_eq(caption_set_load(&s, ann, res), 0, "%s", vk_err_msg());
    cr_expect_eq(s.n, 1);
    cr_expect_eq(s.n_unscored, 1);
    cr_expect_eq(s.first_unscored, 1);
    cr_expect_eq(s.items[0].image_id, 2);
    caption_set_free(&s);
}

/* The small corpus written as Karpathy, BLIP and JSON-lines files scores as the COCO file does. */
Test(eval_inputs, other_reference_formats_give_the_same_scores) {
    cJSON *coco = fixture_json("eval/captions/small/annotations.json");
    char res[4096];
    snprintf(res, sizeof res, "%s", fixture_path("eval/captions/small/results.json"));
    cJSON *karpathy = cJSON_CreateObject(), *kimgs = cJSON_AddArrayToObject(karpathy, "images");
    cJSON *blip = cJSON_CreateArray();
    char *jsonl = calloc(1, 1 << 20);
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(coco, "images");
    for (const cJSON *im = images->child; im; im = im->next) {
        double id = cJSON_GetObjectItemCaseSensitive(im, "id")->valuedouble;
        cJSON *k = cJSON_CreateObject(), *sents = cJSON_AddArrayToObject(k, "sentences");
        cJSON_AddNumberToObject(k, "cocoid", id);
        cJSON *b = cJSON_CreateObject(), *caps = cJSON_AddArrayToObject(b, "caption");
        char img[128];
        snprintf(img, sizeof img, "val2014/COCO_val2014_%012.0f.jpg", id);
        cJSON_AddStringToObject(b, "image", img);
        for (const cJSON *a = cJSON_GetObjectItemCaseSensitive(coco, "annotations")->child; a; a = a->next) {
            if (cJSON_GetObjectItemCaseSensitive(a, "image_id")->valuedouble != id) continue;
            const char *cap = cJSON_GetObjectItemCaseSensitive(a, "caption")->valuestring;
            cJSON *sent = cJSON_CreateObject();
            cJSON_AddStringToObject(sent, "raw", cap);
            cJSON_AddItemToArray(sents, sent);
            cJSON_AddItemToArray(caps, cJSON_CreateString(cap));
            cJSON *line = cJSON_CreateObject();
            cJSON_AddNumberToObject(line, "image_id", id);
            cJSON_AddStringToObject(line, "caption", cap);
            char *l = cJSON_PrintUnformatted(line);
            strcat(jsonl, l);
            strcat(jsonl, "\n");
            free(l);
            cJSON_Delete(line);
        }
        cJSON_AddItemToArray(kimgs, k);
        cJSON_AddItemToArray(blip, b);
    }
    char *kt = cJSON_PrintUnformatted(karpathy), *bt = cJSON_PrintUnformatted(blip);
    const char *paths[3] = {put("karpathy.json", kt, -1), put("blip.json", bt, -1), put("refs.jsonl", jsonl, -1)};
    free(kt);
    free(bt);
    free(jsonl);
    for (int f = 0; f < 3; f++) {
        caption_set s;
        cr_assert_eq(caption_set_load(&s, paths[f], res), 0, "%s", vk_err_msg());
        cr_assert_eq(caption_set_tokenize(&s), 0, "%s", vk_err_msg());
        caption_scores sc;
        cr_assert_eq(caption_scores_compute(&s, NULL, CAPTION_METRIC_ALL, 0, &sc), 0);
        cr_expect(fabs(sc.cider - 1.192523) < 1e-4, "%s: CIDEr %.6f", paths[f], sc.cider);
        cr_expect(fabs(sc.bleu[3] - 0.391055) < 1e-6, "%s: Bleu_4 %.6f", paths[f], sc.bleu[3]);
        cr_expect(fabs(sc.rouge_l - 0.581616) < 1e-6, "%s: ROUGE_L %.6f", paths[f], sc.rouge_l);
        caption_scores_free(&sc);
        caption_set_free(&s);
    }
    cJSON_Delete(karpathy);
    cJSON_Delete(blip);
    cJSON_Delete(coco);
}

static void expect_vqa_error(const char *q, const char *a, const char *r, const char *needle1, const char *needle2) {
    vqa_set v;
    cr_expect_eq(vqa_set_load(&v, q, a, r), -1, "loading should fail");
    const char *m = vk_err_msg();
    cr_expect(strstr(m, needle1) != NULL, "message \"%s\" should contain \"%s\"", m, needle1);
    if (needle2) cr_expect(strstr(m, needle2) != NULL, "message \"%s\" should contain \"%s\"", m, needle2);
}

Test(eval_inputs, vqa_errors_and_duplicates) {
    char q[4300], a[4300]; /* put() reuses 8 path slots: keep copies */
    snprintf(q, sizeof q, "%s", put("q.json", "{\"questions\":[{\"question_id\":1,\"image_id\":1,\"question\":\"?\"},"
                                  "{\"question_id\":2,\"image_id\":1,\"question\":\"?\"}]}", -1));
    snprintf(a, sizeof a, "%s", put("a.json", "{\"annotations\":["
                                  "{\"question_id\":1,\"question_type\":\"what\",\"answer_type\":\"other\",\"answers\":"
                                  "[{\"answer\":\"dog\"},{\"answer\":\"dog\"},{\"answer\":\"dog\"},{\"answer\":\"cat\"}]},"
                                  "{\"question_id\":2,\"question_type\":\"is\",\"answer_type\":\"yes/no\",\"answers\":"
                                  "[{\"answer\":\"yes\"},{\"answer\":\"yes\"}]}]}", -1));
    expect_vqa_error(q, a, put("r1.json", "[{\"question_id\":1,\"answer\":\"dog\"}]", -1), "r1.json", "no answer for question_id 2");
    expect_vqa_error(q, a, put("r2.json", "[{\"question_id\":1,\"answer\":\"dog\"},{\"question_id\":3,\"answer\":\"x\"}]", -1),
                     "r2.json", "question_id 3");
    expect_vqa_error(q, a, put("r3.json", "[{\"question_id\":\"1\",\"answer\":\"dog\"}]", -1), "r3.json", "JSON integers");
    expect_vqa_error(q, a, put("r4.json", "[{\"question_id\":1}]", -1), "r4.json", "no \"answer\"");
    expect_vqa_error(q, a, put("r5.json", "{}", -1), "r5.json", "array");
    expect_vqa_error(put("q2.json", "[]", -1), a, put("r6.json", "[]", -1), "q2.json", "questions");
    expect_vqa_error(q, put("a2.json", "{\"annotations\":[{\"question_id\":1}]}", -1), put("r7.json", "[]", -1), "a2.json",
                     "question_type");
    /* a repeated answer: the last one counts (as vqa.py's loadRes), and it is counted */
    vqa_set v;
    const char *r = put("r8.json", "[{\"question_id\":1,\"answer\":\"cat\"},{\"question_id\":2,\"answer\":\"yes\"},"
                                   "{\"question_id\":1,\"answer\":\"Dog.\"}]", -1);
    cr_assert_eq(vqa_set_load(&v, q, a, r), 0, "%s", vk_err_msg());
    cr_expect_eq(v.n_duplicate_results, 1);
    vqa_result res;
    cr_assert_eq(vqa_evaluate(&v, &res), 0);
    /* "Dog." normalises to "dog": 3 matching answers -> (3 * min(1, 2/3) + 1 * 1) / 4 */
    cr_expect(fabs(res.per_question[0] - 100.0 * (3 * (2.0 / 3) + 1) / 4) < 1e-9, "%.6f", res.per_question[0]);
    /* two human answers: each sees one other match, min(1, 1/3) */
    cr_expect(fabs(res.per_question[1] - 100.0 / 3) < 1e-9, "%.6f", res.per_question[1]);
    vqa_result_free(&res);
    vqa_set_free(&v);
}
