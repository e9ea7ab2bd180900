/* caption_dataset.h — caption datasets (image + captions) in the formats people have them in.
 *
 *   caption_dataset_opts o = caption_dataset_default_opts();   // auto format, skip bad records
 *   o.image_root = "/data/coco";                                // optional
 *   caption_dataset *ds = caption_dataset_load("train.jsonl.gz", &o);
 *   if (!ds) die(vk_err_msg());                                 // file-level problem, or policy
 *   for (int i = 0; i < ds->n_warnings; i++) warn(ds->warnings[i]);   // "file:12: caption is empty"
 *   for (int64_t i = 0; i < ds->n_examples; i++) {              // every (image, caption) pair
 *       const caption_example *e = &ds->examples[i];
 *       use(ds->records[e->record].image, ds->records[e->record].captions[e->caption]);
 *   }
 *   caption_dataset_free(ds);
 *
 * Formats (auto-detected from the content, or forced with opts.format; any of them may be
 * gzip-compressed, whatever the file is called):
 *   JSONL         one object per line: {"image": "a.jpg", "caption": "..."} or
 *                 {"image": ..., "captions": ["...", ...]}. The image may also be given as
 *                 "file_name" (or {"path": ...}, as HF datasets export it); the text as "caption",
 *                 "captions" or "text" (a string or a list); optional "image_id" (number, or a
 *                 string such as BLIP's "coco_203564"). Blank lines are ignored.
 *   IMAGEFOLDER   HF imagefolder's metadata.jsonl ({"file_name", "text"}): read as JSONL. The
 *                 path may be the folder itself (its metadata.jsonl or metadata.jsonl.gz is read).
 *   BLIP          BLIP's split files: a JSON array of the same objects,
 *                 [{"image": "val2014/x.jpg", "caption": "..." or [...], "image_id"?}, ...].
 *   COCO          COCO captions: {"images": [{"id", "file_name"}], "annotations":
 *                 [{"image_id", "caption"}]}.
 *   KARPATHY      Karpathy's split file (dataset_coco.json / dataset_flickr30k.json): {"images":
 *                 [{"filepath"?, "filename", "split", "sentences": [{"raw"}], "cocoid"?}]}; only
 *                 the images whose split is in opts.split (e.g. "train,restval"; NULL = all).
 *                 Forced BLIP and KARPATHY are one family ("the Karpathy splits", which BLIP
 *                 ships as lists): a list is read as BLIP's, an {"images"} object as Karpathy's.
 *
 * Records are one per image: lines (or array elements) naming the same image are merged, their
 * captions kept in file order, and records come in the order their image first appears.
 *
 * Image paths: absolute paths are kept; relative ones are joined to opts.image_root when given
 * (itself taken as the caller gives it, i.e. relative to the working directory), else to the
 * folder of the dataset file. Karpathy's image path is filepath/filename.
 *
 * image_id: from the file (JSONL/BLIP "image_id": a number, or the digits after the last '_' of
 * a string; COCO's image id; Karpathy's "cocoid", else "id", else "imgid" — the rules `vlkit
 * score` reads references with), else derived from the image file name (the digits after the
 * last '_' of its stem, or the whole stem: COCO_val2014_000000391895.jpg -> 391895,
 * 1000092795.jpg -> 1000092795, BLIP's rule), else the record's index.
 *
 * Bad records — a line that is not JSON, a value of the wrong type, no image field, an empty
 * caption (or one that is not valid UTF-8), an image file that does not exist, a COCO
 * annotation for an unknown image, an image with no captions — are reported as
 * "file:LINE: problem" (JSONL) or "file: images[I]: problem" / "file: annotations[I]: ..." /
 * "file: record I: ..." (single-JSON formats). With on_error SKIP they are left out and counted
 * (n_bad, warnings[]) unless more than max_bad (>= 0) of them are found; with FAIL the first is
 * the error. Problems with the file itself (unreadable, corrupt gzip, a single-JSON file that
 * does not parse, an unknown shape, nothing usable left) are always errors. Corrupt image
 * CONTENT is found later, when the loader decodes (data/loader.h), under the same policy.
 *
 * Errors: NULL with vk_err set; nothing to free. Library code: nothing is printed.
 * Thread safety: a loaded dataset is read-only; any number of threads may read it. Load one
 * dataset at a time (cJSON records its last parse error in a global). */
