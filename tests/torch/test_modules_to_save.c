/* test_modules_to_save.c — LoRA's modules_to_save (modules trained in full) on the blip-tiny
 * captioning model: matching follows PEFT's _set_trainable (a module whose name ends with an
 * entry); the gradients of the matched modules are transformers' own (fixture
 * blip-tiny/captioning, "grad.<param>"); one AdamW step moves them as torch's AdamW formula says
 * and leaves the frozen base alone; the saved adapter has PEFT's keys and reloads to the very
 * same logits; export writes the trained tensors under the original names; detaching gives the
 * base model back. The caption trainer trains them (the vision cache off when the vision tower
 * trains), in bf16 too, resumes them exactly and starts from them with lora.init_adapter; the
 * VQA trainer trains them and the answerer loads them. Expected values come from the fixtures or
 * from the formulas, never from the code under test. */
#include "model/blip_captioner.h"
#include "model/blip_export.h"
#include "model/lora.h"
#include "tests/torch/expect.h"
#include "train/trainer.h"
#include "train/vqa_answer.h"
#include "train/vqa_trainer.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODEL "blip-tiny/captioning/model"

static cJSON *expected_json;
static vk_weights *expected, *base_file;
static blip_caption *model;
static lora_linears linears;
static tt_tensor *pixels, *ids, *labels;
static int64_t mask[64];

static void setup(void) {
    expected_json = fixture_json("blip-tiny/captioning/expected.json");
    expected = expect_open("blip-tiny/captioning/expected.safetensors");
    base_file = expect_open(MODEL "/model.safetensors");
    model = blip_caption_load(fixture_path(MODEL));
    cr_assert_not_null(model, "%s", vk_err_msg());
    cr_assert_eq(blip_caption_linears(model, &linears), 0);
    expect_caption_inputs(expected, &pixels, &ids, mask, &labels);
}

static void teardown(void) {
    lora_detach(&linears);
    tt_free(labels);
    tt_free(ids);
    tt_free(pixels);
    free(linears.items);
    blip_caption_free(model);
    cJSON_Delete(expected_json);
    vk_weights_close(expected);
    vk_weights_close(base_file);
}

TestSuite(modules_to_save, .init = setup, .fini = teardown);

static double atol_of(const char *name) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "tensors"), name);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "atol");
    cr_assert(cJSON_IsNumber(a), "expected.json has no atol for %s", name);
    return a->valuedouble;
}

/* LoRA r 4 on query/value (B = 0: the forward is the base model's) plus the given modules. */
static lora_config config(const char *const *modules, int n) {
    lora_config c = lora_config_default();
    c.r = 4;
    c.alpha = 8;
    c.dropout = 0;
    c.modules_to_save = calloc((size_t)n + 1, sizeof *c.modules_to_save);
    for (int i = 0; i < n; i++) c.modules_to_save[c.nmodules_to_save++] = strdup(modules[i]);
    return c;
}

static int attach(const char *const *modules, int n) {
    lora_config c = config(modules, n);
    int rc = lora_attach(&linears, &c, NULL);
    lora_config_free(&c);
    return rc;
}

static int saved_index(const char *name) {
    for (int i = 0; i < linears.nsaved; i++)
        if (strcmp(linears.saved[i].name, name) == 0) return i;
    return -1;
}

/* The base model's tensor, from the file. */
static tt_tensor *base_tensor(const char *name) { return expect_tensor(base_file, name); }

static double max_diff(tt_tensor *a, tt_tensor *b) { return expect_max_abs_diff(a, b, "tensor"); }

