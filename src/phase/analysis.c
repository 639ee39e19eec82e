#include "phase/analysis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/text.h"
#include "base/version.h"
#include "phase/falsify_json.h"
#include "phase/phase_json.h"

json_t *analysis_doc(const char *command, const char *table, json_t *body)
{
    json_t *root = json_pack("{s:s,s:s}", "cape_version", CAPE_VERSION, "command", command);
    if (table)
        json_object_set_new(root, "table", json_string(table));
    json_object_update(root, body);
    json_decref(body);
    return root;
}

json_t *analysis_diagnose_doc(json_t *tables)
{
    return json_pack("{s:s,s:s,s:o}", "cape_version", CAPE_VERSION, "command", "diagnose",
                     "tables", tables);
}

int analysis_diagnose(const char *buf, size_t len, const char *name, const scores_options *so,
                      const phase_options *po, scores_table *t, phase_diagnosis *d, cape_err *e)
{
    scores_options o = *so;
    o.require_params = 1;
    int rc = scores_parse(buf, len, name, &o, t, e);
    if (rc)
        return rc;
    rc = phase_diagnose(t, po, d, e);
    if (rc) {
        phase_diagnosis_free(d);
        scores_free(t);
    }
    return rc;
}

/* ---- falsify -------------------------------------------------------------- */

const char *const analysis_falsify_tables[ANALYSIS_FALSIFY_NTABLES] = {
    "benchmarks/paper/pythia_set_a.csv",
    "benchmarks/paper/set_b_14.csv",
    "benchmarks/paper/paper_base_63.csv",
    "benchmarks/base_models.csv",
};

json_t *analysis_falsify_doc(const falsify_result *r)
{
    return analysis_doc("falsify", NULL, falsify_result_json(r));
}

/* ---- eigen ---------------------------------------------------------------- */

int analysis_eigen(const scores_table *t, const eigen_options *o, eigen_result *r, cape_err *e)
{
    phase_diagnosis d;
    int have = 0;
    memset(&d, 0, sizeof d);
    if (o->by_phase && t->has_column[BENCH_HELLASWAG] && t->has_column[BENCH_TRUTHFULQA_MC2] &&
        t->has_params) {
        phase_options po;
        phase_options_default(&po);
        po.skip_small = 1;
        po.nboot = 0;
        po.perm_exact_max = 0;
        po.perm_draws = 1;
        cape_err pe = {0};
        if (phase_diagnose(t, &po, &d, &pe) == 0)
            have = 1;
        else
            phase_diagnosis_free(&d); /* no phases: the per-phase groups are left out */
    }
    int rc = eigen_run(t, o, have ? d.row_phase : NULL, r, e);
    if (have)
        phase_diagnosis_free(&d);
    return rc;
}

/* ---- ode ------------------------------------------------------------------ */

void analysis_ode_prepare(ode_options *o)
{
    if (o->fit == ODE_FIT_UCURVE) {
        o->nbench = 1;
        o->bench[0] = o->target;
    }
}

int analysis_ode_holdout_name(const scores_table *h, const char *file, char *out, size_t n,
                              cape_err *e)
{
    if (h->has_family && h->n > 0) {
        snprintf(out, n, "%s", h->model[0].family);
        for (int i = 1; i < h->n; i++)
            if (strcmp(h->model[i].family, out) != 0)
                return err_set(e, CAPE_EINPUT,
                               "--holdout-table %s holds several families; give one family, or "
                               "use --holdout",
                               file);
        return 0;
    }
    const char *base = strrchr(file, '/');
    snprintf(out, n, "%s", base ? base + 1 : file);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = 0;
    return 0;
}

int analysis_ode_run(const scores_table *const *tables, int ntables, const ode_options *o,
                     const char *holdout, analysis_ode *a, cape_err *e)
{
    memset(a, 0, sizeof *a);
    int rc = ode_data_build(tables, ntables, o, holdout, &a->train, holdout ? &a->test : NULL, e);
    if (rc)
        return rc;
    a->built = 1;
    a->has_test = holdout != NULL;
    rc = ode_run(&a->train, a->has_test ? &a->test : NULL, o, &a->r, e);
    a->ran = 1;
    return rc;
}

json_t *analysis_ode_doc(const analysis_ode *a, const scores_table *const *tables, int ntables)
{
    json_t *root = analysis_doc("ode", NULL, ode_result_json(&a->r, &a->train));
    json_t *tabs = json_array();
    for (int i = 0; i < ntables; i++)
        json_array_append_new(tabs, json_string(tables[i]->path));
    json_object_set_new(root, "tables", tabs);
    return root;
}

void analysis_ode_free(analysis_ode *a)
{
    if (a->ran)
        ode_result_free(&a->r);
    if (a->built) {
        ode_data_free(&a->train);
        if (a->has_test)
            ode_data_free(&a->test);
    }
    memset(a, 0, sizeof *a);
}

/* ---- advise --------------------------------------------------------------- */

