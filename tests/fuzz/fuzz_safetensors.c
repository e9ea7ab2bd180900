/* fuzz_safetensors.c — the safetensors reader (header JSON, dtypes, shapes, span tiling); every
 * tensor it accepts is read to the last byte so ASan sees any view past the mapping. */
#include "model/weights/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vk_weights *w = vk_safetensors_open(fuzz_file(0, data, size));
    if (!w) return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < vk_weights_count(w); i++) {
        const vk_tensor_view *t = vk_weights_tensor(w, i);
        if (t->nbytes) sum += ((const unsigned char *)t->data)[0] + ((const unsigned char *)t->data)[t->nbytes - 1];
        if (vk_weights_find(w, t->name) == NULL) abort();
    }
    const char *k, *v;
    for (size_t i = 0; i < vk_weights_metadata_count(w); i++) (void)vk_weights_metadata_at(w, i, &k, &v);
    vk_weights_close(w);
    return (int)(sum & 0);
}
