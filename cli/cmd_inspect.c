/* vlkit inspect FILE|DIR — what is in a weight file, model folder or adapter folder.
 *
 * Everything is first gathered into one JSON report (the --json output), and the text output is
 * rendered from that same report, so the two never disagree. */
#include "cli/commands.h"
#include "cli/inspect_config.h"
#include "model/weights/weights.h"
#include "util/args.h"
#include "util/ds.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    cJSON *root;
    cJSON *files;   /* one object per weight file read */
    cJSON *tensors; /* every tensor, in file order (shards in index order) */
    double ntensors, params, bytes;
} report;

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

/* Read one weight file into the report. `shard` != NULL tags every tensor with its file (for
 * sharded checkpoints) and then `expect` (the index's weight_map) must list each of them. */
static int add_weight_file(report *r, const char *path, const char *shard) {
    vk_weights *w = vk_weights_open(path);
    if (!w) return -1;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "file", shard ? shard : base_name(path));
    cJSON_AddStringToObject(f, "format", vk_weights_format_name(vk_weights_format_of(w)));
    cJSON *meta = cJSON_AddObjectToObject(f, "metadata");
    for (size_t i = 0; i < vk_weights_metadata_count(w); i++) {
        const char *k, *v;
        vk_weights_metadata_at(w, i, &k, &v);
        cJSON_AddStringToObject(meta, k, v);
    }
    double fparams = 0, fbytes = 0;
    for (size_t i = 0; i < vk_weights_count(w); i++) {
        const vk_tensor_view *t = vk_weights_tensor(w, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "dtype", vk_dtype_name(t->dtype));
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddNumberToObject(o, "parameters", (double)vk_tensor_numel(t));
        cJSON_AddNumberToObject(o, "bytes", (double)t->nbytes);
        if (shard) cJSON_AddStringToObject(o, "file", shard);
        cJSON_AddItemToArray(r->tensors, o);
        fparams += (double)vk_tensor_numel(t);
        fbytes += (double)t->nbytes;
    }
    cJSON_AddNumberToObject(f, "tensors", (double)vk_weights_count(w));
    cJSON_AddNumberToObject(f, "parameters", fparams);
    cJSON_AddNumberToObject(f, "bytes", fbytes);
    cJSON_AddItemToArray(r->files, f);
    r->ntensors += (double)vk_weights_count(w);
    r->params += fparams;
    r->bytes += fbytes;
    vk_weights_close(w);
    return 0;
}

/* A sharded checkpoint: <name>.index.json maps every tensor name to its shard file. Each shard
 * is read once, in the order the shards first appear; a tensor the index places in a shard that
 * does not hold it is an error (the folder would not load). */
static int add_sharded(report *r, const char *index_path) {
    size_t len;
    char *text = vk_read_file(index_path, &len, 256u << 20);
    if (!text) return -1;
    cJSON *idx = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(idx);
        return vk_err_set("%s: not a sharded-checkpoint index (no \"weight_map\" object)", index_path);
    }
    char *dir = strdup(index_path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0;
    else dir[0] = 0;
    int rc = 0;
    cJSON *done = cJSON_CreateArray();
    for (const cJSON *e = map->child; e && rc == 0; e = e->next) {
        if (!cJSON_IsString(e)) {
            rc = vk_err_set("%s: weight_map entry '%s' is not a file name", index_path, e->string);
            break;
        }
        int seen = 0;
        for (const cJSON *d = done->child; d && !seen; d = d->next) seen = strcmp(d->valuestring, e->valuestring) == 0;
        if (seen) continue;
        if (strchr(e->valuestring, '/')) {
            rc = vk_err_set("%s: shard '%s' is not a plain file name", index_path, e->valuestring);
            break;
        }
        cJSON_AddItemToArray(done, cJSON_CreateString(e->valuestring));
        char *p = vk_path_join(dir, e->valuestring);
        rc = add_weight_file(r, p, e->valuestring);
        free(p);
    }
    /* Every mapped tensor must be in the shard the index names (a hash map keeps this linear:
     * mixture-of-experts checkpoints have tens of thousands of tensors). */
    struct {
        char *key;
        const char *value;
    } *where = NULL;
    for (const cJSON *t = r->tensors->child; t && rc == 0; t = t->next)
        shput(where, cJSON_GetObjectItem(t, "name")->valuestring, cJSON_GetObjectItem(t, "file")->valuestring);
    for (const cJSON *e = map->child; e && rc == 0; e = e->next) {
        ptrdiff_t i = shgeti(where, e->string);
        if (i < 0 || strcmp(where[i].value, e->valuestring) != 0)
            rc = vk_err_set("%s: tensor '%s' is mapped to %s, which does not hold it", index_path, e->string, e->valuestring);
    }
    shfree(where);
    cJSON_AddNumberToObject(r->root, "shards", cJSON_GetArraySize(done));
    cJSON_Delete(done);
    cJSON_Delete(idx);
    free(dir);
    return rc;
}

