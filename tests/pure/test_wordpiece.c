/* test_wordpiece.c — the BERT WordPiece tokenizer against blip-tiny/tokenizer/expected.json.
 *
 * Every case of the fixture (produced by transformers' slow BertTokenizer with BLIP's [DEC]/[ENC])
 * is checked exactly: basic tokens, WordPiece tokens, ids, attention masks, batch padding
 * (longest, max_length), truncation, and decoding with/without skip_special_tokens and clean-up.
 * The same cases run against the tokenizer loaded three other ways (the captioning model
 * folder, a bare vocab.txt, and a tokenizer.json written from the fixture's vocab), which must
 * all give the fixture's ids. A few extra Unicode cases are derived from the rules in the
 * transformers source (tokenization_bert.py), and say so. */
#include "data/wordpiece.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKDIR "blip-tiny/tokenizer"

static wordpiece *load_ok(const char *path) {
    wordpiece *t = wordpiece_load(path);
    cr_assert_not_null(t, "load %s: %s", path, vk_err_msg());
    return t;
}

static const cJSON *get(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    cr_assert_not_null(v, "expected.json: missing \"%s\"", k);
    return v;
}

static void expect_ids(const int64_t *got, int n, const cJSON *arr, const char *what, const char *text) {
    cr_assert(cJSON_IsArray(arr));
    int m = cJSON_GetArraySize(arr);
    cr_expect_eq(n, m, "%s of \"%s\": %d values, expected %d", what, text, n, m);
    for (int i = 0; i < n && i < m; i++)
        cr_expect_eq(got[i], (int64_t)cJSON_GetArrayItem(arr, i)->valuedouble, "%s of \"%s\"[%d]", what, text, i);
}

static void expect_strs(char **got, size_t n, const cJSON *arr, const char *what, const char *text) {
    size_t m = (size_t)cJSON_GetArraySize(arr);
    cr_expect_eq(n, m, "%s of \"%s\": %zu, expected %zu", what, text, n, m);
    for (size_t i = 0; i < n && i < m; i++)
        cr_expect_str_eq(got[i], cJSON_GetArrayItem(arr, (int)i)->valuestring, "%s of \"%s\"[%zu]", what, text, i);
}

