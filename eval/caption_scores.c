/* caption_scores.c — run the chosen caption metrics over an evaluated set in one call. */
#include "eval/ngrams_internal.h"
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

/* All three metrics share the split words (ROUGE-L its tokens, BLEU and CIDEr-D the n-gram
 * counts): the words first, then ROUGE-L beside the n-gram counting, then BLEU beside CIDEr-D
 * (the jobs write disjoint fields of out and of the n-gram table). */
typedef struct {
    const caption_set *set;
    const cider_df *df;
    int metrics;
    caption_scores *out;
    caption_ngrams *g;
} score_job;

static int count_ngrams(void *p) {
    score_job *j = p;
    if (!(j->metrics & (CAPTION_METRIC_BLEU | CAPTION_METRIC_CIDER))) return 0;
    return caption_ngrams_count(j->g);
}

static int rouge_metric(void *p) {
    score_job *j = p;
    if (!(j->metrics & CAPTION_METRIC_ROUGE)) return 0;
    return rouge_score_words(j->g, j->set->items, &j->out->rouge_l, j->out->per_image_rouge);
}

static int cider_metric(void *p) {
    score_job *j = p;
    if (!(j->metrics & CAPTION_METRIC_CIDER)) return 0;
    return cider_score(j->g, j->df, &j->out->cider, j->out->per_image_cider, NULL, &j->out->cider_stats);
}

static int bleu_metric(void *p) {
    score_job *j = p;
    if (!(j->metrics & CAPTION_METRIC_BLEU)) return 0;
    int rc = bleu_score(j->g, &j->out->bleu_stats, j->out->per_image_bleu);
    memcpy(j->out->bleu, j->out->bleu_stats.bleu, sizeof j->out->bleu);
    return rc;
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
    score_job j = {set, df, metrics, out, caption_ngrams_words(set->items, n)};
    int rc = j.g ? pair_run(count_ngrams, &j, rouge_metric, &j) : -1;
    if (rc == 0) rc = pair_run(bleu_metric, &j, cider_metric, &j); /* BLEU's error first, as before */
    caption_ngrams_free(j.g);
    if (rc != 0) goto fail;
    return 0;
oom:
    vk_err_set("scoring: out of memory");
fail:
    caption_scores_free(out);
    return -1;
}
