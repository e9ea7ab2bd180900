/* test_caption_scores.c — BLEU-1..4, ROUGE-L and CIDEr-D against the official pycocoevalcap
 * numbers in ../shared/fixtures/eval/captions/<corpus>/expected.json, for EVERY corpus found
 * there, both ways the README describes: raw text through our PTB tokenizer, and the pretok
 * files straight into the scorers. Corpus level and every image, plus the BLEU count sums, the
 * CIDEr-D df size and log N, and (where the fixture has them) the per-n CIDEr-D terms.
 *
 * Tolerances (README): CIDEr 1e-4 absolute, BLEU / ROUGE-L 1e-6 absolute. */
#include "eval/eval.h"
#include "tests/common/fixtures.h"
#include "util/error.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL_CIDER 1e-4
#define TOL_OTHER 1e-6

static const char *const metric_names[6] = {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"};

/* Corpus folders under eval/captions that hold an expected.json (sorted names, <= 64). */
static int list_corpora(char names[][256], int cap) {
    char path[4096];
    snprintf(path, sizeof path, "%s/eval/captions", fixtures_root());
    DIR *d = opendir(path);
    cr_assert_not_null(d, "cannot open %s", path);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        if (e->d_name[0] == '.') continue;
        char probe[8192];
        snprintf(probe, sizeof probe, "%s/%s/expected.json", path, e->d_name);
        FILE *f = fopen(probe, "r");
        if (!f) continue;
        fclose(f);
        snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, 256, (int (*)(const void *, const void *))strcmp);
    return n;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "expected.json: no number \"%s\"", key);
    return v->valuedouble;
}

