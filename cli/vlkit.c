/* vlkit — one binary, subcommands. This file only dispatches; each command lives in cli/cmd_*.c. */
#include "cli/commands.h"
#include "util/cpu_tune.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"caption", cmd_caption, "caption images with a BLIP checkpoint (greedy or beam search)"},
    {"init", cmd_init, "write a random-initialised BLIP model folder of any config (tests, demos, benchmarks)"},
    {"inspect", cmd_inspect, "list tensors / config of a weight file, model folder or adapter"},
    {"score", cmd_score, "score caption (BLEU, ROUGE-L, CIDEr-D) or VQA predictions, no model needed"},
    {"bench", cmd_bench, "measure matmul ceilings and BLIP-base captioning speed, fp32 and bf16 (make bench)"},
    {"env", cmd_env, "show libtorch, threads, BLAS kernel, CPU capability (why it is fast or slow)"},
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

int main(int argc, char **argv) {
    /* `score` never touches libtorch: skip the tuning re-exec (a second libtorch load, ~0.5 s). */
    if (argc > 1 && strcmp(argv[1], "score") == 0) return cmd_score(argc - 1, argv + 1);
    /* Must come first: may re-exec this binary so OpenBLAS / ATen read their tuning variables
     * at load time. */
    vk_cpu_tune_reexec(argc, argv);
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
        return cmd_env(1, env_argv);
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vlkit: error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
