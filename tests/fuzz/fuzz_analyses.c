/* libFuzzer harness: any score table the parser accepts goes through the ODE
 * fitters (linear, SINDy, U-curve with a hold-out), the frontier diagnostic,
 * the eigenstructure and the advice rules; none may crash, read out of bounds
 * or hang, whatever the sizes, scores, families and duplicates. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phase/advice.h"
#include "phase/eigen.h"
#include "phase/frontier.h"
#include "phase/ode.h"
#include "phase/scores.h"

static void odes(const scores_table *t, ode_fit_kind kind, int nb, const char *holdout)
{
    ode_options o;
    ode_options_default(&o);
    o.fit = kind;
    o.nbench = nb;
    o.nlambda = 3;
    o.degree = 2;
    o.grid = 20;
    o.integ.max_steps = 20000;
    if (kind == ODE_FIT_UCURVE) {
        o.nbench = 1;
        o.bench[0] = o.target;
    }
    ode_data train, test;
    ode_result r;
    cape_err e = {0};
    if (ode_data_build(&t, 1, &o, holdout, &train, holdout ? &test : NULL, &e))
        return;
    if (ode_run(&train, holdout ? &test : NULL, &o, &r, &e) == 0) {
        json_t *j = ode_result_json(&r, &train);
        json_decref(j);
    }
    ode_result_free(&r);
    ode_data_free(&train);
    if (holdout)
        ode_data_free(&test);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scores_table t;
    cape_err e = {0};
    scores_options so = {.allow_unknown_columns = 1};
    if (scores_parse((const char *)data, size, "fuzz.csv", &so, &t, &e) != 0)
        return 0;
    odes(&t, ODE_FIT_LINEAR, 2, NULL);
    odes(&t, ODE_FIT_SINDY, 2, NULL);
    if (t.n > 0 && t.model[0].family)
        odes(&t, ODE_FIT_UCURVE, 1, t.model[0].family);

    frontier_options fo;
    frontier_options_default(&fo);
    frontier_default_pair(&t, &fo, 0, 0);
    frontier_result fr;
    err_clear(&e);
    if (frontier_run(&t, &fo, &fr, &e) == 0)
        json_decref(frontier_result_json(&fr));
    frontier_result_free(&fr);

    eigen_options eo;
    eigen_options_default(&eo);
    eo.nbench = 2;
    eo.nboot = 20;
    eigen_result er;
    err_clear(&e);
    if (eigen_run(&t, &eo, NULL, &er, &e) == 0)
        json_decref(eigen_result_json(&er));
    eigen_result_free(&er);

    /* advice for the first row, its family as siblings, the table as reference */
    if (t.n > 0) {
        advice_input in;
        memset(&in, 0, sizeof in);
        in.name = t.model[0].name;
        in.family = t.model[0].family;
        in.self.params = t.model[0].params;
        in.self.d_model = t.model[0].d_model;
        memcpy(in.self.score, t.model[0].score, sizeof in.self.score);
        for (int i = 1; i < t.n && in.nsib < ADVICE_MAX_SIBLINGS; i++)
            if (strcmp(t.model[i].family, in.family) == 0 && t.model[i].params > 0 &&
                t.model[i].params != in.self.params) {
                in.sib[in.nsib].params = t.model[i].params;
                in.sib[in.nsib].d_model = t.model[i].d_model;
                memcpy(in.sib[in.nsib].score, t.model[i].score, sizeof in.sib[0].score);
                in.nsib++;
            }
        advice_refs refs = {&t, &t, &t, &t};
        advice_result ar;
        err_clear(&e);
        if (advice_run(&in, &refs, &ar, &e) == 0)
            json_decref(advice_result_json(&in, &ar));
    }
    scores_free(&t);
    return 0;
}
