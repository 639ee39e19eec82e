/* cape: git-style entry point. Each subcommand lives in its own file and
 * returns the process exit status: 0 success, 1 a failed check, 2 bad usage
 * or bad input. */
#include <cblas.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/isa.h"
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
    {"falsify", cmd_falsify, "stress tests of the phase claim: U-shape, null model, controls"},
    {"report", cmd_report, "the diagnostic as one self-contained HTML page with SVG figures"},
    {"serve", cmd_serve, "the interactive dashboard on a local HTTP port (JSON API too)"},
    {"probe", cmd_probe, "internal coupling of two prompt sets, per layer and per head"},
    {"steer", cmd_steer, "build, apply and evaluate steering directions (control vectors)"},
    {"train", cmd_train, "train a small transformer, optionally with per-source sinks"},
    {"forget", cmd_forget, "switch sources off in a sink model; per-source loss by mode"},
    {"unlearn", cmd_unlearn, "unlearning evaluation (TOFU metrics) and post-hoc methods"},
    {"quantize", cmd_quantize, "re-quantise a GGUF model (Q8_0, Q4_0, Q4_K, ...), as llama-quantize"},
    {"filter", cmd_filter, "content filter of forgotten sources (build, check, eval)"},
};
enum { NCOMMANDS = sizeof COMMANDS / sizeof *COMMANDS };

static void usage(FILE *out)
{
    fprintf(out, "usage: cape <command> [options] [inputs]\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\n'cape help <command>' or 'cape <command> --help' explains each.\n"
                 "Exit status: 0 success, 1 a check failed or a write failed, 2 bad usage, bad\n"
                 "input or a bad output path, 130/143 interrupted (SIGINT/SIGTERM).\n");
}

/* SIGINT/SIGTERM/SIGHUP: remove the temp files of writes in progress, then
 * die of the signal (exit status 128 + signal number). cape train installs
 * its own handler, which checkpoints first. */
static void on_fatal(int sig)
{
    file_atomic_unlink_live();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old, sa = {0};
        sa.sa_handler = on_fatal;
        sigemptyset(&sa.sa_mask);
        /* a signal ignored on entry (a background job) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
    /* a closed pipe ends cape quietly (`cape ... | head`), even when the
     * parent left SIGPIPE ignored */
    signal(SIGPIPE, SIG_DFL);
}

/* A failed write to standard output is an error (`> /dev/full`); a reader
 * that went away (EPIPE) ends cape quietly, as SIGPIPE would. */
static int close_stdout(int rc)
{
    errno = 0;
    int bad = fflush(stdout) != 0;
    int er = errno;
    bad |= ferror(stdout) != 0;
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        er = errno;
    }
    if (!bad)
        return rc;
    if (er == EPIPE) {
        raise(SIGPIPE);
        return 128 + SIGPIPE;
    }
    if (er)
        fprintf(stderr, "cape: write error on standard output: %s\n", strerror(er));
    else
        fprintf(stderr, "cape: write error on standard output\n");
    return rc ? rc : 1;
}

static int run(int argc, char **argv);

int main(int argc, char **argv)
{
    install_handlers();
    return close_stdout(run(argc, argv));
}

static const cli_command *find(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i].name, name) == 0)
            return &COMMANDS[i];
    return NULL;
}

static int run(int argc, char **argv)
{
    /* cape's dense algebra is small; OpenBLAS worker threads would only spin. */
    openblas_set_num_threads(1);
    if (cape_isa_cap() < 0) {
        fprintf(stderr, "cape: CAPE_ISA: unknown level '%s' (%s)\n", getenv("CAPE_ISA"),
                cape_isa_names());
        return 2;
    }
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
        /* version --isa-levels: the kernel paths this host runs, lowest first
         * (make check runs the tests on each) */
        if (argc > 2 && strcmp(argv[2], "--isa-levels") == 0) {
            for (int l = 0; l <= (int)cape_isa_host(); l++)
                printf("%s%s", l ? " " : "", cape_isa_name((cape_isa)l));
            printf("\n");
            return 0;
        }
        printf("cape %s\nisa: %s (host %s; CPU features: %s)\n", CAPE_VERSION,
               cape_isa_name(cape_isa_level()), cape_isa_name(cape_isa_host()),
               cape_isa_features());
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
