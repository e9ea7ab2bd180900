/* cider.c — CIDEr-D exactly as pycocoevalcap's Cider / CiderScorer computes it (n = 4,
 * sigma = 6): tf-idf vectors per n-gram order with df counted over the evaluated images'
 * reference sets, the "D" clipping min(w_c, w_r) * w_r, the Gaussian penalty on the difference
 * of bigram counts, references averaged, x10. Optionally a precomputed df table replaces the
 * df and log N (self-critical training's "corpus" mode). */
#include "eval/ngrams_internal.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <math.h>
#include "util/ds.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    double value;
} df_entry;

struct cider_df {
    df_entry *map; /* "w1 w2 ..." -> document frequency; stb_ds string map with its own arena */
    double n_images;
    double ref_len; /* log(n_images) */
};

/* "w1 w2 w3" for n-gram id, in *buf (stb_ds char array, NUL-terminated). */
static const char *ngram_text(const caption_ngrams *g, uint32_t id, char **buf) {
    arrsetlen(*buf, 0);
    for (int k = 0; k < g->order[id]; k++) {
        if (k) arrput(*buf, ' ');
        const char *w = g->vocab[g->keys[id].w[k]];
        size_t l = strlen(w);
        memcpy(arraddnptr(*buf, l), w, l);
    }
    arrput(*buf, 0);
    return *buf;
}

/* Document frequency of every n-gram id over the items' reference sets (an image counts once). */
static double *df_over_refs(const caption_ngrams *g, size_t *distinct) {
    double *df = calloc(g->n_ngrams ? g->n_ngrams : 1, sizeof *df);
    size_t *stamp = malloc((g->n_ngrams ? g->n_ngrams : 1) * sizeof *stamp);
    if (!df || !stamp) {
        free(df);
        free(stamp);
        return NULL;
    }
    memset(stamp, 0xff, (g->n_ngrams ? g->n_ngrams : 1) * sizeof *stamp);
    size_t nd = 0;
    for (size_t i = 0; i < g->n_items; i++) {
        int m = ngrams_n_refs(g, i);
        for (int r = 1; r <= m; r++) {
            size_t s = ngrams_sent(g, i, r);
            for (size_t e = ngrams_ents_begin(g, s); e < ngrams_ents_end(g, s); e++) {
                uint32_t id = g->ents[e].id;
                if (stamp[id] != i) {
                    stamp[id] = i;
                    if (df[id] == 0) nd++;
                    df[id] += 1;
                }
            }
        }
    }
    free(stamp);
    if (distinct) *distinct = nd;
    return df;
}

void cider_df_free(cider_df *d) {
    if (!d) return;
    shfree(d->map);
    free(d);
}

size_t cider_df_size(const cider_df *d) { return (size_t)shlenu(d->map); }
double cider_df_ref_len(const cider_df *d) { return d->ref_len; }

cider_df *cider_df_build(const caption_ngrams *g) {
    cider_df *d = calloc(1, sizeof *d);
    double *df = df_over_refs(g, NULL);
    if (!d || !df) {
        free(d);
        free(df);
        vk_err_set("CIDEr-D df: out of memory");
        return NULL;
    }
    vk_ds_create_lock(); /* may run beside another thread's table creation */
    sh_new_arena(d->map);
    vk_ds_create_unlock();
    char *buf = NULL;
    for (uint32_t id = 0; id < g->n_ngrams; id++)
        if (df[id] > 0) shput(d->map, ngram_text(g, id, &buf), df[id]);
    arrfree(buf);
    free(df);
    d->n_images = (double)g->n_items;
    d->ref_len = log(d->n_images);
    return d;
}

int cider_df_save(const cider_df *d, const char *path) {
    cJSON *root = cJSON_CreateObject();
    cJSON *tab = cJSON_CreateObject();
    if (!root || !tab) goto oom;
    cJSON_AddItemToObject(root, "format", cJSON_CreateString("vlkit-cider-df-1"));
    cJSON_AddItemToObject(root, "n_images", cJSON_CreateNumber(d->n_images));
    cJSON_AddItemToObject(root, "ref_len", cJSON_CreateNumber(d->ref_len));
    cJSON_AddItemToObject(root, "document_frequency", tab);
    for (size_t i = 0; i < shlenu(d->map); i++) cJSON_AddItemToObject(tab, d->map[i].key, cJSON_CreateNumber(d->map[i].value));
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return vk_err_set("%s: out of memory", path);
    int rc = vk_write_file_atomic(path, text, strlen(text));
    free(text);
    return rc;
oom:
    cJSON_Delete(root);
    cJSON_Delete(tab);
    return vk_err_set("%s: out of memory", path);
}

cider_df *cider_df_load(const char *path) {
    size_t len;
    char *text = vk_read_file(path, &len, 0);
    if (!text) return NULL;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) {
        vk_err_set("%s: not valid JSON", path);
        return NULL;
    }
    cider_df *d = NULL;
    cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "n_images");
    cJSON *rl = cJSON_GetObjectItemCaseSensitive(root, "ref_len");
    cJSON *tab = cJSON_GetObjectItemCaseSensitive(root, "document_frequency");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(tab)) {
        vk_err_set("%s: expected an object with \"document_frequency\": {\"ngram\": count, ...}", path);
        goto fail;
    }
    if (!(cJSON_IsNumber(n) && n->valuedouble >= 1) && !(cJSON_IsNumber(rl) && rl->valuedouble >= 0)) {
        vk_err_set("%s: needs \"n_images\" (a number >= 1) or \"ref_len\" (log of it)", path);
        goto fail;
    }
    d = calloc(1, sizeof *d);
    if (!d) {
        vk_err_set("%s: out of memory", path);
        goto fail;
    }
    vk_ds_create_lock(); /* may run beside another thread's table creation */
    sh_new_arena(d->map);
    vk_ds_create_unlock();
    if (cJSON_IsNumber(n) && n->valuedouble >= 1) {
        d->n_images = n->valuedouble;
        d->ref_len = log(d->n_images);
    } else {
        d->ref_len = rl->valuedouble;
        d->n_images = exp(d->ref_len);
    }
    if (cJSON_IsNumber(rl) && rl->valuedouble >= 0) d->ref_len = rl->valuedouble; /* exactly as written */
    for (cJSON *e = tab->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || !e->string) {
            vk_err_set("%s: document_frequency[\"%s\"] is not a non-negative number", path, e->string ? e->string : "?");
            goto fail;
        }
        shput(d->map, e->string, e->valuedouble);
    }
    cJSON_Delete(root);
    return d;
