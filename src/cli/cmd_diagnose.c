/* cape diagnose: the phase diagnostic on one or more score tables. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "base/text.h"
#include "cli/cli.h"
#include "phase/analysis.h"
#include "phase/phase.h"
#include "phase/phase_json.h"

static const char *BUNDLED[] = {
    "benchmarks/base_models.csv",       "benchmarks/pythia_loss.csv",
    "benchmarks/paper/pythia_set_a.csv", "benchmarks/paper/set_b_14.csv",
    "benchmarks/paper/paper_base_63.csv", "benchmarks/paper/llama2_5bench.csv",
};

static void help(void)
{
    printf(
        "usage: cape diagnose [options] [TABLE.csv ...]\n"
        "\n"
        "Phase diagnostic of model families from benchmark scores (arXiv 2605.18838):\n"
        "running coupling gamma12 between consecutive sizes, tax/transition/bonus phases,\n"
        "population coupling with permutation tests, critical scale N_c (per family and\n"
        "pooled, with bootstrap intervals), width normalisation and the loss power law.\n"
        "With no table, every bundled table is diagnosed (families with fewer models\n"
        "than --min-family are then skipped and listed).\n"
        "\n"
        "Tables are CSV with a header; see docs/FORMATS.md for recognised columns.\n"
        "\n"
        "options:\n"
        "  --reasoning NAME     reasoning benchmark (default hellaswag)\n"
        "  --truth NAME         truthfulness benchmark (default truthfulqa_mc2)\n"
        "  --family NAME        keep only this family (repeatable, or comma-separated)\n"
        "  --min-size N, --max-size N  keep models in this size range (e.g. 560M, 7.1B)\n"
        "  --band X             phase band: tax < -X < transition < X < bonus (0.1)\n"
        "  --skip-delta X       skip pairs with |delta reasoning| <= X points (0.5)\n"
        "  --boot N             bootstrap resamples for the pooled N_c (10000; 0 = none)\n"
        "  --seed N             seed of the bootstrap and Monte Carlo tests (42); the\n"
        "                       bootstrap replays numpy's RandomState(seed) stream\n"
        "  --vertex-range LO,HI keep resamples with LO < log10 N_c < HI (7,12)\n"
        "  --isocline-k K       isocline TQA_c = sqrt(K * HS) on fractions (0.1866)\n"
        "  --d-ref D            width normalisation reference d_model (512)\n"
        "  --perm-exact-max N   enumerate all n! permutations up to n = N (10, at most 12)\n"
        "  --perm-draws N       Monte Carlo permutations above that (100000)\n"
        "  --perm-side S        two-sided | less | greater (two-sided)\n"
        "  --min-family N       models a family needs (3); smaller families are skipped\n"
        "                       and listed\n"
        "  --strict             a family with fewer models is an error instead\n"
        "  --skip-small         accepted for compatibility (skipping is the default)\n"
        "  --loss-alpha A       exponent for the invariant N^alpha (L - E) (fitted)\n"
        "  --loss-e E           offset for the invariant (fitted)\n"
        "  --allow-extra-columns  ignore columns cape does not recognise\n"
        CLI_TABLE_HELP
        "  --json               machine-readable output (schema in docs/JSON.md)\n"
        "  -o, --output FILE    write the output to FILE (atomically)\n"
        "  -h, --help           this help\n");
}

typedef struct {
    phase_options po;
    scores_options so;
    int json;
    const char *output;
    char *family_buf[64];
    const char *families[64];
} diag_args;

static int parse_families(diag_args *a, const char *arg)
{
    int rc = cli_parse_families("diagnose", arg, a->family_buf, a->families, &a->po.nfamilies, 64);
    a->po.families = a->families;
    return rc;
}

static int parse_args(int argc, char **argv, diag_args *a, int *first_file)
{
    enum {
        O_REASON = 256, O_TRUTH, O_FAMILY, O_BAND, O_SKIPD, O_BOOT, O_SEED, O_VRANGE, O_ISOK,
        O_DREF, O_PEXACT, O_PDRAWS, O_PSIDE, O_MINFAM, O_SKIPSMALL, O_LALPHA, O_LE, O_EXTRA,
        O_JSON, O_MINSIZE, O_MAXSIZE, O_STRICT
    };
    static const struct option opts[] = {
        {"reasoning", 1, 0, O_REASON}, {"truth", 1, 0, O_TRUTH}, {"family", 1, 0, O_FAMILY},
        {"band", 1, 0, O_BAND}, {"skip-delta", 1, 0, O_SKIPD}, {"boot", 1, 0, O_BOOT},
        {"seed", 1, 0, O_SEED}, {"vertex-range", 1, 0, O_VRANGE}, {"isocline-k", 1, 0, O_ISOK},
        {"d-ref", 1, 0, O_DREF}, {"perm-exact-max", 1, 0, O_PEXACT},
        {"perm-draws", 1, 0, O_PDRAWS}, {"perm-side", 1, 0, O_PSIDE},
        {"min-family", 1, 0, O_MINFAM}, {"skip-small", 0, 0, O_SKIPSMALL},
        {"loss-alpha", 1, 0, O_LALPHA}, {"loss-e", 1, 0, O_LE},
        {"allow-extra-columns", 0, 0, O_EXTRA}, {"json", 0, 0, O_JSON},
        {"min-size", 1, 0, O_MINSIZE}, {"max-size", 1, 0, O_MAXSIZE},
        {"strict", 0, 0, O_STRICT}, CLI_TABLE_LONGOPTS,
        {"output", 1, 0, 'o'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "diagnose";
    long v;
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return -1;
        case 'o': a->output = optarg; break;
        case O_REASON: rc = cli_parse_bench(cmd, "--reasoning", optarg, &a->po.reasoning); break;
        case O_TRUTH: rc = cli_parse_bench(cmd, "--truth", optarg, &a->po.truth); break;
        case O_FAMILY: rc = parse_families(a, optarg); break;
        case O_BAND: rc = cli_parse_double(cmd, "--band", optarg, &a->po.band); break;
        case O_SKIPD: rc = cli_parse_double(cmd, "--skip-delta", optarg, &a->po.skip_delta); break;
        case O_BOOT:
            rc = cli_parse_int(cmd, "--boot", optarg, 0, 10000000, &v);
            a->po.nboot = (int)v;
            break;
        case O_SEED:
            rc = cli_parse_int(cmd, "--seed", optarg, 0, 4294967295L, &v);
            a->po.seed = (uint32_t)v;
            break;
        case O_VRANGE:
            if (sscanf(optarg, "%lf,%lf", &a->po.vertex_lo, &a->po.vertex_hi) != 2 ||
                !(a->po.vertex_lo < a->po.vertex_hi))
                rc = cli_usage_error(cmd, "--vertex-range expects LO,HI with LO < HI, got '%s'",
                                     optarg);
            break;
        case O_ISOK: rc = cli_parse_double(cmd, "--isocline-k", optarg, &a->po.isocline_k); break;
        case O_DREF: rc = cli_parse_double(cmd, "--d-ref", optarg, &a->po.d_ref); break;
        case O_PEXACT:
            rc = cli_parse_int(cmd, "--perm-exact-max", optarg, 0, 12, &v);
            a->po.perm_exact_max = (int)v;
            break;
        case O_PDRAWS:
            rc = cli_parse_int(cmd, "--perm-draws", optarg, 1, 100000000, &v);
            a->po.perm_draws = (uint64_t)v;
            break;
        case O_PSIDE:
            if (strcmp(optarg, "two-sided") == 0)
                a->po.perm_side = PERM_TWO_SIDED;
            else if (strcmp(optarg, "less") == 0)
                a->po.perm_side = PERM_LESS;
            else if (strcmp(optarg, "greater") == 0)
                a->po.perm_side = PERM_GREATER;
            else
                rc = cli_usage_error(cmd, "--perm-side expects two-sided, less or greater");
            break;
        case O_MINFAM:
            rc = cli_parse_int(cmd, "--min-family", optarg, 2, 1000000, &v);
            a->po.min_family = (int)v;
            break;
        case O_SKIPSMALL: break; /* the default now; kept for old scripts */
        case O_STRICT: a->po.strict = 1; break;
        case CLI_OPT_SCALE:
        case CLI_OPT_SEP:
        case CLI_OPT_FAMILY_FROM_NAME: rc = cli_table_option(cmd, c, optarg, &a->so); break;
        case O_LALPHA: rc = cli_parse_double(cmd, "--loss-alpha", optarg, &a->po.loss_alpha); break;
        case O_LE: rc = cli_parse_double(cmd, "--loss-e", optarg, &a->po.loss_e); break;
        case O_EXTRA: a->so.allow_unknown_columns = 1; break;
        case O_JSON: a->json = 1; break;
        case O_MINSIZE:
        case O_MAXSIZE: {
            double *dst = c == O_MINSIZE ? &a->po.min_size : &a->po.max_size;
            if (text_parse_size(optarg, 1.0, dst, NULL) || !(*dst > 0))
                rc = cli_usage_error(cmd, "%s expects a size such as 410M, 7.1B or 7e9, got '%s'",
                                     c == O_MINSIZE ? "--min-size" : "--max-size", optarg);
            break;
        }
        case ':': return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc == 0 && !(a->po.band >= 0))
        rc = cli_usage_error(cmd, "--band must be >= 0");
    if (rc == 0 && !(a->po.d_ref > 0))
        rc = cli_usage_error(cmd, "--d-ref must be positive");
    if (rc == 0 && !(a->po.isocline_k > 0))
        rc = cli_usage_error(cmd, "--isocline-k must be positive");
    if (rc == 0 && a->po.min_size > a->po.max_size)
        rc = cli_usage_error(cmd, "--min-size is larger than --max-size");
    if (rc == 0 && a->po.reasoning == a->po.truth)
        rc = cli_usage_error(cmd, "--reasoning and --truth name the same benchmark");
    *first_file = optind;
    return rc;
}

