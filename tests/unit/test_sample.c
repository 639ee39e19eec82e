/* Sampling: greedy, top-k, top-p (nucleus) and temperature against the
 * distributions they define, and repeatability with a seed. */
#include "testutil.h"

#include <string.h>

#include "model/sample.h"

static void freqs(const sample_opts *o, const float *lg, int n, int draws, double *f)
{
    sampler s;
    sample_init(&s, o);
    memset(f, 0, sizeof(double) * (size_t)n);
    for (int i = 0; i < draws; i++)
        f[sample_next(&s, lg, n)] += 1.0 / draws;
    sample_free(&s);
}

static void distributions(void **state)
{
    (void)state;
    float lg[4] = {logf(0.5f), logf(0.3f), logf(0.2f), -1e30f};
    double f[4];
    freqs(&(sample_opts){.temp = 0}, lg, 4, 10, f);
    assert_close(f[0], 1.0, 1e-12);
    freqs(&(sample_opts){.temp = 1, .top_k = 1, .top_p = 1}, lg, 4, 100, f);
    assert_close(f[0], 1.0, 1e-12);
    freqs(&(sample_opts){.temp = 1, .top_p = 1e-6f}, lg, 4, 100, f);
    assert_close(f[0], 1.0, 1e-12);
    freqs(&(sample_opts){.temp = 1, .top_p = 1, .seed = 3}, lg, 4, 40000, f);
    assert_close(f[0], 0.5, 0.015);
    assert_close(f[1], 0.3, 0.015);
    assert_close(f[2], 0.2, 0.015);
    assert_close(f[3], 0.0, 1e-12);
    /* top-k 2 and top-p 0.75 both keep the first two, renormalised */
    freqs(&(sample_opts){.temp = 1, .top_k = 2, .top_p = 1, .seed = 4}, lg, 4, 40000, f);
    assert_close(f[0], 0.625, 0.015);
    assert_close(f[2], 0.0, 1e-12);
    freqs(&(sample_opts){.temp = 1, .top_p = 0.75f, .seed = 5}, lg, 4, 40000, f);
    assert_close(f[1], 0.375, 0.015);
    assert_close(f[2], 0.0, 1e-12);
    /* temperature 2 flattens: p ~ sqrt(p) */
    freqs(&(sample_opts){.temp = 2, .top_p = 1, .seed = 6}, lg, 3, 40000, f);
    double z = sqrt(0.5) + sqrt(0.3) + sqrt(0.2);
    assert_close(f[0], sqrt(0.5) / z, 0.015);
    assert_close(f[2], sqrt(0.2) / z, 0.015);
}

static void seeds_repeat(void **state)
{
    (void)state;
    float lg[50];
    for (int i = 0; i < 50; i++)
        lg[i] = sinf((float)i);
    sampler a, b, c;
    sample_opts o = {.temp = 1, .top_k = 0, .top_p = 0.9f, .seed = 42};
    sample_init(&a, &o);
    sample_init(&b, &o);
    o.seed = 43;
    sample_init(&c, &o);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        int x = sample_next(&a, lg, 50), y = sample_next(&b, lg, 50), z = sample_next(&c, lg, 50);
        assert_int_equal(x, y);
        differ += x != z;
    }
    assert_true(differ > 0);
    sample_free(&a);
    sample_free(&b);
    sample_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(distributions),
        cmocka_unit_test(seeds_repeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
