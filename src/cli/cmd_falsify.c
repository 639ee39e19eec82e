/* cape falsify: stress tests of the phase claim on one or more score tables. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "cli/cli.h"
#include "phase/analysis.h"
#include "phase/falsify.h"

#define BUNDLED analysis_falsify_tables
enum { NBUNDLED = ANALYSIS_FALSIFY_NTABLES, MAXTABLES = 64 };

static void help(void)
{
    printf(
        "usage: cape falsify [options] [TABLE.csv ...]\n"
        "\n"
        "Stress tests of the phase claim (docs/METHODS.md, \"Stress tests\"): is the\n"
        "tax -> bonus switch of gamma12 a coupling between reasoning and truth, or what two\n"
        "independent size trends give when truth is U-shaped in log10 N?\n"
        "  1. N_c from gamma12 beside the vertex of a truth-only quadratic (same resamples)\n"
        "  2. a null model of independent trends: p of a sign change, of the anticorrelation\n"
        "     below N_c, of a pooled vertex inside the published interval\n"
        "  3. partial coupling r(reasoning, truth | log10 N), permutation p within families\n"
        "  4. the diagnosis for every reasoning benchmark against truth, plus a negative\n"
        "     control pair without a truthfulness benchmark\n"
        "  5. leave-one-family-out and leave-one-size-out pooled N_c\n"
        "  6. width normalisation by a random growing factor of the same spread\n"
        "With no table: the paper's tables (set A, set B, the 63-model table) and the\n"
        "bundled leaderboard table.\n"
        "\n"
        "options:\n"
        "  --reasoning NAME     reasoning benchmark (hellaswag)\n"
        "  --truth NAME         truthfulness benchmark (truthfulqa_mc2)\n"
        "  --family NAME        keep only this family (repeatable, or comma-separated)\n"
        "  --min-size N, --max-size N  keep models in this size range (e.g. 560M, 7.1B)\n"
        "  --min-family N       models a family needs (3)\n"
        "  --skip-delta X       skip pairs with |delta reasoning| <= X points (0.5)\n"
        "  --boot N             bootstrap resamples of tests 1 and 4 (10000)\n"
        "  --stability-boot N   resamples per pooled N_c of test 5 (1000)\n"
        "  --sims N             null-model simulations (10000)\n"
        "  --perms N            permutations of the pooled partial coupling (10000)\n"
        "  --width-draws N      random growing factors of test 6 (10000)\n"
        "  --null-degree D      degree of each benchmark's trend in log10 N, 0..3 (2; lowered\n"
        "                       to points - 2 in small families)\n"
        "  --nc SIZE            N_c that splits \"below N_c\" (default: the table's pooled\n"
        "                       vertex median)\n"
        "  --published LO,HI    the published N_c interval (2.9e9,13.4e9)\n"
        "  --vertex-range LO,HI keep N_c with LO < log10 N_c < HI (7,12)\n"
        "  --perm-exact-max N   enumerate all n! permutations per family up to n = N (10)\n"
        "  --d-ref D            width normalisation reference d_model (512)\n"
        "  --seed N             seed of every random stream (42; numpy RandomState)\n"
        "  --allow-extra-columns  ignore columns cape does not recognise\n"
        CLI_TABLE_HELP
        "  --json               machine-readable output (schema in docs/JSON.md)\n"
        "  -o, --output FILE    write the output to FILE (atomically)\n"
        "  -h, --help           this help\n");
}

typedef struct {
    falsify_options fo;
    scores_options so;
    int json;
    const char *output;
    char *family_buf[64];
    const char *families[64];
} fals_args;

static int parse_families(fals_args *a, const char *arg)
{
    int rc = cli_parse_families("falsify", arg, a->family_buf, a->families, &a->fo.po.nfamilies, 64);
    a->fo.po.families = a->families;
    return rc;
}

static int parse_count(const char *opt, const char *s, int *out)
{
    long v;
    int rc = cli_parse_int("falsify", opt, s, 0, 10000000, &v);
    *out = (int)v;
    return rc;
}

static int parse_pair(const char *opt, const char *s, double *lo, double *hi, int sizes)
{
    char a[64], b[64];
    const char *comma = strchr(s, ',');
    if (!comma || (size_t)(comma - s) >= sizeof a || strlen(comma + 1) >= sizeof b)
        return cli_usage_error("falsify", "%s expects LO,HI, got '%s'", opt, s);
    memcpy(a, s, (size_t)(comma - s));
    a[comma - s] = 0;
    snprintf(b, sizeof b, "%s", comma + 1);
    int bad = sizes ? text_parse_size(a, 1.0, lo, NULL) || text_parse_size(b, 1.0, hi, NULL)
                    : text_parse_double(a, lo) || text_parse_double(b, hi);
    if (bad || !(*lo < *hi) || (sizes && !(*lo > 0)))
        return cli_usage_error("falsify", "%s expects LO,HI with LO < HI, got '%s'", opt, s);
    return 0;
}

static int parse_args(int argc, char **argv, fals_args *a, int *first_file)
{
    enum {
        O_REASON = 256, O_TRUTH, O_FAMILY, O_MINSIZE, O_MAXSIZE, O_MINFAM, O_SKIPD, O_BOOT,
        O_SBOOT, O_SIMS, O_PERMS, O_WDRAWS, O_NDEG, O_NC, O_PUB, O_VRANGE, O_PEXACT, O_DREF,
        O_SEED, O_EXTRA, O_JSON
    };
    static const struct option opts[] = {
        {"reasoning", 1, 0, O_REASON}, {"truth", 1, 0, O_TRUTH}, {"family", 1, 0, O_FAMILY},
        {"min-size", 1, 0, O_MINSIZE}, {"max-size", 1, 0, O_MAXSIZE},
        {"min-family", 1, 0, O_MINFAM}, {"skip-delta", 1, 0, O_SKIPD}, {"boot", 1, 0, O_BOOT},
        {"stability-boot", 1, 0, O_SBOOT}, {"sims", 1, 0, O_SIMS}, {"perms", 1, 0, O_PERMS},
        {"width-draws", 1, 0, O_WDRAWS}, {"null-degree", 1, 0, O_NDEG}, {"nc", 1, 0, O_NC},
        {"published", 1, 0, O_PUB}, {"vertex-range", 1, 0, O_VRANGE},
        {"perm-exact-max", 1, 0, O_PEXACT}, {"d-ref", 1, 0, O_DREF}, {"seed", 1, 0, O_SEED},
        {"allow-extra-columns", 0, 0, O_EXTRA}, {"json", 0, 0, O_JSON}, CLI_TABLE_LONGOPTS,
        {"output", 1, 0, 'o'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "falsify";
    long v;
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    falsify_options *fo = &a->fo;
    while (rc == 0 && (c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return -1;
        case 'o': a->output = optarg; break;
        case O_REASON: rc = cli_parse_bench(cmd, "--reasoning", optarg, &fo->po.reasoning); break;
        case O_TRUTH: rc = cli_parse_bench(cmd, "--truth", optarg, &fo->po.truth); break;
        case O_FAMILY: rc = parse_families(a, optarg); break;
        case O_MINSIZE:
        case O_MAXSIZE: {
            double *dst = c == O_MINSIZE ? &fo->po.min_size : &fo->po.max_size;
            if (text_parse_size(optarg, 1.0, dst, NULL) || !(*dst > 0))
                rc = cli_usage_error(cmd, "%s expects a size such as 410M, 7.1B or 7e9, got '%s'",
                                     c == O_MINSIZE ? "--min-size" : "--max-size", optarg);
            break;
        }
        case O_MINFAM:
            rc = cli_parse_int(cmd, "--min-family", optarg, 2, 1000000, &v);
            fo->po.min_family = (int)v;
            break;
        case O_SKIPD: rc = cli_parse_double(cmd, "--skip-delta", optarg, &fo->po.skip_delta); break;
        case O_BOOT: rc = parse_count("--boot", optarg, &fo->nboot); break;
        case O_SBOOT: rc = parse_count("--stability-boot", optarg, &fo->stab_boot); break;
        case O_SIMS: rc = parse_count("--sims", optarg, &fo->nsim); break;
        case O_PERMS: rc = parse_count("--perms", optarg, &fo->nperm); break;
        case O_WDRAWS: rc = parse_count("--width-draws", optarg, &fo->nwidth); break;
        case O_NDEG:
            rc = cli_parse_int(cmd, "--null-degree", optarg, 0, 3, &v);
            fo->null_degree = (int)v;
            break;
        case O_NC:
            if (text_parse_size(optarg, 1.0, &fo->nc_below, NULL) || !(fo->nc_below > 0))
                rc = cli_usage_error(cmd, "--nc expects a size such as 3.5B, got '%s'", optarg);
            break;
        case O_PUB: rc = parse_pair("--published", optarg, &fo->pub_lo, &fo->pub_hi, 1); break;
        case O_VRANGE:
            rc = parse_pair("--vertex-range", optarg, &fo->po.vertex_lo, &fo->po.vertex_hi, 0);
            break;
        case O_PEXACT:
            rc = cli_parse_int(cmd, "--perm-exact-max", optarg, 0, 12, &v);
            fo->po.perm_exact_max = (int)v;
            break;
        case O_DREF: rc = cli_parse_double(cmd, "--d-ref", optarg, &fo->po.d_ref); break;
        case O_SEED:
            rc = cli_parse_int(cmd, "--seed", optarg, 0, 4294967295L, &v);
            fo->po.seed = (uint32_t)v;
            break;
        case O_EXTRA: a->so.allow_unknown_columns = 1; break;
        case O_JSON: a->json = 1; break;
        case CLI_OPT_SCALE:
        case CLI_OPT_SEP:
        case CLI_OPT_FAMILY_FROM_NAME: rc = cli_table_option(cmd, c, optarg, &a->so); break;
        case ':': return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc == 0 && !(fo->po.skip_delta >= 0))
        rc = cli_usage_error(cmd, "--skip-delta must be >= 0");
    if (rc == 0 && !(fo->po.d_ref > 0))
        rc = cli_usage_error(cmd, "--d-ref must be positive");
    if (rc == 0 && fo->po.min_size > fo->po.max_size)
        rc = cli_usage_error(cmd, "--min-size is larger than --max-size");
    if (rc == 0 && fo->po.reasoning == fo->po.truth)
        rc = cli_usage_error(cmd, "--reasoning and --truth name the same benchmark");
    if (rc == 0 && argc - optind > MAXTABLES)
        rc = cli_usage_error(cmd, "at most %d tables", MAXTABLES);
    *first_file = optind;
    return rc;
}

/* ---- text output ------------------------------------------------------------ */

