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
    lora_config c = {8, 16.0, 0.05, 0, NULL, 0, NULL, NULL, NULL, 0};
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
    for (int i = 0; i < c->nmodules_to_save; i++) free(c->modules_to_save[i]);
    free(c->modules_to_save);
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
    if ((v = get(root, "modules_to_save")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsArray(v)) {
            vk_err_set("%s: modules_to_save must be a list of module names or null", path);
            goto done;
        }
        out->modules_to_save = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof *out->modules_to_save);
        if (!out->modules_to_save) {
            vk_err_set("out of memory");
            goto done;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsString(e) || !e->valuestring[0]) {
                vk_err_set("%s: modules_to_save must hold non-empty strings", path);
                goto done;
            }
            out->modules_to_save[out->nmodules_to_save++] = strdup(e->valuestring);
        }
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

/* ---- modules_to_save -------------------------------------------------------------------- */

typedef struct {
    char *name;
    tt_tensor *handle;
} named_tensor;

static int named_cmp(const void *a, const void *b) { return strcmp(((const named_tensor *)a)->name, ((const named_tensor *)b)->name); }

static void named_free(named_tensor *t, int n) {
    for (int i = 0; t && i < n; i++) free(t[i].name);
    free(t);
}

/* The model's parameters by state-dict name, sorted: the tensors the model was built from, plus
 * the names transformers gives a Linear's tensors that the file stores under another name
 * (cls.predictions.decoder.bias is the Parameter cls.predictions.bias). */
static named_tensor *model_tensors(const lora_linears *ls, int *n) {
    int np = blip_params_count(ls->params), k = 0;
    named_tensor *t = calloc((size_t)np + 2 * (size_t)ls->n + 1, sizeof *t);
    if (!t) return NULL;
    for (int i = 0; i < np; i++)
        if (blip_params_used_at(ls->params, i)) {
            t[k].handle = blip_params_tensor_at(ls->params, i);
            if (!(t[k++].name = strdup(blip_params_name_at(ls->params, i)))) goto oom;
        }
    for (int i = 0; i < ls->n; i++)
        for (int wb = 0; wb < 2; wb++) {
            const blip_linear *l = ls->items[i];
            tt_tensor *h = wb ? l->bias : l->weight;
            char name[600];
            snprintf(name, sizeof name, "%s.%s", l->name, wb ? "bias" : "weight");
            int known = !h;
            for (int j = 0; j < k && !known; j++) known = strcmp(t[j].name, name) == 0;
            if (known) continue;
            t[k].handle = h;
            if (!(t[k++].name = strdup(name))) goto oom;
        }
    qsort(t, (size_t)k, sizeof *t, named_cmp);
    *n = k;
    return t;
oom:
    named_free(t, k);
    return NULL;
}

static int ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static int saved_add(lora_linears *ls, const char *name, size_t module_len, tt_tensor *handle) {
    int m = -1;
    for (int i = 0; i < ls->nsaved_modules && m < 0; i++)
        if (strlen(ls->saved_modules[i]) == module_len && strncmp(ls->saved_modules[i], name, module_len) == 0) m = i;
    if (m < 0) {
        char **mods = realloc(ls->saved_modules, sizeof *mods * (size_t)(ls->nsaved_modules + 1));
        if (!mods) return vk_err_set("out of memory");
        ls->saved_modules = mods;
        if (!(mods[ls->nsaved_modules] = strndup(name, module_len))) return vk_err_set("out of memory");
        m = ls->nsaved_modules++;
    }
    lora_saved_tensor *s = realloc(ls->saved, sizeof *s * (size_t)(ls->nsaved + 1));
    if (!s) return vk_err_set("out of memory");
    ls->saved = s;
    s[ls->nsaved] = (lora_saved_tensor){strdup(name), m, handle, NULL};
    if (!s[ls->nsaved].name) return vk_err_set("out of memory");
    ls->nsaved++;
    return 0;
}

/* 1 when saved[i] is the first entry of its tensor (later ones are other names of it). */
static int saved_first(const lora_linears *ls, int i) {
    for (int j = 0; j < i; j++)
        if (ls->saved[j].handle == ls->saved[i].handle) return 0;
    return 1;
}