Test(modules_to_save, matching_follows_peft_set_trainable) {
    int64_t D = model->cfg.text.hidden_size, V = model->cfg.text.vocab_size, r = 4;
    /* LoRA on query/value: self and cross attention of each text layer, A [r, D] + B [D, r] */
    int64_t lora_elems = (int64_t)model->cfg.text.num_hidden_layers * 4 * (2 * r * D);
    const char *mods[] = {"predictions.transform", "word_embeddings"};
    cr_assert_eq(attach(mods, 2), 0, "%s", vk_err_msg());
    cr_assert_eq(linears.nsaved_modules, 2);
    cr_assert_str_eq(linears.saved_modules[0], "text_decoder.bert.embeddings.word_embeddings");
    cr_assert_str_eq(linears.saved_modules[1], "text_decoder.cls.predictions.transform");
    const char *names[] = {"text_decoder.bert.embeddings.word_embeddings.weight",
                           "text_decoder.cls.predictions.transform.dense.weight", "text_decoder.cls.predictions.transform.dense.bias",
                           "text_decoder.cls.predictions.transform.LayerNorm.weight",
                           "text_decoder.cls.predictions.transform.LayerNorm.bias"};
    cr_assert_eq(linears.nsaved, 5);
    for (int i = 0; i < 5; i++) cr_assert_geq(saved_index(names[i]), 0, "%s not trained", names[i]);
    int64_t elems = 0;
    lora_count(&linears, &elems);
    cr_assert_eq(elems, lora_elems + V * D + (D * D + 3 * D), "trainable elements %lld", (long long)elems);
    /* the optimizer knows them by PeftModel's parameter names; their file keys drop the wrapper */
    tt_tensor **params;
    char **pnames;
    int n = lora_parameters(&linears, &params, &pnames);
    cr_assert_eq(n, 2 * 8 + 5);
    int found = 0;
    for (int i = 0; i < n; i++) {
        found += strcmp(pnames[i], "base_model.model.text_decoder.cls.predictions.transform.modules_to_save.default.dense.weight") == 0;
        cr_assert_eq(tt_requires_grad_of(params[i]), 1, "%s does not train", pnames[i]);
        cr_assert_eq(tt_dtype_of(params[i]), TT_F32);
    }
    cr_assert_eq(found, 1);
    char key[600];
    cr_assert_eq(lora_adapter_key("base_model.model.text_decoder.cls.predictions.transform.modules_to_save.default.dense.weight",
                                  key, sizeof key), 0);
    cr_assert_str_eq(key, "base_model.model.text_decoder.cls.predictions.transform.dense.weight");
    cr_assert_eq(lora_adapter_key("base_model.model.x.query.lora_A.default.weight", key, sizeof key), 0);
    cr_assert_str_eq(key, "base_model.model.x.query.lora_A.weight");
    lora_free_names(pnames, n);
    free(params);
    cr_assert_eq(lora_trains_under(&linears, "vision_model."), 0);
    lora_detach(&linears);
    cr_assert_eq(linears.nsaved, 0);

    /* PEFT's rule is str.endswith, without a '.' boundary: "ransform" matches the transform */
    const char *partial[] = {"ransform"};
    cr_assert_eq(attach(partial, 1), 0, "%s", vk_err_msg());
    cr_assert_eq(linears.nsaved_modules, 1);
    cr_assert_str_eq(linears.saved_modules[0], "text_decoder.cls.predictions.transform");
    lora_detach(&linears);

    /* the LM head's decoder: its bias is the Parameter cls.predictions.bias, trained once */
    const char *dec[] = {"predictions.decoder", "post_layernorm"};
    cr_assert_eq(attach(dec, 2), 0, "%s", vk_err_msg());
    int b = saved_index("text_decoder.cls.predictions.decoder.bias"), b2 = saved_index("text_decoder.cls.predictions.bias");
    cr_assert_geq(b, 0);
    cr_assert_lt(b2, 0, "cls.predictions.bias is not in the decoder module");
    cr_assert_eq(linears.saved[b].handle, model->text.head_decoder.bias);
    lora_count(&linears, &elems);
    cr_assert_eq(elems, lora_elems + V * D + V + 2 * model->cfg.vision.hidden_size);
    cr_assert_eq(lora_trains_under(&linears, "vision_model."), 1);
    lora_detach(&linears);
}

