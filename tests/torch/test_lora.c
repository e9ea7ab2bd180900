/* test_lora.c — LoRA against PEFT (fixtures blip-tiny/captioning/lora): the PEFT adapter loads
 * to the same logits, loss, LoRA gradients and two AdamW steps as PEFT + torch; merged weights
 * equal merge_and_unload(); a saved adapter has PEFT's keys and reloads to the same model; target
 * matching follows PEFT's rules. Tolerances are the fixture's per-tensor atol. */
#include "model/blip_caption.h"
#include "model/lora.h"
#include "tests/torch/expect.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static cJSON *expected_json;
static vk_weights *expected;
static blip_caption *model;
static lora_linears linears;
static tt_tensor *pixels, *ids, *labels;
static int64_t mask[64];

static double atol_of(const char *name) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "tensors"), name);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "atol");
    cr_assert(cJSON_IsNumber(a), "expected.json has no atol for %s", name);
    return a->valuedouble;
}

static void setup(void) {
    expected_json = fixture_json("blip-tiny/captioning/lora/expected.json");
    expected = expect_open("blip-tiny/captioning/lora/expected.safetensors");
    model = blip_caption_load(fixture_path("blip-tiny/captioning/model"));
    cr_assert_not_null(model, "%s", vk_err_msg());
    cr_assert_eq(blip_caption_linears(model, &linears), 0);
    expect_caption_inputs(expected, &pixels, &ids, mask, &labels);
}

static void teardown(void) {
    tt_free(labels);
    tt_free(ids);
    tt_free(pixels);
    free(linears.items);
    blip_caption_free(model);
    cJSON_Delete(expected_json);
    vk_weights_close(expected);
}

TestSuite(lora, .init = setup, .fini = teardown);

static lora_config load_fixture_adapter(void) {
    lora_config c;
    cr_assert_eq(lora_load_adapter(&linears, fixture_path("blip-tiny/captioning/lora/adapter"), &c), 0, "%s", vk_err_msg());
    return c;
}

static tt_tensor *logits(int train) { return blip_caption_logits(model, pixels, ids, mask, train); }

Test(lora, adapter_from_peft_gives_peft_logits) {
    tt_tensor *base = logits(0);
    expect_close(base, expected, "logits_base", atol_of("logits_base"));
    lora_config c = load_fixture_adapter();
    const cJSON *lc = cJSON_GetObjectItemCaseSensitive(expected_json, "lora_config");
    cr_assert_eq(c.r, cJSON_GetObjectItemCaseSensitive(lc, "r")->valueint);
    cr_assert_float_eq(lora_scaling(&c), cJSON_GetObjectItemCaseSensitive(lc, "scaling")->valuedouble, 1e-12);
    /* the loaded tensors are PEFT's parameters */
    tt_tensor **params;
    char **names;
    int n = lora_parameters(&linears, &params, &names);
    cr_assert_eq(n, cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(expected_json, "peft_parameter_names")));
    for (int i = 0; i < n; i++) {
        char pname[512];
        snprintf(pname, sizeof pname, "param.%s", names[i]);
        expect_close(params[i], expected, pname, 0.0);
    }
    tt_tensor *with = logits(0);
    expect_close(with, expected, "logits_lora", atol_of("logits_lora"));
    lora_free_names(names, n);
    free(params);
    tt_free(with);
    tt_free(base);
    lora_config_free(&c);
    lora_detach(&linears);
}

