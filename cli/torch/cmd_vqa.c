/* vlkit vqa — answer questions about images with a BLIP VQA checkpoint. */
#include "cli/commands.h"
#include "train/vqa_answer.h"
#include "util/args.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void warn(const char *msg) { vk_print_warning("%s", msg); }

int cmd_vqa(int argc, char **argv) {
    static const char *model = NULL, *adapter = NULL, *image = NULL, *question = NULL, *questions = NULL, *image_root = NULL,
                      *out = "vqa_results.json", *dtype = "fp32";
    static int beams = 1, max_length = 20, min_length = 0, batch = 8, max_q = 0, mask_pad = 0, threads = 0;
    static const vk_arg opts[] = {
        {"--model", "DIR", VK_ARG_STRING, &model, "BLIP VQA model folder (blip-vqa-base layout)", "VLKIT_MODEL", 1},
        {"--adapter", "DIR", VK_ARG_STRING, &adapter, "PEFT LoRA adapter folder to apply", NULL, 0},
        {"--image", "IMG", VK_ARG_STRING, &image, "one image (with --question)", NULL, 0},
        {"--question", "TEXT", VK_ARG_STRING, &question, "the question about --image", NULL, 0},
        {"--questions", "FILE", VK_ARG_STRING, &questions, "batch mode: VQA v2 questions JSON or JSONL {image, question}", NULL, 0},
        {"--image-root", "DIR", VK_ARG_STRING, &image_root, "batch mode: folder of the images (COCO_<subtype>_<id>.jpg)", NULL, 0},
        {"--out", "FILE", VK_ARG_STRING, &out, "batch mode: results [{question_id, answer}] (default vqa_results.json)", NULL, 0},
        {"--beams", "N", VK_ARG_INT, &beams, "beam width (default 1: greedy)", NULL, 0},
        {"--max-length", "N", VK_ARG_INT, &max_length, "max answer tokens incl. [DEC] (default 20)", NULL, 0},
        {"--min-length", "N", VK_ARG_INT, &min_length, "min answer tokens (default 0)", NULL, 0},
        {"--mask-question-padding", NULL, VK_ARG_FLAG, &mask_pad,
         "do not attend to question padding (transformers' generate() does; the default matches it)", NULL, 0},
        {"--batch-size", "N", VK_ARG_INT, &batch, "questions per batch (default 8)", NULL, 0},
        {"--max-questions", "N", VK_ARG_INT, &max_q, "answer at most N questions (default all)", NULL, 0},
        {"--dtype", "fp32|bf16", VK_ARG_STRING, &dtype, "matrix-product precision (default fp32)", NULL, 0},
        {"--threads", "N", VK_ARG_INT, &threads, "CPU threads (default all cores)", "VLKIT_THREADS", 0},
        {0}};
    static const vk_argspec spec = {
        "vqa", "--model DIR (--image IMG --question TEXT | --questions FILE [--image-root DIR] [--out FILE])",
        "Answer questions about images (BlipForQuestionAnswering). Answers are the ids transformers'\n"
        "generate() gives (tested), decoded without special tokens.",
        opts, 0, 0,
        "examples:\n  vlkit vqa --model models/blip-vqa-base --image cat.jpg --question \"what color is the cat?\"\n"
        "  vlkit vqa --model models/blip-vqa-base --questions v2_OpenEnded_mscoco_val2014_questions.json \\\n"
        "      --image-root coco/val2014 --out results.json\n"};
    int rc = vk_args_parse(&spec, argc, argv, NULL);
    if (rc != VK_ARGS_OK) return rc == VK_ARGS_HELP ? 0 : 2;
    int single = image || question;
    if ((single && (!image || !question || questions)) || (!single && !questions) || beams < 1 || max_length < 2 ||
        batch < 1 || (strcmp(dtype, "fp32") && strcmp(dtype, "bf16"))) {
        vk_print_error("vqa: give --image and --question, or --questions FILE (see vlkit vqa --help)");
        return 2;
    }
    if (threads > 0) tt_set_num_threads(threads);
    vqa_answerer *a = vqa_answerer_load(model, adapter);
    if (!a || (!strcmp(dtype, "bf16") && blip_vqa_set_dtype(a->model, TT_BF16))) {
        vk_print_error("vqa: %s", vk_err_msg());
        vqa_answerer_free(a);
        return 1;
    }
    vqa_answer_options o = {blip_gen_default_params(&a->model->cfg.text), mask_pad, batch, max_q, warn};
    o.gen.num_beams = beams;
    o.gen.max_length = max_length;
    o.gen.min_length = min_length;
    if (single) {
        char *answer = NULL;
        rc = vqa_answer_batch(a, &image, &question, 1, &o, &answer);
        if (!rc && answer) puts(answer);
        if (rc) vk_print_error("vqa: %s", vk_err_msg());
        rc = rc || !answer ? 1 : 0;
        free(answer);
    } else {
        int answered, failed;
        rc = vqa_answer_file(a, questions, image_root, out, &o, &answered, &failed);
        if (rc) vk_print_error("vqa: %s", vk_err_msg());
        else fprintf(stderr, "%s: %d answers written%s\n", out, answered, failed ? " (some images could not be read)" : "");
        rc = rc || failed ? 1 : 0;
    }
    vqa_answerer_free(a);
    return rc;
}
