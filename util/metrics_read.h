/* metrics_read.h — read a training run's metrics.jsonl into series of (step, value) points.
 *
 * One JSON object per line, as `vlkit train` writes them:
 *   {"step": 10, "loss": 2.31, "lr": 9.8e-05, "grad_norm": 1.7, "samples_per_s": 12.5}
 *   {"step": 100, "eval": {"val_loss": 2.05, "CIDEr": 0.61, "Bleu_4": 0.21}}
 * Every key but "step" may be missing or null (no point for that series on that line); other keys
 * are ignored. Lines that are not a JSON object with a numeric "step" (a half-written last line,
 * a stray message) are skipped and counted, never fatal. Blank lines are ignored. A bare
 * nan / NaN / inf / -Infinity (printf's and Python's spelling; not JSON) reads as null.
 *
 * A resumed run logs again the steps after its checkpoint: a point whose step is not after the
 * series' previous point replaces the points from that step on, so the curve shows the run that
 * produced the final weights instead of zig-zagging back. */
#ifndef VLKIT_UTIL_METRICS_READ_H
#define VLKIT_UTIL_METRICS_READ_H

#include <stddef.h>

typedef struct {
    char *name;    /* "loss", "lr", "CIDEr", ... */
    double *step;  /* [n], increasing */
    double *value; /* [n] */
    size_t n, cap;
} vk_series;

typedef struct {
    vk_series loss, lr, grad_norm, samples_per_s;
    vk_series *eval; /* [neval]: every numeric key of the "eval" objects, first-seen order */
    size_t neval;
    size_t lines;                /* non-blank lines */
    size_t malformed;            /* of those, skipped */
    size_t first_malformed_line; /* 1-based line number of the first skipped line; 0: none */
} vk_metrics;

/* Read path. Fails (vk_err names the file) when it cannot be read, is empty, or yields no point
 * at all (the message then says how many lines were malformed). *out is zeroed on failure. */
int vk_metrics_read(const char *path, vk_metrics *out);
/* The eval series called name, or NULL. */
const vk_series *vk_metrics_eval(const vk_metrics *m, const char *name);
void vk_metrics_free(vk_metrics *m);

#endif
