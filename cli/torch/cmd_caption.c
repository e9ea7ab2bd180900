/* vlkit caption — caption images with a BLIP checkpoint folder. */
#include "cli/commands.h"
#include "data/image_list.h"
#include "model/blip_captioner.h"
#include "util/args.h"
#include "util/error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_result(const char *path, const char *text, const int64_t *ids, int64_t len, int json) {
    if (!json) {
        printf("%s\t%s\n", path, text);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "image", path);
    cJSON_AddStringToObject(o, "caption", text);
    cJSON *arr = cJSON_AddArrayToObject(o, "ids");
    for (int64_t i = 0; i < len; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)ids[i]));
    char *s = cJSON_PrintUnformatted(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

int cmd_caption(int argc, char **argv) {
    static const char *model = NULL, *adapter = NULL, *prompt = NULL, *dtype = "fp32";
    static int beams = 1, max_length = 20, min_length = 0, batch = 8, threads = 0, json = 0, no_repeat = 0;
    static double rep_penalty = 1.0, length_penalty = 1.0;
    static const vk_arg opts[] = {
        {"--model", "DIR", VK_ARG_STRING, &model, "BLIP captioning model folder (HF layout)", "VLKIT_MODEL", 1},
        {"--adapter", "DIR", VK_ARG_STRING, &adapter, "PEFT LoRA adapter folder to apply (vlkit's or PEFT's)", NULL, 0},
        {"--beams", "N", VK_ARG_INT, &beams, "beam width (1 = greedy, the default)", NULL, 0},
        {"--max-length", "N", VK_ARG_INT, &max_length, "max tokens incl. [DEC] and the prompt (default 20)", NULL, 0},
        {"--min-length", "N", VK_ARG_INT, &min_length, "min tokens before [SEP] may end a caption (default 0)", NULL, 0},
        {"--prompt", "TEXT", VK_ARG_STRING, &prompt, "text the caption starts with, e.g. \"a picture of\"", NULL, 0},
        {"--repetition-penalty", "X", VK_ARG_DOUBLE, &rep_penalty, "penalise repeated tokens (> 1; default 1 = off)", NULL, 0},
        {"--no-repeat-ngram", "N", VK_ARG_INT, &no_repeat, "forbid repeating any N-gram (default 0 = off)", NULL, 0},
        {"--length-penalty", "X", VK_ARG_DOUBLE, &length_penalty, "beam score exponent on length (default 1)", NULL, 0},
        {"--batch-size", "N", VK_ARG_INT, &batch, "images per forward pass (default 8)", NULL, 0},
        {"--dtype", "fp32|bf16", VK_ARG_STRING, &dtype, "matrix-product precision (default fp32)", NULL, 0},
        {"--threads", "N", VK_ARG_INT, &threads, "CPU threads (default: all cores)", "VLKIT_THREADS", 0},
        {"--json", NULL, VK_ARG_FLAG, &json, "JSON lines {\"image\", \"caption\", \"ids\"}", NULL, 0},
        {0}};
    static const vk_argspec spec = {
        "caption", "--model DIR [options] IMAGE|DIR...",
        "Caption images (a folder means every .jpg/.jpeg/.png/.bmp/.gif in it). One line per image:\n"
        "path<TAB>caption. A bad image is reported on stderr and skipped; the exit status is then 1.",
        opts, 1, -1,
        "examples:\n  vlkit caption --model models/blip-image-captioning-base photo.jpg\n"
        "  vlkit caption --model models/blip-image-captioning-base --beams 3 --min-length 5 --prompt \"a picture of\" photos/\n"};
    vk_strlist pos = {0};
    int rc = vk_args_parse(&spec, argc, argv, &pos);
    if (rc != VK_ARGS_OK) return rc == VK_ARGS_HELP ? 0 : 2;
    const char *bad = beams < 1 ? "--beams must be >= 1"
                      : max_length < 2 ? "--max-length must be >= 2"
                      : min_length < 0 || min_length > max_length ? "--min-length must be between 0 and --max-length"
                      : batch < 1 ? "--batch-size must be >= 1"
                      : rep_penalty <= 0 ? "--repetition-penalty must be > 0"
                      : no_repeat < 0 ? "--no-repeat-ngram must be >= 0"
                      : strcmp(dtype, "fp32") && strcmp(dtype, "bf16") ? "--dtype must be fp32 or bf16"
                                                                         : NULL;
    if (bad) {
        vk_print_error("caption: %s", bad);
        vk_strlist_free(&pos);
        return 2;
    }
    if (threads > 0) tt_set_num_threads(threads);
    image_list images;
    if (image_list_expand(pos.items, pos.n, &images)) {
        vk_print_error("caption: %s", vk_err_msg());
        vk_strlist_free(&pos);
        return 1;
    }
    vk_strlist_free(&pos);
    blip_captioner *c = blip_captioner_load(model, adapter);
    if (!c) {
        vk_print_error("caption: %s", vk_err_msg());
        image_list_free(&images);
        return 1;
    }
    if (strcmp(dtype, "bf16") == 0 && blip_caption_set_dtype(c->model, TT_BF16)) {
        vk_print_error("caption: %s", vk_err_msg());
        blip_captioner_free(c);
        image_list_free(&images);
        return 1;
    }
    blip_gen_params gp = blip_gen_default_params(&c->model->cfg.text);
    gp.num_beams = beams;
    gp.max_length = max_length;
    gp.min_length = min_length;
    gp.repetition_penalty = rep_penalty;
    gp.no_repeat_ngram_size = no_repeat;
    gp.length_penalty = length_penalty;
    size_t per = image_preproc_numel(&c->preproc);
    float *pixels = malloc(sizeof(float) * per * (size_t)batch);
    const char **names = malloc(sizeof(char *) * (size_t)batch);
    int failed = 0, fatal = 0;
    if (!pixels || !names) {
        vk_print_error("caption: out of memory for a batch of %d images", batch);
        fatal = 1;
    }
    for (int start = 0; !fatal && start < images.n;) {
        int k = 0;
        for (; start < images.n && k < batch; start++) {
            if (image_preprocess_file(&c->preproc, images.paths[start], pixels + per * (size_t)k) != 0) {
                vk_print_error("%s", vk_err_msg());
                failed++;
                continue;
            }
            names[k++] = images.paths[start];
        }
        if (!k) continue;
        blip_caption_result r;
        if (blip_captioner_run(c, pixels, k, prompt, &gp, &r) != 0) {
            vk_print_error("caption: %s", vk_err_msg());
            fatal = 1;
            break;
        }
        for (int i = 0; i < k; i++) print_result(names[i], r.texts[i], r.ids + i * r.len, r.len, json);
        fflush(stdout);
        blip_caption_result_free(&r);
    }
    if (failed) vk_print_error("caption: %d of %d images could not be read (see above)", failed, images.n);
    free(pixels);
    free(names);
    blip_captioner_free(c);
    image_list_free(&images);
    return fatal || failed ? 1 : 0;
}