#ifndef VLKIT_DATA_CAPTION_DATASET_H
#define VLKIT_DATA_CAPTION_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CAPTION_FORMAT_AUTO,
    CAPTION_FORMAT_JSONL,
    CAPTION_FORMAT_IMAGEFOLDER,
    CAPTION_FORMAT_BLIP,
    CAPTION_FORMAT_COCO,
    CAPTION_FORMAT_KARPATHY,
} caption_format;

typedef enum {
    CAPTION_ON_ERROR_SKIP,   /* leave bad records out, count them, keep a message for each */
    CAPTION_ON_ERROR_FAIL,   /* the first bad record is the error */
} caption_on_error;

typedef struct {
    caption_format format;     /* CAPTION_FORMAT_AUTO: detect from the content */
    const char *image_root;    /* NULL: image paths are relative to the dataset file's folder */
    const char *split;         /* Karpathy only: comma-separated splits to keep; NULL = all */
    caption_on_error on_error; /* SKIP by default */
    int64_t max_bad;           /* SKIP: more bad records than this is an error; -1 = no limit */
    int check_images;          /* 1 (default): an image file that does not exist is a bad record */
} caption_dataset_opts;

/* format AUTO, image_root NULL, split NULL, on_error SKIP, max_bad -1, check_images 1. */
caption_dataset_opts caption_dataset_default_opts(void);

typedef struct {
    char *image;           /* resolved image path */
    char **captions;       /* n_captions >= 1 non-empty UTF-8 strings */
    int n_captions;
    int64_t image_id;
    const char *source;    /* the dataset file (the dataset's `path`) */
    int64_t line;          /* JSONL: 1-based line of the first mention; 0 for single-JSON formats */
    int64_t index;         /* single-JSON: index in the file's array (images[] for COCO/Karpathy);
                              JSONL: 0-based record number among the lines */
} caption_record;

typedef struct {
    int64_t record;        /* index into records[] */
    int caption;           /* index into that record's captions[] */
} caption_example;

/* Every field is owned by the dataset and read-only for the caller. */
typedef struct {
    char *path;                /* the file that was read (metadata.jsonl for a folder) */
    caption_format format;     /* the format it was read as (never AUTO) */
    caption_record *records;   /* one per image, in order of first appearance */
    int64_t n_records;
    caption_example *examples; /* (record, caption) pairs: record order, then caption order */
    int64_t n_examples;
    int64_t n_bad;             /* bad records skipped */
    char **warnings;           /* a message per bad record, the first CAPTION_MAX_WARNINGS */
    int n_warnings;
    caption_on_error on_error; /* the policy it was loaded with (the loader applies it too) */
    int64_t max_bad;
} caption_dataset;

#define CAPTION_MAX_WARNINGS 1000

caption_dataset *caption_dataset_load(const char *path, const caption_dataset_opts *opts);

/* The same from text in memory (already decompressed): `name` is the file name used in
 * messages, `dir` the folder relative image paths start from when opts has no image_root
 * (NULL: the working directory). For tests and fuzzing. */
caption_dataset *caption_dataset_load_memory(const char *text, size_t len, const char *name,
                                             const char *dir, const caption_dataset_opts *opts);

void caption_dataset_free(caption_dataset *ds);

/* "file:LINE" or "file: images[I]" (as in the messages) for record i, into buf (truncated). */
void caption_dataset_where(const caption_dataset *ds, int64_t i, char *buf, size_t size);

/* "auto" "jsonl" "imagefolder" "blip" "coco" "karpathy" <-> enum; parse returns -1 with vk_err
 * listing the names for anything else. */
const char *caption_format_name(caption_format f);
int caption_format_parse(const char *name, caption_format *out);

/* image_id derived from an image path: the digits after the last '_' of the file's stem (or
 * the whole stem when it has no '_'); -1 when they are not all digits (or too many). */
int64_t caption_image_id_from_path(const char *path);

#endif
