/* preprocess.c — BlipImageProcessor: decode, PIL bicubic resize, rescale, normalise, CHW. */
#include "data/preprocess.h"

#include "data/image.h"
#include "data/pil_resize.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PREPROC_FILE "preprocessor_config.json"
#define PREPROC_MAX_SIDE 16384   /* a model input larger than this is a typo, not a model */

image_preproc_config image_preproc_default(void) {
    image_preproc_config c = {
        .height = 384, .width = 384,
        .do_resize = 1, .do_rescale = 1, .do_normalize = 1, .do_convert_rgb = 1,
        .rescale_factor = 1.0 / 255.0,
        .mean = {0.48145466f, 0.4578275f, 0.40821073f},   /* OPENAI_CLIP_MEAN */
        .std = {0.26862954f, 0.26130258f, 0.27577711f},   /* OPENAI_CLIP_STD */
    };
    return c;
}

size_t image_preproc_numel(const image_preproc_config *cfg) {
    return (size_t)3 * (size_t)cfg->height * (size_t)cfg->width;
}

/* ---- preprocessor_config.json ------------------------------------------------------------ */

static int get_bool(const cJSON *root, const char *key, int *dst, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return vk_err_set("%s: \"%s\" must be true or false", name, key);
    *dst = cJSON_IsTrue(v);
    return 0;
}

static int get_side(const cJSON *v, const char *key, int *dst, const char *name) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 ||
        v->valuedouble > PREPROC_MAX_SIDE)
        return vk_err_set("%s: \"%s\" must be an integer from 1 to %d", name, key,
                          PREPROC_MAX_SIDE);
    *dst = (int)v->valuedouble;
    return 0;
}

/* mean/std: a list of 3 numbers, or one number for all channels (transformers accepts both).
 * Stored as float32, as numpy casts them before normalising a float32 image. */
static int get_triple(const cJSON *root, const char *key, float dst[3], int nonzero,
                      const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 0;
    double d[3];
    if (cJSON_IsNumber(v)) {
        d[0] = d[1] = d[2] = v->valuedouble;
    } else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 3) {
        for (int i = 0; i < 3; i++) {
            const cJSON *e = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsNumber(e)) goto bad;
            d[i] = e->valuedouble;
        }
    } else {
        goto bad;
    }
    for (int i = 0; i < 3; i++) {
        if (!isfinite(d[i]) || (nonzero && (float)d[i] == 0.0f)) goto bad;
        dst[i] = (float)d[i];
    }
    return 0;
bad:
    return vk_err_set("%s: \"%s\" must be a list of 3 %snumbers (R, G, B)", name, key,
                      nonzero ? "non-zero " : "");
}

int image_preproc_parse(const char *json, size_t len, const char *name, image_preproc_config *cfg) {
    image_preproc_config c = image_preproc_default();
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return vk_err_set("%s: not valid JSON", name);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        vk_err_set("%s: not a JSON object", name);
        goto done;
    }
    if (get_bool(root, "do_resize", &c.do_resize, name) || get_bool(root, "do_rescale", &c.do_rescale, name) ||
        get_bool(root, "do_normalize", &c.do_normalize, name) ||
        get_bool(root, "do_convert_rgb", &c.do_convert_rgb, name))
        goto done;

    const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
    const cJSON *isz = cJSON_GetObjectItemCaseSensitive(root, "image_size");
    if (size && !cJSON_IsNull(size)) {
        if (cJSON_IsNumber(size)) {   /* older files: "size": 384 means 384 x 384 */
            if (get_side(size, "size", &c.height, name)) goto done;
            c.width = c.height;
        } else if (cJSON_IsObject(size)) {
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(size, "height");
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(size, "width");
            if (!h || !w) {
                vk_err_set("%s: \"size\" must have \"height\" and \"width\" (BLIP resizes to a "
                           "fixed size; shortest_edge/longest_edge are not supported)", name);
                goto done;
            }
            if (get_side(h, "size.height", &c.height, name) || get_side(w, "size.width", &c.width, name))
                goto done;
        } else {
            vk_err_set("%s: \"size\" must be an object {\"height\", \"width\"} or a number", name);
            goto done;
        }
    } else if (isz && !cJSON_IsNull(isz)) {
        if (get_side(isz, "image_size", &c.height, name)) goto done;
        c.width = c.height;
    }

    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "rescale_factor");
    if (rf && !cJSON_IsNull(rf)) {
        if (!cJSON_IsNumber(rf) || !isfinite(rf->valuedouble)) {
            vk_err_set("%s: \"rescale_factor\" must be a number", name);
            goto done;
        }
        c.rescale_factor = rf->valuedouble;   /* strtod: the same double Python reads */
    }
    if (get_triple(root, "image_mean", c.mean, 0, name) || get_triple(root, "image_std", c.std, 1, name))
        goto done;

    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "resample");
    if (c.do_resize && rs && !cJSON_IsNull(rs) && !(cJSON_IsNumber(rs) && rs->valuedouble == 3)) {
        vk_err_set("%s: \"resample\" must be 3 (PIL BICUBIC, what BLIP uses); other filters are "
                   "not implemented", name);
        goto done;
    }
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(root, "do_center_crop");
    if (cJSON_IsTrue(cc)) {
        vk_err_set("%s: \"do_center_crop\": true is not supported (BlipImageProcessor does not crop)", name);
        goto done;
    }
    *cfg = c;
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

