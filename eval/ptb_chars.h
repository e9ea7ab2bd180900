/* ptb_chars.h — character classes of the CoreNLP 3.4.1 PTB lexer (internal to eval/).
 *
 * Java's Character predicates for the BMP (the 2014 lexer sees UTF-16 units, so a code point
 * outside the BMP is never a letter, digit or symbol: it is deleted as untokenisable), plus the
 * lexer's own sets. The input to every predicate is a code point; PTB_EOF matches nothing. */
#ifndef VLKIT_EVAL_PTB_CHARS_H
#define VLKIT_EVAL_PTB_CHARS_H

#include <stdint.h>

#define PTB_EOF 0xFFFFFFFFu

int ptb_is_letter(uint32_t c);     /* Character.isLetter */
int ptb_is_letter_ext(uint32_t c); /* letters plus soft hyphen and combining marks (the WORD letters) */
int ptb_is_digit(uint32_t c);      /* Character.isDigit */
int ptb_is_upper(uint32_t c);      /* Character.isUpperCase */
int ptb_is_newline(uint32_t c);    /* \n \r VT FF U+0085 U+2028 U+2029 */
int ptb_is_misc_symbol(uint32_t c);/* stand-alone symbols: + % & ~ ^ | \ ° © ™ arrows, math, ... */
int ptb_is_zero_width(uint32_t c); /* skipped like spaces: U+200B, U+200E, U+200F, U+FEFF, NUL */

/* Horizontal spaces the lexer skips: space, tab, NBSP, U+2000-200A, U+3000 (inline: the scan
 * asks it after every word). */
static inline int ptb_is_space(uint32_t c) { return c == ' ' || c == '\t' || c == 0xA0 || (c >= 0x2000 && c <= 0x200A) || c == 0x3000; }
static inline int ptb_is_ascii_alpha(uint32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static inline int ptb_is_ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static inline int ptb_is_ascii_alnum(uint32_t c) { return ptb_is_ascii_alpha(c) || ptb_is_ascii_digit(c); }
static inline int ptb_is_spacenl(uint32_t c) { return ptb_is_space(c) || ptb_is_newline(c); }
/* Single-character apostrophes: ' and the two right single quotes (U+0092 is cp1252's). */
static inline int ptb_is_apos1(uint32_t c) { return c == '\'' || c == 0x92 || c == 0x2019; }
/* Apostrophe-like characters accepted inside words: the above plus ` U+0091 U+2018 U+201B. */
static inline int ptb_is_aposetc1(uint32_t c) { return ptb_is_apos1(c) || c == '`' || c == 0x91 || c == 0x2018 || c == 0x201B; }

#endif
