/* qmm_impl: what the many-token kernels' variants share (private to
 * src/tensor): how activation rows are divided into scaled blocks, and the
 * per-level entry points. */
#ifndef CAPE_QMM_IMPL_H
#define CAPE_QMM_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/qdot.h"
#include "tensor/qmm.h"
#include "tensor/quant.h"

static inline int legacy(uint32_t t) { return t == TENSOR_Q4_0 || t == TENSOR_Q5_0 || t == TENSOR_Q8_0; }
static inline int has_mins(uint32_t t) { return t == TENSOR_Q4_K || t == TENSOR_Q5_K; }

/* Values per scaled sub-block: 16 for Q6_K, 32 otherwise. */
static inline int sub_len(uint32_t t) { return t == TENSOR_Q6_K ? 16 : 32; }

/* What the stored unsigned code exceeds the signed value by. */
static inline int code_offset(uint32_t t)
{
    switch (t) {
    case TENSOR_Q4_0: return 8;
    case TENSOR_Q5_0: return 16;
    case TENSOR_Q8_0: return 128;
    case TENSOR_Q6_K: return 32;
    default: return 0;
    }
}

/* How an activation row of cols values is divided: sub-blocks (one integer
 * sum each), scale blocks (one d_x each), and where a block's values sit. */
typedef struct {
    int64_t subs, blocks, per_block; /* sub-blocks per row, scale blocks per row, ratio */
    size_t block_bytes, qs_offset;
} act_shape;

static inline act_shape shape_of(uint32_t t, int64_t cols)
{
    act_shape s;
    s.subs = cols / sub_len(t);
    s.blocks = legacy(t) ? cols / QK : cols / QK_K;
    s.per_block = s.subs / s.blocks;
    s.block_bytes = legacy(t) ? sizeof(qa_block) : sizeof(block_q8_k);
    s.qs_offset = legacy(t) ? offsetof(qa_block, qs) : offsetof(block_q8_k, qs);
    return s;
}

/* A panel of QMM_ROWS weight rows: codes (see qmm.h), and per sub-block the
 * scales dw[s * QMM_ROWS + i] and, for Q4_K/Q5_K, the minimums mw. */
typedef struct {
    const uint8_t *panel;
    const float *dw, *mw;
} qmm_panel;

/* The few-token layout (qmm_prepare_lanes): x[(s * sub_len / 4 + k4) * 64
 * + 4 * t + i] is value 4 * k4 + i of sub-block s of token t; per sub-block
 * the integer starts of the 16 tokens, per scale block their scales, and for
 * Q4_K/Q5_K per block and sub-block their scaled sums; tokens past n are 0. */
typedef struct {
    const uint8_t *x;
    const int32_t *start; /* [subs][16] */
    const float *dx;      /* [blocks][16] */
    const float *xs;      /* [blocks][8][16] */
} qmm_lanes_view;

static inline qmm_lanes_view qmm_lanes_of(uint32_t t, int64_t cols, const void *lanes)
{
    act_shape s = shape_of(t, cols);
    qmm_lanes_view v;
    v.x = lanes;
    v.start = (const int32_t *)(v.x + (size_t)cols * QMM_LANES);
    v.dx = (const float *)(v.start + s.subs * QMM_LANES);
    v.xs = v.dx + s.blocks * QMM_LANES;
    return v;
}

static inline char *qmm_align64(void *p) { return (char *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

#if defined(__aarch64__)
/* NEON / dotprod (arm/qmm_neon.c), every type, lanes only */
void qmm_rows_neon(const qmm_job *j, int64_t r0, int64_t r1, void *workspace);
#endif

#if defined(__x86_64__)
/* AVX-512 VNNI (x86/qmm_vnni.c), every type */
void qmm_rows_vnni(const qmm_job *j, int64_t r0, int64_t r1, void *workspace);
/* AVX2 (x86/qmm_avx2.c), the types of qmm_avx2_supported */
int qmm_avx2_supported(uint32_t t);
void qmm_rows_avx2(const qmm_job *j, int64_t r0, int64_t r1, void *workspace);
#endif

#endif
