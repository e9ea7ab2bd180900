/* wordpiece.c — WordPiece encoding (greedy longest-match-first), batching and decoding, on top
 * of the basic tokenizer (bert_basic.c) and the tables built by wordpiece_load.c. */
#include "data/wordpiece_impl.h"

#include "data/bert_basic.h"
#include "util/ds.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- queries -------------------------------------------------------------------------------- */

int wordpiece_size(const wordpiece *tok) { return tok->size; }
int wordpiece_vocab_size(const wordpiece *tok) { return tok->vocab_size; }
wordpiece_special_ids wordpiece_specials(const wordpiece *tok) { return tok->ids; }
int wordpiece_model_max_length(const wordpiece *tok) { return tok->model_max_length; }
int wordpiece_clean_up_default(const wordpiece *tok) { return tok->clean_up; }

int wordpiece_token_id(const wordpiece *tok, const char *token) {
    const wp_added *a = wp_added_find(tok, token);
    return a ? a->id : wp_vocab_find(tok, token);
}

const char *wordpiece_id_token(const wordpiece *tok, int64_t id) {
    if (id < 0 || id >= arrlen(tok->id_tok)) return NULL;
    return tok->id_tok[id];
}

int wordpiece_is_special(const wordpiece *tok, int64_t id) {
    for (size_t i = 0; i < arrlenu(tok->special_ids); i++)
        if (tok->special_ids[i] == id) return 1;
    return 0;
}

/* ---- encoding ------------------------------------------------------------------------------- */

static int basic_split(const wordpiece *tok, const char *text, bert_pieces *p) {
    bert_basic_opts o = {.lower = tok->lower, .strip_accents = tok->strip_accents, .chinese = tok->chinese,
                         .specials = tok->cut, .n_specials = arrlenu(tok->cut)};
    return bert_basic_split(&o, text, strlen(text), p);
}

/* convert_tokens_to_ids: added tokens first, then the vocabulary, else [UNK]. */
static int64_t piece_id(const wordpiece *tok, const char *s, int vocab_id) {
    const wp_added *a = wp_added_find(tok, s);
    if (a) return a->id;
    return vocab_id >= 0 ? vocab_id : tok->ids.unk;
}

/* WordpieceTokenizer.tokenize for one word, ids appended to *out. `buf` and `offs` are scratch. */
static void wordpiece_word(const wordpiece *tok, const char *w, int64_t **out, char **buf, size_t **offs) {
    size_t nb = strlen(w), np = strlen(tok->prefix);
    size_t ncp = 0;
    utf8proc_int32_t cp;
    arrsetlen(*offs, 0);
    for (size_t i = 0; i < nb;) {
        if (ncp >= (size_t)tok->max_chars) {
            arrput(*out, tok->ids.unk);   /* longer than max_input_chars_per_word */
            return;
        }
        arrput(*offs, i);   /* byte offset of each code point: pieces end on characters */
        ncp++;
        i += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)w + i, (utf8proc_ssize_t)(nb - i), &cp);
    }
    arrput(*offs, nb);
    const size_t *off = *offs;
    arrsetlen(*buf, np + nb + 1);
    size_t first = arrlenu(*out);
    for (size_t start = 0; start < ncp;) {
        int found = -1;
        size_t end = ncp;
        for (; end > start; end--) {
            size_t pre = start > 0 ? np : 0, len = off[end] - off[start];
            memcpy(*buf, tok->prefix, pre);
            memcpy(*buf + pre, w + off[start], len);
            (*buf)[pre + len] = 0;
            if ((found = wp_vocab_find(tok, *buf)) >= 0) break;
        }
        if (found < 0) {   /* not coverable: the whole word is one [UNK] */
            arrsetlen(*out, first);
            arrput(*out, tok->ids.unk);
            return;
        }
        arrput(*out, piece_id(tok, *buf, found));
        start = end;
    }
}

/* Text -> ids (stb_ds array appended to *out). */
static int tokenize_into(const wordpiece *tok, const char *text, int64_t **out) {
    bert_pieces p;
    if (basic_split(tok, text, &p) != 0) return -1;
    char *buf = NULL;
    size_t *offs = NULL;
    for (size_t i = 0; i < bert_pieces_count(&p); i++) {
        const char *s = bert_pieces_at(&p, i);
        if (p.special[i]) arrput(*out, piece_id(tok, s, wp_vocab_find(tok, s)));
        else wordpiece_word(tok, s, out, &buf, &offs);
    }
    arrfree(buf);
    arrfree(offs);
    bert_pieces_free(&p);
    return 0;
}

