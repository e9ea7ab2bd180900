/* test_blip_caption.c — BlipForConditionalGeneration in C against transformers' own outputs
 * (fixtures blip-tiny/captioning): vision features, text hidden states, logits, every loss
 * variant, and the gradient of every parameter. Tolerances are the fixture's per-tensor `atol`
 * (10x the observed float32-vs-float64 error of the reference), read from expected.json. */
#include "model/blip_caption.h"
#include "tests/torch/expect.h"
#include "util/error.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static cJSON *expected_json;
static vk_weights *expected;

static void setup(void) {
    expected_json = fixture_json("blip-tiny/captioning/expected.json");
    expected = expect_open("blip-tiny/captioning/expected.safetensors");
}

static void teardown(void) {
    cJSON_Delete(expected_json);
    vk_weights_close(expected);
}

static double atol_of(const char *name) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "tensors"), name);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "atol");
    cr_assert(cJSON_IsNumber(a), "expected.json has no atol for %s", name);
    return a->valuedouble;
}

static double loss_value(const char *variant) {
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "losses"), variant);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(l, "value");
    cr_assert(cJSON_IsNumber(v), "expected.json has no losses.%s.value", variant);
    return v->valuedouble;
}

static blip_caption *load(const char *rel) {
    blip_caption *m = blip_caption_load(fixture_path(rel));
    cr_assert_not_null(m, "%s", vk_err_msg());
    return m;
}

/* The fixture's input batch: pixels, input ids, attention mask (as a tensor and on the host). */
typedef struct {
    tt_tensor *pixels, *ids, *mask_t;
    int64_t *mask;
} fixture_batch;

static fixture_batch batch_load(void) {
    fixture_batch b = {expect_tensor(expected, "pixel_values"), expect_tensor(expected, "input_ids"),
                       expect_tensor(expected, "attention_mask"), NULL};
    int64_t n = tt_numel(b.mask_t);
    b.mask = malloc(sizeof(int64_t) * (size_t)n);
    cr_assert_eq(tt_copy_to(b.mask_t, b.mask, sizeof(int64_t) * (size_t)n), 0);
    return b;
}

static void batch_free(fixture_batch *b) {
    free(b->mask);
    tt_free(b->mask_t);
    tt_free(b->ids);
    tt_free(b->pixels);
}

TestSuite(blip_caption, .init = setup, .fini = teardown);

/* With autograd on (libtorch's patch conv and attention ops, as in training) and off (inference:
 * the patch embedding as one product, the fused attention kernel): both within the fixture's
 * tolerances. */
Test(blip_caption, vision_tower_matches_transformers) {
    blip_caption *m = load("blip-tiny/captioning/model");
    tt_tensor *pixels = expect_tensor(expected, "pixel_values");
    int n = m->cfg.vision.num_hidden_layers;
    for (int grad = 1; grad >= 0; grad--) {
        int was = tt_set_grad_enabled(grad);
        tt_tensor *hidden[16] = {0};
        tt_tensor *last = blip_vision_forward(&m->vision, pixels, hidden, 0);
        expect_close(hidden[0], expected, "vision.embeddings", atol_of("vision.embeddings"));
        for (int i = 0; i <= n; i++) {
            char name[64];
            snprintf(name, sizeof name, "vision.hidden_states.%d", i);
            expect_close(hidden[i], expected, name, atol_of(name));
            tt_free(hidden[i]);
        }
        expect_close(last, expected, "vision.last_hidden_state", atol_of("vision.last_hidden_state"));
        tt_tensor *pooled = blip_vision_pool(&m->vision, last);
        expect_close(pooled, expected, "vision.pooler_output", atol_of("vision.pooler_output"));
        tt_free(pooled);
        tt_free(last);
        tt_set_grad_enabled(was);
    }
    tt_free(pixels);
    blip_caption_free(m);
    cr_assert_eq(tt_live_handles(), 0, "%ld handles leaked", (long)tt_live_handles());
}

/* An image side that is not a multiple of the patch, in inference: the patch conv drops the
 * remainder, as the reference's Conv2d does (the product form needs whole patches): the
 * fixture's 32 px image padded to 36 px gives the fixture's states. */
Test(blip_caption, vision_tower_ignores_pixels_past_the_last_whole_patch) {
    blip_caption *m = load("blip-tiny/captioning/model");
    int was = tt_set_grad_enabled(0);
    tt_tensor *pixels = expect_tensor(expected, "pixel_values");
    int64_t B = tt_size(pixels, 0), S = tt_size(pixels, 2);
    cr_assert(S % m->cfg.vision.patch_size == 0);
    tt_scope_begin();
    tt_tensor *padded = tt_full((int64_t[]){B, 3, S + 4, S + 4}, 4, 0.5, TT_F32);
    cr_assert_eq(tt_copy_(tt_narrow(tt_narrow(padded, 2, 0, S), 3, 0, S), pixels), 0, "%s", tt_last_error());
    tt_tensor *last = blip_vision_forward(&m->vision, padded, NULL, 0);
    cr_assert_not_null(last, "%s", vk_err_msg());
    expect_close(last, expected, "vision.last_hidden_state", atol_of("vision.last_hidden_state"));
    tt_scope_end();
    tt_free(pixels);
    tt_set_grad_enabled(was);
    blip_caption_free(m);
    cr_assert_eq(tt_live_handles(), 0, "%ld handles leaked", (long)tt_live_handles());
}

