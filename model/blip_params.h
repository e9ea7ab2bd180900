/* blip_params.h — the tensors of an HF model folder as shim handles, by state-dict name.
 *
 * Opens model.safetensors, a sharded model.safetensors.index.json, or pytorch_model.bin (in that
 * order of preference), maps the files, and wraps every float tensor without copying (F32) or
 * converts it to float32 (F16/BF16/F64). The mapped files stay open while any tensor made from
 * them is alive, including views that outlive blip_params_free.
 *
 * Model builders ask for tensors with an expected shape; a missing or mis-shaped tensor is
 * recorded, and blip_params_check() reports all of them at once, naming the file. */
#ifndef VLKIT_MODEL_BLIP_PARAMS_H
#define VLKIT_MODEL_BLIP_PARAMS_H

#include "shim/tt.h"

#include <stdint.h>

typedef struct blip_params blip_params;

/* dir: an HF model folder, or a weight file. NULL + vk_err on failure. */
blip_params *blip_params_load(const char *dir);
void blip_params_free(blip_params *p);

/* The weight file(s) loaded, for messages ("model.safetensors", or "N shards"). */
const char *blip_params_source(const blip_params *p);
/* Borrowed handle or NULL when absent. */
tt_tensor *blip_params_find(blip_params *p, const char *name);
/* Borrowed handle of the expected shape (ndim dims; -1 matches any size), or NULL after
 * recording the problem for blip_params_check(). */
tt_tensor *blip_params_require(blip_params *p, const char *name, int ndim, const int64_t *dims);
/* 0 when every require() succeeded; otherwise -1 with vk_err listing the problems. */
int blip_params_check(blip_params *p);
/* All tensors, in no particular order: i in [0, blip_params_count). */
int blip_params_count(const blip_params *p);
const char *blip_params_name_at(const blip_params *p, int i);
tt_tensor *blip_params_tensor_at(const blip_params *p, int i);
/* 1 when a require()/find() asked for tensor i (it is a parameter of the model built). */
int blip_params_used_at(const blip_params *p, int i);
/* Number of tensors in the file(s) that no require()/find() asked for (e.g. another head). */
int blip_params_unused(blip_params *p, const char **first_name);

#endif
