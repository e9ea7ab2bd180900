/* fuzz_caption_dataset.c — caption datasets (data/caption_dataset.h) from memory: every format
 * reader, auto-detection and the bad-record policy. The first byte picks the options (format,
 * on_error, a Karpathy split, max_bad); the rest is the file. Image files are not looked up
 * (check_images = 0): the readers, not the file system, are under test. */
#include "data/caption_dataset.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    caption_dataset_opts o = caption_dataset_default_opts();
    o.check_images = 0;
    o.format = (caption_format)(data[0] % 6);
    o.on_error = (data[0] >> 3) & 1 ? CAPTION_ON_ERROR_FAIL : CAPTION_ON_ERROR_SKIP;
    o.split = (data[0] >> 4) & 1 ? "train,restval" : NULL;
    o.max_bad = (data[0] >> 5) & 1 ? 2 : -1;
    o.image_root = (data[0] >> 6) & 1 ? "/data/root" : NULL;
    char *text = fuzz_cstr(data + 1, size - 1);
    caption_dataset *ds = caption_dataset_load_memory(text, size - 1, "fuzz.json", "/data", &o);
    if (ds) {
        char where[256];
        for (int64_t i = 0; i < ds->n_examples; i++) {
            const caption_example *e = &ds->examples[i];
            if (e->record < 0 || e->record >= ds->n_records || e->caption < 0 ||
                e->caption >= ds->records[e->record].n_captions || !ds->records[e->record].captions[e->caption][0])
                abort();
        }
        for (int64_t r = 0; r < ds->n_records; r++) caption_dataset_where(ds, r, where, sizeof where);
        caption_dataset_free(ds);
    }
    free(text);
    return 0;
}
