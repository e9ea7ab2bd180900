#include "model/blip_text.h"

#include "util/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* BERT's additive mask value for self-attention (HF: (1 - mask) * -10000.0). */
#define SELF_MASK_VALUE (-10000.0)
/* Cross-attention uses invert_attention_mask: (1 - mask) * finfo(float32).min. */
#define CROSS_MASK_VALUE (-3.4028234663852886e38)

static void attention_require(blip_text_attention *a, blip_params *p, const char *name, int64_t D, int64_t Dkv,
                              double eps) {
    char base[512];
    snprintf(base, sizeof base, "%s", name);
    blip_linear_require(&a->query, p, blip_name("%s.self.query", base), D, D, 1);
    blip_linear_require(&a->key, p, blip_name("%s.self.key", base), D, Dkv, 1);
    blip_linear_require(&a->value, p, blip_name("%s.self.value", base), D, Dkv, 1);
    blip_linear_require(&a->out, p, blip_name("%s.output.dense", base), D, D, 1);
    blip_norm_require(&a->ln, p, blip_name("%s.output.LayerNorm", base), D, eps);
}

static void attention_release(blip_text_attention *a) {
    blip_linear_release(&a->query);
    blip_linear_release(&a->key);
    blip_linear_release(&a->value);
    blip_linear_release(&a->out);
}

int blip_text_build(blip_text *t, const blip_text_config *cfg, blip_params *p, const char *bert_prefix,
                    const char *head_prefix) {
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    int64_t D = cfg->hidden_size, I = cfg->intermediate_size, V = cfg->vocab_size;
    double eps = cfg->layer_norm_eps;
    t->word_embeddings =
        blip_params_require(p, blip_name("%s.embeddings.word_embeddings.weight", bert_prefix), 2, (int64_t[]){V, D});
    t->position_embeddings = blip_params_require(p, blip_name("%s.embeddings.position_embeddings.weight", bert_prefix), 2,
                                                 (int64_t[]){cfg->max_position_embeddings, D});
    blip_norm_require(&t->embeddings_ln, p, blip_name("%s.embeddings.LayerNorm", bert_prefix), D, eps);
    t->layers = calloc((size_t)cfg->num_hidden_layers + 1, sizeof *t->layers);
    if (!t->layers) return vk_err_set("out of memory");
    t->has_cross = blip_params_find(p, blip_name("%s.encoder.layer.0.crossattention.self.query.weight", bert_prefix)) != NULL;
    for (int i = 0; i < cfg->num_hidden_layers; i++) {
        blip_text_layer *L = &t->layers[i];
        char base[256];
        snprintf(base, sizeof base, "%s.encoder.layer.%d", bert_prefix, i);
        attention_require(&L->self, p, blip_name("%s.attention", base), D, D, eps);
        if (t->has_cross)
            attention_require(&L->cross, p, blip_name("%s.crossattention", base), D, cfg->encoder_hidden_size, eps);
        blip_linear_require(&L->intermediate, p, blip_name("%s.intermediate.dense", base), I, D, 1);
        blip_linear_require(&L->output, p, blip_name("%s.output.dense", base), D, I, 1);
        blip_norm_require(&L->output_ln, p, blip_name("%s.output.LayerNorm", base), D, eps);
    }
    if (head_prefix) {
        t->has_lm_head = 1;
        blip_linear_require(&t->head_transform, p, blip_name("%s.predictions.transform.dense", head_prefix), D, D, 1);
        blip_norm_require(&t->head_ln, p, blip_name("%s.predictions.transform.LayerNorm", head_prefix), D, eps);
        t->head_decoder.name = strdup(blip_name("%s.predictions.decoder", head_prefix));
        /* decoder.weight falls back to the word embeddings (files that dedupe tied tensors);
         * decoder.bias is the same Parameter as predictions.bias and may appear under either name. */
        const char *wname = blip_name("%s.predictions.decoder.weight", head_prefix);
        t->head_decoder.weight = blip_params_find(p, wname) ? blip_params_require(p, wname, 2, (int64_t[]){V, D})
                                                            : t->word_embeddings;
        const char *bname = blip_name("%s.predictions.bias", head_prefix);
        const char *alias = blip_name("%s.predictions.decoder.bias", head_prefix);
        tt_tensor *b = blip_params_find(p, bname);
        tt_tensor *b2 = blip_params_find(p, alias);
        t->head_decoder.bias = blip_params_require(p, b || !b2 ? bname : alias, 1, (int64_t[]){V});
    }
    return 0;
}