static int64_t *json_ids(const cJSON *arr, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(arr);
    int64_t *v = malloc((*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) v[i] = (int64_t)cJSON_GetArrayItem(arr, (int)i)->valuedouble;
    return v;
}

static void expect_decode(const wordpiece *t, const cJSON *ids_arr, int skip, int clean, const cJSON *want,
                          const char *what) {
    size_t n;
    int64_t *ids = json_ids(ids_arr, &n);
    char *s = wordpiece_decode(t, ids, n, skip, clean);
    cr_assert_not_null(s);
    cr_expect_str_eq(s, want->valuestring, "%s", what);
    free(s);
    free(ids);
}

/* Every "cases" entry, the batch/truncation sections and the decode cases. */
static void check_all_cases(const wordpiece *t, int check_basic) {
    cJSON *ex = fixture_json(TOKDIR "/expected.json");
    const cJSON *c;
    cJSON_ArrayForEach(c, get(ex, "cases")) {
        const char *text = get(c, "text")->valuestring;
        if (check_basic) {
            char **words;
            size_t nw;
            cr_assert_eq(wordpiece_basic_tokenize(t, text, &words, &nw), 0, "%s", vk_err_msg());
            expect_strs(words, nw, get(c, "basic_tokens"), "basic_tokens", text);
            wordpiece_strings_free(words, nw);
        }
        /* tokens = ids mapped back to strings */
        int64_t *ids;
        size_t n;
        cr_assert_eq(wordpiece_tokenize(t, text, &ids, &n), 0, "%s", vk_err_msg());
        char **toks = calloc(n + 1, sizeof *toks);
        for (size_t i = 0; i < n; i++) {
            const char *s = wordpiece_id_token(t, ids[i]);
            cr_assert_not_null(s, "id %lld has no token", (long long)ids[i]);
            toks[i] = (char *)s;
        }
        expect_strs(toks, n, get(c, "tokens"), "tokens", text);
        free(toks);
        free(ids);

        wordpiece_batch b;
        wordpiece_encode_opts o = wordpiece_encode_defaults();
        cr_assert_eq(wordpiece_encode(t, &text, 1, &o, &b), 0, "%s", vk_err_msg());
        cr_assert_eq(b.rows, 1);
        cr_expect_eq(b.lengths[0], b.cols);
        expect_ids(b.ids, b.cols, get(c, "input_ids"), "input_ids", text);
        expect_ids(b.mask, b.cols, get(c, "attention_mask"), "attention_mask", text);
        wordpiece_batch_free(&b);

        expect_decode(t, get(c, "input_ids"), 0, -1, get(c, "decode"), text);
        expect_decode(t, get(c, "input_ids"), 1, -1, get(c, "decode_skip_special"), text);
    }

    /* batches */
    const char *sections[] = {"batch_padding_longest", "batch_padding_max_length_12_truncation"};
    for (int k = 0; k < 2; k++) {
        const cJSON *sec = get(ex, sections[k]);
        const cJSON *tx = get(sec, "texts");
        int nt = cJSON_GetArraySize(tx);
        const char **texts = malloc((size_t)nt * sizeof *texts);
        for (int i = 0; i < nt; i++) texts[i] = cJSON_GetArrayItem(tx, i)->valuestring;
        wordpiece_encode_opts o = wordpiece_encode_defaults();
        if (k == 0) {
            o.padding = WORDPIECE_PAD_LONGEST;
        } else {
            o.padding = WORDPIECE_PAD_MAX_LENGTH;
            o.max_length = cJSON_GetArraySize(cJSON_GetArrayItem(get(sec, "input_ids"), 0));
            cr_assert_eq(o.max_length, 12, "section name says 12");
        }
        wordpiece_batch b;
        cr_assert_eq(wordpiece_encode(t, texts, nt, &o, &b), 0, "%s", vk_err_msg());
        cr_assert_eq(b.rows, nt);
        for (int r = 0; r < nt; r++) {
            expect_ids(b.ids + (size_t)r * b.cols, b.cols, cJSON_GetArrayItem(get(sec, "input_ids"), r), sections[k], texts[r]);
            expect_ids(b.mask + (size_t)r * b.cols, b.cols, cJSON_GetArrayItem(get(sec, "attention_mask"), r),
                       sections[k], texts[r]);
        }
        wordpiece_batch_free(&b);
        free(texts);
    }

    /* truncation */
    const cJSON *tr = get(ex, "truncation_max_length_8");
    const char *text = get(tr, "text")->valuestring;
    wordpiece_encode_opts o = wordpiece_encode_defaults();
    o.max_length = cJSON_GetArraySize(get(tr, "input_ids"));
    wordpiece_batch b;
    cr_assert_eq(wordpiece_encode(t, &text, 1, &o, &b), 0, "%s", vk_err_msg());
    expect_ids(b.ids, b.cols, get(tr, "input_ids"), "truncation", text);
    wordpiece_batch_free(&b);

    /* decode cases */
    cJSON_ArrayForEach(c, get(ex, "decode_cases")) {
        expect_decode(t, get(c, "ids"), 0, 1, get(c, "decode"), "decode");
        expect_decode(t, get(c, "ids"), 1, 1, get(c, "decode_skip_special"), "decode_skip_special");
        expect_decode(t, get(c, "ids"), 1, 0, get(c, "decode_skip_special_no_cleanup"), "no_cleanup");
    }
    cJSON_Delete(ex);
}

static void check_specials(const wordpiece *t) {
    cJSON *ex = fixture_json(TOKDIR "/expected.json");
    cr_expect_eq(wordpiece_size(t), get(ex, "len_tokenizer")->valueint);
    cr_expect_eq(wordpiece_vocab_size(t), get(ex, "vocab_txt_lines")->valueint);
    const cJSON *sp = get(ex, "special_tokens");
    wordpiece_special_ids s = wordpiece_specials(t);
    struct { const char *key; int id; } roles[] = {{"pad", s.pad}, {"unk", s.unk}, {"cls", s.cls}, {"sep", s.sep},
                                                   {"mask", s.mask}, {"bos_[DEC]", s.bos}, {"[ENC]", s.enc}};
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++) {
        const cJSON *pair = get(sp, roles[i].key);
        const char *tokstr = cJSON_GetArrayItem(pair, 0)->valuestring;
        int id = cJSON_GetArrayItem(pair, 1)->valueint;
        cr_expect_eq(roles[i].id, id, "%s", roles[i].key);
        cr_expect_eq(wordpiece_token_id(t, tokstr), id, "%s", tokstr);
        cr_expect_str_eq(wordpiece_id_token(t, id), tokstr);
    }
    /* all_special_ids: exactly the listed ids are special */
    const cJSON *all = get(ex, "all_special_ids");
    for (int id = -1; id < wordpiece_size(t) + 2; id++) {
        int listed = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, all) listed |= e->valueint == id;
        cr_expect_eq(wordpiece_is_special(t, id), listed, "id %d", id);
    }
    cJSON_Delete(ex);
}