static int saved_holds(const lora_linears *ls, const tt_tensor *h) {
    for (int i = 0; h && i < ls->nsaved; i++)
        if (ls->saved[i].handle == h) return i;
    return -1;
}

/* Linears computing in bf16 keep copies (or cast masters) of weight and bias: redo them for the
 * tensors whose handles now hold other tensors. */
static void refresh_linears(lora_linears *ls) {
    for (int i = 0; i < ls->n; i++) {
        blip_linear *l = ls->items[i];
        if (saved_holds(ls, l->weight) < 0 && saved_holds(ls, l->bias) < 0) continue;
        if (l->weight_lp) blip_linear_set_dtype(l, (tt_dtype)tt_dtype_of(l->weight_lp));
        else if (l->cast_dt != TT_F32) blip_linear_set_dtype(l, (tt_dtype)l->cast_dt);
    }
}

static void saved_detach(lora_linears *ls) {
    for (int i = 0; i < ls->nsaved; i++) {
        lora_saved_tensor *s = &ls->saved[i];
        if (s->base) tt_rebind(s->handle, s->base);
        tt_free(s->base);
        s->base = NULL;
    }
    refresh_linears(ls);
    for (int i = 0; i < ls->nsaved; i++) free(ls->saved[i].name);
    for (int i = 0; i < ls->nsaved_modules; i++) free(ls->saved_modules[i]);
    free(ls->saved);
    free(ls->saved_modules);
    ls->saved = NULL;
    ls->saved_modules = NULL;
    ls->nsaved = ls->nsaved_modules = 0;
}

/* Match c's modules_to_save as PEFT's _set_trainable (a module whose name ends with an entry)
 * and make every tensor of the matched modules a trainable float32 copy of the base. */
static int saved_attach(lora_linears *ls, const lora_config *c) {
    if (!c->nmodules_to_save) return 0;
    if (!ls->params) return vk_err_set("lora: modules_to_save: the model's tensors are not known here");
    if (ls->nsaved) return vk_err_set("lora: modules_to_save are attached already");
    int n = 0, rc = 0;
    named_tensor *all = model_tensors(ls, &n);
    char *hit = calloc((size_t)c->nmodules_to_save + 1, 1);
    if (!all || !hit) rc = vk_err_set("out of memory");
    for (int e = 0; !rc && e < c->nmodules_to_save; e++)
        if (!c->modules_to_save[e][0]) rc = vk_err_set("lora: modules_to_save: empty module name");
    for (int i = 0; !rc && i < n; i++) {
        const char *name = all[i].name;
        size_t outer = 0; /* the outermost matching module: name[0..outer) */
        /* every module holding this tensor: each prefix ending before a '.' */
        for (const char *d = strchr(name, '.'); d && !rc; d = strchr(d + 1, '.')) {
            size_t len = (size_t)(d - name);
            int match = 0;
            for (int e = 0; e < c->nmodules_to_save; e++)
                if (ends_with(name, len, c->modules_to_save[e])) match = hit[e] = 1;
            if (!match) continue;
            if (!outer) outer = len;
            else
                rc = vk_err_set("lora: modules_to_save: %.*s matches and so does %.*s inside it (PEFT would nest its "
                                "wrappers); name the module meant more precisely",
                                (int)outer, name, (int)len, name);
        }
        if (outer && !rc) rc = saved_add(ls, name, outer, all[i].handle);
    }
    for (int e = 0; !rc && e < c->nmodules_to_save; e++)
        if (!hit[e]) rc = vk_err_set("lora: modules_to_save entry \"%s\" matches no module of this model", c->modules_to_save[e]);
    for (int i = 0; !rc && i < ls->nsaved; i++) {
        lora_saved_tensor *s = &ls->saved[i];
        if (!saved_first(ls, i)) continue;
        tt_scope_begin();
        tt_tensor *fresh = tt_clone(tt_to_dtype(s->handle, TT_F32));
        s->base = tt_persist(tt_shallow_clone(s->handle));
        if (!fresh || !s->base || tt_requires_grad(fresh, 1) || tt_rebind(s->handle, fresh))
            rc = vk_err_set("lora: %s: cannot make it trainable: %s", s->name, tt_last_error());
        tt_scope_end();
    }
    if (!rc) refresh_linears(ls);
    named_free(all, n);
    free(hit);
    return rc;
}

