/* vlkit synth — write the synthetic shapes caption dataset (demo, tests). */
#include "cli/commands.h"
#include "data/synth_shapes.h"
#include "util/args.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

int cmd_synth(int argc, char **argv) {
    static const char *out = NULL, *style = "long";
    static int n_train = 400, n_val = 50, n_test = 50, size = 32, seed = 0;
    static const vk_arg opts[] = {
        {"--out", "DIR", VK_ARG_STRING, &out, "output folder", NULL, 1},
        {"--train", "N", VK_ARG_INT, &n_train, "training images (default 400)", NULL, 0},
        {"--val", "N", VK_ARG_INT, &n_val, "validation images (default 50)", NULL, 0},
        {"--test", "N", VK_ARG_INT, &n_test, "test images (default 50)", NULL, 0},
        {"--size", "PX", VK_ARG_INT, &size, "image side in pixels (default 32)", NULL, 0},
        {"--seed", "N", VK_ARG_INT, &seed, "random seed (default 0)", NULL, 0},
        {"--style", "long|short", VK_ARG_STRING, &style,
         "captions: \"a small red circle on a blue background\" (long) or \"red circle\" (short)", NULL, 0},
        {0}};
    static const vk_argspec spec = {"synth", "--out DIR [options]",
                                    "Write a synthetic caption dataset: coloured shapes on coloured backgrounds, captions\n"
                                    "from a small grammar, train/val/test JSONL splits and a matching vocab.txt.",
                                    opts, 0, 0, NULL};
    int rc = vk_args_parse(&spec, argc, argv, NULL);
    if (rc != VK_ARGS_OK) return rc == VK_ARGS_HELP ? 0 : 2;
    if (strcmp(style, "long") && strcmp(style, "short")) {
        vk_print_error("synth: --style must be long or short");
        return 2;
    }
    synth_shapes_options o = {out, n_train, n_val, n_test, size, (uint64_t)(seed < 0 ? -seed : seed),
                              strcmp(style, "short") ? SYNTH_STYLE_LONG : SYNTH_STYLE_SHORT};
    if (synth_shapes_write(&o)) {
        vk_print_error("synth: %s", vk_err_msg());
        return 1;
    }
    printf("%s: %d train, %d val, %d test images (%s captions), vocab.txt\n", out, n_train, n_val, n_test, style);
    return 0;
}
