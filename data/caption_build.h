/* caption_build.h — building a caption_dataset record by record (internal to data/: shared by
 * caption_dataset.c and the format readers in caption_formats.c).
 *
 * Every reader reports a bad record through caption_build_bad(), which applies the policy in
 * one place: it returns 0 when the record is skipped (counted, message kept) and -1 when the
 * run must stop (on_error FAIL, or more than max_bad), with vk_err set. Readers pass -1 up. */
#ifndef VLKIT_DATA_CAPTION_BUILD_H
#define VLKIT_DATA_CAPTION_BUILD_H

#include "data/caption_dataset.h"
#include "util/error.h"

#include <cjson/cJSON.h>

typedef struct {
    char *key;       /* resolved image path */
    int64_t value;   /* index in records[] */
} caption_path_entry;

typedef struct {
    caption_dataset *ds;            /* records and examples are stb_ds arrays while building */
    const caption_dataset_opts *o;
    const char *base;               /* folder relative image paths are joined to; NULL = none */
    caption_path_entry *by_path;    /* stb_ds string map, for merging records of one image */
} caption_build;

/* A bad record: "where: <problem>". 0 = skipped, -1 = stop (vk_err set). */
int caption_build_bad(caption_build *b, const char *where, const char *fmt, ...) VK_PRINTF(3, 4);

/* 1 when text is a usable caption; otherwise reports it as bad (what = "caption",
 * "captions[2]", ...) and returns 0 (skipped) or -1 (stop). */
int caption_build_text_ok(caption_build *b, const char *where, const char *what, const char *text);

/* Add the already-checked captions of one image (`image` as written in the file; image_id -1 =
 * derive it). An image seen before gets the captions appended. Returns 0 (added, or the image
 * was bad and skipped) or -1 (stop). */
int caption_build_add(caption_build *b, const char *where, const char *image,
                      const char *const *caps, int n, int64_t image_id, int64_t line, int64_t index);

/* "name:LINE" or "name: <array>[I]" into buf. */
void caption_build_where_line(char *buf, size_t size, const char *name, int64_t line);
void caption_build_where_index(char *buf, size_t size, const char *name, const char *array, int64_t i);

/* The readers. text is NUL-terminated (len excludes the NUL). root: an already parsed document
 * (single-JSON formats; owned by the caller). */
int caption_read_jsonl(caption_build *b, const char *text, size_t len);
int caption_read_blip(caption_build *b, const cJSON *root);
int caption_read_coco(caption_build *b, const cJSON *root);
int caption_read_karpathy(caption_build *b, const cJSON *root);

/* One object record (JSONL line or BLIP element): image/file_name, caption/captions/text,
 * image_id. */
int caption_read_object(caption_build *b, const cJSON *obj, const char *where, int64_t line,
                        int64_t index);

#endif
