/* caption_ngrams.c — split, intern and count the 1..4-grams of every caption once, for BLEU and
 * CIDEr-D. Words follow Python's str.split() (any Unicode whitespace), as both official scorers
 * use it. Hash maps are stb_ds. */
#include "eval/ngrams_internal.h"
#include "eval/text.h"
#include "util/error.h"

#include "util/ds.h"
#include <stdlib.h>
#include <string.h>

/* Open-addressing tables sized to powers of two, probed linearly; a slot holds an id + 1 (0 =
 * empty). They replace stb_ds maps, whose generic hashing and the copy of every word into a
 * NUL-terminated key were most of the scoring time. */
typedef struct {
    uint32_t *slot;
    size_t mask, used;
} id_table;

static int table_init(id_table *t, size_t expect) {
    size_t cap = 1024;
    while (cap < expect * 2) cap *= 2;
    t->slot = calloc(cap, sizeof *t->slot);
    t->mask = cap - 1;
    t->used = 0;
    return t->slot ? 0 : -1;
}

/* Words: hash of the bytes; text in one pool (offsets while it grows). */
typedef struct {
    id_table t;
    uint32_t *hash; /* per word id */
    size_t *off;    /* per word id: offset of its text in pool (NUL-terminated) */
    uint32_t *len;  /* per word id */
    size_t n, cap;  /* ids 1..n-1 in use (0 = no word) */
    char *pool;
    size_t pool_len, pool_cap;
} word_table;

static uint32_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (size_t k = 0; k < n; k++) h = (h ^ (unsigned char)s[k]) * 0x100000001B3ull;
    return (uint32_t)(h ^ h >> 32);
}

/* Grow a table to twice its size, placing ids by their hash (from hash_of). */
static int table_grow(id_table *t, uint32_t (*hash_of)(const void *ctx, uint32_t id), const void *ctx) {
    size_t cap = (t->mask + 1) * 2;
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (!slot) return -1;
    for (size_t k = 0; k <= t->mask; k++) {
        uint32_t e = t->slot[k];
        if (!e) continue;
        size_t at = hash_of(ctx, e - 1) & (cap - 1);
        while (slot[at]) at = (at + 1) & (cap - 1);
        slot[at] = e;
    }
    free(t->slot);
    t->slot = slot;
    t->mask = cap - 1;
    return 0;
}

static uint32_t word_hash_of(const void *ctx, uint32_t id) { return ((const word_table *)ctx)->hash[id]; }

/* Id of word s[0..n), added when new; 0 when out of memory. */
static uint32_t word_id(word_table *w, const char *s, size_t n) {
    uint32_t h = hash_bytes(s, n);
    for (size_t at = h & w->t.mask;; at = (at + 1) & w->t.mask) {
        uint32_t e = w->t.slot[at];
        if (!e) {
            if (w->n == w->cap) {
                size_t cap = w->cap * 2;
                uint32_t *hh = realloc(w->hash, cap * sizeof *hh);
                if (hh) w->hash = hh;
                size_t *oo = realloc(w->off, cap * sizeof *oo);
                if (oo) w->off = oo;
                uint32_t *ll = realloc(w->len, cap * sizeof *ll);
                if (ll) w->len = ll;
                if (!hh || !oo || !ll) return 0;
                w->cap = cap;
            }
            if (w->pool_len + n + 1 > w->pool_cap) {
                size_t cap = w->pool_cap * 2;
                while (cap < w->pool_len + n + 1) cap *= 2;
                char *p = realloc(w->pool, cap);
                if (!p) return 0;
                w->pool = p;
                w->pool_cap = cap;
            }
            uint32_t id = (uint32_t)w->n++;
            memcpy(w->pool + w->pool_len, s, n);
            w->pool[w->pool_len + n] = 0;
            w->off[id] = w->pool_len;
            w->pool_len += n + 1;
            w->hash[id] = h;
            w->len[id] = (uint32_t)n;
            w->t.slot[at] = id + 1;
            if (++w->t.used * 2 > w->t.mask && table_grow(&w->t, word_hash_of, w) != 0) return 0;
            return id;
        }
        uint32_t id = e - 1;
        if (w->hash[id] == h && w->len[id] == n && memcmp(w->pool + w->off[id], s, n) == 0) return id;
    }
}

