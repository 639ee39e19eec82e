/* cape advise: phase, distance to N_c, the ODE's next step and the paper's
 * interventions for one model, from a table or described on the command line. */
#include <ctype.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/text.h"
#include "cli/cli.h"
#include "phase/analysis.h"
#include "phase/advice.h"

static const char *DEFAULT_TABLE = "benchmarks/base_models.csv";

static void help(void)
{
    printf(
        "usage: cape advise --model NAME [options] [TABLE.csv]\n"
        "\n"
        "Where one model stands (arXiv 2605.18838 and its dashboard): its phase, its\n"
        "distance to the critical scale N_c, the ODE's prediction of HS and TQA for the\n"
        "next size up, and rule-based interventions (data curation with\n"
        "h_c ~ (N_c - N)^(3/2), width, benchmark rotation when sigma < 0.2), each with\n"
        "its source in docs/METHODS.md. gamma12 comes from the model's own family when\n"
        "one is known (its other sizes in the table, or --sibling); otherwise from the\n"
        "paper's population fit, which the output says.\n"
        "\n"
        "The model is looked up in TABLE (default data/benchmarks/base_models.csv) by\n"
        "name, case-insensitively, also after an 'org/' prefix; its family's other sizes\n"
        "are its siblings. A model not in the table is described with --size, --hs and\n"
        "--tqa.\n"
        "\n"
        "options:\n"
        "  --model NAME         the model (required)\n"
        "  --size N             parameters: 1.4B, 410M, 7e9\n"
        "  --hs X, --tqa X      HellaSwag and TruthfulQA (mc2), in points\n"
        "  --arc X, --wg X, --mmlu X   other scores (optional)\n"
        "  --d-model D          hidden width, for the width rule\n"
        "  --family NAME        take the siblings from this family of the table\n"
        "  --sibling S:HS:TQA   another size of the family (repeatable), e.g. 410M:40.9:41.2\n"
        "  --next N             size to predict with the ODE (next larger sibling, else 2N)\n"
        "  --allow-extra-columns  ignore columns cape does not recognise\n"
        CLI_TABLE_HELP
        "  --json               machine-readable output (schema in docs/JSON.md)\n"
        "  -o, --output FILE    write the output to FILE (atomically)\n"
        "  -h, --help           this help\n");
}

typedef struct {
    advice_input in;
    const char *family, *output;
    double size, next, hs, tqa, arc, wg, mmlu, d_model;
    int json, extra;
    scores_options so; /* --scale, --sep, --family-from-name */
    int scaled;        /* the scores on the command line were fractions */
    const char *sibling[ADVICE_MAX_SIBLINGS];
    int nsibling;
} adv_args;

static int parse_size(const char *opt, const char *s, double *out)
{
    int had;
    if (text_parse_size(s, 1, out, &had) || !(*out > 0))
        return cli_usage_error("advise", "%s expects a size such as 1.4B or 7e9, got '%s'", opt,
                               s);
    if (!had && *out < 1e5) /* as in score tables: 1 could mean 1 parameter or 1 billion */
        return cli_usage_error("advise", "%s '%s' has no unit; write 1B or 1e9", opt, s);
    return 0;
}

static int parse_score(const char *opt, const char *s, double *out)
{
    int rc = cli_parse_double("advise", opt, s, out);
    if (rc == 0 && !(*out >= 0 && *out <= 100))
        rc = cli_usage_error("advise", "%s expects a score in points (0-100), got '%s'", opt, s);
    return rc;
}

