/* Weight quantisers (src/tensor/quantize.c): bytes against ggml's reference
 * quantisers and the gguf package's numpy ones (tests/ref/quantize.bin from
 * make_quantize_ref.py), the same bytes for any number of threads, and the
 * round-trip error through the runtime's dequantisers within each format's
 * expected bound. */
#include "testutil.h"

#include <string.h>

#include "base/file.h"
#include "base/rng.h"
#include "tensor/pool.h"
#include "tensor/quant.h"
#include "tensor/quantize.h"

static void bytes_match_references(void **state)
{
    (void)state;
    size_t len;
    cape_err e = {0};
    char *buf = file_read_all("tests/ref/quantize.bin", &len, &e);
    if (!buf)
        fail_msg("%s", e.msg);
    int32_t rows, n;
    memcpy(&rows, buf, 4);
    memcpy(&n, buf + 4, 4);
    const float *x = (const float *)(buf + 8);
    size_t off = 8 + (size_t)rows * (size_t)n * 4;
    int ntypes = 0;
    while (off + 8 <= len) {
        int32_t type, nbytes;
        memcpy(&type, buf + off, 4);
        memcpy(&nbytes, buf + off + 4, 4);
        const uint8_t *want = (const uint8_t *)buf + off + 8;
        off += 8 + (size_t)nbytes;
        assert_true(off <= len);
        int64_t rb = tensor_row_bytes((uint32_t)type, n);
        assert_int_equal(rb * rows, nbytes);
        uint8_t *got = calloc((size_t)nbytes, 1);
        /* whole matrix at once, then row by row: the same bytes */
        assert_int_equal(tquant_rows((uint32_t)type, x, got, rows, n), 0);
        for (int r = 0; r < rows; r++) {
            for (int64_t i = 0; i < rb; i++)
                if (got[r * rb + i] != want[r * rb + i])
                    fail_msg("%s row %d byte %lld (block %lld): %02x, reference %02x",
                             tensor_type_name((uint32_t)type), r, (long long)i,
                             (long long)(i / tensor_type_get((uint32_t)type)->bytes),
                             got[r * rb + i], want[r * rb + i]);
            uint8_t *one = calloc((size_t)rb, 1);
            assert_int_equal(tquant_rows((uint32_t)type, x + (size_t)r * n, one, 1, n), 0);
            assert_memory_equal(one, want + r * rb, (size_t)rb);
            free(one);
        }
        free(got);
        ntypes++;
    }
    assert_int_equal(ntypes, 12);
    free(buf);
}

static const uint32_t ALL[] = {TENSOR_F32,  TENSOR_F16,  TENSOR_BF16, TENSOR_Q4_0, TENSOR_Q4_1,
                               TENSOR_Q5_0, TENSOR_Q5_1, TENSOR_Q8_0, TENSOR_Q2_K, TENSOR_Q3_K,
                               TENSOR_Q4_K, TENSOR_Q5_K, TENSOR_Q6_K};

static float *gauss_rows(int64_t rows, int64_t n, uint64_t seed)
{
    rng_fast g;
    rng_fast_seed(&g, seed);
    float *x = malloc((size_t)(rows * n) * 4);
    for (int64_t i = 0; i < rows * n; i += 2) { /* Box-Muller */
        double u = rng_fast_double(&g), v = rng_fast_double(&g);
        double r = sqrt(-2 * log(u > 0 ? u : 1e-300));
        x[i] = (float)(r * cos(2 * M_PI * v));
        x[i + 1] = (float)(r * sin(2 * M_PI * v));
    }
    return x;
}

static void same_bytes_for_any_thread_count(void **state)
{
    (void)state;
    const int64_t rows = 37, n = 1024;
    float *x = gauss_rows(rows, n, 99);
    pool *p2 = pool_new(2), *p3 = pool_new(3);
    assert_non_null(p2);
    assert_non_null(p3);
    for (size_t k = 0; k < sizeof ALL / sizeof ALL[0]; k++) {
        size_t nb = (size_t)(tensor_row_bytes(ALL[k], n) * rows);
        uint8_t *a = malloc(nb), *b = malloc(nb), *c = malloc(nb);
        assert_int_equal(tquant_rows_mt(NULL, ALL[k], x, a, rows, n), 0);
        assert_int_equal(tquant_rows_mt(p2, ALL[k], x, b, rows, n), 0);
        assert_int_equal(tquant_rows_mt(p3, ALL[k], x, c, rows, n), 0);
        assert_memory_equal(a, b, nb);
        assert_memory_equal(a, c, nb);
        free(a);
        free(b);
        free(c);
    }
    pool_free(p2);
    pool_free(p3);
    free(x);
}

