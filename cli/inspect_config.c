/* inspect_config.c — what `vlkit inspect` shows of a model's or adapter's configuration. */
#include "cli/inspect_config.h"

#include "util/error.h"
#include "util/fileio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static cJSON *read_object(const char *path) {
    size_t len;
    char *text = vk_read_file(path, &len, 64u << 20);
    if (!text) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        vk_err_set("%s: not a JSON object", path);
        return NULL;
    }
    return j;
}

typedef struct {
    const char *key;
    double blip_default; /* transformers v4.43 BlipVisionConfig / BlipTextConfig */
} field;

static const field vision_fields[] = {
    {"hidden_size", 768}, {"num_hidden_layers", 12}, {"num_attention_heads", 12}, {"intermediate_size", 3072},
    {"image_size", 384},  {"patch_size", 16},         {NULL, 0}};
static const field text_fields[] = {
    {"hidden_size", 768},       {"num_hidden_layers", 12}, {"num_attention_heads", 8}, {"intermediate_size", 3072},
    {"vocab_size", 30524},      {"max_position_embeddings", 512}, {NULL, 0}};

/* Copy the listed fields of `src` (may be NULL) into a new object; with `defaults`, fill the
 * missing ones from the table and record their names as "<tower>.<key>". */
static cJSON *tower(const cJSON *src, const field *fields, const char *tower_name, cJSON *defaults) {
    cJSON *out = cJSON_CreateObject();
    for (const field *f = fields; f->key; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, f->key);
        if (cJSON_IsNumber(v)) {
            cJSON_AddNumberToObject(out, f->key, v->valuedouble);
        } else if (defaults) {
            cJSON_AddNumberToObject(out, f->key, f->blip_default);
            char name[96];
            snprintf(name, sizeof name, "%s.%s", tower_name, f->key);
            cJSON_AddItemToArray(defaults, cJSON_CreateString(name));
        }
    }
    return out;
}

cJSON *inspect_model_config(const char *path) {
    cJSON *cfg = read_object(path);
    if (!cfg) return NULL;
    cJSON *out = cJSON_CreateObject();
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    if (cJSON_IsString(mt)) cJSON_AddStringToObject(out, "model_type", mt->valuestring);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    if (cJSON_IsArray(arch)) cJSON_AddItemToObject(out, "architectures", cJSON_Duplicate(arch, 1));
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(cfg, "vision_config");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");
    int blip = cJSON_IsString(mt) && strcmp(mt->valuestring, "blip") == 0;
    if (blip || vc || tc) {
        /* config.json of transformers 4.43 holds only non-default values (to_diff_dict): the
         * real sizes of a BLIP model need the class defaults for the keys left out. */
        cJSON *defaults = blip ? cJSON_CreateArray() : NULL;
        cJSON_AddItemToObject(out, "vision", tower(vc, vision_fields, "vision", defaults));
        cJSON_AddItemToObject(out, "text", tower(tc, text_fields, "text", defaults));
        if (defaults) cJSON_AddItemToObject(out, "defaults", defaults);
    } else {
        /* Some other single-tower model: report what it states. */
        cJSON_AddItemToObject(out, "model", tower(cfg, text_fields, "model", NULL));
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(cfg, "torch_dtype");
    if (cJSON_IsString(dt)) cJSON_AddStringToObject(out, "torch_dtype", dt->valuestring);
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(cfg, "transformers_version");
    if (cJSON_IsString(tv)) cJSON_AddStringToObject(out, "transformers_version", tv->valuestring);
    cJSON_Delete(cfg);
    return out;
}

cJSON *inspect_adapter_config(const char *path) {
    cJSON *cfg = read_object(path);
    if (!cfg) return NULL;
    cJSON *out = cJSON_CreateObject();
    static const char *const keys[] = {"peft_type", "r", "lora_alpha", "lora_dropout", "target_modules", "bias",
                                       "base_model_name_or_path", "task_type", "use_rslora", "use_dora", "modules_to_save", NULL};
    for (int i = 0; keys[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, keys[i]);
        if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(out, keys[i], cJSON_Duplicate(v, 1));
    }
    /* PEFT's scale of the low-rank update: alpha / r, or alpha / sqrt(r) with rsLoRA. */
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(cfg, "r"), *a = cJSON_GetObjectItemCaseSensitive(cfg, "lora_alpha");
    if (cJSON_IsNumber(r) && cJSON_IsNumber(a) && r->valuedouble > 0) {
        int rs = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "use_rslora"));
        cJSON_AddNumberToObject(out, "scaling", a->valuedouble / (rs ? sqrt(r->valuedouble) : r->valuedouble));
    }
    cJSON_Delete(cfg);
    return out;
}
