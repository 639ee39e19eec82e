/* isa: the CAPE_ISA environment variable caps the instruction-set level cape
 * uses, so the slower paths of a large machine can be run and tested:
 *   scalar < avx2 < avx512 < vnni < amx
 * (amx, or CAPE_ISA unset: no cap). The trainer's bf16 kernels (AMX tiles,
 * AVX512-BF16) count as level amx. */
#ifndef CAPE_ISA_H
#define CAPE_ISA_H

typedef enum {
    CAPE_ISA_SCALAR,
    CAPE_ISA_AVX2,
    CAPE_ISA_AVX512,
    CAPE_ISA_VNNI,
    CAPE_ISA_AMX,
} cape_isa;

/* The cap from CAPE_ISA (CAPE_ISA_AMX when unset); -1 for an unknown name. */
int cape_isa_cap(void);
/* Whether code of this level may run (an unknown CAPE_ISA caps nothing). */
int cape_isa_allows(cape_isa level);
/* The names, for messages: "scalar, avx2, avx512, vnni, amx". */
const char *cape_isa_names(void);

#endif
