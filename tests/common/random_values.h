/* random_values.h — deterministic test inputs: a xorshift64* stream of uniforms in [-1, 1), and
 * bf16 <-> float conversions done by hand (round to nearest even), so the tests that check
 * kernels and the shim build their inputs and references without the code under test. */
#ifndef VLKIT_TESTS_RANDOM_VALUES_H
#define VLKIT_TESTS_RANDOM_VALUES_H

#include <stdint.h>
#include <string.h>

static inline double test_urand(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (double)((*state * 0x2545F4914F6CDD1Dull) >> 11) / (double)(1ull << 52) - 1.0;
}

static inline uint16_t test_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7FFF + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static inline double test_from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
