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

#include <stdint.h>

#include <stddef.h>

typedef struct {
    tt_dist *pg;    /* NULL: one process */
    int rank, world, local_rank;
    char where[48]; /* "rank 1/2: " for messages, "" with one process */
    double comm_s;  /* seconds spent in collectives so far (the caller may reset it) */
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
/* When step is a multiple of every (> 0): a 64-bit hash of the tensors' bytes compared with
 * rank 0's; -1 on every rank when a rank's weights differ ("... diverged at step N"). */
int train_dist_check_weights(train_dist *d, tt_tensor *const *params, int n, long long step, int every);
/* Texts keyed by an index in [0, n_total), from every rank to rank 0: there *by_index is a
 * calloc'd array of n_total entries (malloc'd strings, NULL where no rank gave one); other ranks
 * get NULL. key must be unique per call (e.g. with the step). */
int train_dist_gather_texts(train_dist *d, const char *key, const int64_t *index, char *const *text, int n, int64_t n_total,
                            char ***by_index);
int train_dist_barrier(train_dist *d);

/* ---- the parts of a training step that involve the other ranks (no-ops with one process) ---- */

/* Dropout's generator reseeded from (seed, rank, step), so a resumed run draws what an
 * uninterrupted one does without per-rank generator files. */
void train_dist_seed_step(train_dist *d, long long seed, long long step);
/* This rank's share of a micro-batch's loss denominator (target tokens or questions) summed
 * over the ranks: backward of loss * share, summed over the ranks, is the gradient of the loss of
 * the whole global batch. *share = 0 and *none = 1 when no rank has any. One process: 1, 0. */
int train_dist_share(train_dist *d, double mine, double *share, int *none);
/* After the backward passes of a step: the gradients summed over the ranks, then the step's
 * loss and rows summed, its non-finite flag and the stop request (a signal on any rank) or-ed. */
int train_dist_end_step(train_dist *d, tt_tensor *const *params, int n, double *loss, double *rows, int *finite, int *stop);

#endif