/* ---- the fixture tokenizer, loaded four ways ---------------------------------------------- */

Test(wordpiece, fixture_folder_all_cases) {
    wordpiece *t = load_ok(fixture_path(TOKDIR));
    cJSON *ex = fixture_json(TOKDIR "/expected.json");
    cr_expect_eq(wordpiece_model_max_length(t), get(ex, "model_max_length")->valueint);
    cJSON_Delete(ex);
    cr_expect_eq(wordpiece_clean_up_default(t), 1);
    check_specials(t);
    check_all_cases(t, 1);
    wordpiece_free(t);
}

Test(wordpiece, captioning_model_folder_is_the_same_tokenizer) {
    wordpiece *t = load_ok(fixture_path("blip-tiny/captioning/model"));
    check_specials(t);
    check_all_cases(t, 1);
    wordpiece_free(t);
}

Test(wordpiece, bare_vocab_txt_appends_dec_and_enc) {
    /* no config files: BLIP's add_special_tokens gives [DEC] = len(vocab), [ENC] = len(vocab) + 1 */
    wordpiece *t = load_ok(fixture_path(TOKDIR "/vocab.txt"));
    check_specials(t);
    check_all_cases(t, 1);
    wordpiece_free(t);
}

/* Write a tokenizer.json (HF fast format) holding the fixture's vocab.txt and BERT's special
 * tokens, but not [DEC]/[ENC] — the loader appends those as for a bare vocab.txt. */
static char *write_tokenizer_json(void) {
    size_t len;
    char *vocab = vk_read_file(fixture_path(TOKDIR "/vocab.txt"), &len, 0);
    cr_assert_not_null(vocab);
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "WordPiece");
    cJSON_AddStringToObject(model, "unk_token", "[UNK]");
    cJSON_AddStringToObject(model, "continuing_subword_prefix", "##");
    cJSON_AddNumberToObject(model, "max_input_chars_per_word", 100);
    cJSON *v = cJSON_AddObjectToObject(model, "vocab");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    int id = 0;
    for (char *line = strtok(vocab, "\n"); line; line = strtok(NULL, "\n"), id++) {
        cJSON_AddNumberToObject(v, line, id);
        if (line[0] == '[' && id < 5) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "id", id);
            cJSON_AddStringToObject(a, "content", line);
            cJSON_AddBoolToObject(a, "special", 1);
            cJSON_AddItemToArray(added, a);
        }
    }
    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(norm, "type", "BertNormalizer");
    cJSON_AddBoolToObject(norm, "lowercase", 1);
    cJSON_AddNullToObject(norm, "strip_accents");
    char *text = cJSON_Print(root);
    char *dir = test_tmpdir();
    char *path = vk_path_join(dir, "tokenizer.json");
    cr_assert_eq(vk_write_file_atomic(path, text, strlen(text)), 0);
    free(text);
    free(path);
    cJSON_Delete(root);
    free(vocab);
    return dir;
}

Test(wordpiece, tokenizer_json_folder) {
    char *dir = write_tokenizer_json();
    wordpiece *t = load_ok(dir);
    check_specials(t);
    check_all_cases(t, 1);
    wordpiece_free(t);
    /* and as a file path */
    char *p = vk_path_join(dir, "tokenizer.json");
    t = load_ok(p);
    cr_expect_eq(wordpiece_specials(t).enc, 140);
    wordpiece_free(t);
    remove(p);
    remove(dir);
    free(p);
    free(dir);
}

