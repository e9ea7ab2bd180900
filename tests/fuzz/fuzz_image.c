/* fuzz_image.c — image decoding from memory (stb_image: JPEG, PNG, BMP, GIF, ... behind
 * image_decode_memory). The header probe runs first; a legal but large image (over 2^22 pixels)
 * is not decoded, so each input stays fast — the size limits themselves are unit-tested. */
#include "data/image.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int w, h;
    if (image_probe_memory(data, size, "fuzz", &w, &h) != 0) return 0;
    if ((long long)w * h > (1ll << 22)) return 0;
    image_rgb img;
    if (image_decode_memory(data, size, "fuzz", &img) != 0) return 0;
    if (img.width <= 0 || img.height <= 0) abort();
    volatile uint8_t last = img.rgb[(size_t)img.width * img.height * 3 - 1];
    (void)last;
    image_rgb_free(&img);
    return 0;
}
