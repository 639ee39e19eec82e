#include "phase/falsify_json.h"

#include <math.h>

#include "base/json.h"

/* a size given as log10 N, in parameters */
static json_t *size_log(double lg)
{
    return json_num(isfinite(lg) ? pow(10, lg) : NAN);
}

static json_t *tri(int v)
{
    return v < 0 ? json_null() : json_boolean(v);
}

static json_t *ushape_json(const falsify_ushape *u)
{
    json_t *j = json_object();
    json_object_set_new(j, "points", json_integer(u->n));
    json_object_set_new(j, "nc_gamma", size_log(u->nc_log));
    json_object_set_new(j, "truth_vertex", size_log(u->vertex_log));
    json_t *b = json_object();
    json_object_set_new(b, "resamples", json_integer(u->nboot));
    json_object_set_new(b, "with_nc", json_integer(u->n_nc));
    json_object_set_new(b, "with_vertex", json_integer(u->n_vertex));
    json_object_set_new(b, "with_both", json_integer(u->n_both));
    json_object_set_new(b, "nc_median", size_log(u->nc_med));
    json_object_set_new(b, "nc_ci95", json_pack("[o,o]", size_log(u->nc_lo), size_log(u->nc_hi)));
    json_object_set_new(b, "vertex_median", size_log(u->vertex_med));
    json_object_set_new(b, "diff_dex_median", json_num(u->diff_med));
    json_object_set_new(b, "diff_dex_ci95", json_pack("[o,o]", json_num(u->diff_lo),
                                                      json_num(u->diff_hi)));
    json_object_set_new(j, "bootstrap", b);
    json_object_set_new(j, "coincide", tri(u->coincide));
    return j;
}

static json_t *partial_json(const falsify_partial *p)
{
    json_t *j = json_object();
    json_object_set_new(j, "control_degree", json_integer(p->degree));
    json_object_set_new(j, "n", json_integer(p->n));
    json_object_set_new(j, "families", json_integer(p->nfam));
    json_object_set_new(j, "r", json_num(p->r));
    json_object_set_new(j, "p_param", json_num(p->p_param));
    if (p->perm.total) {
        json_object_set_new(j, "permutation",
                            json_pack("{s:o,s:I,s:I,s:b}", "p", json_num(p->perm.p), "count",
                                      (json_int_t)p->perm.count, "total",
                                      (json_int_t)p->perm.total, "exact", p->perm.exact));
    } else {
        json_object_set_new(j, "permutation", json_null());
    }
    return j;
}

static json_t *width_json(const falsify_width *w)
{
    if (!w->estimable)
        return json_null();
    json_t *j = json_object();
    json_object_set_new(j, "n", json_integer(w->n));
    json_object_set_new(j, "draws", json_integer(w->ndraw));
    json_object_set_new(j, "r_raw", json_num(w->r_raw));
    json_object_set_new(j, "r_normalised", json_num(w->r_norm));
    json_object_set_new(j, "null_mean", json_num(w->null_mean));
    json_object_set_new(j, "null_p05", json_num(w->null_p05));
    json_object_set_new(j, "null_p95", json_num(w->null_p95));
    json_object_set_new(j, "p_null_ge_normalised", json_num(w->p_ge));
    json_object_set_new(j, "share_of_flip", json_num(w->share));
    return j;
}

static json_t *drops_json(const falsify_drop *d, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:o,s:i,s:o}", "left_out", json_text(d[i].label),
                                           "points", d[i].npoint, "nc", json_num(d[i].nc)));
    return a;
}

