#include "model/blip_layout.h"

#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    blip_tensor_spec *items;
    int n, cap, failed;
} spec_list;

static void add(spec_list *l, blip_init_kind init, int ndim, const int64_t *shape, const char *fmt, ...) {
    if (l->failed) return;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        blip_tensor_spec *p = realloc(l->items, sizeof *p * (size_t)cap);
        if (!p) {
            l->failed = 1;
            return;
        }
        l->items = p;
        l->cap = cap;
    }
    blip_tensor_spec *s = &l->items[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    s->ndim = ndim;
    for (int i = 0; i < ndim; i++) s->shape[i] = shape[i];
    s->init = init;
}

static void linear(spec_list *l, const char *name, int64_t out, int64_t in) {
    add(l, BLIP_INIT_NORMAL, 2, (int64_t[]){out, in}, "%s.weight", name);
    add(l, BLIP_INIT_ZEROS, 1, (int64_t[]){out}, "%s.bias", name);
}

static void norm(spec_list *l, const char *name, int64_t d) {
    add(l, BLIP_INIT_ONES, 1, (int64_t[]){d}, "%s.weight", name);
    add(l, BLIP_INIT_ZEROS, 1, (int64_t[]){d}, "%s.bias", name);
}

static void vision(spec_list *l, const blip_vision_config *v) {
    int64_t D = v->hidden_size, I = v->intermediate_size, g = v->image_size / v->patch_size;
    add(l, BLIP_INIT_NORMAL, 3, (int64_t[]){1, 1, D}, "vision_model.embeddings.class_embedding");
    add(l, BLIP_INIT_NORMAL, 3, (int64_t[]){1, g * g + 1, D}, "vision_model.embeddings.position_embedding");
    add(l, BLIP_INIT_NORMAL, 4, (int64_t[]){D, 3, v->patch_size, v->patch_size}, "vision_model.embeddings.patch_embedding.weight");
    add(l, BLIP_INIT_ZEROS, 1, (int64_t[]){D}, "vision_model.embeddings.patch_embedding.bias");
    char b[160];
    for (int i = 0; i < v->num_hidden_layers; i++) {
        snprintf(b, sizeof b, "vision_model.encoder.layers.%d.self_attn.qkv", i);
        linear(l, b, 3 * D, D);
        snprintf(b, sizeof b, "vision_model.encoder.layers.%d.self_attn.projection", i);
        linear(l, b, D, D);
        snprintf(b, sizeof b, "vision_model.encoder.layers.%d.layer_norm1", i);
        norm(l, b, D);
        snprintf(b, sizeof b, "vision_model.encoder.layers.%d.mlp.fc1", i);
        linear(l, b, I, D);
        snprintf(b, sizeof b, "vision_model.encoder.layers.%d.mlp.fc2", i);
        linear(l, b, D, I);
        snprintf(b, sizeof b, "vision_model.encoder.layers.%d.layer_norm2", i);
        norm(l, b, D);
    }
    norm(l, "vision_model.post_layernorm", D);
}

static void text(spec_list *l, const blip_text_config *t, const char *bert, const char *head) {
    int64_t D = t->hidden_size, I = t->intermediate_size, V = t->vocab_size, E = t->encoder_hidden_size;
    add(l, BLIP_INIT_NORMAL, 2, (int64_t[]){V, D}, "%s.embeddings.word_embeddings.weight", bert);
    add(l, BLIP_INIT_NORMAL, 2, (int64_t[]){t->max_position_embeddings, D}, "%s.embeddings.position_embeddings.weight", bert);
    char b[192], c[224];
    snprintf(b, sizeof b, "%s.embeddings.LayerNorm", bert);
    norm(l, b, D);
    static const char *const attn[2] = {"attention", "crossattention"};
    for (int i = 0; i < t->num_hidden_layers; i++) {
        for (int a = 0; a < 2; a++) {
            int64_t kv_in = a ? E : D;
            snprintf(b, sizeof b, "%s.encoder.layer.%d.%s", bert, i, attn[a]);
            snprintf(c, sizeof c, "%s.self.query", b);
            linear(l, c, D, D);
            snprintf(c, sizeof c, "%s.self.key", b);
            linear(l, c, D, kv_in);
            snprintf(c, sizeof c, "%s.self.value", b);
            linear(l, c, D, kv_in);
            snprintf(c, sizeof c, "%s.output.dense", b);
            linear(l, c, D, D);
            snprintf(c, sizeof c, "%s.output.LayerNorm", b);
            norm(l, c, D);
        }
        snprintf(b, sizeof b, "%s.encoder.layer.%d.intermediate.dense", bert, i);
        linear(l, b, I, D);
        snprintf(b, sizeof b, "%s.encoder.layer.%d.output.dense", bert, i);
        linear(l, b, D, I);
        snprintf(b, sizeof b, "%s.encoder.layer.%d.output.LayerNorm", bert, i);
        norm(l, b, D);
    }
    if (!head) return;
    snprintf(b, sizeof b, "%s.predictions.transform.dense", head);
    linear(l, b, D, D);
    snprintf(b, sizeof b, "%s.predictions.transform.LayerNorm", head);
    norm(l, b, D);
    add(l, BLIP_INIT_NORMAL, 2, (int64_t[]){V, D}, "%s.predictions.decoder.weight", head);
    add(l, BLIP_INIT_ZEROS, 1, (int64_t[]){V}, "%s.predictions.bias", head);
}

int blip_layout(const blip_config *cfg, blip_tensor_spec **out) {
    spec_list l = {0};
    vision(&l, &cfg->vision);
    switch (cfg->arch) {
    case BLIP_ARCH_VQA:
        text(&l, &cfg->text, "text_encoder", NULL);
        text(&l, &cfg->text, "text_decoder.bert", "text_decoder.cls");
        break;
    case BLIP_ARCH_RETRIEVAL:
        text(&l, &cfg->text, "text_encoder", NULL);
        linear(&l, "vision_proj", cfg->image_text_hidden_size, cfg->vision.hidden_size);
        linear(&l, "text_proj", cfg->image_text_hidden_size, cfg->text.hidden_size);
        linear(&l, "itm_head", 2, cfg->text.hidden_size);
        break;
    default:
        text(&l, &cfg->text, "text_decoder.bert", "text_decoder.cls");
        break;
    }
    if (l.failed) {
        free(l.items);
        return vk_err_set("out of memory");
    }
    *out = l.items;
    return l.n;
}
