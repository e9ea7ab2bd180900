/* safetensors_write.c — the writer, byte-for-byte the layout of the reference Rust crate
 * (safetensors/src/tensor.rs `prepare`): sort by dtype descending then name, offsets assigned
 * in that order, header = serde_json's compact form with `__metadata__` first, padded with
 * spaces to a multiple of 8 so that every tensor's data stays 8-byte aligned. */
#include "model/weights/safetensors.h"

#include "util/error.h"
#include "util/fileio.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_puts(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(strbuf *b, const char *fmt, unsigned long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    sb_put(b, tmp, (size_t)n);
}

/* A JSON string as serde_json writes it: escape '"', '\\' and control characters (short forms
 * where JSON has them, else \u00xx in lower-case hex); every other byte as is. */
static void sb_json_string(strbuf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[7];
        switch (*p) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                sb_put(b, esc, 6);
            } else {
                sb_put(b, (const char *)p, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

static int by_name(const void *a, const void *b) {
    const vk_tensor_view *x = *(const vk_tensor_view *const *)a, *y = *(const vk_tensor_view *const *)b;
    return strcmp(x->name, y->name);
}

/* The reference order: dtype descending (the crate's Dtype order = vk_dtype order), then name
 * bytewise (strcmp compares as unsigned char, as Rust's str ordering does). */
static int by_layout(const void *a, const void *b) {
    const vk_tensor_view *x = *(const vk_tensor_view *const *)a, *y = *(const vk_tensor_view *const *)b;
    if (x->dtype != y->dtype) return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int check_view(const char *path, const vk_tensor_view *t) {
    if (!t->name) return vk_err_set("%s: a tensor has no name", path);
    if (strcmp(t->name, "__metadata__") == 0) return vk_err_set("%s: '__metadata__' cannot name a tensor", path);
    if ((unsigned)t->dtype >= VK_DTYPE_COUNT) return vk_err_set("%s: tensor '%s': invalid dtype %d", path, t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > VK_MAX_DIMS)
        return vk_err_set("%s: tensor '%s': %d dimensions (0 to %d are supported)", path, t->name, t->ndim, VK_MAX_DIMS);
    uint64_t bytes = vk_dtype_size(t->dtype);
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0) return vk_err_set("%s: tensor '%s': dimension %d is negative", path, t->name, i);
        uint64_t d = (uint64_t)t->shape[i];
        if (d && bytes > UINT64_MAX / d) return vk_err_set("%s: tensor '%s': shape overflows", path, t->name);
        bytes *= d;
    }
    if (bytes != t->nbytes)
        return vk_err_set("%s: tensor '%s': shape x %s needs %llu bytes but the view has %zu", path, t->name,
                          vk_dtype_name(t->dtype), (unsigned long long)bytes, t->nbytes);
    if (t->nbytes && !t->data) return vk_err_set("%s: tensor '%s': no data", path, t->name);
    return 0;
}

static int build_header(strbuf *h, const vk_tensor_view *const *order, size_t n, const vk_safetensors_kv *meta,
                        size_t n_meta) {
    static const vk_safetensors_kv pt = {"format", "pt"};
    if (!meta) meta = &pt, n_meta = 1;
    sb_puts(h, "{\"__metadata__\":{");
    for (size_t i = 0; i < n_meta; i++) {
        if (i) sb_puts(h, ",");
        sb_json_string(h, meta[i].key);
        sb_puts(h, ":");
        sb_json_string(h, meta[i].value);
    }
    sb_puts(h, "}");
    unsigned long long at = 0;
    for (size_t i = 0; i < n; i++) {
        const vk_tensor_view *t = order[i];
        sb_puts(h, ",");
        sb_json_string(h, t->name);
        sb_puts(h, ":{\"dtype\":\"");
        sb_puts(h, vk_dtype_name(t->dtype));
        sb_puts(h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) sb_printf(h, d ? ",%llu" : "%llu", (unsigned long long)t->shape[d]);
        sb_printf(h, "],\"data_offsets\":[%llu,", at);
        at += t->nbytes;
        sb_printf(h, "%llu]}", at);
    }
    sb_puts(h, "}");
    while (h->len % 8) sb_puts(h, " ");
    return h->oom ? -1 : 0;
}

int vk_safetensors_write(const char *path, const vk_tensor_view *tensors, size_t n_tensors,
                         const vk_safetensors_kv *metadata, size_t n_metadata) {
    for (size_t i = 0; i < n_tensors; i++)
        if (check_view(path, &tensors[i]) != 0) return -1;
    for (size_t i = 0; metadata && i < n_metadata; i++) {
        if (!metadata[i].key || !metadata[i].value) return vk_err_set("%s: metadata entry %zu is NULL", path, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(metadata[i].key, metadata[j].key) == 0)
                return vk_err_set("%s: metadata key '%s' given twice", path, metadata[i].key);
    }
    const vk_tensor_view **order = malloc((n_tensors ? n_tensors : 1) * sizeof *order);
    if (!order) return vk_err_set("%s: out of memory", path);
    for (size_t i = 0; i < n_tensors; i++) order[i] = &tensors[i];
    qsort(order, n_tensors, sizeof *order, by_name);
    for (size_t i = 1; i < n_tensors; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            vk_err_set("%s: tensor '%s' given twice", path, order[i]->name);
            free(order);
            return -1;
        }
    qsort(order, n_tensors, sizeof *order, by_layout);

    strbuf h = {0};
    if (build_header(&h, order, n_tensors, metadata, n_metadata) != 0) {
        free(h.s);
        free(order);
        return vk_err_set("%s: out of memory building the header", path);
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));

    vk_atomic_file af;
    int rc = -1;
    if (vk_atomic_open(&af, path) != 0) goto out;
    int ok = fwrite(len8, 1, 8, af.fp) == 8 && fwrite(h.s, 1, h.len, af.fp) == h.len;
    for (size_t i = 0; ok && i < n_tensors; i++)
        if (order[i]->nbytes) ok = fwrite(order[i]->data, 1, order[i]->nbytes, af.fp) == order[i]->nbytes;
    if (!ok) {
        int e = errno;
        vk_atomic_abort(&af);
        vk_err_set("%s: write failed: %s%s", path, strerror(e), e == ENOSPC ? " (disk full; nothing was replaced)" : "");
        goto out;
    }
    rc = vk_atomic_commit(&af);
out:
    free(h.s);
    free(order);
    return rc;
}
