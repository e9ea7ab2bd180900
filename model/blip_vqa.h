/* blip_vqa.h — BlipForQuestionAnswering: vision tower, text encoder (bidirectional, padding
 * mask, cross-attending to the image) and the answer decoder (causal, cross-attending to the
 * question states), as transformers 4.43 computes them.
 *
 * In forward() the decoder's cross-attention masks the question padding; in generate()
 * transformers attends to ALL question positions (encoder mask of ones). vlkit reproduces that
 * by default for parity (answers identical to transformers); `mask_question_padding` in
 * blip_vqa_answer fixes it. */
#ifndef VLKIT_MODEL_BLIP_VQA_H
#define VLKIT_MODEL_BLIP_VQA_H

#include "model/blip_caption.h"
#include "model/blip_generate.h"

typedef struct {
    blip_config cfg;
    blip_params *params;
    blip_vision vision;  /* "vision_model" */
    blip_text encoder;   /* "text_encoder" (no LM head) */
    blip_text decoder;   /* "text_decoder.bert" + "text_decoder.cls" */
} blip_vqa;

blip_vqa *blip_vqa_load(const char *dir);
void blip_vqa_free(blip_vqa *m);
/* Every Linear layer (vision, encoder, decoder, LM head), for LoRA. items malloc'd. */
int blip_vqa_linears(blip_vqa *m, lora_linears *out);
int blip_vqa_set_dtype(blip_vqa *m, tt_dtype dt);

/* question_embeds [B, Lq, D]: the text encoder over the question, cross-attending to the
 * image embeddings; q_mask host [B, Lq] (NULL: all ones). */
tt_tensor *blip_vqa_question_embeds(const blip_vqa *m, tt_tensor *image_embeds, tt_tensor *question_ids,
                                    const int64_t *q_mask, int train);
/* Teacher-forced answer logits [B, La, V]; the decoder's cross-attention masks question
 * padding (forward()'s behaviour). a_mask host [B, La] or NULL. */
tt_tensor *blip_vqa_answer_logits(const blip_vqa *m, tt_tensor *question_embeds, const int64_t *q_mask,
                                  tt_tensor *answer_ids, const int64_t *a_mask, int train);
/* Generate answers (starting from [DEC]); mask_question_padding = 0 is transformers' generate(). */
int blip_vqa_answer(const blip_vqa *m, tt_tensor *question_embeds, const int64_t *q_mask, int mask_question_padding,
                    const blip_gen_params *gp, blip_gen_output *out);

#endif
