/* Reproduces the frontier diagnostic of arXiv 2605.18838 (T15 in the notes;
 * docs/METHODS.md, "Frontier") on the paper's 34 models: published digits,
 * and scipy.stats.linregress / numpy.polyfit values to 1e-9. */
#include "testutil.h"

#include <string.h>

#include "phase/frontier.h"

static void paper_34_models(void **state)
{
    (void)state;
    scores_table t;
    scores_options so = {0};
    cape_err e = {0};
    assert_int_equal(scores_read_file(test_data_path("benchmarks/paper/paper_frontier_34_swe_gpqa.csv"),
                                      &so, &t, &e),
                     0);
    frontier_options o;
    frontier_options_default(&o);
    frontier_result r;
    assert_int_equal(frontier_run(&t, &o, &r, &e), 0);
    assert_int_equal(r.n, 34);
    /* published: slope 0.51308, intercept 46.380, r 0.72349, p 1.33e-6 */
    assert_close(r.fit.slope, 0.51308, 5e-6);
    assert_close(r.fit.intercept, 46.380, 5e-4);
    assert_close(r.fit.r, 0.72349, 5e-6);
    assert_close(r.fit.p, 1.33e-6, 0.005e-6);
    /* scipy.stats.linregress */
    assert_close(r.fit.slope, 0.5130797931804454, 1e-9);
    assert_close(r.fit.intercept, 46.37991766761589, 1e-9);
    assert_close(r.fit.r, 0.7234905559664709, 1e-9);
    assert_rel(r.fit.p, 1.334952061345205e-06, 1e-6);
    assert_close(r.fit.se_slope, 0.08654390629690507, 1e-9);
    /* leave-one-lab-out over the four labs with >= 4 models: 9.20 +/- 2.38 */
    assert_int_equal(r.nlolo, 4);
    assert_close(r.lolo_mean, 9.20, 0.005);
    assert_close(r.lolo_sd, 2.38, 0.005);
    assert_close(r.lolo_mean, 9.201449391868747, 1e-9);
    assert_close(r.lolo_sd, 2.377274086217121, 1e-9);
    /* per lab: Anthropic 12.39, DeepSeek 10.56, Google 7.31, OpenAI 6.55 points;
     * slopes 0.973, 0.232, 1.152, 0.546 */
    static const struct {
        const char *lab;
        double mae, slope;
    } want[] = {{"Anthropic", 12.38966803816541, 0.9734409836339307},
                {"DeepSeek", 10.555997760424596, 0.23228388953854479},
                {"Google", 7.3094224640814645, 1.152490886998785},
                {"OpenAI", 6.5507093048035205, 0.5455317456565998}};
    for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
        int k = 0;
        while (k < r.nlab && strcmp(r.lab[k].lab, want[w].lab) != 0)
            k++;
        assert_true(k < r.nlab);
        assert_true(r.lab[k].held_out);
        assert_close(r.lab[k].lolo_mae, want[w].mae, 1e-9);
        assert_close(r.lab[k].slope, want[w].slope, 1e-9);
    }
    /* residuals match the table's own h column (rounded to 0.1) */
    for (int i = 0; i < r.n; i++)
        if (strcmp(r.pt[i].model, "Claude 3.5 Sonnet") == 0)
            assert_close(r.pt[i].resid, -12.1, 0.05);
    /* sigma: top 5 by SWE span 80.0..80.9 (0.9) and GPQA 85.2..94.3 (9.1) */
    assert_true(r.sigma_ok);
    assert_close(r.sigma, 0.9 / 9.1, 1e-9);
    assert_true(r.rotate);
    frontier_result_free(&r);
    scores_free(&t);
}

/* Reasoning (GPQA Diamond) vs factuality (SimpleQA) on the bundled vendor
 * table, one row per deployed model: scipy.stats.pearsonr r = 0.519648, n = 32. */
static void reasoning_vs_simpleqa(void **state)
{
    (void)state;
    scores_table t;
    scores_options so = {0};
    cape_err e = {0};
    assert_int_equal(scores_read_file(test_data_path("benchmarks/frontier.csv"), &so, &t, &e), 0);
    frontier_options o;
    frontier_options_default(&o);
    o.x = BENCH_GPQA_DIAMOND;
    o.y = BENCH_SIMPLEQA;
    frontier_result r;
    assert_int_equal(frontier_run(&t, &o, &r, &e), 0);
    assert_int_equal(r.n, 32);
    assert_close(r.fit.r, 0.5196479030871706, 1e-9);
    assert_close(r.fit.p, 0.0023030862608612772, 1e-9);
    frontier_result_free(&r);
    o.x = BENCH_MMLU;
    assert_int_equal(frontier_run(&t, &o, &r, &e), 0);
    assert_int_equal(r.n, 28);
    assert_close(r.fit.r, 0.6733008357518417, 1e-9);
    frontier_result_free(&r);
    scores_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paper_34_models),
        cmocka_unit_test(reasoning_vs_simpleqa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
