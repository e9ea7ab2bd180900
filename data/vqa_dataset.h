/* vqa_dataset.h — VQA training data: a VQA v2 questions file + annotations file (images
 * IMAGE_ROOT/COCO_<data_subtype>_<image_id:012>.jpg, or IMAGE_ROOT/<image_id>.jpg), or JSONL
 * {"image", "question", "answers": [...]} (or "answer": "..."), paths relative to the file.
 *
 * Each question keeps its distinct answers with weights, per the chosen recipe:
 *   VQA_WEIGHT_BLIP    every distinct human answer, weight = its count / number of answers
 *                      (BLIP's vqa_dataset: the weights of a question sum to 1);
 *   VQA_WEIGHT_SINGLE  one answer with weight 1: multiple_choice_answer when given, else the
 *                      most common answer (first on ties) — transformers' one-label fine-tuning.
 * Bad records (missing image file, no answers, wrong types) are reported "file: where: why" and
 * skipped and counted, or fatal (on_error fail / past max_bad). */
#ifndef VLKIT_DATA_VQA_DATASET_H
#define VLKIT_DATA_VQA_DATASET_H

#include <stdint.h>

typedef enum { VQA_WEIGHT_BLIP, VQA_WEIGHT_SINGLE } vqa_weighting;

typedef struct {
    char *image;
    char *question;
    long long question_id;
    char **answers;  /* distinct */
    double *weights; /* same length, sum 1 */
    int n_answers;
    char **gt;       /* all human answers as given (for the VQA accuracy), n_gt of them */
    int n_gt;
} vqa_example;

typedef struct {
    vqa_example *items;
    int64_t n;
    int64_t n_bad;
    char **warnings; /* first 100 */
    int n_warnings;
} vqa_dataset;

typedef struct {
    const char *questions_path; /* VQA v2 questions JSON, or JSONL */
    const char *annotations;    /* VQA v2 annotations JSON (NULL for JSONL) */
    const char *image_root;     /* NULL: the questions file's folder */
    vqa_weighting weighting;
    int fail_on_bad;
    int64_t max_bad;            /* -1: no limit */
} vqa_dataset_opts;

vqa_dataset *vqa_dataset_load(const vqa_dataset_opts *o);
void vqa_dataset_free(vqa_dataset *d);

#endif
