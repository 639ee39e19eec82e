/* Every per-ISA variant of the int8 kernels (qdot.h) against the scalar
 * reference, on every level this host runs (under the CAPE_ISA cap): the
 * activation quantisers byte for byte, the one-row and four-row products and
 * the matmul (row tiles, token tails, one and two threads) on random blocks of
 * every int8 type, several row lengths, odd row and token counts. The integer
 * arithmetic is the same on every path, so the results may differ only by the
 * order of the float additions. */
#include "testutil.h"

#include <string.h>

#include "base/isa.h"
#include "base/rng.h"
#include "tensor/matmul.h"
#include "tensor/pool.h"
#include "tensor/qdot.h"
#include "tensor/quant.h"
#include "tensor/qmm.h"

static const uint32_t TYPES[] = {TENSOR_Q8_0, TENSOR_Q5_0, TENSOR_Q4_0,
                                 TENSOR_Q4_K, TENSOR_Q5_K, TENSOR_Q6_K};
#define NTYPES (sizeof TYPES / sizeof *TYPES)

static int k_quant(uint32_t t) { return t == TENSOR_Q4_K || t == TENSOR_Q5_K || t == TENSOR_Q6_K; }

/* row lengths: one block, an odd number of blocks, a longer row */
static void lengths(uint32_t t, int64_t out[3])
{
    int64_t bs = k_quant(t) ? QK_K : QK;
    out[0] = bs;
    out[1] = 5 * bs;
    out[2] = k_quant(t) ? 8 * bs : 41 * bs;
}

/* Random code bytes with sane random f16 scales (random bits could be NaN). */
static void random_rows(rng_fast *g, uint32_t t, int64_t rows, int64_t cols, uint8_t *w)
{
    size_t rb = (size_t)tensor_row_bytes(t, cols);
    for (size_t i = 0; i < rb * (size_t)rows; i++)
        w[i] = (uint8_t)rng_fast_u64(g);
    size_t bs = (size_t)tensor_row_bytes(t, k_quant(t) ? QK_K : QK);
    for (size_t o = 0; o < rb * (size_t)rows; o += bs) {
        uint16_t d = tensor_f32_to_f16((float)(0.001 + 0.01 * rng_fast_double(g)));
        uint16_t m = tensor_f32_to_f16((float)(0.001 + 0.01 * rng_fast_double(g)));
        switch (t) {
        case TENSOR_Q4_K: memcpy(w + o + offsetof(block_q4_k, d), &d, 2); memcpy(w + o + offsetof(block_q4_k, dmin), &m, 2); break;
        case TENSOR_Q5_K: memcpy(w + o + offsetof(block_q5_k, d), &d, 2); memcpy(w + o + offsetof(block_q5_k, dmin), &m, 2); break;
        case TENSOR_Q6_K: memcpy(w + o + offsetof(block_q6_k, d), &d, 2); break;
        default: memcpy(w + o, &d, 2); break; /* d leads the legacy blocks */
        }
    }
}

/* Activations with the cases the quantisers must round alike: a zero block,
 * halves (ties), equal magnitudes of both signs, one large outlier. */
static void random_x(rng_fast *g, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((rng_fast_double(g) - 0.5) * (i % 11 == 0 ? 6.0 : 1.0));
    for (int64_t i = 0; i < n && i < 32; i++)
        x[i] = 0; /* the first 32-block is zero */
    if (n >= 64) {
        x[40] = 2.5f, x[41] = -2.5f, x[42] = 0.5f * 2.5f / 127.f * 3; /* ties of magnitude */
        x[n - 1] = 40.f;
    }
}

/* the scalar quantisers: the activations every level's products get */
static void quant_ref(uint32_t t, const float *x, int64_t n, char *act)
{
    const qdot_kernels *ref = qdot_kernels_at(CAPE_ISA_SCALAR);
    if (k_quant(t))
        ref->quant_q8_k(x, (block_q8_k *)act, n);
    else
        ref->quant_qa(x, (qa_block *)act, n);
}

