#include "base/isa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define ISA_X86 1
static const char *const NAMES[] = {"scalar", "avx2", "avx512", "vnni", "amx"};
#define NLEVELS 5
#elif defined(__aarch64__)
#include <sys/auxv.h>
#define ISA_ARM 1
static const char *const NAMES[] = {"scalar", "neon", "dotprod"};
#define NLEVELS 3
#else
static const char *const NAMES[] = {"scalar"};
#define NLEVELS 1
#endif

static char features[256];

#ifdef ISA_X86
/* AMX tiles are listed in CPUID leaf 7 (EDX bit 24 tile, 25 int8, 22 bf16);
 * gcc's __builtin_cpu_supports does not know them on every version. */
static int cpuid_bit(unsigned leaf, unsigned sub, int reg, int bit)
{
    unsigned r[4] = {0};
    if (!__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]))
        return 0;
    return (r[reg] >> bit) & 1;
}

static cape_isa detect(void)
{
    __builtin_cpu_init();
    static const char *const want[] = {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                                       "avx512dq", "avx512vnni", "avx512bf16", "avxvnni"};
    int has[10] = {0};
    has[0] = __builtin_cpu_supports("avx2");
    has[1] = __builtin_cpu_supports("fma");
    has[2] = cpuid_bit(1, 0, 2, 29); /* F16C: ECX bit 29 */
    has[3] = __builtin_cpu_supports("avx512f");
    has[4] = __builtin_cpu_supports("avx512bw");
    has[5] = __builtin_cpu_supports("avx512vl");
    has[6] = __builtin_cpu_supports("avx512dq");
    has[7] = __builtin_cpu_supports("avx512vnni");
    has[8] = cpuid_bit(7, 1, 0, 5); /* AVX512_BF16: leaf 7.1 EAX bit 5 */
    has[9] = cpuid_bit(7, 1, 0, 4); /* AVX-VNNI: leaf 7.1 EAX bit 4 */
    int amx = cpuid_bit(7, 0, 3, 24) && cpuid_bit(7, 0, 3, 25);
    size_t o = 0;
    for (int i = 0; i < 10; i++)
        if (has[i])
            o += (size_t)snprintf(features + o, sizeof features - o, "%s%s", o ? " " : "", want[i]);
    if (amx)
        snprintf(features + o, sizeof features - o, "%samx-tile amx-int8", o ? " " : "");
    if (!(has[0] && has[1] && has[2]))
        return CAPE_ISA_SCALAR;
    if (!(has[3] && has[4] && has[5] && has[6]))
        return CAPE_ISA_AVX2;
    if (!has[7])
        return CAPE_ISA_AVX512;
    return amx || has[8] ? CAPE_ISA_AMX : CAPE_ISA_VNNI;
}
#elif defined(ISA_ARM)
static cape_isa detect(void)
{
    /* Advanced SIMD is part of every aarch64 CPU; HWCAP_ASIMDDP (bit 20) marks SDOT */
    int dp = (getauxval(AT_HWCAP) >> 20) & 1;
    snprintf(features, sizeof features, "neon%s", dp ? " asimddp" : "");
    return dp ? CAPE_ISA_DOTPROD : CAPE_ISA_NEON;
}
#else
static cape_isa detect(void)
{
    snprintf(features, sizeof features, "none");
    return CAPE_ISA_SCALAR;
}
#endif

cape_isa cape_isa_host(void)
{
    static int host = -1;
    if (host < 0)
        host = (int)detect();
    return (cape_isa)host;
}

static int forced = -1;

void cape_isa_force(int level) { forced = level; }

static int parse_cap(void)
{
    const char *s = getenv("CAPE_ISA");
    if (!s || !*s)
        return NLEVELS - 1;
    for (int i = 0; i < NLEVELS; i++)
        if (strcmp(s, NAMES[i]) == 0)
            return i;
    return -1;
}

/* CAPE_ISA is read once: kernels ask for the level on every call */
int cape_isa_cap(void)
{
    static int cap = -2;
    if (cap == -2)
        cap = parse_cap();
    return cap;
}

cape_isa cape_isa_level(void)
{
    int l = (int)cape_isa_host(), cap = cape_isa_cap();
    if (cap >= 0 && cap < l)
        l = cap;
    if (forced >= 0 && forced < l)
        l = forced;
    return (cape_isa)l;
}

int cape_isa_allows(cape_isa level)
{
    return (int)level <= (int)cape_isa_level();
}

const char *cape_isa_name(cape_isa level)
{
    return (int)level >= 0 && (int)level < NLEVELS ? NAMES[level] : "?";
}

const char *cape_isa_names(void)
{
#ifdef ISA_X86
    return "scalar, avx2, avx512, vnni, amx";
#elif defined(ISA_ARM)
    return "scalar, neon, dotprod";
#else
    return "scalar";
#endif
}

const char *cape_isa_features(void)
{
    cape_isa_host();
    return features;
}
