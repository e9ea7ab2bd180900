/* dtype.h — element types of weight files (safetensors dtype strings, torch storage types).
 *
 * The enum follows the order of the reference safetensors crate's `Dtype` (increasing
 * alignment), so comparing two values orders them the way the reference writer lays tensors
 * out (descending dtype, then name). Sub-byte types (F4, F6_*) are recognised by name only so
 * that a file using them gets a precise "unsupported" error rather than "unknown dtype". */
#ifndef VLKIT_MODEL_WEIGHTS_DTYPE_H
#define VLKIT_MODEL_WEIGHTS_DTYPE_H

#include <stddef.h>

typedef enum {
    VK_DTYPE_BOOL,
    VK_DTYPE_U8,
    VK_DTYPE_I8,
    VK_DTYPE_F8_E5M2,
    VK_DTYPE_F8_E4M3,
    VK_DTYPE_F8_E8M0,
    VK_DTYPE_F8_E4M3FNUZ,
    VK_DTYPE_F8_E5M2FNUZ,
    VK_DTYPE_I16,
    VK_DTYPE_U16,
    VK_DTYPE_F16,
    VK_DTYPE_BF16,
    VK_DTYPE_I32,
    VK_DTYPE_U32,
    VK_DTYPE_F32,
    VK_DTYPE_C64,
    VK_DTYPE_F64,
    VK_DTYPE_I64,
    VK_DTYPE_U64,
    VK_DTYPE_COUNT
} vk_dtype;

/* "F32", "BF16", ... (the safetensors spelling); "?" for an out-of-range value. */
const char *vk_dtype_name(vk_dtype dt);
/* Bytes per element (1, 2, 4 or 8); 0 for an out-of-range value. */
size_t vk_dtype_size(vk_dtype dt);
/* Parse a safetensors dtype string. Returns 0 and sets *out, or -1 with vk_err set
 * ("unknown dtype 'X'" or "dtype 'F4' (sub-byte) is not supported"). */
int vk_dtype_parse(const char *name, vk_dtype *out);

#endif
