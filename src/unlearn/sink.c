#include "unlearn/sink.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int sink_layout_init(sink_layout *s, int hidden, float p_gen, int k, uint64_t seed, cape_err *e)
{
    if (!(p_gen > 0.0f && p_gen <= 1.0f))
        return err_set(e, CAPE_EINPUT, "p_gen %g (the backbone fraction) is not in (0, 1]", p_gen);
    s->hidden = hidden;
    s->n_backbone = (int)floor((double)hidden * p_gen);
    s->pool = hidden - s->n_backbone;
    s->k = k;
    s->p_gen = p_gen;
    s->seed = seed;
    s->retrofit = 0;
    if (s->n_backbone < 1)
        return err_set(e, CAPE_EINPUT, "p_gen %g leaves no backbone unit of the %d MLP units",
                       p_gen, hidden);
    if (k < 0 || k > s->pool)
        return err_set(e, CAPE_EINPUT, "%d sink units per source, but p_gen %g leaves %d of the "
                       "%d MLP units for sinks", k, p_gen, s->pool, hidden);
    return 0;
}

int sink_default_k(int pool, int n_sources)
{
    /* m sources' random k-subsets of the pool leave (1 - k/pool)^m of it
     * untouched: k = pool (1 - 0.75^(1/m)) leaves three quarters */
    int m = (n_sources + 5) / 10;
    if (m < 1)
        m = 1;
    long k = lround(pool * (1.0 - pow(0.75, 1.0 / m)));
    return k < 1 ? 1 : k > pool ? pool : (int)k;
}

int sink_layout_from_options(sink_layout *s, int hidden, double p_gen, int k, int n_sources,
                             uint64_t seed, cape_err *e)
{
    int backbone = (int)floor(hidden * p_gen), pool = hidden - backbone;
    int kk = k >= 0 ? k : sink_default_k(pool, n_sources);
    if (backbone < 1)
        return err_set(e, CAPE_EINPUT, "--p-gen %g leaves no backbone unit of the %d MLP units "
                       "(--hidden); raise --p-gen", p_gen, hidden);
    if (k < 0 && pool == 0)
        return err_set(e, CAPE_EINPUT, "--p-gen %g leaves no sink units: the backbone takes all "
                       "%d MLP units (--hidden); lower --p-gen", p_gen, hidden);
    if (kk > pool)
        return err_set(e, CAPE_EINPUT, "--sink-k %d exceeds the sink pool: --p-gen %g leaves "
                       "%d of the %d MLP units (--hidden) for sinks; lower --sink-k or --p-gen",
                       kk, p_gen, pool, hidden);
    return sink_layout_init(s, hidden, (float)p_gen, kk, seed, e);
}

