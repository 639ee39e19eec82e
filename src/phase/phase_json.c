#include "phase/phase_json.h"

#include <math.h>
#include <stdlib.h>

#include "base/json.h"
#include "base/text.h"

static json_t *corr_json(const phase_corr *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer(c->n));
    json_object_set_new(o, "pearson_r", json_num(c->r));
    json_object_set_new(o, "pearson_p", json_num(c->p));
    json_object_set_new(o, "spearman_rho", json_num(c->rho));
    json_object_set_new(o, "spearman_p", json_num(c->rho_p));
    if (c->perm.total) {
        json_t *p = json_object();
        json_object_set_new(p, "p", json_num(c->perm.p));
        json_object_set_new(p, "count", json_integer((json_int_t)c->perm.count));
        json_object_set_new(p, "total", json_integer((json_int_t)c->perm.total));
        json_object_set_new(p, "exact", json_boolean(c->perm.exact));
        json_object_set_new(o, "permutation", p);
    } else {
        json_object_set_new(o, "permutation", json_null());
    }
    return o;
}

static json_t *options_json(const phase_options *o)
{
    static const char *sides[] = {"two-sided", "less", "greater"};
    json_t *j = json_object();
    json_object_set_new(j, "reasoning", json_string(scores_bench_info(o->reasoning)->key));
    json_object_set_new(j, "truth", json_string(scores_bench_info(o->truth)->key));
    json_object_set_new(j, "skip_delta", json_real(o->skip_delta));
    json_object_set_new(j, "band", json_real(o->band));
    json_object_set_new(j, "bootstrap", json_integer(o->nboot));
    json_object_set_new(j, "seed", json_integer(o->seed));
    json_object_set_new(j, "vertex_range", json_pack("[f,f]", o->vertex_lo, o->vertex_hi));
    json_object_set_new(j, "isocline_k", json_real(o->isocline_k));
    json_object_set_new(j, "d_ref", json_real(o->d_ref));
    json_object_set_new(j, "permutation_exact_max", json_integer(o->perm_exact_max));
    json_object_set_new(j, "permutation_draws", json_integer((json_int_t)o->perm_draws));
    json_object_set_new(j, "permutation_side", json_string(sides[o->perm_side]));
    json_object_set_new(j, "min_family", json_integer(o->min_family));
    return j;
}

static json_t *family_json(const phase_diagnosis *d, const phase_family *f)
{
    const scores_table *t = d->table;
    const phase_options *o = &d->opt;
    json_t *j = json_object(), *models = json_array(), *steps = json_array();
    json_object_set_new(j, "name", json_string(f->name));
    json_object_set_new(j, "sizes", json_integer(f->npoint));
    json_object_set_new(j, "models_sharing_a_size", json_integer(f->nshared));
    for (int i = 0; i < f->n; i++) {
        int row = f->idx[i];
        const scores_model *m = &t->model[row];
        json_t *mj = json_object();
        json_object_set_new(mj, "model", json_string(m->name));
        json_object_set_new(mj, "params", json_num(m->params));
        json_object_set_new(mj, "reasoning", json_num(m->score[o->reasoning]));
        json_object_set_new(mj, "truth", json_num(m->score[o->truth]));
        json_object_set_new(mj, "d_model", json_num(m->d_model));
        json_object_set_new(mj, "gamma12", json_num(d->row_gamma[row]));
        json_object_set_new(mj, "phase", json_string(phase_name(d->row_phase[row])));
        json_object_set_new(mj, "isocline_phase",
                            d->row_iso_bonus[row] < 0
                                ? json_null()
                                : json_string(d->row_iso_bonus[row] ? "bonus" : "tax"));
        json_array_append_new(models, mj);
    }
    for (int k = 0; k < f->nstep; k++) {
        const phase_step *s = &f->step[k];
        json_t *sj = json_object();
        json_object_set_new(sj, "from", json_string(t->model[f->idx[s->a]].name));
        json_object_set_new(sj, "to", json_string(t->model[f->idx[s->b]].name));
        json_object_set_new(sj, "params_mid", json_num(pow(10, s->log_n_mid)));
        json_object_set_new(sj, "delta_reasoning", json_num(s->d_reason));
        json_object_set_new(sj, "delta_truth", json_num(s->d_truth));
        json_object_set_new(sj, "gamma12", json_num(s->gamma));
        json_object_set_new(sj, "skipped", json_boolean(isnan(s->gamma)));
        json_object_set_new(sj, "phase", json_string(phase_name(phase_classify(s->gamma, o->band))));
        json_array_append_new(steps, sj);
    }
    json_object_set_new(j, "models", models);
    json_object_set_new(j, "steps", steps);
    json_object_set_new(j, "correlation", corr_json(&f->corr));
    json_t *nc = json_object();
    json_object_set_new(nc, "found", json_boolean(f->nc_found));
    json_object_set_new(nc, "params", json_num(f->nc));
    json_object_set_new(j, "critical_scale", nc);
    json_t *w = json_object();
    json_object_set_new(w, "estimable", json_boolean(f->width.estimable));
    json_object_set_new(w, "r_raw", json_num(f->width.r_raw));
    json_object_set_new(w, "r_normalised", json_num(f->width.estimable ? f->width.r_norm : NAN));
    json_object_set_new(j, "width_normalisation", w);
    return j;
}

