/* json_input.c — load and validate JSON / JSON-lines inputs for the evaluators. */
#include "eval/json_input.h"
#include "eval/json_scan.h"
#include "eval/text.h"
#include "eval/text_pool.h"
#include <cjson/cJSON.h>
#include "util/error.h"
#include "util/fileio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 1-based line and column of byte offset off. */
static void line_col(const char *text, size_t off, size_t *line, size_t *col) {
    size_t l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* "\u0000" inside a string would silently cut the string short in cJSON: find it first. */
static int find_escaped_nul(const char *text, size_t len, size_t *at) {
    for (size_t i = 0; i + 6 <= len; i++) {
        if (text[i] != '\\' || memcmp(text + i + 1, "u0000", 5) != 0) continue;
        size_t k = i, bs = 0; /* count the backslashes ending here: odd = a real escape */
        while (k > 0 && text[k - 1] == '\\') {
            k--;
            bs++;
        }
        if (bs % 2 == 0) {
            *at = i;
            return 1;
        }
    }
    return 0;
}

static cJSON *parse_at(const char *path, const char *text, size_t start, size_t len, const char *whole) {
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(text + start, len, &end, 0);
    if (!v) {
        size_t off = start + (end ? (size_t)(end - (text + start)) : 0);
        const char *ep = cJSON_GetErrorPtr();
        if (ep && ep >= text && ep <= text + start + len) off = (size_t)(ep - text);
        size_t line, col;
        line_col(whole, off, &line, &col);
        vk_err_set("%s: not valid JSON (syntax error at line %zu, column %zu)", path, line, col);
    }
    return v;
}

/* The reader before json_scan, kept for everything json_scan refuses: it reports errors as it
 * always did, and reads what cJSON accepts beyond strict JSON (JSON lines among it). */
static cJSON *cjson_read(const char *path) {
    size_t len;
    char *text = vk_read_file(path, &len, 0);
    if (!text) return NULL;
    size_t bad;
    const char *what;
    if (text_utf8_check(text, len, &bad, &what) != 0) {
        size_t line, col;
        line_col(text, bad, &line, &col);
        vk_err_set("%s: %s at line %zu, column %zu (byte %zu)", path, what, line, col, bad);
        free(text);
        return NULL;
    }
    if (find_escaped_nul(text, len, &bad)) {
        size_t line, col;
        line_col(text, bad, &line, &col);
        vk_err_set("%s: NUL character (\\u0000) in a string at line %zu, column %zu", path, line, col);
        free(text);
        return NULL;
    }
    size_t s = 0;
    while (s < len && (text[s] == ' ' || text[s] == '\t' || text[s] == '\n' || text[s] == '\r')) s++;
    if (s == len) {
        vk_err_set("%s: file is empty", path);
        free(text);
        return NULL;
    }
    /* One JSON value for the whole file? */
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (v) {
        size_t e = (size_t)(end - text);
        while (e < len && (text[e] == ' ' || text[e] == '\t' || text[e] == '\n' || text[e] == '\r')) e++;
        if (e == len) {
            free(text);
            return v;
        }
        cJSON_Delete(v);
        if (text[s] != '{') { /* trailing garbage after an array: a syntax error, not JSON lines */
            size_t line, col;
            line_col(text, e, &line, &col);
            vk_err_set("%s: not valid JSON (unexpected text after the value at line %zu, column %zu)", path, line, col);
            free(text);
            return NULL;
        }
    } else if (text[s] != '{') {
        v = parse_at(path, text, 0, len, text);
        free(text);
        return NULL;
    }
    /* JSON lines: one object per non-blank line. */
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        vk_err_set("%s: out of memory", path);
        free(text);
        return NULL;
    }
    size_t pos = 0;
    while (pos < len) {
        size_t eol = pos;
        while (eol < len && text[eol] != '\n') eol++;
        size_t a = pos;
        while (a < eol && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) a++;
        if (a < eol) {
            cJSON *obj = parse_at(path, text, a, eol - a, text);
            if (!obj) {
                cJSON_Delete(arr);
                free(text);
                return NULL;
            }
            cJSON_AddItemToArray(arr, obj);
        }
        pos = eol + 1;
    }
    free(text);
    return arr;
}

