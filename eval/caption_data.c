/* caption_data.c — read caption references and results into the evaluated set, in the order and
 * with the checks of COCOEvalCap (coco.loadRes + evaluate with params['image_id'] =
 * cocoRes.getImgIds()): evaluated images = annotated images that have a result, in annotation
 * order; a result for an unknown image is an error (loadRes asserts); two results for one image
 * are an error (the BLEU scorer asserts one hypothesis per image). */
#include "eval/eval.h"
#include "eval/id_map.h"
#include "eval/json_input.h"
#include "eval/ptb_pool.h"
#include "util/error.h"
#include "util/pair_run.h"

#include "util/ds.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long long id;
    char **refs; /* stb_ds array of captions (in the table's pool) */
    char *cand;  /* in the results' pool */
    size_t res_rec; /* record index of the result, for duplicate messages */
    int has_res;
} image_rec;

typedef struct {
    const char *path;
    image_rec *images; /* stb_ds array, annotation order */
    id_map index;      /* id -> images index */
    text_pool *pool;   /* every caption read (a malloc and a free each cost more); NULL once moved into a set */
} ann_table;

/* A pool of captions: ann_table.pool, result_list.pool, caption_set.strings. */
static void strings_free(void *strings) {
    if (!strings) return;
    text_pool_free(strings);
    free(strings);
}

static void ann_table_free(ann_table *t) {
    for (size_t i = 0; i < arrlenu(t->images); i++) arrfree(t->images[i].refs);
    arrfree(t->images);
    id_map_free(&t->index);
    strings_free(t->pool);
}

/* The images index of id, added when new; ID_MAP_NONE when out of memory (error set). */
static size_t image_slot(ann_table *t, long long id) {
    size_t at = id_map_get(&t->index, id);
    if (at != ID_MAP_NONE) return at;
    image_rec r = {id, NULL, NULL, 0, 0};
    arrput(t->images, r);
    size_t slot = arrlenu(t->images) - 1;
    if (id_map_put(&t->index, id, slot) != 0) {
        vk_err_set("%s: out of memory", t->path);
        return ID_MAP_NONE;
    }
    return slot;
}

/* c is in t->pool. */
static int add_ref(ann_table *t, long long id, char *c) {
    size_t slot = image_slot(t, id); /* may grow t->images: index it afterwards */
    if (slot == ID_MAP_NONE) {
        return -1;
    }
    arrput(t->images[slot].refs, c);
    return 0;
}

/* BLIP / Karpathy-style "image" paths: the id is the number after the last '_' of the file
 * name without its extension (".../COCO_val2014_000000391895.jpg" -> 391895), or the whole
 * name when it is a number. */
