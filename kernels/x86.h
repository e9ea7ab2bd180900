/* kernels/x86.h — what the CPU kernels share: whether AVX-512 code is compiled at all
 * (VK_X86), the target attributes of their AVX-512 functions (compiled for those ISAs whatever
 * the build flags; callers dispatch on cpuid at run time) and the mask of a vector's tail. */
#ifndef VLKIT_KERNELS_X86_H
#define VLKIT_KERNELS_X86_H

#include <stdint.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VK_X86 1
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")))

/* Lanes [0, n) of a 16-lane vector (all when n >= 16, none when n <= 0). */
static inline __mmask16 vk_tail_mask(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}
#endif

#endif
