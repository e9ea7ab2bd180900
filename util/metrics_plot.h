/* metrics_plot.h — draw a run's metrics (util/metrics_read.h) as one self-contained SVG.
 *
 *   vk_metrics m;  vk_metrics_read("runs/x/metrics.jsonl", &m);
 *   vk_plot_opts o;  vk_plot_opts_default(&o);
 *   char *svg = vk_metrics_svg(&m, &o);   // then vk_write_file_atomic(...)
 *
 * Panels, sharing the step axis, top to bottom:
 *   loss        the training loss (raw, light) with its smoothed curve (EMA, debiased as
 *               TensorBoard does), and val_loss from the eval lines when present
 *   lr          the learning rate, when logged
 *   evaluation  every other eval metric (CIDEr, Bleu_4, ...), when present; bookkeeping keys
 *               (images, seconds, samples, epoch) are not drawn
 * Each panel has a frame, grid, ticks with labels, axis labels and a legend. Every series is one
 * <polyline data-series="NAME" ...> with one point per logged value (eval points also get a
 * marker), so the file is easy to inspect and test. Hand-written SVG, no dependencies. */
#ifndef VLKIT_UTIL_METRICS_PLOT_H
#define VLKIT_UTIL_METRICS_PLOT_H

#include "util/metrics_read.h"

typedef struct {
    int width;         /* 960 px; panels scale with it */
    double smooth;     /* EMA weight of the smoothed loss, in [0, 1): 0.8; 0 = no smoothing */
    const char *title; /* shown on top (escaped); NULL: "training curves" */
} vk_plot_opts;

void vk_plot_opts_default(vk_plot_opts *o);

/* The SVG text (malloc'd, NUL-terminated), or NULL with vk_err set (bad options, out of memory). */
char *vk_metrics_svg(const vk_metrics *m, const vk_plot_opts *o);

/* The smoothed values of s (debiased EMA with weight w) into out[s->n]. */
void vk_series_ema(const vk_series *s, double w, double *out);

#endif
