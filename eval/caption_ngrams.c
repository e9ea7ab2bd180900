/* caption_ngrams.c — split, intern and count the 1..4-grams of every caption once, for BLEU and
 * CIDEr-D. Words follow Python's str.split() (any Unicode whitespace), as both official scorers
 * use it. Hash maps and growing arrays are stb_ds. */
#include "eval/ngrams_internal.h"
#include "eval/text.h"
#include "util/error.h"

#include "util/ds.h"
#include <stdlib.h>
#include <string.h>

/* Words: a stb_ds string map (keys copied into its arena), looked up in place in a copy of the
 * sentence (each word NUL-terminated there for the look-up). Unigrams: an array by word id.
 * 2..4-grams: a stb_ds integer map keyed by vk_mix64 of (id of the first n-1 words + 1) << 32 |
 * last word id — exact (the prefix determines n, and the mixer is a bijection), and spread over
 * the table as stb_ds's integer hash does not spread packed keys. Ids are handed out in
 * first-seen order, as before, so the scorers' sums add in the same order. */
typedef struct {
    uint64_t key;   /* vk_mix64 of the packed key */
    uint32_t value; /* n-gram id */
} gram_entry;

/* Both tables are created beside ROUGE-L's (another thread): under stb_ds's creation lock. */
static void words_new(ngram_word **words) {
    vk_ds_create_lock();
    sh_new_arena(*words);
    vk_ds_create_unlock();
}

/* Id of the NUL-terminated word w, added when new; 0 when the ids would pass 32 bits. */
static uint32_t word_id(ngram_word **words, char ***vocab, char *w) {
    ptrdiff_t at = shgeti(*words, w);
    if (at >= 0) return (*words)[at].value;
    size_t id = arrlenu(*vocab); /* ids from 1: vocab[0] is a placeholder */
    if (id >= UINT32_MAX) return 0;
    at = shputi(*words, w, (uint32_t)id);
    arrput(*vocab, (*words)[at].key); /* the arena's copy, kept until shfree */
    return (uint32_t)id;
}

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
    arrfree(g->vocab);
    shfree(g->words);
    free(g);
}

/* Python's str.isspace() for the ASCII range (the rest through text_py_isspace). */
static int ascii_space(unsigned char c) { return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F); }

/* Words of s (str.split(): any Unicode whitespace) as interned ids, appended to *ids (stb_ds
 * array); s is the caller's copy of the sentence (each word is NUL-terminated there while it
 * is looked up). -1 when the word ids would pass 32 bits. */