Test(modules_to_save, bad_entries_are_refused_and_leave_the_base) {
    const char *nope[] = {"transform", "nope"};
    cr_assert_eq(attach(nope, 2), -1);
    cr_assert(strstr(vk_err_msg(), "\"nope\"") && strstr(vk_err_msg(), "matches no module"), "%s", vk_err_msg());
    lora_detach(&linears);
    /* "decoder" ends both text_decoder and text_decoder.cls.predictions.decoder inside it */
    const char *nested[] = {"decoder"};
    cr_assert_eq(attach(nested, 1), -1);
    cr_assert(strstr(vk_err_msg(), "text_decoder") && strstr(vk_err_msg(), "inside"), "%s", vk_err_msg());
    lora_detach(&linears);
    /* a LoRA target inside a module trained in full */
    lora_config c = config((const char *const[]){"predictions.transform"}, 1);
    free(c.targets[0]);
    c.targets[0] = strdup("dense");
    cr_assert_eq(lora_attach(&linears, &c, NULL), -1);
    cr_assert(strstr(vk_err_msg(), "text_decoder.cls.predictions.transform.dense"), "%s", vk_err_msg());
    lora_config_free(&c);
    lora_detach(&linears);
    /* the base model is whole again: transformers' logits */
    tt_scope_begin();
    tt_tensor *l = blip_caption_logits(model, pixels, ids, mask, 0);
    expect_close(l, expected, "logits", atol_of("logits"));
    tt_scope_end();
}

Test(modules_to_save, adapters_without_the_module_tensors_are_refused) {
    /* PEFT's adapter (query/value LoRA, r 4) with a config that claims modules_to_save */
    char *dir = test_tmpdir(), *cfg = vk_path_join(dir, "adapter_config.json");
    char *src = realpath(fixture_path("blip-tiny/captioning/lora/adapter/adapter_model.safetensors"), NULL);
    char *link = vk_path_join(dir, "adapter_model.safetensors");
    cr_assert_eq(symlink(src, link), 0);
    const char *claims = "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"target_modules\":[\"query\",\"value\"],"
                         "\"modules_to_save\":[\"post_layernorm\"]}";
    cr_assert_eq(vk_write_file_atomic(cfg, claims, strlen(claims)), 0);
    cr_assert_eq(lora_load_adapter(&linears, dir, NULL), -1);
    cr_assert(strstr(vk_err_msg(), "base_model.model.vision_model.post_layernorm."), "%s", vk_err_msg());
    cr_assert_eq(linears.nsaved, 0, "a failed load leaves nothing attached");
    cr_assert_eq(lora_count(&linears, NULL), 0);
    const char *bad = "{\"peft_type\":\"LORA\",\"r\":4,\"target_modules\":[\"query\"],\"modules_to_save\":\"cls\"}";
    cr_assert_eq(vk_write_file_atomic(cfg, bad, strlen(bad)), 0);
    cr_assert_eq(lora_load_adapter(&linears, dir, NULL), -1);
    cr_assert(strstr(vk_err_msg(), "modules_to_save must be a list"), "%s", vk_err_msg());
    /* the base model is whole */
    tt_scope_begin();
    expect_close(blip_caption_logits(model, pixels, ids, mask, 0), expected, "logits", atol_of("logits"));
    tt_scope_end();
    free(src), free(link), free(cfg), free(dir);
}

Test(modules_to_save, gradients_are_transformers_and_the_base_stays_frozen) {
    const char *mods[] = {"predictions.transform", "bert.embeddings.LayerNorm", "post_layernorm"};
    cr_assert_eq(attach(mods, 3), 0, "%s", vk_err_msg());
    cr_assert_eq(linears.nsaved, 8);
    tt_scope_begin();
    tt_tensor *loss = blip_lm_loss(blip_caption_logits(model, pixels, ids, mask, 1), labels, 0.0);
    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(expected_json, "losses"), "masked"), "value");
    cr_assert(fabs(tt_item(loss) - lv->valuedouble) <= 1e-5 * fabs(lv->valuedouble));
    cr_assert_eq(tt_backward(loss), 0, "%s", tt_last_error());
    for (int i = 0; i < linears.nsaved; i++) {
        char gname[600];
        snprintf(gname, sizeof gname, "grad.%s", linears.saved[i].name);
        expect_close(tt_grad(linears.saved[i].handle), expected, gname, atol_of(gname));
    }
    /* frozen tensors get no gradient */
    const char *frozen[] = {"text_decoder.bert.encoder.layer.0.attention.self.key.weight", "text_decoder.cls.predictions.decoder.weight",
                            "vision_model.encoder.layers.1.mlp.fc1.weight"};
    for (int i = 0; i < 3; i++) cr_assert_eq(tt_has_grad(blip_params_find(model->params, frozen[i])), 0, "%s has a gradient", frozen[i]);
    tt_scope_end();
}

