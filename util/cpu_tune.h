/* cpu_tune.h — runtime tuning that must happen before libtorch's libraries initialise.
 *
 * Debian's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs and falls back to SSE3
 * ("Prescott") kernels, about 4x slower; it reads OPENBLAS_CORETYPE once, when the library is
 * loaded — before main(). libtorch 1.13 picks AVX2 kernels unless ATEN_CPU_CAPABILITY says
 * otherwise. So when the CPU has AVX-512 and the user has not set these variables, vlkit sets
 * them and re-executes itself once. A value the user set is never overridden. */
#ifndef VLKIT_UTIL_CPU_TUNE_H
#define VLKIT_UTIL_CPU_TUNE_H

/* Call first thing in main(). Returns only when no re-exec was needed (or it failed). */
void vk_cpu_tune_reexec(int argc, char **argv);

/* The environment values vlkit wants for this CPU (NULL: leave unset). */
const char *vk_cpu_tune_openblas_coretype(void);
const char *vk_cpu_tune_aten_capability(void);

/* CPU feature flags, for `vlkit env`. */
int vk_cpu_has_avx512(void);
int vk_cpu_has_avx512_bf16(void);
int vk_cpu_has_amx_bf16(void);

#endif
