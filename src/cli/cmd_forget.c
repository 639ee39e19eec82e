#include <stdio.h>
#include "cli/cli.h"
int cmd_forget(int argc, char **argv) { (void)argc; (void)argv; return 2; }
