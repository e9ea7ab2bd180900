/* shuffle.h — the example order of an epoch: a permutation that depends only on (seed, epoch).
 *
 *   int64_t *perm = malloc(n * sizeof *perm);
 *   shuffle_permutation(seed, epoch, n, perm);    // perm[i] = the example at position i
 *
 * Nothing else goes in (no thread count, no clock, no global RNG), so resuming at (epoch,
 * position) or changing the number of loader workers never changes the order. The generator is
 * xoshiro256** seeded through splitmix64 from seed and epoch; indices are drawn without modulo
 * bias (rejection); Fisher-Yates from the last position down. Different epochs give different,
 * independent-looking orders. */
#ifndef VLKIT_DATA_SHUFFLE_H
#define VLKIT_DATA_SHUFFLE_H

#include <stdint.h>

void shuffle_permutation(uint64_t seed, int64_t epoch, int64_t n, int64_t *out);

#endif
