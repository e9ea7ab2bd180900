/* ptb_tokenizer.c — pycocoevalcap's tokenisation without Java: the token classes of the
 * Stanford PTB lexer as shipped in CoreNLP 3.4.1 (run with -preserveLines -lowerCase), then the
 * wrapper's punctuation filter.
 *
 * The lexer is a JFlex scanner: at each position every rule is tried, the longest match wins
 * (a rule's trailing context counts towards its length), and among equally long matches the
 * earlier rule wins. Here each rule is a small hand-written matcher that reports the length it
 * would match (with context), the length of its token, how far the scanner then advances
 * (rules that push characters back advance less), and how the token text is rewritten; the
 * candidates are compared in the lexer's rule order. Behaviour is pinned by
 * ../shared/fixtures/eval/tokenizer/ptb_cases.json (355 strings).
 *
 * Speed: most tokens are plain ASCII words followed by a space; for those no other rule can
 * match longer or earlier with a different token (argued at fast_word()), so they skip the
 * rule search. */
#include "eval/eval.h"
#include "eval/ptb_chars.h"
#include "eval/ptb_pool.h"
#include "eval/text.h"
#include "util/error.h"
#include "util/pair_run.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ input */

typedef struct {
    const uint32_t *t; /* code points of the whole input (captions joined by '\n') */
    size_t n;
} lx;

