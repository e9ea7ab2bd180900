/* test_plot.c — metrics.jsonl reading (missing keys, malformed lines, resumed runs, empty files)
 * and the SVG: well-formed enough, one polyline per series with one point per value, labels,
 * coordinates inside the plot areas, escaping. */
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/metrics_plot.h"
#include "util/metrics_read.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *write_metrics(const char *text) {
    char *dir = test_tmpdir();
    char *p = vk_path_join(dir, "metrics.jsonl");
    free(dir);
    cr_assert_eq(vk_write_file_atomic(p, text, strlen(text)), 0, "%s", vk_err_msg());
    return p;
}

/* 40 training lines every 5 steps, 4 eval lines, and 2 malformed lines (one half-written). */
static char *sample_run(void) {
    size_t cap = 1 << 16, n = 0;
    char *t = malloc(cap);
    for (int s = 5; s <= 200; s += 5) {
        n += (size_t)snprintf(t + n, cap - n,
                              "{\"step\": %d, \"loss\": %.4f, \"lr\": %.6g, \"grad_norm\": 1.5, \"samples_per_s\": 20}\n", s,
                              3.0 * exp(-s / 80.0) + 1.0, 1e-4 * (1 - s / 200.0));
        if (s == 100) n += (size_t)snprintf(t + n, cap - n, "vlkit: warning: not json\n\n");
        if (s % 50 == 0)
            n += (size_t)snprintf(t + n, cap - n,
                                  "{\"step\": %d, \"eval\": {\"val_loss\": %.3f, \"CIDEr\": %.3f, \"Bleu_4\": %.3f}}\n", s,
                                  2.5 - s / 200.0, s / 250.0, s / 1000.0);
    }
    n += (size_t)snprintf(t + n, cap - n, "{\"step\": 205, \"loss\": 1.");
    char *p = write_metrics(t);
    free(t);
    return p;
}

