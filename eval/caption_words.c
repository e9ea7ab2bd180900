/* caption_words.c — the first step of caption_ngrams_build: split every caption into words once
 * (Python's str.split(): any Unicode whitespace) and intern them, for the n-gram counter and
 * ROUGE-L alike. The word map is uthash (util/ht.h: the hot path), arrays are stb_ds. */
#include "eval/ngrams_internal.h"
#include "eval/text.h"
#include "util/error.h"
#include "util/ht.h"

#include <stdlib.h>
#include <string.h>

/* Words are looked up in place in the caption (key = the bytes and their length); a new one is
 * copied into g->pool, which then holds its text (vocab) and its map entry. Ids are handed out
 * in first-seen order, so the n-gram ids (and the scorers' sums) come in the same order. */
struct ngram_word {
    uint32_t id;
    UT_hash_handle hh; /* key: the word's text in g->pool */
};

/* Id of the word w[0..len), added when new; 0 when out of memory or the ids would pass 32 bits. */
static uint32_t word_id(caption_ngrams *g, const char *w, size_t len) {
    unsigned hv;
    ngram_word *e;
    HASH_VALUE(w, len, hv);
    HASH_FIND_BYHASHVALUE(hh, g->words, w, len, hv, e);
    if (e) return e->id;
    size_t id = arrlenu(g->vocab); /* ids from 1: vocab[0] is a placeholder */
    unsigned count = HASH_COUNT(g->words);
    char *text = id < UINT32_MAX ? text_pool_strndup(&g->pool, w, len) : NULL;
    e = text ? text_pool_alloc(&g->pool, sizeof *e) : NULL;
    if (!e) return 0;
    e->id = (uint32_t)id;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, g->words, text, len, hv, e);
    if (!vk_ht_added(g->words, count)) return 0;
    arrput(g->vocab, text);
    return (uint32_t)id;
}

void caption_words_free(caption_ngrams *g) {
    HASH_CLEAR(hh, g->words); /* the entries are in the pool */
    text_pool_free(&g->pool);
}

/* Byte classes for the split: a word byte (ASCII, not str.isspace()), an ASCII space, the end,
 * or the lead/continuation of a multi-byte character (decoded and checked with text_py_isspace).
 * One table look-up a byte instead of a chain of compares. */
enum { B_WORD, B_SPACE, B_END, B_MULTI };
static const unsigned char byte_class[256] = {
    B_END,   B_WORD,  B_WORD,  B_WORD,  B_WORD,  B_WORD,  B_WORD,  B_WORD,  /* 0x00-0x07 */
    B_WORD,  B_SPACE, B_SPACE, B_SPACE, B_SPACE, B_SPACE, B_WORD,  B_WORD,  /* 0x08-0x0f: \t..\r */
    B_WORD,  B_WORD,  B_WORD,  B_WORD,  B_WORD,  B_WORD,  B_WORD,  B_WORD,  /* 0x10-0x17 */
    B_WORD,  B_WORD,  B_WORD,  B_WORD,  B_SPACE, B_SPACE, B_SPACE, B_SPACE, /* 0x18-0x1f: 0x1c-0x1f */
    B_SPACE,                                                                /* ' ' */
#define M8 B_MULTI, B_MULTI, B_MULTI, B_MULTI, B_MULTI, B_MULTI, B_MULTI, B_MULTI
    [0x80] = M8, M8, M8, M8, M8, M8, M8, M8, M8, M8, M8, M8, M8, M8, M8, M8,
#undef M8
}; /* 0x21-0x7f: B_WORD (0) */

/* Words of s (str.split()) as interned ids, appended to g->word_ids. *spaced = 1 when
 * s.split(" ") gives the same words (one or more, each separated by exactly one ' ', nothing
 * before or after), ROUGE-L's tokens. -1 when out of memory or the ids would pass 32 bits. */
static int split_words(caption_ngrams *g, const char *s, uint8_t *spaced) {
    size_t i = 0, last_end = 0, nw = 0;
    int regular = 1;
    for (;;) {
        /* skip whitespace */
        for (;;) {
            unsigned cls = byte_class[(unsigned char)s[i]];
            if (cls == B_WORD) break;
            if (cls == B_END) {
                *spaced = (uint8_t)(regular && nw > 0 && i == last_end);
                return 0;
            }
            if (cls == B_SPACE) {
                i++;
            } else {
                size_t j = i;
                if (!text_py_isspace(text_utf8_next(s, &j))) break;
                i = j;
            }
        }
        size_t start = i;
        if (nw ? start != last_end + 1 || s[last_end] != ' ' : start != 0) regular = 0;
        for (;;) {
            unsigned cls = byte_class[(unsigned char)s[i]];
            if (cls == B_WORD) {
                i++;
            } else if (cls == B_MULTI) {
                size_t j = i;
                if (text_py_isspace(text_utf8_next(s, &j))) break;
                i = j;
            } else {
                break;
            }
        }
        uint32_t id = word_id(g, s + start, i - start);
        if (!id) return -1;
        arrput(g->word_ids, id);
        last_end = i;
        nw++;
    }
}

caption_ngrams *caption_ngrams_words(const caption_item *items, size_t n) {
    caption_ngrams *g = calloc(1, sizeof *g);
    if (!g) goto oom;
    size_t n_sent = 0;
    for (size_t i = 0; i < n; i++) n_sent += 1 + (size_t)items[i].n_refs;
    g->n_items = n;
    g->n_sent = n_sent;
    g->first_sent = malloc((n + 1) * sizeof *g->first_sent);
    g->word_off = malloc((n_sent + 1) * sizeof *g->word_off);
    g->spaced = malloc((n_sent ? n_sent : 1) * sizeof *g->spaced);
    if (!g->first_sent || !g->word_off || !g->spaced) goto oom;

    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].cand) bytes += strlen(items[i].cand);
        for (int r = 0; r < items[i].n_refs; r++) bytes += strlen(items[i].refs[r]);
    }
    arrput(g->vocab, NULL);                 /* word id 0: no word */
    arrsetcap(g->word_ids, bytes / 4 + 16); /* about one word per 5 bytes */
    int failed = 0;                         /* 1: out of memory or ids would pass 32 bits */
    size_t si = 0;
    g->word_off[0] = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        g->first_sent[i] = si;
        for (int s = -1; s < items[i].n_refs; s++, si++) {
            const char *text = s < 0 ? items[i].cand : items[i].refs[s];
            g->spaced[si] = 0;
            if (text && split_words(g, text, &g->spaced[si]) != 0) {
                failed = 1;
                break;
            }
            g->word_off[si + 1] = arrlenu(g->word_ids);
        }
    }
    g->first_sent[n] = si;
    g->n_vocab = arrlenu(g->vocab);
    if (failed) {
        caption_ngrams_free(g);
        vk_err_set("n-gram counting: out of memory, or more than %u distinct words (their ids are 32-bit)",
                   (unsigned)(UINT32_MAX - 2));
        return NULL;
    }
    return g;
oom:
    caption_ngrams_free(g);
    vk_err_set("n-gram counting: out of memory");
    return NULL;
}
