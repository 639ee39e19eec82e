/* libFuzzer harness: the step lists of `cape unlearn attack relearn
 * --steps` (attack_parse_steps, src/unlearn/attack.c) must accept or reject
 * any text without crashing. A refusal says why and returns nothing; an
 * accepted list is non-empty, strictly ascending and within 0..1000000. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unlearn/attack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0; /* a command-line argument ends at its first NUL */
    int *v = NULL, n = 0;
    cape_err e = {0};
    if (attack_parse_steps(s, "--steps", &v, &n, &e) != 0) {
        if (!e.msg[0] || v || n)
            abort();
        free(s);
        return 0;
    }
    if (n < 1 || v[0] < 0 || v[n - 1] > 1000000)
        abort();
    for (int i = 1; i < n; i++)
        if (v[i] <= v[i - 1])
            abort();
    free(v);
    free(s);
    return 0;
}
