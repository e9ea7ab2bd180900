#!/usr/bin/env bash
# test_score.sh — `vlkit score` end to end against the official numbers in
# $VLKIT_FIXTURES/eval: every caption corpus, raw and pretokenized, corpus level and every image
# (--per-image --json), and every VQA set (rounded values exactly, unrounded within 1e-6, every
# question); the table output; --df / --write-df; and errors (exit status and message).
# Run from the project root (make check-cli). Expected numbers come from the fixture files.
set -u
VLKIT=${VLKIT:-build/vlkit}
FIX=${VLKIT_FIXTURES:-../shared/fixtures}/eval
FLAT="awk -f tests/cli/json_flat.awk"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vlkit-score-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
[ -x "$VLKIT" ] || { echo "FAIL: $VLKIT not built" >&2; exit 1; }
[ -d "$FIX/captions" ] && [ -d "$FIX/vqa" ] || { echo "FAIL: fixtures not found under $FIX" >&2; exit 1; }

# compare EXPECTED_FLAT GOT_FLAT LABEL: lines "path<TAB>value<TAB>tolerance" in the first file
# must exist in the second with |difference| <= tolerance.
compare() {
    awk -F'\t' -v label="$3" '
        NR == FNR { want[$1] = $2; tol[$1] = $3; n++; next }
        { got[$1] = $2 }
        END {
            bad = 0
            for (k in want) {
                if (!(k in got)) { if (bad++ < 20) printf "FAIL: %s: %s missing\n", label, k > "/dev/stderr"; continue }
                d = got[k] - want[k]; if (d < 0) d = -d
                if (d > tol[k] && bad++ < 20) printf "FAIL: %s: %s = %s, official %s\n", label, k, got[k], want[k] > "/dev/stderr"
            }
            if (n == 0) { printf "FAIL: %s: nothing to compare\n", label > "/dev/stderr"; bad++ }
            exit bad > 0
        }' "$1" "$2"
}

# ---- captions: every corpus, both modes --------------------------------------------------------
n_corpora=0
for dir in "$FIX"/captions/*/; do
    corpus=$(basename "$dir")
    [ -f "$dir/expected.json" ] || continue
    n_corpora=$((n_corpora + 1))
    # expected: metrics/<m> -> <m>, per_image/<id>/<m> stays; CIDEr 1e-4, the others 1e-6
    $FLAT "$dir/expected.json" | awk -F'\t' '
        $1 ~ /^metrics\// { sub(/^metrics\//, "", $1); print $1 "\t" $2 "\t" ($1 == "CIDEr" ? 1e-4 : 1e-6) }
        $1 ~ /^per_image\/[^\/]+\/[A-Za-z_0-9]+$/ { m = $1; sub(/.*\//, "", m); print $1 "\t" $2 "\t" (m == "CIDEr" ? 1e-4 : 1e-6) }
    ' > "$TMP/$corpus.want"
    for mode in raw pretok; do
        sfx=""; opt=""
        [ $mode = pretok ] && { sfx=".pretok"; opt="--pretokenized"; }
        if "$VLKIT" score --task caption --annotations "$dir/annotations$sfx.json" --results "$dir/results$sfx.json" \
            --per-image --json $opt > "$TMP/$corpus.$mode.json" 2> "$TMP/err"; then
            $FLAT "$TMP/$corpus.$mode.json" > "$TMP/$corpus.$mode.flat"
            compare "$TMP/$corpus.want" "$TMP/$corpus.$mode.flat" "$corpus $mode" || fail "$corpus $mode values"
        else
            fail "$corpus $mode: exit $? ($(cat "$TMP/err"))"
        fi
        grep -q METEOR "$TMP/$corpus.$mode.json" && fail "$corpus $mode: METEOR must not be reported"
    done
done
[ $n_corpora -ge 5 ] || fail "expected at least 5 caption corpora, found $n_corpora"

# ---- table output, --metrics, --df / --write-df on the small corpus -----------------------------
S=$FIX/captions/small
table=$("$VLKIT" score --task caption --annotations "$S/annotations.json" --results "$S/results.json") || fail "table exit $?"
want_cider=$($FLAT "$S/expected.json" | awk -F'\t' '$1 == "metrics/CIDEr" { printf "%.6f", $2 }')
grep -q "^  CIDEr *$want_cider\$" <<< "$table" || fail "table CIDEr line (want $want_cider): $table"
grep -qi "meteor\|spice" <<< "$table" && fail "table must not print METEOR/SPICE"
only=$("$VLKIT" score --task caption --annotations "$S/annotations.json" --results "$S/results.json" --metrics cider --json)
[ "$($FLAT <(echo "$only") | cut -f1 | tr '\n' ' ')" = "CIDEr " ] || fail "--metrics cider printed: $only"
"$VLKIT" score --task caption --annotations "$S/annotations.json" --write-df "$TMP/df.json" 2> /dev/null || fail "--write-df exit $?"
df_cider=$("$VLKIT" score --task caption --annotations "$S/annotations.json" --results "$S/results.json" --metrics cider \
    --df "$TMP/df.json" --json | $FLAT | awk -F'\t' '$1 == "CIDEr" { printf "%.6f", $2 }')
# df over ALL annotated images equals the default here (every image has a result)
[ "$df_cider" = "$want_cider" ] || fail "--df table of the same references: CIDEr $df_cider, want $want_cider"

# ---- VQA: every set ----------------------------------------------------------------------------
n_vqa=0
for dir in "$FIX"/vqa/*/; do
    set_name=$(basename "$dir")
    [ -f "$dir/expected.json" ] || continue
    n_vqa=$((n_vqa + 1))
    $FLAT "$dir/expected.json" | awk -F'\t' '
        $1 == "overall" || $1 ~ /^(perAnswerType|perQuestionType|per_question)\// { print $1 "\t" $2 "\t" 1e-9 }
        $1 ~ /^unrounded\// { print $1 "\t" $2 "\t" 1e-6 }
    ' > "$TMP/$set_name.want"
    if "$VLKIT" score --task vqa --questions "$dir/questions.json" --annotations "$dir/annotations.json" \
        --results "$dir/results.json" --per-question --json > "$TMP/$set_name.json" 2> "$TMP/err"; then
        $FLAT "$TMP/$set_name.json" > "$TMP/$set_name.flat"
        compare "$TMP/$set_name.want" "$TMP/$set_name.flat" "vqa $set_name" || fail "vqa $set_name values"
    else
        fail "vqa $set_name: exit $? ($(cat "$TMP/err"))"
    fi
    out=$("$VLKIT" score --task vqa --questions "$dir/questions.json" --annotations "$dir/annotations.json" \
        --results "$dir/results.json")
    overall=$($FLAT "$dir/expected.json" | awk -F'\t' '$1 == "overall" { printf "%.2f", $2 }')
    grep -q "^Overall Accuracy is: $overall\$" <<< "$out" || fail "vqa $set_name table: want Overall Accuracy is: $overall"
