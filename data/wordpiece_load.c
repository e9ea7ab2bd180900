/* wordpiece_load.c — build a tokenizer from an HF folder (vocab.txt or tokenizer.json, plus the
 * optional tokenizer_config.json, special_tokens_map.json and added_tokens.json). The rules
 * follow transformers v4.43's slow BertTokenizer.from_pretrained and BLIP's added tokens. */
#include "data/wordpiece_impl.h"

#include "util/ds.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define WP_MAX_FILE (256u << 20)   /* vocab.txt of BERT: 230 KB; tokenizer.json: ~700 KB */

/* Special-token roles in transformers' SPECIAL_TOKENS_ATTRIBUTES order for BERT's init (unk,
 * sep, pad, cls, mask), then the ones BLIP adds afterwards (bos) and eos. A token missing from
 * every file is appended in this order, then the additional ones. */
enum { R_UNK, R_SEP, R_PAD, R_CLS, R_MASK, R_BOS, R_EOS, R_COUNT };
static const char *const role_key[R_COUNT] = {"unk_token", "sep_token", "pad_token", "cls_token",
                                              "mask_token", "bos_token", "eos_token"};
static const char *const role_default[R_COUNT] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]",
                                                  "[DEC]", NULL};

typedef struct {
    char *role[R_COUNT];   /* owned; NULL = not given */
    char **additional;     /* stb_ds array of owned strings */
    int have_additional;
    int lower, strip, chinese, clean_up;   /* -1 = not given; strip -1 also = null */
    long long max_len;                     /* -1 = not given */
} wp_cfg;

static void cfg_free(wp_cfg *c) {
    for (int r = 0; r < R_COUNT; r++) free(c->role[r]);
    for (size_t i = 0; i < arrlenu(c->additional); i++) free(c->additional[i]);
    arrfree(c->additional);
}

/* ---- lookups ------------------------------------------------------------------------------ */

int wp_vocab_find(const wordpiece *tok, const char *s) {
    ptrdiff_t idx;
    wp_entry *t = tok->vocab;
    if (!t) return -1;
    stbds_hmget_key_ts(t, sizeof *t, (void *)s, sizeof t->key, &idx, STBDS_HM_STRING);
    return idx < 0 ? -1 : t[idx].value;
}

const wp_added *wp_added_find(const wordpiece *tok, const char *s) {
    for (size_t i = 0; i < arrlenu(tok->added); i++)
        if (strcmp(tok->added[i].content, s) == 0) return &tok->added[i];
    return NULL;
}

const wp_added *wp_added_by_id(const wordpiece *tok, int id) {
    for (size_t i = 0; i < arrlenu(tok->added); i++)
        if (tok->added[i].id == id) return &tok->added[i];
    return NULL;
}

/* len(tokenizer) as transformers computes it: distinct strings over vocab and added tokens;
 * never below max id + 1, so an appended token cannot land on a used id. */
static int next_id(const wordpiece *tok) {
    int n = tok->vocab_size;
    for (size_t i = 0; i < arrlenu(tok->added); i++)
        if (wp_vocab_find(tok, tok->added[i].content) < 0) n++;
    int top = (int)arrlen(tok->id_tok);
    return n > top ? n : top;
}

static void set_id_tok(wordpiece *tok, int id, const char *s) {
    while (arrlen(tok->id_tok) <= id) arrput(tok->id_tok, NULL);
    tok->id_tok[id] = s;
}

/* ---- vocabulary --------------------------------------------------------------------------- */

static int vocab_put(wordpiece *tok, const char *token, int id) {
    int old = wp_vocab_find(tok, token);
    if (old >= 0 && old != id && old < arrlen(tok->id_tok) && tok->id_tok[old] &&
        strcmp(tok->id_tok[old], token) == 0)
        tok->id_tok[old] = NULL;   /* dict semantics: the later line wins, the earlier id has no token */
    ptrdiff_t i = shputi(tok->vocab, token, id);
    set_id_tok(tok, id, tok->vocab[i].key);
    return 0;
}

static int check_utf8(const char *s, size_t n, const char *file) {
    utf8proc_int32_t cp;
    size_t line = 1;
    for (size_t i = 0; i < n;) {
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k < 0) return vk_err_set("%s:%zu: not valid UTF-8 (byte %zu)", file, line, i);
        if (cp == '\n') line++;
        i += (size_t)k;
    }
    return 0;
}