/* The points="..." of the polyline whose data-series is name (NULL when absent); *count pairs. */
static int polyline_points(const char *svg, const char *name, double *xs, double *ys, int cap) {
    char key[96];
    snprintf(key, sizeof key, "<polyline data-series=\"%s\"", name);
    const char *p = strstr(svg, key);
    if (!p) return -1;
    cr_assert_null(strstr(p + 1, key), "series %s drawn twice", name);
    p = strstr(p, "points=\"");
    cr_assert_not_null(p);
    p += 8;
    int n = 0;
    while (*p != '"') {
        double x, y;
        int used;
        cr_assert_eq(sscanf(p, "%lf,%lf%n", &x, &y, &used), 2, "bad point list near %.20s", p);
        if (n < cap) {
            xs[n] = x;
            ys[n] = y;
        }
        n++;
        p += used;
        while (*p == ' ') p++;
    }
    return n;
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

Test(metrics, read_sample_run) {
    char *p = sample_run();
    vk_metrics m;
    cr_assert_eq(vk_metrics_read(p, &m), 0, "%s", vk_err_msg());
    cr_assert_eq(m.loss.n, 40);
    cr_assert_eq(m.lr.n, 40);
    cr_assert_eq(m.grad_norm.n, 40);
    cr_assert_eq(m.samples_per_s.n, 40);
    cr_assert_eq(m.neval, 3);
    cr_assert_str_eq(m.eval[0].name, "val_loss");
    cr_assert_str_eq(m.eval[1].name, "CIDEr");
    cr_assert_eq(vk_metrics_eval(&m, "Bleu_4")->n, 4);
    cr_assert_eq(vk_metrics_eval(&m, "CIDEr")->step[3], 200);
    cr_assert_float_eq(vk_metrics_eval(&m, "CIDEr")->value[3], 0.8, 1e-9);
    cr_assert_null(vk_metrics_eval(&m, "METEOR"));
    cr_assert_eq(m.loss.step[0], 5);
    cr_assert_float_eq(m.loss.value[0], 3.0 * exp(-5 / 80.0) + 1.0, 1e-4);
    /* 40 + 4 + the stray line + the half-written last line; the blank line is not counted */
    cr_assert_eq(m.lines, 46);
    cr_assert_eq(m.malformed, 2);
    cr_assert_eq(m.first_malformed_line, 22); /* after 20 training lines and 1 eval line */
    vk_metrics_free(&m);
    free(p);
}

Test(metrics, missing_keys_nulls_and_resume) {
    char *p = write_metrics("{\"step\": 1, \"loss\": 4}\n"
                            "{\"step\": 2, \"lr\": 1e-4, \"loss\": null}\n"
                            "{\"step\": 3, \"loss\": 3, \"eval\": {\"CIDEr\": 0.1, \"note\": \"x\"}}\n"
                            "[1, 2]\n"
                            "{\"loss\": 2}\n"
                            "{\"step\": \"4\", \"loss\": 2}\n"
                            /* resumed from step 2: steps 3.. are logged again and win */
                            "{\"step\": 3, \"loss\": 2.5}\n"
                            "{\"step\": 4, \"loss\": 2}\n");
    vk_metrics m;
    cr_assert_eq(vk_metrics_read(p, &m), 0, "%s", vk_err_msg());
    cr_assert_eq(m.loss.n, 3);
    cr_assert(m.loss.step[1] == 3 && m.loss.value[1] == 2.5 && m.loss.step[2] == 4);
    cr_assert_eq(m.lr.n, 1);
    cr_assert_eq(m.neval, 1); /* "note" is not a number */
    cr_assert_eq(m.malformed, 3);
    cr_assert_eq(m.first_malformed_line, 4);
    vk_metrics_free(&m);
    free(p);
}

Test(metrics, non_finite_words_read_as_null) {
    /* what printf ("nan", "-inf") and Python's json ("NaN", "Infinity") write: the point is lost,
     * the rest of the line is kept; inside strings nothing changes */
    char *p = write_metrics("{\"step\": 1, \"loss\": nan, \"lr\": 1e-4}\n"
                            "{\"step\": 2, \"loss\": -inf, \"grad_norm\": NaN, \"lr\": 2e-4}\n"
                            "{\"step\": 3, \"eval\": {\"val_loss\": Infinity, \"CIDEr\": 0.5, \"note\": \"nan \\\" inf\"}}\n"
                            "{\"step\": 4, \"loss\": nanx}\n");
    vk_metrics m;
    cr_assert_eq(vk_metrics_read(p, &m), 0, "%s", vk_err_msg());
    cr_assert_eq(m.loss.n, 0);
    cr_assert_eq(m.grad_norm.n, 0);
    cr_assert_eq(m.lr.n, 2);
    cr_assert_eq(m.lr.value[1], 2e-4);
    cr_assert_eq(vk_metrics_eval(&m, "CIDEr")->n, 1);
    cr_assert_null(vk_metrics_eval(&m, "val_loss"));
    cr_assert_eq(m.malformed, 1); /* "nanx" is not a number word */
    cr_assert_eq(m.first_malformed_line, 4);
    vk_metrics_free(&m);
    free(p);
}

Test(metrics, empty_and_unusable_files_are_errors) {
    vk_metrics m;
    char *p = write_metrics("");
    cr_assert_eq(vk_metrics_read(p, &m), -1);
    cr_assert(strstr(vk_err_msg(), "metrics.jsonl: empty"), "%s", vk_err_msg());
    cr_assert_eq(m.loss.n, 0);
    free(p);
    p = write_metrics("\n  \n");
    cr_assert_eq(vk_metrics_read(p, &m), -1);
    cr_assert(strstr(vk_err_msg(), "empty"), "%s", vk_err_msg());
    free(p);
    p = write_metrics("garbage\n{\"no\": \"step\"}\n");
    cr_assert_eq(vk_metrics_read(p, &m), -1);
    cr_assert(strstr(vk_err_msg(), "all 2 lines malformed (first at line 1"), "%s", vk_err_msg());
    free(p);
    p = write_metrics("{\"step\": 1}\n");
    cr_assert_eq(vk_metrics_read(p, &m), -1);
    cr_assert(strstr(vk_err_msg(), "none with loss, lr or eval values"), "%s", vk_err_msg());
    free(p);
    cr_assert_eq(vk_metrics_read("/nonexistent/metrics.jsonl", &m), -1);
    cr_assert(strstr(vk_err_msg(), "/nonexistent/metrics.jsonl"), "%s", vk_err_msg());
}

Test(metrics, ema_is_debiased) {
    double st[4] = {1, 2, 3, 4}, v[4] = {10, 10, 10, 0}, out[4];
    vk_series s = {.name = "loss", .step = st, .value = v, .n = 4};
    vk_series_ema(&s, 0.5, out);
    /* a constant start stays at that constant instead of rising from 0 */
    cr_assert_float_eq(out[0], 10, 1e-12);
    cr_assert_float_eq(out[2], 10, 1e-12);
    /* then (0.5*10*(1-0.5^3)... ) by hand: ema = 4.375, weight = 0.9375 */
    cr_assert_float_eq(out[3], 4.375 / 0.9375, 1e-12);
    vk_series_ema(&s, 0, out);
    cr_assert_eq(out[3], 0);
}

Test(plot, svg_has_every_series_and_label) {
    char *p = sample_run();
    vk_metrics m;
    cr_assert_eq(vk_metrics_read(p, &m), 0, "%s", vk_err_msg());
    vk_plot_opts o;
    vk_plot_opts_default(&o);
    o.title = "run <a&b>";
    char *svg = vk_metrics_svg(&m, &o);
    cr_assert_not_null(svg, "%s", vk_err_msg());
    cr_assert_eq(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39), 0);
    cr_assert(strstr(svg, "</svg>\n") && strstr(svg, "</svg>\n")[7] == 0, "does not end with </svg>");
    /* every element opened is closed: the groups balance, and nothing unescaped leaks */
    cr_assert_eq(count(svg, "<g "), count(svg, "</g>"));
    cr_assert_eq(count(svg, "<text"), count(svg, "</text>"));
    cr_assert(strstr(svg, "run &lt;a&amp;b&gt;"), "title not escaped");
    cr_assert_null(strstr(svg, "<a&b>"));
    /* one polyline per series, one point per logged value */
    double xs[64], ys[64];
    cr_assert_eq(polyline_points(svg, "loss", xs, ys, 64), 40);
    cr_assert_eq(polyline_points(svg, "loss (EMA 0.8)", xs, ys, 64), 40);
    cr_assert_eq(polyline_points(svg, "learning rate", xs, ys, 64), 40);
    cr_assert_eq(polyline_points(svg, "val_loss", xs, ys, 64), 4);
    cr_assert_eq(polyline_points(svg, "CIDEr", xs, ys, 64), 4);
    cr_assert_eq(polyline_points(svg, "Bleu_4", xs, ys, 64), 4);
    cr_assert_eq(count(svg, "<polyline"), 6);
    /* eval points also get markers: 3 series x 4 points */
    cr_assert_eq(count(svg, "<circle"), 12);
    /* panels, axis labels and legends */
    cr_assert(strstr(svg, "data-panel=\"loss\"") && strstr(svg, "data-panel=\"learning rate\"") &&
              strstr(svg, "data-panel=\"evaluation\""));
    cr_assert_eq(count(svg, ">step</text>"), 3);
    cr_assert_eq(count(svg, "class=\"legend\""), 3);
    cr_assert(strstr(svg, ">CIDEr</text>") && strstr(svg, ">val_loss</text>"));
    cr_assert(strstr(svg, "best CIDEr 0.8 at step 200"), "summary line");
    free(svg);
    vk_metrics_free(&m);
    free(p);
}

