#include "model/lora.h"

#include "model/weights/safetensors.h"
#include "model/weights/weights.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PEFT_PREFIX "base_model.model."

lora_config lora_config_default(void) {
    lora_config c = {8, 16.0, 0.05, 0, NULL, 0, NULL, NULL};
    static const char *const t[2] = {"query", "value"};
    c.targets = malloc(2 * sizeof *c.targets);
    if (c.targets) {
        c.targets[0] = strdup(t[0]);
        c.targets[1] = strdup(t[1]);
        c.ntargets = 2;
    }
    return c;
}

void lora_config_free(lora_config *c) {
    for (int i = 0; i < c->ntargets; i++) free(c->targets[i]);
    free(c->targets);
    free(c->target_regex);
    free(c->base_model);
    memset(c, 0, sizeof *c);
}

double lora_scaling(const lora_config *c) { return c->use_rslora ? c->alpha / sqrt((double)c->r) : c->alpha / c->r; }

int lora_matches(const lora_config *c, const char *module) {
    if (c->target_regex) {
        /* PEFT: re.fullmatch(target_modules, key) */
        size_t n = strlen(c->target_regex) + 8;
        char *anchored = malloc(n);
        if (!anchored) return 0;
        snprintf(anchored, n, "^(%s)$", c->target_regex);
        regex_t re;
        int ok = regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) == 0;
        int m = ok && regexec(&re, module, 0, NULL, 0) == 0;
        if (ok) regfree(&re);
        free(anchored);
        return m;
    }
    size_t len = strlen(module);
    for (int i = 0; i < c->ntargets; i++) {
        const char *t = c->targets[i];
        size_t k = strlen(t);
        if (strcmp(module, t) == 0) return 1;
        if (len > k && module[len - k - 1] == '.' && strcmp(module + len - k, t) == 0) return 1;
    }
    return 0;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

int lora_config_load(const char *dir, lora_config *out) {
    memset(out, 0, sizeof *out);
    char *path = vk_path_join(dir, "adapter_config.json");
    size_t n;
    char *text = path ? vk_read_file(path, &n, 16u << 20) : NULL;
    if (!text) {
        free(path);
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    int rc = -1;
    const cJSON *v;
    if (!cJSON_IsObject(root)) {
        vk_err_set("%s: not a JSON object", path);
        goto done;
    }
    if ((v = get(root, "peft_type")) && !(cJSON_IsString(v) && strcmp(v->valuestring, "LORA") == 0)) {
        vk_err_set("%s: peft_type %s is not supported (only LORA)", path, cJSON_IsString(v) ? v->valuestring : "?");
        goto done;
    }
    v = get(root, "r");
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble != floor(v->valuedouble)) {
        vk_err_set("%s: r must be a positive integer", path);
        goto done;
    }
    out->r = v->valueint;
    v = get(root, "lora_alpha");
    out->alpha = cJSON_IsNumber(v) ? v->valuedouble : 8.0; /* PEFT's default */
    v = get(root, "lora_dropout");
    out->dropout = cJSON_IsNumber(v) ? v->valuedouble : 0.0;
    out->use_rslora = cJSON_IsTrue(get(root, "use_rslora"));
    if (cJSON_IsTrue(get(root, "fan_in_fan_out")) || cJSON_IsTrue(get(root, "use_dora"))) {
        vk_err_set("%s: fan_in_fan_out / use_dora adapters are not supported", path);
        goto done;
    }
    if ((v = get(root, "bias")) && cJSON_IsString(v) && strcmp(v->valuestring, "none") != 0) {
        vk_err_set("%s: bias \"%s\" is not supported (only \"none\")", path, v->valuestring);
        goto done;
    }
    const char *patterns[2] = {"rank_pattern", "alpha_pattern"};
    for (int i = 0; i < 2; i++)
        if ((v = get(root, patterns[i])) && cJSON_IsObject(v) && v->child) {
            vk_err_set("%s: %s is not supported", path, patterns[i]);
            goto done;
        }
    if ((v = get(root, "modules_to_save")) && cJSON_IsArray(v) && v->child) {
        vk_err_set("%s: modules_to_save is not supported yet", path);
        goto done;
    }
    v = get(root, "target_modules");
    if (cJSON_IsString(v)) {
        out->target_regex = strdup(v->valuestring);
    } else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) {
        out->targets = calloc((size_t)cJSON_GetArraySize(v), sizeof *out->targets);
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsString(e)) {
                vk_err_set("%s: target_modules must hold strings", path);
                goto done;
            }
            out->targets[out->ntargets++] = strdup(e->valuestring);
        }
    } else {
        vk_err_set("%s: target_modules must be a list of names or a regular expression", path);
        goto done;
    }
    if ((v = get(root, "base_model_name_or_path")) && cJSON_IsString(v)) out->base_model = strdup(v->valuestring);
    rc = 0;
