/* test_blip_generate.c — greedy and beam search against transformers' generate() on the
 * blip-tiny captioning fixture: ids exact (with and without a prompt, ragged prompts), greedy
 * per-step scores within the fixture's atol, beam sequence scores. The kwargs of each case are
 * read from expected.json. */
#include "kernels/attention.h"
#include "kernels/head_projection.h"
#include "model/blip_caption.h"
#include "model/blip_generate.h"
#include "tests/torch/expect.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static cJSON *expected_json;
static vk_weights *expected;
static blip_caption *model;
static tt_tensor *image_embeds;

static void setup(void) {
    expected_json = fixture_json("blip-tiny/captioning/expected.json");
    expected = expect_open("blip-tiny/captioning/expected.safetensors");
    model = blip_caption_load(fixture_path("blip-tiny/captioning/model"));
    cr_assert_not_null(model, "%s", vk_err_msg());
    tt_tensor *pixels = expect_tensor(expected, "pixel_values");
    image_embeds = blip_vision_forward(&model->vision, pixels, NULL, 0);
    cr_assert_not_null(image_embeds, "%s", tt_last_error());
    tt_free(pixels);
}

static void teardown(void) {
    tt_free(image_embeds);
    blip_caption_free(model);
    cJSON_Delete(expected_json);
    vk_weights_close(expected);
}

TestSuite(blip_generate, .init = setup, .fini = teardown);

static const cJSON *gen_case(const char *name) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "generation"), name);
    cr_assert_not_null(c, "expected.json has no generation.%s", name);
    return c;
}

static int json_int(const cJSON *obj, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

/* generate() turns the tokenized prompt "[CLS] ... [SEP]" into "[DEC] ...": column 0 becomes
 * [DEC] and the last column is dropped (for ragged prompts that leaves [SEP]/[PAD] inside). */
static int64_t build_prompt(const cJSON *c, int64_t B, int64_t **ids, int64_t **mask) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "prompt_input_ids");
    const cJSON *pm = cJSON_GetObjectItemCaseSensitive(c, "prompt_attention_mask");
    int bos = model->cfg.text.bos_token_id;
    if (!cJSON_IsArray(p)) {
        *ids = malloc(sizeof(int64_t) * (size_t)B);
        for (int64_t b = 0; b < B; b++) (*ids)[b] = bos;
        *mask = NULL;
        return 1;
    }
    cr_assert_eq(cJSON_GetArraySize(p), B);
    int64_t L = cJSON_GetArraySize(cJSON_GetArrayItem(p, 0)) - 1;
    *ids = malloc(sizeof(int64_t) * (size_t)(B * L));
    *mask = cJSON_IsArray(pm) ? malloc(sizeof(int64_t) * (size_t)(B * L)) : NULL;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < L; j++) {
            (*ids)[b * L + j] = j == 0 ? bos : (int64_t)cJSON_GetArrayItem(cJSON_GetArrayItem(p, (int)b), (int)j)->valuedouble;
            if (*mask) (*mask)[b * L + j] = (int64_t)cJSON_GetArrayItem(cJSON_GetArrayItem(pm, (int)b), (int)j)->valuedouble;
        }
    return L;
}