float sink_retrofit_p_gen(int backbone, int hidden)
{
    float p = (float)backbone / (float)hidden;
    while (floor((double)hidden * p) < backbone)
        p = nextafterf(p, 2.0f);
    while (floor((double)hidden * p) > backbone)
        p = nextafterf(p, 0.0f);
    return p;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t unit_key(const sink_layout *s, uint32_t id, int j)
{
    return mix64(mix64(s->seed ^ mix64((uint64_t)id)) ^ (uint64_t)j);
}

static int cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* k smallest keys with a max-heap of size k. */
void sink_units(const sink_layout *s, uint32_t id, int *units)
{
    int k = s->k, n = 0;
    if (!k)
        return;
    uint64_t *heap = malloc(sizeof(uint64_t) * k);
    int *who = units;
    for (int j = 0; j < s->pool; j++) {
        uint64_t key = unit_key(s, id, j);
        int i;
        if (n < k) {
            i = n++;
            while (i > 0 && heap[(i - 1) / 2] < key) {
                heap[i] = heap[(i - 1) / 2];
                who[i] = who[(i - 1) / 2];
                i = (i - 1) / 2;
            }
        } else if (key < heap[0]) {
            i = 0;
            for (;;) {
                int c = 2 * i + 1;
                if (c >= k)
                    break;
                if (c + 1 < k && heap[c + 1] > heap[c])
                    c++;
                if (heap[c] <= key)
                    break;
                heap[i] = heap[c];
                who[i] = who[c];
                i = c;
            }
        } else {
            continue;
        }
        heap[i] = key;
        who[i] = j;
    }
    free(heap);
    for (int i = 0; i < k; i++)
        units[i] += s->n_backbone;
    qsort(units, k, sizeof *units, cmp_int);
}

void sink_mask_source(const sink_layout *s, uint32_t id, float *mask)
{
    sink_mask_source_excluding(s, id, NULL, 0, mask);
}

void sink_mask_source_excluding(const sink_layout *s, uint32_t id, const uint32_t *off, int n_off,
                                float *mask)
{
    for (int i = 0; i < s->hidden; i++)
        mask[i] = i < s->n_backbone ? 1.0f : 0.0f;
    if (!s->k)
        return;
    int *u = malloc(sizeof(int) * s->k);
    if (id) {
        sink_units(s, id, u);
        for (int i = 0; i < s->k; i++)
            mask[u[i]] = 1.0f;
    }
    for (int o = 0; o < n_off; o++) {
        sink_units(s, off[o], u);
        for (int i = 0; i < s->k; i++)
            mask[u[i]] = 0.0f;
    }
    free(u);
}

void sink_mask_backbone(const sink_layout *s, float *mask)
{
    float scale = s->retrofit ? 1.0f : (float)(s->n_backbone + s->k) / (float)s->n_backbone;
    for (int i = 0; i < s->hidden; i++)
        mask[i] = i < s->n_backbone ? scale : 0.0f;
}

void sink_mask_all(const sink_layout *s, const uint32_t *off, int n_off, float *mask)
{
    float keep = s->pool ? (float)s->k / (float)s->pool : 0.0f;
    for (int i = 0; i < s->hidden; i++)
        mask[i] = i < s->n_backbone ? 1.0f : keep;
    if (!s->k)
        return;
    int *u = malloc(sizeof(int) * s->k);
    for (int o = 0; o < n_off; o++) {
        sink_units(s, off[o], u);
        for (int i = 0; i < s->k; i++)
            mask[u[i]] = 0.0f;
    }
    free(u);
}

double sink_union_fraction(const sink_layout *s, const uint32_t *ids, int n)
{
    if (!s->pool || !s->k)
        return 0.0;
    char *hit = calloc(s->pool, 1);
    int *u = malloc(sizeof(int) * s->k), count = 0;
    for (int o = 0; o < n; o++) {
        sink_units(s, ids[o], u);
        for (int i = 0; i < s->k; i++)
            if (!hit[u[i] - s->n_backbone]++)
                count++;
    }
    free(u);
    free(hit);
    return (double)count / s->pool;
}

uint32_t sink_sources_id(sink_sources *s, const char *name, int add)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return (uint32_t)i + 1;
    if (!add)
        return 0;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        char **nn = realloc(s->names, sizeof *nn * cap);
        if (!nn)
            return 0;
        s->names = nn;
        s->cap = cap;
    }
    s->names[s->n] = strdup(name);
    if (!s->names[s->n])
        return 0;
    return (uint32_t)++s->n;
}

void sink_sources_free(sink_sources *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
    memset(s, 0, sizeof *s);
}

/* ---- routing ---------------------------------------------------------- */

static void term_counts(const char *text, float *tf)
{
    memset(tf, 0, sizeof(float) * SINK_ROUTE_DIM);
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        while (*p && !isalnum(*p))
            p++;
        if (!*p)
            break;
        uint64_t h = 0xcbf29ce484222325ull;
        while (*p && isalnum(*p)) {
            h = (h ^ (uint64_t)tolower(*p)) * 0x100000001b3ull;
            p++;
        }
        tf[h % SINK_ROUTE_DIM] += 1.0f;
    }
}

