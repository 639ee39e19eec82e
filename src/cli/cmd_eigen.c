/* cape eigen: PCA of a benchmark panel, all models, per phase and per family. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "phase/analysis.h"
#include "phase/eigen.h"

static void help(void)
{
    printf(
        "usage: cape eigen [options] [TABLE.csv]\n"
        "\n"
        "Eigenstructure of a benchmark panel (arXiv 2605.18838): PCA of the correlation\n"
        "or covariance matrix of the scores across models (LAPACK dsyev), for all models,\n"
        "per phase (gamma12 phases of 'cape diagnose') and per family: eigenvalues,\n"
        "explained variance, eigenvectors, effective dimension d_eff = (sum l)^2 / sum l^2\n"
        "and its 95 %% interval from a bootstrap that resamples models within families.\n"
        "\n"
        "With no table: data/benchmarks/paper/pythia_set_a.csv.\n"
        "\n"
        "options:\n"
        "  --bench LIST         panel, comma-separated (hellaswag,truthfulqa_mc2,arc,\n"
        "                       winogrande,mmlu)\n"
        "  --matrix KIND        correlation | covariance (correlation); the paper's d_eff\n"
        "                       per phase uses the covariance\n"
        "  --boot N             bootstrap resamples (1000; 0 = none)\n"
        "  --seed N             seed of the resampling (42)\n"
        "  --min-models N       smallest group analysed (3)\n"
        "  --no-phases          skip the per-phase groups\n"
        "  --no-families        skip the per-family groups\n"
        "  --vectors            print the eigenvectors of every group (default: all models)\n"
        "  --allow-extra-columns  ignore columns cape does not recognise\n"
        CLI_TABLE_HELP
        "  --json               machine-readable output (schema in docs/JSON.md)\n"
        "  -o, --output FILE    write the output to FILE (atomically)\n"
        "  -h, --help           this help\n");
}

typedef struct {
    eigen_options o;
    int json, extra, vectors;
    scores_options so; /* --scale, --sep, --family-from-name */
    const char *output;
} eig_args;

