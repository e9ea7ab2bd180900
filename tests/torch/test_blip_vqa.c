/* test_blip_vqa.c — BlipForQuestionAnswering against transformers (fixtures blip-tiny/vqa):
 * image features, question embeddings, answer logits, each loss variant, the gradient of every
 * parameter, and greedy / beam answers (generate()'s unmasked question padding included).
 * Tolerances: the fixture's per-tensor atol. */
#include "model/blip_vqa.h"
#include "tests/torch/expect.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static cJSON *ej;
static vk_weights *ew;
static blip_vqa *model;
static tt_tensor *pixels, *q_ids, *a_ids, *q_mask_t, *a_mask_t;
static int64_t q_mask[64], a_mask[64];

static double atol_of(const char *name) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ej, "tensors"), name);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "atol");
    cr_assert(cJSON_IsNumber(a), "no atol for %s", name);
    return a->valuedouble;
}

static void setup(void) {
    ej = fixture_json("blip-tiny/vqa/expected.json");
    ew = expect_open("blip-tiny/vqa/expected.safetensors");
    model = blip_vqa_load(fixture_path("blip-tiny/vqa/model"));
    cr_assert_not_null(model, "%s", vk_err_msg());
    pixels = expect_tensor(ew, "pixel_values");
    q_ids = expect_tensor(ew, "input_ids");
    a_ids = expect_tensor(ew, "answer_input_ids");
    q_mask_t = expect_tensor(ew, "attention_mask");
    a_mask_t = expect_tensor(ew, "answer_attention_mask");
    cr_assert_eq(tt_copy_to(q_mask_t, q_mask, sizeof(int64_t) * (size_t)tt_numel(q_mask_t)), 0);
    cr_assert_eq(tt_copy_to(a_mask_t, a_mask, sizeof(int64_t) * (size_t)tt_numel(a_mask_t)), 0);
}

static void teardown(void) {
    tt_free(pixels), tt_free(q_ids), tt_free(a_ids), tt_free(q_mask_t), tt_free(a_mask_t);
    blip_vqa_free(model);
    cJSON_Delete(ej);
    vk_weights_close(ew);
}

TestSuite(blip_vqa, .init = setup, .fini = teardown);

static tt_tensor *question_embeds(int train) {
    tt_tensor *img = blip_vision_forward(&model->vision, pixels, NULL, train);
    tt_tensor *q = blip_vqa_question_embeds(model, img, q_ids, q_mask, train);
    tt_free(img);
    return q;
}

static double loss_value(const char *variant) {
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ej, "losses"), variant);
    return cJSON_GetObjectItemCaseSensitive(l, "value")->valuedouble;
}

Test(blip_vqa, features_question_embeds_and_answer_logits) {
    int64_t live = tt_live_handles();
    tt_tensor *img = blip_vision_forward(&model->vision, pixels, NULL, 0);
    expect_close(img, ew, "vision.last_hidden_state", atol_of("vision.last_hidden_state"));
    tt_tensor *q = blip_vqa_question_embeds(model, img, q_ids, q_mask, 0);
    expect_close(q, ew, "question_embeds", atol_of("question_embeds"));
    tt_tensor *logits = blip_vqa_answer_logits(model, q, q_mask, a_ids, a_mask, 0);
    expect_close(logits, ew, "answer_logits", atol_of("answer_logits"));
    tt_free(logits), tt_free(q), tt_free(img);
    cr_assert_eq(tt_live_handles(), live, "leaked %ld handles", (long)(tt_live_handles() - live));
}

