/* blip_itm.c — BlipForImageTextRetrieval (transformers modeling_blip.py, use_itm_head True/False).
 * B = batch, S = image tokens, L = text tokens, D = hidden, E = image_text_hidden_size. */
#include "model/blip_itm.h"

#include "model/blip_folder.h"
#include "util/error.h"
#include "util/fileio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

blip_itm *blip_itm_load(const char *dir) {
    blip_itm *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        free(m);
        vk_err_set("out of memory");
        return NULL;
    }
    if (blip_folder_open(dir, BLIP_ARCH_RETRIEVAL, 1, "image-text retrieval model", &m->cfg, &m->params)) goto fail;
    int64_t E = m->cfg.image_text_hidden_size, Dv = m->cfg.vision.hidden_size, D = m->cfg.text.hidden_size;
    if (blip_vision_build(&m->vision, &m->cfg.vision, m->params, "vision_model") ||
        blip_text_build(&m->text, &m->cfg.text, m->params, "text_encoder", NULL))
        goto fail;
    blip_linear_require(&m->vision_proj, m->params, "vision_proj", E, Dv, 1);
    blip_linear_require(&m->text_proj, m->params, "text_proj", E, D, 1);
    blip_linear_require(&m->itm_head, m->params, "itm_head", 2, D, 1);
    if (blip_params_check(m->params)) goto fail;
    if (!m->text.has_cross) {
        vk_err_set("%s: the text encoder has no cross-attention weights", blip_params_source(m->params));
        goto fail;
    }
    return m;
fail:
    blip_itm_free(m);
    return NULL;
}

void blip_itm_free(blip_itm *m) {
    if (!m) return;
    blip_vision_release(&m->vision);
    blip_text_release(&m->text);
    blip_linear_release(&m->vision_proj);
    blip_linear_release(&m->text_proj);
    blip_linear_release(&m->itm_head);
    blip_params_free(m->params);
    free(m->dir);
    free(m);
}

int blip_itm_set_dtype(blip_itm *m, tt_dtype dt) {
    if (dt != TT_F32 && dt != TT_BF16) return vk_err_set("compute dtype must be f32 or bf16, not %s", tt_dtype_name(dt));
    if (blip_vision_set_dtype(&m->vision, dt) || blip_text_set_dtype(&m->text, dt)) return -1;
    if (blip_linear_set_dtype(&m->vision_proj, dt) || blip_linear_set_dtype(&m->text_proj, dt) ||
        blip_linear_set_dtype(&m->itm_head, dt))
        return vk_err_set("heads to %s: %s", tt_dtype_name(dt), tt_last_error());
    return 0;
}

tt_tensor *blip_l2_normalize(tt_tensor *x) {
    tt_scope_begin();
    tt_tensor *x32 = tt_to_dtype(x, TT_F32);
    tt_tensor *out = tt_keep(tt_div(x32, tt_clamp(tt_norm_dim(x32, 2.0, -1, 1), 1e-12, INFINITY)));
    tt_scope_end();
    return out;
}

tt_tensor *blip_itm_cosine(tt_tensor *a, tt_tensor *b) {
    tt_scope_begin();
    tt_tensor *out = tt_keep(tt_matmul(tt_to_dtype(a, TT_F32), tt_transpose(tt_to_dtype(b, TT_F32), 0, 1)));
    tt_scope_end();
    if (!out) vk_err_set("cosine similarity: %s", tt_last_error());
    return out;
}

tt_tensor *blip_itm_image_embeds(const blip_itm *m, tt_tensor *pixels) {
    tt_tensor *emb = blip_vision_forward(&m->vision, pixels, NULL, 0);
    if (!emb) vk_err_set("vision tower: %s", tt_last_error());
    return emb;
}

tt_tensor *blip_itm_image_features(const blip_itm *m, tt_tensor *image_embeds) {
    tt_scope_begin();
    tt_tensor *cls = tt_select(image_embeds, 1, 0); /* [B, Dv] */
    tt_tensor *out = tt_keep(blip_l2_normalize(blip_linear_forward(&m->vision_proj, cls, 0)));
    tt_scope_end();
    if (!out) vk_err_set("image features: %s", tt_last_error());
    return out;
}

tt_tensor *blip_itm_text_features(const blip_itm *m, tt_tensor *input_ids, const int64_t *mask, tt_tensor **text_embeds) {
    blip_text_args a = {.input_ids = input_ids, .attn_mask = mask, .causal = 0, .cross = NULL};
    tt_tensor *h = blip_text_forward(&m->text, &a); /* [B, L, D] */
    if (!h) return NULL;
    tt_scope_begin();
    tt_tensor *out = tt_keep(blip_l2_normalize(blip_linear_forward(&m->text_proj, tt_select(h, 1, 0), 0)));
    tt_scope_end();
    if (!out) vk_err_set("text features: %s", tt_last_error());
    if (out && text_embeds) *text_embeds = h;
    else tt_free(h);
    return out;
}

tt_tensor *blip_itm_logits(const blip_itm *m, tt_tensor *image_embeds, tt_tensor *input_ids, const int64_t *mask,
                           tt_tensor **text_embeds) {
    int64_t Bi = tt_size(image_embeds, 0), B = tt_size(input_ids, 0);
    if (Bi < 0 || B < 0 || (Bi != B && Bi != 1)) {
        vk_err_set("image-text matching: %lld images for %lld texts (need one image per text, or one for all)",
                   (long long)Bi, (long long)B);
        return NULL;
    }
    tt_scope_begin();
    blip_cross_kv cross;
    tt_tensor *h = NULL, *logits = NULL;
    /* one image for all texts: its cross-attention keys/values made once and shared by the B
     * texts, as an image's beams share them in generation (not B copies of the projections) */
    if (blip_text_cross_kv(&m->text, image_embeds, NULL, &cross, 0, tt_size(input_ids, 1) * (B / Bi)) == 0) {
        if (Bi != B && blip_cross_kv_repeat(&cross, B)) {
            vk_err_set("cross-attention for %lld texts: %s", (long long)B, vk_err_msg());
        } else {
            blip_text_args a = {.input_ids = input_ids, .attn_mask = mask, .causal = 0, .cross = &cross};
            h = blip_text_forward(&m->text, &a); /* vk_err set on failure */
        }
        blip_cross_kv_free(&cross);
    }
    if (h) {
        logits = tt_keep(tt_to_dtype(blip_linear_forward(&m->itm_head, tt_select(h, 1, 0), 0), TT_F32));
        if (!logits) vk_err_set("itm_head: %s", tt_last_error());
    }
    if (logits && text_embeds) *text_embeds = tt_keep(h);
    tt_scope_end();
    if (!logits) vk_err_prefix("image-text matching");
    return logits;
}

tt_tensor *blip_itm_match_prob(tt_tensor *logits) {
    tt_scope_begin();
    tt_tensor *p = tt_keep(tt_select(tt_softmax(tt_to_dtype(logits, TT_F32), -1), 1, 1));
    tt_scope_end();
    if (!p) vk_err_set("match probability: %s", tt_last_error());
    return p;
}
