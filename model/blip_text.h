/* blip_text.h — BLIP's text tower: post-LayerNorm BERT with cross-attention to the image in
 * every layer, and the LM head. Used as the captioning/answer decoder (causal) and as the
 * VQA/ITM text encoder (bidirectional). B = batch, L = new tokens, P = cached tokens,
 * S = image (or question) tokens, D = hidden, H = heads, d = head dim, V = vocabulary. */
#ifndef VLKIT_MODEL_BLIP_TEXT_H
#define VLKIT_MODEL_BLIP_TEXT_H

#include "model/blip_config.h"
#include "model/blip_layers.h"

typedef struct {
    blip_linear query, key, value; /* *.self.{query,key,value} */
    blip_linear out;               /* *.output.dense */
    blip_norm ln;                  /* *.output.LayerNorm */
} blip_text_attention;

typedef struct {
    blip_text_attention self;      /* attention */
    blip_text_attention cross;     /* crossattention (key/value take encoder_hidden_size inputs) */
    blip_linear intermediate;      /* intermediate.dense [I, D] */
    blip_linear output;            /* output.dense [D, I] */
    blip_norm output_ln;           /* output.LayerNorm */
} blip_text_layer;

typedef struct {
    blip_text_config cfg;
    tt_tensor *word_embeddings;     /* [V, D] */
    tt_tensor *position_embeddings; /* [max_pos, D] */
    blip_norm embeddings_ln;
    blip_text_layer *layers;
    int has_cross;                  /* the checkpoint has crossattention weights */
    int has_lm_head;
    blip_linear head_transform;     /* cls.predictions.transform.dense [D, D] */
    blip_norm head_ln;              /* cls.predictions.transform.LayerNorm */
    blip_linear head_decoder;       /* cls.predictions.decoder [V, D] + cls.predictions.bias */
} blip_text;

/* bert_prefix: "text_decoder.bert" or "text_encoder"; head_prefix: "text_decoder.cls" or NULL. */
int blip_text_build(blip_text *t, const blip_text_config *cfg, blip_params *p, const char *bert_prefix,
                    const char *head_prefix);
void blip_text_release(blip_text *t);

/* Cross-attention keys/values of an encoder output, per layer, computed once and reused at
 * every decoding step. mask_add: additive [B, 1, 1, S] mask or NULL (all attended).
 * In bf16 the S encoder tokens' products are reassociated (exact in real arithmetic): the key
 * bias is left out (it adds a constant to each query's scores, which softmax ignores), the
 * value bias is added to the attention output (each row of softmax weights sums to 1), and a
 * LoRA adapter on the value is applied as (P t) B_h^T per head with t = dropout(enc) A^T, so
 * no [B, S, D] delta is built, added, or differentiated. */
typedef struct {
    tt_tensor **key, **value; /* [B, H, S, d] per layer */
    tt_tensor *mask_add;
    int n;
    tt_tensor **value_bias;   /* [D] per layer, added after the attention; NULL: inside value */
    tt_tensor **value_down;   /* [B, S, r] per layer: dropout(enc) A^T of the value adapter, or NULL */
    tt_tensor **value_up;     /* [H, r, d] per layer: scale * B per head (with value_down) */
    int64_t group;            /* decoder rows per encoder row (beams sharing one image); 0 or 1: one */
    /* Inference without a mask or a separate value adapter: per layer, key and value packed
     * once for the fused kernel ([B, H, bytes], tt_attention_pack; key/value are then freed),
     * read at every decoding step. NULL otherwise (and where the kernel does not apply). */
    tt_tensor **packed;
    int64_t keys;             /* S, with packed or image_packed */
    /* bf16 inference with few query rows per image (greedy captions, ITM): the key and value
     * projections folded into the queries and the context instead of applied to the S encoder
     * tokens. Per head h, q k_j = (q W_k,h) x_j + q b_k,h, where the second term is the same for
     * every key (softmax ignores it), and sum_j p_j v_j = W_v,h (sum_j p_j x_j) + b_v,h: one
     * attention head E = encoder_hidden_size wide over the encoder tokens x themselves, with
     * each of the H heads' queries a row of it. Costs 4 H E (S + d) per query row instead of
     * 4 S E D per image (the projections) + 4 S D per row: pays below ~D / H rows per image.
     * Then key/value/packed are NULL; value_bias holds b_v. */
    tt_tensor *image_packed;  /* [B, 1, bytes]: x packed once as keys and values (tt_attention_pack) */
    tt_tensor **key_weight;   /* [D, E] per layer: W_k (the layer's own weight) */
    tt_tensor **value_weight; /* [D, E] per layer: W_v */
} blip_cross_kv;
/* query_rows: decoder rows each encoder row will serve over the life of the result (a caption's
 * beams times its tokens), 0 when unknown; it picks the cheaper form for inference. */
int blip_text_cross_kv(const blip_text *t, tt_tensor *encoder_states, tt_tensor *encoder_mask, blip_cross_kv *out,
                       int train, int64_t query_rows);
void blip_cross_kv_free(blip_cross_kv *c);
/* Reorder / repeat the rows (beam search): rows = index [B'] (i64) into the batch. */
int blip_cross_kv_select(blip_cross_kv *c, tt_tensor *rows);
/* Beam search: serve `group` consecutive decoder rows (an image's beams) from each encoder row.
 * Packed keys/values and bf16 keep one copy per image and stack its beams' queries as extra rows
 * of one product (the keys and values are read once per step instead of once per beam); the
 * float32 ATen path repeats the rows, as transformers does. */
int blip_cross_kv_repeat(blip_cross_kv *c, int64_t group);

/* Self-attention key/value cache for incremental decoding. */
typedef struct {
    tt_tensor **key, **value; /* [B, H, P, d] per layer, NULL before the first step */
    int n;
    int64_t len;              /* P */
} blip_kv_cache;
int blip_kv_cache_init(blip_kv_cache *c, int layers);
void blip_kv_cache_free(blip_kv_cache *c);
int blip_kv_cache_select(blip_kv_cache *c, tt_tensor *rows);

typedef struct {
    tt_tensor *input_ids;      /* [B, L] i64 */
    const int64_t *attn_mask;  /* [B, P + L] 0/1 on the host, or NULL (all ones) */
    int causal;                /* decoder: causal + padding mask; encoder: padding only */
    const blip_cross_kv *cross; /* NULL: no cross-attention (ITM's contrastive mode) */
    blip_kv_cache *cache;      /* NULL: no cache; else attends to and appends the cache */
    tt_tensor **hidden;        /* optional: num_hidden_layers + 1 outputs (embeddings, each layer) */
    int train;
} blip_text_args;

/* Last hidden state [B, L, D] (new handle). */
tt_tensor *blip_text_forward(const blip_text *t, const blip_text_args *a);
/* Matrix products in dt (TT_BF16 or TT_F32); LayerNorm, softmax and logits stay float32. */
int blip_text_set_dtype(blip_text *t, tt_dtype dt);
/* LM head: [B, L, D] -> logits [B, L, V] (float32). */
tt_tensor *blip_text_lm_head(const blip_text *t, tt_tensor *hidden, int train);

#endif
