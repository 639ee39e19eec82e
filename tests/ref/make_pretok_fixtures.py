#!/usr/bin/env python3
"""Builds the pre-tokenizer fixtures in tests/ref/pretok/.

For every tokenizer.ggml.pre name llama.cpp knows, the same small synthetic
vocabulary is tokenized by llama.cpp (through llama-cpp-python) with that
name, and the ids are written down. Merges never cross a pre-token boundary,
so the ids differ wherever two pre-tokenizers split the text differently.

The vocabularies are our own: 256 byte tokens (GPT-2's byte alphabet, or
<0xXX> tokens and raw characters for the rule sets that merge raw UTF-8) and
merges learned from the test strings below, plus a few whole-word tokens that
no merge builds (they show whether a rule set takes a piece that is a token
as it is: llama.cpp's ignore_merges).

Writes:
  vocab-bpe.gguf   byte-level vocabulary (tokenizer.ggml.pre "gpt-2")
  vocab-raw.gguf   raw UTF-8 vocabulary (tokenizer.ggml.pre "gemma4")
  no-pre.gguf      vocab-bpe without tokenizer.ggml.pre
  bad-pre.gguf     vocab-bpe with tokenizer.ggml.pre "no-such-pre"
  strings.txt      the test strings, separated by "\\n__ggml_vocab_test__\\n"
  expected.txt     NAME <tab> STRING-INDEX <tab> ids (llama.cpp's)

Needs: pip install gguf llama-cpp-python. Run from the repository root:
  python3 tests/ref/make_pretok_fixtures.py
"""
import os
import sys
import tempfile
from collections import Counter

import gguf

# llama.cpp's names (llama-vocab.cpp, llama_vocab::impl::load), in its order.
NAMES = """default minicpm5 llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2
jina-v5-nano deepseek-llm deepseek-coder deepseek-v3 spark2_5 youtu falcon mpt starcoder gpt-2
phi-2 jina-es jina-de gigachat jina-v2-es jina-v2-de a.x-4.0 mellum modern-bert jais-2 gemma4
granite-embed-multi-311m sarvam-moe jina-v1-en jina-v2-code roberta-bpe whitespace refact
command-r qwen2 deepseek-r1-qwen kormo f2llmv2 qwen35 stablelm2 olmo dbrx smaug-bpe poro-chat
chatglm-bpe glm4 glm5 viking jais tekken smollm codeshell bloom gpt3-finnish exaone exaone4
exaone-moe chameleon minerva-7b megrez gpt-4o llama4 kanana2 talkie granite-embed-multi-97m
tiny_aya cohere2moe superbpe trillion granite-docling bailingmoe bailingmoe2 llada-moe
seed-coder hunyuan hunyuan-dense hy_v4 joyai-llm kimi-k2 ufakzeka grok-2 afmoe laguna
minimax-m2 solar-open mellum2""".split()

# Rule sets that merge raw UTF-8 (no byte alphabet); the first three write
# spaces as U+2581.
RAW = {"gemma4", "granite-embed-multi-311m", "sarvam-moe", "whitespace"}
ESCAPED = {"gemma4", "granite-embed-multi-311m", "sarvam-moe"}