/* ids of the case as a flat array (from the JSON, the same numbers as gen.<name>.ids) */
static void check_ids(const cJSON *c, const blip_gen_output *out, const char *name) {
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(c, "ids");
    cr_assert_eq(out->rows, cJSON_GetArraySize(ids), "%s: rows", name);
    for (int64_t b = 0; b < out->rows; b++) {
        const cJSON *row = cJSON_GetArrayItem(ids, (int)b);
        char got[512] = "", want[512] = "";
        for (int64_t j = 0; j < out->len; j++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%ld ", (long)out->ids[b * out->len + j]);
        for (int j = 0; j < cJSON_GetArraySize(row); j++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%d ", cJSON_GetArrayItem(row, j)->valueint);
        cr_assert_str_eq(got, want, "%s row %ld:\n got  %s\n want %s", name, (long)b, got, want);
    }
}

static void run_case(const char *name, int keep_scores, blip_gen_output *out) {
    const cJSON *c = gen_case(name);
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(c, "kwargs");
    blip_gen_params gp = blip_gen_default_params(&model->cfg.text);
    gp.num_beams = json_int(kw, "num_beams", 1);
    gp.max_length = json_int(kw, "max_length", 20);
    gp.min_length = json_int(kw, "min_length", 0);
    int64_t B = tt_size(image_embeds, 0), *prompt, *mask;
    int64_t P = build_prompt(c, B, &prompt, &mask);
    int rc = blip_generate(&model->text, image_embeds, NULL, prompt, mask, B, P, &gp, keep_scores, out);
    cr_assert_eq(rc, 0, "%s: %s", name, vk_err_msg());
    free(prompt);
    free(mask);
    check_ids(c, out, name);
    /* the same ids are stored as a tensor too */
    char tname[64];
    snprintf(tname, sizeof tname, "gen.%s.ids", name);
    if (vk_weights_find(expected, tname)) expect_ids_equal(out->ids, out->rows, out->len, expected, tname);
}

static void check_scores(const char *name, const blip_gen_output *out) {
    char sname[64];
    snprintf(sname, sizeof sname, "gen.%s.scores", name);
    const vk_tensor_view *v = vk_weights_find(expected, sname);
    cr_assert_not_null(v);
    int64_t V = model->cfg.text.vocab_size;
    tt_tensor *got = tt_from_data(out->step_scores, (int64_t[]){out->rows, out->steps, V}, 3, TT_F32);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "tensors"), sname);
    expect_close(got, expected, sname, cJSON_GetObjectItemCaseSensitive(t, "atol")->valuedouble);
    tt_free(got);
}

Test(blip_generate, greedy_unconditional) {
    blip_gen_output out;
    run_case("greedy", 1, &out);
    check_scores("greedy", &out);
    blip_gen_output_free(&out);
}

Test(blip_generate, greedy_with_prompt) {
    blip_gen_output out;
    run_case("greedy_prompt", 1, &out);
    check_scores("greedy_prompt", &out);
    blip_gen_output_free(&out);
}

static void check_sequence_scores(const char *name, const blip_gen_output *out) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(gen_case(name), "sequences_scores");
    for (int64_t b = 0; b < out->rows; b++) {
        double want = cJSON_GetArrayItem(s, (int)b)->valuedouble;
        cr_assert(fabs(out->sequence_scores[b] - want) <= 1e-4, "%s row %ld: score %.7g, expected %.7g", name, (long)b,
                  out->sequence_scores[b], want);
    }
}

Test(blip_generate, beam3_min_length) {
    blip_gen_output out;
    run_case("beam3", 0, &out);
    check_sequence_scores("beam3", &out);
    blip_gen_output_free(&out);
}

Test(blip_generate, beam3_with_prompt) {
    blip_gen_output out;
    run_case("beam3_prompt", 0, &out);
    check_sequence_scores("beam3_prompt", &out);
    blip_gen_output_free(&out);
}

Test(blip_generate, ragged_prompts_quirk) {
    blip_gen_output out;
    run_case("quirk_ragged_prompts", 0, &out);
    blip_gen_output_free(&out);
}

