/* blip_retriever.h — what `vlkit index` and `vlkit search` need around BlipForImageTextRetrieval:
 * the model, its tokenizer and image processor; features and match probabilities as host floats.
 *
 *   blip_retriever *r = blip_retriever_load("models/blip-itm-base-coco");
 *   float q[256];
 *   blip_retriever_text_features(r, (const char *[]){"a dog on a beach"}, 1, q);
 *   ...                                   // rank an index with q (model/blip_index.h)
 *   blip_retriever_free(r);
 *
 * Texts are tokenized as transformers' BlipProcessor does ([CLS] ... [SEP], no [ENC]) and cut to
 * the text encoder's max_position_embeddings tokens. Pixels are preprocessed images, float32
 * NCHW (data/preprocess.h, r->preproc). */
#ifndef VLKIT_MODEL_BLIP_RETRIEVER_H
#define VLKIT_MODEL_BLIP_RETRIEVER_H

#include "data/preprocess.h"
#include "data/wordpiece.h"
#include "model/blip_itm.h"

typedef struct {
    blip_itm *model;
    wordpiece *tokenizer;
    image_preproc_config preproc;
    int dim; /* E = image_text_hidden_size */
} blip_retriever;

blip_retriever *blip_retriever_load(const char *model_dir);
void blip_retriever_free(blip_retriever *r);

/* n images -> n unit feature rows of r->dim floats in out. */
int blip_retriever_image_features(const blip_retriever *r, const float *pixels, int n, float *out);
/* n texts -> n unit feature rows of r->dim floats in out. */
int blip_retriever_text_features(const blip_retriever *r, const char *const *texts, int n, float *out);
/* ITM match probability of one image with each of n texts: prob[j] = P(match | image, texts[j]). */
int blip_retriever_match_texts(const blip_retriever *r, const float *pixels, const char *const *texts, int n, float *prob);
/* ITM match probability of one text with each of n images. */
int blip_retriever_match_images(const blip_retriever *r, const char *text, const float *pixels, int n, float *prob);

#endif
