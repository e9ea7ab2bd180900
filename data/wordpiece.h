/* wordpiece.h — BERT WordPiece tokenizer, exactly as transformers' slow BertTokenizer (v4.43),
 * with BLIP's added [DEC] (bos) and [ENC] tokens.
 *
 *   wordpiece *tok = wordpiece_load("model_dir");        // vocab.txt (or tokenizer.json) + configs
 *   if (!tok) die(vk_err_msg());
 *   const char *texts[] = {"a cat sitting on the couch", "Two dogs playing on the beach!"};
 *   wordpiece_encode_opts o = wordpiece_encode_defaults();   // [CLS] ... [SEP], no truncation
 *   o.padding = WORDPIECE_PAD_LONGEST;
 *   wordpiece_batch b;
 *   if (wordpiece_encode(tok, texts, 2, &o, &b) != 0) die(vk_err_msg());
 *   use(b.ids, b.mask, b.rows, b.cols);                  // int64, row-major, right padding
 *   wordpiece_batch_free(&b);
 *   char *s = wordpiece_decode(tok, ids, n, 1, -1);      // skip specials, config's clean-up rule
 *   free(s);
 *   wordpiece_free(tok);
 *
 * Encoding: BasicTokenizer (data/bert_basic.h: lower-casing, cleaning, CJK spacing, NFC, accent
 * stripping, punctuation split; special tokens written in the text are kept whole), then
 * greedy longest-match-first WordPiece with "##" continuations; a word that cannot be covered,
 * or is longer than 100 code points, becomes [UNK]. Token -> id looks at the added tokens
 * first, then the vocabulary.
 *
 * Loading (wordpiece_load), from a folder or a file:
 *   - vocab.txt: one token per line, id = line number (universal newlines, as Python reads it);
 *     a folder without vocab.txt uses tokenizer.json (the fast-tokenizer file: model.vocab map,
 *     model.unk_token / max_input_chars_per_word / continuing_subword_prefix, added_tokens,
 *     normalizer flags); a path to a .json file is read as tokenizer.json;
 *   - optional next to it: tokenizer_config.json (do_lower_case, strip_accents,
 *     tokenize_chinese_chars, clean_up_tokenization_spaces, model_max_length, special tokens,
 *     added_tokens_decoder), special_tokens_map.json, added_tokens.json;
 *   - special tokens default to BERT's ([PAD] [UNK] [CLS] [SEP] [MASK]) plus BLIP's bos [DEC]
 *     and additional [ENC]; any of these absent from every file is appended with the next id
 *     ([DEC] = len(vocab), [ENC] = len(vocab)+1 for a bare vocab.txt), as BLIP's
 *     add_special_tokens does.
 * Errors name the file: unreadable, not UTF-8, not JSON, wrong types, an empty vocabulary,
 * ids that collide or are out of range, a special token that resolves to no id.
 *
 * Thread safety: a loaded tokenizer is read-only; encode/decode may run concurrently. */
#ifndef VLKIT_DATA_WORDPIECE_H
#define VLKIT_DATA_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

typedef struct wordpiece wordpiece;

/* Special token ids; -1 where the tokenizer has no such token. */
typedef struct {
    int pad, unk, cls, sep, mask;
    int bos;   /* [DEC] for BLIP: generation starts with it (text_config.bos_token_id) */
    int enc;   /* [ENC] */
} wordpiece_special_ids;

/* `path`: a model/tokenizer folder, a vocab.txt file or a tokenizer.json file. NULL on error. */
wordpiece *wordpiece_load(const char *path);
void wordpiece_free(wordpiece *tok);

/* len(tokenizer): the vocabulary plus added tokens (141 for blip-tiny, 30524 for BLIP base). */
int wordpiece_size(const wordpiece *tok);
/* The base vocabulary only (len(vocab.txt) when its tokens are distinct). */
int wordpiece_vocab_size(const wordpiece *tok);
wordpiece_special_ids wordpiece_specials(const wordpiece *tok);
/* model_max_length from tokenizer_config.json (0 when not given; huge values are clamped). */
int wordpiece_model_max_length(const wordpiece *tok);
/* The config's clean_up_tokenization_spaces (default 1). */
int wordpiece_clean_up_default(const wordpiece *tok);

/* Exact token string -> id (added tokens first, then the vocabulary); -1 if there is none. */
int wordpiece_token_id(const wordpiece *tok, const char *token);
/* id -> token string (owned by the tokenizer); NULL for an id with no token. */
const char *wordpiece_id_token(const wordpiece *tok, int64_t id);
/* 1 if id is one of all_special_ids (what skip_special_tokens removes). */
int wordpiece_is_special(const wordpiece *tok, int64_t id);

/* The BasicTokenizer's words (before WordPiece), for inspection and tests: *words is a malloc'd
 * array of *n malloc'd strings, freed with wordpiece_strings_free. */
int wordpiece_basic_tokenize(const wordpiece *tok, const char *text, char ***words, size_t *n);
void wordpiece_strings_free(char **words, size_t n);

/* Text -> token ids without [CLS]/[SEP]; *ids is malloc'd (NULL when *n == 0). */
int wordpiece_tokenize(const wordpiece *tok, const char *text, int64_t **ids, size_t *n);

typedef enum {
    WORDPIECE_PAD_NONE,        /* rows must come out the same length (always true for one text) */
    WORDPIECE_PAD_LONGEST,     /* pad to the longest row of the batch */
    WORDPIECE_PAD_MAX_LENGTH,  /* pad to max_length (which must be > 0) */
} wordpiece_padding;

typedef struct {
    int add_special_tokens;    /* 1: [CLS] tokens [SEP] */
    int max_length;            /* > 0: truncate to this many ids, specials included; 0: none */
    wordpiece_padding padding; /* [PAD] on the right, attention mask 0 there */
} wordpiece_encode_opts;

/* add_special_tokens = 1, max_length = 0, padding = WORDPIECE_PAD_NONE. */
wordpiece_encode_opts wordpiece_encode_defaults(void);

typedef struct {
    int rows, cols;
    int64_t *ids;    /* rows * cols, row-major; owned, free with wordpiece_batch_free */
    int64_t *mask;   /* rows * cols: 1 for a token, 0 for padding */
    int *lengths;    /* per row: tokens before padding */
} wordpiece_batch;

/* Encode n texts (n >= 1). On error nothing is allocated and vk_err says which text. */
int wordpiece_encode(const wordpiece *tok, const char *const *texts, int n,
                     const wordpiece_encode_opts *opts, wordpiece_batch *out);
void wordpiece_batch_free(wordpiece_batch *b);

/* ids -> text, as tokenizer.decode(ids, skip_special_tokens, clean_up_tokenization_spaces):
 * tokens joined with spaces, " ##" removed, [ENC]-style added tokens kept apart; clean_up
 * (1, 0, or -1 for the config's default) then applies transformers' replacements
 * (" ." -> "." " ?" " !" " ," " ' " -> "'" " n't" " 'm" " 's" " 've" " 're"). Ids with no
 * token decode as the unknown token. Returns a malloc'd string, NULL on out-of-memory. */
char *wordpiece_decode(const wordpiece *tok, const int64_t *ids, size_t n, int skip_special_tokens,
                       int clean_up);

#endif
