#include "model/blip_config.h"

#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

blip_config blip_config_default(void) {
    blip_config c;
    memset(&c, 0, sizeof c);
    c.vision = (blip_vision_config){768, 3072, 12, 12, 384, 16, 1e-5};
    c.text = (blip_text_config){30524, 768, 768, 3072, 12, 8, 512, 1e-12, 0.0, 30522, 2, 0, 102};
    c.projection_dim = 512;
    c.image_text_hidden_size = 256;
    c.arch = BLIP_ARCH_UNKNOWN;
    return c;
}

const char *blip_arch_name(blip_arch a) {
    switch (a) {
    case BLIP_ARCH_CAPTION: return "BlipForConditionalGeneration";
    case BLIP_ARCH_VQA: return "BlipForQuestionAnswering";
    case BLIP_ARCH_RETRIEVAL: return "BlipForImageTextRetrieval";
    default: return "unknown";
    }
}

/* An optional integer key: absent or null keeps the default. */
static int get_int(const cJSON *obj, const char *section, const char *key, int lo, int *out, const char *origin) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > 1e9)
        return vk_err_set("%s: %s%s%s must be an integer >= %d", origin, section, *section ? "." : "", key, lo);
    *out = (int)v->valuedouble;
    return 0;
}

static int get_double(const cJSON *obj, const char *section, const char *key, double lo, double hi, double *out,
                      const char *origin) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return vk_err_set("%s: %s%s%s must be a number in [%g, %g]", origin, section, *section ? "." : "", key, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static int check_act(const cJSON *obj, const char *section, const char *origin) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "hidden_act");
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v) || strcmp(v->valuestring, "gelu") != 0)
        return vk_err_set("%s: %s.hidden_act %s is not supported (BLIP uses \"gelu\", the exact erf form)", origin, section,
                          cJSON_IsString(v) ? v->valuestring : "(not a string)");
    return 0;
}

int blip_config_parse(const char *json, const char *origin, blip_config *out) {
    blip_config c = blip_config_default();
    cJSON *root = cJSON_Parse(json);
    if (!root) return vk_err_set("%s: not valid JSON (near byte %ld)", origin, (long)(cJSON_GetErrorPtr() - json));
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        vk_err_set("%s: top level must be a JSON object", origin);
        goto done;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "blip") != 0)) {
        vk_err_set("%s: model_type is %s, expected \"blip\"", origin, cJSON_IsString(mt) ? mt->valuestring : "not a string");
        goto done;
    }
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *a;
    cJSON_ArrayForEach(a, archs) {
        if (!cJSON_IsString(a)) continue;
        if (strcmp(a->valuestring, "BlipForConditionalGeneration") == 0) c.arch = BLIP_ARCH_CAPTION;
        else if (strcmp(a->valuestring, "BlipForQuestionAnswering") == 0) c.arch = BLIP_ARCH_VQA;
        else if (strcmp(a->valuestring, "BlipForImageTextRetrieval") == 0) c.arch = BLIP_ARCH_RETRIEVAL;
    }
    if (get_int(root, "", "projection_dim", 1, &c.projection_dim, origin) ||
        get_int(root, "", "image_text_hidden_size", 1, &c.image_text_hidden_size, origin) ||
        get_double(root, "", "label_smoothing", 0, 1, &c.text.label_smoothing, origin))
        goto done;

    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v)) {
            vk_err_set("%s: vision_config must be an object", origin);
            goto done;
        }
        blip_vision_config *vc = &c.vision;
        if (get_int(v, "vision_config", "hidden_size", 1, &vc->hidden_size, origin) ||
            get_int(v, "vision_config", "intermediate_size", 1, &vc->intermediate_size, origin) ||
            get_int(v, "vision_config", "num_hidden_layers", 0, &vc->num_hidden_layers, origin) ||
            get_int(v, "vision_config", "num_attention_heads", 1, &vc->num_attention_heads, origin) ||
            get_int(v, "vision_config", "image_size", 1, &vc->image_size, origin) ||
            get_int(v, "vision_config", "patch_size", 1, &vc->patch_size, origin) ||
            get_double(v, "vision_config", "layer_norm_eps", 0, 1, &vc->layer_norm_eps, origin) ||
            check_act(v, "vision_config", origin))
            goto done;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (t && !cJSON_IsNull(t)) {
        if (!cJSON_IsObject(t)) {
            vk_err_set("%s: text_config must be an object", origin);
            goto done;
        }
        blip_text_config *tc = &c.text;
        if (get_int(t, "text_config", "vocab_size", 1, &tc->vocab_size, origin) ||
            get_int(t, "text_config", "hidden_size", 1, &tc->hidden_size, origin) ||
            get_int(t, "text_config", "intermediate_size", 1, &tc->intermediate_size, origin) ||
            get_int(t, "text_config", "num_hidden_layers", 0, &tc->num_hidden_layers, origin) ||
            get_int(t, "text_config", "num_attention_heads", 1, &tc->num_attention_heads, origin) ||
            get_int(t, "text_config", "max_position_embeddings", 1, &tc->max_position_embeddings, origin) ||
            get_double(t, "text_config", "layer_norm_eps", 0, 1, &tc->layer_norm_eps, origin) ||
            get_double(t, "text_config", "label_smoothing", 0, 1, &tc->label_smoothing, origin) ||
            get_int(t, "text_config", "bos_token_id", 0, &tc->bos_token_id, origin) ||
            get_int(t, "text_config", "eos_token_id", 0, &tc->eos_token_id, origin) ||
            get_int(t, "text_config", "pad_token_id", 0, &tc->pad_token_id, origin) ||
            get_int(t, "text_config", "sep_token_id", 0, &tc->sep_token_id, origin) ||
            check_act(t, "text_config", origin))
            goto done;
    }
    /* BlipConfig always overwrites this (text cross-attends to the vision tower's output). */
    c.text.encoder_hidden_size = c.vision.hidden_size;
    if (c.vision.hidden_size % c.vision.num_attention_heads || c.text.hidden_size % c.text.num_attention_heads) {
        vk_err_set("%s: hidden_size must be a multiple of num_attention_heads (vision %d/%d, text %d/%d)", origin,
                   c.vision.hidden_size, c.vision.num_attention_heads, c.text.hidden_size, c.text.num_attention_heads);
        goto done;
    }
    if (c.vision.image_size % c.vision.patch_size) {
        vk_err_set("%s: vision_config.image_size %d is not a multiple of patch_size %d", origin, c.vision.image_size,
                   c.vision.patch_size);
        goto done;
    }
    int ids[4] = {c.text.bos_token_id, c.text.eos_token_id, c.text.pad_token_id, c.text.sep_token_id};
    for (int i = 0; i < 4; i++)
        if (ids[i] >= c.text.vocab_size) {
            vk_err_set("%s: special token id %d is outside the vocabulary (vocab_size %d)", origin, ids[i], c.text.vocab_size);
            goto done;
        }
    *out = c;
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

int blip_config_load(const char *path, blip_config *out) {
    size_t n;
    char *text = vk_read_file(path, &n, 16u << 20);
    if (!text) return -1;
    int rc = blip_config_parse(text, path, out);
    free(text);
    return rc;
}