static int add_weights(report *r, const char *path) {
    size_t n = strlen(path);
    if (n > 11 && strcmp(path + n - 11, ".index.json") == 0) return add_sharded(r, path);
    return add_weight_file(r, path, NULL);
}

/* The weight files HF tooling looks for, in the order transformers / PEFT prefer them. */
static const char *const weight_names[] = {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                                           "pytorch_model.bin.index.json", "adapter_model.safetensors",
                                           "adapter_model.bin", NULL};

static int inspect_dir(report *r, const char *dir) {
    int found = 0;
    char *p = vk_path_join(dir, "config.json");
    if (vk_file_exists(p)) {
        cJSON *c = inspect_model_config(p);
        if (!c) {
            free(p);
            return -1;
        }
        cJSON_AddItemToObject(r->root, "config", c);
        found = 1;
    }
    free(p);
    p = vk_path_join(dir, "adapter_config.json");
    if (vk_file_exists(p)) {
        cJSON *c = inspect_adapter_config(p);
        if (!c) {
            free(p);
            return -1;
        }
        cJSON_AddItemToObject(r->root, "adapter", c);
        found = 1;
    }
    free(p);
    const char *chosen = NULL;
    cJSON *others = cJSON_CreateArray();
    for (int i = 0; weight_names[i]; i++) {
        p = vk_path_join(dir, weight_names[i]);
        if (vk_file_exists(p)) {
            if (!chosen) chosen = weight_names[i];
            else cJSON_AddItemToArray(others, cJSON_CreateString(weight_names[i]));
        }
        free(p);
    }
    if (cJSON_GetArraySize(others)) cJSON_AddItemToObject(r->root, "other_weight_files", others);
    else cJSON_Delete(others);
    if (!chosen) {
        if (!found) return vk_err_set("%s: no config.json, adapter_config.json or weight file (model.safetensors, "
                                      "pytorch_model.bin, adapter_model.safetensors, ...) in this folder",
                                      dir);
        return 0;
    }
    cJSON_AddStringToObject(r->root, "weights", chosen);
    p = vk_path_join(dir, chosen);
    int rc = add_weights(r, p);
    free(p);
    return rc;
}

/* ---- text output ---------------------------------------------------------------------------- */

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int is_default(const cJSON *defaults, const char *tower, const char *key) {
    char name[96];
    snprintf(name, sizeof name, "%s.%s", tower, key);
    for (const cJSON *d = defaults ? defaults->child : NULL; d; d = d->next)
        if (strcmp(d->valuestring, name) == 0) return 1;
    return 0;
}

static void print_tower(const cJSON *cfg, const char *tower, const char *label) {
    static const struct {
        const char *key, *short_name;
    } f[] = {{"hidden_size", "hidden"},      {"num_hidden_layers", "layers"}, {"num_attention_heads", "heads"},
             {"intermediate_size", "intermediate"}, {"image_size", "image"}, {"patch_size", "patch"},
             {"vocab_size", "vocab"},        {"max_position_embeddings", "positions"}};
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg, tower);
    if (!t) return;
    const cJSON *defaults = cJSON_GetObjectItemCaseSensitive(cfg, "defaults");
    printf("%-9s", label);
    int first = 1;
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        double v = num(t, f[i].key);
        if (v < 0) continue;
        printf("%s%s %.0f%s", first ? "" : ", ", f[i].short_name, v, is_default(defaults, tower, f[i].key) ? "*" : "");
        first = 0;
    }
    printf("\n");
}

static void print_json_inline(const cJSON *v) {
    char *s = cJSON_PrintUnformatted(v);
    if (s) fputs(s, stdout);
    free(s);
}