int wordpiece_tokenize(const wordpiece *tok, const char *text, int64_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    int64_t *arr = NULL;
    if (tokenize_into(tok, text, &arr) != 0) return -1;
    size_t len = arrlenu(arr);
    if (len) {
        *ids = malloc(len * sizeof **ids);
        if (!*ids) {
            arrfree(arr);
            return vk_err_set("out of memory tokenizing %zu tokens", len);
        }
        memcpy(*ids, arr, len * sizeof **ids);
    }
    *n = len;
    arrfree(arr);
    return 0;
}

int wordpiece_basic_tokenize(const wordpiece *tok, const char *text, char ***words, size_t *n) {
    *words = NULL;
    *n = 0;
    bert_pieces p;
    if (basic_split(tok, text, &p) != 0) return -1;
    size_t cnt = bert_pieces_count(&p);
    char **w = calloc(cnt ? cnt : 1, sizeof *w);
    int ok = w != NULL;
    for (size_t i = 0; ok && i < cnt; i++) ok = (w[i] = strdup(bert_pieces_at(&p, i))) != NULL;
    bert_pieces_free(&p);
    if (!ok) {
        wordpiece_strings_free(w, cnt);
        return vk_err_set("out of memory");
    }
    *words = w;
    *n = cnt;
    return 0;
}

void wordpiece_strings_free(char **words, size_t n) {
    if (!words) return;
    for (size_t i = 0; i < n; i++) free(words[i]);
    free(words);
}

wordpiece_encode_opts wordpiece_encode_defaults(void) {
    return (wordpiece_encode_opts){.add_special_tokens = 1, .max_length = 0, .padding = WORDPIECE_PAD_NONE};
}

int wordpiece_encode(const wordpiece *tok, const char *const *texts, int n, const wordpiece_encode_opts *opts,
                     wordpiece_batch *out) {
    memset(out, 0, sizeof *out);
    wordpiece_encode_opts o = opts ? *opts : wordpiece_encode_defaults();
    if (n < 1) return vk_err_set("encode: no texts");
    if (o.max_length < 0) return vk_err_set("encode: max_length %d is negative", o.max_length);
    if (o.padding == WORDPIECE_PAD_MAX_LENGTH && o.max_length == 0)
        return vk_err_set("encode: padding to max_length needs max_length > 0");
    int nspecial = o.add_special_tokens ? 2 : 0;
    if (o.max_length && o.max_length < nspecial)
        return vk_err_set("encode: max_length %d leaves no room for [CLS] and [SEP]", o.max_length);

    int64_t **rows = calloc((size_t)n, sizeof *rows);   /* stb_ds arrays */
    int *lengths = malloc((size_t)n * sizeof *lengths);
    if (!rows || !lengths) {
        free(rows);
        free(lengths);
        return vk_err_set("encode: out of memory");
    }
    int rc = -1, cols = 0;
    for (int r = 0; r < n; r++) {
        if (!texts[r]) {
            vk_err_set("encode: text %d is NULL", r);
            goto done;
        }
        if (o.add_special_tokens) arrput(rows[r], tok->ids.cls);
        if (tokenize_into(tok, texts[r], &rows[r]) != 0) {
            vk_err_prefix("text %d", r);
            goto done;
        }
        /* truncation keeps the specials: drop tokens from the end of the text */
        if (o.max_length && (int)arrlen(rows[r]) + (nspecial - (o.add_special_tokens ? 1 : 0)) > o.max_length)
            arrsetlen(rows[r], (size_t)(o.max_length - (o.add_special_tokens ? 1 : 0)));
        if (o.add_special_tokens) arrput(rows[r], tok->ids.sep);
        lengths[r] = (int)arrlen(rows[r]);
        if (lengths[r] > cols) cols = lengths[r];
    }
    if (o.padding == WORDPIECE_PAD_MAX_LENGTH) {
        cols = o.max_length;
    } else if (o.padding == WORDPIECE_PAD_NONE) {
        for (int r = 1; r < n; r++)
            if (lengths[r] != lengths[0]) {
                vk_err_set("encode: texts 0 and %d give %d and %d tokens; ask for padding", r, lengths[0], lengths[r]);
                goto done;
            }
    }
    size_t total = (size_t)n * (size_t)cols;
    out->ids = malloc((total ? total : 1) * sizeof *out->ids);
    out->mask = malloc((total ? total : 1) * sizeof *out->mask);
    if (!out->ids || !out->mask) {
        vk_err_set("encode: out of memory");
        goto done;
    }
    for (int r = 0; r < n; r++) {
        int64_t *ids = out->ids + (size_t)r * cols, *mask = out->mask + (size_t)r * cols;
        for (int c = 0; c < cols; c++) {
            int real = c < lengths[r];
            ids[c] = real ? rows[r][c] : tok->ids.pad;
            mask[c] = real;
        }
    }
    out->rows = n;
    out->cols = cols;
    out->lengths = lengths;
    lengths = NULL;
    rc = 0;
done:
    for (int r = 0; r < n; r++) arrfree(rows[r]);
    free(rows);
    free(lengths);
    if (rc != 0) wordpiece_batch_free(out);
    return rc;
}

