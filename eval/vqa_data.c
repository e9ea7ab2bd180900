/* vqa_data.c — read VQA v2 questions, annotations and results with the checks of the official
 * vqa.py (VQA.__init__ / loadRes): the results must be a JSON array and cover exactly the
 * annotated question ids. A question answered twice keeps its last answer (loadRes indexes
 * results by question id), reported in n_duplicate_results.
 *
 * Two threads (util/pair_run.h): the questions and results files are read while the annotation
 * file is checked, then the annotations are read in two halves. Each part keeps its first error;
 * the one reported is the error a reading in file and record order meets first. */
#include "eval/eval.h"
#include "eval/id_map.h"
#include "eval/json_input.h"
#include "eval/text_pool.h"
#include "util/error.h"
#include "util/pair_run.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void vqa_set_free(vqa_set *set) {
    if (set->pool) { /* every string and gt array is in it */
        text_pool_free(set->pool);
        free(set->pool);
        free(set->items);
        memset(set, 0, sizeof *set);
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        vqa_item *q = &set->items[i];
        free(q->question_type);
        free(q->answer_type);
        for (int k = 0; k < q->n_gt; k++) free(q->gt[k]);
        free(q->gt);
        free(q->answer);
    }
    free(set->items);
    memset(set, 0, sizeof *set);
}

static char *dup_text(const json_doc *d, size_t v, const char *what, size_t rec, text_pool *pool) {
    char *s;
    return json_input_text_pooled(d, v, what, rec, pool, &s) == 0 ? s : NULL;
}

/* A part's first error: the record it is at (SIZE_MAX: at the file level, before any record)
 * and its message. */
typedef struct {
    int failed;
    size_t rec;
    char *msg;
    int id_read; /* the record's question_id was read before the problem */
} part_error;

static void part_fail(part_error *e, size_t rec) {
    e->failed = 1;
    e->rec = rec;
    e->msg = strdup(vk_err_msg());
}

/* Report e on this thread; returns -1. */
static int part_report(const part_error *e) { return vk_err_set("%s", e->msg ? e->msg : "out of memory"); }

/* ------------------------------------------------------------------ questions and results */

typedef struct {
    const char *questions_path, *res_path;
    part_error q_err, r_err; /* r_err.rec: the record the results stopped at */
    long long *res_id;       /* results up to the first bad record, in file order */
    char **res_answer;       /* in pool */
    size_t n_res;
    text_pool pool;
} side_files;

/* The questions file is required by the official API (and checked for its shape), although
 * the accuracy only uses the annotations. */
static void read_questions(side_files *f) {
    json_doc qs = {0};
    if (json_doc_read(&qs, f->questions_path) != 0) {
        part_fail(&f->q_err, SIZE_MAX);
        return;
    }
    size_t qlist = json_get(qs.t, qs.root, "questions");
    if (json_type(qs.t, qlist) != JT_ARRAY) {
        vk_err_set("%s: not a VQA questions file (no \"questions\" array)", f->questions_path);
        part_fail(&f->q_err, SIZE_MAX);
    }
    size_t rec = 0;
    for (size_t q = f->q_err.failed ? JSON_NONE : json_first(qs.t, qlist); q != JSON_NONE; q = json_next(qs.t, q), rec++) {
        long long id;
        if (json_type(qs.t, q) != JT_OBJECT) {
            vk_err_set("%s: questions[%zu] is not an object", f->questions_path, rec);
            part_fail(&f->q_err, rec);
            break;
        }
        if (json_input_id(&qs, q, "question_id", rec, &id) != 0) {
            part_fail(&f->q_err, rec);
            break;
        }
    }
    json_doc_free(&qs);
}

/* The results as (question_id, answer) pairs; matched to the annotations afterwards. */
static void read_results(side_files *f) {
    json_doc res = {0};
    if (json_doc_read(&res, f->res_path) != 0) {
        part_fail(&f->r_err, SIZE_MAX);
        return;
    }
    if (json_type(res.t, res.root) != JT_ARRAY) {
        vk_err_set("%s: results must be a JSON array of {\"question_id\": int, \"answer\": str}", f->res_path);
        part_fail(&f->r_err, SIZE_MAX);
        json_doc_free(&res);
        return;
    }
    size_t n = json_count(res.t, res.root);
    f->res_id = malloc((n ? n : 1) * sizeof *f->res_id);
    f->res_answer = malloc((n ? n : 1) * sizeof *f->res_answer);
    if (!f->res_id || !f->res_answer) {
        vk_err_set("%s: out of memory", f->res_path);
        part_fail(&f->r_err, SIZE_MAX);
        json_doc_free(&res);
        return;
    }
    size_t rec = 0;
    static const char *const rkeys[2] = {"question_id", "answer"};
    for (size_t r = json_first(res.t, res.root); r != JSON_NONE; r = json_next(res.t, r), rec++) {
        size_t fld[2];
        if (json_type(res.t, r) != JT_OBJECT) {
            vk_err_set("%s: record %zu is not an object", f->res_path, rec);
            part_fail(&f->r_err, rec);
            break;
        }
        json_get_many(res.t, r, rkeys, fld, 2);
        long long id;
        if (json_input_id_value(&res, fld[0], "question_id", rec, &id) != 0) {
            part_fail(&f->r_err, rec);
            break;
        }
        /* an unknown id is reported before a later bad answer: keep the id, fail after it */
        f->res_id[f->n_res] = id;
        if (!(f->res_answer[f->n_res] = dup_text(&res, fld[1], "answer", rec, &f->pool))) {
            part_fail(&f->r_err, rec);
            f->r_err.rec = rec; /* record rec's id is known (n_res counts it below) */
            f->n_res++;
            break;
        }
        f->n_res++;
    }
    json_doc_free(&res);
}