/* ---- text output -------------------------------------------------------- */

static void fmt_num(char *buf, size_t n, const char *fmt, double v)
{
    if (isfinite(v))
        snprintf(buf, n, fmt, v);
    else
        snprintf(buf, n, "n/a");
}

static void fmt_size(char *buf, size_t n, double v)
{
    if (isfinite(v))
        text_format_size(v, buf, n);
    else
        snprintf(buf, n, "n/a");
}

static void print_corr(FILE *out, const char *what, const phase_corr *c)
{
    char r[32], p[32], rho[32], rp[32];
    if (c->n < 3 || isnan(c->r)) {
        fprintf(out, "  %s: not estimable (n = %d)\n", what, c->n);
        return;
    }
    fmt_num(r, sizeof r, "%+.4f", c->r);
    fmt_num(p, sizeof p, "%.3g", c->p);
    fmt_num(rho, sizeof rho, "%+.4f", c->rho);
    fmt_num(rp, sizeof rp, "%.3g", c->rho_p);
    fprintf(out, "  %s: n = %d, Pearson r = %s (p = %s), Spearman rho = %s (p = %s)", what, c->n,
            r, p, rho, rp);
    if (c->perm.total)
        fprintf(out, ", permutation p = %.3g (%llu/%llu, %s)", c->perm.p,
                (unsigned long long)c->perm.count, (unsigned long long)c->perm.total,
                c->perm.exact ? "exact" : "Monte Carlo");
    fputc('\n', out);
}

