/* json_input.h — reading the evaluators' JSON inputs with errors that name the file, the
 * record and the problem (internal to eval/). */
#ifndef VLKIT_EVAL_JSON_INPUT_H
#define VLKIT_EVAL_JSON_INPUT_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Longest caption / answer accepted, in bytes (a longer one is an input error, not a sentence). */
#define EVAL_MAX_TEXT_BYTES 100000

/* Read path as JSON. A file that is one JSON value gives that value; a JSON-lines file (one
 * object per line) gives an array of those objects. Rejects empty files, NUL bytes (raw or
 * \u0000), invalid UTF-8 and syntax errors, with line and column. */
cJSON *json_input_read(const char *path);
/* Integer id: a JSON number with an integral value (ids given as strings are an error).
 * what = the field name, rec = record index for the message. */
int json_input_id(const char *path, const cJSON *obj, const char *field, size_t rec, long long *out);
/* A string field of at most EVAL_MAX_TEXT_BYTES. *out points into the cJSON tree. */
int json_input_text(const char *path, const cJSON *v, const char *what, size_t rec, const char **out);

#endif
