/* test_train_cli.c — `vlkit train` as a user runs it: --print-config and config errors, a run
 * killed with SIGKILL mid-way and resumed with --resume ends with the same adapter as an
 * uninterrupted run, SIGTERM saves a checkpoint, and a model that gives NaN losses has its steps
 * skipped and the run stopped with a clear error. Tiny model and fixture images. */
#include "model/weights/safetensors.h"
#include "model/weights/weights.h"
#include "tests/common/adapter_values.h"
#include "tests/common/cli_run.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* a dataset of the fixture images and a config running `steps` steps, saving every `save` */
static char *setup_run(const char *dir, const char *name, int steps, int save, const char *extra) {
    char *data = vk_path_join(dir, "train.jsonl");
    if (!vk_file_exists(data)) {
        FILE *f = fopen(data, "w");
        const char *imgs[] = {"img0_landscape_rgb.png", "img2_gray.png", "img3_rgba.png", "img5_small_q95_444.jpg"};
        const char *caps[] = {"a cat sitting on the couch", "two dogs on the beach", "a red car", "a man riding a wave"};
        char *root = realpath(fixture_path("blip-tiny/preprocess/images"), NULL);
        for (int i = 0; i < 4; i++) fprintf(f, "{\"image\": \"%s/%s\", \"caption\": \"%s\"}\n", root, imgs[i], caps[i]);
        fclose(f);
        free(root);
    }
    char *model = realpath(fixture_path("blip-tiny/captioning/model"), NULL);
    char cfg_name[64];
    snprintf(cfg_name, sizeof cfg_name, "%s.json", name);
    char *cfg = vk_path_join(dir, cfg_name);
    char json[4096];
    snprintf(json, sizeof json,
             "{\"model\": \"%s\", \"train\": {\"path\": \"%s\"}, \"output_dir\": \"%s/%s\", \"max_steps\": %d, \"batch_size\": 2,"
             " \"optim\": {\"lr\": 0.005}, \"lora\": {\"r\": 4, \"alpha\": 8, \"dropout\": 0.1}, \"eval\": {\"every_steps\": 0},"
             " \"save\": {\"every_steps\": %d, \"keep_last\": 0}, \"data\": {\"workers\": 1}%s}",
             model, data, dir, name, steps, save, extra ? extra : "");
    cr_assert_eq(vk_write_file_atomic(cfg, json, strlen(json)), 0);
    free(model);
    free(data);
    return cfg;
}

static float *adapter(const char *dir, size_t *n) {
    float *v = adapter_values(dir, n);
    cr_assert_not_null(v, "%s", vk_err_msg());
    return v;
}

static pid_t spawn(const char *cfg, const char *extra_arg) {
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execl(vlkit(), vlkit(), "train", cfg, "--quiet", extra_arg, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_for(const char *path, double seconds) {
    for (double t = 0; t < seconds; t += 0.005) {
        if (vk_is_dir(path)) return 1;
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    return 0;
}

Test(cli_train, print_config_and_config_errors) {
    char *dir = test_tmpdir(), cmd[4096], *out;
    char *cfg = setup_run(dir, "p", 10, 5, NULL);
    snprintf(cmd, sizeof cmd, "%s train %s --print-config --set lora.r=16", vlkit(), cfg);
    cr_assert_eq(run(cmd, &out), 0);
    cJSON *printed = cJSON_Parse(out);
    cr_assert_not_null(printed, "--print-config is not JSON: %s", out);
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(printed, "lora"), "r")->valueint, 16);
    cJSON_Delete(printed);
    free(out);
    snprintf(cmd, sizeof cmd, "%s train %s --set lora.rank=16 2>&1", vlkit(), cfg);
    cr_assert_eq(run(cmd, &out), 2);
    cr_assert(strstr(out, "lora.rank") && strstr(out, "lora.r"), "%s", out);
    free(out);
    free(cfg), free(dir);
}

Test(cli_train, sigkill_then_resume_ends_with_the_same_adapter, .timeout = 240) {
    char *dir = test_tmpdir();
    char *full = setup_run(dir, "full", 120, 10, NULL), *part = setup_run(dir, "part", 120, 10, NULL);
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "%s train %s --quiet 2>&1", vlkit(), full);
    cr_assert_eq(run(cmd, &out), 0, "%s", out);
    free(out);
    /* the same run, killed without warning once a few checkpoints exist */
    pid_t pid = spawn(part, NULL);
    char ck[4200];
    snprintf(ck, sizeof ck, "%s/part/checkpoint-30", dir);
    int seen = wait_for(ck, 120);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(seen, "no checkpoint-30 appeared");
    snprintf(ck, sizeof ck, "%s/part/checkpoint-120", dir);
    cr_assert(!vk_is_dir(ck), "the run finished before it was killed; the test needs a slower run");
    snprintf(cmd, sizeof cmd, "%s train %s --quiet --resume 2>&1", vlkit(), part);
    cr_assert_eq(run(cmd, &out), 0, "%s", out);
    free(out);
    char a_dir[4200], b_dir[4200];
    snprintf(a_dir, sizeof a_dir, "%s/full/checkpoint-120", dir);
    snprintf(b_dir, sizeof b_dir, "%s/part/checkpoint-120", dir);
    size_t na, nb;
    float *a = adapter(a_dir, &na), *b = adapter(b_dir, &nb);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++) cr_assert(fabsf(a[i] - b[i]) <= 1e-6f, "value %zu: %g vs %g", i, a[i], b[i]);
    free(a), free(b), free(full), free(part), free(dir);
}

