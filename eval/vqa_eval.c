/* vqa_eval.c — the official VQA accuracy (GT-Vision-Lab/VQA vqaEval.py @a013f00, a Python 2
 * program): answer normalisation, leave-one-out accuracy against the human answers, and
 * Python 2 rounding of the reported percentages.
 *
 * Quirks kept on purpose (each is what the official numbers contain):
 *  - normalisation runs only when the human answers are not all identical, so "Yes" against
 *    ten "yes" scores 0;
 *  - processPunctuation looks for "p " / " p" / digit,digit in the ORIGINAL text to decide
 *    between deleting a mark and replacing it by a space;
 *  - only the first 32 periods not followed by a digit are removed (re.UNICODE = 32 is passed
 *    as re.sub's count argument);
 *  - \d means ASCII digits only (Python 2 str patterns), so full-width digits are not digits;
 *  - round() is Python 2's: correctly rounded, exact ties away from zero. */
#include "eval/eval.h"
#include "eval/text.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char vqa_punct[] = ";/[]\"{}()=+\\_-><@`,?!";

/* contractions table of vqaEval.py (keys with capitals never match after lower-casing; kept so
 * the table is the official one) */
static const char *const contractions[][2] = {
    {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"}, {"couldnt", "couldn't"},
    {"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"}, {"didnt", "didn't"}, {"doesnt", "doesn't"},
    {"dont", "don't"}, {"hadnt", "hadn't"}, {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"}, {"hasnt", "hasn't"},
    {"havent", "haven't"}, {"hed", "he'd"}, {"hed've", "he'd've"}, {"he'dve", "he'd've"}, {"hes", "he's"},
    {"howd", "how'd"}, {"howll", "how'll"}, {"hows", "how's"}, {"Id've", "I'd've"}, {"I'dve", "I'd've"}, {"Im", "I'm"},
    {"Ive", "I've"}, {"isnt", "isn't"}, {"itd", "it'd"}, {"itd've", "it'd've"}, {"it'dve", "it'd've"}, {"itll", "it'll"},
    {"let's", "let's"}, {"maam", "ma'am"}, {"mightnt", "mightn't"}, {"mightnt've", "mightn't've"},
    {"mightn'tve", "mightn't've"}, {"mightve", "might've"}, {"mustnt", "mustn't"}, {"mustve", "must've"},
    {"neednt", "needn't"}, {"notve", "not've"}, {"oclock", "o'clock"}, {"oughtnt", "oughtn't"}, {"ow's'at", "'ow's'at"},
    {"'ows'at", "'ow's'at"}, {"'ow'sat", "'ow's'at"}, {"shant", "shan't"}, {"shed've", "she'd've"},
    {"she'dve", "she'd've"}, {"she's", "she's"}, {"shouldve", "should've"}, {"shouldnt", "shouldn't"},
    {"shouldnt've", "shouldn't've"}, {"shouldn'tve", "shouldn't've"}, {"somebody'd", "somebodyd"},
    {"somebodyd've", "somebody'd've"}, {"somebody'dve", "somebody'd've"}, {"somebodyll", "somebody'll"},
    {"somebodys", "somebody's"}, {"someoned", "someone'd"}, {"someoned've", "someone'd've"},
    {"someone'dve", "someone'd've"}, {"someonell", "someone'll"}, {"someones", "someone's"},
    {"somethingd", "something'd"}, {"somethingd've", "something'd've"}, {"something'dve", "something'd've"},
    {"somethingll", "something'll"}, {"thats", "that's"}, {"thered", "there'd"}, {"thered've", "there'd've"},
    {"there'dve", "there'd've"}, {"therere", "there're"}, {"theres", "there's"}, {"theyd", "they'd"},
    {"theyd've", "they'd've"}, {"they'dve", "they'd've"}, {"theyll", "they'll"}, {"theyre", "they're"},
    {"theyve", "they've"}, {"twas", "'twas"}, {"wasnt", "wasn't"}, {"wed've", "we'd've"}, {"we'dve", "we'd've"},
    {"weve", "we've"}, {"werent", "weren't"}, {"whatll", "what'll"}, {"whatre", "what're"}, {"whats", "what's"},
    {"whatve", "what've"}, {"whens", "when's"}, {"whered", "where'd"}, {"wheres", "where's"}, {"whereve", "where've"},
    {"whod", "who'd"}, {"whod've", "who'd've"}, {"who'dve", "who'd've"}, {"wholl", "who'll"}, {"whos", "who's"},
    {"whove", "who've"}, {"whyll", "why'll"}, {"whyre", "why're"}, {"whys", "why's"}, {"wont", "won't"},
    {"wouldve", "would've"}, {"wouldnt", "wouldn't"}, {"wouldnt've", "wouldn't've"}, {"wouldn'tve", "wouldn't've"},
    {"yall", "y'all"}, {"yall'll", "y'all'll"}, {"y'allll", "y'all'll"}, {"yall'd've", "y'all'd've"},
    {"y'alld've", "y'all'd've"}, {"y'all'dve", "y'all'd've"}, {"youd", "you'd"}, {"youd've", "you'd've"},
    {"you'dve", "you'd've"}, {"youll", "you'll"}, {"youre", "you're"}, {"youve", "you've"},
};

/* number words of the official manualMap */
static const char *const number_words[][2] = {{"none", "0"},  {"zero", "0"}, {"one", "1"}, {"two", "2"},
                                              {"three", "3"}, {"four", "4"}, {"five", "5"}, {"six", "6"},
                                              {"seven", "7"}, {"eight", "8"}, {"nine", "9"}, {"ten", "10"}};

static int is_d(char c) { return c >= '0' && c <= '9'; }

char *vqa_process_punctuation(const char *in) {
    size_t n = strlen(in);
    int digit_comma_digit = 0;
    for (size_t i = 0; i + 2 < n && !digit_comma_digit; i++)
        if (is_d(in[i]) && in[i + 1] == ',' && is_d(in[i + 2])) digit_comma_digit = 1;
    /* For each mark: delete it everywhere, or turn it into a space everywhere. */
    int del[256] = {0};
    for (const char *p = vqa_punct; *p; p++) {
        unsigned char c = (unsigned char)*p;
        int d = digit_comma_digit;
        for (size_t i = 0; i < n && !d; i++)
            if ((unsigned char)in[i] == c && ((i + 1 < n && in[i + 1] == ' ') || (i > 0 && in[i - 1] == ' '))) d = 1;
        del[c] = d ? 1 : 2;
    }
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (del[c] == 1) continue;
        out[o++] = del[c] == 2 ? ' ' : (char)c;
    }
    out[o] = 0;
    /* periods not followed by an ASCII digit: the first 32 are removed */
    size_t w = 0;
    int removed = 0;
    for (size_t i = 0; i < o; i++) {
        if (out[i] == '.' && removed < 32 && !(i + 1 < o && is_d(out[i + 1]))) {
            removed++;
            continue;
        }
        out[w++] = out[i];
    }
    out[w] = 0;
    return out;
}

char *vqa_process_digit_article(const char *in) {
    char *low = text_lower(in, strlen(in));
    if (!low) return NULL;
    size_t n = strlen(low);
    /* every output word is a word of the input or a shorter/longer mapped form: bound the size */
    char *out = malloc(n * 2 + 16);
    if (!out) {
        free(low);
        return NULL;
    }
    size_t o = 0, i = 0;
    while (i < n) {
        /* str.split(): runs of Unicode whitespace separate words */
        size_t j = i;
        uint32_t c = text_utf8_next(low, &j);
        if (text_py_isspace(c)) {
            i = j;
            continue;
        }
        size_t s = i;
        while (i < n) {
            j = i;
            c = text_utf8_next(low, &j);
            if (text_py_isspace(c)) break;
            i = j;
        }
        size_t wl = i - s;
        const char *word = low + s;
        /* the first byte rules out almost every table entry before a strlen */
        for (size_t k = 0; k < sizeof number_words / sizeof number_words[0]; k++)
            if (number_words[k][0][0] == word[0] && strlen(number_words[k][0]) == wl && memcmp(number_words[k][0], word, wl) == 0) {
                word = number_words[k][1];
                wl = strlen(word);
                break;
            }
        if ((wl == 1 && word[0] == 'a') || (wl == 2 && memcmp(word, "an", 2) == 0) ||
            (wl == 3 && memcmp(word, "the", 3) == 0))
            continue;
        for (size_t k = 0; k < sizeof contractions / sizeof contractions[0]; k++)
            if (contractions[k][0][0] == word[0] && strlen(contractions[k][0]) == wl && memcmp(contractions[k][0], word, wl) == 0) {
                word = contractions[k][1];
                wl = strlen(word);
                break;
            }
        if (o) out[o++] = ' ';
        memcpy(out + o, word, wl);
        o += wl;
    }
    out[o] = 0;
    free(low);
    return out;
}

/* "\n" and "\t" -> " ", then str.strip(). */
static char *clean(const char *s) {
    size_t n = strlen(s), a, len;
    char *t = strdup(s);
    if (!t) return NULL;
    for (size_t i = 0; i < n; i++)
        if (t[i] == '\n' || t[i] == '\t') t[i] = ' ';
    text_py_strip(t, n, &a, &len);
    memmove(t, t + a, len);
    t[len] = 0;
    return t;
}

static int replace(char **slot, char *v) {
    if (!v) return -1;
    free(*slot);
    *slot = v;
    return 0;
}

int vqa_normalize(char **gt, int n_gt, char **res) {
    for (int k = 0; k < n_gt; k++)
        if (replace(&gt[k], clean(gt[k])) != 0) return -1;
    if (replace(res, clean(*res)) != 0) return -1;
    int all_same = 1;
    for (int k = 1; k < n_gt && all_same; k++)
        if (strcmp(gt[k], gt[0]) != 0) all_same = 0;
    if (all_same) return 0;
    for (int k = 0; k <= n_gt; k++) {
        char **slot = k < n_gt ? &gt[k] : res;
        char *p = vqa_process_punctuation(*slot);
        if (!p) return -1;
        char *d = vqa_process_digit_article(p);
        free(p);
        if (replace(slot, d) != 0) return -1;
    }
    return 1;
}

double vqa_round2(double x) {
    /* Python 2.7's round(x, 2): the exact decimal value of x (glibc prints it exactly) rounded
     * to 2 decimals with ties away from zero, then the nearest double to that decimal. */
    if (!(x == x) || x > 9e13 || x < -9e13) return x;
    char buf[160];
    snprintf(buf, sizeof buf, "%.80f", x < 0 ? -x : x);
    char *dot = strchr(buf, '.');
    long long n = 0;
    for (char *p = buf; p < dot; p++) n = n * 10 + (*p - '0');
    n = n * 100 + (dot[1] - '0') * 10 + (dot[2] - '0');
    if (dot[3] >= '5') n++; /* at or above the half-way point: up (away from zero) */
    double v = (double)n / 100.0;
    return x < 0 ? -v : v;
}

void vqa_result_free(vqa_result *r) {
    for (size_t i = 0; i < r->n_answer_types; i++) free(r->per_answer_type[i].name);
    for (size_t i = 0; i < r->n_question_types; i++) free(r->per_question_type[i].name);
    free(r->per_answer_type);
    free(r->per_question_type);
    free(r->per_question);
    free(r->per_question_rounded);
    memset(r, 0, sizeof *r);
}

/* Index of name in groups (first-seen order), adding it when new. */
static ptrdiff_t group_of(vqa_group **groups, size_t *n, const char *name) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*groups)[i].name, name) == 0) return (ptrdiff_t)i;
    vqa_group *g = realloc(*groups, (*n + 1) * sizeof **groups);
    if (!g) return -1;
    *groups = g;
    memset(&g[*n], 0, sizeof g[*n]);
    if (!(g[*n].name = strdup(name))) return -1;
    return (ptrdiff_t)(*n)++;
}

