/* weights_impl.h — how the format readers fill a vk_weights. Private to model/weights/.
 *
 * A reader creates the container, hands it what the views point into (a file map, malloc'd
 * buffers), adds tensors one by one (duplicate names are refused here, for every format) and
 * either returns it complete or closes it on the first error. */
#ifndef VLKIT_MODEL_WEIGHTS_WEIGHTS_IMPL_H
#define VLKIT_MODEL_WEIGHTS_WEIGHTS_IMPL_H

#include "model/weights/weights.h"
#include "util/fileio.h"

vk_weights *vk_weights_new_(const char *path, vk_weights_format format);
/* The container takes the map and unmaps it on close. */
void vk_weights_own_map_(vk_weights *w, vk_mapped_file map);
/* The container takes a malloc'd buffer and frees it on close. Returns -1 when out of memory
 * (the buffer is freed then too). */
int vk_weights_own_buffer_(vk_weights *w, void *buf);
/* Copies view->name; the rest of the view is kept as given. Errors: duplicate name, too many
 * dimensions, out of memory (messages name the file and the tensor). */
int vk_weights_add_(vk_weights *w, const vk_tensor_view *view);
int vk_weights_add_metadata_(vk_weights *w, const char *key, const char *value);

/* The readers, from a map they take over (unmapped by them on error). vk_weights_open maps
 * the file once, looks at its magic and calls one of these. */
vk_weights *vk_safetensors_from_map_(const char *path, vk_mapped_file map);
vk_weights *vk_torchbin_from_map_(const char *path, vk_mapped_file map);

#endif
