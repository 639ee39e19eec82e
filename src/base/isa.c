#include "base/isa.h"

#include <stdlib.h>
#include <string.h>

static const char *const NAMES[] = {"scalar", "avx2", "avx512", "vnni", "amx"};

int cape_isa_cap(void)
{
    const char *s = getenv("CAPE_ISA");
    if (!s || !*s)
        return CAPE_ISA_AMX;
    for (int i = 0; i < (int)(sizeof NAMES / sizeof *NAMES); i++)
        if (strcmp(s, NAMES[i]) == 0)
            return i;
    return -1;
}

int cape_isa_allows(cape_isa level)
{
    int cap = cape_isa_cap();
    return cap < 0 || (int)level <= cap;
}

const char *cape_isa_names(void)
{
    return "scalar, avx2, avx512, vnni, amx";
}
