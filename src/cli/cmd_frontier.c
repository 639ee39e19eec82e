/* cape frontier: one benchmark regressed on another across frontier models. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "phase/frontier.h"

static void help(void)
{
    printf(
        "usage: cape frontier [options] [TABLE.csv]\n"
        "\n"
        "Frontier diagnostic (arXiv 2605.18838 and its frontier companion): OLS of one\n"
        "benchmark (y) on another (x) across a panel of models, with r and p; the\n"
        "leave-one-lab-out error (line refitted without each lab, MAE in points on that\n"
        "lab); per-lab slopes; each model's residual h = y - fit and its class at +-5 and\n"
        "+-10 points; and the benchmark-rotation ratio sigma = spread(x) / spread(y) among\n"
        "the top-k models by x (rotate the axis when sigma < 0.2).\n"
        "\n"
        "With no table: data/benchmarks/paper/paper_frontier_34_swe_gpqa.csv (the paper's\n"
        "34 models, GPQA Diamond on SWE-bench Verified). The default pair is\n"
        "swe_bench_verified -> gpqa_diamond, or gpqa_diamond -> simpleqa for a table with\n"
        "SimpleQA and no SWE-bench. Rows with primary = 0 are skipped.\n"
        "\n"
        "options:\n"
        "  --x NAME            predictor benchmark\n"
        "  --y NAME            predicted benchmark\n"
        "  --bands N,W         residual class bands in points (5,10)\n"
        "  --lolo-min N        hold out labs with at least N models (4)\n"
        "  --slope-min N       per-lab slope for labs with at least N models (3)\n"
        "  --top-k N           models in the rotation ratio (5)\n"
        "  --rotate-below S    sigma threshold (0.2)\n"
        "  --all-rows          use every row, ignoring a primary column\n"
        "  --allow-extra-columns  ignore columns cape does not recognise\n"
        CLI_TABLE_HELP
        "  --json              machine-readable output (schema in docs/JSON.md)\n"
        "  -o, --output FILE   write the output to FILE (atomically)\n"
        "  -h, --help          this help\n");
}

typedef struct {
    frontier_options o;
    int x_given, y_given, json, extra;
    scores_options so; /* --scale, --sep, --family-from-name */
    const char *output;
} fr_args;

