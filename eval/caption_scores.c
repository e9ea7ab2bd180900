/* caption_scores.c — run the chosen caption metrics over an evaluated set in one call. */
#include "eval/eval.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

void caption_scores_free(caption_scores *s) {
    free(s->per_image_bleu);
    free(s->per_image_rouge);
    free(s->per_image_cider);
    memset(s, 0, sizeof *s);
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
    if (metrics & (CAPTION_METRIC_BLEU | CAPTION_METRIC_CIDER)) {
        caption_ngrams *g = caption_ngrams_build(set->items, n);
        if (!g) goto fail;
        int rc = 0;
        if (metrics & CAPTION_METRIC_BLEU) {
            rc = bleu_score(g, &out->bleu_stats, out->per_image_bleu);
            memcpy(out->bleu, out->bleu_stats.bleu, sizeof out->bleu);
        }
        if (rc == 0 && (metrics & CAPTION_METRIC_CIDER))
            rc = cider_score(g, df, &out->cider, out->per_image_cider, NULL, &out->cider_stats);
        caption_ngrams_free(g);
        if (rc != 0) goto fail;
    }
    if ((metrics & CAPTION_METRIC_ROUGE) && rouge_score(set->items, n, &out->rouge_l, out->per_image_rouge) != 0)
        goto fail;
    return 0;
oom:
    vk_err_set("scoring: out of memory");
fail:
    caption_scores_free(out);
    return -1;
}
