/* bleu.c — BLEU-1..4 exactly as pycocoevalcap's Bleu(4) / BleuScorer computes it:
 * option "closest" (reference length closest to the candidate, ties to the shorter one),
 * clipped counts against the maximum count in any single reference, and the smoothing
 * constants tiny = 1e-15 / small = 1e-9, so per-image BLEU of a candidate with no matching
 * 4-gram is a tiny positive number rather than 0 (as the official code reports it). */
#include "eval/ngrams_internal.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>

/* The official formula, in its order of operations, on one set of counts. */
static void bleu_from_counts(double testlen, double reflen, const long long guess[4], const long long correct[4],
                             double out[4]) {
    const double tiny = 1e-15, small = 1e-9;
    double bleu = 1.0;
    for (int k = 0; k < 4; k++) {
        bleu *= ((double)correct[k] + tiny) / ((double)guess[k] + small);
        out[k] = pow(bleu, 1.0 / (k + 1));
    }
    double ratio = (testlen + tiny) / (reflen + small);
    if (ratio < 1)
        for (int k = 0; k < 4; k++) out[k] *= exp(1 - 1 / ratio);
}

int bleu_score(const caption_ngrams *g, bleu_result *out, double (*per_image)[4]) {
    long long tot_test = 0, tot_ref = 0, tot_guess[4] = {0}, tot_correct[4] = {0};
    /* maxref[id] = max count of n-gram id in any single reference of the current image. */
    uint32_t *maxref = calloc(g->n_ngrams ? g->n_ngrams : 1, sizeof *maxref);
    if (!maxref) return vk_err_set("BLEU: out of memory");
    for (size_t i = 0; i < g->n_items; i++) {
        size_t c = ngrams_sent(g, i, 0);
        int m = ngrams_n_refs(g, i);
        long long testlen = (long long)ngrams_n_words(g, c);
        /* closest reference length; ties go to the shorter (Python's min over (|l - t|, l)) */
        long long reflen = -1, best = -1;
        for (int r = 1; r <= m; r++) {
            size_t s = ngrams_sent(g, i, r);
            long long l = (long long)ngrams_n_words(g, s), d = llabs(l - testlen);
            if (best < 0 || d < best || (d == best && l < reflen)) {
                best = d;
                reflen = l;
            }
            for (size_t e = ngrams_ents_begin(g, s); e < ngrams_ents_end(g, s); e++)
                if (g->ents[e].count > maxref[g->ents[e].id]) maxref[g->ents[e].id] = g->ents[e].count;
        }
        if (reflen < 0) reflen = 0;
        long long guess[4], correct[4] = {0};
        for (int k = 0; k < 4; k++) guess[k] = testlen - k > 0 ? testlen - k : 0;
        for (int k = 1; k <= 4; k++)
            for (size_t e = ngrams_k_begin(g, c, k); e < ngrams_k_end(g, c, k); e++) {
                uint32_t id = g->ents[e].id, cnt = g->ents[e].count, mr = maxref[id];
                correct[k - 1] += cnt < mr ? cnt : mr;
            }
        /* reset the scratch counts of this image's references */
        for (int r = 1; r <= m; r++) {
            size_t s = ngrams_sent(g, i, r);
            for (size_t e = ngrams_ents_begin(g, s); e < ngrams_ents_end(g, s); e++) maxref[g->ents[e].id] = 0;
        }
        tot_test += testlen;
        tot_ref += reflen;
        for (int k = 0; k < 4; k++) {
            tot_guess[k] += guess[k];
            tot_correct[k] += correct[k];
        }
        if (per_image) bleu_from_counts((double)testlen, (double)reflen, guess, correct, per_image[i]);
    }
    free(maxref);
    out->testlen = tot_test;
    out->reflen = tot_ref;
    for (int k = 0; k < 4; k++) {
        out->guess[k] = tot_guess[k];
        out->correct[k] = tot_correct[k];
    }
    bleu_from_counts((double)tot_test, (double)tot_ref, tot_guess, tot_correct, out->bleu);
    return 0;
}