/* vocab.txt: Python's text mode reads "\n", "\r\n" and "\r" as line ends and
 * load_vocab strips the "\n"; id = line index. A NUL would end the C string early: refused. */
static int load_vocab_txt(wordpiece *tok, const char *file) {
    size_t len;
    char *text = vk_read_file(file, &len, WP_MAX_FILE);
    if (!text) return -1;
    int rc = -1;
    if (memchr(text, 0, len)) {
        vk_err_set("%s: contains a NUL byte; not a vocab.txt", file);
        goto done;
    }
    if (check_utf8(text, len, file) != 0) goto done;
    sh_new_arena(tok->vocab);
    int id = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n' && text[e] != '\r') e++;
        size_t next = e;
        if (next < len) next += (text[next] == '\r' && next + 1 < len && text[next + 1] == '\n') ? 2 : 1;
        text[e] = 0;
        if (id >= WP_MAX_ID) {
            vk_err_set("%s: more than %d lines", file, WP_MAX_ID);
            goto done;
        }
        vocab_put(tok, text + i, id++);
        i = next;
    }
    if (id == 0) {
        vk_err_set("%s: empty vocabulary", file);
        goto done;
    }
    tok->vocab_size = (int)shlen(tok->vocab);
    rc = 0;
done:
    free(text);
    return rc;
}

/* ---- JSON helpers ------------------------------------------------------------------------- */

static cJSON *read_json(const char *file) {
    size_t len;
    char *text = vk_read_file(file, &len, WP_MAX_FILE);
    if (!text) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) {
        vk_err_set("%s: not valid JSON", file);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        vk_err_set("%s: not a JSON object", file);
        return NULL;
    }
    return j;
}

static int json_flag(const cJSON *root, const char *key, int *dst, const char *file) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return vk_err_set("%s: \"%s\" must be true, false or null", file, key);
    *dst = cJSON_IsTrue(v);
    return 0;
}

/* A token entry: "text" or {"content": "text", ...} (AddedToken as saved). NULL/absent -> 0
 * with *out untouched; wrong type -> -1. */
static int json_token(const cJSON *v, const char *what, const char *file, char **out) {
    if (!v || cJSON_IsNull(v)) return 0;
    const cJSON *s = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "content") : v;
    if (!cJSON_IsString(s) || !*s->valuestring)
        return vk_err_set("%s: \"%s\" must be a non-empty string or {\"content\": string}", file, what);
    free(*out);
    *out = strdup(s->valuestring);
    return 0;
}

static int json_id(const cJSON *v, const char *what, const char *file, int *id) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= WP_MAX_ID ||
        v->valuedouble != (double)(int)v->valuedouble)
        return vk_err_set("%s: %s: id must be an integer from 0 to %d", file, what, WP_MAX_ID - 1);
    *id = (int)v->valuedouble;
    return 0;
}

/* Roles, additional tokens and flags shared by tokenizer_config.json and special_tokens_map.json. */
static int read_roles(const cJSON *root, const char *file, wp_cfg *c) {
    for (int r = 0; r < R_COUNT; r++)
        if (json_token(cJSON_GetObjectItemCaseSensitive(root, role_key[r]), role_key[r], file, &c->role[r]) != 0)
            return -1;
    const cJSON *add = cJSON_GetObjectItemCaseSensitive(root, "additional_special_tokens");
    if (add && !cJSON_IsNull(add)) {
        if (!cJSON_IsArray(add)) return vk_err_set("%s: \"additional_special_tokens\" must be a list", file);
        for (size_t i = 0; i < arrlenu(c->additional); i++) free(c->additional[i]);
        arrsetlen(c->additional, 0);
        c->have_additional = 1;
        const cJSON *e;
        cJSON_ArrayForEach(e, add) {
            char *s = NULL;
            if (json_token(e, "additional_special_tokens[]", file, &s) != 0) return -1;
            if (s) arrput(c->additional, s);
        }
    }
    return 0;
}

/* ---- added tokens ------------------------------------------------------------------------- */

