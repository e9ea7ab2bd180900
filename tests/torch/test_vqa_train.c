/* test_vqa_train.c — `vlkit train` with task vqa on the blip-tiny VQA model: the loss falls under
 * both answer weightings, evaluation writes the VQA accuracy, checkpoints and the best adapter
 * are PEFT adapters that `vlkit vqa --adapter` uses, and the trained adapter answers the
 * question it was trained on. */
#include "tests/common/fixtures.h"
#include "train/vqa_answer.h"
#include "train/vqa_trainer.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dataset(const char *dir) {
    char *root = realpath(fixture_path("blip-tiny/preprocess/images"), NULL), text[4096];
    snprintf(text, sizeof text,
             "{\"image\": \"%s/img0_landscape_rgb.png\", \"question\": \"what color is the cat?\", \"answers\": [\"red\", \"red\", \"red\", \"orange\"]}\n"
             "{\"image\": \"%s/img1_portrait_rgb_q90_420.jpg\", \"question\": \"How many dogs are there\", \"answers\": [\"two\", \"two\", \"2\"]}\n"
             "{\"image\": \"%s/img2_gray.png\", \"question\": \"is it gray?\", \"answer\": \"yes\"}\n"
             "{\"image\": \"%s/img3_rgba.png\", \"question\": \"what is this?\", \"answers\": [\"car\", \"a car\", \"car\"]}\n",
             root, root, root, root);
    free(root);
    char *p = vk_path_join(dir, "vqa.jsonl");
    cr_assert_eq(vk_write_file_atomic(p, text, strlen(text)), 0);
    return p;
}

static double *losses(const char *out, int *n) {
    char *p = vk_path_join(out, "metrics.jsonl");
    size_t len;
    char *text = vk_read_file(p, &len, 0);
    cr_assert_not_null(text);
    double *l = malloc(sizeof(double) * 1000);
    *n = 0;
    int evals = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "loss");
        if (cJSON_IsNumber(v)) l[(*n)++] = v->valuedouble;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "eval");
        evals += e && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "vqa_accuracy"));
        cJSON_Delete(o);
    }
    cr_assert_geq(evals, 1, "no evaluation with a VQA accuracy in metrics.jsonl");
    free(text), free(p);
    return l;
}

static void train(const char *data, const char *out, const char *weighting) {
    char *model = realpath(fixture_path("blip-tiny/vqa/model"), NULL), json[4096];
    snprintf(json, sizeof json,
             "{\"task\": \"vqa\", \"model\": \"%s\", \"train\": {\"path\": \"%s\"}, \"val\": {\"path\": \"%s\"}, \"output_dir\": \"%s\","
             " \"max_steps\": 40, \"batch_size\": 4, \"optim\": {\"lr\": 0.01}, \"lora\": {\"r\": 4, \"alpha\": 8, \"dropout\": 0},"
             " \"vqa\": {\"answer_weighting\": \"%s\"}, \"eval\": {\"every_steps\": 20, \"beams\": 1, \"max_length\": 8, \"metric\": \"val_loss\"},"
             " \"save\": {\"every_steps\": 20}}",
             model, data, data, out, weighting);
    free(model);
    train_config c;
    cr_assert_eq(train_config_load_string(json, "test", NULL, 0, &c), 0, "%s", vk_err_msg());
    char *cj = train_config_to_json(&c);
    train_run_options o = {TRAIN_RESUME_NONE, NULL, 1, 1, 0, 0};
    cr_assert_eq(vqa_train_run(&c, cj, &o), 0, "%s", vk_err_msg());
    cr_assert_eq(o.steps_done, 40);
    free(cj);
    train_config_free(&c);
}

Test(vqa_train, learns_under_both_weightings) {
    char *dir = test_tmpdir(), *data = dataset(dir);
    const char *modes[2] = {"blip", "single"};
    for (int m = 0; m < 2; m++) {
        char *out = vk_path_join(dir, modes[m]);
        train(data, out, modes[m]);
        int n;
        double *l = losses(out, &n);
        cr_assert_eq(n, 40);
        cr_assert((l[38] + l[39]) / 2 < 0.7 * (l[0] + l[1]) / 2, "%s: loss %.3f -> %.3f", modes[m], l[0], l[39]);
        free(l);
        if (m == 0) {
            /* the best adapter answers the question it was trained on */
            char *best = vk_path_join(out, "best");
            vqa_answerer *a = vqa_answerer_load(fixture_path("blip-tiny/vqa/model"), best);
            cr_assert_not_null(a, "%s", vk_err_msg());
            vqa_answer_options ao = {blip_gen_default_params(&a->model->cfg.text), 0, 1, 0, NULL};
            char *img = vk_path_join(fixture_path("blip-tiny/preprocess/images"), "img0_landscape_rgb.png"), *ans = NULL;
            const char *q = "what color is the cat?";
            cr_assert_eq(vqa_answer_batch(a, (const char *const *)&img, &q, 1, &ao, &ans), 0, "%s", vk_err_msg());
            cr_assert_str_eq(ans, "red");
            free(ans), free(img), free(best);
            vqa_answerer_free(a);
        }
        free(out);
    }
    free(data), free(dir);
}
