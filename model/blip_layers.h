/* blip_layers.h — the building blocks shared by BLIP's towers: Linear (with an optional LoRA
 * branch), LayerNorm, multi-head attention. Shapes: B = batch, T/L = tokens, S = key tokens,
 * D = hidden, H = heads, d = head dim. */
#ifndef VLKIT_MODEL_BLIP_LAYERS_H
#define VLKIT_MODEL_BLIP_LAYERS_H

#include "model/blip_params.h"
#include "shim/tt.h"

/* y = x W^T + b  (+ scale * dropout(x) A^T B^T when a LoRA adapter is attached). Handles are
 * borrowed from blip_params (base) or owned by the adapter (lora_a, lora_b). */
typedef struct {
    tt_tensor *weight;  /* [out, in] */
    tt_tensor *bias;    /* [out] or NULL */
    tt_tensor *lora_a;  /* [r, in] or NULL */
    tt_tensor *lora_b;  /* [out, r] */
    double lora_scale;  /* alpha / r (or alpha / sqrt(r) with rsLoRA) */
    double lora_dropout;
    char *name;         /* state-dict prefix, e.g. "text_decoder.bert.encoder.layer.0.attention.self.query" */
    tt_tensor *weight_lp, *bias_lp; /* owned bf16 copies when the model computes in bf16, else NULL */
    tt_packed_linear *packed; /* weight_lp/bias_lp prepacked for oneDNN (NULL without it) */
    int cast_dt;        /* TT_BF16 when the weights train (fp32 masters, cast in every forward), else TT_F32 */
} blip_linear;

typedef struct {
    tt_tensor *weight, *bias; /* [D] */
    double eps;
} blip_norm;

/* Look the tensors up as "<name>.weight" / "<name>.bias" with the given shapes. */
void blip_linear_require(blip_linear *l, blip_params *p, const char *name, int64_t out, int64_t in, int bias);
void blip_norm_require(blip_norm *n, blip_params *p, const char *name, int64_t dim, double eps);
void blip_linear_release(blip_linear *l); /* frees the name and any LoRA tensors */

/* Output dtype is the compute dtype: float32, or bf16 after blip_linear_set_dtype(l, TT_BF16)
 * (the input is cast as needed). In bf16 the LoRA branch runs in bf16 too, as under
 * torch.autocast: A and B are cast from their float32 masters in each call (so their gradients
 * are float32) and the branch accumulates into the base product (one addmm, scale as alpha). */
tt_tensor *blip_linear_forward(const blip_linear *l, tt_tensor *x, int train);
/* residual + blip_linear_forward(l, x) (float32 with a float32 residual): the sum is made inside
 * the product where l is packed (frozen bf16 weights without an adapter). */
tt_tensor *blip_linear_forward_residual(const blip_linear *l, tt_tensor *x, tt_tensor *residual, int train);
/* gelu(blip_linear_forward(l, x)): inside the product where l is packed. */
tt_tensor *blip_linear_forward_gelu(const blip_linear *l, tt_tensor *x, int train);
/* The dtype the products of l run in (TT_F32 or TT_BF16). */
tt_dtype blip_linear_dtype(const blip_linear *l);
/* For callers that reassociate a linear layer (bf16 cross-attention): its weight and bias (NULL
 * when none) in the compute dtype, and its LoRA parts there: dropout(x) A^T ([..., r]; NULL
 * without an adapter) and scale * B ([out, r]). Handles owned by l or by the current scope:
 * do not free them. */
tt_tensor *blip_linear_weight(const blip_linear *l);
tt_tensor *blip_linear_bias(const blip_linear *l);
tt_tensor *blip_linear_lora_down(const blip_linear *l, tt_tensor *x, int train);
tt_tensor *blip_linear_lora_up(const blip_linear *l);
/* x cast to that dtype (x itself when it has it): cast once, feed several layers. */
tt_tensor *blip_linear_input(const blip_linear *l, tt_tensor *x);
/* TT_BF16: keep bf16 copies of weight and bias for the matrix products; TT_F32: drop them.
 * Weights that require grad (modules_to_save) get no copy: the forward casts the float32
 * masters, so gradients reach them and every step uses their current values. Call again after
 * replacing weight or bias. */
int blip_linear_set_dtype(blip_linear *l, tt_dtype dt);
tt_tensor *blip_norm_forward(const blip_norm *n, tt_tensor *x);
/* A LayerNorm whose only consumer is the linear `next`, in next's compute dtype: bf16 is rounded
 * as the norm writes it (one pass instead of a float32 result and a cast). */
tt_tensor *blip_norm_forward_into(const blip_norm *n, tt_tensor *x, const blip_linear *next);

/* [B, T, H*d] -> [B, H, T, d] and back. */
tt_tensor *blip_split_heads(tt_tensor *x, int heads);
tt_tensor *blip_merge_heads(tt_tensor *x);
/* softmax(q k^T * scale + mask_add) v; q [B,H,L,d], k/v [B,H,S,d], mask_add broadcastable to
 * [B,H,L,S] or NULL. Returns [B,H,L,d]. With bf16 q/k/v the products run in bf16 and the
 * softmax (and mask) in float32 (without a mask or scale, inside libtorch's bf16 softmax, which
 * computes in float32). */
tt_tensor *blip_attention(tt_tensor *q, tt_tensor *k, tt_tensor *v, tt_tensor *mask_add, double scale);
/* The attention weights alone: softmax(q k^T * scale + mask_add) [B,H,L,S], in q's dtype. */
tt_tensor *blip_attention_probs(tt_tensor *q, tt_tensor *k, tt_tensor *mask_add, double scale);

/* snprintf into a static rotating buffer: names built on the fly for require() calls. */
const char *blip_name(const char *fmt, ...);

#endif
