#include "data/vqa_dataset.h"

#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WARNINGS 100

static cJSON *read_json(const char *path) {
    size_t n;
    char *text = vk_read_file(path, &n, 2u << 30);
    if (!text) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    if (!j) vk_err_set("%s: not valid JSON", path);
    return j;
}

static char *folder_of(const char *path) {
    char *d = strdup(path), *slash = d ? strrchr(d, '/') : NULL;
    if (slash) *slash = 0;
    else if (d) strcpy(d, ".");
    return d;
}

/* A bad record: counted and kept as a warning, or the error. */
static int bad(vqa_dataset *d, const vqa_dataset_opts *o, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (o->fail_on_bad) return vk_err_set("%s", msg);
    d->n_bad++;
    if (d->n_warnings < MAX_WARNINGS) d->warnings[d->n_warnings++] = strdup(msg);
    if (o->max_bad >= 0 && d->n_bad > o->max_bad)
        return vk_err_set("%s (and %lld more bad records: more than data.max_bad %lld)", d->warnings[0],
                          (long long)d->n_bad - 1, (long long)o->max_bad);
    return 0;
}

/* Distinct answers and their weights from the human answers. */
static int set_answers(vqa_example *e, char **gt, int n_gt, const char *chosen, vqa_weighting w) {
    e->gt = gt;
    e->n_gt = n_gt;
    e->answers = calloc((size_t)n_gt + 1, sizeof *e->answers);
    e->weights = calloc((size_t)n_gt + 1, sizeof *e->weights);
    int *count = calloc((size_t)n_gt + 1, sizeof *count);
    if (!e->answers || !e->weights || !count) {
        free(count);
        return vk_err_set("out of memory");
    }
    for (int i = 0; i < n_gt; i++) {
        int k = 0;
        while (k < e->n_answers && strcmp(e->answers[k], gt[i])) k++;
        if (k == e->n_answers) e->answers[e->n_answers++] = strdup(gt[i]);
        count[k]++;
    }
    if (w == VQA_WEIGHT_SINGLE) {
        int best = 0;
        for (int k = 1; k < e->n_answers; k++)
            if (count[k] > count[best]) best = k;
        char *one = strdup(chosen ? chosen : e->answers[best]); /* before the answers are freed */
        for (int k = 0; k < e->n_answers; k++) free(e->answers[k]);
        e->answers[0] = one;
        e->weights[0] = 1.0;
        e->n_answers = 1;
    } else {
        for (int k = 0; k < e->n_answers; k++) e->weights[k] = (double)count[k] / n_gt;
    }
    free(count);
    return 0;
}

static char *image_for(const char *root, const char *subtype, long long id) {
    char name[128];
    snprintf(name, sizeof name, "COCO_%s_%012lld.jpg", subtype ? subtype : "train2014", id);
    char *p = vk_path_join(root, name);
    if (p && !vk_file_exists(p)) {
        snprintf(name, sizeof name, "%lld.jpg", id);
        char *q = vk_path_join(root, name);
        if (q && vk_file_exists(q)) {
            free(p);
            return q;
        }
        free(q);
    }
    return p;
}

static int push(vqa_dataset *d, int64_t *cap) {
    if (d->n < *cap) return 0;
    *cap = *cap ? 2 * *cap : 256;
    vqa_example *p = realloc(d->items, sizeof *p * (size_t)*cap);
    if (!p) return vk_err_set("out of memory");
    d->items = p;
    return 0;
}

static int load_v2(vqa_dataset *d, const vqa_dataset_opts *o, const char *root) {
    cJSON *qj = read_json(o->questions_path), *aj = qj ? read_json(o->annotations) : NULL;
    int rc = qj && aj ? 0 : -1;
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(qj, "questions"), *as = cJSON_GetObjectItemCaseSensitive(aj, "annotations");
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(qj, "data_subtype");
    if (!rc && (!cJSON_IsArray(qs) || !cJSON_IsArray(as)))
        rc = vk_err_set("%s / %s: not a VQA v2 questions / annotations pair", o->questions_path, o->annotations);
    int64_t cap = 0;
    int qi = 0;
    const cJSON *q, *qlist = rc ? NULL : qs;
    cJSON_ArrayForEach(q, qlist) {
        const cJSON *qid = cJSON_GetObjectItemCaseSensitive(q, "question_id"), *iid = cJSON_GetObjectItemCaseSensitive(q, "image_id"),
                    *text = cJSON_GetObjectItemCaseSensitive(q, "question");
        int ai = qi; /* annotations usually come in the questions' order */
        const cJSON *a = cJSON_GetArrayItem(as, ai);
        if (cJSON_IsNumber(qid) && (!a || cJSON_GetObjectItemCaseSensitive(a, "question_id")->valuedouble != qid->valuedouble)) {
            a = NULL;
            const cJSON *x;
            cJSON_ArrayForEach(x, as) if (cJSON_GetObjectItemCaseSensitive(x, "question_id")->valuedouble == qid->valuedouble) {
                a = x;
                break;
            }
        }
        const cJSON *answers = a ? cJSON_GetObjectItemCaseSensitive(a, "answers") : NULL;
        if (!cJSON_IsNumber(qid) || !cJSON_IsNumber(iid) || !cJSON_IsString(text) || !cJSON_IsArray(answers) ||
            !cJSON_GetArraySize(answers)) {
            rc = bad(d, o, "%s: questions[%d]: no question_id/image_id/question, or no annotation with answers", o->questions_path, qi);
            qi++;
            continue;
        }
        char *img = image_for(root, cJSON_IsString(sub) ? sub->valuestring : NULL, (long long)iid->valuedouble);
        if (!vk_file_exists(img)) {
            rc = bad(d, o, "%s: questions[%d]: image %s does not exist", o->questions_path, qi, img);
            free(img);
            qi++;
            if (rc) break;
            continue;
        }
        if ((rc = push(d, &cap))) {
            free(img);
            break;
        }
        vqa_example *e = &d->items[d->n++];
        memset(e, 0, sizeof *e);
        e->image = img;
        e->question = strdup(text->valuestring);
        e->question_id = (long long)qid->valuedouble;
        int n_gt = cJSON_GetArraySize(answers), k = 0;
        char **gt = calloc((size_t)n_gt, sizeof *gt);
        const cJSON *an;
        cJSON_ArrayForEach(an, answers) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(an, "answer");
            gt[k++] = strdup(cJSON_IsString(s) ? s->valuestring : "");
        }
        const cJSON *mc = cJSON_GetObjectItemCaseSensitive(a, "multiple_choice_answer");
        rc = set_answers(e, gt, n_gt, cJSON_IsString(mc) ? mc->valuestring : NULL, o->weighting);
        qi++;
        if (rc) break;
    }
    cJSON_Delete(qj);
    cJSON_Delete(aj);
    return rc;
}

