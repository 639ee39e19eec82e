/* libFuzzer harness: the CSV reader and the score-table parser on top of it
 * must reject or accept any byte string without crashing or reading out of
 * bounds; accepted tables then go through the whole diagnosis. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "phase/phase.h"
#include "phase/scores.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scores_table t;
    cape_err e = {0};
    scores_options so = {.allow_unknown_columns = (size & 1), .require_params = 1};
    if (scores_parse((const char *)data, size, "fuzz.csv", &so, &t, &e) != 0)
        return 0;
    phase_options po;
    phase_options_default(&po);
    po.nboot = 50;
    po.perm_exact_max = 7;
    po.perm_draws = 200;
    po.skip_small = 1;
    phase_diagnosis d;
    err_clear(&e);
    phase_diagnose(&t, &po, &d, &e);
    phase_diagnosis_free(&d);
    scores_free(&t);
    return 0;
}
