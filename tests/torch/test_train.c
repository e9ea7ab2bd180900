/* test_train.c — the training loop: it learns (loss falls), the frozen-vision cache changes
 * nothing (same losses as recomputing), a resumed run ends with the same adapter as an
 * uninterrupted one, checkpoints are complete PEFT adapters, and bad configs/data fail cleanly.
 * Runs on the blip-tiny captioning model and its fixture images. */
#include "model/lora.h"
#include "model/weights/weights.h"
#include "tests/common/fixtures.h"
#include "train/checkpoint.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load_config_sets(train_config *c, const char *data, const char *out, const char *const *sets, int nsets) {
    char json[4096];
    char *model = realpath(fixture_path("blip-tiny/captioning/model"), NULL);
    snprintf(json, sizeof json,
             "{\"model\": \"%s\", \"train\": {\"path\": \"%s\"}, \"output_dir\": \"%s\", \"max_steps\": 12, \"batch_size\": 3,"
             " \"optim\": {\"lr\": 0.01}, \"lora\": {\"r\": 4, \"alpha\": 8, \"dropout\": 0.1},"
             " \"eval\": {\"every_steps\": 0}, \"save\": {\"every_steps\": 4, \"keep_last\": 0}, \"data\": {\"workers\": 2}}",
             model, data, out);
    free(model);
    return train_config_load_string(json, "test config", sets, nsets, c);
}


static double *read_losses(const char *out, int *n) {
    char *p = vk_path_join(out, "metrics.jsonl");
    size_t len;
    char *text = vk_read_file(p, &len, 0);
    cr_assert_not_null(text, "%s", vk_err_msg());
    double *l = malloc(sizeof(double) * 1000);
    *n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "loss");
        if (cJSON_IsNumber(v)) l[(*n)++] = v->valuedouble;
        cJSON_Delete(o);
    }
    free(text);
    free(p);
    return l;
}

static int run(const char *data, const char *out, train_resume_mode resume, int cache) {
    train_config c;
    cr_assert_eq(load_config_sets(&c, data, out, NULL, 0), 0, "%s", vk_err_msg());
    char *json = train_config_to_json(&c);
    train_run_options o = {resume, NULL, 1, cache, 0, 0};
    int rc = train_run(&c, json, &o);
    free(json);
    train_config_free(&c);
    return rc;
}

Test(train, learns_and_the_vision_cache_changes_nothing) {
    char *dir = test_tmpdir();
    char *data = fixture_caption_jsonl(dir);
    char *a = vk_path_join(dir, "cached"), *b = vk_path_join(dir, "uncached");
    cr_assert_eq(run(data, a, TRAIN_RESUME_NONE, 1), 0, "%s", vk_err_msg());
    cr_assert_eq(run(data, b, TRAIN_RESUME_NONE, 0), 0, "%s", vk_err_msg());
    int na, nb;
    double *la = read_losses(a, &na), *lb = read_losses(b, &nb);
    cr_assert_eq(na, 12);
    cr_assert_eq(nb, 12);
    for (int i = 0; i < na; i++) cr_assert(fabs(la[i] - lb[i]) <= 1e-6 * fabs(lb[i]), "step %d: %.9g vs %.9g", i + 1, la[i], lb[i]);
    double first = (la[0] + la[1]) / 2, last = (la[10] + la[11]) / 2;
    cr_assert(last < 0.8 * first, "loss did not fall: %.4f -> %.4f", first, last);
    /* every checkpoint is a complete PEFT adapter plus state */
    const char *files[] = {"adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors", "rng.bin",
                           "trainer_state.json", "train_config.json"};
    for (int s = 4; s <= 12; s += 4)
        for (int i = 0; i < 6; i++) {
            char rel[128];
            snprintf(rel, sizeof rel, "checkpoint-%d/%s", s, files[i]);
            char *p = vk_path_join(a, rel);
            cr_assert(vk_file_exists(p), "%s missing", rel);
            free(p);
        }
    free(la), free(lb), free(a), free(b), free(data), free(dir);
}

static float *adapter_values(const char *ckpt, size_t *n) {
    char *p = vk_path_join(ckpt, "adapter_model.safetensors");
    vk_weights *w = vk_weights_open(p);
    cr_assert_not_null(w, "%s", vk_err_msg());
    size_t total = 0;
    for (size_t i = 0; i < vk_weights_count(w); i++) total += vk_weights_tensor(w, i)->nbytes / 4;
    float *v = malloc(sizeof(float) * total);
    size_t k = 0;
    for (size_t i = 0; i < vk_weights_count(w); i++) {
        const vk_tensor_view *t = vk_weights_find(w, vk_weights_tensor(w, i)->name);
        memcpy(v + k, t->data, t->nbytes);
        k += t->nbytes / 4;
    }
    vk_weights_close(w);
    free(p);
    *n = total;
    return v;
}

