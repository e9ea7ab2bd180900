/* test_ptb_tokenizer.c — the PTB tokenisation of pycocoevalcap (CoreNLP 3.4.1 PTBTokenizer
 * -preserveLines -lowerCase, then the wrapper's punctuation filter) on all strings of
 * ../shared/fixtures/eval/tokenizer/ptb_cases.json: the "tokens" field is what the official
 * scorers see. The cases are tokenised as one run (captions joined by newlines, as the
 * wrapper does), so line-crossing look-ahead is exercised as in the official pipeline. */
#include "eval/eval.h"
#include "tests/common/fixtures.h"
#include "util/error.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(ptb_tokenizer, all_fixture_cases_in_one_run) {
    cJSON *j = fixture_json("eval/tokenizer/ptb_cases.json");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(j, "cases");
    int n = cJSON_GetArraySize(cases);
    cr_assert_eq(n, (int)cJSON_GetObjectItemCaseSensitive(j, "n_cases")->valuedouble);
    cr_assert_geq(n, 355);
    const char **raw = malloc((size_t)n * sizeof *raw);
    char **out = malloc((size_t)n * sizeof *out);
    int i = 0;
    for (const cJSON *c = cases->child; c; c = c->next) raw[i++] = cJSON_GetObjectItemCaseSensitive(c, "raw")->valuestring;
    cr_assert_eq(ptb_tokenize_lines(raw, (size_t)n, out), 0, "%s", vk_err_msg());
    int bad = 0;
    i = 0;
    for (const cJSON *c = cases->child; c; c = c->next, i++) {
        const char *want = cJSON_GetObjectItemCaseSensitive(c, "tokens")->valuestring;
        if (strcmp(out[i], want) != 0) bad++;
        cr_expect_str_eq(out[i], want, "case %d: \"%s\" -> \"%s\", official \"%s\"", i, raw[i], out[i], want);
        free(out[i]);
    }
    cr_expect_eq(bad, 0, "%d of %d cases differ", bad, n);
    free(raw);
    free(out);
    cJSON_Delete(j);
}

Test(ptb_tokenizer, single_captions_and_end_of_input) {
    struct {
        const char *in, *want;
    } t[] = {
        {"A man's hand.", "a man 's hand"},
        {"don't", "do n't"},
        {"it's", "it 's"},            /* "'s" at the very end still splits off */
        {"   ", ""},
        {"", ""},
        {"...", ""},
        {"U.S. The flag", "u.s. the flag"}, /* the duplicated period is dropped */
        {"Plan B. The end", "plan b the end"}, /* one-letter acronym before a sentence start */
        {"hot-dog stand, 10:30 a.m.", "hot-dog stand 10:30 a.m."},
        {"\xc2\xbd cup \xe2\x82\xac""4 \xc2\xa3""5", "1/2 cup $ 4 # 5"},
        {"caf\xc3\x89 \xf0\x9f\x98\x80", "caf\xc3\xa9"},
    };
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        char *got = ptb_tokenize(t[k].in);
        cr_assert_not_null(got, "%s", vk_err_msg());
        cr_expect_str_eq(got, t[k].want, "\"%s\" -> \"%s\"", t[k].in, got);
        free(got);
    }
}

Test(ptb_tokenizer, line_breaks_inside_a_caption_do_not_shift_lines) {
    const char *in[] = {"a\rb", "c\xe2\x80\xa8""d", "e\nf", "g"};
    char *out[4];
    cr_assert_eq(ptb_tokenize_lines(in, 4, out), 0);
    cr_expect_str_eq(out[0], "a b");
    cr_expect_str_eq(out[1], "c d");
    cr_expect_str_eq(out[2], "e f");
    cr_expect_str_eq(out[3], "g");
    for (int i = 0; i < 4; i++) free(out[i]);
}

Test(ptb_tokenizer, invalid_utf8_is_an_error_not_a_crash) {
    const char *bad = "a \xff b";
    char *out = NULL;
    cr_assert_eq(ptb_tokenize_lines(&bad, 1, &out), -1);
    cr_expect(strstr(vk_err_msg(), "invalid UTF-8") != NULL, "%s", vk_err_msg());
}

Test(ptb_tokenizer, long_caption_is_linear) {
    /* 1 MB of ordinary words tokenises (the fast path) without trouble */
    size_t n = 1 << 20;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) s[i] = "a dog runs. "[i % 12];
    s[n] = 0;
    char *got = ptb_tokenize(s);
    cr_assert_not_null(got);
    cr_expect_eq(strncmp(got, "a dog runs a dog runs", 21), 0);
    free(got);
    free(s);
}

/* Tokenise lines with one thread and with two (the split scan of long inputs); both must agree
 * line for line. */
static void same_with_one_and_two_threads(const char **lines, size_t n) {
    char **one = malloc(n * sizeof *one), **two = malloc(n * sizeof *two);
    setenv("VLKIT_SCORE_THREADS", "1", 1);
    cr_assert_eq(ptb_tokenize_lines(lines, n, one), 0, "%s", vk_err_msg());
    unsetenv("VLKIT_SCORE_THREADS");
    cr_assert_eq(ptb_tokenize_lines(lines, n, two), 0, "%s", vk_err_msg());
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(two[i], one[i], "line %zu (\"%s\")", i, lines[i]);
        free(one[i]);
        free(two[i]);
    }
    free(one);
    free(two);
}

Test(ptb_tokenizer, split_scan_matches_one_thread) {
    /* 4,000 lines from the fixture cases (so every rule is near the split point somewhere) */
    cJSON *j = fixture_json("eval/tokenizer/ptb_cases.json");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(j, "cases");
    size_t n_cases = (size_t)cJSON_GetArraySize(cases), n = 4000;
    const char **lines = malloc(n * sizeof *lines);
    for (size_t i = 0; i < n; i++) {
        const cJSON *c = cJSON_GetArrayItem(cases, (int)((i * 7) % n_cases));
        lines[i] = cJSON_GetObjectItemCaseSensitive(c, "raw")->valuestring;
    }
    same_with_one_and_two_threads(lines, n);
    /* a token across the line break where the input is split (an SGML attribute value may hold
     * a newline): the second half must be redone from the first half's scan */
    lines[n / 2 - 1] = "a dog <a b=\"x";
    lines[n / 2] = "y\"> runs on the grass.";
    same_with_one_and_two_threads(lines, n);
    free(lines);
    cJSON_Delete(j);
}
