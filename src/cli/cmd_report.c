/* cape report: the diagnostic as one self-contained HTML page. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "report/report.h"

static void help(void)
{
    printf(
        "usage: cape report --html FILE [options]\n"
        "\n"
        "Writes one self-contained HTML page (inline CSS and SVG, nothing fetched) with\n"
        "the phase diagram, gamma12 against size with the N_c interval, the N_c bootstrap\n"
        "histogram, width normalisation before and after, the loss law, the ODE fit and\n"
        "its hold-out prediction, the frontier scatter with its fit and residual bands,\n"
        "and the eigenvalue spectra, after a table of the paper's numbers beside cape's;\n"
        "last, the verdicts of the six stress tests of cape falsify on the ODE, pooled\n"
        "and phase tables.\n"
        "\n"
        "Inputs default to the bundled tables of data/benchmarks/paper/.\n"
        "\n"
        "options:\n"
        "  --html FILE            the page to write (atomically; required)\n"
        "  --phase-table FILE     many families: phase diagram, per-phase spectra\n"
        "                         (paper_base_63.csv)\n"
        "  --pooled-table FILE    gamma12, N_c, loss law, hold-out (set_b_14.csv)\n"
        "  --ode-table FILE       ODE, width normalisation, correlation spectrum\n"
        "                         (pythia_set_a.csv)\n"
        "  --frontier-table FILE  frontier panel (paper_frontier_34_swe_gpqa.csv)\n"
        "  --holdout FAMILY       family of the pooled table to hold out (Llama-2)\n"
        "  --boot N               N_c bootstrap resamples (10000)\n"
        "  --seed N               bootstrap seed (42)\n"
        "  --json                 print what was written as JSON (schema in docs/JSON.md)\n"
        "  -h, --help             this help\n");
}

int cmd_report(int argc, char **argv)
{
    enum { O_HTML = 256, O_PHASE, O_POOLED, O_ODE, O_FRONT, O_HOLD, O_BOOT, O_SEED, O_JSON };
    static const struct option opts[] = {
        {"html", 1, 0, O_HTML}, {"phase-table", 1, 0, O_PHASE}, {"pooled-table", 1, 0, O_POOLED},
        {"ode-table", 1, 0, O_ODE}, {"frontier-table", 1, 0, O_FRONT},
        {"holdout", 1, 0, O_HOLD}, {"boot", 1, 0, O_BOOT}, {"seed", 1, 0, O_SEED},
        {"json", 0, 0, O_JSON}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    char b1[4096], b2[4096], b3[4096], b4[4096];
    report_inputs in = {
        .phase_table = cli_bundled("benchmarks/paper/paper_base_63.csv", b1, sizeof b1),
        .pooled_table = cli_bundled("benchmarks/paper/set_b_14.csv", b2, sizeof b2),
        .ode_table = cli_bundled("benchmarks/paper/pythia_set_a.csv", b3, sizeof b3),
        .frontier_table = cli_bundled("benchmarks/paper/paper_frontier_34_swe_gpqa.csv", b4,
                                      sizeof b4),
        .phase_name = "data/benchmarks/paper/paper_base_63.csv",
        .pooled_name = "data/benchmarks/paper/set_b_14.csv",
        .ode_name = "data/benchmarks/paper/pythia_set_a.csv",
        .frontier_name = "data/benchmarks/paper/paper_frontier_34_swe_gpqa.csv",
        .holdout = "Llama-2",
        .nboot = 10000,
        .seed = 42,
    };
    const char *html = NULL, *cmd = "report";
    int json = 0, c, rc = 0;
    long v;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case O_HTML: html = optarg; break;
        case O_PHASE: in.phase_table = in.phase_name = optarg; break;
        case O_POOLED: in.pooled_table = in.pooled_name = optarg; break;
        case O_ODE: in.ode_table = in.ode_name = optarg; break;
        case O_FRONT: in.frontier_table = in.frontier_name = optarg; break;
        case O_HOLD: in.holdout = optarg; break;
        case O_BOOT:
            rc = cli_parse_int(cmd, "--boot", optarg, 0, 10000000, &v);
            in.nboot = (int)v;
            break;
        case O_SEED:
            rc = cli_parse_int(cmd, "--seed", optarg, 0, 4294967295L, &v);
            in.seed = (uint32_t)v;
            break;
        case O_JSON: json = 1; break;
        case ':': return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!html)
        return cli_usage_error(cmd, "--html FILE is required");
    char by[256];
    snprintf(by, sizeof by, "Written by cape %s (cape report)", CAPE_VERSION);
    in.generated_by = by;
    char *page = NULL;
    size_t len = 0;
    cape_err e = {0};
    rc = report_html(&in, &page, &len, &e);
    if (rc == 0)
        rc = file_write_atomic(html, page, len, &e);
    free(page);
    if (rc)
        return cli_report(&e);
    if (json) {
        json_t *figs = json_array();
        for (int i = 0; i < REPORT_NFIGURES; i++)
            json_array_append_new(figs, json_string(REPORT_FIGURES[i]));
        json_t *root = json_pack("{s:s,s:s,s:s,s:I,s:o}", "cape_version", CAPE_VERSION, "command",
                                 "report", "html", html, "bytes", (json_int_t)len, "figures",
                                 figs);
        cli_out out;
        rc = cli_out_open(&out, NULL, 1);
        if (rc == 0)
            rc = cli_out_close(&out, root);
    } else {
        printf("cape report: wrote %s (%zu bytes, %d figures)\n", html, len, REPORT_NFIGURES);
    }
    return rc;
}
