/* test_ptb_fast_paths.c — the PTB tokenizer's shortcuts against its own full rule search.
 *
 * ptb_tokenize_lines skips a space run and takes a line break without the rule search, on the
 * argument that no rule of the lexer starts with a space or '\n' except those two, and drops a
 * period or comma before a space, '\n' or the end (lone_stop) as the one-character token it is.
 * Here the rule search (lex_one) runs at such a place followed by random text over the
 * characters the rules look at, and must always choose exactly what the shortcut does. The tokenizer source is
 * compiled into this test (its public functions renamed) to reach the static lex_one. */
#define ptb_tokenize_lines test_copy_ptb_tokenize_lines
#define ptb_tokenize test_copy_ptb_tokenize
#define ptb_tokenize_lines_pooled test_copy_ptb_tokenize_lines_pooled
#include "eval/ptb_tokenizer.c"

#include <criterion/criterion.h>

static const uint32_t chars[] = {
        'a', 'b', 'c', 'n', 't', 's', 'm', 'd', 'l', 'v', 'e', 'r', 'o', 'x', 'y', 'A', 'C', 'M', 'N', 'T', 'U', 'S',
        'I', '0', '1', '2', '9', '.', ',', ';', ':', '!', '?', '\'', '"', '`', '-', '+', '/', '\\', '(', ')', '[', ']',
        '{', '}', '<', '>', '&', '#', '@', '_', '*', '$', '=', '^', '~', '|', '%', ' ', ' ', '\n', '\t', '\r', 0x0B,
        0x0C, 0x85, 0x2028, 0xA0, 0xAD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2044, 0x2026, 0x2013, 0x3000, 0x200B, 0x92,
        0x66B, 0xBD, 0xB2, 0x2080, 0x20AC, 0xA3};
static const size_t n_chars = sizeof chars / sizeof chars[0];

Test(ptb_fast_paths, space_and_newline_match_the_rule_search) {
    uint32_t buf[24];
    unsigned long long seed = 12345;
    for (int it = 0; it < 300000; it++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t n = 1 + (seed >> 33) % 23;
        buf[0] = (seed >> 20) & 1 ? ' ' : '\n';
        for (size_t k = 1; k < n; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[k] = chars[(seed >> 33) % n_chars];
        }
        lx L = {buf, n};
        cand c;
        lex_one(&L, 0, &c);
        if (buf[0] == ' ') {
            size_t run = 0;
            while (run < n && ptb_is_space(buf[run])) run++;
            cr_assert(c.kind == K_SKIP && c.advance == run, "at a space (case %d): rule kind %d, advance %zu", it, c.kind,
                      c.advance);
        } else {
            cr_assert(c.kind == K_NEWLINE && c.advance == 1, "at a newline (case %d): rule kind %d, advance %zu", it,
                      c.kind, c.advance);
        }
    }
}

Test(ptb_fast_paths, lone_period_and_comma_match_the_rule_search) {
    uint32_t buf[24];
    unsigned long long seed = 54321;
    for (int it = 0; it < 300000; it++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t n = 1 + (seed >> 33) % 23; /* n == 1: the period or comma ends the text */
        buf[0] = (seed >> 20) & 1 ? '.' : ',';
        if (n > 1) buf[1] = (seed >> 21) & 1 ? ' ' : '\n';
        for (size_t k = 2; k < n; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[k] = chars[(seed >> 33) % n_chars];
        }
        lx L = {buf, n};
        cr_assert(lone_stop(&L, 0));
        cand c;
        lex_one(&L, 0, &c);
        cr_assert(c.kind == K_PLAIN && c.emit == 1 && c.advance <= 1, "at '%c' (case %d): rule kind %d, emit %zu, advance %zu",
                  (char)buf[0], it, c.kind, c.emit, c.advance);
    }
}