void blip_text_release(blip_text *t) {
    if (t->layers) {
        for (int i = 0; i < t->cfg.num_hidden_layers; i++) {
            attention_release(&t->layers[i].self);
            if (t->has_cross) attention_release(&t->layers[i].cross);
            blip_linear_release(&t->layers[i].intermediate);
            blip_linear_release(&t->layers[i].output);
        }
        free(t->layers);
        t->layers = NULL;
    }
    if (t->has_lm_head) {
        blip_linear_release(&t->head_transform);
        blip_linear_release(&t->head_decoder);
    }
}

/* ---- caches ----------------------------------------------------------------------------- */

static int alloc_pairs(tt_tensor ***k, tt_tensor ***v, int n) {
    *k = calloc((size_t)n + 1, sizeof **k);
    *v = calloc((size_t)n + 1, sizeof **v);
    if (!*k || !*v) {
        free(*k);
        free(*v);
        *k = *v = NULL;
        return vk_err_set("out of memory");
    }
    return 0;
}

static void free_pairs(tt_tensor **k, tt_tensor **v, int n) {
    for (int i = 0; k && v && i < n; i++) {
        tt_free(k[i]);
        tt_free(v[i]);
    }
    free(k);
    free(v);
}

/* Replace every handle in arr by arr[i][rows] (index_select on dim 0). */
static int select_rows(tt_tensor **arr, int n, tt_tensor *rows) {
    for (int i = 0; i < n; i++) {
        if (!arr[i]) continue;
        tt_tensor *s = tt_index_select(arr[i], 0, rows);
        if (!s) return vk_err_set("cache reorder: %s", tt_last_error());
        tt_free(arr[i]);
        arr[i] = tt_persist(s);
    }
    return 0;
}

/* bf16: the reassociated form (see blip_text.h); keys and values as [B, H, S, d] views of the
 * projections (packed from there, or made contiguous for ATen's products: blip_text_cross_kv).
 * fp32 keeps the plain form and its exact results. */
static int cross_kv_lowp(const blip_text *t, tt_tensor *enc, blip_cross_kv *out, int train) {
    int n = t->cfg.num_hidden_layers, H = t->cfg.num_attention_heads;
    int64_t D = t->cfg.hidden_size;
    if (alloc_pairs(&out->value_down, &out->value_up, n)) return -1;
    out->value_bias = calloc((size_t)n + 1, sizeof *out->value_bias);
    if (!out->value_bias) return vk_err_set("out of memory");
    for (int i = 0; i < n; i++) {
        const blip_text_attention *c = &t->layers[i].cross;
        tt_tensor *k = tt_linear(enc, blip_linear_weight(&c->key), NULL);
        if (c->key.lora_a)
            k = tt_linear_acc(k, blip_linear_lora_down(&c->key, enc, train), blip_linear_lora_up(&c->key), 1.0);
        tt_tensor *v = tt_linear(enc, blip_linear_weight(&c->value), NULL);
        out->key[i] = tt_persist(blip_split_heads(k, H));
        out->value[i] = tt_persist(blip_split_heads(v, H));
        tt_tensor *vb = blip_linear_bias(&c->value);
        out->value_bias[i] = vb ? tt_persist(tt_shallow_clone(vb)) : NULL;
        if (!out->key[i] || !out->value[i] || (c->value.bias && !vb))
            return vk_err_set("cross-attention keys/values: %s", tt_last_error());
        if (c->value.lora_a) {
            int64_t r = tt_size(c->value.lora_a, 0);
            tt_tensor *up = tt_view(blip_linear_lora_up(&c->value), (int64_t[]){H, D / H, r}, 3);
            out->value_down[i] = tt_persist(blip_linear_lora_down(&c->value, enc, train));
            out->value_up[i] = tt_persist(tt_transpose(up, 1, 2));
            if (!out->value_down[i] || !out->value_up[i])
                return vk_err_set("cross-attention value adapter: %s", tt_last_error());
        }
    }
    return 0;
}