static int id_from_image_path(const char *path, const char *img, size_t rec, long long *out) {
    const char *base = strrchr(img, '/');
    base = base ? base + 1 : img;
    const char *dot = strrchr(base, '.');
    const char *end = dot ? dot : base + strlen(base);
    const char *us = NULL;
    for (const char *p = base; p < end; p++)
        if (*p == '_') us = p;
    const char *num = us ? us + 1 : base;
    if (num == end || end - num > 18)
        return vk_err_set("%s: record %zu: cannot take an integer image id from \"image\": \"%.80s\" (give \"image_id\")",
                          path, rec, img);
    long long v = 0;
    for (const char *p = num; p < end; p++) {
        if (*p < '0' || *p > '9')
            return vk_err_set("%s: record %zu: cannot take an integer image id from \"image\": \"%.80s\" (give \"image_id\")",
                              path, rec, img);
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

/* COCO captions file: {"images": [{"id"}], "annotations": [{"image_id", "caption"}]}. */
static int load_coco(ann_table *t, const json_doc *d) {
    json_text x = d->t;
    size_t imgs = json_get(x, d->root, "images");
    size_t anns = json_get(x, d->root, "annotations");
    if (json_type(x, anns) != JT_ARRAY) return vk_err_set("%s: \"annotations\" is not an array", t->path);
    if (imgs != JSON_NONE && json_type(x, imgs) != JT_ARRAY) return vk_err_set("%s: \"images\" is not an array", t->path);
    size_t rec = 0;
    for (size_t im = imgs != JSON_NONE ? json_first(x, imgs) : JSON_NONE; im != JSON_NONE; im = json_next(x, im), rec++) {
        long long id;
        if (json_type(x, im) != JT_OBJECT) return vk_err_set("%s: images[%zu] is not an object", t->path, rec);
        if (json_input_id(d, im, "id", rec, &id) != 0) return vk_err_prefix("images");
        if (image_slot(t, id) == ID_MAP_NONE) return -1;
    }
    /* With an "images" list, it alone defines the known images (as COCO.getImgIds does). */
    size_t n_known = arrlenu(t->images);
    rec = 0;
    static const char *const keys[2] = {"image_id", "caption"};
    for (size_t a = json_first(x, anns); a != JSON_NONE; a = json_next(x, a), rec++) {
        long long id;
        char *cap;
        size_t f[2];
        if (json_type(x, a) != JT_OBJECT) return vk_err_set("%s: annotations[%zu] is not an object", t->path, rec);
        json_get_many(x, a, keys, f, 2);
        if (json_input_id_value(d, f[0], "image_id", rec, &id) != 0 || json_input_text_pooled(d, f[1], "caption", rec, t->pool, &cap) != 0)
            return vk_err_prefix("annotations");
        if (imgs != JSON_NONE && id_map_get(&t->index, id) == ID_MAP_NONE) {
            /* annotation of an image missing from "images": COCO keeps it out of getImgIds() */
            continue;
        }
        if (add_ref(t, id, cap) != 0) return -1;
    }
    (void)n_known;
    return 0;
}

/* Karpathy dataset_coco.json: {"images": [{"cocoid"|"id"|"imgid", "sentences": [{"raw"}]}]}. */
static int load_karpathy(ann_table *t, const json_doc *d) {
    json_text x = d->t;
    size_t imgs = json_get(x, d->root, "images");
    size_t rec = 0;
    static const char *const keys[4] = {"cocoid", "id", "imgid", "sentences"};
    for (size_t im = json_first(x, imgs); im != JSON_NONE; im = json_next(x, im), rec++) {
        if (json_type(x, im) != JT_OBJECT) return vk_err_set("%s: images[%zu] is not an object", t->path, rec);
        size_t f[4];
        json_get_many(x, im, keys, f, 4);
        int k = f[0] != JSON_NONE ? 0 : f[1] != JSON_NONE ? 1 : 2;
        long long id;
        if (json_input_id_value(d, f[k], keys[k], rec, &id) != 0) return vk_err_prefix("images");
        if (image_slot(t, id) == ID_MAP_NONE) return -1;
        size_t sents = f[3];
        if (json_type(x, sents) != JT_ARRAY) return vk_err_set("%s: images[%zu]: \"sentences\" is not an array", t->path, rec);
        for (size_t s = json_first(x, sents); s != JSON_NONE; s = json_next(x, s)) {
            char *raw;
            if (json_type(x, s) != JT_OBJECT || json_input_text_pooled(d, json_get(x, s, "raw"), "raw", rec, t->pool, &raw) != 0)
                return vk_err_set("%s: images[%zu]: every sentence needs a \"raw\" string", t->path, rec);
            if (add_ref(t, id, raw) != 0) return -1;
        }
    }
    return 0;
}

/* Array / JSON lines of {"image_id"|"image", "caption": str | [str], "captions": [str]}. */
static int load_records(ann_table *t, const json_doc *d) {
    json_text x = d->t;
    size_t rec = 0;
    static const char *const keys[4] = {"image", "image_id", "caption", "captions"};
    for (size_t r = json_first(x, d->root); r != JSON_NONE; r = json_next(x, r), rec++) {
        if (json_type(x, r) != JT_OBJECT) return vk_err_set("%s: record %zu is not an object", t->path, rec);
        size_t f[4];
        json_get_many(x, r, keys, f, 4);
        long long id;
        if (f[1] != JSON_NONE || json_type(x, f[0]) != JT_STRING) {
            if (json_input_id_value(d, f[1], "image_id", rec, &id) != 0) return -1;
        } else {
            /* the path as cJSON's valuestring (decoded; a C string: it ends at a NUL) */
            char *img = malloc(json_str_len(x, f[0]) + 1);
            if (!img) return vk_err_set("%s: out of memory", t->path);
            json_str_decode(x, f[0], img);
            int rc = id_from_image_path(t->path, img, rec, &id);
            free(img);
            if (rc != 0) return -1;
        }
        size_t c = f[2] != JSON_NONE ? f[2] : f[3];
        if (c == JSON_NONE) return vk_err_set("%s: record %zu has no \"caption\" or \"captions\"", t->path, rec);
        if (image_slot(t, id) == ID_MAP_NONE) return -1;
        if (json_type(x, c) == JT_ARRAY) {
            for (size_t s = json_first(x, c); s != JSON_NONE; s = json_next(x, s)) {
                char *cap;
                if (json_input_text_pooled(d, s, "caption", rec, t->pool, &cap) != 0 || add_ref(t, id, cap) != 0) return -1;
            }
        } else {
            char *cap;
            if (json_input_text_pooled(d, c, "caption", rec, t->pool, &cap) != 0 || add_ref(t, id, cap) != 0) return -1;
        }
    }
    return 0;
}

static int load_annotations(ann_table *t, const char *path, json_doc *d) {
    memset(t, 0, sizeof *t);
    t->path = path;
    if (!(t->pool = calloc(1, sizeof *t->pool))) return vk_err_set("%s: out of memory", path);
    if (json_doc_read(d, path) != 0) return -1;
    json_text x = d->t;
    int ty = json_type(x, d->root);
    if (ty == JT_OBJECT) {
        size_t imgs = json_get(x, d->root, "images");
        if (json_get(x, d->root, "annotations") != JSON_NONE) return load_coco(t, d);
        if (json_type(x, imgs) == JT_ARRAY && json_first(x, imgs) != JSON_NONE &&
            json_get(x, json_first(x, imgs), "sentences") != JSON_NONE)
            return load_karpathy(t, d);
        return vk_err_set("%s: not a captions file: expected COCO {\"annotations\": [...]}, Karpathy {\"images\": "
                          "[{\"sentences\": ...}]}, or a list of {\"image_id\", \"caption\"} records",
                          path);
    }
    if (ty == JT_ARRAY) return load_records(t, d);
    return vk_err_set("%s: not a captions file: the top level is neither an object nor an array", path);
}

void caption_set_free(caption_set *set) {
    for (size_t i = 0; i < set->n; i++) {
        if (!set->strings) {
            free(set->items[i].cand);
            for (int k = 0; k < set->items[i].n_refs; k++) free(set->items[i].refs[k]);
        }
        free(set->items[i].refs);
    }
    strings_free(set->strings);
    free(set->items);
    free(set->ann_path);
    free(set->res_path);
    memset(set, 0, sizeof *set);
}

/* Move the references of t (and the candidates, when cand is set) into set. */
static int build_items(caption_set *set, ann_table *t, int with_results) {
    size_t n = 0;
    for (size_t i = 0; i < arrlenu(t->images); i++)
        if (!with_results || t->images[i].has_res) n++;
    set->items = calloc(n ? n : 1, sizeof *set->items);
    if (!set->items) return vk_err_set("%s: out of memory", t->path);
    for (size_t i = 0; i < arrlenu(t->images); i++) {
        image_rec *im = &t->images[i];
        if (with_results && !im->has_res) {
            if (set->n_unscored++ == 0) set->first_unscored = im->id;
            continue;
        }
        caption_item *it = &set->items[set->n++];
        it->image_id = im->id;
        it->n_refs = (int)arrlen(im->refs);
        it->refs = malloc((it->n_refs ? (size_t)it->n_refs : 1) * sizeof *it->refs);
        if (!it->refs) return vk_err_set("%s: out of memory", t->path);
        it->cand = with_results ? im->cand : NULL;
        im->cand = NULL;
        for (int k = 0; k < it->n_refs; k++) {
            it->refs[k] = im->refs[k];
            im->refs[k] = NULL;
        }
    }
    return 0;
}

int caption_refs_load(caption_set *set, const char *ann_path) {
    memset(set, 0, sizeof *set);
    ann_table t;
    json_doc root = {0};
    int rc = load_annotations(&t, ann_path, &root);
    if (rc == 0) { /* the set holds the captions' pool (first: caption_set_free then knows) */
        set->strings = t.pool;
        t.pool = NULL;
        rc = build_items(set, &t, 0);
    }
    if (rc == 0 && !(set->ann_path = strdup(ann_path))) rc = vk_err_set("%s: out of memory", ann_path);
    json_doc_free(&root);
    ann_table_free(&t);
    if (rc != 0) caption_set_free(set);
    return rc;
}

/* The results file as (image_id, caption) records, read beside the annotations (util/pair_run.h);
 * matched to them afterwards. Stops at the first record it cannot read (failed, rec). */
typedef struct {
    const char *path;
    long long *id;
    char **cap; /* in pool */
    text_pool *pool; /* NULL once moved into the set */
    size_t n;
    int failed;
    size_t rec;  /* the record that failed (SIZE_MAX: the file itself) */
    char *msg;
} result_list;

static int read_results(void *p) {
    result_list *r = p;
    json_doc res = {0};
    int rc = json_doc_read(&res, r->path);
    if (rc == 0 && json_type(res.t, res.root) != JT_ARRAY)
        rc = vk_err_set("%s: results must be a JSON array of {\"image_id\": int, \"caption\": str}", r->path);
    size_t n = rc == 0 ? json_count(res.t, res.root) : 0;
    if (rc == 0 && (!(r->id = malloc((n ? n : 1) * sizeof *r->id)) || !(r->cap = malloc((n ? n : 1) * sizeof *r->cap)) ||
                    !(r->pool = calloc(1, sizeof *r->pool))))
        rc = vk_err_set("%s: out of memory", r->path);
    r->rec = SIZE_MAX;
    static const char *const keys[2] = {"image_id", "caption"};
    size_t rec = 0;
    for (size_t v = rc == 0 ? json_first(res.t, res.root) : JSON_NONE; v != JSON_NONE; v = json_next(res.t, v), rec++) {
        size_t f[2];
        if (json_type(res.t, v) != JT_OBJECT) {
            rc = vk_err_set("%s: record %zu is not an object", r->path, rec);
            r->rec = rec;
            break;
        }
        json_get_many(res.t, v, keys, f, 2);
        if (json_input_id_value(&res, f[0], "image_id", rec, &r->id[r->n]) != 0 ||
            json_input_text_pooled(&res, f[1], "caption", rec, r->pool, &r->cap[r->n]) != 0) {
            rc = -1;
            r->rec = rec;
            break;
        }
        r->n++;
    }
    if (rc != 0) {
        r->failed = 1;
        r->msg = strdup(vk_err_msg());
    }
    json_doc_free(&res);
    return 0;
}

typedef struct {
    ann_table *t;
    const char *path;
    int rc;
    char *msg;
} ann_load;

static int load_annotations_job(void *p) {
    ann_load *a = p;
    json_doc root = {0};
    a->rc = load_annotations(a->t, a->path, &root);
    json_doc_free(&root); /* the references are copied out */
    if (a->rc == 0 && arrlenu(a->t->images) == 0) a->rc = vk_err_set("%s: no images with captions", a->path);
    if (a->rc != 0) a->msg = strdup(vk_err_msg());
    return 0;
}

int caption_set_load(caption_set *set, const char *ann_path, const char *res_path) {
    memset(set, 0, sizeof *set);
    ann_table t;
    ann_load al = {&t, ann_path, 0, NULL};
    result_list res = {res_path, NULL, NULL, NULL, 0, 0, 0, NULL};
    pair_run(load_annotations_job, &al, read_results, &res);
    int rc = 0;
    if (al.rc != 0) rc = vk_err_set("%s", al.msg ? al.msg : "out of memory");
    if (rc == 0 && res.failed && res.rec == SIZE_MAX) rc = vk_err_set("%s", res.msg ? res.msg : "out of memory");
    /* the checks against the annotations, in record order; then a record that could not be read */
    size_t rec = 0;
    for (; rc == 0 && rec < res.n; rec++) {
        long long id = res.id[rec];
        size_t at = id_map_get(&t.index, id);
        if (at == ID_MAP_NONE) {
            rc = vk_err_set("%s: record %zu: image_id %lld is not in the annotations %s (the official loadRes "
                            "rejects such results)",
                            res_path, rec, id, ann_path);
            break;
        }
        image_rec *im = &t.images[at];
        if (im->has_res) {
            rc = vk_err_set("%s: record %zu: a second result for image_id %lld (first in record %zu); one caption per "
                            "image is scored",
                            res_path, rec, id, im->res_rec);
            break;
        }
        if (arrlen(im->refs) == 0) {
            rc = vk_err_set("%s: image_id %lld has a result but no reference captions in %s", res_path, id, ann_path);
            break;
        }
        im->has_res = 1;
        im->res_rec = rec;
        im->cand = res.cap[rec];
    }
    if (rc == 0 && res.failed) rc = vk_err_set("%s", res.msg ? res.msg : "out of memory");
    if (rc == 0 && res.n == 0) rc = vk_err_set("%s: no results", res_path);
    if (rc == 0) { /* the set holds every caption's pool (first: caption_set_free then knows) */
        text_pool_join(t.pool, res.pool);
        set->strings = t.pool;
        t.pool = NULL;
        rc = build_items(set, &t, 1);
    }
    if (rc == 0 && (!(set->ann_path = strdup(ann_path)) || !(set->res_path = strdup(res_path))))
        rc = vk_err_set("out of memory");
    strings_free(res.pool);
    free(res.id);
    free(res.cap);
    free(res.msg);
    free(al.msg);
    ann_table_free(&t);
    if (rc != 0) caption_set_free(set);
    return rc;
}

int caption_set_tokenize(caption_set *set) {
    size_t n_refs = 0;
    for (size_t i = 0; i < set->n; i++) n_refs += (size_t)set->items[i].n_refs;
    const char **refs = malloc((n_refs ? n_refs : 1) * sizeof *refs);
    const char **cands = malloc((set->n ? set->n : 1) * sizeof *cands);
    char **ref_out = malloc((n_refs ? n_refs : 1) * sizeof *ref_out);
    char **cand_out = malloc((set->n ? set->n : 1) * sizeof *cand_out);
    int rc = 0;
    if (!refs || !cands || !ref_out || !cand_out) {
        rc = vk_err_set("tokenizer: out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < set->n; i++) {
        for (int r = 0; r < set->items[i].n_refs; r++) refs[k++] = set->items[i].refs[r];
        cands[i] = set->items[i].cand ? set->items[i].cand : "";
    }
    /* every tokenised caption goes into one pool (a malloc and a free each cost more than the
     * copy) */
    text_pool *pool = calloc(1, sizeof *pool);
    if (!pool) {
        rc = vk_err_set("tokenizer: out of memory");
        goto done;
    }
    /* Two runs, like COCOEvalCap.evaluate(): all references, then all candidates. */
    if (ptb_tokenize_lines_pooled(refs, n_refs, ref_out, pool) != 0) {
        strings_free(pool);
        rc = vk_err_prefix("%s", set->ann_path ? set->ann_path : "references");
        goto done;
    }
    int have_cands = set->n > 0 && set->items[0].cand != NULL;
    if (have_cands && ptb_tokenize_lines_pooled(cands, set->n, cand_out, pool) != 0) {
        strings_free(pool);
        rc = vk_err_prefix("%s", set->res_path ? set->res_path : "results");
        goto done;
    }
    k = 0;
    for (size_t i = 0; i < set->n; i++) {
        for (int r = 0; r < set->items[i].n_refs; r++) {
            if (!set->strings) free(set->items[i].refs[r]);
            set->items[i].refs[r] = ref_out[k++];
        }
        if (have_cands) {
            if (!set->strings) free(set->items[i].cand);
            set->items[i].cand = cand_out[i];
        }
    }
    strings_free(set->strings); /* a second tokenisation: the first one's strings */
    set->strings = pool;
done:
    free(refs);
    free(cands);
    free(ref_out);
    free(cand_out);
    return rc;
}
