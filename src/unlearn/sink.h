/* sink: per-source sink neurons in every MLP (the masking of NULLs /
 * MemSinks, arXiv 2606.13873 and 2507.09937). The hidden units of each MLP
 * split into backbone units (the first floor(I * p_gen), always active) and
 * a sink pool. A source id (>= 1; 0 is reserved) selects k units of the pool
 * through a keyed hash of (seed, id, unit): the k units with the smallest
 * hash. The same indices are used in every layer. Masks multiply the MLP
 * hidden activation before the down-projection. */
#ifndef CAPE_SINK_H
#define CAPE_SINK_H

#include <stdint.h>

#include "base/err.h"

typedef struct {
    int hidden;     /* I */
    int n_backbone; /* floor(I * p_gen) */
    int pool;       /* I - n_backbone */
    int k;          /* sink units per source */
    float p_gen;
    uint64_t seed;
    /* sinks added to a trained model (cape train --init --sinks): the
     * backbone is the model's own MLP, complete without any sink, so the
     * backbone-only mask does not rescale it */
    int retrofit;
} sink_layout;

int sink_layout_init(sink_layout *s, int hidden, float p_gen, int k, uint64_t seed, cape_err *e);
/* The default units per source for n_sources sources: switching off a
 * tenth of them (at least one) leaves about three quarters of the pool
 * untouched, so the switch stays specific to what it switches off (the
 * sink-layout sweep in docs/UNLEARN.md: when the switched-off sources cover
 * most of the pool, switching off any others does as much). At least 1. */
int sink_default_k(int pool, int n_sources);
/* The layout `cape train --sinks` asks for: k < 0 takes sink_default_k; a
 * split that leaves no backbone unit, no sink unit or fewer than k is
 * refused in the options' terms (--p-gen, --sink-k, --hidden). */
int sink_layout_from_options(sink_layout *s, int hidden, double p_gen, int k, int n_sources,
                             uint64_t seed,
                             cape_err *e);

/* The p_gen whose floor(hidden * p_gen) is exactly `backbone` (as stored
 * and re-read in float): the layout of `backbone` trained units followed
 * by hidden - backbone retrofitted sink units. */
float sink_retrofit_p_gen(int backbone, int hidden);

/* The k pool units of source `id`, as absolute hidden indices, ascending. */
void sink_units(const sink_layout *s, uint32_t id, int *units);
/* Training / "--source ID" mask: backbone and the source's sinks 1, rest 0. */
void sink_mask_source(const sink_layout *s, uint32_t id, float *mask);
/* The same, minus the units of every switched-off source (deletion wins). */
void sink_mask_source_excluding(const sink_layout *s, uint32_t id, const uint32_t *off, int n_off,
                                float *mask);
/* Backbone only: sinks 0, backbone scaled by (n_backbone + k) / n_backbone to
 * keep the expected active mass of training (not for retrofitted sinks,
 * whose backbone was trained alone: scale 1). */
void sink_mask_backbone(const sink_layout *s, float *mask);
/* Every sink on at its keep rate k / pool (the expected value over sources);
 * units of switched-off sources are zeroed. */
void sink_mask_all(const sink_layout *s, const uint32_t *off, int n_off, float *mask);
/* Fraction of the pool covered by the union of these sources' sinks. */
double sink_union_fraction(const sink_layout *s, const uint32_t *ids, int n);

/* ---- sources ---------------------------------------------------------- */

/* Source names in id order: names[i] has id i + 1. */
typedef struct {
    char **names;
    int n, cap;
} sink_sources;

/* Id of `name`, adding it when absent (add = 1); 0 when absent and add = 0. */
uint32_t sink_sources_id(sink_sources *s, const char *name, int add);
void sink_sources_free(sink_sources *s);

/* ---- routing ---------------------------------------------------------- */

/* Document embedding for routing: lower-cased alphanumeric words, each
 * hashed (FNV-1a) into one of SINK_ROUTE_DIM buckets, weighted by the
 * word's inverse document frequency over the training documents, L2
 * normalised. A source's embedding is the normalised mean of its
 * documents' embeddings. */
enum { SINK_ROUTE_DIM = 512 };

typedef struct {
    int n_sources;
    float idf[SINK_ROUTE_DIM];
    float *centroids; /* (n_sources, SINK_ROUTE_DIM), row id - 1 */
} sink_router;

typedef struct {
    int n_docs;
    int n_sources;
    double df[SINK_ROUTE_DIM];
    double *sum; /* (n_sources, DIM) raw term counts before idf */
    float *tf;   /* per document scratch */
} sink_router_builder;

int sink_router_begin(sink_router_builder *b, int n_sources, cape_err *e);
void sink_router_add(sink_router_builder *b, uint32_t id, const char *text);
int sink_router_finish(sink_router_builder *b, sink_router *r, cape_err *e);
void sink_router_free(sink_router *r);
void sink_embed(const sink_router *r, const char *text, float *out);
/* The surviving source (not in off) whose embedding is most similar to the
 * text (cosine); 0 when none survives. *sim gets the similarity. */
uint32_t sink_route(const sink_router *r, const char *text, const uint32_t *off, int n_off,
                    float *sim);

#endif