int image_preproc_load(const char *path, image_preproc_config *cfg) {
    char *file = vk_is_dir(path) ? vk_path_join(path, PREPROC_FILE) : strdup(path);
    if (!file) return vk_err_set("%s: out of memory", path);
    size_t len;
    char *text = vk_read_file(file, &len, 1 << 20);   /* the real ones are ~0.5 KB */
    int rc = text ? image_preproc_parse(text, len, file, cfg) : -1;
    free(text);
    free(file);
    return rc;
}

/* ---- pixels ------------------------------------------------------------------------------- */

void image_preprocess_normalize(const image_preproc_config *cfg, const uint8_t *rgb, float *out) {
    /* Every output value depends only on (channel, byte): a 3 x 256 table computed with the
     * exact transformers arithmetic, then one lookup per pixel. */
    float lut[3][256];
    for (int c = 0; c < 3; c++) {
        for (int v = 0; v < 256; v++) {
            float x = cfg->do_rescale ? (float)((double)v * cfg->rescale_factor) : (float)v;
            if (cfg->do_normalize) x = (x - cfg->mean[c]) / cfg->std[c];
            lut[c][v] = x;
        }
    }
    size_t hw = (size_t)cfg->height * cfg->width;
    float *r = out, *g = out + hw, *b = out + 2 * hw;
    for (size_t i = 0; i < hw; i++) {
        r[i] = lut[0][rgb[3 * i + 0]];
        g[i] = lut[1][rgb[3 * i + 1]];
        b[i] = lut[2][rgb[3 * i + 2]];
    }
}

int image_preprocess_rgb(const image_preproc_config *cfg, const uint8_t *rgb, int w, int h,
                         float *out) {
    if (w == cfg->width && h == cfg->height) {   /* PIL returns a copy: no resampling at all */
        image_preprocess_normalize(cfg, rgb, out);
        return 0;
    }
    if (!cfg->do_resize)
        return vk_err_set("image is %dx%d but the model takes %dx%d and do_resize is false", w, h,
                          cfg->width, cfg->height);
    uint8_t *tmp = malloc((size_t)cfg->width * cfg->height * 3);
    if (!tmp) return vk_err_set("out of memory resizing to %dx%d", cfg->width, cfg->height);
    int rc = pil_resize_bicubic(rgb, w, h, 3, tmp, cfg->width, cfg->height);
    if (rc == 0) image_preprocess_normalize(cfg, tmp, out);
    free(tmp);
    return rc;
}

int image_preprocess_memory(const image_preproc_config *cfg, const void *data, size_t len,
                            const char *name, float *out) {
    image_rgb img;
    if (image_decode_memory(data, len, name, &img) != 0) return -1;
    int rc = image_preprocess_rgb(cfg, img.rgb, img.width, img.height, out);
    image_rgb_free(&img);
    if (rc != 0) vk_err_prefix("%s", name);
    return rc;
}

int image_preprocess_file(const image_preproc_config *cfg, const char *path, float *out) {
    image_rgb img;
    if (image_decode_file(path, &img) != 0) return -1;
    int rc = image_preprocess_rgb(cfg, img.rgb, img.width, img.height, out);
    image_rgb_free(&img);
    if (rc != 0) vk_err_prefix("%s", path);
    return rc;
}
