/* vlkit env (and vlkit --version): versions and the runtime facts that decide speed. */
#include "cli/commands.h"
#include "shim/tt.h"
#include "util/args.h"
#include "util/cpu_tune.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* oneDNN's dnnl_cpu_isa_t values (dnnl_types.h, v2.x) that matter for bf16. */
enum { DNNL_ISA_AVX512_CORE_BF16 = 0xe7, DNNL_ISA_AVX512_CORE_AMX = 0x3e7 };

static const char *dnnl_isa_name(int isa) {
    switch (isa) {
    case 0x0: return "all";
    case 0x1: return "sse41";
    case 0x3: return "avx";
    case 0x7: return "avx2";
    case 0x27: return "avx512_core";
    case 0x67: return "avx512_core_vnni";
    case DNNL_ISA_AVX512_CORE_BF16: return "avx512_core_bf16";
    case DNNL_ISA_AVX512_CORE_AMX: return "avx512_core_amx";
    case 0x407: return "avx2_vnni";
    default: return "other";
    }
}

static const char *env_source(const char *var) {
    const char *tuned = getenv("VLKIT_TUNED");
    return tuned && strstr(tuned, var) ? "set by vlkit" : "from the environment";
}

int cmd_env(int argc, char **argv) {
    static const vk_arg opts[] = {{0}};
    static const vk_argspec spec = {"env", "", "Print versions and the runtime settings that decide vlkit's speed.", opts, 0, 0,
                                    NULL};
    int rc = vk_args_parse(&spec, argc, argv, NULL);
    if (rc != VK_ARGS_OK) return rc == VK_ARGS_HELP ? 0 : 2;

    printf("vlkit           %s\n", VLKIT_VERSION);
    int ncuda = tt_cuda_device_count();
    printf("libtorch        %s (%s)\n", tt_torch_version(),
           ncuda > 0 ? "CUDA available" : (tt_cuda_available() ? "CUDA" : "CPU only"));
    if (ncuda > 0) printf("cuda devices    %d\n", ncuda);
    printf("threads         %d intra-op, %ld online cores\n", tt_get_num_threads(), sysconf(_SC_NPROCESSORS_ONLN));
    printf("distributed     c10d gloo %s, nccl %s (vlkit train --nproc N; RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT)\n",
           tt_dist_available("gloo") ? "yes" : "no", tt_dist_available("nccl") ? "yes" : "no");

    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    char *(*blasconfig)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_config");
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    if (corename)
        printf("BLAS            OpenBLAS, kernel %s%s%s%s%s%s\n", corename(), coretype ? " (OPENBLAS_CORETYPE=" : "",
               coretype ? coretype : "", coretype ? ", " : "", coretype ? env_source("OPENBLAS_CORETYPE") : "",
               coretype ? ")" : "");
    else
        printf("BLAS            not OpenBLAS (reference BLAS? fp32 matmul will be ~20x slower; install libopenblas0-openmp)\n");
    if (blasconfig) printf("BLAS config     %s\n", blasconfig());

    const char *cap = getenv("ATEN_CPU_CAPABILITY");
    if (cap)
        printf("ATen CPU        %s (ATEN_CPU_CAPABILITY, %s)\n", cap, env_source("ATEN_CPU_CAPABILITY"));
    else
        printf("ATen CPU        default (avx2 on libtorch 1.13 even on AVX-512 CPUs)\n");

    int (*dnnl_isa)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "dnnl_get_effective_cpu_isa");
    int isa = dnnl_isa ? dnnl_isa() : -1;
    if (isa >= 0) printf("oneDNN ISA      %s\n", dnnl_isa_name(isa));
    printf("CPU             avx512 %s, avx512_bf16 %s, amx_bf16 %s\n", vk_cpu_has_avx512() ? "yes" : "no",
           vk_cpu_has_avx512_bf16() ? "yes" : "no", vk_cpu_has_amx_bf16() ? "yes" : "no");
    const char *tun = getenv("GLIBC_TUNABLES");
    printf("malloc          %s (GLIBC_TUNABLES%s)\n",
           tun && strstr(tun, "glibc.malloc.hugetlb=1") ? "huge-page heap, never trimmed" : "glibc defaults",
           tun ? (strstr(getenv("VLKIT_TUNED") ? getenv("VLKIT_TUNED") : "", "GLIBC") ? ", set by vlkit" : ", from the environment")
               : " unset");
    const char *bf16;
    if (vk_cpu_has_amx_bf16() && isa == DNNL_ISA_AVX512_CORE_AMX)
        bf16 = "AMX tiles (oneDNN)";
    else if (vk_cpu_has_avx512_bf16())
        bf16 = "AVX-512 BF16 instructions (oneDNN), no AMX";
    else
        bf16 = "emulated (no native bf16 on this CPU: expect bf16 to be slower than fp32)";
    printf("bf16 matmul     %s\n", bf16);
    return 0;
}
