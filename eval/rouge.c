/* rouge.c — ROUGE-L as pycocoevalcap's Rouge computes it: tokens are s.split(" ") (a single
 * space, so "" is one empty token and an empty candidate against an empty reference has
 * LCS 1), P and R are maximised separately over the references, beta = 1.2, and the corpus
 * value is the mean over images. */
#include "eval/ngrams_internal.h"
#include "util/error.h"

#include "util/ds.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    uint32_t value;
} tok_entry;

typedef struct {
    tok_entry *map; /* token -> id; keys live in the map's arena */
} tok_interner;

/* Token ids of s.split(" ") appended to *out (stb_ds array). Tokens may be empty. */
static void split_space(tok_interner *ti, const char *s, uint32_t **out) {
    const char *p = s;
    for (;;) {
        const char *q = strchr(p, ' ');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        /* stb_ds string keys must be NUL-terminated: swap in a terminator temporarily is not
         * possible on const text, so copy short tokens on the stack and long ones on the heap. */
        char buf[128], *key = len < sizeof buf ? buf : malloc(len + 1);
        uint32_t id = UINT32_MAX;
        if (key) {
            memcpy(key, p, len);
            key[len] = 0;
            ptrdiff_t at = shgeti(ti->map, key);
            if (at >= 0) {
                id = ti->map[at].value;
            } else {
                id = (uint32_t)shlenu(ti->map);
                shput(ti->map, key, id);
            }
            if (key != buf) free(key);
        }
        arrput(*out, id);
        if (!q) break;
        p = q + 1;
    }
}

/* Longest common subsequence length, O(|a| |b|) time, O(min) memory. */
static size_t lcs(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, size_t **row, size_t *row_cap) {
    if (na < nb) {
        const uint32_t *t = a;
        a = b;
        b = t;
        size_t tn = na;
        na = nb;
        nb = tn;
    }
    if (nb + 1 > *row_cap) {
        size_t *r = realloc(*row, (nb + 1) * sizeof *r);
        if (!r) return SIZE_MAX;
        *row = r;
        *row_cap = nb + 1;
    }
    size_t *L = *row;
    memset(L, 0, (nb + 1) * sizeof *L);
    for (size_t i = 1; i <= na; i++) {
        size_t diag = 0; /* L[i-1][j-1] */
        for (size_t j = 1; j <= nb; j++) {
            size_t up = L[j];
            if (a[i - 1] == b[j - 1])
                L[j] = diag + 1;
            else if (L[j - 1] > L[j])
                L[j] = L[j - 1];
            diag = up;
        }
    }
    return L[nb];
}

/* LCS length of a candidate of nc <= 64 words and ref[0..nr), bit-parallel (Crochemore et al.
 * 2001, as Hyyrö writes it): bit k of mask[w] says candidate word k is w; V's zero bits within
 * the nc low ones count the LCS. One step per reference word instead of a row of nc cells. */
static size_t lcs_bits(const uint64_t *mask, size_t nc, const uint32_t *ref, size_t nr) {
    uint64_t v = ~(uint64_t)0;
    for (size_t j = 0; j < nr; j++) {
        uint64_t m = mask[ref[j]];
        v = (v + (v & m)) | (v & ~m);
    }
    uint64_t low = nc == 64 ? ~(uint64_t)0 : ((uint64_t)1 << nc) - 1;
    return nc - (size_t)__builtin_popcountll(v & low);
}

/* Whether every caption of item i is spaced (its ROUGE-L tokens are its words). */
static int item_spaced(const caption_ngrams *g, size_t i) {
    for (size_t s = g->first_sent[i]; s < g->first_sent[i + 1]; s++)
        if (!g->spaced[s]) return 0;
    return 1;
}

int rouge_score_words(const caption_ngrams *g, const caption_item *items, double *corpus, double *per_image) {
    const double beta = 1.2;
    size_t n = g->n_items;
    tok_interner ti = {NULL}; /* for the images that are not spaced */
    uint32_t *cand_buf = NULL, *ref_buf = NULL;
    size_t *row = NULL, row_cap = 0;
    uint64_t *mask = calloc(g->n_vocab ? g->n_vocab : 1, sizeof *mask); /* by word id: lcs_bits */
    if (!mask) return vk_err_set("ROUGE-L: out of memory");
    double sum = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int spaced = item_spaced(g, i);
        const uint32_t *cand = NULL;
        size_t nc;
        if (spaced) {
            size_t c = ngrams_sent(g, i, 0);
            cand = g->word_ids + g->word_off[c];
            nc = ngrams_n_words(g, c);
        } else {
            if (!ti.map) {
                vk_ds_create_lock(); /* n-gram counting creates its tables on the other thread */
                sh_new_arena(ti.map);
                vk_ds_create_unlock();
            }
            arrsetlen(cand_buf, 0);
            split_space(&ti, items[i].cand ? items[i].cand : "", &cand_buf);
            cand = cand_buf;
            nc = arrlenu(cand_buf);
        }
        int bits = spaced && nc <= 64;
        if (bits)
            for (size_t k = 0; k < nc; k++) mask[cand[k]] |= (uint64_t)1 << k;
        double pmax = 0, rmax = 0;
        for (int r = 0; r < items[i].n_refs; r++) {
            const uint32_t *ref;
            size_t nr;
            if (spaced) {
                size_t s = ngrams_sent(g, i, r + 1);
                ref = g->word_ids + g->word_off[s];
                nr = ngrams_n_words(g, s);
            } else {
                arrsetlen(ref_buf, 0);
                split_space(&ti, items[i].refs[r], &ref_buf);
                ref = ref_buf;
                nr = arrlenu(ref_buf);
            }
            size_t l = bits ? lcs_bits(mask, nc, ref, nr) : lcs(ref, nr, cand, nc, &row, &row_cap);
            if (l == SIZE_MAX) {
                rc = vk_err_set("ROUGE-L: out of memory");
                goto done;
            }
            double p = (double)l / (double)nc, rr = (double)l / (double)nr;
            if (p > pmax) pmax = p;
            if (rr > rmax) rmax = rr;
        }
        if (bits)
            for (size_t k = 0; k < nc; k++) mask[cand[k]] = 0;
        double score = 0.0;
        if (pmax != 0 && rmax != 0) score = ((1 + beta * beta) * pmax * rmax) / (rmax + beta * beta * pmax);
        if (per_image) per_image[i] = score;
        sum += score;
    }
    *corpus = n ? sum / (double)n : 0.0;
done:
    free(mask);
    free(row);
    arrfree(cand_buf);
    arrfree(ref_buf);
    shfree(ti.map);
    return rc;
}

int rouge_score(const caption_item *items, size_t n, double *corpus, double *per_image) {
    caption_ngrams *g = caption_ngrams_words(items, n);
    if (!g) return -1;
    int rc = rouge_score_words(g, items, corpus, per_image);
    caption_ngrams_free(g);
    return rc;
}