static const char *sz(char *buf, size_t n, double v)
{
    cli_fmt_size(buf, n, v);
    return buf;
}

/* a size given as log10 N; far outside any model's size it is only a bound */
static const char *szl(char *buf, size_t n, double lg)
{
    if (isfinite(lg) && lg > 14)
        snprintf(buf, n, ">100T");
    else if (isfinite(lg) && lg < 6)
        snprintf(buf, n, "<1M");
    else
        cli_fmt_size(buf, n, isfinite(lg) ? pow(10, lg) : NAN);
    return buf;
}

static const char *num(char *buf, size_t n, const char *fmt, double v)
{
    cli_fmt(buf, n, fmt, v);
    return buf;
}

static void print_ushape_row(FILE *out, const char *name, const falsify_ushape *u)
{
    char a[16], b[16], c[16], d[16], f[16];
    fprintf(out, "  %-22.22s %6d %9s %9s ", name, u->n, szl(a, sizeof a, u->nc_log),
            szl(b, sizeof b, u->vertex_log));
    if (u->nboot == 0) {
        fprintf(out, "%14s\n", "no resamples (fewer than 4 points)");
        return;
    }
    fprintf(out, "%7d/%-6d %7s [%s, %s]  %s\n", u->n_both, u->nboot,
            num(c, sizeof c, "%+.2f", u->diff_med), num(d, sizeof d, "%+.2f", u->diff_lo),
            num(f, sizeof f, "%+.2f", u->diff_hi),
            u->coincide < 0 ? "-" : u->coincide ? "coincide" : "differ");
}

