/* libFuzzer harness: the filter file parser and the query checker of `cape
 * filter` (src/unlearn/filter.c) must accept or reject any byte string
 * without crashing or reading out of bounds. The input is split at its
 * first NUL byte: the part before is parsed as a filter file; the part
 * after is checked, line by line, against the parsed filter (or against a
 * fixed filter when the file is rejected), and folded and matched word by
 * word. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unlearn/filter.h"

static const char *FIXED =
    "{\"format\": \"cape-filter\", \"version\": 1, \"forget\": \"forget01\", \"authors\": "
    "[{\"name\": \"Basil Mahfouz Al-Kuwaiti\", \"variants\": [\"basil mahfouz al kuwaiti\", "
    "\"b m al kuwaiti\", \"kuwaiti\"]}], \"ngrams\": {\"n\": 2, \"min_hits\": 1, \"values\": "
    "[\"263e34a24443cf3d\"]}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t nf = nul ? (size_t)(nul - data) : size;
    cape_err e = {0};
    filter *f = NULL;
    if (filter_parse((const char *)data, nf, "fuzz", &f, &e)) {
        if (!e.msg[0] || strchr(e.msg, '\n'))
            abort();
        cape_err e2 = {0};
        if (filter_parse(FIXED, strlen(FIXED), "fixed", &f, &e2))
            abort();
    }
    const uint8_t *q = nul ? nul + 1 : data;
    size_t nq = nul ? size - nf - 1 : size;
    char *text = malloc(nq + 1);
    if (!text)
        abort();
    memcpy(text, q, nq);
    text[nq] = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        filter_verdict v;
        int b = filter_check(f, line, &v);
        if (b != v.block || (b && !v.reason[0]) || strchr(v.reason, '\t'))
            abort();
        (void)filter_keyword_check(f, line);
        char *fo = filter_fold(line);
        if (!fo)
            abort();
        size_t n = strlen(fo);
        if (n && (fo[0] == ' ' || fo[n - 1] == ' ' || strstr(fo, "  ")))
            abort();
        if (n > 1 && filter_edit_distance(fo, n / 2, fo + n / 2, n - n / 2, 3) < 0)
            abort();
        free(fo);
    }
    free(text);
    filter_free(f);
    return 0;
}
