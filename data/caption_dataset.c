/* caption_dataset.c — load a caption dataset: read (gunzip), detect the format, run its reader
 * (caption_formats.c), then list the (record, caption) examples. */
#include "data/caption_dataset.h"

#include "data/caption_build.h"
#include "data/gz_reader.h"
#include "util/ds.h"
#include "util/error.h"
#include "util/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const format_names[] = {"auto", "jsonl", "imagefolder", "blip", "coco", "karpathy"};
#define N_FORMATS (sizeof format_names / sizeof format_names[0])

const char *caption_format_name(caption_format f) {
    return (unsigned)f < N_FORMATS ? format_names[f] : "unknown";
}

int caption_format_parse(const char *name, caption_format *out) {
    for (size_t i = 0; i < N_FORMATS; i++)
        if (strcasecmp(name, format_names[i]) == 0) {
            *out = (caption_format)i;
            return 0;
        }
    return vk_err_set("unknown caption dataset format \"%s\" (expected auto, jsonl, imagefolder, blip, coco or karpathy)",
                      name);
}

caption_dataset_opts caption_dataset_default_opts(void) {
    caption_dataset_opts o = {
        .format = CAPTION_FORMAT_AUTO,
        .image_root = NULL,
        .split = NULL,
        .on_error = CAPTION_ON_ERROR_SKIP,
        .max_bad = -1,
        .check_images = 1,
    };
    return o;
}

void caption_dataset_free(caption_dataset *ds) {
    if (!ds) return;
    for (ptrdiff_t r = 0; r < arrlen(ds->records); r++) {
        caption_record *rec = &ds->records[r];
        free(rec->image);
        for (int c = 0; c < rec->n_captions; c++) free(rec->captions[c]);
        arrfree(rec->captions);
    }
    arrfree(ds->records);
    free(ds->examples);
    for (int i = 0; i < ds->n_warnings; i++) free(ds->warnings[i]);
    arrfree(ds->warnings);
    free(ds->path);
    free(ds);
}

void caption_dataset_where(const caption_dataset *ds, int64_t i, char *buf, size_t size) {
    const caption_record *r = &ds->records[i];
    switch (ds->format) {
    case CAPTION_FORMAT_BLIP: snprintf(buf, size, "%s: record %lld", ds->path, (long long)r->index); break;
    case CAPTION_FORMAT_COCO:
    case CAPTION_FORMAT_KARPATHY: caption_build_where_index(buf, size, ds->path, "images", r->index); break;
    default: caption_build_where_line(buf, size, ds->path, r->line); break;
    }
}

/* ---- format detection ------------------------------------------------------------------------ */

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* "line L, column C" of byte offset `at`. */
static void line_col(const char *text, size_t at, size_t *line, size_t *col) {
    *line = 1;
    size_t start = 0;
    for (size_t i = 0; i < at; i++)
        if (text[i] == '\n') {
            (*line)++;
            start = i + 1;
        }
    *col = at - start + 1;
}

/* Parse text[from..len) as exactly one JSON value. NULL when it is not; *err_at = the offset of
 * the problem (for the message). */
static cJSON *parse_whole(const char *text, size_t from, size_t len, size_t *err_at) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text + from, len - from, &end, 0);
    size_t at = end ? (size_t)(end - text) : len;
    if (root) {
        while (at < len && is_ws(text[at])) at++;
        if (at == len) return root;
        cJSON_Delete(root);
    }
    *err_at = at;
    return NULL;
}

/* 1 when the first non-blank line of text[from..len) is a JSON object by itself. */
static int first_line_is_object(const char *text, size_t from, size_t len) {
    const char *s = text + from, *nl = memchr(s, '\n', len - from);
    size_t n = nl ? (size_t)(nl - s) : len - from;
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    int ok = cJSON_IsObject(v);
    if (ok)
        for (const char *p = end; p < s + n; p++)
            if (!is_ws(*p)) ok = 0;
    cJSON_Delete(v);
    return ok;
}

/* Decide the format (when AUTO) and parse single-JSON formats; *root owned by the caller. */
static int detect(const char *text, size_t len, const char *name, caption_format *fmt, cJSON **root) {
    size_t from = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) from = 3;
    size_t first = from;
    while (first < len && is_ws(text[first])) first++;
    if (first == len) return vk_err_set("%s: the file is empty", name);
    char c = text[first];
    int jsonl_name = ends_with(name, ".jsonl") || ends_with(name, ".jsonl.gz");

    if (*fmt == CAPTION_FORMAT_AUTO) {
        if (c == '[') {
            *fmt = CAPTION_FORMAT_BLIP;
        } else if (c != '{') {
            return vk_err_set("%s: not a caption dataset (expected JSON: an object per line, a list or an object)",
                              name);
        } else if (jsonl_name) {
            *fmt = CAPTION_FORMAT_JSONL;
        } else {
            size_t at = 0;
            *root = memchr(text, 0, len) ? NULL : parse_whole(text, from, len, &at);
            if (*root) {
                if (cJSON_GetObjectItemCaseSensitive(*root, "annotations")) *fmt = CAPTION_FORMAT_COCO;
                else if (cJSON_GetObjectItemCaseSensitive(*root, "images")) *fmt = CAPTION_FORMAT_KARPATHY;
                else *fmt = CAPTION_FORMAT_JSONL;   /* one object: a JSONL file of one line */
            } else if (first_line_is_object(text, first, len)) {
                *fmt = CAPTION_FORMAT_JSONL;
            } else {
                size_t line, col;
                line_col(text, at, &line, &col);
                return vk_err_set("%s: not valid JSON (line %zu, column %zu), and not JSON lines either", name,
                                  line, col);
            }
            if (*fmt == CAPTION_FORMAT_JSONL && *root) {
                cJSON_Delete(*root);
                *root = NULL;
            }
        }
    }

    if (*fmt == CAPTION_FORMAT_BLIP || *fmt == CAPTION_FORMAT_COCO || *fmt == CAPTION_FORMAT_KARPATHY) {
        if (*root) return 0;
        if (memchr(text, 0, len)) return vk_err_set("%s: the file contains a NUL byte", name);
        size_t at = 0;
        *root = parse_whole(text, from, len, &at);
        if (!*root) {
            size_t line, col;
            line_col(text, at, &line, &col);
            return vk_err_set("%s: not valid JSON (line %zu, column %zu)", name, line, col);
        }
        /* "karpathy" and "blip" name one family: BLIP ships the Karpathy splits as lists
         * (coco_karpathy_train.json), Karpathy's own files are objects; the shape decides. */
        if (*fmt == CAPTION_FORMAT_KARPATHY && cJSON_IsArray(*root)) *fmt = CAPTION_FORMAT_BLIP;
        else if (*fmt == CAPTION_FORMAT_BLIP && cJSON_IsObject(*root) &&
                 cJSON_GetObjectItemCaseSensitive(*root, "images") &&
                 !cJSON_GetObjectItemCaseSensitive(*root, "annotations"))
            *fmt = CAPTION_FORMAT_KARPATHY;
    }
    return 0;
}

