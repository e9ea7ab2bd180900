/* fuzz_wordpiece.c — BERT WordPiece on arbitrary text with the blip-tiny vocabulary: basic
 * tokenizer, greedy pieces, encode with truncation/padding, decode of the ids (and of raw ids
 * taken from the input bytes). */
#include "data/wordpiece.h"
#include "tests/fuzz/fuzz_util.h"

static wordpiece *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    tok = wordpiece_load(fuzz_fixture("blip-tiny/tokenizer"));
    if (!tok) {
        fprintf(stderr, "fuzz_wordpiece: cannot load the fixture tokenizer (set VLKIT_FIXTURES)\n");
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    int64_t *ids = NULL;
    size_t n = 0;
    if (wordpiece_tokenize(tok, s, &ids, &n) == 0) {
        free(wordpiece_decode(tok, ids, n, 1, -1));
        free(wordpiece_decode(tok, ids, n, 0, 0));
        free(ids);
    }
    char **words;
    size_t nw;
    if (wordpiece_basic_tokenize(tok, s, &words, &nw) == 0) wordpiece_strings_free(words, nw);
    wordpiece_encode_opts o = wordpiece_encode_defaults();
    o.max_length = size % 16;
    o.padding = o.max_length ? WORDPIECE_PAD_MAX_LENGTH : WORDPIECE_PAD_LONGEST;
    const char *texts[2] = {s, s + size / 2};
    wordpiece_batch b;
    if (wordpiece_encode(tok, texts, 2, &o, &b) == 0) wordpiece_batch_free(&b);
    /* arbitrary ids, negative and out of range included */
    int64_t raw[16];
    size_t nr = size / 8 < 16 ? size / 8 : 16;
    memcpy(raw, data, nr * 8);
    free(wordpiece_decode(tok, raw, nr, (int)(size & 1), 1));
    free(s);
    return 0;
}