Test(modules_to_save, adamw_step_save_reload_export) {
    const char *mods[] = {"predictions.transform", "bert.embeddings.LayerNorm"};
    lora_config c = config(mods, 2);
    cr_assert_eq(lora_attach(&linears, &c, NULL), 0, "%s", vk_err_msg());
    tt_tensor **params;
    char **pnames;
    int n = lora_parameters(&linears, &params, &pnames);
    const double lr = 1e-2, wd = 0.05, eps = 1e-8;
    tt_optim *opt = tt_adamw_new(lr, 0.9, 0.999, eps, wd);
    cr_assert_eq(tt_optim_add_group(opt, params, n, lr, wd), 0, "%s", tt_last_error());
    tt_scope_begin();
    cr_assert_eq(tt_backward(blip_lm_loss(blip_caption_logits(model, pixels, ids, mask, 1), labels, 0.0)), 0);
    tt_scope_end();
    /* torch's AdamW, first step: p <- p (1 - lr wd) - lr g / (|g| + eps) */
    int ns = linears.nsaved;
    tt_tensor **want = calloc((size_t)ns, sizeof *want);
    tt_scope_begin();
    for (int i = 0; i < ns; i++) {
        tt_tensor *p = base_tensor(linears.saved[i].name), *g = tt_grad(linears.saved[i].handle);
        cr_assert_not_null(g, "%s has no gradient", linears.saved[i].name);
        want[i] = tt_persist(tt_sub(tt_mul_scalar(p, 1 - lr * wd), tt_mul_scalar(tt_div(g, tt_add_scalar(tt_abs(g), eps)), lr)));
        tt_free(p);
    }
    tt_scope_end();
    cr_assert_eq(tt_optim_step(opt), 0, "%s", tt_last_error());
    for (int i = 0; i < ns; i++) {
        double d = max_diff(linears.saved[i].handle, want[i]);
        cr_assert(d <= 1e-6, "%s: AdamW step off by %g", linears.saved[i].name, d);
        tt_tensor *base = base_tensor(linears.saved[i].name);
        cr_assert_gt(max_diff(linears.saved[i].handle, base), 1e-4, "%s did not move", linears.saved[i].name);
        tt_free(base);
        tt_free(want[i]);
    }
    free(want);
    /* the frozen base is untouched */
    const char *frozen[] = {"text_decoder.bert.encoder.layer.0.attention.self.key.weight", "text_decoder.cls.predictions.bias",
                            "vision_model.post_layernorm.weight"};
    for (int i = 0; i < 3; i++) {
        tt_tensor *base = base_tensor(frozen[i]);
        cr_assert_eq(max_diff(blip_params_find(model->params, frozen[i]), base), 0.0, "%s changed", frozen[i]);
        tt_free(base);
    }
    tt_scope_begin();
    tt_tensor *mine = tt_persist(blip_caption_logits(model, pixels, ids, mask, 0));
    tt_scope_end();

    /* saved: PEFT's keys, the config lists the modules */
    char *dir = test_tmpdir(), *ad = vk_path_join(dir, "adapter");
    cr_assert_eq(lora_save_adapter(&linears, &c, ad), 0, "%s", vk_err_msg());
    char *wp = vk_path_join(ad, "adapter_model.safetensors");
    vk_weights *w = vk_weights_open(wp);
    cr_assert_not_null(w, "%s", vk_err_msg());
    cr_assert_eq(vk_weights_count(w), 2 * 8 + (size_t)ns);
    for (int i = 0; i < ns; i++) {
        char key[600];
        snprintf(key, sizeof key, "base_model.model.%s", linears.saved[i].name);
        const vk_tensor_view *v = vk_weights_find(w, key);
        cr_assert_not_null(v, "no %s in the adapter", key);
        cr_assert_eq(v->dtype, VK_DTYPE_F32);
        tt_tensor *t = tt_from_data(v->data, v->shape, v->ndim, TT_F32);
        cr_assert_eq(max_diff(t, linears.saved[i].handle), 0.0);
        tt_free(t);
    }
    for (size_t i = 0; i < vk_weights_count(w); i++)
        cr_assert_null(strstr(vk_weights_tensor(w, i)->name, "modules_to_save"), "%s", vk_weights_tensor(w, i)->name);
    vk_weights_close(w);
    char *cp = vk_path_join(ad, "adapter_config.json");
    size_t len;
    char *text = vk_read_file(cp, &len, 0);
    cJSON *cj = cJSON_Parse(text);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cj, "modules_to_save");
    cr_assert(cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2);
    cr_assert_str_eq(cJSON_GetArrayItem(m, 0)->valuestring, "predictions.transform");
    cr_assert_str_eq(cJSON_GetArrayItem(m, 1)->valuestring, "bert.embeddings.LayerNorm");
    cJSON_Delete(cj);
    free(text), free(cp);

    /* reloaded (--adapter): the very same logits */
    blip_captioner *re = blip_captioner_load(fixture_path(MODEL), ad);
    cr_assert_not_null(re, "%s", vk_err_msg());
    tt_scope_begin();
    cr_assert_eq(max_diff(blip_caption_logits(re->model, pixels, ids, mask, 0), mine), 0.0);
    tt_scope_end();
    blip_captioner_free(re);

    /* export: the trained tensors under their original names; the rest as merged LoRA / base */
    char *out = vk_path_join(dir, "merged");
    blip_export_options eo = {fixture_path(MODEL), ad, out, TT_F32, 0, 0};
    cr_assert_eq(blip_export(&eo), 0, "%s", vk_err_msg());
    cr_assert_lt(eo.max_abs_diff, 1e-4);
    char *mp = vk_path_join(out, "model.safetensors");
    vk_weights *merged = vk_weights_open(mp);
    cr_assert_not_null(merged, "%s", vk_err_msg());
    cr_assert_eq(vk_weights_count(merged), vk_weights_count(base_file));
    for (int i = 0; i < ns; i++) {
        const vk_tensor_view *v = vk_weights_find(merged, linears.saved[i].name);
        cr_assert_not_null(v, "export lacks %s", linears.saved[i].name);
        tt_tensor *t = tt_from_data(v->data, v->shape, v->ndim, TT_F32);
        cr_assert_eq(max_diff(t, linears.saved[i].handle), 0.0, "%s is not the trained tensor", linears.saved[i].name);
        tt_free(t);
    }
    for (int i = 0; i < 3; i++) {
        const vk_tensor_view *v = vk_weights_find(merged, frozen[i]), *b = vk_weights_find(base_file, frozen[i]);
        cr_assert(v && v->nbytes == b->nbytes && memcmp(v->data, b->data, b->nbytes) == 0, "%s changed in export", frozen[i]);
    }
    vk_weights_close(merged);
    blip_caption *mm = blip_caption_load(out);
    cr_assert_not_null(mm, "%s", vk_err_msg());
    tt_scope_begin();
    double d = max_diff(blip_caption_logits(mm, pixels, ids, mask, 0), mine);
    cr_assert(d <= 1e-4, "merged model's logits off by %g", d);
    tt_scope_end();
    blip_caption_free(mm);

    /* detached: the base model again */
    tt_optim_free(opt);
    lora_free_names(pnames, n);
    free(params);
    lora_detach(&linears);
    tt_scope_begin();
    expect_close(blip_caption_logits(model, pixels, ids, mask, 0), expected, "logits", atol_of("logits"));
    tt_scope_end();
    tt_free(mine);
    lora_config_free(&c);
    free(mp), free(out), free(wp), free(ad), free(dir);
}

