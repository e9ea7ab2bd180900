/* torchbin.h — PyTorch's zip checkpoint (torch.save since 1.6; pytorch_model.bin).
 *
 *   vk_weights *w = vk_torchbin_open("pytorch_model.bin");   // then the weights.h accessors
 *
 * Layout: a zip archive with one top folder <a>: <a>/data.pkl (the state dict, pickled),
 * <a>/data/<key> (one raw little-endian storage per key), <a>/version, optionally <a>/byteorder.
 * The pickle goes through the restricted unpickler (pickle.h): a file naming any callable other
 * than the tensor-rebuild functions is refused, never run. Every record is CRC-checked; each
 * storage's size must match what the pickle declares; each tensor's (offset, size, stride) must
 * stay inside its storage. Contiguous tensors of stored (uncompressed) records are zero-copy views
 * of the mapped file; strided views become contiguous copies; tensors sharing a storage share
 * its bytes. Big-endian checkpoints (byteorder "big") are refused. */
#ifndef VLKIT_MODEL_WEIGHTS_TORCHBIN_H
#define VLKIT_MODEL_WEIGHTS_TORCHBIN_H

#include "model/weights/weights.h"

vk_weights *vk_torchbin_open(const char *path);

#endif
