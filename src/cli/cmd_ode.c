/* cape ode: benchmark trajectories as an ODE in log10 N, with cross-family
 * prediction and polynomial baselines. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "cli/cli.h"
#include "phase/analysis.h"
#include "phase/ode.h"

static void help(void)
{
    printf(
        "usage: cape ode [options] [TABLE.csv ...]\n"
        "\n"
        "Benchmark trajectories as an ODE in t = log10 N (arXiv 2605.18838, eq. 1):\n"
        "  --fit linear  dB/dt = C B + c, least squares on finite differences at interval\n"
        "                midpoints, integrated from each family's smallest model (default)\n"
        "  --fit sindy   sparse polynomial right-hand side by STLSQ on scores as fractions,\n"
        "                with the selected terms and their stability over lambda\n"
        "  --fit ucurve  polynomial of one benchmark in t (degree 2: the U-curve)\n"
        "With --holdout FAMILY the fit uses the other families and predicts the held-out\n"
        "one from its smallest model, beside polynomial baselines of degree 1..4 fitted on\n"
        "the same training models. Also prints the per-phase slope of dTQA/dt on HS.\n"
        "\n"
        "With no table: data/benchmarks/paper/pythia_set_a.csv (linear, sindy), or\n"
        "data/benchmarks/paper/set_b_14.csv holding out Llama-2 (ucurve).\n"
        "A table without a family column is one family named after its file.\n"
        "\n"
        "options:\n"
        "  --fit KIND            linear | sindy | ucurve (linear)\n"
        "  --bench LIST          state benchmarks, comma-separated\n"
        "                        (hellaswag,truthfulqa_mc2,arc,winogrande,mmlu)\n"
        "  --holdout FAMILY      predict this family from a fit on the others\n"
        "  --holdout-table FILE  predict the models of FILE (one family) instead\n"
        "  --integrator NAME     rk45 (scipy's RK45, default) | gsl-rkf45 | gsl-rkck |\n"
        "                        gsl-rk8pd | gsl-msadams | exact (linear fit: matrix exponential)\n"
        "  --rtol X, --atol X    integration tolerances (1e-3, 1e-6: scipy's defaults)\n"
        "  --grid N              sample N points and interpolate linearly to the sizes, as\n"
        "                        the published figure did (200); 0: sample at the sizes\n"
        "  --lambda X            STLSQ threshold (0.1)\n"
        "  --alpha X             STLSQ ridge penalty (0.05)\n"
        "  --degree N            SINDy library degree (3)\n"
        "  --max-iter N          STLSQ rounds (20)\n"
        "  --lambda-range LO,HI  stability grid (0.01,1)\n"
        "  --lambda-steps N      log-spaced grid points (13)\n"
        "  --target NAME         benchmark of the U-curve (truthfulqa_mc2)\n"
        "  --poly-degree N       degree of that polynomial (2)\n"
        "  --baselines N         polynomial baselines of degree 1..N (4, at most 4)\n"
        "  --phase-split A,B     per-phase windows: tax N <= A, transition A..B, bonus\n"
        "                        N >= B (1B,2.8B)\n"
        "  --allow-extra-columns ignore columns cape does not recognise\n"
        CLI_TABLE_HELP
        "  --json                machine-readable output (schema in docs/JSON.md)\n"
        "  -o, --output FILE     write the output to FILE (atomically)\n"
        "  -h, --help            this help\n");
}

typedef struct {
    ode_options o;
    const char *holdout, *holdout_table, *output;
    int json, extra, fit_given;
    scores_options so; /* --scale, --sep, --family-from-name */
} ode_args;

static int parse_split(const char *s, double *a, double *b)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    char *comma = strchr(buf, ',');
    int had;
    if (!comma)
        return -1;
    *comma = 0;
    if (text_parse_size(buf, 1, a, &had) || text_parse_size(comma + 1, 1, b, &had))
        return -1;
    return *a > 0 && *b >= *a ? 0 : -1;
}

