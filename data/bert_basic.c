/* bert_basic.c — BERT's BasicTokenizer (see bert_basic.h for the exact steps).
 * Unicode properties come from utf8proc; Python's unicodedata may be a different Unicode
 * version, which only matters for code points assigned in one version and not the other. */
#include "data/bert_basic.h"

#include "util/ds.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- character classes (transformers' tokenization_bert helpers) ------------------------- */

int bert_is_py_space(int32_t cp) {
    if ((cp >= 9 && cp <= 13) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85) return 1;
    if (cp < 0x80) return 0;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

/* _is_whitespace: the four ASCII ones and category Zs. */
static int is_bert_whitespace(int32_t cp) {
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return 1;
    return cp >= 0x80 && utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS;
}

/* _is_control: category C* (Cc Cf Cs Co Cn), except \t \n \r. */
static int is_bert_control(int32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return 0;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CS ||
           c == UTF8PROC_CATEGORY_CO || c == UTF8PROC_CATEGORY_CN;
}

/* _is_punctuation: ASCII 33-47, 58-64, 91-96, 123-126 (so $ + < = > ^ ` | ~ count although
 * Unicode calls them symbols), and category P*. */
static int is_bert_punct(int32_t cp) {
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
        return 1;
    if (cp < 0x80) return 0;
    utf8proc_category_t c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

/* _is_chinese_char: the CJK Unified Ideographs blocks (not kana, not hangul). */
static int is_cjk(int32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* ---- byte buffers --------------------------------------------------------------------------- */

static void put_bytes(char **buf, const char *s, size_t n) {
    if (n == 0) return;
    memcpy(arraddnptr(*buf, n), s, n);
}

static void put_cp(char **buf, int32_t cp) {
    utf8proc_uint8_t tmp[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, tmp);
    put_bytes(buf, (const char *)tmp, (size_t)n);
}

/* Python's str.lower of one character: the simple mapping, except U+0130 (capital I with dot
 * above), whose full lower-case form in SpecialCasing.txt is "i" + U+0307. It is the only
 * unconditional multi-character lower-case mapping; Final_Sigma never applies because the text
 * is lower-cased one character at a time (step 1), leaving no capital sigma for step 4. */
static void put_lower(char **buf, int32_t cp) {
    if (cp == 0x130) {
        put_cp(buf, 'i');
        put_cp(buf, 0x307);
        return;
    }
    put_cp(buf, utf8proc_tolower(cp));
}

/* Length of the longest special token starting at s (0 if none). */
static size_t special_at(const bert_basic_opts *o, const char *s, size_t left) {
    size_t best = 0;
    for (size_t i = 0; i < o->n_specials; i++) {
        size_t n = strlen(o->specials[i]);
        if (n > best && n <= left && memcmp(s, o->specials[i], n) == 0) best = n;
    }
    return best;
}

static int is_special(const bert_basic_opts *o, const char *s, size_t n) {
    for (size_t i = 0; i < o->n_specials; i++)
        if (strlen(o->specials[i]) == n && memcmp(s, o->specials[i], n) == 0) return 1;
    return 0;
}

/* ---- output --------------------------------------------------------------------------------- */

static void push_piece(bert_pieces *out, const char *s, size_t n, int special) {
    if (n == 0) return;   /* whitespace_tokenize(" ".join(...)) drops empty tokens */
    arrput(out->start, arrlenu(out->text));
    put_bytes(&out->text, s, n);
    arrput(out->text, '\0');
    arrput(out->special, (uint8_t)special);
}

/* utf8proc_map over a byte range (no NULs inside: cleaning removed them). */
static int normalize(const char *s, size_t n, int options, char **dst, size_t *dn) {
    utf8proc_uint8_t *m = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &m,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | options));
    if (r < 0) return vk_err_set("Unicode normalisation failed: %s", utf8proc_errmsg(r));
    *dst = (char *)m;
    *dn = (size_t)r;
    return 0;
}

/* Step 4 for one word: lower, strip accents, split punctuation. */
static int split_word(const bert_basic_opts *o, const char *w, size_t n, bert_pieces *out, char **scratch) {
    if (is_special(o, w, n)) {   /* never_split: kept as it is, WordPiece still looks it up */
        push_piece(out, w, n, 0);
        return 0;
    }
    char *norm = NULL;
    size_t nn = n;
    const char *src = w;
    arrsetlen(*scratch, 0);
    if (o->lower) {
        utf8proc_int32_t cp;
        for (size_t i = 0; i < n;) {
            utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)w + i, (utf8proc_ssize_t)(n - i), &cp);
            put_lower(scratch, cp);
            i += (size_t)k;
        }
        src = *scratch;
        nn = arrlenu(*scratch);
    }
    if (o->strip_accents) {
        if (normalize(src, nn, UTF8PROC_DECOMPOSE, &norm, &nn) != 0) return -1;
        src = norm;
    }
    /* drop Mn while splitting on punctuation: each punctuation char is its own piece */
    char *cur = NULL;
    utf8proc_int32_t cp;
    for (size_t i = 0; i < nn;) {
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)src + i, (utf8proc_ssize_t)(nn - i), &cp);
        if (o->strip_accents && utf8proc_category(cp) == UTF8PROC_CATEGORY_MN) {
            i += (size_t)k;
            continue;
        }
        if (is_bert_punct(cp)) {
            push_piece(out, cur, arrlenu(cur), 0);
            arrsetlen(cur, 0);
            push_piece(out, src + i, (size_t)k, 0);
        } else {
            put_bytes(&cur, src + i, (size_t)k);
        }
        i += (size_t)k;
    }
    push_piece(out, cur, arrlenu(cur), 0);
    arrfree(cur);
    free(norm);
    return 0;
}

