/* qmm: quantised weights times many activation rows (prompt processing), an
 * outer-product int8 kernel for AVX-512 VNNI (x86/qmm_vnni.c) and for AVX2
 * (x86/qmm_avx2.c: 32-byte halves of the same panels, vpmaddubsw and
 * vpmaddwd, tiles of 8 rows x QMM_TOKENS tokens).
 *
 * The integer arithmetic is qdot's: activations quantised to int8 blocks
 * (qa_block for Q4_0/Q5_0/Q8_0 weights, block_q8_k for the K-quants),
 * exact int32 dot products per weight block, scaled by the weight and
 * activation block scales; only the order of the float additions differs
 * from qdot_row.
 *
 * What differs is the data layout. qdot reduces a weight row against a token
 * along the row, so every (row, token, block) triple pays for a horizontal
 * sum and its own scaling. Here 32 weight rows are expanded once per call
 * into panels in which one 64-byte vector holds four consecutive values of
 * 16 rows; VPDPBUSD multiplies such a vector by four activation values
 * broadcast to every lane, so one instruction advances 16 rows of one token
 * by four values, and the block scaling (convert, multiply, add) is paid
 * once per 16 rows. A register tile of 32 rows x QMM_TOKENS tokens keeps all
 * its sums in registers for the whole row.
 *
 * VPDPBUSD multiplies unsigned by signed bytes, so weights are expanded to
 * their stored unsigned codes (Q8_0 shifted by 128) and the offset is taken
 * off by starting each block's integer sum at -offset * (sum of the block's
 * activations). */
#ifndef CAPE_QMM_H
#define CAPE_QMM_H

#include <stddef.h>
#include <stdint.h>

/* Tokens per register tile: activation rows are padded with zeroed rows to
 * a multiple of this. */
#define QMM_TOKENS 6
/* Weight rows per panel: callers split rows in multiples of this. */
#define QMM_ROWS 32

/* 1 when the current ISA level (cape_isa_level: AVX2 and up) has kernels and
 * they are not turned off (qmm_disable, CAPE_QMM=0). */
int qmm_available(void);
/* Turns the kernels off (1) or on again (0), to compare paths. */
void qmm_disable(int off);
/* 1 when weights of this type have a kernel at the current level. */
int qmm_supported(uint32_t wtype);
/* The fewest tokens for which these kernels beat the one- and four-token
 * products (qdot) at the current level. */
int qmm_min_tokens(uint32_t wtype);

/* Per-token block data the kernels read besides the quantised activations:
 * offsets, scales and sums, for npad activation rows of cols values. */
size_t qmm_info_bytes(uint32_t wtype, int64_t cols, int64_t npad);
/* Scratch bytes qmm_rows needs per thread. */
size_t qmm_workspace_bytes(uint32_t wtype, int64_t cols);

typedef struct {
    uint32_t type;
    int64_t cols, rows;
    size_t row_bytes;
    const void *w;    /* rows x row_bytes */
    const char *act;  /* quantised activation rows (qdot_quantize), padded */
    size_t act_bytes; /* bytes of one activation row */
    const void *info; /* qmm_prepare's output */
    int64_t n, npad;  /* real rows, padded rows (a multiple of QMM_TOKENS) */
    float *y;         /* [n][rows] */
    const void *lanes; /* few tokens: qmm_prepare_lanes's output, or NULL */
} qmm_job;

/* Fills info (qmm_info_bytes) for activation rows t0..t1-1 of j from their
 * quantised values. */
void qmm_prepare(const qmm_job *j, int64_t t0, int64_t t1, void *info);
/* Few tokens (batched decoding: one new token for each of up to QMM_LANES
 * sequences). Expanding weights into panels and transposing them costs as
 * much as the products when a panel serves only a handful of tokens, so
 * instead the tokens go in the lanes of a vector: the activations of the
 * (at most 16) tokens are transposed once per call so that one 64-byte
 * vector holds four consecutive values of every token, and VPDPBUSD
 * multiplies it by four codes of one weight row broadcast to every lane.
 * The weights are expanded to codes row by row and never transposed. The
 * integer sums and the float operations, in their order, are the panels'
 * (the results are the same to the bit). On aarch64 (arm/qmm_neon.c) this
 * layout serves every many-token product, 16 tokens at a time, with SDOT
 * or widening multiplies on signed values. */
#define QMM_LANES 16
/* 1 when the current level has the few-token kernel for this type. */
int qmm_lanes_supported(uint32_t wtype);
/* How many groups of QMM_LANES tokens a product of n tokens goes through
 * in lanes: 0 for the panels (x86 above QMM_LANES tokens), 1 for n <=
 * QMM_LANES, and on aarch64, whose only many-token kernel this is,
 * ceil(n / QMM_LANES). */
int qmm_lanes_groups(uint32_t wtype, int64_t n);
/* Bytes of one group (a multiple of 64). */
size_t qmm_lanes_bytes(uint32_t wtype, int64_t cols);
/* Fills `groups` consecutive groups at lanes (64-byte aligned): group g
 * holds tokens 16g..16g+15 of j's quantised activations and prepared info,
 * tokens past n zero. */
void qmm_prepare_lanes(const qmm_job *j, const void *info, int groups, void *lanes);

/* y[t][r] for every t < n and r0 <= r < r1 (r0 a multiple of QMM_ROWS),
 * with qmm_workspace_bytes of scratch. */
void qmm_rows(const qmm_job *j, int64_t r0, int64_t r1, void *workspace);

#endif
