/* caption_formats.c — the readers of each caption-dataset format (see caption_dataset.h for the
 * shapes). They find records and report bad ones; caption_build.c decides what a bad record
 * costs, resolves image paths and merges the captions of one image. */
#include "data/caption_build.h"

#include "util/ds.h"
#include "util/fileio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WHERE_MAX 4096

static const cJSON *member(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v && !cJSON_IsNull(v) ? v : NULL;   /* "key": null reads as absent */
}

/* A JSON number holding a non-negative integer that a double represents exactly; -1 otherwise. */
static int64_t json_id(const cJSON *v) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!isfinite(d) || d < 0 || d > 9007199254740992.0 || d != floor(d)) return -1;
    return (int64_t)d;
}

/* BLIP writes ids as strings ("coco_203564"): the digits after the last '_', or -1. */
static int64_t id_from_string(const char *s) {
    const char *start = strrchr(s, '_');
    start = start ? start + 1 : s;
    size_t n = strlen(start);
    if (n == 0 || n > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (start[i] < '0' || start[i] > '9') return -1;
        v = v * 10 + (start[i] - '0');
    }
    return v;
}

/* ---- one object: a JSONL line or a BLIP array element --------------------------------------- */

int caption_read_object(caption_build *b, const cJSON *obj, const char *where, int64_t line, int64_t index) {
    if (!cJSON_IsObject(obj)) return caption_build_bad(b, where, "expected a JSON object with \"image\" and \"caption\"");

    const char *image_key = "image";
    const cJSON *im = member(obj, "image");
    if (!im) {
        image_key = "file_name";
        im = member(obj, "file_name");
    }
    if (!im) return caption_build_bad(b, where, "no \"image\" (or \"file_name\")");
    const char *image = NULL;
    if (cJSON_IsString(im)) {
        image = im->valuestring;
    } else if (cJSON_IsObject(im) && cJSON_IsString(member(im, "path"))) {
        image = member(im, "path")->valuestring;   /* HF datasets' Image feature: {"path", "bytes"} */
    } else {
        return caption_build_bad(b, where, "\"%s\" must be a string (the image path)", image_key);
    }

    static const char *const text_keys[] = {"caption", "captions", "text"};
    const cJSON *c = NULL;
    const char *ck = NULL;
    for (size_t k = 0; k < sizeof text_keys / sizeof text_keys[0] && !c; k++) {
        c = member(obj, text_keys[k]);
        ck = text_keys[k];
    }
    if (!c) return caption_build_bad(b, where, "no \"caption\" (or \"captions\", \"text\")");

    const char **caps = NULL;   /* stb_ds array of pointers into the cJSON tree */
    int rc = 0;
    char what[64];
    if (cJSON_IsString(c)) {
        snprintf(what, sizeof what, "\"%s\"", ck);
        int ok = caption_build_text_ok(b, where, what, c->valuestring);
        if (ok <= 0) return ok;
        arrput(caps, c->valuestring);
    } else if (cJSON_IsArray(c)) {
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, c) {
            snprintf(what, sizeof what, "\"%s\"[%d]", ck, k++);
            if (!cJSON_IsString(e)) {
                rc = caption_build_bad(b, where, "%s must be a string", what);
                goto done;
            }
            int ok = caption_build_text_ok(b, where, what, e->valuestring);
            if (ok <= 0) {
                rc = ok;
                goto done;
            }
            arrput(caps, e->valuestring);
        }
        if (k == 0) {
            rc = caption_build_bad(b, where, "\"%s\" is an empty list", ck);
            goto done;
        }
    } else {
        return caption_build_bad(b, where, "\"%s\" must be a string or a list of strings", ck);
    }

    int64_t id = -1;
    const cJSON *iv = member(obj, "image_id");
    if (iv && cJSON_IsNumber(iv)) {
        id = json_id(iv);
        if (id < 0) {
            rc = caption_build_bad(b, where, "\"image_id\" must be a non-negative integer");
            goto done;
        }
    } else if (iv && cJSON_IsString(iv)) {
        id = id_from_string(iv->valuestring);   /* not numeric: derived from the file name instead */
    } else if (iv) {
        rc = caption_build_bad(b, where, "\"image_id\" must be a number or a string");
        goto done;
    }
    rc = caption_build_add(b, where, image, caps, (int)arrlen(caps), id, line, index);
done:
    arrfree(caps);
    return rc;
}

/* ---- JSONL (and HF imagefolder metadata.jsonl) ---------------------------------------------- */

