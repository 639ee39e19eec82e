/* libFuzzer harness: the trainer's checkpoint view (over src/model/gguf.h) must reject or accept any
 * byte string without crashing or reading out of bounds; accepted files go
 * through the getters, the model-config and tokenizer readers and the sink
 * metadata reader that cape train --resume and cape forget use. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "train/train_ckpt.h"
#include "train/train_loop.h"
#include "train/train_tok.h"
#include "unlearn/sink_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ckpt_file f;
    cape_err e = {0};
    if (ckpt_parse(&f, data, size, "fuzz.gguf", &e) != 0)
        return 0;
    train_config c;
    err_clear(&e);
    if (train_config_from_ckpt(&f, &c, "fuzz.gguf", &e) == 0) {
        sink_model s;
        err_clear(&e);
        if (sink_model_read(&s, &f, c.hidden, "fuzz.gguf", &e) == 0) {
            float *mask = malloc(sizeof(float) * c.hidden);
            if (mask && s.enabled)
                sink_model_mask(&s, SINK_MODE_OFF, 1, "a query", mask);
            free(mask);
            sink_model_free(&s);
        }
    }
    bpe_vocab v;
    err_clear(&e);
    if (train_tok_from_ckpt(&f, &v, "fuzz.gguf", &e) == 0)
        bpe_free(&v);
    ckpt_free(&f);
    return 0;
}