static void human(double v, const char *const *units, double step, char *out, size_t cap) {
    int u = 0;
    while (v >= step && units[u + 1]) v /= step, u++;
    snprintf(out, cap, u ? "%.1f %s" : "%.0f%s", v, units[u]);
}

static void print_text(const report *r, int show_tensors) {
    const cJSON *root = r->root;
    printf("%-9s%s\n", "path", cJSON_GetObjectItem(root, "path")->valuestring);
    const cJSON *cfg = cJSON_GetObjectItem(root, "config");
    if (cfg) {
        const cJSON *mt = cJSON_GetObjectItem(cfg, "model_type"), *arch = cJSON_GetObjectItem(cfg, "architectures");
        printf("%-9s%s", "model", cJSON_IsString(mt) ? mt->valuestring : "(no model_type)");
        for (const cJSON *a = arch ? arch->child : NULL; a; a = a->next)
            if (cJSON_IsString(a)) printf("%s%s", a == arch->child ? ", " : " ", a->valuestring);
        const cJSON *dt = cJSON_GetObjectItem(cfg, "torch_dtype"), *tv = cJSON_GetObjectItem(cfg, "transformers_version");
        if (dt || tv)
            printf(" (%s%s%s%s)", dt ? dt->valuestring : "", dt && tv ? ", " : "", tv ? "transformers " : "",
                   tv ? tv->valuestring : "");
        printf("\n");
        print_tower(cfg, "vision", "vision");
        print_tower(cfg, "text", "text");
        print_tower(cfg, "model", "sizes");
        if (cJSON_GetArraySize(cJSON_GetObjectItem(cfg, "defaults")))
            printf("%-9s* not in config.json: the BLIP default\n", "");
    }
    const cJSON *ad = cJSON_GetObjectItem(root, "adapter");
    if (ad) {
        const cJSON *pt = cJSON_GetObjectItem(ad, "peft_type");
        printf("%-9s%s", "adapter", cJSON_IsString(pt) ? pt->valuestring : "(no peft_type)");
        if (num(ad, "r") >= 0) printf(", r %g", num(ad, "r"));
        if (num(ad, "lora_alpha") >= 0) printf(", lora_alpha %g", num(ad, "lora_alpha"));
        if (num(ad, "scaling") >= 0) printf(" (scaling %g)", num(ad, "scaling"));
        if (num(ad, "lora_dropout") >= 0) printf(", dropout %g", num(ad, "lora_dropout"));
        const cJSON *tm = cJSON_GetObjectItem(ad, "target_modules");
        if (tm) printf(", targets "), print_json_inline(tm);
        const cJSON *ms = cJSON_GetObjectItem(ad, "modules_to_save");
        if (cJSON_GetArraySize(ms) > 0) printf(", modules_to_save "), print_json_inline(ms);
        const cJSON *bias = cJSON_GetObjectItem(ad, "bias");
        if (cJSON_IsString(bias)) printf(", bias %s", bias->valuestring);
        printf("\n");
        const cJSON *base = cJSON_GetObjectItem(ad, "base_model_name_or_path");
        if (cJSON_IsString(base)) printf("%-9s%s\n", "base", base->valuestring);
    }
    for (const cJSON *f = cJSON_GetObjectItem(root, "files")->child; f; f = f->next) {
        printf("%-9s%s: %s", "weights", cJSON_GetObjectItem(f, "file")->valuestring,
               cJSON_GetObjectItem(f, "format")->valuestring);
        const cJSON *meta = cJSON_GetObjectItem(f, "metadata");
        for (const cJSON *m = meta->child; m; m = m->next)
            printf("%s%s=%s", m == meta->child ? ", metadata " : " ", m->string, m->valuestring);
        printf("\n");
    }
    const cJSON *others = cJSON_GetObjectItem(root, "other_weight_files");
    for (const cJSON *o = others ? others->child : NULL; o; o = o->next) printf("%-9s%s (not read)\n", "also", o->valuestring);

    if (show_tensors && cJSON_GetArraySize(r->tensors)) {
        int wname = 4, wshape = 5, sharded = cJSON_GetObjectItem(root, "shards") != NULL;
        char shape[256];
        for (const cJSON *t = r->tensors->child; t; t = t->next) {
            int n = (int)strlen(cJSON_GetObjectItem(t, "name")->valuestring);
            if (n > wname) wname = n;
        }
        /* shapes are rendered twice (width, then print): cheap next to reading the file */
        for (int pass = 0; pass < 2; pass++) {
            if (pass) {
                printf("\n%-*s  %-5s  %-*s  %12s%s\n", wname, "name", "dtype", wshape, "shape", "bytes", sharded ? "  file" : "");
            }
            for (const cJSON *t = r->tensors->child; t; t = t->next) {
                size_t k = 0;
                const cJSON *sh = cJSON_GetObjectItem(t, "shape");
                k += (size_t)snprintf(shape + k, sizeof shape - k, "[");
                for (const cJSON *d = sh->child; d && k < sizeof shape - 24; d = d->next)
                    k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%.0f", d == sh->child ? "" : ", ", d->valuedouble);
                snprintf(shape + k, sizeof shape - k, "]");
                if (!pass) {
                    if ((int)strlen(shape) > wshape) wshape = (int)strlen(shape);
                    continue;
                }
                const cJSON *file = cJSON_GetObjectItem(t, "file");
                printf("%-*s  %-5s  %-*s  %12.0f%s%s\n", wname, cJSON_GetObjectItem(t, "name")->valuestring,
                       cJSON_GetObjectItem(t, "dtype")->valuestring, wshape, shape, num(t, "bytes"),
                       file ? "  " : "", file ? file->valuestring : "");
            }
        }
        printf("\n");
    }
    if (cJSON_GetArraySize(cJSON_GetObjectItem(root, "files"))) {
        static const char *const pu[] = {"", "K", "M", "G", "T", NULL}, *const bu[] = {" B", "KiB", "MiB", "GiB", "TiB", NULL};
        char hp[32], hb[32];
        human(r->params, pu, 1000, hp, sizeof hp);
        human(r->bytes, bu, 1024, hb, sizeof hb);
        printf("%-9s%.0f tensors, %.0f parameters (%s), %.0f bytes (%s)\n", "total", r->ntensors, r->params, hp, r->bytes, hb);
    }
}