/* Replace every handle in arr by a contiguous copy. The bf16 keys/values that ATen's batched
 * products read (not packed): from the [B, S, H, d] view every product would first gather k^T
 * element by element (~4x the time of the product on this CPU); contiguous [B, H, S, d] is a
 * cheap copy of d-long runs. */
static int make_contiguous(tt_tensor **arr, int n) {
    for (int i = 0; i < n; i++) {
        tt_tensor *c = tt_contiguous(arr[i]);
        if (!c) return vk_err_set("cross-attention keys/values: %s", tt_last_error());
        tt_free(arr[i]);
        arr[i] = tt_persist(c);
    }
    return 0;
}

/* A layer's value adapter kept apart from its values (the bf16 form): the kernel has no place for it. */
static int value_adapter_apart(const blip_cross_kv *c) {
    for (int i = 0; c->value_down && i < c->n; i++)
        if (c->value_down[i]) return 1;
    return 0;
}

/* Pack every layer's keys and values for tt_attention_packed and drop the plain copies; leaves
 * them as they are where the kernel does not apply. */
static int pack_cross_kv(blip_cross_kv *c) {
    tt_tensor **packed = calloc((size_t)c->n + 1, sizeof *packed);
    if (!packed) return vk_err_set("out of memory");
    for (int i = 0; i < c->n; i++) {
        tt_clear_error();
        packed[i] = tt_persist(tt_attention_pack(c->key[i], c->value[i]));
        if (!packed[i]) {
            int failed = tt_last_error()[0] != 0;
            for (int j = 0; j < i; j++) tt_free(packed[j]);
            free(packed);
            return failed ? vk_err_set("cross-attention keys/values: %s", tt_last_error()) : 0;
        }
    }
    c->keys = tt_size(c->key[0], 2);
    for (int i = 0; i < c->n; i++) {
        tt_free(c->key[i]);
        tt_free(c->value[i]);
        c->key[i] = c->value[i] = NULL;
    }
    c->packed = packed;
    return 0;
}

/* The folded form (blip_text.h) pays for itself and applies: bf16 inference without a mask or
 * an adapter on the keys/values, few query rows per image. */
static int folding_pays(const blip_text *t, tt_tensor *enc, int64_t rows) {
    const blip_text_config *cfg = &t->cfg;
    double H = cfg->num_attention_heads, D = cfg->hidden_size, d = D / H, E = cfg->encoder_hidden_size;
    double S = (double)tt_size(enc, 1);
    if (rows <= 0 || rows * H * E * (S + d) >= S * E * D + rows * S * D) return 0;
    for (int i = 0; i < cfg->num_hidden_layers; i++) {
        const blip_text_attention *c = &t->layers[i].cross;
        if (blip_linear_dtype(&c->key) != TT_BF16 || c->key.lora_a || c->value.lora_a) return 0;
    }
    return 1;
}

/* enc (bf16, [B, S, E]) packed as one head's keys and values; per layer the heads' slices of
 * W_k and W_v^T. Returns 1 where the kernel does not apply (nothing set). */
static int cross_kv_folded(const blip_text *t, tt_tensor *enc, blip_cross_kv *out) {
    int n = t->cfg.num_hidden_layers;
    int64_t E = t->cfg.encoder_hidden_size, B = tt_size(enc, 0), S = tt_size(enc, 1);
    tt_clear_error();
    tt_tensor *x = tt_view(enc, (int64_t[]){B, 1, S, E}, 4);
    tt_tensor *packed = x ? tt_attention_pack(x, x) : NULL;
    if (!packed) return tt_last_error()[0] ? vk_err_set("cross-attention image tokens: %s", tt_last_error()) : 1;
    out->image_packed = tt_persist(packed);
    out->keys = S;
    out->value_bias = calloc((size_t)n + 1, sizeof *out->value_bias);
    if (!out->value_bias || alloc_pairs(&out->key_weight, &out->value_weight, n)) return vk_err_set("out of memory");
    for (int i = 0; i < n; i++) {
        const blip_text_attention *c = &t->layers[i].cross;
        out->key_weight[i] = tt_persist(tt_shallow_clone(blip_linear_weight(&c->key)));
        out->value_weight[i] = tt_persist(tt_shallow_clone(blip_linear_weight(&c->value)));
        tt_tensor *vb = blip_linear_bias(&c->value);
        out->value_bias[i] = vb ? tt_persist(tt_shallow_clone(vb)) : NULL;
        if (!out->key_weight[i] || !out->value_weight[i] || (c->value.bias && !vb))
            return vk_err_set("cross-attention projections: %s", tt_last_error());
    }
    return 0;
}

