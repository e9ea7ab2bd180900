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
#include "util/pair_run.h"

#include "util/ds.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the official punct list: ; / [ ] " { } ( ) = + \ _ - > < @ ` , ? ! -- each numbered from 1, so
 * punct_into keeps its per-mark decision in a 32-byte array instead of clearing 256 bytes */
#define N_MARKS 21
static const unsigned char is_mark[256] = {[';'] = 1,  ['/'] = 2,  ['['] = 3,  [']'] = 4,  ['"'] = 5,  ['{'] = 6,
                                           ['}'] = 7,  ['('] = 8,  [')'] = 9,  ['='] = 10, ['+'] = 11, ['\\'] = 12,
                                           ['_'] = 13, ['-'] = 14, ['>'] = 15, ['<'] = 16, ['@'] = 17, ['`'] = 18,
                                           [','] = 19, ['?'] = 20, ['!'] = 21};

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

#define N_CONTRACTIONS (sizeof contractions / sizeof contractions[0])

/* The contractions in a stb_ds string map (keys are the table's literals), built once; words
 * longer than the longest key are not looked up (and are copied to be NUL-terminated otherwise). */
typedef struct {
    const char *key;
    const char *value;
} contraction_entry;
static contraction_entry *contraction_map;
static size_t contraction_longest;
/* bit n of contraction_lens[b]: some key of n bytes starts with byte b. Most words (every word
 * of most answers) match no (first byte, length) pair and skip the map's look-up. */
static uint32_t contraction_lens[256];
static pthread_once_t contraction_once = PTHREAD_ONCE_INIT;

static void contraction_index(void) {
    vk_ds_create_lock();
    for (size_t k = 0; k < N_CONTRACTIONS; k++) {
        shput(contraction_map, contractions[k][0], contractions[k][1]);
        size_t len = strlen(contractions[k][0]);
        if (len > contraction_longest) contraction_longest = len;
        contraction_lens[(unsigned char)contractions[k][0][0]] |= (uint32_t)1 << len; /* keys are < 32 bytes */
    }
    vk_ds_create_unlock();
}

/* The contraction listed for word w[0..n), or NULL. Safe from several threads at once. */
static const char *contraction_of(const char *w, size_t n) {
    pthread_once(&contraction_once, contraction_index);
    char key[64];
    if (n > contraction_longest || n >= sizeof key || !n || !(contraction_lens[(unsigned char)w[0]] >> n & 1)) return NULL;
    memcpy(key, w, n);
    key[n] = 0;
    contraction_entry *m = contraction_map; /* a copy: the getter assigns to it */
    ptrdiff_t at;
    (void)vk_shgeti_ts(m, key, at);
    return at < 0 ? NULL : m[at].value;
}

static int is_d(char c) { return c >= '0' && c <= '9'; }

/* Python's str.isspace for ASCII (text_py_isspace's set below 0x80), looked up without a call:
 * answers are almost all ASCII. */
static const unsigned char ascii_space[128] = {['\t'] = 1, ['\n'] = 1, [0x0B] = 1, [0x0C] = 1, ['\r'] = 1, [0x1C] = 1,
                                               [0x1D] = 1,  [0x1E] = 1,  [0x1F] = 1, [' '] = 1};
static inline int py_space(uint32_t c) { return c < 0x80 ? ascii_space[c] : text_py_isspace(c); }

/* ASCII bytes that are not spaces: a word's bytes that need no decoding (ascii_space's zeros
 * below 0x80). */
static const unsigned char ascii_word[256] = {
#define R8(x) x, x, x, x, x, x, x, x
    1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, /* 0x09-0x0d */
    R8(1), 1, 1, 1, 1, 0, 0, 0, 0,                   /* 0x1c-0x1f */
    0, 1, 1, 1, 1, 1, 1, 1, R8(1), R8(1), R8(1),     /* ' ' */
    R8(1), R8(1), R8(1), R8(1), R8(1), R8(1), R8(1), R8(1),
#undef R8
};

/* First bytes of the number words: other words skip the table. */
static const unsigned char number_first[256] = {['n'] = 1, ['z'] = 1, ['o'] = 1, ['t'] = 1, ['f'] = 1, ['s'] = 1, ['e'] = 1};

