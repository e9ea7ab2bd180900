/* vlkit — one binary, subcommands. This file only dispatches; each command lives in cli/cmd_*.c
 * (pure C, linked into this binary) or cli/torch/cmd_*.c (in libvlkit_torch.so, next to the
 * binary). The binary itself does not link libtorch: `score`, `inspect` and `--help` start in
 * milliseconds, and the runtime tuning variables are set before libtorch (and its OpenBLAS)
 * are loaded (util/cpu_tune.h). */
#include "cli/commands.h"
#include "util/cpu_tune.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* pure-C command, or NULL */
    const char *torch_symbol;          /* command in libvlkit_torch.so */
    const char *summary;
} command;

static const command commands[] = {
    {"train", NULL, "cmd_train", "fine-tune a BLIP captioning model with LoRA (checkpoints, resume, eval)"},
    {"caption", NULL, "cmd_caption", "caption images with a BLIP checkpoint (greedy or beam search)"},
    {"vqa", NULL, "cmd_vqa", "answer questions about images with a BLIP VQA checkpoint"},
    {"index", NULL, "cmd_index", "embed images into a search index (BLIP retrieval model; incremental)"},
    {"search", NULL, "cmd_search", "search an index by text (cosine, optional ITM re-rank); rank captions for an image"},
    {"init", NULL, "cmd_init", "write a random-initialised BLIP model folder of any config (tests, demos, benchmarks)"},
    {"eval", NULL, "cmd_eval", "caption a held-out set and score it (CIDEr-D, BLEU, ROUGE-L)"},
    {"export", NULL, "cmd_export", "merge a LoRA adapter into its base and write an HF model folder"},
    {"inspect", cmd_inspect, NULL, "list tensors / config of a weight file, model folder or adapter"},
    {"score", cmd_score, NULL, "score caption (BLEU, ROUGE-L, CIDEr-D) or VQA predictions, no model needed"},
    {"plot", cmd_plot, NULL, "draw loss / lr / eval curves of a training run to an SVG"},
    {"synth", cmd_synth, NULL, "write a synthetic shapes caption dataset (the demo's data)"},
    {"bench", NULL, "cmd_bench", "measure matmul ceilings and BLIP-base captioning speed, fp32 and bf16 (make bench)"},
    {"env", NULL, "cmd_env", "show libtorch, threads, BLAS kernel, CPU capability (why it is fast or slow)"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *fp) {
    fprintf(fp,
            "vlkit %s — fine-tune and evaluate vision-language models (BLIP) in C\n\n"
            "usage: vlkit <command> [options]\n\ncommands:\n",
            VLKIT_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++) fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\n'vlkit <command> --help' describes a command. 'vlkit --version' prints versions.\n");
}

/* libvlkit_torch.so: $VLKIT_TORCH_LIB, else next to this executable. */
static int torch_library_path(char *buf, size_t cap) {
    const char *env = getenv("VLKIT_TORCH_LIB");
    if (env && *env) return snprintf(buf, cap, "%s", env) < (int)cap ? 0 : -1;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    return snprintf(buf, cap, "%s/libvlkit_torch.so", exe) < (int)cap ? 0 : -1;
}

static int run_torch_command(const char *symbol, int argc, char **argv, char **main_argv) {
    /* before dlopen: OpenBLAS reads OPENBLAS_CORETYPE when it is loaded; glibc reads its malloc
     * tunables at start-up, hence one re-exec (of this small binary: ~1 ms) when they changed */
    if (vk_cpu_tune_env()) execv("/proc/self/exe", main_argv); /* on failure: carry on untuned */
    char path[PATH_MAX];
    if (torch_library_path(path, sizeof path) != 0) {
        fprintf(stderr, "vlkit: error: cannot locate libvlkit_torch.so (set VLKIT_TORCH_LIB)\n");
        return 1;
    }
    void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
        fprintf(stderr, "vlkit: error: %s: cannot load the libtorch commands: %s\n", path, dlerror());
        return 1;
    }
    int (*fn)(int, char **) = (int (*)(int, char **))dlsym(lib, symbol);
    if (!fn) {
        fprintf(stderr, "vlkit: error: %s: no %s (library from another build?)\n", path, symbol);
        return 1;
    }
    return fn(argc, argv);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        char *env_argv[] = {"env", NULL};
        return run_torch_command("cmd_env", 1, env_argv, argv);
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        /* every command allocates and frees large buffers: it runs under vlkit's malloc
         * settings (util/cpu_tune.h; `score` on 5,000 images: 0.27 s -> 0.16 s). The pure-C
         * commands set them in-process; the libtorch ones need them from the start (its
         * threads' arenas), hence a re-exec of this small binary first. */
        if (commands[i].run) {
            vk_malloc_tune_here();
            return commands[i].run(argc - 1, argv + 1);
        }
        if (vk_cpu_tune_env()) execv("/proc/self/exe", argv);
        return run_torch_command(commands[i].torch_symbol, argc - 1, argv + 1, argv);
    }
    fprintf(stderr, "vlkit: error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
