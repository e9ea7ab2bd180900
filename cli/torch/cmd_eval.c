/* vlkit eval — caption a held-out set, write COCO results, print CIDEr-D / BLEU / ROUGE-L. */
#include "cli/commands.h"
#include "eval/eval.h"
#include "train/evaluate.h"
#include "train/eval_retrieval.h"
#include "train/vqa_answer.h"
#include "util/args.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

static void warn(const char *msg) { vk_print_warning("%s", msg); }

/* --task vqa: answer every question, then score with the official VQA accuracy. */
static int eval_vqa(const char *model, const char *adapter, const char *questions, const char *annotations,
                    const char *image_root, const char *out, int beams, int max_length, int min_length, int batch,
                    const char *dtype, int json) {
    if (!questions || !annotations) {
        vk_print_error("eval: --task vqa needs --questions and --annotations");
        return 2;
    }
    vqa_answerer *a = vqa_answerer_load(model, adapter);
    if (!a || (!strcmp(dtype, "bf16") && blip_vqa_set_dtype(a->model, TT_BF16))) {
        vk_print_error("eval: %s", vk_err_msg());
        vqa_answerer_free(a);
        return 1;
    }
    vqa_answer_options o = {blip_gen_default_params(&a->model->cfg.text), 0, batch, 0, warn};
    o.gen.num_beams = beams;
    o.gen.max_length = max_length;
    o.gen.min_length = min_length;
    const char *results = out ? out : "vqa_results.json";
    int answered, failed;
    int rc = vqa_answer_file(a, questions, image_root, results, &o, &answered, &failed);
    vqa_answerer_free(a);
    vqa_set set;
    vqa_result r;
    if (!rc && failed) rc = vk_err_set("%d questions have no answer (their images could not be read); the official "
                                       "accuracy needs every question answered", failed);
    if (!rc && (rc = vqa_set_load(&set, questions, annotations, results)) == 0) {
        rc = vqa_evaluate(&set, &r);
        if (!rc) {
            if (json) {
                printf("{\"questions\": %zu, \"overall\": %.2f, \"unrounded\": %.6f, \"perAnswerType\": {", set.n, r.overall_rounded,
                       r.overall);
                for (size_t i = 0; i < r.n_answer_types; i++)
                    printf("%s\"%s\": %.2f", i ? ", " : "", r.per_answer_type[i].name, r.per_answer_type[i].rounded);
                printf("}}\n");
            } else {
                printf("VQA accuracy: %zu questions, answers in %s\nOverall Accuracy is: %.2f\n", set.n, results, r.overall_rounded);
                for (size_t i = 0; i < r.n_answer_types; i++)
                    printf("%s : %.2f\n", r.per_answer_type[i].name, r.per_answer_type[i].rounded);
            }
            vqa_result_free(&r);
        }
        vqa_set_free(&set);
    }
    if (rc) vk_print_error("eval: %s", vk_err_msg());
    return rc ? 1 : 0;
}

