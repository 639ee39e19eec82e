#include "tensor/qmm.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/qdot.h"
#include "tensor/quant.h"
#include "base/isa.h"
#include "tensor/qmm_impl.h"

static int qmm_off = -1;

void qmm_disable(int off) { qmm_off = off; }

static int int8_type(uint32_t t)
{
    return t == TENSOR_Q4_0 || t == TENSOR_Q5_0 || t == TENSOR_Q8_0 || t == TENSOR_Q4_K ||
           t == TENSOR_Q5_K || t == TENSOR_Q6_K;
}

/* info: int32 start[npad][subs] (-offset * sum of the sub-block's values),
 * float dx[npad][blocks] (activation scales), and for Q4_K/Q5_K float
 * xs[npad][blocks][8] (scale times the sum of each 32-value sub-block). */
size_t qmm_info_bytes(uint32_t t, int64_t cols, int64_t npad)
{
    act_shape s = shape_of(t, cols);
    size_t n = (size_t)npad * (size_t)(s.subs + s.blocks + (has_mins(t) ? 8 * s.blocks : 0));
    return n * 4;
}

void qmm_prepare(const qmm_job *j, int64_t t0, int64_t t1, void *info)
{
    act_shape s = shape_of(j->type, j->cols);
    int32_t *start = info;
    float *dx = (float *)(start + j->npad * s.subs), *xs = dx + j->npad * s.blocks;
    int off = code_offset(j->type);
    for (int64_t t = t0; t < t1; t++) {
        const char *row = j->act + (size_t)t * j->act_bytes;
        for (int64_t b = 0; b < s.blocks; b++) {
            if (legacy(j->type)) {
                const qa_block *a = (const qa_block *)row + b;
                dx[t * s.blocks + b] = a->d;
                start[t * s.subs + b] = -off * a->sum;
                continue;
            }
            const block_q8_k *a = (const block_q8_k *)row + b;
            dx[t * s.blocks + b] = a->d;
            for (int64_t k = 0; k < s.per_block; k++) {
                int sum = 0;
                for (int g = 0; g < QK_K / 16 / s.per_block; g++)
                    sum += a->bsums[k * (QK_K / 16 / s.per_block) + g];
                start[t * s.subs + b * s.per_block + k] = -off * sum;
                if (has_mins(j->type))
                    xs[(t * s.blocks + b) * 8 + k] = a->d * (float)sum;
            }
        }
    }
}

size_t qmm_workspace_bytes(uint32_t t, int64_t cols)
{
    int64_t subs = cols / sub_len(t);
    /* panel, one expanded scale block, scales, minimums, one tile's results
     * (or a lane panel's), AVX2's Q8_0 magnitudes of a lane panel,
     * alignment */
    return (size_t)QMM_ROWS * (size_t)cols + (size_t)QMM_ROWS * QK_K +
           2 * (size_t)subs * QMM_ROWS * sizeof(float) +
           (QMM_LANES > QMM_TOKENS ? QMM_LANES : QMM_TOKENS) * QMM_ROWS * sizeof(float) +
           (size_t)QMM_ROWS * (size_t)cols + 128;
}

size_t qmm_lanes_bytes(uint32_t t, int64_t cols)
{
    act_shape s = shape_of(t, cols);
    return (size_t)QMM_LANES * ((size_t)cols + 4 * (size_t)(s.subs + s.blocks + 8 * s.blocks));
}

