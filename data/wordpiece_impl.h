/* wordpiece_impl.h — the tokenizer's insides, shared by wordpiece_load.c and wordpiece.c only. */
#ifndef VLKIT_DATA_WORDPIECE_IMPL_H
#define VLKIT_DATA_WORDPIECE_IMPL_H

#include "data/wordpiece.h"

#include <stddef.h>

/* Upper bound on ids read from files: far above any WordPiece vocabulary (BERT: 30522,
 * multilingual: 119547) and small enough that id tables are cheap. */
#define WP_MAX_ID 10000000

typedef struct {
    char *key;   /* token (stb_ds arena copy) */
    int value;   /* id */
} wp_entry;

typedef struct {
    char *content;   /* owned */
    int id;
    int special;     /* marked special in a file, or one of the special-token roles */
    int legacy;      /* decoded as its own sub-text: see wordpiece_decode */
} wp_added;

struct wordpiece {
    wp_entry *vocab;          /* stb_ds string map: vocab.txt / tokenizer.json model.vocab */
    int vocab_size;           /* distinct tokens in it (BertTokenizer.vocab_size) */
    int size;                 /* len(tokenizer): distinct strings over vocab and added tokens */
    const char **id_tok;      /* stb_ds array id -> token (NULL: no token); points into vocab
                                 keys or added contents */
    wp_added *added;          /* stb_ds array: added tokens (all special tokens among them) */
    const char **cut;         /* stb_ds array: added contents, cut out of texts whole */
    int *special_ids;         /* stb_ds array: all_special_ids, what decoding may skip */
    wordpiece_special_ids ids;
    char *unk_token;          /* owned: what WordPiece emits for an uncoverable word */
    char *prefix;             /* owned: continuation prefix, "##" */
    int max_chars;            /* max_input_chars_per_word, 100 */
    int lower, strip_accents, chinese, clean_up, model_max_length;
};

/* Thread-safe lookups (stb_ds's shget writes into the table header; these do not). */
int wp_vocab_find(const wordpiece *tok, const char *s);    /* -1 if absent */
const wp_added *wp_added_find(const wordpiece *tok, const char *s);
const wp_added *wp_added_by_id(const wordpiece *tok, int id);

#endif
