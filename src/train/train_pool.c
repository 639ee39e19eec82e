#include "train/train_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

enum { MAX_THREADS = 64 };

static int g_n = 1;
static int g_started;
static pthread_t g_tid[MAX_THREADS];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static atomic_ulong g_gen;
static atomic_int g_pending;
static void (*g_fn)(void *, int);
static void *g_ctx;
static int g_tasks;
static _Thread_local int t_self;

static void run_share(int self)
{
    for (int i = self; i < g_tasks; i += g_n)
        g_fn(g_ctx, i);
}

/* a spin-wait hint to the core */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void *worker(void *arg)
{
    int self = (int)(long)arg;
    t_self = self;
    unsigned long seen = 0;
    for (;;) {
        unsigned long gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&g_gen, memory_order_acquire)) == seen) {
            if (++spins < 4000) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&g_mu);
            while (atomic_load(&g_gen) == seen)
                pthread_cond_wait(&g_cv, &g_mu);
            pthread_mutex_unlock(&g_mu);
        }
        seen = gen;
        if (self < g_n)
            run_share(self);
        atomic_fetch_sub_explicit(&g_pending, 1, memory_order_acq_rel);
    }
    return NULL;
}

void tp_set_threads(int n)
{
    if (n < 1)
        n = 1;
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    pthread_mutex_lock(&g_mu);
    for (; g_started < n - 1; g_started++)
        pthread_create(&g_tid[g_started], NULL, worker, (void *)(long)(g_started + 1));
    pthread_mutex_unlock(&g_mu);
    g_n = n;
}

int tp_threads(void)
{
    return g_n;
}

int tp_self(void)
{
    return t_self;
}

void tp_run(int n_tasks, void (*fn)(void *ctx, int task), void *ctx)
{
    if (g_n == 1 || n_tasks <= 1) {
        for (int i = 0; i < n_tasks; i++)
            fn(ctx, i);
        return;
    }
    g_fn = fn;
    g_ctx = ctx;
    g_tasks = n_tasks;
    atomic_store(&g_pending, g_started);
    pthread_mutex_lock(&g_mu);
    atomic_fetch_add_explicit(&g_gen, 1, memory_order_release);
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    run_share(0);
    /* spin briefly, then give the core away: the machine may be shared */
    for (int spins = 0; atomic_load_explicit(&g_pending, memory_order_acquire) > 0; spins++) {
        if (spins < 4000)
            cpu_relax();
        else
            sched_yield();
    }
}
