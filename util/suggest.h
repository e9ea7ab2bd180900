/* suggest.h — "did you mean ...?": the closest known word to a mistyped one.
 *
 *   static const char *const keys[] = {"lora.r", "lora.alpha", "optim.lr"};
 *   const char *s = vk_suggest("lora.rank", keys, 3);   // "lora.r"
 *
 * Distance is optimal-string-alignment (Levenshtein plus adjacent swaps, so "lora.rnak" is one
 * edit from "lora.rank"), case-insensitive. A suggestion is only made when it is close enough to
 * be plausible: at most max(2, len/3) edits, so "batch" never suggests "seed". */
#ifndef VLKIT_UTIL_SUGGEST_H
#define VLKIT_UTIL_SUGGEST_H

#include <stddef.h>

/* Edit distance between a and b (case-insensitive; adjacent transpositions cost 1). Strings of
 * more than 255 bytes compare as "far" (SIZE_MAX) rather than allocating. */
size_t vk_edit_distance(const char *a, const char *b);

/* The candidate closest to word, or NULL when none is plausible. Ties go to the earlier one.
 * Returns one of the candidates' pointers. */
const char *vk_suggest(const char *word, const char *const *candidates, size_t n);

#endif
