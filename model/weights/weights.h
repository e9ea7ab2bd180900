/* weights.h — read-only tensor views of a weight file, whatever its format.
 *
 *   vk_weights *w = vk_weights_open("model/model.safetensors");   // or pytorch_model.bin
 *   if (!w) { fprintf(stderr, "%s\n", vk_err_msg()); ... }
 *   const vk_tensor_view *t = vk_weights_find(w, "vision_model.embeddings.class_embedding");
 *   for (size_t i = 0; i < vk_weights_count(w); i++) use(vk_weights_tensor(w, i));
 *   vk_weights_close(w);                                           // views die here
 *
 * Formats: safetensors (model/weights/safetensors.h) and PyTorch's zip checkpoint
 * (pytorch_model.bin, model/weights/torchbin.h); vk_weights_open picks by the file's magic.
 * Loading is all-or-nothing: on any error nothing is returned and vk_err names the file (and
 * the tensor). Views point into the memory-mapped file where the bytes can be used as they are
 * (zero-copy), otherwise into buffers owned by the vk_weights. Data is little-endian, C-contiguous
 * (row-major). Views are read-only and valid until vk_weights_close. Tensors may share bytes
 * (a pytorch_model.bin can store two names over one storage). */
#ifndef VLKIT_MODEL_WEIGHTS_WEIGHTS_H
#define VLKIT_MODEL_WEIGHTS_WEIGHTS_H

#include "model/weights/dtype.h"

#include <stddef.h>
#include <stdint.h>

#define VK_MAX_DIMS 8

typedef struct {
    const char *name;
    vk_dtype dtype;
    int ndim;                    /* 0 for a scalar */
    int64_t shape[VK_MAX_DIMS];
    const void *data;            /* NULL only when nbytes == 0 */
    size_t nbytes;               /* = numel * vk_dtype_size(dtype) */
} vk_tensor_view;

/* Number of elements (1 for a scalar). */
int64_t vk_tensor_numel(const vk_tensor_view *t);

typedef enum { VK_WEIGHTS_SAFETENSORS, VK_WEIGHTS_TORCHBIN } vk_weights_format;

typedef struct vk_weights vk_weights;

/* Open a weight file of either format (safetensors, or a zip starting with "PK"). */
vk_weights *vk_weights_open(const char *path);
void vk_weights_close(vk_weights *w);

vk_weights_format vk_weights_format_of(const vk_weights *w);
const char *vk_weights_format_name(vk_weights_format f);   /* "safetensors" / "pytorch" */
const char *vk_weights_path(const vk_weights *w);

/* Tensors in file order: data-offset order for safetensors, pickle order for torch files. */
size_t vk_weights_count(const vk_weights *w);
const vk_tensor_view *vk_weights_tensor(const vk_weights *w, size_t i);
/* NULL when there is no tensor of that name (vk_err is not touched). */
const vk_tensor_view *vk_weights_find(const vk_weights *w, const char *name);

/* File-level string metadata (safetensors `__metadata__`; none for torch files), in file order. */
size_t vk_weights_metadata_count(const vk_weights *w);
int vk_weights_metadata_at(const vk_weights *w, size_t i, const char **key, const char **value);
/* NULL when absent. */
const char *vk_weights_metadata_get(const vk_weights *w, const char *key);

#endif
