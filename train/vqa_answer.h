/* vqa_answer.h — answer questions about images with a BLIP VQA folder: one question, or a
 * whole VQA v2 questions file (or JSONL of {"image", "question", "question_id"}), batched,
 * writing the official results format [{"question_id", "answer"}]. Used by `vlkit vqa` and
 * `vlkit eval --task vqa`. */
#ifndef VLKIT_TRAIN_VQA_ANSWER_H
#define VLKIT_TRAIN_VQA_ANSWER_H

#include "data/preprocess.h"
#include "data/wordpiece.h"
#include "model/blip_vqa.h"

typedef struct {
    blip_vqa *model;
    wordpiece *tokenizer;
    image_preproc_config preproc;
    lora_linears linears;
} vqa_answerer;

vqa_answerer *vqa_answerer_load(const char *model_dir, const char *adapter_dir);
void vqa_answerer_free(vqa_answerer *a);

typedef struct {
    blip_gen_params gen;
    int mask_question_padding; /* 0: transformers' generate() (attends to question padding) */
    int batch_size;
    int max_questions;         /* 0: all */
    void (*on_warning)(const char *msg);
} vqa_answer_options;

/* n questions about n images (paths); answers[i] malloc'd (NULL for an image that could not be
 * read: reported through on_warning). */
int vqa_answer_batch(const vqa_answerer *a, const char *const *images, const char *const *questions, int n,
                     const vqa_answer_options *o, char **answers);

/* Every question of a VQA v2 questions file (images image_root/COCO_<data_subtype>_<id:012>.jpg,
 * or image_root/<image_id>.jpg when that exists) or of a JSONL file; results written to
 * results_path. *answered / *failed count questions. */
int vqa_answer_file(const vqa_answerer *a, const char *questions_path, const char *image_root, const char *results_path,
                    const vqa_answer_options *o, int *answered, int *failed);

#endif
