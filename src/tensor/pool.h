/* pool: a fixed set of worker threads that share the items of one job at a
 * time. The caller takes part; items are claimed in chunks from a shared
 * counter, so a thread that starts late (its core busy with another process)
 * simply claims fewer chunks instead of holding everyone up. Workers spin
 * for up to 50 microseconds between jobs, since a forward pass issues
 * hundreds of short jobs per token, then sleep on a condition variable. */
#ifndef CAPE_POOL_H
#define CAPE_POOL_H

#include <stdint.h>

typedef struct pool pool;
/* Items [begin, end) of the job; ith (< pool_size) names the thread, for
 * per-thread scratch space. */
typedef void (*pool_range_fn)(void *arg, int64_t begin, int64_t end, int ith);
typedef void (*pool_fn)(void *arg, int ith, int nth);

/* n_threads >= 1; NULL when threads cannot be created. */
pool *pool_new(int n_threads);
void pool_free(pool *p);
int pool_size(const pool *p);
/* Runs fn over items [0, n) in chunks of `grain` (>= 1) and returns when all
 * are done. A NULL pool runs fn(arg, 0, n, 0). */
void pool_for(pool *p, int64_t n, int64_t grain, pool_range_fn fn, void *arg);
/* fn(arg, i, nth) for every i < nth, each exactly once, in parallel. */
void pool_run(pool *p, pool_fn fn, void *arg);

#endif
