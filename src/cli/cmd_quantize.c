/* cape quantize: re-quantise a GGUF model (the library does the work:
 * model/quantize_model.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "model/quantize_model.h"

static void help(void)
{
    printf("usage: cape quantize IN.gguf OUT.gguf --type TYPE [--keep-output] [--threads N]\n"
           "\n"
           "Writes OUT.gguf with the weights of IN.gguf re-quantised to TYPE, as llama.cpp's\n"
           "llama-quantize does without an importance matrix: same metadata (general.file_type\n"
           "updated), same tensor names and shapes; norms and other 1-D tensors keep their\n"
           "type; the output projection (and a tied token embedding) becomes Q6_K, and the\n"
           "K-quant types are llama.cpp's _M mixes. Quantised inputs are dequantised first.\n"
           "The quantisation is byte-identical to ggml's reference quantisers.\n"
           "\n"
           "options:\n"
           "  --type TYPE          %s\n"
           "                       (q3_k = Q3_K_M, q4_k = Q4_K_M, q5_k = Q5_K_M)\n"
           "  --keep-output        leave output.weight in its type\n"
           "  -t, --threads N      threads (default: all CPUs); the output does not depend on it\n"
           "  -h, --help           this help\n",
           quantize_recipe_names());
}

static void fmt_bytes(char *buf, size_t n, double b)
{
    if (b >= 1 << 30)
        snprintf(buf, n, "%.2f GiB", b / (1 << 30));
    else if (b >= 1 << 20)
        snprintf(buf, n, "%.2f MiB", b / (1 << 20));
    else
        snprintf(buf, n, "%.1f KiB", b / 1024);
}

static void print_counts(const char *label, const int64_t *count)
{
    printf("%s", label);
    int first = 1;
    for (int i = 0; i < TENSOR_NTYPES; i++)
        if (count[i]) {
            printf("%s%s %lld", first ? " " : ", ", tensor_type_name((uint32_t)i),
                   (long long)count[i]);
            first = 0;
        }
    printf("\n");
}

int cmd_quantize(int argc, char **argv)
{
    enum { O_TYPE = 256, O_KEEP };
    static const struct option opts[] = {{"type", 1, 0, O_TYPE}, {"keep-output", 0, 0, O_KEEP},
                                         {"threads", 1, 0, 't'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *cmd = "quantize";
    quantize_opts qo = {0};
    long threads = 0;
    int c, rc;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ht:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case O_TYPE:
            if (!(qo.recipe = quantize_recipe_find(optarg)))
                return cli_usage_error(cmd, "unknown --type '%s' (expected %s)", optarg,
                                       quantize_recipe_names());
            break;
        case O_KEEP: qo.keep_output = 1; break;
        case 't':
            if ((rc = cli_parse_int(cmd, "--threads", optarg, 1, 1024, &threads)))
                return rc;
            break;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error(cmd, "expected IN.gguf and OUT.gguf");
    if (!qo.recipe)
        return cli_usage_error(cmd, "--type is required (%s)", quantize_recipe_names());
    const char *in = argv[optind], *out = argv[optind + 1];
    qo.n_threads = (int)threads;
    cli_progress prog;
    cli_progress_init(&prog, "quantize");
    qo.progress = cli_progress_cb;
    qo.progress_user = &prog;
    quantize_stats st;
    cape_err e = {0};
    if (quantize_model(in, out, &qo, &st, &e))
        return cli_report(&e);
    char a[32], b[32];
    fmt_bytes(a, sizeof a, (double)st.file_in);
    fmt_bytes(b, sizeof b, (double)st.file_out);
    printf("%s -> %s (%s): %s -> %s (%.2f bits/weight -> %.2f), %.2fx smaller\n", in, out,
           qo.recipe->label, a, b, st.n_elements ? 8.0 * (double)st.data_in / (double)st.n_elements : 0,
           st.n_elements ? 8.0 * (double)st.data_out / (double)st.n_elements : 0,
           st.file_out ? (double)st.file_in / (double)st.file_out : 0);
    printf("tensors: %lld, %lld converted, %lld copied unchanged\n", (long long)st.n_tensors,
           (long long)st.n_converted, (long long)(st.n_tensors - st.n_converted));
    print_counts("types before:", st.count_in);
    print_counts("types after: ", st.count_out);
    if (st.n_fallback)
        printf("%lld tensor(s) fell back to another type (row length not a whole number of "
               "blocks)\n",
               (long long)st.n_fallback);
    return 0;
}