static inline uint32_t at(const lx *L, size_t i) { return i < L->n ? L->t[i] : PTB_EOF; }
static inline uint32_t lc(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Literal text matched the way JFlex %caseless matches it: ASCII letters in either case, except a
 * letter written after '=' which must match exactly (the grammar's one-letter character classes).
 * Returns the matched length or 0. */
static inline size_t lit(const lx *L, size_t i, const char *pat) {
    size_t k = 0;
    for (const char *p = pat; *p; p++) {
        int exact = 0;
        if (*p == '=' && p[1]) {
            exact = 1;
            p++;
        }
        uint32_t c = at(L, i + k), w = (unsigned char)*p;
        if (exact ? c != w : lc(c) != lc(w)) return 0;
        k++;
    }
    return k;
}

/* Longest of a list of literals (0 = none). */
static size_t lit_any(const lx *L, size_t i, const char *const *list) {
    size_t best = 0;
    for (const char *const *p = list; *p; p++) {
        size_t m = lit(L, i, *p);
        if (m > best) best = m;
    }
    return best;
}

/* ------------------------------------------------------------------ word lists (abbreviations) */

/* Abbreviations normally followed by a lower-case word. */
static const char *const abbrev1_words[] = {
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",             /* months */
    "mon", "tue", "tues", "wed", "thu", "thurs", "fri",                                              /* days */
    "ala", "ariz", "=Az", "=Ark", "calif", "colo", "conn", "ct", "dak", "=Del", "fla", "ga", "=Ill", /* states */
    "ind", "kan", "kans", "ky", "=La", "=Mass", "md", "mich", "minn", "=Miss", "mo", "mont", "neb", "nev", "okla",
    "=Ore", "=Pa", "penn", "tenn", "=Tex", "va", "vt", "=Wash", "wis", "wisc", "wyo",
    "inc", "co", "cos", "corp", "pt=y", "pt=e", "pt=ys", "pt=es", "ppt=y", "ppt=e", "ppt=ys", "ppt=es", /* companies */
    "ltd", "plc", "rt", "bancorp", "bhd", "assn", "univ", "intl", "sys",
    "tel", "est", "ext", "sq",                                     /* before numbers */
    "jr", "sr", "bros", "ed.d", "ph.d", "blvd", "rd", "esq",       /* after names */
    "etc", "al", "seq", "bldg", NULL};

/* Titles and other abbreviations normally followed by a capitalised word (without the "."). */
static const char *const abbrev4_words[] = {
    "mr", "mrs", "ms", "=Miss", "dr", "drs", "prof", "profs", "sen", "sens", "rep", "reps", "atty", "attys", "lt", "col",
    "gen", "messrs", "gov", "govs", "adm", "rev", "maj", "sgt", "cpl", "pvt", "capt", "st", "ste", "ave", "pres",
    "lieut", "hon", "brig", "cmdr", "comdr", "pfc", "spc", "supt", "supts", "det", "mt", "ft", "adj", "adv", "asst",
    "assoc", "ens", "insp", "mlle", "mme", "msgr", "sfc",
    "vs", "alex", "wm", "jos", "cie", "a.k.a", "cf", "treas", "ph", "invt", "elec", "natl", "mfg", "mtg", "dept", NULL};

/* Abbreviations recognised only before a number ("no. 5", "fig. 3"). */
static const char *const abbrev3_words[] = {"ca", "fig", "figs", "prop", "no", "nos", "art", "bldg", "pp", "op", NULL};

/* Acronyms with a hyphen that the lexer knows as wholes. */
static const char *const acro_special[] = {"canada-u.s", "sino-u.s", "korean-u.s", "eu-u.s", "japan-u.s", "non-u.s",
                                           "u.s.-u.k", "u.s.-u.s.s.r", NULL};

/* Capitalised words after which an acronym's period also ends the sentence. */
static const char *const sentence_starters[] = {
    "=About", "=According", "=Additionally", "=After", "=An", "=A", "=As", "=At", "=But", "=Earlier", "=He", "=Her",
    "=Here", "=However", "=If", "=In", "=It", "=Last", "=Many", "=More", "=Mr.", "=Ms.", "=Now", "=Once", "=One",
    "=Other", "=Our", "=She", "=Since", "=So", "=Some", "=Such", "=That", "=The", "=Their", "=Then", "=There",
    "=These", "=They", "=This", "=We", "=When", "=While", "=What", "=Yet", "=You", NULL};

static const char *const assimilations2[] = {"gonna", "gotta", "lemme", "gimme", "wanna", NULL};

/* ------------------------------------------------------------------ small matchers
 * Each returns the end position of its longest match starting at i, or i when none. */

/* An apostrophe (' U+0092 U+2019 or the entity &apos;): length or 0. */
static size_t m_apos(const lx *L, size_t i) {
    if (ptb_is_apos1(at(L, i))) return 1;
    return lit(L, i, "&apos;");
}
static size_t m_aposetc(const lx *L, size_t i) {
    if (ptb_is_aposetc1(at(L, i))) return 1;
    return lit(L, i, "&apos;");
}

/* Letters (with the lexer's extras), then runs of [.!?] + letter-initial runs. */
static size_t m_word(const lx *L, size_t i) {
    if (!ptb_is_letter_ext(at(L, i))) return i;
    size_t j = i + 1;
    for (;;) {
        while (ptb_is_letter_ext(at(L, j)) || ptb_is_digit(at(L, j))) j++;
        uint32_t c = at(L, j);
        if ((c == '.' || c == '!' || c == '?') && ptb_is_letter_ext(at(L, j + 1)))
            j += 2;
        else
            return j;
    }
}

/* 's 'm 'd 're 've 'll after a word (apostrophe forms as m_apos). Returns length or 0. */
static size_t m_redaux(const lx *L, size_t i) {
    size_t a = m_apos(L, i);
    if (!a) return 0;
    uint32_t c = at(L, i + a);
    if (c == 'm' || c == 's' || c == 'd' || c == 'M' || c == 'S' || c == 'D') return a + 1;
    if (lit(L, i + a, "re") || lit(L, i + a, "ve") || lit(L, i + a, "ll")) return a + 2;
    return 0;
}

/* n't (n, an apostrophe-like character, t). Returns length or 0. */
static size_t m_sredaux(const lx *L, size_t i) {
    if (lc(at(L, i)) != 'n') return 0;
    size_t a = m_aposetc(L, i + 1);
    if (!a || lc(at(L, i + 1 + a)) != 't') return 0;
    return 2 + a;
}

/* ASCII word before n't: [A-Za-z SHY]* ending in a letter other than n (then soft hyphens),
 * directly followed by n't. The n of n't is the last character of the ASCII run (an apostrophe
 * follows it). Returns the end of the word (where n't starts) or i; *nt_len = length of n't. */
static size_t m_sword_before_nt(const lx *L, size_t i, size_t *nt_len) {
    size_t j = i;
    while (ptb_is_ascii_alpha(at(L, j)) || at(L, j) == 0xAD) j++;
    if (j - i < 2) return i;
    size_t p = j - 1;
    size_t s = m_sredaux(L, p);
    if (!s) return i;
    size_t q = p;
    while (q > i && at(L, q - 1) == 0xAD) q--;
    if (q == i) return i;
    uint32_t last = at(L, q - 1);
    if (!ptb_is_ascii_alpha(last) || lc(last) == 'n') return i;
    *nt_len = s;
    return p;
}

/* Numbers: [-+]? digits, or digits? ([.:,] + soft hyphen / Arabic separators, digits)+ */
static size_t m_number(const lx *L, size_t i) {
    size_t j = i;
    if (at(L, j) == '-' || at(L, j) == '+') j++;
    size_t d = j;
    while (ptb_is_digit(at(L, j))) j++;
    size_t best = j > d ? j : i;
    for (;;) {
        uint32_t c = at(L, j);
        if ((c == '.' || c == ':' || c == ',' || c == 0xAD || c == 0x66B || c == 0x66C) && ptb_is_digit(at(L, j + 1))) {
            j += 2;
            while (ptb_is_digit(at(L, j))) j++;
            best = j;
        } else {
            break;
        }
    }
    return best;
}

static size_t digit_run(const lx *L, size_t i) {
    size_t j = i;
    while (ptb_is_digit(at(L, j))) j++;
    return j - i;
}

/* d{1,2}[-/]d{1,2}[-/]d{2,4} */
static size_t m_date(const lx *L, size_t i) {
    size_t a = digit_run(L, i);
    if (a < 1 || a > 2) return i;
    size_t j = i + a;
    if (at(L, j) != '-' && at(L, j) != '/') return i;
    size_t b = digit_run(L, ++j);
    if (b < 1 || b > 2) return i;
    j += b;
    if (at(L, j) != '-' && at(L, j) != '/') return i;
    size_t c = digit_run(L, ++j);
    if (c < 2) return i;
    return j + (c > 4 ? 4 : c);
}

/* Fractions: (d{1,4}[- NBSP])? d{1,4} (\\?/ | U+2044) d{1,4} */
static size_t frac_core(const lx *L, size_t i) {
    size_t a = digit_run(L, i);
    if (a < 1 || a > 4) return i;
    size_t j = i + a;
    if (at(L, j) == '\\') j++;
    if (at(L, j) != '/' && !(at(L, j) == 0x2044 && at(L, j - 1) != '\\')) return i;
    size_t b = digit_run(L, ++j);
    if (b < 1) return i;
    return j + (b > 4 ? 4 : b);
}
static size_t m_frac(const lx *L, size_t i) {
    size_t best = frac_core(L, i);
    size_t a = digit_run(L, i);
    if (a >= 1 && a <= 4) {
        uint32_t s = at(L, i + a);
        if (s == '-' || s == ' ' || s == 0xA0) {
            size_t e = frac_core(L, i + a + 1);
            if (e > i + a + 1 && e > best) best = e;
        }
    }
    return best;
}

/* Superscript / subscript numbers. */
static int is_sup(uint32_t c) { return c == 0x2070 || c == 0xB9 || c == 0xB2 || c == 0xB3 || (c >= 0x2074 && c <= 0x2079); }
static int is_sub(uint32_t c) { return c >= 0x2080 && c <= 0x2089; }
static size_t m_subsupnum(const lx *L, size_t i) {
    size_t j = i;
    uint32_t c = at(L, j);
    if (c == 0x207A || c == 0x207B || c == 0x208A || c == 0x208B) j++;
    size_t s = j;
    if (is_sup(at(L, j)))
        while (is_sup(at(L, j))) j++;
    else
        while (is_sub(at(L, j))) j++;
    return j > s ? j : i;
}

/* ACRO: a letter, then (. letter)*; or one of the hyphenated specials. Every possible end is
 * reported through ends[] (ascending), the count is returned. */
static int m_acro_ends(const lx *L, size_t i, size_t *ends, int cap, int min_dots) {
    int n = 0;
    if (ptb_is_ascii_alpha(at(L, i))) {
        size_t j = i + 1;
        int dots = 0;
        if (min_dots == 0 && n < cap) ends[n++] = j;
        while (at(L, j) == '.' && ptb_is_ascii_alpha(at(L, j + 1))) {
            j += 2;
            dots++;
            if (dots >= min_dots && n < cap) ends[n++] = j;
        }
    }
    for (const char *const *p = acro_special; *p; p++) {
        size_t m = lit(L, i, *p);
        if (m && n < cap) {
            /* keep ascending order */
            int k = n++;
            while (k > 0 && ends[k - 1] > i + m) {
                ends[k] = ends[k - 1];
                k--;
            }
            ends[k] = i + m;
        }
    }
    return n;
}

/* SGML-like tags: <!...>, <?...>, <name attr="v" ...>, </name>. */
static int sgml_name_start(uint32_t c) { return ptb_is_ascii_alpha(c); }
static int sgml_name_char(uint32_t c) { return ptb_is_ascii_alnum(c) || c == '_' || c == ':' || c == '.' || c == '-'; }
static size_t m_sgml(const lx *L, size_t i) {
    if (at(L, i) != '<') return i;
    size_t j = i + 1;
    uint32_t c = at(L, j);
    if (c == '!' || c == '?') {
        uint32_t d = at(L, j + 1);
        if (!(ptb_is_ascii_alpha(d) || d == '-')) return i;
        j += 2;
        /* [^>\r\n]* then '>': the longest is up to the first '>' (a '>' cannot be skipped) */
        while (at(L, j) != PTB_EOF && at(L, j) != '>' && at(L, j) != '\r' && at(L, j) != '\n') j++;
        return at(L, j) == '>' ? j + 1 : i;
    }
    if (c == '/') {
        j++;
        if (!sgml_name_start(at(L, j))) return i;
        while (sgml_name_char(at(L, ++j))) {}
        while (at(L, j) == ' ') j++;
        return at(L, j) == '>' ? j + 1 : i;
    }
    if (!sgml_name_start(c)) return i;
    while (sgml_name_char(at(L, ++j))) {}
    for (;;) { /* attributes: spaces, name, optionally = "value" or 'value' */
        size_t k = j;
        while (at(L, k) == ' ') k++;
        if (k == j || !sgml_name_start(at(L, k))) break;
        while (sgml_name_char(at(L, ++k))) {}
        j = k;
        while (at(L, k) == ' ') k++;
        if (at(L, k) == '=') {
            k++;
            while (at(L, k) == ' ') k++;
            uint32_t q = at(L, k);
            if (q == '\'' || q == '"') {
                size_t e = k + 1;
                while (at(L, e) != PTB_EOF && at(L, e) != q) e++;
                if (at(L, e) == q) j = e + 1;
            }
        }
    }
    while (at(L, j) == ' ') j++;
    if (at(L, j) == '/') j++;
    while (at(L, j) == ' ') j++;
    return at(L, j) == '>' ? j + 1 : i;
}

/* URL characters. */
static int url_body(uint32_t c) {
    return c != PTB_EOF && c != ' ' && c != '\t' && c != '\n' && c != '\f' && c != '\r' && c != '"' && c != '<' &&
           c != '>' && c != '|' && c != '(' && c != ')' && c != '{' && c != '}';
}
static int url_last(uint32_t c) {
    return url_body(c) && c != '.' && c != '!' && c != '?' && c != ',' && c != '-';
}
/* A run of url_body from s, ending at the last url_last character (at least min_len long). */
static size_t url_tail(const lx *L, size_t s, size_t min_len, int allow_braces) {
    size_t e = s;
    while (url_body(at(L, e)) || (allow_braces && (at(L, e) == '{' || at(L, e) == '}'))) e++;
    while (e >= s + min_len && e > s) {
        if (url_last(at(L, e - 1))) return e;
        e--;
    }
    return s;
}
static size_t m_fullurl(const lx *L, size_t i) {
    size_t p = lit(L, i, "https://");
    if (!p) p = lit(L, i, "http://");
    if (!p) return i;
    size_t e = url_tail(L, i + p, 2, 0);
    return e > i + p ? e : i;
}

/* Domain-ish segments of likely URLs (www.x.y, x.com). */
static int dom1(uint32_t c) { return url_body(c) && c != '.' && c != '!' && c != '?' && c != ','; }
static int dom2(uint32_t c) {
    return dom1(c) && c != '`' && c != '\'' && c != '$' && !(c >= ',' && c <= '_');
}
static size_t url_path(const lx *L, size_t d) {
    if (at(L, d) != '/') return d;
    size_t e = url_tail(L, d + 1, 2, 1);
    return e > d + 1 ? e : d;
}
static size_t m_likelyurl(const lx *L, size_t i) {
    size_t best = i;
    size_t w = lit(L, i, "www.");
    if (w) { /* www. (segment .)+ [a-zA-Z]{2,4} */
        size_t p = i + w;
        for (;;) {
            size_t q = p;
            while (dom1(at(L, q))) q++;
            if (q == p || at(L, q) != '.') break;
            size_t k = q + 1, letters = 0;
            while (letters < 4 && ptb_is_ascii_alpha(at(L, k + letters))) letters++;
            for (size_t t = 2; t <= letters; t++) {
                size_t e = url_path(L, k + t);
                if (e > best) best = e;
            }
            p = q + 1;
        }
    }
    { /* (segment .)+ (com|net|org|edu) */
        size_t p = i;
        for (;;) {
            size_t q = p;
            while (dom2(at(L, q))) q++;
            if (q == p || at(L, q) != '.') break;
            size_t k = q + 1;
            if (lit(L, k, "com") || lit(L, k, "net") || lit(L, k, "org") || lit(L, k, "edu")) {
                size_t e = url_path(L, k + 3);
                if (e > best) best = e;
            }
            p = q + 1;
        }
    }
    return best;
}

static int email_local(uint32_t c) { return url_body(c) && c != 0xA0; }
static int email_dom(uint32_t c) { return email_local(c) && c != '.'; }
static size_t m_email(const lx *L, size_t i) {
    size_t s = i;
    if (at(L, s) == '<') s++;
    else if (lit(L, s, "&lt;")) s += 4;
    if (!ptb_is_ascii_alnum(at(L, s))) return i;
    size_t best = i;
    for (size_t a = s + 1; email_local(at(L, a)); a++) {
        if (at(L, a) != '@') continue;
        /* domain: D+ (. D+)* */
        size_t j = a + 1;
        if (!email_dom(at(L, j))) continue;
        while (email_dom(at(L, j))) j++;
        while (at(L, j) == '.' && email_dom(at(L, j + 1))) {
            j++;
            while (email_dom(at(L, j))) j++;
        }
        if (at(L, j) == '>') j++;
        else if (lit(L, j, "&gt;")) j += 4;
        if (j > best) best = j;
    }
    /* a leading '<' / &lt; is optional: also try without it */
    if (s != i) {
        size_t e = m_email(L, s);
        if (e > best) best = e;
    }
    return best;
}

static size_t m_twitter(const lx *L, size_t i) {
    uint32_t c = at(L, i);
    if (c == '@') {
        uint32_t d = at(L, i + 1);
        if (!(ptb_is_ascii_alpha(d) || d == '_')) return i;
        size_t j = i + 2;
        while (ptb_is_ascii_alnum(at(L, j)) || at(L, j) == '_') j++;
        return j;
    }
    if (c == '#') {
        size_t j = i + 1;
        while (ptb_is_letter_ext(at(L, j))) j++;
        return j > i + 1 ? j : i;
    }
    return i;
}

/* [A-Za-z0-9]+ (-[A-Za-z]+){0,2} */
static size_t thing3_part(const lx *L, size_t i) {
    size_t j = i;
    while (ptb_is_ascii_alnum(at(L, j))) j++;
    if (j == i) return i;
    for (int g = 0; g < 2; g++) {
        if (at(L, j) != '-' || !ptb_is_ascii_alpha(at(L, j + 1))) break;
        j += 2;
        while (ptb_is_ascii_alpha(at(L, j))) j++;
    }
    return j;
}
/* part (\\?/ part){1,2}: "a/b", "dog/cat", "and/or" */
static size_t m_thing3(const lx *L, size_t i) {
    size_t j = thing3_part(L, i);
    if (j == i) return i;
    size_t best = i;
    for (int g = 0; g < 2; g++) {
        size_t k = j;
        if (at(L, k) == '\\') k++;
        if (at(L, k) != '/') break;
        size_t e = thing3_part(L, k + 1);
        if (e == k + 1) break;
        j = best = e;
    }
    return best;
}

/* Letters-or-digits words with hyphens and o'/d'/l' prefixes ("o'clock", "hot-dog", "4x4"). */
static int thing_char(uint32_t c) { return ptb_is_letter(c) || ptb_is_digit(c); }
static int is_hyphen(uint32_t c) { return c == '-' || c == '_' || c == 0x58A || c == 0x2010 || c == 0x2011; }
/* One unit: optional [dDoOlL] apostrophe X, then X+. Returns the longest end or i. */
static size_t thing_unit(const lx *L, size_t i) {
    size_t best = i, j = i;
    while (thing_char(at(L, j))) j++;
    if (j > i) best = j;
    uint32_t c = at(L, i);
    if (c == 'd' || c == 'D' || c == 'o' || c == 'O' || c == 'l' || c == 'L') {
        size_t a = m_aposetc(L, i + 1);
        if (a && thing_char(at(L, i + 1 + a))) {
            size_t k = i + 2 + a, s = k;
            while (thing_char(at(L, k))) k++;
            if (k > s && k > best) best = k;
        }
    }
    return best;
}
static size_t m_thing(const lx *L, size_t i) {
    size_t j = thing_unit(L, i);
    if (j == i) return i;
    while (is_hyphen(at(L, j))) {
        size_t e = thing_unit(L, j + 1);
        if (e == j + 1) break;
        j = e;
    }
    return j;
}

/* Hyphenated things: [A-Za-z0-9][A-Za-z0-9.,SHY]* (- ([A-Za-z0-9SHY]+ | ACRO2 .))+ */
static size_t hthing_groups(const lx *L, size_t j) {
    if (at(L, j) != '-') return j;
    size_t best = j;
    size_t k = j + 1;
    while (ptb_is_ascii_alnum(at(L, k)) || at(L, k) == 0xAD) k++;
    if (k > j + 1) {
        size_t e = hthing_groups(L, k);
        if (e > best) best = e;
    }
    size_t ends[16];
    int ne = m_acro_ends(L, j + 1, ends, 16, 1);
    for (int t = 0; t < ne; t++) {
        if (at(L, ends[t]) != '.') continue;
        size_t e = hthing_groups(L, ends[t] + 1);
        if (e > best) best = e;
    }
    return best;
}
static size_t m_hthing(const lx *L, size_t i) {
    if (!ptb_is_ascii_alnum(at(L, i))) return i;
    size_t j = i + 1;
    while (ptb_is_ascii_alnum(at(L, j)) || at(L, j) == '.' || at(L, j) == ',' || at(L, j) == 0xAD) j++;
    size_t e = hthing_groups(L, j);
    return e > j ? e : i;
}

/* [A-Z]+ (([+&] | &amp;) [A-Z]+)+ : "AT&T", "R&D" (upper case only) */
static size_t m_thinga(const lx *L, size_t i) {
    size_t j = i;
    while (at(L, j) >= 'A' && at(L, j) <= 'Z') j++;
    if (j == i) return i;
    size_t best = i;
    for (;;) {
        size_t k = j;
        if (at(L, k) == '+' || at(L, k) == '&')
            k++;
        else if (lit(L, k, "&amp;"))
            k += 5;
        else
            break;
        size_t s = k;
        while (at(L, k) >= 'A' && at(L, k) <= 'Z') k++;
        if (k == s) break;
        j = best = k;
    }
    return best;
}

/* File names with a known extension. All possible ends via ends[]. */
static const char *const file_exts[] = {"bat", "bmp", "c", "class", "cgi", "cpp", "dll", "doc", "docx", "exe", "gif", "gz",
                                        "h", "htm", "html", "jar", "java", "jpeg", "jpg", "mov", "mp3", "pdf", "php", "pl",
                                        "png", "ppt", "ps", "py", "sql", "tar", "txt", "wav", "x", "xml", "zip", NULL};
static size_t m_filename_ctx(const lx *L, size_t i, size_t *tok_end) {
    /* (L|D)+ ([.](L|D)+)* [.]ext, followed by a space/newline or one of . ? ! , */
    size_t best = i, j = i;
    while (ptb_is_letter_ext(at(L, j)) || ptb_is_digit(at(L, j))) j++;
    if (j == i) return i;
    while (at(L, j) == '.') {
        size_t k = j + 1;
        while (ptb_is_letter_ext(at(L, k)) || ptb_is_digit(at(L, k))) k++;
        if (k == j + 1) break;
        /* could the segment [j+1, k) be the extension? (it must end exactly at k) */
        for (const char *const *e = file_exts; *e; e++) {
            size_t m = lit(L, j + 1, *e);
            if (m && j + 1 + m == k) {
                uint32_t c = at(L, k);
                if (ptb_is_spacenl(c) || c == '.' || c == '?' || c == '!' || c == ',') {
                    best = k + 1;
                    *tok_end = k;
                }
                break;
            }
        }
        j = k;
    }
    return best;
}

/* Phone numbers: sequences of ASCII digit groups of bounded lengths and separators, matched
 * exhaustively (the groups are short) for the longest end. Element kinds: 'd' digits min..max,
 * 's' one of - space NBSP, 'S' the same or nothing, 'w' space/NBSP or nothing, 'p' zero to two
 * '+', anything else a literal character. */
typedef struct {
    char kind;
    int min, max;
} ph_el;
static size_t ascii_digit_run(const lx *L, size_t i) {
    size_t j = i;
    while (ptb_is_ascii_digit(at(L, j))) j++;
    return j - i;
}
static void phone_try(const lx *L, const ph_el *p, size_t j, size_t *best) {
    if (p->kind == 0) {
        if (j > *best) *best = j;
        return;
    }
    uint32_t c = at(L, j);
    switch (p->kind) {
    case 'd': {
        size_t r = ascii_digit_run(L, j);
        for (int n = p->min; n <= p->max && (size_t)n <= r; n++) phone_try(L, p + 1, j + (size_t)n, best);
        break;
    }
    case 's':
    case 'S':
        if (c == '-' || c == ' ' || c == 0xA0) phone_try(L, p + 1, j + 1, best);
        if (p->kind == 'S') phone_try(L, p + 1, j, best);
        break;
    case 'w':
        if (c == ' ' || c == 0xA0) phone_try(L, p + 1, j + 1, best);
        phone_try(L, p + 1, j, best);
        break;
    case 'p':
        phone_try(L, p + 1, j, best);
        if (c == '+') {
            phone_try(L, p + 1, j + 1, best);
            if (at(L, j + 1) == '+') phone_try(L, p + 1, j + 2, best);
        }
        break;
    default:
        if (c == (uint32_t)(unsigned char)p->kind) phone_try(L, p + 1, j + 1, best);
    }
}
static size_t m_phone(const lx *L, size_t i) {
    static const ph_el pats[][10] = {
        {{'(', 0, 0}, {'d', 2, 3}, {')', 0, 0}, {'w', 0, 0}, {'d', 3, 4}, {'S', 0, 0}, {'d', 3, 5}},
        {{'p', 0, 0}, {'d', 2, 4}, {'s', 0, 0}, {'d', 2, 4}, {'s', 0, 0}, {'d', 3, 4}, {'S', 0, 0}, {'d', 3, 5}},
        {{'p', 0, 0}, {'d', 2, 4}, {'s', 0, 0}, {'d', 3, 4}, {'S', 0, 0}, {'d', 3, 5}},
        {{'p', 0, 0}, {'d', 2, 4}, {'.', 0, 0}, {'d', 2, 4}, {'.', 0, 0}, {'d', 3, 4}, {'.', 0, 0}, {'d', 3, 5}},
        {{'d', 2, 4}, {'.', 0, 0}, {'d', 3, 4}, {'.', 0, 0}, {'d', 3, 5}},
    };
    uint32_t c = at(L, i);
    if (c != '(' && c != '+' && !ptb_is_ascii_digit(c)) return i;
    size_t best = i;
    for (size_t k = 0; k < sizeof pats / sizeof pats[0]; k++) phone_try(L, pats[k], i, &best);
    return best;
}

/* [<>]?[:;=][-o*']?[()DPdpO\{@|[]] */
static size_t m_smiley(const lx *L, size_t i) {
    size_t j = i;
    if (at(L, j) == '<' || at(L, j) == '>') j++;
    uint32_t c = at(L, j);
    if (c != ':' && c != ';' && c != '=') return i;
    j++;
    c = at(L, j);
    if (c == '-' || c == 'o' || c == '*' || c == '\'') {
        size_t e = j + 1;
        uint32_t d = at(L, e);
        if (d == '(' || d == ')' || d == 'D' || d == 'P' || d == 'd' || d == 'p' || d == 'O' || d == '\\' || d == '{' ||
            d == '@' || d == '|' || d == '[' || d == ']')
            return e + 1;
    }
    if (c == '(' || c == ')' || c == 'D' || c == 'P' || c == 'd' || c == 'p' || c == 'O' || c == '\\' || c == '{' ||
        c == '@' || c == '|' || c == '[' || c == ']')
        return j + 1;
    return i;
}

static int asian_eye(uint32_t c) { return c == '^' || c == 'x' || c == '=' || c == '~' || c == '<' || c == '>'; }
static size_t m_asiansmiley(const lx *L, size_t i) {
    size_t best = i;
    uint32_t a = at(L, i), b = at(L, i + 1), c = at(L, i + 2), d = at(L, i + 3), e = at(L, i + 4);
    /* eye . [ ^ x = ~ < > ]  (a literal sequence in the original grammar) */
    if (asian_eye(a) && b == '.' && lit(L, i + 2, "[^x=~<>]")) best = i + 10;
    if ((asian_eye(a) || a == '-' || a == '\'') && b == '_' && (asian_eye(c) || c == '-' || c == '\'') && best < i + 3)
        best = i + 3;
    if (a == '(' && (asian_eye(b) || b == '-' || b == '\'')) {
        if ((c == '_' || c == '.') && (asian_eye(d) || d == '-' || d == '\'') && e == ')' && best < i + 5) best = i + 5;
        if ((asian_eye(c) || c == '-' || c == '\'') && d == ')' && best < i + 4) best = i + 4;
    }
    if (a == '(' && (asian_eye(b) || b == '\'') && c == '-' && (asian_eye(d) || d == '\'' || d == '`') && e == ')' &&
        best < i + 5)
        best = i + 5;
    return best;
}

/* APOWORD: words with apostrophes kept whole ('n', l', 'em, '90s, 'til, Shi'ite, c'mon, ...). */
static size_t m_apoword(const lx *L, size_t i) {
    size_t best = i, a;
    /* 'n' and 'n */
    if ((a = m_apos(L, i)) && lc(at(L, i + a)) == 'n') {
        size_t e = i + a + 1, b = m_apos(L, e);
        best = e + b > best ? e + b : best;
    }
    /* l' d' j' (French) */
    {
        uint32_t c = at(L, i);
        if ((c == 'l' || c == 'L' || c == 'd' || c == 'D' || c == 'j' || c == 'J') && (a = m_apos(L, i + 1)) &&
            i + 1 + a > best)
            best = i + 1 + a;
    }
    static const char *const stems[] = {"dunkin", "somethin", "ol", NULL};
    for (const char *const *s = stems; *s; s++) {
        size_t m = lit(L, i, *s);
        if (m && (a = m_apos(L, i + m)) && i + m + a > best) best = i + m + a;
    }
    if ((a = m_apos(L, i))) {
        size_t m;
        if ((m = lit(L, i + a, "em")) && i + a + m > best) best = i + a + m;
        uint32_t d = at(L, i + a);
        if (d >= '2' && d <= '9' && at(L, i + a + 1) == '0' && lc(at(L, i + a + 2)) == 's' && i + a + 3 > best)
            best = i + a + 3;
        if ((m = lit(L, i + a, "till")) && i + a + m > best) best = i + a + m;
        if ((m = lit(L, i + a, "til")) && i + a + m > best) best = i + a + m;
        if ((m = lit(L, i + a, "cause")) && i + a + m > best) best = i + a + m;
    }
    {
        uint32_t c = at(L, i);
        /* one letter of A-H J-X Z (upper case) or n, an apostrophe, then two or more letters */
        if (((c >= 'A' && c <= 'H') || (c >= 'J' && c <= 'X') || c == 'Z' || c == 'n') && (a = m_aposetc(L, i + 1)) &&
            ptb_is_letter(at(L, i + 1 + a)) && ptb_is_letter(at(L, i + 2 + a))) {
            size_t e = i + 3 + a;
            while (ptb_is_letter(at(L, e))) e++;
            if (e > best) best = e;
        }
    }
    { /* letters ending in a vowel, apostrophe, a vowel or capital, letters: Shi'ite, O'Neil */
        size_t j = i;
        while (ptb_is_letter(at(L, j))) j++;
        /* every prefix ending in [aeiouyAEIOUY] followed by the apostrophe is a candidate; the
         * apostrophe is not a letter, so only the whole run qualifies */
        if (j > i) {
            uint32_t v = lc(at(L, j - 1));
            if ((v == 'a' || v == 'e' || v == 'i' || v == 'o' || v == 'u' || v == 'y') && (a = m_aposetc(L, j))) {
                uint32_t n = at(L, j + a);
                if (n == 'a' || n == 'e' || n == 'i' || n == 'o' || n == 'u' || (n >= 'A' && n <= 'Z')) {
                    size_t e = j + a + 1;
                    while (ptb_is_letter(at(L, e))) e++;
                    if (e > best) best = e;
                }
            }
        }
    }
    {
        size_t m = lit(L, i, "cont'd");
        if (m) {
            if (at(L, i + m) == '.') m++;
            if (i + m > best) best = i + m;
        }
    }
    static const char *const whole[] = {"'twas", "nor'easter", "c'mon", "e'er", "s'mores", "ev'ry", "li'l", "nat'l", NULL};
    size_t m = lit_any(L, i, whole);
    if (m && i + m > best) best = i + m;
    if (lc(at(L, i)) == 'o' && (a = m_aposetc(L, i + 1)) && lc(at(L, i + 1 + a)) == 'o' && i + 2 + a > best)
        best = i + 2 + a;
    return best;
}

/* Quotes: an apostrophe, '' or one or two of the quote characters. */
static int quote_char(uint32_t c) {
    return c == '`' || c == 0x2018 || c == 0x2019 || c == 0x201A || c == 0x201B || c == 0x201C || c == 0x201D ||
           (c >= 0x91 && c <= 0x94) || c == 0x201E || c == 0x201F || c == 0x2039 || c == 0x203A || c == 0xAB || c == 0xBB;
}
static size_t m_quotes(const lx *L, size_t i) {
    size_t best = i + m_apos(L, i);
    if (at(L, i) == '\'' && at(L, i + 1) == '\'' && best < i + 2) best = i + 2;
    if (quote_char(at(L, i))) {
        size_t e = quote_char(at(L, i + 1)) ? i + 2 : i + 1;
        if (e > best) best = e;
    }
    return best;
}

/* ------------------------------------------------------------------ the rule search */

typedef enum {
    K_PLAIN,      /* token text unchanged */
    K_SOFTHY,     /* soft hyphens removed */
    K_DASH,       /* "--" */
    K_AMP,        /* &amp; -> & */
    K_QUOTE_L,    /* opening-quote rewriting (` ``) */
    K_QUOTE_R,    /* closing-quote rewriting (' '') */
    K_NBSP,       /* spaces -> U+00A0 */
    K_PHONE,      /* spaces -> U+00A0, ( ) -> -LRB- -RRB- */
    K_PARENS,     /* ( ) -> -LRB- -RRB- */
    K_FRAC2,      /* ½ -> 1/2 ... */
    K_CURRENCY,   /* £ -> #, € -> $, ¢ -> cents */
    K_FIXED,      /* a fixed replacement text */
    K_HYPHENS,    /* 3-4 hyphens -> "--" */
    K_SKIP,       /* whitespace, zero-width characters */
    K_NEWLINE,    /* end of a caption */
    K_DELETE,     /* untokenisable character */
} tok_kind;

typedef struct {
    size_t total;   /* match length including trailing context (decides the winner) */
    size_t emit;    /* length of the token text */
    size_t advance; /* how far the scanner moves (less than emit after a push-back) */
    tok_kind kind;
    const char *fixed;
} cand;

/* Keep c if it is strictly longer than the best so far (earlier rules win ties). */
static void offer(cand *best, size_t total, size_t emit, size_t advance, tok_kind kind, const char *fixed) {
    if (total > best->total) {
        best->total = total;
        best->emit = emit;
        best->advance = advance;
        best->kind = kind;
        best->fixed = fixed;
    }
}

static size_t sentend_len(const lx *L, size_t i) {
    /* a space/newline, then a space/newline, an upper-case letter or an SGML tag */
    if (!ptb_is_spacenl(at(L, i))) return 0;
    uint32_t c = at(L, i + 1);
    if (ptb_is_spacenl(c) || ptb_is_upper(c)) return 2;
    size_t e = m_sgml(L, i + 1);
    return e > i + 1 ? e - i : 0;
}

/* The acronym-then-sentence-start context: spaces/newlines, a listed capitalised word (or a
 * tag), a space/newline. Returns its length or 0. */
static size_t acronym_context(const lx *L, size_t i) {
    size_t j = i;
    while (ptb_is_spacenl(at(L, j))) j++;
    if (j == i) return 0;
    size_t best = 0;
    for (const char *const *w = sentence_starters; *w; w++) {
        size_t m = lit(L, j, *w);
        if (m && ptb_is_spacenl(at(L, j + m)) && j + m + 1 - i > best) best = j + m + 1 - i;
    }
    size_t e = m_sgml(L, j);
    if (e > j && ptb_is_spacenl(at(L, e)) && e + 1 - i > best) best = e + 1 - i;
    return best;
}

static void lex_one(const lx *L, size_t i, cand *b) {
    memset(b, 0, sizeof *b);
    uint32_t c0 = at(L, i);
    int alpha = ptb_is_ascii_alpha(c0);
    size_t e, m;

    /* programming languages: c++, c#, f# */
    if ((lc(c0) == 'c' && at(L, i + 1) == '+' && at(L, i + 2) == '+')) offer(b, 3, 3, 3, K_PLAIN, NULL);
    if ((lc(c0) == 'c' || lc(c0) == 'f') && at(L, i + 1) == '#') offer(b, 2, 2, 2, K_PLAIN, NULL);
    /* split assimilations: can|not, 't|was, 't|is, gon|na, ... */
    if (alpha && lit(L, i, "cannot")) offer(b, 6, 3, 3, K_PLAIN, NULL);
    if (c0 == '\'' && lit(L, i + 1, "twas")) offer(b, 5, 2, 2, K_PLAIN, NULL);
    if (c0 == '\'' && lit(L, i + 1, "tis")) offer(b, 4, 2, 2, K_PLAIN, NULL);
    if (alpha && lit_any(L, i, assimilations2)) offer(b, 5, 3, 3, K_PLAIN, NULL);
    if ((e = m_sgml(L, i)) > i) offer(b, e - i, e - i, e - i, K_NBSP, NULL);
    /* dashes: &mdash; &ndash; &MD; and the cp1252 / Unicode dashes */
    if (c0 == 0x96 || c0 == 0x97 || c0 == 0x2013 || c0 == 0x2014 || c0 == 0x2015) offer(b, 1, 1, 1, K_DASH, NULL);
    if (c0 == '&') {
        if ((m = lit(L, i, "&md;")) || (m = lit(L, i, "&mdash;")) || (m = lit(L, i, "&ndash;"))) offer(b, m, m, m, K_DASH, NULL);
        if ((m = lit(L, i, "&amp;"))) offer(b, m, m, m, K_AMP, NULL);
        static const char *const sppunc[] = {"&ht;", "&tl;", "&ur;", "&lr;", "&qc;", "&ql;", "&qr;", "&odq;", "&cdq;", NULL};
        if ((m = lit_any(L, i, sppunc))) offer(b, m, m, m, K_PLAIN, NULL);
        if (at(L, i + 1) == '#' && ptb_is_ascii_digit(at(L, i + 2))) {
            size_t k = i + 2;
            while (ptb_is_ascii_digit(at(L, k))) k++;
            if (at(L, k) == ';') offer(b, k + 1 - i, k + 1 - i, k + 1 - i, K_PLAIN, NULL);
        }
    }
    /* words before 's 're ... and before n't */
    size_t w = m_word(L, i);
    if (w > i && (m = m_redaux(L, w))) offer(b, w - i + m, w - i, w - i, K_SOFTHY, NULL);
    {
        size_t nt = 0, p = m_sword_before_nt(L, i, &nt);
        if (p > i) offer(b, p - i + nt, p - i, p - i, K_SOFTHY, NULL);
    }
    if (w > i) offer(b, w - i, w - i, w - i, K_SOFTHY, NULL);
    if ((e = m_apoword(L, i)) > i) offer(b, e - i, e - i, e - i, K_PLAIN, NULL);
    if (lc(c0) == 'y' && (m = m_apos(L, i + 1)) && ptb_is_letter(at(L, i + 1 + m))) offer(b, 2 + m, 1 + m, 1 + m, K_PLAIN, NULL);
    if ((e = m_fullurl(L, i)) > i) offer(b, e - i, e - i, e - i, K_PLAIN, NULL);
    if ((e = m_likelyurl(L, i)) > i) offer(b, e - i, e - i, e - i, K_PLAIN, NULL);
    if ((e = m_email(L, i)) > i) offer(b, e - i, e - i, e - i, K_PLAIN, NULL);
    if ((e = m_twitter(L, i)) > i) offer(b, e - i, e - i, e - i, K_PLAIN, NULL);
    if ((m = m_redaux(L, i)) && at(L, i + m) != PTB_EOF && !ptb_is_ascii_alpha(at(L, i + m)))
        offer(b, m + 1, m, m, K_QUOTE_R, NULL);
    if ((m = m_sredaux(L, i)) && at(L, i + m) != PTB_EOF && !ptb_is_ascii_alpha(at(L, i + m)))
        offer(b, m + 1, m, m, K_QUOTE_R, NULL);
    if ((e = m_date(L, i)) > i) offer(b, e - i, e - i, e - i, K_PLAIN, NULL);
    if ((e = m_number(L, i)) > i) offer(b, e - i, e - i, e - i, K_SOFTHY, NULL);
    if ((e = m_subsupnum(L, i)) > i) offer(b, e - i, e - i, e - i, K_PLAIN, NULL);
    if ((e = m_frac(L, i)) > i) offer(b, e - i, e - i, e - i, K_NBSP, NULL);
    if (c0 == 0xBC || c0 == 0xBD || c0 == 0xBE || (c0 >= 0x2153 && c0 <= 0x215E)) offer(b, 1, 1, 1, K_FRAC2, NULL);
    { /* treebank specials */
        static const char *const tbspec[] = {"-rrb-", "-lrb-", "-rcb-", "-lcb-", "-rsb-", "-lsb-", "c.d.s", "pro-",
                                             "anti-", "s&p-500", "s&amp;p-500", "s&ls", "s&amp;ls", NULL};
        if ((alpha || c0 == '-') && (m = lit_any(L, i, tbspec))) offer(b, m, m, m, K_AMP, NULL);
        size_t a;
        if (lit(L, i, "cap") && (a = m_apos(L, i + 3)) && lc(at(L, i + 3 + a)) == 'n') offer(b, 4 + a, 4 + a, 4 + a, K_AMP, NULL);
        if (lc(c0) == 'c' && (a = m_apos(L, i + 1)) && lit(L, i + 1 + a, "est")) offer(b, 4 + a, 4 + a, 4 + a, K_AMP, NULL);
    }
    if ((e = m_thing3(L, i)) > i) offer(b, e - i, e - i, e - i, K_PLAIN, NULL);
    { /* currency: [A-Z]*$ or #, then the other currency signs */
        size_t k = i;
        while (at(L, k) >= 'A' && at(L, k) <= 'Z') k++;
        if (at(L, k) == '$') offer(b, k + 1 - i, k + 1 - i, k + 1 - i, K_PLAIN, NULL);
        if (c0 == '#') offer(b, 1, 1, 1, K_PLAIN, NULL);
        if (c0 == 0xA2 || c0 == 0xA3 || c0 == 0xA4 || c0 == 0xA5 || c0 == 0x80 || c0 == 0x20A0 || c0 == 0x20AC ||
            c0 == 0x60B || c0 == 0xE3F || c0 == 0x20A4 || c0 == 0xFFE0 || c0 == 0xFFE1 || c0 == 0xFFE5 || c0 == 0xFFE6)
            offer(b, 1, 1, 1, K_CURRENCY, NULL);
    }
    /* the rules below start with an ASCII letter (acronyms, abbreviations) */
    size_t acro[24];
    int n_acro = alpha ? m_acro_ends(L, i, acro, 24, 0) : 0;
    /* acronym + "." before a sentence starter: the period is returned again as its own token;
     * a one-letter acronym gives the letter alone */
    for (int k = n_acro - 1; k >= 0; k--) {
        if (at(L, acro[k]) != '.') continue;
        size_t len = acro[k] + 1 - i, ctx = acronym_context(L, acro[k] + 1);
        if (!ctx) continue;
        if (len == 2)
            offer(b, len + ctx, 1, 1, K_PLAIN, NULL);
        else
            offer(b, len + ctx, len, len - 1, K_PLAIN, NULL);
    }
    /* ca. / fig. / no. before a number (optionally one space or newline between) */
    for (const char *const *wd = abbrev3_words; alpha && *wd; wd++) {
        size_t mm = lit(L, i, *wd);
        if (!mm || at(L, i + mm) != '.') continue;
        size_t k = i + mm + 1;
        if (ptb_is_digit(at(L, k)))
            offer(b, mm + 2, mm + 1, mm + 1, K_PLAIN, NULL);
        else if (ptb_is_spacenl(at(L, k)) && ptb_is_digit(at(L, k + 1)))
            offer(b, mm + 3, mm + 1, mm + 1, K_PLAIN, NULL);
    }
    /* pty. ltd / co. ltd */
    {
        size_t mm = 0;
        if (lc(c0) == 'p' && lc(at(L, i + 1)) == 't') {
            uint32_t t = at(L, i + 2);
            if (t == 'e' || t == 'y' || t == 'E' || t == 'Y') mm = 3;
        } else if (lit(L, i, "co")) {
            mm = 2;
        }
        if (mm && at(L, i + mm) == '.' && ptb_is_space(at(L, i + mm + 1)) &&
            (lit(L, i + mm + 2, "ltd") || lit(L, i + mm + 2, "lim")))
            offer(b, mm + 5, mm + 1, mm + 1, K_PLAIN, NULL);
    }
    /* abbreviations normally followed by a lower-case word */
    for (const char *const *wd = abbrev1_words; alpha && *wd; wd++) {
        size_t mm = lit(L, i, *wd);
        if (!mm || at(L, i + mm) != '.') continue;
        size_t len = mm + 1, se = sentend_len(L, i + len);
        int two = at(L, i + len) != PTB_EOF && at(L, i + len + 1) != PTB_EOF;
        if (se && se >= 2) offer(b, len + se, len, len - 1, K_PLAIN, NULL); /* the period is also a sentence end */
        if (two) offer(b, len + 2, len, len, K_PLAIN, NULL);
        offer(b, len, len, len - 1, K_PLAIN, NULL); /* end of input */
    }
    /* abbreviations normally followed by a capitalised word, acronyms */
    if (alpha) {
        size_t best2 = 0;
        for (const char *const *wd = abbrev4_words; *wd; wd++) {
            size_t mm = lit(L, i, *wd);
            if (mm && at(L, i + mm) == '.' && mm + 1 > best2) best2 = mm + 1;
        }
        for (int k = 0; k < n_acro; k++)
            if (at(L, acro[k]) == '.' && acro[k] + 1 - i > best2) best2 = acro[k] + 1 - i;
        if (best2) offer(b, best2, best2, best2, K_PLAIN, NULL);
        size_t best4 = 0;
        for (const char *const *wd = abbrev4_words; *wd; wd++) {
            size_t mm = lit(L, i, *wd);
            if (mm && ptb_is_space(at(L, i + mm)) && mm > best4) best4 = mm;
        }
        for (int k = 0; k < n_acro; k++)
            if (ptb_is_space(at(L, acro[k])) && acro[k] - i > best4) best4 = acro[k] - i;
        if (best4) offer(b, best4 + 1, best4, best4, K_PLAIN, NULL);
        size_t bestacro = 0;
        for (int k = 0; k < n_acro; k++)
            if (ptb_is_spacenl(at(L, acro[k])) && acro[k] - i > bestacro) bestacro = acro[k] - i;
        if (bestacro) offer(b, bestacro + 1, bestacro, bestacro, K_PLAIN, NULL);
    }
    /* '90 before a space */
    {
        size_t a = m_apos(L, i);
        if (a && ptb_is_ascii_digit(at(L, i + a)) && ptb_is_ascii_digit(at(L, i + a + 1)) && ptb_is_spacenl(at(L, i + a + 2)))
            offer(b, a + 3, a + 2, a + 2, K_PLAIN, NULL);
    }
    {
        size_t tok_end = i, fe = m_filename_ctx(L, i, &tok_end);
        if (fe > i) offer(b, fe - i, tok_end - i, tok_end - i, K_PLAIN, NULL);
    }
    if (w > i && at(L, w) == '.') {
        uint32_t n = at(L, w + 1);
        if (n == ',' || n == ';' || n == ':' || n == 0x3001) offer(b, w + 2 - i, w + 1 - i, w + 1 - i, K_SOFTHY, NULL);
    }
    if ((e = m_phone(L, i)) > i) offer(b, e - i, e - i, e - i, K_PHONE, NULL);
    { /* double quotes: opening before a letter, digit or $ */
        size_t q = c0 == '"' ? 1 : lit(L, i, "&quot;");
        if (q) {
            uint32_t n = at(L, i + q);
            if (ptb_is_ascii_alnum(n) || n == '$') offer(b, q + 1, q, q, K_QUOTE_L, NULL);
            offer(b, q, q, q, K_QUOTE_R, NULL);
        }
    }
    if (c0 == 0x7F) offer(b, 1, 1, 1, K_SKIP, NULL);
    if (c0 == '<') offer(b, 1, 1, 1, K_FIXED, "<");
    if ((m = lit(L, i, "&lt;"))) offer(b, m, m, m, K_FIXED, "<");
    if (c0 == '>') offer(b, 1, 1, 1, K_FIXED, ">");
    if ((m = lit(L, i, "&gt;"))) offer(b, m, m, m, K_FIXED, ">");
    if ((e = m_smiley(L, i)) > i && at(L, e) != PTB_EOF && !ptb_is_ascii_alnum(at(L, e)))
        offer(b, e + 1 - i, e - i, e - i, K_PARENS, NULL);
    if ((e = m_asiansmiley(L, i)) > i) offer(b, e - i, e - i, e - i, K_PARENS, NULL);
    switch (c0) {
    case '{': offer(b, 1, 1, 1, K_FIXED, "-LCB-"); break;
    case '}': offer(b, 1, 1, 1, K_FIXED, "-RCB-"); break;
    case '[': offer(b, 1, 1, 1, K_FIXED, "-LSB-"); break;
    case ']': offer(b, 1, 1, 1, K_FIXED, "-RSB-"); break;
    case '(': offer(b, 1, 1, 1, K_FIXED, "-LRB-"); break;
    case ')': offer(b, 1, 1, 1, K_FIXED, "-RRB-"); break;
    default: break;
    }
    if (c0 == '-') {
        size_t k = i;
        while (at(L, k) == '-') k++;
        offer(b, k - i, k - i, k - i, K_HYPHENS, NULL);
    }
    { /* ellipses */
        size_t k = i;
        while (at(L, k) == '.' && k - i < 5) k++;
        if (k - i >= 3) offer(b, k - i, k - i, k - i, K_FIXED, "...");
        size_t s = i;
        int pairs = 0;
        while (pairs < 4 && at(L, s) == '.' && (at(L, s + 1) == ' ' || at(L, s + 1) == 0xA0)) {
            s += 2;
            pairs++;
            if (pairs >= 2 && at(L, s) == '.') offer(b, s + 1 - i, s + 1 - i, s + 1 - i, K_FIXED, "...");
        }
        if (c0 == 0x85 || c0 == 0x2026) offer(b, 1, 1, 1, K_FIXED, "...");
    }
    if (c0 == '@' || c0 == '#' || c0 == '_') { /* footnote marks: runs of one of them */
        size_t k = i;
        while (at(L, k) == c0) k++;
        offer(b, k - i, k - i, k - i, K_PLAIN, NULL);
    }
    if (c0 == '*') {
        size_t k = i;
        while (at(L, k) == '*') k++;
        offer(b, k - i, k - i, k - i, K_PLAIN, NULL);
    }
    if (c0 == '\\' && at(L, i + 1) == '*') {
        size_t k = i;
        int r = 0;
        while (r < 3 && at(L, k) == '\\' && at(L, k + 1) == '*') {
            k += 2;
            r++;
        }
        offer(b, k - i, k - i, k - i, K_PLAIN, NULL);
    }
    if (c0 == ',' || c0 == ';' || c0 == ':' || c0 == 0x3001) offer(b, 1, 1, 1, K_PLAIN, NULL);
    if (c0 == '?' || c0 == '!') {
        size_t k = i;
        while (at(L, k) == '?' || at(L, k) == '!') k++;
        offer(b, k - i, k - i, k - i, K_PLAIN, NULL);
    }
    if (c0 == '.' || c0 == 0xA1 || c0 == 0xBF || c0 == 0x37E || c0 == 0x589 || c0 == 0x61F || c0 == 0x6D4 ||
        (c0 >= 0x700 && c0 <= 0x702) || c0 == 0x7FA || c0 == 0x3002)
        offer(b, 1, 1, 1, K_PLAIN, NULL);
    if (c0 == '=' || c0 == '/') offer(b, 1, 1, 1, K_PLAIN, NULL);
    if ((e = m_hthing(L, i)) > i) {
        uint32_t n = at(L, e + 1);
        if (at(L, e) == '.' && (n == ',' || n == ';' || n == ':' || n == 0x3001)) offer(b, e + 2 - i, e + 1 - i, e + 1 - i, K_SOFTHY, NULL);
        offer(b, e - i, e - i, e - i, K_SOFTHY, NULL);
    }
    if ((e = m_thing(L, i)) > i) {
        uint32_t n = at(L, e + 1);
        if (at(L, e) == '.' && (n == ',' || n == ';' || n == ':' || n == 0x3001)) offer(b, e + 2 - i, e + 1 - i, e + 1 - i, K_PLAIN, NULL);
        offer(b, e - i, e - i, e - i, K_PLAIN, NULL);
    }
    if ((e = m_thinga(L, i)) > i) {
        uint32_t n = at(L, e + 1);
        if (at(L, e) == '.' && (n == ',' || n == ';' || n == ':' || n == 0x3001)) offer(b, e + 2 - i, e + 1 - i, e + 1 - i, K_AMP, NULL);
        offer(b, e - i, e - i, e - i, K_AMP, NULL);
    }
    /* an opening single quote: ' before a letter and a non-space */
    if (c0 == '\'' && ptb_is_ascii_alpha(at(L, i + 1))) {
        uint32_t n = at(L, i + 2);
        if (n != PTB_EOF && n != ' ' && n != '\t' && n != '\n' && n != '\r' && n != 0xA0) offer(b, 3, 1, 1, K_QUOTE_L, NULL);
    }
    if ((m = m_redaux(L, i))) offer(b, m, m, m, K_QUOTE_R, NULL);
    if ((m = m_sredaux(L, i))) offer(b, m, m, m, K_QUOTE_R, NULL);
    if ((e = m_quotes(L, i)) > i) offer(b, e - i, e - i, e - i, K_QUOTE_R, NULL);
    if ((c0 == '<' && at(L, i + 1) == '<') || (c0 == '>' && at(L, i + 1) == '>')) offer(b, 2, 2, 2, K_PLAIN, NULL);
    if (ptb_is_misc_symbol(c0)) offer(b, 1, 1, 1, K_PLAIN, NULL);
    if (ptb_is_space(c0) || ptb_is_zero_width(c0)) {
        size_t k = i;
        while (ptb_is_space(at(L, k))) k++;
        offer(b, k > i ? k - i : 1, 0, k > i ? k - i : 1, K_SKIP, NULL);
    }
    if (ptb_is_newline(c0)) {
        size_t k = c0 == '\r' && at(L, i + 1) == '\n' ? 2 : 1;
        offer(b, k, 0, k, K_NEWLINE, NULL);
    }
    if ((m = lit(L, i, "&nbsp;"))) offer(b, m, 0, m, K_SKIP, NULL);
    if (b->total == 0) offer(b, 1, 0, 1, K_DELETE, NULL);
}

/* Is the ASCII word [i, i+n) one of the listed abbreviations (ignoring case)? Conservative:
 * a yes only sends the word to the full rule search. */
/* The three abbreviation lists by the (lower-cased) letter they start with, built once: a word
 * before a period is checked against a dozen of them instead of all 190. */
#define ABBREV_PER_LETTER 32
static struct {
    const char *w[26][ABBREV_PER_LETTER];
    size_t len[26][ABBREV_PER_LETTER]; /* how many characters w matches (lit()'s count): most are skipped by it */
    int n[26];
    int ok; /* 0: a letter overflowed (never with these lists): check them all */
} abbrev_ix;
static pthread_once_t abbrev_once = PTHREAD_ONCE_INIT;
static const char *const *const abbrev_lists[] = {abbrev1_words, abbrev4_words, abbrev3_words, NULL};

static void abbrev_index(void) {
    abbrev_ix.ok = 1;
    for (const char *const *const *l = abbrev_lists; *l; l++)
        for (const char *const *w = *l; *w; w++) {
            uint32_t c = lc((unsigned char)((*w)[0] == '=' ? (*w)[1] : (*w)[0]));
            if (c < 'a' || c > 'z' || abbrev_ix.n[c - 'a'] == ABBREV_PER_LETTER) {
                abbrev_ix.ok = 0;
                continue;
            }
            size_t len = 0;
            for (const char *p = *w; *p; p++, len++)
                if (*p == '=' && p[1]) p++; /* "=x": x matched exactly, one character */
            abbrev_ix.len[c - 'a'][abbrev_ix.n[c - 'a']] = len;
            abbrev_ix.w[c - 'a'][abbrev_ix.n[c - 'a']++] = *w;
        }
}

/* Whether the n letters at i are one of the listed abbreviations (lit() matches a whole
 * pattern with its length or returns 0). */
static int is_listed_abbrev(const lx *L, size_t i, size_t n) {
    pthread_once(&abbrev_once, abbrev_index);
    uint32_t c = lc(at(L, i));
    if (abbrev_ix.ok && c >= 'a' && c <= 'z') {
        for (int k = 0; k < abbrev_ix.n[c - 'a']; k++)
            if (abbrev_ix.len[c - 'a'][k] == n && lit(L, i, abbrev_ix.w[c - 'a'][k]) == n) return 1;
        return 0;
    }
    for (const char *const *const *l = abbrev_lists; *l; l++)
        for (const char *const *w = *l; *w; w++)
            if (lit(L, i, *w) == n) return 1;
    return 0;
}

/* Plain ASCII words followed by a space, a line end or the end, or by a period or comma and
 * then one of those. For such a word no rule matches longer than the word (plus its trailing
 * space/period) except ones whose token is the word itself (a title or one-letter acronym
 * before a space), and no earlier rule matches the same length with another token, with these
 * exceptions, which go to the full search: the split assimilations (cannot, gonna, ...), and
 * before a period the abbreviations (listed words and single letters, which keep the period).
 * (A period or comma followed by a space cannot continue a URL, e-mail, file name, number,
 * hyphenated word or WORD, whose continuations all need a non-space after it.) Returns the end
 * of the word, or i to use the full search. The word's letters are written lower-cased to out
 * (room for FAST_WORD_MAX + 1 bytes) as they are read, whatever the answer (one pass instead of
 * a scan and a copy). */
#define FAST_WORD_MAX 64
static size_t fast_word(const lx *L, size_t i, char *out) {
    size_t j = i, lim = L->n - i > FAST_WORD_MAX ? i + FAST_WORD_MAX + 1 : L->n;
    for (uint32_t c; j < lim && ptb_is_ascii_alpha(c = L->t[j]); j++) out[j - i] = (char)(c | 0x20);
    size_t n = j - i; /* FAST_WORD_MAX + 1: that long or longer */
    if (n == 0 || n > FAST_WORD_MAX) return i;
    uint32_t c = at(L, j);
    if (c == '.' || c == ',') {
        uint32_t d = at(L, j + 1);
        if (d != ' ' && d != '\n' && d != PTB_EOF) return i;
        if (c == '.' && (n == 1 || is_listed_abbrev(L, i, n))) return i;
    } else if (c != ' ' && c != '\n' && c != '\t' && c != PTB_EOF) {
        return i;
    }
    if (n == 6 && lit(L, i, "cannot")) return i;
    if (n == 5 && (lc(L->t[i]) == 'g' || lc(L->t[i]) == 'l' || lc(L->t[i]) == 'w') && lit_any(L, i, assimilations2))
        return i; /* gonna gotta lemme gimme wanna */
    return j;
}

/* A period or comma followed by a space, a line end or the end (as after a sentence's last word):
 * its token is itself, one character. No rule matches longer from there — a longer match needs
 * a non-space next (numbers ".5", ellipses, URLs, file names, abbreviations start with a letter)
 * — and the earlier rules that match one character keep it as it is; both tokens are dropped
 * by the wrapper. Checked against the full search on every fixture and random text. */
static int lone_stop(const lx *L, size_t i) {
    uint32_t c = L->t[i];
    if (c != '.' && c != ',') return 0;
    uint32_t d = at(L, i + 1);
    return d == ' ' || d == '\n' || d == PTB_EOF;
}

/* ------------------------------------------------------------------ output */

typedef struct {
    char *buf; /* stb-like growable buffer for one line */
    size_t len, cap;
} sbuf;

static int sb_grow(sbuf *s, size_t more) {
    size_t cap = s->cap ? s->cap * 2 : 256;
    while (cap < s->len + more + 1) cap *= 2;
    char *b = realloc(s->buf, cap);
    if (!b) return -1;
    s->buf = b;
    s->cap = cap;
    return 0;
}

/* Room for more bytes and a NUL (the check inline: it is made for every token). */
static inline int sb_reserve(sbuf *s, size_t more) { return s->len + more + 1 <= s->cap ? 0 : sb_grow(s, more); }

/* Tokens the official wrapper drops (compared after lower-casing, so -LRB- etc. never match). */
static int is_dropped(const char *t, size_t n) {
    if (n > 3 || ptb_is_ascii_alnum((unsigned char)t[0])) return 0;
    static const char *const drop[] = {"''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";", NULL};
    for (const char *const *d = drop; *d; d++)
        if (strlen(*d) == n && memcmp(*d, t, n) == 0) return 1;
    return 0;
}

/* Append the token (code points [s, s+n) rewritten by kind) lower-cased to line. */
static int emit(sbuf *line, const lx *L, size_t s, size_t n, tok_kind kind, const char *fixed) {
    /* build the token's text in UTF-8 first */
    char small[256], *tok = small;
    size_t cap = sizeof small, len = 0;
    size_t need = n * 4 * 5 + 16; /* worst case: every char becomes "-LRB-" or 4 UTF-8 bytes */
    if (need > cap) {
        tok = malloc(need);
        if (!tok) return -1;
        cap = need;
    }
    if (kind == K_FIXED || kind == K_DASH) {
        const char *f = kind == K_DASH ? "--" : fixed;
        len = strlen(f);
        memcpy(tok, f, len);
    } else if (kind == K_HYPHENS && n >= 3 && n <= 4) {
        memcpy(tok, "--", 2);
        len = 2;
    } else if (kind == K_CURRENCY) {
        uint32_t c = L->t[s];
        const char *f = c == 0xA2 ? "cents" : c == 0xA3 ? "#" : (c == 0x80 || c == 0xA4 || c == 0x20A0 || c == 0x20AC) ? "$" : NULL;
        if (f) {
            len = strlen(f);
            memcpy(tok, f, len);
        } else {
            len = (size_t)text_utf8_put(tok, c);
        }
    } else if (kind == K_FRAC2) {
        uint32_t c = L->t[s];
        const char *f = c == 0xBC ? "1/4" : c == 0xBD ? "1/2" : c == 0xBE ? "3/4" : c == 0x2153 ? "1/3" : c == 0x2154 ? "2/3" : NULL;
        if (f) {
            len = strlen(f);
            memcpy(tok, f, len);
        } else {
            len = (size_t)text_utf8_put(tok, c);
        }
    } else {
        /* quote rewriting works on the whole token: first the &apos; / &quot; entities */
        for (size_t k = 0; k < n; k++) {
            uint32_t c = L->t[s + k];
            if ((kind == K_QUOTE_L || kind == K_QUOTE_R) && c == '&') {
                size_t m;
                if ((m = lit(L, s + k, "&apos;"))) {
                    tok[len++] = kind == K_QUOTE_L ? '`' : '\'';
                    k += m - 1;
                    continue;
                }
                if ((m = lit(L, s + k, "&quot;"))) {
                    memcpy(tok + len, kind == K_QUOTE_L ? "``" : "''", 2);
                    len += 2;
                    k += m - 1;
                    continue;
                }
            }
            if (kind == K_AMP && c == '&') {
                size_t m = lit(L, s + k, "&amp;");
                if (m) {
                    tok[len++] = '&';
                    k += m - 1;
                    continue;
                }
            }
            if ((kind == K_SOFTHY) && c == 0xAD) continue;
            if ((kind == K_NBSP || kind == K_PHONE) && c == ' ') c = 0xA0;
            if ((kind == K_PHONE || kind == K_PARENS) && (c == '(' || c == ')')) {
                memcpy(tok + len, c == '(' ? "-LRB-" : "-RRB-", 5);
                len += 5;
                continue;
            }
            if (kind == K_QUOTE_L || kind == K_QUOTE_R) {
                const char *q = NULL;
                if (c == '\'') q = kind == K_QUOTE_L ? "`" : "'";
                else if (c == '"') q = kind == K_QUOTE_L ? "``" : "''";
                else if (c == 0x91 || c == 0x2018 || c == 0x201B || c == 0x2039) q = "`";
                else if (c == 0x92 || c == 0x2019 || c == 0x203A) q = "'";
                else if (c == 0x93 || c == 0x201C || c == 0xAB) q = "``";
                else if (c == 0x94 || c == 0x201D || c == 0xBB) q = "''";
                if (q) {
                    size_t ql = strlen(q);
                    memcpy(tok + len, q, ql);
                    len += ql;
                    continue;
                }
            }
            len += (size_t)text_utf8_put(tok + len, c);
        }
        if (kind == K_SOFTHY && len == 0 && n > 0) tok[len++] = '-';
    }
    int ascii = 1;
    for (size_t k = 0; k < len; k++)
        if ((unsigned char)tok[k] >= 0x80) ascii = 0;
    char *low = tok;
    if (ascii) {
        for (size_t k = 0; k < len; k++) low[k] = (char)lc((unsigned char)low[k]);
    } else {
        low = text_lower(tok, len); /* Java's toLowerCase(Locale.ENGLISH) */
        if (tok != small) free(tok);
        tok = NULL;
        if (!low) return -1;
        len = strlen(low);
    }
    int rc = 0;
    if (!is_dropped(low, len)) {
        if (sb_reserve(line, len + 1) != 0) {
            rc = -1;
        } else {
            if (line->len) line->buf[line->len++] = ' ';
            memcpy(line->buf + line->len, low, len);
            line->len += len;
            line->buf[line->len] = 0;
        }
    }
    if (low != tok) free(low);
    if (tok && tok != small) free(tok);
    return rc;
}

/* Where fast_word writes a word (after the separating space), with room made for the longest. */
static char *word_slot(sbuf *line) {
    if (sb_reserve(line, FAST_WORD_MAX + 2) != 0) return NULL;
    return line->buf + line->len + (line->len ? 1 : 0);
}

/* emit() for a plain ASCII word that fast_word wrote to word_slot: only the space before it and
 * the length are left to do; a word of letters is never one of the dropped punctuation tokens. */
static void emit_word(sbuf *line, size_t n) {
    if (line->len) line->buf[line->len++] = ' ';
    line->len += n;
    line->buf[line->len] = 0;
}

/* The finished line: the buffer itself (malloc'd), or with a pool a copy in it, the buffer
 * kept for the next line. */
static char *sb_take(sbuf *s, text_pool *pool) {
    if (pool) {
        char *r = text_pool_strndup(pool, s->buf ? s->buf : "", s->len);
        s->len = 0;
        return r;
    }
    if (!s->buf) return strdup("");
    char *r = s->buf;
    r[s->len] = 0;
    s->buf = NULL;
    s->len = s->cap = 0;
    return r;
}

/* One stretch of the scan: from position i with line index li and the current line's tokens
 * in line, until position stop (or the end); res[li] gets each finished line (in pool, when
 * not NULL). */
typedef struct {
    const lx *L;
    char **res;
    size_t n_lines, i, stop, li;
    sbuf line;
    text_pool *pool;
} scan_part;

static int scan(scan_part *p) {
    const lx *L = p->L;
    size_t i = p->i;
    int rc = 0;
    while (i < p->stop && rc == 0) {
        /* a space or a line end: no rule starts there but the skip and the line break (checked
         * against the full search on random text), and they are every other token */
        if (L->t[i] == ' ') {
            while (i < L->n && ptb_is_space(L->t[i])) i++;
            continue;
        }
        if (L->t[i] == '\n') {
            if (p->li < p->n_lines && !(p->res[p->li++] = sb_take(&p->line, p->pool))) rc = -1;
            i++;
            continue;
        }
        if (lone_stop(L, i)) { /* "." or ",", which the wrapper drops */
            i++;
            continue;
        }
        char *slot = word_slot(&p->line);
        if (!slot) {
            rc = -1;
            break;
        }
        size_t e = fast_word(L, i, slot);
        if (e > i) {
            emit_word(&p->line, e - i);
            i = e;
            continue;
        }
        cand c;
        lex_one(L, i, &c);
        if (c.kind == K_NEWLINE) {
            if (p->li < p->n_lines && !(p->res[p->li++] = sb_take(&p->line, p->pool))) rc = -1;
        } else if (c.kind != K_SKIP && c.kind != K_DELETE) {
            rc = emit(&p->line, L, i, c.emit, c.kind, c.fixed);
        }
        i += c.advance ? c.advance : 1;
    }
    p->i = i;
    /* at the end: the last line, and lines that the final rstrip() removed (they tokenise to "") */
    while (rc == 0 && i >= L->n && p->li < p->n_lines)
        if (!(p->res[p->li++] = sb_take(&p->line, p->pool))) rc = -1;
    return rc == 0 ? 0 : vk_err_set("tokenizer: out of memory");
}

static int scan_job(void *p) { return scan(p); }

/* Below this many lines one thread does it all. */
#define PTB_SPLIT_MIN_LINES 2000

/* Tokenise L into res[0..n). With two threads, the second half of the lines is scanned on its
 * own from the start of line h, speculating that the first half's scan arrives exactly at the
 * '\n' before it, as line h-1's end (the lexer's state is only its position, so the second scan
 * is then exactly the sequential one). A token that runs across that '\n' (an SGML attribute
 * value may) shows as the first scan stopping elsewhere: the second half is dropped and the
 * first scan goes on to the end, as one thread would have. */
static int scan_all(const lx *L, const size_t *line_start, size_t n, char **res, text_pool *pool) {
    scan_part a = {L, res, n, 0, L->n, 0, {NULL, 0, 0}, pool};
    size_t h = n / 2, p = h ? line_start[h] - 1 : 0; /* p: the '\n' that ends line h-1 */
    if (n >= PTB_SPLIT_MIN_LINES && pair_run_threads() && p < L->n) {
        text_pool pool_b = {NULL}; /* the second thread's lines, joined into pool if they count */
        scan_part b = {L, res, n, p + 1, L->n, h, {NULL, 0, 0}, pool ? &pool_b : NULL};
        a.stop = p;
        int rc = pair_run(scan_job, &a, scan_job, &b);
        free(b.line.buf);
        if (rc == 0 && a.i == p && a.li == h - 1) {
            res[a.li++] = sb_take(&a.line, pool); /* the '\n' at p */
            free(a.line.buf);
            if (pool) text_pool_join(pool, &pool_b);
            return res[h - 1] ? 0 : vk_err_set("tokenizer: out of memory");
        }
        for (size_t k = h; k < n; k++) { /* not the sequential scan's lines: redo them */
            if (!pool) free(res[k]);
            res[k] = NULL;
        }
        text_pool_free(&pool_b);
        if (rc != 0) {
            free(a.line.buf);
            return -1;
        }
        a.stop = L->n;
    }
    int rc = scan(&a);
    free(a.line.buf);
    return rc;
}

static int tokenize_lines(const char *const *captions, size_t n, char **out, text_pool *pool);

int ptb_tokenize_lines(const char *const *captions, size_t n, char **out) { return tokenize_lines(captions, n, out, NULL); }

int ptb_tokenize_lines_pooled(const char *const *captions, size_t n, char **out, text_pool *pool) {
    return tokenize_lines(captions, n, out, pool);
}

static int tokenize_lines(const char *const *captions, size_t n, char **out, text_pool *pool) {
    /* Join as the wrapper does: "\n" between captions, then rstrip() of the whole text. Line
     * breaks inside a caption become spaces (the wrapper does it for "\n"; for the others it
     * would mis-align every later caption). */
    size_t total = n;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(captions[i]), bad;
        const char *what;
        if (text_utf8_check(captions[i], len, &bad, &what) != 0)
            return vk_err_set("caption %zu: %s at byte %zu", i, what, bad);
        total += len;
    }
    uint32_t *cps = malloc((total ? total : 1) * sizeof *cps);
    size_t *line_start = malloc((n + 1) * sizeof *line_start);
    char **res = calloc(n ? n : 1, sizeof *res);
    if (!cps || !line_start || !res) {
        free(cps);
        free(line_start);
        free(res);
        return vk_err_set("tokenizer: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) cps[k++] = '\n';
        line_start[i] = k;
        const unsigned char *s = (const unsigned char *)captions[i];
        size_t p = 0;
        for (;;) {
            uint32_t c = s[p];
            if (c == 0) break;
            if (c < 0x80) { /* ASCII: the line breaks among it are \n \r VT FF */
                p++;
                if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C) c = ' ';
            } else {
                c = text_utf8_next((const char *)s, &p);
                if (ptb_is_newline(c)) c = ' ';
            }
            cps[k++] = c;
        }
    }
    line_start[n] = k;
    while (k > 0 && text_py_isspace(cps[k - 1])) k--; /* sentences.rstrip() */
    lx L = {cps, k};
    int rc = scan_all(&L, line_start, n, res, pool);
    free(cps);
    free(line_start);
    if (rc != 0) {
        if (!pool)
            for (size_t j = 0; j < n; j++) free(res[j]);
        free(res);
        return -1;
    }
    memcpy(out, res, n * sizeof *out);
    free(res);
    return 0;
}

char *ptb_tokenize(const char *caption) {
    char *out = NULL;
    if (ptb_tokenize_lines(&caption, 1, &out) != 0) return NULL;
    return out;
}