int json_doc_read(json_doc *d, const char *path) {
    memset(d, 0, sizeof *d);
    d->path = path;
    /* Fast path: a strict JSON file, mapped and checked in place. */
    if (vk_map_file(path, &d->map) == 0) {
        if (d->map.size && json_scan_validate_indexed((const char *)d->map.data, d->map.size, &d->root, &d->t.ix) == 0) {
            d->t.s = (const char *)d->map.data;
            d->t.len = d->map.size;
            return 0;
        }
        vk_unmap_file(&d->map);
    }
    /* Anything else: cJSON, for its exact errors or its wider grammar; what it accepts is
     * re-serialised as strict JSON. */
    cJSON *v = cjson_read(path);
    if (!v) return -1;
    d->owned = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    if (!d->owned) return vk_err_set("%s: out of memory", path);
    d->t.s = d->owned;
    d->t.len = strlen(d->owned);
    if (json_scan_validate_indexed(d->t.s, d->t.len, &d->root, &d->t.ix) != 0) {
        json_doc_free(d);
        return vk_err_set("%s: not valid JSON (nested too deeply)", path);
    }
    return 0;
}

void json_doc_free(json_doc *d) {
    json_index_free(d->t.ix);
    vk_unmap_file(&d->map);
    free(d->owned);
    memset(d, 0, sizeof *d);
}

int json_input_id_value(const json_doc *d, size_t v, const char *field, size_t rec, long long *out) {
    const char *path = d->path;
    if (v == JSON_NONE) return vk_err_set("%s: record %zu has no \"%s\"", path, rec, field);
    int ty = json_type(d->t, v);
    if (ty == JT_STRING) {
        char *s = malloc(json_str_len(d->t, v) + 1);
        if (!s) return vk_err_set("%s: out of memory", path);
        json_str_decode(d->t, v, s);
        vk_err_set("%s: record %zu: \"%s\" is the string \"%.40s\"; ids must be JSON integers", path, rec, field, s);
        free(s);
        return -1;
    }
    if (ty != JT_NUMBER) return vk_err_set("%s: record %zu: \"%s\" is not a number", path, rec, field);
    double x = json_number(d->t, v);
    if (!(x == floor(x)) || fabs(x) > 9007199254740992.0)
        return vk_err_set("%s: record %zu: \"%s\" = %g is not an integer", path, rec, field, x);
    *out = (long long)x;
    return 0;
}

int json_input_id(const json_doc *d, size_t obj, const char *field, size_t rec, long long *out) {
    return json_input_id_value(d, json_get(d->t, obj, field), field, rec, out);
}

int json_input_text_pooled(const json_doc *d, size_t v, const char *what, size_t rec, text_pool *pool, char **out) {
    const char *path = d->path;
    if (v == JSON_NONE) return vk_err_set("%s: record %zu has no \"%s\"", path, rec, what);
    if (json_type(d->t, v) != JT_STRING) return vk_err_set("%s: record %zu: \"%s\" is not a string", path, rec, what);
    int escaped;
    json_text raw = json_str_raw(d->t, v, &escaped);
    size_t n = escaped ? json_str_len(d->t, v) : raw.len;
    if (n > EVAL_MAX_TEXT_BYTES)
        return vk_err_set("%s: record %zu: \"%s\" is %zu bytes long, more than the %d-byte limit for one text", path, rec,
                          what, n, EVAL_MAX_TEXT_BYTES);
    char *s = pool ? text_pool_alloc_raw(pool, n + 1) : malloc(n + 1); /* written in full below */
    if (!s) return vk_err_set("%s: out of memory", path);
    if (escaped) {
        json_str_decode(d->t, v, s);
    } else {
        memcpy(s, raw.s, n);
        s[n] = 0;
    }
    *out = s;
    return 0;
}

int json_input_text(const json_doc *d, size_t v, const char *what, size_t rec, char **out) {
    return json_input_text_pooled(d, v, what, rec, NULL, out);
}
