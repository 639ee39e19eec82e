/* train_pool: a fixed team of threads for the trainer's data-parallel
 * loops. tp_run(n, fn, ctx) calls fn(ctx, i) for i in [0, n) with task i on
 * thread i % threads, so the split, and therefore every floating-point
 * result, is the same on every run. The caller's thread is thread 0. */
#ifndef CAPE_TRAIN_POOL_H
#define CAPE_TRAIN_POOL_H

/* Sets the team size (1 = everything on the caller's thread). */
void tp_set_threads(int n);
int tp_threads(void);
void tp_run(int n_tasks, void (*fn)(void *ctx, int task), void *ctx);
/* Index of the calling thread within the team (0 outside a tp_run). */
int tp_self(void);

#endif