/* A LoRA layer inside a module trained in full is not supported (PEFT would copy the adapter). */
static int saved_check_overlap(const lora_linears *ls) {
    for (int i = 0; i < ls->n; i++) {
        const blip_linear *l = ls->items[i];
        if (!l->lora_a) continue;
        int s = saved_holds(ls, l->weight);
        if (s < 0) s = saved_holds(ls, l->bias);
        if (s >= 0)
            return vk_err_set("lora: %s is a LoRA target and part of modules_to_save module %s; a module is either "
                              "adapted or trained in full",
                              l->name, ls->saved_modules[ls->saved[s].module]);
    }
    return 0;
}

static int saved_find(const lora_linears *ls, const char *name) {
    for (int i = 0; i < ls->nsaved; i++)
        if (strcmp(ls->saved[i].name, name) == 0) return i;
    return -1;
}

/* Copy an adapter file's tensor into a module tensor (float32, bf16 or fp16 on disk). */
static int saved_load(const lora_saved_tensor *s, const vk_tensor_view *v, const char *path) {
    tt_dtype dt = v->dtype == VK_DTYPE_F32 ? TT_F32 : v->dtype == VK_DTYPE_BF16 ? TT_BF16 : TT_F16;
    if (v->dtype != VK_DTYPE_F32 && v->dtype != VK_DTYPE_BF16 && v->dtype != VK_DTYPE_F16)
        return vk_err_set("%s: tensor %s is not a float tensor", path, v->name);
    int64_t shape[VK_MAX_DIMS];
    int nd = tt_shape(s->handle, shape, VK_MAX_DIMS), same = nd == (int)v->ndim;
    for (int i = 0; same && i < nd; i++) same = shape[i] == v->shape[i];
    if (!same) return vk_err_set("%s: tensor %s has another shape than the model's %s", path, v->name, s->name);
    tt_tensor *t = tt_from_data(v->data, v->shape, (int)v->ndim, dt);
    int rc = t && !tt_copy_(s->handle, t) ? 0 : vk_err_set("%s: %s: %s", path, v->name, tt_last_error());
    tt_free(t);
    return rc;
}

int lora_trains_under(const lora_linears *ls, const char *prefix) {
    size_t k = strlen(prefix);
    for (int i = 0; i < ls->n; i++)
        if (ls->items[i]->lora_a && strncmp(ls->items[i]->name, prefix, k) == 0) return 1;
    for (int i = 0; i < ls->nsaved; i++)
        if (strncmp(ls->saved[i].name, prefix, k) == 0) return 1;
    return 0;
}

int lora_adapter_key(const char *p, char *buf, size_t cap) {
    static const char mts[] = ".modules_to_save.default.", def[] = ".default.weight";
    const char *m = strstr(p, mts);
    size_t len = strlen(p);
    int n;
    if (m) n = snprintf(buf, cap, "%.*s.%s", (int)(m - p), p, m + strlen(mts));
    else if (ends_with(p, len, def)) n = snprintf(buf, cap, "%.*s.weight", (int)(len - strlen(def)), p);
    else n = snprintf(buf, cap, "%s", p);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
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
    if (saved_attach(ls, c) || saved_check_overlap(ls)) return -1;
    if (matched) *matched = count;
    return 0;
}

