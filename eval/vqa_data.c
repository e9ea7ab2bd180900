/* vqa_data.c — read VQA v2 questions, annotations and results with the checks of the official
 * vqa.py (VQA.__init__ / loadRes): the results must be a JSON array and cover exactly the
 * annotated question ids. A question answered twice keeps its last answer (loadRes indexes
 * results by question id), reported in n_duplicate_results. */
#include "eval/eval.h"
#include "eval/id_map.h"
#include "eval/json_input.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

void vqa_set_free(vqa_set *set) {
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

static char *dup_text(const json_doc *d, size_t v, const char *what, size_t rec) {
    char *s;
    return json_input_text(d, v, what, rec, &s) == 0 ? s : NULL;
}

int vqa_set_load(vqa_set *set, const char *questions_path, const char *ann_path, const char *res_path) {
    memset(set, 0, sizeof *set);
    json_doc qs = {0}, ann = {0}, res = {0};
    id_map index = {0};
    int rc = -1;
    /* The questions file is required by the official API (and checked for its shape), although
     * the accuracy only uses the annotations. */
    if (json_doc_read(&qs, questions_path) != 0) goto done;
    size_t qlist = json_get(qs.t, qs.root, "questions");
    if (json_type(qs.t, qlist) != JT_ARRAY) {
        vk_err_set("%s: not a VQA questions file (no \"questions\" array)", questions_path);
        goto done;
    }
    size_t rec = 0;
    for (size_t q = json_first(qs.t, qlist); q != JSON_NONE; q = json_next(qs.t, q), rec++) {
        long long id;
        if (json_type(qs.t, q) != JT_OBJECT) {
            vk_err_set("%s: questions[%zu] is not an object", questions_path, rec);
            goto done;
        }
        if (json_input_id(&qs, q, "question_id", rec, &id) != 0) goto done;
    }
    json_doc_free(&qs);
    if (json_doc_read(&ann, ann_path) != 0) goto done;
    json_text x = ann.t;
    size_t alist = json_get(x, ann.root, "annotations");
    if (json_type(x, alist) != JT_ARRAY) {
        vk_err_set("%s: not a VQA annotations file (no \"annotations\" array)", ann_path);
        goto done;
    }
    if (json_first(x, alist) == JSON_NONE) {
        vk_err_set("%s: no annotations", ann_path);
        goto done;
    }
    size_t cap = 0; /* items grow as they come: counting them first would be one more pass */
    rec = 0;
    static const char *const akeys[4] = {"question_id", "question_type", "answer_type", "answers"};
    for (size_t a = json_first(x, alist); a != JSON_NONE; a = json_next(x, a), rec++) {
        size_t f[4];
        if (json_type(x, a) != JT_OBJECT) {
            vk_err_set("%s: annotations[%zu] is not an object", ann_path, rec);
            goto done;
        }
        if (set->n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            vqa_item *grown = realloc(set->items, ncap * sizeof *grown);
            if (!grown) {
                vk_err_set("%s: out of memory", ann_path);
                goto done;
            }
            memset(grown + cap, 0, (ncap - cap) * sizeof *grown);
            set->items = grown;
            cap = ncap;
        }
        vqa_item *it = &set->items[set->n];
        json_get_many(x, a, akeys, f, 4);
        if (json_input_id_value(&ann, f[0], "question_id", rec, &it->question_id) != 0) goto done;
        if (id_map_get(&index, it->question_id) != ID_MAP_NONE) {
            vk_err_set("%s: annotations[%zu]: question_id %lld appears twice", ann_path, rec, it->question_id);
            goto done;
        }
        set->n++; /* owns its strings from here on, for vqa_set_free */
        if (!(it->question_type = dup_text(&ann, f[1], "question_type", rec)) ||
            !(it->answer_type = dup_text(&ann, f[2], "answer_type", rec)))
            goto done;
        size_t answers = f[3];
        int na = json_type(x, answers) == JT_ARRAY ? (int)json_count(x, answers) : 0;
        if (na < 1) {
            vk_err_set("%s: annotations[%zu]: \"answers\" must be a non-empty array of {\"answer\": str}", ann_path, rec);
            goto done;
        }
        it->gt = calloc((size_t)na, sizeof *it->gt);
        if (!it->gt) {
            vk_err_set("%s: out of memory", ann_path);
            goto done;
        }
        for (size_t g = json_first(x, answers); g != JSON_NONE; g = json_next(x, g)) {
            if (json_type(x, g) != JT_OBJECT) {
                vk_err_set("%s: annotations[%zu]: an answer is not an object", ann_path, rec);
                goto done;
            }
            if (!(it->gt[it->n_gt] = dup_text(&ann, json_get(x, g, "answer"), "answer", rec)))
                goto done;
            it->n_gt++;
        }
        if (id_map_put(&index, it->question_id, set->n - 1) != 0) {
            vk_err_set("%s: out of memory", ann_path);
            goto done;
        }
    }
    json_doc_free(&ann);
    if (json_doc_read(&res, res_path) != 0) goto done;
    if (json_type(res.t, res.root) != JT_ARRAY) {
        vk_err_set("%s: results must be a JSON array of {\"question_id\": int, \"answer\": str}", res_path);
        goto done;
    }
    rec = 0;
    static const char *const rkeys[2] = {"question_id", "answer"};
    for (size_t r = json_first(res.t, res.root); r != JSON_NONE; r = json_next(res.t, r), rec++) {
        long long id;
        size_t f[2];
        if (json_type(res.t, r) != JT_OBJECT) {
            vk_err_set("%s: record %zu is not an object", res_path, rec);
            goto done;
        }
        json_get_many(res.t, r, rkeys, f, 2);
        if (json_input_id_value(&res, f[0], "question_id", rec, &id) != 0) goto done;
        size_t at = id_map_get(&index, id);
        if (at == ID_MAP_NONE) {
            vk_err_set("%s: record %zu: question_id %lld is not in the annotations %s (the official loadRes rejects "
                       "such results)",
                       res_path, rec, id, ann_path);
            goto done;
        }
        vqa_item *it = &set->items[at];
        char *ans = dup_text(&res, f[1], "answer", rec);
        if (!ans) goto done;
        if (it->answer) {
            if (set->n_duplicate_results++ == 0) set->first_duplicate = id;
            free(it->answer);
        }
        it->answer = ans;
    }
    for (size_t i = 0; i < set->n; i++) {
        if (!set->items[i].answer) {
            size_t missing = 0;
            for (size_t k = i; k < set->n; k++) missing += set->items[k].answer == NULL;
            vk_err_set("%s: no answer for question_id %lld (%zu annotated questions have none); the official "
                       "evaluation needs one answer per annotated question",
                       res_path, set->items[i].question_id, missing);
            goto done;
        }
    }
    rc = 0;
done:
    id_map_free(&index);
    json_doc_free(&qs);
    json_doc_free(&ann);
    json_doc_free(&res);
    if (rc != 0) vqa_set_free(set);
    return rc;
}