/* sum of |w_i x_i| over the dequantised row: the scale of the float error */
static double magnitude(uint32_t t, const uint8_t *w, const float *x, int64_t cols)
{
    float *deq = malloc(sizeof(float) * (size_t)cols);
    quant_dequant_row(t, w, deq, cols);
    double m = 0;
    for (int64_t i = 0; i < cols; i++)
        m += fabs((double)deq[i] * x[i]);
    free(deq);
    return m;
}

#define TOL 2e-6

static void check(const char *what, int level, uint32_t t, int64_t cols, int64_t tok, int64_t row,
                  double got, double want, double mag)
{
    if (!(fabs(got - want) <= TOL * mag + 1e-30))
        fail_msg("%s at %s, %s, %d values, token %d row %d: %.9g, scalar %.9g (magnitude %g)", what,
                 cape_isa_name((cape_isa)level), tensor_type_name(t), (int)cols, (int)tok, (int)row,
                 got, want, mag);
}

static void quantisers_round_alike(void **state)
{
    (void)state;
    rng_fast g;
    rng_fast_seed(&g, 11);
    const qdot_kernels *ref = qdot_kernels_at(CAPE_ISA_SCALAR);
    int levels = 0;
    for (int level = 0; level <= (int)cape_isa_level(); level++, levels++) {
        const qdot_kernels *k = qdot_kernels_at(level);
#if defined(__aarch64__) /* neon and dotprod share one table (its entry points pick SDOT) */
        assert_string_equal(k->name, level >= CAPE_ISA_NEON ? "neon" : "scalar");
#else
        assert_string_equal(k->name, cape_isa_name((cape_isa)level == CAPE_ISA_AMX ? CAPE_ISA_VNNI : (cape_isa)level));
#endif
        for (int rep = 0; rep < 8; rep++) {
            const int64_t n = 4 * QK_K;
            float x[4 * QK_K];
            random_x(&g, x, n);
            if (rep == 1)
                for (int i = 0; i < QK_K; i++)
                    x[i] = 0; /* a zero super-block */
            if (rep == 2)
                x[299] = 50.f, x[300] = -50.f; /* the first of equal magnitudes sets the sign */
            qa_block a[4 * QK_K / QK], b[4 * QK_K / QK];
            memset(a, 0x55, sizeof a), memset(b, 0x55, sizeof b);
            ref->quant_qa(x, a, n);
            k->quant_qa(x, b, n);
            assert_memory_equal(a, b, sizeof a);
            block_q8_k c[4], d[4];
            memset(c, 0x55, sizeof c), memset(d, 0x55, sizeof d);
            ref->quant_q8_k(x, c, n);
            k->quant_q8_k(x, d, n);
            assert_memory_equal(c, d, sizeof c);
        }
    }
    assert_true(levels >= 1);
}

