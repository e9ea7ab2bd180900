/* id_map.h — integer ids (image_id, question_id) to indices, for the evaluators' inputs
 * (internal to eval/).
 *
 * Open addressing with a mixing hash: COCO and VQA ids are structured (a question id is the
 * image id times 1000 plus a counter), and stb_ds's map spent ~1,500 instructions per look-up
 * on them. */
#ifndef VLKIT_EVAL_ID_MAP_H
#define VLKIT_EVAL_ID_MAP_H

#include <stddef.h>

typedef struct {
    long long *key;
    size_t *value;
    unsigned char *used;
    size_t mask, n; /* capacity - 1 (a power of two), entries */
} id_map;

#define ID_MAP_NONE ((size_t)-1)

/* The index stored for id, or ID_MAP_NONE. */
size_t id_map_get(const id_map *m, long long id);
/* Store id -> value (replacing an existing value). 0, or -1 when out of memory. */
int id_map_put(id_map *m, long long id, size_t value);
/* An empty map ({0} is one too). */
void id_map_free(id_map *m);

#endif
