/* id_map.c — integer id -> index map on uthash (see id_map.h). */
#include "eval/id_map.h"

#include "util/ht.h"

struct id_map_entry {
    UT_hash_handle hh;
    long long id; /* the key */
    size_t value;
};

static id_map_entry *find(const id_map *m, long long id) {
    id_map_entry *e;
    HASH_FIND(hh, m->head, &id, sizeof id, e);
    return e;
}

size_t id_map_get(const id_map *m, long long id) {
    id_map_entry *e = find(m, id);
    return e ? e->value : ID_MAP_NONE;
}

int id_map_put(id_map *m, long long id, size_t value) {
    id_map_entry *e = find(m, id);
    if (e) {
        e->value = value;
        return 0;
    }
    e = text_pool_alloc(&m->pool, sizeof *e);
    if (!e) return -1;
    e->id = id;
    e->value = value;
    unsigned count = HASH_COUNT(m->head);
    HASH_ADD(hh, m->head, id, sizeof e->id, e);
    return vk_ht_added(m->head, count) ? 0 : -1;
}

void id_map_free(id_map *m) {
    HASH_CLEAR(hh, m->head); /* the entries are in the pool */
    text_pool_free(&m->pool);
}