int vqa_evaluate(const vqa_set *set, vqa_result *out) {
    memset(out, 0, sizeof *out);
    if (set->n == 0) return vk_err_set("no questions to score");
    out->per_question = malloc(set->n * sizeof *out->per_question);
    out->per_question_rounded = malloc(set->n * sizeof *out->per_question_rounded);
    double *acc = malloc(set->n * sizeof *acc);
    if (!out->per_question || !out->per_question_rounded || !acc) goto oom;
    double sum = 0;
    for (size_t i = 0; i < set->n; i++) {
        const vqa_item *q = &set->items[i];
        /* work on copies: the set keeps the answers as read */
        char **gt = calloc((size_t)q->n_gt, sizeof *gt);
        char *res = strdup(q->answer);
        int ok = gt && res;
        for (int k = 0; ok && k < q->n_gt; k++) ok = (gt[k] = strdup(q->gt[k])) != NULL;
        if (ok) ok = vqa_normalize(gt, q->n_gt, &res) >= 0;
        double a = 0;
        if (ok) {
            double s = 0;
            for (int k = 0; k < q->n_gt; k++) {
                int match = 0;
                for (int j = 0; j < q->n_gt; j++)
                    if (j != k && strcmp(gt[j], res) == 0) match++;
                double v = (double)match / 3;
                s += v < 1 ? v : 1;
            }
            a = s / q->n_gt;
        }
        if (gt)
            for (int k = 0; k < q->n_gt; k++) free(gt[k]);
        free(gt);
        free(res);
        if (!ok) goto oom;
        acc[i] = a;
        sum += a;
        out->per_question[i] = 100 * a;
        out->per_question_rounded[i] = vqa_round2(100 * a);
        ptrdiff_t ga = group_of(&out->per_answer_type, &out->n_answer_types, q->answer_type);
        ptrdiff_t gq = group_of(&out->per_question_type, &out->n_question_types, q->question_type);
        if (ga < 0 || gq < 0) goto oom;
        out->per_answer_type[ga].acc += a; /* running sums, in question order, as Python's sum() */
        out->per_answer_type[ga].n++;
        out->per_question_type[gq].acc += a;
        out->per_question_type[gq].n++;
    }
    out->overall = 100 * sum / (double)set->n;
    out->overall_rounded = vqa_round2(out->overall);
    vqa_group *lists[2] = {out->per_answer_type, out->per_question_type};
    size_t counts[2] = {out->n_answer_types, out->n_question_types};
    for (int l = 0; l < 2; l++)
        for (size_t g = 0; g < counts[l]; g++) {
            lists[l][g].acc = 100 * lists[l][g].acc / (double)lists[l][g].n;
            lists[l][g].rounded = vqa_round2(lists[l][g].acc);
        }
    free(acc);
    return 0;
oom:
    free(acc);
    vqa_result_free(out);
    return vk_err_set("VQA evaluation: out of memory");
}