Test(train, resume_ends_with_the_same_adapter) {
    char *dir = test_tmpdir();
    char *data = fixture_caption_jsonl(dir);
    char *full = vk_path_join(dir, "full"), *part = vk_path_join(dir, "part");
    cr_assert_eq(run(data, full, TRAIN_RESUME_NONE, 1), 0, "%s", vk_err_msg());
    /* an interrupted run: its newest checkpoints removed as if the process died after step 4 */
    cr_assert_eq(run(data, part, TRAIN_RESUME_NONE, 1), 0, "%s", vk_err_msg());
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf %s/checkpoint-8 %s/checkpoint-12 %s/best", part, part, part);
    cr_assert_eq(system(cmd), 0);
    int none = 0;
    char *latest = checkpoint_latest(part, &none);
    cr_assert(latest && strstr(latest, "checkpoint-4"), "latest: %s", latest ? latest : "(none)");
    free(latest);
    cr_assert_eq(run(data, part, TRAIN_RESUME_AUTO, 1), 0, "%s", vk_err_msg());
    char *a_dir = vk_path_join(full, "checkpoint-12"), *b_dir = vk_path_join(part, "checkpoint-12");
    size_t na, nb;
    float *a = adapter_values(a_dir, &na), *b = adapter_values(b_dir, &nb);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++) cr_assert(fabsf(a[i] - b[i]) <= 1e-6f, "value %zu: %g vs %g", i, a[i], b[i]);
    free(a), free(b), free(a_dir), free(b_dir), free(full), free(part), free(data), free(dir);
}

Test(train, bad_inputs_fail_cleanly) {
    char *dir = test_tmpdir();
    char *data = fixture_caption_jsonl(dir);
    char *out = vk_path_join(dir, "out");
    train_config c;
    const char *sets[] = {"lora.target_modules=[\"nope\"]"};
    cr_assert_eq(load_config_sets(&c, data, out, sets, 1), 0, "%s", vk_err_msg());
    char *json = train_config_to_json(&c);
    train_run_options o = {TRAIN_RESUME_NONE, NULL, 1, 1, 0, 0};
    cr_assert_eq(train_run(&c, json, &o), -1);
    cr_assert(strstr(vk_err_msg(), "nope"), "%s", vk_err_msg());
    free(json);
    train_config_free(&c);
    char *missing = vk_path_join(dir, "missing.jsonl");
    cr_assert_eq(load_config_sets(&c, missing, out, NULL, 0), 0, "%s", vk_err_msg());
    json = train_config_to_json(&c);
    cr_assert_eq(train_run(&c, json, &o), -1);
    cr_assert(strstr(vk_err_msg(), "missing.jsonl"), "%s", vk_err_msg());
    free(json);
    train_config_free(&c);
    int none = 0;
    char *latest = checkpoint_latest(out, &none);
    cr_assert(none && !latest, "a failed run left a checkpoint");
    free(missing), free(out), free(data), free(dir);
}

Test(train, bf16_run_trains_with_fp32_adapters) {
    char *dir = test_tmpdir();
    char *data = fixture_caption_jsonl(dir);
    char *out = vk_path_join(dir, "bf16");
    train_config c;
    const char *sets[] = {"precision=bf16"};
    cr_assert_eq(load_config_sets(&c, data, out, sets, 1), 0, "%s", vk_err_msg());
    char *json = train_config_to_json(&c);
    train_run_options o = {TRAIN_RESUME_NONE, NULL, 1, 1, 0, 0};
    cr_assert_eq(train_run(&c, json, &o), 0, "%s", vk_err_msg());
    free(json);
    train_config_free(&c);
    int n;
    double *l = read_losses(out, &n);
    cr_assert_eq(n, 12);
    for (int i = 0; i < n; i++) cr_assert(isfinite(l[i]));
    cr_assert((l[10] + l[11]) / 2 < 0.8 * (l[0] + l[1]) / 2, "bf16 loss did not fall: %.4f -> %.4f", l[0], l[11]);
    /* the adapter is saved in float32 */
    char *ck = vk_path_join(out, "checkpoint-12/adapter_model.safetensors");
    vk_weights *w = vk_weights_open(ck);
    cr_assert_not_null(w, "%s", vk_err_msg());
    cr_assert_eq(vk_weights_tensor(w, 0)->dtype, VK_DTYPE_F32);
    vk_weights_close(w);
    free(ck), free(l), free(out), free(data), free(dir);
}