static int add_token(wordpiece *tok, const char *content, int id, int special, const char *file) {
    wp_added *a = NULL;
    for (size_t i = 0; i < arrlenu(tok->added); i++) {
        wp_added *x = &tok->added[i];
        if (strcmp(x->content, content) == 0) a = x;
        else if (x->id == id)
            return vk_err_set("%s: id %d given to both \"%s\" and \"%s\"", file, id, x->content, content);
    }
    if (a) {
        if (a->id != id)
            return vk_err_set("%s: \"%s\" has id %d here but %d elsewhere", file, content, id, a->id);
        a->special |= special;
        return 0;
    }
    /* An added token may take an id the vocabulary also uses: transformers then decodes that id
     * as the added token (added_tokens_decoder is consulted first), and so do we. */
    wp_added n = {.content = strdup(content), .id = id, .special = special};
    arrput(tok->added, n);
    set_id_tok(tok, id, tok->added[arrlen(tok->added) - 1].content);
    return 0;
}

/* The id a special token string resolves to, adding it when it is nowhere yet. */
static int resolve_special(wordpiece *tok, const char *content, const char *file) {
    for (size_t i = 0; i < arrlenu(tok->added); i++) {
        if (strcmp(tok->added[i].content, content) == 0) {
            tok->added[i].special = 1;
            return tok->added[i].id;
        }
    }
    int id = wp_vocab_find(tok, content);
    if (id < 0) id = next_id(tok);
    if (add_token(tok, content, id, 1, file) != 0) return -1;
    return id;
}

/* ---- tokenizer.json ----------------------------------------------------------------------- */