void lora_detach(lora_linears *ls) {
    for (int i = 0; i < ls->n; i++) {
        tt_free(ls->items[i]->lora_a);
        tt_free(ls->items[i]->lora_b);
        ls->items[i]->lora_a = ls->items[i]->lora_b = NULL;
    }
    saved_detach(ls);
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
    if (!rc && saved_attach(ls, &c)) rc = vk_err_prefix("%s", dir);
    char *loaded = rc ? NULL : calloc((size_t)ls->nsaved + 1, 1);
    if (!rc && !loaded) rc = vk_err_set("out of memory");
    /* every adapter tensor names a module of this model, with the shapes r and the layer imply */
    for (size_t i = 0; !rc && i < vk_weights_count(w); i++) {
        const vk_tensor_view *v = vk_weights_tensor(w, i);
        const char *name = v->name;
        if (strncmp(name, PEFT_PREFIX, strlen(PEFT_PREFIX)) != 0) {
            rc = vk_err_set("%s: tensor %s does not start with \"" PEFT_PREFIX "\"", path, name);
            break;
        }
        name += strlen(PEFT_PREFIX);
        int si = saved_find(ls, name);
        if (si >= 0) {
            /* a tensor of a module trained in full, under its state-dict name */
            rc = saved_load(&ls->saved[si], v, path);
            loaded[si] = 1;
            continue;
        }
        const char *suffix = strstr(name, ".lora_A.weight");
        int is_b = 0;
        if (!suffix) {
            suffix = strstr(name, ".lora_B.weight");
            is_b = 1;
        }
        if (!suffix || v->dtype != VK_DTYPE_F32 || v->ndim != 2) {
            rc = vk_err_set("%s: tensor %s is not a float32 lora_A/lora_B weight%s", path, v->name,
                            ls->nsaved ? " nor a tensor of a modules_to_save module" : "");
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
    /* every tensor of the modules trained in full came from the file (under one of its names) */
    for (int i = 0; !rc && i < ls->nsaved; i++) {
        int got = 0;
        for (int j = 0; j < ls->nsaved && !got; j++) got = loaded[j] && ls->saved[j].handle == ls->saved[i].handle;
        if (!got)
            rc = vk_err_set("%s: no tensor " PEFT_PREFIX "%s (module %s is in modules_to_save)", path, ls->saved[i].name,
                            ls->saved_modules[ls->saved[i].module]);
    }
    if (!rc && saved_check_overlap(ls)) rc = vk_err_prefix("%s", dir);
    free(loaded);
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
    for (int i = 0; i < ls->nsaved; i++)
        if (saved_first(ls, i)) e += tt_numel(ls->saved[i].handle);
    if (elements) *elements = e;
    return n;
}

int lora_parameters(const lora_linears *ls, tt_tensor ***params, char ***names) {
    int n = 2 * lora_count(ls, NULL), k = 0;
    for (int i = 0; i < ls->nsaved; i++) n += saved_first(ls, i);
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
    for (int i = 0; i < ls->nsaved; i++) {
        if (!saved_first(ls, i)) continue;
        const lora_saved_tensor *s = &ls->saved[i];
        (*params)[k] = s->handle;
        if (names) {
            /* PeftModel's name: the wrapper's copy "modules_to_save.default" sits under the module */
            const char *module = ls->saved_modules[s->module];
            size_t len = strlen(s->name) + 64;
            (*names)[k] = malloc(len);
            if ((*names)[k])
                snprintf((*names)[k], len, PEFT_PREFIX "%s.modules_to_save.default.%s", module, s->name + strlen(module) + 1);
        }
        k++;
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
    if (c->nmodules_to_save)
        cJSON_AddItemToObject(o, "modules_to_save",
                              cJSON_CreateStringArray((const char *const *)c->modules_to_save, c->nmodules_to_save));
    else cJSON_AddNullToObject(o, "modules_to_save");
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
    int n = 2 * lora_count(ls, NULL) + ls->nsaved, k = 0, rc = 0;
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
    /* modules_to_save: every tensor under its state-dict name (a shared tensor under each) */
    for (int i = 0; !rc && i < ls->nsaved; i++, k++) {
        tt_tensor *t = ls->saved[i].handle;
        size_t len = strlen(ls->saved[i].name) + sizeof PEFT_PREFIX;
        names[k] = malloc(len);
        if (names[k]) snprintf(names[k], len, PEFT_PREFIX "%s", ls->saved[i].name);
        size_t bytes = sizeof(float) * (size_t)tt_numel(t);
        bufs[k] = malloc(bytes ? bytes : 1);
        if (!names[k] || !bufs[k] || tt_dtype_of(t) != TT_F32 || tt_copy_to(t, bufs[k], bytes))
            rc = vk_err_set("%s: cannot write: %s", ls->saved[i].name, tt_last_error());
        views[k] = (vk_tensor_view){.name = names[k], .dtype = VK_DTYPE_F32, .data = bufs[k], .nbytes = bytes};
        views[k].ndim = tt_shape(t, views[k].shape, VK_MAX_DIMS);
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
