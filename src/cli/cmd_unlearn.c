/* cape unlearn: the unlearning tools, git-style subcommands of their own
 * (cape unlearn eval, cape unlearn run, ...). Each subcommand lives in its
 * own cmd_unlearn_*.c and is listed in the table below. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const cli_command UNLEARN_COMMANDS[] = {
    /* {"name", cmd_unlearn_name, "summary"}, one line per subcommand */
    {"eval", cmd_unlearn_eval, "TOFU metrics of a model, as open-unlearning computes them"},
    {"run", cmd_unlearn_run, "post-hoc unlearning by fine-tuning (ga, graddiff, npo, simnpo, rmu, idkdpo)"},
    {"attack-icl", cmd_unlearn_attack_icl, "in-context reintroduction of forgotten facts (icl attack)"},
    {NULL, NULL, NULL},
};

static void help(FILE *out)
{
    fprintf(out, "usage: cape unlearn <command> [options]\n\ncommands:\n");
    for (int i = 0; UNLEARN_COMMANDS[i].name; i++)
        fprintf(out, "  %-8s %s\n", UNLEARN_COMMANDS[i].name, UNLEARN_COMMANDS[i].summary);
    fprintf(out, "\n'cape unlearn <command> --help' explains each (docs/UNLEARN.md).\n");
}

int cmd_unlearn(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; UNLEARN_COMMANDS[i].name; i++)
        if (!strcmp(argv[1], UNLEARN_COMMANDS[i].name))
            return UNLEARN_COMMANDS[i].run(argc - 1, argv + 1);
    return cli_usage_error("unlearn", "unknown command '%s'", argv[1]);
}