static void print_family(FILE *out, const phase_diagnosis *d, const phase_family *f)
{
    const scores_table *t = d->table;
    const phase_options *o = &d->opt;
    const char *rl = scores_bench_info(o->reasoning)->label, *tl = scores_bench_info(o->truth)->label;
    fprintf(out, "\nfamily %s (%d models)\n", f->name, f->n);
    fprintf(out, "  %-34s %7s %7s %7s %8s  %-10s %s\n", "model", "size", rl, tl, "gamma12", "phase",
            "isocline");
    for (int i = 0; i < f->n; i++) {
        int row = f->idx[i];
        const scores_model *m = &t->model[row];
        char sz[16], g[16];
        fmt_size(sz, sizeof sz, m->params);
        fmt_num(g, sizeof g, "%+.3f", d->row_gamma[row]);
        fprintf(out, "  %-34.34s %7s %7.2f %7.2f %8s  %-10s %s\n", m->name, sz,
                m->score[o->reasoning], m->score[o->truth], g, phase_name(d->row_phase[row]),
                d->row_iso_bonus[row] < 0 ? "-" : d->row_iso_bonus[row] ? "bonus" : "tax");
    }
    if (f->nshared)
        fprintf(out, "  %d models share a size with another: their scores are averaged into one "
                     "point per size\n",
                f->nshared);
    fprintf(out, "  steps:");
    for (int k = 0; k < f->nstep; k++) {
        char g[16];
        fmt_num(g, sizeof g, "%+.3f", f->step[k].gamma);
        fprintf(out, " %s%s", isnan(f->step[k].gamma) ? "skip" : g,
                k + 1 < f->nstep ? "," : "\n");
    }
    if (f->nstep == 0)
        fputc('\n', out);
    print_corr(out, "coupling", &f->corr);
    if (f->nc_found) {
        char nc[16], a[16], b[16];
        fmt_size(nc, sizeof nc, f->nc);
        fmt_size(a, sizeof a, pow(10, f->step[f->nc_step_neg].log_n_mid));
        fmt_size(b, sizeof b, pow(10, f->step[f->nc_step_pos].log_n_mid));
        fprintf(out, "  N_c = %s (gamma12 turns positive between midpoints %s and %s)\n", nc, a, b);
    } else {
        fprintf(out, "  N_c: none (gamma12 never turns from negative to positive)\n");
    }
    if (f->width.estimable) {
        char a[16], b[16];
        fmt_num(a, sizeof a, "%+.4f", f->width.r_raw);
        fmt_num(b, sizeof b, "%+.4f", f->width.r_norm);
        fprintf(out, "  width-normalised r: %s -> %s (scores / (d_model / %g))\n", a, b, o->d_ref);
    } else {
        fprintf(out, "  width-normalised r: not estimable (d_model missing)\n");
    }
}

