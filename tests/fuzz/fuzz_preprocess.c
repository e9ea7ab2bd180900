/* fuzz_preprocess.c — preprocessor_config.json parsing (image_preproc_parse), from memory; an
 * accepted config with a small output size is then used on a tiny image (resize + normalise). */
#include "data/preprocess.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    image_preproc_config cfg;
    if (image_preproc_parse((const char *)data, size, "fuzz", &cfg) != 0) return 0;
    size_t numel = image_preproc_numel(&cfg);
    if (numel == 0 || numel > 3 * 64 * 64) return 0; /* legal but large sizes: only parsing matters here */
    static uint8_t rgb[7 * 5 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 37);
    float *out = malloc(numel * sizeof *out);
    if (!out) abort();
    (void)image_preprocess_rgb(&cfg, rgb, 7, 5, out);
    free(out);
    return 0;
}
