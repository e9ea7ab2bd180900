/* test_blip_init.c — the tensor layout `vlkit init` writes equals what transformers'
 * save_pretrained writes for each real checkpoint (names, shapes, parameter counts from
 * shared/spec), and an initialised folder loads and captions like a hub checkpoint. */
#include "model/blip_captioner.h"
#include "model/blip_init.h"
#include "model/blip_layout.h"
#include "model/weights/weights.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *spec_path(void) {
    /* the spec lives next to the fixtures: <shared>/spec */
    static char p[4096];
    snprintf(p, sizeof p, "%s/../spec/blip-checkpoints-keys.json", fixtures_root());
    return p;
}

static void check_checkpoint(const cJSON *ck, const char *id) {
    char *cfg_text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ck, "config_json_written_by_save_pretrained"));
    blip_config c;
    cr_assert_eq(blip_config_parse(cfg_text, id, &c), 0, "%s", vk_err_msg());
    free(cfg_text);
    blip_tensor_spec *spec;
    int n = blip_layout(&c, &spec);
    const cJSON *saved = cJSON_GetObjectItemCaseSensitive(ck, "saved_tensors");
    cr_assert_eq(n, cJSON_GetArraySize(saved), "%s: %d tensors, the checkpoint has %d", id, n, cJSON_GetArraySize(saved));
    int64_t params = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(saved, spec[i].name);
        cr_assert_not_null(t, "%s: %s is not in the checkpoint", id, spec[i].name);
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        cr_assert_eq(cJSON_GetArraySize(shape), spec[i].ndim, "%s: %s rank", id, spec[i].name);
        int64_t k = 1;
        for (int d = 0; d < spec[i].ndim; d++) {
            cr_assert_eq((int64_t)cJSON_GetArrayItem(shape, d)->valuedouble, spec[i].shape[d], "%s: %s dim %d", id,
                         spec[i].name, d);
            k *= spec[i].shape[d];
        }
        params += k;
    }
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(ck, "num_saved_elements");
    cr_assert_eq(params, (int64_t)np->valuedouble, "%s: %ld parameters, expected %ld", id, (long)params, (long)np->valuedouble);
    free(spec);
}

Test(blip_init, layout_equals_every_real_checkpoint) {
    size_t len;
    char *text = vk_read_file(spec_path(), &len, 0);
    cr_assert_not_null(text, "%s", vk_err_msg());
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *cks = cJSON_GetObjectItemCaseSensitive(root, "checkpoints");
    int count = 0;
    const cJSON *ck;
    cJSON_ArrayForEach(ck, cks) {
        check_checkpoint(ck, ck->string);
        count++;
    }
    cr_assert_geq(count, 4);
    cJSON_Delete(root);
}

static char *init_tiny(uint64_t seed) {
    char *dir = test_tmpdir();
    char *out = vk_path_join(dir, "model");
    blip_init_options o = {fixture_path("blip-tiny/captioning/model/config.json"), out, seed, NULL};
    cr_assert_eq(blip_init_folder(&o), 0, "%s", vk_err_msg());
    free(dir);
    return out;
}

static char *read_all(const char *dir, const char *name, size_t *len) {
    char *p = vk_path_join(dir, name);
    char *t = vk_read_file(p, len, 0);
    free(p);
    return t;
}

