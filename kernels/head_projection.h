/* kernels/head_projection.h — the per-head products of the folded cross-attention
 * (model/blip_text.h), bf16 for inference:
 *     expand  out[r, :E]  = sum_i q[r, i] w[i, :E]       q [R, d] (one head's slice), w [d, E]
 *     reduce  out[r, j]   = sum_e c[r, e] w[j, e] (+ b[j])   c [R, E], w [d, E], out [R, d]
 * w is a head's d rows of a key or value weight [H*d, E], read in place. Sums in float32,
 * results rounded to bf16 (nearest even) once, the bias added before the rounding.
 *
 * Why not libtorch's bmm: Debian's libtorch 1.13 runs these bf16 batched products (8 rows, K 64,
 * N 768, 12 heads) at ~5 GB/s of weight traffic, 250 us each; here 30-50 us (2 threads).
 * Single-threaded; callers parallelise over heads. */
#ifndef VLKIT_KERNELS_HEAD_PROJECTION_H
#define VLKIT_KERNELS_HEAD_PROJECTION_H

#include <stdint.h>

/* The largest head size d the kernels take (BLIP's heads are 64 wide). */
enum { VK_HEAD_MAX_D = 256 };

/* 1 when this CPU has the instructions the kernels need (AVX-512 BW/VL and AVX512-BF16). */
int vk_heads_supported(void);

/* out [R, E] (row stride ldo) = q [R, d] (ldq) . w [d, E] (ldw); bf16; d <= VK_HEAD_MAX_D. */
void vk_head_expand(const uint16_t *q, int64_t ldq, int64_t R, int64_t d, const uint16_t *w, int64_t ldw, int64_t E,
                    uint16_t *out, int64_t ldo);
/* out [R, d] (ldo) = c [R, E] (ldc) . w [d, E]^T (ldw) + bias [d] (NULL: none); bf16. */
void vk_head_reduce(const uint16_t *c, int64_t ldc, int64_t R, int64_t E, const uint16_t *w, int64_t ldw, int64_t d,
                    const uint16_t *bias, uint16_t *out, int64_t ldo);

#endif
