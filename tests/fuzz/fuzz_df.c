/* fuzz_df.c — CIDEr-D document-frequency tables (--df FILE), then a scoring run with the table. */
#include "eval/eval.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cider_df *df = cider_df_load(fuzz_file(0, data, size));
    if (!df) return 0;
    (void)cider_df_size(df);
    (void)cider_df_ref_len(df);
    static char c1[] = "a dog runs on the grass", r1[] = "a dog running on grass", r2[] = "the dog runs";
    char *refs[2] = {r1, r2};
    caption_item it = {1, c1, refs, 2};
    caption_ngrams *g = caption_ngrams_build(&it, 1);
    double corpus, per;
    if (g) (void)cider_score(g, df, &corpus, &per, NULL, NULL);
    caption_ngrams_free(g);
    cider_df_free(df);
    return 0;
}
