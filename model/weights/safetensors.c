/* safetensors.c — the checked reader. Every value in the header is distrusted until checked;
 * nothing is published until the whole header has been checked. */
#include "model/weights/safetensors.h"

#include "model/weights/weights_impl.h"
#include "util/error.h"
#include "util/ds.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name; /* points into the parsed JSON */
    vk_dtype dtype;
    int ndim;
    int64_t shape[VK_MAX_DIMS];
    uint64_t begin, end;
    size_t order; /* position in the header, to keep the sort stable */
} entry;

/* JSON numbers arrive as doubles: accept only exact non-negative integers up to 2^53, above
 * which a double no longer represents every integer. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

/* RFC 3629 UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. The reference reader
 * rejects a header that is not UTF-8 before parsing it. Returns the offset of the first bad
 * byte, or len when all is well. */
static size_t utf8_check(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        else if (c >= 0xC2 && c <= 0xDF) n = 1;
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else return i;
        if (len - i <= n) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += n + 1;
    }
    return len;
}

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsArray(v)) return "a list";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "not a JSON value";
}

static int parse_metadata(vk_weights *w, const char *path, const cJSON *meta) {
    if (!cJSON_IsObject(meta))
        return vk_err_set("%s: __metadata__ must be a map of strings to strings, not %s", path, json_type_name(meta));
    for (const cJSON *kv = meta->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
            return vk_err_set("%s: __metadata__ must be a map of strings to strings: '%s' is %s", path, kv->string,
                              json_type_name(kv));
        if (vk_weights_metadata_get(w, kv->string))
            return vk_err_set("%s: __metadata__ key '%s' appears more than once", path, kv->string);
        if (vk_weights_add_metadata_(w, kv->string, kv->valuestring) != 0) return -1;
    }
    return 0;
}

static int parse_entry(const char *path, const cJSON *item, uint64_t data_size, entry *e) {
    const char *name = item->string;
    e->name = name;
    if (!cJSON_IsObject(item)) return vk_err_set("%s: tensor '%s': entry is %s, not an object", path, name, json_type_name(item));
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!dtype || !shape || !offs)
        return vk_err_set("%s: tensor '%s': missing \"%s\"", path, name, !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!cJSON_IsString(dtype)) return vk_err_set("%s: tensor '%s': dtype is %s, not a string", path, name, json_type_name(dtype));
    if (vk_dtype_parse(dtype->valuestring, &e->dtype) != 0) return vk_err_prefix("%s: tensor '%s'", path, name);

    if (!cJSON_IsArray(shape)) return vk_err_set("%s: tensor '%s': shape is %s, not a list", path, name, json_type_name(shape));
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > VK_MAX_DIMS)
        return vk_err_set("%s: tensor '%s': %d dimensions (at most %d are supported)", path, name, ndim, VK_MAX_DIMS);
    e->ndim = ndim;
    /* numel * element size must not overflow; the product is bounded by the data size anyway,
     * so stop as soon as it passes that (and remember that it did). */
    uint64_t bytes = vk_dtype_size(e->dtype);
    int too_big = 0;
    int d = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
        uint64_t v;
        if (json_uint(dim, &v) != 0) {
            if (cJSON_IsNumber(dim))
                return vk_err_set("%s: tensor '%s': dimension %d is %g, not a non-negative integer", path, name, d,
                                  dim->valuedouble);
            return vk_err_set("%s: tensor '%s': dimension %d is %s, not a non-negative integer", path, name, d,
                              json_type_name(dim));
        }
        e->shape[d] = (int64_t)v;
        if (v && bytes > UINT64_MAX / v) too_big = 1;
        else bytes *= v;
    }
    for (int k = 0; k < d; k++)
        if (e->shape[k] == 0) too_big = 0, bytes = 0;

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || json_uint(offs->child, &e->begin) != 0 ||
        json_uint(offs->child->next, &e->end) != 0)
        return vk_err_set("%s: tensor '%s': data_offsets must be a list of two non-negative integers [begin, end]",
                          path, name);
    if (e->end < e->begin)
        return vk_err_set("%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path, name,
                          (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > data_size)
        return vk_err_set("%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the data region (%llu bytes)",
                          path, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                          (unsigned long long)data_size);
    if (too_big || bytes != e->end - e->begin) {
        char dims[VK_MAX_DIMS * 24 + 4];
        size_t k = 0;
        dims[k++] = '[';
        for (int i = 0; i < ndim; i++)
            k += (size_t)snprintf(dims + k, sizeof dims - k, "%s%lld", i ? ", " : "", (long long)e->shape[i]);
        snprintf(dims + k, sizeof dims - k, "]");
        if (too_big)
            return vk_err_set("%s: tensor '%s': shape %s of %s is larger than the file", path, name, dims,
                              vk_dtype_name(e->dtype));
        return vk_err_set("%s: tensor '%s': shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] hold %llu",
                          path, name, dims, vk_dtype_name(e->dtype), (unsigned long long)bytes,
                          (unsigned long long)e->begin, (unsigned long long)e->end,
                          (unsigned long long)(e->end - e->begin));
    }
    return 0;
}