/* processPunctuation of in[0..n) into out (n + 1 bytes); returns the output length. */
static size_t punct_into(const char *in, size_t n, char *out) {
    int digit_comma_digit = 0;
    for (size_t i = 0; i + 2 < n && !digit_comma_digit; i++)
        if (is_d(in[i]) && in[i + 1] == ',' && is_d(in[i + 2])) digit_comma_digit = 1;
    /* For each mark: delete it everywhere (1) when some occurrence touches a space or the text
     * has digit,digit, else turn it into a space everywhere (2). One pass finds the marks that
     * touch a space. */
    unsigned char del[N_MARKS + 1] = {0}; /* by mark number; del[0] (not a mark) stays 0 */
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned m = is_mark[(unsigned char)in[i]];
        if (!m) continue;
        any = 1;
        if (!del[m]) del[m] = 2;
        if (digit_comma_digit || (i + 1 < n && in[i + 1] == ' ') || (i > 0 && in[i - 1] == ' ')) del[m] = 1;
    }
    size_t o = 0;
    if (!any) {
        memcpy(out, in, n);
        o = n;
    } else {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)in[i];
            unsigned d = del[is_mark[c]];
            if (d == 1) continue;
            out[o++] = d == 2 ? ' ' : (char)c;
        }
    }
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
    return w;
}

char *vqa_process_punctuation(const char *in) {
    size_t n = strlen(in);
    char *out = malloc(n + 1);
    if (out) punct_into(in, n, out);
    return out;
}

/* Room processDigitArticle may need for an n-byte input: lower-casing at most doubles it, and
 * every output word is an input word or a mapped form of at most twice its length + 16. */
static size_t digit_article_room(size_t n) { return (2 * n) * 2 + 16 + 1; }

/* processDigitArticle of in[0..n) into out (digit_article_room(n) bytes); returns the length,
 * or (size_t)-1 when out of memory (only non-ASCII text is lower-cased through the heap). */
static size_t digit_article_into(const char *in, size_t n, char *out) {
    /* ASCII text is lower-cased into the tail of out (checked on the way: one pass): words are
     * copied forward from there, and the output (at most 2n + 16 bytes) never reaches the
     * unread part of the input */
    char *t = out + digit_article_room(n) - n - 1;
    unsigned high = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)in[k];
        high |= c;
        t[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    char *heap = NULL;
    const char *low = t;
    if (high >= 0x80) {
        if (!(heap = text_lower(in, n))) return (size_t)-1;
        low = heap;
        n = strlen(heap);
    }
    size_t o = 0, i = 0;
    while (i < n) {
        /* str.split(): runs of Unicode whitespace separate words */
        size_t j = i;
        uint32_t c = (unsigned char)low[i] < 0x80 ? (unsigned char)low[j++] : text_utf8_next(low, &j);
        if (py_space(c)) {
            i = j;
            continue;
        }
        size_t s = i;
        while (i < n && ascii_word[(unsigned char)low[i]]) i++; /* the usual word: no decoding */
        while (i < n) {
            j = i;
            c = (unsigned char)low[i] < 0x80 ? (unsigned char)low[j++] : text_utf8_next(low, &j);
            if (py_space(c)) break;
            i = j;
        }
        size_t wl = i - s;
        const char *word = low + s;
        /* the first byte rules out almost every table entry before a strlen */
        for (size_t k = 0; number_first[(unsigned char)word[0]] && k < sizeof number_words / sizeof number_words[0]; k++)
            if (number_words[k][0][0] == word[0] && strlen(number_words[k][0]) == wl && memcmp(number_words[k][0], word, wl) == 0) {
                word = number_words[k][1];
                wl = strlen(word);
                break;
            }
        if ((wl == 1 && word[0] == 'a') || (wl == 2 && memcmp(word, "an", 2) == 0) ||
            (wl == 3 && memcmp(word, "the", 3) == 0))
            continue;
        const char *full = contraction_of(word, wl);
        if (full) {
            word = full;
            wl = strlen(word);
        }
        if (o) out[o++] = ' ';
        memmove(out + o, word, wl);
        o += wl;
    }
    out[o] = 0;
    free(heap);
    return o;
}

char *vqa_process_digit_article(const char *in) {
    size_t n = strlen(in);
    char *out = malloc(digit_article_room(n));
    if (out && digit_article_into(in, n, out) == (size_t)-1) {
        free(out);
        out = NULL;
    }
    return out;
}

/* "\n" and "\t" -> " ", then str.strip(), of in[0..n) into out (n + 1 bytes); returns the length. */
static size_t clean_into(const char *in, size_t n, char *out) {
    size_t a, len;
    for (size_t i = 0; i < n; i++) out[i] = in[i] == '\n' || in[i] == '\t' ? ' ' : in[i];
    /* ends that are ASCII and not spaces have nothing to strip (an ASCII byte is a whole
     * code point) */
    unsigned char first = n ? (unsigned char)out[0] : 0, last = n ? (unsigned char)out[n - 1] : 0;
    if (n && first < 0x80 && !ascii_space[first] && last < 0x80 && !ascii_space[last]) {
        a = 0;
        len = n;
    } else {
        text_py_strip(out, n, &a, &len);
    }
    if (a) memmove(out, out + a, len);
    out[len] = 0;
    return len;
}