Test(cli_train, sigterm_saves_a_checkpoint, .timeout = 120) {
    char *dir = test_tmpdir();
    char *cfg = setup_run(dir, "term", 100000, 0, NULL);
    pid_t pid = spawn(cfg, NULL);
    char metrics[4200];
    snprintf(metrics, sizeof metrics, "%s/term/metrics.jsonl", dir);
    for (int i = 0; i < 20000 && !vk_file_exists(metrics); i++) nanosleep(&(struct timespec){0, 5000000}, NULL);
    nanosleep(&(struct timespec){0, 300000000}, NULL);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM must end the run cleanly (status %d)", st);
    char out_dir[4200];
    snprintf(out_dir, sizeof out_dir, "%s/term", dir);
    char cmd[4400], *out;
    snprintf(cmd, sizeof cmd, "ls %s | grep -c '^checkpoint-[0-9]*$'", out_dir);
    run(cmd, &out);
    cr_assert_eq(atoi(out), 1, "one checkpoint expected after SIGTERM, found %s", out);
    free(out), free(cfg), free(dir);
}

/* A model folder like the fixture's with one NaN in a weight: every loss is NaN. */
static char *poisoned_model(const char *dir) {
    char *out = vk_path_join(dir, "nan-model");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/*.json %s/vocab.txt %s/", out, fixture_path("blip-tiny/captioning/model"),
             fixture_path("blip-tiny/captioning/model"), out);
    cr_assert_eq(system(cmd), 0);
    vk_weights *w = vk_weights_open(fixture_path("blip-tiny/captioning/model/model.safetensors"));
    cr_assert_not_null(w, "%s", vk_err_msg());
    size_t n = vk_weights_count(w);
    vk_tensor_view *views = calloc(n, sizeof *views);
    float *poison = NULL;
    for (size_t i = 0; i < n; i++) {
        views[i] = *vk_weights_tensor(w, i);
        if (!strcmp(views[i].name, "text_decoder.bert.encoder.layer.0.output.dense.bias")) {
            poison = malloc(views[i].nbytes);
            memcpy(poison, views[i].data, views[i].nbytes);
            poison[3] = NAN;
            views[i].data = poison;
        }
    }
    cr_assert_not_null(poison);
    char *file = vk_path_join(out, "model.safetensors");
    cr_assert_eq(vk_safetensors_write(file, views, n, NULL, 0), 0, "%s", vk_err_msg());
    free(file), free(poison), free(views);
    vk_weights_close(w);
    return out;
}

Test(cli_train, nan_losses_are_skipped_then_stop_the_run) {
    char *dir = test_tmpdir(), cmd[8192], *out;
    char *model = poisoned_model(dir);
    char *cfg = setup_run(dir, "nan", 200, 1, NULL);
    snprintf(cmd, sizeof cmd, "%s train %s --set model=%s 2>&1", vlkit(), cfg, model);
    cr_assert_eq(run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "non-finite loss, step skipped"), "%s", out);
    cr_assert(strstr(out, "vlkit: error: train: 20 non-finite steps in a row"), "%s", out);
    free(out);
    /* no optimizer step happened, so no checkpoint was written */
    snprintf(cmd, sizeof cmd, "ls %s/nan | grep -c '^checkpoint-' || true", dir);
    run(cmd, &out);
    cr_assert_eq(atoi(out), 0, "%s", out);
    free(out), free(cfg), free(model), free(dir);
}
