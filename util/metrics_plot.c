/* metrics_plot.c — layout (panels, nice ticks, legends) and the SVG text. Coordinates are
 * printed with one decimal: sub-pixel precision is invisible and keeps long runs' files small. */
#include "util/metrics_plot.h"

#include "util/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growing text buffer -------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->p ? b->p + b->n : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 16384;
        while (cap - b->n <= (size_t)k) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* Text content and attribute values: the five XML specials escaped. */
static void sb_escaped(sbuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '&': sb_printf(b, "&amp;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        case '\'': sb_printf(b, "&apos;"); break;
        default:
            /* control characters are not allowed in XML 1.0 */
            if ((unsigned char)*s < 0x20) sb_printf(b, " ");
            else sb_printf(b, "%c", *s);
        }
    }
}

/* ---- scales and ticks ------------------------------------------------------------------------- */

/* 1, 2 or 5 times a power of ten, near range/target. */
static double nice_step(double range, int target) {
    double raw = range / target;
    double p = pow(10, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

typedef struct {
    double lo, hi, step; /* axis range, a multiple of step at both ends */
} axis;

static axis make_axis(double lo, double hi, int target, int integer) {
    if (!(hi > lo)) { /* one value: a range around it */
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
        lo -= pad;
        hi += pad;
    }
    axis a;
    a.step = nice_step(hi - lo, target);
    if (integer && a.step < 1) a.step = 1;
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    if (!(a.hi > a.lo)) a.hi = a.lo + a.step;
    return a;
}

/* A tick label: fixed decimals as the step needs, scientific for tiny or huge values (1e-4). */
static void tick_label(char *buf, size_t cap, double v, const axis *a) {
    double mag = fmax(fabs(a->lo), fabs(a->hi));
    if (fabs(v) < a->step * 1e-6 || !(mag > 0)) {
        snprintf(buf, cap, "0");
    } else if (mag >= 1e6 || mag < 1e-3) {
        int digits = (int)(floor(log10(mag)) - floor(log10(a->step)));
        snprintf(buf, cap, "%.*e", digits < 0 ? 0 : digits > 3 ? 3 : digits, v);
    } else {
        int dec = (int)-floor(log10(a->step) + 1e-9);
        snprintf(buf, cap, "%.*f", dec < 0 ? 0 : dec > 6 ? 6 : dec, v);
    }
}

/* ---- panels ----------------------------------------------------------------------------------- */

typedef struct {
    const vk_series *s;
    const double *values; /* s->value, or smoothed values */
    const char *label;
    const char *color;
    double width, opacity;
    int markers;
} line;

typedef struct {
    double x0, y0, w, h; /* plot area */
    axis ax, ay;
} panel;

static double px(const panel *p, double x) { return p->x0 + (x - p->ax.lo) / (p->ax.hi - p->ax.lo) * p->w; }
static double py(const panel *p, double y) { return p->y0 + p->h - (y - p->ay.lo) / (p->ay.hi - p->ay.lo) * p->h; }

static void draw_panel(sbuf *b, const panel *p, const char *title, const char *ylabel, const line *lines, int nlines) {
    sb_printf(b, "<g class=\"panel\" data-panel=\"");
    sb_escaped(b, title);
    sb_printf(b, "\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" stroke=\"#888\"/>\n",
              p->x0, p->y0, p->w, p->h);
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">", p->x0, p->y0 - 8);
    sb_escaped(b, title);
    sb_printf(b, "</text>\n");
    char lab[48];
    /* y grid and ticks */
    /* v from an integer count, not by repeated addition: 0.1 + 0.1 + 0.1 drifts off the grid */
    int nty = (int)lround((p->ay.hi - p->ay.lo) / p->ay.step);
    for (int k = 0; k <= nty; k++) {
        double v = p->ay.lo + k * p->ay.step;
        double y = py(p, v);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>", p->x0, y, p->x0 + p->w, y);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>", p->x0 - 5, y, p->x0, y);
        tick_label(lab, sizeof lab, v, &p->ay);
        sb_printf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", p->x0 - 8, y + 4, lab);
    }
    /* x grid and ticks */
    int ntx = (int)lround((p->ax.hi - p->ax.lo) / p->ax.step);
    for (int k = 0; k <= ntx; k++) {
        double v = p->ax.lo + k * p->ax.step;
        double x = px(p, v);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>", x, p->y0, x, p->y0 + p->h);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>", x, p->y0 + p->h, x,
                  p->y0 + p->h + 5);
        tick_label(lab, sizeof lab, v, &p->ax);
        sb_printf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, p->y0 + p->h + 18,
                  lab);
    }
    /* axis labels */
    sb_printf(b, "<text class=\"axis-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step</text>\n", p->x0 + p->w / 2,
              p->y0 + p->h + 36);
    double lx = p->x0 - 62, ly = p->y0 + p->h / 2;
    sb_printf(b, "<text class=\"axis-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 %.1f %.1f)\">",
              lx, ly, lx, ly);
    sb_escaped(b, ylabel);
    sb_printf(b, "</text>\n");
    /* series, clipped to the plot area */
    for (int i = 0; i < nlines; i++) {
        const line *l = &lines[i];
        sb_printf(b, "<polyline data-series=\"");
        sb_escaped(b, l->label);
        sb_printf(b, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-opacity=\"%.2f\" stroke-linejoin=\"round\" points=\"",
                  l->color, l->width, l->opacity);
        for (size_t k = 0; k < l->s->n; k++)
            sb_printf(b, "%s%.1f,%.1f", k ? " " : "", px(p, l->s->step[k]), py(p, l->values[k]));
        sb_printf(b, "\"/>\n");
        if (l->markers || l->s->n == 1)
            for (size_t k = 0; k < l->s->n; k++)
                sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", px(p, l->s->step[k]),
                          py(p, l->values[k]), l->color);
        if (l->markers || l->s->n == 1) sb_printf(b, "\n");
    }
    /* legend: top right, inside the frame */
    size_t longest = 0;
    for (int i = 0; i < nlines; i++) longest = strlen(lines[i].label) > longest ? strlen(lines[i].label) : longest;
    double bw = 40 + 7.0 * (double)longest, bh = 8 + 18.0 * nlines;
    /* the corner that hides the fewest points (top right unless the data is there) */
    double bx = p->x0 + p->w - bw - 8, by = p->y0 + 8;
    size_t fewest = (size_t)-1;
    for (int corner = 0; corner < 4; corner++) {
        double cx = corner & 1 ? p->x0 + 8 : p->x0 + p->w - bw - 8;
        double cy = corner & 2 ? p->y0 + p->h - bh - 8 : p->y0 + 8;
        size_t hidden = 0;
        /* points and samples along each segment: a line through the box hides as much as a point */
        for (int i = 0; i < nlines; i++)
            for (size_t k = 0; k < lines[i].s->n; k++)
                for (int t = 0; t < (k ? 8 : 1); t++) {
                    double f = t / 8.0, x1 = px(p, lines[i].s->step[k]), y1 = py(p, lines[i].values[k]);
                    double x = k ? x1 + f * (px(p, lines[i].s->step[k - 1]) - x1) : x1;
                    double y = k ? y1 + f * (py(p, lines[i].values[k - 1]) - y1) : y1;
                    hidden += x >= cx - 12 && x <= cx + bw + 12 && y >= cy - 12 && y <= cy + bh + 12;
                }
        if (hidden < fewest) {
            fewest = hidden;
            bx = cx;
            by = cy;
        }
    }
    sb_printf(b, "<g class=\"legend\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
              bx, by, bw, bh);
    for (int i = 0; i < nlines; i++) {
        double y = by + 16 + 18.0 * i;
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-opacity=\"%.2f\"/>",
                  bx + 8, y - 4, bx + 28, y - 4, lines[i].color, lines[i].width < 2 ? 2 : lines[i].width,
                  lines[i].opacity < 0.5 ? 0.5 : lines[i].opacity);
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", bx + 34, y);
        sb_escaped(b, lines[i].label);
        sb_printf(b, "</text>\n");
    }
    sb_printf(b, "</g>\n</g>\n");
}

