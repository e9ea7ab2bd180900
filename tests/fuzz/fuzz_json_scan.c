/* fuzz_json_scan.c — differential: whatever eval/json_scan.c accepts, the old cJSON reader must
 * accept too (valid UTF-8, no NUL, cJSON parses the whole text), with the same values: types,
 * numbers, decoded strings, member keys and order. Then json_scan's refusals are safe to send
 * to cJSON, and its acceptances read exactly as before. */
#include "eval/json_scan.h"
#include "eval/text.h"
#include "tests/fuzz/fuzz_util.h"

#include <cjson/cJSON.h>

static void same(json_text t, size_t v, const cJSON *c, int depth) {
    int ty = json_type(t, v);
    if (depth > JSON_SCAN_MAX_DEPTH + 2) abort();
    switch (ty) {
    case JT_NULL: if (!cJSON_IsNull(c)) abort(); return;
    case JT_TRUE: if (!cJSON_IsTrue(c)) abort(); return;
    case JT_FALSE: if (!cJSON_IsFalse(c)) abort(); return;
    case JT_NUMBER: {
        double a = json_number(t, v);
        if (!cJSON_IsNumber(c) || memcmp(&a, &c->valuedouble, sizeof a) != 0) abort();
        return;
    }
    case JT_STRING: {
        size_t n = json_str_len(t, v);
        char *s = malloc(n + 1);
        json_str_decode(t, v, s);
        if (!cJSON_IsString(c) || strlen(c->valuestring) != n || memcmp(s, c->valuestring, n) != 0) abort();
        free(s);
        return;
    }
    case JT_ARRAY: {
        if (!cJSON_IsArray(c)) abort();
        const cJSON *e = c->child;
        for (size_t x = json_first(t, v); x != JSON_NONE; x = json_next(t, x), e = e->next) {
            if (!e) abort();
            same(t, x, e, depth + 1);
        }
        if (e) abort();
        return;
    }
    case JT_OBJECT: {
        if (!cJSON_IsObject(c)) abort();
        const cJSON *e = c->child;
        for (size_t k = json_member_first(t, v); k != JSON_NONE; k = json_member_next(t, k), e = e->next) {
            if (!e) abort();
            size_t n = json_str_len(t, k);
            char *key = malloc(n + 1);
            json_str_decode(t, k, key);
            if (strcmp(key, e->string) != 0) abort();
            /* lookups find the first member of a name, as cJSON_GetObjectItemCaseSensitive */
            if (json_get(t, v, key) == JSON_NONE) abort();
            same(t, json_get(t, v, key), cJSON_GetObjectItemCaseSensitive(c, key), depth + 1);
            free(key);
            same(t, json_member_value(t, k), e, depth + 1);
        }
        if (e) abort();
        if (json_count(t, v) != (size_t)cJSON_GetArraySize(c)) abort();
        return;
    }
    default: abort();
    }
}

/* Every value ends at the same offset with and without the index (ti). */
static void same_ends(json_text t, json_text ti, size_t v) {
    if (json_end(ti, v) != json_end(t, v)) abort();
    int ty = json_type(t, v);
    if (ty == JT_ARRAY || ty == JT_OBJECT)
        for (size_t x = json_first(t, v); x != JSON_NONE; x = json_next(t, x)) same_ends(t, ti, x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t root;
    if (json_scan_validate((const char *)data, size, &root) != 0) return 0;
    size_t bad;
    const char *what;
    if (text_utf8_check((const char *)data, size, &bad, &what) != 0) abort();
    const char *end = NULL;
    cJSON *c = cJSON_ParseWithLengthOpts((const char *)data, size, &end, 0);
    if (!c) abort();
    size_t e = (size_t)(end - (const char *)data);
    while (e < size && (data[e] == ' ' || data[e] == '\t' || data[e] == '\n' || data[e] == '\r')) e++;
    if (e != size) abort();
    json_text t = {(const char *)data, size, NULL};
    if (json_end(t, root) > size) abort();
    same(t, root, c, 0);
    /* the container index (json_scan_validate_indexed) must give the same navigation */
    size_t root2;
    json_text ti = {(const char *)data, size, NULL};
    if (json_scan_validate_indexed((const char *)data, size, &root2, &ti.ix) != 0 || root2 != root) abort();
    same_ends(t, ti, root);
    same(ti, root, c, 0);
    json_index_free(ti.ix);
    cJSON_Delete(c);
    return 0;
}
