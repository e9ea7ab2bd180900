/* test_train_dist.c — data-parallel `vlkit train` on loopback (c10d Gloo), as a user runs it:
 * 2 ranks x batch b end with the adapter of 1 rank x batch 2b (and the per-rank vision cache
 * changes nothing); only rank 0 writes; SIGTERM on one rank stops all; a rank killed
 * mid-run makes the other exit with a clear error (no hang) and --resume with the same world size
 * ends where an uninterrupted run ends; wrong world sizes, a port in use and an unreachable
 * store are clear errors. Tiny model and fixture images. */
#include "model/weights/weights.h"
#include "tests/common/adapter_values.h"
#include "tests/common/cli_run.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/free_port.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Six fixture images, two captions each (12 examples: batches of 4 and 2x2 split evenly). */
static char *setup_run(const char *dir, const char *name, int steps, int save, int eval_every, const char *extra) {
    char *data = vk_path_join(dir, "train.jsonl");
    if (!vk_file_exists(data)) {
        FILE *f = fopen(data, "w");
        const char *imgs[] = {"img0_landscape_rgb.png", "img2_gray.png",          "img3_rgba.png",
                              "img5_small_q95_444.jpg", "img1_portrait_rgb_q90_420.jpg", "img4_exact_rgb.png"};
        const char *caps[] = {"a cat sitting on the couch", "two dogs on the beach", "a red car", "a man riding a wave",
                              "a bowl of fruit on a table", "a train at the station"};
        char *root = realpath(fixture_path("blip-tiny/preprocess/images"), NULL);
        for (int i = 0; i < 6; i++)
            fprintf(f, "{\"image\": \"%s/%s\", \"captions\": [\"%s\", \"the picture shows %s\"]}\n", root, imgs[i], caps[i], caps[(i + 1) % 6]);
        fclose(f);
        free(root);
    }
    char *model = realpath(fixture_path("blip-tiny/captioning/model"), NULL);
    char cfg_name[64];
    snprintf(cfg_name, sizeof cfg_name, "%s.json", name);
    char *cfg = vk_path_join(dir, cfg_name);
    char json[4096];
    snprintf(json, sizeof json,
             "{\"model\": \"%s\", \"train\": {\"path\": \"%s\"}, \"val\": {\"path\": \"%s\"}, \"output_dir\": \"%s/%s\","
             " \"max_steps\": %d, \"batch_size\": 4, \"optim\": {\"lr\": 0.005}, \"lora\": {\"r\": 4, \"alpha\": 8, \"dropout\": 0.0},"
             " \"eval\": {\"every_steps\": %d, \"max_samples\": 5, \"beams\": 2, \"max_length\": 8, \"min_length\": 1},"
             " \"save\": {\"every_steps\": %d, \"keep_last\": 0}, \"data\": {\"workers\": 1},"
             " \"distributed\": {\"timeout_s\": 30, \"check_every_steps\": 2}%s}",
             model, data, data, dir, name, steps, eval_every, save, extra ? extra : "");
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

static void expect_same_adapter(const char *a_dir, const char *b_dir, float tol) {
    size_t na, nb;
    float *a = adapter(a_dir, &na), *b = adapter(b_dir, &nb);
    cr_assert_eq(na, nb);
    float worst = 0, big = 0;
    for (size_t i = 0; i < na; i++) {
        cr_assert(fabsf(a[i] - b[i]) <= tol, "%s vs %s: value %zu: %.9g vs %.9g", a_dir, b_dir, i, a[i], b[i]);
        worst = fmaxf(worst, fabsf(a[i] - b[i]));
        big = fmaxf(big, fabsf(a[i]));
    }
    cr_assert_gt(big, 1e-3f, "the adapter did not move: the comparison would prove nothing");
    free(a), free(b);
}

static int count_lines_with(const char *path, const char *needle) {
    size_t n;
    char *text = vk_read_file(path, &n, 1 << 24);
    cr_assert_not_null(text, "%s", vk_err_msg());
    int c = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++) c++;
    free(text);
    return c;
}

