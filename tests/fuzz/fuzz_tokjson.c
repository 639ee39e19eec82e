/* libFuzzer harness: tokenizer.json parsing must accept or reject any byte
 * string cleanly; an accepted tokenizer encodes and decodes a fixed text and
 * the input itself. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cape_err e = {0};
    tok *t = tok_from_hf_json_buffer((const char *)data, size, "fuzz.json", &e);
    if (!t)
        return 0;
    const char *texts[2] = {"Hello world, it's 2024! \xf0\x9f\x99\x82  x\n", (const char *)data};
    size_t lens[2] = {strlen(texts[0]), size < 256 ? size : 256};
    for (int k = 0; k < 2; k++) {
        int *ids, n;
        if (tok_encode(t, texts[k], lens[k], TOK_ADD_BOS | TOK_PARSE_SPECIAL, &ids, &n, &e) == 0) {
            char *s = tok_decode(t, ids, n, 1);
            free(s);
            free(ids);
        }
    }
    tok_free(t);
    return 0;
}
