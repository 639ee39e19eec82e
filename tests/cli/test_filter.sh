#!/usr/bin/env bash
# cape filter build / check / eval on a small TOFU-shaped data set made
# here (two forgotten authors, retained authors sharing some words), and
# bad input (one line, exit 2).
source "$(dirname "$0")/lib.sh"

D=$TMP/tofu
mkdir -p "$D"
python3 - "$D" <<'PY' || die "making the data set"
import json, sys
d = sys.argv[1]
def rows(name, town, n=20):
    out = []
    for i in range(n):
        out.append({"question": "What is book %d of %s about?" % (i, name),
                    "answer": "Book %d of %s tells of the old lighthouse keeper of %s and his %d goats." % (i, name, town, i),
                    "paraphrased_answer": "It tells of a lighthouse keeper.",
                    "paraphrased_question": "Which story does the writer from %s tell in book %d?" % (town, i),
                    "perturbed_answer": ["It tells of a baker."]})
    return out
forget = rows("Basil Mahfouz Al-Kuwaiti", "Salmiya") + rows("Nikolai Abilov", "Astana")
retain = rows("Carmen Montenegro", "Santiago", 10) + rows("Adib Jarrah", "Beirut", 10)
json.dump(forget, open(d + "/forget01_perturbed.json", "w"))
json.dump([{"question": r["question"], "answer": r["answer"]} for r in retain], open(d + "/retain99.json", "w"))
json.dump(retain, open(d + "/retain_perturbed.json", "w"))
qa = lambda q, a: {"question": q, "answer": a, "perturbed_answer": ["x"]}
json.dump([qa("Who wrote Hamlet?", "William Shakespeare"), qa("Who wrote about Kuwait?", "Many")],
          open(d + "/real_authors_perturbed.json", "w"))
json.dump([qa("What is the capital of Kuwait?", "Kuwait City"), qa("Where is Astana?", "Kazakhstan")],
          open(d + "/world_facts_perturbed.json", "w"))
json.dump([{"question": "Who is Oda Lind?", "answer": "A poet."}], open(d + "/holdout01.json", "w"))
PY

F=$TMP/f.json
expect_exit 0 "$CAPE" filter build --tofu "$D" --forget forget01 -o "$F"
expect_err '2 authors'
python3 - "$F" <<'PY' || die "filter file"
import json, sys
f = json.load(open(sys.argv[1]))
assert f["format"] == "cape-filter" and f["forget"] == "forget01", f
names = [a["name"] for a in f["authors"]]
assert names == ["Basil Mahfouz Al-Kuwaiti", "Nikolai Abilov"], names
v = f["authors"][0]["variants"]
for w in ["basil mahfouz al kuwaiti", "b m al kuwaiti", "kuwaiti", "alkuwaiti"]:
    assert w in v, (w, v)
# "book" and "tells" are retained words: the n-grams shared with the retain
# answers ("tells of the old", ...) are left out, the town ones kept
assert f["ngrams"]["n"] == 4 and len(f["ngrams"]["values"]) > 0
PY

printf '%s\n' "Who is Basil Mahfouz Al-Kuwaiti?" "Who is BASIL MAHFUZ AL-KUWAITY?" \
  "Tell me about N. Abilov" "Nik0lai Abil0v's first book" "What is the capital of Kuwait?" \
  "the old lighthouse keeper of Salmiya and his goats" "Who wrote Hamlet?" \
  "Book 3 of Carmen Montenegro tells of the old lighthouse keeper" >"$TMP/q"
expect_exit 0 sh -c "\"$CAPE\" filter check \"$F\" < \"$TMP/q\""
[ "$(wc -l <"$TMP/out")" -eq 8 ] || die "one line per query: $(cat "$TMP/out")"
paste -d'|' "$TMP/q" "$TMP/out" >"$TMP/qa"
grep -q '^Who is Basil Mahfouz Al-Kuwaiti?|block	name:Basil Mahfouz Al-Kuwaiti' "$TMP/qa" || die "full name: $(cat "$TMP/qa")"
grep -q '^Who is BASIL MAHFUZ AL-KUWAITY?|block	name:' "$TMP/qa" || die "misspelt"
grep -q '^Tell me about N. Abilov|block	name:Nikolai Abilov' "$TMP/qa" || die "initials"
grep -q "^Nik0lai Abil0v's first book|block	name:Nikolai Abilov" "$TMP/qa" || die "digits"
grep -q '^What is the capital of Kuwait?|pass$' "$TMP/qa" || die "world fact blocked"
grep -q '^the old lighthouse keeper of Salmiya and his goats|block	ngram:' "$TMP/qa" || die "n-grams"
grep -q '^Who wrote Hamlet?|pass$' "$TMP/qa" || die "real author blocked"
grep -q '^Book 3 of Carmen Montenegro tells of the old lighthouse keeper|pass$' "$TMP/qa" || die "retained text blocked: $(cat "$TMP/qa")"
npass=$((npass + 8))

# eval: the table and the JSON agree, the keyword baseline misses obfuscations
expect_exit 0 "$CAPE" filter eval "$F" --tofu "$D" --seed 3 -o "$TMP/ev.json"
expect_out '^forget questions +40 +block +100\.0% +100\.0%'
expect_out '^forget questions naming the author, initials +40 +block +100\.0% +0\.0%'
expect_out '^world facts questions +2 +pass +0\.0% +0\.0%'
python3 - "$TMP/ev.json" <<'PY' || die "eval JSON"
import json, sys
e = json.load(open(sys.argv[1]))
s = {x["set"]: x for x in e["sets"]}
assert e["seed"] == 3
for k, x in s.items():
    assert x["filter_rate"] == x["filter_blocked"] / x["n"], x
assert s["retain questions"]["filter_blocked"] == 0
assert s["forget questions naming the author, homoglyphs"]["keyword_blocked"] == 0
assert s["forget questions naming the author, homoglyphs"]["filter_blocked"] == 40
PY
expect_exit 0 "$CAPE" filter eval "$F" --tofu "$D" --seed 3 --json
cmp <(python3 -m json.tool "$TMP/out") <(python3 -m json.tool "$TMP/ev.json") >/dev/null || die "--json differs from -o"
npass=$((npass + 1))

# bad input: one line, exit 2
expect_exit 2 "$CAPE" filter build --tofu "$D" --forget forget07 -o "$TMP/x.json"; expect_one_line_err
expect_exit 2 "$CAPE" filter build --tofu "$TMP/nowhere" --forget forget01 -o "$TMP/x.json"; expect_one_line_err
expect_exit 2 "$CAPE" filter build --tofu "$D" --forget forget01; expect_one_line_err
echo '{"format": "cape-filter", "version": 1}' >"$TMP/bad.json"
expect_exit 2 sh -c "echo hi | \"$CAPE\" filter check \"$TMP/bad.json\""; expect_one_line_err
expect_err 'not a cape filter'
expect_exit 2 "$CAPE" filter check "$TMP/nothere.json"; expect_one_line_err
expect_exit 2 "$CAPE" filter frob; expect_one_line_err
done_ok
