/* id_map.c — integer id -> index map on stb_ds (see id_map.h). */
#include "eval/id_map.h"

#include "util/ds.h"

size_t id_map_get(const id_map *m, long long id) {
    id_map_entry *h = m->hm; /* a copy: the getter assigns to it */
    if (!h) return ID_MAP_NONE; /* a get on NULL would allocate */
    ptrdiff_t at;
    (void)hmgeti_ts(h, vk_mix64((uint64_t)id), at);
    return at < 0 ? ID_MAP_NONE : h[at].value;
}

int id_map_put(id_map *m, long long id, size_t value) {
    uint64_t key = vk_mix64((uint64_t)id);
    if (!m->hm) {
        vk_ds_create_lock();
        hmput(m->hm, key, value);
        vk_ds_create_unlock();
    } else {
        hmput(m->hm, key, value);
    }
    return 0;
}

void id_map_free(id_map *m) { hmfree(m->hm); }
