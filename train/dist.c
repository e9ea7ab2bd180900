#include "train/dist.h"

#include "train/train_common.h"
#include "util/error.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An integer environment variable: 1 = set and valid, 0 = unset, -1 = set but bad (vk_err). */
static int env_int(const char *name, long lo, long hi, int *out) {
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) return vk_err_set("environment %s=%s: not an integer in %ld..%ld", name, v, lo, hi);
    *out = (int)x;
    return 1;
}

/* rank / world / local rank from torchrun's variables, else from an srun step's. */
static int read_env(train_dist *d, int *port, const char **addr) {
    int rank = 0, world = 1, local = 0;
    int hr = env_int("RANK", 0, 1 << 20, &rank), hw = env_int("WORLD_SIZE", 1, 1 << 20, &world);
    if (hr < 0 || hw < 0) return -1;
    const char *src = "RANK";
    if (!hr && !hw && getenv("SLURM_STEP_ID")) {
        hr = env_int("SLURM_PROCID", 0, 1 << 20, &rank);
        hw = env_int("SLURM_NTASKS", 1, 1 << 20, &world);
        if (hr < 0 || hw < 0) return -1;
        if (env_int("SLURM_LOCALID", 0, 1 << 20, &local) < 0) return -1;
        src = "SLURM_PROCID";
    } else if (env_int("LOCAL_RANK", 0, 1 << 20, &local) < 0) {
        return -1;
    }
    if (hr != hw)
        return vk_err_set("environment: %s is set without WORLD_SIZE (or the other way round): set both", hr ? src : "WORLD_SIZE");
    if (rank >= world) return vk_err_set("environment: rank %d is not below the world size %d", rank, world);
    *port = 29500;
    if (env_int("MASTER_PORT", 1, 65535, port) < 0) return -1;
    *addr = getenv("MASTER_ADDR") && *getenv("MASTER_ADDR") ? getenv("MASTER_ADDR") : "127.0.0.1";
    d->rank = rank;
    d->world = world;
    d->local_rank = local;
    return 0;
}

int train_dist_init(const train_config *c, train_dist *d) {
    memset(d, 0, sizeof *d);
    d->world = 1;
    int port = 29500;
    const char *addr = "127.0.0.1";
    if (read_env(d, &port, &addr)) return -1;
    if (d->world == 1) return 0;
    snprintf(d->where, sizeof d->where, "rank %d/%d: ", d->rank, d->world);
    const char *backend = train_dist_backend_name(c->distributed.backend);
    if (!tt_dist_available(backend))
        return vk_err_set("distributed.backend %s: not in this build (%s)", backend,
                          c->distributed.backend == TRAIN_DIST_NCCL ? "NCCL needs a CUDA libtorch: make LIBTORCH=..."
                                                                    : "install libgloo-dev and rebuild");
    tt_dist_options o = {d->rank, d->world, addr, port, backend, c->distributed.timeout_s};
    d->pg = tt_dist_init(&o);
    if (!d->pg) return vk_err_set("%sprocess group (%s at %s:%d, world size %d): %s", d->where, backend, addr, port, d->world, tt_last_error());
    /* every rank must agree on the world size: a rank started with another WORLD_SIZE would have
     * waited for peers that never come, or joined a store sized for another group */
    if (train_dist_same(d, d->world, "WORLD_SIZE")) {
        train_dist_free(d);
        return -1;
    }
    return 0;
}

void train_dist_free(train_dist *d) {
    tt_dist_destroy(d->pg);
    d->pg = NULL;
}

int train_dist_sum(train_dist *d, double *v, int n) {
    if (!d->pg || n <= 0) return 0;
    double t0 = train_now();
    tt_tensor *t = tt_from_data(v, (int64_t[]){n}, 1, TT_F64);
    int rc = t && !tt_dist_all_reduce(d->pg, &t, 1, TT_DIST_SUM) && !tt_copy_to(t, v, sizeof(double) * (size_t)n)
                 ? 0
                 : vk_err_set("%sall-reduce: %s", d->where, tt_last_error());
    tt_free(t);
    d->comm_s += train_now() - t0;
    return rc;
}