static int load_jsonl(vqa_dataset *d, const vqa_dataset_opts *o, const char *root) {
    size_t n;
    char *text = vk_read_file(o->questions_path, &n, 2u << 30);
    if (!text) return -1;
    int64_t cap = 0;
    int line = 0, rc = 0;
    for (char *s = text, *e; s && *s && !rc; s = e ? e + 1 : NULL) {
        e = strchr(s, '\n');
        if (e) *e = 0;
        line++;
        if (!*s || *s == '\r') continue;
        cJSON *j = cJSON_Parse(s);
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(j, "image"), *q = cJSON_GetObjectItemCaseSensitive(j, "question"),
                    *as = cJSON_GetObjectItemCaseSensitive(j, "answers"), *a1 = cJSON_GetObjectItemCaseSensitive(j, "answer"),
                    *qid = cJSON_GetObjectItemCaseSensitive(j, "question_id");
        int n_gt = cJSON_IsArray(as) ? cJSON_GetArraySize(as) : cJSON_IsString(a1) ? 1 : 0;
        if (!cJSON_IsString(im) || !cJSON_IsString(q) || !n_gt) {
            rc = bad(d, o, "%s:%d: needs \"image\", \"question\" and \"answers\" (or \"answer\")", o->questions_path, line);
            cJSON_Delete(j);
            continue;
        }
        char *img = im->valuestring[0] == '/' ? strdup(im->valuestring) : vk_path_join(root, im->valuestring);
        if (!vk_file_exists(img)) {
            rc = bad(d, o, "%s:%d: image %s does not exist", o->questions_path, line, img);
            free(img);
            cJSON_Delete(j);
            continue;
        }
        char **gt = calloc((size_t)n_gt, sizeof *gt);
        int k = 0, ok = 1;
        if (cJSON_IsArray(as)) {
            const cJSON *x;
            cJSON_ArrayForEach(x, as) {
                const cJSON *str = cJSON_IsObject(x) ? cJSON_GetObjectItemCaseSensitive(x, "answer") : x;
                ok &= cJSON_IsString(str) && str->valuestring[0];
                gt[k++] = strdup(cJSON_IsString(str) ? str->valuestring : "");
            }
        } else {
            gt[k++] = strdup(a1->valuestring);
        }
        if (!ok) {
            for (int i = 0; i < k; i++) free(gt[i]);
            free(gt), free(img);
            rc = bad(d, o, "%s:%d: every answer must be a non-empty string", o->questions_path, line);
            cJSON_Delete(j);
            continue;
        }
        if (!(rc = push(d, &cap))) {
            vqa_example *ex = &d->items[d->n++];
            memset(ex, 0, sizeof *ex);
            ex->image = img;
            ex->question = strdup(q->valuestring);
            ex->question_id = cJSON_IsNumber(qid) ? (long long)qid->valuedouble : d->n - 1;
            rc = set_answers(ex, gt, n_gt, NULL, o->weighting);
        }
        cJSON_Delete(j);
    }
    free(text);
    return rc;
}

vqa_dataset *vqa_dataset_load(const vqa_dataset_opts *o) {
    vqa_dataset *d = calloc(1, sizeof *d);
    if (!d || !(d->warnings = calloc(MAX_WARNINGS, sizeof *d->warnings))) {
        free(d);
        vk_err_set("out of memory");
        return NULL;
    }
    char *root = o->image_root ? strdup(o->image_root) : folder_of(o->questions_path);
    int rc = o->annotations ? load_v2(d, o, root) : load_jsonl(d, o, root);
    free(root);
    if (!rc && !d->n) rc = vk_err_set("%s: no usable questions", o->questions_path);
    if (rc) {
        vqa_dataset_free(d);
        return NULL;
    }
    return d;
}

void vqa_dataset_free(vqa_dataset *d) {
    if (!d) return;
    for (int64_t i = 0; i < d->n; i++) {
        vqa_example *e = &d->items[i];
        free(e->image), free(e->question);
        for (int k = 0; k < e->n_answers; k++) free(e->answers[k]);
        for (int k = 0; k < e->n_gt; k++) free(e->gt[k]);
        free(e->answers), free(e->weights), free(e->gt);
    }
    for (int i = 0; i < d->n_warnings; i++) free(d->warnings[i]);
    free(d->warnings);
    free(d->items);
    free(d);
}