Test(blip_init, folder_loads_and_captions_deterministically) {
    char *a = init_tiny(3), *b = init_tiny(3), *c = init_tiny(4);
    size_t la, lb, lc;
    char *wa = read_all(a, "model.safetensors", &la), *wb = read_all(b, "model.safetensors", &lb),
         *wc = read_all(c, "model.safetensors", &lc);
    cr_assert(la == lb && memcmp(wa, wb, la) == 0, "the same seed gave different weights");
    cr_assert(la == lc && memcmp(wa, wc, la) != 0, "a different seed gave the same weights");
    free(wa), free(wb), free(wc);
    blip_captioner *cap = blip_captioner_load(a, NULL);
    cr_assert_not_null(cap, "%s", vk_err_msg());
    /* the initialiser's statistics: LayerNorm 1/0, biases 0, weights N(0, 0.02) */
    tt_tensor *w = blip_params_find(cap->model->params, "text_decoder.bert.encoder.layer.0.intermediate.dense.weight");
    tt_scope_begin();
    double mean = tt_item(tt_mean(w)), sd = sqrt(tt_item(tt_mean(tt_mul(w, w))));
    cr_assert(fabs(mean) < 0.002 && fabs(sd - 0.02) < 0.002, "mean %g sd %g", mean, sd);
    cr_assert_eq(tt_item(tt_sum(blip_params_find(cap->model->params, "vision_model.post_layernorm.weight"))),
                 cap->model->cfg.vision.hidden_size);
    cr_assert_eq(tt_item(tt_sum(tt_abs(blip_params_find(cap->model->params, "text_decoder.cls.predictions.bias")))), 0.0);
    tt_scope_end();
    /* tokenizer: [DEC]/[ENC] right after the vocabulary, specials where the config says */
    wordpiece_special_ids sp = wordpiece_specials(cap->tokenizer);
    cr_assert_eq(sp.bos, cap->model->cfg.text.bos_token_id);
    cr_assert_eq(sp.sep, cap->model->cfg.text.sep_token_id);
    cr_assert_eq(sp.pad, cap->model->cfg.text.pad_token_id);
    cr_assert_eq(wordpiece_size(cap->tokenizer), cap->model->cfg.text.vocab_size);
    size_t npx = image_preproc_numel(&cap->preproc);
    float *px = calloc(npx * 2, sizeof(float));
    blip_gen_params gp = blip_gen_default_params(&cap->model->cfg.text);
    gp.max_length = 30; /* the placeholder vocabulary spells "picture" letter by letter: 11 prompt tokens */
    gp.min_length = 30; /* forced to full length */
    blip_caption_result r;
    cr_assert_eq(blip_captioner_run(cap, px, 2, "a picture of", &gp, &r), 0, "%s", vk_err_msg());
    cr_assert_eq(r.len, 30);
    cr_assert_eq(r.ids[0], sp.bos);
    cr_assert(strncmp(r.texts[0], "a picture of", 12) == 0, "caption '%s' does not start with the prompt", r.texts[0]);
    blip_caption_result_free(&r);
    free(px);
    blip_captioner_free(cap);
    free(a), free(b), free(c);
}

Test(blip_init, bad_configs_are_refused) {
    char *dir = test_tmpdir();
    char *cfg = vk_path_join(dir, "config.json"), *out = vk_path_join(dir, "out");
    cr_assert_eq(vk_write_file_atomic(cfg, "{\"text_config\": {\"bos_token_id\": 5}}", 36), 0);
    blip_init_options o = {cfg, out, 0, NULL};
    cr_assert_eq(blip_init_folder(&o), -1);
    cr_assert(strstr(vk_err_msg(), "bos_token_id"), "%s", vk_err_msg());
    cr_assert_eq(vk_write_file_atomic(cfg, "{\"vision_config\": {\"image_size\": 100}}", 38), 0);
    cr_assert_eq(blip_init_folder(&o), -1);
    cr_assert(strstr(vk_err_msg(), "patch_size"), "%s", vk_err_msg());
    cr_assert_eq(vk_write_file_atomic(cfg, "[1, 2]", 6), 0);
    cr_assert_eq(blip_init_folder(&o), -1);
    cr_assert(strstr(vk_err_msg(), "object"), "%s", vk_err_msg());
    o.config_path = fixture_path("blip-tiny/captioning/model/config.json");
    o.vocab_path = cfg; /* 1 line, the config needs 139 */
    cr_assert_eq(blip_init_folder(&o), -1);
    cr_assert(strstr(vk_err_msg(), "lines"), "%s", vk_err_msg());
    char *cfg_out = vk_path_join(out, "config.json");
    cr_assert(!vk_file_exists(cfg_out), "a failed init left a config.json (an incomplete folder that looks complete)");
    free(cfg_out), free(cfg), free(out), free(dir);
}