int blip_text_cross_kv(const blip_text *t, tt_tensor *enc, tt_tensor *encoder_mask, blip_cross_kv *out, int train,
                       int64_t query_rows) {
    memset(out, 0, sizeof *out);
    if (!t->has_cross) return vk_err_set("this text tower has no cross-attention weights");
    int n = t->cfg.num_hidden_layers, H = t->cfg.num_attention_heads;
    out->n = n;
    tt_scope_begin();
    enc = blip_linear_input(&t->layers[0].cross.key, enc); /* once for the 2 x layers products */
    int inference = !encoder_mask && !train && !tt_is_grad_enabled(); /* the fused forms apply */
    if (inference && enc && folding_pays(t, enc, query_rows)) {
        int rc = cross_kv_folded(t, enc, out); /* 1: the kernel does not apply, nothing set */
        if (rc <= 0) {
            tt_scope_end();
            if (rc) blip_cross_kv_free(out);
            return rc;
        }
    }
    if (alloc_pairs(&out->key, &out->value, n)) {
        tt_scope_end();
        return -1;
    }
    int rc = 0;
    if (blip_linear_dtype(&t->layers[0].cross.key) != TT_F32) {
        rc = cross_kv_lowp(t, enc, out, train);
    } else {
        for (int i = 0; i < n; i++) {
            const blip_text_attention *c = &t->layers[i].cross;
            out->key[i] = tt_persist(blip_split_heads(blip_linear_forward(&c->key, enc, train), H));
            out->value[i] = tt_persist(blip_split_heads(blip_linear_forward(&c->value, enc, train), H));
        }
    }
    if (!rc && inference && !value_adapter_apart(out)) rc = pack_cross_kv(out);
    if (!rc && !out->packed && out->value_bias && (make_contiguous(out->key, n) || make_contiguous(out->value, n))) rc = -1;
    if (encoder_mask && !rc) {
        /* [B, S] 0/1 -> (1 - m) * finfo.min as [B, 1, 1, S] */
        tt_tensor *m = tt_to_dtype(encoder_mask, TT_F32);
        tt_tensor *inv = tt_mul_scalar(tt_sub_scalar(tt_neg(m), -1.0), CROSS_MASK_VALUE);
        out->mask_add = tt_persist(tt_unsqueeze(tt_unsqueeze(inv, 1), 1));
    }
    tt_scope_end();
    for (int i = 0; i < n && !rc; i++)
        if ((!out->packed && (!out->key[i] || !out->value[i])) || (encoder_mask && !out->mask_add))
            rc = vk_err_set("cross-attention keys/values: %s", tt_last_error());
    if (rc) blip_cross_kv_free(out);
    return rc;
}

void blip_cross_kv_free(blip_cross_kv *c) {
    free_pairs(c->key, c->value, c->n);
    free_pairs(c->key_weight, c->value_weight, c->n);
    tt_free(c->image_packed);
    free_pairs(c->value_down, c->value_up, c->n);
    for (int i = 0; c->packed && i < c->n; i++) tt_free(c->packed[i]);
    free(c->packed);
    for (int i = 0; c->value_bias && i < c->n; i++) tt_free(c->value_bias[i]);
    free(c->value_bias);
    tt_free(c->mask_add);
    memset(c, 0, sizeof *c);
}

