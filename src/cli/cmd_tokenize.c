/* cape tokenize: the tokens of standard input, like llama.cpp's llama-tokenize. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cli/cli.h"
#include "model/gguf.h"
#include "model/model.h"

static void help(void)
{
    printf("usage: cape tokenize MODEL [options] < TEXT\n"
           "\n"
           "Tokenizes standard input with MODEL's tokenizer (a .gguf file, also a\n"
           "vocabulary-only one; a llama2.c checkpoint; a Hugging Face directory or\n"
           "tokenizer.json) and prints one line per token: id -> 'piece'.\n"
           "\n"
           "options:\n"
           "  --ids                print only the ids, as [1, 2, 3]\n"
           "  --no-bos             do not add the BOS token the model asks for\n"
           "  --no-parse-special   treat special-token text such as <s> as plain text\n"
           "  -p, --prompt TEXT    tokenize TEXT instead of standard input\n"
           "  --tokenizer PATH     tokenizer for a llama2.c checkpoint\n"
           "  --pre NAME           GGUF pre-tokenizer to use instead of tokenizer.ggml.pre\n"
           "  -h, --help           this help\n");
}

static char *slurp(FILE *fp, size_t *len)
{
    size_t cap = 4096, n = 0, got;
    char *b = malloc(cap);
    while (b && (got = fread(b + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                return NULL;
            }
            b = nb;
        }
    }
    *len = n;
    return b;
}

/* Vocabulary-only GGUF files have no weights: load just the tokenizer. */
static tok *load_tok(const char *path, const model_load_opts *lo, model **m, cape_err *e)
{
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".json") == 0 && !strstr(path, "index.json")) {
        if (lo->pre) {
            err_set(e, CAPE_EINPUT, "%s: --pre applies to GGUF vocabularies only", path);
            return NULL;
        }
        return tok_from_hf_json(path, e);
    }
    gguf_file *g = NULL;
    FILE *fp = fopen(path, "rb");
    char magic[4] = {0};
    if (fp) {
        if (fread(magic, 1, 4, fp) != 4)
            magic[0] = 0;
        fclose(fp);
    }
    if (memcmp(magic, "GGUF", 4) == 0) {
        if (!(g = gguf_open(path, e)))
            return NULL;
        int only_vocab = gguf_n_tensors(g) == 0;
        tok *t = only_vocab ? tok_from_gguf_pre(g, lo->pre, e) : NULL;
        gguf_close(g);
        if (only_vocab)
            return t;
    }
    if (!(*m = model_load(path, lo, e)))
        return NULL;
    return (tok *)model_tok(*m);
}

int cmd_tokenize(int argc, char **argv)
{
    enum { O_IDS = 256, O_NOBOS, O_NOSPECIAL, O_TOK, O_PRE };
    static const struct option opts[] = {
        {"ids", 0, 0, O_IDS}, {"no-bos", 0, 0, O_NOBOS}, {"no-parse-special", 0, 0, O_NOSPECIAL},
        {"prompt", 1, 0, 'p'}, {"tokenizer", 1, 0, O_TOK}, {"pre", 1, 0, O_PRE}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int ids_only = 0, no_bos = 0, special = 1, c;
    const char *prompt = NULL;
    model_load_opts lo = {0};
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hp:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'p': prompt = optarg; break;
        case O_IDS: ids_only = 1; break;
        case O_NOBOS: no_bos = 1; break;
        case O_NOSPECIAL: special = 0; break;
        case O_TOK: lo.tokenizer_path = optarg; break;
        case O_PRE: lo.pre = optarg; break;
        default: return cli_usage_error("tokenize", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("tokenize", "expected one MODEL argument");
    cape_err e = {0};
    model *m = NULL;
    tok *t = load_tok(argv[optind], &lo, &m, &e);
    if (!t)
        return cli_report(&e);
    cli_tok_warning(t);
    size_t len = 0;
    char *text = prompt ? strdup(prompt) : slurp(stdin, &len);
    if (prompt && text)
        len = strlen(text);
    int *ids = NULL, n = 0, rc = 0;
    int flags = (special ? TOK_PARSE_SPECIAL : 0) | (!no_bos && tok_wants_bos(t) ? TOK_ADD_BOS : 0);
    if (!text)
        err_set(&e, CAPE_EFAIL, "out of memory reading standard input");
    else if (tok_encode(t, text, len, flags, &ids, &n, &e) == 0) {
        if (ids_only) {
            putchar('[');
            for (int i = 0; i < n; i++)
                printf(i ? ", %d" : "%d", ids[i]);
            printf("]\n");
        } else {
            for (int i = 0; i < n; i++) {
                char piece[512];
                int k = tok_piece(t, ids[i], 1, piece, sizeof piece);
                printf("%6d -> '%.*s'\n", ids[i], k < (int)sizeof piece ? k : (int)sizeof piece,
                       piece);
            }
        }
    }
    if (e.code)
        rc = cli_report(&e);
    free(ids);
    free(text);
    if (m)
        model_free(m);
    else
        tok_free(t);
    return rc;
}
