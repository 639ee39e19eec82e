/* dtype: the element types of model tensors, numbered as ggml numbers them
 * (so the ids in a GGUF file are used as they are), with their block
 * geometry and the scalar half-precision conversions. */
#ifndef CAPE_DTYPE_H
#define CAPE_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum {
    TENSOR_F32 = 0,
    TENSOR_F16 = 1,
    TENSOR_Q4_0 = 2,
    TENSOR_Q4_1 = 3,
    TENSOR_Q5_0 = 6,
    TENSOR_Q5_1 = 7,
    TENSOR_Q8_0 = 8,
    TENSOR_Q8_1 = 9,
    TENSOR_Q2_K = 10,
    TENSOR_Q3_K = 11,
    TENSOR_Q4_K = 12,
    TENSOR_Q5_K = 13,
    TENSOR_Q6_K = 14,
    TENSOR_Q8_K = 15,
    TENSOR_I8 = 24,
    TENSOR_I16 = 25,
    TENSOR_I32 = 26,
    TENSOR_I64 = 27,
    TENSOR_F64 = 28,
    TENSOR_BF16 = 30,
    TENSOR_NTYPES = 40
} tensor_type;

typedef struct {
    const char *name; /* "Q4_K", as llama.cpp prints it */
    int block;        /* elements per block */
    int bytes;        /* bytes per block */
} tensor_type_info;

/* NULL for an id cape does not know (the caller reports it). */
const tensor_type_info *tensor_type_get(uint32_t type);
const char *tensor_type_name(uint32_t type);
/* Bytes of n elements of a row; -1 when n is not a whole number of blocks
 * or the size overflows. */
int64_t tensor_row_bytes(uint32_t type, int64_t n);
/* Type id from its name ("q8_0", "F16"); -1 when unknown. */
int tensor_type_from_name(const char *name);

static inline float tensor_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: value = man * 2^-24 */
            float v = (float)man * 0x1p-24f;
            memcpy(&bits, &v, 4);
            bits |= sign;
        }
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round to nearest even, as numpy's float16 and ggml's converters do. */
uint16_t tensor_f32_to_f16(float f);

static inline float tensor_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t tensor_f32_to_bf16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) /* NaN stays a quiet NaN */
        return (uint16_t)((bits >> 16) | 0x40);
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1)) >> 16);
}

#endif