int train_dist_sum_grads(train_dist *d, tt_tensor *const *params, int n) {
    if (!d->pg) return 0;
    double t0 = train_now();
    int rc = tt_dist_all_reduce_grads(d->pg, params, n, TT_DIST_SUM) ? vk_err_set("%sgradient all-reduce: %s", d->where, tt_last_error()) : 0;
    d->comm_s += train_now() - t0;
    return rc;
}

int train_dist_broadcast(train_dist *d, tt_tensor *const *params, int n) {
    if (!d->pg) return 0;
    return tt_dist_broadcast(d->pg, params, n, 0) ? vk_err_set("%sbroadcast: %s", d->where, tt_last_error()) : 0;
}

int train_dist_same(train_dist *d, long long value, const char *what) {
    if (!d->pg) return 0;
    /* MAX of (v, -v) gives the largest and the smallest value in one collective */
    double v[2] = {(double)value, -(double)value};
    tt_tensor *t = tt_from_data(v, (int64_t[]){2}, 1, TT_F64);
    int rc = t && !tt_dist_all_reduce(d->pg, &t, 1, TT_DIST_MAX) && !tt_copy_to(t, v, sizeof v)
                 ? 0
                 : vk_err_set("%sall-reduce: %s", d->where, tt_last_error());
    tt_free(t);
    if (!rc && (v[0] != (double)value || -v[1] != (double)value))
        rc = vk_err_set("%s%s differs between ranks: %lld here, between %.0f and %.0f over all ranks", d->where, what, value,
                        -v[1], v[0]);
    return rc;
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int train_dist_check_weights(train_dist *d, tt_tensor *const *params, int n, long long step, int every) {
    if (!d->pg || every <= 0 || step % every) return 0;
    uint64_t h = 14695981039346656037ull;
    unsigned char *buf = NULL;
    size_t cap = 0;
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)tt_numel(params[i]) * tt_dtype_size(tt_dtype_of(params[i]));
        if (bytes > cap) {
            unsigned char *nb = realloc(buf, bytes);
            if (!nb) {
                free(buf);
                return vk_err_set("out of memory");
            }
            buf = nb, cap = bytes;
        }
        if (tt_copy_to(params[i], buf, bytes)) {
            free(buf);
            return vk_err_set("%sweights: %s", d->where, tt_last_error());
        }
        h = fnv1a(h, buf, bytes);
    }
    free(buf);
    /* rank 0's hash to everyone (as two exact 32-bit halves), then "did anyone differ" */
    double v[2] = {(double)(h >> 32), (double)(h & 0xffffffffu)};
    tt_tensor *t = tt_from_data(v, (int64_t[]){2}, 1, TT_F64);
    int rc = t && !tt_dist_broadcast(d->pg, &t, 1, 0) && !tt_copy_to(t, v, sizeof v) ? 0 : -1;
    tt_free(t);
    if (rc) return vk_err_set("%sweight check: %s", d->where, tt_last_error());
    double differs[1] = {v[0] != (double)(h >> 32) || v[1] != (double)(h & 0xffffffffu)};
    int mine = differs[0] != 0;
    if (train_dist_sum(d, differs, 1)) return -1;
    if (differs[0] > 0)
        return vk_err_set("%sthe trainable weights of %.0f rank(s)%s differ from rank 0's at step %lld: the ranks diverged "
                          "(different configs, data or library builds?)",
                          d->where, differs[0], mine ? " (this one among them)" : "", step);
    return 0;
}

/* Every rank's bytes to rank 0 through the store: there *all (malloc'd) is the concatenation in
 * rank order; other ranks get NULL. */
