/* blip_captioner.h — everything `vlkit caption` and `vlkit eval` need to turn images into
 * captions: the model, its tokenizer and image processor, batched generation and decoding.
 *
 *   blip_captioner *c = blip_captioner_load("blip-image-captioning-base", NULL);
 *   blip_caption_result r;
 *   blip_captioner_run(c, pixels, n, "a picture of", &gen_params, &r);   // pixels: n x 3 x S x S
 *   puts(r.texts[0]);
 *   blip_caption_result_free(&r);
 */
#ifndef VLKIT_MODEL_BLIP_CAPTIONER_H
#define VLKIT_MODEL_BLIP_CAPTIONER_H

#include "data/preprocess.h"
#include "data/wordpiece.h"
#include "model/blip_caption.h"
#include "model/blip_generate.h"

typedef struct {
    blip_caption *model;
    wordpiece *tokenizer;
    image_preproc_config preproc;
    lora_linears linears; /* the model's Linear layers (adapters attach here) */
} blip_captioner;

/* adapter_dir: a PEFT LoRA adapter folder to apply, or NULL. */
blip_captioner *blip_captioner_load(const char *model_dir, const char *adapter_dir);
void blip_captioner_free(blip_captioner *c);

typedef struct {
    int n;
    char **texts;   /* decoded with skip_special_tokens (the prompt included, as transformers) */
    char **generated; /* only the tokens after the prompt (what BLIP scores: caption[len(prompt):]) */
    int64_t *ids;   /* [n, len] generated ids ([DEC], prompt, caption, [SEP], [PAD]...) */
    int64_t len;
} blip_caption_result;
void blip_caption_result_free(blip_caption_result *r);

/* The decoder prompt transformers' generate() builds from a text prompt: "[CLS] text [SEP]"
 * tokenized, column 0 replaced by [DEC], the last column dropped. NULL/"" prompt: just [DEC].
 * *ids is malloc'd, *len set. */
int blip_captioner_prompt(const blip_captioner *c, const char *prompt, int64_t **ids, int64_t *len);

/* Caption n preprocessed images (float32, NCHW). */
int blip_captioner_run(const blip_captioner *c, const float *pixels, int n, const char *prompt,
                       const blip_gen_params *gp, blip_caption_result *out);

#endif
