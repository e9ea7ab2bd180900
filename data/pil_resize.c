/* pil_resize.c — Pillow's 8-bit BICUBIC resampler (libImaging/Resample.c), bit-exact.
 * Every rounding step below mirrors Pillow; changing the order of a floating-point operation
 * can move a fixed-point weight by one unit and a pixel by one level. */
#include "data/pil_resize.h"

#include "util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PIL_PRECISION_BITS (32 - 8 - 2)   /* Pillow's PRECISION_BITS for 8-bit images */
#define PIL_BICUBIC_SUPPORT 2.0

/* Keys cubic convolution with a = -0.5 (Pillow's bicubic_filter). */
static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* One axis: for each output index its first input index (bounds[2i]) and tap count
 * (bounds[2i+1]), and ksize fixed-point weights (kk[i*ksize ...]). Pillow's precompute_coeffs
 * followed by normalize_coeffs_8bpc, for the full box (in0 = 0, in1 = in_size). */
typedef struct {
    int ksize;
    int *bounds;
    int32_t *kk;
} pil_axis;

static void axis_free(pil_axis *ax) {
    free(ax->bounds);
    free(ax->kk);
    ax->bounds = NULL;
    ax->kk = NULL;
}

static int axis_build(int in_size, int out_size, pil_axis *ax) {
    /* Pillow computes (in1 - in0) in float from the box; for integer sizes below 2^24 that is
     * exact, so a double division gives the same scale. */
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = PIL_BICUBIC_SUPPORT * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    ax->ksize = ksize;
    ax->bounds = malloc((size_t)out_size * 2 * sizeof *ax->bounds);
    ax->kk = calloc((size_t)out_size * (size_t)ksize, sizeof *ax->kk);
    double *k = malloc((size_t)ksize * sizeof *k);
    if (!ax->bounds || !ax->kk || !k) {
        free(k);
        axis_free(ax);
        return vk_err_set("resize: out of memory for %d -> %d coefficients", in_size, out_size);
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0;
        double ss = 1.0 / filterscale;   /* Pillow multiplies by the reciprocal: keep it */
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = bicubic_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (int x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        int32_t *kk = ax->kk + (size_t)xx * ksize;
        for (int x = 0; x < xmax; x++) {
            /* round half away from zero, as normalize_coeffs_8bpc */
            if (k[x] < 0)
                kk[x] = (int32_t)(-0.5 + k[x] * (1 << PIL_PRECISION_BITS));
            else
                kk[x] = (int32_t)(0.5 + k[x] * (1 << PIL_PRECISION_BITS));
        }
        ax->bounds[xx * 2 + 0] = xmin;
        ax->bounds[xx * 2 + 1] = xmax;
    }
    free(k);
    return 0;
}

/* Pillow's clip8: arithmetic shift out of fixed point, clamp to a byte. The accumulators stay
 * far inside int32: |sum of weights| < 2 * 2^22, times 255, plus the 2^21 rounding bias. */
static inline uint8_t clip8(int32_t v) {
    int32_t s = v >> PIL_PRECISION_BITS;
    return (uint8_t)(s < 0 ? 0 : s > 255 ? 255 : s);
}

static void pass_horizontal(const uint8_t *src, int in_w, int rows, int ch, uint8_t *dst,
                            int out_w, const pil_axis *ax) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *srow = src + (size_t)y * in_w * ch;
        uint8_t *drow = dst + (size_t)y * out_w * ch;
        for (int xx = 0; xx < out_w; xx++) {
            int xmin = ax->bounds[xx * 2], n = ax->bounds[xx * 2 + 1];
            const int32_t *k = ax->kk + (size_t)xx * ax->ksize;
            const uint8_t *p = srow + (size_t)xmin * ch;
            if (ch == 3) {   /* the common case, three accumulators in one sweep */
                int32_t s0 = 1 << (PIL_PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < n; x++) {
                    s0 += p[x * 3 + 0] * k[x];
                    s1 += p[x * 3 + 1] * k[x];
                    s2 += p[x * 3 + 2] * k[x];
                }
                drow[xx * 3 + 0] = clip8(s0);
                drow[xx * 3 + 1] = clip8(s1);
                drow[xx * 3 + 2] = clip8(s2);
                continue;
            }
            for (int c = 0; c < ch; c++) {
                int32_t ss = 1 << (PIL_PRECISION_BITS - 1);
                for (int x = 0; x < n; x++) ss += p[x * ch + c] * k[x];
                drow[xx * ch + c] = clip8(ss);
            }
        }
    }
}

