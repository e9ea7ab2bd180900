/* test_attention_kernel.c — kernels/attention.c against softmax(scale q k^T) v computed here in
 * double precision, on shapes that hit every tail (keys not a multiple of 16, odd head sizes,
 * more than 64 features, row counts that are not multiples of the tiles), with strided q/k/v
 * and an output whose row stride is wider than the head (the columns past it must stay as
 * they were). bf16: the reference takes the same bf16 inputs. */
#include "kernels/attention.h"
#include "util/cpu_tune.h"

#include "tests/common/random_values.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x243F6A8885A308D3ull;
static double urand(void) { return test_urand(&rng); }

typedef struct {
    int64_t S, d, R, rows_per_call;
    double scale;
} shape;

static const shape shapes[] = {
        {577, 64, 96, 96, 0.125},  /* BLIP-base vision, one row block */
        {577, 64, 3, 3, 0.125},    /* decoding: three beams of one image */
        {17, 8, 17, 17, 0.35355},  /* the tiny fixture's vision tower */
        {33, 24, 29, 13, 0.2},     /* row tails of both tiles */
        {40, 100, 7, 7, 0.1},      /* more than 64 features, a 4-wide tail */
        {5, 3, 2, 1, 1.0},         /* odd head size, odd key count */
        {1, 16, 1, 1, 0.25},       /* one key: every weight is 1 */
        {200, 64, 20, 20, 3.0},    /* sharp softmax (large scores) */
};

/* Runs the kernel on random inputs of shape sh and returns the largest |got - want|; also
 * checks the padding columns of the output are untouched. */
static double run_case(vk_attn_dtype dt, const shape *sh, double *mean_err, double *max_score) {
    int64_t S = sh->S, d = sh->d, R = sh->R, ld_in = 3 * d + 5, ldo = d + 7;
    size_t el = dt == VK_ATTN_F32 ? 4 : 2;
    double *kv = malloc(sizeof(double) * (size_t)(S * ld_in)), *q = malloc(sizeof(double) * (size_t)(R * ld_in));
    char *kv_raw = malloc(el * (size_t)(S * ld_in)), *q_raw = malloc(el * (size_t)(R * ld_in));
    char *out = malloc(el * (size_t)(R * ldo));
    cr_assert(kv && q && kv_raw && q_raw && out);
    for (int64_t i = 0; i < S * ld_in + R * ld_in; i++) {
        double x = urand();
        double *dst = i < S * ld_in ? kv + i : q + (i - S * ld_in);
        char *raw = i < S * ld_in ? kv_raw + (size_t)i * el : q_raw + (size_t)(i - S * ld_in) * el;
        if (dt == VK_ATTN_F32) {
            float f = (float)x;
            memcpy(raw, &f, 4);
            *dst = f;
        } else {
            uint16_t h = test_to_bf16((float)x);
            memcpy(raw, &h, 2);
            *dst = test_from_bf16(h);
        }
    }
    memset(out, 0x5A, el * (size_t)(R * ldo));
    void *packed = aligned_alloc(64, vk_attn_packed_bytes(dt, S, d));
    void *scratch = aligned_alloc(64, vk_attn_scratch_bytes(dt, sh->rows_per_call, S));
    cr_assert(packed && scratch);
    /* keys at column d + 2, values at 2d + 4 of each row of kv */
    vk_attn_pack(dt, kv_raw + (size_t)(d + 2) * el, ld_in, kv_raw + (size_t)(2 * d + 4) * el, ld_in, S, d, packed);
    for (int64_t r = 0; r < R; r += sh->rows_per_call) {
        int64_t n = R - r < sh->rows_per_call ? R - r : sh->rows_per_call;
        vk_attn_rows(dt, q_raw + (size_t)(r * ld_in) * el, ld_in, n, packed, S, d, (float)sh->scale, scratch,
                     out + (size_t)(r * ldo) * el, ldo);
    }
    double worst = 0, sum = 0, top = 0, *p = malloc(sizeof(double) * (size_t)S);
    cr_assert(p);
    for (int64_t r = 0; r < R; r++) {
        double mx = -INFINITY, z = 0;
        for (int64_t s = 0; s < S; s++) {
            double dot = 0;
            for (int64_t c = 0; c < d; c++) dot += q[r * ld_in + c] * kv[s * ld_in + d + 2 + c];
            p[s] = dot * sh->scale;
            top = fmax(top, fabs(p[s]));
            mx = fmax(mx, p[s]);
        }
        for (int64_t s = 0; s < S; s++) z += (p[s] = exp(p[s] - mx));
        for (int64_t c = 0; c < ldo; c++) {
            const char *cell = out + (size_t)(r * ldo + c) * el;
            if (c >= d) { /* past the head: untouched */
                for (size_t b = 0; b < el; b++) cr_assert_eq((unsigned char)cell[b], 0x5A, "row %ld col %ld written", (long)r, (long)c);
                continue;
            }
            double want = 0, got;
            for (int64_t s = 0; s < S; s++) want += p[s] / z * kv[s * ld_in + 2 * d + 4 + c];
            if (dt == VK_ATTN_F32) {
                float f;
                memcpy(&f, cell, 4);
                got = f;
            } else {
                uint16_t h;
                memcpy(&h, cell, 2);
                got = test_from_bf16(h);
            }
            double err = fabs(got - want);
            cr_assert(isfinite(got), "row %ld col %ld: %g", (long)r, (long)c, got);
            worst = fmax(worst, err);
            sum += err;
        }
    }
    *mean_err = sum / (double)(R * d);
    *max_score = top;
    free(p);
    free(packed);
    free(scratch);
    free(kv);
    free(q);
    free(kv_raw);
    free(q_raw);
    free(out);
    return worst;
}

Test(attention_kernel, supported_follows_the_cpu) {
    cr_assert_eq(vk_attn_supported(VK_ATTN_F32), vk_cpu_has_avx512());
    cr_assert_eq(vk_attn_supported(VK_ATTN_BF16), vk_cpu_has_avx512() && vk_cpu_has_avx512_bf16());
}

Test(attention_kernel, float32_matches_double) {
    if (!vk_attn_supported(VK_ATTN_F32)) return; /* no AVX-512: the shim never calls it (checked above) */
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double mean, top, worst = run_case(VK_ATTN_F32, &shapes[i], &mean, &top);
        /* float32 rounding: of the sums (terms <= 1) and of the scores, whose absolute error
         * (relative 2^-24 of sums of size ~top) becomes a relative error of the weights */
        cr_assert_lt(worst, 1e-6 * (1 + top), "S %ld d %ld: max error %g (scores up to %g)", (long)shapes[i].S,
                     (long)shapes[i].d, worst, top);
    }
}

Test(attention_kernel, bf16_matches_double_on_bf16_inputs) {
    if (!vk_attn_supported(VK_ATTN_BF16)) return;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double mean, top, worst = run_case(VK_ATTN_BF16, &shapes[i], &mean, &top);
        /* the output and the probabilities are rounded to bf16 (8 significant bits, 2^-9 relative
         * each) and the outputs are at most 1 in size: a few 2^-9 at worst, far less on average */
        cr_assert_lt(worst, 8.0 / 512, "S %ld d %ld: max error %g", (long)shapes[i].S, (long)shapes[i].d, worst);
        cr_assert_lt(mean, 1.0 / 512, "S %ld d %ld: mean error %g", (long)shapes[i].S, (long)shapes[i].d, mean);
    }
}
