/* tok_pre: the pre-tokenizers of byte-level BPE vocabularies, by the names
 * GGUF files give in tokenizer.ggml.pre.
 *
 * Every name llama.cpp (llama-vocab.cpp, MIT) accepts is known here, with the
 * regexes llama.cpp applies for it, one after the other: each regex splits
 * the pieces the previous one left (the matches and the text between them
 * are both pieces). The regex texts are the data llama.cpp lists; a few of
 * llama.cpp's hand-written splitters (Kimi-K2, AFMoE's digit groups) are
 * given here as the equivalent regex. tok_pre_pattern() adjusts a pattern to
 * the way llama.cpp runs it (see there). */
#include "model/tok_impl.h"

#include <stdlib.h>
#include <string.h>

enum {
    R_DEFAULT, R_LLAMA3, R_JAIS2, R_DEEPSEEK_LLM, R_DEEPSEEK3, R_SPARK2_5, R_YOUTU, R_DEEPSEEK_CODER,
    R_FALCON, R_STARCODER, R_GPT2, R_QWEN2, R_QWEN35, R_BLOOM, R_VIKING, R_TEKKEN, R_CHAMELEON,
    R_GPT4O, R_GRANITE_EMB, R_TINY_AYA, R_KIMI, R_SUPERBPE, R_BAILINGMOE, R_SEED_CODER, R_UFAKZEKA,
    R_AFMOE, R_LAGUNA, R_EXAONE_MOE, R_NEWLINES, R_MINICPM5, R_WHITESPACE, R_N
};
_Static_assert((int)TOK_PRE_LLAMA3 == (int)R_LLAMA3 && (int)TOK_PRE_FALCON == (int)R_FALCON &&
                   (int)TOK_PRE_STARCODER == (int)R_STARCODER && (int)TOK_PRE_GPT2 == (int)R_GPT2 &&
                   (int)TOK_PRE_QWEN2 == (int)R_QWEN2,
               "tok_impl.h numbers the rule sets as this table does");

/* llama.cpp's AFMoE digit splitter (also used for Tiny Aya): a run of digits
 * is cut into groups of three counted from the right (1234567 -> 1 234 567),
 * and the text before a run stays with its first group ("ab 1234" -> "ab 1",
 * "234"). That is, the text is cut after every group: an empty match where
 * a digit precedes and a multiple of three digits ends the run. */
#define RE_DIGITS_3 "(?<=\\p{N})(?=(?:\\p{N}{3})*(?!\\p{N}))"

/* Kimi-K2: llama.cpp splits with a hand-written scanner for the pattern
 * [\p{Han}]+ | letters other than Han with an optional leading non-letter and
 * an optional contraction | \p{N}{1,3} | punctuation runs | whitespace,
 * where Han is the ranges of its unicode_cpt_is_han(). The same as a regex: */
#define HAN "\\x{3400}-\\x{4DBF}\\x{4E00}-\\x{9FFF}\\x{F900}-\\x{FAFF}\\x{20000}-\\x{2A6DF}" \
            "\\x{2A700}-\\x{2EBEF}\\x{2F800}-\\x{2FA1F}"