/* Row-at-a-time accumulation (acc holds one output row) so the inner loops run over
 * contiguous bytes and vectorise: restrict rules out aliasing, and GCC's -O2 "very cheap" cost
 * model, which refuses loops of unknown trip count, is lifted for this function (2x faster
 * pass). Integer arithmetic: the sums are exactly Pillow's per-pixel ones. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("vect-cost-model=dynamic")))
#endif
static void vertical_row(const uint8_t *restrict src, size_t stride, int ymin, int n, const int32_t *restrict k,
                         int32_t *restrict acc, uint8_t *restrict drow) {
    for (size_t i = 0; i < stride; i++) acc[i] = 1 << (PIL_PRECISION_BITS - 1);
    for (int y = 0; y < n; y++) {
        const uint8_t *restrict p = src + (size_t)(ymin + y) * stride;
        int32_t w = k[y];
        for (size_t i = 0; i < stride; i++) acc[i] += p[i] * w;
    }
    for (size_t i = 0; i < stride; i++) drow[i] = clip8(acc[i]);
}

static void pass_vertical(const uint8_t *src, int width, int ch, uint8_t *dst, int out_h,
                          const pil_axis *ax, int32_t *acc) {
    size_t stride = (size_t)width * ch;
    for (int yy = 0; yy < out_h; yy++)
        vertical_row(src, stride, ax->bounds[yy * 2], ax->bounds[yy * 2 + 1], ax->kk + (size_t)yy * ax->ksize, acc,
                     dst + (size_t)yy * stride);
}

int pil_resize_bicubic(const uint8_t *src, int in_w, int in_h, int channels,
                       uint8_t *dst, int out_w, int out_h) {
    if (in_w <= 0 || in_h <= 0 || out_w <= 0 || out_h <= 0)
        return vk_err_set("resize: invalid size %dx%d -> %dx%d", in_w, in_h, out_w, out_h);
    if (channels < 1 || channels > 4)
        return vk_err_set("resize: %d channels (1 to 4 supported)", channels);
    /* Pillow's limits keep the coefficient table in int range; ours are the image limits. */
    if (in_w > (1 << 24) || in_h > (1 << 24) || out_w > (1 << 24) || out_h > (1 << 24))
        return vk_err_set("resize: size %dx%d -> %dx%d too large", in_w, in_h, out_w, out_h);

    int need_h = out_w != in_w, need_v = out_h != in_h;
    if (!need_h && !need_v) {
        memcpy(dst, src, (size_t)in_w * in_h * channels);
        return 0;
    }
    pil_axis hx = {0}, vy = {0};
    uint8_t *tmp = NULL;
    int32_t *acc = NULL;
    int rc = -1;
    if (need_h && axis_build(in_w, out_w, &hx) != 0) goto done;
    if (need_v) {
        if (axis_build(in_h, out_h, &vy) != 0) goto done;
        acc = malloc((size_t)out_w * channels * sizeof *acc);
        if (!acc) {
            vk_err_set("resize: out of memory (row of %d pixels)", out_w);
            goto done;
        }
    }

    if (need_h && need_v) {
        /* Pillow only resamples the input rows the vertical pass reads; the values of those
         * rows do not depend on the others, so restricting the band changes nothing but time. */
        int first = vy.bounds[0];
        int last = vy.bounds[(out_h - 1) * 2] + vy.bounds[(out_h - 1) * 2 + 1];
        tmp = malloc((size_t)out_w * (last - first) * channels);
        if (!tmp) {
            vk_err_set("resize: out of memory (%dx%d intermediate)", out_w, last - first);
            goto done;
        }
        pass_horizontal(src + (size_t)first * in_w * channels, in_w, last - first, channels,
                        tmp, out_w, &hx);
        for (int i = 0; i < out_h; i++) vy.bounds[i * 2] -= first;
        pass_vertical(tmp, out_w, channels, dst, out_h, &vy, acc);
    } else if (need_h) {
        pass_horizontal(src, in_w, in_h, channels, dst, out_w, &hx);
    } else {
        pass_vertical(src, in_w, channels, dst, out_h, &vy, acc);
    }
    rc = 0;
done:
    free(tmp);
    free(acc);
    axis_free(&hx);
    axis_free(&vy);
    return rc;
}
