/* ptb_pool.h — ptb_tokenize_lines with its output in a text pool (internal to eval/): a caption
 * set's 30,000 tokenised captions cost a realloc each and a free each at the end otherwise. */
#ifndef VLKIT_EVAL_PTB_POOL_H
#define VLKIT_EVAL_PTB_POOL_H

#include "eval/text_pool.h"

#include <stddef.h>

/* ptb_tokenize_lines, with out[i] carved from pool (never freed on its own). On error, what was
 * put in pool stays there until the pool is freed. */
int ptb_tokenize_lines_pooled(const char *const *captions, size_t n, char **out, text_pool *pool);

#endif
