/* The lane tile of one aarch64 level, included by qmm_neon.c with SFX
 * (name suffix), KATTR (target attribute) and DOT4 (acc += the products of
 * four bytes of one weight row, duplicated in every lane, and four bytes of
 * each of four tokens) defined. */

/* Rows r0 and r0 + 1 of the unpacked panel times the 16 tokens of one lanes
 * group, into out[r * QMM_LANES + token]. */
KATTR static void SFX(tile)(const qmm_job *j, const void *lanes, const int8_t *vals, const float *dw,
                            const float *mw, int r0, float *out)
{
    const uint32_t t = j->type;
    const int ks = sub_len(t);
    const act_shape sh = shape_of(t, j->cols);
    const qmm_lanes_view v = qmm_lanes_of(t, j->cols, lanes);
    const size_t cols = (size_t)j->cols;
    const int mins = has_mins(t);
    const int8_t *w0 = vals + (size_t)r0 * cols, *w1 = w0 + cols;
    float32x4_t f0[4], f1[4];
    for (int q = 0; q < 4; q++)
        f0[q] = f1[q] = vdupq_n_f32(0);
    for (int64_t s = 0; s < sh.subs; s++) {
        const int64_t b = s / sh.per_block;
        const int8_t *xq = (const int8_t *)v.x + (size_t)s * (size_t)ks * QMM_LANES;
        int32x4_t i0[4], i1[4];
        for (int q = 0; q < 4; q++)
            i0[q] = i1[q] = vdupq_n_s32(0);
        for (int k4 = 0; k4 < ks / 4; k4++) {
            int32_t c0, c1;
            memcpy(&c0, w0 + (size_t)s * (size_t)ks + 4 * (size_t)k4, 4);
            memcpy(&c1, w1 + (size_t)s * (size_t)ks + 4 * (size_t)k4, 4);
            const int8x16_t a0 = vreinterpretq_s8_s32(vdupq_n_s32(c0));
            const int8x16_t a1 = vreinterpretq_s8_s32(vdupq_n_s32(c1));
            for (int q = 0; q < 4; q++) {
                const int8x16_t x = vld1q_s8(xq + 64 * k4 + 16 * q);
                i0[q] = DOT4(i0[q], a0, x);
                i1[q] = DOT4(i1[q], a1, x);
            }
        }
        const float d0 = dw[s * QMM_ROWS + r0], d1 = dw[s * QMM_ROWS + r0 + 1];
        for (int q = 0; q < 4; q++) {
            const float32x4_t dx = vld1q_f32(v.dx + b * QMM_LANES + 4 * q);
            f0[q] = vfmaq_f32(f0[q], vcvtq_f32_s32(i0[q]), vmulq_n_f32(dx, d0));
            f1[q] = vfmaq_f32(f1[q], vcvtq_f32_s32(i1[q]), vmulq_n_f32(dx, d1));
        }
        if (mins && s % sh.per_block == sh.per_block - 1) {
            const float *mwb = mw + (s - sh.per_block + 1) * QMM_ROWS + r0;
            for (int k = 0; k < 8; k++)
                for (int q = 0; q < 4; q++) {
                    const float32x4_t x = vld1q_f32(v.xs + (b * 8 + k) * QMM_LANES + 4 * q);
                    f0[q] = vfmsq_f32(f0[q], vdupq_n_f32(mwb[k * QMM_ROWS]), x);
                    f1[q] = vfmsq_f32(f1[q], vdupq_n_f32(mwb[k * QMM_ROWS + 1]), x);
                }
        }
    }
    for (int q = 0; q < 4; q++) {
        vst1q_f32(out + (size_t)r0 * QMM_LANES + 4 * q, f0[q]);
        vst1q_f32(out + (size_t)(r0 + 1) * QMM_LANES + 4 * q, f1[q]);
    }
}
