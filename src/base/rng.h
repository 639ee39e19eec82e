/* rng: MT19937 that replays numpy's legacy RandomState stream bit for bit
 * (seed via init_genrand, doubles via the 53-bit two-draw recipe, bounded
 * integers via masked rejection), so that a published bootstrap can be hit
 * to the digit. */
#ifndef CAPE_RNG_H
#define CAPE_RNG_H

#include <stdint.h>

typedef struct {
    uint32_t mt[624];
    int pos;
} rng_mt;

void rng_seed(rng_mt *r, uint32_t seed);
uint32_t rng_u32(rng_mt *r);
uint64_t rng_u64(rng_mt *r);
/* Uniform in [0, 1), numpy's random_sample(). */
double rng_double(rng_mt *r);
/* Uniform integer in [0, max], numpy's legacy masked-rejection path
 * (RandomState.randint(0, max + 1) and the interval draws of shuffle). */
uint64_t rng_interval(rng_mt *r, uint64_t max);
/* numpy's legacy RandomState.shuffle on an index array. */
void rng_shuffle_int(rng_mt *r, int *a, int n);
/* Standard normal, numpy's legacy polar Box-Muller (gauss) path. */
double rng_gauss(rng_mt *r, int *has_gauss, double *saved);

/* xoshiro256**: a fast generator for Monte Carlo work that does not need to
 * replay numpy (permutation tests), seeded through splitmix64. */
typedef struct {
    uint64_t s[4];
} rng_fast;

void rng_fast_seed(rng_fast *r, uint64_t seed);
uint64_t rng_fast_u64(rng_fast *r);
/* Uniform integer in [0, n), Lemire's multiply-shift with rejection. */
uint32_t rng_fast_below(rng_fast *r, uint32_t n);
double rng_fast_double(rng_fast *r);

#endif
