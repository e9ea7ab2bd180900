/* blip_layout.h — the tensors (names as in the HF state dict, shapes, initialisation) that a
 * BLIP checkpoint of a given config and architecture holds, in the form save_pretrained writes
 * them (no cls.predictions.decoder.bias, no position_ids buffers). Used by `vlkit init` and
 * checked against the real checkpoints' key lists (shared/spec). */
#ifndef VLKIT_MODEL_BLIP_LAYOUT_H
#define VLKIT_MODEL_BLIP_LAYOUT_H

#include "model/blip_config.h"

#include <stdint.h>

typedef enum { BLIP_INIT_NORMAL, BLIP_INIT_ZEROS, BLIP_INIT_ONES } blip_init_kind;

typedef struct {
    char name[128];
    int ndim;
    int64_t shape[4];
    blip_init_kind init; /* HF _init_weights: Linear/Conv/Embedding N(0, initializer_range), bias 0, LayerNorm 1/0 */
} blip_tensor_spec;

/* All tensors of cfg->arch (BLIP_ARCH_UNKNOWN counts as captioning). *out is malloc'd.
 * Returns the count, or -1 with vk_err set. */
int blip_layout(const blip_config *cfg, blip_tensor_spec **out);

#endif
