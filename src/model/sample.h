/* sample: choosing the next token from logits: greedy (temperature 0), or
 * softmax at a temperature restricted to the top-k tokens and then to the
 * smallest set whose probability reaches top-p, drawn with a seeded
 * generator so runs repeat. */
#ifndef CAPE_SAMPLE_H
#define CAPE_SAMPLE_H

#include <stdint.h>

#include "base/rng.h"

typedef struct {
    float temp;  /* <= 0: greedy */
    int top_k;   /* 0: all */
    float top_p; /* 1: all */
    uint64_t seed;
} sample_opts;

typedef struct {
    sample_opts o;
    rng_fast rng;
    int *idx;
    float *prob;
    int cap;
} sampler;

int sample_init(sampler *s, const sample_opts *o);
void sample_free(sampler *s);
/* The next token; -1 only when out of memory. */
int sample_next(sampler *s, const float *logits, int n);
int sample_argmax(const float *logits, int n);

#endif