/* one-row and four-row kernels of each level against the scalar row */
static void products_match_scalar(void **state)
{
    (void)state;
    rng_fast g;
    rng_fast_seed(&g, 12);
    for (int level = 0; level <= (int)cape_isa_level(); level++) {
        const qdot_kernels *k = qdot_kernels_at(level);
        for (size_t ti = 0; ti < NTYPES; ti++) {
            uint32_t t = TYPES[ti];
            int64_t ns[3];
            lengths(t, ns);
            for (int li = 0; li < 3; li++) {
                const int64_t cols = ns[li], rows = 3, ntok = 4;
                size_t rb = (size_t)tensor_row_bytes(t, cols), ab = qdot_act_bytes(t, cols);
                uint8_t *w = malloc(rb * rows);
                float *x = malloc(sizeof(float) * (size_t)(cols * ntok));
                char *act = malloc(ab * ntok);
                random_rows(&g, t, rows, cols, w);
                random_x(&g, x, cols * ntok);
                for (int64_t tok = 0; tok < ntok; tok++)
                    quant_ref(t, x + tok * cols, cols, act + (size_t)tok * ab);
                /* transposed block scales of the four rows, as tensor_matmul makes them */
                int64_t nb = cols / QK;
                float *sc = calloc((size_t)(2 * nb * 4), sizeof(float));
                for (int64_t tok = 0; tok < ntok && !k_quant(t); tok++)
                    for (int64_t b = 0; b < nb; b++) {
                        const qa_block *q = (const qa_block *)(act + (size_t)tok * ab) + b;
                        sc[b * 4 + tok] = q->d;
                        sc[nb * 4 + b * 4 + tok] = q->d * (float)q->sum;
                    }
                qdot_scales qs = {sc, sc + nb * 4, 4};
                for (int64_t r = 0; r < rows; r++) {
                    const uint8_t *wr = w + (size_t)r * rb;
                    float o[4];
                    int has4 = k->rows4(t, wr, act, ab, cols, k_quant(t) ? NULL : &qs, 0, o);
                    /* the scalar level has none; every vector level has all types but VNNI's Q5_K */
                    if (level == CAPE_ISA_AVX2 || level == CAPE_ISA_AVX512)
                        assert_true(has4);
                    for (int64_t tok = 0; tok < ntok; tok++) {
                        const char *a = act + (size_t)tok * ab;
                        double want = qdot_row_generic(t, wr, a, cols);
                        double mag = magnitude(t, wr, x + tok * cols, cols);
                        check("row", level, t, cols, tok, r, k->row(t, wr, a, cols), want, mag);
                        if (has4)
                            check("rows4", level, t, cols, tok, r, o[tok], want, mag);
                    }
                }
                free(sc);
                free(w);
                free(x);
                free(act);
            }
        }
    }
}

/* tensor_matmul at each level (cape_isa_force): odd row counts, token counts
 * that leave four-token tails and many-token tiles, one and two threads */
static void matmul_matches_scalar(void **state)
{
    (void)state;
    rng_fast g;
    rng_fast_seed(&g, 13);
    pool *two = pool_new(2);
    assert_non_null(two);
    const int64_t rows = 37, toks[] = {1, 3, 4, 6, 13, 16, 19};
    for (int level = 0; level <= (int)cape_isa_level(); level++) {
        for (size_t ti = 0; ti < NTYPES; ti++) {
            uint32_t t = TYPES[ti];
            int64_t ns[3];
            lengths(t, ns);
            int64_t cols = ns[1];
            size_t rb = (size_t)tensor_row_bytes(t, cols), ab = qdot_act_bytes(t, cols);
            uint8_t *w = malloc(rb * rows);
            float *x = malloc(sizeof(float) * (size_t)(cols * 19)), *y = malloc(sizeof(float) * (size_t)(rows * 19));
            char *act = malloc(ab);
            random_rows(&g, t, rows, cols, w);
            random_x(&g, x, cols * 19);
            tensor_mat m = tensor_mat_make(t, cols, rows, w);
            for (size_t ni = 0; ni < sizeof toks / sizeof *toks; ni++)
                for (int threads = 1; threads <= 2; threads++) {
                    int64_t n = toks[ni];
                    memset(y, 0, sizeof(float) * (size_t)(rows * n));
                    cape_isa_force(level);
                    tensor_matmul(threads == 1 ? NULL : two, &m, x, n, y);
                    cape_isa_force(-1);
                    for (int64_t tok = 0; tok < n; tok++) {
                        quant_ref(t, x + tok * cols, cols, act);
                        for (int64_t r = 0; r < rows; r++) {
                            const uint8_t *wr = w + (size_t)r * rb;
                            double want = qdot_row_generic(t, wr, act, cols);
                            check(threads == 1 ? "matmul" : "matmul (2 threads)", level, t, cols, tok, r,
                                  y[tok * rows + r], want, magnitude(t, wr, x + tok * cols, cols));
                        }
                    }
                }
            free(w);
            free(x);
            free(y);
            free(act);
        }
    }
    pool_free(two);
}

