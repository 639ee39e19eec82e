/* ROUGE-L and ROUGE-1 over (reference, generation) pairs read from a file of
 * NUL-terminated strings (reference, generation, reference, ...): prints the
 * CPU time per pair and the sums of the recalls (to check against the peer).
 *   rouge_bench PAIRS_FILE REPEAT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unlearn/rouge.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rouge_bench PAIRS_FILE REPEAT\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "rouge_bench: cannot open %s\n", argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "rouge_bench: cannot read %s\n", argv[1]);
        return 2;
    }
    buf[size] = 0;
    fclose(f);
    int n = 0, cap = 1024;
    char **s = malloc((size_t)cap * sizeof *s);
    for (long i = 0; i < size; i += (long)strlen(buf + i) + 1) {
        if (n == cap)
            s = realloc(s, (size_t)(cap *= 2) * sizeof *s);
        s[n++] = buf + i;
    }
    int pairs = n / 2, repeat = atoi(argv[2]);
    double sl = 0, s1 = 0;
    clock_t t0 = clock();
    for (int r = 0; r < repeat; r++)
        for (int i = 0; i < pairs; i++) {
            sl += rouge_l(s[2 * i], s[2 * i + 1]).recall;
            s1 += rouge_1(s[2 * i], s[2 * i + 1]).recall;
        }
    double us = (double)(clock() - t0) / CLOCKS_PER_SEC * 1e6 / ((double)repeat * pairs);
    printf("%d %.3f %.12f %.12f\n", pairs, us, sl / repeat, s1 / repeat);
    free(s);
    free(buf);
    return 0;
}
