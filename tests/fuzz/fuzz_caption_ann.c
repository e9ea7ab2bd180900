/* fuzz_caption_ann.c — caption reference files (COCO / Karpathy / JSON(L) records) through
 * caption_refs_load, then the rest of the --write-df path: PTB tokenizer, n-grams, df table. */
#include "eval/eval.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    caption_set set;
    if (caption_refs_load(&set, fuzz_file(0, data, size)) != 0) return 0;
    if (caption_set_tokenize(&set) == 0) {
        caption_ngrams *g = caption_ngrams_build(set.items, set.n);
        cider_df *df = g ? cider_df_build(g) : NULL;
        if (df) (void)cider_df_ref_len(df);
        cider_df_free(df);
        caption_ngrams_free(g);
    }
    caption_set_free(&set);
    return 0;
}