static int parse_args(int argc, char **argv, ode_args *a, int *first)
{
    enum {
        O_FIT = 256, O_BENCH, O_HOLD, O_HOLDT, O_INTEG, O_RTOL, O_ATOL, O_GRID, O_LAMBDA, O_ALPHA,
        O_DEGREE, O_MAXIT, O_LRANGE, O_LSTEPS, O_TARGET, O_PDEG, O_BASE, O_SPLIT, O_EXTRA, O_JSON
    };
    static const struct option opts[] = {
        {"fit", 1, 0, O_FIT}, {"bench", 1, 0, O_BENCH}, {"holdout", 1, 0, O_HOLD},
        {"holdout-table", 1, 0, O_HOLDT}, {"integrator", 1, 0, O_INTEG},
        {"rtol", 1, 0, O_RTOL}, {"atol", 1, 0, O_ATOL}, {"grid", 1, 0, O_GRID},
        {"lambda", 1, 0, O_LAMBDA}, {"alpha", 1, 0, O_ALPHA}, {"degree", 1, 0, O_DEGREE},
        {"max-iter", 1, 0, O_MAXIT}, {"lambda-range", 1, 0, O_LRANGE},
        {"lambda-steps", 1, 0, O_LSTEPS}, {"target", 1, 0, O_TARGET},
        {"poly-degree", 1, 0, O_PDEG}, {"baselines", 1, 0, O_BASE},
        {"phase-split", 1, 0, O_SPLIT}, {"allow-extra-columns", 0, 0, O_EXTRA}, CLI_TABLE_LONGOPTS,
        {"json", 0, 0, O_JSON}, {"output", 1, 0, 'o'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "ode";
    ode_options *o = &a->o;
    long v;
    int c, rc = 0, m;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return -1;
        case 'o': a->output = optarg; break;
        case O_FIT:
            a->fit_given = 1;
            if (strcmp(optarg, "linear") == 0)
                o->fit = ODE_FIT_LINEAR;
            else if (strcmp(optarg, "sindy") == 0)
                o->fit = ODE_FIT_SINDY;
            else if (strcmp(optarg, "ucurve") == 0)
                o->fit = ODE_FIT_UCURVE;
            else
                rc = cli_usage_error(cmd, "--fit expects linear, sindy or ucurve, got '%s'",
                                     optarg);
            break;
        case O_BENCH:
            rc = cli_parse_bench_list(cmd, "--bench", optarg, o->bench, ODE_MAX_BENCH, &o->nbench);
            break;
        case O_HOLD: a->holdout = optarg; break;
        case O_HOLDT: a->holdout_table = optarg; break;
        case O_INTEG:
            if (strcmp(optarg, "exact") == 0) {
                o->exact = 1;
            } else if ((m = odeint_method_lookup(optarg)) >= 0) {
                o->exact = 0;
                o->integ.method = (odeint_method)m;
            } else {
                rc = cli_usage_error(cmd,
                                     "--integrator expects rk45, gsl-rkf45, gsl-rkck, gsl-rk8pd, "
                                     "gsl-msadams or exact, got '%s'",
                                     optarg);
            }
            break;
        case O_RTOL: rc = cli_parse_double(cmd, "--rtol", optarg, &o->integ.rtol); break;
        case O_ATOL: rc = cli_parse_double(cmd, "--atol", optarg, &o->integ.atol); break;
        case O_GRID:
            rc = cli_parse_int(cmd, "--grid", optarg, 0, 1000000, &v);
            o->grid = (int)v;
            if (rc == 0 && o->grid == 1)
                rc = cli_usage_error(cmd, "--grid needs at least 2 points (or 0)");
            break;
        case O_LAMBDA: rc = cli_parse_double(cmd, "--lambda", optarg, &o->stlsq.threshold); break;
        case O_ALPHA: rc = cli_parse_double(cmd, "--alpha", optarg, &o->stlsq.alpha); break;
        case O_DEGREE:
            rc = cli_parse_int(cmd, "--degree", optarg, 1, 5, &v);
            o->degree = (int)v;
            break;
        case O_MAXIT:
            rc = cli_parse_int(cmd, "--max-iter", optarg, 1, 10000, &v);
            o->stlsq.max_iter = (int)v;
            break;
        case O_LRANGE:
            if (sscanf(optarg, "%lf,%lf", &o->lambda_lo, &o->lambda_hi) != 2 ||
                !(o->lambda_lo > 0 && o->lambda_hi >= o->lambda_lo))
                rc = cli_usage_error(cmd, "--lambda-range expects LO,HI with 0 < LO <= HI, got '%s'",
                                     optarg);
            break;
        case O_LSTEPS:
            rc = cli_parse_int(cmd, "--lambda-steps", optarg, 1, ODE_MAX_LAMBDA, &v);
            o->nlambda = (int)v;
            break;
        case O_TARGET: rc = cli_parse_bench(cmd, "--target", optarg, &o->target); break;
        case O_PDEG:
            rc = cli_parse_int(cmd, "--poly-degree", optarg, 1, ODE_MAX_BASELINE, &v);
            o->poly_degree = (int)v;
            break;
        case O_BASE:
            rc = cli_parse_int(cmd, "--baselines", optarg, 0, ODE_MAX_BASELINE, &v);
            o->baseline_max = (int)v;
            break;
        case O_SPLIT:
            if (parse_split(optarg, &o->tax_max, &o->bonus_min))
                rc = cli_usage_error(cmd, "--phase-split expects two sizes A,B with A <= B (e.g. "
                                          "1B,2.8B), got '%s'",
                                     optarg);
            break;
        case O_EXTRA: a->extra = 1; break;
        case CLI_OPT_SCALE:
        case CLI_OPT_SEP:
        case CLI_OPT_FAMILY_FROM_NAME: rc = cli_table_option(cmd, c, optarg, &a->so); break;
        case O_JSON: a->json = 1; break;
        case ':': return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc == 0 && (!(o->integ.rtol > 0) || !(o->integ.atol > 0)))
        rc = cli_usage_error(cmd, "--rtol and --atol must be positive");
    if (rc == 0 && !(o->stlsq.threshold >= 0))
        rc = cli_usage_error(cmd, "--lambda must be >= 0");
    if (rc == 0 && !(o->stlsq.alpha >= 0))
        rc = cli_usage_error(cmd, "--alpha must be >= 0");
    if (rc == 0 && a->holdout && a->holdout_table)
        rc = cli_usage_error(cmd, "give --holdout or --holdout-table, not both");
    if (rc == 0 && o->exact && o->fit != ODE_FIT_LINEAR)
        rc = cli_usage_error(cmd, "--integrator exact needs --fit linear");
    *first = optind;
    return rc;
}

/* ---- text output --------------------------------------------------------- */

static const char *lab(bench_id b)
{
    return scores_bench_info(b)->label;
}

static void print_errors(FILE *out, const char *what, const ode_errors *er, const bench_id *bench,
                         int nb)
{
    fprintf(out, "  %s (%d model%s): %.2f %% overall", what, er->n, er->n == 1 ? "" : "s",
            er->overall_mae_rel);
    if (nb > 1) {
        fprintf(out, ";");
        for (int j = 0; j < nb; j++)
            fprintf(out, " %s %.2f%s", lab(bench[j]), er->mae_rel[j], j + 1 < nb ? "," : "");
        fprintf(out, " %%");
    }
    fprintf(out, "; MAPE %.2f %%\n", er->overall_mape);
}

/* Model names without an "org/" prefix, so table columns stay readable. */
static const char *short_name(const char *name)
{
    const char *slash = strrchr(name, '/');
    return slash && slash[1] ? slash + 1 : name;
}

static void print_traj(FILE *out, const ode_traj *t, const double *pred, const bench_id *bench,
                       int nb, const char *predname)
{
    fprintf(out, "  %-26s %6s", "", "");
    for (int j = 0; j < nb; j++)
        fprintf(out, "  %13s", lab(bench[j]));
    fprintf(out, "\n  %-26s %6s", "model", "size");
    for (int j = 0; j < nb; j++)
        fprintf(out, "  %6s %6s", "obs", predname);
    fprintf(out, "\n");
    for (int i = 0; i < t->n; i++) {
        char sz[16];
        cli_fmt_size(sz, sizeof sz, pow(10, t->log_n[i]));
        fprintf(out, "  %-26.26s %6s", short_name(t->name[i]), sz);
        for (int j = 0; j < nb; j++) {
            char p[16];
            cli_fmt(p, sizeof p, "%.2f", pred ? pred[i * nb + j] : NAN);
            fprintf(out, "  %6.2f %6s", t->b[i * nb + j], p);
        }
        fprintf(out, "\n");
    }
}

static void print_linear(FILE *out, const ode_model *m, const bench_id *bench)
{
    int nb = m->nbench;
    fprintf(out, "\ncoefficients: d(row)/dt = sum over columns of coef x score + const\n");
    fprintf(out, "  %-8s", "");
    for (int j = 0; j < nb; j++)
        fprintf(out, " %10s", lab(bench[j]));
    fprintf(out, " %10s\n", "const");
    for (int i = 0; i < nb; i++) {
        char row[24];
        snprintf(row, sizeof row, "d%s", lab(bench[i]));
        fprintf(out, "  %-8s", row);
        for (int j = 0; j <= nb; j++)
            fprintf(out, " %+10.4f", m->coef[i * (nb + 1) + j]);
        fprintf(out, "\n");
    }
    fprintf(out, "  derivative fit RMS residual %.4f points/decade over %d intervals\n",
            m->resid_rms, m->nrows);
}

static void print_sindy(FILE *out, const ode_result *r, const bench_id *bench)
{
    const ode_model *m = &r->model;
    const ode_stability *s = &r->stab;
    int nb = m->nbench;
    fprintf(out, "\nequations (scores as fractions, t = log10 N); [share of the lambda grid "
                 "selecting each term]\n");
    for (int i = 0; i < nb; i++) {
        fprintf(out, "  d%s/dt =", lab(bench[i]));
        int any = 0;
        for (int t = 0; t < m->nterm; t++) {
            double x = m->xi[t * nb + i];
            if (x == 0)
                continue;
            char name[128];
            ode_term_name(m, bench, t, name, sizeof name);
            fprintf(out, " %s%.4g%s%s [%.0f%%]", x < 0 ? (any ? "- " : "-") : any ? "+ " : "",
                    fabs(x), strcmp(name, "1") ? " " : "", strcmp(name, "1") ? name : "",
                    100 * s->freq[t * nb + i]);
            any = 1;
        }
        fprintf(out, "%s\n", any ? "" : " 0 (every term removed)");
    }
    fprintf(out, "  STLSQ: %d round(s), %s; derivative fit RMS residual %.4f points/decade\n",
            m->iters, m->converged ? "converged" : "did not converge", m->resid_rms);
    fprintf(out, "\nstability over lambda (active terms per equation)\n  %8s", "lambda");
    for (int i = 0; i < nb; i++)
        fprintf(out, " %5s", lab(bench[i]));
    fprintf(out, "\n");
    for (int l = 0; l < s->nlambda; l++) {
        fprintf(out, "  %8.4f", s->lambda[l]);
        for (int i = 0; i < nb; i++)
            fprintf(out, " %5d", s->nactive[l][i]);
        fprintf(out, "%s\n", l >= s->stable_lo && l <= s->stable_hi && s->stable_lo >= 0
                                 ? "   same support as the fit"
                                 : "");
    }
    if (s->stable_lo >= 0 && s->stable_lo == s->stable_hi)
        fprintf(out, "  the support of lambda = %g is not shared by its grid neighbours; %d distinct "
                     "supports over the grid\n",
                m->lambda, s->nsupports);
    else if (s->stable_lo >= 0)
        fprintf(out, "  the support of lambda = %g holds for lambda in [%.4g, %.4g] (a %.1fx range); "
                     "%d distinct supports over the grid\n",
                m->lambda, s->lambda[s->stable_lo], s->lambda[s->stable_hi],
                s->lambda[s->stable_hi] / s->lambda[s->stable_lo], s->nsupports);
    else
        fprintf(out, "  no grid point next to lambda = %g has its support; %d distinct supports "
                     "over the grid\n",
                m->lambda, s->nsupports);
}

static void print_slopes(FILE *out, const ode_result *r)
{
    const ode_options *o = &r->opt;
    char a[16], b[16];
    cli_fmt_size(a, sizeof a, o->tax_max);
    cli_fmt_size(b, sizeof b, o->bonus_min);
    fprintf(out, "\nper-phase slope of d%s/dlog10N on %s (finite differences, %s at midpoints)\n",
            lab(o->slope_y), lab(o->slope_x), lab(o->slope_x));
    const char *win[3][2] = {{"N <= ", a}, {"", ""}, {"N >= ", b}};
    for (int w = 0; w < 3; w++) {
        const ode_phase_slope *s = &r->slopes[w];
        char range[48], v[24];
        if (w == 1)
            snprintf(range, sizeof range, "%s .. %s", a, b);
        else
            snprintf(range, sizeof range, "%s%s", win[w][0], win[w][1]);
        if (s->estimable)
            snprintf(v, sizeof v, "%+.4f", s->slope);
        else
            snprintf(v, sizeof v, "not estimable");
        fprintf(out, "  %-11s %-14s %14s  (%d interval%s%s)\n", s->phase, range, v, s->nrows,
                s->nrows == 1 ? "" : "s", s->exact ? ", exact: two points fix the line" : "");
    }
    if (r->slopes[0].estimable && r->slopes[2].estimable)
        fprintf(out, "  bonus / tax = %.2f\n", r->slopes[2].slope / r->slopes[0].slope);
}

static void print_baselines(FILE *out, const ode_result *r, const bench_id *bench, int nb)
{
    fprintf(out, "\npolynomial baselines in log10 N, per benchmark, fitted on the same training "
                 "models\n");
    fprintf(out, "  %-7s %26s   %26s\n", "degree", "every held-out model", "beyond the first");
    fprintf(out, "  %-7s %12s %13s   %12s %13s\n", "", "MAE/mean %", "MAPE %", "MAE/mean %",
            "MAPE %");
    for (int d = 0; d < r->nbase; d++) {
        const ode_baseline *b = &r->base[d];
        if (!b->ok) {
            fprintf(out, "  %-7d not estimable: %s\n", b->degree, b->why);
            continue;
        }
        fprintf(out, "  %-7d %12.3f %13.3f   %12.3f %13.3f%s\n", b->degree, b->all.overall_mae_rel,
                b->all.overall_mape, b->beyond.overall_mae_rel, b->beyond.overall_mape,
                r->opt.fit == ODE_FIT_UCURVE && b->degree == r->opt.poly_degree ? "   <- the fit"
                                                                                 : "");
        if (nb > 1) {
            fprintf(out, "  %-7s MAE/mean per benchmark, beyond the first:", "");
            for (int j = 0; j < nb; j++)
                fprintf(out, " %s %.2f%s", lab(bench[j]), b->beyond.mae_rel[j], j + 1 < nb ? "," : "");
            fprintf(out, " %%\n");
        }
    }
}

static void print_header(FILE *out, const ode_result *r, const ode_data *train)
{
    const ode_options *o = &r->opt;
    int rows = 0, models = 0;
    for (int k = 0; k < train->ntraj; k++) {
        models += train->traj[k].n;
        rows += train->traj[k].n - 1;
    }
    if (o->fit == ODE_FIT_LINEAR)
        fprintf(out, "== cape ode: dense linear ODE dB/dt = C B + c in t = log10 N\n");
    else if (o->fit == ODE_FIT_SINDY)
        fprintf(out,
                "== cape ode: SINDy, STLSQ lambda %g, ridge alpha %g, polynomial library of "
                "degree %d (%d terms)\n",
                o->stlsq.threshold, o->stlsq.alpha, o->degree, r->model.nterm);
    else
        fprintf(out, "== cape ode: polynomial of degree %d of %s in t = log10 N%s\n",
                o->poly_degree, lab(o->target), o->poly_degree == 2 ? " (the U-curve)" : "");
    fprintf(out, "   fitted on:");
    for (int k = 0; k < train->ntraj; k++)
        fprintf(out, " %s (%d)%s", train->traj[k].family, train->traj[k].n,
                k + 1 < train->ntraj ? "," : "");
    fprintf(out, "; %d models, %d intervals", models, rows);
    if (train->nskipped)
        fprintf(out, "; %d row(s) skipped for a missing size or score", train->nskipped);
    if (train->nduplicate)
        fprintf(out, "\n   same size in one family, scores averaged into one point: %s",
                train->duplicate);
    fprintf(out, "\n   state:");
    for (int j = 0; j < train->nbench; j++)
        fprintf(out, " %s", lab(train->bench[j]));
    fprintf(out, " (points)\n");
    if (o->fit == ODE_FIT_UCURVE)
        return;
    if (o->exact)
        fprintf(out, "   integration: exact (matrix exponential)");
    else
        fprintf(out, "   integration: %s%s, rtol %g, atol %g", odeint_method_name(o->integ.method),
                o->integ.method == ODEINT_RK45 ? " (scipy's Dormand-Prince 5(4) controller)" : "",
                o->integ.rtol, o->integ.atol);
    if (o->grid > 1)
        fprintf(out, ", sampled on a %d-point grid and interpolated linearly\n", o->grid);
    else
        fprintf(out, ", sampled at the sizes\n");
}

static void print_text(FILE *out, const ode_result *r, const ode_data *train)
{
    const ode_options *o = &r->opt;
    const bench_id *bench = train->bench;
    int nb = train->nbench;
    print_header(out, r, train);
    if (o->fit != ODE_FIT_UCURVE) {
        const ode_model *m = &r->model;
        if (!m->estimable) {
            fprintf(out, "\nmodel: not estimable: %s\n", m->why);
        } else {
            if (m->kind == ODE_FIT_LINEAR)
                print_linear(out, m, bench);
            else
                print_sindy(out, r, bench);
            for (int k = 0; k < r->ntrain; k++) {
                const ode_traj *t = &train->traj[k];
                const ode_pred *p = &r->insample[k];
                fprintf(out, "\nin-sample: %s, integrated from %s\n", t->family, t->name[0]);
                if (t->n < 2) {
                    fprintf(out, "  one model: nothing to integrate or compare\n");
                    continue;
                }
                if (!p->ok) {
                    fprintf(out, "  not estimable: %s\n", p->why);
                    continue;
                }
                print_traj(out, t, p->pred, bench, nb, "pred");
                print_errors(out, "mean error, MAE/mean", &r->insample_err[k], bench, nb);
            }
            if (r->ntrain > 1 && isfinite(r->insample_all.overall_mae_rel))
                print_errors(out, "\nall training families, MAE/mean", &r->insample_all, bench,
                             nb);
        }
    } else {
        fprintf(out, "\n");
        if (r->poly_ok) {
            char v[16];
            fprintf(out, "  %s =", lab(o->target));
            for (int d = 0; d <= o->poly_degree; d++) {
                int p = o->poly_degree - d;
                fprintf(out, " %s%.4f%s", r->poly_coef[d] < 0 ? (d ? "- " : "-") : d ? "+ " : "",
                        fabs(r->poly_coef[d]), p > 1 ? " t^" : p == 1 ? " t" : "");
                if (p > 1)
                    fprintf(out, "%d", p);
            }
            cli_fmt_size(v, sizeof v, pow(10, r->poly_vertex_log));
            fprintf(out, "   (%d models", r->poly_n);
            if (o->poly_degree == 2)
                fprintf(out, isfinite(r->poly_vertex_log) ? "; minimum at N = %s)\n"
                                                          : "; no minimum: not U-shaped%s)\n",
                        isfinite(r->poly_vertex_log) ? v : "");
            else
                fprintf(out, ")\n");
        } else {
            fprintf(out, "  not estimable: %s\n", r->poly_why);
        }
    }
    if (r->slopes[0].nrows + r->slopes[1].nrows + r->slopes[2].nrows > 0)
        print_slopes(out, r);
    if (!r->has_test) {
        fputc('\n', out);
        return;
    }
    const ode_traj *t = r->test;
    fprintf(out, "\nhold-out: %s (%d models)\n", t->family, t->n);
    if (o->fit != ODE_FIT_UCURVE) {
        const ode_pred *p = &r->test_pred;
        fprintf(out, "  integrated from %s\n", t->name[0]);
        if (!p->ok) {
            fprintf(out, "  not estimable: %s\n", p->why);
        } else {
            print_traj(out, t, p->pred, bench, nb, "pred");
            print_errors(out, "mean error beyond the first model, MAE/mean", &r->test_err, bench,
                         nb);
        }
    } else {
        int deg = o->poly_degree;
        const ode_baseline *b = deg <= r->nbase ? &r->base[deg - 1] : NULL;
        print_traj(out, t, b && b->ok ? b->pred : NULL, bench, nb, "pred");
        if (b && b->ok)
            print_errors(out, "mean error, MAE/mean", &b->all, bench, nb);
    }
    print_baselines(out, r, bench, nb);
    fputc('\n', out);
}

/* ---- main ---------------------------------------------------------------- */

int cmd_ode(int argc, char **argv)
{
    ode_args a;
    memset(&a, 0, sizeof a);
    ode_options_default(&a.o);
    int first = argc, rc = parse_args(argc, argv, &a, &first);
    if (rc < 0)
        return 0;
    if (rc)
        return rc;
    analysis_ode_prepare(&a.o);
    int ntab = argc - first, bundled = ntab == 0;
    a.so.allow_unknown_columns = a.extra;
    char bpath[4096];
    const char *paths[64], *shown[64];
    if (ntab > 62)
        return cli_usage_error("ode", "at most 62 tables");
    if (bundled) {
        const char *rel = a.o.fit == ODE_FIT_UCURVE ? "benchmarks/paper/set_b_14.csv"
                                                    : "benchmarks/paper/pythia_set_a.csv";
        paths[0] = cli_bundled(rel, bpath, sizeof bpath);
        shown[0] = a.o.fit == ODE_FIT_UCURVE ? "data/benchmarks/paper/set_b_14.csv"
                                             : "data/benchmarks/paper/pythia_set_a.csv";
        ntab = 1;
        if (a.o.fit == ODE_FIT_UCURVE && !a.holdout && !a.holdout_table)
            a.holdout = "Llama-2";
    } else {
        for (int i = 0; i < ntab; i++)
            paths[i] = shown[i] = argv[first + i];
    }
    scores_table tables[64];
    const scores_table *tp[64];
    int nread = 0;
    char holdname[256] = "";
    for (int i = 0; i < ntab && rc == 0; i++) {
        rc = bundled ? cli_read_table(paths[i], shown[i], a.extra, &tables[nread])
                     : cli_read_table_opt(paths[i], shown[i], &a.so, &tables[nread]);
        if (rc == 0)
            tp[nread] = &tables[nread], nread++;
    }
    if (rc == 0 && a.holdout_table) {
        rc = cli_read_table_opt(a.holdout_table, NULL, &a.so, &tables[nread]);
        if (rc == 0) {
            const scores_table *h = &tables[nread];
            tp[nread++] = h;
            cape_err he = {0};
            if (analysis_ode_holdout_name(h, a.holdout_table, holdname, sizeof holdname, &he))
                rc = cli_usage_error("ode", "%s", he.msg);
            a.holdout = holdname;
        }
    }
    analysis_ode an;
    memset(&an, 0, sizeof an);
    cape_err e = {0};
    if (rc == 0 && analysis_ode_run(tp, nread, &a.o, a.holdout, &an, &e))
        rc = cli_report(&e);
    if (rc == 0) {
        cli_out out;
        rc = cli_out_open(&out, a.output, a.json);
        if (rc == 0) {
            json_t *root = NULL;
            if (a.json)
                root = analysis_ode_doc(&an, tp, nread);
            else
                print_text(out.fp, &an.r, &an.train);
            rc = cli_out_close(&out, root);
        }
    }
    analysis_ode_free(&an);
    for (int i = 0; i < nread; i++)
        scores_free(&tables[i]);
    return rc;
}
