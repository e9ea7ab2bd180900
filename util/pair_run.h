/* pair_run.h — two independent jobs at once, on two threads (vlkit score's stages split in two).
 *
 * Each job computes its own part of a result; nothing depends on which thread runs first, so
 * the results are the same with one thread as with two. VLKIT_SCORE_THREADS=1 runs the jobs one
 * after the other (and so does a failure to start a thread). */
#ifndef VLKIT_UTIL_PAIR_RUN_H
#define VLKIT_UTIL_PAIR_RUN_H

/* A job: 0 on success, -1 with vk_err set (util/error.h). */
typedef int (*pair_job)(void *ctx);

/* Run a on this thread and b on a second one; wait for both. Returns 0 when both succeeded,
 * else -1 with the message of the failed job (a's when both failed) on this thread. */
int pair_run(pair_job a, void *actx, pair_job b, void *bctx);

/* Whether pair_run may use a second thread (VLKIT_SCORE_THREADS is not 1). */
int pair_run_threads(void);

#endif
