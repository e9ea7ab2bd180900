#include "train/eval_retrieval.h"

#include "model/blip_index.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* rank (0-based) of `target` in scores[0..n) when sorted descending (ties: lower index first) */
static int64_t rank_of(const float *scores, int64_t n, int64_t target) {
    int64_t r = 0;
    for (int64_t i = 0; i < n; i++) r += scores[i] > scores[target] || (scores[i] == scores[target] && i < target);
    return r;
}

/* Re-rank the top k of scores by ITM: the top k keep their order by ITM probability above the
 * rest (BLIP: the final score of a candidate in the top k is its ITM score, others -100). */
static void rerank_top(float *scores, int64_t n, int k, const float *itm, const int64_t *top) {
    float *out = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) out[i] = -100.0f;
    for (int j = 0; j < k; j++) out[top[j]] = itm[j];
    memcpy(scores, out, sizeof(float) * (size_t)n);
    free(out);
}

int eval_retrieval(const blip_retriever *r, const caption_dataset *ds, int max_images, int rerank, int batch,
                   void (*on_warning)(const char *), retrieval_scores *out) {
    memset(out, 0, sizeof *out);
    int64_t N = ds->n_records;
    if (max_images > 0 && max_images < N) N = max_images;
    int D = r->dim, B = batch > 0 ? batch : 8;
    size_t per = image_preproc_numel(&r->preproc);
    /* images that decode, and every caption of them */
    int64_t *img_rec = malloc(sizeof(int64_t) * (size_t)N);
    float *ifeat = malloc(sizeof(float) * (size_t)(N * D));
    float *px = malloc(sizeof(float) * per * (size_t)B);
    int rc = img_rec && ifeat && px ? 0 : vk_err_set("out of memory");
    int64_t n_img = 0;
    for (int64_t s = 0; !rc && s < N;) {
        int k = 0;
        int64_t recs[256];
        for (; s < N && k < B; s++) {
            if (image_preprocess_file(&r->preproc, ds->records[s].image, px + per * (size_t)k)) {
                if (on_warning) on_warning(vk_err_msg());
                continue;
            }
            recs[k++] = s;
        }
        if (k && blip_retriever_image_features(r, px, k, ifeat + n_img * D)) rc = -1;
        for (int i = 0; !rc && i < k; i++) img_rec[n_img++] = recs[i];
    }
    int64_t n_txt = 0;
    for (int64_t i = 0; i < n_img; i++) n_txt += ds->records[img_rec[i]].n_captions;
    const char **texts = malloc(sizeof(char *) * (size_t)(n_txt + 1));
    int64_t *txt_img = malloc(sizeof(int64_t) * (size_t)(n_txt + 1));
    float *tfeat = malloc(sizeof(float) * (size_t)((n_txt + 1) * D));
    if (!rc && (!texts || !txt_img || !tfeat)) rc = vk_err_set("out of memory");
    int64_t t = 0;
    for (int64_t i = 0; !rc && i < n_img; i++)
        for (int c = 0; c < ds->records[img_rec[i]].n_captions; c++) texts[t] = ds->records[img_rec[i]].captions[c], txt_img[t++] = i;
    for (int64_t s = 0; !rc && s < n_txt; s += B) {
        int k = (int)(n_txt - s < B ? n_txt - s : B);
        rc = blip_retriever_text_features(r, texts + s, k, tfeat + s * D);
    }
    if (!rc && (!n_img || !n_txt)) rc = vk_err_set("%s: no image could be read", ds->path);
    float *row = rc ? NULL : malloc(sizeof(float) * (size_t)(n_img > n_txt ? n_img : n_txt));
    int64_t *top = rc ? NULL : malloc(sizeof(int64_t) * (size_t)(rerank > 0 ? rerank : 1));
    float *itm = rc ? NULL : malloc(sizeof(float) * (size_t)(rerank > 0 ? rerank : 1));
    float *cand_px = rc || rerank <= 0 ? NULL : malloc(sizeof(float) * per * (size_t)rerank);
    if (!rc && (!row || !top || !itm || (rerank > 0 && !cand_px))) rc = vk_err_set("out of memory");
    static const int ks[3] = {1, 5, 10};
    /* text -> image */
    for (int64_t q = 0; !rc && q < n_txt; q++) {
        for (int64_t i = 0; i < n_img; i++) {
            double s = 0;
            for (int d = 0; d < D; d++) s += (double)tfeat[q * D + d] * ifeat[i * D + d];
            row[i] = (float)s;
        }
        if (rerank > 0) {
            int k = (int)blip_rank_scores(row, n_img, rerank, top);
            for (int j = 0; !rc && j < k; j++)
                if (image_preprocess_file(&r->preproc, ds->records[img_rec[top[j]]].image, cand_px + per * (size_t)j)) rc = -1;
            if (!rc && blip_retriever_match_images(r, texts[q], cand_px, k, itm)) rc = -1;
            if (!rc) rerank_top(row, n_img, k, itm, top);
        }
        int64_t rk = rank_of(row, n_img, txt_img[q]);
        for (int j = 0; j < 3; j++) out->t2i[j] += rk < ks[j];
    }
    /* image -> text */
    for (int64_t i = 0; !rc && i < n_img; i++) {
        for (int64_t q = 0; q < n_txt; q++) {
            double s = 0;
            for (int d = 0; d < D; d++) s += (double)tfeat[q * D + d] * ifeat[i * D + d];
            row[q] = (float)s;
        }
        if (rerank > 0) {
            int k = (int)blip_rank_scores(row, n_txt, rerank, top);
            const char **cand = malloc(sizeof(char *) * (size_t)k);
            for (int j = 0; j < k; j++) cand[j] = texts[top[j]];
            if (image_preprocess_file(&r->preproc, ds->records[img_rec[i]].image, cand_px) ||
                blip_retriever_match_texts(r, cand_px, cand, k, itm))
                rc = -1;
            free(cand);
            if (!rc) rerank_top(row, n_txt, k, itm, top);
        }
        int64_t best = n_txt;
        for (int64_t q = 0; q < n_txt; q++)
            if (txt_img[q] == i) {
                int64_t rk = rank_of(row, n_txt, q);
                if (rk < best) best = rk;
            }
        for (int j = 0; j < 3; j++) out->i2t[j] += best < ks[j];
    }
    if (!rc) {
        for (int j = 0; j < 3; j++) out->t2i[j] *= 100.0 / (double)n_txt, out->i2t[j] *= 100.0 / (double)n_img;
        out->images = (int)n_img;
        out->texts = (int)n_txt;
    }
    free(row), free(top), free(itm), free(cand_px), free(texts), free(txt_img), free(tfeat), free(img_rec), free(ifeat), free(px);
    return rc;
}