static int json_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int caption_read_jsonl(caption_build *b, const char *text, size_t len) {
    const char *name = b->ds->path;
    char where[WHERE_MAX];
    size_t i = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) i = 3;   /* a UTF-8 byte-order mark */
    int64_t line = 0, index = 0;
    while (i < len) {
        line++;
        const char *s = text + i;
        const char *nl = memchr(s, '\n', len - i);
        size_t n = nl ? (size_t)(nl - s) : len - i;
        i += n + (nl ? 1 : 0);
        size_t a = 0;
        while (a < n && json_ws(s[a])) a++;
        if (a == n) continue;   /* blank line */
        caption_build_where_line(where, sizeof where, name, line);
        int rc;
        if (memchr(s, 0, n)) {
            rc = caption_build_bad(b, where, "the line contains a NUL byte");
        } else {
            const char *end = NULL;
            cJSON *obj = cJSON_ParseWithLengthOpts(s, n, &end, 0);
            if (!obj) {
                size_t col = end && end >= s && end <= s + n ? (size_t)(end - s) + 1 : 1;
                rc = caption_build_bad(b, where, "not valid JSON (column %zu)", col);
            } else {
                const char *p = end ? end : s + n;
                while (p < s + n && json_ws(*p)) p++;
                if (p < s + n)
                    rc = caption_build_bad(b, where, "unexpected text after the JSON value (column %zu)",
                                           (size_t)(p - s) + 1);
                else
                    rc = caption_read_object(b, obj, where, line, index);
                cJSON_Delete(obj);
            }
        }
        if (rc) return -1;
        index++;
    }
    return 0;
}

/* ---- BLIP split files: a JSON array of objects ----------------------------------------------- */

int caption_read_blip(caption_build *b, const cJSON *root) {
    if (!cJSON_IsArray(root)) return vk_err_set("%s: a BLIP caption file is a JSON list of objects", b->ds->path);
    char where[WHERE_MAX];
    int64_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        snprintf(where, sizeof where, "%s: record %lld", b->ds->path, (long long)i);
        if (caption_read_object(b, e, where, 0, i)) return -1;
        i++;
    }
    return 0;
}

/* ---- COCO captions: images[] + annotations[] ------------------------------------------------ */

typedef struct {
    int64_t key;     /* COCO image id */
    int64_t value;   /* index in images[] */
} id_entry;

int caption_read_coco(caption_build *b, const cJSON *root) {
    const char *name = b->ds->path;
    const cJSON *images = member(root, "images"), *anns = member(root, "annotations");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(images) || !cJSON_IsArray(anns))
        return vk_err_set("%s: a COCO captions file is an object with \"images\" and \"annotations\" lists", name);
    int n = cJSON_GetArraySize(images);
    const char **fname = calloc((size_t)n + 1, sizeof *fname);   /* NULL: a bad images[] entry */
    int64_t *ids = calloc((size_t)n + 1, sizeof *ids);
    const char ***caps = calloc((size_t)n + 1, sizeof *caps);    /* per image: stb_ds array */
    id_entry *by_id = NULL;
    int rc = -1;
    char where[WHERE_MAX];
    if (!fname || !ids || !caps) {
        vk_err_set("out of memory");
        goto done;
    }

    int64_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, images) {
        caption_build_where_index(where, sizeof where, name, "images", i);
        int64_t id = json_id(member(e, "id"));
        const cJSON *fn = member(e, "file_name");
        ptrdiff_t dup = id >= 0 ? hmgeti(by_id, id) : -1;
        int bad = 0;
        if (!cJSON_IsObject(e))
            bad = caption_build_bad(b, where, "expected an object with \"id\" and \"file_name\"") - 1;
        else if (id < 0)
            bad = caption_build_bad(b, where, "\"id\" must be a non-negative integer") - 1;
        else if (!cJSON_IsString(fn))
            bad = caption_build_bad(b, where, "\"file_name\" must be a string") - 1;
        else if (dup >= 0)
            bad = caption_build_bad(b, where, "image id %lld already used by images[%lld]", (long long)id,
                                    (long long)by_id[dup].value) - 1;
        if (bad == -2) goto done;   /* the policy said stop */
        if (!bad) {
            fname[i] = fn->valuestring;
            ids[i] = id;
            hmput(by_id, id, i);
        }
        i++;
    }

    int64_t j = 0;
    cJSON_ArrayForEach(e, anns) {
        caption_build_where_index(where, sizeof where, name, "annotations", j++);
        int64_t id = json_id(member(e, "image_id"));
        const cJSON *c = member(e, "caption");
        ptrdiff_t at = id >= 0 ? hmgeti(by_id, id) : -1;
        int r = 0;
        if (!cJSON_IsObject(e))
            r = caption_build_bad(b, where, "expected an object with \"image_id\" and \"caption\"");
        else if (id < 0)
            r = caption_build_bad(b, where, "\"image_id\" must be a non-negative integer");
        else if (!cJSON_IsString(c))
            r = caption_build_bad(b, where, "\"caption\" must be a string");
        else if (at < 0)
            r = caption_build_bad(b, where, "image_id %lld is not in images[]", (long long)id);
        else {
            int ok = caption_build_text_ok(b, where, "\"caption\"", c->valuestring);
            if (ok > 0) arrput(caps[by_id[at].value], c->valuestring);
            r = ok < 0 ? -1 : 0;
        }
        if (r) goto done;
    }

    for (i = 0; i < n; i++) {
        if (!fname[i]) continue;
        caption_build_where_index(where, sizeof where, name, "images", i);
        int nc = (int)arrlen(caps[i]);
        int r = nc == 0 ? caption_build_bad(b, where, "no captions (no annotation has image_id %lld)", (long long)ids[i])
                        : caption_build_add(b, where, fname[i], caps[i], nc, ids[i], 0, i);
        if (r) goto done;
    }
    rc = 0;
