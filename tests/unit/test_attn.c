/* Blocked attention (tensor/attn.h) against softmax attention computed in
 * double from its definition, for group sizes and head sizes that use the
 * AVX-512 tiles, their remainders and the plain loops, and windows that do not
 * start at position 0. */
#include "testutil.h"

#include <string.h>

#include "base/rng.h"
#include "tensor/attn.h"
#include "tensor/matmul.h"

static void reference(const float *q, int G, int hd, const float *k, const float *v, size_t stride,
                      int j0, int j1, float scale, double *out)
{
    for (int g = 0; g < G; g++) {
        double mx = -1e300, sum = 0, s[300];
        for (int j = j0; j <= j1; j++) {
            double d = 0;
            for (int i = 0; i < hd; i++)
                d += (double)q[g * hd + i] * k[(size_t)j * stride + i];
            s[j - j0] = d * scale;
            mx = s[j - j0] > mx ? s[j - j0] : mx;
        }
        for (int j = j0; j <= j1; j++)
            sum += (s[j - j0] = exp(s[j - j0] - mx));
        for (int i = 0; i < hd; i++) {
            double o = 0;
            for (int j = j0; j <= j1; j++)
                o += s[j - j0] / sum * v[(size_t)j * stride + i];
            out[g * hd + i] = o;
        }
    }
}

static void check_case(rng_fast *r, int G, int hd, int n_pos, int j0, int j1)
{
    const size_t stride = (size_t)hd + 3; /* rows of the cache are wider than one head */
    const int ld = (n_pos + 63) / 64 * 64;
    float *k = malloc(sizeof(float) * stride * (size_t)n_pos), *v = malloc(sizeof(float) * stride * (size_t)n_pos);
    float *q = malloc(sizeof(float) * (size_t)(G * hd)), *out = malloc(sizeof(float) * (size_t)(G * hd));
    float *kt = malloc(sizeof(float) * (size_t)hd * (size_t)ld);
    float *scratch = malloc(sizeof(float) * attn_scratch_floats(G, ld));
    double *want = malloc(sizeof(double) * (size_t)(G * hd));
    for (size_t i = 0; i < stride * (size_t)n_pos; i++) {
        k[i] = (float)(rng_fast_double(r) * 2 - 1);
        v[i] = (float)(rng_fast_double(r) * 2 - 1);
    }
    for (int i = 0; i < G * hd; i++)
        q[i] = (float)(rng_fast_double(r) * 4 - 2);
    float scale = 1.0f / sqrtf((float)hd) * 3;
    memset(kt, 0xff, sizeof(float) * (size_t)hd * (size_t)ld); /* NaN wherever nothing was written */
    /* transposed in two pieces, as a second chunk adds positions */
    int mid = n_pos / 2 / 16 * 16;
    attn_keys_transpose(k, stride, 0, mid, hd, kt, ld);
    attn_keys_transpose(k, stride, mid, n_pos, hd, kt, ld);
    attn_group(q, G, hd, kt, ld, v, stride, j0, j1, scale, scratch, out);
    reference(q, G, hd, k, v, stride, j0, j1, scale, want);
    for (int i = 0; i < G * hd; i++)
        if (!(fabs(out[i] - want[i]) <= 2e-6))
            fail_msg("G %d hd %d positions %d..%d: out[%d] = %.8f, reference %.8f", G, hd, j0, j1,
                     i, out[i], want[i]);
    free(k), free(v), free(q), free(out), free(kt), free(scratch), free(want);
}

static void blocked_attention_matches_definition(void **state)
{
    (void)state;
    rng_fast r;
    rng_fast_seed(&r, 11);
    const int groups[] = {1, 2, 4, 5, 8}, heads[] = {8, 16, 64, 256};
    for (int generic = 0; generic < 2; generic++) {
        tensor_force_generic(generic);
        for (size_t a = 0; a < sizeof groups / sizeof *groups; a++)
            for (size_t b = 0; b < sizeof heads / sizeof *heads; b++) {
                check_case(&r, groups[a], heads[b], 200, 0, 0);     /* the first token */
                check_case(&r, groups[a], heads[b], 200, 0, 150);   /* causal prefix */
                check_case(&r, groups[a], heads[b], 200, 37, 199);  /* a window */
                check_case(&r, groups[a], heads[b], 70, 5, 69);     /* near the padded end */
            }
    }
    tensor_force_generic(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocked_attention_matches_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
