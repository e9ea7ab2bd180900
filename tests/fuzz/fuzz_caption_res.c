/* fuzz_caption_res.c — a results file against fixed references, then the whole caption
 * scoring (tokenizer, BLEU, ROUGE-L, CIDEr-D, per image), as `vlkit score --task caption` runs. */
#include "eval/eval.h"
#include "tests/fuzz/fuzz_util.h"

static const char ANN[] = "{\"images\":[{\"id\":1},{\"id\":2},{\"id\":3}],\"annotations\":["
                          "{\"image_id\":1,\"caption\":\"A dog runs on the grass.\"},"
                          "{\"image_id\":1,\"caption\":\"a dog running\"},"
                          "{\"image_id\":2,\"caption\":\"A cat sleeps (on a mat).\"},"
                          "{\"image_id\":3,\"caption\":\"Two men don't ride horses.\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *ann = fuzz_file(0, (const uint8_t *)ANN, sizeof ANN - 1);
    caption_set set;
    if (caption_set_load(&set, ann, fuzz_file(1, data, size)) != 0) return 0;
    if (caption_set_tokenize(&set) == 0) {
        caption_scores s;
        if (caption_scores_compute(&set, NULL, CAPTION_METRIC_ALL, 1, &s) == 0) caption_scores_free(&s);
    }
    caption_set_free(&set);
    return 0;
}
