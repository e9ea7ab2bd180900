/* test_dist.c — the shim's c10d API with 3 real processes on loopback (Gloo): all-reduce (sum,
 * average, max, min, several tensors in one call), gradients with a rank that has none,
 * broadcast, barrier, the store, and the errors: a peer that dies, bad options, mixed dtypes.
 * Each rank is a forked child that reports through its exit status (0 = every check held) and
 * _exits (libtorch's exit handlers must not run in a forked copy). */
#include "shim/tt.h"
#include "util/free_port.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORLD 3

static int free_port(void) {
    int port = vk_free_local_port();
    cr_assert_gt(port, 0, "no free local port");
    return port;
}

/* In a rank: a failed check prints why and ends the process with the line number. */
#define CHECK(cond)                                                                                      \
    do {                                                                                                 \
        if (!(cond)) {                                                                                   \
            fprintf(stderr, "rank %d: line %d: %s (%s)\n", rank, __LINE__, #cond, tt_last_error());     \
            fflush(stderr);                                                                              \
            _exit(__LINE__ % 200 + 1);                                                                   \
        }                                                                                                \
    } while (0)

typedef void (*rank_fn)(int rank, int port);

/* Runs fn in WORLD forked ranks on a free port; every rank must exit 0 (a failing CHECK says why). */
static void expect_ranks_pass(rank_fn fn) {
    int port = free_port(), status[WORLD];
    pid_t pid[WORLD];
    for (int r = 0; r < WORLD; r++) {
        pid[r] = fork();
        cr_assert_neq(pid[r], -1);
        if (pid[r] == 0) {
            tt_set_num_threads(1);
            fn(r, port);
            _exit(0);
        }
    }
    for (int r = 0; r < WORLD; r++) waitpid(pid[r], &status[r], 0);
    for (int r = 0; r < WORLD; r++)
        cr_expect(WIFEXITED(status[r]) && WEXITSTATUS(status[r]) == 0, "rank %d failed (status %d, see its message)", r,
                  status[r]);
}

static tt_dist *join(int rank, int port, double timeout_s) {
    tt_dist_options o = {rank, WORLD, "127.0.0.1", port, "gloo", timeout_s};
    tt_dist *d = tt_dist_init(&o);
    CHECK(d != NULL);
    CHECK(tt_dist_rank(d) == rank && tt_dist_world_size(d) == WORLD);
    return d;
}

static void collectives(int rank, int port) {
    tt_dist *d = join(rank, port, 30);
    /* two tensors, one call: values from the rank */
    float a[3] = {(float)rank, 1.0f, (float)(rank * rank)}, b[2] = {10.0f * rank, -1.0f};
    tt_tensor *t[2] = {tt_from_data(a, (int64_t[]){3}, 1, TT_F32), tt_from_data(b, (int64_t[]){2, 1}, 2, TT_F32)};
    CHECK(tt_dist_all_reduce(d, t, 2, TT_DIST_SUM) == 0);
    float ra[3], rb[2];
    tt_copy_to(t[0], ra, sizeof ra);
    tt_copy_to(t[1], rb, sizeof rb);
    CHECK(ra[0] == 0 + 1 + 2 && ra[1] == 3 && ra[2] == 0 + 1 + 4 && rb[0] == 30 && rb[1] == -3);
    CHECK(tt_ndim(t[1]) == 2); /* shapes kept */
    double v[2] = {rank + 0.5, -(double)rank};
    tt_tensor *x = tt_from_data(v, (int64_t[]){2}, 1, TT_F64);
    CHECK(tt_dist_all_reduce(d, &x, 1, TT_DIST_AVG) == 0);
    double rv[2];
    tt_copy_to(x, rv, sizeof rv);
    CHECK(fabs(rv[0] - 1.5) < 1e-12 && fabs(rv[1] + 1.0) < 1e-12);
    tt_tensor *y = tt_from_data((double[]){rank, -rank}, (int64_t[]){2}, 1, TT_F64);
    CHECK(tt_dist_all_reduce(d, &y, 1, TT_DIST_MAX) == 0);
    tt_copy_to(y, rv, sizeof rv);
    CHECK(rv[0] == 2 && rv[1] == 0);
    tt_tensor *z = tt_from_data((double[]){rank, -rank}, (int64_t[]){2}, 1, TT_F64);
    CHECK(tt_dist_all_reduce(d, &z, 1, TT_DIST_MIN) == 0);
    tt_copy_to(z, rv, sizeof rv);
    CHECK(rv[0] == 0 && rv[1] == -2);
    /* mixed dtypes in one call: an error, and the group still works after it */
    tt_tensor *mixed[2] = {x, t[0]};
    CHECK(tt_dist_all_reduce(d, mixed, 2, TT_DIST_SUM) == -1 && strstr(tt_last_error(), "dtypes"));
    /* gradients: rank 1 has none (no example this step): it takes part with zeros */
    tt_tensor *p = tt_zeros((int64_t[]){4}, 1, TT_F32);
    tt_requires_grad(p, 1);
    if (rank != 1) {
        tt_tensor *w = tt_from_data((float[]){1, 2, 3, 4}, (int64_t[]){4}, 1, TT_F32);
        tt_tensor *loss = tt_sum(tt_mul_scalar(tt_mul(p, w), rank + 1));
        CHECK(tt_backward(loss) == 0);
    }
    CHECK(tt_dist_all_reduce_grads(d, &p, 1, TT_DIST_SUM) == 0);
    tt_tensor *g = tt_grad(p);
    CHECK(g != NULL);
    float rg[4];
    tt_copy_to(g, rg, sizeof rg);
    for (int i = 0; i < 4; i++) CHECK(rg[i] == (float)((i + 1) * (1 + 3))); /* ranks 0 and 2: factors 1 and 3 */
    /* broadcast from rank 2 */
    tt_tensor *bc = tt_from_data((float[]){rank, rank}, (int64_t[]){2}, 1, TT_F32);
    CHECK(tt_dist_broadcast(d, &bc, 1, 2) == 0);
    float rbc[2];
    tt_copy_to(bc, rbc, sizeof rbc);
    CHECK(rbc[0] == 2 && rbc[1] == 2);
    CHECK(tt_dist_broadcast(d, &bc, 1, WORLD) == -1); /* no such root */
    /* the store: each rank writes, everyone reads everyone (get waits for the key) */
    char key[32], val[32];
    snprintf(key, sizeof key, "k%d", rank);
    snprintf(val, sizeof val, "value of %d", rank);
    CHECK(tt_dist_store_set(d, key, val, strlen(val)) == 0);
    for (int r = 0; r < WORLD; r++) {
        void *data;
        size_t n;
        snprintf(key, sizeof key, "k%d", r);
        snprintf(val, sizeof val, "value of %d", r);
        CHECK(tt_dist_store_get(d, key, &data, &n) == 0);
        CHECK(n == strlen(val) && !memcmp(data, val, n) && ((char *)data)[n] == 0);
        free(data);
    }
    CHECK(tt_dist_barrier(d) == 0);
    tt_dist_destroy(d);
}

Test(dist, collectives_store_and_gradients_over_three_processes, .timeout = 120) {
    expect_ranks_pass(collectives);
}

/* Rank 2 dies after the first all-reduce; the others must fail at the next collective with a
 * message, well before the timeout. */
static void peer_dies(int rank, int port) {
    tt_dist *d = join(rank, port, 60);
    tt_tensor *x = tt_ones((int64_t[]){8}, 1, TT_F32);
    CHECK(tt_dist_all_reduce(d, &x, 1, TT_DIST_SUM) == 0);
    if (rank == 2) _exit(0); /* gone without a word: its sockets close */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = tt_dist_all_reduce(d, &x, 1, TT_DIST_SUM);
    if (rc == 0) rc = tt_dist_barrier(d); /* rank 0 may finish its part before it notices */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(rc == -1 && strlen(tt_last_error()) > 0);
    CHECK((double)(t1.tv_sec - t0.tv_sec) < 30);
    tt_dist_destroy(d);
}

Test(dist, a_dead_peer_is_an_error_not_a_hang, .timeout = 120) {
    expect_ranks_pass(peer_dies);
}

Test(dist, bad_options_are_refused) {
    tt_dist_options o = {2, 2, "127.0.0.1", 29500, "gloo", 1};
    cr_expect_null(tt_dist_init(&o));
    cr_expect(strstr(tt_last_error(), "rank 2 outside world size 2"), "%s", tt_last_error());
    o = (tt_dist_options){0, 1, "127.0.0.1", 70000, "gloo", 1};
    cr_expect_null(tt_dist_init(&o));
    cr_expect(strstr(tt_last_error(), "master port 70000"), "%s", tt_last_error());
    o = (tt_dist_options){0, 1, "127.0.0.1", free_port(), "mpi", 1};
    cr_expect_null(tt_dist_init(&o));
    cr_expect(strstr(tt_last_error(), "unknown distributed backend 'mpi'"), "%s", tt_last_error());
    cr_expect_eq(tt_dist_available("gloo"), 1, "this build must have Gloo (libgloo-dev)");
    cr_expect_eq(tt_dist_available("mpi"), 0);
    /* a world of one is a valid group: collectives are identities */
    o = (tt_dist_options){0, 1, "127.0.0.1", free_port(), "gloo", 5};
    tt_dist *d = tt_dist_init(&o);
    cr_assert_not_null(d, "%s", tt_last_error());
    tt_tensor *x = tt_from_data((float[]){1.5f, -2}, (int64_t[]){2}, 1, TT_F32);
    cr_expect_eq(tt_dist_all_reduce(d, &x, 1, TT_DIST_AVG), 0, "%s", tt_last_error());
    float r[2];
    tt_copy_to(x, r, sizeof r);
    cr_expect(r[0] == 1.5f && r[1] == -2);
    tt_dist_destroy(d);
}
