#include "model/blip_caption.h"

#include "model/blip_folder.h"
#include "util/error.h"
#include "util/fileio.h"

#include <stdlib.h>
#include <string.h>

blip_caption *blip_caption_load(const char *dir) {
    blip_caption *m = calloc(1, sizeof *m);
    if (!m) {
        vk_err_set("out of memory");
        return NULL;
    }
    m->dir = strdup(dir);
    if (blip_folder_open(dir, BLIP_ARCH_CAPTION, 1, "captioning model", &m->cfg, &m->params)) goto fail;
    if (blip_vision_build(&m->vision, &m->cfg.vision, m->params, "vision_model") ||
        blip_text_build(&m->text, &m->cfg.text, m->params, "text_decoder.bert", "text_decoder.cls"))
        goto fail;
    if (blip_params_check(m->params)) goto fail;
    if (!m->text.has_cross) {
        vk_err_set("%s: the text decoder has no cross-attention weights", blip_params_source(m->params));
        goto fail;
    }
    return m;
fail:
    blip_caption_free(m);
    return NULL;
}

void blip_caption_free(blip_caption *m) {
    if (!m) return;
    blip_vision_release(&m->vision);
    blip_text_release(&m->text);
    blip_params_free(m->params);
    free(m->dir);
    free(m);
}

int blip_caption_linears(blip_caption *m, lora_linears *out) {
    int nv = m->cfg.vision.num_hidden_layers, nt = m->cfg.text.num_hidden_layers;
    *out = (lora_linears){0};
    out->params = m->params;
    out->items = calloc((size_t)(4 * nv + 10 * nt + 2), sizeof *out->items);
    if (!out->items) return vk_err_set("out of memory");
    for (int i = 0; i < nv; i++) {
        blip_vision_layer *L = &m->vision.layers[i];
        blip_linear *ls[] = {&L->qkv, &L->proj, &L->fc1, &L->fc2};
        for (size_t k = 0; k < 4; k++) out->items[out->n++] = ls[k];
    }
    for (int i = 0; i < nt; i++) {
        blip_text_layer *L = &m->text.layers[i];
        blip_linear *ls[] = {&L->self.query,  &L->self.key,    &L->self.value, &L->self.out,     &L->cross.query,
                             &L->cross.key,   &L->cross.value, &L->cross.out,  &L->intermediate, &L->output};
        for (size_t k = 0; k < 10; k++) out->items[out->n++] = ls[k];
    }
    out->items[out->n++] = &m->text.head_transform;
    out->items[out->n++] = &m->text.head_decoder;
    return 0;
}

int blip_caption_set_dtype(blip_caption *m, tt_dtype dt) {
    if (dt != TT_F32 && dt != TT_BF16) return vk_err_set("compute dtype must be f32 or bf16, not %s", tt_dtype_name(dt));
    return blip_vision_set_dtype(&m->vision, dt) || blip_text_set_dtype(&m->text, dt) ? -1 : 0;
}

tt_tensor *blip_caption_logits_from_embeds(const blip_caption *m, tt_tensor *image_embeds, tt_tensor *input_ids,
                                           const int64_t *attention_mask, int train) {
    blip_cross_kv cross;
    if (blip_text_cross_kv(&m->text, image_embeds, NULL, &cross, train, 0)) return NULL;
    blip_text_args a = {.input_ids = input_ids, .attn_mask = attention_mask, .causal = 1, .cross = &cross, .train = train};
    tt_tensor *h = blip_text_forward(&m->text, &a);
    tt_tensor *logits = h ? blip_text_lm_head(&m->text, h, train) : NULL;
    tt_free(h);
    blip_cross_kv_free(&cross);
    return logits;
}

tt_tensor *blip_caption_logits(const blip_caption *m, tt_tensor *pixels, tt_tensor *input_ids,
                               const int64_t *attention_mask, int train) {
    tt_tensor *emb = blip_vision_forward(&m->vision, pixels, NULL, train);
    if (!emb) {
        vk_err_set("vision tower: %s", tt_last_error());
        return NULL;
    }
    tt_tensor *logits = blip_caption_logits_from_embeds(m, emb, input_ids, attention_mask, train);
    tt_free(emb);
    return logits;
}

tt_tensor *blip_lm_loss(tt_tensor *logits, tt_tensor *labels, double label_smoothing) {
    int64_t shape[3];
    if (tt_shape(logits, shape, 3) != 3) {
        vk_err_set("loss: logits must be [batch, tokens, vocab]");
        return NULL;
    }
    int64_t B = shape[0], L = shape[1], V = shape[2];
    tt_scope_begin();
    tt_tensor *pred = tt_reshape(tt_narrow(logits, 1, 0, L - 1), (int64_t[]){B * (L - 1), V}, 2);
    tt_tensor *target = tt_reshape(tt_narrow(labels, 1, 1, L - 1), (int64_t[]){B * (L - 1)}, 1);
    tt_tensor *loss = tt_keep(tt_cross_entropy(pred, target, TT_REDUCE_MEAN, -100, label_smoothing));
    tt_scope_end();
    if (!loss) vk_err_set("loss: %s", tt_last_error());
    return loss;
}
