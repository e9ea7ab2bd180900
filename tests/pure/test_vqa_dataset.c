/* test_vqa_dataset.c — VQA training data: VQA v2 pairs and JSONL give the same questions, BLIP's
 * answer weights (share of the human answers) or one answer (multiple_choice_answer, else the
 * most common), COCO image names, bad records skipped or fatal. */
#include "data/vqa_dataset.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *write(const char *dir, const char *name, const char *text) {
    char *p = vk_path_join(dir, name);
    cr_assert_eq(vk_write_file_atomic(p, text, strlen(text)), 0);
    return p;
}

static const vqa_example *find(const vqa_dataset *d, long long qid) {
    for (int64_t i = 0; i < d->n; i++)
        if (d->items[i].question_id == qid) return &d->items[i];
    cr_assert_fail("question %lld missing", qid);
    return NULL;
}

static double weight_of(const vqa_example *e, const char *a) {
    for (int i = 0; i < e->n_answers; i++)
        if (!strcmp(e->answers[i], a)) return e->weights[i];
    return -1;
}

Test(vqa_dataset, v2_and_jsonl_weights) {
    char *dir = test_tmpdir(), cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/img && cp %s/img0_landscape_rgb.png %s/img/COCO_train2014_000000000007.jpg", dir,
             fixture_path("blip-tiny/preprocess/images"), dir);
    cr_assert_eq(system(cmd), 0);
    char *q = write(dir, "q.json",
                    "{\"data_subtype\": \"train2014\", \"questions\": [{\"question_id\": 70, \"image_id\": 7, \"question\": \"what color?\"},"
                    " {\"question_id\": 71, \"image_id\": 8, \"question\": \"missing image?\"}]}");
    char *a = write(dir, "a.json",
                    "{\"annotations\": [{\"question_id\": 70, \"image_id\": 7, \"multiple_choice_answer\": \"red\", \"answers\": ["
                    "{\"answer\": \"red\"}, {\"answer\": \"red\"}, {\"answer\": \"orange\"}, {\"answer\": \"red\"}, {\"answer\": \"red\"},"
                    "{\"answer\": \"brown\"}, {\"answer\": \"red\"}, {\"answer\": \"red\"}, {\"answer\": \"red\"}, {\"answer\": \"red\"}]},"
                    " {\"question_id\": 71, \"image_id\": 8, \"answers\": [{\"answer\": \"x\"}]}]}");
    char *root = vk_path_join(dir, "img");
    vqa_dataset_opts o = {q, a, root, VQA_WEIGHT_BLIP, 0, -1};
    vqa_dataset *d = vqa_dataset_load(&o);
    cr_assert_not_null(d, "%s", vk_err_msg());
    cr_assert_eq(d->n, 1);
    cr_assert_eq(d->n_bad, 1, "the question whose image is missing is skipped and counted");
    cr_assert(strstr(d->warnings[0], "COCO_train2014_000000000008.jpg"), "%s", d->warnings[0]);
    const vqa_example *e = find(d, 70);
    cr_assert_eq(e->n_answers, 3);
    cr_assert_float_eq(weight_of(e, "red"), 0.8, 1e-12);
    cr_assert_float_eq(weight_of(e, "orange"), 0.1, 1e-12);
    cr_assert_float_eq(weight_of(e, "brown"), 0.1, 1e-12);
    cr_assert_eq(e->n_gt, 10);
    cr_assert(strstr(e->image, "COCO_train2014_000000000007.jpg"));
    vqa_dataset_free(d);
    o.weighting = VQA_WEIGHT_SINGLE;
    d = vqa_dataset_load(&o);
    e = find(d, 70);
    cr_assert_eq(e->n_answers, 1);
    cr_assert_str_eq(e->answers[0], "red");
    cr_assert_float_eq(e->weights[0], 1.0, 0);
    vqa_dataset_free(d);
    o.fail_on_bad = 1;
    cr_assert_null(vqa_dataset_load(&o));
    cr_assert(strstr(vk_err_msg(), "questions[1]"), "%s", vk_err_msg());
    /* JSONL, relative image paths; the most common answer when there is no multiple_choice_answer */
    char line[1024];
    snprintf(line, sizeof line,
             "{\"image\": \"img/COCO_train2014_000000000007.jpg\", \"question\": \"what?\", \"answers\": [\"b\", \"a\", \"a\"]}\n"
             "not json\n{\"image\": \"img/COCO_train2014_000000000007.jpg\", \"question\": \"ok?\", \"answer\": \"yes\", \"question_id\": 9}\n");
    char *j = write(dir, "train.jsonl", line);
    vqa_dataset_opts oj = {j, NULL, NULL, VQA_WEIGHT_SINGLE, 0, -1};
    d = vqa_dataset_load(&oj);
    cr_assert_not_null(d, "%s", vk_err_msg());
    cr_assert_eq(d->n, 2);
    cr_assert_eq(d->n_bad, 1);
    cr_assert(strstr(d->warnings[0], "train.jsonl:2"), "%s", d->warnings[0]);
    cr_assert_str_eq(d->items[0].answers[0], "a");
    cr_assert_eq(find(d, 9)->n_answers, 1);
    vqa_dataset_free(d);
    oj.max_bad = 0;
    cr_assert_null(vqa_dataset_load(&oj));
    free(j), free(root), free(q), free(a), free(dir);
}
