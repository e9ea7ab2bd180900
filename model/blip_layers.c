#include "model/blip_layers.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *blip_name(const char *fmt, ...) {
    static _Thread_local char bufs[4][512];
    static _Thread_local int slot;
    char *b = bufs[slot++ & 3];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

/* `name` may itself come from blip_name(): copy it before building more names. */
void blip_linear_require(blip_linear *l, blip_params *p, const char *name, int64_t out, int64_t in, int bias) {
    memset(l, 0, sizeof *l);
    l->name = strdup(name);
    l->weight = blip_params_require(p, blip_name("%s.weight", l->name), 2, (int64_t[]){out, in});
    if (bias) l->bias = blip_params_require(p, blip_name("%s.bias", l->name), 1, (int64_t[]){out});
}

void blip_norm_require(blip_norm *n, blip_params *p, const char *name, int64_t dim, double eps) {
    char base[512];
    snprintf(base, sizeof base, "%s", name);
    n->weight = blip_params_require(p, blip_name("%s.weight", base), 1, (int64_t[]){dim});
    n->bias = blip_params_require(p, blip_name("%s.bias", base), 1, (int64_t[]){dim});
    n->eps = eps;
}

void blip_linear_release(blip_linear *l) {
    blip_linear_set_dtype(l, TT_F32);
    free(l->name);
    tt_free(l->lora_a);
    tt_free(l->lora_b);
    l->name = NULL;
    l->lora_a = l->lora_b = NULL;
}

int blip_linear_set_dtype(blip_linear *l, tt_dtype dt) {
    tt_packed_linear_free(l->packed);
    tt_free(l->weight_lp);
    tt_free(l->bias_lp);
    l->packed = NULL;
    l->weight_lp = l->bias_lp = NULL;
    l->cast_dt = TT_F32;
    if (dt == TT_F32) return 0;
    if (tt_requires_grad_of(l->weight) == 1 || (l->bias && tt_requires_grad_of(l->bias) == 1)) {
        l->cast_dt = dt;
        return 0;
    }
    l->weight_lp = tt_persist(tt_to_dtype(l->weight, dt));
    l->bias_lp = l->bias ? tt_persist(tt_to_dtype(l->bias, dt)) : NULL;
    if (!l->weight_lp || (l->bias && !l->bias_lp)) return -1;
    /* frozen bf16 weights: packed once for oneDNN (no packing at every product) */
    tt_clear_error();
    if (dt == TT_BF16 && !(l->packed = tt_packed_linear_new(l->weight_lp, l->bias_lp)) && tt_last_error()[0]) return -1;
    return 0;
}

tt_dtype blip_linear_dtype(const blip_linear *l) {
    return l->weight_lp ? (tt_dtype)tt_dtype_of(l->weight_lp) : (tt_dtype)l->cast_dt;
}

tt_tensor *blip_linear_input(const blip_linear *l, tt_tensor *x) {
    tt_dtype dt = blip_linear_dtype(l);
    return !x || tt_dtype_of(x) == (int)dt ? x : tt_to_dtype(x, dt);
}

tt_tensor *blip_linear_weight(const blip_linear *l) {
    if (l->weight_lp) return l->weight_lp;
    return l->cast_dt != TT_F32 ? tt_to_dtype(l->weight, (tt_dtype)l->cast_dt) : l->weight;
}

tt_tensor *blip_linear_bias(const blip_linear *l) {
    if (!l->bias || l->bias_lp) return l->bias_lp;
    return l->cast_dt != TT_F32 ? tt_to_dtype(l->bias, (tt_dtype)l->cast_dt) : l->bias;
}

tt_tensor *blip_linear_lora_down(const blip_linear *l, tt_tensor *x, int train) {
    if (!l->lora_a) return NULL;
    tt_dtype dt = blip_linear_dtype(l);
    tt_tensor *xc = blip_linear_input(l, x);
    tt_tensor *xd = l->lora_dropout > 0 ? tt_dropout(xc, l->lora_dropout, train) : xc;
    return tt_linear(xd, dt == TT_F32 ? l->lora_a : tt_to_dtype(l->lora_a, dt), NULL);
}

tt_tensor *blip_linear_lora_up(const blip_linear *l) {
    if (!l->lora_b) return NULL;
    tt_dtype dt = blip_linear_dtype(l);
    tt_tensor *b = tt_mul_scalar(l->lora_b, l->lora_scale);
    return dt == TT_F32 ? b : tt_to_dtype(b, dt);
}

