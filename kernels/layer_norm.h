/* kernels/layer_norm.h — LayerNorm over rows of float32, written as bf16, for inference.
 *
 * Where a LayerNorm feeds only a bf16 matrix product (the vision tower's ln1 before qkv and ln2
 * before fc1), libtorch writes the float32 result and a second pass rounds it to bf16; here the
 * row is normalised in cache and rounded as it is written. The mean and variance are two passes
 * over the row in float32 (as libtorch's, up to the order of the sums); y = (x - mean) * rstd *
 * weight + bias, rounded to nearest even. */
#ifndef VLKIT_KERNELS_LAYER_NORM_H
#define VLKIT_KERNELS_LAYER_NORM_H

#include <stdint.h>

/* 1 when this CPU has the instructions the kernel needs (AVX-512 BW/VL and AVX512-BF16). */
int vk_layer_norm_bf16_supported(void);
/* y[r, :] = layer_norm(x[r, :]) for rows r in [0, rows), n features; weight/bias may be NULL
 * (1 and 0). Single-threaded; callers parallelise over rows. */
void vk_layer_norm_bf16(const float *x, int64_t rows, int64_t n, const float *weight, const float *bias, float eps,
                        uint16_t *y);

#endif