json_t *falsify_table_json(const falsify_table *t, const falsify_options *o)
{
    json_t *j = json_object(), *fams = json_array();
    json_object_set_new(j, "table", json_text(t->path));
    json_object_set_new(j, "points", json_integer(t->npoint));
    json_t *small = json_array();
    for (int k = 0; k < t->nsmall; k++)
        json_array_append_new(small, json_text(t->small[k]));
    json_object_set_new(j, "skipped_families", small);
    for (int k = 0; k < t->nfam; k++) {
        const falsify_family *f = &t->fam[k];
        json_t *fj = json_object();
        json_object_set_new(fj, "name", json_text(f->name));
        json_object_set_new(fj, "points", json_integer(f->n));
        json_object_set_new(fj, "ushape", ushape_json(&f->ushape));
        json_object_set_new(fj, "null",
                            json_pack("{s:i,s:o,s:o,s:b,s:o}", "trend_degree", f->null_degree,
                                      "reasoning_sd", json_num(f->r_sd), "truth_sd",
                                      json_num(f->t_sd), "flips", f->flips, "p_flip",
                                      json_num(f->p_flip)));
        json_object_set_new(fj, "partial", json_pack("[o,o]", partial_json(&f->partial[0]),
                                                     partial_json(&f->partial[1])));
        json_object_set_new(fj, "width_null", width_json(&f->width));
        json_array_append_new(fams, fj);
    }
    json_object_set_new(j, "families", fams);
    json_object_set_new(j, "pooled_ushape", ushape_json(&t->pooled_ushape));
    const falsify_null *n = &t->null;
    static const char *from[] = {"given", "pooled_vertex_median", "published"};
    json_t *nj = json_object();
    json_object_set_new(nj, "simulations", json_integer(n->nsim));
    json_object_set_new(nj, "flips_observed", json_integer(n->flips_obs));
    json_object_set_new(nj, "flips_mean", json_num(n->mean_flips));
    json_object_set_new(nj, "p_flips", json_num(n->p_flips));
    json_object_set_new(nj, "nc_below", json_num(n->nc_below));
    json_object_set_new(nj, "nc_below_from", json_string(from[n->nc_below_from]));
    json_object_set_new(nj, "n_below", json_integer(n->n_below));
    json_object_set_new(nj, "r_below", json_num(n->r_below));
    json_object_set_new(nj, "p_r_below", json_num(n->p_r_below));
    json_object_set_new(nj, "published_interval", json_pack("[f,f]", o->pub_lo, o->pub_hi));
    json_object_set_new(nj, "vertex_observed", size_log(n->vertex_obs_log));
    json_object_set_new(nj, "vertex_in_interval", json_boolean(n->vertex_in_obs));
    json_object_set_new(nj, "p_vertex_in_interval", json_num(n->p_vertex_in));
    json_object_set_new(j, "null_model", nj);
    json_object_set_new(j, "pooled_partial",
                        json_pack("[o,o]", partial_json(&t->pooled_partial[0]),
                                  partial_json(&t->pooled_partial[1])));
    json_t *pairs = json_array();
    for (int k = 0; k < t->npair; k++) {
        const falsify_pair *p = &t->pair[k];
        json_t *pj = json_object();
        json_object_set_new(pj, "reasoning", json_string(scores_bench_info(p->reasoning)->key));
        json_object_set_new(pj, "truth", json_string(scores_bench_info(p->truth)->key));
        json_object_set_new(pj, "negative_control", json_boolean(p->control));
        json_object_set_new(pj, "present", json_boolean(p->present));
        json_object_set_new(pj, "families", json_integer(p->nfam));
        json_object_set_new(pj, "families_flipping", json_integer(p->nflip));
        json_object_set_new(pj, "points", json_integer(p->npoint));
        json_object_set_new(pj, "vertex_is_minimum", json_boolean(p->vertex_is_min));
        json_object_set_new(pj, "vertex", size_log(p->vertex_log));
        json_object_set_new(pj, "valid", json_integer(p->valid));
        json_object_set_new(pj, "nc_median", json_num(p->median));
        json_object_set_new(pj, "nc_ci95", json_pack("[o,o]", json_num(p->lo95), json_num(p->hi95)));
        json_object_set_new(pj, "gamma_line", ushape_json(&p->gamma));
        json_object_set_new(pj, "sign_change_survives", json_boolean(p->survives));
        json_array_append_new(pairs, pj);
    }
    json_object_set_new(j, "pairs", pairs);
    const falsify_stability *s = &t->stab;
    json_t *sj = json_object();
    json_object_set_new(sj, "resamples", json_integer(s->nboot));
    json_object_set_new(sj, "nc_all", json_num(s->nc_all));
    json_object_set_new(sj, "leave_one_family_out", drops_json(s->fam, s->nfam));
    json_object_set_new(sj, "family_range", json_pack("[o,o]", json_num(s->fam_min),
                                                      json_num(s->fam_max)));
    json_object_set_new(sj, "family_moving_most",
                        s->fam_most >= 0 ? json_text(s->fam[s->fam_most].label) : json_null());
    json_object_set_new(sj, "leave_one_size_out", drops_json(s->size, s->nsize));
    json_object_set_new(sj, "size_range", json_pack("[o,o]", json_num(s->size_min),
                                                    json_num(s->size_max)));
    json_object_set_new(sj, "size_moving_most",
                        s->size_most >= 0 ? json_text(s->size[s->size_most].label) : json_null());
    json_object_set_new(j, "stability", sj);
    return j;
}

json_t *falsify_result_json(const falsify_result *r)
{
    const falsify_options *o = &r->opt;
    json_t *opt = json_object();
    json_object_set_new(opt, "reasoning", json_string(scores_bench_info(o->po.reasoning)->key));
    json_object_set_new(opt, "truth", json_string(scores_bench_info(o->po.truth)->key));
    json_object_set_new(opt, "seed", json_integer(o->po.seed));
    json_object_set_new(opt, "bootstrap", json_integer(o->nboot));
    json_object_set_new(opt, "stability_bootstrap", json_integer(o->stab_boot));
    json_object_set_new(opt, "simulations", json_integer(o->nsim));
    json_object_set_new(opt, "permutations", json_integer(o->nperm));
    json_object_set_new(opt, "width_draws", json_integer(o->nwidth));
    json_object_set_new(opt, "null_degree", json_integer(o->null_degree));
    json_object_set_new(opt, "skip_delta", json_real(o->po.skip_delta));
    json_object_set_new(opt, "vertex_range",
                        json_pack("[f,f]", o->po.vertex_lo, o->po.vertex_hi));
    json_object_set_new(opt, "d_ref", json_real(o->po.d_ref));
    json_t *tabs = json_array();
    for (int i = 0; i < r->nt; i++)
        json_array_append_new(tabs, falsify_table_json(&r->t[i], o));
    return json_pack("{s:o,s:o}", "options", opt, "tables", tabs);
}