Test(blip_generate, cached_steps_equal_full_recompute) {
    /* the KV cache and the once-computed cross-attention K/V change nothing: each greedy step's
     * scores equal the last-position logits of a full teacher-forced pass over the prefix */
    blip_gen_output out;
    run_case("greedy", 1, &out);
    int64_t V = model->cfg.text.vocab_size, B = out.rows;
    for (int64_t step = 0; step < out.steps; step += 5) {
        int64_t L = step + 1;
        int64_t *prefix = malloc(sizeof(int64_t) * (size_t)(B * L));
        for (int64_t b = 0; b < B; b++) memcpy(prefix + b * L, out.ids + b * out.len, sizeof(int64_t) * (size_t)L);
        tt_scope_begin();
        tt_tensor *ids = tt_from_data(prefix, (int64_t[]){B, L}, 2, TT_I64);
        tt_tensor *logits = blip_caption_logits_from_embeds(model, image_embeds, ids, NULL, 0);
        tt_tensor *last = tt_contiguous(tt_select(logits, 1, L - 1));
        float *full = malloc(sizeof(float) * (size_t)(B * V));
        cr_assert_eq(tt_copy_to(last, full, sizeof(float) * (size_t)(B * V)), 0);
        for (int64_t b = 0; b < B; b++)
            for (int64_t v = 0; v < V; v++)
                cr_assert(fabs(full[b * V + v] - out.step_scores[(b * out.steps + step) * V + v]) < 1e-4,
                          "step %ld row %ld token %ld", (long)step, (long)b, (long)v);
        free(full);
        tt_free(logits);
        tt_scope_end();
        free(prefix);
    }
    blip_gen_output_free(&out);
}

Test(blip_generate, penalties_follow_transformers_definitions) {
    /* repetition_penalty > 1 and no_repeat_ngram_size change the greedy output in the way their
     * definitions say: no bigram repeats, and with a huge repetition penalty no token repeats
     * (the unconditional greedy output repeats "able" many times). */
    blip_gen_params gp = blip_gen_default_params(&model->cfg.text);
    int64_t B = tt_size(image_embeds, 0);
    int64_t prompt[2] = {model->cfg.text.bos_token_id, model->cfg.text.bos_token_id};
    blip_gen_output out;
    gp.no_repeat_ngram_size = 2;
    cr_assert_eq(blip_generate(&model->text, image_embeds, NULL, prompt, NULL, B, 1, &gp, 0, &out), 0, "%s", vk_err_msg());
    for (int64_t b = 0; b < B; b++) {
        const int64_t *r = out.ids + b * out.len;
        int64_t n = out.len;
        while (n > 0 && r[n - 1] == gp.pad_token_id) n--;
        for (int64_t i = 0; i + 1 < n; i++)
            for (int64_t j = i + 1; j + 1 < n; j++)
                cr_assert(!(r[i] == r[j] && r[i + 1] == r[j + 1]), "bigram (%ld, %ld) repeated", (long)r[i], (long)r[i + 1]);
    }
    blip_gen_output_free(&out);
    gp.no_repeat_ngram_size = 0;
    gp.repetition_penalty = 1e6;
    cr_assert_eq(blip_generate(&model->text, image_embeds, NULL, prompt, NULL, B, 1, &gp, 0, &out), 0, "%s", vk_err_msg());
    for (int64_t b = 0; b < B; b++) {
        const int64_t *r = out.ids + b * out.len;
        for (int64_t i = 0; i < out.len; i++)
            for (int64_t j = i + 1; j < out.len && r[i] != gp.pad_token_id; j++)
                cr_assert_neq(r[i], r[j], "token %ld repeated despite the penalty", (long)r[i]);
    }
    blip_gen_output_free(&out);
    gp.num_beams = 0;
    cr_assert_eq(blip_generate(&model->text, image_embeds, NULL, prompt, NULL, B, 1, &gp, 0, &out), -1);
    gp.num_beams = 1;
    gp.max_length = 1000;
    cr_assert_eq(blip_generate(&model->text, image_embeds, NULL, prompt, NULL, B, 1, &gp, 0, &out), -1);
    cr_assert(strstr(vk_err_msg(), "max_position_embeddings"), "%s", vk_err_msg());
}

/* Largest |a - b| over two same-shape tensors. */
static double max_abs_diff(tt_tensor *a, tt_tensor *b) {
    tt_tensor *d = tt_abs(tt_sub(tt_to_dtype(a, TT_F32), tt_to_dtype(b, TT_F32)));
    tt_tensor *m = tt_max_dim(tt_reshape(d, (int64_t[]){-1}, 1), 0, 0, NULL);
    return tt_item(m);
}