static int split_words(char *s, ngram_word **words, char ***vocab, uint32_t **ids) {
    size_t i = 0;
    for (;;) {
        /* skip whitespace */
        for (;;) {
            unsigned char c = (unsigned char)s[i];
            if (c == 0) return 0;
            if (c < 0x80) {
                if (!ascii_space(c)) break;
                i++;
            } else {
                size_t j = i;
                if (!text_py_isspace(text_utf8_next(s, &j))) break;
                i = j;
            }
        }
        size_t start = i;
        for (;;) {
            unsigned char c = (unsigned char)s[i];
            if (c == 0) break;
            if (c < 0x80) {
                if (ascii_space(c)) break;
                i++;
            } else {
                size_t j = i;
                if (text_py_isspace(text_utf8_next(s, &j))) break;
                i = j;
            }
        }
        char end = s[i];
        s[i] = 0;
        uint32_t id = word_id(words, vocab, s + start);
        s[i] = end;
        if (!id) return -1;
        arrput(*ids, id);
    }
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

    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].cand) bytes += strlen(items[i].cand);
        for (int r = 0; r < items[i].n_refs; r++) bytes += strlen(items[i].refs[r]);
    }
    gram_entry *grams = NULL; /* stb_ds map: packed key of a 2..4-gram -> its id */
    uint32_t *unigram = NULL; /* word id -> id of its unigram (UINT32_MAX: none yet) */
    ngram_key *keys = NULL;
    uint8_t *order = NULL;
    ngram_count *ents = NULL;
    uint32_t *ids = NULL, *sent_grams = NULL, *prev = NULL;
    char *line = NULL; /* a copy of the sentence being split */
    int failed = 0;    /* 1: ids would pass 32 bits */
    words_new(&g->words);
    arrput(g->vocab, NULL); /* word id 0: no word */
    /* about one word per 5 bytes, four n-gram orders, most distinct within a sentence */
    arrsetcap(ents, bytes / 5 * 4 + 16);

    size_t si = 0;
    g->ent_off[0] = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        g->first_sent[i] = si;
        for (int s = -1; s < items[i].n_refs && !failed; s++, si++) {
            const char *text = s < 0 ? items[i].cand : items[i].refs[s];
            arrsetlen(ids, 0);
            if (text) {
                size_t len = strlen(text);
                arrsetlen(line, len + 1);
                memcpy(line, text, len + 1);
                if (split_words(line, &g->words, &g->vocab, &ids) != 0) {
                    failed = 1;
                    break;
                }
            }
            size_t nw = (size_t)arrlen(ids);
            g->n_words[si] = (uint32_t)nw;
            arrsetlen(sent_grams, 0);
            arrsetlen(prev, 0);
            for (int k = 1; k <= 4 && (size_t)k <= nw && !failed; k++) {
                /* prev[p] = id of the (k-1)-gram starting at p; becomes the k-gram id */
                for (size_t p = 0; p + (size_t)k <= nw; p++) {
                    uint32_t word = ids[p + (size_t)k - 1];
                    uint64_t key = k == 1 ? 0 : vk_mix64(((uint64_t)prev[p] + 1) << 32 | word);
                    /* unigrams by word id, longer ones in the map */
                    ptrdiff_t at = -1;
                    if (k == 1)
                        at = word < arrlenu(unigram) && unigram[word] != UINT32_MAX ? (ptrdiff_t)unigram[word] : -1;
                    else if (grams)
                        (void)hmgeti_ts(grams, key, at);
                    uint32_t gid;
                    if (at >= 0) {
                        gid = k == 1 ? (uint32_t)at : grams[at].value;
                    } else { /* a new n-gram: its id + 1 must fit the 32-bit prefix of a longer key */
                        size_t next = arrlenu(keys);
                        if (next >= UINT32_MAX - 1) {
                            failed = 1;
                            break;
                        }
                        gid = (uint32_t)next;
                        ngram_key nk;
                        memset(&nk, 0, sizeof nk);
                        if (k > 1) nk = keys[prev[p]];
                        nk.w[k - 1] = word;
                        arrput(keys, nk);
                        arrput(order, (uint8_t)k);
                        if (k == 1) {
                            while (arrlenu(unigram) <= word) arrput(unigram, UINT32_MAX);
                            unigram[word] = gid;
                        } else if (!grams) {
                            vk_ds_create_lock();
                            hmput(grams, key, gid);
                            vk_ds_create_unlock();
                        } else {
                            hmput(grams, key, gid);
                        }
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
    arrfree(ids);
    arrfree(sent_grams);
    arrfree(prev);
    arrfree(line);
    hmfree(grams);
    arrfree(unigram);
    /* the stb_ds arrays are kept as they are (caption_ngrams_free knows) */
    g->keys = keys;
    g->order = order;
    g->n_ngrams = (size_t)arrlen(keys);
    g->ents = ents;
    g->n_vocab = arrlenu(g->vocab);
    if (failed) {
        caption_ngrams_free(g);
        vk_err_set("n-gram counting: more than %u distinct words or n-grams (their ids are 32-bit); score the "
                   "corpus in parts",
                   (unsigned)(UINT32_MAX - 2));
        return NULL;
    }
    return g;
oom:
    caption_ngrams_free(g);
    vk_err_set("n-gram counting: out of memory");
    return NULL;
}