static int by_span(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The spans, sorted, must follow each other without gap or overlap from 0 to the end of the
 * data region: the reference reader demands it, and it means every byte belongs to exactly one
 * tensor (no hidden payload, no aliasing). */
static int check_tiling(const char *path, const entry *es, size_t n, uint64_t data_size) {
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const entry *e = &es[i];
        if (e->begin < at)
            return vk_err_set("%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]", path,
                              e->name, (unsigned long long)e->begin, (unsigned long long)e->end, es[i - 1].name,
                              (unsigned long long)es[i - 1].begin, (unsigned long long)es[i - 1].end);
        if (e->begin > at) {
            if (i == 0)
                return vk_err_set("%s: tensor '%s': data_offsets [%llu, %llu] leave a hole: bytes [0, %llu) of the data "
                                  "belong to no tensor",
                                  path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                                  (unsigned long long)e->begin);
            return vk_err_set("%s: tensor '%s': data_offsets [%llu, %llu] leave a hole: bytes [%llu, %llu) after tensor "
                              "'%s' belong to no tensor",
                              path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                              (unsigned long long)at, (unsigned long long)e->begin, es[i - 1].name);
        }
        at = e->end;
    }
    if (at != data_size)
        return vk_err_set("%s: the data region has %llu bytes but the tensors cover only %llu (%llu trailing bytes "
                          "belong to no tensor)",
                          path, (unsigned long long)data_size, (unsigned long long)at,
                          (unsigned long long)(data_size - at));
    return 0;
}

static int parse_header(vk_weights *w, const char *path, const unsigned char *file, uint64_t hlen,
                        uint64_t data_size, const unsigned char *data) {
    const unsigned char *hdr = file + 8;
    if (memchr(hdr, 0, hlen)) return vk_err_set("%s: header contains a NUL byte (not a safetensors file?)", path);
    size_t bad = utf8_check(hdr, hlen);
    if (bad != hlen) return vk_err_set("%s: header is not valid UTF-8 (byte %zu of the header)", path, bad);
    /* A NUL-terminated private copy: cJSON then never reads past the header. */
    char *text = malloc(hlen + 1);
    if (!text) return vk_err_set("%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
    memcpy(text, hdr, hlen);
    text[hlen] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, hlen, &end, 0);
    int rc = -1;
    entry *es = NULL;
    if (!root) {
        size_t at = end ? (size_t)(end - text) : 0;
        vk_err_set("%s: header is not valid JSON (error near byte %zu of the header)", path, at);
        goto out;
    }
    /* Only whitespace (the writer's padding) may follow the JSON value. */
    for (const char *p = end; p < text + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            vk_err_set("%s: header has bytes after its JSON value (at byte %zu of the header)", path, (size_t)(p - text));
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        vk_err_set("%s: header is %s, not a JSON object", path, json_type_name(root));
        goto out;
    }
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(root);
    es = calloc(cap ? cap : 1, sizeof *es);
    if (!es) {
        vk_err_set("%s: out of memory", path);
        goto out;
    }
    int seen_meta = 0;
    for (const cJSON *item = root->child; item; item = item->next) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (seen_meta++) {
                vk_err_set("%s: __metadata__ appears more than once", path);
                goto out;
            }
            if (parse_metadata(w, path, item) != 0) goto out;
            continue;
        }
        if (parse_entry(path, item, data_size, &es[n]) != 0) goto out;
        es[n].order = n;
        n++;
    }
    /* Duplicate names would otherwise surface as an overlap (or be silently shadowed); name
     * them as what they are. A hash set keeps this linear for headers with many entries. */
    struct { char *key; int value; } *seen = NULL;
    for (size_t i = 0; i < n; i++) {
        if (shgeti(seen, (char *)es[i].name) >= 0) {
            vk_err_set("%s: tensor '%s' appears more than once in the header", path, es[i].name);
            shfree(seen);
            goto out;
        }
        shput(seen, (char *)es[i].name, 1);
    }
    shfree(seen);
    qsort(es, n, sizeof *es, by_span);
    if (check_tiling(path, es, n, data_size) != 0) goto out;
    for (size_t i = 0; i < n; i++) {
        vk_tensor_view v = {.name = es[i].name, .dtype = es[i].dtype, .ndim = es[i].ndim,
                            .data = es[i].end > es[i].begin ? data + es[i].begin : NULL,
                            .nbytes = (size_t)(es[i].end - es[i].begin)};
        memcpy(v.shape, es[i].shape, sizeof v.shape);
        if (vk_weights_add_(w, &v) != 0) goto out;
    }
    rc = 0;
out:
    free(es);
    cJSON_Delete(root);
    free(text);
    return rc;
}

vk_weights *vk_safetensors_from_map_(const char *path, vk_mapped_file map) {
    vk_weights *w = vk_weights_new_(path, VK_WEIGHTS_SAFETENSORS);
    if (!w) {
        vk_unmap_file(&map);
        return NULL;
    }
    vk_weights_own_map_(w, map);
    const unsigned char *p = map.data;
    if (map.size < 8) {
        vk_err_set("%s: file is %zu bytes: too short for a safetensors header (8-byte length + JSON)", path, map.size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen > VK_SAFETENSORS_MAX_HEADER) {
        vk_err_set("%s: header length %llu is more than the 100 MB limit (corrupt, or not a safetensors file)", path,
                   (unsigned long long)hlen);
        goto fail;
    }
    if (hlen > map.size - 8) {
        vk_err_set("%s: header length %llu runs past the end of the file (%zu bytes; truncated?)", path,
                   (unsigned long long)hlen, map.size);
        goto fail;
    }
    if (hlen < 2) {
        vk_err_set("%s: header length %llu is too short for a JSON object", path, (unsigned long long)hlen);
        goto fail;
    }
    if (parse_header(w, path, p, hlen, map.size - 8 - hlen, p + 8 + hlen) != 0) goto fail;
    return w;
fail:
    vk_weights_close(w);
    return NULL;
}

vk_weights *vk_safetensors_open(const char *path) {
    vk_mapped_file map;
    if (vk_map_file(path, &map) != 0) return NULL;
    return vk_safetensors_from_map_(path, map);
}
