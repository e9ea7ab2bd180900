/* text_pool.h — many small strings that live and die together (a VQA set's answers: 260,000 of
 * them for 20,000 questions), carved from large blocks instead of one malloc and free each
 * (internal to eval/). One pool per thread; pools join when the threads are done. */
#ifndef VLKIT_EVAL_TEXT_POOL_H
#define VLKIT_EVAL_TEXT_POOL_H

#include <stddef.h>

typedef struct text_pool_block text_pool_block;
typedef struct text_pool {
    text_pool_block *head; /* the block being filled, then the older ones */
} text_pool;

/* n zeroed bytes, 8-byte aligned; NULL when out of memory. */
void *text_pool_alloc(text_pool *p, size_t n);
/* The same, not zeroed: for strings written in full at once. */
void *text_pool_alloc_raw(text_pool *p, size_t n);
/* A NUL-terminated copy of s[0..n). */
char *text_pool_strndup(text_pool *p, const char *s, size_t n);
/* Move every block of from into into (from is left empty). */
void text_pool_join(text_pool *into, text_pool *from);
void text_pool_free(text_pool *p);

#endif