int blip_cross_kv_select(blip_cross_kv *c, tt_tensor *rows) {
    if (select_rows(c->key, c->n, rows) || select_rows(c->value, c->n, rows)) return -1;
    if (c->value_down && select_rows(c->value_down, c->n, rows)) return -1;
    if (c->packed && select_rows(c->packed, c->n, rows)) return -1;
    if (c->image_packed && select_rows(&c->image_packed, 1, rows)) return -1;
    return c->mask_add ? select_rows(&c->mask_add, 1, rows) : 0;
}

int blip_cross_kv_repeat(blip_cross_kv *c, int64_t group) {
    if (group <= 1) return 0;
    if (c->value_bias || c->packed || c->image_packed) { /* the bf16 forms, or one packed copy per image */
        c->group = group;
        return 0;
    }
    int64_t B = tt_size(c->key[0], 0), R = B * group;
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)R);
    if (!rows) return vk_err_set("out of memory");
    for (int64_t r = 0; r < R; r++) rows[r] = r / group;
    tt_tensor *idx = tt_from_data(rows, (int64_t[]){R}, 1, TT_I64);
    free(rows);
    int rc = idx ? blip_cross_kv_select(c, idx) : vk_err_set("cross-attention rows: %s", tt_last_error());
    tt_free(idx);
    return rc;
}

int blip_kv_cache_init(blip_kv_cache *c, int layers) {
    memset(c, 0, sizeof *c);
    if (alloc_pairs(&c->key, &c->value, layers)) return -1;
    c->n = layers;
    return 0;
}

void blip_kv_cache_free(blip_kv_cache *c) {
    free_pairs(c->key, c->value, c->n);
    memset(c, 0, sizeof *c);
}

int blip_kv_cache_select(blip_kv_cache *c, tt_tensor *rows) {
    return select_rows(c->key, c->n, rows) || select_rows(c->value, c->n, rows) ? -1 : 0;
}

/* ---- forward ---------------------------------------------------------------------------- */

/* Additive self-attention mask [B, 1, L, P+L]: causal (decoder) times padding, then
 * (1 - m) * -10000 as HF's get_extended_attention_mask. NULL when nothing is masked. */
static tt_tensor *self_mask(const blip_text_args *a, int64_t B, int64_t L, int64_t P) {
    int64_t S = P + L;
    int any = 0;
    float *m = malloc(sizeof(float) * (size_t)(B * L * S));
    if (!m) return NULL;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < L; i++)
            for (int64_t j = 0; j < S; j++) {
                int visible = (!a->causal || j <= P + i) && (!a->attn_mask || a->attn_mask[b * S + j] != 0);
                m[(b * L + i) * S + j] = visible ? 0.0f : (float)SELF_MASK_VALUE;
                any |= !visible;
            }
    tt_tensor *t = any ? tt_from_data(m, (int64_t[]){B, 1, L, S}, 4, TT_F32) : NULL;
    free(m);
    return t;
}

/* merged [B, L, H*d]; ctx_bias [D] or NULL (the cross-attention value bias in bf16) */
static tt_tensor *attention_output(const blip_text_attention *at, tt_tensor *merged, tt_tensor *ctx_bias,
                                   tt_tensor *residual, int train) {
    if (ctx_bias) merged = tt_add(merged, ctx_bias);
    return blip_norm_forward(&at->ln, blip_linear_forward_residual(&at->out, merged, residual, train));
}

/* x viewed as in[5], axes 1 and 2 swapped, reshaped to out[4]: the beam axis moved. */
static tt_tensor *move_beam_axis(tt_tensor *x, const int64_t in[5], const int64_t out[4]) {
    return tt_reshape(tt_permute(tt_view(x, in, 5), (int64_t[]){0, 2, 1, 3, 4}, 5), out, 4);
}

