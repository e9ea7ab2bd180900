/* ht.h — uthash (Debian's uthash-dev) for the hash maps on the caption scorers' hot path.
 *
 * Everything else keeps stb_ds (util/ds.h). Interning a corpus' words and n-grams is ~1.1 M
 * look-ups per 5,000 images, and a stb_ds look-up costs ~180 instructions (a library call, a
 * generic hash, a bucket scan, a memcmp call); uthash's macros inline the look-up and take the
 * hash and the key compare from here, ~40 instructions. Include this instead of <uthash.h>.
 *
 * Rules:
 *   - entries are linked into the table, so they must not move once added: take them from a
 *     pool (eval/text_pool.h), never from a growing array;
 *   - running out of memory does not exit: the add is undone and the table keeps its count, so
 *     check HASH_COUNT after HASH_ADD_* (vk_ht_added);
 *   - keys of 8 bytes are hashed as one 64-bit integer (folded and multiplied: structured keys
 *     spread), other lengths 8 bytes a step, then the same; keys compare 8 bytes a step, inline (the
 *     compare only says equal or not, which is all uthash asks). */
#ifndef VLKIT_UTIL_HT_H
#define VLKIT_UTIL_HT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/ds.h" /* the callers' arrays */

/* The n (< 8) bytes at p as one integer, never reading past p + n; for a given n, equal
 * integers mean equal bytes (4..7 bytes: two overlapping 4-byte loads; 1..3: first, middle and
 * last byte — together they cover every byte). */
static inline uint64_t vk_ht_tail(const unsigned char *p, size_t n) {
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        return (uint64_t)hi << 32 | lo;
    }
    if (n == 0) return 0;
    return (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
}

static inline unsigned vk_ht_hash(const void *key, size_t len) {
    const unsigned char *p = key;
    uint64_t h;
    if (len == 8) {
        memcpy(&h, key, 8);
    } else {
        /* 8 bytes a step (words are mostly one step), the length mixed in so that keys that
         * differ only by trailing zero bytes differ; the fold below spreads the bits */
        h = len;
        size_t i = 0;
        for (; i + 8 <= len; i += 8) {
            uint64_t c;
            memcpy(&c, p + i, 8);
            h = (h ^ c) * 0x9E3779B97F4A7C15ull;
            h ^= h >> 29;
        }
        h = (h ^ vk_ht_tail(p + i, len - i)) * 0x9E3779B97F4A7C15ull;
    }
    /* the high half folded onto the low one, then one multiply (Fibonacci hashing): its upper
     * 32 bits, whose low bits pick the bucket, depend on every bit of the key; three steps
     * instead of splitmix64's seven, on ~1 M look-ups per 5,000 images */
    h ^= h >> 32;
    return (unsigned)((h * 0x9E3779B97F4A7C15ull) >> 32);
}

static inline int vk_ht_keycmp(const void *a, const void *b, size_t len) {
    /* 8 bytes a step, inline: the keys are short, and a memcmp call costs more than them */
    const unsigned char *x = a, *y = b;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t u, v;
        memcpy(&u, x + i, 8);
        memcpy(&v, y + i, 8);
        if (u != v) return 1;
    }
    return vk_ht_tail(x + i, len - i) != vk_ht_tail(y + i, len - i);
}

#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = vk_ht_hash((keyptr), (size_t)(keylen)))
#define HASH_KEYCMP(a, b, n) vk_ht_keycmp((a), (b), (size_t)(n))
#define HASH_NONFATAL_OOM 1
#include <uthash.h>
/* uthash grows a table when one chain reaches 10 entries, which leaves about two entries per
 * bucket: a look-up walks chains of 2-3, each step a cache miss on an entry. At 6 a table keeps
 * 2-4 buckets per entry (16 bytes each, beside the entry's 56-byte handle) and look-ups walk
 * about one: the scoring stage is ~14% faster on the 5,000-image bench. (At 4 and below the
 * bucket array grows much faster than the entries.) The macro is read where the add macros
 * expand, so redefining it here takes. */
#undef HASH_BKT_CAPACITY_THRESH
#define HASH_BKT_CAPACITY_THRESH 6U

/* Whether the table head, which held count entries before an add, holds the new one. */
#define vk_ht_added(head, count) (HASH_COUNT(head) == (count) + 1)

#endif
