/* blip_caption.h — BlipForConditionalGeneration: vision tower + text decoder with LM head.
 *
 *   blip_caption *m = blip_caption_load("path/to/blip-image-captioning-base");
 *   tt_tensor *logits = blip_caption_logits(m, pixels, input_ids, mask, 0);   // [B, L, V]
 *   tt_tensor *loss = blip_lm_loss(logits, labels, 0.1);
 *   blip_caption_free(m);
 */
#ifndef VLKIT_MODEL_BLIP_CAPTION_H
#define VLKIT_MODEL_BLIP_CAPTION_H

#include "model/blip_config.h"
#include "model/blip_params.h"
#include "model/blip_text.h"
#include "model/blip_vision.h"
#include "model/lora.h"

typedef struct {
    blip_config cfg;
    blip_params *params; /* owns the base weights */
    blip_vision vision;  /* "vision_model" */
    blip_text text;      /* "text_decoder.bert" + "text_decoder.cls" */
    char *dir;
} blip_caption;

/* An HF folder with config.json and the weights. NULL + vk_err (naming the file) on failure. */
blip_caption *blip_caption_load(const char *dir);
void blip_caption_free(blip_caption *m);

/* Compute dtype of every matrix product: TT_F32 (reference) or TT_BF16 (fast on CPUs with
 * AVX512-BF16/AMX); LayerNorm, softmax, logits and loss stay float32. */
int blip_caption_set_dtype(blip_caption *m, tt_dtype dt);

/* Every Linear layer (vision, text, LM head), for LoRA targeting; items malloc'd, free(items). */
int blip_caption_linears(blip_caption *m, lora_linears *out);

/* Teacher-forced logits [B, L, V]; attention_mask [B, L] on the host (NULL: all ones).
 * Position t predicts token t+1. */
tt_tensor *blip_caption_logits(const blip_caption *m, tt_tensor *pixels, tt_tensor *input_ids,
                               const int64_t *attention_mask, int train);
/* The same from precomputed image embeddings [B, S, Dv] (the vision tower's output). */
tt_tensor *blip_caption_logits_from_embeds(const blip_caption *m, tt_tensor *image_embeds, tt_tensor *input_ids,
                                           const int64_t *attention_mask, int train);

/* transformers' LM loss: CE(logits[:, :-1], labels[:, 1:]), ignore_index -100, mean over all
 * non-ignored target tokens of the batch, with label smoothing. */
tt_tensor *blip_lm_loss(tt_tensor *logits, tt_tensor *labels, double label_smoothing);

#endif