Test(lora, loss_gradients_and_two_adamw_steps_match_peft) {
    lora_config c = load_fixture_adapter();
    tt_tensor **params;
    char **names;
    int n = lora_parameters(&linears, &params, &names);
    const cJSON *aw = cJSON_GetObjectItemCaseSensitive(expected_json, "adamw");
    const cJSON *betas = cJSON_GetObjectItemCaseSensitive(aw, "betas");
    tt_optim *opt = tt_adamw_new(cJSON_GetObjectItemCaseSensitive(aw, "lr")->valuedouble,
                                 cJSON_GetArrayItem(betas, 0)->valuedouble, cJSON_GetArrayItem(betas, 1)->valuedouble,
                                 cJSON_GetObjectItemCaseSensitive(aw, "eps")->valuedouble,
                                 cJSON_GetObjectItemCaseSensitive(aw, "weight_decay")->valuedouble);
    cr_assert_eq(tt_optim_add_group(opt, params, n, cJSON_GetObjectItemCaseSensitive(aw, "lr")->valuedouble,
                                    cJSON_GetObjectItemCaseSensitive(aw, "weight_decay")->valuedouble),
                 0);
    const cJSON *losses = cJSON_GetObjectItemCaseSensitive(aw, "losses_before_step");
    for (int step = 0; step < 2; step++) {
        tt_scope_begin();
        tt_tensor *loss = blip_lm_loss(logits(1), labels, 0.0);
        double want = cJSON_GetArrayItem(losses, step)->valuedouble;
        cr_assert(fabs(tt_item(loss) - want) <= 1e-5 * fabs(want), "step %d loss %.8g, expected %.8g", step, tt_item(loss), want);
        cr_assert_eq(tt_backward(loss), 0, "%s", tt_last_error());
        if (step == 0) {
            for (int i = 0; i < n; i++) {
                char gname[512];
                snprintf(gname, sizeof gname, "grad.%s", names[i]);
                expect_close(tt_grad(params[i]), expected, gname, atol_of(gname));
            }
            /* the base is frozen: no base parameter got a gradient */
            tt_tensor *w = blip_params_find(model->params, "text_decoder.bert.encoder.layer.0.attention.self.query.weight");
            cr_assert_eq(tt_has_grad(w), 0);
        }
        tt_scope_end();
        cr_assert_eq(tt_optim_step(opt), 0, "%s", tt_last_error());
        cr_assert_eq(tt_optim_zero_grad(opt), 0);
        for (int i = 0; i < n; i++) {
            char sname[512];
            snprintf(sname, sizeof sname, "adamw_step%d.%s", step + 1, names[i]);
            expect_close(params[i], expected, sname, atol_of(sname));
        }
    }
    tt_optim_free(opt);
    lora_free_names(names, n);
    free(params);
    lora_config_free(&c);
    lora_detach(&linears);
}

static double cosine(tt_tensor *a, tt_tensor *b) {
    tt_scope_begin();
    tt_tensor *x = tt_flatten(tt_to_dtype(a, TT_F64), 0, -1), *y = tt_flatten(tt_to_dtype(b, TT_F64), 0, -1);
    double c = tt_item(tt_div(tt_sum(tt_mul(x, y)), tt_mul(tt_norm(x, 2), tt_norm(y, 2))));
    tt_scope_end();
    return c;
}

/* bf16 runs the adapters in bf16 too and reassociates the cross-attention over the image tokens
 * (no key bias, value bias after the attention, the value adapter as (P t) B_h^T). Against
 * PEFT's fp32 values, within bf16 rounding (8-bit mantissa: ~0.4 % per rounding, a few dozen
 * roundings deep): logits within 5 % of their range (seen: 1.5 %), the loss within 0.1 % (seen:
 * 0.01-0.05 %, 0.09 % with GELU applied after rounding fc1's output to bf16 as libtorch does),
 * and for every adapter tensor, the cross-attention value ones included, a gradient
 * that points the same way (cosine > 0.99, norm within 5 %; seen: > 0.998, 2 %). Reordering the
 * rows of the cross keys/values (beam search) reorders the hidden states exactly. */