/* Decoder hidden states for G beams per image: from keys/values repeated per beam (as
 * transformers, through ATen's ops) and from one copy per image with the beams stacked as query
 * rows (beam search: packed for the fused kernel where it applies) — the same numbers up to the
 * products' rounding. */
static void beams_share_cross_kv(tt_dtype dt, double tol) {
    const int64_t G = 3, L = 4;
    cr_assert_eq(blip_caption_set_dtype(model, dt), 0, "%s", vk_err_msg());
    int64_t B = tt_size(image_embeds, 0), R = B * G;
    int64_t *tok = malloc(sizeof(int64_t) * (size_t)(R * L));
    for (int64_t i = 0; i < R * L; i++) tok[i] = i % L == 0 ? model->cfg.text.bos_token_id : 5 + (i * 131) % 90;
    tt_scope_begin();
    tt_tensor *ids = tt_from_data(tok, (int64_t[]){R, L}, 2, TT_I64);
    blip_cross_kv repeated, stacked;
    int grad = tt_set_grad_enabled(1); /* keys/values are packed only for inference without autograd */
    cr_assert_eq(blip_text_cross_kv(&model->text, image_embeds, NULL, &repeated, 0, 0), 0, "%s", vk_err_msg());
    cr_assert_null(repeated.packed);
    tt_set_grad_enabled(0);
    cr_assert_eq(blip_text_cross_kv(&model->text, image_embeds, NULL, &stacked, 0, 0), 0, "%s", vk_err_msg());
    cr_assert_eq(stacked.packed != NULL, vk_attn_supported(dt == TT_BF16 ? VK_ATTN_BF16 : VK_ATTN_F32));
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)R);
    for (int64_t r = 0; r < R; r++) rows[r] = r / G;
    cr_assert_eq(blip_cross_kv_select(&repeated, tt_from_data(rows, (int64_t[]){R}, 1, TT_I64)), 0);
    stacked.group = G;
    blip_text_args a = {.input_ids = ids, .causal = 1, .cross = &repeated};
    tt_tensor *want = blip_text_forward(&model->text, &a);
    a.cross = &stacked;
    tt_tensor *got = blip_text_forward(&model->text, &a);
    cr_assert(want && got, "%s", tt_last_error());
    double diff = max_abs_diff(got, want);
    cr_assert(diff <= tol, "%s: stacked beams differ from repeated rows by %g (tolerance %g)", tt_dtype_name(dt), diff, tol);
    blip_cross_kv_free(&repeated);
    blip_cross_kv_free(&stacked);
    tt_set_grad_enabled(grad);
    tt_scope_end();
    free(rows);
    free(tok);
}

Test(blip_generate, beams_share_their_images_cross_kv_fp32) { beams_share_cross_kv(TT_F32, 1e-5); }

/* bf16: both sides round their products to bf16 (8 bits of mantissa) and the layer norms bring
 * hidden states to unit scale, so a few bf16 ulps of 1 (2^-8 each) bound the difference. */
Test(blip_generate, beams_share_their_images_cross_kv_bf16) { beams_share_cross_kv(TT_BF16, 0.05); }

/* bf16 cross-attention with the key/value projections folded into the queries and the context
 * (chosen for few query rows per image; forced here with query_rows 1) against the projected
 * keys/values: the same decoder hidden states up to bf16 rounding, for one row per image and for
 * 3 beams stacked on each image. float32 never folds (its results stay those of the plain form). */
