/* pool: a fixed set of worker threads that run one function on all threads
 * at once (the caller is thread 0) and wait for all of them. Workers spin
 * briefly between jobs, since a forward pass issues hundreds of short jobs
 * per token, then sleep on a condition variable. */
#ifndef CAPE_POOL_H
#define CAPE_POOL_H

typedef struct pool pool;
typedef void (*pool_fn)(void *arg, int ith, int nth);

/* n_threads >= 1; NULL when threads cannot be created. */
pool *pool_new(int n_threads);
void pool_free(pool *p);
int pool_size(const pool *p);
/* Runs fn(arg, i, n) for i = 0..n-1 in parallel and returns when all are done.
 * A NULL pool runs fn(arg, 0, 1). */
void pool_run(pool *p, pool_fn fn, void *arg);

#endif