static int gather_bytes(train_dist *d, const char *key, const void *mine, size_t n, char **all, size_t *all_n) {
    *all = NULL;
    *all_n = 0;
    char k[256];
    snprintf(k, sizeof k, "gather/%s/%d", key, d->rank);
    if (d->rank != 0) return tt_dist_store_set(d->pg, k, mine, n) ? vk_err_set("%sstore: %s", d->where, tt_last_error()) : 0;
    size_t total = n, cap = n + 1;
    char *out = malloc(cap);
    if (!out) return vk_err_set("out of memory");
    if (n) memcpy(out, mine, n);
    for (int r = 1; r < d->world; r++) {
        snprintf(k, sizeof k, "gather/%s/%d", key, r);
        void *part = NULL;
        size_t len = 0;
        if (tt_dist_store_get(d->pg, k, &part, &len)) {
            free(out);
            return vk_err_set("%swaiting for rank %d's results: %s", d->where, r, tt_last_error());
        }
        if (total + len + 1 > cap) {
            cap = total + len + 1;
            char *no = realloc(out, cap);
            if (!no) {
                free(part), free(out);
                return vk_err_set("out of memory");
            }
            out = no;
        }
        memcpy(out + total, part, len);
        total += len;
        free(part);
    }
    *all = out;
    *all_n = total;
    return 0;
}

int train_dist_gather_texts(train_dist *d, const char *key, const int64_t *index, char *const *text, int n, int64_t n_total,
                            char ***by_index) {
    *by_index = NULL;
    /* "index\ttext\0" entries; the texts (generated captions, answers) hold no NUL */
    size_t cap = 1, len = 0;
    for (int i = 0; i < n; i++) cap += strlen(text[i]) + 24;
    char *mine = malloc(cap);
    if (!mine) return vk_err_set("out of memory");
    for (int i = 0; i < n; i++) len += (size_t)snprintf(mine + len, cap - len, "%lld\t%s", (long long)index[i], text[i]) + 1;
    char *all = NULL;
    size_t all_n = 0;
    int rc = d->pg ? gather_bytes(d, key, mine, len, &all, &all_n) : 0;
    if (!d->pg) all = mine, all_n = len, mine = NULL;
    free(mine);
    if (rc || !all) return rc;
    char **out = calloc((size_t)n_total + 1, sizeof *out);
    if (!out) rc = vk_err_set("out of memory");
    for (size_t p = 0; !rc && p < all_n; p += strlen(all + p) + 1) {
        long long i = strtoll(all + p, NULL, 10);
        const char *tab = strchr(all + p, '\t');
        if (!tab || i < 0 || i >= n_total) continue;
        free(out[i]);
        if (!(out[i] = strdup(tab + 1))) rc = vk_err_set("out of memory");
    }
    free(all);
    if (rc) {
        for (int64_t i = 0; out && i < n_total; i++) free(out[i]);
        free(out);
        return rc;
    }
    *by_index = out;
    return 0;
}

int train_dist_barrier(train_dist *d) {
    if (!d->pg) return 0;
    return tt_dist_barrier(d->pg) ? vk_err_set("%sbarrier: %s", d->where, tt_last_error()) : 0;
}

void train_dist_seed_step(train_dist *d, long long seed, long long step) {
    if (d->pg) tt_manual_seed((uint64_t)seed + 1000003ull * (uint64_t)d->rank + 7919ull * (uint64_t)step);
}

int train_dist_share(train_dist *d, double mine, double *share, int *none) {
    *share = 1.0;
    *none = 0;
    if (!d->pg) return 0;
    double all[1] = {mine};
    if (train_dist_sum(d, all, 1)) return -1;
    *none = all[0] <= 0;
    *share = *none ? 0 : mine / all[0];
    return 0;
}

int train_dist_end_step(train_dist *d, tt_tensor *const *params, int n, double *loss, double *rows, int *finite, int *stop) {
    if (!d->pg) return 0;
    double v[4] = {*loss, *rows, !*finite, train_stop_signal() != 0};
    if (train_dist_sum_grads(d, params, n) || train_dist_sum(d, v, 4)) return -1;
    *loss = v[0], *rows = v[1], *finite = v[2] == 0, *stop = v[3] > 0;
    return 0;
}