done:
    if (caps)
        for (i = 0; i < n; i++) arrfree(caps[i]);
    free(caps);
    free(fname);
    free(ids);
    hmfree(by_id);
    return rc;
}

/* ---- Karpathy split files ------------------------------------------------------------------- */

/* 1 when `split` is one of the comma-separated names in `list` (spaces around names ignored). */
static int split_selected(const char *list, const char *split) {
    size_t n = strlen(split);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        const char *q = p;
        while (*q && *q != ',') q++;
        const char *r = q;
        while (r > p && r[-1] == ' ') r--;
        if ((size_t)(r - p) == n && n && memcmp(p, split, n) == 0) return 1;
        p = q;
    }
    return 0;
}

/* "cocoid", else "id", else "imgid" (Flickr30k's files have only imgid): the rule `vlkit score`
 * reads the same file's references with, so generated captions and references share ids. */
static int64_t karpathy_id(const cJSON *e) {
    static const char *const keys[] = {"cocoid", "id", "imgid"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        int64_t id = json_id(member(e, keys[k]));
        if (id >= 0) return id;
    }
    return -1;
}

int caption_read_karpathy(caption_build *b, const cJSON *root) {
    const char *name = b->ds->path;
    const cJSON *images = member(root, "images");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(images))
        return vk_err_set("%s: a Karpathy split file is an object with an \"images\" list", name);
    if (member(root, "annotations"))
        return vk_err_set("%s: a COCO captions file (it has \"annotations\"), not a Karpathy split file: use format coco",
                          name);
    const char *filter = b->o->split;
    char where[WHERE_MAX];
    char seen[256] = "";      /* the split names met, for the message when none is selected */
    int64_t i = -1, selected = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, images) {
        i++;
        caption_build_where_index(where, sizeof where, name, "images", i);
        int r = 0;
        if (!cJSON_IsObject(e)) {
            if (caption_build_bad(b, where, "expected an object with \"filename\" and \"sentences\"")) return -1;
            continue;
        }
        const cJSON *sp = member(e, "split");
        if (filter) {
            if (!cJSON_IsString(sp)) {
                if (caption_build_bad(b, where, "\"split\" must be a string")) return -1;
                continue;
            }
            if (!split_selected(filter, sp->valuestring)) {
                size_t k = strlen(seen), m = strlen(sp->valuestring);
                if (!split_selected(seen, sp->valuestring) && k + m + 3 < sizeof seen)
                    snprintf(seen + k, sizeof seen - k, "%s%s", k ? ", " : "", sp->valuestring);
                continue;
            }
        }
        selected++;
        const cJSON *fn = member(e, "filename"), *fp = member(e, "filepath"), *sents = member(e, "sentences");
        if (!cJSON_IsString(fn)) {
            r = caption_build_bad(b, where, "\"filename\" must be a string");
        } else if (fp && !cJSON_IsString(fp)) {
            r = caption_build_bad(b, where, "\"filepath\" must be a string");
        } else if (!cJSON_IsArray(sents)) {
            r = caption_build_bad(b, where, "\"sentences\" must be a list");
        } else {
            const char **caps = NULL;
            int k = 0, ok = 1;
            const cJSON *s;
            cJSON_ArrayForEach(s, sents) {
                const cJSON *raw = member(s, "raw");
                char what[64];
                snprintf(what, sizeof what, "sentences[%d].raw", k++);
                if (!cJSON_IsString(raw)) {
                    ok = caption_build_bad(b, where, "%s must be a string", what) ? -1 : 0;
                    break;
                }
                ok = caption_build_text_ok(b, where, what, raw->valuestring);
                if (ok <= 0) break;
                arrput(caps, raw->valuestring);
            }
            if (ok > 0) {
                char *image = fp && fp->valuestring[0] ? vk_path_join(fp->valuestring, fn->valuestring)
                                                       : strdup(fn->valuestring);
                if (!image) r = vk_err_set("out of memory");
                else r = caption_build_add(b, where, image, caps, k, karpathy_id(e), 0, i);
                free(image);
            } else {
                r = ok;
            }
            arrfree(caps);
        }
        if (r) return -1;
    }
    if (filter && selected == 0)
        return vk_err_set("%s: no images in split \"%s\" (the file has: %s)", name, filter, seen[0] ? seen : "none");
    return 0;
}
