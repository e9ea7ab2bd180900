/* ngrams_internal.h — the layout of caption_ngrams, shared by caption_words.c, caption_ngrams.c, bleu.c,
 * cider.c, rouge.c and caption_scores.c.
 *
 * Every caption ("sentence") is split into words with str.split() semantics; words are interned
 * (ids from 1), and each distinct 1..4-gram of the corpus gets an id. A sentence is then the list
 * of its distinct n-grams with their counts, by order (1..4) and within an order sorted by n-gram
 * id: the scorers compare sentences through arrays indexed by n-gram id instead of hash look-ups,
 * and their floating-point sums, made per order, always come in id order. (Sorting each order
 * alone costs half of one sort over the sentence.) */
#ifndef VLKIT_EVAL_NGRAMS_INTERNAL_H
#define VLKIT_EVAL_NGRAMS_INTERNAL_H

#include "eval/eval.h"
#include "eval/text_pool.h"

#include <stdint.h>

typedef struct {
    uint32_t id;    /* n-gram id */
    uint32_t count; /* term frequency in the sentence */
} ngram_count;

typedef struct {
    uint32_t w[4]; /* word ids, 0 = unused (so the key also encodes the length) */
} ngram_key;

typedef struct ngram_word ngram_word; /* caption_words.c: an entry of the word map */

struct caption_ngrams {
    size_t n_items;
    size_t *first_sent;   /* n_items + 1: sentences of item i are first_sent[i] (candidate) .. first_sent[i+1]-1 */
    size_t n_sent;
    size_t *word_off;     /* n_sent + 1 offsets into word_ids */
    uint32_t *word_ids;   /* every sentence's words (stb_ds array) */
    uint8_t *spaced;      /* per sentence: 1 when s.split(" ") gives the same words (ROUGE-L's tokens) */
    size_t *ent_off;      /* n_sent * 4 + 1 offsets into ents: sentence s's k-grams are ent_off[4s + k - 1] .. ent_off[4s + k] - 1 */
    ngram_count *ents;    /* stb_ds array */
    size_t n_ngrams;
    ngram_key *keys;      /* per n-gram id (stb_ds array) */
    uint8_t *order;       /* per n-gram id: n (1..4) (stb_ds array) */
    char **vocab;         /* word id -> word (vocab[0] unused), NUL-terminated, in pool (stb_ds array) */
    ngram_word *words;    /* word -> id (uthash, util/ht.h) */
    text_pool pool;       /* the words' text and the hash maps' entries */
    size_t n_vocab;       /* word ids 1..n_vocab-1 */
};

/* Sentence s of item i: s = 0 is the candidate, 1..m the references. */
static inline size_t ngrams_sent(const caption_ngrams *g, size_t item, int s) { return g->first_sent[item] + (size_t)s; }
static inline int ngrams_n_refs(const caption_ngrams *g, size_t item) {
    return (int)(g->first_sent[item + 1] - g->first_sent[item]) - 1;
}
/* Sentence s's entries: all of them, or its k-grams (k = 1..4). */
static inline size_t ngrams_ents_begin(const caption_ngrams *g, size_t s) { return g->ent_off[s * 4]; }
static inline size_t ngrams_ents_end(const caption_ngrams *g, size_t s) { return g->ent_off[s * 4 + 4]; }
static inline size_t ngrams_k_begin(const caption_ngrams *g, size_t s, int k) { return g->ent_off[s * 4 + (size_t)k - 1]; }
static inline size_t ngrams_k_end(const caption_ngrams *g, size_t s, int k) { return g->ent_off[s * 4 + (size_t)k]; }
static inline size_t ngrams_n_words(const caption_ngrams *g, size_t s) { return g->word_off[s + 1] - g->word_off[s]; }

/* caption_ngrams_build in two steps, so that ROUGE-L can run on the words beside the counting:
 * split and intern the words (caption_words.c; the n-gram fields stay empty), then count. */
caption_ngrams *caption_ngrams_words(const caption_item *items, size_t n);
void caption_words_free(caption_ngrams *g); /* the word map (caption_ngrams_free calls it) */
int caption_ngrams_count(caption_ngrams *g);
/* ROUGE-L on g's words (rouge.c): the ids stand for the tokens where every caption of an image
 * is spaced; other images are split again with s.split(" "). */
int rouge_score_words(const caption_ngrams *g, const caption_item *items, double *corpus, double *per_image);

#endif