Test(modules_to_save, bf16_forward_uses_the_fp32_masters) {
    /* In bf16 the trained Linear casts its float32 master in every forward: a step on the master
     * shows in the next forward, and gradients reach it. */
    const char *mods[] = {"predictions.transform"};
    cr_assert_eq(attach(mods, 1), 0, "%s", vk_err_msg());
    cr_assert_eq(blip_caption_set_dtype(model, TT_BF16), 0, "%s", vk_err_msg());
    cr_assert_null(model->text.head_transform.weight_lp);
    cr_assert_not_null(model->text.head_decoder.weight_lp, "frozen layers keep their bf16 copies");
    tt_scope_begin();
    tt_tensor *l0 = blip_caption_logits(model, pixels, ids, mask, 0);
    cr_assert_eq(tt_backward(blip_lm_loss(blip_caption_logits(model, pixels, ids, mask, 1), labels, 0.0)), 0, "%s", tt_last_error());
    int w = saved_index("text_decoder.cls.predictions.transform.dense.weight");
    tt_tensor *g = tt_grad(linears.saved[w].handle);
    cr_assert_not_null(g);
    cr_assert_gt(tt_item(tt_norm(g, 2)), 0);
    /* zero the dense weight: the logits must change (the copy is not stale) */
    cr_assert_eq(tt_zero_(linears.saved[w].handle), 0);
    tt_tensor *l1 = blip_caption_logits(model, pixels, ids, mask, 0);
    cr_assert_gt(max_diff(l0, l1), 1e-3);
    tt_scope_end();
    cr_assert_eq(blip_caption_set_dtype(model, TT_F32), 0);
    lora_detach(&linears);
}