done:
    if (rc) lora_config_free(out);
    cJSON_Delete(root);
    free(path);
    return rc;
}

/* ---- attaching ------------------------------------------------------------------------ */

static int attach_one(blip_linear *l, const lora_config *c, tt_tensor *a, tt_tensor *b) {
    tt_free(l->lora_a);
    tt_free(l->lora_b);
    l->lora_a = tt_persist(a);
    l->lora_b = tt_persist(b);
    l->lora_scale = lora_scaling(c);
    l->lora_dropout = c->dropout;
    if (!l->lora_a || !l->lora_b || tt_requires_grad(l->lora_a, 1) || tt_requires_grad(l->lora_b, 1))
        return vk_err_set("%s: cannot create LoRA tensors: %s", l->name, tt_last_error());
    return 0;
}

int lora_attach(lora_linears *ls, const lora_config *c, int *matched) {
    if (c->r < 1) return vk_err_set("lora: r must be >= 1");
    int count = 0;
    for (int i = 0; i < ls->n; i++) {
        blip_linear *l = ls->items[i];
        if (!lora_matches(c, l->name)) continue;
        int64_t out = tt_size(l->weight, 0), in = tt_size(l->weight, 1);
        tt_tensor *a = tt_zeros((int64_t[]){c->r, in}, 2, TT_F32);
        /* kaiming_uniform_(a=sqrt(5)): bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + 5)) */
        double bound = 1.0 / sqrt((double)in);
        if (!a || tt_uniform_(a, -bound, bound)) return vk_err_set("lora: %s", tt_last_error());
        if (attach_one(l, c, a, tt_zeros((int64_t[]){out, c->r}, 2, TT_F32))) return -1;
        count++;
    }
    for (int t = 0; t < c->ntargets; t++) {
        int hit = 0;
        lora_config one = *c;
        one.targets = &c->targets[t];
        one.ntargets = 1;
        for (int i = 0; i < ls->n && !hit; i++) hit = lora_matches(&one, ls->items[i]->name);
        if (!hit) return vk_err_set("lora: target module \"%s\" matches no Linear layer of this model", c->targets[t]);
    }
    if (!count) return vk_err_set("lora: target_modules match no Linear layer of this model");
    if (matched) *matched = count;
    return 0;
}

void lora_detach(lora_linears *ls) {
    for (int i = 0; i < ls->n; i++) {
        tt_free(ls->items[i]->lora_a);
        tt_free(ls->items[i]->lora_b);
        ls->items[i]->lora_a = ls->items[i]->lora_b = NULL;
    }
}

static blip_linear *find_linear(lora_linears *ls, const char *name, size_t len) {
    for (int i = 0; i < ls->n; i++)
        if (strlen(ls->items[i]->name) == len && strncmp(ls->items[i]->name, name, len) == 0) return ls->items[i];
    return NULL;
}

