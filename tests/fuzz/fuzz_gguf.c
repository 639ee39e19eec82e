/* libFuzzer harness: the GGUF reader must accept or reject any byte string
 * without reading out of bounds; an accepted file is walked completely (every
 * key, array element and tensor byte) and written back by the writer, which
 * must reproduce a file the reader accepts again. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

static volatile uint64_t sink;

static void walk(const gguf_file *f)
{
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        sink += strlen(kv->key);
        if (kv->type == GGUF_STRING && kv->v.s.len)
            sink += (uint8_t)kv->v.s.ptr[kv->v.s.len - 1];
        if (kv->type == GGUF_ARRAY) {
            for (uint64_t j = 0; j < kv->v.a.n; j++) {
                if (kv->v.a.type == GGUF_STRING)
                    sink += kv->v.a.strs[j].len ? (uint8_t)kv->v.a.strs[j].ptr[0] : 0;
                else
                    sink += (uint64_t)gguf_arr_int(&kv->v.a, j) + (gguf_arr_float(&kv->v.a, j) > 0);
            }
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->nbytes)
            sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cape_err e = {0};
    gguf_file *f = gguf_open_buffer(data, size, "fuzz.gguf", &e);
    if (!f)
        return 0;
    walk(f);
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_version(w, gguf_version(f));
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        gguf_writer_copy_kv(w, gguf_kv_at(f, i));
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
    }
    uint8_t *buf;
    size_t len;
    if (gguf_writer_to_buffer(w, &buf, &len, &e) == 0) {
        gguf_file *g = gguf_open_buffer(buf, len, "again.gguf", &e);
        if (!g)
            abort(); /* the writer produced a file the reader rejects */
        gguf_close(g);
        free(buf);
    }
    gguf_writer_free(w);
    gguf_close(f);
    return 0;
}
