/* caption_ngrams.c — split, intern and count the 1..4-grams of every caption once, for BLEU and
 * CIDEr-D. Words follow Python's str.split() (any Unicode whitespace), as both official scorers
 * use it. Hash maps are stb_ds. */
#include "eval/ngrams_internal.h"
#include "eval/text.h"
#include "util/error.h"

#include "eval/ds.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    uint32_t value;
} word_entry;

typedef struct {
    ngram_key key;
    uint32_t value;
} ngram_entry;

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void caption_ngrams_free(caption_ngrams *g) {
    if (!g) return;
    free(g->first_sent);
    free(g->ent_off);
    free(g->ents);
    free(g->n_words);
    free(g->keys);
    free(g->order);
    if (g->vocab)
        for (size_t i = 1; i < g->n_vocab; i++) free(g->vocab[i]);
    free(g->vocab);
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
    ngram_entry *grams = NULL;
    ngram_key *keys = NULL;
    uint8_t *order = NULL;
    ngram_count *ents = NULL;
    uint32_t *ids = NULL, *sent_grams = NULL;
    char *tmp = NULL;
    size_t tmp_cap = 0;
    int failed = 0;

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
            for (int k = 1; k <= 4; k++) {
                for (size_t p = 0; p + (size_t)k <= nw; p++) {
                    ngram_key key;
                    memset(&key, 0, sizeof key);
                    memcpy(key.w, ids + p, (size_t)k * sizeof(uint32_t));
                    ptrdiff_t at = hmgeti(grams, key);
                    uint32_t gid;
                    if (at >= 0) {
                        gid = grams[at].value;
                    } else {
                        gid = (uint32_t)arrlen(keys);
                        arrput(keys, key);
                        arrput(order, (uint8_t)k);
                        hmput(grams, key, gid);
                    }
                    arrput(sent_grams, gid);
                }
            }
            size_t ng = (size_t)arrlen(sent_grams);
            if (ng > 1) qsort(sent_grams, ng, sizeof *sent_grams, cmp_u32);
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
    shfree(words);
    hmfree(grams);
    /* Copy stb_ds arrays into plain heap blocks so the struct frees with free(). */
    g->n_vocab = (size_t)arrlen(vocab);
    g->vocab = malloc((g->n_vocab ? g->n_vocab : 1) * sizeof *g->vocab);
    g->n_ngrams = (size_t)arrlen(keys);
    g->keys = malloc((g->n_ngrams ? g->n_ngrams : 1) * sizeof *g->keys);
    g->order = malloc(g->n_ngrams ? g->n_ngrams : 1);
    size_t ne = (size_t)arrlen(ents);
    g->ents = malloc((ne ? ne : 1) * sizeof *g->ents);
    if (g->vocab) memcpy(g->vocab, vocab, g->n_vocab * sizeof *vocab);
    else
        for (size_t k = 1; k < g->n_vocab; k++) free(vocab[k]);
    if (g->keys) memcpy(g->keys, keys, g->n_ngrams * sizeof *keys);
    if (g->order) memcpy(g->order, order, g->n_ngrams);
    if (g->ents) memcpy(g->ents, ents, ne * sizeof *ents);
    arrfree(vocab);
    arrfree(keys);
    arrfree(order);
    arrfree(ents);
    if (failed || !g->vocab || !g->keys || !g->order || !g->ents) {
        if (!g->vocab) g->n_vocab = 0;
        goto oom;
    }
    return g;
oom:
    caption_ngrams_free(g);
    vk_err_set("n-gram counting: out of memory");
    return NULL;
}
