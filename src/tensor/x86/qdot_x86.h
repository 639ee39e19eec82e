/* The x86-64 variants of the qdot kernels (private to src/tensor): one table
 * per instruction-set level, chosen by qdot_kernels_at (qdot.c).
 *   avx2    qdot_avx2.c    AVX2 + FMA + F16C: vpmaddubsw / vpmaddwd
 *   avx512  qdot_avx512.c  AVX-512 activation quantisers, the AVX2 products
 *   vnni    qdot_avx512.c  AVX-512 VNNI products (vpdpbusd, vpdpwssd) */
#ifndef CAPE_QDOT_X86_H
#define CAPE_QDOT_X86_H

#if defined(__x86_64__)
#include "tensor/qdot.h"

extern const qdot_kernels qdot_kernels_avx2, qdot_kernels_avx512, qdot_kernels_vnni;

/* the AVX2 products, shared by the avx2 and avx512 tables */
float qdot_avx2_row(uint32_t wtype, const void *w, const void *act, int64_t n);
int qdot_avx2_rows4(uint32_t wtype, const void *w, const void *act, size_t stride, int64_t n,
                    const qdot_scales *sc, int64_t t0, float *out);
#endif

#endif
