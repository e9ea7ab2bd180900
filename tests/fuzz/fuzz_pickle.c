/* fuzz_pickle.c — the restricted unpickler on its own (data.pkl of a torch checkpoint), from
 * memory: reaches the opcode handling faster than going through the zip container. */
#include "model/weights/pickle.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vk_pickle_tensor *t = NULL;
    size_t n = 0;
    if (vk_pickle_load_state_dict("fuzz", data, size, &t, &n) == 0) vk_pickle_tensors_free(t, n);
    return 0;
}