static int load_tokenizer_json(wordpiece *tok, const char *file, wp_cfg *c) {
    cJSON *root = read_json(file);
    if (!root) return -1;
    int rc = -1;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsObject(model) || (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "WordPiece") == 0))) {
        vk_err_set("%s: \"model\" is not a WordPiece model", file);
        goto done;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab) || !vocab->child) {
        vk_err_set("%s: \"model.vocab\" must be a non-empty {token: id} map", file);
        goto done;
    }
    sh_new_arena(tok->vocab);
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        int id = 0;
        if (json_id(e, e->string, file, &id) != 0) goto done;
        if (id < arrlen(tok->id_tok) && tok->id_tok[id]) {
            vk_err_set("%s: id %d given to both \"%s\" and \"%s\"", file, id, tok->id_tok[id], e->string);
            goto done;
        }
        vocab_put(tok, e->string, id);
    }
    tok->vocab_size = (int)shlen(tok->vocab);
    if (json_token(cJSON_GetObjectItemCaseSensitive(model, "unk_token"), "model.unk_token", file, &c->role[R_UNK]) != 0)
        goto done;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    if (cJSON_IsString(pre)) {
        free(tok->prefix);
        tok->prefix = strdup(pre->valuestring);
    }
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (cJSON_IsNumber(mc) && mc->valuedouble >= 1 && mc->valuedouble < INT_MAX) tok->max_chars = (int)mc->valuedouble;

    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    cJSON_ArrayForEach(e, added) {
        char *content = NULL;
        int id = 0;
        if (json_token(e, "added_tokens[].content", file, &content) != 0) goto done;
        if (!content || json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), "added_tokens[].id", file, &id) != 0) {
            free(content);
            if (!content) vk_err_set("%s: added_tokens entry without content", file);
            goto done;
        }
        int r = add_token(tok, content, id, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special")), file);
        free(content);
        if (r != 0) goto done;
    }
    /* BertNormalizer flags; tokenizer_config.json, read later, takes precedence */
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (cJSON_IsObject(norm)) {
        if (json_flag(norm, "lowercase", &c->lower, file) || json_flag(norm, "handle_chinese_chars", &c->chinese, file) ||
            json_flag(norm, "strip_accents", &c->strip, file))
            goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

/* ---- the optional config files ------------------------------------------------------------ */

static int load_tokenizer_config(wordpiece *tok, const char *file, wp_cfg *c) {
    cJSON *root = read_json(file);
    if (!root) return -1;
    int rc = -1;
    if (json_flag(root, "do_lower_case", &c->lower, file) || json_flag(root, "strip_accents", &c->strip, file) ||
        json_flag(root, "tokenize_chinese_chars", &c->chinese, file) ||
        json_flag(root, "clean_up_tokenization_spaces", &c->clean_up, file))
        goto done;
    int basic = 1;
    if (json_flag(root, "do_basic_tokenize", &basic, file)) goto done;
    if (!basic) {
        vk_err_set("%s: do_basic_tokenize false is not supported (BLIP uses the basic tokenizer)", file);
        goto done;
    }
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(root, "model_max_length");
    if (ml && !cJSON_IsNull(ml)) {
        if (!cJSON_IsNumber(ml) || ml->valuedouble < 0) {
            vk_err_set("%s: \"model_max_length\" must be a non-negative number", file);
            goto done;
        }
        /* transformers writes 1e30 (VERY_LARGE_INTEGER) for "no limit" */
        c->max_len = ml->valuedouble >= INT_MAX ? 0 : (long long)ml->valuedouble;
    }
    if (read_roles(root, file, c) != 0) goto done;
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "added_tokens_decoder");
    if (dec && !cJSON_IsNull(dec)) {
        if (!cJSON_IsObject(dec)) {
            vk_err_set("%s: \"added_tokens_decoder\" must be an object", file);
            goto done;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, dec) {
            char *end = NULL;
            long id = strtol(e->string, &end, 10);
            if (!*e->string || *end || id < 0 || id >= WP_MAX_ID) {
                vk_err_set("%s: added_tokens_decoder key \"%s\" is not an id", file, e->string);
                goto done;
            }
            char *content = NULL;
            if (json_token(e, "added_tokens_decoder content", file, &content) != 0) goto done;
            if (!content) {
                vk_err_set("%s: added_tokens_decoder[%ld] has no content", file, id);
                goto done;
            }
            int r = add_token(tok, content, (int)id, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special")), file);
            free(content);
            if (r != 0) goto done;
        }
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

static int load_special_tokens_map(const char *file, wp_cfg *c) {
    cJSON *root = read_json(file);
    if (!root) return -1;
    int rc = read_roles(root, file, c);
    cJSON_Delete(root);
    return rc;
}

static int load_added_tokens_json(wordpiece *tok, const char *file) {
    cJSON *root = read_json(file);
    if (!root) return -1;
    int rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        int id = 0;
        if (json_id(e, e->string, file, &id) != 0 || add_token(tok, e->string, id, 0, file) != 0) {
            rc = -1;
            break;
        }
    }
    cJSON_Delete(root);
    return rc;
}

/* ---- putting it together ------------------------------------------------------------------ */

static int is_role_or_additional(const wp_cfg *c, const char *s) {
    for (int r = 0; r < R_COUNT; r++)
        if (c->role[r] && strcmp(c->role[r], s) == 0) return 1;
    for (size_t i = 0; i < arrlenu(c->additional); i++)
        if (strcmp(c->additional[i], s) == 0) return 1;
    return 0;
}

static int finish(wordpiece *tok, wp_cfg *c, int fast_file, const char *file) {
    for (int r = 0; r < R_COUNT; r++)
        if (!c->role[r] && role_default[r]) c->role[r] = strdup(role_default[r]);
    /* BLIP: [DEC] is the bos token and [ENC] an additional special token, whatever the files say */
    int has_enc = 0;
    for (size_t i = 0; i < arrlenu(c->additional); i++) has_enc |= strcmp(c->additional[i], "[ENC]") == 0;
    if (!has_enc) arrput(c->additional, strdup("[ENC]"));

    int ids[R_COUNT];
    for (int r = 0; r < R_COUNT; r++) {
        ids[r] = -1;
        if (c->role[r] && (ids[r] = resolve_special(tok, c->role[r], file)) < 0) return -1;
    }
    for (size_t i = 0; i < arrlenu(c->additional); i++)
        if (resolve_special(tok, c->additional[i], file) < 0) return -1;
    if (!wp_added_find(tok, "[DEC]") && wp_vocab_find(tok, "[DEC]") < 0 &&
        add_token(tok, "[DEC]", next_id(tok), 1, file) != 0)
        return -1;
    tok->ids = (wordpiece_special_ids){.unk = ids[R_UNK], .sep = ids[R_SEP], .pad = ids[R_PAD],
                                       .cls = ids[R_CLS], .mask = ids[R_MASK], .bos = ids[R_BOS],
                                       .enc = wordpiece_token_id(tok, "[ENC]")};
    tok->unk_token = strdup(c->role[R_UNK]);

    /* all_special_ids: the roles and the additional tokens (a fast tokenizer.json also skips
     * every added token it marks special). Legacy added tokens (decoded as separate pieces):
     * added tokens that are not special, and additional special tokens beyond the vocabulary. */
    for (int r = 0; r < R_COUNT; r++)
        if (ids[r] >= 0) arrput(tok->special_ids, ids[r]);
    for (size_t i = 0; i < arrlenu(c->additional); i++) arrput(tok->special_ids, wordpiece_token_id(tok, c->additional[i]));
    for (size_t i = 0; i < arrlenu(tok->added); i++) {
        wp_added *a = &tok->added[i];
        int listed = is_role_or_additional(c, a->content);
        if (fast_file && a->special && !listed) arrput(tok->special_ids, a->id);
        int additional = 0;
        for (size_t k = 0; k < arrlenu(c->additional); k++) additional |= strcmp(c->additional[k], a->content) == 0;
        a->legacy = !listed || (additional && a->id >= tok->vocab_size);
        arrput(tok->cut, a->content);
    }

    tok->lower = c->lower < 0 ? 1 : c->lower;
    /* BertTokenizer: strip_accents None follows lowercase; an explicit value wins */
    tok->strip_accents = c->strip < 0 ? tok->lower : c->strip;
    tok->chinese = c->chinese < 0 ? 1 : c->chinese;
    tok->clean_up = c->clean_up < 0 ? 1 : c->clean_up;
    tok->model_max_length = c->max_len < 0 ? 0 : (int)c->max_len;
    tok->size = next_id(tok);
    return 0;
}

static int optional_file(const char *dir, const char *name, char **out) {
    *out = dir ? vk_path_join(dir, name) : NULL;
    if (*out && !vk_file_exists(*out)) {
        free(*out);
        *out = NULL;
    }
    return *out != NULL;
}

wordpiece *wordpiece_load(const char *path) {
    wordpiece *tok = calloc(1, sizeof *tok);
    if (!tok) {
        vk_err_set("%s: out of memory", path);
        return NULL;
    }
    tok->prefix = strdup("##");
    tok->max_chars = 100;
    wp_cfg c = {.lower = -1, .strip = -1, .chinese = -1, .clean_up = -1, .max_len = -1};
    char *dir = NULL, *vocab = NULL, *fast = NULL, *f = NULL;
    int ok = 0;
    if (vk_is_dir(path)) {
        dir = strdup(path);
        if (!optional_file(dir, "vocab.txt", &vocab) && !optional_file(dir, "tokenizer.json", &fast)) {
            vk_err_set("%s: no vocab.txt or tokenizer.json in this folder", path);
            goto done;
        }
    } else {
        size_t n = strlen(path);
        if (n >= 5 && strcmp(path + n - 5, ".json") == 0) fast = strdup(path);
        else vocab = strdup(path);
    }
    if (vocab ? load_vocab_txt(tok, vocab) != 0 : load_tokenizer_json(tok, fast, &c) != 0) goto done;
    const char *main_file = vocab ? vocab : fast;
    if (optional_file(dir, "tokenizer_config.json", &f)) {
        if (load_tokenizer_config(tok, f, &c) != 0) goto done;
        free(f);
    }
    if (optional_file(dir, "special_tokens_map.json", &f)) {
        if (load_special_tokens_map(f, &c) != 0) goto done;
        free(f);
    }
    if (optional_file(dir, "added_tokens.json", &f)) {
        if (load_added_tokens_json(tok, f) != 0) goto done;
        free(f);
    }
    f = NULL;
    if (finish(tok, &c, vocab == NULL, main_file) != 0) goto done;
    ok = 1;
done:
    free(f);
    free(dir);
    free(vocab);
    free(fast);
    cfg_free(&c);
    if (!ok) {
        wordpiece_free(tok);
        return NULL;
    }
    return tok;
}

void wordpiece_free(wordpiece *tok) {
    if (!tok) return;
    shfree(tok->vocab);
    for (size_t i = 0; i < arrlenu(tok->added); i++) free(tok->added[i].content);
    arrfree(tok->added);
    arrfree(tok->id_tok);
    arrfree(tok->cut);
    arrfree(tok->special_ids);
    free(tok->unk_token);
    free(tok->prefix);
    free(tok);
}
