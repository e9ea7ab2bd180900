/* id_map.c — integer id -> index map (see id_map.h). */
#include "eval/id_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t slot_of(long long id, size_t mask) {
    uint64_t x = (uint64_t)id; /* splitmix64's finaliser: every bit of the id moves the slot */
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return (size_t)(x ^ (x >> 31)) & mask;
}

size_t id_map_get(const id_map *m, long long id) {
    if (!m->n) return ID_MAP_NONE;
    for (size_t at = slot_of(id, m->mask);; at = (at + 1) & m->mask) {
        if (!m->used[at]) return ID_MAP_NONE;
        if (m->key[at] == id) return m->value[at];
    }
}

static int grow(id_map *m) {
    size_t cap = m->key ? (m->mask + 1) * 2 : 1024;
    id_map g = {calloc(cap, sizeof *g.key), calloc(cap, sizeof *g.value), calloc(cap, 1), cap - 1, 0};
    if (!g.key || !g.value || !g.used) {
        id_map_free(&g);
        return -1;
    }
    for (size_t k = 0; m->key && k <= m->mask; k++) {
        if (!m->used[k]) continue;
        size_t at = slot_of(m->key[k], g.mask);
        while (g.used[at]) at = (at + 1) & g.mask;
        g.used[at] = 1;
        g.key[at] = m->key[k];
        g.value[at] = m->value[k];
        g.n++;
    }
    id_map_free(m);
    *m = g;
    return 0;
}

int id_map_put(id_map *m, long long id, size_t value) {
    if ((!m->key || (m->n + 1) * 2 > m->mask + 1) && grow(m) != 0) return -1;
    size_t at = slot_of(id, m->mask);
    while (m->used[at] && m->key[at] != id) at = (at + 1) & m->mask;
    if (!m->used[at]) {
        m->used[at] = 1;
        m->key[at] = id;
        m->n++;
    }
    m->value[at] = value;
    return 0;
}

void id_map_free(id_map *m) {
    free(m->key);
    free(m->value);
    free(m->used);
    memset(m, 0, sizeof *m);
}
