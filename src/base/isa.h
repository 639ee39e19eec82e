/* isa: which instruction-set level cape's kernels use.
 *
 * Every kernel has a portable scalar version and per-ISA variants, chosen at
 * run time from cape_isa_level(): the highest level this CPU runs, capped by
 * the CAPE_ISA environment variable (so the slower paths of a large machine
 * can be run and tested) and by cape_isa_force() (tests switch paths in one
 * process). The levels are ordered:
 *   x86-64:  scalar < avx2 (AVX2+FMA+F16C) < avx512 (F/BW/VL/DQ) < vnni < amx
 *   aarch64: scalar < neon < dotprod
 * amx also stands for the trainer's other bf16 kernels (AVX512-BF16). */
#ifndef CAPE_ISA_H
#define CAPE_ISA_H

typedef enum {
    CAPE_ISA_SCALAR,
    CAPE_ISA_AVX2,
    CAPE_ISA_AVX512,
    CAPE_ISA_VNNI,
    CAPE_ISA_AMX,
    /* aarch64 shares the tiers: NEON is the first vector tier, dotprod
     * (SDOT/UDOT) the int8-dot tier */
    CAPE_ISA_NEON = CAPE_ISA_AVX2,
    CAPE_ISA_DOTPROD = CAPE_ISA_AVX512,
} cape_isa;

/* The highest level this CPU runs (detected once). */
cape_isa cape_isa_host(void);
/* The level kernels use: min(host, CAPE_ISA, cape_isa_force). */
cape_isa cape_isa_level(void);
/* Caps the level in this process (tests); -1 removes the cap. */
void cape_isa_force(int level);
/* The cap from CAPE_ISA (the top level when unset); -1 for an unknown name. */
int cape_isa_cap(void);
/* Whether code of this level may run on this host under the caps. */
int cape_isa_allows(cape_isa level);
/* The name of a level on this architecture ("vnni", "neon", ...). */
const char *cape_isa_name(cape_isa level);
/* The names, for messages: "scalar, avx2, avx512, vnni, amx". */
const char *cape_isa_names(void);
/* The host's CPUID features that matter to cape, e.g. "avx2 fma f16c
 * avx512f ... amx-int8", for benchmark headers. */
const char *cape_isa_features(void);

#endif
