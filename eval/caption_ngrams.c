/* caption_ngrams.c — split, intern and count the 1..4-grams of every caption once, for BLEU and
 * CIDEr-D. Words follow Python's str.split() (any Unicode whitespace), as both official scorers
 * use it. Hash maps are stb_ds. */
#include "eval/ngrams_internal.h"
#include "eval/text.h"
#include "util/error.h"

#include "util/ds.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    uint32_t value;
} word_entry;

/* An n-gram is keyed by (id of its first n-1 words + 1, last word id) packed in 64 bits, so
 * every lookup hashes 8 bytes (stb_ds's fast path) whatever n is. Unigrams have prefix 0. */
typedef struct {
    uint64_t key;
    uint32_t value;
} ngram_entry;

static void sort_u32(uint32_t *a, size_t n) {
    /* sentences have a few dozen n-grams: insertion sort beats qsort's call overhead */
    for (size_t i = 1; i < n; i++) {
        uint32_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

void caption_ngrams_free(caption_ngrams *g) {
    if (!g) return;
    free(g->first_sent);
    free(g->ent_off);
    free(g->n_words);
    arrfree(g->ents);
    arrfree(g->keys);
    arrfree(g->order);
    for (size_t i = 1; i < g->n_vocab; i++) free(g->vocab[i]);
    arrfree(g->vocab);
    free(g);
}

/* Words of s as interned ids, appended to *ids (stb_ds array). */
static int split_words(const char *s, word_entry **words, char ***vocab, uint32_t **ids, char **tmp, size_t *tmp_cap) {
    size_t len = strlen(s), i = 0;
    while (i < len) {
        size_t j = i;
        uint32_t c = text_utf8_next(s, &j);
        if (text_py_isspace(c)) {
            i = j;
            continue;
        }
        size_t start = i;
        i = j;
        while (i < len) {
            j = i;
            c = text_utf8_next(s, &j);
            if (text_py_isspace(c)) break;
            i = j;
        }
        size_t wl = i - start;
        if (wl + 1 > *tmp_cap) {
            char *t = realloc(*tmp, wl + 1);
            if (!t) return -1;
            *tmp = t;
            *tmp_cap = wl + 1;
        }
        memcpy(*tmp, s + start, wl);
        (*tmp)[wl] = 0;
        ptrdiff_t at = shgeti(*words, *tmp);
        uint32_t id;
        if (at >= 0) {
            id = (*words)[at].value;
        } else {
            char *copy = strdup(*tmp);
            if (!copy) return -1;
            id = (uint32_t)arrlen(*vocab);
            arrput(*vocab, copy);
            shput(*words, copy, id);
        }
        arrput(*ids, id);
    }
    return 0;
}

caption_ngrams *caption_ngrams_build(const caption_item *items, size_t n) {
    caption_ngrams *g = calloc(1, sizeof *g);
    if (!g) goto oom;
    size_t n_sent = 0;
    for (size_t i = 0; i < n; i++) n_sent += 1 + (size_t)items[i].n_refs;
    g->n_items = n;
    g->n_sent = n_sent;
    g->first_sent = malloc((n + 1) * sizeof *g->first_sent);
    g->ent_off = malloc((n_sent + 1) * sizeof *g->ent_off);
    g->n_words = malloc((n_sent ? n_sent : 1) * sizeof *g->n_words);
    if (!g->first_sent || !g->ent_off || !g->n_words) goto oom;

    word_entry *words = NULL; /* keys point at the strings owned by vocab */
    char **vocab = NULL;
    arrput(vocab, NULL); /* id 0 = no word */
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].cand) bytes += strlen(items[i].cand);
        for (int r = 0; r < items[i].n_refs; r++) bytes += strlen(items[i].refs[r]);
    }
    ngram_entry *grams = NULL;
    ngram_key *keys = NULL;
    uint8_t *order = NULL;
    ngram_count *ents = NULL;
    uint32_t *ids = NULL, *sent_grams = NULL, *prev = NULL;
    char *tmp = NULL;
    size_t tmp_cap = 0;
    int failed = 0;
    /* about one word per 5 bytes, four n-gram orders, most distinct within a sentence */
    arrsetcap(ents, bytes / 5 * 4 + 16);

    size_t si = 0;
    g->ent_off[0] = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        g->first_sent[i] = si;
        for (int s = -1; s < items[i].n_refs && !failed; s++, si++) {
            const char *text = s < 0 ? items[i].cand : items[i].refs[s];
            arrsetlen(ids, 0);
            if (text && split_words(text, &words, &vocab, &ids, &tmp, &tmp_cap) != 0) {
                failed = 1;
                break;
            }
            size_t nw = (size_t)arrlen(ids);
            g->n_words[si] = (uint32_t)nw;
            arrsetlen(sent_grams, 0);
            arrsetlen(prev, 0);
            for (int k = 1; k <= 4 && (size_t)k <= nw; k++) {
                /* prev[p] = id of the (k-1)-gram starting at p; becomes the k-gram id */
                for (size_t p = 0; p + (size_t)k <= nw; p++) {
                    uint32_t word = ids[p + (size_t)k - 1];
                    uint64_t key = k == 1 ? word : ((uint64_t)prev[p] + 1) << 32 | word;
                    ptrdiff_t at = hmgeti(grams, key);
                    uint32_t gid;
                    if (at >= 0) {
                        gid = grams[at].value;
                    } else {
                        gid = (uint32_t)arrlen(keys);
                        ngram_key nk;
                        memset(&nk, 0, sizeof nk);
                        if (k > 1) nk = keys[prev[p]];
                        nk.w[k - 1] = word;
                        arrput(keys, nk);
                        arrput(order, (uint8_t)k);
                        hmput(grams, key, gid);
                    }
                    if (k == 1)
                        arrput(prev, gid);
                    else
                        prev[p] = gid;
                    arrput(sent_grams, gid);
                }
            }
            size_t ng = (size_t)arrlen(sent_grams);
            sort_u32(sent_grams, ng);
            for (size_t p = 0; p < ng;) {
                size_t q = p + 1;
                while (q < ng && sent_grams[q] == sent_grams[p]) q++;
                ngram_count e = {sent_grams[p], (uint32_t)(q - p)};
                arrput(ents, e);
                p = q;
            }
            g->ent_off[si + 1] = (size_t)arrlen(ents);
        }
    }
    g->first_sent[n] = si;
    free(tmp);
    arrfree(ids);
    arrfree(sent_grams);
    arrfree(prev);
    shfree(words);
    hmfree(grams);
    /* the stb_ds arrays are kept as they are (caption_ngrams_free knows) */
    g->vocab = vocab;
    g->n_vocab = (size_t)arrlen(vocab);
    g->keys = keys;
    g->order = order;
    g->n_ngrams = (size_t)arrlen(keys);
    g->ents = ents;
    if (failed) goto oom;
    return g;
oom:
    caption_ngrams_free(g);
    vk_err_set("n-gram counting: out of memory");
    return NULL;
}
