/* json_input.h — reading the evaluators' JSON inputs with errors that name the file, the
 * record and the problem (internal to eval/). */
#ifndef VLKIT_EVAL_JSON_INPUT_H
#define VLKIT_EVAL_JSON_INPUT_H

#include "eval/json_scan.h"
#include "util/fileio.h"

#include <stddef.h>

/* Longest caption / answer accepted, in bytes (a longer one is an input error, not a sentence). */
#define EVAL_MAX_TEXT_BYTES 100000

/* A JSON input file: text (mapped, or re-serialised by cJSON) and the offset of its value. */
typedef struct {
    const char *path;
    json_text t;
    size_t root;
    vk_mapped_file map;
    char *owned;
} json_doc;

/* Read path as JSON. A file that is one JSON value gives that value; a JSON-lines file (one
 * object per line) gives an array of those objects. Rejects empty files, NUL bytes (raw or
 * \u0000), invalid UTF-8 and syntax errors, with line and column. Strict JSON is checked and
 * used in place (json_scan.h); anything else goes through cJSON as before. */
int json_doc_read(json_doc *d, const char *path);
void json_doc_free(json_doc *d);
/* Integer id: a JSON number with an integral value (ids given as strings are an error).
 * field = the field name, rec = record index for the message. The _value form takes the value
 * already looked up (JSON_NONE = missing). */
int json_input_id(const json_doc *d, size_t obj, const char *field, size_t rec, long long *out);
int json_input_id_value(const json_doc *d, size_t v, const char *field, size_t rec, long long *out);
/* A string value (JSON_NONE = missing) of at most EVAL_MAX_TEXT_BYTES: *out is a malloc'd copy. */
int json_input_text(const json_doc *d, size_t v, const char *what, size_t rec, char **out);
/* The same, the copy made in pool (eval/text_pool.h). */
struct text_pool;
int json_input_text_pooled(const json_doc *d, size_t v, const char *what, size_t rec, struct text_pool *pool, char **out);

#endif
