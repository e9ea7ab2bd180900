/* kernels/layer_norm.c — see layer_norm.h */
#include "kernels/layer_norm.h"

#include "kernels/x86.h"

#include <math.h>
#include <string.h>

int vk_layer_norm_bf16_supported(void) { return vk_x86_bf16_ready(); }

#ifdef VK_X86
static AVX512_BF16 void rows_bf16(const float *x, int64_t rows, int64_t n, const float *weight, const float *bias, float eps,
                                  uint16_t *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * n;
        uint16_t *out = y + r * n;
        __m512 sum = _mm512_setzero_ps();
        for (int64_t i = 0; i < n; i += 16) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(vk_tail_mask(n - i), row + i));
        float mean = _mm512_reduce_add_ps(sum) / (float)n;
        __m512 vmean = _mm512_set1_ps(mean), sq = _mm512_setzero_ps();
        for (int64_t i = 0; i < n; i += 16) {
            __mmask16 m = vk_tail_mask(n - i);
            __m512 c = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, row + i), vmean);
            sq = _mm512_fmadd_ps(c, c, sq);
        }
        float var = _mm512_reduce_add_ps(sq) / (float)n; /* biased, as LayerNorm's */
        __m512 rstd = _mm512_set1_ps(1.0f / sqrtf(var + eps));
        for (int64_t i = 0; i < n; i += 16) {
            __mmask16 m = vk_tail_mask(n - i);
            __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + i), vmean), rstd);
            if (weight) t = _mm512_mul_ps(t, _mm512_maskz_loadu_ps(m, weight + i));
            if (bias) t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(m, bias + i));
            _mm256_mask_storeu_epi16(out + i, m, (__m256i)_mm512_cvtneps_pbh(t));
        }
    }
}
#endif

void vk_layer_norm_bf16(const float *x, int64_t rows, int64_t n, const float *weight, const float *bias, float eps,
                        uint16_t *y) {
#ifdef VK_X86
    if (rows > 0 && n > 0) rows_bf16(x, rows, n, weight, bias, eps, y);
#else
    (void)x, (void)rows, (void)n, (void)weight, (void)bias, (void)eps, (void)y;
#endif
}
