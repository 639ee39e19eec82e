/* cape: git-style entry point. Each subcommand lives in its own file and
 * returns the process exit status: 0 success, 1 a failed check, 2 bad usage
 * or bad input. */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const cli_command COMMANDS[] = {
    {"diagnose", cmd_diagnose, "phase diagnosis of model families from benchmark scores"},
    {"run", cmd_run, "generate text from a prompt with a GGUF/safetensors/llama2.c model"},
    {"score", cmd_score, "log-likelihood of continuations after contexts (batched)"},
    {"info", cmd_info, "architecture, sizes, tensor types and tokenizer of a model"},
    {"tokenize", cmd_tokenize, "tokens of standard input under a model's tokenizer"},
    {"ode", cmd_ode, "benchmark trajectories as an ODE in log10 N, with hold-out prediction"},
    {"frontier", cmd_frontier, "one benchmark against another across frontier models, by lab"},
    {"eigen", cmd_eigen, "PCA of a benchmark panel: spectra and effective dimension"},
    {"advise", cmd_advise, "phase, distance to N_c, next-size prediction and interventions"},
    {"report", cmd_report, "the diagnostic as one self-contained HTML page with SVG figures"},
    {"probe", cmd_probe, "internal coupling of two prompt sets, per layer and per head"},
    {"steer", cmd_steer, "build, apply and evaluate steering directions (control vectors)"},
    {"train", cmd_train, "train a small transformer, optionally with per-source sinks"},
    {"forget", cmd_forget, "switch sources off in a sink model; per-source loss by mode"},
};
enum { NCOMMANDS = sizeof COMMANDS / sizeof *COMMANDS };

static void usage(FILE *out)
{
    fprintf(out, "usage: cape <command> [options] [inputs]\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\n'cape help <command>' or 'cape <command> --help' explains each.\n"
                 "Exit status: 0 success, 1 a check failed, 2 bad usage or bad input.\n");
}

static const cli_command *find(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i].name, name) == 0)
            return &COMMANDS[i];
    return NULL;
}

int main(int argc, char **argv)
{
    /* cape's dense algebra is small; OpenBLAS worker threads would only spin. */
    openblas_set_num_threads(1);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("cape %s\n", CAPE_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        const cli_command *c = find(argv[2]);
        if (!c) {
            fprintf(stderr, "cape: unknown command '%s'\n", argv[2]);
            return 2;
        }
        char *hargv[] = {(char *)c->name, "--help", NULL};
        return c->run(2, hargv);
    }
    const cli_command *c = find(name);
    if (!c) {
        fprintf(stderr, "cape: unknown command '%s' (see 'cape --help')\n", name);
        return 2;
    }
    return c->run(argc - 1, argv + 1);
}
