/* libFuzzer harness: the JSON of an earlier icl run that --oracle-run reads
 * (icl_oracle_parse) must be rejected in one line or read without crashing
 * or leaking, whatever its settings, items and copying probe hold. The
 * run's items are four hand-made ones (questions "q0" .. "q3", one per k),
 * so that the seed in seeds/icl_oracle/ matches them and the fuzzer reaches
 * the per-item fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "unlearn/icl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int ks[] = {0, 1, 2, 4};
    icl_item items[4] = {0};
    char *q[4] = {"q0", "q1", "q2", "q3"};
    for (int i = 0; i < 4; i++)
        items[i].cond = (icl_cond)(i % ICL_NCOND), items[i].k = ks[i], items[i].question = q[i];
    icl_opts o = {.forget = "forget01", .ks = ks, .n_k = 4, .per_author = 4, .seed = 1,
                  .max_new_tokens = 16};
    icl_item_score sc[4];
    json_t *probe = NULL;
    char *model = NULL;
    cape_err e = {0};
    if (icl_oracle_parse((const char *)data, size, "fuzz.json", &o, items, 4, sc, &probe, &model,
                         &e) == 0) {
        json_decref(probe);
        free(model);
    }
    return 0;
}