static int side_job(void *p) {
    side_files *f = p;
    read_questions(f);
    if (!f->q_err.failed) read_results(f);
    return 0;
}

static void side_free(side_files *f) {
    text_pool_free(&f->pool);
    free(f->res_id);
    free(f->res_answer);
    free(f->q_err.msg);
    free(f->r_err.msg);
}

/* ------------------------------------------------------------------ annotations */

typedef struct {
    const json_doc *ann;
    json_text x; /* its own cursor over the annotation file's index */
    vqa_item *items;
    size_t first, end; /* records [first, end) */
    size_t at;         /* offset of record first */
    part_error err;
    text_pool pool;    /* the part's strings */
} ann_part;

/* The texts of an annotation whose members are f (question_type, answer_type, answers). */
static int read_annotation_texts(const json_doc *ann, json_text x, const size_t *f, size_t rec, vqa_item *it,
                                 text_pool *pool) {
    const char *path = ann->path;
    if (!(it->question_type = dup_text(ann, f[1], "question_type", rec, pool)) ||
        !(it->answer_type = dup_text(ann, f[2], "answer_type", rec, pool)))
        return -1;
    size_t answers = f[3];
    int na = json_type(x, answers) == JT_ARRAY ? (int)json_count(x, answers) : 0;
    if (na < 1)
        return vk_err_set("%s: annotations[%zu]: \"answers\" must be a non-empty array of {\"answer\": str}", path, rec);
    if (!(it->gt = text_pool_alloc(pool, (size_t)na * sizeof *it->gt))) return vk_err_set("%s: out of memory", path);
    for (size_t g = json_first(x, answers); g != JSON_NONE; g = json_next(x, g)) {
        if (json_type(x, g) != JT_OBJECT) return vk_err_set("%s: annotations[%zu]: an answer is not an object", path, rec);
        if (!(it->gt[it->n_gt] = dup_text(ann, json_get(x, g, "answer"), "answer", rec, pool))) return -1;
        it->n_gt++;
    }
    return 0;
}

/* Record rec at offset a into *it (which owns what it got, even on failure). Returns 0, -1
 * on a problem before its question_id was read, -2 after (a repeated id is reported first). */
static int read_annotation(const json_doc *ann, json_text x, size_t a, size_t rec, vqa_item *it, text_pool *pool) {
    static const char *const akeys[4] = {"question_id", "question_type", "answer_type", "answers"};
    const char *path = ann->path;
    if (json_type(x, a) != JT_OBJECT) return vk_err_set("%s: annotations[%zu] is not an object", path, rec);
    size_t f[4];
    json_get_many(x, a, akeys, f, 4);
    if (json_input_id_value(ann, f[0], "question_id", rec, &it->question_id) != 0) return -1;
    return read_annotation_texts(ann, x, f, rec, it, pool) == 0 ? 0 : -2;
}

static int ann_job(void *p) {
    ann_part *part = p;
    size_t a = part->at;
    for (size_t rec = part->first; rec < part->end; rec++, a = json_next(part->x, a)) {
        int rc = read_annotation(part->ann, part->x, a, rec, &part->items[rec], &part->pool);
        if (rc != 0) {
            part_fail(&part->err, rec);
            part->err.id_read = rc == -2;
            break;
        }
    }
    return 0;
}

/* Read every annotation into set->items (two halves at once), then check the ids in record
 * order. Returns 0, or -1 with the error. */