Test(blip_caption, text_decoder_hidden_states_and_logits) {
    blip_caption *m = load("blip-tiny/captioning/model");
    fixture_batch b = batch_load();
    tt_tensor *pixels = b.pixels, *ids = b.ids;
    int64_t *mask = b.mask;
    tt_tensor *emb = blip_vision_forward(&m->vision, pixels, NULL, 0);
    blip_cross_kv cross;
    cr_assert_eq(blip_text_cross_kv(&m->text, emb, NULL, &cross, 0, 0), 0, "%s", vk_err_msg());
    tt_tensor *hidden[16] = {0};
    blip_text_args a = {.input_ids = ids, .attn_mask = mask, .causal = 1, .cross = &cross, .hidden = hidden};
    tt_tensor *h = blip_text_forward(&m->text, &a);
    for (int i = 0; i <= m->cfg.text.num_hidden_layers; i++) {
        char name[64];
        snprintf(name, sizeof name, "text.hidden_states.%d", i);
        expect_close(hidden[i], expected, name, atol_of(name));
        tt_free(hidden[i]);
    }
    tt_tensor *logits = blip_text_lm_head(&m->text, h, 0);
    expect_close(logits, expected, "logits", atol_of("logits"));
    /* the one-call path gives the same logits */
    tt_tensor *logits2 = blip_caption_logits(m, pixels, ids, mask, 0);
    cr_assert_eq(tt_allclose(logits, logits2, 0, 0), 1);
    tt_free(logits2);
    tt_free(logits);
    tt_free(h);
    blip_cross_kv_free(&cross);
    tt_free(emb);
    batch_free(&b);
    blip_caption_free(m);
    cr_assert_eq(tt_live_handles(), 0, "%ld handles leaked", (long)tt_live_handles());
}

Test(blip_caption, pytorch_model_bin_folder_gives_the_same_logits) {
    blip_caption *m = load("blip-tiny/captioning/model-bin");
    fixture_batch b = batch_load();
    tt_tensor *pixels = b.pixels, *ids = b.ids;
    int64_t *mask = b.mask;
    tt_tensor *logits = blip_caption_logits(m, pixels, ids, mask, 0);
    expect_close(logits, expected, "logits", atol_of("logits"));
    tt_free(logits);
    batch_free(&b);
    blip_caption_free(m);
}

/* labels = ids with masked positions set to -100 */
static tt_tensor *masked_labels(tt_tensor *ids, tt_tensor *mask) {
    tt_scope_begin();
    tt_tensor *l = tt_keep(tt_masked_fill(ids, tt_eq_scalar(mask, 0), -100));
    tt_scope_end();
    return l;
}

Test(blip_caption, loss_variants_match_transformers) {
    blip_caption *m = load("blip-tiny/captioning/model");
    fixture_batch b = batch_load();
    tt_tensor *pixels = b.pixels, *ids = b.ids, *mask_t = b.mask_t;
    int64_t *mask = b.mask;
    tt_scope_begin();
    tt_tensor *labels = masked_labels(ids, mask_t);
    tt_tensor *logits = blip_caption_logits(m, pixels, ids, mask, 0);
    double masked = tt_item(blip_lm_loss(logits, labels, 0.0));
    double want = loss_value("masked");
    cr_assert(fabs(masked - want) <= 1e-5 * fabs(want), "masked loss %.9g, expected %.9g", masked, want);
    double smooth = tt_item(blip_lm_loss(logits, labels, 0.1));
    want = loss_value("masked_label_smoothing_0.1");
    cr_assert(fabs(smooth - want) <= 1e-5 * fabs(want), "smoothed loss %.9g, expected %.9g", smooth, want);
    /* HF tutorial: no attention mask, pads are targets */
    double tutorial = tt_item(blip_lm_loss(blip_caption_logits(m, pixels, ids, NULL, 0), ids, 0.0));
    want = loss_value("hf_tutorial");
    cr_assert(fabs(tutorial - want) <= 1e-5 * fabs(want), "hf_tutorial loss %.9g, expected %.9g", tutorial, want);
    /* original BLIP: first token [DEC], pads ignored, smoothing 0.1 */
    tt_tensor *dec_ids = tt_clone(ids);
    tt_tensor *col0 = tt_narrow(dec_ids, 1, 0, 1);
    cr_assert_eq(tt_fill_(col0, m->cfg.text.bos_token_id), 0);
    double blip = tt_item(blip_lm_loss(blip_caption_logits(m, pixels, dec_ids, mask, 0), masked_labels(dec_ids, mask_t), 0.1));
    want = loss_value("original_blip_style");
    cr_assert(fabs(blip - want) <= 1e-5 * fabs(want), "original_blip_style loss %.9g, expected %.9g", blip, want);
    tt_scope_end();
    batch_free(&b);
    blip_caption_free(m);
    cr_assert_eq(tt_live_handles(), 0, "%ld handles leaked", (long)tt_live_handles());
}