/* ---- the trainers ---------------------------------------------------------------------------- */

static int caption_run(const char *data, const char *out, train_resume_mode resume, const char *const *sets, int nsets) {
    char json[4096];
    char *m = realpath(fixture_path(MODEL), NULL);
    snprintf(json, sizeof json,
             "{\"model\": \"%s\", \"train\": {\"path\": \"%s\"}, \"output_dir\": \"%s\", \"max_steps\": 12, \"batch_size\": 3,"
             " \"optim\": {\"lr\": 0.01}, \"lora\": {\"r\": 4, \"alpha\": 8, \"dropout\": 0.1,"
             " \"modules_to_save\": [\"predictions.transform\", \"post_layernorm\"]},"
             " \"eval\": {\"every_steps\": 0}, \"save\": {\"every_steps\": 4, \"keep_last\": 0}, \"data\": {\"workers\": 2}}",
             m, data, out);
    free(m);
    train_config c;
    cr_assert_eq(train_config_load_string(json, "test config", sets, nsets, &c), 0, "%s", vk_err_msg());
    char *cj = train_config_to_json(&c);
    train_run_options o = {resume, NULL, 1, 1 /* the vision cache asked for: modules_to_save turns it off */, 0, 0};
    int rc = train_run(&c, cj, &o);
    free(cj);
    train_config_free(&c);
    return rc;
}

/* The named tensor of a checkpoint's adapter file, as a shim tensor. */
static tt_tensor *ckpt_tensor(const char *ckpt, const char *file, const char *name) {
    char *p = vk_path_join(ckpt, file);
    vk_weights *w = vk_weights_open(p);
    cr_assert_not_null(w, "%s", vk_err_msg());
    tt_tensor *t = expect_tensor(w, name);
    vk_weights_close(w);
    free(p);
    return t;
}

static const char *const trained[] = {"text_decoder.cls.predictions.transform.dense.weight",
                                      "text_decoder.cls.predictions.transform.LayerNorm.bias", "vision_model.post_layernorm.weight",
                                      "vision_model.post_layernorm.bias"};