Test(plot, points_follow_the_data) {
    /* loss falls steadily: x grows and y (downwards in SVG) grows with it, inside the frame */
    char *p = write_metrics("{\"step\": 0, \"loss\": 4, \"lr\": 0}\n{\"step\": 10, \"loss\": 3, \"lr\": 1e-4}\n"
                            "{\"step\": 20, \"loss\": 2, \"lr\": 5e-5}\n");
    vk_metrics m;
    cr_assert_eq(vk_metrics_read(p, &m), 0, "%s", vk_err_msg());
    vk_plot_opts o;
    vk_plot_opts_default(&o);
    o.smooth = 0;
    char *svg = vk_metrics_svg(&m, &o);
    cr_assert_not_null(svg);
    double xs[8], ys[8];
    cr_assert_eq(polyline_points(svg, "loss", xs, ys, 8), 3);
    cr_assert(xs[0] < xs[1] && xs[1] < xs[2]);
    cr_assert(ys[0] < ys[1] && ys[1] < ys[2]);
    /* equal steps in x, equal loss steps in y: the points are evenly spaced */
    cr_assert_float_eq(xs[1] - xs[0], xs[2] - xs[1], 0.15);
    cr_assert_float_eq(ys[1] - ys[0], ys[2] - ys[1], 0.15);
    for (int i = 0; i < 3; i++) cr_assert(xs[i] >= 84 && xs[i] <= 960 - 24 && ys[i] >= 0);
    /* no smoothing: no EMA line; no eval: no eval panel */
    cr_assert_eq(polyline_points(svg, "loss (EMA 0)", xs, ys, 8), -1);
    cr_assert_null(strstr(svg, "data-panel=\"evaluation\""));
    cr_assert_eq(count(svg, "<polyline"), 2);
    /* lr ticks are in scientific form (no "0.0001" / "5e-05" mixture) */
    cr_assert(strstr(svg, ">1.0e-04</text>"), "lr tick labels");
    free(svg);
    /* bad options are refused */
    o.smooth = 1;
    cr_assert_null(vk_metrics_svg(&m, &o));
    cr_assert(strstr(vk_err_msg(), "smoothing"), "%s", vk_err_msg());
    o.smooth = 0.5;
    o.width = 10;
    cr_assert_null(vk_metrics_svg(&m, &o));
    vk_metrics_free(&m);
    free(p);
}

