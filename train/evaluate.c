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

/* Generated captions: record index + text, in record order. */
typedef struct {
    int64_t *rec;
    char **cap;
    int n;
} generated;

static void generated_free(generated *g) {
    for (int i = 0; i < g->n; i++) free(g->cap[i]);
    free(g->rec), free(g->cap);
    memset(g, 0, sizeof *g);
}

/* Caption records [0, total) that belong to this rank (all with one). */
static int generate(const blip_captioner *c, const caption_dataset *ds, const caption_eval_options *o, int64_t total,
                    int rank, int world, generated *g, int *n_failed) {
    int B = o->batch_size > 0 ? o->batch_size : 8;
    size_t per = image_preproc_numel(&c->preproc);
    float *px = malloc(sizeof(float) * per * (size_t)B);
    int64_t *rec = malloc(sizeof(int64_t) * (size_t)B);
    g->rec = calloc((size_t)total + 1, sizeof *g->rec);
    g->cap = calloc((size_t)total + 1, sizeof *g->cap);
    int rc = px && rec && g->rec && g->cap ? 0 : vk_err_set("out of memory");
    for (int64_t start = rank; !rc && start < total;) {
        int k = 0;
        for (; start < total && k < B; start += world) {
            if (image_preprocess_file(&c->preproc, ds->records[start].image, px + per * (size_t)k)) {
                (*n_failed)++;
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
        for (int i = 0; i < k; i++, g->n++) {
            g->rec[g->n] = rec[i];
            g->cap[g->n] = strdup(r.generated[i]);
            if (!g->cap[g->n]) rc = vk_err_set("out of memory");
        }
        blip_caption_result_free(&r);
    }
    free(rec), free(px);
    return rc;
}

/* Several ranks: every rank's captions of records [0, total) to rank 0, which ends with all of
 * them in record order (and the failed images of all ranks); the others end with none. */
static int gather(const caption_eval_options *o, int64_t total, generated *g, int *n_failed) {
    double failed[1] = {*n_failed};
    char **by_record = NULL;
    int rc = train_dist_sum(o->dist, failed, 1) ? -1
             : train_dist_gather_texts(o->dist, o->dist_key ? o->dist_key : "eval", g->rec, g->cap, g->n, total, &by_record);
    *n_failed = (int)failed[0];
    generated_free(g);
    if (rc || !by_record) return rc;
    g->rec = calloc((size_t)total + 1, sizeof *g->rec);
    g->cap = calloc((size_t)total + 1, sizeof *g->cap);
    if (!g->rec || !g->cap) rc = vk_err_set("out of memory");
    for (int64_t r = 0; r < total; r++) {
        if (!by_record[r]) continue;
        if (rc) {
            free(by_record[r]);
            continue;
        }
        g->rec[g->n] = r;
        g->cap[g->n++] = by_record[r];
    }
    free(by_record);
    return rc;
}

int caption_evaluate(const blip_captioner *c, const caption_dataset *ds, const caption_eval_options *o,
                     caption_eval_scores *out) {
    memset(out, 0, sizeof *out);
    int64_t total = ds->n_records;
    if (o->max_samples > 0 && o->max_samples < total) total = o->max_samples;
    int rank = o->dist && o->dist->pg ? o->dist->rank : 0, world = o->dist && o->dist->pg ? o->dist->world : 1;
    generated g = {0};
    int rc = generate(c, ds, o, total, rank, world, &g, &out->n_failed);
    if (!rc && world > 1) {
        rc = gather(o, total, &g, &out->n_failed);
        if (!rc && rank != 0) {
            generated_free(&g);
            return 0;
        }
    }
    int n = g.n;
    caption_item *items = calloc((size_t)n + 1, sizeof *items);
    long long *ids = calloc((size_t)n + 1, sizeof *ids);
    if (!rc && (!items || !ids)) rc = vk_err_set("out of memory");
    for (int i = 0; !rc && i < n; i++) {
        const caption_record *cr = &ds->records[g.rec[i]];
        ids[i] = cr->image_id;
        items[i].image_id = cr->image_id;
        items[i].cand = strdup(g.cap[i]);
        items[i].n_refs = cr->n_captions;
        items[i].refs = calloc((size_t)cr->n_captions, sizeof(char *));
        for (int j = 0; items[i].refs && j < cr->n_captions; j++) items[i].refs[j] = strdup(cr->captions[j]);
    }
    if (!rc && !n) rc = vk_err_set("%s: no image could be captioned", ds->path);
    if (!rc && o->results_path) rc = write_results(o->results_path, ids, g.cap, n);
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
    caption_set_free(&set);
    generated_free(&g);
    free(ids);
    return rc;
}
