/* The attacks' pieces on hand-checked cases: the relearn / eval halves,
 * the steps to recover a share of the full model's value, the extraction
 * strength, the step lists and the forget metrics of hand-made scores. */
#include "testutil.h"

#include <string.h>

#include "train/train_model.h"
#include "unlearn/attack.h"

static void halves_per_author(void **state)
{
    (void)state;
    /* authors 0 (5 rows), 7 (4 rows), 3 (1 row), interleaved */
    int author[] = {0, 7, 0, 3, 7, 0, 0, 7, 0, 7};
    int n = 10;
    unsigned char h[10], h2[10];
    attack_split_halves(author, n, 42, h);
    int rl[8] = {0};
    for (int i = 0; i < n; i++) {
        assert_true(h[i] == 0 || h[i] == 1);
        rl[author[i]] += h[i];
    }
    assert_int_equal(rl[0], 2); /* floor(5 / 2) */
    assert_int_equal(rl[7], 2);
    assert_int_equal(rl[3], 0); /* one row: evaluated */
    attack_split_halves(author, n, 42, h2);
    assert_memory_equal(h, h2, n);
    /* author 7's halves do not depend on the other authors' rows */
    int only7[] = {7, 7, 7, 7};
    unsigned char h7[4];
    attack_split_halves(only7, 4, 42, h7);
    int pos7[] = {1, 4, 7, 9};
    for (int j = 0; j < 4; j++)
        assert_int_equal(h7[j], h[pos7[j]]);
    /* another seed gives another split of 20 rows (fixed: 184756 ways) */
    int a20[20] = {0};
    unsigned char s1[20], s2[20];
    attack_split_halves(a20, 20, 1, s1);
    attack_split_halves(a20, 20, 2, s2);
    int ones = 0;
    for (int i = 0; i < 20; i++)
        ones += s1[i];
    assert_int_equal(ones, 10);
    assert_true(memcmp(s1, s2, 20) != 0);
}

static void steps_to_recover(void **state)
{
    (void)state;
    int steps[] = {0, 1, 2, 5, 10};
    /* up: gap 0.5 - 0.125 = 0.375; 50% = 0.1875 first at step 2 (0.25),
     * 90% = 0.3375 first at step 5 (0.375) */
    double up[] = {0.125, 0.25, 0.375, 0.5, 0.625};
    assert_int_equal(attack_steps_to_recover(steps, up, 5, 0.5, 1, 0.5), 2);
    assert_int_equal(attack_steps_to_recover(steps, up, 5, 0.5, 1, 0.9), 5);
    /* never: the full value is out of reach */
    assert_int_equal(attack_steps_to_recover(steps, up, 5, 4.0, 1, 0.5), -1);
    /* down (truth ratio): gap 0.75 - 0.25 = 0.5; 50% at step 2 (0.5 exactly) */
    double down[] = {0.75, 0.625, 0.5, 0.375, 0.375};
    assert_int_equal(attack_steps_to_recover(steps, down, 5, 0.25, -1, 0.5), 2);
    assert_int_equal(attack_steps_to_recover(steps, down, 5, 0.25, -1, 0.9), -1);
    /* already at or beyond the full model's value: the first step count */
    double at[] = {0.6, 0.1};
    assert_int_equal(attack_steps_to_recover(steps, at, 2, 0.5, 1, 0.9), 0);
    int later[] = {3, 8};
    assert_int_equal(attack_steps_to_recover(later, at, 2, 0.5, 1, 0.9), 3);
    /* NaN anywhere before the answer: unknown */
    double nanv[] = {0.1, NAN, 0.5};
    assert_int_equal(attack_steps_to_recover(steps, nanv, 3, 0.5, 1, 0.5), -1);
    double nan0[] = {NAN, 0.5};
    assert_int_equal(attack_steps_to_recover(steps, nan0, 2, 0.5, 1, 0.5), -1);
}

static void extraction_strength(void **state)
{
    (void)state;
    int k[] = {0, 5, 10, 15};
    unsigned char none[] = {0, 0, 0, 0}, half[] = {0, 0, 1, 1}, first[] = {1, 0, 0, 0},
                  late[] = {0, 0, 0, 1};
    assert_close(attack_extraction_strength(k, none, 4, 20), 0.0, 0);
    assert_close(attack_extraction_strength(k, half, 4, 20), 0.5, 0);
    assert_close(attack_extraction_strength(k, first, 4, 20), 1.0, 0);
    assert_close(attack_extraction_strength(k, late, 4, 20), 0.25, 0);
    assert_true(isnan(attack_extraction_strength(k, first, 4, 0)));
}

static void step_lists(void **state)
{
    (void)state;
    int *v, n;
    cape_err e = {0};
    assert_int_equal(attack_parse_steps("0,5,2,50", "--steps", &v, &n, &e), 0);
    assert_int_equal(n, 4);
    int want[] = {0, 2, 5, 50};
    assert_memory_equal(v, want, sizeof want);
    free(v);
    const char *bad[] = {"", "1,1", "a", "-1", "1,", ",1", "1,,2", "1 ,2", "2000000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&e, 0, sizeof e);
        assert_int_equal(attack_parse_steps(bad[i], "--steps", &v, &n, &e), CAPE_EINPUT);
        assert_null(v);
        assert_non_null(strstr(e.msg, "--steps"));
        if (i == 1)
            assert_non_null(strstr(e.msg, "1 is given twice"));
    }
}

