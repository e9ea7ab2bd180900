/* kernels/attention.h — one attention head on the CPU, fused, for inference:
 *     out = softmax(scale * q k^T) v      q [R, d], k and v [S, d], out [R, d]
 *
 * Why not libtorch's ops: for BLIP's shapes (d = 64, S = 577) ATen runs q k^T and p v as
 * batched BLAS calls at ~40 % of the machine's matmul rate, and around them copies the heads
 * out of the qkv projection, writes the [S, S] scores to memory, reads them back for the
 * softmax and copies the context back into [T, H*d] (about a quarter of the vision tower's
 * time). Here the keys and values of a head are packed once into the layout the inner loops
 * stream, the scores of a block of query rows stay in cache, and q and out are read and
 * written in place with their row strides.
 *
 * Numerics. float32: products accumulate in float32, one fused multiply-add per term in index
 * order; the softmax is max, exp(x - max), sum, times 1/sum, as ATen's (the results differ
 * from libtorch's by float32 rounding only). bf16: q, k, v and out are bf16, the products
 * accumulate in float32 (AVX512-BF16 dot products), the scores and the softmax stay float32 and
 * the probabilities are rounded to bf16 for p v (transformers rounds the scores to bf16 first).
 *
 * No mask: every query row sees all S keys (BLIP's vision tower and its decoder's
 * cross-attention to an unpadded image). Single-threaded; callers parallelise over heads. */
#ifndef VLKIT_KERNELS_ATTENTION_H
#define VLKIT_KERNELS_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

typedef enum { VK_ATTN_F32 = 0, VK_ATTN_BF16 = 1 } vk_attn_dtype;

/* 1 when this CPU has the instructions the kernel of dt needs (AVX-512; bf16 also AVX512-BF16). */
int vk_attn_supported(vk_attn_dtype dt);

/* Bytes of one head's packed keys and values (64-byte multiple). */
size_t vk_attn_packed_bytes(vk_attn_dtype dt, int64_t S, int64_t d);
/* Pack k [S, d] (row stride ldk elements) and v [S, d] (ldv) into packed (64-byte aligned). */
void vk_attn_pack(vk_attn_dtype dt, const void *k, int64_t ldk, const void *v, int64_t ldv, int64_t S, int64_t d,
                  void *packed);

/* Bytes of scratch vk_attn_rows needs for up to R query rows at a time against S keys (64-byte
 * multiple). */
size_t vk_attn_scratch_bytes(vk_attn_dtype dt, int64_t R, int64_t S);
/* out [R, d] (row stride ldo) = softmax(scale * q k^T) v for q [R, d] (row stride ldq), with the
 * packed keys/values of S keys. scratch: vk_attn_scratch_bytes(dt, R, S) bytes, 64-byte aligned. */
void vk_attn_rows(vk_attn_dtype dt, const void *q, int64_t ldq, int64_t R, const void *packed, int64_t S, int64_t d,
                  float scale, void *scratch, void *out, int64_t ldo);

#endif
