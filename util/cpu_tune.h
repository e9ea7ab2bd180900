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
 * what it set in VLKIT_TUNED for `vlkit env`. */
void vk_cpu_tune_env(void);

/* The environment values vlkit wants for this CPU (NULL: leave unset). */
const char *vk_cpu_tune_openblas_coretype(void);
const char *vk_cpu_tune_aten_capability(void);

/* CPU feature flags, for `vlkit env`. */
int vk_cpu_has_avx512(void);
int vk_cpu_has_avx512_bf16(void);
int vk_cpu_has_amx_bf16(void);

#endif
