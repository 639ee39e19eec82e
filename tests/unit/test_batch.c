/* Batched decoding: a session of several sequences must give, in exact mode
 * (tensor_set_exact), bit for bit the logits and tokens that one sequence at a
 * time gives (stories260K, and the tiny models of all six architectures);
 * hooks see every position of every sequence once, named by info.seq; the
 * batched scorer equals the sequential one; the f16 KV cache halves the
 * cache and stays within a stated tolerance of f32; the f16 row kernels
 * equal their scalar reference on every instruction-set path. */
#include "testutil.h"

#include <string.h>

#include "base/isa.h"
#include "model/model.h"
#include "model/score.h"
#include "steer/cvec.h"
#include "steer/mceval.h"
#include "tensor/dtype.h"
#include "tensor/f16row.h"
#include "tensor/matmul.h"

enum { NSEQ = 4, NGEN = 12 };

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Prompts of lengths 3, 11, 20 and 1 (the blocked attention starts at 8). */
static const int LENS[NSEQ] = {3, 11, 20, 1};

static void make_prompts(int n_vocab, int prompts[NSEQ][20])
{
    for (int b = 0; b < NSEQ; b++)
        for (int i = 0; i < LENS[b]; i++)
            prompts[b][i] = (int)(rnd() % (uint32_t)n_vocab);
}

/* Greedy continuation of one prompt in a session of its own: the logits
 * after the prompt and after each generated token ([NGEN + 1][n_vocab]). */
static void one_at_a_time(model *m, const int *prompt, int len, model_kv_type kv, float *logits,
                          int *toks)
{
    cape_err e = {0};
    int V = model_cfg(m)->n_vocab;
    model_session *s = model_session_new(m, &(model_session_opts){.n_ctx = 64, .kv_type = kv}, &e);
    assert_non_null(s);
    assert_int_equal(model_eval(s, prompt, len, MODEL_LOGITS_LAST, &e), 0);
    for (int g = 0; g <= NGEN; g++) {
        memcpy(logits + (size_t)g * V, model_logits(s, 0), (size_t)V * sizeof(float));
        toks[g] = argmax(model_logits(s, 0), V);
        if (g < NGEN)
            assert_int_equal(model_eval(s, &toks[g], 1, MODEL_LOGITS_LAST, &e), 0);
    }
    model_session_free(s);
}

/* The same, all prompts at once in a session of NSEQ sequences; the prompt
 * rows are interleaved when `mix` (sequences need not be adjacent), and
 * chunks are n_batch rows. */
static void batched(model *m, int prompts[NSEQ][20], int mix, int n_batch, model_kv_type kv,
                    float *logits, int toks[NSEQ][NGEN + 1])
{
    cape_err e = {0};
    int V = model_cfg(m)->n_vocab;
    model_session *s = model_session_new(
        m, &(model_session_opts){.n_ctx = 64, .n_seq = NSEQ, .n_batch = n_batch, .kv_type = kv}, &e);
    assert_non_null(s);
    assert_int_equal(model_session_n_seq(s), NSEQ);
    int seq[64], tk[64], last[NSEQ], n = 0;
    unsigned char want[64] = {0};
    if (mix) {
        for (int i = 0; i < 20; i++)
            for (int b = 0; b < NSEQ; b++)
                if (i < LENS[b]) {
                    seq[n] = b;
                    tk[n] = prompts[b][i];
                    last[b] = n++;
                }
    } else {
        for (int b = 0; b < NSEQ; b++)
            for (int i = 0; i < LENS[b]; i++) {
                seq[n] = b;
                tk[n] = prompts[b][i];
                last[b] = n++;
            }
    }
    for (int b = 0; b < NSEQ; b++)
        want[last[b]] = 1;
    assert_int_equal(model_eval_seqs(s, seq, tk, n, want, &e), 0);
    assert_null(model_logits_at(s, 0)); /* not asked for */
    for (int g = 0; g <= NGEN; g++) {
        int step_seq[NSEQ], step_tok[NSEQ];
        unsigned char all[NSEQ] = {1, 1, 1, 1};
        for (int b = 0; b < NSEQ; b++) {
            const float *lg = model_logits_at(s, g == 0 ? last[b] : b);
            assert_non_null(lg);
            memcpy(logits + ((size_t)b * (NGEN + 1) + g) * V, lg, (size_t)V * sizeof(float));
            toks[b][g] = argmax(lg, V);
            step_seq[b] = b;
            step_tok[b] = toks[b][g];
        }
        if (g < NGEN)
            assert_int_equal(model_eval_seqs(s, step_seq, step_tok, NSEQ, all, &e), 0);
    }
    for (int b = 0; b < NSEQ; b++)
        assert_int_equal(model_seq_pos(s, b), LENS[b] + NGEN);
    model_session_free(s);
}

