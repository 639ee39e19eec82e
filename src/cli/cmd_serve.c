/* cape serve: the interactive dashboard on a local HTTP port. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "serve/serve.h"

static void help(void)
{
    printf(
        "usage: cape serve [options] [TABLE.csv ...]\n"
        "\n"
        "The interactive dashboard: analyse a model from its size and scores (phase from\n"
        "its family's own gamma12 steps, N_c with its interval, interventions, the next\n"
        "size's ODE prediction), the phase map, a family explorer, the frontier and the\n"
        "eigenstructure, recomputed from an uploaded CSV. The page is built into cape and\n"
        "loads nothing from elsewhere; the JSON API (docs/SERVE.md) answers what the\n"
        "commands print with --json. The bundled tables and the TABLEs given are served.\n"
        "Stops on Ctrl-C (SIGINT) or SIGTERM.\n"
        "\n"
        "options:\n"
        "  --host ADDR          address to listen on (127.0.0.1); another address than\n"
        "                       loopback makes the dashboard reachable from the network\n"
        "  --port N             port (8080; 0: any free port, printed)\n"
        "  --max-upload BYTES   largest request body (4194304); larger ones get 413\n"
        "  --threads N          worker threads (4)\n"
        "  --timeout S          close idle or slow connections after S seconds (15)\n"
        "  --allow-extra-columns  ignore columns cape does not recognise\n"
        "  -h, --help           this help\n");
}

static int is_loopback(const char *h)
{
    return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0;
}

static void ready(void *user, int port)
{
    const serve_options *o = user;
    const char *h = o->host;
    int v6 = strchr(h, ':') != NULL;
    if (!is_loopback(h))
        fprintf(stderr, "cape serve: warning: listening on %s, not loopback: anyone who can "
                        "reach this machine can use the dashboard (it has no authentication)\n",
                h);
    printf("cape serve: listening on http://%s%s%s:%d/ (Ctrl-C stops)\n", v6 ? "[" : "", h,
           v6 ? "]" : "", port);
    fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
    enum { O_HOST = 256, O_PORT, O_MAX, O_THREADS, O_TIMEOUT, O_EXTRA };
    static const struct option opts[] = {
        {"host", 1, 0, O_HOST},       {"port", 1, 0, O_PORT},
        {"max-upload", 1, 0, O_MAX},  {"threads", 1, 0, O_THREADS},
        {"timeout", 1, 0, O_TIMEOUT}, {"allow-extra-columns", 0, 0, O_EXTRA},
        {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
    serve_options o;
    serve_options_default(&o);
    const char *cmd = "serve";
    long v;
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case O_HOST: o.host = optarg; break;
        case O_PORT:
            rc = cli_parse_int(cmd, "--port", optarg, 0, 65535, &v);
            o.port = (int)v;
            break;
        case O_MAX:
            rc = cli_parse_int(cmd, "--max-upload", optarg, 1, 1L << 30, &v);
            o.max_upload = (size_t)v;
            break;
        case O_THREADS:
            rc = cli_parse_int(cmd, "--threads", optarg, 1, 256, &v);
            o.threads = (int)v;
            break;
        case O_TIMEOUT:
            rc = cli_parse_int(cmd, "--timeout", optarg, 1, 3600, &v);
            o.timeout_s = (int)v;
            break;
        case O_EXTRA: o.allow_extra_columns = 1; break;
        case ':': return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    o.data_dir = cli_data_dir();
    o.tables = (const char *const *)(argv + optind);
    o.ntables = argc - optind;
    o.assets = serve_assets;
    o.nassets = serve_nassets;
    serve_ctx *ctx;
    cape_err e = {0};
    if (serve_ctx_new(&o, &ctx, &e))
        return cli_report(&e);
    rc = serve_run(ctx, &o, ready, &o, &e);
    serve_ctx_free(ctx);
    if (rc)
        return cli_report(&e);
    return 0;
}