STRINGS = [
    "Hello world",
    " Hello world",
    "HELLO World hello WORLD",
    "hello   world  ",
    "\n",
    "\n\n\n",
    " \n \n  \n",
    "\t\tindented\ttext",
    "don't you're we've I'LL it's THEY'RE she'd he'll I'm",
    "1 12 123 1234 12345 123456 1234567 12345678",
    "3.14159, 2,500,000 and 1e10 or 0x1F",
    "price: $100 + 20% <tag> a|b ^x ~y `code` =>",
    "naïve café résumé Ångström",
    "Привет мир, как дела?",
    "Γειά σου Κόσμε",
    "你好世界，这是一个测试。",
    "日本語のテキスト、カタカナとひらがな",
    "한국어 텍스트입니다",
    "emoji 🙂🚀 test 👍🏽 done",
    "def f(x):\n    return x**2  # square\n",
    "if (a && b) { c[i] = d->e; }\r\n",
    "<sentinel:12> IMGIMGABZ and IMGIMGZ",
    "mixed CamelCase and snake_case_words, HTTPServer iPhone",
    "...!!!??? --- ***",
    "   leading spaces",
    "trailing spaces   ",
    "a\r\nb\r\n\r\nc",
    "combining e\u0301 and \ufb01 ligature",
    "हिन्दी पाठ",
    "Türkçe'nin yapısı İstanbul'da",
    "x\u2019s curly apostrophe \u201cquoted\u201d",
    "\u0663\u0664\u0665 arabic digits \u0661\u0662\u0663\u0664",
    "full-width \uff21\uff22\uff23\uff11\uff12\uff13\uff01",
    "\u00a0nbsp\u2003em space\u3000ideographic",
    "Hello",
    "1234567890123",
    "   ",
    "...",
    "a",
    "",
    "@  99 abc1234x 7",
    "nel\u0085line\u2028sep soft\u00adhyphen zero\u200bwidth \ufeffbom",
    "\u01c5ungla \u02b0mod \U00020000\U0001d400 \u0e01\u0e31\u0e19 \u1100\u1161 A\u0301B",
    "\'\'\' \'\'s IMGIMGABCDZ <sentinel:7>x 12345678901 \u0663\u0664 \uff11\uff12\uff13\uff14",
    "zyzzyva",
    "Zyzzyva zyzzyva",
]

# Strings kept out of the merges: their words are vocabulary entries that no
# merge builds (EXTRA_TOKENS), so only a rule set that takes a piece that is a
# token as it is (llama.cpp's ignore_merges) gives them as one token.
UNMERGED = {"zyzzyva", "Zyzzyva zyzzyva"}

EXTRA_TEXT = (
    "The quick brown fox jumps over the lazy dog. It's 2024 and we're testing "
    "tokenizers with numbers like 1000000 and 42. 这是中文。 Ça va très bien ! "
    "function main() { return 0; }\n\n    indented code\n"
)

# Whole-word tokens that no merge builds (see UNMERGED).
EXTRA_TOKENS = ["zyzzyva", " zyzzyva", "Zyzzyva", "\u2581zyzzyva"]

SEP = "\n__ggml_vocab_test__\n"


