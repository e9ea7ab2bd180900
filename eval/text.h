/* text.h — the few UTF-8 and Python-string rules the evaluators need (internal to eval/).
 *
 * The official evaluators are Python: "words" means str.split() (Unicode whitespace),
 * strip() strips Unicode whitespace, lower() is Unicode full lower-casing. These helpers
 * reproduce exactly those rules on UTF-8 bytes. */
#ifndef VLKIT_EVAL_TEXT_H
#define VLKIT_EVAL_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Decode one code point at s[*i] (s valid UTF-8, checked by text_utf8_check); advances *i. */
uint32_t text_utf8_next(const char *s, size_t *i);
/* Append the UTF-8 encoding of cp to buf (>= 4 bytes room); returns bytes written. */
int text_utf8_put(char *buf, uint32_t cp);
/* 0 when s[0..len) is valid UTF-8 without NUL; else -1 with *bad = byte offset of the problem
 * and *what a short description. */
int text_utf8_check(const char *s, size_t len, size_t *bad, const char **what);
/* Python 3 str.isspace() for one code point (what str.split() and str.strip() use). */
int text_py_isspace(uint32_t cp);
/* Python 3 str.lower() / Java String.toLowerCase(Locale.ENGLISH): full lower-casing with the
 * special cases both share (U+0130 -> "i̇", final sigma). malloc'd, NULL when out of memory. */
char *text_lower(const char *s, size_t len);
/* Python str.strip() on [s, s+len): sets *start / *len to the stripped span. */
void text_py_strip(const char *s, size_t len, size_t *start, size_t *out_len);

#endif