Test(modules_to_save_train, caption_run_trains_saves_resumes_and_inits_exactly) {
    char *dir = test_tmpdir(), *data = fixture_caption_jsonl(dir);
    char *full = vk_path_join(dir, "full"), *part = vk_path_join(dir, "part");
    cr_assert_eq(caption_run(data, full, TRAIN_RESUME_NONE, NULL, 0), 0, "%s", vk_err_msg());
    char *ck = vk_path_join(full, "checkpoint-12");
    vk_weights *base = expect_open(MODEL "/model.safetensors");
    for (int i = 0; i < 4; i++) {
        char key[600];
        snprintf(key, sizeof key, "base_model.model.%s", trained[i]);
        tt_tensor *t = ckpt_tensor(ck, "adapter_model.safetensors", key), *b = expect_tensor(base, trained[i]);
        /* the vision tower's post_layernorm moved: the frozen-vision cache was off */
        cr_assert_gt(expect_max_abs_diff(t, b, key), 1e-4, "%s did not train", key);
        tt_free(t), tt_free(b);
        /* AdamW state under PeftModel's parameter name */
        const char *module = i < 2 ? "text_decoder.cls.predictions.transform" : "vision_model.post_layernorm";
        snprintf(key, sizeof key, "base_model.model.%s.modules_to_save.default.%s.exp_avg_sq", module, trained[i] + strlen(module) + 1);
        t = ckpt_tensor(ck, "optimizer.safetensors", key);
        cr_assert_gt(tt_item(tt_sum(t)), 0);
        tt_free(t);
    }
    vk_weights_close(base);
    char *cp = vk_path_join(ck, "adapter_config.json");
    size_t len;
    char *text = vk_read_file(cp, &len, 0);
    cr_assert(text && strstr(text, "\"modules_to_save\"") && strstr(text, "\"post_layernorm\""), "%s", text);
    free(text), free(cp);

    /* interrupted after step 4 and resumed: the same tensors at step 12 */
    cr_assert_eq(caption_run(data, part, TRAIN_RESUME_NONE, NULL, 0), 0, "%s", vk_err_msg());
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf %s/checkpoint-8 %s/checkpoint-12", part, part);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(caption_run(data, part, TRAIN_RESUME_AUTO, NULL, 0), 0, "%s", vk_err_msg());
    char *ck2 = vk_path_join(part, "checkpoint-12");
    char *p1 = vk_path_join(ck, "adapter_model.safetensors"), *p2 = vk_path_join(ck2, "adapter_model.safetensors");
    vk_weights *a = vk_weights_open(p1), *b = vk_weights_open(p2);
    cr_assert(a && b, "%s", vk_err_msg());
    cr_assert_eq(vk_weights_count(a), vk_weights_count(b));
    for (size_t i = 0; i < vk_weights_count(a); i++) {
        const vk_tensor_view *x = vk_weights_tensor(a, i), *y = vk_weights_find(b, x->name);
        cr_assert(y && y->nbytes == x->nbytes, "%s", x->name);
        const float *fx = x->data, *fy = y->data;
        for (size_t j = 0; j < x->nbytes / 4; j++) cr_assert(fabsf(fx[j] - fy[j]) <= 1e-6f, "%s[%zu]: %g vs %g", x->name, j, fx[j], fy[j]);
    }
    vk_weights_close(a), vk_weights_close(b);

    /* lora.init_adapter starts from the checkpoint's module tensors (a near-zero lr keeps them) */
    char *again = vk_path_join(dir, "again"), init[4200];
    snprintf(init, sizeof init, "lora.init_adapter=%s", ck);
    const char *sets[] = {init, "max_steps=1", "optim.lr=1e-12"};
    cr_assert_eq(caption_run(data, again, TRAIN_RESUME_NONE, sets, 3), 0, "%s", vk_err_msg());
    char *ck3 = vk_path_join(again, "checkpoint-1");
    for (int i = 0; i < 4; i++) {
        char key[600];
        snprintf(key, sizeof key, "base_model.model.%s", trained[i]);
        tt_tensor *x = ckpt_tensor(ck, "adapter_model.safetensors", key), *y = ckpt_tensor(ck3, "adapter_model.safetensors", key);
        cr_assert_leq(expect_max_abs_diff(x, y, key), 1e-6, "%s did not start from the init adapter", key);
        tt_free(x), tt_free(y);
    }
    free(ck3), free(again);
    free(p1), free(p2), free(ck2), free(ck), free(full), free(part), free(data), free(dir);
}