/* One answer during normalisation: its text in a caller's buffer. */
typedef struct {
    char *s;
    size_t len;
} span;

/* Bytes of scratch normalise() needs for an answer of n bytes (clean, punctuation, digits). */
static size_t answer_room(size_t n) { return (n + 1) + (n + 1) + digit_article_room(n); }

/* vqaEval.py's normalisation of n_gt + 1 answers (the human ones, then the result) in place:
 * a[k] starts as an answer's text and ends as its normalised form, all inside buf, which has
 * answer_room(len) bytes per answer. Returns 1 / 0 as vqa_normalize, -1 when out of memory. */
static int normalise(span *a, int n_ans, char *buf) {
    int n_gt = n_ans - 1;
    char *p = buf;
    for (int k = 0; k < n_ans; k++) {
        size_t room = answer_room(a[k].len);
        a[k].len = clean_into(a[k].s, a[k].len, p);
        a[k].s = p;
        p += room;
    }
    int all_same = 1;
    for (int k = 1; k < n_gt && all_same; k++)
        if (a[k].len != a[0].len || memcmp(a[k].s, a[0].s, a[0].len) != 0) all_same = 0;
    if (all_same) return 0;
    for (int k = 0; k < n_ans; k++) {
        char *punct = a[k].s + a[k].len + 1;
        size_t pl = punct_into(a[k].s, a[k].len, punct);
        char *digits = punct + pl + 1;
        size_t dl = digit_article_into(punct, pl, digits);
        if (dl == (size_t)-1) return -1;
        a[k].s = digits;
        a[k].len = dl;
    }
    return 1;
}

int vqa_normalize(char **gt, int n_gt, char **res) {
    span *a = malloc((size_t)(n_gt + 1) * sizeof *a);
    size_t room = 0;
    for (int k = 0; a && k <= n_gt; k++) {
        a[k].s = k < n_gt ? gt[k] : *res;
        a[k].len = strlen(a[k].s);
        room += answer_room(a[k].len);
    }
    char *buf = a ? malloc(room) : NULL;
    char **out = buf ? calloc((size_t)(n_gt + 1), sizeof *out) : NULL;
    int rc = out ? normalise(a, n_gt + 1, buf) : -1;
    for (int k = 0; rc >= 0 && k <= n_gt; k++)
        if (!(out[k] = strndup(a[k].s, a[k].len))) rc = -1;
    for (int k = 0; rc >= 0 && k <= n_gt; k++) {
        char **slot = k < n_gt ? &gt[k] : res;
        free(*slot);
        *slot = out[k];
    }
    if (rc < 0 && out)
        for (int k = 0; k <= n_gt; k++) free(out[k]);
    free(out);
    free(buf);
    free(a);
    return rc;
}

/* Python 2.7's round(x, 2) by printing: the exact decimal value of x (glibc prints it exactly)
 * rounded to 2 decimals with ties away from zero, then the nearest double to that decimal. */