/* ---- loading variants and errors ---------------------------------------------------------- */

static char *copy_vocab_to(const char *dir) {
    size_t len;
    char *vocab = vk_read_file(fixture_path(TOKDIR "/vocab.txt"), &len, 0);
    char *p = vk_path_join(dir, "vocab.txt");
    cr_assert_eq(vk_write_file_atomic(p, vocab, len), 0);
    free(vocab);
    return p;
}

static void put_file(const char *dir, const char *name, const char *text) {
    char *p = vk_path_join(dir, name);
    cr_assert_eq(vk_write_file_atomic(p, text, strlen(text)), 0);
    free(p);
}

static void clean_dir(char *dir) {
    const char *names[] = {"vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                           "added_tokens.json"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *p = vk_path_join(dir, names[i]);
        remove(p);
        free(p);
    }
    remove(dir);
    free(dir);
}

Test(wordpiece, added_tokens_json_decides_the_ids) {
    char *dir = test_tmpdir();
    free(copy_vocab_to(dir));
    put_file(dir, "added_tokens.json", "{\"[ENC]\": 139, \"[DEC]\": 140}");
    wordpiece *t = load_ok(dir);
    cr_expect_eq(wordpiece_specials(t).bos, 140);
    cr_expect_eq(wordpiece_specials(t).enc, 139);
    cr_expect_eq(wordpiece_size(t), 141);
    const char *text = "[DEC] a [ENC]";
    int64_t *ids;
    size_t n;
    cr_assert_eq(wordpiece_tokenize(t, text, &ids, &n), 0);
    cr_assert_eq(n, 3);
    cr_expect(ids[0] == 140 && ids[2] == 139);
    free(ids);
    wordpiece_free(t);
    clean_dir(dir);
}

static void expect_load_error(const char *path, const char *file, const char *frag) {
    vk_err_clear();
    wordpiece *t = wordpiece_load(path);
    cr_expect_null(t, "%s was accepted", path);
    wordpiece_free(t);
    const char *msg = vk_err_msg();
    cr_expect(strstr(msg, file) != NULL, "message does not name %s: %s", file, msg);
    if (frag) cr_expect(strstr(msg, frag) != NULL, "message lacks '%s': %s", frag, msg);
}

Test(wordpiece, malformed_files_are_refused_with_the_file) {
    expect_load_error("/nonexistent/tokenizer", "/nonexistent/tokenizer", NULL);

    char *dir = test_tmpdir();
    expect_load_error(dir, dir, "no vocab.txt");

    char *vp = vk_path_join(dir, "vocab.txt");
    put_file(dir, "vocab.txt", "");
    expect_load_error(dir, vp, "empty");
    put_file(dir, "vocab.txt", "[PAD]\n[UNK]\ncaf\xc3\n");
    expect_load_error(dir, vp, "UTF-8");

    free(copy_vocab_to(dir));
    char *cp = vk_path_join(dir, "tokenizer_config.json");
    put_file(dir, "tokenizer_config.json", "{\"do_lower_case\": ");
    expect_load_error(dir, cp, "JSON");
    put_file(dir, "tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
    expect_load_error(dir, cp, "do_lower_case");
    put_file(dir, "tokenizer_config.json", "{\"unk_token\": 5}");
    expect_load_error(dir, cp, "unk_token");
    put_file(dir, "tokenizer_config.json", "{\"added_tokens_decoder\": {\"x\": {\"content\": \"[DEC]\"}}}");
    expect_load_error(dir, cp, "not an id");
    put_file(dir, "tokenizer_config.json",
             "{\"added_tokens_decoder\": {\"139\": {\"content\": \"[DEC]\"}, \"140\": {\"content\": \"[DEC]\"}}}");
    expect_load_error(dir, cp, "[DEC]");
    remove(cp);

    char *ap = vk_path_join(dir, "added_tokens.json");
    put_file(dir, "added_tokens.json", "{\"[DEC]\": \"139\"}");
    expect_load_error(dir, ap, "id must be an integer");
    put_file(dir, "added_tokens.json", "{\"[DEC]\": 139, \"[ENC]\": 139}");
    expect_load_error(dir, ap, "139");
    remove(ap);

    remove(vp);
    char *tp = vk_path_join(dir, "tokenizer.json");
    put_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}");
    expect_load_error(dir, tp, "WordPiece");
    put_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0, \"b\": 0}}}");
    expect_load_error(dir, tp, "id 0");
    put_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": -3}}}");
    expect_load_error(dir, tp, "id must be");

    free(vp);
    free(cp);
    free(ap);
    free(tp);
    clean_dir(dir);
}