static void check_exact(const char *path)
{
    cape_err e = {0};
    model *m = model_load(path, NULL, &e);
    if (!m)
        fail_msg("%s: %s", path, e.msg);
    int V = model_cfg(m)->n_vocab, prompts[NSEQ][20];
    make_prompts(V, prompts);
    size_t per = (size_t)(NGEN + 1) * V;
    float *ref = malloc(NSEQ * per * sizeof(float)), *got = malloc(NSEQ * per * sizeof(float));
    int rtok[NSEQ][NGEN + 1], gtok[NSEQ][NGEN + 1];
    assert_non_null(ref);
    assert_non_null(got);
    tensor_set_exact(1);
    for (int b = 0; b < NSEQ; b++)
        one_at_a_time(m, prompts[b], LENS[b], MODEL_KV_F32, ref + b * per, rtok[b]);
    /* adjacent and interleaved prompt rows, chunks of 256 and of 5 rows */
    for (int variant = 0; variant < 3; variant++) {
        batched(m, prompts, variant == 1, variant == 2 ? 5 : 0, MODEL_KV_F32, got, gtok);
        for (int b = 0; b < NSEQ; b++) {
            for (int g = 0; g <= NGEN; g++)
                if (memcmp(ref + b * per + (size_t)g * V, got + b * per + (size_t)g * V,
                           (size_t)V * sizeof(float)) != 0)
                    fail_msg("%s variant %d: sequence %d step %d: logits differ from one at a time",
                             path, variant, b, g);
            assert_memory_equal(rtok[b], gtok[b], sizeof rtok[b]);
        }
    }
    tensor_set_exact(0);
    /* int8 / blocked paths: the same up to the order of float additions */
    batched(m, prompts, 1, 0, MODEL_KV_F32, got, gtok);
    for (size_t i = 0; i < NSEQ * per; i++)
        assert_close(got[i], ref[i], 2e-3 * (fabs(ref[i]) > 1 ? fabs(ref[i]) : 1));
    free(ref);
    free(got);
    model_free(m);
}

static void exact_stories(void **state)
{
    (void)state;
    check_exact(test_shared_path("data/models/stories260K/stories260K.gguf"));
    check_exact(test_shared_path("data/models/stories260K/stories260K.bin"));
}

