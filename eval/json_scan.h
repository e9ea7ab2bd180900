/* json_scan.h — a validating JSON reader that builds no tree (internal to eval/).
 *
 * The evaluators' inputs are large (a VQA v2 annotation file is 16 MB per 20,000 questions) and
 * a cJSON tree of them costs a malloc per value: most of `vlkit score`'s time went there. This
 * reader checks the text once (json_scan_validate) and then navigates it in place: a value is
 * the byte offset of its first character, nothing is allocated until a string is copied out.
 *
 * It accepts strict RFC 8259 JSON only, and less than cJSON on purpose: no nesting deeper than
 * JSON_SCAN_MAX_DEPTH, no number longer than 63 characters, no raw control characters in
 * strings, no \u0000, only the four JSON whitespace bytes. json_input.c sends anything it refuses
 * to the cJSON path, which either reports the error exactly as before or accepts the text (then
 * re-serialised, which this reader accepts), so every file reads as it did with cJSON alone.
 * tests/fuzz/fuzz_json_scan.c checks that agreement. */
#ifndef VLKIT_EVAL_JSON_SCAN_H
#define VLKIT_EVAL_JSON_SCAN_H

#include <stddef.h>

#define JSON_SCAN_MAX_DEPTH 1000 /* cJSON's CJSON_NESTING_LIMIT */
#define JSON_NONE ((size_t)-1)

enum { JT_NONE, JT_OBJECT, JT_ARRAY, JT_STRING, JT_NUMBER, JT_TRUE, JT_FALSE, JT_NULL };

/* Where every object and array of a validated text ends (json_scan_validate_indexed): with it,
 * skipping a container is a look-up instead of a re-read of its contents, which made navigation
 * read a VQA annotation file five times over. Not shared between threads (it keeps a cursor). */
typedef struct json_index json_index;

typedef struct {
    const char *s;
    size_t len;
    json_index *ix; /* NULL: containers are skipped by scanning */
} json_text;

/* 0 when s[0..len) is one JSON value (with JSON whitespace around it) this reader accepts;
 * *root = its offset. -1 otherwise (no message: the caller falls back to cJSON). */
int json_scan_validate(const char *s, size_t len, size_t *root);
/* The same, and *ix = the text's container index (NULL when it could not be built: out of
 * memory or a text of 4 GiB or more; navigation then scans). Free with json_index_free. */
int json_scan_validate_indexed(const char *s, size_t len, size_t *root, json_index **ix);
void json_index_free(json_index *ix);
/* Another cursor over the same index, for navigating the text from a second thread (NULL when
 * ix is NULL or out of memory: that thread then scans). Free it before the index it shares. */
json_index *json_index_share(const json_index *ix);

/* Navigation on validated text. v is a value offset; JSON_NONE is "no value" everywhere. */
int json_type(json_text t, size_t v);
size_t json_end(json_text t, size_t v);             /* offset just past value v */
size_t json_first(json_text t, size_t container);   /* first element / first member's value */
size_t json_next(json_text t, size_t v);            /* the sibling after v (element or member value) */
size_t json_count(json_text t, size_t container);
/* Members with their keys: key offsets (of the key string), in file order. */
size_t json_member_first(json_text t, size_t obj);
size_t json_member_next(json_text t, size_t key);
size_t json_member_value(json_text t, size_t key);
/* First member called key (cJSON_GetObjectItemCaseSensitive's rule), JSON_NONE if none. */
size_t json_get(json_text t, size_t obj, const char *key);
/* n lookups in one pass over obj: out[i] = first member called keys[i], or JSON_NONE. */
void json_get_many(json_text t, size_t obj, const char *const *keys, size_t *out, int n);

/* String value v: its raw bytes between the quotes, and whether they contain escapes. */
json_text json_str_raw(json_text t, size_t v, int *escaped);
/* Decoded length of string v (what strlen of cJSON's valuestring would be). */
size_t json_str_len(json_text t, size_t v);
/* Decode string v into out (json_str_len + 1 bytes, NUL-terminated); returns the length. */
size_t json_str_decode(json_text t, size_t v, char *out);
/* Number value v, as cJSON computes it (strtod of its text). */
double json_number(json_text t, size_t v);

#endif
