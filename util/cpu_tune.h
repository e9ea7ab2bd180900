/* cpu_tune.h — runtime tuning that must happen before libtorch's libraries initialise.
 *
 * Debian's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs and falls back to SSE3
 * ("Prescott") kernels, about 4x slower; it reads OPENBLAS_CORETYPE once, when the library is
 * loaded — before main(). libtorch 1.13 picks AVX2 kernels unless ATEN_CPU_CAPABILITY says
 * otherwise. So when the CPU has AVX-512 and the user has not set these variables, vlkit sets
 * them before loading libtorch. A value the user set is never overridden. */
#ifndef VLKIT_UTIL_CPU_TUNE_H
#define VLKIT_UTIL_CPU_TUNE_H

/* Set the variables (when the CPU has AVX-512 and the user left them unset) before libtorch is
 * loaded: vlkit dlopens its libtorch commands, so setting them in-process is enough. Records
 * what it set in VLKIT_TUNED for `vlkit env`.
 *
 * Also glibc's malloc tunables, which glibc reads only at process start: tensors of tens of MB
 * come and go at every layer, and with glibc's defaults each one is mmap'd, page-faulted in
 * 4 KiB at a time and returned to the kernel on free (the first batch-4 vision pass of
 * BLIP-base took 870k page faults, 7.2 s instead of 1.0 s). vlkit asks for a heap that is
 * never trimmed, never mmap'd per allocation, and backed by transparent huge pages (`score`
 * on 5,000 images: 0.27 s -> 0.17 s, from fewer page faults). Returns 1
 * when it changed GLIBC_TUNABLES (the caller then re-executes itself so glibc sees it), else 0.
 * A GLIBC_TUNABLES that already sets any glibc.malloc tunable is left alone. */
int vk_cpu_tune_env(void);

/* The same malloc settings from inside the running process (mallopt, and madvise for huge
 * pages on the heap), for the pure-C commands: a re-exec costs more than they save there
 * (`score` on 5,000 images: ~5 ms of a 0.1 s run). Threads share the main heap. Does nothing
 * when vk_cpu_tune_env's re-exec happened or GLIBC_TUNABLES sets a malloc tunable. */
void vk_malloc_tune_here(void);

/* The environment values vlkit wants for this CPU (NULL: leave unset). */
const char *vk_cpu_tune_openblas_coretype(void);
const char *vk_cpu_tune_aten_capability(void);

/* CPU feature flags, for `vlkit env`. */
int vk_cpu_has_avx512(void);
int vk_cpu_has_avx512_bf16(void);
int vk_cpu_has_amx_bf16(void);

#endif