done
[ $n_vqa -ge 1 ] || fail "no VQA fixture set found"

# ---- errors: exit status and a message naming the file and the problem --------------------------
expect_error() { # expect_error STATUS NEEDLE -- args...
    local want=$1 needle=$2
    shift 3
    "$VLKIT" score "$@" > "$TMP/out" 2> "$TMP/err"
    local rc=$?
    [ $rc -eq "$want" ] || fail "score $*: exit $rc, expected $want"
    grep -q -- "$needle" "$TMP/err" || fail "score $*: stderr lacks '$needle': $(cat "$TMP/err")"
}
printf '[{"image_id": 1, "caption": "a dog"' > "$TMP/broken.json"
printf '[{"image_id": "%s", "caption": "a dog"}]' 391895 > "$TMP/strid.json"
printf '' > "$TMP/empty.json"
printf '[{"image_id": 42, "caption": "a dog"}]' > "$TMP/unknown.json"
expect_error 1 "broken.json: not valid JSON" -- --task caption --annotations "$S/annotations.json" --results "$TMP/broken.json"
expect_error 1 "strid.json: record 0: \"image_id\" is the string" -- --task caption --annotations "$S/annotations.json" --results "$TMP/strid.json"
expect_error 1 "empty.json: file is empty" -- --task caption --annotations "$S/annotations.json" --results "$TMP/empty.json"
expect_error 1 "image_id 42 is not in the annotations" -- --task caption --annotations "$S/annotations.json" --results "$TMP/unknown.json"
expect_error 1 "cannot open" -- --task caption --annotations "$TMP/nope.json" --results "$TMP/unknown.json"
expect_error 2 "unknown metric 'bleu5'" -- --task caption --annotations "$S/annotations.json" --results "$S/results.json" --metrics bleu5
expect_error 2 "meteor is not available" -- --task caption --annotations "$S/annotations.json" --results "$S/results.json" --metrics meteor
expect_error 2 "--task must be caption or vqa" -- --task retrieval
expect_error 2 "needs --questions" -- --task vqa --annotations "$S/annotations.json" --results "$S/results.json"
"$VLKIT" score --help > "$TMP/help" || fail "--help exit $?"
grep -q -- "--per-image" "$TMP/help" || fail "--help lacks --per-image"
# images without a result: a warning, and only the others are scored
head -c 200 "$S/results.json" > /dev/null
first=$($FLAT "$S/results.json" | awk -F'\t' '$1 == "0/image_id" { id = $2 } $1 == "0/caption" { c = $2 } END { printf "[{\"image_id\": %s, \"caption\": \"%s\"}]", id, c }')
echo "$first" > "$TMP/one.json"
"$VLKIT" score --task caption --annotations "$S/annotations.json" --results "$TMP/one.json" --json > "$TMP/out" 2> "$TMP/err" ||
    fail "one result: exit $?"
grep -q "warning: 9 annotated images" "$TMP/err" || fail "missing-results warning: $(cat "$TMP/err")"

if [ $failures -ne 0 ]; then
    echo "test_score.sh: $failures failure(s)" >&2
    exit 1
fi
echo "test_score.sh: $n_corpora caption corpora x 2 modes, $n_vqa VQA set(s), errors: all passed"
