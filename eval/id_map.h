/* id_map.h — integer ids (image_id, question_id) to indices, for the evaluators' inputs
 * (internal to eval/).
 *
 * A uthash map (util/ht.h: its look-up is inlined, ~40 instructions against ~180 for stb_ds;
 * a 5,000-image caption corpus makes 60,000 of them) keyed by the id itself: ht.h's hash
 * spreads every bit of the structured COCO / VQA ids (a question id is the image id times 1000
 * plus a counter). Entries come from a text pool. */
#ifndef VLKIT_EVAL_ID_MAP_H
#define VLKIT_EVAL_ID_MAP_H

#include "eval/text_pool.h"

#include <stddef.h>
#include <stdint.h>

typedef struct id_map_entry id_map_entry;

typedef struct {
    id_map_entry *head; /* uthash head; NULL when empty */
    text_pool pool;     /* the entries */
} id_map;

#define ID_MAP_NONE ((size_t)-1)

/* The index stored for id, or ID_MAP_NONE. Safe from several threads at once (no put then). */
size_t id_map_get(const id_map *m, long long id);
/* Store id -> value (replacing an existing value). 0, or -1 when out of memory. */
int id_map_put(id_map *m, long long id, size_t value);
/* An empty map ({0} is one too). */
void id_map_free(id_map *m);

#endif