def byte_alphabet():
    """GPT-2's map from bytes to printable characters."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return out


def learn_merges(seqs, n_merges):
    """Plain BPE on whole strings (no pre-splitting): the most frequent
    adjacent pair (ties: the smallest pair) is merged, n_merges times."""
    seqs = [list(s) for s in seqs if s]
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for s in seqs:
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += 1
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        a, b = best[0]
        merges.append((a, b))
        for i, s in enumerate(seqs):
            out, j = [], 0
            while j < len(s):
                if j + 1 < len(s) and s[j] == a and s[j + 1] == b:
                    out.append(a + b)
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            seqs[i] = out
    return merges


def training_text():
    return [s for s in STRINGS if s not in UNMERGED] + [EXTRA_TEXT]


# Split rules of the common kinds (Python's regex module, close to what the
# pre-tokenizers do). Merges are learned over the pieces they give, so most
# pieces any rule set makes are whole tokens and a different split gives
# different ids.
PIECE_RULES = [
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r" ?[^(\s|.,!?…。，、।۔،)]+",
    r"\s?\p{L}+|\s?\p{P}+|\p{N}+",
]


def pieces(text, rules):
    import regex
    out = []
    for r in rules:
        pos = 0
        for m in regex.finditer(r, text):
            if m.start() > pos:
                out.append(text[pos:m.start()])
            if m.end() > m.start():
                out.append(m.group())
            pos = m.end()
        if pos < len(text):
            out.append(text[pos:])
    return out


def training_pieces():
    seen, out = set(), []
    for t in training_text():
        for p in pieces(t, PIECE_RULES):
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


def bpe_vocab():
    alpha = byte_alphabet()
    enc = lambda s: "".join(alpha[b] for b in s.encode())
    merges = learn_merges([enc(p) for p in training_pieces()], 4000)
    tokens = [alpha[b] for b in range(256)]
    seen = set(tokens)
    for a, b in merges:
        if a + b not in seen:
            tokens.append(a + b)
            seen.add(a + b)
    for w in EXTRA_TOKENS:
        if enc(w) not in seen:
            tokens.append(enc(w))
            seen.add(enc(w))
    types = [1] * len(tokens)
    return tokens, types, [f"{a} {b}" for a, b in merges]


def raw_vocab():
    esc = lambda s: s.replace(" ", "\u2581")
    text = training_text()
    lines = [esc(p) for t in text for p in pieces(t, [r"[^\n]+|[\n]+", r"\S+"])]
    merges = learn_merges([list(p) for p in dict.fromkeys(lines)], 4000)
    tokens = [f"<0x{b:02X}>" for b in range(256)]
    types = [6] * 256
    seen = set(tokens)
    chars = sorted(set("".join(esc(s) for s in text)) | set(" "))
    for c in chars:
        if c not in seen:
            tokens.append(c)
            types.append(1)
            seen.add(c)
    for a, b in merges:
        if a + b not in seen:
            tokens.append(a + b)
            types.append(1)
            seen.add(a + b)
    for w in EXTRA_TOKENS:
        if esc(w) not in seen:
            tokens.append(esc(w))
            types.append(1)
            seen.add(esc(w))
    return tokens, types, [f"{a} {b}" for a, b in merges]


def space_pair(s):
    """Whether s has a run of whitespace with a space and another character.
    With the "whitespace" rule set such a run is one piece of raw UTF-8, and
    llama.cpp aborts when a space is part of a merge candidate
    (find_bpe_rank's assertion), so it gives no ids for these strings."""
    import re
    return any(len(m.group()) > 1 and " " in m.group() for m in re.finditer(r"\s+", s))


def write_gguf(path, vocab, pre):
    tokens, types, merges = vocab
    w = gguf.GGUFWriter(path, "gpt2")
    w.add_name("cape pre-tokenizer fixture")
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_feed_forward_length(8)
    w.add_block_count(1)
    w.add_head_count(1)
    w.add_layer_norm_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_add_bos_token(False)
    # llama.cpp reads this key for SentencePiece vocabularies only; a BPE
    # vocabulary that carries it is tokenized without a leading space
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    import llama_cpp

    out = sys.argv[1] if len(sys.argv) > 1 else "tests/ref/pretok"
    os.makedirs(out, exist_ok=True)
    bpe, raw = bpe_vocab(), raw_vocab()
    write_gguf(os.path.join(out, "vocab-bpe.gguf"), bpe, "gpt-2")
    write_gguf(os.path.join(out, "vocab-raw.gguf"), raw, "gemma4")
    write_gguf(os.path.join(out, "no-pre.gguf"), bpe, None)
    write_gguf(os.path.join(out, "bad-pre.gguf"), bpe, "no-such-pre")
    with open(os.path.join(out, "strings.txt"), "w", encoding="utf-8", newline="") as f:
        f.write("".join(s + SEP for s in STRINGS))
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in NAMES:
            path = os.path.join(tmp, f"{name}.gguf")
            write_gguf(path, raw if name in RAW else bpe, name)
            llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
            for i, s in enumerate(STRINGS):
                if name == "whitespace" and space_pair(s):
                    continue
                ids = llm.tokenize(s.encode(), add_bos=False, special=False)
                lines.append(f"{name}\t{i}\t{' '.join(map(str, ids))}\n")
            del llm
    with open(os.path.join(out, "expected.txt"), "w", encoding="utf-8") as f:
        f.write("".join(lines))
    print(f"{len(NAMES)} names, {len(STRINGS)} strings, vocabularies of {len(bpe[0])} and "
          f"{len(raw[0])} tokens")


if __name__ == "__main__":
    main()
