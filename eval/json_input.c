/* json_input.c — load and validate JSON / JSON-lines inputs for the evaluators. */
#include "eval/json_input.h"
#include "eval/text.h"
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

cJSON *json_input_read(const char *path) {
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

int json_input_id(const char *path, const cJSON *obj, const char *field, size_t rec, long long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!v) return vk_err_set("%s: record %zu has no \"%s\"", path, rec, field);
    if (cJSON_IsString(v))
        return vk_err_set("%s: record %zu: \"%s\" is the string \"%.40s\"; ids must be JSON integers", path, rec, field,
                          v->valuestring);
    if (!cJSON_IsNumber(v)) return vk_err_set("%s: record %zu: \"%s\" is not a number", path, rec, field);
    double d = v->valuedouble;
    if (!(d == floor(d)) || fabs(d) > 9007199254740992.0)
        return vk_err_set("%s: record %zu: \"%s\" = %g is not an integer", path, rec, field, d);
    *out = (long long)d;
    return 0;
}

int json_input_text(const char *path, const cJSON *v, const char *what, size_t rec, const char **out) {
    if (!v) return vk_err_set("%s: record %zu has no \"%s\"", path, rec, what);
    if (!cJSON_IsString(v) || !v->valuestring)
        return vk_err_set("%s: record %zu: \"%s\" is not a string", path, rec, what);
    size_t n = strlen(v->valuestring);
    if (n > EVAL_MAX_TEXT_BYTES)
        return vk_err_set("%s: record %zu: \"%s\" is %zu bytes long, more than the %d-byte limit for one text", path, rec,
                          what, n, EVAL_MAX_TEXT_BYTES);
    *out = v->valuestring;
    return 0;
}
