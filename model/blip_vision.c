#include "model/blip_vision.h"

#include "util/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int blip_vision_build(blip_vision *v, const blip_vision_config *cfg, blip_params *p, const char *prefix) {
    v->cfg = *cfg;
    int64_t D = cfg->hidden_size, I = cfg->intermediate_size, ps = cfg->patch_size;
    int64_t npos = (int64_t)(cfg->image_size / cfg->patch_size) * (cfg->image_size / cfg->patch_size) + 1;
    v->class_embedding = blip_params_require(p, blip_name("%s.embeddings.class_embedding", prefix), 3, (int64_t[]){1, 1, D});
    v->position_embedding =
        blip_params_require(p, blip_name("%s.embeddings.position_embedding", prefix), 3, (int64_t[]){1, npos, D});
    v->patch_weight =
        blip_params_require(p, blip_name("%s.embeddings.patch_embedding.weight", prefix), 4, (int64_t[]){D, 3, ps, ps});
    v->patch_bias = blip_params_require(p, blip_name("%s.embeddings.patch_embedding.bias", prefix), 1, (int64_t[]){D});
    v->layers = calloc((size_t)cfg->num_hidden_layers + 1, sizeof *v->layers);
    if (!v->layers) return -1;
    double eps = cfg->layer_norm_eps;
    for (int i = 0; i < cfg->num_hidden_layers; i++) {
        blip_vision_layer *L = &v->layers[i];
        char base[256];
        snprintf(base, sizeof base, "%s.encoder.layers.%d", prefix, i);
        blip_norm_require(&L->ln1, p, blip_name("%s.layer_norm1", base), D, eps);
        blip_norm_require(&L->ln2, p, blip_name("%s.layer_norm2", base), D, eps);
        blip_linear_require(&L->qkv, p, blip_name("%s.self_attn.qkv", base), 3 * D, D, 1);
        blip_linear_require(&L->proj, p, blip_name("%s.self_attn.projection", base), D, D, 1);
        blip_linear_require(&L->fc1, p, blip_name("%s.mlp.fc1", base), I, D, 1);
        blip_linear_require(&L->fc2, p, blip_name("%s.mlp.fc2", base), D, I, 1);
    }
    blip_norm_require(&v->post_layernorm, p, blip_name("%s.post_layernorm", prefix), D, eps);
    return 0;
}

void blip_vision_release(blip_vision *v) {
    if (!v->layers) return;
    for (int i = 0; i < v->cfg.num_hidden_layers; i++) {
        blip_vision_layer *L = &v->layers[i];
        blip_linear_release(&L->qkv);
        blip_linear_release(&L->proj);
        blip_linear_release(&L->fc1);
        blip_linear_release(&L->fc2);
    }
    free(v->layers);
    v->layers = NULL;
}

/* x [B, T, D] -> x + projection(attention(layer_norm1(x))) */
static tt_tensor *attention_block(const blip_vision *v, const blip_vision_layer *L, tt_tensor *x, int train) {
    int H = v->cfg.num_attention_heads;
    int64_t shape[3];
    if (tt_shape(x, shape, 3) != 3) return NULL;
    int64_t B = shape[0], T = shape[1], D = shape[2], d = D / H;
    tt_tensor *qkv = blip_linear_forward(&L->qkv, blip_norm_forward_into(&L->ln1, x, &L->qkv), train);
    /* [B, T, 3, H, d] -> [3, B, H, T, d]: views, read in place by the fused attention */
    qkv = tt_permute(tt_view(qkv, (int64_t[]){B, T, 3, H, d}, 5), (int64_t[]){2, 0, 3, 1, 4}, 5);
    tt_tensor *ctx = tt_attention(tt_select(qkv, 0, 0), tt_select(qkv, 0, 1), tt_select(qkv, 0, 2), 1.0 / sqrt((double)d));
    return blip_linear_forward_residual(&L->proj, ctx, x, train);
}

static tt_tensor *mlp_block(const blip_vision_layer *L, tt_tensor *x, int train) {
    tt_tensor *h = blip_linear_forward_gelu(&L->fc1, blip_norm_forward_into(&L->ln2, x, &L->fc1), train);
    return blip_linear_forward_residual(&L->fc2, h, x, train);
}

tt_tensor *blip_vision_forward(const blip_vision *v, tt_tensor *pixels, tt_tensor **hidden, int train) {
    int64_t B = tt_size(pixels, 0), ps = v->cfg.patch_size, S = tt_size(pixels, 2), g = S / ps, D = v->cfg.hidden_size;
    tt_scope_begin();
    tt_tensor *patches;
    if (!tt_is_grad_enabled() && S > 0 && S % ps == 0 && tt_size(pixels, 3) == S) {
        /* inference: the patch embedding (a conv with stride = kernel) as one product, each
         * patch's 3 x p x p pixels a row times the kernel as a [D, 3*p*p] matrix (~3x faster than
         * the conv, and the rows come out as [B, g*g, D], the layout the tower wants). With
         * autograd, libtorch's conv and its backward, as the other fused paths do. */
        tt_tensor *grid = tt_view(pixels, (int64_t[]){B, 3, g, ps, g, ps}, 6);
        tt_tensor *rows = tt_reshape(tt_permute(grid, (int64_t[]){0, 2, 4, 1, 3, 5}, 6), (int64_t[]){B, g * g, 3 * ps * ps}, 3);
        patches = tt_linear(rows, tt_view(v->patch_weight, (int64_t[]){D, 3 * ps * ps}, 2), v->patch_bias);
    } else {
        patches = tt_conv2d(pixels, v->patch_weight, v->patch_bias, (int)ps, (int)ps, 0, 0); /* [B, D, g, g] */
        patches = tt_transpose(tt_flatten(patches, 2, 3), 1, 2);                            /* [B, g*g, D] */
    }
    tt_tensor *cls = tt_expand(v->class_embedding, (int64_t[]){B, 1, D}, 3);
    tt_tensor *parts[2] = {cls, patches};
    tt_tensor *x = tt_add(tt_cat(parts, 2, 1), v->position_embedding);
    for (int i = 0; i < v->cfg.num_hidden_layers; i++) {
        if (hidden) hidden[i] = tt_keep(tt_shallow_clone(x));
        x = mlp_block(&v->layers[i], attention_block(v, &v->layers[i], x, train), train);
    }
    if (hidden) hidden[v->cfg.num_hidden_layers] = tt_keep(tt_shallow_clone(x));
    tt_tensor *out = tt_keep(blip_norm_forward(&v->post_layernorm, x));
    tt_scope_end();
    return out;
}

tt_tensor *blip_vision_pool(const blip_vision *v, tt_tensor *last_hidden_state) {
    tt_scope_begin();
    tt_tensor *out = tt_keep(blip_norm_forward(&v->post_layernorm, tt_select(last_hidden_state, 1, 0)));
    tt_scope_end();
    return out;
}

int blip_vision_set_dtype(blip_vision *v, tt_dtype dt) {
    for (int i = 0; i < v->cfg.num_hidden_layers; i++) {
        blip_vision_layer *L = &v->layers[i];
        if (blip_linear_set_dtype(&L->qkv, dt) || blip_linear_set_dtype(&L->proj, dt) || blip_linear_set_dtype(&L->fc1, dt) ||
            blip_linear_set_dtype(&L->fc2, dt))
            return vk_err_set("vision tower to %s: %s", tt_dtype_name(dt), tt_last_error());
    }
    return 0;
}
