/* The trainer's matrix-product dispatch: the fp32 path against a double
 * reference, and the bf16 kernel in force (AMX or AVX512-BF16) against a
 * double reference computed on the same bf16-rounded inputs, for every
 * transposition, odd shapes, strides, alpha/beta, on one and two threads. */
#include "testutil.h"

#include <string.h>

#include "base/rng.h"
#include "train/train_gemm.h"

static float round_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    u &= 0xFFFF0000u;
    memcpy(&f, &u, 4);
    return f;
}

static void check(int bf16, int threads)
{
    rng_fast r;
    rng_fast_seed(&r, 99);
    static const int shapes[][3] = {{1, 1, 1}, {17, 33, 65}, {64, 48, 96}, {40, 100, 7}, {130, 31, 129}};
    tg_set_threads(threads);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
                size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb;
                float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb);
                float *C = malloc(sizeof(float) * M * ldc), *C0 = malloc(sizeof(float) * M * ldc);
                for (size_t i = 0; i < na; i++)
                    A[i] = (float)(rng_fast_double(&r) * 2 - 1);
                for (size_t i = 0; i < nb; i++)
                    B[i] = (float)(rng_fast_double(&r) * 2 - 1);
                for (int i = 0; i < M * ldc; i++)
                    C[i] = C0[i] = (float)(rng_fast_double(&r) - 0.5);
                float beta = (s % 2) ? 1.0f : 0.0f;
                tg_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
                for (int m = 0; m < M; m++)
                    for (int n = 0; n < N; n++) {
                        double acc = 0, mag = 0;
                        for (int k = 0; k < K; k++) {
                            double a = ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
                            double b = tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
                            if (bf16 && M >= 16 && N >= 16 && K >= 32)
                                a = round_bf16((float)a), b = round_bf16((float)b);
                            acc += a * b;
                            mag += fabs(a * b);
                        }
                        acc += beta * C0[m * ldc + n];
                        double got = C[m * ldc + n];
                        if (!(fabs(got - acc) <= 1e-5 * (mag + 1)))
                            fail_msg("%s M%d N%d K%d ta%d tb%d [%d,%d]: %.8g vs %.8g",
                                     bf16 ? "bf16" : "fp32", M, N, K, ta, tb, m, n, got, acc);
                    }
                /* columns beyond N (the ldc padding) are untouched */
                for (int m = 0; m < M; m++)
                    assert_true(C[m * ldc + N] == C0[m * ldc + N]);
                free(A), free(B), free(C), free(C0);
            }
    tg_set_threads(1);
}

static void test_fp32(void **state)
{
    (void)state;
    tg_set_precision(TG_FP32);
    check(0, 1);
    check(0, 2);
}

static void test_bf16(void **state)
{
    (void)state;
    if (tg_set_precision(TG_BF16) != TG_BF16) {
        skip();
        return;
    }
    check(1, 1);
    check(1, 2);
    tg_set_precision(TG_FP32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp32),
        cmocka_unit_test(test_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
