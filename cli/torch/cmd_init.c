/* vlkit init — a random-initialised model folder for any BLIP config. */
#include "cli/commands.h"
#include "model/blip_init.h"
#include "util/args.h"
#include "util/error.h"

#include <stdio.h>

int cmd_init(int argc, char **argv) {
    static const char *config = NULL, *out = NULL, *vocab = NULL;
    static int seed = 0;
    static const vk_arg opts[] = {
        {"--config", "FILE", VK_ARG_STRING, &config, "BLIP config.json (e.g. configs/blip-base.json)", NULL, 1},
        {"--out", "DIR", VK_ARG_STRING, &out, "output model folder (created)", NULL, 1},
        {"--seed", "N", VK_ARG_INT, &seed, "random seed (default 0)", NULL, 0},
        {"--vocab", "FILE", VK_ARG_STRING, &vocab, "vocab.txt to ship (default: a placeholder vocabulary)", NULL, 0},
        {0}};
    static const vk_argspec spec = {
        "init", "--config FILE --out DIR [--seed N] [--vocab FILE]",
        "Write a random-initialised BLIP model folder (config.json, model.safetensors, tokenizer and processor\n"
        "files) that loads like a hub checkpoint: for tests, demos and benchmarks at real sizes.",
        opts, 0, 0,
        "examples:\n  vlkit init --config configs/blip-base.json --out models/blip-base-random\n"
        "  vlkit init --config configs/blip-large.json --out /tmp/large --seed 7 --vocab bert-base-uncased/vocab.txt\n"};
    int rc = vk_args_parse(&spec, argc, argv, NULL);
    if (rc != VK_ARGS_OK) return rc == VK_ARGS_HELP ? 0 : 2;
    if (seed < 0) {
        vk_print_error("init: --seed must be >= 0");
        return 2;
    }
    blip_init_options o = {config, out, (uint64_t)seed, vocab};
    if (blip_init_folder(&o) != 0) {
        vk_print_error("init: %s", vk_err_msg());
        return 1;
    }
    printf("%s: random-initialised model written (seed %d)\n", out, seed);
    return 0;
}
