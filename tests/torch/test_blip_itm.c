/* test_blip_itm.c — BlipForImageTextRetrieval in C against transformers' own outputs (fixtures
 * blip-tiny/itm): image embeddings, the text encoder in both modes (with and without
 * cross-attention), ITM logits, the image x text match-probability matrix and the cosine
 * similarities. Tolerances are the fixture's per-tensor `atol` from expected.json (10x the
 * observed float32-vs-float64 error of the reference; 1e-5 where none is given). */
#include "data/preprocess.h"
#include "data/wordpiece.h"
#include "model/blip_itm.h"
#include "model/weights/safetensors.h"
#include "tests/torch/expect.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ITM "blip-tiny/itm/"

static cJSON *expected_json;
static vk_weights *expected;

static void setup(void) {
    expected_json = fixture_json(ITM "expected.json");
    expected = expect_open(ITM "expected.safetensors");
}

static void teardown(void) {
    cJSON_Delete(expected_json);
    vk_weights_close(expected);
}

static double atol_of(const char *name) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "tensors"), name);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "atol");
    cr_assert(cJSON_IsObject(t), "expected.json has no tensor %s", name);
    return cJSON_IsNumber(a) ? a->valuedouble : 1e-5;
}

static blip_itm *load(void) {
    blip_itm *m = blip_itm_load(fixture_path(ITM "model"));
    cr_assert_not_null(m, "%s", vk_err_msg());
    return m;
}

static int64_t *host_ids(const char *name, int64_t *rows, int64_t *cols) {
    const vk_tensor_view *v = vk_weights_find(expected, name);
    cr_assert(v && v->dtype == VK_DTYPE_I64 && v->ndim == 2);
    *rows = v->shape[0], *cols = v->shape[1];
    int64_t *out = malloc(v->nbytes);
    memcpy(out, v->data, v->nbytes);
    return out;
}

static void check_leaks(void) {
    cr_assert_eq(tt_live_handles(), 0, "%ld handles leaked", (long)tt_live_handles());
}

TestSuite(blip_itm, .init = setup, .fini = teardown);

Test(blip_itm, inputs_match_the_tokenizer_and_image_processor) {
    /* the texts tokenized as HF's processor does ([CLS] first, no [ENC]), padding longest */
    wordpiece *tok = wordpiece_load(fixture_path(ITM "model"));
    cr_assert_not_null(tok, "%s", vk_err_msg());
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "inputs"), "texts");
    const char *t[2] = {cJSON_GetArrayItem(texts, 0)->valuestring, cJSON_GetArrayItem(texts, 1)->valuestring};
    wordpiece_encode_opts o = wordpiece_encode_defaults();
    o.padding = WORDPIECE_PAD_LONGEST;
    wordpiece_batch b;
    cr_assert_eq(wordpiece_encode(tok, t, 2, &o, &b), 0, "%s", vk_err_msg());
    expect_ids_equal(b.ids, b.rows, b.cols, expected, "input_ids");
    expect_ids_equal(b.mask, b.rows, b.cols, expected, "attention_mask");
    wordpiece_batch_free(&b);
    wordpiece_free(tok);
    /* the images through the checkpoint's preprocessor_config.json */
    image_preproc_config pc;
    cr_assert_eq(image_preproc_load(fixture_path(ITM "model"), &pc), 0, "%s", vk_err_msg());
    const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "inputs"), "images");
    size_t per = image_preproc_numel(&pc);
    float *px = malloc(sizeof(float) * per * 2);
    for (int i = 0; i < 2; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "blip-tiny/preprocess/images/%s", cJSON_GetArrayItem(imgs, i)->valuestring);
        cr_assert_eq(image_preprocess_file(&pc, fixture_path(rel), px + per * (size_t)i), 0, "%s", vk_err_msg());
    }
    /* img0 is a PNG: exact (the file's 1e-6); img1 a JPEG: stb_image and libjpeg-turbo differ by
     * up to 2 levels, 3 after the resize (tests/pure/test_image.c) = 3 / 255 / min(std) < 0.046 */
    tt_tensor *got = tt_from_data(px, (int64_t[]){2, 3, pc.height, pc.width}, 4, TT_F32);
    tt_tensor *want = expect_tensor(expected, "pixel_values");
    const double tol[2] = {1e-6, 3.0 / 255.0 / 0.26130258 + 1e-6};
    for (int i = 0; i < 2; i++) {
        tt_tensor *g = tt_narrow(got, 0, i, 1), *w = tt_narrow(want, 0, i, 1);
        double d = expect_max_abs_diff(g, w, "pixel_values");
        cr_assert(d <= tol[i], "pixel_values of image %d: max abs diff %.3g > %.3g", i, d, tol[i]);
        tt_free(g), tt_free(w);
    }
    tt_free(want), tt_free(got);
    free(px);
    check_leaks();
}

