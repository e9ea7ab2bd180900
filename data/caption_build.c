/* caption_build.c — the record builder: bad-record policy, caption checks, image path
 * resolution, merging captions of one image, image ids. */
#include "data/caption_build.h"

#include "util/ds.h"
#include "util/fileio.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

int caption_build_bad(caption_build *b, const char *where, const char *fmt, ...) {
    char msg[1024];
    int k = snprintf(msg, sizeof msg, "%s: ", where);
    if (k < 0 || (size_t)k >= sizeof msg) k = (int)strlen(msg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);

    caption_dataset *ds = b->ds;
    ds->n_bad++;
    if (b->o->on_error == CAPTION_ON_ERROR_FAIL) return vk_err_set("%s", msg);
    if (b->o->max_bad >= 0 && ds->n_bad > b->o->max_bad)
        return vk_err_set("more than max_bad = %lld bad records; the last: %s", (long long)b->o->max_bad, msg);
    if (ds->n_warnings < CAPTION_MAX_WARNINGS) {
        char *copy = strdup(msg);
        if (!copy) return vk_err_set("out of memory");
        arrput(ds->warnings, copy);
        ds->n_warnings++;
    }
    return 0;
}

/* Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF): the tokenizer refuses
 * anything else, so such a caption is a bad record now rather than a failed batch later. */
static int utf8_valid(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

int caption_build_text_ok(caption_build *b, const char *where, const char *what, const char *text) {
    const char *p = text;
    while (*p && isspace((unsigned char)*p)) p++;
    if (!*p) return caption_build_bad(b, where, "%s is empty", what) ? -1 : 0;
    if (!utf8_valid(text)) return caption_build_bad(b, where, "%s is not valid UTF-8", what) ? -1 : 0;
    return 1;
}

void caption_build_where_line(char *buf, size_t size, const char *name, int64_t line) {
    snprintf(buf, size, "%s:%lld", name, (long long)line);
}

void caption_build_where_index(char *buf, size_t size, const char *name, const char *array, int64_t i) {
    snprintf(buf, size, "%s: %s[%lld]", name, array, (long long)i);
}

/* Digits only, 1..18 of them (fits int64): the id; else -1. */
static int64_t digits_value(const char *s, size_t n) {
    if (n == 0 || n > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int64_t caption_image_id_from_path(const char *path) {
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    const char *dot = strrchr(name, '.');
    size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
    const char *start = name;
    for (size_t i = 0; i < stem; i++)
        if (name[i] == '_') start = name + i + 1;
    return digits_value(start, stem - (size_t)(start - name));
}

static char *resolve(const caption_build *b, const char *image) {
    if (image[0] == '/' || !b->base) return strdup(image);
    return vk_path_join(b->base, image);
}

int caption_build_add(caption_build *b, const char *where, const char *image,
                      const char *const *caps, int n, int64_t image_id, int64_t line, int64_t index) {
    caption_dataset *ds = b->ds;
    if (!image[0]) return caption_build_bad(b, where, "the image path is empty");
    if (n <= 0) return caption_build_bad(b, where, "no captions");
    char *path = resolve(b, image);
    if (!path) return vk_err_set("out of memory");

    ptrdiff_t at = shgeti(b->by_path, path);
    int64_t r;
    if (at >= 0) {
        r = b->by_path[at].value;
        free(path);
    } else {
        if (b->o->check_images) {
            struct stat st;
            int found = stat(path, &st) == 0;
            int e = errno;
            if (!found || !S_ISREG(st.st_mode)) {
                int rc = caption_build_bad(b, where, "image %s: %s", path,
                                           found ? "not a regular file" : strerror(e));
                free(path);
                return rc;
            }
        }
        caption_record rec = {0};
        rec.image = path;
        rec.source = ds->path;
        rec.line = line;
        rec.index = index;
        if (image_id < 0) image_id = caption_image_id_from_path(image);
        if (image_id < 0) image_id = ds->n_records;
        rec.image_id = image_id;
        r = ds->n_records;
        arrput(ds->records, rec);
        ds->n_records++;
        shput(b->by_path, path, r);
    }
    caption_record *rec = &ds->records[r];
    for (int i = 0; i < n; i++) {
        char *c = strdup(caps[i]);
        if (!c) return vk_err_set("out of memory");
        arrput(rec->captions, c);
        rec->n_captions++;
    }
    return 0;
}