fail:
    cider_df_free(d);
    cJSON_Delete(root);
    return NULL;
}

int cider_score(const caption_ngrams *g, const cider_df *ext, double *corpus, double *per_image,
                double (*per_image_ngram)[4], cider_info *info) {
    const double sigma = 6.0;
    size_t distinct = 0;
    double *df = df_over_refs(g, &distinct);
    double *idf = malloc((g->n_ngrams ? g->n_ngrams : 1) * sizeof *idf);
    /* per sentence: norms of the 4 vectors and the bigram "length" */
    double *norm = malloc((g->n_sent ? g->n_sent : 1) * 4 * sizeof *norm);
    double *len = malloc((g->n_sent ? g->n_sent : 1) * sizeof *len);
    uint32_t *cand_count = calloc(g->n_ngrams ? g->n_ngrams : 1, sizeof *cand_count); /* the current candidate's */
    if (!df || !idf || !norm || !len || !cand_count) {
        free(df);
        free(idf);
        free(norm);
        free(len);
        free(cand_count);
        return vk_err_set("CIDEr-D: out of memory");
    }
    double ref_len = log((double)g->n_items);
    if (ext) {
        ref_len = ext->ref_len;
        char *buf = NULL;
        df_entry *map = ext->map; /* stb_ds lookups write scratch fields in the table header */
        for (uint32_t id = 0; id < g->n_ngrams; id++) {
            ptrdiff_t at = shgeti(map, ngram_text(g, id, &buf));
            df[id] = at >= 0 ? map[at].value : 0.0;
        }
        arrfree(buf);
    }
    for (size_t id = 0; id < g->n_ngrams; id++) idf[id] = ref_len - log(df[id] > 1.0 ? df[id] : 1.0);
    for (size_t s = 0; s < g->n_sent; s++) {
        double l = 0;
        for (int k = 1; k <= 4; k++) {
            double sq = 0;
            for (size_t e = ngrams_k_begin(g, s, k); e < ngrams_k_end(g, s, k); e++) {
                double w = (double)g->ents[e].count * idf[g->ents[e].id];
                sq += w * w;
                if (k == 2) l += g->ents[e].count;
            }
            norm[s * 4 + (size_t)k - 1] = sqrt(sq);
        }
        len[s] = l;
    }
    double sum = 0;
    for (size_t i = 0; i < g->n_items; i++) {
        size_t c = ngrams_sent(g, i, 0);
        int m = ngrams_n_refs(g, i);
        double score[4] = {0, 0, 0, 0};
        for (size_t e = ngrams_ents_begin(g, c); e < ngrams_ents_end(g, c); e++) cand_count[g->ents[e].id] = g->ents[e].count;
        for (int r = 1; r <= m; r++) {
            size_t s = ngrams_sent(g, i, r);
            double val[4] = {0, 0, 0, 0};
            /* per order, the reference's n-grams in id order, matched against the candidate's
             * counts (cand_count): the same terms, in the same order, as a merge of the two
             * sorted lists, without walking the candidate's list once per reference */
            for (int k = 1; k <= 4; k++) {
                double v = 0;
                for (size_t b = ngrams_k_begin(g, s, k); b < ngrams_k_end(g, s, k); b++) {
                    uint32_t id = g->ents[b].id, cc = cand_count[id];
                    if (cc) {
                        double wc = (double)cc * idf[id], wr = (double)g->ents[b].count * idf[id];
                        v += (wc < wr ? wc : wr) * wr;
                    }
                }
                val[k - 1] = v;
            }
            double delta = len[c] - len[s];
            double pen = pow(M_E, -(delta * delta) / (2 * sigma * sigma));
            for (int k = 0; k < 4; k++) {
                double nc = norm[c * 4 + (size_t)k], nr = norm[s * 4 + (size_t)k];
                if (nc != 0 && nr != 0) val[k] /= nc * nr;
                score[k] += val[k] * pen;
            }
        }
        for (size_t e = ngrams_ents_begin(g, c); e < ngrams_ents_end(g, c); e++) cand_count[g->ents[e].id] = 0;
        double mean = (score[0] + score[1] + score[2] + score[3]) / 4.0;
        double img = mean / m * 10.0;
        if (per_image) per_image[i] = img;
        if (per_image_ngram)
            for (int k = 0; k < 4; k++) per_image_ngram[i][k] = 10.0 * score[k] / m;
        sum += img;
    }
    *corpus = g->n_items ? sum / (double)g->n_items : 0.0;
    if (info) {
        info->log_n = ref_len;
        info->distinct_df = distinct;
    }
    free(df);
    free(idf);
    free(norm);
    free(len);
    free(cand_count);
    return 0;
}
