/* fuzz_ptb.c — the PTB tokenizer on arbitrary bytes: one caption (ptb_tokenize), and the input
 * split at '\n' into several captions tokenised as one run (ptb_tokenize_lines). Invalid UTF-8
 * and NUL bytes must give an error, never a crash. */
#include "eval/eval.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    free(ptb_tokenize(s)); /* stops at a NUL byte, like a C string would */
    char *lines[64];
    size_t n = 0;
    for (char *p = s; n < 64;) {
        lines[n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = 0;
        p = nl + 1;
    }
    char *out[64];
    if (ptb_tokenize_lines((const char *const *)lines, n, out) == 0)
        for (size_t i = 0; i < n; i++) free(out[i]);
    free(s);
    return 0;
}