/* Score one corpus in one mode and compare everything expected.json holds. */
static void check_corpus(const char *corpus, int pretok) {
    const char *mode = pretok ? "pretok" : "raw";
    char rel[512];
    snprintf(rel, sizeof rel, "eval/captions/%s/expected.json", corpus);
    cJSON *ex = fixture_json(rel);
    char ann[512], res[512];
    snprintf(ann, sizeof ann, "eval/captions/%s/annotations%s.json", corpus, pretok ? ".pretok" : "");
    snprintf(res, sizeof res, "eval/captions/%s/results%s.json", corpus, pretok ? ".pretok" : "");
    char ann_path[4096], res_path[4096];
    snprintf(ann_path, sizeof ann_path, "%s", fixture_path(ann));
    snprintf(res_path, sizeof res_path, "%s", fixture_path(res));

    caption_set set;
    cr_assert_eq(caption_set_load(&set, ann_path, res_path), 0, "%s %s: %s", corpus, mode, vk_err_msg());
    if (!pretok) cr_assert_eq(caption_set_tokenize(&set), 0, "%s: %s", corpus, vk_err_msg());
    cr_expect_eq((double)set.n, num(ex, "n_images"), "%s %s: images", corpus, mode);
    size_t nrefs = 0;
    for (size_t i = 0; i < set.n; i++) nrefs += (size_t)set.items[i].n_refs;
    cr_expect_eq((double)nrefs, num(ex, "n_references"), "%s %s: references", corpus, mode);
    cr_expect_eq(set.n_unscored, 0, "%s %s: every image has a result", corpus, mode);

    caption_scores s;
    cr_assert_eq(caption_scores_compute(&set, NULL, CAPTION_METRIC_ALL, 1, &s), 0, "%s", vk_err_msg());
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(ex, "metrics");
    double got[6] = {s.bleu[0], s.bleu[1], s.bleu[2], s.bleu[3], s.rouge_l, s.cider};
    for (int k = 0; k < 6; k++) {
        double want = num(m, metric_names[k]), tol = k == 5 ? TOL_CIDER : TOL_OTHER;
        cr_expect(fabs(got[k] - want) <= tol, "%s %s: %s = %.10f, official %.10f", corpus, mode, metric_names[k], got[k],
                  want);
    }

    /* BLEU count sums and CIDEr-D statistics */
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(ex, "bleu_stats");
    cr_expect_eq((double)s.bleu_stats.testlen, num(bs, "testlen"), "%s %s: testlen", corpus, mode);
    cr_expect_eq((double)s.bleu_stats.reflen, num(bs, "reflen"), "%s %s: reflen", corpus, mode);
    const cJSON *guess = cJSON_GetObjectItemCaseSensitive(bs, "guess"), *correct = cJSON_GetObjectItemCaseSensitive(bs, "correct");
    for (int k = 0; k < 4; k++) {
        cr_expect_eq((double)s.bleu_stats.guess[k], cJSON_GetArrayItem(guess, k)->valuedouble, "%s %s: guess[%d]", corpus, mode, k);
        cr_expect_eq((double)s.bleu_stats.correct[k], cJSON_GetArrayItem(correct, k)->valuedouble, "%s %s: correct[%d]",
                     corpus, mode, k);
    }
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(ex, "cider_info");
    cr_expect(fabs(s.cider_stats.log_n - num(ci, "log_N")) < 1e-12, "%s %s: log N", corpus, mode);
    cr_expect_eq((double)s.cider_stats.distinct_df, num(ci, "distinct_ref_ngrams_df"), "%s %s: df size", corpus, mode);

    /* every image */
    const cJSON *pi = cJSON_GetObjectItemCaseSensitive(ex, "per_image");
    cr_assert_eq((size_t)cJSON_GetArraySize(pi), set.n, "%s: per_image size", corpus);
    for (size_t i = 0; i < set.n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%lld", set.items[i].image_id);
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(pi, id);
        cr_assert_not_null(o, "%s: image %s not in expected.json", corpus, id);
        double g[6] = {s.per_image_bleu[i][0], s.per_image_bleu[i][1], s.per_image_bleu[i][2], s.per_image_bleu[i][3],
                       s.per_image_rouge[i], s.per_image_cider[i]};
        for (int k = 0; k < 6; k++) {
            double want = num(o, metric_names[k]), tol = k == 5 ? TOL_CIDER : TOL_OTHER;
            cr_expect(fabs(g[k] - want) <= tol, "%s %s: image %s %s = %.10g, official %.10g (candidate \"%s\")", corpus,
                      mode, id, metric_names[k], g[k], want, set.items[i].cand);
        }
    }

    /* per-n CIDEr-D terms (small corpora only) */
    const cJSON *pn = cJSON_GetObjectItemCaseSensitive(ex, "per_image_cider_ngram");
    if (pn) {
        caption_ngrams *gr = caption_ngrams_build(set.items, set.n);
        cr_assert_not_null(gr);
        double (*terms)[4] = calloc(set.n, sizeof *terms);
        double c;
        cr_assert_eq(cider_score(gr, NULL, &c, NULL, terms, NULL), 0);
        for (size_t i = 0; i < set.n; i++) {
            char id[32];
            snprintf(id, sizeof id, "%lld", set.items[i].image_id);
            const cJSON *arr = cJSON_GetObjectItemCaseSensitive(pn, id);
            cr_assert_not_null(arr, "%s: per_image_cider_ngram lacks %s", corpus, id);
            for (int k = 0; k < 4; k++)
                cr_expect(fabs(terms[i][k] - cJSON_GetArrayItem(arr, k)->valuedouble) <= TOL_CIDER,
                          "%s %s: image %s CIDEr n=%d term %.10g, official %.10g", corpus, mode, id, k + 1, terms[i][k],
                          cJSON_GetArrayItem(arr, k)->valuedouble);
        }
        free(terms);
        caption_ngrams_free(gr);
    }
    caption_scores_free(&s);
    caption_set_free(&set);
    cJSON_Delete(ex);
}

Test(caption_scores, every_corpus_raw_text_through_the_ptb_tokenizer, .timeout = 120) {
    char names[64][256];
    int n = list_corpora(names, 64);
    cr_assert_geq(n, 5, "expected the 5 caption corpora of the fixtures, found %d", n);
    for (int i = 0; i < n; i++) check_corpus(names[i], 0);
}

Test(caption_scores, every_corpus_pretokenized, .timeout = 120) {
    char names[64][256];
    int n = list_corpora(names, 64);
    cr_assert_geq(n, 5);
    for (int i = 0; i < n; i++) check_corpus(names[i], 1);
}

