/* cape filter: the content filter of forgotten sources (build, check,
 * eval); docs/UNLEARN.md, "Content filter". */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "unlearn/filter.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: cape filter build --tofu DIR --forget forgetNN -o FILTER [--ngram N] [--ngram-min H]\n"
            "       cape filter check FILTER [< QUERIES]\n"
            "       cape filter eval FILTER --tofu DIR [--seed S] [--json] [-o OUT.json]\n"
            "\n"
            "build  writes FILTER (JSON): the forgotten authors' names and their variants\n"
            "       and the hashed word N-grams (4) of the forget answers not found in the\n"
            "       retained data; a text with H (2) of them is blocked.\n"
            "check  reads one query per line from standard input and prints, per line,\n"
            "       'block<TAB>reason' or 'pass'.\n"
            "eval   block rates on forget questions (original, paraphrased, obfuscated)\n"
            "       and false blocks on retain, real authors, world facts and holdout\n"
            "       questions, beside the keyword baseline (exact full names).\n"
            "\n"
            "cape run and cape unlearn eval take --filter FILTER (docs/UNLEARN.md).\n");
}

static int build(int argc, char **argv)
{
    enum { O_TOFU = 256, O_FORGET, O_NGRAM, O_MIN };
    static const struct option opts[] = {{"tofu", 1, 0, O_TOFU}, {"forget", 1, 0, O_FORGET},
                                         {"output", 1, 0, 'o'},  {"ngram", 1, 0, O_NGRAM},
                                         {"ngram-min", 1, 0, O_MIN}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL, *forget = NULL, *outp = NULL, *cmd = "filter build";
    long gn = 4, gm = 2;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'h': help(stdout); return 0;
        case 'o': outp = optarg; break;
        case O_TOFU: dir = optarg; break;
        case O_FORGET: forget = optarg; break;
        case O_NGRAM: rc = cli_parse_int(cmd, "--ngram", optarg, 1, 8, &gn); break;
        case O_MIN: rc = cli_parse_int(cmd, "--ngram-min", optarg, 1, 1000, &gm); break;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc)
            return rc;
    }
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!dir || !forget || !outp)
        return cli_usage_error(cmd, "--tofu DIR, --forget forgetNN and -o FILTER are required");
    cape_err e = {0};
    filter *f = NULL;
    filter_build_opts bo = {(int)gn, (int)gm};
    if (filter_build(dir, forget, &bo, &f, &e) || filter_save(f, outp, &e)) {
        filter_free(f);
        return cli_report(&e);
    }
    int nv = 0;
    for (int i = 0; i < filter_n_authors(f); i++)
        nv += filter_n_variants(f, i);
    fprintf(stderr, "cape filter: %d authors, %d name variants -> %s\n", filter_n_authors(f), nv,
            outp);
    filter_free(f);
    return 0;
}

static int check(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        help(stdout);
        return 0;
    }
    if (argc != 2)
        return cli_usage_error("filter check", "expected one FILTER (queries on standard input)");
    cape_err e = {0};
    filter *f;
    if (filter_load(argv[1], &f, &e))
        return cli_report(&e);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        filter_verdict v;
        if (filter_check(f, line, &v))
            printf("block\t%s\n", v.reason);
        else
            printf("pass\n");
    }
    free(line);
    filter_free(f);
    return 0;
}

static int eval(int argc, char **argv)
{
    enum { O_TOFU = 256, O_SEED, O_JSON };
    static const struct option opts[] = {{"tofu", 1, 0, O_TOFU}, {"seed", 1, 0, O_SEED},
                                         {"json", 0, 0, O_JSON}, {"output", 1, 0, 'o'},
                                         {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    const char *dir = NULL, *outp = NULL, *cmd = "filter eval";
    long seed = 1;
    int json = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'h': help(stdout); return 0;
        case 'o': outp = optarg; break;
        case O_TOFU: dir = optarg; break;
        case O_SEED: rc = cli_parse_int(cmd, "--seed", optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case O_JSON: json = 1; break;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc)
            return rc;
    }
    if (optind != argc - 1)
        return cli_usage_error(cmd, "expected one FILTER");
    if (!dir)
        return cli_usage_error(cmd, "--tofu DIR is required");
    cape_err e = {0};
    filter *f;
    json_t *r = NULL;
    if (filter_load(argv[optind], &f, &e))
        return cli_report(&e);
    int rc = filter_eval(f, dir, (uint64_t)seed, &r, &e);
    filter_free(f);
    if (rc)
        return cli_report(&e);
    char *s = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    if (outp && s && file_write_atomic(outp, s, strlen(s), &e)) {
        free(s);
        json_decref(r);
        return cli_report(&e);
    }
    if (json) {
        printf("%s\n", s ? s : "null");
    } else {
        printf("%-58s %5s  %-5s %8s %8s\n", "set", "n", "want", "filter", "keyword");
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r, "sets"), i, x)
        {
            printf("%-58s %5lld  %-5s %7.1f%% %7.1f%%\n",
                   json_string_value(json_object_get(x, "set")),
                   (long long)json_integer_value(json_object_get(x, "n")),
                   json_string_value(json_object_get(x, "want")),
                   100 * json_number_value(json_object_get(x, "filter_rate")),
                   100 * json_number_value(json_object_get(x, "keyword_rate")));
        }
        printf("\nrates are blocked / n; 'want pass' rows are false blocks.\n");
    }
    free(s);
    json_decref(r);
    return 0;
}

int cmd_filter(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "build"))
        return build(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check"))
        return check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval"))
        return eval(argc - 1, argv + 1);
    return cli_usage_error("filter", "unknown command '%s' (build, check, eval)", argv[1]);
}
