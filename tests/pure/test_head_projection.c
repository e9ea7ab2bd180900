/* test_head_projection.c — kernels/head_projection.c against the products computed here in
 * double from the same bf16 inputs: row counts around the tiles (6 rows for expand, 4 x 4 for
 * reduce), widths that are and are not multiples of the vectors (E 768, 40, 33; d 64, 7),
 * row strides wider than the rows, with and without a bias; nothing past the outputs written.
 * The results are bf16: each must be the double result within one bf16 step plus the float32
 * sums' rounding. */
#include "kernels/head_projection.h"
#include "util/cpu_tune.h"

#include "tests/common/random_values.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng = 0xA4093822299F31D0ull;

static uint16_t *random_bf16(int64_t n) {
    uint16_t *x = malloc(sizeof(uint16_t) * (size_t)n);
    cr_assert(x);
    for (int64_t i = 0; i < n; i++) x[i] = test_to_bf16((float)test_urand(&rng));
    return x;
}

/* |got - want| within one bf16 step of want, plus the float32 accumulation of `terms` products
 * of magnitude <= 1 (sum of |terms| * 2^-23, generously) */
static void expect_bf16_close(uint16_t got, double want, double abs_sum, const char *what, int64_t r, int64_t c) {
    double g = test_from_bf16(got), tol = fabs(want) / 128 + abs_sum * 1e-6 + 1e-30;
    cr_assert(fabs(g - want) <= tol, "%s row %ld col %ld: %g, want %g", what, (long)r, (long)c, g, want);
}

/* sum_i a[i * sa] * b[i * sb] over n terms, in double; the sum of their magnitudes to abs_sum */
static double dot_ref(const uint16_t *a, int64_t sa, const uint16_t *b, int64_t sb, int64_t n, double *abs_sum) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double t = test_from_bf16(a[i * sa]) * test_from_bf16(b[i * sb]);
        sum += t;
        *abs_sum += fabs(t);
    }
    return sum;
}

Test(head_projection, supported_follows_the_cpu) {
    cr_assert_eq(vk_heads_supported(), vk_cpu_has_avx512() && vk_cpu_has_avx512_bf16());
}

Test(head_projection, expand_matches_double) {
    if (!vk_heads_supported()) return; /* the shim uses ATen's products then (checked above) */
    static const int64_t Rs[] = {1, 5, 6, 8, 13}, Es[] = {768, 40, 33}, ds[] = {64, 7};
    for (size_t ri = 0; ri < sizeof Rs / sizeof *Rs; ri++)
        for (size_t ei = 0; ei < sizeof Es / sizeof *Es; ei++)
            for (size_t di = 0; di < sizeof ds / sizeof *ds; di++) {
                int64_t R = Rs[ri], E = Es[ei], d = ds[di], ldq = d + 3, ldw = E + 5, ldo = E + 2;
                uint16_t *q = random_bf16(R * ldq), *w = random_bf16(d * ldw), *out = random_bf16(R * ldo + 1);
                uint16_t sentinel = out[R * ldo - 1], end = out[R * ldo];
                vk_head_expand(q, ldq, R, d, w, ldw, E, out, ldo);
                cr_assert_eq(out[R * ldo], end, "wrote past the output");
                if (ldo > E) cr_assert_eq(out[R * ldo - 1], sentinel, "wrote into a row's padding");
                for (int64_t r = 0; r < R; r++)
                    for (int64_t e = 0; e < E; e++) {
                        double abs_sum = 0, want = dot_ref(q + r * ldq, 1, w + e, ldw, d, &abs_sum);
                        expect_bf16_close(out[r * ldo + e], want, abs_sum, "expand", r, e);
                    }
                free(q);
                free(w);
                free(out);
            }
}

Test(head_projection, reduce_matches_double) {
    if (!vk_heads_supported()) return;
    static const int64_t Rs[] = {1, 3, 4, 8, 13}, Es[] = {768, 40, 33}, ds[] = {64, 7};
    for (size_t ri = 0; ri < sizeof Rs / sizeof *Rs; ri++)
        for (size_t ei = 0; ei < sizeof Es / sizeof *Es; ei++)
            for (size_t di = 0; di < sizeof ds / sizeof *ds; di++)
                for (int with_bias = 0; with_bias < 2; with_bias++) {
                    int64_t R = Rs[ri], E = Es[ei], d = ds[di], ldc = E + 3, ldw = E + 1, ldo = d + 2;
                    uint16_t *c = random_bf16(R * ldc), *w = random_bf16(d * ldw), *b = random_bf16(d),
                             *out = random_bf16(R * ldo + 1);
                    uint16_t sentinel = out[R * ldo - 1], end = out[R * ldo];
                    vk_head_reduce(c, ldc, R, E, w, ldw, d, with_bias ? b : NULL, out, ldo);
                    cr_assert_eq(out[R * ldo], end, "wrote past the output");
                    cr_assert_eq(out[R * ldo - 1], sentinel, "wrote into a row's padding");
                    for (int64_t r = 0; r < R; r++)
                        for (int64_t j = 0; j < d; j++) {
                            double bias = with_bias ? test_from_bf16(b[j]) : 0, abs_sum = fabs(bias);
                            double want = bias + dot_ref(c + r * ldc, 1, w + j * ldw, 1, E, &abs_sum);
                            expect_bf16_close(out[r * ldo + j], want, abs_sum, "reduce", r, j);
                        }
                    free(c);
                    free(w);
                    free(b);
                    free(out);
                }
}
