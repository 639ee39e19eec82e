/* attn: softmax attention of a group of query heads that share one key/value
 * head, over a range of cached positions, blocked for prompt chunks.
 *
 * For one token the group's G query vectors meet the same keys, so scores are
 * computed as a small matrix product against keys transposed once per layer
 * and chunk (kt[d][j]: 16 positions per vector, no horizontal sums), and the
 * weighted sum of values as G rows times the value rows, 64 dimensions at a
 * time. Scores, the softmax (exp with the Cephes polynomial of act.c,
 * denominators in double) and the output follow the one-token definition;
 * only the order of float additions differs. AVX-512 when the CPU has it and
 * head_dim is a multiple of 16; plain loops otherwise. */
#ifndef CAPE_ATTN_H
#define CAPE_ATTN_H

#include <stddef.h>

/* kt[d * ld + j] = k[j * k_stride + d] for j_from <= j < n_pos, d < hd, and
 * zeros for the 16 positions after n_pos that the kernels may read (ld >=
 * n_pos + 16, or ld a multiple of 16). */
void attn_keys_transpose(const float *k, size_t k_stride, int j_from, int n_pos, int hd, float *kt,
                         int ld);

/* Floats of scratch attn_group needs: G rows of ld scores. */
size_t attn_scratch_floats(int G, int ld);

/* out[g * hd + i] = sum_j softmax_j(scale * q_g . k_j) v[j * v_stride + i]
 * over positions j0 <= j <= j1, for the G query vectors q[g * hd ...]; kt
 * from attn_keys_transpose with n_pos > j1 and j_from <= j0 rounded down to
 * 16. */
void attn_group(const float *q, int G, int hd, const float *kt, int ld, const float *v,
                size_t v_stride, int j0, int j1, float scale, float *scratch, float *out);

#endif