static int parse_args(int argc, char **argv, adv_args *a, int *first)
{
    enum {
        O_MODEL = 256, O_SIZE, O_HS, O_TQA, O_ARC, O_WG, O_MMLU, O_DM, O_FAM, O_SIB, O_NEXT,
        O_EXTRA, O_JSON
    };
    static const struct option opts[] = {
        {"model", 1, 0, O_MODEL}, {"size", 1, 0, O_SIZE}, {"hs", 1, 0, O_HS},
        {"tqa", 1, 0, O_TQA}, {"arc", 1, 0, O_ARC}, {"wg", 1, 0, O_WG}, {"mmlu", 1, 0, O_MMLU},
        {"d-model", 1, 0, O_DM}, {"family", 1, 0, O_FAM}, {"sibling", 1, 0, O_SIB},
        {"next", 1, 0, O_NEXT}, {"allow-extra-columns", 0, 0, O_EXTRA}, CLI_TABLE_LONGOPTS,
        {"json", 0, 0, O_JSON},
        {"output", 1, 0, 'o'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return -1;
        case 'o': a->output = optarg; break;
        case O_MODEL: a->in.name = optarg; break;
        case O_SIZE: rc = parse_size("--size", optarg, &a->size); break;
        case O_HS: rc = parse_score("--hs", optarg, &a->hs); break;
        case O_TQA: rc = parse_score("--tqa", optarg, &a->tqa); break;
        case O_ARC: rc = parse_score("--arc", optarg, &a->arc); break;
        case O_WG: rc = parse_score("--wg", optarg, &a->wg); break;
        case O_MMLU: rc = parse_score("--mmlu", optarg, &a->mmlu); break;
        case O_DM:
            rc = cli_parse_double("advise", "--d-model", optarg, &a->d_model);
            if (rc == 0 && !(a->d_model > 0))
                rc = cli_usage_error("advise", "--d-model must be positive");
            break;
        case O_FAM: a->family = optarg; break;
        case O_SIB:
            if (a->nsibling >= ADVICE_MAX_SIBLINGS)
                rc = cli_usage_error("advise", "at most %d --sibling values",
                                     ADVICE_MAX_SIBLINGS);
            else
                a->sibling[a->nsibling++] = optarg;
            break;
        case O_NEXT: rc = parse_size("--next", optarg, &a->next); break;
        case O_EXTRA: a->extra = 1; break;
        case CLI_OPT_SCALE:
        case CLI_OPT_SEP:
        case CLI_OPT_FAMILY_FROM_NAME: rc = cli_table_option("advise", c, optarg, &a->so); break;
        case O_JSON: a->json = 1; break;
        case ':': return cli_usage_error("advise", "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error("advise", "unknown option '%s'", argv[optind - 1]);
        }
    }
    *first = optind;
    if (rc == 0 && !a->in.name)
        rc = cli_usage_error("advise", "--model NAME is required");
    if (rc == 0 && argc - optind > 1)
        rc = cli_usage_error("advise", "expects at most one table, got %d", argc - optind);
    return rc;
}

/* Fills the input from the table and the flags; returns an exit code. */
static int build_input(adv_args *a, const scores_table *t, const char *shown)
{
    analysis_advise_args aa;
    analysis_advise_args_init(&aa);
    aa.name = a->in.name;
    aa.family = a->family;
    aa.size = a->size;
    aa.score[BENCH_HELLASWAG] = a->hs;
    aa.score[BENCH_TRUTHFULQA_MC2] = a->tqa;
    aa.score[BENCH_ARC] = a->arc;
    aa.score[BENCH_WINOGRANDE] = a->wg;
    aa.score[BENCH_MMLU] = a->mmlu;
    aa.d_model = a->d_model;
    aa.next = a->next;
    aa.nsibling = a->nsibling;
    for (int k = 0; k < a->nsibling; k++)
        aa.sibling[k] = a->sibling[k];
    aa.scaled = a->scaled;
    cape_err e = {0};
    if (analysis_advise_input(t, shown, &aa, &a->in, &e))
        return cli_usage_error("advise", "%s", e.msg);
    a->family = aa.family;
    return 0;
}

static void print_text(FILE *out, const advice_input *in, const advice_result *r)
{
    char n[16], nc[16], lo[16], hi[16], nx[16];
    cli_fmt_size(n, sizeof n, in->self.params);
    cli_fmt_size(nc, sizeof nc, r->nc);
    cli_fmt_size(lo, sizeof lo, r->nc_lo);
    cli_fmt_size(hi, sizeof hi, r->nc_hi);
    cli_fmt_size(nx, sizeof nx, r->next_params);
    fprintf(out, "== cape advise: %s (%s; HS %.2f, TQA %.2f", in->name, n,
            in->self.score[BENCH_HELLASWAG], in->self.score[BENCH_TRUTHFULQA_MC2]);
    if (isfinite(in->self.d_model))
        fprintf(out, ", d_model %.0f", in->self.d_model);
    fprintf(out, ")\n");
    if (in->family)
        fprintf(out, "   family %s: %d model%s with scores\n", in->family, r->family_n,
                r->family_n == 1 ? "" : "s");

    char g[24];
    cli_fmt(g, sizeof g, "%+.3f", r->gamma);
    fprintf(out, "\nphase: %s (gamma12 = %s, from the %s)\n", phase_name(r->phase), g,
            r->gamma_source);
    if (r->isocline_bonus >= 0)
        fprintf(out, "  isocline TQA_c = sqrt(0.1866 HS) on the model's own scores: %s\n",
                r->isocline_bonus ? "bonus side" : "tax side");
    if (isfinite(r->nc)) {
        fprintf(out, "critical scale: N_c = %s", nc);
        if (isfinite(r->nc_lo))
            fprintf(out, " [95%% %s, %s]", lo, hi);
        fprintf(out, " (%s); the model is %.2f decades %s it (N / N_c = %.2f)\n", r->nc_source,
                fabs(r->decades_to_nc), r->decades_to_nc > 0 ? "below" : "above",
                pow(10, -r->decades_to_nc));
    } else {
        fprintf(out, "critical scale: not estimable (no family N_c and no pooled reference)\n");
    }
    fprintf(out, "\nnext size up (%s%s), linear ODE in (HS, TQA) fitted on set B:\n", nx,
            r->next_is_sibling ? ", the family's next model" : "");
    if (r->ode_ok) {
        fprintf(out, "  predicted HS %.2f, TQA %.2f", r->pred_hs, r->pred_tqa);
        if (isfinite(r->obs_hs))
            fprintf(out, "   (observed HS %.2f, TQA %.2f)", r->obs_hs, r->obs_tqa);
        fputc('\n', out);
        if (isfinite(r->ode_holdout_err))
            fprintf(out, "  caveat: the same construction predicts held-out Llama-2 13B/70B with "
                         "%.1f %% MAE/mean\n",
                    r->ode_holdout_err);
    } else {
        fprintf(out, "  not estimable: %s\n", r->ode_why);
    }
    fprintf(out, "\ninterventions\n");
    for (int k = 0; k < r->nrule; k++)
        fprintf(out, "  [%s] %s: %s\n        source: %s\n", r->rule[k].applies ? "x" : " ",
                r->rule[k].id, r->rule[k].text, r->rule[k].source);
    fputc('\n', out);
}

int cmd_advise(int argc, char **argv)
{
    adv_args a;
    memset(&a, 0, sizeof a);
    a.hs = a.tqa = a.arc = a.wg = a.mmlu = a.d_model = NAN;
    int first = argc, rc = parse_args(argc, argv, &a, &first);
    if (rc < 0)
        return 0;
    if (rc)
        return rc;
    {
        /* --hs 0.7 --tqa 0.4: fractions, as lm-eval-harness writes them */
        double *given[] = {&a.hs, &a.tqa, &a.arc, &a.wg, &a.mmlu};
        cape_err e = {0};
        if (scores_scale_values(given, 5, a.so.scale, &a.scaled, &e))
            return cli_usage_error("advise", "--hs/--tqa/--arc/--wg/--mmlu: %s", e.msg);
        if (a.scaled)
            fprintf(stderr, "cape: note: the scores given are fractions: multiplied by 100 "
                            "(--scale percent reads them as points)\n");
    }
    char buf[4096], b1[4096], b2[4096], b3[4096];
    const char *path, *shown;
    if (first < argc) {
        path = shown = argv[first];
    } else {
        path = cli_bundled(DEFAULT_TABLE, buf, sizeof buf);
        shown = "data/benchmarks/base_models.csv";
    }
    scores_table t, pooled, front, widths, base;
    int have_base = 0;
    a.so.allow_unknown_columns = a.extra;
    rc = first < argc ? cli_read_table_opt(path, shown, &a.so, &t)
                      : cli_read_table(path, shown, a.extra, &t);
    if (rc)
        return rc;
    rc = build_input(&a, &t, shown);
    if (rc == 0)
        rc = cli_read_table(cli_bundled("benchmarks/paper/set_b_14.csv", b1, sizeof b1), NULL, 0,
                            &pooled);
    if (rc) {
        scores_free(&t);
        return rc;
    }
    int have_front =
        cli_read_table(cli_bundled("benchmarks/paper/paper_frontier_34_swe_gpqa.csv", b2,
                                   sizeof b2),
                       NULL, 0, &front) == 0;
    int have_widths =
        cli_read_table(cli_bundled("benchmarks/paper/pythia_set_a.csv", b3, sizeof b3), NULL, 0,
                       &widths) == 0;
    if (first < argc)
        have_base = cli_read_table(cli_bundled(DEFAULT_TABLE, buf, sizeof buf), NULL, 0, &base) ==
                    0;
    advice_refs refs = {&pooled, first < argc ? (have_base ? &base : NULL) : &t,
                        have_front ? &front : NULL, have_widths ? &widths : NULL};
    advice_result r;
    cape_err e = {0};
    rc = advice_run(&a.in, &refs, &r, &e);
    if (rc) {
        rc = cli_report(&e);
    } else {
        cli_out out;
        rc = cli_out_open(&out, a.output, a.json);
        if (rc == 0) {
            json_t *root = NULL;
            if (a.json) {
                root = cli_json_doc("advise", shown, advice_result_json(&a.in, &r));
            } else {
                print_text(out.fp, &a.in, &r);
            }
            rc = cli_out_close(&out, root);
        }
    }
    scores_free(&pooled);
    if (have_front)
        scores_free(&front);
    if (have_widths)
        scores_free(&widths);
    if (have_base)
        scores_free(&base);
    scores_free(&t);
    return rc;
}
