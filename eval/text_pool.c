/* text_pool.c — see text_pool.h. */
#include "eval/text_pool.h"

#include <stdlib.h>
#include <string.h>

struct text_pool_block {
    text_pool_block *next;
    size_t used, cap;
    _Alignas(8) unsigned char data[];
};

#define TEXT_POOL_BLOCK (1u << 20)

void *text_pool_alloc_raw(text_pool *p, size_t n) {
    n = (n + 7) & ~(size_t)7;
    text_pool_block *b = p->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > TEXT_POOL_BLOCK ? n : TEXT_POOL_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = p->head;
        b->used = 0;
        b->cap = cap;
        p->head = b;
    }
    void *r = b->data + b->used;
    b->used += n;
    return r;
}

void *text_pool_alloc(text_pool *p, size_t n) {
    void *r = text_pool_alloc_raw(p, n);
    if (r) memset(r, 0, n);
    return r;
}

char *text_pool_strndup(text_pool *p, const char *s, size_t n) {
    char *r = text_pool_alloc_raw(p, n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

void text_pool_join(text_pool *into, text_pool *from) {
    text_pool_block *last = from->head;
    if (!last) return;
    while (last->next) last = last->next;
    /* from's blocks go behind into's current block, which stays the one being filled */
    if (into->head) {
        last->next = into->head->next;
        into->head->next = from->head;
    } else {
        into->head = from->head;
    }
    from->head = NULL;
}

void text_pool_free(text_pool *p) {
    for (text_pool_block *b = p->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    p->head = NULL;
}
