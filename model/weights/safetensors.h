/* safetensors.h — the safetensors format: a checked, zero-copy reader and the reference writer.
 *
 *   vk_weights *w = vk_safetensors_open("model.safetensors");   // views point into the map
 *   ...                                                          // weights.h accessors
 *   vk_weights_close(w);
 *
 *   vk_tensor_view t[2] = {...};                                  // name, dtype, shape, data
 *   vk_safetensors_write("out.safetensors", t, 2, NULL, 0);       // __metadata__ {"format":"pt"}
 *
 * Layout (https://huggingface.co/docs/safetensors): 8-byte little-endian header length N, N
 * bytes of JSON {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [b, e]}},
 * then the data region; offsets are relative to it.
 *
 * The reader refuses, with "<file>: [tensor '<name>': ]<why>": a file shorter than 8 bytes; N
 * over 100 MB (the reference limit) or past the end of the file; a header that is not UTF-8, not
 * JSON, or not an object; `__metadata__` that is not a string-to-string map; a tensor entry that
 * is not an object or lacks dtype/shape/data_offsets; unknown dtypes; a shape that is not a list
 * of non-negative integers, or has more than VK_MAX_DIMS dimensions; shape x dtype size that
 * differs from the span; spans past the data region, overlapping, or leaving bytes uncovered
 * (spans must tile the data region exactly, as the reference reader demands); duplicate names.
 * Data is zero-copy: a view's pointer is aligned to its element size only when N is a multiple of
 * 8 and the offsets are aligned, which the reference writer (and this one) guarantee. */
#ifndef VLKIT_MODEL_WEIGHTS_SAFETENSORS_H
#define VLKIT_MODEL_WEIGHTS_SAFETENSORS_H

#include "model/weights/weights.h"

#include <stddef.h>

/* The reference limit on the header length. */
#define VK_SAFETENSORS_MAX_HEADER 100000000ull

vk_weights *vk_safetensors_open(const char *path);

typedef struct {
    const char *key;
    const char *value;
} vk_safetensors_kv;

/* Write tensors as the reference writer (Rust `safetensors` crate, used by
 * safetensors.torch.save_file and transformers' save_pretrained) lays them out: tensors ordered
 * by dtype alignment (descending, the crate's Dtype order) then name (bytewise), compact JSON
 * header with `__metadata__` first, padded with spaces to a multiple of 8. metadata == NULL
 * writes {"format": "pt"} (what save_pretrained writes); otherwise the n_metadata pairs are
 * written in the order given (keys must be distinct). The file is written to a temporary
 * name, fsynced and renamed over `path`; on error nothing is left at `path` and vk_err says why
 * (a full disk is reported as such). Each view's nbytes must equal its shape x dtype size. */
int vk_safetensors_write(const char *path, const vk_tensor_view *tensors, size_t n_tensors,
                         const vk_safetensors_kv *metadata, size_t n_metadata);

#endif
