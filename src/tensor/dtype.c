#include "tensor/dtype.h"

#include <strings.h>

/* Block geometry from ggml's type traits (ggml.c, MIT): a K-quant super-block
 * holds 256 values, the legacy quants 32. */
static const tensor_type_info TYPES[TENSOR_NTYPES] = {
    [TENSOR_F32] = {"F32", 1, 4},        [TENSOR_F16] = {"F16", 1, 2},
    [TENSOR_Q4_0] = {"Q4_0", 32, 18},    [TENSOR_Q4_1] = {"Q4_1", 32, 20},
    [TENSOR_Q5_0] = {"Q5_0", 32, 22},    [TENSOR_Q5_1] = {"Q5_1", 32, 24},
    [TENSOR_Q8_0] = {"Q8_0", 32, 34},    [TENSOR_Q8_1] = {"Q8_1", 32, 36},
    [TENSOR_Q2_K] = {"Q2_K", 256, 84},   [TENSOR_Q3_K] = {"Q3_K", 256, 110},
    [TENSOR_Q4_K] = {"Q4_K", 256, 144},  [TENSOR_Q5_K] = {"Q5_K", 256, 176},
    [TENSOR_Q6_K] = {"Q6_K", 256, 210},  [TENSOR_Q8_K] = {"Q8_K", 256, 292},
    [TENSOR_I8] = {"I8", 1, 1},          [TENSOR_I16] = {"I16", 1, 2},
    [TENSOR_I32] = {"I32", 1, 4},        [TENSOR_I64] = {"I64", 1, 8},
    [TENSOR_F64] = {"F64", 1, 8},        [TENSOR_BF16] = {"BF16", 1, 2},
};

const tensor_type_info *tensor_type_get(uint32_t type)
{
    if (type >= TENSOR_NTYPES || !TYPES[type].name)
        return NULL;
    return &TYPES[type];
}

const char *tensor_type_name(uint32_t type)
{
    const tensor_type_info *t = tensor_type_get(type);
    return t ? t->name : "unknown";
}

int64_t tensor_row_bytes(uint32_t type, int64_t n)
{
    const tensor_type_info *t = tensor_type_get(type);
    if (!t || n < 0 || n % t->block)
        return -1;
    int64_t blocks = n / t->block;
    if (blocks > INT64_MAX / t->bytes)
        return -1;
    return blocks * t->bytes;
}

int tensor_type_from_name(const char *name)
{
    for (int i = 0; i < TENSOR_NTYPES; i++)
        if (TYPES[i].name && strcasecmp(TYPES[i].name, name) == 0)
            return i;
    return -1;
}

uint16_t tensor_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN */
        return (uint16_t)(sign | 0x7e00);
    if (ax >= 0x477ff000u) /* rounds to >= 65520: infinity */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* below the smallest normal half: subnormal */
        float a;
        memcpy(&a, &ax, 4);
        /* a * 2^24 rounded to nearest even by the FPU's default mode */
        float s = a * 0x1p24f;
        uint32_t m = (uint32_t)__builtin_rintf(s);
        return (uint16_t)(sign | m);
    }
    uint32_t man = ax & 0x7fffff;
    uint32_t exp = (ax >> 23) - 112;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rest = man & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
        h++; /* a carry into the exponent is the correct rounding */
    return (uint16_t)(sign | h);
}