/* Relative RMSE of quantise -> runtime dequantise on unit Gaussian rows,
 * against a bound per format. The bounds follow from the step sizes: a
 * uniform quantiser of step d has RMSE d/sqrt(12), and the step is the block
 * range over the number of levels (Q8_0: 2*amax/254 with amax of 32 Gaussian
 * values ~2.1, so ~0.005; 4 bits ~0.08; 5 bits ~0.04; the K-quants fit their
 * scales and do somewhat better than the plain formula at the same bits). The
 * errors must also fall with the number of bits. */
static void round_trip_error_within_bounds(void **state)
{
    (void)state;
    const int64_t rows = 64, n = 4096;
    float *x = gauss_rows(rows, n, 5);
    float *y = malloc((size_t)n * 4);
    struct {
        uint32_t type;
        double bound;
    } cases[] = {{TENSOR_F16, 3e-4},  {TENSOR_BF16, 2.5e-3}, {TENSOR_Q8_0, 0.0065},
                 {TENSOR_Q6_K, 0.02}, {TENSOR_Q5_1, 0.040},  {TENSOR_Q5_0, 0.045},
                 {TENSOR_Q5_K, 0.042}, {TENSOR_Q4_1, 0.09}, {TENSOR_Q4_0, 0.10},
                 {TENSOR_Q4_K, 0.082}, {TENSOR_Q3_K, 0.17},  {TENSOR_Q2_K, 0.34}};
    double rmse[16];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t rb = tensor_row_bytes(cases[k].type, n);
        uint8_t *q = malloc((size_t)(rb * rows));
        assert_int_equal(tquant_rows(cases[k].type, x, q, rows, n), 0);
        double se = 0, ss = 0;
        for (int64_t r = 0; r < rows; r++) {
            quant_dequant_row(cases[k].type, q + r * rb, y, n);
            for (int64_t i = 0; i < n; i++) {
                double d = (double)y[i] - x[r * n + i];
                se += d * d;
                ss += (double)x[r * n + i] * x[r * n + i];
            }
        }
        rmse[k] = sqrt(se / ss);
        print_message("   %-5s relative RMSE %.5f (bound %.4f)\n", tensor_type_name(cases[k].type),
                      rmse[k], cases[k].bound);
        if (!(rmse[k] <= cases[k].bound))
            fail_msg("%s: relative RMSE %g above %g", tensor_type_name(cases[k].type), rmse[k],
                     cases[k].bound);
        free(q);
    }
    /* more bits, less error: Q8_0 < Q6_K < Q5_K < Q4_K < Q3_K < Q2_K, and the
     * legacy 5-bit formats beat the 4-bit ones */
    assert_true(rmse[2] < rmse[3] && rmse[3] < rmse[6] && rmse[6] < rmse[9]);
    assert_true(rmse[9] < rmse[10] && rmse[10] < rmse[11]);
    assert_true(rmse[4] < rmse[7] && rmse[5] < rmse[8]);
    free(y);
    free(x);
}

static void bad_arguments_refused(void **state)
{
    (void)state;
    float x[64] = {0};
    uint8_t y[256];
    assert_int_equal(tquant_rows(TENSOR_Q4_K, x, y, 1, 64), -1); /* not a whole super-block */
    assert_int_equal(tquant_rows(TENSOR_Q8_0, x, y, 1, 48), -1);
    assert_int_equal(tquant_rows(TENSOR_I32, x, y, 1, 64), -1);
    assert_int_equal(tquant_can_write(TENSOR_Q8_1), 0);
    assert_int_equal(tquant_rows(TENSOR_Q8_0, x, y, 2, 32), 0);
    for (int i = 0; i < 2 * 34; i++) /* zeros quantise to zero blocks */
        assert_int_equal(y[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_match_references),
        cmocka_unit_test(same_bytes_for_any_thread_count),
        cmocka_unit_test(round_trip_error_within_bounds),
        cmocka_unit_test(bad_arguments_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
