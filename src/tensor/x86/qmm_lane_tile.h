/* The body of the few-token lane tile of qmm_vnni.c, included once per
 * vector width: LANE_W (16: zmm, 8: ymm) tokens per vector. The lanes
 * buffer keeps 16 token slots; the 8-wide tile reads the first 8 of each. */
#if LANE_W == 16
#define LV_I __m512i
#define LV_F __m512
#define LV(op) _mm512_##op
#define LV_LOAD_I(p) _mm512_load_si512(p)
#define LANE_FN(name) name##16
#else
#define LV_I __m256i
#define LV_F __m256
#define LV(op) _mm256_##op
#define LV_LOAD_I(p) _mm256_load_si256((const __m256i *)(p))
#define LANE_FN(name) name##8
#endif

/* Rows r0..r0+7 of the expanded panel (codes: QMM_ROWS rows of cols codes,
 * scales and minimums as the panels') times the (up to 16) tokens; row r's
 * 16 results go to out[r * 16 ...]. */
KERN INLINE void LANE_FN(lane_tile)(const qmm_job *j, const uint8_t *codes, const float *dw, const float *mw,
                           int r0, float *out, const char *pf, size_t pf_lines, size_t per_s,
                           const int ks, const int per_block, const int mins)
{
    const act_shape sh = shape_of(j->type, j->cols);
    const qmm_lanes_view v = qmm_lanes_of(j->type, j->cols, j->lanes);
    const size_t cols = (size_t)j->cols;
    const uint8_t *cw = codes + (size_t)r0 * cols;
#define LDECL(r) LV_F f_##r = LV(setzero_ps)();
    EACH_ROW(LDECL)
    for (int64_t s = 0; s < sh.subs; s++) {
        const int64_t b = s / per_block;
        for (size_t k = 0, l = (size_t)s * per_s; k < per_s && l < pf_lines; k++, l++)
            _mm_prefetch(pf + 64 * l, _MM_HINT_T1);
        const LV_I st = LV_LOAD_I(v.start + s * QMM_LANES);
        const uint8_t *xq = v.x + (size_t)s * (size_t)ks * QMM_LANES;
        const uint8_t *cs = cw + (size_t)s * (size_t)ks;
#define LSTART(r) LV_I i_##r = st;
        EACH_ROW(LSTART)
#pragma GCC unroll 8
        for (int k4 = 0; k4 < ks / 4; k4++) {
            const LV_I x = LV_LOAD_I(xq + 64 * k4);
#define LDOT(r)                                                                                    \
    {                                                                                              \
        int32_t c4;                                                                                \
        memcpy(&c4, cs + (size_t)(r) * cols + 4 * k4, 4);                                          \
        i_##r = LV(dpbusd_epi32)(i_##r, LV(set1_epi32)(c4), x);                              \
    }
            EACH_ROW(LDOT)
        }
        const LV_F dx = LV(load_ps)(v.dx + b * QMM_LANES);
        const float *d = dw + s * QMM_ROWS + r0;
#define LSCALE(r) f_##r = LV(fmadd_ps)(LV(cvtepi32_ps)(i_##r), LV(mul_ps)(LV(set1_ps)(d[r]), dx), f_##r);
        EACH_ROW(LSCALE)
        if (mins && s % per_block == per_block - 1) {
            const float *mwb = mw + (s - per_block + 1) * QMM_ROWS + r0;
            for (int k = 0; k < 8; k++) {
                const LV_F x = LV(load_ps)(v.xs + (b * 8 + k) * QMM_LANES);
#define LMINS(r) f_##r = LV(fnmadd_ps)(LV(set1_ps)(mwb[k * QMM_ROWS + (r)]), x, f_##r);
                EACH_ROW(LMINS)
            }
        }
    }
#define LSTORE(r) LV(store_ps)(out + (size_t)(r0 + (r)) * QMM_LANES, f_##r);
    EACH_ROW(LSTORE)
#undef LDECL
#undef LSTART
#undef LDOT
#undef LSCALE
#undef LMINS
#undef LSTORE
}

#undef LV_I
#undef LV_F
#undef LV
#undef LV_LOAD_I
#undef LANE_FN