static int read_annotations(vqa_set *set, const json_doc *ann, size_t alist, id_map *index) {
    json_text x = ann->t;
    size_t n = json_count(x, alist);
    set->pool = calloc(1, sizeof *set->pool);
    if (!set->pool || !(set->items = calloc(n, sizeof *set->items))) return vk_err_set("%s: out of memory", ann->path);
    set->n = n; /* every item owns its strings from here on, for vqa_set_free */
    size_t h = n / 2, mid = json_first(x, alist);
    for (size_t k = 0; k < h; k++) mid = json_next(x, mid);
    json_text xb = x;
    xb.ix = json_index_share(x.ix);
    ann_part pa = {ann, x, set->items, 0, h, json_first(x, alist), {0, 0, NULL, 0}, {NULL}};
    ann_part pb = {ann, xb, set->items, h, n, mid, {0, 0, NULL, 0}, {NULL}};
    pair_run(ann_job, &pa, ann_job, &pb);
    json_index_free(xb.ix);
    text_pool_join(set->pool, &pa.pool);
    text_pool_join(set->pool, &pb.pool);
    /* the first problem in record order: a repeated id, or a record that failed to read */
    const ann_part *bad = pa.err.failed ? &pa : pb.err.failed ? &pb : NULL;
    size_t stop = bad ? bad->err.rec + (size_t)bad->err.id_read : n; /* ids read, in record order */
    int rc = 0;
    for (size_t rec = 0; rec < stop && rc == 0; rec++) {
        long long id = set->items[rec].question_id;
        if (id_map_get(index, id) != ID_MAP_NONE)
            rc = vk_err_set("%s: annotations[%zu]: question_id %lld appears twice", ann->path, rec, id);
        else if (id_map_put(index, id, rec) != 0)
            rc = vk_err_set("%s: out of memory", ann->path);
    }
    if (rc == 0 && bad) rc = part_report(&bad->err);
    free(pa.err.msg);
    free(pb.err.msg);
    return rc;
}

typedef struct {
    const char *path;
    json_doc doc;
    size_t alist;
    int failed;
    char *msg;
} ann_file;

/* Read and check the annotation file (the part of the work the other thread cannot share). */
static int ann_file_job(void *p) {
    ann_file *f = p;
    if (json_doc_read(&f->doc, f->path) == 0) {
        json_text x = f->doc.t;
        f->alist = json_get(x, f->doc.root, "annotations");
        if (json_type(x, f->alist) != JT_ARRAY)
            vk_err_set("%s: not a VQA annotations file (no \"annotations\" array)", f->path);
        else if (json_first(x, f->alist) == JSON_NONE)
            vk_err_set("%s: no annotations", f->path);
        else
            return 0;
    }
    f->failed = 1;
    f->msg = strdup(vk_err_msg());
    return 0;
}

/* ------------------------------------------------------------------ the set */

/* Give each annotated question its result, in results order (the last of repeated ones). */
static int match_results(vqa_set *set, side_files *f, const id_map *index, const char *ann_path) {
    for (size_t k = 0; k < f->n_res; k++) {
        size_t at = id_map_get(index, f->res_id[k]);
        if (at == ID_MAP_NONE)
            return vk_err_set("%s: record %zu: question_id %lld is not in the annotations %s (the official loadRes "
                              "rejects such results)",
                              f->res_path, k, f->res_id[k], ann_path);
        if (f->r_err.failed && k == f->r_err.rec) break; /* its answer was the problem */
        vqa_item *it = &set->items[at];
        if (it->answer && set->n_duplicate_results++ == 0) set->first_duplicate = f->res_id[k];
        it->answer = f->res_answer[k]; /* the pool keeps the one replaced */
    }
    if (f->r_err.failed) return part_report(&f->r_err);
    for (size_t i = 0; i < set->n; i++) {
        if (!set->items[i].answer) {
            size_t missing = 0;
            for (size_t k = i; k < set->n; k++) missing += set->items[k].answer == NULL;
            return vk_err_set("%s: no answer for question_id %lld (%zu annotated questions have none); the official "
                              "evaluation needs one answer per annotated question",
                              f->res_path, set->items[i].question_id, missing);
        }
    }
    return 0;
}

int vqa_set_load(vqa_set *set, const char *questions_path, const char *ann_path, const char *res_path) {
    memset(set, 0, sizeof *set);
    side_files side = {questions_path, res_path, {0, 0, NULL, 0}, {0, 0, NULL, 0}, NULL, NULL, 0, {NULL}};
    ann_file ann = {ann_path, {0}, JSON_NONE, 0, NULL};
    id_map index = {0};
    /* the questions and results files beside the annotation file */
    pair_run(ann_file_job, &ann, side_job, &side);
    int rc = 0;
    if (side.q_err.failed)
        rc = part_report(&side.q_err);
    else if (ann.failed)
        rc = vk_err_set("%s", ann.msg ? ann.msg : "out of memory");
    if (rc == 0) rc = read_annotations(set, &ann.doc, ann.alist, &index);
    json_doc_free(&ann.doc);
    if (rc == 0) rc = match_results(set, &side, &index, ann_path);
    if (set->pool) text_pool_join(set->pool, &side.pool); /* the answers now belong to the set */
    id_map_free(&index);
    side_free(&side);
    free(ann.msg);
    if (rc != 0) vqa_set_free(set);
    return rc;
}