Test(blip_vqa, loss_variants) {
    tt_scope_begin();
    tt_tensor *q = question_embeds(0);
    /* transformers' labels-only call: decoder input = labels, no decoder mask, pads are targets */
    double hf = tt_item(blip_lm_loss(blip_vqa_answer_logits(model, q, q_mask, a_ids, NULL, 0), a_ids, 0.0));
    double want = loss_value("hf_labels_only");
    cr_assert(fabs(hf - want) <= 1e-5 * want, "hf_labels_only %.8g vs %.8g", hf, want);
    tt_tensor *labels = tt_masked_fill(a_ids, tt_eq_scalar(a_mask_t, 0), -100);
    double masked = tt_item(blip_lm_loss(blip_vqa_answer_logits(model, q, q_mask, a_ids, a_mask, 0), labels, 0.0));
    want = loss_value("masked");
    cr_assert(fabs(masked - want) <= 1e-5 * want, "masked %.8g vs %.8g", masked, want);
    tt_tensor *dec = tt_clone(a_ids);
    tt_fill_(tt_narrow(dec, 1, 0, 1), model->cfg.text.bos_token_id);
    tt_tensor *dec_labels = tt_masked_fill(dec, tt_eq_scalar(a_mask_t, 0), -100);
    double blip = tt_item(blip_lm_loss(blip_vqa_answer_logits(model, q, q_mask, dec, a_mask, 0), dec_labels, 0.1));
    want = loss_value("original_blip_style");
    cr_assert(fabs(blip - want) <= 1e-5 * want, "original_blip_style %.8g vs %.8g", blip, want);
    tt_scope_end();
}

Test(blip_vqa, gradients_of_every_parameter) {
    int checked = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(ej, "tensors")) {
        if (strncmp(t->string, "grad.", 5)) continue;
        tt_tensor *p = blip_params_find(model->params, t->string + 5);
        cr_assert_not_null(p, "parameter %s not loaded", t->string + 5);
        cr_assert_eq(tt_requires_grad(p, 1), 0);
    }
    tt_scope_begin();
    tt_tensor *labels = tt_masked_fill(a_ids, tt_eq_scalar(a_mask_t, 0), -100);
    tt_tensor *loss = blip_lm_loss(blip_vqa_answer_logits(model, question_embeds(1), q_mask, a_ids, a_mask, 1), labels, 0.0);
    cr_assert_eq(tt_backward(loss), 0, "%s", tt_last_error());
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(ej, "tensors")) {
        if (strncmp(t->string, "grad.", 5)) continue;
        expect_close(tt_grad(blip_params_find(model->params, t->string + 5)), ew, t->string, atol_of(t->string));
        checked++;
    }
    tt_scope_end();
    cr_assert_geq(checked, 100);
}

static void check_answers(const char *name, int beams, int max_length, int min_length) {
    tt_tensor *q = question_embeds(0);
    blip_gen_params gp = blip_gen_default_params(&model->cfg.text);
    gp.num_beams = beams;
    gp.max_length = max_length;
    gp.min_length = min_length;
    blip_gen_output out;
    cr_assert_eq(blip_vqa_answer(model, q, q_mask, 0, &gp, &out), 0, "%s", vk_err_msg());
    char tname[64];
    snprintf(tname, sizeof tname, "gen.%s.ids", name);
    expect_ids_equal(out.ids, out.rows, out.len, ew, tname);
    blip_gen_output_free(&out);
    tt_free(q);
}

Test(blip_vqa, greedy_answers) { check_answers("greedy", 1, 20, 0); }

Test(blip_vqa, beam_answers) {
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ej, "generation"), "beam3"), "kwargs");
    check_answers("beam3", cJSON_GetObjectItemCaseSensitive(kw, "num_beams")->valueint,
                  cJSON_GetObjectItemCaseSensitive(kw, "max_length")->valueint,
                  cJSON_GetObjectItemCaseSensitive(kw, "min_length")->valueint);
}

Test(blip_vqa, wrong_architecture_is_named) {
    cr_assert_null(blip_vqa_load(fixture_path("blip-tiny/captioning/model")));
    cr_assert(strstr(vk_err_msg(), "BlipForConditionalGeneration"), "%s", vk_err_msg());
}
