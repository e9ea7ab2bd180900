/* vlkit export — merge a LoRA adapter into its base and write an HF model folder. */
#include "cli/commands.h"
#include "model/blip_export.h"
#include "util/args.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

int cmd_export(int argc, char **argv) {
    static const char *model = NULL, *adapter = NULL, *out = NULL, *dtype = "fp32";
    static int force = 0;
    static const vk_arg opts[] = {
        {"--model", "DIR", VK_ARG_STRING, &model, "base model folder (HF layout)", NULL, 1},
        {"--adapter", "DIR", VK_ARG_STRING, &adapter, "PEFT LoRA adapter folder to merge", NULL, 1},
        {"--out", "DIR", VK_ARG_STRING, &out, "output model folder", NULL, 1},
        {"--dtype", "fp32|bf16|fp16", VK_ARG_STRING, &dtype, "dtype of the written weights (default fp32)", NULL, 0},
        {"--force", NULL, VK_ARG_FLAG, &force, "replace --out if it exists", NULL, 0},
        {0}};
    static const vk_argspec spec = {
        "export", "--model DIR --adapter DIR --out DIR [--dtype fp32|bf16|fp16] [--force]",
        "Merge W + scaling * B A into the base and write an HF folder that transformers'\n"
        "BlipForConditionalGeneration.from_pretrained loads unchanged. The output is reloaded and its\n"
        "logits compared with base + adapter before it is put in place.",
        opts, 0, 0, "example:\n  vlkit export --model models/blip-base --adapter runs/cap/best --out models/blip-base-tuned\n"};
    int rc = vk_args_parse(&spec, argc, argv, NULL);
    if (rc != VK_ARGS_OK) return rc == VK_ARGS_HELP ? 0 : 2;
    tt_dtype dt;
    if (!strcmp(dtype, "fp32")) dt = TT_F32;
    else if (!strcmp(dtype, "bf16")) dt = TT_BF16;
    else if (!strcmp(dtype, "fp16")) dt = TT_F16;
    else {
        vk_print_error("export: --dtype must be fp32, bf16 or fp16");
        return 2;
    }
    blip_export_options o = {model, adapter, out, dt, force, 0};
    if (blip_export(&o)) {
        vk_print_error("export: %s", vk_err_msg());
        return 1;
    }
    printf("%s: merged model written (%s; reload check: max |logit diff| %.2g)\n", out, dtype, o.max_abs_diff);
    return 0;
}