Test(lora, bf16_logits_and_gradients_follow_peft) {
    lora_config c = load_fixture_adapter();
    cr_assert_eq(blip_caption_set_dtype(model, TT_BF16), 0, "%s", vk_err_msg());
    tt_tensor **params;
    char **names;
    int n = lora_parameters(&linears, &params, &names);
    tt_scope_begin();
    tt_tensor *l = logits(1);
    tt_tensor *want = expect_tensor(expected, "logits_lora");
    double range = tt_item(tt_max_dim(tt_flatten(tt_abs(want), 0, -1), 0, 0, NULL));
    double d = expect_max_abs_diff(l, want, "bf16 logits");
    cr_assert(d < 0.05 * range, "bf16 logits differ by %g (logit range %g)", d, range);
    tt_tensor *loss = blip_lm_loss(l, labels, 0.0);
    double want_loss = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "adamw"),
                                                                           "losses_before_step"),
                                           0)
                           ->valuedouble;
    cr_assert(fabs(tt_item(loss) - want_loss) < 1e-3 * want_loss, "bf16 loss %g, PEFT %g", tt_item(loss), want_loss);
    cr_assert_eq(tt_backward(loss), 0, "%s", tt_last_error());
    int cross_value = 0;
    for (int i = 0; i < n; i++) {
        char gname[512];
        snprintf(gname, sizeof gname, "grad.%s", names[i]);
        tt_tensor *g = tt_grad(params[i]), *gw = expect_tensor(expected, gname);
        cr_assert_not_null(g, "%s has no gradient", names[i]);
        cr_assert_eq(tt_dtype_of(g), TT_F32, "%s: the masters' gradients are float32", names[i]);
        double cs = cosine(g, gw), ratio = tt_item(tt_norm(g, 2)) / tt_item(tt_norm(gw, 2));
        cr_assert(cs > 0.99 && fabs(ratio - 1) < 0.05, "%s: cosine %.5f, norm ratio %.4f", names[i], cs, ratio);
        cross_value += strstr(names[i], "crossattention.self.value") != NULL;
        tt_free(gw);
    }
    cr_assert(cross_value >= 2, "the fixture adapter has no cross-attention value tensors");
    for (int i = 0; i < n; i++) tt_zero_grad(params[i]);
    /* beam-search reordering: rows {1, 0, 1} of the cross keys/values give rows {1, 0, 1} */
    int grad = tt_set_grad_enabled(0);
    tt_tensor *emb = blip_vision_forward(&model->vision, pixels, NULL, 0);
    blip_cross_kv kv;
    cr_assert_eq(blip_text_cross_kv(&model->text, emb, NULL, &kv, 0, 0), 0, "%s", vk_err_msg());
    cr_assert(kv.value_down && kv.value_down[0], "bf16 keeps the value adapter apart");
    static const int64_t rows[3] = {1, 0, 1};
    tt_tensor *ri = tt_from_data(rows, (int64_t[]){3}, 1, TT_I64);
    blip_text_args a = {.input_ids = ids, .causal = 1, .cross = &kv};
    tt_tensor *h = blip_text_forward(&model->text, &a);
    cr_assert_eq(blip_cross_kv_select(&kv, ri), 0, "%s", vk_err_msg());
    blip_text_args a3 = {.input_ids = tt_index_select(ids, 0, ri), .causal = 1, .cross = &kv};
    tt_tensor *h3 = blip_text_forward(&model->text, &a3);
    cr_assert(expect_max_abs_diff(h3, tt_index_select(h, 0, ri), "reordered rows") == 0);
    tt_free(h3);
    tt_free(h);
    blip_cross_kv_free(&kv);
    tt_free(emb);
    tt_set_grad_enabled(grad);
    tt_scope_end();
    cr_assert_eq(blip_caption_set_dtype(model, TT_F32), 0);
    lora_free_names(names, n);
    free(params);
    lora_config_free(&c);
    lora_detach(&linears);
}