static void normalise(float *v, int n)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (double)v[i] * v[i];
    if (ss > 0) {
        float inv = (float)(1.0 / sqrt(ss));
        for (int i = 0; i < n; i++)
            v[i] *= inv;
    }
}

int sink_router_begin(sink_router_builder *b, int n_sources, cape_err *e)
{
    memset(b, 0, sizeof *b);
    b->n_sources = n_sources;
    b->sum = calloc((size_t)(n_sources ? n_sources : 1) * SINK_ROUTE_DIM, sizeof(double));
    b->tf = malloc(sizeof(float) * SINK_ROUTE_DIM);
    if (!b->sum || !b->tf)
        return err_set(e, CAPE_EFAIL, "out of memory for the source router");
    return 0;
}

void sink_router_add(sink_router_builder *b, uint32_t id, const char *text)
{
    if (id < 1 || (int)id > b->n_sources)
        return;
    term_counts(text, b->tf);
    normalise(b->tf, SINK_ROUTE_DIM);
    double *row = b->sum + (size_t)(id - 1) * SINK_ROUTE_DIM;
    for (int i = 0; i < SINK_ROUTE_DIM; i++) {
        row[i] += b->tf[i];
        b->df[i] += b->tf[i] > 0;
    }
    b->n_docs++;
}

int sink_router_finish(sink_router_builder *b, sink_router *r, cape_err *e)
{
    r->n_sources = b->n_sources;
    r->centroids = malloc(sizeof(float) * (size_t)(b->n_sources ? b->n_sources : 1) * SINK_ROUTE_DIM);
    if (!r->centroids) {
        free(b->sum);
        free(b->tf);
        return err_set(e, CAPE_EFAIL, "out of memory for the source router");
    }
    for (int i = 0; i < SINK_ROUTE_DIM; i++)
        r->idf[i] = (float)log((1.0 + b->n_docs) / (1.0 + b->df[i])) + 1.0f;
    for (int s = 0; s < b->n_sources; s++) {
        float *c = r->centroids + (size_t)s * SINK_ROUTE_DIM;
        for (int i = 0; i < SINK_ROUTE_DIM; i++)
            c[i] = (float)b->sum[(size_t)s * SINK_ROUTE_DIM + i] * r->idf[i];
        normalise(c, SINK_ROUTE_DIM);
    }
    free(b->sum);
    free(b->tf);
    b->sum = NULL;
    b->tf = NULL;
    return 0;
}

void sink_router_free(sink_router *r)
{
    free(r->centroids);
    r->centroids = NULL;
}

void sink_embed(const sink_router *r, const char *text, float *out)
{
    term_counts(text, out);
    normalise(out, SINK_ROUTE_DIM);
    for (int i = 0; i < SINK_ROUTE_DIM; i++)
        out[i] *= r->idf[i];
    normalise(out, SINK_ROUTE_DIM);
}

uint32_t sink_route(const sink_router *r, const char *text, const uint32_t *off, int n_off,
                    float *sim)
{
    float q[SINK_ROUTE_DIM];
    sink_embed(r, text, q);
    uint32_t best = 0;
    float best_sim = -2.0f;
    for (int s = 0; s < r->n_sources; s++) {
        uint32_t id = (uint32_t)s + 1;
        int is_off = 0;
        for (int o = 0; o < n_off; o++)
            is_off |= off[o] == id;
        if (is_off)
            continue;
        const float *c = r->centroids + (size_t)s * SINK_ROUTE_DIM;
        float d = 0.0f;
        for (int i = 0; i < SINK_ROUTE_DIM; i++)
            d += q[i] * c[i];
        if (d > best_sim) {
            best_sim = d;
            best = id;
        }
    }
    if (sim)
        *sim = best ? best_sim : 0.0f;
    return best;
}