/* N-grams: keyed by (id of the first n-1 words + 1, last word id) packed in 64 bits (unigrams
 * have prefix 0, so no key is 0). */
typedef struct {
    id_table t;
    uint64_t *key; /* per n-gram id */
} gram_table;

static uint32_t gram_hash(uint64_t key) { return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32); }
static uint32_t gram_hash_of(const void *ctx, uint32_t id) { return gram_hash(((const gram_table *)ctx)->key[id]); }

static void sort_u32(uint32_t *a, size_t n) {
    /* sentences have a few dozen n-grams: insertion sort beats qsort's call overhead */
    for (size_t i = 1; i < n; i++) {
        uint32_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

void caption_ngrams_free(caption_ngrams *g) {
    if (!g) return;
    free(g->first_sent);
    free(g->ent_off);
    free(g->n_words);
    arrfree(g->ents);
    arrfree(g->keys);
    arrfree(g->order);
    free(g->vocab_pool);
    free(g->vocab);
    free(g);
}

/* Python's str.isspace() for the ASCII range (the rest through text_py_isspace). */
static int ascii_space(unsigned char c) { return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F); }

/* Words of s (str.split(): any Unicode whitespace) as interned ids, appended to *ids (stb_ds
 * array). */
static int split_words(const char *s, word_table *w, uint32_t **ids) {
    size_t i = 0;
    for (;;) {
        /* skip whitespace */
        for (;;) {
            unsigned char c = (unsigned char)s[i];
            if (c == 0) return 0;
            if (c < 0x80) {
                if (!ascii_space(c)) break;
                i++;
            } else {
                size_t j = i;
                if (!text_py_isspace(text_utf8_next(s, &j))) break;
                i = j;
            }
        }
        size_t start = i;
        for (;;) {
            unsigned char c = (unsigned char)s[i];
            if (c == 0) break;
            if (c < 0x80) {
                if (ascii_space(c)) break;
                i++;
            } else {
                size_t j = i;
                if (text_py_isspace(text_utf8_next(s, &j))) break;
                i = j;
            }
        }
        uint32_t id = word_id(w, s + start, i - start);
        if (!id) return -1;
        arrput(*ids, id);
    }
}

caption_ngrams *caption_ngrams_build(const caption_item *items, size_t n) {
    caption_ngrams *g = calloc(1, sizeof *g);
    if (!g) goto oom;
    size_t n_sent = 0;
    for (size_t i = 0; i < n; i++) n_sent += 1 + (size_t)items[i].n_refs;
    g->n_items = n;
    g->n_sent = n_sent;
    g->first_sent = malloc((n + 1) * sizeof *g->first_sent);
    g->ent_off = malloc((n_sent + 1) * sizeof *g->ent_off);
    g->n_words = malloc((n_sent ? n_sent : 1) * sizeof *g->n_words);
    if (!g->first_sent || !g->ent_off || !g->n_words) goto oom;

    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].cand) bytes += strlen(items[i].cand);
        for (int r = 0; r < items[i].n_refs; r++) bytes += strlen(items[i].refs[r]);
    }
    word_table words = {{NULL, 0, 0}, NULL, NULL, NULL, 1, 1024, NULL, 0, 4096};
    gram_table grams = {{NULL, 0, 0}, NULL};
    size_t gram_cap = 4096;
    ngram_key *keys = NULL;
    uint8_t *order = NULL;
    ngram_count *ents = NULL;
    uint32_t *ids = NULL, *sent_grams = NULL, *prev = NULL;
    int failed = 0;
    words.hash = malloc(words.cap * sizeof *words.hash);
    words.off = malloc(words.cap * sizeof *words.off);
    words.len = malloc(words.cap * sizeof *words.len);
    words.pool = malloc(words.pool_cap);
    grams.key = malloc(gram_cap * sizeof *grams.key);
    /* distinct words and n-grams grow much slower than the text: start from a fraction of it */
    if (!words.hash || !words.off || !words.len || !words.pool || !grams.key || table_init(&words.t, bytes / 64) != 0 ||
        table_init(&grams.t, bytes / 16) != 0)
        failed = 1;
    words.pool[0] = 0; /* id 0: no word */
    words.off[0] = 0;
    words.len[0] = 0;
    words.hash[0] = 0;
    words.pool_len = 1;
    /* about one word per 5 bytes, four n-gram orders, most distinct within a sentence */
    arrsetcap(ents, bytes / 5 * 4 + 16);

    size_t si = 0;
    g->ent_off[0] = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        g->first_sent[i] = si;
        for (int s = -1; s < items[i].n_refs && !failed; s++, si++) {
            const char *text = s < 0 ? items[i].cand : items[i].refs[s];
            arrsetlen(ids, 0);
            if (text && split_words(text, &words, &ids) != 0) {
                failed = 1;
                break;
            }
            size_t nw = (size_t)arrlen(ids);
            g->n_words[si] = (uint32_t)nw;
            arrsetlen(sent_grams, 0);
            arrsetlen(prev, 0);
            for (int k = 1; k <= 4 && (size_t)k <= nw && !failed; k++) {
                /* prev[p] = id of the (k-1)-gram starting at p; becomes the k-gram id */
                for (size_t p = 0; p + (size_t)k <= nw; p++) {
                    uint32_t word = ids[p + (size_t)k - 1];
                    uint64_t key = k == 1 ? word : ((uint64_t)prev[p] + 1) << 32 | word;
                    uint32_t gid = UINT32_MAX;
                    size_t at = gram_hash(key) & grams.t.mask;
                    for (;; at = (at + 1) & grams.t.mask) {
                        uint32_t e = grams.t.slot[at];
                        if (!e) break;
                        if (grams.key[e - 1] == key) {
                            gid = e - 1;
                            break;
                        }
                    }
                    if (gid == UINT32_MAX) { /* a new n-gram */
                        gid = (uint32_t)arrlen(keys);
                        if (gid == gram_cap) {
                            uint64_t *kk = realloc(grams.key, gram_cap * 2 * sizeof *kk);
                            if (!kk) {
                                failed = 1;
                                break;
                            }
                            grams.key = kk;
                            gram_cap *= 2;
                        }
                        ngram_key nk;
                        memset(&nk, 0, sizeof nk);
                        if (k > 1) nk = keys[prev[p]];
                        nk.w[k - 1] = word;
                        arrput(keys, nk);
                        arrput(order, (uint8_t)k);
                        grams.key[gid] = key;
                        grams.t.slot[at] = gid + 1;
                        if (++grams.t.used * 2 > grams.t.mask && table_grow(&grams.t, gram_hash_of, &grams) != 0) {
                            failed = 1;
                            break;
                        }
                    }
                    if (k == 1)
                        arrput(prev, gid);
                    else
                        prev[p] = gid;
                    arrput(sent_grams, gid);
                }
            }
            size_t ng = (size_t)arrlen(sent_grams);
            sort_u32(sent_grams, ng);
            for (size_t p = 0; p < ng;) {
                size_t q = p + 1;
                while (q < ng && sent_grams[q] == sent_grams[p]) q++;
                ngram_count e = {sent_grams[p], (uint32_t)(q - p)};
                arrput(ents, e);
                p = q;
            }
            g->ent_off[si + 1] = (size_t)arrlen(ents);
        }
    }
    g->first_sent[n] = si;
    arrfree(ids);
    arrfree(sent_grams);
    arrfree(prev);
    free(words.t.slot);
    free(words.hash);
    free(words.len);
    free(grams.t.slot);
    free(grams.key);
    /* the stb_ds arrays are kept as they are (caption_ngrams_free knows) */
    g->keys = keys;
    g->order = order;
    g->n_ngrams = (size_t)arrlen(keys);
    g->ents = ents;
    g->vocab_pool = words.pool;
    g->n_vocab = words.n;
    g->vocab = failed ? NULL : malloc(words.n * sizeof *g->vocab);
    if (g->vocab) {
        g->vocab[0] = NULL;
        for (size_t k = 1; k < words.n; k++) g->vocab[k] = words.pool + words.off[k];
    }
    free(words.off);
    if (failed || !g->vocab) goto oom;
    return g;
oom:
    caption_ngrams_free(g);
    vk_err_set("n-gram counting: out of memory");
    return NULL;
}
