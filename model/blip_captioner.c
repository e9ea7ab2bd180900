#include "model/blip_captioner.h"

#include "util/error.h"
#include "util/fileio.h"

#include <stdlib.h>
#include <string.h>

blip_captioner *blip_captioner_load(const char *model_dir, const char *adapter_dir) {
    blip_captioner *c = calloc(1, sizeof *c);
    if (!c) {
        vk_err_set("out of memory");
        return NULL;
    }
    if (!(c->model = blip_caption_load(model_dir)) || !(c->tokenizer = wordpiece_load(model_dir))) goto fail;
    if (blip_caption_linears(c->model, &c->linears)) goto fail;
    if (adapter_dir && lora_load_adapter(&c->linears, adapter_dir, NULL)) goto fail;
    char *pre = vk_path_join(model_dir, "preprocessor_config.json");
    int rc = vk_file_exists(pre) ? image_preproc_load(pre, &c->preproc) : 0;
    if (!vk_file_exists(pre)) {
        /* no processor file: BlipImageProcessor's defaults at the model's image size */
        c->preproc = image_preproc_default();
        c->preproc.height = c->preproc.width = c->model->cfg.vision.image_size;
    }
    free(pre);
    if (rc) goto fail;
    if (c->preproc.height != c->model->cfg.vision.image_size || c->preproc.width != c->model->cfg.vision.image_size) {
        vk_err_set("%s: preprocessor_config.json resizes to %dx%d but the model expects %dx%d images", model_dir,
                   c->preproc.width, c->preproc.height, c->model->cfg.vision.image_size, c->model->cfg.vision.image_size);
        goto fail;
    }
    if (wordpiece_size(c->tokenizer) > c->model->cfg.text.vocab_size) {
        vk_err_set("%s: the tokenizer has %d tokens but the model's vocab_size is %d", model_dir,
                   wordpiece_size(c->tokenizer), c->model->cfg.text.vocab_size);
        goto fail;
    }
    return c;
fail:
    blip_captioner_free(c);
    return NULL;
}

void blip_captioner_free(blip_captioner *c) {
    if (!c) return;
    lora_detach(&c->linears);
    free(c->linears.items);
    blip_caption_free(c->model);
    wordpiece_free(c->tokenizer);
    free(c);
}

void blip_caption_result_free(blip_caption_result *r) {
    for (int i = 0; r->texts && i < r->n; i++) free(r->texts[i]);
    for (int i = 0; r->generated && i < r->n; i++) free(r->generated[i]);
    free(r->texts);
    free(r->generated);
    free(r->ids);
    memset(r, 0, sizeof *r);
}

int blip_captioner_prompt(const blip_captioner *c, const char *prompt, int64_t **ids, int64_t *len) {
    int bos = c->model->cfg.text.bos_token_id;
    if (!prompt || !*prompt) {
        *ids = malloc(sizeof(int64_t));
        if (!*ids) return vk_err_set("out of memory");
        (*ids)[0] = bos;
        *len = 1;
        return 0;
    }
    wordpiece_encode_opts o = wordpiece_encode_defaults();
    wordpiece_batch b;
    if (wordpiece_encode(c->tokenizer, &prompt, 1, &o, &b) != 0) return vk_err_prefix("prompt");
    /* generate() sets column 0 to [DEC] and drops the last column (the [SEP]) */
    *len = b.cols - 1;
    *ids = malloc(sizeof(int64_t) * (size_t)*len);
    if (*ids) {
        memcpy(*ids, b.ids, sizeof(int64_t) * (size_t)*len);
        (*ids)[0] = bos;
    }
    wordpiece_batch_free(&b);
    return *ids ? 0 : vk_err_set("out of memory");
}

int blip_captioner_run(const blip_captioner *c, const float *pixels, int n, const char *prompt,
                       const blip_gen_params *gp, blip_caption_result *out) {
    memset(out, 0, sizeof *out);
    const blip_config *cfg = &c->model->cfg;
    int64_t S = cfg->vision.image_size, P;
    int64_t *one = NULL;
    if (blip_captioner_prompt(c, prompt, &one, &P)) return -1;
    int64_t *prompts = malloc(sizeof(int64_t) * (size_t)(n * P));
    if (!prompts) {
        free(one);
        return vk_err_set("out of memory");
    }
    for (int i = 0; i < n; i++) memcpy(prompts + i * P, one, sizeof(int64_t) * (size_t)P);
    free(one);
    int grad = tt_set_grad_enabled(0);
    tt_tensor *px = tt_from_blob((void *)pixels, (int64_t[]){n, 3, S, S}, 4, TT_F32, NULL, NULL);
    tt_tensor *emb = px ? blip_vision_forward(&c->model->vision, px, NULL, 0) : NULL;
    tt_free(px);
    blip_gen_output g = {0};
    int rc = emb ? blip_generate(&c->model->text, emb, NULL, prompts, NULL, n, P, gp, 0, &g)
                 : vk_err_set("vision tower: %s", tt_last_error());
    tt_free(emb);
    tt_set_grad_enabled(grad);
    free(prompts);
    if (rc) return -1;
    out->texts = calloc((size_t)n, sizeof *out->texts);
    out->generated = calloc((size_t)n, sizeof *out->generated);
    if (!out->texts || !out->generated) {
        free(out->texts);
        free(out->generated);
        blip_gen_output_free(&g);
        return vk_err_set("out of memory");
    }
    out->n = n;
    for (int i = 0; i < n; i++) {
        out->texts[i] = wordpiece_decode(c->tokenizer, g.ids + i * g.len, (size_t)g.len, 1, -1);
        out->generated[i] = wordpiece_decode(c->tokenizer, g.ids + i * g.len + P, (size_t)(g.len - P), 1, -1);
        if (!out->texts[i] || !out->generated[i]) rc = vk_err_set("out of memory");
    }
    out->ids = g.ids;
    out->len = g.len;
    g.ids = NULL;
    blip_gen_output_free(&g);
    if (rc) blip_caption_result_free(out);
    return rc;
}
