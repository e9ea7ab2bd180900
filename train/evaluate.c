#include "train/evaluate.h"

#include "eval/eval.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static int write_results(const char *path, const long long *ids, char **caps, int n) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "image_id", (double)ids[i]);
        cJSON_AddStringToObject(o, "caption", caps[i]);
        cJSON_AddItemToArray(arr, o);
    }
    char *text = cJSON_Print(arr);
    cJSON_Delete(arr);
    int rc = text ? vk_write_file_atomic(path, text, strlen(text)) : vk_err_set("out of memory");
    free(text);
    return rc;
}

int caption_evaluate(const blip_captioner *c, const caption_dataset *ds, const caption_eval_options *o,
                     caption_eval_scores *out) {
    memset(out, 0, sizeof *out);
    int64_t total = ds->n_records;
    if (o->max_samples > 0 && o->max_samples < total) total = o->max_samples;
    int B = o->batch_size > 0 ? o->batch_size : 8;
    size_t per = image_preproc_numel(&c->preproc);
    float *px = malloc(sizeof(float) * per * (size_t)B);
    int64_t *rec = malloc(sizeof(int64_t) * (size_t)B);
    caption_item *items = calloc((size_t)total + 1, sizeof *items);
    long long *ids = calloc((size_t)total + 1, sizeof *ids);
    char **caps = calloc((size_t)total + 1, sizeof *caps);
    int rc = px && rec && items && ids && caps ? 0 : vk_err_set("out of memory");
    int n = 0;
    for (int64_t start = 0; !rc && start < total;) {
        int k = 0;
        for (; start < total && k < B; start++) {
            if (image_preprocess_file(&c->preproc, ds->records[start].image, px + per * (size_t)k)) {
                out->n_failed++;
                if (o->on_warning) o->on_warning(vk_err_msg());
                continue;
            }
            rec[k++] = start;
        }
        if (!k) continue;
        blip_caption_result r;
        if (blip_captioner_run(c, px, k, o->prompt, &o->gen, &r)) {
            rc = -1;
            break;
        }
        for (int i = 0; i < k; i++, n++) {
            const caption_record *cr = &ds->records[rec[i]];
            caps[n] = strdup(r.generated[i]);
            ids[n] = cr->image_id;
            items[n].image_id = cr->image_id;
            items[n].cand = strdup(r.generated[i]);
            items[n].n_refs = cr->n_captions;
            items[n].refs = calloc((size_t)cr->n_captions, sizeof(char *));
            for (int j = 0; items[n].refs && j < cr->n_captions; j++) items[n].refs[j] = strdup(cr->captions[j]);
        }
        blip_caption_result_free(&r);
    }
    if (!rc && !n) rc = vk_err_set("%s: no image could be captioned", ds->path);
    if (!rc && o->results_path) rc = write_results(o->results_path, ids, caps, n);
    caption_set set = {0};
    set.items = items;
    set.n = (size_t)n;
    if (!rc && caption_set_tokenize(&set)) rc = vk_err_prefix("scoring");
    caption_scores s;
    if (!rc && caption_scores_compute(&set, NULL, CAPTION_METRIC_ALL, 0, &s) == 0) {
        memcpy(out->bleu, s.bleu, sizeof out->bleu);
        out->rouge_l = s.rouge_l;
        out->cider = s.cider;
        out->n_images = n;
        caption_scores_free(&s);
    } else if (!rc) {
        rc = -1;
    }
    /* caption_set_free frees items and their strings */
    set.items = items;
    set.n = (size_t)n;
    items = NULL;
    caption_set_free(&set);
    for (int i = 0; i < n; i++) free(caps[i]);
    free(caps), free(ids), free(items), free(rec), free(px);
    return rc;
}
