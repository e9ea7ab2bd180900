/* fuzz_torchbin.c — pytorch_model.bin: the zip reader, the restricted unpickler and the storage
 * checks (vk_torchbin_open); accepted tensors are read to the last byte. Seeds: the fixture .bin. */
#include "model/weights/torchbin.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vk_weights *w = vk_torchbin_open(fuzz_file(0, data, size));
    if (!w) return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < vk_weights_count(w); i++) {
        const vk_tensor_view *t = vk_weights_tensor(w, i);
        if (t->nbytes) sum += ((const unsigned char *)t->data)[0] + ((const unsigned char *)t->data)[t->nbytes - 1];
    }
    vk_weights_close(w);
    return (int)(sum & 0);
}