Test(cli_train_dist, two_ranks_equal_one_rank_with_twice_the_batch, .timeout = 240) {
    char *dir = test_tmpdir(), cmd[8192], *out;
    char *cfg = setup_run(dir, "one", 6, 3, 3, NULL);
    snprintf(cmd, sizeof cmd, "%s train %s --quiet 2>&1", vlkit(), cfg);
    cr_assert_eq(run(cmd, &out), 0, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s train %s --nproc 2 --set batch_size=2 --set output_dir=%s/two 2>&1", vlkit(), cfg, dir);
    cr_assert_eq(run(cmd, &out), 0, "%s", out);
    cr_assert(strstr(out, "distributed: 2 ranks (gloo)"), "%s", out);
    cr_assert_eq(strstr(out, "done: 6 steps") ? 1 : 0, 1, "%s", out);
    cr_assert_null(strstr(strstr(out, "done: 6 steps") + 1, "done:"), "only rank 0 reports: %s", out);
    free(out);
    /* the second epoch (steps 4-6) reused each rank's cached vision outputs: the same as without */
    snprintf(cmd, sizeof cmd, "%s train %s --nproc 2 --quiet --no-vision-cache --set batch_size=2 --set output_dir=%s/nocache 2>&1",
             vlkit(), cfg, dir);
    cr_assert_eq(run(cmd, &out), 0, "%s", out);
    free(out);
    char a[4200], b[4200];
    for (int step = 3; step <= 6; step += 3) {
        snprintf(a, sizeof a, "%s/one/checkpoint-%d", dir, step);
        snprintf(b, sizeof b, "%s/two/checkpoint-%d", dir, step);
        expect_same_adapter(a, b, 1e-5f);
    }
    snprintf(a, sizeof a, "%s/nocache/checkpoint-6", dir);
    expect_same_adapter(a, b, 1e-6f);
    /* one metrics file, written once per step (rank 0), with the same evaluation: the captions
     * of both ranks were gathered and scored together */
    snprintf(a, sizeof a, "%s/one/metrics.jsonl", dir);
    snprintf(b, sizeof b, "%s/two/metrics.jsonl", dir);
    cr_assert_eq(count_lines_with(b, "\"step\": 4,"), 1);
    cr_assert_eq(count_lines_with(b, "\"eval\""), 2);
    cr_assert_eq(count_lines_with(b, "\"images\": 5"), 2, "the eval covered every image once");
    size_t na, nb;
    char *ta = vk_read_file(a, &na, 1 << 24), *tb = vk_read_file(b, &nb, 1 << 24);
    const char *ea = strstr(ta, "\"CIDEr\""), *eb = strstr(tb, "\"CIDEr\"");
    cr_assert(ea && eb);
    cr_assert_eq(strncmp(ea, eb, 60), 0, "eval differs: %.60s vs %.60s", ea, eb);
    const char *la = strstr(ta, "\"val_loss\": "), *lb = strstr(tb, "\"val_loss\": ");
    cr_assert(fabs(atof(la + 12) - atof(lb + 12)) < 1e-5, "val loss %.60s vs %.60s", la, lb);
    free(ta), free(tb);
    free(cfg), free(dir);
}

Test(cli_train_dist, vqa_two_ranks_equal_one_rank_with_twice_the_batch, .timeout = 240) {
    char *dir = test_tmpdir(), cmd[8192], *out;
    char *root = realpath(fixture_path("blip-tiny/preprocess/images"), NULL), text[4096];
    snprintf(text, sizeof text,
             "{\"image\": \"%s/img0_landscape_rgb.png\", \"question\": \"what color is the cat?\", \"answers\": [\"red\", \"red\", \"orange\"]}\n"
             "{\"image\": \"%s/img1_portrait_rgb_q90_420.jpg\", \"question\": \"How many dogs are there\", \"answers\": [\"two\", \"2\"]}\n"
             "{\"image\": \"%s/img2_gray.png\", \"question\": \"is it gray?\", \"answer\": \"yes\"}\n"
             "{\"image\": \"%s/img3_rgba.png\", \"question\": \"what is this thing on the road?\", \"answers\": [\"car\", \"a red car\"]}\n"
             "{\"image\": \"%s/img5_small_q95_444.jpg\", \"question\": \"where?\", \"answers\": [\"beach\", \"sea\"]}\n",
             root, root, root, root, root);
    free(root);
    char *data = vk_path_join(dir, "vqa.jsonl");
    cr_assert_eq(vk_write_file_atomic(data, text, strlen(text)), 0);
    char *model = realpath(fixture_path("blip-tiny/vqa/model"), NULL);
    const char *modes[2] = {"blip", "single"};
    for (int m = 0; m < 2; m++) {
        char cfg[4200], json[4096];
        snprintf(cfg, sizeof cfg, "%s/vqa-%s.json", dir, modes[m]);
        /* 5 questions, global batch 4: every epoch ends with a short step (one rank gets none of it) */
        snprintf(json, sizeof json,
                 "{\"task\": \"vqa\", \"model\": \"%s\", \"train\": {\"path\": \"%s\"}, \"val\": {\"path\": \"%s\"},"
                 " \"output_dir\": \"%s/vqa-one-%s\", \"max_steps\": 6, \"batch_size\": 4, \"optim\": {\"lr\": 0.01},"
                 " \"lora\": {\"r\": 4, \"alpha\": 8, \"dropout\": 0}, \"vqa\": {\"answer_weighting\": \"%s\"},"
                 " \"eval\": {\"every_steps\": 3, \"beams\": 1, \"max_length\": 6}, \"save\": {\"every_steps\": 3},"
                 " \"distributed\": {\"check_every_steps\": 1}}",
                 model, data, data, dir, modes[m], modes[m]);
        cr_assert_eq(vk_write_file_atomic(cfg, json, strlen(json)), 0);
        snprintf(cmd, sizeof cmd, "%s train %s --quiet 2>&1", vlkit(), cfg);
        cr_assert_eq(run(cmd, &out), 0, "%s", out);
        free(out);
        snprintf(cmd, sizeof cmd, "%s train %s --quiet --nproc 2 --set batch_size=2 --set output_dir=%s/vqa-two-%s 2>&1", vlkit(),
                 cfg, dir, modes[m]);
        cr_assert_eq(run(cmd, &out), 0, "%s", out);
        free(out);
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/vqa-one-%s/checkpoint-6", dir, modes[m]);
        snprintf(b, sizeof b, "%s/vqa-two-%s/checkpoint-6", dir, modes[m]);
        expect_same_adapter(a, b, 1e-5f);
        /* the evaluation (val loss, accuracy of the gathered answers) is that of one process */
        snprintf(a, sizeof a, "%s/vqa-one-%s/metrics.jsonl", dir, modes[m]);
        snprintf(b, sizeof b, "%s/vqa-two-%s/metrics.jsonl", dir, modes[m]);
        size_t na, nb;
        char *ta = vk_read_file(a, &na, 1 << 24), *tb = vk_read_file(b, &nb, 1 << 24);
        const char *ea = strstr(ta, "\"vqa_accuracy\""), *eb = strstr(tb, "\"vqa_accuracy\"");
        cr_assert(ea && eb, "%s", tb);
        cr_assert_eq(strncmp(ea, eb, 24), 0, "%.24s vs %.24s", ea, eb);
        const char *la = strstr(ta, "\"val_loss\": "), *lb = strstr(tb, "\"val_loss\": ");
        cr_assert(fabs(atof(la + 12) - atof(lb + 12)) < 1e-5, "val loss %.40s vs %.40s", la, lb);
        free(ta), free(tb);
    }
    free(model), free(data), free(dir);
}

/* The pid of the child of `parent` whose environment has RANK=<rank>, or 0. */
static pid_t rank_pid(pid_t parent, int rank) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = 0;
    char want[32];
    snprintf(want, sizeof want, "RANK=%d", rank);
    while (!found && (e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        char p[64], buf[512];
        snprintf(p, sizeof p, "/proc/%d/stat", pid);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        int ppid = 0;
        if (fgets(buf, sizeof buf, f)) {
            const char *rp = strrchr(buf, ')');
            if (rp) sscanf(rp + 2, "%*c %d", &ppid);
        }
        fclose(f);
        if (ppid != parent) continue;
        snprintf(p, sizeof p, "/proc/%d/environ", pid);
        size_t n;
        char *env = vk_read_file(p, &n, 1 << 20);
        for (size_t k = 0; env && k < n; k += strlen(env + k) + 1)
            if (!strcmp(env + k, want)) found = pid;
        free(env);
    }
    closedir(d);
    return found;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* `vlkit train CFG --nproc 2 --set batch_size=2` in the background, stderr to log; its pid */
static pid_t launch_two_ranks(const char *cfg, const char *log) {
    pid_t launcher = fork();
    if (launcher == 0) {
        freopen(log, "w", stderr);
        execl(vlkit(), vlkit(), "train", cfg, "--quiet", "--nproc", "2", "--set", "batch_size=2", (char *)NULL);
        _exit(127);
    }
    return launcher;
}

/* Whether path (a file or a folder) appears within 120 s. */
static int wait_for_path(const char *path) {
    double t0 = now_s();
    while (!vk_file_exists(path) && !vk_is_dir(path) && now_s() - t0 < 120) nanosleep(&(struct timespec){0, 5000000}, NULL);
    return vk_file_exists(path) || vk_is_dir(path);
}

Test(cli_train_dist, killed_rank_stops_the_others_and_resume_continues, .timeout = 300) {
    char *dir = test_tmpdir(), cmd[8192], *out;
    char *full = setup_run(dir, "full", 40, 5, 0, NULL), *part = setup_run(dir, "part", 40, 5, 0, NULL);
    snprintf(cmd, sizeof cmd, "%s train %s --quiet --nproc 2 --set batch_size=2 2>&1", vlkit(), full);
    cr_assert_eq(run(cmd, &out), 0, "%s", out);
    free(out);
    /* the same run; rank 1 killed without warning once checkpoint-10 exists */
    char log[4200];
    snprintf(log, sizeof log, "%s/part.log", dir);
    pid_t launcher = launch_two_ranks(part, log);
    char ck[4200];
    snprintf(ck, sizeof ck, "%s/part/checkpoint-10", dir);
    cr_assert(wait_for_path(ck), "no checkpoint-10 appeared");
    pid_t victim = rank_pid(launcher, 1);
    cr_assert_gt(victim, 0, "rank 1 not found among the launcher's children");
    kill(victim, SIGKILL);
    double killed = now_s();
    int st;
    waitpid(launcher, &st, 0);
    double took = now_s() - killed;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "the launcher must fail when a rank is killed (status %d)", st);
    cr_assert_lt(took, 30, "rank 0 took %.1f s to notice (distributed.timeout_s is 30)", took);
    size_t n;
    char *text = vk_read_file(log, &n, 1 << 20);
    cr_assert(strstr(text, "rank 1 was killed by signal 9"), "%s", text);
    cr_assert(strstr(text, "rank 0/2: "), "rank 0 must say what went wrong: %s", text);
    free(text);
    snprintf(ck, sizeof ck, "%s/part/checkpoint-40", dir);
    cr_assert(!vk_is_dir(ck), "the run finished before it was killed; the test needs a longer run");
    /* resumed with the same world size: the end equals the uninterrupted run's */
    snprintf(cmd, sizeof cmd, "%s train %s --quiet --nproc 2 --set batch_size=2 --resume 2>&1", vlkit(), part);
    cr_assert_eq(run(cmd, &out), 0, "%s", out);
    free(out);
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s/full/checkpoint-40", dir);
    snprintf(b, sizeof b, "%s/part/checkpoint-40", dir);
    expect_same_adapter(a, b, 1e-6f);
    free(full), free(part), free(dir);
}

Test(cli_train_dist, sigterm_on_one_rank_stops_all_with_a_checkpoint, .timeout = 180) {
    char *dir = test_tmpdir();
    char *cfg = setup_run(dir, "term", 100000, 0, 0, NULL);
    pid_t launcher = launch_two_ranks(cfg, "/dev/null");
    char metrics[4200];
    snprintf(metrics, sizeof metrics, "%s/term/metrics.jsonl", dir);
    cr_assert(wait_for_path(metrics), "the run never started");
    nanosleep(&(struct timespec){0, 300000000}, NULL);
    pid_t victim = rank_pid(launcher, 1);
    cr_assert_gt(victim, 0);
    kill(victim, SIGTERM); /* rank 1 only: rank 0 learns of it from the step's all-reduce */
    int st;
    waitpid(launcher, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM on a rank must end the run cleanly (status %d)", st);
    char cmd[4400], *out;
    snprintf(cmd, sizeof cmd, "ls %s/term | grep -c '^checkpoint-[0-9]*$'", dir);
    run(cmd, &out);
    cr_assert_eq(atoi(out), 1, "one checkpoint expected after SIGTERM, found %s", out);
    free(out), free(cfg), free(dir);
}

/* A TCP port nothing listens on (bound and released). */
static int unused_port(void) {
    int port = vk_free_local_port();
    cr_assert_gt(port, 0, "no free local port");
    return port;
}

Test(cli_train_dist, bad_world_sizes_ports_and_stores_are_clear_errors, .timeout = 120) {
    char *dir = test_tmpdir(), cmd[8192], *out;
    char *cfg = setup_run(dir, "bad", 4, 0, 0, ", \"threads\": 1");
    int port = unused_port();
    /* a rank outside the world, RANK without WORLD_SIZE, --nproc inside a launched rank */
    snprintf(cmd, sizeof cmd, "RANK=2 WORLD_SIZE=2 MASTER_PORT=%d %s train %s --quiet 2>&1", port, vlkit(), cfg);
    cr_assert_eq(run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "rank 2 is not below the world size 2"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "RANK=1 %s train %s --quiet 2>&1", vlkit(), cfg);
    cr_assert_eq(run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "RANK is set without WORLD_SIZE"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "RANK=0 WORLD_SIZE=2 %s train %s --nproc 2 2>&1", vlkit(), cfg);
    cr_assert_eq(run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "--nproc starts its own ranks"), "%s", out);
    free(out);
    /* a store nobody serves: rank 1 gives up after distributed.timeout_s */
    double t0 = now_s();
    snprintf(cmd, sizeof cmd, "RANK=1 WORLD_SIZE=2 MASTER_PORT=%d %s train %s --quiet --set distributed.timeout_s=2 2>&1", port,
             vlkit(), cfg);
    cr_assert_eq(run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "rank 1/2: process group (gloo at 127.0.0.1:"), "%s", out);
    cr_assert_lt(now_s() - t0, 60, "an unreachable store must fail within the timeout");
    free(out);
    /* a port in use: rank 0 of a group waits there for its peer; a second rank 0 cannot bind */
    pid_t first = fork();
    if (first == 0) {
        char env[64];
        snprintf(env, sizeof env, "%d", port);
        setenv("RANK", "0", 1), setenv("WORLD_SIZE", "2", 1), setenv("MASTER_PORT", env, 1);
        freopen("/dev/null", "w", stderr);
        execl(vlkit(), vlkit(), "train", cfg, "--quiet", "--set", "distributed.timeout_s=60", (char *)NULL);
        _exit(127);
    }
    nanosleep(&(struct timespec){1, 500000000}, NULL);
    snprintf(cmd, sizeof cmd, "RANK=0 WORLD_SIZE=2 MASTER_PORT=%d %s train %s --quiet 2>&1", port, vlkit(), cfg);
    cr_assert_eq(run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "Address already in use"), "%s", out);
    free(out);
    /* a rank started with another WORLD_SIZE than rank 0's */
    snprintf(cmd, sizeof cmd, "RANK=1 WORLD_SIZE=3 MASTER_PORT=%d %s train %s --quiet 2>&1", port, vlkit(), cfg);
    cr_assert_eq(run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "world size 3 here, 2 on rank 0"), "%s", out);
    free(out);
    kill(first, SIGKILL);
    waitpid(first, NULL, 0);
    /* ranks started with different seeds hold different adapters: the weight check stops both */
    port = unused_port();
    first = fork();
    if (first == 0) {
        char env[64];
        snprintf(env, sizeof env, "%d", port);
        setenv("RANK", "0", 1), setenv("WORLD_SIZE", "2", 1), setenv("MASTER_PORT", env, 1);
        freopen("/dev/null", "w", stderr);
        execl(vlkit(), vlkit(), "train", cfg, "--quiet", "--set", "seed=1", (char *)NULL);
        _exit(127);
    }
    snprintf(cmd, sizeof cmd, "RANK=1 WORLD_SIZE=2 MASTER_PORT=%d %s train %s --quiet --set seed=2 2>&1", port, vlkit(), cfg);
    cr_assert_eq(run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "differ from rank 0's at step 0: the ranks diverged"), "%s", out);
    free(out);
    int st;
    waitpid(first, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "rank 0 must fail too (status %d)", st);
    free(cfg), free(dir);
}