Test(blip_itm, itm_head_and_text_encoder_with_cross_attention) {
    blip_itm *m = load();
    tt_tensor *pixels = expect_tensor(expected, "pixel_values"), *ids = expect_tensor(expected, "input_ids");
    int64_t rows, cols;
    int64_t *mask = host_ids("attention_mask", &rows, &cols);
    tt_tensor *img = blip_itm_image_embeds(m, pixels);
    expect_close(img, expected, "vision.last_hidden_state", atol_of("vision.last_hidden_state"));
    /* image i with text i */
    tt_tensor *states = NULL;
    tt_tensor *logits = blip_itm_logits(m, img, ids, mask, &states);
    expect_close(logits, expected, "itm_logits", atol_of("itm_logits"));
    expect_close(states, expected, "itm_question_embeds", atol_of("itm_question_embeds"));
    /* softmax(logits)[:, 1] equals expected.json's itm_match_prob */
    tt_tensor *prob = blip_itm_match_prob(logits);
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(expected_json, "itm_match_prob");
    float p[2];
    cr_assert_eq(tt_copy_to(prob, p, sizeof p), 0);
    for (int i = 0; i < 2; i++)
        cr_assert(fabs(p[i] - cJSON_GetArrayItem(want, i)->valuedouble) <= 1e-5, "match prob %d: %g vs %g", i, p[i],
                  cJSON_GetArrayItem(want, i)->valuedouble);
    /* every image against every text: one image shared by the whole text batch */
    tt_tensor *row[2];
    for (int i = 0; i < 2; i++) {
        tt_tensor *one = tt_narrow(img, 0, i, 1);
        tt_tensor *l = blip_itm_logits(m, one, ids, mask, NULL);
        row[i] = blip_itm_match_prob(l);
        cr_assert_not_null(row[i], "%s", vk_err_msg());
        tt_free(l);
        tt_free(one);
    }
    tt_tensor *matrix = tt_stack(row, 2, 0);
    expect_close(matrix, expected, "itm_match_prob_matrix", atol_of("itm_match_prob_matrix"));
    /* a mismatched batch is refused */
    tt_tensor *first = tt_narrow(img, 0, 0, 1);
    tt_tensor *three = tt_cat((tt_tensor *[]){img, first}, 2, 0);
    cr_assert_null(blip_itm_logits(m, three, ids, mask, NULL));
    cr_assert(strstr(vk_err_msg(), "3 images for 2 texts"), "%s", vk_err_msg());
    tt_free(three), tt_free(first);
    tt_free(matrix), tt_free(row[0]), tt_free(row[1]), tt_free(prob), tt_free(states), tt_free(logits);
    tt_free(img), tt_free(ids), tt_free(pixels);
    free(mask);
    blip_itm_free(m);
    tt_clear_error();
    check_leaks();
}

Test(blip_itm, contrastive_features_and_cosine_similarities) {
    blip_itm *m = load();
    tt_tensor *pixels = expect_tensor(expected, "pixel_values"), *ids = expect_tensor(expected, "input_ids");
    int64_t rows, cols;
    int64_t *mask = host_ids("attention_mask", &rows, &cols);
    tt_tensor *img = blip_itm_image_embeds(m, pixels);
    tt_tensor *fi = blip_itm_image_features(m, img), *states = NULL;
    tt_tensor *ft = blip_itm_text_features(m, ids, mask, &states);
    expect_close(states, expected, "cosine_question_embeds", atol_of("cosine_question_embeds"));
    cr_assert_eq(tt_size(fi, 1), m->cfg.image_text_hidden_size);
    /* unit rows */
    float norms[2];
    tt_tensor *n = tt_norm_dim(fi, 2.0, -1, 0);
    cr_assert_eq(tt_copy_to(n, norms, sizeof norms), 0);
    for (int i = 0; i < 2; i++) cr_assert(fabs(norms[i] - 1.0) < 1e-6, "image feature %d has norm %g", i, norms[i]);
    tt_tensor *cos = blip_itm_cosine(fi, ft);
    expect_close(cos, expected, "cosine_sim", atol_of("cosine_sim"));
    /* the same from expected.json's numbers */
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(expected_json, "cosine_sim");
    float c[4];
    cr_assert_eq(tt_copy_to(cos, c, sizeof c), 0);
    for (int i = 0; i < 4; i++)
        cr_assert(fabs(c[i] - cJSON_GetArrayItem(cJSON_GetArrayItem(want, i / 2), i % 2)->valuedouble) <= 1e-5);
    /* bf16 matrix products: the same ranking, cosines within 0.02 */
    cr_assert_eq(blip_itm_set_dtype(m, TT_BF16), 0, "%s", vk_err_msg());
    tt_tensor *img16 = blip_itm_image_embeds(m, pixels);
    tt_tensor *fi16 = blip_itm_image_features(m, img16), *ft16 = blip_itm_text_features(m, ids, mask, NULL);
    tt_tensor *cos16 = blip_itm_cosine(fi16, ft16);
    cr_assert_eq(tt_dtype_of(cos16), TT_F32);
    double d = expect_max_abs_diff(cos16, cos, "bf16 cosine");
    cr_assert(d < 0.02, "bf16 cosine differs by %g", d);
    cr_assert_eq(blip_itm_set_dtype(m, TT_F32), 0);
    tt_free(cos16), tt_free(ft16), tt_free(fi16), tt_free(img16);
    tt_free(n), tt_free(cos), tt_free(states), tt_free(ft), tt_free(fi), tt_free(img), tt_free(ids), tt_free(pixels);
    free(mask);
    blip_itm_free(m);
    check_leaks();
}