static double round2_printed(double x) {
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

double vqa_round2(double x) {
    if (!(x == x) || x > 9e13 || x < -9e13) return x;
    /* The same decision without printing (a snprintf per question was most of the scoring):
     * |x| * 100 = p + e exactly (fma gives the product's rounding error), f = floor(p) and
     * r = p - f are exact, so r - 0.5 + e has the sign of the exact fraction minus one half.
     * Only when that is within a hair of zero does the printed form decide. */
    double ax = x < 0 ? -x : x;
    double p = ax * 100.0, e = fma(ax, 100.0, -p), f = floor(p);
    double d = (p - f) - 0.5 + e;
    if (d > -1e-9 && d < 1e-9) return round2_printed(x);
    double n = f;
    if (p - f + e < 0) n = f - 1;      /* p was rounded up to an integer: the exact value is just below */
    if (d > 0 || p - f + e < 0) n += 1; /* fraction at or above one half (or just below 1) */
    double v = n / 100.0;
    return x < 0 ? -v : v;
}

void vqa_result_free(vqa_result *r) {
    for (size_t i = 0; i < r->n_answer_types; i++) free(r->per_answer_type[i].name);
    for (size_t i = 0; i < r->n_question_types; i++) free(r->per_question_type[i].name);
    arrfree(r->per_answer_type);
    arrfree(r->per_question_type);
    free(r->per_question);
    free(r->per_question_rounded);
    memset(r, 0, sizeof *r);
}

typedef struct {
    char *key;
    size_t value;
} group_entry;

/* Index of name in groups (first-seen order), adding it when new; *index maps names to it. */
static ptrdiff_t group_of(vqa_group **groups, size_t *n, group_entry **index, const char *name) {
    ptrdiff_t at = shgeti(*index, name);
    if (at >= 0) return (ptrdiff_t)(*index)[at].value;
    vqa_group g;
    memset(&g, 0, sizeof g);
    if (!(g.name = strdup(name))) return -1;
    arrput(*groups, g); /* a stb_ds array (vqa_result_free) */
    shput(*index, (*groups)[*n].name, *n); /* the key is the group's own copy of the name */
    return (ptrdiff_t)(*n)++;
}

/* Accuracy of question q (0..1): normalise copies of its answers in *buf (grown as needed),
 * then the leave-one-out match count. -1 when out of memory. */
static double question_accuracy(const vqa_item *q, char **buf, size_t *cap, span **ans, size_t *ans_cap) {
    size_t n_ans = (size_t)q->n_gt + 1, room = 0;
    if (n_ans > *ans_cap) {
        span *a = realloc(*ans, n_ans * sizeof *a);
        if (!a) return -1;
        *ans = a;
        *ans_cap = n_ans;
    }
    span *a = *ans;
    for (size_t k = 0; k < n_ans; k++) {
        a[k].s = k < (size_t)q->n_gt ? q->gt[k] : q->answer;
        a[k].len = strlen(a[k].s);
        room += answer_room(a[k].len);
    }
    if (room > *cap) {
        char *b = realloc(*buf, room);
        if (!b) return -1;
        *buf = b;
        *cap = room;
    }
    if (normalise(a, (int)n_ans, *buf) < 0) return -1;
    const span *res = &a[q->n_gt];
    int same[64], *is_res = q->n_gt <= 64 ? same : malloc((size_t)q->n_gt * sizeof *is_res);
    if (!is_res) return -1;
    int total = 0; /* human answers equal to the result */
    for (int k = 0; k < q->n_gt; k++) {
        is_res[k] = a[k].len == res->len && memcmp(a[k].s, res->s, res->len) == 0;
        total += is_res[k];
    }
    double s = 0;
    for (int k = 0; k < q->n_gt; k++) {
        double v = (double)(total - is_res[k]) / 3; /* matches among the other answers */
        s += v < 1 ? v : 1;
    }
    if (is_res != same) free(is_res);
    return s / q->n_gt;
}

/* Accuracies of questions [first, end) into acc[] (0..1), with this part's own scratch. */
typedef struct {
    const vqa_set *set;
    double *acc;
    size_t first, end;
} accuracy_part;

static int accuracy_job(void *p) {
    accuracy_part *part = p;
    char *buf = NULL;
    size_t cap = 0, ans_cap = 0;
    span *ans = NULL;
    int rc = 0;
    for (size_t i = part->first; i < part->end && rc == 0; i++)
        if ((part->acc[i] = question_accuracy(&part->set->items[i], &buf, &cap, &ans, &ans_cap)) < 0)
            rc = vk_err_set("VQA evaluation: out of memory");
    free(buf);
    free(ans);
    return rc;
}

int vqa_evaluate(const vqa_set *set, vqa_result *out) {
    memset(out, 0, sizeof *out);
    if (set->n == 0) return vk_err_set("no questions to score");
    out->per_question = malloc(set->n * sizeof *out->per_question);
    out->per_question_rounded = malloc(set->n * sizeof *out->per_question_rounded);
    group_entry *answer_index = NULL, *question_index = NULL;
    if (!out->per_question || !out->per_question_rounded) goto oom;
    /* the questions' accuracies in two halves at once (per_question holds them for now), then
     * the sums in question order, as one thread would make them */
    accuracy_part a = {set, out->per_question, 0, set->n / 2}, b = {set, out->per_question, set->n / 2, set->n};
    if (pair_run(accuracy_job, &a, accuracy_job, &b) != 0) goto oom;
    double sum = 0;
    for (size_t i = 0; i < set->n; i++) {
        const vqa_item *q = &set->items[i];
        double acc = out->per_question[i];
        sum += acc;
        out->per_question[i] = 100 * acc;
        out->per_question_rounded[i] = vqa_round2(100 * acc);
        ptrdiff_t ga = group_of(&out->per_answer_type, &out->n_answer_types, &answer_index, q->answer_type);
        ptrdiff_t gq = group_of(&out->per_question_type, &out->n_question_types, &question_index, q->question_type);
        if (ga < 0 || gq < 0) goto oom;
        out->per_answer_type[ga].acc += acc; /* running sums, in question order, as Python's sum() */
        out->per_answer_type[ga].n++;
        out->per_question_type[gq].acc += acc;
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
    shfree(answer_index);
    shfree(question_index);
    return 0;
oom:
    shfree(answer_index);
    shfree(question_index);
    vqa_result_free(out);
    return vk_err_set("VQA evaluation: out of memory");
}
