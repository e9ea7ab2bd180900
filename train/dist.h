/* dist.h — the data-parallel side of a training run: who this process is (rank, world size from
 * the torchrun / SLURM environment), and the few collectives the trainers need, over the shim's
 * c10d process group.
 *
 *   train_dist d;
 *   if (train_dist_init(cfg, &d)) die(vk_err_msg());     // world 1 when no RANK/WORLD_SIZE is set
 *   double v[2] = {loss, rows};
 *   train_dist_sum(&d, v, 2);                             // every rank gets the sums
 *   train_dist_free(&d);
 *
 * With world size 1 every call is a no-op that returns 0, so a trainer runs the same code with
 * and without ranks. All calls except init/free are collective: every rank makes them in the
 * same order. */
#ifndef VLKIT_TRAIN_DIST_H
#define VLKIT_TRAIN_DIST_H

#include "shim/tt.h"
#include "util/train_config.h"

#include <stddef.h>

typedef struct {
    tt_dist *pg;    /* NULL: one process */
    int rank, world, local_rank;
    char where[48]; /* "rank 1/2: " for messages, "" with one process */
} train_dist;

/* The environment torchrun and srun give: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR (default
 * 127.0.0.1), MASTER_PORT (default 29500); inside an srun step without RANK/WORLD_SIZE,
 * SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID. Bad or inconsistent values, a port in use, an
 * unreachable store, ranks that never arrive (config distributed.timeout_s): -1 with vk_err. */
int train_dist_init(const train_config *c, train_dist *d);
void train_dist_free(train_dist *d);

/* Element-wise sums (fp64) over the ranks, in place. */
int train_dist_sum(train_dist *d, double *v, int n);
/* The trainable parameters' gradients summed over the ranks (missing ones count as zeros). */
int train_dist_sum_grads(train_dist *d, tt_tensor *const *params, int n);
/* Rank 0's values of the tensors copied into every rank's. */
int train_dist_broadcast(train_dist *d, tt_tensor *const *params, int n);
/* All ranks must hold the same value (a resumed step, a dataset size): -1 naming `what` and
 * both values when they differ. */
int train_dist_same(train_dist *d, long long value, const char *what);
/* A 64-bit hash of the tensors' bytes compared with rank 0's: -1 on every rank when a rank's
 * weights differ ("... diverged at step N"). */
int train_dist_check_weights(train_dist *d, tt_tensor *const *params, int n, long long step);
/* Every rank's bytes to rank 0: there *all (malloc'd) is the concatenation in rank order and
 * *all_n its length; other ranks get NULL. key must be unique per call (e.g. with the step). */
int train_dist_gather(train_dist *d, const char *key, const void *mine, size_t n, char **all, size_t *all_n);
int train_dist_barrier(train_dist *d);

#endif