static void print_loss(FILE *out, const losslaw_result *l)
{
    if (!l->estimable) {
        fprintf(out, "  loss law (%s, n = %d): not estimable: %s\n", l->family, l->n, l->why);
        return;
    }
    fprintf(out,
            "  loss law (%s, n = %d): L = %.4f + %.4g * N^-%.5f  (SE: E %.4f, A %.3g, alpha "
            "%.5f), R^2 %.5f, mean |error| %.3f%%\n",
            l->family, l->n, l->E, l->A, l->alpha, l->se_E, l->se_A, l->se_alpha, l->r2,
            100 * l->mae_rel);
    fprintf(out, "    invariant N^%.4g (L - %.4g): mean %.2f, SD %.2f, CV %.2f%%\n", l->inv_alpha,
            l->inv_e, l->inv_mean, l->inv_sd, 100 * l->inv_cv);
}

static void print_summary(FILE *out, const phase_diagnosis *d)
{
    const phase_options *o = &d->opt;
    fprintf(out, "\nsummary\n");
    print_corr(out, "all models", &d->pooled);
    for (int p = 0; p < 3; p++) {
        char what[64];
        snprintf(what, sizeof what, "%s phase", phase_name((phase_label)p));
        print_corr(out, what, &d->by_phase[p]);
    }
    const phase_ucurve *u = &d->ucurve;
    const char *tl = scores_bench_info(o->truth)->label;
    if (u->estimable) {
        char v[16];
        fmt_size(v, sizeof v, pow(10, u->vertex_log));
        fprintf(out, "  U-curve: %s = %.4f x^2 %+.4f x %+.3f (x = log10 N, %d models), %s at %s\n",
                tl, u->coef[0], u->coef[1], u->coef[2], u->n,
                u->vertex_is_min ? "minimum" : "maximum (no U-shape)", v);
        if (u->valid > 0) {
            char m[16], a[16], b[16], c[16], e[16];
            fmt_size(m, sizeof m, u->median);
            fmt_size(a, sizeof a, u->lo68);
            fmt_size(b, sizeof b, u->hi68);
            fmt_size(c, sizeof c, u->lo95);
            fmt_size(e, sizeof e, u->hi95);
            fprintf(out,
                    "  pooled N_c (vertex bootstrap, %d resamples, seed %u): median %s, 68%% [%s, "
                    "%s], 95%% [%s, %s], %d valid\n",
                    u->nboot, o->seed, m, a, b, c, e, u->valid);
        } else if (u->nboot > 0) {
            fprintf(out, "  pooled N_c: not estimable (no resample has a U-shape with its vertex "
                         "in the range)\n");
        }
    } else {
        fprintf(out, "  U-curve: not estimable (%d models)\n", u->n);
    }
    const phase_gammafit *g = &d->gfit;
    if (g->estimable) {
        char z[16], jm[16], js[16];
        fmt_size(z, sizeof z, g->zero_ok ? pow(10, g->zero_log) : NAN);
        fmt_size(jm, sizeof jm, g->jk_mean);
        fmt_size(js, sizeof js, g->jk_sd);
        fprintf(out,
                "  pooled gamma12 fit: gamma = %.5f log10 N %+.5f (%d pairs, R^2 %.3f, slope p = "
                "%.3g), zero at %s; jackknife %s +/- %s%s\n",
                g->fit.slope, g->fit.intercept, g->npoint, g->fit.r2, g->fit.p, z, jm, js,
                g->fit.p > 0.05 ? " (slope not significant: the zero is ill-defined)" : "");
    } else {
        fprintf(out, "  pooled gamma12 fit: not estimable (%d pairs)\n", g->npoint);
    }
    if (d->iso_total)
        fprintf(out, "  isocline (k = %g): agrees with the gamma12 phase on %d of %d tax/bonus "
                     "models\n",
                o->isocline_k, d->iso_agree, d->iso_total);
    fprintf(out, "  note: width normalisation divides both scores by the same growing factor, "
                 "which by itself pushes r towards +1\n");
}