void analysis_advise_args_init(analysis_advise_args *a)
{
    memset(a, 0, sizeof *a);
    for (int b = 0; b < BENCH_COUNT; b++)
        a->score[b] = NAN;
    a->d_model = NAN;
}

static void member_from_model(const scores_model *m, advice_member *out)
{
    out->params = m->params;
    out->d_model = m->d_model;
    memcpy(out->score, m->score, sizeof out->score);
}

static int name_matches(const char *table_name, const char *want)
{
    if (strcasecmp(table_name, want) == 0)
        return 1;
    const char *slash = strrchr(table_name, '/');
    return slash && strcasecmp(slash + 1, want) == 0;
}

static int parse_sibling(const char *s, advice_member *m)
{
    char buf[128];
    if (strlen(s) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", s);
    char *p1 = strchr(buf, ':'), *p2 = p1 ? strchr(p1 + 1, ':') : NULL;
    int had;
    if (!p1 || !p2)
        return -1;
    *p1 = *p2 = 0;
    for (int b = 0; b < BENCH_COUNT; b++)
        m->score[b] = NAN;
    m->d_model = NAN;
    if (text_parse_size(buf, 1, &m->params, &had) || !(m->params > 0) ||
        text_parse_double(p1 + 1, &m->score[BENCH_HELLASWAG]) ||
        text_parse_double(p2 + 1, &m->score[BENCH_TRUTHFULQA_MC2]))
        return -1;
    return 0;
}

int analysis_advise_input(const scores_table *t, const char *shown, analysis_advise_args *a,
                          advice_input *in, cape_err *e)
{
    memset(in, 0, sizeof *in);
    in->name = a->name;
    if (!in->name || !in->name[0])
        return err_set(e, CAPE_EINPUT, "--model NAME is required");
    advice_member *self = &in->self;
    for (int b = 0; b < BENCH_COUNT; b++)
        self->score[b] = NAN;
    self->params = NAN;
    self->d_model = NAN;
    int row = -1;
    for (int i = 0; t && i < t->n && row < 0; i++)
        if (name_matches(t->model[i].name, in->name))
            row = i;
    if (row >= 0) {
        member_from_model(&t->model[row], self);
        in->name = t->model[row].name;
        if (!a->family && t->has_family)
            a->family = t->model[row].family;
    }
    if (a->size > 0)
        self->params = a->size;
    for (int b = 0; b < BENCH_COUNT; b++)
        if (!isnan(a->score[b]))
            self->score[b] = a->score[b];
    if (!isnan(a->d_model))
        self->d_model = a->d_model;
    if (row < 0 && (!(self->params > 0) || isnan(self->score[BENCH_HELLASWAG]) ||
                    isnan(self->score[BENCH_TRUTHFULQA_MC2])))
        return err_set(e, CAPE_EINPUT,
                       "model '%s' is not in %s; describe it with --size, --hs and --tqa",
                       in->name, shown);
    if (!(self->params > 0) || isnan(self->score[BENCH_HELLASWAG]) ||
        isnan(self->score[BENCH_TRUTHFULQA_MC2]))
        return err_set(e, CAPE_EINPUT,
                       "%s:%d: model '%s' lacks a size, HellaSwag or TruthfulQA; give --size, "
                       "--hs, --tqa",
                       shown, t->model[row].line, in->name);
    in->family = a->family;
    if (a->family && t) {
        int found = 0;
        for (int i = 0; i < t->n; i++) {
            if (i == row || strcasecmp(t->model[i].family, a->family) != 0)
                continue;
            found = 1;
            const scores_model *m = &t->model[i];
            if (!(m->params > 0) || m->params == self->params || isnan(m->score[BENCH_HELLASWAG]) ||
                isnan(m->score[BENCH_TRUTHFULQA_MC2]) || in->nsib >= ADVICE_MAX_SIBLINGS)
                continue;
            member_from_model(m, &in->sib[in->nsib++]);
        }
        if (!found && row < 0 && a->nsibling == 0)
            return err_set(e, CAPE_EINPUT, "family '%s' not found in %s", a->family, shown);
    }
    for (int k = 0; k < a->nsibling; k++) {
        if (in->nsib >= ADVICE_MAX_SIBLINGS)
            return err_set(e, CAPE_EINPUT, "at most %d siblings", ADVICE_MAX_SIBLINGS);
        if (parse_sibling(a->sibling[k], &in->sib[in->nsib]))
            return err_set(e, CAPE_EINPUT,
                           "--sibling expects SIZE:HS:TQA such as 410M:40.9:41.2, got '%s'",
                           a->sibling[k]);
        if (a->scaled) { /* siblings on the same scale as --hs/--tqa */
            in->sib[in->nsib].score[BENCH_HELLASWAG] *= 100;
            in->sib[in->nsib].score[BENCH_TRUTHFULQA_MC2] *= 100;
        }
        in->nsib++;
    }
    if (!in->family && in->nsib > 0)
        in->family = "given";
    in->next_params = a->next;
    return 0;
}