/* The y range of a panel's lines. */
static void y_extent(const line *lines, int n, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < lines[i].s->n; k++) {
            *lo = fmin(*lo, lines[i].values[k]);
            *hi = fmax(*hi, lines[i].values[k]);
        }
}

/* ---- the whole figure ------------------------------------------------------------------------- */

void vk_plot_opts_default(vk_plot_opts *o) {
    o->width = 960;
    o->smooth = 0.8;
    o->title = NULL;
}

void vk_series_ema(const vk_series *s, double w, double *out) {
    double ema = 0, weight = 0;
    for (size_t k = 0; k < s->n; k++) {
        ema = w * ema + (1 - w) * s->value[k];
        weight = w * weight + (1 - w); /* debias: the early average is not pulled towards 0 */
        out[k] = ema / weight;
    }
}

static const char *const palette[] = {"#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};

/* "best CIDEr 0.84 at step 200": higher is better unless the name says loss. */
static void best_text(sbuf *b, const vk_series *s) {
    int lower = strstr(s->name, "loss") != NULL;
    size_t best = 0;
    for (size_t k = 1; k < s->n; k++)
        if (lower ? s->value[k] < s->value[best] : s->value[k] > s->value[best]) best = k;
    sb_printf(b, " · best ");
    sb_escaped(b, s->name);
    sb_printf(b, " %.4g at step %.0f", s->value[best], s->step[best]);
}

/* Numbers an eval line carries about itself (how many images, how long) are not scores: on the
 * score axis they would flatten every metric to the bottom. */
static int is_bookkeeping(const char *name) {
    static const char *const skip[] = {"images", "n_images", "samples", "n_samples", "seconds", "time", "epoch", "step"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcmp(name, skip[i]) == 0) return 1;
    return 0;
}

char *vk_metrics_svg(const vk_metrics *m, const vk_plot_opts *o) {
    if (o->width < 400 || o->width > 20000) {
        vk_err_set("plot width %d: must be in [400, 20000]", o->width);
        return NULL;
    }
    if (!(o->smooth >= 0 && o->smooth < 1)) {
        vk_err_set("smoothing %g: must be in [0, 1)", o->smooth);
        return NULL;
    }
    double *ema = malloc((m->loss.n ? m->loss.n : 1) * sizeof *ema);
    line *evl = malloc((m->neval ? m->neval : 1) * sizeof *evl);
    if (!ema || !evl) {
        free(ema);
        free(evl);
        vk_err_set("out of memory");
        return NULL;
    }
    vk_series_ema(&m->loss, o->smooth, ema);

    /* the lines of each panel */
    line loss[3];
    int nloss = 0;
    char ema_label[48];
    snprintf(ema_label, sizeof ema_label, "loss (EMA %.2g)", o->smooth);
    if (m->loss.n) {
        loss[nloss++] = (line){&m->loss, m->loss.value, "loss", "#1f77b4", 1.0, 0.3, 0};
        if (o->smooth > 0) loss[nloss++] = (line){&m->loss, ema, ema_label, "#1f77b4", 2.0, 1.0, 0};
    }
    const vk_series *val_loss = vk_metrics_eval(m, "val_loss");
    if (val_loss && val_loss->n) loss[nloss++] = (line){val_loss, val_loss->value, "val_loss", "#d62728", 2.0, 1.0, 1};
    line lr = {&m->lr, m->lr.value, "learning rate", "#2ca02c", 1.5, 1.0, 0};
    int nev = 0;
    for (size_t i = 0; i < m->neval; i++) {
        const vk_series *s = &m->eval[i];
        if (s == val_loss || !s->n || is_bookkeeping(s->name)) continue;
        evl[nev] = (line){s, s->value, s->name, palette[nev % 8], 2.0, 1.0, 1};
        nev++;
    }

    /* one step axis for all panels */
    double xlo = INFINITY, xhi = -INFINITY;
    const vk_series *all[4] = {&m->loss, &m->lr, val_loss, NULL};
    for (int i = 0; i < 3; i++)
        if (all[i] && all[i]->n) {
            xlo = fmin(xlo, all[i]->step[0]);
            xhi = fmax(xhi, all[i]->step[all[i]->n - 1]);
        }
    for (int i = 0; i < nev; i++) {
        xlo = fmin(xlo, evl[i].s->step[0]);
        xhi = fmax(xhi, evl[i].s->step[evl[i].s->n - 1]);
    }
    if (!isfinite(xlo)) xlo = xhi = 0;
    axis ax = make_axis(xlo, xhi, 8, 1);

    /* layout: title, then the panels that have data; the loss panel always (it says so if empty) */
    const double left = 84, right = 24, top = 84, gap = 62, bottom = 46;
    double w = o->width - left - right;
    double h_loss = 280, h_lr = m->lr.n ? 140 : 0, h_ev = nev ? 220 : 0;
    double height = top + h_loss + (h_lr ? gap + h_lr : 0) + (h_ev ? gap + h_ev : 0) + bottom;

    sbuf b = {0};
    sb_printf(&b,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
              "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
              o->width, height, o->width, height);
    const char *title = o->title ? o->title : "training curves";
    sb_printf(&b, "<title>");
    sb_escaped(&b, title);
    sb_printf(&b, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fafafa\"/>\n");
    sb_printf(&b, "<text x=\"%.1f\" y=\"26\" font-size=\"17\" font-weight=\"bold\">", left);
    sb_escaped(&b, title);
    sb_printf(&b, "</text>\n<text class=\"summary\" x=\"%.1f\" y=\"46\" fill=\"#555\">steps %.0f–%.0f", left, xlo, xhi);
    if (m->loss.n)
        sb_printf(&b, " · last loss %.4g (smoothed %.4g)", m->loss.value[m->loss.n - 1], ema[m->loss.n - 1]);
    if (nev) best_text(&b, evl[0].s);
    else if (val_loss && val_loss->n) best_text(&b, val_loss);
    sb_printf(&b, "</text>\n");

    double y = top;
    panel p = {left, y, w, h_loss, ax, {0, 1, 0.2}};
    double lo, hi;
    y_extent(loss, nloss, &lo, &hi);
    if (nloss) {
        double pad = (hi - lo) * 0.05;
        p.ay = make_axis(lo - pad, hi + pad, 6, 0);
    }
    draw_panel(&b, &p, "loss", "loss", loss, nloss);
    if (!nloss)
        sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#888\">no training loss logged</text>\n",
                  p.x0 + p.w / 2, p.y0 + p.h / 2);
    y += h_loss + gap;
    if (h_lr) {
        panel q = {left, y, w, h_lr, ax, {0, 1, 0.2}};
        y_extent(&lr, 1, &lo, &hi);
        /* a learning rate reads best from zero: warm-up and decay are relative to it */
        q.ay = make_axis(fmin(lo, 0), hi, 4, 0);
        draw_panel(&b, &q, "learning rate", "lr", &lr, 1);
        y += h_lr + gap;
    }
    if (h_ev) {
        panel q = {left, y, w, h_ev, ax, {0, 1, 0.2}};
        y_extent(evl, nev, &lo, &hi);
        double pad = (hi - lo) * 0.05;
        q.ay = make_axis(lo - pad, hi + pad, 5, 0);
        draw_panel(&b, &q, "evaluation", "score", evl, nev);
    }
    sb_printf(&b, "</svg>\n");
    free(ema);
    free(evl);
    if (b.oom) {
        free(b.p);
        vk_err_set("out of memory drawing the plot");
        return NULL;
    }
    return b.p;
}