int cmd_inspect(int argc, char **argv) {
    static int json = 0, no_tensors = 0;
    static const vk_arg opts[] = {
        {"--json", NULL, VK_ARG_FLAG, &json, "print one JSON object (config, adapter, files, tensors, totals)", NULL, 0},
        {"--no-tensors", NULL, VK_ARG_FLAG, &no_tensors, "omit the per-tensor table (text output)", NULL, 0},
        {0}};
    static const vk_argspec spec = {
        "inspect", "[options] FILE|DIR",
        "List the tensors of a weight file (safetensors or pytorch_model.bin, or a sharded index), or the config, "
        "adapter config and tensors of a model / adapter folder.",
        opts, 1, 1,
        "examples:\n  vlkit inspect model/model.safetensors\n  vlkit inspect --json checkpoints/adapter\n"};
    vk_strlist pos = {0};
    int prc = vk_args_parse(&spec, argc, argv, &pos);
    if (prc != VK_ARGS_OK) return prc == VK_ARGS_HELP ? 0 : 2;
    const char *path = pos.items[0];

    report r = {0};
    r.root = cJSON_CreateObject();
    cJSON_AddStringToObject(r.root, "path", path);
    int is_dir = vk_is_dir(path);
    cJSON_AddStringToObject(r.root, "kind", is_dir ? "folder" : "file");
    r.files = cJSON_AddArrayToObject(r.root, "files");
    r.tensors = cJSON_CreateArray();
    int rc = is_dir ? inspect_dir(&r, path) : add_weights(&r, path);
    if (rc != 0) {
        vk_print_error("%s", vk_err_msg());
        cJSON_Delete(r.tensors);
        cJSON_Delete(r.root);
        vk_strlist_free(&pos);
        return 1;
    }
    if (json) {
        cJSON_AddItemToObject(r.root, "tensors", r.tensors);
        cJSON *tot = cJSON_AddObjectToObject(r.root, "totals");
        cJSON_AddNumberToObject(tot, "tensors", r.ntensors);
        cJSON_AddNumberToObject(tot, "parameters", r.params);
        cJSON_AddNumberToObject(tot, "bytes", r.bytes);
        char *s = cJSON_Print(r.root);
        if (s) puts(s);
        free(s);
    } else {
        print_text(&r, !no_tensors);
        cJSON_Delete(r.tensors);
    }
    cJSON_Delete(r.root);
    vk_strlist_free(&pos);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        vk_print_error("inspect: writing the output failed");
        return 1;
    }
    return 0;
}