Test(lora, merged_weights_equal_merge_and_unload) {
    lora_config c = load_fixture_adapter();
    vk_weights *merged = expect_open("blip-tiny/captioning/lora/merged/model.safetensors");
    const cJSON *changed = cJSON_GetObjectItemCaseSensitive(expected_json, "merged_model_changed_keys");
    int adapted = 0;
    for (int i = 0; i < linears.n; i++) {
        tt_tensor *w = lora_merged_weight(linears.items[i]);
        if (!w) continue;
        adapted++;
        char name[512];
        snprintf(name, sizeof name, "%s.weight", linears.items[i]->name);
        int listed = 0;
        const cJSON *k;
        cJSON_ArrayForEach(k, changed) listed |= strcmp(k->valuestring, name) == 0;
        cr_assert(listed, "%s is merged but the fixture does not list it as changed", name);
        expect_close(w, merged, name, 1e-6);
        tt_free(w);
    }
    cr_assert_eq(adapted, cJSON_GetArraySize(changed));
    vk_weights_close(merged);
    /* the merged folder runs as a plain model with the adapter's logits */
    blip_caption *mm = blip_caption_load(fixture_path("blip-tiny/captioning/lora/merged"));
    cr_assert_not_null(mm, "%s", vk_err_msg());
    tt_tensor *l = blip_caption_logits(mm, pixels, ids, mask, 0);
    expect_close(l, expected, "logits_merged", atol_of("logits_merged"));
    tt_free(l);
    blip_caption_free(mm);
    lora_config_free(&c);
    lora_detach(&linears);
}

Test(lora, saved_adapter_has_peft_layout_and_reloads) {
    lora_config c = load_fixture_adapter();
    tt_tensor *before = logits(0);
    char *dir = test_tmpdir();
    char *out = vk_path_join(dir, "adapter");
    cr_assert_eq(lora_save_adapter(&linears, &c, out), 0, "%s", vk_err_msg());
    /* same keys, dtypes and shapes as PEFT's file */
    char *file = vk_path_join(out, "adapter_model.safetensors");
    vk_weights *w = vk_weights_open(file);
    cr_assert_not_null(w, "%s", vk_err_msg());
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(expected_json, "adapter_safetensors_keys");
    cr_assert_eq((int)vk_weights_count(w), cJSON_GetArraySize(keys));
    const cJSON *k;
    cJSON_ArrayForEach(k, keys) {
        const vk_tensor_view *v = vk_weights_find(w, k->string);
        cr_assert_not_null(v, "missing %s", k->string);
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(k, "shape");
        cr_assert(v->shape[0] == cJSON_GetArrayItem(shape, 0)->valueint && v->shape[1] == cJSON_GetArrayItem(shape, 1)->valueint);
    }
    cr_assert_str_eq(vk_weights_metadata_get(w, "format"), "pt");
    vk_weights_close(w);
    /* adapter_config.json holds every key PEFT wrote */
    cJSON *mine = NULL;
    {
        char *cfg = vk_path_join(out, "adapter_config.json");
        size_t n;
        char *text = vk_read_file(cfg, &n, 0);
        mine = cJSON_Parse(text);
        free(text);
        free(cfg);
    }
    const cJSON *theirs = cJSON_GetObjectItemCaseSensitive(expected_json, "adapter_config_json");
    cJSON_ArrayForEach(k, theirs) cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(mine, k->string), "no %s", k->string);
    cJSON_Delete(mine);
    /* reload: identical model */
    lora_detach(&linears);
    lora_config c2;
    cr_assert_eq(lora_load_adapter(&linears, out, &c2), 0, "%s", vk_err_msg());
    tt_tensor *after = logits(0);
    cr_assert_eq(tt_allclose(before, after, 0, 0), 1);
    /* saving over an existing adapter replaces it whole */
    cr_assert_eq(lora_save_adapter(&linears, &c2, out), 0, "%s", vk_err_msg());
    char *leftover = vk_path_join(dir, "adapter.tmp-0");
    cr_assert(!vk_is_dir(leftover));
    tt_free(before);
    tt_free(after);
    free(leftover), free(file), free(out), free(dir);
    lora_config_free(&c);
    lora_config_free(&c2);
    lora_detach(&linears);
}

