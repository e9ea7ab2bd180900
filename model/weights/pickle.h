/* pickle.h — a restricted unpickler for PyTorch state dicts (the data.pkl of a torch zip file).
 *
 * A pickle is a program for a stack machine that may call any importable Python callable; a
 * checkpoint from the internet must therefore never be "run". This reader interprets only the
 * data opcodes (containers, strings, numbers, memo, marks) of protocols 2-5 and knows a closed set
 * of globals, none of which it executes:
 *   collections.OrderedDict                      -> an empty dict
 *   torch._utils._rebuild_tensor_v2 / _rebuild_tensor, _rebuild_parameter(_with_state)
 *                                                -> a tensor record (storage, offset, size, stride)
 *   torch.{Float,Double,Half,BFloat16,Long,Int,Short,Char,Byte,Bool,ComplexFloat}Storage
 *                                                -> a dtype, only inside a persistent id
 *   persistent id ('storage', <storage type>, key, location, numel) -> a storage reference
 * Any other global is refused when it is named ("refusing to load posix.system"), before anything
 * else happens; so is any opcode outside the set. The result must be a dict of str -> tensor. */
#ifndef VLKIT_MODEL_WEIGHTS_PICKLE_H
#define VLKIT_MODEL_WEIGHTS_PICKLE_H

#include "model/weights/weights.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;             /* state-dict key */
    vk_dtype dtype;         /* from the storage type */
    char *storage_key;      /* names the storage record "<archive>/data/<key>" */
    uint64_t storage_numel; /* elements of the whole storage, as the pickle declares */
    uint64_t offset;        /* storage offset, in elements */
    int ndim;
    int64_t shape[VK_MAX_DIMS];
    int64_t stride[VK_MAX_DIMS]; /* in elements */
} vk_pickle_tensor;

/* Parse a state-dict pickle. `label` starts every error message (e.g. "ckpt.bin: archive/data.pkl").
 * On success *out is a malloc'd array of *n records in pickle order (free with
 * vk_pickle_tensors_free); on error returns -1, *out = NULL and vk_err says what and at which byte. */
int vk_pickle_load_state_dict(const char *label, const unsigned char *data, size_t len, vk_pickle_tensor **out,
                              size_t *n);
void vk_pickle_tensors_free(vk_pickle_tensor *t, size_t n);

#endif