Test(blip_itm, l2_normalize_is_f_normalize) {
    /* x / max(|x|, 1e-12): a zero row stays zero instead of becoming NaN */
    float x[6] = {3, 4, 0, 0, 0, 0};
    tt_tensor *t = tt_from_data(x, (int64_t[]){2, 3}, 2, TT_F32);
    tt_tensor *n = blip_l2_normalize(t);
    float y[6];
    cr_assert_eq(tt_copy_to(n, y, sizeof y), 0);
    cr_assert(fabsf(y[0] - 0.6f) < 1e-7 && fabsf(y[1] - 0.8f) < 1e-7 && y[2] == 0);
    for (int i = 3; i < 6; i++) cr_assert(y[i] == 0);
    tt_free(n), tt_free(t);
    check_leaks();
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void copy_config(const char *dir) {
    size_t len;
    char *cfg = vk_read_file(fixture_path(ITM "model/config.json"), &len, 0);
    cr_assert_not_null(cfg, "%s", vk_err_msg());
    write_file(dir, "config.json", cfg);
    free(cfg);
}

Test(blip_itm, bad_folders_give_one_clear_error) {
    char *dir = test_tmpdir();
    cr_assert_null(blip_itm_load(dir));
    cr_assert(strstr(vk_err_msg(), "config.json"), "%s", vk_err_msg());
    /* other architectures are refused by name */
    cr_assert_null(blip_itm_load(fixture_path("blip-tiny/captioning/model")));
    cr_assert(strstr(vk_err_msg(), "BlipForConditionalGeneration") && strstr(vk_err_msg(), "BlipForImageTextRetrieval"),
              "%s", vk_err_msg());
    cr_assert_null(blip_itm_load(fixture_path("blip-tiny/vqa/model")));
    cr_assert(strstr(vk_err_msg(), "BlipForQuestionAnswering"), "%s", vk_err_msg());
    /* no weights */
    copy_config(dir);
    cr_assert_null(blip_itm_load(dir));
    cr_assert(strstr(vk_err_msg(), "model.safetensors") || strstr(vk_err_msg(), "pytorch_model.bin"), "%s", vk_err_msg());
    /* a truncated safetensors file names the file */
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_file(dir, "model.safetensors", "\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":");
    cr_assert_null(blip_itm_load(dir));
    cr_assert(strstr(vk_err_msg(), "model.safetensors"), "%s", vk_err_msg());
    /* a pytorch_model.bin that is not a zip checkpoint: named too */
    unlink(path);
    write_file(dir, "pytorch_model.bin", "PK\x03\x04 not really a zip");
    cr_assert_null(blip_itm_load(dir));
    cr_assert(strstr(vk_err_msg(), "pytorch_model.bin"), "%s", vk_err_msg());
    snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
    unlink(path);
    /* the weights without the ITM head and projections: every missing tensor is named */
    vk_weights *w = vk_weights_open(fixture_path(ITM "model/model.safetensors"));
    cr_assert_not_null(w, "%s", vk_err_msg());
    size_t n = vk_weights_count(w), k = 0;
    vk_tensor_view *keep = calloc(n, sizeof *keep);
    for (size_t i = 0; i < n; i++) {
        const vk_tensor_view *t = vk_weights_tensor(w, i);
        if (strncmp(t->name, "itm_head.", 9) && strncmp(t->name, "text_proj.", 10)) keep[k++] = *t;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cr_assert_eq(vk_safetensors_write(path, keep, k, NULL, 0), 0, "%s", vk_err_msg());
    free(keep);
    vk_weights_close(w);
    cr_assert_null(blip_itm_load(dir));
    cr_assert(strstr(vk_err_msg(), "itm_head.weight") && strstr(vk_err_msg(), "text_proj.weight"), "%s", vk_err_msg());
    cr_assert_eq(tt_live_handles(), 0, "a failed load leaked %ld handles", (long)tt_live_handles());
    free(dir);
}