static tt_tensor *cross_attention_rows(const blip_cross_kv *c, int i, tt_tensor *q) {
    if (!c->value_down || !c->value_down[i]) return blip_attention(q, c->key[i], c->value[i], c->mask_add, 1.0);
    tt_tensor *p = blip_attention_probs(q, c->key[i], c->mask_add, 1.0);
    int64_t shape[4];
    if (tt_shape(p, shape, 4) != 4) return NULL;
    int64_t B = shape[0], H = shape[1], L = shape[2], S = shape[3], r = tt_size(c->value_down[i], -1);
    /* [B, H*L, S] @ [B, S, r]: one batched product for all heads */
    tt_tensor *pt = tt_view(tt_bmm(tt_reshape(p, (int64_t[]){B, H * L, S}, 3), c->value_down[i]), (int64_t[]){B, H, L, r}, 4);
    return tt_add(tt_matmul(p, c->value[i]), tt_matmul(pt, c->value_up[i]));
}

/* softmax(q K^T + mask) V, plus (P t) B_h^T when the value adapter was kept apart. With beams
 * sharing their image's keys/values (group G), q [B*G, H, L, d] goes in as [B, H, G*L, d]: the
 * G beams of an image are extra query rows of its product. */
static tt_tensor *cross_attention(const blip_cross_kv *c, int i, tt_tensor *q) {
    int64_t G = c->group, s[4];
    if (G <= 1) return cross_attention_rows(c, i, q);
    if (tt_shape(q, s, 4) != 4) return NULL;
    int64_t B = s[0] / G, H = s[1], L = s[2], d = s[3];
    tt_tensor *stacked = move_beam_axis(q, (int64_t[]){B, G, H, L, d}, (int64_t[]){B, H, G * L, d});
    return move_beam_axis(cross_attention_rows(c, i, stacked), (int64_t[]){B, H, G, L, d}, (int64_t[]){B * G, H, L, d});
}

/* The folded form (blip_text.h): q [B*G, L, D] -> context [B*G, L, D], value bias included. */
static tt_tensor *cross_attention_folded(const blip_cross_kv *c, int i, tt_tensor *q, int heads, double scale) {
    int64_t s[3];
    if (tt_shape(q, s, 3) != 3) return NULL;
    int64_t B = tt_size(c->image_packed, 0), E = tt_size(c->key_weight[i], 1);
    /* each image's rows x heads are the query rows of one E-wide head over its tokens */
    tt_tensor *qx = tt_heads_expand(q, c->key_weight[i], heads); /* [B*G, L, H, E] */
    tt_tensor *ctx = tt_attention_packed(tt_view(qx, (int64_t[]){B, 1, -1, E}, 4), c->image_packed, c->keys, scale);
    ctx = tt_view(ctx, (int64_t[]){s[0], s[1], heads, E}, 4);
    return tt_heads_reduce(ctx, c->value_weight[i], c->value_bias[i]);
}

