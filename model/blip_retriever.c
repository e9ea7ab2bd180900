#include "model/blip_retriever.h"

#include "util/error.h"
#include "util/fileio.h"

#include <stdlib.h>
#include <string.h>

#define TEXT_CHUNK 64 /* texts per forward pass */

blip_retriever *blip_retriever_load(const char *model_dir) {
    blip_retriever *r = calloc(1, sizeof *r);
    if (!r) {
        vk_err_set("out of memory");
        return NULL;
    }
    if (!(r->model = blip_itm_load(model_dir)) || !(r->tokenizer = wordpiece_load(model_dir))) goto fail;
    int S = r->model->cfg.vision.image_size;
    char *pre = vk_path_join(model_dir, "preprocessor_config.json");
    int have = pre && vk_file_exists(pre);
    int rc = have ? image_preproc_load(pre, &r->preproc) : 0;
    if (!have) {
        /* no processor file: BlipImageProcessor's defaults at the model's image size */
        r->preproc = image_preproc_default();
        r->preproc.height = r->preproc.width = S;
    }
    free(pre);
    if (rc) goto fail;
    if (r->preproc.height != S || r->preproc.width != S) {
        vk_err_set("%s: preprocessor_config.json resizes to %dx%d but the model expects %dx%d images", model_dir,
                   r->preproc.width, r->preproc.height, S, S);
        goto fail;
    }
    if (wordpiece_size(r->tokenizer) > r->model->cfg.text.vocab_size) {
        vk_err_set("%s: the tokenizer has %d tokens but the model's vocab_size is %d", model_dir,
                   wordpiece_size(r->tokenizer), r->model->cfg.text.vocab_size);
        goto fail;
    }
    r->dim = r->model->cfg.image_text_hidden_size;
    return r;
fail:
    blip_retriever_free(r);
    return NULL;
}

void blip_retriever_free(blip_retriever *r) {
    if (!r) return;
    blip_itm_free(r->model);
    wordpiece_free(r->tokenizer);
    free(r);
}

static int tokenize(const blip_retriever *r, const char *const *texts, int n, wordpiece_batch *b) {
    wordpiece_encode_opts o = wordpiece_encode_defaults();
    o.padding = WORDPIECE_PAD_LONGEST;
    o.max_length = r->model->cfg.text.max_position_embeddings;
    return wordpiece_encode(r->tokenizer, texts, n, &o, b);
}

static tt_tensor *pixels_tensor(const blip_retriever *r, const float *pixels, int n) {
    int64_t S = r->preproc.height;
    /* the caller's buffer outlives the call: wrap it without a copy */
    return tt_from_blob((void *)pixels, (int64_t[]){n, 3, S, S}, 4, TT_F32, NULL, NULL);
}

/* Copy a float32 [n, ...] result to the host; frees nothing (scope-owned). */
static int to_host(tt_tensor *t, float *out, size_t count, const char *what) {
    if (!t) return vk_err_msg()[0] ? -1 : vk_err_set("%s: %s", what, tt_last_error());
    if (tt_copy_to(t, out, sizeof(float) * count)) return vk_err_set("%s: %s", what, tt_last_error());
    return 0;
}

int blip_retriever_image_features(const blip_retriever *r, const float *pixels, int n, float *out) {
    if (n <= 0) return 0;
    vk_err_clear();
    int grad = tt_set_grad_enabled(0);
    tt_scope_begin();
    tt_tensor *emb = blip_itm_image_embeds(r->model, pixels_tensor(r, pixels, n));
    tt_tensor *f = emb ? blip_itm_image_features(r->model, emb) : NULL;
    int rc = to_host(f, out, (size_t)n * (size_t)r->dim, "image features");
    tt_scope_end();
    tt_set_grad_enabled(grad);
    return rc;
}

int blip_retriever_text_features(const blip_retriever *r, const char *const *texts, int n, float *out) {
    for (int start = 0; start < n; start += TEXT_CHUNK) {
        int k = n - start < TEXT_CHUNK ? n - start : TEXT_CHUNK;
        wordpiece_batch b;
        if (tokenize(r, texts + start, k, &b)) return -1;
        vk_err_clear();
        int grad = tt_set_grad_enabled(0);
        tt_scope_begin();
        tt_tensor *ids = tt_from_data(b.ids, (int64_t[]){b.rows, b.cols}, 2, TT_I64);
        tt_tensor *f = ids ? blip_itm_text_features(r->model, ids, b.mask, NULL) : NULL;
        int rc = to_host(f, out + (size_t)start * (size_t)r->dim, (size_t)k * (size_t)r->dim, "text features");
        tt_scope_end();
        tt_set_grad_enabled(grad);
        wordpiece_batch_free(&b);
        if (rc) return -1;
    }
    return 0;
}

int blip_retriever_match_texts(const blip_retriever *r, const float *pixels, const char *const *texts, int n, float *prob) {
    vk_err_clear();
    int grad = tt_set_grad_enabled(0);
    tt_scope_begin();
    tt_tensor *emb = blip_itm_image_embeds(r->model, pixels_tensor(r, pixels, 1));
    int rc = emb ? 0 : -1;
    for (int start = 0; !rc && start < n; start += TEXT_CHUNK) {
        int k = n - start < TEXT_CHUNK ? n - start : TEXT_CHUNK;
        wordpiece_batch b;
        if (tokenize(r, texts + start, k, &b)) {
            rc = -1;
            break;
        }
        tt_scope_begin();
        tt_tensor *ids = tt_from_data(b.ids, (int64_t[]){b.rows, b.cols}, 2, TT_I64);
        tt_tensor *logits = ids ? blip_itm_logits(r->model, emb, ids, b.mask, NULL) : NULL;
        rc = to_host(logits ? blip_itm_match_prob(logits) : NULL, prob + start, (size_t)k, "match probability");
        tt_scope_end();
        wordpiece_batch_free(&b);
    }
    tt_scope_end();
    tt_set_grad_enabled(grad);
    return rc;
}

int blip_retriever_match_images(const blip_retriever *r, const char *text, const float *pixels, int n, float *prob) {
    if (n <= 0) return 0;
    wordpiece_batch b;
    if (tokenize(r, &text, 1, &b)) return -1;
    /* the one text repeated for every image */
    int64_t L = b.cols;
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)(n * L)), *mask = malloc(sizeof(int64_t) * (size_t)(n * L));
    if (!ids || !mask) {
        free(ids), free(mask), wordpiece_batch_free(&b);
        return vk_err_set("out of memory");
    }
    for (int i = 0; i < n; i++) {
        memcpy(ids + i * L, b.ids, sizeof(int64_t) * (size_t)L);
        memcpy(mask + i * L, b.mask, sizeof(int64_t) * (size_t)L);
    }
    wordpiece_batch_free(&b);
    vk_err_clear();
    int grad = tt_set_grad_enabled(0);
    tt_scope_begin();
    tt_tensor *emb = blip_itm_image_embeds(r->model, pixels_tensor(r, pixels, n));
    tt_tensor *t = tt_from_data(ids, (int64_t[]){n, L}, 2, TT_I64);
    tt_tensor *logits = emb && t ? blip_itm_logits(r->model, emb, t, mask, NULL) : NULL;
    int rc = to_host(logits ? blip_itm_match_prob(logits) : NULL, prob, (size_t)n, "match probability");
    tt_scope_end();
    tt_set_grad_enabled(grad);
    free(ids), free(mask);
    return rc;
}