static json_t *ucurve_json(const phase_ucurve *u)
{
    json_t *j = json_object();
    json_object_set_new(j, "estimable", json_boolean(u->estimable));
    json_object_set_new(j, "n", json_integer(u->n));
    if (!u->estimable)
        return j;
    json_object_set_new(j, "coef", json_pack("[o,o,o]", json_num(u->coef[0]), json_num(u->coef[1]),
                                             json_num(u->coef[2])));
    json_object_set_new(j, "vertex_is_minimum", json_boolean(u->vertex_is_min));
    json_object_set_new(j, "vertex_params", json_num(pow(10, u->vertex_log)));
    json_t *b = json_object();
    json_object_set_new(b, "resamples", json_integer(u->nboot));
    json_object_set_new(b, "valid", json_integer(u->valid));
    json_object_set_new(b, "median", json_num(u->valid ? u->median : NAN));
    json_object_set_new(b, "mean", json_num(u->valid ? u->mean : NAN));
    json_object_set_new(b, "ci68", json_pack("[o,o]", json_num(u->valid ? u->lo68 : NAN),
                                             json_num(u->valid ? u->hi68 : NAN)));
    json_object_set_new(b, "ci95", json_pack("[o,o]", json_num(u->valid ? u->lo95 : NAN),
                                             json_num(u->valid ? u->hi95 : NAN)));
    json_object_set_new(j, "bootstrap", b);
    return j;
}

static json_t *gammafit_json(const phase_gammafit *g)
{
    json_t *j = json_object();
    json_object_set_new(j, "estimable", json_boolean(g->estimable));
    json_object_set_new(j, "pairs", json_integer(g->npoint));
    if (!g->estimable)
        return j;
    json_object_set_new(j, "slope", json_num(g->fit.slope));
    json_object_set_new(j, "intercept", json_num(g->fit.intercept));
    json_object_set_new(j, "r2", json_num(g->fit.r2));
    json_object_set_new(j, "zero_params", json_num(g->zero_ok ? pow(10, g->zero_log) : NAN));
    json_object_set_new(j, "jackknife_mean", json_num(g->jk_mean));
    json_object_set_new(j, "jackknife_sd", json_num(g->jk_sd));
    return j;
}