void qmm_prepare_lanes(const qmm_job *j, const void *info, int groups, void *lanes)
{
    const act_shape sh = shape_of(j->type, j->cols);
    const int ks = sub_len(j->type);
    const size_t gb = qmm_lanes_bytes(j->type, j->cols);
    const int32_t *start = info;
    const float *dx = (const float *)(start + j->npad * sh.subs), *xs = dx + j->npad * sh.blocks;
    memset(lanes, 0, gb * (size_t)groups);
    for (int g = 0; g < groups; g++) {
        qmm_lanes_view v = qmm_lanes_of(j->type, j->cols, (char *)lanes + gb * (size_t)g);
        uint8_t *x = (uint8_t *)v.x;
        int32_t *vs = (int32_t *)v.start;
        float *vdx = (float *)v.dx, *vxs = (float *)v.xs;
        for (int64_t l = 0; l < QMM_LANES && (int64_t)g * QMM_LANES + l < j->n; l++) {
            const int64_t t = (int64_t)g * QMM_LANES + l;
            const char *row = j->act + (size_t)t * j->act_bytes + sh.qs_offset;
            for (int64_t s = 0; s < sh.subs; s++) {
                const char *src = row + (size_t)(s / sh.per_block) * sh.block_bytes +
                                  (size_t)(s % sh.per_block) * (size_t)ks;
                for (int k4 = 0; k4 < ks / 4; k4++)
                    memcpy(x + ((size_t)s * (size_t)(ks / 4) + (size_t)k4) * 64 + 4 * (size_t)l,
                           src + 4 * k4, 4);
                vs[s * QMM_LANES + l] = start[t * sh.subs + s];
            }
            for (int64_t b = 0; b < sh.blocks; b++) {
                vdx[b * QMM_LANES + l] = dx[t * sh.blocks + b];
                if (has_mins(j->type))
                    for (int k = 0; k < 8; k++)
                        vxs[(b * 8 + k) * QMM_LANES + l] = xs[(t * sh.blocks + b) * 8 + k];
            }
        }
    }
}

/* ---- dispatch ---- */

typedef void (*rows_fn)(const qmm_job *, int64_t, int64_t, void *);

/* The kernel of the current level for weights of type t, or NULL. */
static rows_fn kernel_for(uint32_t t)
{
#if defined(__x86_64__)
    switch (cape_isa_level()) {
    case CAPE_ISA_SCALAR: return NULL;
    case CAPE_ISA_AVX2:
    case CAPE_ISA_AVX512: return qmm_avx2_supported(t) ? qmm_rows_avx2 : NULL;
    default: return qmm_rows_vnni;
    }
#elif defined(__aarch64__)
    (void)t;
    return cape_isa_level() >= CAPE_ISA_NEON ? qmm_rows_neon : NULL;
#else
    (void)t;
    return NULL;
#endif
}

int qmm_available(void)
{
    if (qmm_off < 0) { /* CAPE_QMM=0 in the environment: the one-token kernels for all */
        const char *env = getenv("CAPE_QMM");
        qmm_off = env && strcmp(env, "0") == 0;
    }
    return !qmm_off && kernel_for(TENSOR_Q4_0) != NULL;
}

int qmm_supported(uint32_t t) { return int8_type(t) && kernel_for(t) != NULL; }

/* Measured on Gemma 3 270M, one thread, a decoding step of B sequences:
 * with VNNI the few-token kernel wins from 2 tokens on (2 or 4 sequences:
 * 40-42 ms against 49 ms with the four-token kernels); with AVX2 only from 5
 * on (4 sequences: 57 ms with the four-token kernel, 63 ms in lanes), since
 * without VNNI the signed products cost as much in either layout. */
int qmm_min_tokens(uint32_t t)
{
#if defined(__x86_64__)
    return int8_type(t) && kernel_for(t) == qmm_rows_vnni ? 2 : 5;
#else
    (void)t;
    return 5;
#endif
}

int qmm_lanes_supported(uint32_t t) { return int8_type(t) && kernel_for(t) != NULL; }

int qmm_lanes_groups(uint32_t t, int64_t n)
{
    if (!qmm_lanes_supported(t) || n < 1)
        return 0;
#if defined(__aarch64__)
    return (int)((n + QMM_LANES - 1) / QMM_LANES); /* the only many-token layout there */
#else
    return n <= QMM_LANES;
#endif
}

void qmm_rows(const qmm_job *j, int64_t r0, int64_t r1, void *workspace)
{
    rows_fn f = kernel_for(j->type);
    if (f)
        f(j, r0, r1, workspace);
}