int lora_load_adapter(lora_linears *ls, const char *dir, lora_config *cfg_out) {
    lora_config c;
    if (lora_config_load(dir, &c)) return -1;
    char *path = vk_path_join(dir, "adapter_model.safetensors");
    vk_weights *w = vk_weights_open(path);
    int rc = w ? 0 : -1;
    /* every adapter tensor names a module of this model, with the shapes r and the layer imply */
    for (size_t i = 0; !rc && i < vk_weights_count(w); i++) {
        const vk_tensor_view *v = vk_weights_tensor(w, i);
        const char *name = v->name;
        if (strncmp(name, PEFT_PREFIX, strlen(PEFT_PREFIX)) != 0) {
            rc = vk_err_set("%s: tensor %s does not start with \"" PEFT_PREFIX "\"", path, name);
            break;
        }
        name += strlen(PEFT_PREFIX);
        const char *suffix = strstr(name, ".lora_A.weight");
        int is_b = 0;
        if (!suffix) {
            suffix = strstr(name, ".lora_B.weight");
            is_b = 1;
        }
        if (!suffix || v->dtype != VK_DTYPE_F32 || v->ndim != 2) {
            rc = vk_err_set("%s: tensor %s is not a float32 lora_A/lora_B weight", path, v->name);
            break;
        }
        blip_linear *l = find_linear(ls, name, (size_t)(suffix - name));
        if (!l) {
            rc = vk_err_set("%s: tensor %s: the model has no Linear layer %.*s", path, v->name, (int)(suffix - name), name);
            break;
        }
        int64_t out = tt_size(l->weight, 0), in = tt_size(l->weight, 1);
        int64_t want0 = is_b ? out : c.r, want1 = is_b ? c.r : in;
        if (v->shape[0] != want0 || v->shape[1] != want1) {
            rc = vk_err_set("%s: tensor %s has shape [%lld, %lld], expected [%lld, %lld] (r = %d)", path, v->name,
                            (long long)v->shape[0], (long long)v->shape[1], (long long)want0, (long long)want1, c.r);
            break;
        }
        tt_tensor *t = tt_from_data(v->data, v->shape, 2, TT_F32);
        if (!t) {
            rc = vk_err_set("%s: %s", path, tt_last_error());
            break;
        }
        tt_tensor *keep_a = is_b ? l->lora_a : t, *keep_b = is_b ? t : l->lora_b;
        l->lora_a = l->lora_b = NULL;
        rc = attach_one(l, &c, keep_a ? keep_a : tt_zeros((int64_t[]){c.r, in}, 2, TT_F32),
                        keep_b ? keep_b : tt_zeros((int64_t[]){out, c.r}, 2, TT_F32));
    }
    /* A and B come in pairs */
    for (int i = 0; !rc && i < ls->n; i++) {
        blip_linear *l = ls->items[i];
        if (!l->lora_a) continue;
        if (!lora_matches(&c, l->name)) rc = vk_err_set("%s: %s has an adapter but is not in target_modules", path, l->name);
    }
    vk_weights_close(w);
    free(path);
    if (rc) {
        lora_detach(ls);
        lora_config_free(&c);
        return -1;
    }
    if (cfg_out) *cfg_out = c;
    else lora_config_free(&c);
    return 0;
}

int lora_count(const lora_linears *ls, int64_t *elements) {
    int n = 0;
    int64_t e = 0;
    for (int i = 0; i < ls->n; i++)
        if (ls->items[i]->lora_a) {
            n++;
            e += tt_numel(ls->items[i]->lora_a) + tt_numel(ls->items[i]->lora_b);
        }
    if (elements) *elements = e;
    return n;
}

int lora_parameters(const lora_linears *ls, tt_tensor ***params, char ***names) {
    int n = 2 * lora_count(ls, NULL), k = 0;
    *params = calloc((size_t)n + 1, sizeof **params);
    if (names) *names = calloc((size_t)n + 1, sizeof **names);
    for (int i = 0; i < ls->n; i++) {
        const blip_linear *l = ls->items[i];
        if (!l->lora_a) continue;
        for (int ab = 0; ab < 2; ab++, k++) {
            (*params)[k] = ab ? l->lora_b : l->lora_a;
            if (names) {
                size_t len = strlen(l->name) + 64;
                (*names)[k] = malloc(len);
                if ((*names)[k]) snprintf((*names)[k], len, PEFT_PREFIX "%s.lora_%c.default.weight", l->name, ab ? 'B' : 'A');
            }
        }
    }
    return n;
}