static void metrics_of_hand_scores(void **state)
{
    (void)state;
    /* one row: answer tokens log p -1, -1 (P = e^-1); paraphrase -1;
     * one perturbed answer -2: TR = e^-2 / e^-1 = e^-1, forget keeps
     * min(TR, 1/TR) = e^-1; the generation repeats the answer: ROUGE 1 */
    tofu_row row = {.question = "Q?", .answer = "the red box", .para = "a red box",
                    .pert = {"the blue box"}, .n_pert = 1};
    tofu_split sp = {.id = TOFU_FORGET, .rows = &row, .n = 1};
    double a[] = {-1, -1}, p[] = {-1}, q[] = {-2};
    unsigned char hit[2] = {0};
    double z[2] = {0};
    tofu_item_scores it = {.ans = {2, a, hit, z, z}, .para = {1, p, hit, z, z},
                           .pert = {{1, q, hit, z, z}}, .n_pert = 1, .input = "Q?",
                           .generation = "The red box."};
    tofu_split_scores sc = {.split = &sp, .items = &it};
    attack_metrics m;
    cape_err e = {0};
    assert_int_equal(attack_metrics_of(&sc, &m, &e), 0);
    assert_close(m.prob, exp(-1.0), 1e-12);
    /* open-unlearning's 1e-10 in the denominator */
    assert_close(m.truth_ratio, exp(-2.0) / (exp(-1.0) + 1e-10), 1e-15);
    assert_close(m.rouge, 1.0, 1e-12);
    it.generation = "a box";
    assert_int_equal(attack_metrics_of(&sc, &m, &e), 0);
    /* LCS "box" of 3 reference tokens */
    assert_close(m.rouge, 1.0 / 3, 1e-12);
    assert_int_equal(ATTACK_METRIC_DIR[2], -1);
}

static void gcg_lengths(void **state)
{
    (void)state;
    int L[16];
    int n = attack_gcg_lengths(27, L, 16);
    int want[] = {1, 2, 3, 4, 6, 8, 12, 16, 24};
    assert_int_equal(n, 9);
    assert_memory_equal(L, want, sizeof want);
    assert_int_equal(attack_gcg_lengths(2, L, 16), 1);
    assert_int_equal(L[0], 1);
    assert_int_equal(attack_gcg_lengths(1, L, 16), 0);
    assert_int_equal(attack_gcg_lengths(27, L, 3), 3);
}

/* GCG's one-hot gradients rest on train_input_grad: d(loss)/d(input of the
 * first block) per position. Checked by central differences through the
 * GPT-2 position table, which only its own position reads. */
static void input_grad_finite_differences(void **state)
{
    (void)state;
    train_config cfg = {.arch = TRAIN_GPT2, .vocab = 20, .dim = 8, .n_layers = 2, .n_heads = 2,
                        .hidden = 16, .ctx = 8};
    train_config_defaults(&cfg);
    train_model m = {0};
    cape_err e = {0};
    assert_int_equal(train_model_build(&m, &cfg, &e), 0);
    train_model_init(&m, 7);
    assert_int_equal(train_model_alloc_acts(&m, 1, 6, &e), 0);
    int tok[6] = {1, 5, 3, 7, 2, 9}, tgt[6] = {-1, -1, 7, 2, 9, 4};
    train_forward(&m, tok, tgt, NULL, NULL, 1, 6, NULL);
    train_backward(&m, tok, tgt, NULL, NULL, 1, 6, 1.0f);
    float g[6 * 8];
    memcpy(g, train_input_grad(&m), sizeof g);
    double maxg = 0;
    for (int i = 0; i < 6 * 8; i++) {
        float *x = &m.p.pos_emb[i], keep = *x, h = 1e-3f;
        *x = keep + h;
        double fp = train_forward(&m, tok, tgt, NULL, NULL, 1, 6, NULL);
        *x = keep - h;
        double fm = train_forward(&m, tok, tgt, NULL, NULL, 1, 6, NULL);
        *x = keep;
        double num = (fp - fm) / (2.0 * h);
        double tol = 2e-2 * fmax(fabs(num), fabs(g[i])) + 2e-4;
        if (!(fabs(num - g[i]) <= tol))
            fail_msg("input gradient [%d]: analytic %.6g, numeric %.6g", i, g[i], num);
        maxg = fmax(maxg, fabs(g[i]));
    }
    assert_true(maxg > 1e-3); /* not vacuously zero */
    train_model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(halves_per_author),   cmocka_unit_test(steps_to_recover),
        cmocka_unit_test(extraction_strength), cmocka_unit_test(step_lists),
        cmocka_unit_test(metrics_of_hand_scores), cmocka_unit_test(gcg_lengths),
        cmocka_unit_test(input_grad_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
