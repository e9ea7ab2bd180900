/* json_scan.c — validating JSON reader without a tree; see json_scan.h for what it accepts. */
#include "eval/json_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------------ validation */

typedef struct {
    uint32_t start, end; /* offsets of a container's '{' / '[' and just past its close */
} ix_entry;

struct json_index {
    ix_entry *e; /* in order of start (the order validation opens them) */
    size_t n, cap;
    size_t cursor; /* where the last look-up ended: navigation mostly moves forward */
    int shared;    /* e belongs to another index (json_index_share) */
};

void json_index_free(json_index *ix) {
    if (!ix) return;
    if (!ix->shared) free(ix->e);
    free(ix);
}

json_index *json_index_share(const json_index *ix) {
    json_index *c = ix ? malloc(sizeof *c) : NULL;
    if (!c) return NULL;
    *c = *ix;
    c->cursor = 0;
    c->shared = 1;
    return c;
}

/* JSON's whitespace bytes: one look-up instead of four compares. */
static const unsigned char ws_tab[256] = {[' '] = 1, ['\n'] = 1, ['\r'] = 1, ['\t'] = 1};

static inline size_t skip_ws(const unsigned char *s, size_t i, size_t len) {
    while (i < len && ws_tab[s[i]]) i++;
    return i;
}

/* Bytes that continue a string without a closer look: printable ASCII except '"' and '\\'. */
static const unsigned char str_plain[256] = {
#define R8(x) x, x, x, x, x, x, x, x
    R8(0), R8(0), R8(0), R8(0),                                        /* 0x00-0x1f: control */
    1, 1, 0, 1, 1, 1, 1, 1, R8(1), R8(1), R8(1),                       /* 0x20-0x3f, '"' = 0x22 */
    R8(1), R8(1), R8(1), 1, 1, 1, 1, 0, 1, 1, 1,                       /* 0x40-0x5f, '\\' = 0x5c */
    R8(1), R8(1), R8(1), R8(1),                                        /* 0x60-0x7f */
#undef R8
};

/* Strings are validated 8 bytes a step (SWAR). ONES * b: b in every byte. any_zero flags a zero
 * byte exactly at the lowest one: a borrow can only flag bytes above a true zero. */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
static inline uint64_t load8(const unsigned char *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}
static inline uint64_t any_zero(uint64_t x) { return (x - ONES) & ~x & HIGHS; }
/* Any of: '"', '\\', a control byte (< 0x20), a byte >= 0x80 (str_plain's zeros): a byte's high
 * bit set for each. Only bytes above a flagged one can be flagged wrongly (a borrow), so the
 * lowest set bit is exact. */
static inline uint64_t special8(uint64_t x) {
    return (any_zero(x ^ (ONES * '"')) | any_zero(x ^ (ONES * '\\')) | ((x - ONES * 0x20) & ~x) | x) & HIGHS;
}

#ifdef __SSE2__
/* Bit k set when byte k of p[0..16) is '"', '\\', a control byte or >= 0x80 (a signed compare
 * with 0x20 catches both): a string's 16 bytes checked in a few instructions. */
static inline unsigned special16(const unsigned char *p) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
                             _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Bytes of a number's text: digits, '-', '+', '.', 'e', 'E' (one look-up instead of six compares). */
static const unsigned char num_char[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['-'] = 1, ['+'] = 1, ['.'] = 1, ['e'] = 1, ['E'] = 1,
};

static int hex4(const unsigned char *p, unsigned *out) {
    unsigned x = 0;
    for (int k = 0; k < 4; k++) {
        unsigned c = p[k], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        x = x << 4 | d;
    }
    *out = x;
    return 0;
}