static int parse_args(int argc, char **argv, fr_args *a, int *first)
{
    enum { O_X = 256, O_Y, O_BANDS, O_LOLO, O_SLOPE, O_TOPK, O_ROT, O_ALL, O_EXTRA, O_JSON };
    static const struct option opts[] = {
        {"x", 1, 0, O_X}, {"y", 1, 0, O_Y}, {"bands", 1, 0, O_BANDS},
        {"lolo-min", 1, 0, O_LOLO}, {"slope-min", 1, 0, O_SLOPE}, {"top-k", 1, 0, O_TOPK},
        {"rotate-below", 1, 0, O_ROT}, {"all-rows", 0, 0, O_ALL},
        {"allow-extra-columns", 0, 0, O_EXTRA}, CLI_TABLE_LONGOPTS, {"json", 0, 0, O_JSON},
        {"output", 1, 0, 'o'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "frontier";
    long v;
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return -1;
        case 'o': a->output = optarg; break;
        case O_X: rc = cli_parse_bench(cmd, "--x", optarg, &a->o.x), a->x_given = 1; break;
        case O_Y: rc = cli_parse_bench(cmd, "--y", optarg, &a->o.y), a->y_given = 1; break;
        case O_BANDS:
            if (sscanf(optarg, "%lf,%lf", &a->o.band_narrow, &a->o.band_wide) != 2 ||
                !(a->o.band_narrow > 0 && a->o.band_wide >= a->o.band_narrow))
                rc = cli_usage_error(cmd, "--bands expects N,W with 0 < N <= W, got '%s'", optarg);
            break;
        case O_LOLO:
            rc = cli_parse_int(cmd, "--lolo-min", optarg, 1, 1000000, &v);
            a->o.lolo_min = (int)v;
            break;
        case O_SLOPE:
            rc = cli_parse_int(cmd, "--slope-min", optarg, 3, 1000000, &v);
            a->o.slope_min = (int)v;
            break;
        case O_TOPK:
            rc = cli_parse_int(cmd, "--top-k", optarg, 2, 1000000, &v);
            a->o.top_k = (int)v;
            break;
        case O_ROT: rc = cli_parse_double(cmd, "--rotate-below", optarg, &a->o.rotate_below); break;
        case O_ALL: a->o.all_rows = 1; break;
        case O_EXTRA: a->extra = 1; break;
        case CLI_OPT_SCALE:
        case CLI_OPT_SEP:
        case CLI_OPT_FAMILY_FROM_NAME: rc = cli_table_option(cmd, c, optarg, &a->so); break;
        case O_JSON: a->json = 1; break;
        case ':': return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    *first = optind;
    if (rc == 0 && argc - optind > 1)
        rc = cli_usage_error(cmd, "expects one table, got %d", argc - optind);
    return rc;
}

static int cmp_resid(const void *a, const void *b)
{
    double x = (*(const frontier_point *const *)a)->resid;
    double y = (*(const frontier_point *const *)b)->resid;
    return (x < y) - (x > y);
}

static void print_text(FILE *out, const frontier_result *r, const char *path)
{
    const frontier_options *o = &r->opt;
    const char *xl = scores_bench_info(o->x)->label, *yl = scores_bench_info(o->y)->label;
    char p[32];
    cli_fmt(p, sizeof p, "%.3g", r->fit.p);
    fprintf(out, "== cape frontier: %s on %s across %d models (%s)\n", yl, xl, r->n, path);
    if (r->nskipped)
        fprintf(out, "   %d row(s) skipped (a score missing, or primary = 0)\n", r->nskipped);
    fprintf(out, "   %s = %.5f x %s %c %.3f    r = %+.5f, R^2 = %.3f, p = %s (n = %d)\n", yl,
            r->fit.slope, xl, r->fit.intercept < 0 ? '-' : '+', fabs(r->fit.intercept), r->fit.r,
            r->fit.r2, p, r->n);
    fprintf(out, "   standard errors: slope %.4f, intercept %.3f\n", r->fit.se_slope,
            r->fit.se_intercept);

    fprintf(out, "\nlabs (leave-one-lab-out: line refitted without the lab, MAE on its models in "
                 "points)\n");
    fprintf(out, "  %-22s %6s %10s %10s\n", "lab", "models", "LOLO MAE", "lab slope");
    for (int k = 0; k < r->nlab; k++) {
        const frontier_lab *L = &r->lab[k];
        char m[24], s[24];
        if (L->held_out)
            cli_fmt(m, sizeof m, "%.2f", L->lolo_mae);
        else
            snprintf(m, sizeof m, "-");
        if (L->slope_ok)
            cli_fmt(s, sizeof s, "%.3f", L->slope);
        else
            snprintf(s, sizeof s, "-");
        fprintf(out, "  %-22.22s %6d %10s %10s\n", L->lab[0] ? L->lab : "(no lab)", L->n, m, s);
    }
    if (isfinite(r->lolo_mean))
        fprintf(out, "  leave-one-lab-out: %.2f +/- %.2f points (mean and population SD over %d labs "
                     "with >= %d models)\n",
                r->lolo_mean, r->lolo_sd, r->nlolo, o->lolo_min);
    else {
        int elig = 0;
        for (int k = 0; k < r->nlab; k++)
            elig += r->lab[k].n >= o->lolo_min && r->lab[k].lab[0];
        fprintf(out, "  leave-one-lab-out: not estimable (%d lab%s with >= %d models; needs 2)\n",
                elig, elig == 1 ? "" : "s", o->lolo_min);
    }

    fprintf(out, "\nmodels by residual h = %s - fit (classes at +-%g and +-%g points)\n", yl,
            o->band_narrow, o->band_wide);
    fprintf(out, "  %-34s %-12s %6s %6s %6s %7s  %-14s %s\n", "model", "lab", xl, yl, "fit", "h",
            "class", "wide class");
    const frontier_point **s = malloc((size_t)r->n * sizeof *s);
    if (s) {
        for (int i = 0; i < r->n; i++)
            s[i] = &r->pt[i];
        qsort(s, (size_t)r->n, sizeof *s, cmp_resid);
        for (int i = 0; i < r->n; i++) {
            char cn[48], cw[48];
            frontier_class_name(o, s[i]->class_narrow, 0, cn, sizeof cn);
            frontier_class_name(o, s[i]->class_wide, 1, cw, sizeof cw);
            fprintf(out, "  %-34.34s %-12.12s %6.1f %6.1f %6.1f %+7.2f  %-14s %s\n", s[i]->model,
                    s[i]->lab, s[i]->x, s[i]->y, s[i]->fit, s[i]->resid, cn, cw);
        }
        free(s);
    }
    fprintf(out, "\nbenchmark rotation: ");
    if (r->sigma_ok)
        fprintf(out,
                "the top %d models by %s span %.2f points of %s and %.2f of %s: sigma = %.3f%s\n",
                r->sigma_n, xl, r->spread_x, xl, r->spread_y, yl, r->sigma,
                r->rotate ? " < threshold: rotate (the old axis no longer separates the top models)"
                          : " (no rotation needed)");
    else
        fprintf(out, "not estimable (the top %d models have the same %s)\n", r->sigma_n, yl);
    fputc('\n', out);
}

int cmd_frontier(int argc, char **argv)
{
    fr_args a;
    memset(&a, 0, sizeof a);
    frontier_options_default(&a.o);
    int first = argc, rc = parse_args(argc, argv, &a, &first);
    if (rc < 0)
        return 0;
    if (rc)
        return rc;
    scores_table t;
    a.so.allow_unknown_columns = a.extra;
    rc = cli_read_table_arg_opt(first < argc ? argv[first] : NULL,
                                "benchmarks/paper/paper_frontier_34_swe_gpqa.csv", &a.so, &t);
    if (rc)
        return rc;
    frontier_default_pair(&t, &a.o, a.x_given, a.y_given);
    frontier_result r;
    cape_err e = {0};
    rc = frontier_run(&t, &a.o, &r, &e);
    if (rc) {
        rc = cli_report(&e);
    } else {
        cli_out out;
        rc = cli_out_open(&out, a.output, a.json);
        if (rc == 0) {
            json_t *root = NULL;
            if (a.json) {
                root = cli_json_doc("frontier", t.path, frontier_result_json(&r));
            } else {
                print_text(out.fp, &r, t.path);
            }
            rc = cli_out_close(&out, root);
        }
    }
    frontier_result_free(&r);
    scores_free(&t);
    return rc;
}