Test(wordpiece, vocab_line_ends_like_python_text_mode) {
    /* CRLF and lone CR end lines too (universal newlines); a final line without newline counts */
    char *dir = test_tmpdir();
    put_file(dir, "vocab.txt", "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\n[MASK]\na\r\n##b");
    wordpiece *t = load_ok(dir);
    cr_expect_eq(wordpiece_vocab_size(t), 7);
    cr_expect_eq(wordpiece_token_id(t, "[UNK]"), 1);
    cr_expect_eq(wordpiece_token_id(t, "##b"), 6);
    cr_expect_eq(wordpiece_specials(t).bos, 7);
    int64_t *ids;
    size_t n;
    cr_assert_eq(wordpiece_tokenize(t, "ab", &ids, &n), 0);
    cr_expect(n == 2 && ids[0] == 5 && ids[1] == 6);
    free(ids);
    wordpiece_free(t);
    clean_dir(dir);
}

/* ---- encode options and errors ------------------------------------------------------------ */

Test(wordpiece, encode_option_errors) {
    wordpiece *t = load_ok(fixture_path(TOKDIR));
    const char *texts[] = {"a cat", "two dogs on the beach"};
    wordpiece_batch b;
    wordpiece_encode_opts o = wordpiece_encode_defaults();
    vk_err_clear();
    cr_expect_eq(wordpiece_encode(t, texts, 2, &o, &b), -1, "different lengths without padding");
    cr_expect(strstr(vk_err_msg(), "padding") != NULL, "%s", vk_err_msg());
    o.max_length = 1;
    cr_expect_eq(wordpiece_encode(t, texts, 1, &o, &b), -1);
    o.max_length = 0;
    o.padding = WORDPIECE_PAD_MAX_LENGTH;
    cr_expect_eq(wordpiece_encode(t, texts, 1, &o, &b), -1);
    /* invalid UTF-8 names the text */
    const char *bad[] = {"fine", "caf\xc3"};
    o = wordpiece_encode_defaults();
    o.padding = WORDPIECE_PAD_LONGEST;
    vk_err_clear();
    cr_expect_eq(wordpiece_encode(t, bad, 2, &o, &b), -1);
    cr_expect(strstr(vk_err_msg(), "text 1") && strstr(vk_err_msg(), "UTF-8"), "%s", vk_err_msg());
    cr_expect_null(b.ids);
    /* without specials, max_length counts only the text */
    o = wordpiece_encode_defaults();
    o.add_special_tokens = 0;
    o.max_length = 2;
    const char *one = "a cat sitting";
    cr_assert_eq(wordpiece_encode(t, &one, 1, &o, &b), 0);
    cr_expect(b.cols == 2 && b.ids[0] == wordpiece_token_id(t, "a") && b.ids[1] == wordpiece_token_id(t, "cat"));
    wordpiece_batch_free(&b);
    wordpiece_free(t);
}

/* ---- behaviour beyond the fixture cases, from the transformers source --------------------- */

static void expect_basic(const wordpiece *t, const char *text, const char *const *want, size_t nwant) {
    char **w;
    size_t n;
    cr_assert_eq(wordpiece_basic_tokenize(t, text, &w, &n), 0, "%s", vk_err_msg());
    cr_expect_eq(n, nwant, "\"%s\": %zu words, expected %zu", text, n, nwant);
    for (size_t i = 0; i < n && i < nwant; i++) cr_expect_str_eq(w[i], want[i], "\"%s\" word %zu", text, i);
    wordpiece_strings_free(w, n);
}

