#include "model/blip_vqa.h"

#include "model/blip_folder.h"
#include "util/error.h"
#include "util/fileio.h"

#include <stdlib.h>
#include <string.h>

blip_vqa *blip_vqa_load(const char *dir) {
    blip_vqa *m = calloc(1, sizeof *m);
    if (!m) {
        vk_err_set("out of memory");
        return NULL;
    }
    /* config and architecture first: the hidden-size check below names the folder */
    if (blip_folder_open(dir, BLIP_ARCH_VQA, 0, "VQA model", &m->cfg, &m->params)) goto fail;
    if (m->cfg.text.hidden_size != m->cfg.vision.hidden_size) {
        /* the decoder's cross-attention K/V take encoder_hidden_size (= vision) inputs but are fed
         * the text encoder's states: transformers' VQA model only works when the two agree */
        vk_err_set("%s: text hidden_size %d differs from vision hidden_size %d (BlipForQuestionAnswering needs them equal)",
                   dir, m->cfg.text.hidden_size, m->cfg.vision.hidden_size);
        goto fail;
    }
    if (blip_vision_build(&m->vision, &m->cfg.vision, m->params, "vision_model") ||
        blip_text_build(&m->encoder, &m->cfg.text, m->params, "text_encoder", NULL) ||
        blip_text_build(&m->decoder, &m->cfg.text, m->params, "text_decoder.bert", "text_decoder.cls"))
        goto fail;
    if (blip_params_check(m->params)) goto fail;
    if (!m->encoder.has_cross || !m->decoder.has_cross) {
        vk_err_set("%s: the text towers have no cross-attention weights", blip_params_source(m->params));
        goto fail;
    }
    return m;
fail:
    blip_vqa_free(m);
    return NULL;
}

void blip_vqa_free(blip_vqa *m) {
    if (!m) return;
    blip_vision_release(&m->vision);
    blip_text_release(&m->encoder);
    blip_text_release(&m->decoder);
    blip_params_free(m->params);
    free(m);
}

static void add_text_linears(blip_text *t, lora_linears *out) {
    for (int i = 0; i < t->cfg.num_hidden_layers; i++) {
        blip_text_layer *L = &t->layers[i];
        blip_linear *ls[] = {&L->self.query,  &L->self.key,    &L->self.value, &L->self.out,     &L->cross.query,
                             &L->cross.key,   &L->cross.value, &L->cross.out,  &L->intermediate, &L->output};
        for (size_t k = 0; k < 10; k++) out->items[out->n++] = ls[k];
    }
    if (t->has_lm_head) {
        out->items[out->n++] = &t->head_transform;
        out->items[out->n++] = &t->head_decoder;
    }
}

int blip_vqa_linears(blip_vqa *m, lora_linears *out) {
    int nv = m->cfg.vision.num_hidden_layers, nt = m->cfg.text.num_hidden_layers;
    *out = (lora_linears){0};
    out->params = m->params;
    out->items = calloc((size_t)(4 * nv + 20 * nt + 2), sizeof *out->items);
    if (!out->items) return vk_err_set("out of memory");
    for (int i = 0; i < nv; i++) {
        blip_vision_layer *L = &m->vision.layers[i];
        blip_linear *ls[] = {&L->qkv, &L->proj, &L->fc1, &L->fc2};
        for (size_t k = 0; k < 4; k++) out->items[out->n++] = ls[k];
    }
    add_text_linears(&m->encoder, out);
    add_text_linears(&m->decoder, out);
    return 0;
}

int blip_vqa_set_dtype(blip_vqa *m, tt_dtype dt) {
    if (dt != TT_F32 && dt != TT_BF16) return vk_err_set("compute dtype must be f32 or bf16");
    return blip_vision_set_dtype(&m->vision, dt) || blip_text_set_dtype(&m->encoder, dt) || blip_text_set_dtype(&m->decoder, dt)
               ? -1
               : 0;
}

tt_tensor *blip_vqa_question_embeds(const blip_vqa *m, tt_tensor *image_embeds, tt_tensor *question_ids,
                                    const int64_t *q_mask, int train) {
    blip_cross_kv cross;
    if (blip_text_cross_kv(&m->encoder, image_embeds, NULL, &cross, train, tt_size(question_ids, 1))) return NULL;
    blip_text_args a = {.input_ids = question_ids, .attn_mask = q_mask, .causal = 0, .cross = &cross, .train = train};
    tt_tensor *h = blip_text_forward(&m->encoder, &a);
    blip_cross_kv_free(&cross);
    return h;
}

/* host [B, L] int64 mask -> tensor */
static tt_tensor *mask_tensor(const int64_t *mask, tt_tensor *like) {
    int64_t shape[3];
    if (!mask || tt_shape(like, shape, 3) < 2) return NULL;
    return tt_from_data(mask, shape, 2, TT_I64);
}

tt_tensor *blip_vqa_answer_logits(const blip_vqa *m, tt_tensor *question_embeds, const int64_t *q_mask,
                                  tt_tensor *answer_ids, const int64_t *a_mask, int train) {
    tt_tensor *qm = mask_tensor(q_mask, question_embeds);
    blip_cross_kv cross;
    int rc = blip_text_cross_kv(&m->decoder, question_embeds, qm, &cross, train, 0);
    tt_free(qm);
    if (rc) return NULL;
    blip_text_args a = {.input_ids = answer_ids, .attn_mask = a_mask, .causal = 1, .cross = &cross, .train = train};
    tt_tensor *h = blip_text_forward(&m->decoder, &a);
    tt_tensor *logits = h ? blip_text_lm_head(&m->decoder, h, train) : NULL;
    tt_free(h);
    blip_cross_kv_free(&cross);
    return logits;
}

int blip_vqa_answer(const blip_vqa *m, tt_tensor *question_embeds, const int64_t *q_mask, int mask_question_padding,
                    const blip_gen_params *gp, blip_gen_output *out) {
    int64_t B = tt_size(question_embeds, 0);
    int64_t *prompt = malloc(sizeof(int64_t) * (size_t)(B > 0 ? B : 1));
    if (!prompt) return vk_err_set("out of memory");
    for (int64_t b = 0; b < B; b++) prompt[b] = m->cfg.text.bos_token_id;
    tt_tensor *qm = mask_question_padding ? mask_tensor(q_mask, question_embeds) : NULL;
    int rc = blip_generate(&m->decoder, question_embeds, qm, prompt, NULL, B, 1, gp, 0, out);
    tt_free(qm);
    free(prompt);
    return rc;
}