tt_tensor *blip_text_forward(const blip_text *t, const blip_text_args *a) {
    int H = t->cfg.num_attention_heads;
    int64_t shape[2];
    if (tt_shape(a->input_ids, shape, 2) != 2) {
        vk_err_set("text forward: input_ids must be [batch, tokens]");
        return NULL;
    }
    int64_t B = shape[0], L = shape[1], P = a->cache ? a->cache->len : 0;
    if (P + L > t->cfg.max_position_embeddings) {
        vk_err_set("text forward: %lld tokens exceed max_position_embeddings %d", (long long)(P + L),
                   t->cfg.max_position_embeddings);
        return NULL;
    }
    double scale = 1.0 / sqrt((double)(t->cfg.hidden_size / H));
    tt_scope_begin();
    /* absolute positions continue after the cache; they ignore padding (HF does the same).
     * The word embedding's padding_idx is pad_token_id, as in BlipTextEmbeddings. */
    tt_tensor *pos = tt_narrow(t->position_embeddings, 0, P, L);
    tt_tensor *x = blip_norm_forward(&t->embeddings_ln, tt_add(tt_embedding(t->word_embeddings, a->input_ids, t->cfg.pad_token_id), pos));
    tt_tensor *mask = self_mask(a, B, L, P);
    for (int i = 0; i < t->cfg.num_hidden_layers; i++) {
        const blip_text_layer *ly = &t->layers[i];
        if (a->hidden) a->hidden[i] = tt_keep(tt_shallow_clone(x));
        /* self-attention; x cast once for the three products */
        tt_tensor *xc = blip_linear_input(&ly->self.query, x);
        tt_tensor *q = blip_split_heads(blip_linear_forward(&ly->self.query, xc, a->train), H);
        tt_tensor *k = blip_split_heads(blip_linear_forward(&ly->self.key, xc, a->train), H);
        tt_tensor *v = blip_split_heads(blip_linear_forward(&ly->self.value, xc, a->train), H);
        if (a->cache) {
            if (a->cache->key[i]) {
                tt_tensor *kk[2] = {a->cache->key[i], k}, *vv[2] = {a->cache->value[i], v};
                k = tt_cat(kk, 2, 2);
                v = tt_cat(vv, 2, 2);
            }
            tt_free(a->cache->key[i]);
            tt_free(a->cache->value[i]);
            a->cache->key[i] = tt_persist(tt_shallow_clone(k));
            a->cache->value[i] = tt_persist(tt_shallow_clone(v));
        }
        /* unmasked (decoding steps, unpadded encoder input): the fused kernel where it applies;
         * masked: the scale folded into q */
        tt_tensor *ctx = mask ? blip_merge_heads(blip_attention(tt_mul_scalar(q, scale), k, v, mask, 1.0)) : tt_attention(q, k, v, scale);
        x = attention_output(&ly->self, ctx, NULL, x, a->train);
        if (a->cross) {
            const blip_cross_kv *c = a->cross;
            tt_tensor *cq = blip_linear_forward(&ly->cross.query, x, a->train);
            if (c->image_packed)
                ctx = cross_attention_folded(c, i, cq, H, scale);
            else if (c->packed)
                ctx = tt_attention_packed(blip_split_heads(cq, H), c->packed[i], c->keys, scale);
            else
                ctx = blip_merge_heads(cross_attention(c, i, tt_mul_scalar(blip_split_heads(cq, H), scale)));
            x = attention_output(&ly->cross, ctx, c->value_bias && !c->image_packed ? c->value_bias[i] : NULL, x, a->train);
        }
        tt_tensor *h = blip_linear_forward_gelu(&ly->intermediate, x, a->train);
        x = blip_norm_forward(&ly->output_ln, blip_linear_forward_residual(&ly->output, h, x, a->train));
    }
    if (a->hidden) a->hidden[t->cfg.num_hidden_layers] = tt_keep(tt_shallow_clone(x));
    tt_tensor *out = tt_keep(x);
    tt_scope_end();
    if (a->cache) a->cache->len = P + L;
    if (!out) vk_err_set("text forward: %s", tt_last_error());
    return out;
}

tt_tensor *blip_text_lm_head(const blip_text *t, tt_tensor *hidden, int train) {
    tt_scope_begin();
    tt_tensor *h = tt_gelu(blip_linear_forward(&t->head_transform, hidden, train));
    tt_tensor *logits = blip_linear_forward(&t->head_decoder, blip_norm_forward(&t->head_ln, h), train);
    if (tt_dtype_of(logits) != TT_F32) logits = tt_to_dtype(logits, TT_F32);
    logits = tt_keep(logits);
    tt_scope_end();
    if (!logits) vk_err_set("LM head: %s", tt_last_error());
    return logits;
}

int blip_text_set_dtype(blip_text *t, tt_dtype dt) {
    int rc = 0;
    for (int i = 0; i < t->cfg.num_hidden_layers; i++) {
        blip_text_layer *L = &t->layers[i];
        blip_linear *ls[] = {&L->self.query,  &L->self.key,   &L->self.value,   &L->self.out,    &L->cross.query,
                             &L->cross.key,   &L->cross.value, &L->cross.out,   &L->intermediate, &L->output};
        for (size_t k = 0; k < sizeof ls / sizeof ls[0]; k++)
            if (ls[k]->weight && blip_linear_set_dtype(ls[k], dt)) rc = -1;
    }
    if (t->has_lm_head && (blip_linear_set_dtype(&t->head_transform, dt) || blip_linear_set_dtype(&t->head_decoder, dt)))
        rc = -1;
    return rc ? vk_err_set("text tower to %s: %s", tt_dtype_name(dt), tt_last_error()) : 0;
}
