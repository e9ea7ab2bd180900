/* id_map.h — integer ids (image_id, question_id) to indices, for the evaluators' inputs
 * (internal to eval/).
 *
 * A stb_ds hash map keyed by vk_mix64(id) (util/ds.h): the mixer is a bijection, so keys stay
 * exact, and it spreads the structured COCO / VQA ids (a question id is the image id times 1000
 * plus a counter) that stb_ds's own integer hash handles badly. */
#ifndef VLKIT_EVAL_ID_MAP_H
#define VLKIT_EVAL_ID_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t key; /* vk_mix64(id) */
    size_t value;
} id_map_entry;

typedef struct {
    id_map_entry *hm; /* stb_ds hash map; NULL when empty */
} id_map;

#define ID_MAP_NONE ((size_t)-1)

/* The index stored for id, or ID_MAP_NONE. Safe from several threads at once (no put then). */
size_t id_map_get(const id_map *m, long long id);
/* Store id -> value (replacing an existing value). 0 (stb_ds aborts when out of memory). The
 * first put creates the table under vk_ds_create_lock. */
int id_map_put(id_map *m, long long id, size_t value);
/* An empty map ({0} is one too). */
void id_map_free(id_map *m);

#endif