Test(plot, bookkeeping_keys_are_not_scores) {
    /* the trainer's eval lines also say how many images and seconds: not drawn on the score axis */
    char *p = write_metrics("{\"step\": 10, \"loss\": 2}\n"
                            "{\"step\": 10, \"eval\": {\"CIDEr\": 0.4, \"images\": 100, \"seconds\": 12.5}}\n");
    vk_metrics m;
    cr_assert_eq(vk_metrics_read(p, &m), 0, "%s", vk_err_msg());
    cr_assert_eq(m.neval, 3); /* read, so a caller can use them */
    vk_plot_opts o;
    vk_plot_opts_default(&o);
    char *svg = vk_metrics_svg(&m, &o);
    cr_assert_not_null(svg);
    double xs[2], ys[2];
    cr_assert_eq(polyline_points(svg, "CIDEr", xs, ys, 2), 1);
    cr_assert_eq(polyline_points(svg, "images", xs, ys, 2), -1);
    cr_assert_eq(polyline_points(svg, "seconds", xs, ys, 2), -1);
    free(svg);
    vk_metrics_free(&m);
    free(p);
}

Test(plot, eval_only_and_single_points) {
    /* eval lines only (e.g. a run evaluated before training): the loss panel says so */
    char *p = write_metrics("{\"step\": 0, \"eval\": {\"CIDEr\": 0.3}}\n");
    vk_metrics m;
    cr_assert_eq(vk_metrics_read(p, &m), 0, "%s", vk_err_msg());
    vk_plot_opts o;
    vk_plot_opts_default(&o);
    char *svg = vk_metrics_svg(&m, &o);
    cr_assert_not_null(svg);
    cr_assert(strstr(svg, "no training loss logged"));
    double xs[2], ys[2];
    cr_assert_eq(polyline_points(svg, "CIDEr", xs, ys, 2), 1);
    cr_assert(isfinite(xs[0]) && isfinite(ys[0]));
    cr_assert_eq(count(svg, "<circle"), 1);
    cr_assert_null(strstr(svg, "nan"));
    cr_assert_null(strstr(svg, "inf"));
    free(svg);
    vk_metrics_free(&m);
    free(p);
}