void lora_free_names(char **names, int n) {
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

tt_tensor *lora_merged_weight(const blip_linear *l) {
    if (!l->lora_a) return NULL;
    tt_scope_begin();
    tt_tensor *delta = tt_mul_scalar(tt_matmul(l->lora_b, l->lora_a), l->lora_scale);
    tt_tensor *w = tt_keep(tt_detach(tt_add(l->weight, delta)));
    tt_scope_end();
    return w;
}

/* ---- saving ------------------------------------------------------------------------------ */

static int write_adapter_config(const lora_config *c, const char *dir) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "alpha_pattern", cJSON_CreateObject());
    cJSON *am = cJSON_AddObjectToObject(o, "auto_mapping");
    cJSON_AddStringToObject(am, "base_model_class", "BlipForConditionalGeneration");
    cJSON_AddStringToObject(am, "parent_library", "transformers.models.blip.modeling_blip");
    if (c->base_model) cJSON_AddStringToObject(o, "base_model_name_or_path", c->base_model);
    else cJSON_AddNullToObject(o, "base_model_name_or_path");
    cJSON_AddStringToObject(o, "bias", "none");
    cJSON_AddBoolToObject(o, "fan_in_fan_out", 0);
    cJSON_AddBoolToObject(o, "inference_mode", 1);
    cJSON_AddBoolToObject(o, "init_lora_weights", 1);
    cJSON_AddNullToObject(o, "layer_replication");
    cJSON_AddNullToObject(o, "layers_pattern");
    cJSON_AddNullToObject(o, "layers_to_transform");
    cJSON_AddItemToObject(o, "loftq_config", cJSON_CreateObject());
    cJSON_AddNumberToObject(o, "lora_alpha", c->alpha);
    cJSON_AddNumberToObject(o, "lora_dropout", c->dropout);
    cJSON_AddNullToObject(o, "megatron_config");
    cJSON_AddStringToObject(o, "megatron_core", "megatron.core");
    cJSON_AddNullToObject(o, "modules_to_save");
    cJSON_AddStringToObject(o, "peft_type", "LORA");
    cJSON_AddNumberToObject(o, "r", c->r);
    cJSON_AddItemToObject(o, "rank_pattern", cJSON_CreateObject());
    cJSON_AddNullToObject(o, "revision");
    if (c->target_regex) cJSON_AddStringToObject(o, "target_modules", c->target_regex);
    else cJSON_AddItemToObject(o, "target_modules", cJSON_CreateStringArray((const char *const *)c->targets, c->ntargets));
    cJSON_AddNullToObject(o, "task_type");
    cJSON_AddBoolToObject(o, "use_dora", 0);
    cJSON_AddBoolToObject(o, "use_rslora", c->use_rslora != 0);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    char *path = vk_path_join(dir, "adapter_config.json");
    int rc = text && path ? vk_write_file_atomic(path, text, strlen(text)) : vk_err_set("out of memory");
    free(text);
    free(path);
    return rc;
}

static int write_adapter_tensors(const lora_linears *ls, const char *dir) {
    int n = 2 * lora_count(ls, NULL), k = 0, rc = 0;
    vk_tensor_view *views = calloc((size_t)n + 1, sizeof *views);
    char **names = calloc((size_t)n + 1, sizeof *names);
    float **bufs = calloc((size_t)n + 1, sizeof *bufs);
    if (!views || !names || !bufs) rc = vk_err_set("out of memory");
    for (int i = 0; !rc && i < ls->n; i++) {
        const blip_linear *l = ls->items[i];
        if (!l->lora_a) continue;
        for (int ab = 0; ab < 2 && !rc; ab++, k++) {
            tt_tensor *t = ab ? l->lora_b : l->lora_a;
            size_t len = strlen(l->name) + 48;
            names[k] = malloc(len);
            snprintf(names[k], len, PEFT_PREFIX "%s.lora_%c.weight", l->name, ab ? 'B' : 'A');
            size_t bytes = sizeof(float) * (size_t)tt_numel(t);
            bufs[k] = malloc(bytes ? bytes : 1);
            if (!bufs[k] || tt_copy_to(t, bufs[k], bytes)) rc = vk_err_set("%s: %s", names[k], tt_last_error());
            views[k] = (vk_tensor_view){.name = names[k], .dtype = VK_DTYPE_F32, .ndim = 2, .data = bufs[k], .nbytes = bytes};
            views[k].shape[0] = tt_size(t, 0);
            views[k].shape[1] = tt_size(t, 1);
        }
    }
    if (!rc) {
        char *path = vk_path_join(dir, "adapter_model.safetensors");
        rc = vk_safetensors_write(path, views, (size_t)n, NULL, 0);
        free(path);
    }
    for (int i = 0; i < n; i++) {
        if (names) free(names[i]);
        if (bufs) free(bufs[i]);
    }
    free(views), free(names), free(bufs);
    return rc;
}


int lora_write_adapter_files(const lora_linears *ls, const lora_config *c, const char *dir) {
    if (!lora_count(ls, NULL)) return vk_err_set("%s: no adapter to save", dir);
    return write_adapter_tensors(ls, dir) || write_adapter_config(c, dir) ? -1 : 0;
}

int lora_save_adapter(const lora_linears *ls, const lora_config *c, const char *dir) {
    if (!lora_count(ls, NULL)) return vk_err_set("%s: no adapter to save", dir);
    char *tmp = vk_tmp_dir_name(dir);
    if (!tmp) return vk_err_set("out of memory");
    vk_remove_flat_dir(tmp);
    int rc = mkdir(tmp, 0777) ? vk_err_set("%s: cannot create: %s", tmp, strerror(errno)) : 0;
    if (!rc) rc = lora_write_adapter_files(ls, c, tmp);
    if (!rc) rc = vk_replace_dir(tmp, dir);
    if (rc) vk_remove_flat_dir(tmp);
    free(tmp);
    return rc;
}