/* The few-token kernels (tokens in the lanes of a vector: 8 or 16 wide,
 * QMM_LANES at most) and the panels (more tokens) do the same float
 * operations in the same order: the first n tokens of a QMM_LANES + 1 token
 * product equal the n-token product bit for bit. */
static void lanes_match_panels(void **state)
{
    (void)state;
    rng_fast g;
    rng_fast_seed(&g, 17);
    const int64_t rows = 75, big = QMM_LANES + 1, ns[] = {2, 5, 8, 9, QMM_LANES};
    for (size_t ti = 0; ti < NTYPES; ti++) {
        uint32_t t = TYPES[ti];
        if (!qmm_lanes_supported(t))
            continue;
        int64_t len[3];
        lengths(t, len);
        int64_t cols = len[2];
        size_t rb = (size_t)tensor_row_bytes(t, cols);
        uint8_t *w = malloc(rb * rows);
        float *x = malloc(sizeof(float) * (size_t)(cols * big));
        float *ys = malloc(sizeof(float) * (size_t)(rows * big));
        float *yb = malloc(sizeof(float) * (size_t)(rows * big));
        random_rows(&g, t, rows, cols, w);
        random_x(&g, x, cols * big);
        tensor_mat m = tensor_mat_make(t, cols, rows, w);
        tensor_matmul(NULL, &m, x, big, yb);
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
            if (ns[k] < qmm_min_tokens(t)) /* the four-token kernels' turf */
                continue;
            tensor_matmul(NULL, &m, x, ns[k], ys);
            for (int64_t i = 0; i < rows * ns[k]; i++)
                if (memcmp(&ys[i], &yb[i], sizeof(float))) {
                    print_error("type %u, %ld tokens: token %ld row %ld: lanes %.9g, panels %.9g\n", t,
                                (long)ns[k], (long)(i / rows), (long)(i % rows), ys[i], yb[i]);
                    fail();
                }
        }
        free(w);
        free(x);
        free(ys);
        free(yb);
    }
}

/* F32 weights: a product of many tokens gives each token exactly its own
 * dot product (the four-token pass sums as the one-token one does), on
 * every level and for row lengths with every kind of tail. */
static void f32_matmul_is_per_token(void **state)
{
    (void)state;
    rng_fast g;
    rng_fast_seed(&g, 19);
    const int64_t rows = 21, n = 11, lens[] = {7, 40, 129, 256};
    for (int level = 0; level <= (int)cape_isa_level(); level++)
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
            int64_t cols = lens[li];
            float *w = malloc(sizeof(float) * (size_t)(rows * cols));
            float *x = malloc(sizeof(float) * (size_t)(n * cols)), *y = malloc(sizeof(float) * (size_t)(n * rows));
            random_x(&g, w, rows * cols);
            random_x(&g, x, n * cols);
            tensor_mat m = tensor_mat_make(TENSOR_F32, cols, rows, w);
            cape_isa_force(level);
            tensor_matmul(NULL, &m, x, n, y);
            for (int64_t t = 0; t < n; t++)
                for (int64_t r = 0; r < rows; r++) {
                    float want = tensor_dot_f32(w + r * cols, x + t * cols, cols);
                    if (memcmp(&want, &y[t * rows + r], sizeof want)) {
                        cape_isa_force(-1);
                        fail_msg("%s, %ld values: token %ld row %ld: %.9g, alone %.9g",
                                 cape_isa_name((cape_isa)level), (long)cols, (long)t, (long)r,
                                 y[t * rows + r], want);
                    }
                }
            cape_isa_force(-1);
            free(w);
            free(x);
            free(y);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quantisers_round_alike),
        cmocka_unit_test(products_match_scalar),
        cmocka_unit_test(matmul_matches_scalar),
        cmocka_unit_test(lanes_match_panels),
        cmocka_unit_test(f32_matmul_is_per_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
