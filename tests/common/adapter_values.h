/* adapter_values.h — every value of an adapter folder's adapter_model.safetensors (f32), in file
 * order, for comparing two training runs. */
#ifndef VLKIT_TESTS_ADAPTER_VALUES_H
#define VLKIT_TESTS_ADAPTER_VALUES_H

#include <stddef.h>

/* malloc'd values and *n, or NULL with vk_err (missing file, a tensor that is not f32). */
float *adapter_values(const char *dir, size_t *n);

#endif
