/* qdot: dot products of quantised weight rows with activations quantised to
 * int8, the kernel of every matmul over a quantised model.
 *
 * Activations are quantised once per matmul: to blocks of 32 (qa_block, for
 * Q4_0/Q5_0/Q8_0 weights) or of 256 (block_q8_k, for Q4_K/Q5_K/Q6_K), with
 * round-to-nearest and one f32 scale per block. A row dot product is then
 * sum over blocks of d_w * d_x * (integer dot), with the K-quants' sub-block
 * scales and minimums folded in as ggml defines them. Each kernel has a
 * portable scalar version and per-ISA variants (src/tensor/x86/: AVX2,
 * AVX-512, AVX-512 VNNI), one table of them per level of base/isa.h, chosen
 * at run time from cape_isa_level(). */
#ifndef CAPE_QDOT_H
#define CAPE_QDOT_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/quant.h"

typedef struct {
    float d;
    int32_t sum; /* sum of qs */
    int8_t qs[QK];
} qa_block;

/* 1 when weights of this type use the int8 path. */
int qdot_supported(uint32_t wtype);
/* Bytes of one activation row of n values for weights of wtype. */
size_t qdot_act_bytes(uint32_t wtype, int64_t n);
void qdot_quantize(uint32_t wtype, const float *x, int64_t n, void *act);
/* Dot of one weight row (n values) with one quantised activation row. */
float qdot_row(uint32_t wtype, const void *w, const void *act, int64_t n);
/* Per-block scales of n activation rows, transposed for the four-row
 * kernels: sc[b * npad + t] = d of block b of row t, scs[...] = d * sum. */
typedef struct {
    const float *sc, *scs;
    int64_t npad;
} qdot_scales;

/* Dots of one weight row with activation rows t0..t0+3 (act points at row
 * t0, rows stride bytes apart) into out[0..3]; 0 when no such kernel exists
 * here (use qdot_row). sc may be NULL for K-quant weights. */
int qdot_rows4(uint32_t wtype, const void *w, const void *act, size_t stride, int64_t n,
               const qdot_scales *sc, int64_t t0, float *out);
/* One instruction-set level's kernels. quant_qa and quant_q8_k round exactly
 * as the scalar ones; row and rows4 give the scalar kernel's integer sums,
 * only the order of the float additions differs. rows4 returns 0 where the
 * level has no such kernel. */
typedef struct {
    const char *name;
    void (*quant_qa)(const float *x, qa_block *y, int64_t n);
    void (*quant_q8_k)(const float *x, block_q8_k *y, int64_t n);
    float (*row)(uint32_t wtype, const void *w, const void *act, int64_t n);
    int (*rows4)(uint32_t wtype, const void *w, const void *act, size_t stride, int64_t n,
                 const qdot_scales *sc, int64_t t0, float *out);
} qdot_kernels;
/* The kernels of a level (cape_isa; the host must run it), and those of
 * cape_isa_level() (look them up once per loop, not per row). */
const qdot_kernels *qdot_kernels_at(int level);
const qdot_kernels *qdot_kernels_now(void);
/* The scalar kernels, for tests. */
float qdot_row_generic(uint32_t wtype, const void *w, const void *act, int64_t n);
int qdot_have_vnni(void);

#endif