static json_t *loss_json(const losslaw_result *l)
{
    json_t *j = json_object();
    json_object_set_new(j, "family", json_string(l->family));
    json_object_set_new(j, "n", json_integer(l->n));
    json_object_set_new(j, "estimable", json_boolean(l->estimable));
    if (!l->estimable) {
        json_object_set_new(j, "reason", json_string(l->why));
        return j;
    }
    json_object_set_new(j, "E", json_num(l->E));
    json_object_set_new(j, "A", json_num(l->A));
    json_object_set_new(j, "alpha", json_num(l->alpha));
    json_object_set_new(j, "se_E", json_num(l->se_E));
    json_object_set_new(j, "se_A", json_num(l->se_A));
    json_object_set_new(j, "se_alpha", json_num(l->se_alpha));
    json_object_set_new(j, "r2", json_num(l->r2));
    json_object_set_new(j, "mae_relative", json_num(l->mae_rel));
    json_t *inv = json_object();
    json_object_set_new(inv, "alpha", json_num(l->inv_alpha));
    json_object_set_new(inv, "E", json_num(l->inv_e));
    json_object_set_new(inv, "mean", json_num(l->inv_mean));
    json_object_set_new(inv, "sd", json_num(l->inv_sd));
    json_object_set_new(inv, "cv", json_num(l->inv_cv));
    json_object_set_new(j, "invariant", inv);
    return j;
}

/* How the table was read: separator, columns converted from fractions, and
 * the families inferred from the model names (null when not inferred). */
static json_t *input_json(const scores_table *t)
{
    json_t *j = json_object(), *scaled = json_array();
    char sep[2] = {t->sep ? t->sep : ',', 0};
    json_object_set_new(j, "separator", json_string(sep));
    for (int b = 0; b < BENCH_COUNT; b++)
        if (t->scaled[b])
            json_array_append_new(scaled, json_string(scores_bench_info((bench_id)b)->key));
    json_object_set_new(j, "scaled_from_fractions", scaled);
    if (t->families_inferred > 0) {
        json_t *f = json_object();
        for (int i = 0; i < t->n; i++) {
            json_t *c = json_object_get(f, t->model[i].family);
            json_object_set_new(f, t->model[i].family,
                                json_integer(c ? json_integer_value(c) + 1 : 1));
        }
        json_object_set_new(j, "families_from_names", f);
    } else {
        json_object_set_new(j, "families_from_names", json_null());
    }
    return j;
}

json_t *phase_diagnosis_json(const phase_diagnosis *d)
{
    json_t *j = json_object();
    char *path = text_utf8_copy(d->table->path); /* a file name need not be UTF-8 */
    json_object_set_new(j, "table", path ? json_string(path) : json_null());
    free(path);
    json_object_set_new(j, "options", options_json(&d->opt));
    json_object_set_new(j, "coupling_available", json_boolean(d->has_pair));
    json_object_set_new(j, "rows_missing_a_score", json_integer(d->nmissing));
    json_object_set_new(j, "rows_missing_a_size", json_integer(d->nmissing_size));
    json_object_set_new(j, "input", input_json(d->table));
    json_t *fams = json_array(), *small = json_array();
    for (int k = 0; k < d->nfam; k++)
        json_array_append_new(fams, family_json(d, &d->fam[k]));
    for (int k = 0; k < d->nsmall; k++)
        json_array_append_new(small, json_pack("{s:s,s:i}", "family", d->small[k], "models",
                                               d->small_n[k]));
    json_object_set_new(j, "families", fams);
    json_object_set_new(j, "skipped_families", small);
    if (d->has_pair && d->nfam > 0) {
        json_object_set_new(j, "pooled_correlation", corr_json(&d->pooled));
        json_t *bp = json_object();
        for (int p = 0; p < 3; p++)
            json_object_set_new(bp, phase_name((phase_label)p), corr_json(&d->by_phase[p]));
        json_object_set_new(j, "by_phase", bp);
        json_object_set_new(j, "ucurve", ucurve_json(&d->ucurve));
        json_object_set_new(j, "gamma_fit", gammafit_json(&d->gfit));
        json_object_set_new(j, "isocline", json_pack("{s:f,s:i,s:i}", "k", d->opt.isocline_k,
                                                     "agree", d->iso_agree, "compared",
                                                     d->iso_total));
    }
    json_t *loss = json_array();
    for (int k = 0; k < d->nloss; k++)
        json_array_append_new(loss, loss_json(&d->loss[k]));
    json_object_set_new(j, "loss_law", loss);
    return j;
}