Test(wordpiece, unicode_rules_from_the_source) {
    wordpiece *t = load_ok(fixture_path(TOKDIR));
    /* 'İ'.lower() is "i" + U+0307 (SpecialCasing); the Mn mark is stripped */
    expect_basic(t, "\xc4\xb0stanbul", (const char *[]){"istanbul"}, 1);
    /* decomposed and composed accents give the same word; capital sigma lower-cases to σ even
     * at the end of a word (the text is lower-cased one character at a time) */
    expect_basic(t, "Cafe\xcc\x81 CAF\xc3\x89 \xce\x9f\xce\xa3", (const char *[]){"cafe", "cafe", "\xce\xbf\xcf\x83"}, 3);
    /* BEL and soft hyphen (Cf) are deleted; U+2028 (Zl) splits like Python's str.split; the
     * em dash and the inverted question mark are punctuation (Pd, Po); '$' is ASCII "punctuation" */
    expect_basic(t, "a\x07" "b c\xc2\xad" "d e\xe2\x80\xa8" "f g\xe2\x80\x94h \xc2\xbfy $5",
                 (const char *[]){"ab", "cd", "e", "f", "g", "\xe2\x80\x94", "h", "\xc2\xbf", "y", "$", "5"}, 11);
    /* kana is not spaced out, ideographs are; fullwidth letters stay (NFC is not NFKC) */
    expect_basic(t, "\xe3\x81\x8b\xe3\x81\xaa\xe7\x8c\xab\xe7\x8a\xac", (const char *[]){"\xe3\x81\x8b\xe3\x81\xaa", "\xe7\x8c\xab", "\xe7\x8a\xac"}, 3);
    /* special tokens are case-sensitive: "[cls]" is ordinary text */
    expect_basic(t, "[cls][CLS]x", (const char *[]){"[", "cls", "]", "[CLS]", "x"}, 5);
    /* a word of exactly 100 coverable characters is not [UNK]: 100 'a's are "a" + 99 "##a" */
    char hundred[101];
    memset(hundred, 'a', 100);
    hundred[100] = 0;
    int64_t *ids;
    size_t n;
    cr_assert_eq(wordpiece_tokenize(t, hundred, &ids, &n), 0);
    cr_expect_eq(n, 100);
    cr_expect_eq(ids[0], wordpiece_token_id(t, "a"));
    cr_expect_eq(ids[99], wordpiece_token_id(t, "##a"));
    free(ids);
    wordpiece_free(t);
}

Test(wordpiece, decode_edge_cases) {
    wordpiece *t = load_ok(fixture_path(TOKDIR));
    int a = wordpiece_token_id(t, "a"), s = wordpiece_token_id(t, "##s"), enc = wordpiece_specials(t).enc;
    /* a leading ## piece keeps its ##; an id with no token decodes as [UNK] and is not skipped;
     * [ENC] (an additional special token past the vocabulary) is its own sub-text, so the "##"
     * after it is not glued on */
    int64_t ids1[] = {s, a, s};
    char *d = wordpiece_decode(t, ids1, 3, 0, 1);
    cr_expect_str_eq(d, "##s as");
    free(d);
    int64_t ids2[] = {a, 100000, -5};
    d = wordpiece_decode(t, ids2, 3, 1, 1);
    cr_expect_str_eq(d, "a [UNK] [UNK]");
    free(d);
    int64_t ids3[] = {a, enc, s};
    d = wordpiece_decode(t, ids3, 3, 0, 0);
    cr_expect_str_eq(d, "a [ENC] ##s");
    free(d);
    d = wordpiece_decode(t, ids3, 0, 1, 1);
    cr_expect_str_eq(d, "");
    free(d);
    wordpiece_free(t);
}

Test(wordpiece, empty_text) {
    /* Found by fuzz_wordpiece (UBSan: offset applied to a NULL buffer for the empty string). */
    wordpiece *t = load_ok(fixture_path(TOKDIR));
    char **w;
    size_t n = 1;
    cr_assert_eq(wordpiece_basic_tokenize(t, "", &w, &n), 0, "%s", vk_err_msg());
    cr_expect_eq(n, 0);
    wordpiece_strings_free(w, n);
    int64_t *ids = NULL;
    cr_assert_eq(wordpiece_tokenize(t, "", &ids, &n), 0, "%s", vk_err_msg());
    cr_expect_eq(n, 0);
    free(ids);
    wordpiece_free(t);
}
