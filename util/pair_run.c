/* pair_run.c — see pair_run.h. */
#include "util/pair_run.h"
#include "util/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pair_job job;
    void *ctx;
    int rc;
    char *err; /* the job's message (vk_err is per thread), malloc'd */
} worker;

static void *run_worker(void *p) {
    worker *w = p;
    w->rc = w->job(w->ctx);
    if (w->rc != 0) w->err = strdup(vk_err_msg());
    return NULL;
}

int pair_run_threads(void) {
    const char *e = getenv("VLKIT_SCORE_THREADS");
    return !(e && strcmp(e, "1") == 0);
}

int pair_run(pair_job a, void *actx, pair_job b, void *bctx) {
    worker w = {b, bctx, 0, NULL};
    pthread_t t;
    int threaded = pair_run_threads() && pthread_create(&t, NULL, run_worker, &w) == 0;
    int rc = a(actx);
    char *a_err = rc != 0 ? strdup(vk_err_msg()) : NULL;
    /* b always runs to the end, so the caller's clean-up does not depend on the threads */
    if (threaded)
        pthread_join(t, NULL);
    else
        run_worker(&w);
    if (rc != 0)
        vk_err_set("%s", a_err ? a_err : "out of memory");
    else if (w.rc != 0)
        vk_err_set("%s", w.err ? w.err : "out of memory");
    free(a_err);
    free(w.err);
    return rc == 0 && w.rc == 0 ? 0 : -1;
}
