#include "tests/common/adapter_values.h"

#include "model/weights/weights.h"
#include "util/error.h"
#include "util/fileio.h"

#include <stdlib.h>
#include <string.h>

float *adapter_values(const char *dir, size_t *n) {
    *n = 0;
    char *p = vk_path_join(dir, "adapter_model.safetensors");
    vk_weights *w = p ? vk_weights_open(p) : NULL;
    free(p);
    if (!w) return NULL;
    size_t total = 0;
    for (size_t i = 0; i < vk_weights_count(w); i++) {
        if (vk_weights_tensor(w, i)->dtype != VK_DTYPE_F32) {
            vk_err_set("%s: %s is not f32", dir, vk_weights_tensor(w, i)->name);
            vk_weights_close(w);
            return NULL;
        }
        total += vk_weights_tensor(w, i)->nbytes / 4;
    }
    float *v = malloc(sizeof(float) * (total + 1));
    size_t k = 0;
    for (size_t i = 0; v && i < vk_weights_count(w); i++) {
        const vk_tensor_view *t = vk_weights_tensor(w, i);
        memcpy(v + k, t->data, t->nbytes);
        k += t->nbytes / 4;
    }
    vk_weights_close(w);
    if (!v) vk_err_set("out of memory");
    *n = total;
    return v;
}