static void print_partial(FILE *out, const char *name, const falsify_partial *p)
{
    char a[16], b[16], c[16], d[16], e[16], f[16];
    fprintf(out, "  %-22.22s %4d %8s %9s %9s   %8s %9s %9s\n", name, p[0].n,
            num(a, sizeof a, "%+.3f", p[0].r), num(b, sizeof b, "%.3g", p[0].p_param),
            num(c, sizeof c, "%.3g", p[0].perm.total ? p[0].perm.p : NAN),
            num(d, sizeof d, "%+.3f", p[1].r), num(e, sizeof e, "%.3g", p[1].p_param),
            num(f, sizeof f, "%.3g", p[1].perm.total ? p[1].perm.p : NAN));
}

static void print_table(FILE *out, const falsify_table *t, const falsify_options *o)
{
    const char *rl = scores_bench_info(o->po.reasoning)->label;
    const char *tl = scores_bench_info(o->po.truth)->label;
    char a[16], b[16], c[16], d[16];
    fprintf(out, "== %s\n", t->path);
    fprintf(out, "   reasoning %s, truth %s: %d points (one per family size) in %d famil%s; "
                 "seed %u\n",
            rl, tl, t->npoint, t->nfam, t->nfam == 1 ? "y" : "ies", o->po.seed);
    if (t->nsmall) {
        fprintf(out, "   skipped (fewer than %d models):", o->po.min_family);
        for (int k = 0; k < t->nsmall; k++)
            fprintf(out, " %s%s", t->small[k], k + 1 < t->nsmall ? "," : "\n");
    }

    fprintf(out, "\n1. is the transition just the %s U-shape? N_c from gamma12 beside the vertex "
                 "of a %s-only\n   quadratic in log10 N, on the same %d resamples "
                 "(diff = log10 N_c - log10 vertex)\n",
            tl, tl, o->nboot);
    fprintf(out, "  %-22s %6s %9s %9s %14s %s\n", "", "points", "N_c", "vertex", "both",
            "diff median [95%]");
    for (int k = 0; k < t->nfam; k++)
        print_ushape_row(out, t->fam[k].name, &t->fam[k].ushape);
    print_ushape_row(out, "pooled (gamma12 line)", &t->pooled_ushape);
    const falsify_ushape *pu = &t->pooled_ushape;
    if (pu->coincide == 1)
        fprintf(out, "  verdict: the pooled N_c and %s's vertex coincide: the coupling adds "
                     "nothing beyond size\n",
                tl);
    else if (pu->coincide == 0)
        fprintf(out, "  verdict: the pooled N_c and %s's vertex differ (95%% interval of the "
                     "difference excludes 0)\n",
                tl);
    else
        fprintf(out, "  verdict: not estimable (too few resamples with both)\n");

    const falsify_null *n = &t->null;
    fprintf(out, "\n2. null model of independent trends (%d simulations: each family's %s and %s "
                 "own polynomial\n   in log10 N plus normal noise of the residual SD, drawn "
                 "independently)\n",
            n->nsim, rl, tl);
    for (int k = 0; k < t->nfam; k++) {
        const falsify_family *f = &t->fam[k];
        fprintf(out, "  %-22.22s degree %d, SD %s %s, %s %s; gamma12 flips: %-3s  null flips "
                     "%s\n",
                f->name, f->null_degree, rl, num(a, sizeof a, "%.2f", f->r_sd), tl,
                num(b, sizeof b, "%.2f", f->t_sd), f->flips ? "yes" : "no",
                num(c, sizeof c, "%.3f", f->p_flip));
    }
    static const char *from[] = {"given", "pooled vertex median", "published"};
    fprintf(out, "  families flipping: %d observed, %s per null draw; p(null >= observed) = %s\n",
            n->flips_obs, num(a, sizeof a, "%.2f", n->mean_flips),
            num(b, sizeof b, "%.4f", n->p_flips));
    fprintf(out, "  below N_c = %s (%s): r = %s over %d points; p(null r <= observed) = %s\n",
            sz(a, sizeof a, n->nc_below), from[n->nc_below_from],
            num(b, sizeof b, "%+.4f", n->r_below), n->n_below,
            num(c, sizeof c, "%.4f", n->p_r_below));
    if (isfinite(n->vertex_obs_log))
        fprintf(out, "  pooled vertex %s %s the published [%s, %s]; p(null vertex inside) = %s\n",
                szl(a, sizeof a, n->vertex_obs_log), n->vertex_in_obs ? "inside" : "outside",
                sz(b, sizeof b, o->pub_lo), sz(c, sizeof c, o->pub_hi),
                num(d, sizeof d, "%.4f", n->p_vertex_in));
    else
        fprintf(out, "  pooled %s has no minimum in log10 N; p(null vertex inside [%s, %s]) = %s\n",
                tl, sz(b, sizeof b, o->pub_lo), sz(c, sizeof c, o->pub_hi),
                num(d, sizeof d, "%.4f", n->p_vertex_in));

    fprintf(out, "\n3. partial coupling r(%s, %s | log10 N): residuals of a polynomial in log10 N "
                 "per family;\n   permutation p permutes %s residuals within families\n",
            rl, tl, tl);
    fprintf(out, "  %-22s %4s %8s %9s %9s   %8s %9s %9s\n", "", "n", "r|lin", "p(t)", "p(perm)",
            "r|quad", "p(t)", "p(perm)");
    for (int k = 0; k < t->nfam; k++)
        print_partial(out, t->fam[k].name, t->fam[k].partial);
    print_partial(out, "pooled", t->pooled_partial);
    const falsify_partial *pp = &t->pooled_partial[0];
    if (pp->perm.total)
        fprintf(out, "  verdict: %s\n",
                pp->perm.p < 0.05 ? "coupling beyond both growing with size (pooled p < 0.05)"
                                  : "no coupling beyond both growing with size (pooled p >= 0.05)");

    fprintf(out, "\n4. robustness across benchmark pairs (%d resamples; the vertex depends on the "
                 "truth slot\n   only, the gamma12 line on both: its N_c must turn up positive "
                 "for the sign change to survive)\n",
            o->nboot);
    fprintf(out, "  %-20s %4s %4s %7s %-24s %6s %7s %-24s %6s  %s\n", "pair", "fam", "flip",
            "vertex", "vertex N_c [95%]", "valid", "gamma=0", "gamma12 N_c [95%]", "valid",
            "sign change");
    for (int k = 0; k < t->npair; k++) {
        const falsify_pair *p = &t->pair[k];
        char name[64];
        snprintf(name, sizeof name, "%s-%s%s", scores_bench_info(p->reasoning)->label,
                 scores_bench_info(p->truth)->label, p->control ? " (control)" : "");
        if (!p->present) {
            fprintf(out, "  %-20s not in this table\n", name);
            continue;
        }
        char ci[80], cg[80], g1[16];
        snprintf(ci, sizeof ci, "%s [%s, %s]", sz(a, sizeof a, p->median),
                 sz(b, sizeof b, p->lo95), sz(c, sizeof c, p->hi95));
        const falsify_ushape *g = &p->gamma;
        snprintf(cg, sizeof cg, "%s [%s, %s]", szl(a, sizeof a, g->nc_med),
                 szl(b, sizeof b, g->nc_lo), szl(c, sizeof c, g->nc_hi));
        fprintf(out, "  %-20s %4d %4d %7s %-24s %6d %7s %-24s %6d  %s\n", name, p->nfam, p->nflip,
                isnan(p->vertex_log) ? "n/a"
                : p->vertex_is_min   ? szl(d, sizeof d, p->vertex_log)
                                     : "max",
                ci, p->valid,
                szl(g1, sizeof g1, g->nc_log), cg, g->n_nc,
                p->survives ? "survives" : "does not survive");
    }

    const falsify_stability *s = &t->stab;
    fprintf(out, "\n5. stability of the pooled N_c (vertex bootstrap median, %d resamples): all "
                 "points %s\n",
            s->nboot, sz(a, sizeof a, s->nc_all));
    if (s->nfam == 0)
        fprintf(out, "  leave one family out: one family only\n");
    else if (s->fam_most < 0)
        fprintf(out, "  leave one family out: no N_c without any one family\n");
    else
        fprintf(out, "  leave one family out: %s .. %s; %s moves it most (%s)\n",
                sz(a, sizeof a, s->fam_min), sz(b, sizeof b, s->fam_max),
                s->fam[s->fam_most].label, sz(c, sizeof c, s->fam[s->fam_most].nc));
    if (s->nsize && s->size_most < 0)
        fprintf(out, "  leave one size out:   no N_c without any one size\n");
    else if (s->nsize)
        fprintf(out, "  leave one size out:   %s .. %s; size %s moves it most (%s)\n",
                sz(a, sizeof a, s->size_min), sz(b, sizeof b, s->size_max),
                s->size[s->size_most].label, sz(c, sizeof c, s->size[s->size_most].nc));

    fprintf(out, "\n6. width-normalisation null (%d random growing factors with the spread of "
                 "d_model/%g)\n",
            o->nwidth, o->po.d_ref);
    int any = 0;
    for (int k = 0; k < t->nfam; k++) {
        const falsify_width *w = &t->fam[k].width;
        if (!w->estimable)
            continue;
        if (!any)
            fprintf(out, "  %-22s %4s %8s %8s %-26s %9s %s\n", "", "n", "r raw", "r norm",
                    "null mean [5%, 95%]", "p(>=norm)", "share of flip");
        any = 1;
        char ci[80], e1[16], e2[16];
        snprintf(ci, sizeof ci, "%s [%s, %s]", num(a, sizeof a, "%+.3f", w->null_mean),
                 num(b, sizeof b, "%+.3f", w->null_p05), num(c, sizeof c, "%+.3f", w->null_p95));
        fprintf(out, "  %-22.22s %4d %8s %8s %-26s %9s %s\n", t->fam[k].name, w->n,
                num(d, sizeof d, "%+.3f", w->r_raw), num(e1, sizeof e1, "%+.3f", w->r_norm), ci,
                num(e2, sizeof e2, "%.3f", w->p_ge), num(a, sizeof a, "%.0f%%", 100 * w->share));
    }
    if (!any)
        fprintf(out, "  not estimable: no family has d_model for every size\n");
    fputc('\n', out);
}

