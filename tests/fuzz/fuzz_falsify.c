/* libFuzzer harness: any score table the parser accepts goes through the six
 * stress tests of cape falsify (small resample counts) and the JSON writer;
 * none may crash, read out of bounds or hang, whatever the sizes, scores,
 * families, duplicates and missing cells. */
#include <stddef.h>
#include <stdint.h>

#include "phase/falsify.h"
#include "phase/falsify_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scores_table t;
    cape_err e = {0};
    scores_options so = {.allow_unknown_columns = 1};
    if (scores_parse((const char *)data, size, "fuzz.csv", &so, &t, &e) != 0)
        return 0;
    falsify_options o;
    falsify_options_default(&o);
    o.nboot = 50;
    o.stab_boot = 20;
    o.nsim = 50;
    o.nperm = 50;
    o.nwidth = 50;
    o.po.perm_exact_max = 6;
    o.po.min_family = 2 + (int)(size % 3); /* 2, 3 or 4 models per family */
    const scores_table *tp = &t;
    falsify_result r;
    err_clear(&e);
    if (falsify_run(&tp, 1, &o, &r, &e) == 0)
        json_decref(falsify_result_json(&r));
    falsify_result_free(&r);
    scores_free(&t);
    return 0;
}
