#include "model/blip_export.h"

#include "model/blip_caption.h"
#include "model/lora.h"
#include "model/weights/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The files of an HF folder that travel with the weights (those present are copied). */
static const char *const side_files[] = {"generation_config.json", "preprocessor_config.json", "vocab.txt",
                                         "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                         "added_tokens.json"};

static int copy_file(const char *src_dir, const char *dst_dir, const char *name) {
    char *src = vk_path_join(src_dir, name), *dst = vk_path_join(dst_dir, name);
    int rc = 0;
    if (vk_file_exists(src)) {
        size_t n;
        char *data = vk_read_file(src, &n, 1u << 30);
        rc = data ? vk_write_file_atomic(dst, data, n) : -1;
        free(data);
    }
    free(src);
    free(dst);
    return rc;
}

static int write_config(const char *src_dir, const char *dst_dir, tt_dtype dt) {
    char *src = vk_path_join(src_dir, "config.json"), *dst = vk_path_join(dst_dir, "config.json");
    size_t n;
    char *text = vk_read_file(src, &n, 16u << 20);
    cJSON *root = text ? cJSON_ParseWithLength(text, n) : NULL;
    int rc = root ? 0 : vk_err_set("%s: cannot read", src);
    if (!rc) {
        /* transformers records the weights' dtype here */
        cJSON_DeleteItemFromObjectCaseSensitive(root, "torch_dtype");
        cJSON_AddStringToObject(root, "torch_dtype", dt == TT_BF16 ? "bfloat16" : dt == TT_F16 ? "float16" : "float32");
        char *out = cJSON_Print(root);
        rc = out ? vk_write_file_atomic(dst, out, strlen(out)) : vk_err_set("out of memory");
        free(out);
    }
    cJSON_Delete(root);
    free(text), free(src), free(dst);
    return rc;
}

static int write_weights(blip_caption *m, lora_linears *ls, const char *dir, tt_dtype dt) {
    int n = blip_params_count(m->params), k = 0, rc = 0;
    vk_tensor_view *views = calloc((size_t)n + 1, sizeof *views);
    void **bufs = calloc((size_t)n + 1, sizeof *bufs);
    if (!views || !bufs) rc = vk_err_set("out of memory");
    for (int i = 0; !rc && i < n; i++) {
        const char *name = blip_params_name_at(m->params, i);
        /* the same Parameter as cls.predictions.bias: save_pretrained writes it once */
        if (strstr(name, "cls.predictions.decoder.bias")) continue;
        tt_tensor *t = blip_params_tensor_at(m->params, i), *owned = NULL;
        for (int j = 0; j < ls->n; j++) {
            size_t len = strlen(ls->items[j]->name);
            if (ls->items[j]->lora_a && strncmp(name, ls->items[j]->name, len) == 0 && strcmp(name + len, ".weight") == 0)
                t = owned = lora_merged_weight(ls->items[j]);
        }
        tt_tensor *cast = t ? tt_to_dtype(t, dt) : NULL;
        size_t bytes = cast ? (size_t)tt_numel(cast) * tt_dtype_size(dt) : 0;
        bufs[k] = malloc(bytes ? bytes : 1);
        if (!cast || !bufs[k] || tt_copy_to(cast, bufs[k], bytes)) rc = vk_err_set("%s: %s", name, tt_last_error());
        views[k].name = name;
        views[k].dtype = dt == TT_BF16 ? VK_DTYPE_BF16 : dt == TT_F16 ? VK_DTYPE_F16 : VK_DTYPE_F32;
        views[k].ndim = cast ? tt_shape(cast, views[k].shape, VK_MAX_DIMS) : 0;
        views[k].data = bufs[k];
        views[k].nbytes = bytes;
        k++;
        tt_free(cast);
        tt_free(owned);
    }
    if (!rc) {
        char *path = vk_path_join(dir, "model.safetensors");
        rc = vk_safetensors_write(path, views, (size_t)k, NULL, 0);
        free(path);
    }
    for (int i = 0; i < k; i++) free(bufs[i]);
    free(bufs), free(views);
    return rc;
}

/* Logits of a fixed probe (seeded random image, a short token row) for the reload check. */
static tt_tensor *probe_logits(blip_caption *m) {
    int64_t S = m->cfg.vision.image_size, V = m->cfg.text.vocab_size;
    int64_t ids[8] = {m->cfg.text.bos_token_id};
    for (int i = 1; i < 8; i++) ids[i] = (i * 7919) % V;
    tt_manual_seed(1234);
    int grad = tt_set_grad_enabled(0);
    tt_scope_begin();
    tt_tensor *px = tt_randn((int64_t[]){1, 3, S, S}, 4, TT_F32);
    tt_tensor *l = tt_keep(blip_caption_logits(m, px, tt_from_data(ids, (int64_t[]){1, 8}, 2, TT_I64), NULL, 0));
    tt_scope_end();
    tt_set_grad_enabled(grad);
    return l;
}


int blip_export(blip_export_options *o) {
    if (o->dtype != TT_F32 && o->dtype != TT_BF16 && o->dtype != TT_F16)
        return vk_err_set("export: dtype must be fp32, bf16 or fp16");
    if (vk_is_dir(o->out_dir) && !o->force) return vk_err_set("%s: already exists (use --force to replace it)", o->out_dir);
    if (!vk_is_dir(o->out_dir) && vk_file_exists(o->out_dir)) return vk_err_set("%s: exists and is not a folder", o->out_dir);
    blip_caption *m = blip_caption_load(o->model_dir);
    if (!m) return -1;
    lora_linears ls = {0};
    int rc = blip_caption_linears(m, &ls);
    if (!rc && o->adapter_dir) rc = lora_load_adapter(&ls, o->adapter_dir, NULL);
    char *tmp = vk_tmp_dir_name(o->out_dir);
    if (!rc && !tmp) rc = vk_err_set("out of memory");
    if (tmp) vk_remove_flat_dir(tmp);
    if (!rc && mkdir(tmp, 0777)) rc = vk_err_set("%s: cannot create: %s", tmp, strerror(errno));
    if (!rc) rc = write_weights(m, &ls, tmp, o->dtype);
    if (!rc) rc = write_config(o->model_dir, tmp, o->dtype);
    for (size_t i = 0; !rc && i < sizeof side_files / sizeof side_files[0]; i++) rc = copy_file(o->model_dir, tmp, side_files[i]);
    /* check before publishing: the written folder must load and give the same logits */
    if (!rc) {
        tt_tensor *want = probe_logits(m);
        blip_caption *re = blip_caption_load(tmp);
        tt_tensor *got = re ? probe_logits(re) : NULL;
        if (!re) rc = vk_err_prefix("export: the written folder does not load");
        else if (!want || !got) rc = vk_err_set("export: probe forward failed: %s", tt_last_error());
        else {
            tt_scope_begin();
            double diff = tt_item(tt_max_dim(tt_flatten(tt_abs(tt_sub(want, got)), 0, -1), 0, 0, NULL));
            double scale = tt_item(tt_max_dim(tt_flatten(tt_abs(want), 0, -1), 0, 0, NULL));
            tt_scope_end();
            o->max_abs_diff = diff;
            /* fp32: merging reorders one sum (observed ~1e-5); bf16/fp16 weights keep 8/11 bits */
            double tol = o->dtype == TT_F32 ? 1e-4 * (1 + scale) : o->dtype == TT_F16 ? 2e-2 * (1 + scale) : 1e-1 * (1 + scale);
            if (!(diff <= tol))
                rc = vk_err_set("export: reloaded model differs from base + adapter (max |logit diff| %.3g > %.3g)", diff, tol);
        }
        tt_free(want);
        tt_free(got);
        blip_caption_free(re);
    }
    if (!rc) rc = vk_replace_dir(tmp, o->out_dir);
    if (rc && tmp) vk_remove_flat_dir(tmp);
    free(tmp);
    lora_detach(&ls);
    free(ls.items);
    blip_caption_free(m);
    return rc;
}