#define RE_KIMI_K2                                                                              \
    "[" HAN "]+|[^\\r\\n\\p{L}\\p{N}]?(?:(?![" HAN "])\\p{L})+"                                   \
    "(?:'[sS]|'[tT]|'[mM]|'[dD]|'[rR][eE]|'[vV][eE]|'[lL][lL])?"                                 \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static const char *const RULES[R_N][TOK_MAX_RE] = {
    /* llama.cpp: LLAMA3 */
    [R_LLAMA3] = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: JAIS2 */
    [R_JAIS2] = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}"},
    /* llama.cpp: DEEPSEEK_LLM */
    [R_DEEPSEEK_LLM] = {"[\r\n]", "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+", "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+", "\\p{N}+"},
    /* llama.cpp: DEEPSEEK3_LLM, HUNYUAN_DENSE, JOYAI_LLM, HY_V4 */
    [R_DEEPSEEK3] = {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: SPARK2_5 */
    [R_SPARK2_5] = {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+", "\\p{N}"},
    /* llama.cpp: YOUTU */
    [R_YOUTU] = {"[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+", "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: DEEPSEEK_CODER */
    [R_DEEPSEEK_CODER] = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"},
    /* llama.cpp: FALCON */
    [R_FALCON] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", "[0-9][0-9][0-9]"},
    /* llama.cpp: STARCODER, REFACT, COMMAND_R, SMOLLM, CODESHELL, EXAONE, MINERVA, MELLUM2 */
    [R_STARCODER] = {"\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"},
    /* llama.cpp: GPT2, MPT, OLMO, JAIS, TRILLION, GRANITE_DOCLING */
    [R_GPT2] = {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"},
    /* llama.cpp: STABLELM2, QWEN2, HUNYUAN, SOLAR_OPEN */
    [R_QWEN2] = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: QWEN35 */
    [R_QWEN35] = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: PORO, BLOOM, GPT3_FINNISH */
    [R_BLOOM] = {" ?[^(\\s|.,!?…。，、।۔،)]+"},
    /* llama.cpp: VIKING */
    [R_VIKING] = {" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"},
    /* llama.cpp: TEKKEN */
    [R_TEKKEN] = {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: CHAMELEON */
    [R_CHAMELEON] = {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"},
    /* llama.cpp: GPT4O, MINIMAX_M2 */
    [R_GPT4O] = {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: GRANITE_EMB_MULTI */
    [R_GRANITE_EMB] = {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: TINY_AYA */
    [R_TINY_AYA] = {RE_DIGITS_3, "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: KIMI_K2 */
    [R_KIMI] = {RE_KIMI_K2},
    /* llama.cpp: SUPERBPE */
    [R_SUPERBPE] = {"\\p{N}+", "(?=(\\d{3})+(?!\\d))"},
    /* llama.cpp: BAILINGMOE */
    [R_BAILINGMOE] = {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: SEED_CODER */
    [R_SEED_CODER] = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: UFAKZEKA */
    [R_UFAKZEKA] = {"[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: AFMOE */
    [R_AFMOE] = {RE_DIGITS_3, "[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+", "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: LAGUNA */
    [R_LAGUNA] = {"[^\\n]+|[\\n]+", "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: EXAONE_MOE */
    [R_EXAONE_MOE] = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: GEMMA4 */
    [R_NEWLINES] = {"[^\\n]+|[\\n]+"},
    /* llama.cpp: MINICPM5 */
    [R_MINICPM5] = {"\\p{N}{1,3}", "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    /* llama.cpp: WHITESPACE */
    [R_WHITESPACE] = {"\\S+"},
    /* llama.cpp: DEFAULT */
    [R_DEFAULT] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", "\\p{N}+", "[0-9][0-9][0-9]"},

};

static const char *const RULE_NAME[R_N] = {
    [R_DEFAULT] = "default", [R_LLAMA3] = "llama3", [R_JAIS2] = "jais-2",
    [R_DEEPSEEK_LLM] = "deepseek-llm", [R_DEEPSEEK3] = "deepseek-v3", [R_SPARK2_5] = "spark2_5",
    [R_YOUTU] = "youtu", [R_DEEPSEEK_CODER] = "deepseek-coder", [R_FALCON] = "falcon",
    [R_STARCODER] = "starcoder", [R_GPT2] = "gpt2", [R_QWEN2] = "qwen2", [R_QWEN35] = "qwen35",
    [R_BLOOM] = "bloom", [R_VIKING] = "viking", [R_TEKKEN] = "tekken", [R_CHAMELEON] = "chameleon",
    [R_GPT4O] = "gpt-4o", [R_GRANITE_EMB] = "granite-embed", [R_TINY_AYA] = "tiny_aya",
    [R_KIMI] = "kimi-k2", [R_SUPERBPE] = "superbpe", [R_BAILINGMOE] = "bailingmoe",
    [R_SEED_CODER] = "seed-coder", [R_UFAKZEKA] = "ufakzeka", [R_AFMOE] = "afmoe",
    [R_LAGUNA] = "laguna", [R_EXAONE_MOE] = "exaone-moe", [R_NEWLINES] = "gemma4",
    [R_MINICPM5] = "minicpm5", [R_WHITESPACE] = "whitespace",
};

/* The names, in llama.cpp's order, with the settings llama.cpp gives each. */
#define IGN TOK_PRE_IGNORE_MERGES
#define BOS TOK_PRE_ADD_BOS
#define NOBOS TOK_PRE_NO_BOS
#define RAW TOK_PRE_RAW
#define ESC TOK_PRE_ESCAPE_WS
#define NLW TOK_PRE_NL_WHOLE
static const struct {
    const char *name;
    int rule;
    unsigned flags;
} NAMES[] = {
    {"default", R_DEFAULT, 0},
    {"minicpm5", R_MINICPM5, IGN},
    {"llama3", R_LLAMA3, IGN | BOS}, {"llama-v3", R_LLAMA3, IGN | BOS},
    {"llama-bpe", R_LLAMA3, IGN | BOS}, {"falcon3", R_LLAMA3, IGN | BOS},
    {"falcon-h1", R_LLAMA3, IGN | BOS}, {"pixtral", R_LLAMA3, IGN | BOS},
    {"midm-2.0", R_LLAMA3, IGN | BOS}, {"lfm2", R_LLAMA3, IGN | BOS},
    {"jina-v5-nano", R_LLAMA3, IGN | BOS},
    {"deepseek-llm", R_DEEPSEEK_LLM, 0},
    {"deepseek-coder", R_DEEPSEEK_CODER, 0},
    {"deepseek-v3", R_DEEPSEEK3, 0},
    {"spark2_5", R_SPARK2_5, 0},
    {"youtu", R_YOUTU, IGN},
    {"falcon", R_FALCON, 0},
    {"mpt", R_GPT2, 0},
    {"starcoder", R_STARCODER, 0},
    {"gpt-2", R_GPT2, 0}, {"phi-2", R_GPT2, 0}, {"jina-es", R_GPT2, 0}, {"jina-de", R_GPT2, 0},
    {"gigachat", R_GPT2, 0}, {"jina-v2-es", R_GPT2, 0}, {"jina-v2-de", R_GPT2, 0},
    {"a.x-4.0", R_GPT2, 0}, {"mellum", R_GPT2, 0}, {"modern-bert", R_GPT2, 0},
    {"jais-2", R_JAIS2, 0},
    {"gemma4", R_NEWLINES, RAW | ESC | NLW},
    {"granite-embed-multi-311m", R_NEWLINES, RAW | ESC | NLW},
    {"sarvam-moe", R_NEWLINES, RAW | ESC},
    {"jina-v1-en", R_GPT2, 0}, {"jina-v2-code", R_GPT2, 0}, {"roberta-bpe", R_GPT2, 0},
    {"whitespace", R_WHITESPACE, RAW},
    {"refact", R_STARCODER, 0},
    {"command-r", R_STARCODER, 0},
    {"qwen2", R_QWEN2, 0}, {"deepseek-r1-qwen", R_QWEN2, 0}, {"kormo", R_QWEN2, 0},
    {"f2llmv2", R_QWEN2, 0},
    {"qwen35", R_QWEN35, 0},
    {"stablelm2", R_QWEN2, 0},
    {"olmo", R_GPT2, 0},
    {"dbrx", R_LLAMA3, 0},
    {"smaug-bpe", R_LLAMA3, 0},
    {"poro-chat", R_BLOOM, 0},
    {"chatglm-bpe", R_LLAMA3, NOBOS},
    {"glm4", R_LLAMA3, NOBOS | IGN}, {"glm5", R_LLAMA3, NOBOS | IGN},
    {"viking", R_VIKING, 0},
    {"jais", R_GPT2, 0},
    {"tekken", R_TEKKEN, IGN | BOS},
    {"smollm", R_STARCODER, 0},
    {"codeshell", R_STARCODER, 0},
    {"bloom", R_BLOOM, 0},
    {"gpt3-finnish", R_BLOOM, 0},
    {"exaone", R_STARCODER, 0},
    {"exaone4", R_GPT2, 0},
    {"exaone-moe", R_EXAONE_MOE, 0},
    {"chameleon", R_CHAMELEON, BOS},
    {"minerva-7b", R_STARCODER, 0},
    {"megrez", R_QWEN2, 0},
    {"gpt-4o", R_GPT4O, 0}, {"llama4", R_GPT4O, 0}, {"kanana2", R_GPT4O, 0}, {"talkie", R_GPT4O, 0},
    {"granite-embed-multi-97m", R_GRANITE_EMB, IGN},
    {"tiny_aya", R_TINY_AYA, 0}, {"cohere2moe", R_TINY_AYA, 0},
    {"superbpe", R_SUPERBPE, 0},
    {"trillion", R_GPT2, 0},
    {"granite-docling", R_GPT2, 0},
    {"bailingmoe", R_BAILINGMOE, 0}, {"bailingmoe2", R_BAILINGMOE, 0}, {"llada-moe", R_BAILINGMOE, 0},
    {"seed-coder", R_SEED_CODER, 0},
    {"hunyuan", R_QWEN2, 0},
    {"hunyuan-dense", R_DEEPSEEK3, 0},
    {"hy_v4", R_DEEPSEEK3, 0},
    {"joyai-llm", R_DEEPSEEK3, 0},
    {"kimi-k2", R_KIMI, 0},
    {"ufakzeka", R_UFAKZEKA, 0},
    {"grok-2", R_QWEN2, 0},
    {"afmoe", R_AFMOE, 0},
    {"laguna", R_LAGUNA, 0},
    {"minimax-m2", R_GPT4O, 0},
    {"solar-open", R_QWEN2, 0},
    {"mellum2", R_STARCODER, 0},
};

int tok_pre_lookup(const char *name, tok_pre_info *out)
{
    for (size_t i = 0; i < sizeof NAMES / sizeof *NAMES; i++) {
        if (strcmp(NAMES[i].name, name) == 0) {
            out->rule = NAMES[i].rule;
            out->flags = NAMES[i].flags;
            return 0;
        }
    }
    return -1;
}

int tok_pre_count(void) { return (int)(sizeof NAMES / sizeof *NAMES); }

const char *tok_pre_name_at(int i)
{
    return i >= 0 && i < tok_pre_count() ? NAMES[i].name : NULL;
}

const char *const *tok_pre_rules(int rule) { return RULES[rule >= 0 && rule < R_N ? rule : 0]; }

const char *tok_pre_rule_name(int rule) { return RULE_NAME[rule >= 0 && rule < R_N ? rule : 0]; }

/* llama.cpp runs a pattern that names a Unicode category on a copy of the
 * text where every non-ASCII character stands for its general category
 * (letter, number, punctuation, mark, symbol; whitespace; other), so it does
 * not tell letter subcategories apart: \p{Lu}, \p{Ll}, \p{Lt}, \p{Lm} and
 * \p{Lo} all mean \p{L}. Its \d is the ASCII digits. Rewriting the pattern
 * this way lets PCRE2 (UTF, UCP) give llama.cpp's pieces. */
char *tok_pre_pattern(const char *re)
{
    size_t n = strlen(re);
    char *o = malloc(2 * n + 16);
    if (!o)
        return NULL;
    int cats = strstr(re, "\\p{") != NULL;
    size_t k = 0;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        if (re[i] == '\\' && i + 1 < n) {
            if (cats && re[i + 1] == 'p' && i + 5 < n && re[i + 2] == '{' && re[i + 3] == 'L' &&
                strchr("ultmo", re[i + 4]) && re[i + 5] == '}') {
                memcpy(o + k, "\\p{L}", 5);
                k += 5;
                i += 5;
                continue;
            }
            if (re[i + 1] == 'd') {
                const char *d = in_class ? "0-9" : "[0-9]";
                memcpy(o + k, d, strlen(d));
                k += strlen(d);
                i += 1;
                continue;
            }
            o[k++] = re[i++];
            o[k++] = re[i];
            continue;
        }
        if (re[i] == '[' && !in_class)
            in_class = 1;
        else if (re[i] == ']' && in_class)
            in_class = 0;
        o[k++] = re[i];
    }
    o[k] = 0;
    return o;
}