Test(modules_to_save_train, bf16_and_bad_entries) {
    char *dir = test_tmpdir(), *data = fixture_caption_jsonl(dir);
    char *out = vk_path_join(dir, "bf16");
    const char *sets[] = {"precision=bf16"};
    cr_assert_eq(caption_run(data, out, TRAIN_RESUME_NONE, sets, 1), 0, "%s", vk_err_msg());
    char *ck = vk_path_join(out, "checkpoint-12");
    vk_weights *base = expect_open(MODEL "/model.safetensors");
    char *p = vk_path_join(ck, "adapter_model.safetensors");
    vk_weights *w = vk_weights_open(p);
    for (int i = 0; i < 4; i++) {
        char key[600];
        snprintf(key, sizeof key, "base_model.model.%s", trained[i]);
        const vk_tensor_view *v = vk_weights_find(w, key);
        cr_assert(v && v->dtype == VK_DTYPE_F32, "%s: missing or not float32", key);
        tt_tensor *t = expect_tensor(w, key), *b = expect_tensor(base, trained[i]);
        double d = expect_max_abs_diff(t, b, key);
        cr_assert(isfinite(d) && d > 1e-4, "%s did not train in bf16 (%g)", key, d);
        tt_free(t), tt_free(b);
    }
    vk_weights_close(w), vk_weights_close(base);
    const char *bad[] = {"lora.modules_to_save=[\"nope\"]"};
    char *out2 = vk_path_join(dir, "bad");
    cr_assert_eq(caption_run(data, out2, TRAIN_RESUME_NONE, bad, 1), -1);
    cr_assert(strstr(vk_err_msg(), "\"nope\""), "%s", vk_err_msg());
    free(out2), free(p), free(ck), free(out), free(data), free(dir);
}

Test(modules_to_save_train, vqa_run_trains_and_the_answerer_loads_it) {
    char *dir = test_tmpdir(), *root = realpath(fixture_path("blip-tiny/preprocess/images"), NULL), text[2048];
    snprintf(text, sizeof text,
             "{\"image\": \"%s/img0_landscape_rgb.png\", \"question\": \"what color is the cat?\", \"answers\": [\"red\", \"red\", \"orange\"]}\n"
             "{\"image\": \"%s/img2_gray.png\", \"question\": \"is it gray?\", \"answer\": \"yes\"}\n",
             root, root);
    free(root);
    char *data = vk_path_join(dir, "vqa.jsonl"), *out = vk_path_join(dir, "out");
    cr_assert_eq(vk_write_file_atomic(data, text, strlen(text)), 0);
    char *model_dir = realpath(fixture_path("blip-tiny/vqa/model"), NULL), json[4096];
    snprintf(json, sizeof json,
             "{\"task\": \"vqa\", \"model\": \"%s\", \"train\": {\"path\": \"%s\"}, \"output_dir\": \"%s\", \"max_steps\": 4,"
             " \"batch_size\": 2, \"optim\": {\"lr\": 0.01}, \"lora\": {\"r\": 4, \"alpha\": 8, \"dropout\": 0,"
             " \"modules_to_save\": [\"text_encoder.embeddings.LayerNorm\", \"predictions.transform\"]},"
             " \"eval\": {\"every_steps\": 0}, \"save\": {\"every_steps\": 4}}",
             model_dir, data, out);
    train_config c;
    cr_assert_eq(train_config_load_string(json, "test", NULL, 0, &c), 0, "%s", vk_err_msg());
    char *cj = train_config_to_json(&c);
    train_run_options o = {TRAIN_RESUME_NONE, NULL, 1, 1, 0, 0};
    cr_assert_eq(vqa_train_run(&c, cj, &o), 0, "%s", vk_err_msg());
    free(cj);
    train_config_free(&c);
    char *ck = vk_path_join(out, "checkpoint-4");
    char *bp = vk_path_join(model_dir, "model.safetensors");
    vk_weights *base = vk_weights_open(bp);
    cr_assert_not_null(base, "%s", vk_err_msg());
    const char *names[] = {"text_encoder.embeddings.LayerNorm.weight", "text_decoder.cls.predictions.transform.dense.weight"};
    vqa_answerer *a = vqa_answerer_load(model_dir, ck);
    cr_assert_not_null(a, "%s", vk_err_msg());
    for (int i = 0; i < 2; i++) {
        char key[600];
        snprintf(key, sizeof key, "base_model.model.%s", names[i]);
        tt_tensor *t = ckpt_tensor(ck, "adapter_model.safetensors", key), *b = expect_tensor(base, names[i]);
        cr_assert_gt(expect_max_abs_diff(t, b, key), 1e-4, "%s did not train", key);
        /* the answerer (vlkit vqa --adapter) uses the trained tensor */
        cr_assert_eq(expect_max_abs_diff(blip_params_find(a->model->params, names[i]), t, key), 0.0);
        tt_free(t), tt_free(b);
    }
    vqa_answerer_free(a);
    vk_weights_close(base);
    free(bp), free(ck), free(model_dir), free(out), free(data), free(dir);
}