int cmd_eval(int argc, char **argv) {
    static const char *model = NULL, *adapter = NULL, *data = NULL, *format = "auto", *image_root = NULL, *split = NULL,
                      *out = NULL, *prompt = NULL, *dtype = "fp32", *task = "caption", *questions = NULL, *annotations = NULL;
    /* beams 0 / min_length -1: the task's default (caption: BLIP's 3 beams, min 5; vqa: greedy, 0) */
    static int beams = 0, max_length = 20, min_length = -1, batch = 8, max_samples = 0, threads = 0, json = 0, rerank = 0;
    static const vk_arg opts[] = {
        {"--model", "DIR", VK_ARG_STRING, &model, "BLIP captioning model folder", "VLKIT_MODEL", 1},
        {"--adapter", "DIR", VK_ARG_STRING, &adapter, "PEFT LoRA adapter folder to apply", NULL, 0},
        {"--task", "caption|vqa|retrieval", VK_ARG_STRING, &task, "what to evaluate (default caption)", NULL, 0},
        {"--rerank", "K", VK_ARG_INT, &rerank, "retrieval: re-rank each query's top K by the ITM head (BLIP: 256)", NULL, 0},
        {"--data", "FILE", VK_ARG_STRING, &data, "caption: held-out captions (JSONL, COCO, Karpathy/BLIP, metadata.jsonl; .gz ok)", NULL, 0},
        {"--questions", "FILE", VK_ARG_STRING, &questions, "vqa: VQA v2 questions JSON (or JSONL {image, question, question_id})", NULL, 0},
        {"--annotations", "FILE", VK_ARG_STRING, &annotations, "vqa: VQA v2 annotations JSON", NULL, 0},
        {"--format", "F", VK_ARG_STRING, &format, "auto|jsonl|coco|karpathy|blip|imagefolder (default auto)", NULL, 0},
        {"--image-root", "DIR", VK_ARG_STRING, &image_root, "folder image paths are relative to (default: the data file's)", NULL, 0},
        {"--split", "S", VK_ARG_STRING, &split, "Karpathy splits to keep, e.g. test", NULL, 0},
        {"--out", "FILE", VK_ARG_STRING, &out, "write COCO results JSON [{\"image_id\", \"caption\"}]", NULL, 0},
        {"--prompt", "TEXT", VK_ARG_STRING, &prompt, "decoder prompt, not scored (BLIP: \"a picture of \")", NULL, 0},
        {"--beams", "N", VK_ARG_INT, &beams, "beam width (default: caption 3, BLIP's; vqa 1)", NULL, 0},
        {"--max-length", "N", VK_ARG_INT, &max_length, "max tokens incl. [DEC] and prompt (default 20)", NULL, 0},
        {"--min-length", "N", VK_ARG_INT, &min_length, "min tokens (default: caption 5; vqa 0)", NULL, 0},
        {"--batch-size", "N", VK_ARG_INT, &batch, "images per batch (default 8)", NULL, 0},
        {"--max-samples", "N", VK_ARG_INT, &max_samples, "caption at most N images (default all)", NULL, 0},
        {"--dtype", "fp32|bf16", VK_ARG_STRING, &dtype, "matrix-product precision (default fp32)", NULL, 0},
        {"--threads", "N", VK_ARG_INT, &threads, "CPU threads (default all cores)", "VLKIT_THREADS", 0},
        {"--json", NULL, VK_ARG_FLAG, &json, "print the scores as one JSON object", NULL, 0},
        {0}};
    static const vk_argspec spec = {
        "eval", "--model DIR [--adapter DIR] (--data FILE | --task vqa --questions Q --annotations A) [options]",
        "Caption every image of a held-out set and score the captions against its references with\n"
        "CIDEr-D, BLEU-1..4 and ROUGE-L (pycocoevalcap's numbers, PTB tokenisation); or, with --task vqa,\n"
        "answer every question of a VQA split and score it with the official VQA accuracy.",
        opts, 0, 0,
        "example:\n  vlkit eval --model models/blip-base --adapter runs/cap/best --data data/test.jsonl --out results.json\n"};
    int rc = vk_args_parse(&spec, argc, argv, NULL);
    if (rc != VK_ARGS_OK) return rc == VK_ARGS_HELP ? 0 : 2;
    if (threads > 0) tt_set_num_threads(threads);
    int vqa = !strcmp(task, "vqa");
    if (!beams) beams = vqa ? 1 : 3;
    if (min_length < 0) min_length = vqa ? 0 : 5;
    if (vqa) return eval_vqa(model, adapter, questions, annotations, image_root, out, beams, max_length, min_length, batch, dtype, json);
    int retrieval = !strcmp(task, "retrieval");
    if (strcmp(task, "caption") && !retrieval) {
        vk_print_error("eval: --task must be caption, vqa or retrieval");
        return 2;
    }
    if (!data) {
        vk_print_error("eval: --data is required for --task %s", task);
        return 2;
    }
    caption_dataset_opts dopt = caption_dataset_default_opts();
    static const struct {
        const char *name;
        caption_format f;
    } formats[] = {{"auto", CAPTION_FORMAT_AUTO}, {"jsonl", CAPTION_FORMAT_JSONL}, {"coco", CAPTION_FORMAT_COCO},
                   {"karpathy", CAPTION_FORMAT_KARPATHY}, {"blip", CAPTION_FORMAT_BLIP}, {"imagefolder", CAPTION_FORMAT_IMAGEFOLDER}};
    int known = 0;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (!strcmp(format, formats[i].name)) dopt.format = formats[i].f, known = 1;
    if (!known || beams < 1 || max_length < 2 || min_length < 0 || batch < 1 || max_samples < 0 ||
        (strcmp(dtype, "fp32") && strcmp(dtype, "bf16"))) {
        vk_print_error("eval: bad option value (see vlkit eval --help)");
        return 2;
    }
    dopt.image_root = image_root;
    dopt.split = split;
    caption_dataset *ds = caption_dataset_load(data, &dopt);
    if (!ds) {
        vk_print_error("eval: %s", vk_err_msg());
        return 1;
    }
    for (int i = 0; i < ds->n_warnings; i++) vk_print_warning("%s", ds->warnings[i]);
    if (retrieval) {
        blip_retriever *r = blip_retriever_load(model);
        retrieval_scores rs;
        rc = r ? eval_retrieval(r, ds, max_samples, rerank, batch, warn, &rs) : -1;
        if (rc) vk_print_error("eval: %s", vk_err_msg());
        else if (json)
            printf("{\"images\": %d, \"texts\": %d, \"txt_r1\": %.2f, \"txt_r5\": %.2f, \"txt_r10\": %.2f, \"img_r1\": %.2f, "
                   "\"img_r5\": %.2f, \"img_r10\": %.2f}\n",
                   rs.images, rs.texts, rs.i2t[0], rs.i2t[1], rs.i2t[2], rs.t2i[0], rs.t2i[1], rs.t2i[2]);
        else
            printf("retrieval: %d images, %d captions%s\n  image->text  R@1 %.2f  R@5 %.2f  R@10 %.2f\n"
                   "  text->image  R@1 %.2f  R@5 %.2f  R@10 %.2f\n",
                   rs.images, rs.texts, rerank > 0 ? " (ITM re-rank)" : "", rs.i2t[0], rs.i2t[1], rs.i2t[2], rs.t2i[0], rs.t2i[1],
                   rs.t2i[2]);
        blip_retriever_free(r);
        caption_dataset_free(ds);
        return rc ? 1 : 0;
    }
    blip_captioner *c = blip_captioner_load(model, adapter);
    if (!c || (!strcmp(dtype, "bf16") && blip_caption_set_dtype(c->model, TT_BF16))) {
        vk_print_error("eval: %s", vk_err_msg());
        blip_captioner_free(c);
        caption_dataset_free(ds);
        return 1;
    }
    caption_eval_options eo = {max_samples, batch, prompt, blip_gen_default_params(&c->model->cfg.text), out, warn, NULL, NULL};
    eo.gen.num_beams = beams;
    eo.gen.max_length = max_length;
    eo.gen.min_length = min_length;
    caption_eval_scores s;
    rc = caption_evaluate(c, ds, &eo, &s);
    if (rc) vk_print_error("eval: %s", vk_err_msg());
    else if (json)
        printf("{\"images\": %d, \"Bleu_1\": %.6f, \"Bleu_2\": %.6f, \"Bleu_3\": %.6f, \"Bleu_4\": %.6f, \"ROUGE_L\": %.6f, "
               "\"CIDEr\": %.6f}\n",
               s.n_images, s.bleu[0], s.bleu[1], s.bleu[2], s.bleu[3], s.rouge_l, s.cider);
    else
        printf("captions: %d images%s%s\n  Bleu_1   %.6f\n  Bleu_2   %.6f\n  Bleu_3   %.6f\n  Bleu_4   %.6f\n  ROUGE_L  %.6f\n"
               "  CIDEr    %.6f\n",
               s.n_images, out ? ", results in " : "", out ? out : "", s.bleu[0], s.bleu[1], s.bleu[2], s.bleu[3], s.rouge_l,
               s.cider);
    int failed = s.n_failed;
    blip_captioner_free(c);
    caption_dataset_free(ds);
    if (!rc && failed) vk_print_warning("eval: %d images could not be read and were skipped", failed);
    return rc ? 1 : 0;
}
