/* caption_scores.c — run the chosen caption metrics over an evaluated set in one call. */
#include "eval/eval.h"
#include "util/error.h"
#include "util/pair_run.h"

#include <stdlib.h>
#include <string.h>

void caption_scores_free(caption_scores *s) {
    free(s->per_image_bleu);
    free(s->per_image_rouge);
    free(s->per_image_cider);
    memset(s, 0, sizeof *s);
}

/* BLEU and CIDEr-D share the n-gram counts; ROUGE-L is on its own, so it runs beside them. */
typedef struct {
    const caption_set *set;
    const cider_df *df;
    int metrics;
    caption_scores *out;
} score_job;

static int ngram_metrics(void *p) {
    score_job *j = p;
    if (!(j->metrics & (CAPTION_METRIC_BLEU | CAPTION_METRIC_CIDER))) return 0;
    caption_ngrams *g = caption_ngrams_build(j->set->items, j->set->n);
    if (!g) return -1;
    int rc = 0;
    if (j->metrics & CAPTION_METRIC_BLEU) {
        rc = bleu_score(g, &j->out->bleu_stats, j->out->per_image_bleu);
        memcpy(j->out->bleu, j->out->bleu_stats.bleu, sizeof j->out->bleu);
    }
    if (rc == 0 && (j->metrics & CAPTION_METRIC_CIDER))
        rc = cider_score(g, j->df, &j->out->cider, j->out->per_image_cider, NULL, &j->out->cider_stats);
    caption_ngrams_free(g);
    return rc;
}

static int rouge_metric(void *p) {
    score_job *j = p;
    if (!(j->metrics & CAPTION_METRIC_ROUGE)) return 0;
    return rouge_score(j->set->items, j->set->n, &j->out->rouge_l, j->out->per_image_rouge);
}

int caption_scores_compute(const caption_set *set, const cider_df *df, int metrics, int per_image,
                           caption_scores *out) {
    memset(out, 0, sizeof *out);
    if (set->n == 0) return vk_err_set("no images to score");
    size_t n = set->n;
    if (per_image) {
        if ((metrics & CAPTION_METRIC_BLEU) && !(out->per_image_bleu = calloc(n, sizeof *out->per_image_bleu))) goto oom;
        if ((metrics & CAPTION_METRIC_ROUGE) && !(out->per_image_rouge = calloc(n, sizeof *out->per_image_rouge)))
            goto oom;
        if ((metrics & CAPTION_METRIC_CIDER) && !(out->per_image_cider = calloc(n, sizeof *out->per_image_cider)))
            goto oom;
    }
    /* the two jobs write disjoint fields of out */
    score_job j = {set, df, metrics, out};
    if (pair_run(ngram_metrics, &j, rouge_metric, &j) != 0) goto fail;
    return 0;
oom:
    vk_err_set("scoring: out of memory");
fail:
    caption_scores_free(out);
    return -1;
}
