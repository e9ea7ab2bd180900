/* caption_ngrams.c — count the 1..4-grams of every caption once, for BLEU and CIDEr-D, on the
 * words that caption_words.c split and interned. The n-gram map is uthash (util/ht.h: the hot
 * path), arrays are stb_ds. */
#include "eval/ngrams_internal.h"
#include "util/error.h"
#include "util/ht.h"

#include <stdlib.h>
#include <string.h>

/* 2..4-grams: a map keyed by (id of the first n-1 words + 1) << 32 | last word id — exact (the
 * prefix determines n). Unigrams: an array by word id. Ids are handed out in first-seen order,
 * so the scorers' sums add in the same order as they always did. */
typedef struct {
    UT_hash_handle hh; /* first: a chain step reads its next pointer and hash, then the key */
    uint64_t key;
    uint32_t id;
} gram_entry;

static void sort_u32(uint32_t *a, size_t n) {
    /* one order's n-grams of a sentence, a dozen or so: insertion sort beats qsort's call overhead */
    for (size_t i = 1; i < n; i++) {
        uint32_t v = a[i];
        size_t j = i;
        if (v < a[0]) { /* goes first: then the loop below needs no bound check */
            memmove(a + 1, a, i * sizeof *a);
            j = 0;
        } else {
            while (a[j - 1] > v) {
                a[j] = a[j - 1];
                j--;
            }
        }
        a[j] = v;
    }
}

void caption_ngrams_free(caption_ngrams *g) {
    if (!g) return;
    free(g->first_sent);
    free(g->word_off);
    free(g->spaced);
    free(g->ent_off);
    arrfree(g->word_ids);
    arrfree(g->ents);
    arrfree(g->keys);
    arrfree(g->order);
    arrfree(g->vocab);
    caption_words_free(g);
    free(g);
}

/* A new n-gram's id (order k, key nk); -1 when its id + 1 would not fit a longer key's 32-bit
 * prefix. */
static int64_t new_gram(ngram_key **keys, uint8_t **order, ngram_key nk, int k) {
    size_t next = arrlenu(*keys);
    if (next >= UINT32_MAX - 1) return -1;
    arrput(*keys, nk);
    arrput(*order, (uint8_t)k);
    return (int64_t)next;
}

int caption_ngrams_count(caption_ngrams *g) {
    g->ent_off = malloc((g->n_sent * 4 + 1) * sizeof *g->ent_off);
    if (!g->ent_off) return vk_err_set("n-gram counting: out of memory");
    gram_entry *grams = NULL; /* packed key of a 2..4-gram -> its id */
    text_pool pool = {NULL};  /* grams' entries */
    uint32_t *unigram = NULL; /* word id -> id of its unigram (UINT32_MAX: none yet) */
    ngram_key *keys = NULL;
    uint8_t *order = NULL;
    ngram_count *ents = NULL;
    uint32_t *sent_grams = NULL; /* a sentence's n-gram ids, by order then position */
    arrsetlen(unigram, g->n_vocab);
    memset(unigram, 0xff, g->n_vocab * sizeof *unigram);
    /* four n-gram orders, most distinct within a sentence */
    arrsetcap(ents, arrlenu(g->word_ids) * 4 + 16);
    int failed = 0; /* 1: ids would pass 32 bits */
    g->ent_off[0] = 0;
    for (size_t si = 0; si < g->n_sent && !failed; si++) {
        const uint32_t *ids = g->word_ids + g->word_off[si];
        size_t nw = ngrams_n_words(g, si);
        size_t total = 0, run[5] = {0}; /* run[k-1]: where the k-grams start in sent_grams */
        for (int k = 1; k <= 4; k++) {
            run[k - 1] = total;
            total += nw >= (size_t)k ? nw - (size_t)k + 1 : 0;
        }
        run[4] = total;
        arrsetlen(sent_grams, total);
        for (int k = 1; k <= 4 && (size_t)k <= nw && !failed; k++) {
            uint32_t *cur = sent_grams + run[k - 1], *prev = k > 1 ? sent_grams + run[k - 2] : NULL;
            for (size_t p = 0; p + (size_t)k <= nw; p++) {
                uint32_t word = ids[p + (size_t)k - 1];
                int64_t gid;
                if (k == 1) {
                    gid = unigram[word];
                    if (gid == UINT32_MAX) {
                        ngram_key nk = {{word, 0, 0, 0}};
                        gid = new_gram(&keys, &order, nk, 1);
                        if (gid >= 0) unigram[word] = (uint32_t)gid;
                    }
                } else { /* prev[p]: the id of the (k-1)-gram at p */
                    uint64_t key = ((uint64_t)prev[p] + 1) << 32 | word;
                    unsigned hv;
                    gram_entry *e;
                    HASH_VALUE(&key, sizeof key, hv);
                    HASH_FIND_BYHASHVALUE(hh, grams, &key, sizeof key, hv, e);
                    if (e) {
                        gid = e->id;
                    } else {
                        ngram_key nk = keys[prev[p]];
                        nk.w[k - 1] = word;
                        gid = new_gram(&keys, &order, nk, k);
                        unsigned count = HASH_COUNT(grams);
                        e = gid >= 0 ? text_pool_alloc(&pool, sizeof *e) : NULL;
                        if (e) {
                            e->key = key;
                            e->id = (uint32_t)gid;
                            HASH_ADD_KEYPTR_BYHASHVALUE(hh, grams, &e->key, sizeof e->key, hv, e);
                        }
                        if (!e || !vk_ht_added(grams, count)) gid = -1;
                    }
                }
                if (gid < 0) {
                    failed = 1;
                    break;
                }
                cur[p] = (uint32_t)gid;
            }
        }
        if (failed) break;
        /* each order's ids sorted alone (the scorers sum per order, in id order): equal ids are
         * adjacent now, one entry each with its count (room made once) */
        size_t ne = arrlenu(ents);
        arrsetlen(ents, ne + total);
        for (int k = 0; k < 4; k++) {
            if (run[k + 1] > run[k]) sort_u32(sent_grams + run[k], run[k + 1] - run[k]); /* an empty sentence has no array */
            for (size_t p = run[k]; p < run[k + 1];) {
                size_t q = p + 1;
                while (q < run[k + 1] && sent_grams[q] == sent_grams[p]) q++;
                ents[ne].id = sent_grams[p];
                ents[ne++].count = (uint32_t)(q - p);
                p = q;
            }
            g->ent_off[si * 4 + (size_t)k + 1] = ne;
        }
        arrsetlen(ents, ne);
    }
    arrfree(sent_grams);
    HASH_CLEAR(hh, grams);
    text_pool_free(&pool);
    arrfree(unigram);
    /* the stb_ds arrays are kept as they are (caption_ngrams_free knows) */
    g->keys = keys;
    g->order = order;
    g->n_ngrams = arrlenu(keys);
    g->ents = ents;
    if (failed)
        return vk_err_set("n-gram counting: out of memory, or more than %u distinct n-grams (their ids are 32-bit)",
                          (unsigned)(UINT32_MAX - 2));
    return 0;
}

caption_ngrams *caption_ngrams_build(const caption_item *items, size_t n) {
    caption_ngrams *g = caption_ngrams_words(items, n);
    if (g && caption_ngrams_count(g) != 0) {
        caption_ngrams_free(g);
        return NULL;
    }
    return g;
}