static void print_text(FILE *out, const phase_diagnosis *d)
{
    const phase_options *o = &d->opt;
    fprintf(out, "== %s\n", d->table->path);
    if (d->has_pair)
        fprintf(out, "   reasoning %s = %s, truth %s = %s\n",
                scores_bench_info(o->reasoning)->label, scores_bench_info(o->reasoning)->key,
                scores_bench_info(o->truth)->label, scores_bench_info(o->truth)->key);
    else
        fprintf(out, "   no %s/%s columns: loss law only\n", scores_bench_info(o->reasoning)->key,
                scores_bench_info(o->truth)->key);
    for (int k = 0; k < d->nfam; k++)
        print_family(out, d, &d->fam[k]);
    if (d->nmissing) {
        fprintf(out, "\n%d row%s left out: no %s", d->nmissing, d->nmissing == 1 ? "" : "s",
                d->has_pair ? "size or no score for one of the two benchmarks"
                            : "size or no loss");
        if (d->nmissing_size)
            fprintf(out, " (%d without a size)", d->nmissing_size);
        fputc('\n', out);
    }
    if (d->nsmall) {
        fprintf(out, "\nskipped (fewer than %d models):", o->min_family);
        for (int k = 0; k < d->nsmall; k++)
            fprintf(out, " %s (%d)%s", d->small[k], d->small_n[k], k + 1 < d->nsmall ? "," : "");
        fputc('\n', out);
    }
    if (d->has_pair && d->nfam > 0)
        print_summary(out, d);
    if (d->nloss) {
        if (!d->has_pair || d->nfam == 0)
            fprintf(out, "\nsummary\n");
        for (int k = 0; k < d->nloss; k++)
            print_loss(out, &d->loss[k]);
    }
    fputc('\n', out);
}

static int diagnose_one(const char *path, const char *shown, diag_args *a, FILE *out,
                        json_t *jarr, cape_err *e)
{
    scores_table t;
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return e->code;
    phase_diagnosis d;
    int rc = analysis_diagnose(buf, len, shown, &a->so, &a->po, &t, &d, e);
    free(buf);
    if (rc)
        return rc;
    cli_table_notes(&t);
    if (rc == 0 && d.nsmall) {
        fprintf(stderr, "cape: note: %s: skipped famil%s with fewer than %d models:", shown,
                d.nsmall == 1 ? "y" : "ies", a->po.min_family);
        for (int k = 0; k < d.nsmall; k++)
            fprintf(stderr, " %s (%d)%s", d.small[k], d.small_n[k], k + 1 < d.nsmall ? "," : "\n");
    }
    if (rc == 0) {
        if (jarr)
            json_array_append_new(jarr, phase_diagnosis_json(&d));
        else
            print_text(out, &d);
    }
    phase_diagnosis_free(&d);
    scores_free(&t);
    return rc;
}

int cmd_diagnose(int argc, char **argv)
{
    diag_args a;
    memset(&a, 0, sizeof a);
    phase_options_default(&a.po);
    int first = argc, rc = parse_args(argc, argv, &a, &first);
    if (rc < 0)
        return 0;
    if (rc)
        goto out;
    int nfiles = argc - first, bundled = nfiles == 0;
    const char *dir = cli_data_dir();
    cli_out out;
    if ((rc = cli_out_open(&out, a.output, a.json)))
        goto out;
    json_t *jarr = a.json ? json_array() : NULL;
    cape_err e = {0};
    int n = bundled ? (int)(sizeof BUNDLED / sizeof *BUNDLED) : nfiles;
    for (int i = 0; i < n && rc == 0; i++) {
        char path[4096], shown[256];
        if (bundled) {
            snprintf(path, sizeof path, "%s/%s", dir, BUNDLED[i]);
            snprintf(shown, sizeof shown, "data/%s", BUNDLED[i]);
            rc = diagnose_one(path, shown, &a, out.fp, jarr, &e);
        } else {
            rc = diagnose_one(argv[first + i], argv[first + i], &a, out.fp, jarr, &e);
        }
    }
    if (rc) {
        cli_out_abort(&out);
        json_decref(jarr);
        rc = cli_report(&e);
        goto out;
    }
    rc = cli_out_close(&out, a.json ? analysis_diagnose_doc(jarr) : NULL);
out:
    for (int i = 0; i < a.po.nfamilies; i++)
        free(a.family_buf[i]);
    return rc;
}
