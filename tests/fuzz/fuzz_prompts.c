/* libFuzzer harness: the prompts-file parser of `cape run --prompts`
 * (gen_prompts_parse, src/model/generate.c) must accept or reject any byte
 * string without crashing or reading out of bounds. A refusal says why; an
 * accepted file gives at least one prompt, a plain line is never empty, and
 * the UTF-8 cleaning the command applies (text_utf8_copyn) stays within
 * three bytes per input byte and leaves clean text unchanged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "model/generate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char **p = NULL;
    int n = 0;
    cape_err e = {0};
    if (gen_prompts_parse((const char *)data, size, "fuzz.txt", &p, &n, &e) != 0) {
        if (!e.msg[0])
            abort(); /* a refusal always says why */
        return 0;
    }
    if (n < 1)
        abort();
    for (int i = 0; i < n; i++) {
        size_t len = strlen(p[i]), out_len = 0;
        if (len == 0 && !memchr(data, '{', size))
            abort(); /* blank plain lines are skipped */
        char *c = text_utf8_copyn(p[i], len, &out_len);
        if (!c || out_len > 3 * len || strlen(c) != out_len)
            abort();
        char *again = text_utf8_copyn(c, out_len, NULL);
        if (!again || strcmp(again, c) != 0)
            abort(); /* clean text is a fixed point */
        free(again);
        free(c);
    }
    gen_prompts_free(p, n);
    return 0;
}
