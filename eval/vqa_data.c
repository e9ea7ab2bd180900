/* vqa_data.c — read VQA v2 questions, annotations and results with the checks of the official
 * vqa.py (VQA.__init__ / loadRes): the results must be a JSON array and cover exactly the
 * annotated question ids. A question answered twice keeps its last answer (loadRes indexes
 * results by question id), reported in n_duplicate_results. */
#include "eval/eval.h"
#include "eval/json_input.h"
#include "util/ds.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    long long key;
    size_t value;
} qid_entry;

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

static char *dup_text(const char *path, const cJSON *v, const char *what, size_t rec) {
    const char *s;
    if (json_input_text(path, v, what, rec, &s) != 0) return NULL;
    char *d = strdup(s);
    if (!d) vk_err_set("%s: out of memory", path);
    return d;
}

int vqa_set_load(vqa_set *set, const char *questions_path, const char *ann_path, const char *res_path) {
    memset(set, 0, sizeof *set);
    cJSON *qs = NULL, *ann = NULL, *res = NULL;
    qid_entry *index = NULL;
    int rc = -1;
    /* The questions file is required by the official API (and checked for its shape), although
     * the accuracy only uses the annotations. */
    if (!(qs = json_input_read(questions_path))) goto done;
    const cJSON *qlist = cJSON_GetObjectItemCaseSensitive(qs, "questions");
    if (!cJSON_IsArray(qlist)) {
        vk_err_set("%s: not a VQA questions file (no \"questions\" array)", questions_path);
        goto done;
    }
    size_t rec = 0;
    for (const cJSON *q = qlist->child; q; q = q->next, rec++) {
        long long id;
        if (!cJSON_IsObject(q)) {
            vk_err_set("%s: questions[%zu] is not an object", questions_path, rec);
            goto done;
        }
        if (json_input_id(questions_path, q, "question_id", rec, &id) != 0) goto done;
    }
    if (!(ann = json_input_read(ann_path))) goto done;
    const cJSON *alist = cJSON_GetObjectItemCaseSensitive(ann, "annotations");
    if (!cJSON_IsArray(alist)) {
        vk_err_set("%s: not a VQA annotations file (no \"annotations\" array)", ann_path);
        goto done;
    }
    size_t n = (size_t)cJSON_GetArraySize(alist);
    if (n == 0) {
        vk_err_set("%s: no annotations", ann_path);
        goto done;
    }
    set->items = calloc(n, sizeof *set->items);
    if (!set->items) {
        vk_err_set("%s: out of memory", ann_path);
        goto done;
    }
    rec = 0;
    for (const cJSON *a = alist->child; a; a = a->next, rec++) {
        if (!cJSON_IsObject(a)) {
            vk_err_set("%s: annotations[%zu] is not an object", ann_path, rec);
            goto done;
        }
        vqa_item *it = &set->items[set->n];
        if (json_input_id(ann_path, a, "question_id", rec, &it->question_id) != 0) goto done;
        if (hmgeti(index, it->question_id) >= 0) {
            vk_err_set("%s: annotations[%zu]: question_id %lld appears twice", ann_path, rec, it->question_id);
            goto done;
        }
        set->n++; /* owns its strings from here on, for vqa_set_free */
        if (!(it->question_type = dup_text(ann_path, cJSON_GetObjectItemCaseSensitive(a, "question_type"), "question_type", rec)) ||
            !(it->answer_type = dup_text(ann_path, cJSON_GetObjectItemCaseSensitive(a, "answer_type"), "answer_type", rec)))
            goto done;
        const cJSON *answers = cJSON_GetObjectItemCaseSensitive(a, "answers");
        int na = cJSON_IsArray(answers) ? cJSON_GetArraySize(answers) : 0;
        if (na < 1) {
            vk_err_set("%s: annotations[%zu]: \"answers\" must be a non-empty array of {\"answer\": str}", ann_path, rec);
            goto done;
        }
        it->gt = calloc((size_t)na, sizeof *it->gt);
        if (!it->gt) {
            vk_err_set("%s: out of memory", ann_path);
            goto done;
        }
        for (const cJSON *g = answers->child; g; g = g->next) {
            if (!cJSON_IsObject(g)) {
                vk_err_set("%s: annotations[%zu]: an answer is not an object", ann_path, rec);
                goto done;
            }
            if (!(it->gt[it->n_gt] = dup_text(ann_path, cJSON_GetObjectItemCaseSensitive(g, "answer"), "answer", rec)))
                goto done;
            it->n_gt++;
        }
        hmput(index, it->question_id, set->n - 1);
    }
    if (!(res = json_input_read(res_path))) goto done;
    if (!cJSON_IsArray(res)) {
        vk_err_set("%s: results must be a JSON array of {\"question_id\": int, \"answer\": str}", res_path);
        goto done;
    }
    rec = 0;
    for (const cJSON *r = res->child; r; r = r->next, rec++) {
        long long id;
        if (!cJSON_IsObject(r)) {
            vk_err_set("%s: record %zu is not an object", res_path, rec);
            goto done;
        }
        if (json_input_id(res_path, r, "question_id", rec, &id) != 0) goto done;
        ptrdiff_t at = hmgeti(index, id);
        if (at < 0) {
            vk_err_set("%s: record %zu: question_id %lld is not in the annotations %s (the official loadRes rejects "
                       "such results)",
                       res_path, rec, id, ann_path);
            goto done;
        }
        vqa_item *it = &set->items[index[at].value];
        char *ans = dup_text(res_path, cJSON_GetObjectItemCaseSensitive(r, "answer"), "answer", rec);
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
    hmfree(index);
    cJSON_Delete(qs);
    cJSON_Delete(ann);
    cJSON_Delete(res);
    if (rc != 0) vqa_set_free(set);
    return rc;
}
