/* quant: ggml's block formats. Dequantisation of a row of any supported
 * type to f32, quantisation of f32 rows (Q8_0 and Q4_0 for writers and tests,
 * Q8_K for activations), and the layouts of the blocks.
 *
 * Layouts and formulas follow ggml-quants.c (llama.cpp, MIT); the code here
 * is written from the formulas, and tests compare against the numpy
 * implementation of the `gguf` Python package. */
#ifndef CAPE_QUANT_H
#define CAPE_QUANT_H

#include <stdint.h>

#include "tensor/dtype.h"

#define QK 32   /* values per block of the legacy quants */
#define QK_K 256 /* values per K-quant super-block */

typedef struct {
    uint16_t d;
    uint8_t qs[QK / 2];
} block_q4_0;

typedef struct {
    uint16_t d, m;
    uint8_t qs[QK / 2];
} block_q4_1;

typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[QK / 2];
} block_q5_0;

typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[QK / 2];
} block_q5_1;

typedef struct {
    uint16_t d;
    int8_t qs[QK];
} block_q8_0;

typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    uint16_t d, dmin;
} block_q2_k;

typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} block_q3_k;

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[QK_K / 2];
} block_q4_k;

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_k;

typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_k;

/* Activations quantised for the K-quant dot products: one float scale,
 * 256 int8 values, and the sums of each group of 16 (for the minimum terms). */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_k;

/* 1 when cape can dequantise (and so compute with) this type. */
int quant_supported(uint32_t type);
/* Dequantises n values (a whole number of blocks) of `type` from src. */
void quant_dequant_row(uint32_t type, const void *src, float *dst, int64_t n);

/* Round-to-nearest quantisers, as ggml's reference ones. */
void quant_q8_0_row(const float *x, block_q8_0 *y, int64_t n);
void quant_q4_0_row(const float *x, block_q4_0 *y, int64_t n);
void quant_q8_k_row(const float *x, block_q8_k *y, int64_t n);

/* The 6-bit scale and minimum j (0..7) of a Q4_K/Q5_K super-block. */
static inline void quant_k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif
