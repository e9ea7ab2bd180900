/* test_layer_norm_kernel.c — kernels/layer_norm.c against LayerNorm computed here in double:
 * row lengths that are and are not multiples of the vector width, with and without weight and
 * bias, rows with a large offset (the mean must be taken out before squaring). The output is
 * bf16, so each value must be the double result rounded to bf16, within one bf16 step. */
#include "kernels/layer_norm.h"
#include "util/cpu_tune.h"

#include "tests/common/random_values.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x13198A2E03707344ull;
static double urand(void) { return test_urand(&rng); }

Test(layer_norm_kernel, supported_follows_the_cpu) {
    cr_assert_eq(vk_layer_norm_bf16_supported(), vk_cpu_has_avx512() && vk_cpu_has_avx512_bf16());
}

Test(layer_norm_kernel, bf16_output_matches_double) {
    if (!vk_layer_norm_bf16_supported()) return; /* the shim uses libtorch's LayerNorm then (checked above) */
    static const int64_t lengths[] = {768, 37, 16, 1, 100};
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++)
        for (int affine = 0; affine < 2; affine++) {
            int64_t n = lengths[li], rows = 5;
            float *x = malloc(sizeof(float) * (size_t)(rows * n)), *w = malloc(sizeof(float) * (size_t)n),
                  *b = malloc(sizeof(float) * (size_t)n);
            uint16_t *y = malloc(sizeof(uint16_t) * (size_t)(rows * n + 1));
            cr_assert(x && w && b && y);
            for (int64_t i = 0; i < rows * n; i++) x[i] = (float)(3.0 * urand() + (i / n == 2 ? 1000.0 : 0.0));
            for (int64_t i = 0; i < n; i++) {
                w[i] = (float)(1.0 + 0.5 * urand());
                b[i] = (float)(0.2 * urand());
            }
            y[rows * n] = 0x5A5A; /* past the end: untouched */
            vk_layer_norm_bf16(x, rows, n, affine ? w : NULL, affine ? b : NULL, 1e-12f, y);
            cr_assert_eq(y[rows * n], 0x5A5A, "wrote past the output");
            for (int64_t r = 0; r < rows; r++) {
                double mean = 0, var = 0;
                for (int64_t i = 0; i < n; i++) mean += x[r * n + i];
                mean /= (double)n;
                for (int64_t i = 0; i < n; i++) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
                var /= (double)n;
                for (int64_t i = 0; i < n; i++) {
                    double want = (x[r * n + i] - mean) / sqrt(var + 1e-12);
                    if (affine) want = want * w[i] + b[i];
                    double got = test_from_bf16(y[r * n + i]);
                    /* bf16 keeps 8 significant bits: within one step (2^-7 relative) of the exact value;
                     * the float32 statistics of a row offset by 1000 add ~1e-4 absolute */
                    cr_assert(fabs(got - want) <= fabs(want) / 128 + 2e-4, "n %ld row %ld col %ld: %g, want %g", (long)n,
                              (long)r, (long)i, got, want);
                }
            }
            free(x);
            free(w);
            free(b);
            free(y);
        }
}