static int parse_args(int argc, char **argv, eig_args *a, int *first)
{
    enum { O_BENCH = 256, O_MATRIX, O_BOOT, O_SEED, O_MIN, O_NOPH, O_NOFAM, O_VEC, O_EXTRA, O_JSON };
    static const struct option opts[] = {
        {"bench", 1, 0, O_BENCH}, {"matrix", 1, 0, O_MATRIX}, {"boot", 1, 0, O_BOOT},
        {"seed", 1, 0, O_SEED}, {"min-models", 1, 0, O_MIN}, {"no-phases", 0, 0, O_NOPH},
        {"no-families", 0, 0, O_NOFAM}, {"vectors", 0, 0, O_VEC},
        {"allow-extra-columns", 0, 0, O_EXTRA}, CLI_TABLE_LONGOPTS, {"json", 0, 0, O_JSON},
        {"output", 1, 0, 'o'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "eigen";
    long v;
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return -1;
        case 'o': a->output = optarg; break;
        case O_BENCH:
            rc = cli_parse_bench_list(cmd, "--bench", optarg, a->o.bench, EIGEN_MAX_BENCH,
                                      &a->o.nbench);
            if (rc == 0 && a->o.nbench < 2)
                rc = cli_usage_error(cmd, "--bench needs at least two benchmarks");
            break;
        case O_MATRIX:
            if (strcmp(optarg, "correlation") == 0 || strcmp(optarg, "corr") == 0)
                a->o.matrix = EIGEN_CORRELATION;
            else if (strcmp(optarg, "covariance") == 0 || strcmp(optarg, "cov") == 0)
                a->o.matrix = EIGEN_COVARIANCE;
            else
                rc = cli_usage_error(cmd, "--matrix expects correlation or covariance, got '%s'",
                                     optarg);
            break;
        case O_BOOT:
            rc = cli_parse_int(cmd, "--boot", optarg, 0, 1000000, &v);
            a->o.nboot = (int)v;
            break;
        case O_SEED:
            rc = cli_parse_int(cmd, "--seed", optarg, 0, 4294967295L, &v);
            a->o.seed = (uint32_t)v;
            break;
        case O_MIN:
            rc = cli_parse_int(cmd, "--min-models", optarg, 3, 1000000, &v);
            a->o.min_models = (int)v;
            break;
        case O_NOPH: a->o.by_phase = 0; break;
        case O_NOFAM: a->o.by_family = 0; break;
        case O_VEC: a->vectors = 1; break;
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

static void print_vectors(FILE *out, const eigen_result *r, const eigen_group *g)
{
    int nb = r->opt.nbench;
    fprintf(out, "    eigenvectors (columns; signs make each column sum positive)\n      %-6s", "");
    for (int k = 0; k < nb; k++)
        fprintf(out, " %7s%d", "PC", k + 1);
    fputc('\n', out);
    for (int i = 0; i < nb; i++) {
        fprintf(out, "      %-6s", scores_bench_info(r->opt.bench[i])->label);
        for (int k = 0; k < nb; k++)
            fprintf(out, " %+8.4f", g->evec[i * nb + k]);
        fputc('\n', out);
    }
}

static void print_group(FILE *out, const eigen_result *r, const eigen_group *g, int vectors)
{
    int nb = r->opt.nbench;
    const char *kind = g->kind == EIGEN_GROUP_ALL ? "" : g->kind == EIGEN_GROUP_PHASE ? "phase "
                                                                                      : "family ";
    fprintf(out, "\n%s%s (%d model%s, %d famil%s)\n", kind, g->name, g->n, g->n == 1 ? "" : "s",
            g->nfamilies, g->nfamilies == 1 ? "y" : "ies");
    if (!g->estimable) {
        fprintf(out, "  not estimable: %s\n", g->why);
        return;
    }
    fprintf(out, "  eigenvalues ");
    for (int k = 0; k < nb; k++)
        fprintf(out, " %9.5g", g->eval[k]);
    fprintf(out, "\n  explained   ");
    for (int k = 0; k < nb; k++)
        fprintf(out, " %8.1f%%", 100 * g->explained[k]);
    fprintf(out, "\n  d_eff = %.3f", g->d_eff);
    if (g->boot_valid > 0)
        fprintf(out, ", 95%% interval [%.3f, %.3f] (%d of %d family-stratified resamples%s)",
                g->d_lo, g->d_hi, g->boot_valid, g->boot_total,
                g->nfamilies == g->n ? "; one model per family: the resamples cannot vary" : "");
    else if (r->opt.nboot > 0)
        fprintf(out, ", interval not estimable (no valid resample)");
    fprintf(out, "; determinant %.3g\n", g->det);
    if (vectors)
        print_vectors(out, r, g);
}

static void print_text(FILE *out, const eigen_result *r, const char *path, int vectors)
{
    const eigen_options *o = &r->opt;
    fprintf(out, "== cape eigen: PCA of");
    for (int j = 0; j < o->nbench; j++)
        fprintf(out, " %s", scores_bench_info(o->bench[j])->label);
    fprintf(out, " on the %s matrix (%s)\n",
            o->matrix == EIGEN_CORRELATION ? "correlation" : "covariance", path);
    if (r->nskipped)
        fprintf(out, "   %d row(s) skipped for a missing score\n", r->nskipped);
    for (int k = 0; k < r->ng; k++)
        print_group(out, r, &r->g[k], r->g[k].kind == EIGEN_GROUP_ALL || vectors);
    fputc('\n', out);
}

/* Phases of each row from the running coupling (cape diagnose). */
int cmd_eigen(int argc, char **argv)
{
    eig_args a;
    memset(&a, 0, sizeof a);
    eigen_options_default(&a.o);
    int first = argc, rc = parse_args(argc, argv, &a, &first);
    if (rc < 0)
        return 0;
    if (rc)
        return rc;
    scores_table t;
    a.so.allow_unknown_columns = a.extra;
    rc = cli_read_table_arg_opt(first < argc ? argv[first] : NULL,
                                "benchmarks/paper/pythia_set_a.csv", &a.so, &t);
    if (rc)
        return rc;
    eigen_result r;
    cape_err e = {0};
    rc = analysis_eigen(&t, &a.o, &r, &e);
    if (rc) {
        rc = cli_report(&e);
    } else {
        cli_out out;
        rc = cli_out_open(&out, a.output, a.json);
        if (rc == 0) {
            json_t *root = NULL;
            if (a.json) {
                root = cli_json_doc("eigen", t.path, eigen_result_json(&r));
            } else {
                print_text(out.fp, &r, t.path, a.vectors);
            }
            rc = cli_out_close(&out, root);
        }
    }
    eigen_result_free(&r);
    scores_free(&t);
    return rc;
}