/* The README's hand-checkable properties, on tiny inputs built here. */
static caption_item item(const char *cand, const char **refs, int n) {
    caption_item it = {1, (char *)cand, (char **)refs, n};
    return it;
}

Test(caption_scores, identical_candidate_scores_cider_10_and_single_image_0) {
    const char *refs_a[] = {"a man riding a horse", "a man riding a horse"};
    const char *refs_b[] = {"two dogs play in the snow", "dogs playing outside"};
    caption_item items[2] = {item("a man riding a horse", refs_a, 2), item("a cat", refs_b, 2)};
    caption_ngrams *g = caption_ngrams_build(items, 2);
    double per[2], c;
    cr_assert_eq(cider_score(g, NULL, &c, per, NULL, NULL), 0);
    cr_expect(fabs(per[0] - 10.0) < 1e-9, "identical candidate and references: %.12f", per[0]);
    caption_ngrams_free(g);
    g = caption_ngrams_build(items, 1); /* N = 1: log N = 0, every weight 0 */
    cr_assert_eq(cider_score(g, NULL, &c, per, NULL, NULL), 0);
    cr_expect_eq(c, 0.0);
    caption_ngrams_free(g);
}

Test(caption_scores, rouge_quirks_and_bleu_smoothing) {
    const char *refs[] = {"", "a b c"};
    caption_item it = item("", refs, 2);
    double c, per;
    cr_assert_eq(rouge_score(&it, 1, &c, &per), 0);
    cr_expect_eq(per, 1.0, "empty candidate vs empty reference: LCS([\"\"],[\"\"]) = 1 gives ROUGE-L 1");
    const char *refs2[] = {"x y z w v"};
    caption_item it2 = item("p q r s t", refs2, 1);
    caption_ngrams *g = caption_ngrams_build(&it2, 1);
    bleu_result br;
    double pb[1][4];
    cr_assert_eq(bleu_score(g, &br, pb), 0);
    /* no matching n-gram: tiny but positive, from the 1e-15 / 1e-9 constants */
    cr_expect(pb[0][3] > 0 && pb[0][3] < 1e-6, "smoothed per-image BLEU-4 %.3g", pb[0][3]);
    caption_ngrams_free(g);
}

Test(caption_scores, cider_df_table_round_trip) {
    /* A df table built from the evaluated references and saved to disk must reproduce the
     * default CIDEr-D exactly (same df, same log N). */
    char ann[4096], res[4096];
    snprintf(ann, sizeof ann, "%s", fixture_path("eval/captions/small/annotations.pretok.json"));
    snprintf(res, sizeof res, "%s", fixture_path("eval/captions/small/results.pretok.json"));
    caption_set set;
    cr_assert_eq(caption_set_load(&set, ann, res), 0, "%s", vk_err_msg());
    caption_ngrams *g = caption_ngrams_build(set.items, set.n);
    cider_df *df = cider_df_build(g);
    cr_assert_not_null(df);
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/df.json", dir);
    cr_assert_eq(cider_df_save(df, path), 0, "%s", vk_err_msg());
    cider_df *back = cider_df_load(path);
    cr_assert_not_null(back, "%s", vk_err_msg());
    double a, b;
    cr_assert_eq(cider_score(g, NULL, &a, NULL, NULL, NULL), 0);
    cr_assert_eq(cider_score(g, back, &b, NULL, NULL, NULL), 0);
    cr_expect(fabs(a - b) < 1e-12, "df from file %.12f vs default %.12f", b, a);
    cr_expect(fabs(a - 1.192523) < 1e-4);
    remove(path);
    remove(dir);
    free(dir);
    cider_df_free(df);
    cider_df_free(back);
    caption_ngrams_free(g);
    caption_set_free(&set);
}