int cmd_falsify(int argc, char **argv)
{
    fals_args a;
    memset(&a, 0, sizeof a);
    falsify_options_default(&a.fo);
    int first = argc, rc = parse_args(argc, argv, &a, &first);
    if (rc < 0)
        return 0;
    scores_table tabs[MAXTABLES];
    const scores_table *tp[MAXTABLES];
    int nt = 0;
    if (rc)
        goto out;
    int nfiles = argc - first, bundled = nfiles == 0;
    int n = bundled ? NBUNDLED : nfiles;
    a.so.require_params = 1;
    for (int i = 0; i < n && rc == 0; i++) {
        char path[4096], shown[256];
        if (bundled) {
            snprintf(shown, sizeof shown, "data/%s", BUNDLED[i]);
            rc = cli_read_table_opt(cli_bundled(BUNDLED[i], path, sizeof path), shown, &a.so,
                                    &tabs[nt]);
        } else {
            rc = cli_read_table_opt(argv[first + i], argv[first + i], &a.so, &tabs[nt]);
        }
        if (rc == 0) {
            tp[nt] = &tabs[nt];
            nt++;
        }
    }
    if (rc)
        goto out;
    cli_out out;
    if ((rc = cli_out_open(&out, a.output, a.json)))
        goto out;
    falsify_result res;
    cape_err e = {0};
    if ((rc = falsify_run(tp, nt, &a.fo, &res, &e))) {
        falsify_result_free(&res);
        cli_out_abort(&out);
        rc = cli_report(&e);
        goto out;
    }
    if (!a.json)
        for (int i = 0; i < res.nt; i++)
            print_table(out.fp, &res.t[i], &a.fo);
    rc = cli_out_close(&out, a.json ? analysis_falsify_doc(&res)
                                    : NULL);
    falsify_result_free(&res);
out:
    for (int i = 0; i < nt; i++)
        scores_free(&tabs[i]);
    for (int i = 0; i < a.fo.po.nfamilies; i++)
        free(a.family_buf[i]);
    return rc;
}
