/* bert_basic.h — the text side of BERT's slow tokenizer before WordPiece (internal to data/).
 *
 * Reproduces what transformers' BertTokenizer.tokenize() does before the WordPiece step
 * (PreTrainedTokenizer.tokenize + BasicTokenizer.tokenize, v4.43), in this order:
 *   1. lower-case every character except inside special-token occurrences (Python str.lower,
 *      character by character, as the `(special)|(.+?)` regex substitution does);
 *   2. cut the special tokens out (leftmost, longest match first); they are kept whole;
 *   3. per remaining segment: clean (drop U+0000, U+FFFD and category C* except \t \n \r; Zs and
 *      \t \n \r become spaces), space out CJK ideographs, NFC, split on whitespace;
 *   4. per word (unless it equals a special token): lower-case, NFD and drop Mn marks (accent
 *      stripping), split off every punctuation character (ASCII ranges and category P*).
 * Steps 1 and 4's lower-casing happen only with `lower`; 4's accent stripping follows
 * BertTokenizer's strip_accents rule (on when lower-casing unless strip_accents is false). */
#ifndef VLKIT_DATA_BERT_BASIC_H
#define VLKIT_DATA_BERT_BASIC_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int lower;                   /* do_lower_case */
    int strip_accents;           /* resolved: 1 strip, 0 keep */
    int chinese;                 /* tokenize_chinese_chars */
    const char *const *specials; /* tokens cut out whole (the added/special tokens), NUL-terminated */
    size_t n_specials;
} bert_basic_opts;

/* The output: pieces back to back, each NUL-terminated, in order. */
typedef struct {
    char *text;        /* stb_ds array of bytes */
    size_t *start;     /* stb_ds array: offset of each piece in text */
    uint8_t *special;  /* stb_ds array: 1 = a special token cut out in step 2 */
} bert_pieces;

/* Split `len` bytes of UTF-8 text. Invalid UTF-8 is an error (-1, vk_err names the byte
 * offset). On success the caller frees `out` with bert_pieces_free. */
int bert_basic_split(const bert_basic_opts *o, const char *text, size_t len, bert_pieces *out);
void bert_pieces_free(bert_pieces *p);

size_t bert_pieces_count(const bert_pieces *p);
const char *bert_pieces_at(const bert_pieces *p, size_t i);

/* Python's str.isspace for one code point (used by decoding's strip as well). */
int bert_is_py_space(int32_t cp);

#endif
