/* test_vqa_eval.c — the official VQA accuracy (vqaEval.py @a013f00) against the numbers in
 * ../shared/fixtures/eval/vqa/<set>/expected.json, for every set found: overall, per answer
 * type and per question type (the official 2-decimal value exactly, and the unrounded percent
 * within 1e-6), every question's rounded accuracy, and every question's normalised answer and
 * human answers (debug_normalised) where the fixture gives them. */
#include "eval/eval.h"
#include "tests/common/fixtures.h"
#include "util/error.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "expected.json: no number \"%s\"", key);
    return v->valuedouble;
}

static void check_groups(const char *set, const char *what, const vqa_group *g, size_t n, const cJSON *rounded,
                         const cJSON *unrounded) {
    cr_expect_eq((size_t)cJSON_GetArraySize(rounded), n, "%s: number of %s groups", set, what);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(g[i].rounded, num(rounded, g[i].name), "%s: %s \"%s\" = %.2f, official %.2f", set, what, g[i].name,
                     g[i].rounded, num(rounded, g[i].name));
        cr_expect(fabs(g[i].acc - num(unrounded, g[i].name)) <= 1e-6, "%s: %s \"%s\" unrounded %.10f, official %.10f", set,
                  what, g[i].name, g[i].acc, num(unrounded, g[i].name));
    }
}

static void check_set(const char *name) {
    char rel[4][512];
    const char *files[4] = {"questions", "annotations", "results", "expected"};
    char paths[3][4096];
    for (int k = 0; k < 4; k++) snprintf(rel[k], sizeof rel[k], "eval/vqa/%s/%s.json", name, files[k]);
    for (int k = 0; k < 3; k++) snprintf(paths[k], sizeof paths[k], "%s", fixture_path(rel[k]));
    cJSON *ex = fixture_json(rel[3]);
    vqa_set v;
    cr_assert_eq(vqa_set_load(&v, paths[0], paths[1], paths[2]), 0, "%s: %s", name, vk_err_msg());
    cr_expect_eq((double)v.n, num(ex, "n_questions"), "%s: questions", name);
    vqa_result r;
    cr_assert_eq(vqa_evaluate(&v, &r), 0, "%s", vk_err_msg());
    const cJSON *un = cJSON_GetObjectItemCaseSensitive(ex, "unrounded");
    cr_expect_eq(r.overall_rounded, num(ex, "overall"), "%s: overall %.2f, official %.2f", name, r.overall_rounded,
                 num(ex, "overall"));
    cr_expect(fabs(r.overall - num(un, "overall")) <= 1e-6, "%s: overall unrounded %.10f", name, r.overall);
    check_groups(name, "answer type", r.per_answer_type, r.n_answer_types, cJSON_GetObjectItemCaseSensitive(ex, "perAnswerType"),
                 cJSON_GetObjectItemCaseSensitive(un, "perAnswerType"));
    check_groups(name, "question type", r.per_question_type, r.n_question_types,
                 cJSON_GetObjectItemCaseSensitive(ex, "perQuestionType"), cJSON_GetObjectItemCaseSensitive(un, "perQuestionType"));
    const cJSON *pq = cJSON_GetObjectItemCaseSensitive(ex, "per_question");
    const cJSON *dbg = cJSON_GetObjectItemCaseSensitive(ex, "debug_normalised");
    for (size_t i = 0; i < v.n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%lld", v.items[i].question_id);
        cr_expect_eq(r.per_question_rounded[i], num(pq, id), "%s: question %s accuracy %.2f, official %.2f", name, id,
                     r.per_question_rounded[i], num(pq, id));
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(dbg, id);
        if (!d) continue;
        int n = v.items[i].n_gt;
        char **gt = calloc((size_t)n, sizeof *gt);
        for (int k = 0; k < n; k++) gt[k] = strdup(v.items[i].gt[k]);
        char *ans = strdup(v.items[i].answer);
        int normalised = vqa_normalize(gt, n, &ans);
        cr_expect_eq(normalised, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "normalised")) ? 1 : 0,
                     "%s: question %s normalised?", name, id);
        cr_expect_str_eq(ans, cJSON_GetObjectItemCaseSensitive(d, "answer")->valuestring, "%s: question %s answer", name, id);
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(d, "gt");
        for (int k = 0; k < n; k++)
            cr_expect_str_eq(gt[k], cJSON_GetArrayItem(g, k)->valuestring, "%s: question %s gt[%d]", name, id, k);
        for (int k = 0; k < n; k++) free(gt[k]);
        free(gt);
        free(ans);
    }
    vqa_result_free(&r);
    vqa_set_free(&v);
    cJSON_Delete(ex);
}

Test(vqa_eval, every_fixture_set) {
    char path[4096];
    snprintf(path, sizeof path, "%s/eval/vqa", fixtures_root());
    DIR *d = opendir(path);
    cr_assert_not_null(d, "cannot open %s", path);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char probe[8192];
        snprintf(probe, sizeof probe, "%s/%s/expected.json", path, e->d_name);
        FILE *f = fopen(probe, "r");
        if (!f) continue;
        fclose(f);
        check_set(e->d_name);
        n++;
    }
    closedir(d);
    cr_assert_geq(n, 1, "no VQA fixture set found");
}

Test(vqa_eval, python2_rounding) {
    cr_expect_eq(vqa_round2(70.625), 70.63);   /* exact tie: away from zero (Python 3 gives 70.62) */
    cr_expect_eq(vqa_round2(0.125), 0.13);
    cr_expect_eq(vqa_round2(2.675), 2.67);     /* 2.675 is 2.67499999... in binary */
    cr_expect_eq(vqa_round2(74.87999999999997), 74.88);
    cr_expect_eq(vqa_round2(99.995), 100.0);   /* 99.99500000000000454... */
    cr_expect_eq(vqa_round2(-0.125), -0.13);
    cr_expect_eq(vqa_round2(33.333333333333336), 33.33);
}

Test(vqa_eval, normalisation_quirks) {
    struct {
        const char *in, *punct, *digit;
    } t[] = {
        {"hot-dog", "hot dog", "hot dog"},       /* no " -" / "- ": replaced by a space */
        {"a - b", "a  b", "b"},                  /* " -" occurs: deleted; article dropped */
        {"1,000", "1000", "1000"},               /* digit,digit: every mark deleted */
        {"Two dogs.", "Two dogs", "2 dogs"},
        {"3.5", "3.5", "3.5"},
        {"dont", "dont", "don't"},
        {"its", "its", "its"},
    };
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        char *p = vqa_process_punctuation(t[k].in);
        cr_expect_str_eq(p, t[k].punct, "processPunctuation(\"%s\")", t[k].in);
        char *d = vqa_process_digit_article(p);
        cr_expect_str_eq(d, t[k].digit, "processDigitArticle(\"%s\")", p);
        free(p);
        free(d);
    }
    /* more than 32 periods: only the first 32 go */
    char many[64];
    memset(many, '.', 40);
    many[40] = 0;
    char *p = vqa_process_punctuation(many);
    cr_expect_eq(strlen(p), 8);
    free(p);
}