/* One UTF-8 sequence starting at s[i] (a byte >= 0x80): its length, 0 when invalid (overlong
 * forms, surrogates and code points past U+10FFFF are invalid, as for utf8proc). */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t len) {
    unsigned c = s[i];
    if (c >= 0xC2 && c <= 0xDF) return i + 1 < len && (s[i + 1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (i + 2 >= len || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[i + 1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[i + 1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (i + 3 >= len || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && s[i + 1] < 0x90) return 0;
        if (c == 0xF4 && s[i + 1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

/* The rest of a string from s[i] (past its opening quote, or a run of plain bytes): the
 * offset past its closing quote, or SIZE_MAX when it is not valid. */
static size_t v_string_rest(const unsigned char *s, size_t i, size_t len) {
    for (;;) {
        while (i + 8 <= len && !special8(load8(s + i))) i += 8;
        while (i < len && str_plain[s[i]]) i++;
        if (i >= len) return SIZE_MAX;
        unsigned c = s[i];
        if (c == '"') return i + 1;
        if (c < 0x20) return SIZE_MAX; /* raw control character: cJSON's business */
        if (c >= 0x80) {
            size_t n = utf8_seq(s, i, len);
            if (!n) return SIZE_MAX;
            i += n;
            continue;
        }
        /* backslash */
        if (i + 1 >= len) return SIZE_MAX;
        c = s[i + 1];
        if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
            i += 2;
            continue;
        }
        if (c != 'u' || i + 6 > len) return SIZE_MAX;
        unsigned u;
        if (hex4(s + i + 2, &u) != 0 || u == 0 || (u >= 0xDC00 && u <= 0xDFFF)) return SIZE_MAX;
        i += 6;
        if (u >= 0xD800 && u <= 0xDBFF) { /* needs its low half */
            unsigned lo;
            if (i + 6 > len || s[i] != '\\' || s[i + 1] != 'u' || hex4(s + i + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                return SIZE_MAX;
            i += 6;
        }
    }
}

/* String opening at s[i]: the offset past its closing quote, or SIZE_MAX when it is not valid.
 * Inlined for its common case, a plain string closed within a few 8-byte steps (the call and
 * its register saves cost as much as the bytes of a short key); anything else goes on in
 * v_string_rest. */
static inline size_t v_string(const unsigned char *s, size_t i, size_t len) {
    i++;
#if defined(__SSE2__)
    while (i + 16 <= len) {
        unsigned m = special16(s + i);
        if (m) {
            i += (size_t)__builtin_ctz(m); /* the first byte that needs a look */
            return s[i] == '"' ? i + 1 : v_string_rest(s, i, len);
        }
        i += 16;
    }
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (i + 8 <= len) {
        uint64_t m = special8(load8(s + i));
        if (m) {
            i += (size_t)__builtin_ctzll(m) / 8; /* the first byte that needs a look */
            return s[i] == '"' ? i + 1 : v_string_rest(s, i, len);
        }
        i += 8;
    }
#endif
    return v_string_rest(s, i, len);
}

/* Number starting at s[i]: the offset past it, or SIZE_MAX. */
static size_t v_number(const unsigned char *s, size_t i, size_t len) {
    size_t start = i;
    if (i < len && s[i] == '-') i++;
    if (i >= len) return SIZE_MAX;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    } else {
        return SIZE_MAX;
    }
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || s[i] < '0' || s[i] > '9') return SIZE_MAX;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= len || s[i] < '0' || s[i] > '9') return SIZE_MAX;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i - start > 63) return SIZE_MAX; /* cJSON reads at most 63 characters of a number */
    return i;
}

/* Record the container opening at offset at; returns its slot (or SIZE_MAX without an index). */
static size_t ix_open(json_index **ixp, size_t at) {
    json_index *ix = *ixp;
    if (!ix) return SIZE_MAX;
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 4096;
        ix_entry *e = realloc(ix->e, cap * sizeof *e);
        if (!e) { /* no index then: navigation scans */
            json_index_free(ix);
            *ixp = NULL;
            return SIZE_MAX;
        }
        ix->e = e;
        ix->cap = cap;
    }
    ix->e[ix->n].start = (uint32_t)at;
    return ix->n++;
}

static size_t v_literal(const unsigned char *s, size_t i, size_t len, const char *lit, size_t n) {
    if (len - i < n || memcmp(s + i, lit, n) != 0) return SIZE_MAX;
    return i + n;
}

/* The whole text, one loop over an explicit stack of open containers instead of a call per
 * value (the call and the state kept in memory were half of the cost); *ixp (or NULL) gets
 * every container's span and may be dropped (NULL) when memory runs out. */
static int validate(const unsigned char *s, size_t len, json_index **ixp, size_t *root) {
    size_t slot[JSON_SCAN_MAX_DEPTH];
    unsigned char close[JSON_SCAN_MAX_DEPTH]; /* '}' or ']' */
    size_t depth = 0;
    size_t i = skip_ws(s, 0, len), r = i;
value:
    if (i >= len) return -1;
    switch (s[i]) {
    case '{':
    case '[':
        if (depth >= JSON_SCAN_MAX_DEPTH) return -1;
        slot[depth] = ix_open(ixp, i);
        close[depth] = s[i] == '{' ? '}' : ']';
        depth++;
        i = skip_ws(s, i + 1, len);
        if (i < len && s[i] == close[depth - 1]) {
            i++;
            goto closed;
        }
        if (close[depth - 1] == '}') goto key;
        goto value;
    case '"': i = v_string(s, i, len); break;
    case 't': i = v_literal(s, i, len, "true", 4); break;
    case 'f': i = v_literal(s, i, len, "false", 5); break;
    case 'n': i = v_literal(s, i, len, "null", 4); break;
    default: i = v_number(s, i, len); break;
    }
    if (i == SIZE_MAX) return -1;
after:
    if (depth == 0) goto done;
    i = skip_ws(s, i, len);
    if (i >= len) return -1;
    if (s[i] == ',') {
        i = skip_ws(s, i + 1, len);
        if (close[depth - 1] == '}') goto key;
        goto value;
    }
    if (s[i] != close[depth - 1]) return -1;
    i++;
closed:
    depth--;
    if (*ixp && slot[depth] != SIZE_MAX) (*ixp)->e[slot[depth]].end = (uint32_t)i;
    goto after;
key:
    if (i >= len || s[i] != '"' || (i = v_string(s, i, len)) == SIZE_MAX) return -1;
    i = skip_ws(s, i, len);
    if (i >= len || s[i] != ':') return -1;
    i = skip_ws(s, i + 1, len);
    goto value;
done:
    if (skip_ws(s, i, len) != len) return -1;
    *root = r;
    return 0;
}

int json_scan_validate(const char *s, size_t len, size_t *root) {
    json_index *ix = NULL;
    return validate((const unsigned char *)s, len, &ix, root);
}

int json_scan_validate_indexed(const char *s, size_t len, size_t *root, json_index **ix) {
    json_index *x = len < UINT32_MAX ? calloc(1, sizeof *x) : NULL;
    *ix = NULL;
    if (validate((const unsigned char *)s, len, &x, root) != 0) {
        json_index_free(x);
        return -1;
    }
    *ix = x;
    return 0;
}

/* ------------------------------------------------------------------ navigation (validated text) */

static size_t ws(json_text t, size_t i) {
    while (i < t.len && ws_tab[(unsigned char)t.s[i]]) i++;
    return i;
}

/* The first '"' or '\\' at or after i inside a validated string (there is one). With SSE2, 16
 * bytes a step where the text has them (a byte loop otherwise: 8-byte SWAR steps were tried and
 * cost more than the loop for VQA's few-byte strings). */
static inline size_t quote_or_backslash(json_text t, size_t i) {
    const char *s = t.s;
#ifdef __SSE2__
    for (; i + 16 <= t.len; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
        if (m) return i + (size_t)__builtin_ctz(m);
    }
#endif
    while (s[i] != '"' && s[i] != '\\') i++;
    return i;
}

/* Offset past the closing quote of the string opening at i (validated: it has one); *escaped
 * (when not NULL) = whether it holds a backslash. */
static inline size_t str_end_esc(json_text t, size_t i, int *escaped) {
    int esc = 0;
    i = quote_or_backslash(t, i + 1);
    while (t.s[i] == '\\') { /* an escape: the next byte never closes the string */
        esc = 1;
        i = quote_or_backslash(t, i + 2);
    }
    if (escaped) *escaped = esc;
    return i + 1;
}

static inline size_t str_end(json_text t, size_t i) { return str_end_esc(t, i, NULL); }

/* End of the container at v from the index: a galloping search from the cursor. */
static size_t ix_end(json_index *ix, size_t v) {
    const ix_entry *e = ix->e;
    size_t n = ix->n, lo, hi; /* the slot is in [lo, hi) */
    size_t c = ix->cursor < n ? ix->cursor : n - 1;
    if (e[c].start == v) { /* the usual case: the container after the last one looked up */
        ix->cursor = c + 1;
        return e[c].end;
    }
    if (e[c].start < v) {
        size_t step = 1;
        lo = c + 1;
        while (lo + step < n && e[lo + step - 1].start < v) step *= 2;
        hi = lo + step < n ? lo + step : n;
    } else {
        size_t step = 1;
        hi = c;
        while (hi > step && e[hi - step].start > v) step *= 2;
        lo = hi > step ? hi - step : 0;
    }
    while (lo < hi) { /* first slot with start >= v */
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].start < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= n || e[lo].start != v) return SIZE_MAX; /* not a container start: scan */
    ix->cursor = lo + 1; /* the next look-up is usually a later container */
    return e[lo].end;
}

int json_type(json_text t, size_t v) {
    if (v == JSON_NONE) return JT_NONE;
    switch (t.s[v]) {
    case '{': return JT_OBJECT;
    case '[': return JT_ARRAY;
    case '"': return JT_STRING;
    case 't': return JT_TRUE;
    case 'f': return JT_FALSE;
    case 'n': return JT_NULL;
    default: return JT_NUMBER;
    }
}

static size_t json_end_any(json_text t, size_t v);

/* The usual container (the one at the index's cursor) without a call; the rest in json_end_any. */
size_t json_end(json_text t, size_t v) {
    json_index *ix = t.ix;
    if (ix && (t.s[v] == '{' || t.s[v] == '[') && ix->cursor < ix->n && ix->e[ix->cursor].start == v)
        return ix->e[ix->cursor++].end;
    return json_end_any(t, v);
}

static size_t json_end_any(json_text t, size_t v) {
    const char *s = t.s;
    switch (s[v]) {
    case '"': return str_end(t, v);
    case 't':
    case 'n': return v + 4;
    case 'f': return v + 5;
    case '{':
    case '[': {
        size_t end = t.ix ? ix_end(t.ix, v) : SIZE_MAX;
        if (end != SIZE_MAX) return end;
        size_t depth = 0, i = v;
        for (;;) {
            /* jump to the next character that matters */
            while (s[i] != '"' && s[i] != '{' && s[i] != '}' && s[i] != '[' && s[i] != ']') i++;
            char c = s[i];
            if (c == '"') {
                i = str_end(t, i);
                continue;
            }
            i++;
            if (c == '{' || c == '[') {
                depth++;
            } else if (--depth == 0) {
                return i;
            }
        }
    }
    default: {
        size_t i = v;
        while (i < t.len && num_char[(unsigned char)s[i]]) i++;
        return i;
    }
    }
}

/* From a member's key offset to its value. */
size_t json_member_value(json_text t, size_t key) {
    size_t i = ws(t, str_end(t, key));
    return ws(t, i + 1); /* past ':' */
}

size_t json_member_first(json_text t, size_t obj) {
    if (json_type(t, obj) != JT_OBJECT) return JSON_NONE;
    size_t i = ws(t, obj + 1);
    return t.s[i] == '}' ? JSON_NONE : i;
}

size_t json_member_next(json_text t, size_t key) {
    size_t i = ws(t, json_end(t, json_member_value(t, key)));
    return t.s[i] == ',' ? ws(t, i + 1) : JSON_NONE;
}

size_t json_first(json_text t, size_t c) {
    int ty = json_type(t, c);
    if (ty == JT_OBJECT) {
        size_t k = json_member_first(t, c);
        return k == JSON_NONE ? JSON_NONE : json_member_value(t, k);
    }
    if (ty != JT_ARRAY) return JSON_NONE;
    size_t i = ws(t, c + 1);
    return t.s[i] == ']' ? JSON_NONE : i;
}

size_t json_next(json_text t, size_t v) {
    size_t i = ws(t, json_end(t, v));
    if (t.s[i] != ',') return JSON_NONE;
    i = ws(t, i + 1);
    if (t.s[i] != '"') return i;
    /* a string: an array element, or the key of the next member of an object */
    size_t j = ws(t, str_end(t, i));
    return t.s[j] == ':' ? ws(t, j + 1) : i;
}

size_t json_count(json_text t, size_t c) {
    size_t n = 0;
    for (size_t v = json_first(t, c); v != JSON_NONE; v = json_next(t, v)) n++;
    return n;
}

/* Does the key string at k equal key? Escaped keys are decoded first (rare). */
static int key_eq(json_text t, size_t k, const char *key, size_t klen) {
    const char *p = t.s + k + 1;
    size_t n = 0;
    while (p[n] != '"' && p[n] != '\\') n++;
    if (p[n] == '"') return n == klen && memcmp(p, key, klen) == 0;
    size_t dl = json_str_len(t, k);
    if (dl != klen) return 0;
    char *buf = malloc(dl + 1);
    if (!buf) return 0;
    json_str_decode(t, k, buf);
    int eq = memcmp(buf, key, klen) == 0;
    free(buf);
    return eq;
}

void json_get_many(json_text t, size_t obj, const char *const *keys, size_t *out, int n) {
    size_t klen[16];
    int left = n;
    for (int j = 0; j < n; j++) {
        out[j] = JSON_NONE;
        klen[j] = strlen(keys[j]);
    }
    if (obj == JSON_NONE || t.s[obj] != '{') return; /* json_member_first, inlined */
    size_t first = ws(t, obj + 1);
    for (size_t k = t.s[first] == '}' ? JSON_NONE : first; k != JSON_NONE && left > 0;) {
        /* the key's raw text, read once for all the wanted keys */
        const char *p = t.s + k + 1;
        size_t len = quote_or_backslash(t, k + 1) - (k + 1);
        int escaped = p[len] == '\\';
        size_t key_end = escaped ? str_end(t, k) : k + len + 2;
        size_t val = ws(t, ws(t, key_end) + 1); /* past ':' */
        for (int j = 0; j < n; j++)
            if (out[j] == JSON_NONE && (escaped ? key_eq(t, k, keys[j], klen[j])
                                                : len == klen[j] && memcmp(p, keys[j], len) == 0)) {
                out[j] = val;
                left--;
            }
        if (!left) break; /* found them all: no need to skip this value */
        size_t i = ws(t, json_end(t, val));
        k = t.s[i] == ',' ? ws(t, i + 1) : JSON_NONE;
    }
}

size_t json_get(json_text t, size_t obj, const char *key) {
    size_t v;
    json_get_many(t, obj, &key, &v, 1);
    return v;
}

/* ------------------------------------------------------------------ strings and numbers */

json_text json_str_raw(json_text t, size_t v, int *escaped) {
    size_t e = str_end_esc(t, v, escaped);
    json_text r = {t.s + v + 1, e - v - 2, NULL};
    return r;
}

/* Decode (out != NULL) or measure string v. */
static size_t decode(json_text t, size_t v, char *out) {
    const char *s = t.s + v + 1;
    size_t i = 0, o = 0;
    for (;;) {
        char c = s[i];
        if (c == '"') break;
        if (c != '\\') {
            if (out) out[o] = c;
            o++;
            i++;
            continue;
        }
        char e = s[i + 1];
        if (e != 'u') {
            char d = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
            if (out) out[o] = d;
            o++;
            i += 2;
            continue;
        }
        unsigned u, lo;
        hex4((const unsigned char *)s + i + 2, &u);
        i += 6;
        if (u >= 0xD800 && u <= 0xDBFF) {
            hex4((const unsigned char *)s + i + 2, &lo);
            i += 6;
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        }
        unsigned char b[4];
        int n;
        if (u < 0x80) {
            b[0] = (unsigned char)u;
            n = 1;
        } else if (u < 0x800) {
            b[0] = (unsigned char)(0xC0 | (u >> 6));
            b[1] = (unsigned char)(0x80 | (u & 0x3F));
            n = 2;
        } else if (u < 0x10000) {
            b[0] = (unsigned char)(0xE0 | (u >> 12));
            b[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
            b[2] = (unsigned char)(0x80 | (u & 0x3F));
            n = 3;
        } else {
            b[0] = (unsigned char)(0xF0 | (u >> 18));
            b[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3F));
            b[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
            b[3] = (unsigned char)(0x80 | (u & 0x3F));
            n = 4;
        }
        if (out) memcpy(out + o, b, (size_t)n);
        o += (size_t)n;
    }
    if (out) out[o] = 0;
    return o;
}

size_t json_str_len(json_text t, size_t v) { return decode(t, v, NULL); }
size_t json_str_decode(json_text t, size_t v, char *out) { return decode(t, v, out); }

double json_number(json_text t, size_t v) {
    const char *s = t.s + v;
    /* plain integers of up to 15 digits are exact in a double: no strtod needed (and no
     * json_end first: the digits end where a byte that is not a number's ends them) */
    size_t neg = s[0] == '-', i = neg, lim = t.len - v;
    uint64_t x = 0;
    while (i < lim && i - neg < 16 && s[i] >= '0' && s[i] <= '9') x = x * 10 + (uint64_t)(s[i++] - '0');
    if (i - neg <= 15 && (i == lim || !num_char[(unsigned char)s[i]])) return neg ? -(double)x : (double)x;
    size_t n = json_end(t, v) - v;
    char buf[64]; /* validated: at most 63 characters */
    memcpy(buf, s, n);
    buf[n] = 0;
    return strtod(buf, NULL);
}
