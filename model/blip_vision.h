/* blip_vision.h — BLIP's vision tower: a pre-LayerNorm ViT.
 * B = batch, P = patches (+1 CLS), D = hidden. Names as in the HF state dict under "vision_model.". */
#ifndef VLKIT_MODEL_BLIP_VISION_H
#define VLKIT_MODEL_BLIP_VISION_H

#include "model/blip_config.h"
#include "model/blip_layers.h"

typedef struct {
    blip_norm ln1, ln2;      /* layer_norm1, layer_norm2 */
    blip_linear qkv;         /* self_attn.qkv [3D, D]: rows q-block, k-block, v-block */
    blip_linear proj;        /* self_attn.projection [D, D] */
    blip_linear fc1, fc2;    /* mlp.fc1 [I, D], mlp.fc2 [D, I] */
} blip_vision_layer;

typedef struct {
    blip_vision_config cfg;
    tt_tensor *class_embedding;    /* [1, 1, D] */
    tt_tensor *position_embedding; /* [1, P+1, D] */
    tt_tensor *patch_weight;       /* [D, 3, p, p] */
    tt_tensor *patch_bias;         /* [D] */
    blip_vision_layer *layers;     /* cfg.num_hidden_layers */
    blip_norm post_layernorm;
} blip_vision;

/* prefix: "vision_model". Problems are recorded in p (see blip_params_check). */
int blip_vision_build(blip_vision *v, const blip_vision_config *cfg, blip_params *p, const char *prefix);
void blip_vision_release(blip_vision *v);

/* pixels [B, 3, S, S] float32 -> last_hidden_state [B, P+1, D] (after post_layernorm).
 * hidden (optional, num_hidden_layers + 1 entries): input of each layer, then the last layer's
 * output before post_layernorm, as HF's output_hidden_states. Returned handles are new. */
tt_tensor *blip_vision_forward(const blip_vision *v, tt_tensor *pixels, tt_tensor **hidden, int train);
/* Matrix products in dt (TT_BF16 or TT_F32); LayerNorm and softmax stay float32. */
int blip_vision_set_dtype(blip_vision *v, tt_dtype dt);
/* pooler_output: post_layernorm applied again to last_hidden_state[:, 0]. */
tt_tensor *blip_vision_pool(const blip_vision *v, tt_tensor *last_hidden_state);

#endif
