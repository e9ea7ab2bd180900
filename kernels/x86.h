/* kernels/x86.h — what the CPU kernels share: whether AVX-512 code is compiled at all
 * (VK_X86), the target attributes of their AVX-512 functions (compiled for those ISAs whatever
 * the build flags; callers dispatch on cpuid at run time), the mask of a vector's tail, and whether
 * this CPU runs them. */
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

#include "util/cpu_tune.h"

/* 1 when this CPU runs the kernels of AVX-512 (F, BW, VL, DQ) and, for the bf16 ones, also
 * AVX512-BF16; 0 elsewhere. cpuid is asked once per file: it traps to the hypervisor on
 * virtual machines, and the kernels ask before every call. */
static inline int vk_x86_avx512_ready(void) {
#ifdef VK_X86
    static _Atomic int ok = -1;
    if (ok < 0) ok = vk_cpu_has_avx512();
    return ok;
#else
    return 0;
#endif
}

static inline int vk_x86_bf16_ready(void) {
#ifdef VK_X86
    static _Atomic int ok = -1;
    if (ok < 0) ok = vk_cpu_has_avx512() && vk_cpu_has_avx512_bf16();
    return ok;
#else
    return 0;
#endif
}

#endif