Test(caption_scores, rouge_tokens_are_single_space_splits) {
    /* ROUGE-L reuses the words of str.split() only where s.split(" ") gives the same tokens;
     * doubled, leading and trailing spaces and other whitespace make other tokens (values from
     * the official Rouge on the same strings). */
    const char *refs_a[] = {"a b c"};
    const char *refs_b[] = {"a b c", "a\tb"};
    const char *refs_c[] = {"a b "};
    const char *refs_d[] = {"a b c"};
    caption_item items[4] = {item("a  b c", refs_a, 1), item("a\tb c", refs_b, 2), item(" a b", refs_c, 1),
                             item("a b c", refs_d, 1)};
    double c, per[4];
    cr_assert_eq(rouge_score(items, 4, &c, per), 0);
    const double want[4] = {0.8798076923076923, 0.7093023255813954, 0.6666666666666666, 1.0};
    for (int i = 0; i < 4; i++) cr_expect(fabs(per[i] - want[i]) < 1e-15, "image %d: %.17g, want %.17g", i, per[i], want[i]);
    caption_scores s; /* the same through the shared words, beside the n-gram counting */
    caption_set set = {items, 4, 0, 0, NULL, NULL, NULL};
    cr_assert_eq(caption_scores_compute(&set, NULL, CAPTION_METRIC_ALL, 1, &s), 0, "%s", vk_err_msg());
    for (int i = 0; i < 4; i++) cr_expect_eq(s.per_image_rouge[i], per[i]);
    caption_scores_free(&s);
}

/* Plain dynamic-programming LCS of two word lists (the definition), for the test below. */
static size_t lcs_dp(char **a, size_t na, char **b, size_t nb) {
    size_t *L = calloc((na + 1) * (nb + 1), sizeof *L);
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++)
            L[i * (nb + 1) + j] = strcmp(a[i - 1], b[j - 1]) == 0 ? L[(i - 1) * (nb + 1) + j - 1] + 1
                                  : L[(i - 1) * (nb + 1) + j] > L[i * (nb + 1) + j - 1] ? L[(i - 1) * (nb + 1) + j]
                                                                                        : L[i * (nb + 1) + j - 1];
    size_t r = L[na * (nb + 1) + nb];
    free(L);
    return r;
}

Test(caption_scores, rouge_lcs_matches_the_definition) {
    /* random captions over 6 words, 1..70 words long (the bit-parallel LCS takes candidates of up
     * to 64 words, longer ones the row-by-row one): every per-image value as the definition gives */
    static const char *const vocab[] = {"a", "dog", "on", "the", "red", "grass"};
    enum { N = 300, R = 3, MAXW = 70 };
    static char text[N][R + 1][MAXW * 6 + 1];
    static char *words[R + 1][MAXW];
    caption_item items[N];
    static char *refs[N][R];
    unsigned long long seed = 99;
    for (int i = 0; i < N; i++)
        for (int s = 0; s <= R; s++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            int n = 1 + (int)((seed >> 33) % MAXW);
            char *p = text[i][s];
            for (int k = 0; k < n; k++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                p += sprintf(p, "%s%s", k ? " " : "", vocab[(seed >> 33) % 6]);
            }
            if (s) refs[i][s - 1] = text[i][s];
            items[i] = item(text[i][0], (const char **)refs[i], R);
        }
    double c, per[N];
    cr_assert_eq(rouge_score(items, N, &c, per), 0);
    for (int i = 0; i < N; i++) {
        size_t nw[R + 1];
        for (int s = 0; s <= R; s++) {
            static char buf[MAXW * 6 + 1];
            strcpy(buf, text[i][s]);
            nw[s] = 0;
            for (char *t = strtok(buf, " "); t; t = strtok(NULL, " ")) words[s][nw[s]++] = strdup(t);
        }
        double pmax = 0, rmax = 0;
        for (int s = 1; s <= R; s++) {
            size_t l = lcs_dp(words[s], nw[s], words[0], nw[0]);
            double p = (double)l / (double)nw[0], r = (double)l / (double)nw[s];
            if (p > pmax) pmax = p;
            if (r > rmax) rmax = r;
        }
        double want = pmax != 0 && rmax != 0 ? ((1 + 1.2 * 1.2) * pmax * rmax) / (rmax + 1.2 * 1.2 * pmax) : 0.0;
        cr_expect_eq(per[i], want, "image %d: %.17g, want %.17g", i, per[i], want);
        for (int s = 0; s <= R; s++)
            for (size_t k = 0; k < nw[s]; k++) free(words[s][k]);
    }
}