Test(lora, targets_match_as_peft) {
    lora_config c = lora_config_default();
    cr_assert(lora_matches(&c, "text_decoder.bert.encoder.layer.0.attention.self.query"));
    cr_assert(lora_matches(&c, "value"));
    cr_assert(!lora_matches(&c, "text_decoder.bert.encoder.layer.0.attention.self.queryx"));
    cr_assert(!lora_matches(&c, "text_decoder.bert.encoder.layer.0.attention.selfquery"));
    cr_assert(!lora_matches(&c, "vision_model.encoder.layers.0.self_attn.qkv"));
    free(c.targets[0]);
    free(c.targets[1]);
    c.ntargets = 0;
    c.target_regex = strdup(".*crossattention\\.self\\.(query|value)");
    cr_assert(lora_matches(&c, "text_decoder.bert.encoder.layer.1.crossattention.self.value"));
    cr_assert(!lora_matches(&c, "text_decoder.bert.encoder.layer.1.attention.self.value"));
    cr_assert(!lora_matches(&c, "text_decoder.bert.encoder.layer.1.crossattention.self.value.x"), "regex must match the whole name");
    int matched = 0;
    cr_assert_eq(lora_attach(&linears, &c, &matched), 0, "%s", vk_err_msg());
    cr_assert_eq(matched, 2 * model->cfg.text.num_hidden_layers);
    /* a fresh adapter (B = 0) changes nothing; A is within kaiming-uniform's bound */
    tt_tensor *base = NULL, *with = logits(0);
    lora_detach(&linears);
    base = logits(0);
    cr_assert_eq(tt_allclose(base, with, 0, 0), 1);
    tt_free(base);
    tt_free(with);
    lora_config_free(&c);
    c = lora_config_default();
    free(c.targets[1]);
    c.targets[1] = strdup("no_such_module");
    cr_assert_eq(lora_attach(&linears, &c, NULL), -1);
    cr_assert(strstr(vk_err_msg(), "no_such_module"), "%s", vk_err_msg());
    lora_detach(&linears);
    lora_config_free(&c);
}

Test(lora, bad_adapters_are_refused) {
    char *dir = test_tmpdir();
    char *cfg = vk_path_join(dir, "adapter_config.json");
    const char *r8 = "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":8,\"target_modules\":[\"query\",\"value\"]}";
    cr_assert_eq(vk_write_file_atomic(cfg, r8, strlen(r8)), 0);
    char *src = realpath(fixture_path("blip-tiny/captioning/lora/adapter/adapter_model.safetensors"), NULL);
    char *link = vk_path_join(dir, "adapter_model.safetensors");
    cr_assert_eq(symlink(src, link), 0);
    cr_assert_eq(lora_load_adapter(&linears, dir, NULL), -1);
    cr_assert(strstr(vk_err_msg(), "expected [8, 32]") || strstr(vk_err_msg(), "(r = 8)"), "%s", vk_err_msg());
    cr_assert_eq(lora_count(&linears, NULL), 0, "a failed load leaves no adapter behind");
    const char *dora = "{\"peft_type\":\"LORA\",\"r\":4,\"use_dora\":true,\"target_modules\":[\"query\"]}";
    cr_assert_eq(vk_write_file_atomic(cfg, dora, strlen(dora)), 0);
    cr_assert_eq(lora_load_adapter(&linears, dir, NULL), -1);
    cr_assert(strstr(vk_err_msg(), "use_dora"), "%s", vk_err_msg());
    const char *ia3 = "{\"peft_type\":\"IA3\",\"r\":4,\"target_modules\":[\"query\"]}";
    cr_assert_eq(vk_write_file_atomic(cfg, ia3, strlen(ia3)), 0);
    cr_assert_eq(lora_load_adapter(&linears, dir, NULL), -1);
    cr_assert(strstr(vk_err_msg(), "IA3"), "%s", vk_err_msg());
    free(src), free(link), free(cfg), free(dir);
}