Test(blip_generate, folded_cross_attention_matches_projected_keys_values) {
    const int64_t L = 4;
    int grad = tt_set_grad_enabled(0);
    blip_cross_kv plain;
    cr_assert_eq(blip_caption_set_dtype(model, TT_F32), 0, "%s", vk_err_msg());
    cr_assert_eq(blip_text_cross_kv(&model->text, image_embeds, NULL, &plain, 0, 1), 0, "%s", vk_err_msg());
    cr_assert_null(plain.image_packed, "float32 folded its cross-attention");
    blip_cross_kv_free(&plain);
    cr_assert_eq(blip_caption_set_dtype(model, TT_BF16), 0, "%s", vk_err_msg());
    int64_t B = tt_size(image_embeds, 0);
    for (int64_t G = 1; G <= 3; G += 2) {
        int64_t R = B * G;
        int64_t *tok = malloc(sizeof(int64_t) * (size_t)(R * L));
        for (int64_t i = 0; i < R * L; i++) tok[i] = i % L == 0 ? model->cfg.text.bos_token_id : 7 + (i * 37) % 80;
        tt_scope_begin();
        tt_tensor *ids = tt_from_data(tok, (int64_t[]){R, L}, 2, TT_I64);
        blip_cross_kv projected, folded;
        cr_assert_eq(blip_text_cross_kv(&model->text, image_embeds, NULL, &projected, 0, 0), 0, "%s", vk_err_msg());
        cr_assert_eq(blip_text_cross_kv(&model->text, image_embeds, NULL, &folded, 0, 1), 0, "%s", vk_err_msg());
        cr_assert_null(projected.image_packed);
        int kernels = vk_attn_supported(VK_ATTN_BF16) && vk_heads_supported();
        cr_assert_eq(folded.image_packed != NULL, kernels, "folded where the kernels run");
        cr_assert_eq(blip_cross_kv_repeat(&projected, G), 0, "%s", vk_err_msg());
        cr_assert_eq(blip_cross_kv_repeat(&folded, G), 0, "%s", vk_err_msg());
        blip_text_args a = {.input_ids = ids, .causal = 1, .cross = &projected};
        tt_tensor *want = blip_text_forward(&model->text, &a);
        a.cross = &folded;
        tt_tensor *got = blip_text_forward(&model->text, &a);
        cr_assert(want && got, "%s", tt_last_error());
        /* the tolerance of beams_share_their_images_cross_kv_bf16: a few bf16 ulps of unit-scale states */
        double diff = max_abs_diff(got, want);
        cr_assert(diff <= 0.05, "%ld beams: folded differs from projected by %g", (long)G, diff);
        cr_assert(diff > 0 || !kernels, "the folded form rounds elsewhere: identical results mean it did not run");
        blip_cross_kv_free(&projected);
        blip_cross_kv_free(&folded);
        tt_scope_end();
        free(tok);
    }
    tt_set_grad_enabled(grad);
}

Test(blip_generate, bf16_beam_search_runs_on_one_kv_copy_per_image) {
    /* bf16 beam search (one copy of each image's keys/values) against float32's: the same
     * sequence scores within bf16 noise on the fixture's beam3 case */
    blip_gen_output ref;
    run_case("beam3", 0, &ref);
    cr_assert_eq(blip_caption_set_dtype(model, TT_BF16), 0, "%s", vk_err_msg());
    blip_gen_params gp = blip_gen_default_params(&model->cfg.text);
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(gen_case("beam3"), "kwargs");
    gp.num_beams = json_int(kw, "num_beams", 1);
    gp.max_length = json_int(kw, "max_length", 20);
    gp.min_length = json_int(kw, "min_length", 0);
    int64_t B = tt_size(image_embeds, 0);
    int64_t *prompt = malloc(sizeof(int64_t) * (size_t)B);
    for (int64_t b = 0; b < B; b++) prompt[b] = model->cfg.text.bos_token_id;
    blip_gen_output out;
    cr_assert_eq(blip_generate(&model->text, image_embeds, NULL, prompt, NULL, B, 1, &gp, 0, &out), 0, "%s", vk_err_msg());
    cr_assert_eq(out.rows, ref.rows);
    for (int64_t b = 0; b < B; b++)
        cr_assert(fabs(out.sequence_scores[b] - ref.sequence_scores[b]) < 0.1, "row %ld: bf16 score %g, fp32 %g", (long)b,
                  out.sequence_scores[b], ref.sequence_scores[b]);
    free(prompt);
    blip_gen_output_free(&out);
    blip_gen_output_free(&ref);
}