tt_tensor *blip_linear_forward(const blip_linear *l, tt_tensor *x, int train) {
    tt_dtype dt = blip_linear_dtype(l);
    if (dt == TT_F32) {
        tt_tensor *x32 = blip_linear_input(l, x);
        tt_tensor *y = tt_linear(x32, l->weight, l->bias);
        if (!l->lora_a) return y;
        tt_tensor *xd = l->lora_dropout > 0 ? tt_dropout(x32, l->lora_dropout, train) : x32;
        return tt_add(y, tt_mul_scalar(tt_linear(tt_linear(xd, l->lora_a, NULL), l->lora_b, NULL), l->lora_scale));
    }
    tt_tensor *xc = blip_linear_input(l, x);
    tt_tensor *y = l->packed      ? tt_packed_linear_forward(l->packed, xc, NULL)
                   : l->weight_lp ? tt_linear(xc, l->weight_lp, l->bias_lp)
                                : tt_linear(xc, tt_to_dtype(l->weight, dt), l->bias ? tt_to_dtype(l->bias, dt) : NULL);
    if (!l->lora_a) return y;
    tt_tensor *xd = l->lora_dropout > 0 ? tt_dropout(xc, l->lora_dropout, train) : xc;
    return tt_linear_acc(y, tt_linear(xd, tt_to_dtype(l->lora_a, dt), NULL), tt_to_dtype(l->lora_b, dt), l->lora_scale);
}

tt_tensor *blip_linear_forward_residual(const blip_linear *l, tt_tensor *x, tt_tensor *residual, int train) {
    if (l->packed && !l->lora_a) return tt_packed_linear_forward(l->packed, blip_linear_input(l, x), residual);
    return tt_add(residual, blip_linear_forward(l, x, train));
}

tt_tensor *blip_linear_forward_gelu(const blip_linear *l, tt_tensor *x, int train) {
    if (l->packed && !l->lora_a) return tt_packed_linear_gelu(l->packed, blip_linear_input(l, x));
    return tt_gelu(blip_linear_forward(l, x, train));
}

/* Always in float32: libtorch 1.13's CPU layer_norm does not mix dtypes, and bf16 statistics
 * would cost accuracy. */
tt_tensor *blip_norm_forward(const blip_norm *n, tt_tensor *x) {
    if (tt_dtype_of(x) != TT_F32) x = tt_to_dtype(x, TT_F32);
    return tt_layer_norm(x, 1, n->weight, n->bias, n->eps);
}

tt_tensor *blip_norm_forward_into(const blip_norm *n, tt_tensor *x, const blip_linear *next) {
    if (blip_linear_dtype(next) != TT_BF16 || tt_dtype_of(x) != TT_F32) return blip_norm_forward(n, x);
    return tt_layer_norm_bf16(x, n->weight, n->bias, n->eps);
}

tt_tensor *blip_split_heads(tt_tensor *x, int heads) {
    int64_t shape[3];
    if (tt_shape(x, shape, 3) != 3) return NULL; /* NULL input: its error is already set */
    tt_tensor *v = tt_view(x, (int64_t[]){shape[0], shape[1], heads, shape[2] / heads}, 4);
    return tt_transpose(v, 1, 2);
}

tt_tensor *blip_merge_heads(tt_tensor *x) {
    int64_t shape[4];
    if (tt_shape(x, shape, 4) != 4) return NULL;
    return tt_reshape(tt_transpose(x, 1, 2), (int64_t[]){shape[0], shape[2], shape[1] * shape[3]}, 3);
}

tt_tensor *blip_attention_probs(tt_tensor *q, tt_tensor *k, tt_tensor *mask_add, double scale) {
    int dt = tt_dtype_of(q);
    tt_tensor *scores = tt_matmul(q, tt_transpose(k, -1, -2));
    /* Nothing to add or scale (the vision tower, unmasked decoding steps): softmax straight on
     * the bf16 scores. libtorch's bf16 softmax widens each row to float32 for the max, exp and
     * sum, so it is the float32 softmax of the same bf16 scores with the result rounded to
     * bf16 as before (1 bf16 ulp on ~6 in a million elements, the exp's rounding); it saves
     * two full-size conversions, ~40 % of the vision tower's non-matmul time. */
    if (dt != TT_F32 && dt >= 0 && !mask_add && scale == 1.0) return tt_softmax(scores, -1);
    if (dt != TT_F32) scores = tt_to_dtype(scores, TT_F32);
    if (scale != 1.0) scores = tt_mul_scalar(scores, scale);
    if (mask_add) scores = tt_add(scores, mask_add);
    tt_tensor *probs = tt_softmax(scores, -1);
    if (dt != TT_F32 && dt >= 0) probs = tt_to_dtype(probs, (tt_dtype)dt);
    return probs;
}

tt_tensor *blip_attention(tt_tensor *q, tt_tensor *k, tt_tensor *v, tt_tensor *mask_add, double scale) {
    return tt_matmul(blip_attention_probs(q, k, mask_add, scale), v);
}