void wordpiece_batch_free(wordpiece_batch *b) {
    free(b->ids);
    free(b->mask);
    free(b->lengths);
    memset(b, 0, sizeof *b);
}

/* ---- decoding ------------------------------------------------------------------------------- */

static void put_str(char **s, const char *t, size_t n) {
    if (n) memcpy(arraddnptr(*s, n), t, n);
}

/* Python str.replace(from, to) on an stb_ds byte array (no terminator inside). */
static void replace_all(char **s, const char *from, const char *to) {
    size_t nf = strlen(from), nt = strlen(to), n = arrlenu(*s);
    char *r = NULL;
    for (size_t i = 0; i < n;) {
        if (i + nf <= n && memcmp(*s + i, from, nf) == 0) {
            put_str(&r, to, nt);
            i += nf;
        } else {
            arrput(r, (*s)[i]);
            i++;
        }
    }
    arrfree(*s);
    *s = r;
}

/* convert_tokens_to_string: " ".join(tokens).replace(" ##", "").strip() */
static void tokens_to_string(const char **toks, char **dst) {
    char *s = NULL;
    for (size_t i = 0; i < arrlenu(toks); i++) {
        if (i) arrput(s, ' ');
        put_str(&s, toks[i], strlen(toks[i]));
    }
    replace_all(&s, " ##", "");
    size_t n = arrlenu(s), b = 0, e = n;
    utf8proc_int32_t cp;
    while (b < e) {   /* str.strip(): Python whitespace at both ends */
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + b, (utf8proc_ssize_t)(e - b), &cp);
        if (k < 0 || !bert_is_py_space(cp)) break;
        b += (size_t)k;
    }
    while (e > b) {
        size_t k = e - 1;
        while (k > b && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
        if (utf8proc_iterate((const utf8proc_uint8_t *)s + k, (utf8proc_ssize_t)(e - k), &cp) < 0 || !bert_is_py_space(cp))
            break;
        e = k;
    }
    *dst = NULL;
    put_str(dst, s + b, e - b);
    arrfree(s);
}

/* transformers' _decode (slow tokenizer): tokens are grouped into sub-texts, each converted with
 * convert_tokens_to_string; a "legacy" added token ([ENC] in BLIP: an additional special token
 * past the vocabulary) is a sub-text of its own; sub-texts are joined with spaces. */
char *wordpiece_decode(const wordpiece *tok, const int64_t *ids, size_t n, int skip_special_tokens, int clean_up) {
    if (clean_up < 0) clean_up = tok->clean_up;
    const char **cur = NULL;
    char **subs = NULL;   /* stb_ds arrays of NUL-less byte arrays */
    for (size_t i = 0; i < n; i++) {
        if (skip_special_tokens && wordpiece_is_special(tok, ids[i])) continue;
        const wp_added *a = ids[i] >= 0 && ids[i] <= WP_MAX_ID ? wp_added_by_id(tok, (int)ids[i]) : NULL;
        const char *t = a ? a->content : wordpiece_id_token(tok, ids[i]);
        if (!t) t = tok->unk_token;   /* ids_to_tokens.get(index, unk_token) */
        const wp_added *by_text = a ? a : wp_added_find(tok, t);
        if (by_text && by_text->legacy) {
            if (arrlenu(cur)) {
                char *s;
                tokens_to_string(cur, &s);
                if (arrlenu(s)) arrput(subs, s);
                else arrfree(s);
                arrsetlen(cur, 0);
            }
            char *s = NULL;
            put_str(&s, t, strlen(t));
            arrput(subs, s);
        } else {
            arrput(cur, t);
        }
    }
    if (arrlenu(cur)) {
        char *s;
        tokens_to_string(cur, &s);
        arrput(subs, s);
    }
    char *text = NULL;
    for (size_t i = 0; i < arrlenu(subs); i++) {
        if (i) arrput(text, ' ');
        put_str(&text, subs[i], arrlenu(subs[i]));
        arrfree(subs[i]);
    }
    arrfree(subs);
    arrfree(cur);
    if (clean_up) {   /* PreTrainedTokenizerBase.clean_up_tokenization, in its order */
        static const char *const rep[][2] = {{" .", "."},     {" ?", "?"},     {" !", "!"},   {" ,", ","},
                                             {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"},
                                             {" 've", "'ve"}, {" 're", "'re"}};
        for (size_t k = 0; k < sizeof rep / sizeof *rep; k++) replace_all(&text, rep[k][0], rep[k][1]);
    }
    size_t len = arrlenu(text);
    char *res = malloc(len + 1);
    if (res) {
        if (len) memcpy(res, text, len);
        res[len] = 0;
    }
    arrfree(text);
    return res;
}
