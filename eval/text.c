/* text.c — UTF-8 decoding and the Python/Java string rules the official evaluators rely on. */
#include "eval/text.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

uint32_t text_utf8_next(const char *s, size_t *i) {
    const unsigned char *p = (const unsigned char *)s + *i;
    uint32_t c = p[0];
    if (c < 0x80) {
        *i += 1;
        return c;
    }
    if (c < 0xE0) {
        *i += 2;
        return ((c & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (c < 0xF0) {
        *i += 3;
        return ((c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    }
    *i += 4;
    return ((c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) | ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}

int text_utf8_put(char *buf, uint32_t cp) {
    unsigned char *b = (unsigned char *)buf;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int text_utf8_check(const char *s, size_t len, size_t *bad, const char **what) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* eight ASCII bytes without a NUL at a time: a byte >= 0x80 or a zero byte (which
         * borrows) sets a high bit, and then the loop below looks at them one by one */
        while (i + 8 <= len) {
            uint64_t x;
            memcpy(&x, p + i, 8);
            if (((x - 0x0101010101010101ull) | x) & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= len) break;
        unsigned c = p[i];
        if (c == 0) {
            *bad = i;
            *what = "NUL character";
            return -1;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        /* utf8proc_iterate rejects overlong forms, surrogates and code points > U+10FFFF. */
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0) {
            *bad = i;
            *what = "invalid UTF-8";
            return -1;
        }
        i += (size_t)n;
    }
    return 0;
}

int text_py_isspace(uint32_t c) {
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    if (c < 0x85) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

void text_py_strip(const char *s, size_t len, size_t *start, size_t *out_len) {
    size_t a = 0, b = len;
    while (a < b) {
        size_t j = a;
        uint32_t c = text_utf8_next(s, &j);
        if (!text_py_isspace(c)) break;
        a = j;
    }
    while (b > a) {
        /* step back to the start of the last code point */
        size_t k = b - 1;
        while (k > a && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
        size_t j = k;
        uint32_t c = text_utf8_next(s, &j);
        if (!text_py_isspace(c)) break;
        b = k;
    }
    *start = a;
    *out_len = b - a;
}

/* "Cased" and "case-ignorable" in the sense of the Unicode final-sigma condition. */
static int is_cased(uint32_t c) {
    return utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
           utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}
static int is_case_ignorable(uint32_t c) {
    if (c == '\'' || c == '.' || c == ':' || c == '^' || c == '`' || c == 0xB7 || c == 0x2019) return 1;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

char *text_lower(const char *s, size_t len) {
    /* U+0130 grows from 2 to 3 bytes; nothing else grows by more than that ratio. */
    char *out = malloc(len * 2 + 1);
    if (!out) return NULL;
    size_t i = 0, o = 0;
    int any_upper = 0;
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c >= 0x80 || (c >= 'A' && c <= 'Z')) {
            any_upper = 1;
            break;
        }
    }
    if (!any_upper) {
        memcpy(out, s, len);
        out[len] = 0;
        return out;
    }
    while (i < len) {
        size_t at = i;
        uint32_t c = text_utf8_next(s, &i);
        if (c < 0x80) {
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            continue;
        }
        if (c == 0x130) { /* LATIN CAPITAL I WITH DOT ABOVE -> i + COMBINING DOT ABOVE */
            out[o++] = 'i';
            o += (size_t)text_utf8_put(out + o, 0x307);
            continue;
        }
        if (c == 0x3A3) { /* GREEK CAPITAL SIGMA: final form at the end of a word */
            int before = 0, after = 0;
            size_t j = at;
            while (j > 0) {
                size_t k = j - 1;
                while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
                size_t t = k;
                uint32_t p = text_utf8_next(s, &t);
                j = k;
                if (is_case_ignorable(p)) continue;
                before = is_cased(p);
                break;
            }
            size_t t = i;
            while (t < len) {
                uint32_t q = text_utf8_next(s, &t);
                if (is_case_ignorable(q)) continue;
                after = is_cased(q);
                break;
            }
            o += (size_t)text_utf8_put(out + o, before && !after ? 0x3C2 : 0x3C3);
            continue;
        }
        o += (size_t)text_utf8_put(out + o, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
    }
    out[o] = 0;
    return out;
}