#define ARCH(a)                                                                                    \
    static void exact_##a(void **state)                                                            \
    {                                                                                              \
        (void)state;                                                                               \
        check_exact("tests/ref/hf/" #a ".gguf");                                                   \
    }
ARCH(llama)
ARCH(qwen2)
ARCH(qwen3)
ARCH(gemma3)
ARCH(gptneox)
ARCH(gpt2)

/* ---- hooks ---- */

typedef struct {
    int seen[NSEQ][64]; /* RESID_POST of block 0: times each (seq, pos) was seen */
    int steer_seq;      /* add 0.5 to every RESID_POST row of this sequence (-1: all) */
} hook_rec;

static void rec_hook(const model_hook_info *in, float *x, void *user)
{
    hook_rec *h = user;
    if (in->point != MODEL_HOOK_RESID_POST)
        return;
    if (in->layer == 0)
        for (int t = 0; t < in->n_tokens; t++)
            h->seen[in->seq][in->pos0 + t]++;
    if (h->steer_seq < 0 || in->seq == h->steer_seq)
        for (int i = 0; i < in->n_tokens * in->width; i++)
            x[i] += 0.5f;
}

static void hooks_per_sequence(void **state)
{
    (void)state;
    cape_err e = {0};
    model *m = model_load(test_shared_path("data/models/stories260K/stories260K.gguf"), NULL, &e);
    assert_non_null(m);
    int V = model_cfg(m)->n_vocab, prompts[NSEQ][20];
    make_prompts(V, prompts);
    tensor_set_exact(1);
    /* references: sequence 2 steered, the others not */
    float *ref = malloc((size_t)NSEQ * V * sizeof(float));
    for (int b = 0; b < NSEQ; b++) {
        model_session *s = model_session_new(m, &(model_session_opts){.n_ctx = 64}, &e);
        hook_rec h = {.steer_seq = b == 2 ? -1 : NSEQ};
        model_session_set_hook(s, rec_hook, &h);
        assert_int_equal(model_eval(s, prompts[b], LENS[b], MODEL_LOGITS_LAST, &e), 0);
        memcpy(ref + (size_t)b * V, model_logits(s, 0), (size_t)V * sizeof(float));
        model_session_free(s);
    }
    model_session *s = model_session_new(m, &(model_session_opts){.n_ctx = 64, .n_seq = NSEQ}, &e);
    hook_rec h = {.steer_seq = 2};
    model_session_set_hook(s, rec_hook, &h);
    int seq[64], tk[64], n = 0, last[NSEQ];
    unsigned char want[64] = {0};
    for (int i = 0; i < 20; i++)
        for (int b = 0; b < NSEQ; b++)
            if (i < LENS[b]) {
                seq[n] = b;
                tk[n] = prompts[b][i];
                last[b] = n++;
            }
    for (int b = 0; b < NSEQ; b++)
        want[last[b]] = 1;
    assert_int_equal(model_eval_seqs(s, seq, tk, n, want, &e), 0);
    for (int b = 0; b < NSEQ; b++) {
        for (int p = 0; p < 64; p++)
            assert_int_equal(h.seen[b][p], p < LENS[b]);
        assert_memory_equal(model_logits_at(s, last[b]), ref + (size_t)b * V, (size_t)V * sizeof(float));
    }
    model_session_free(s);
    tensor_set_exact(0);
    free(ref);
    model_free(m);
}

/* ---- slots: reuse, copy, errors ---- */

static void slots(void **state)
{
    (void)state;
    cape_err e = {0};
    model *m = model_load(test_shared_path("data/models/stories260K/stories260K.gguf"), NULL, &e);
    assert_non_null(m);
    int V = model_cfg(m)->n_vocab;
    tensor_set_exact(1);
    int a[6] = {1, 403, 407, 261, 378, 432}, b[3] = {1, 300, 301};
    model_session *one = model_session_new(m, &(model_session_opts){.n_ctx = 16}, &e);
    assert_int_equal(model_eval(one, a, 6, MODEL_LOGITS_LAST, &e), 0);
    float *want_a = malloc((size_t)V * sizeof(float));
    memcpy(want_a, model_logits(one, 0), (size_t)V * sizeof(float));
    model_session *s = model_session_new(m, &(model_session_opts){.n_ctx = 16, .n_seq = 2}, &e);
    int s0[3] = {0, 0, 0}, s1[3] = {1, 1, 1};
    unsigned char last[3] = {0, 0, 1};
    /* b in sequence 1, then sequence 1 reset and reused for a */
    assert_int_equal(model_eval_seqs(s, s1, b, 3, last, &e), 0);
    model_seq_rewind(s, 1, 0);
    assert_int_equal(model_seq_pos(s, 1), 0);
    assert_int_equal(model_eval_seqs(s, s1, a, 3, NULL, &e), 0);
    assert_null(model_logits_at(s, 2));
    /* the prefix of a copied into sequence 0, which goes on from there */
    assert_int_equal(model_seq_copy(s, 0, 1, 3, &e), 0);
    assert_int_equal(model_seq_pos(s, 0), 3);
    assert_int_equal(model_eval_seqs(s, s0, a + 3, 3, last, &e), 0);
    assert_memory_equal(model_logits_at(s, 2), want_a, (size_t)V * sizeof(float));
    /* bad input */
    int bad_seq[1] = {2}, tok0[1] = {1};
    assert_int_equal(model_eval_seqs(s, bad_seq, tok0, 1, NULL, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "sequence 2"));
    e = (cape_err){0};
    assert_int_equal(model_seq_copy(s, 1, 0, 7, &e), CAPE_EINPUT);
    e = (cape_err){0};
    int full[14] = {0};
    assert_int_equal(model_eval_seqs(s, (int[14]){0}, full, 14, NULL, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "context full: sequence 0"));
    assert_int_equal(model_seq_pos(s, 0), 6); /* nothing was evaluated */
    e = (cape_err){0};
    assert_null(model_session_new(m, &(model_session_opts){.n_seq = MODEL_MAX_SEQ + 1}, &e));
    assert_int_equal(e.code, CAPE_EINPUT);
    tensor_set_exact(0);
    free(want_a);
    model_session_free(s);
    model_session_free(one);
    model_free(m);
}

/* ---- the batched scorer ---- */

static void score_parallel(void **state)
{
    (void)state;
    cape_err e = {0};
    model *m = model_load(test_shared_path("data/models/stories260K/stories260K.gguf"), NULL, &e);
    assert_non_null(m);
    /* questions with several answers each (shared contexts), and loners */
    score_item items[] = {
        {"Once upon a time", " there was a girl"}, {"Once upon a time", " there was a dog"},
        {"Once upon a time", " the sun"},          {"Lily had a ball", ". She"},
        {"Lily had a ball", " and a cat"},         {"Tom was sad", " because"},
        {"Once upon a time, there", " was"},       {"The cat", ""},
        {"Lily had a ball", " that was red. It was very big and round"},
        {"The dog ran to the park and played with", " the ball"}};
    int n = (int)(sizeof items / sizeof *items);
    score_result ref[16], got[16];
    tensor_set_exact(1);
    model_session *one = model_session_new(m, &(model_session_opts){.n_ctx = 64}, &e);
    assert_int_equal(score_items(one, m, items, n, -1, ref, &e), 0);
    for (int B = 1; B <= 5; B += 2) {
        model_session *s = model_session_new(m, &(model_session_opts){.n_ctx = 64, .n_seq = B}, &e);
        memset(got, 0, sizeof got);
        assert_int_equal(score_items_par(s, m, items, n, -1, NULL, NULL, got, &e), 0);
        for (int i = 0; i < n; i++) {
            if (ref[i].logprob != got[i].logprob)
                fail_msg("B=%d item %d: %.17g != %.17g", B, i, got[i].logprob, ref[i].logprob);
            assert_int_equal(ref[i].n_tokens, got[i].n_tokens);
            assert_int_equal(ref[i].greedy, got[i].greedy);
        }
        model_session_free(s);
    }
    tensor_set_exact(0);
    assert_int_equal(ref[7].n_tokens, 0);
    model_session_free(one);
    model_free(m);
}

/* TruthfulQA MC1/MC2 through mceval: a session of 6 sequences gives what a
 * session of one gives, unsteered and steered from the last context token on
 * (the hook keeps that position per sequence). */
static void mceval_parallel(void **state)
{
    (void)state;
    cape_err e = {0};
    model *m = model_load(test_shared_path("data/models/stories260K/stories260K.gguf"), NULL, &e);
    assert_non_null(m);
    tqa_set set;
    assert_int_equal(tqa_load(test_shared_path("data/truthfulqa/TruthfulQA.csv"), 1, &set, &e), 0);
    cvec cv;
    assert_int_equal(cvec_load("tests/ref/cv_happy_mean.gguf", 64, &cv, &e), 0);
    steer_cfg st = {.cv = &cv, .scale = 4, .layer_lo = 1, .layer_hi = 3, .gate_layer = -1,
                    .last_only = 1};
    int idx[3] = {0, 5, 9};
    tensor_set_exact(1);
    model_session *one = model_session_new(m, &(model_session_opts){.n_ctx = 512}, &e);
    model_session *par = model_session_new(m, &(model_session_opts){.n_ctx = 512, .n_seq = 6}, &e);
    for (int steered = 0; steered < 2; steered++) {
        mceval_run a, b;
        const steer_cfg *c = steered ? &st : NULL;
        assert_int_equal(mceval_truthfulqa(one, m, &set, idx, 3, c, NULL, NULL, &a, &e), 0);
        assert_int_equal(mceval_truthfulqa(par, m, &set, idx, 3, c, NULL, NULL, &b, &e), 0);
        for (int q = 0; q < 3; q++) {
            assert_int_equal(a.mc1[q], b.mc1[q]);
            if (a.mc2[q] != b.mc2[q])
                fail_msg("steered %d question %d: MC2 %.17g batched, %.17g alone", steered, q,
                         b.mc2[q], a.mc2[q]);
        }
        mceval_free(&a);
        mceval_free(&b);
    }
    /* steering moved the scores (so the per-sequence positions mattered) */
    mceval_run u, v;
    assert_int_equal(mceval_truthfulqa(par, m, &set, idx, 3, NULL, NULL, NULL, &u, &e), 0);
    assert_int_equal(mceval_truthfulqa(par, m, &set, idx, 3, &st, NULL, NULL, &v, &e), 0);
    assert_true(u.mc2[0] != v.mc2[0] || u.mc2[1] != v.mc2[1] || u.mc2[2] != v.mc2[2]);
    mceval_free(&u);
    mceval_free(&v);
    tensor_set_exact(0);
    model_session_free(one);
    model_session_free(par);
    cvec_free(&cv);
    tqa_free(&set);
    model_free(m);
}

/* ---- f16 KV cache ---- */

static void kv_f16(void **state)
{
    (void)state;
    cape_err e = {0};
    const char *paths[] = {test_shared_path("data/models/stories260K/stories260K.gguf"),
                           "tests/ref/hf/gemma3.gguf", "tests/ref/hf/qwen2.gguf"};
    for (int k = 0; k < 3; k++) {
        model *m = model_load(paths[k], NULL, &e);
        assert_non_null(m);
        model_session *a = model_session_new(m, &(model_session_opts){.n_ctx = 64, .n_seq = 2}, &e);
        model_session *b = model_session_new(
            m, &(model_session_opts){.n_ctx = 64, .n_seq = 2, .kv_type = MODEL_KV_F16}, &e);
        assert_int_equal(model_session_kv_type(b), MODEL_KV_F16);
        const model_config *c = model_cfg(m);
        size_t f32_bytes = 2ull * 2 * c->n_layers * 64 * c->n_kv_heads * c->head_dim * 4;
        assert_int_equal(model_session_kv_bytes(a), f32_bytes);
        assert_int_equal(model_session_kv_bytes(b), f32_bytes / 2);
        int V = c->n_vocab, prompts[NSEQ][20];
        make_prompts(V, prompts);
        size_t per = (size_t)(NGEN + 1) * V;
        float *ref = malloc(per * sizeof(float)), *got = malloc(per * sizeof(float));
        int rt[NGEN + 1], gt[NGEN + 1];
        /* prompt of 20 (blocked attention) then decoding, f32 and f16 caches;
         * both runs are fed the f32 run's tokens */
        one_at_a_time(m, prompts[2], 20, MODEL_KV_F32, ref, rt);
        one_at_a_time(m, prompts[2], 20, MODEL_KV_F16, got, gt);
        double worst = 0;
        for (int g = 0; g <= NGEN && rt[g] == gt[g]; g++)
            for (int i = 0; i < V; i++) {
                double d = fabs(got[(size_t)g * V + i] - ref[(size_t)g * V + i]);
                worst = d > worst ? d : worst;
            }
        /* half floats keep 11 significant bits: logits move by ~1e-3 of their scale */
        if (!(worst < 2e-2))
            fail_msg("%s: f16 KV cache moves a logit by %g", paths[k], worst);
        assert_int_equal(rt[0], gt[0]);
        /* exact mode, f16 cache: batched equals one at a time bit for bit */
        float *bat = malloc(NSEQ * per * sizeof(float)), *solo = malloc(NSEQ * per * sizeof(float));
        int bt[NSEQ][NGEN + 1], st[NSEQ][NGEN + 1];
        tensor_set_exact(1);
        for (int q = 0; q < NSEQ; q++)
            one_at_a_time(m, prompts[q], LENS[q], MODEL_KV_F16, solo + q * per, st[q]);
        batched(m, prompts, 1, 0, MODEL_KV_F16, bat, bt);
        tensor_set_exact(0);
        assert_memory_equal(bat, solo, NSEQ * per * sizeof(float));
        free(bat);
        free(solo);
        free(ref);
        free(got);
        model_session_free(a);
        model_session_free(b);
        model_free(m);
    }
}

/* ---- f16 row kernels against the scalar reference, every path ---- */

static float rand_val(void)
{
    switch (rnd() % 16) {
    case 0: return 0x1p-20f * (float)((int)(rnd() % 2001) - 1000); /* subnormal halves */
    case 1: return (float)((int)(rnd() % 2001) - 1000) * 100.f;    /* near and past 65504 */
    case 2: return (float)(int)(rnd() % 64) + 0.5f * (float)(rnd() % 2) + 0x1p-11f; /* near ties */
    default: return ((float)rnd() / 2097152.f - 1024.f) / 64.f;
    }
}

static void f16_kernels(void **state)
{
    (void)state;
    int top = cape_isa_level();
    for (int level = CAPE_ISA_SCALAR; level <= top; level++) {
        cape_isa_force(level);
        for (int n = 0; n < 70; n += (n < 20 ? 1 : 7)) {
            float x[80], y[80], q[80], back[80], yref[80];
            uint16_t h[80];
            for (int i = 0; i < n; i++) {
                x[i] = rand_val();
                q[i] = rand_val() / 1000.f;
                y[i] = yref[i] = rand_val();
            }
            if (n > 3) {
                x[0] = INFINITY;
                x[1] = -65520.f; /* rounds to infinity */
                x[2] = 65519.f;  /* rounds to 65504 */
            }
            f16row_from_f32(h, x, n);
            for (int i = 0; i < n; i++)
                if (h[i] != tensor_f32_to_f16(x[i]))
                    fail_msg("level %s n %d: %g -> 0x%04x, reference 0x%04x", cape_isa_name(level),
                             n, x[i], h[i], tensor_f32_to_f16(x[i]));
            f16row_to_f32(back, h, n);
            for (int i = 0; i < n; i++) {
                float r = tensor_f16_to_f32(h[i]);
                assert_memory_equal(&back[i], &r, 4);
                if (isinf(back[i]))
                    h[i] = 0x3c00; /* 1.0 for the products */
            }
            double dref = 0, mag = 0;
            for (int i = 0; i < n; i++) {
                dref += (double)q[i] * tensor_f16_to_f32(h[i]);
                mag += fabs((double)q[i] * tensor_f16_to_f32(h[i]));
            }
            assert_close(f16row_dot(q, h, n), dref, 1e-6 * mag + 1e-30);
            f16row_axpy(0.37f, h, y, n);
            for (int i = 0; i < n; i++) {
                double want = yref[i] + 0.37 * (double)tensor_f16_to_f32(h[i]);
                assert_close(y[i], want, 1e-6 * (fabs(want) + fabs(yref[i])) + 1e-30);
            }
        }
    }
    cape_isa_force(-1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(f16_kernels),      cmocka_unit_test(exact_stories),
        cmocka_unit_test(exact_llama),      cmocka_unit_test(exact_qwen2),
        cmocka_unit_test(exact_qwen3),      cmocka_unit_test(exact_gemma3),
        cmocka_unit_test(exact_gptneox),    cmocka_unit_test(exact_gpt2),
        cmocka_unit_test(hooks_per_sequence), cmocka_unit_test(slots),
        cmocka_unit_test(score_parallel),   cmocka_unit_test(mceval_parallel),
        cmocka_unit_test(kv_f16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
