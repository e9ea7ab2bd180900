/* vlkit train — LoRA fine-tuning from a JSON config. */
#include "cli/commands.h"
#include "train/launch.h"
#include "train/trainer.h"
#include "train/vqa_trainer.h"
#include "util/args.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_train(int argc, char **argv) {
    static vk_strlist sets;
    static int print_config = 0, no_cache = 0, quiet = 0, nproc = 1;
    static const vk_arg opts[] = {
        {"--set", "KEY=VALUE", VK_ARG_STRINGS, &sets, "override a config key (dotted: lora.r=16, optim.lr=2e-4); repeatable",
         NULL, 0},
        {"--print-config", NULL, VK_ARG_FLAG, &print_config, "print the effective config and exit", NULL, 0},
        {"--no-vision-cache", NULL, VK_ARG_FLAG, &no_cache, "recompute the frozen vision tower every epoch", NULL, 0},
        {"--quiet", NULL, VK_ARG_FLAG, &quiet, "no progress output", NULL, 0},
        {"--nproc", "N", VK_ARG_INT, &nproc,
         "data-parallel: start N ranks on this machine (threads split between them); under torchrun/srun leave it out", NULL, 0},
        {0}};
    static const vk_argspec spec = {
        "train", "CONFIG.json [--set KEY=VALUE ...] [--resume[=auto|DIR]] [--print-config]",
        "Fine-tune a BLIP captioning (task caption) or VQA (task vqa) model with LoRA. Checkpoints (PEFT adapters + optimizer state),\n"
        "metrics.jsonl, evaluation results and the best adapter (OUTPUT_DIR/best) go to output_dir.\n"
        "--resume continues from the newest complete checkpoint in output_dir (or from DIR);\n"
        "Ctrl-C saves a checkpoint and stops. Data-parallel over processes and machines (c10d Gloo): --nproc N here,\n"
        "or one `vlkit train` per rank with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set (torchrun, srun).",
        opts, 1, 1,
        "examples:\n  vlkit train configs/caption-lora-base.json --set lora.r=16 --set optim.lr=2e-4\n"
        "  vlkit train configs/caption-lora-base.json --resume\n"
        "  vlkit train configs/caption-lora-base.json --nproc 2\n"};
    /* --resume / --resume=auto / --resume=DIR take an optional value: handled before the table */
    train_run_options ro = {0};
    ro.vision_cache = 1;
    char **rest = malloc(sizeof(char *) * (size_t)(argc + 1));
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--resume")) {
            ro.resume = TRAIN_RESUME_AUTO;
        } else if (i > 0 && !strncmp(argv[i], "--resume=", 9)) {
            const char *v = argv[i] + 9;
            ro.resume = strcmp(v, "auto") ? TRAIN_RESUME_DIR : TRAIN_RESUME_AUTO;
            ro.resume_dir = v;
        } else {
            rest[n++] = argv[i];
        }
    }
    rest[n] = NULL;
    vk_strlist pos = {0};
    int rc = vk_args_parse(&spec, n, rest, &pos);
    if (rc != VK_ARGS_OK) {
        free(rest);
        return rc == VK_ARGS_HELP ? 0 : 2;
    }
    train_config cfg;
    if (train_config_load(pos.items[0], sets.items, sets.n, &cfg)) {
        vk_print_error("train: %s", vk_err_msg());
        vk_strlist_free(&pos);
        free(rest);
        return 2;
    }
    char *json = train_config_to_json(&cfg);
    if (print_config) {
        puts(json ? json : "");
        rc = 0;
    } else if (nproc != 1) {
        /* the ranks get this command line again, without --nproc */
        const char **args = malloc(sizeof(char *) * (size_t)(argc + 1));
        int na = 0;
        for (int i = 0; i < argc; i++) {
            if (i > 0 && !strcmp(argv[i], "--nproc")) i++;
            else if (!(i > 0 && !strncmp(argv[i], "--nproc=", 8))) args[na++] = argv[i];
        }
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int threads = cfg.threads > 0 ? cfg.threads : cores > 0 ? (int)cores : 1;
        rc = train_launch(nproc, threads, args, na, cfg.distributed.timeout_s + 30);
        free(args);
        if (rc < 0) vk_print_error("train: %s", vk_err_msg());
        rc = rc < 0 ? 1 : rc;
    } else {
        ro.quiet = quiet;
        ro.vision_cache = !no_cache;
        rc = cfg.task == TRAIN_TASK_VQA ? vqa_train_run(&cfg, json, &ro) : train_run(&cfg, json, &ro);
        if (rc) vk_print_error("train: %s", vk_err_msg());
        else if (!quiet && !(getenv("RANK") && atoi(getenv("RANK")) != 0)) /* rank 0 speaks for all */
            fprintf(stderr, "done: %lld steps, output in %s\n", ro.steps_done, cfg.output_dir);
        rc = rc ? 1 : 0;
    }
    free(json);
    train_config_free(&cfg);
    vk_strlist_free(&pos);
    vk_strlist_free(&sets);
    free(rest);
    return rc;
}
