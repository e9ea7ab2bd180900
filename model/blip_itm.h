/* blip_itm.h — BlipForImageTextRetrieval: vision tower, bidirectional text encoder, the
 * contrastive projections (vision_proj, text_proj) and the image-text matching head (itm_head).
 *
 *   blip_itm *m = blip_itm_load("path/to/blip-itm-base-coco");
 *   tt_tensor *img = blip_itm_image_embeds(m, pixels);                        // [Bi, S, Dv]
 *   tt_tensor *fi = blip_itm_image_features(m, img);                          // [Bi, E], unit rows
 *   tt_tensor *ft = blip_itm_text_features(m, ids, mask, NULL);               // [Bt, E], unit rows
 *   tt_tensor *cos = blip_itm_cosine(fi, ft);                                 // [Bi, Bt]
 *   tt_tensor *logits = blip_itm_logits(m, img, ids, mask, NULL);             // [B, 2] (pairs row by row)
 *   tt_tensor *p = blip_itm_match_prob(logits);                               // [B] softmax(logits)[:, 1]
 *   ...tt_free each...; blip_itm_free(m);
 *
 * B = batch, S = image tokens (patches + CLS), L = text tokens, Dv / D = vision / text hidden,
 * E = image_text_hidden_size. As transformers: the text starts with the tokenizer's [CLS] (no
 * [ENC] substitution), the image attention mask is all ones, normalisation is F.normalize
 * (x / max(|x|, 1e-12)). Every function returns a new handle (float32), or NULL + vk_err. */
#ifndef VLKIT_MODEL_BLIP_ITM_H
#define VLKIT_MODEL_BLIP_ITM_H

#include "model/blip_config.h"
#include "model/blip_params.h"
#include "model/blip_text.h"
#include "model/blip_vision.h"

typedef struct {
    blip_config cfg;
    blip_params *params;     /* owns the base weights */
    blip_vision vision;      /* "vision_model" */
    blip_text text;          /* "text_encoder" (no LM head) */
    blip_linear vision_proj; /* [E, Dv] */
    blip_linear text_proj;   /* [E, D] */
    blip_linear itm_head;    /* [2, D] */
    char *dir;
} blip_itm;

/* An HF folder of a BlipForImageTextRetrieval checkpoint (another architecture is refused by
 * name). NULL + vk_err (naming the file) on failure. */
blip_itm *blip_itm_load(const char *dir);
void blip_itm_free(blip_itm *m);
/* Matrix products in TT_F32 (reference) or TT_BF16; LayerNorm, softmax and outputs stay float32. */
int blip_itm_set_dtype(blip_itm *m, tt_dtype dt);

/* pixels [B, 3, H, W] float32 -> image_embeds [B, S, Dv] (the vision tower's last_hidden_state). */
tt_tensor *blip_itm_image_embeds(const blip_itm *m, tt_tensor *pixels);
/* normalize(vision_proj(image_embeds[:, 0])) [B, E]. */
tt_tensor *blip_itm_image_features(const blip_itm *m, tt_tensor *image_embeds);

/* Contrastive mode: the text encoder WITHOUT cross-attention. input_ids [B, L] i64; mask [B, L]
 * 0/1 on the host (NULL: all ones). text_embeds (optional) receives the encoder output [B, L, D].
 * Returns normalize(text_proj(out[:, 0])) [B, E]. */
tt_tensor *blip_itm_text_features(const blip_itm *m, tt_tensor *input_ids, const int64_t *mask, tt_tensor **text_embeds);

/* Matching mode: text row b cross-attends to image row b (image_embeds [B, S, Dv] with the same B,
 * or one image [1, S, Dv] shared by every text). Returns itm_head(out[:, 0]) [B, 2];
 * text_embeds (optional) receives the encoder output [B, L, D]. */
tt_tensor *blip_itm_logits(const blip_itm *m, tt_tensor *image_embeds, tt_tensor *input_ids, const int64_t *mask,
                           tt_tensor **text_embeds);
/* softmax(logits, -1)[:, 1]: [B] probability that text and image match. */
tt_tensor *blip_itm_match_prob(tt_tensor *logits);

/* F.normalize(x, dim=-1, eps=1e-12), float32. */
tt_tensor *blip_l2_normalize(tt_tensor *x);
/* a [N, E] @ b [M, E]^T -> [N, M] (cosine similarities of unit rows). */
tt_tensor *blip_itm_cosine(tt_tensor *a, tt_tensor *b);

#endif