/* Step 3 for a segment between special tokens. */
static int split_segment(const bert_basic_opts *o, const char *s, size_t n, bert_pieces *out) {
    char *clean = NULL, *scratch = NULL, *nfc = NULL;
    size_t nfc_len = 0;
    int rc = -1;
    utf8proc_int32_t cp;
    for (size_t i = 0; i < n;) {
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        i += (size_t)k;
        if (cp == 0 || cp == 0xFFFD || is_bert_control(cp)) continue;
        if (is_bert_whitespace(cp)) {
            arrput(clean, ' ');
        } else if (o->chinese && is_cjk(cp)) {
            arrput(clean, ' ');
            put_cp(&clean, cp);
            arrput(clean, ' ');
        } else {
            put_cp(&clean, cp);
        }
    }
    if (arrlenu(clean) == 0) {
        rc = 0;
        goto done;
    }
    if (normalize(clean, arrlenu(clean), UTF8PROC_COMPOSE, &nfc, &nfc_len) != 0) goto done;
    /* str.split(): runs of whitespace separate words */
    size_t w0 = 0;
    for (size_t i = 0; i <= nfc_len;) {
        utf8proc_ssize_t k = 1;
        int space = 1;
        if (i < nfc_len) {
            k = utf8proc_iterate((const utf8proc_uint8_t *)nfc + i, (utf8proc_ssize_t)(nfc_len - i), &cp);
            space = bert_is_py_space(cp);
        }
        if (space) {
            if (i > w0 && split_word(o, nfc + w0, i - w0, out, &scratch) != 0) goto done;
            w0 = i + (size_t)k;
        }
        i += (size_t)k;
    }
    rc = 0;
done:
    arrfree(clean);
    arrfree(scratch);
    free(nfc);
    return rc;
}

int bert_basic_split(const bert_basic_opts *o, const char *text, size_t len, bert_pieces *out) {
    memset(out, 0, sizeof *out);
    utf8proc_int32_t cp;
    for (size_t i = 0; i < len;) {
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k < 0) return vk_err_set("text is not valid UTF-8 (byte %zu)", i);
        i += (size_t)k;
    }
    /* Step 1: lower-case outside special tokens. */
    char *low = NULL;
    if (o->lower) {
        for (size_t i = 0; i < len;) {
            size_t sp = special_at(o, text + i, len - i);
            if (sp) {
                put_bytes(&low, text + i, sp);
                i += sp;
                continue;
            }
            utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
            put_lower(&low, cp);
            i += (size_t)k;
        }
    } else {
        put_bytes(&low, text, len);
    }
    /* Step 2: cut out special tokens; step 3-4 on what lies between. */
    size_t n = arrlenu(low), seg = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t sp = special_at(o, low + i, n - i);
        if (!sp) {
            i++;   /* special tokens start at a character boundary of valid UTF-8 anyway */
            continue;
        }
        rc = split_segment(o, low + seg, i - seg, out);
        push_piece(out, low + i, sp, 1);
        i += sp;
        seg = i;
    }
    /* low is NULL for an empty text: no pointer arithmetic on it (UB even with offset 0) */
    if (rc == 0) rc = split_segment(o, low ? low + seg : "", n - seg, out);
    arrfree(low);
    if (rc != 0) bert_pieces_free(out);
    return rc;
}

void bert_pieces_free(bert_pieces *p) {
    arrfree(p->text);
    arrfree(p->start);
    arrfree(p->special);
}

size_t bert_pieces_count(const bert_pieces *p) { return arrlenu(p->start); }

const char *bert_pieces_at(const bert_pieces *p, size_t i) { return p->text + p->start[i]; }
