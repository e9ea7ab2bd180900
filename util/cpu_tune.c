#include "util/cpu_tune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static int cpuid_leaf7(unsigned *ebx, unsigned *ecx, unsigned *edx) {
    unsigned eax;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, eax, *ebx, *ecx, *edx);
    return 1;
}
static int cpuid_leaf7_1(unsigned *eax) {
    unsigned ebx, ecx, edx;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 1, *eax, ebx, ecx, edx);
    return 1;
}
int vk_cpu_has_avx512(void) {
    /* AVX-512 F + BW + VL + DQ: what OpenBLAS's SkylakeX kernels and ATen's avx512 build need. */
    unsigned b, c, d;
    if (!cpuid_leaf7(&b, &c, &d)) return 0;
    int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    return f && dq && bw && vl && __builtin_cpu_supports("avx512f");
}
int vk_cpu_has_avx512_bf16(void) {
    unsigned a;
    return cpuid_leaf7_1(&a) && ((a >> 5) & 1);
}
int vk_cpu_has_amx_bf16(void) {
    unsigned b, c, d;
    return cpuid_leaf7(&b, &c, &d) && ((d >> 22) & 1);
}
#else
int vk_cpu_has_avx512(void) { return 0; }
int vk_cpu_has_avx512_bf16(void) { return 0; }
int vk_cpu_has_amx_bf16(void) { return 0; }
#endif

const char *vk_cpu_tune_openblas_coretype(void) { return vk_cpu_has_avx512() ? "SkylakeX" : NULL; }
const char *vk_cpu_tune_aten_capability(void) { return vk_cpu_has_avx512() ? "avx512" : NULL; }

int vk_cpu_tune_env(void) {
    if (getenv("VLKIT_TUNED")) return 0; /* done before this (re-)exec */
    char tuned[128] = "";
    const char *core = vk_cpu_tune_openblas_coretype();
    if (core && !getenv("OPENBLAS_CORETYPE") && setenv("OPENBLAS_CORETYPE", core, 0) == 0)
        strcat(tuned, "OPENBLAS_CORETYPE,");
    const char *cap = vk_cpu_tune_aten_capability();
    if (cap && !getenv("ATEN_CPU_CAPABILITY") && setenv("ATEN_CPU_CAPABILITY", cap, 0) == 0)
        strcat(tuned, "ATEN_CPU_CAPABILITY,");
    /* libtorch's glog lines ("Logging before InitGoogleLogging()", c10d socket retries) repeat
     * what vlkit's own error messages say; GLOG_minloglevel=0 brings them back */
    if (!getenv("GLOG_minloglevel") && setenv("GLOG_minloglevel", "3", 0) == 0) strcat(tuned, "GLOG_minloglevel,");
    static const char malloc_tunables[] = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0:"
                                          "glibc.malloc.trim_threshold=1099511627776:glibc.malloc.top_pad=67108864";
    const char *old = getenv("GLIBC_TUNABLES");
    int reexec = 0;
    if (!old || !strstr(old, "glibc.malloc.")) {
        size_t n = (old ? strlen(old) + 1 : 0) + sizeof malloc_tunables;
        char *v = malloc(n);
        if (v) {
            snprintf(v, n, "%s%s%s", old && *old ? old : "", old && *old ? ":" : "", malloc_tunables);
            if (setenv("GLIBC_TUNABLES", v, 1) == 0) {
                strcat(tuned, "GLIBC_TUNABLES,");
                reexec = 1;
            }
            free(v);
        }
    }
    setenv("VLKIT_TUNED", tuned[0] ? tuned : "none", 1);
    return reexec;
}

void vk_malloc_tune_here(void) {
    const char *user = getenv("GLIBC_TUNABLES");
    if (getenv("VLKIT_TUNED") || (user && strstr(user, "glibc.malloc."))) return; /* set at start-up already */
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT32_MAX);
    mallopt(M_TOP_PAD, 64 << 20);
    mallopt(M_ARENA_MAX, 1); /* a second thread allocates from the same heap, the one advised below */
    /* Grow the heap once (by the pad) and ask for transparent huge pages on it above this block,
     * as glibc.malloc.hugetlb=1 does at each growth. */
    void *p = malloc(1 << 20);
    uintptr_t huge = (uintptr_t)2 << 20, start = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    int got = p != NULL;
    free(p);
    uintptr_t top = (uintptr_t)sbrk(0) & ~(huge - 1);
    if (got && top > start) madvise((void *)start, top - start, MADV_HUGEPAGE);
}