/* ---- loading --------------------------------------------------------------------------------- */

static caption_dataset *load_text(const char *text, size_t len, const char *name, const char *dir,
                                  const caption_dataset_opts *opts) {
    caption_dataset_opts o = opts ? *opts : caption_dataset_default_opts();
    caption_dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->path = strdup(name))) {
        free(ds);
        vk_err_set("out of memory");
        return NULL;
    }
    ds->on_error = o.on_error;
    ds->max_bad = o.max_bad;
    caption_format fmt = o.format;
    if ((unsigned)fmt >= N_FORMATS) {
        vk_err_set("%s: unknown format %d", name, (int)fmt);
        goto fail;
    }
    cJSON *root = NULL;
    if (detect(text, len, name, &fmt, &root)) goto fail;
    ds->format = fmt;
    if (o.split && fmt != CAPTION_FORMAT_KARPATHY) {
        cJSON_Delete(root);
        vk_err_set("%s: a split (\"%s\") can only be chosen in a Karpathy split file; this file is %s", name,
                   o.split, caption_format_name(fmt));
        goto fail;
    }

    caption_build b = {.ds = ds, .o = &o, .base = o.image_root ? o.image_root : dir, .by_path = NULL};
    sh_new_strdup(b.by_path);
    int rc;
    switch (fmt) {
    case CAPTION_FORMAT_BLIP: rc = caption_read_blip(&b, root); break;
    case CAPTION_FORMAT_COCO: rc = caption_read_coco(&b, root); break;
    case CAPTION_FORMAT_KARPATHY: rc = caption_read_karpathy(&b, root); break;
    default: rc = caption_read_jsonl(&b, text, len); break;
    }
    shfree(b.by_path);
    cJSON_Delete(root);
    if (rc) goto fail;

    if (ds->n_records == 0) {
        if (ds->n_bad)
            vk_err_set("%s: no usable records (%lld bad; the first: %s)", name, (long long)ds->n_bad,
                       ds->n_warnings ? ds->warnings[0] : "?");
        else
            vk_err_set("%s: no records", name);
        goto fail;
    }
    int64_t n = 0;
    for (int64_t r = 0; r < ds->n_records; r++) n += ds->records[r].n_captions;
    ds->examples = malloc((size_t)n * sizeof *ds->examples);
    if (!ds->examples) {
        vk_err_set("out of memory");
        goto fail;
    }
    for (int64_t r = 0; r < ds->n_records; r++)
        for (int c = 0; c < ds->records[r].n_captions; c++)
            ds->examples[ds->n_examples++] = (caption_example){.record = r, .caption = c};
    return ds;
fail:
    caption_dataset_free(ds);
    return NULL;
}

caption_dataset *caption_dataset_load_memory(const char *text, size_t len, const char *name, const char *dir,
                                             const caption_dataset_opts *opts) {
    return load_text(text, len, name, dir, opts);
}

caption_dataset *caption_dataset_load(const char *path, const caption_dataset_opts *opts) {
    caption_dataset_opts o = opts ? *opts : caption_dataset_default_opts();
    char *file = NULL;
    if (vk_is_dir(path)) {
        /* an HF imagefolder: its metadata file names the images */
        static const char *const meta[] = {"metadata.jsonl", "metadata.jsonl.gz"};
        for (size_t i = 0; i < 2 && !file; i++) {
            char *p = vk_path_join(path, meta[i]);
            if (p && vk_file_exists(p)) file = p;
            else free(p);
        }
        if (!file) {
            vk_err_set("%s: a folder without metadata.jsonl (an HF imagefolder needs one)", path);
            return NULL;
        }
        if (o.format == CAPTION_FORMAT_AUTO) o.format = CAPTION_FORMAT_IMAGEFOLDER;
    } else {
        file = strdup(path);
    }
    if (!file) {
        vk_err_set("out of memory");
        return NULL;
    }
    size_t len = 0;
    char *text = gz_read_file(file, &len, 0);
    if (!text) {
        free(file);
        return NULL;
    }
    /* relative image paths start at the dataset file's folder ("" = the working directory) */
    char *dir = strdup(file);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) slash[slash == dir ? 1 : 0] = 0;
    caption_dataset *ds = dir ? load_text(text, len, file, slash ? dir : NULL, &o) : NULL;
    if (!dir) vk_err_set("out of memory");
    free(dir);
    free(text);
    free(file);
    return ds;
}