Test(blip_caption, gradients_of_every_parameter) {
    blip_caption *m = load("blip-tiny/captioning/model");
    fixture_batch b = batch_load();
    tt_tensor *pixels = b.pixels, *ids = b.ids, *mask_t = b.mask_t;
    int64_t *mask = b.mask;
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "gradients"), "params");
    cr_assert(cJSON_GetArraySize(names) > 0);
    const cJSON *n;
    cJSON_ArrayForEach(n, names) {
        tt_tensor *p = blip_params_find(m->params, n->valuestring);
        cr_assert_not_null(p, "parameter %s not loaded", n->valuestring);
        cr_assert_eq(tt_requires_grad(p, 1), 0);
    }
    tt_scope_begin();
    tt_tensor *loss = blip_lm_loss(blip_caption_logits(m, pixels, ids, mask, 1), masked_labels(ids, mask_t), 0.0);
    cr_assert_eq(tt_backward(loss), 0, "%s", tt_last_error());
    int checked = 0;
    cJSON_ArrayForEach(n, names) {
        char gname[512];
        snprintf(gname, sizeof gname, "grad.%s", n->valuestring);
        tt_tensor *g = tt_grad(blip_params_find(m->params, n->valuestring));
        expect_close(g, expected, gname, atol_of(gname));
        checked++;
    }
    cr_assert_eq(checked, cJSON_GetArraySize(names));
    tt_scope_end();
    batch_free(&b);
    blip_caption_free(m);
}

Test(blip_caption, bad_folders_give_one_clear_error) {
    char *dir = test_tmpdir();
    cr_assert_null(blip_caption_load(dir));
    cr_assert(strstr(vk_err_msg(), "config.json"), "%s", vk_err_msg());
    /* a VQA checkpoint is refused by name */
    cr_assert_null(blip_caption_load(fixture_path("blip-tiny/vqa/model")));
    cr_assert(strstr(vk_err_msg(), "BlipForQuestionAnswering"), "%s", vk_err_msg());
    /* config of a different size: every mis-shaped tensor is named */
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    FILE *f = fopen(cfg, "w");
    fputs("{\"architectures\":[\"BlipForConditionalGeneration\"],\"model_type\":\"blip\","
          "\"text_config\":{\"hidden_size\":32,\"intermediate_size\":64,\"num_hidden_layers\":2,"
          "\"num_attention_heads\":4,\"vocab_size\":141,\"max_position_embeddings\":64,\"bos_token_id\":139,\"sep_token_id\":3},"
          "\"vision_config\":{\"hidden_size\":32,\"intermediate_size\":48,\"num_hidden_layers\":2,"
          "\"num_attention_heads\":4,\"image_size\":32,\"patch_size\":8}}",
          f);
    fclose(f);
    char link[512];
    snprintf(link, sizeof link, "%s/model.safetensors", dir);
    char *weights = realpath(fixture_path("blip-tiny/captioning/model/model.safetensors"), NULL);
    cr_assert_not_null(weights);
    cr_assert_eq(symlink(weights, link), 0);
    free(weights);
    cr_assert_null(blip_caption_load(dir));
    cr_assert(strstr(vk_err_msg(), "vision_model.encoder.layers.0.mlp.fc1.weight has shape [64, 32], config says [48, 32]"),
              "%s", vk_err_msg());
    /* unknown activation and wrong types are named */
    f = fopen(cfg, "w");
    fputs("{\"text_config\":{\"hidden_act\":\"relu\"}}", f);
    fclose(f);
    cr_assert_null(blip_caption_load(dir));
    cr_assert(strstr(vk_err_msg(), "text_config.hidden_act relu"), "%s", vk_err_msg());
    f = fopen(cfg, "w");
    fputs("{\"vision_config\":{\"patch_size\":\"16\"}}", f);
    fclose(f);
    cr_assert_null(blip_caption_load(dir));
    cr_assert(strstr(vk_err_msg(), "vision_config.patch_size must be an integer"), "%s", vk_err_msg());
    cr_assert_eq(tt_live_handles(), 0, "a failed load leaked %ld handles", (long)tt_live_handles());
    free(dir);
}
