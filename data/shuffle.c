/* shuffle.c — seeded per-epoch permutations (xoshiro256** + Fisher-Yates). */
#include "data/shuffle.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, bound): reject the low values that would make `r % bound` uneven. */
static uint64_t below(uint64_t s[4], uint64_t bound) {
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        uint64_t r = xoshiro_next(s);
        if (r >= threshold) return r % bound;
    }
}

void shuffle_permutation(uint64_t seed, int64_t epoch, int64_t n, int64_t *out) {
    /* two splitmix64 streams mixed, so (seed, epoch) and (seed + 1, epoch - 1) are unrelated */
    uint64_t a = seed, b = (uint64_t)epoch ^ 0xD1B54A32D192ED03ull;
    uint64_t key = splitmix64(&a) ^ rotl(splitmix64(&b), 32);
    uint64_t s[4];
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&key);
    for (int64_t i = 0; i < n; i++) out[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)below(s, (uint64_t)i + 1);
        int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}
