#!/usr/bin/env bash
# test_plot.sh — `vlkit plot`: default and --out destinations, a metrics file named directly,
# the warning for malformed lines, exit codes (0 ok, 1 bad input, 2 usage), no file left behind
# on failure. Run from the project root (make check-cli sets VLKIT_BIN).
set -u
VLKIT=${VLKIT_BIN:-${VLKIT:-build/vlkit}}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vlkit-plot-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
check_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"; }
[ -x "$VLKIT" ] || { echo "FAIL: $VLKIT not built" >&2; exit 1; }

# points in the polyline of one series
points() { grep -o "<polyline data-series=\"$2\"[^>]*points=\"[^\"]*\"" "$1" | sed 's/.*points="//; s/"$//' | wc -w; }

# ---- a run folder: 12 training lines, 3 eval lines, one half-written last line ---------------------
RUN=$TMP/run
mkdir -p "$RUN"
for s in $(seq 10 10 120); do
    echo "{\"step\": $s, \"loss\": $(awk "BEGIN{print 3 - $s/100}"), \"lr\": 0.0001, \"grad_norm\": 1, \"samples_per_s\": 9}"
    [ $((s % 40)) -eq 0 ] && echo "{\"step\": $s, \"eval\": {\"val_loss\": 2, \"CIDEr\": 0.$s}}"
done > "$RUN/metrics.jsonl"
printf '{"step": 130, "loss": 1.' >> "$RUN/metrics.jsonl"

out=$("$VLKIT" plot "$RUN" 2> "$TMP/err"); rc=$?
check_eq "plot RUN exit" "$rc" 0
[ -s "$RUN/curves.svg" ] || fail "default output RUN/curves.svg missing"
check_eq "stdout" "$out" "wrote $RUN/curves.svg: loss 12 points, lr 12, val_loss 3, CIDEr 3"
grep -q "warning: $RUN/metrics.jsonl: skipped 1 malformed line of 16 (first: line 16)" "$TMP/err" ||
    fail "malformed-line warning: $(cat "$TMP/err")"
check_eq "svg starts" "$(head -c 4 "$RUN/curves.svg")" "<svg"
check_eq "svg ends" "$(tail -n 1 "$RUN/curves.svg")" "</svg>"
check_eq "loss points" "$(points "$RUN/curves.svg" loss)" 12
check_eq "lr points" "$(points "$RUN/curves.svg" "learning rate")" 12
check_eq "CIDEr points" "$(points "$RUN/curves.svg" CIDEr)" 3
grep -q "<title>run</title>" "$RUN/curves.svg" || fail "default title is the run folder's name"
if command -v xmllint > /dev/null; then
    xmllint --noout "$RUN/curves.svg" 2> /dev/null || fail "curves.svg is not well-formed XML"
fi
ls -a "$RUN" | grep -q '\.tmp\.' && fail "temporary file left in $RUN"

# ---- --out, --title, --smooth, and the metrics file named directly ---------------------------------
"$VLKIT" plot "$RUN/metrics.jsonl" --out "$TMP/x.svg" --title "A & B" --smooth 0 > /dev/null 2>&1
check_eq "plot FILE --out exit" "$?" 0
[ -s "$TMP/x.svg" ] || fail "--out file missing"
grep -q "<title>A &amp; B</title>" "$TMP/x.svg" || fail "--title not used (escaped)"
grep -q 'data-series="loss (EMA' "$TMP/x.svg" && fail "--smooth 0 still drew an EMA line"

# ---- errors: exit status, one clear line, nothing written ------------------------------------------
EMPTY=$TMP/empty
mkdir -p "$EMPTY"
: > "$EMPTY/metrics.jsonl"
err=$("$VLKIT" plot "$EMPTY" 2>&1 > /dev/null); rc=$?
check_eq "empty metrics exit" "$rc" 1
check_eq "empty metrics message" "$err" "vlkit: error: $EMPTY/metrics.jsonl: empty: no metrics logged yet"
[ -e "$EMPTY/curves.svg" ] && fail "an SVG was written for an empty file"

err=$("$VLKIT" plot "$TMP/nope" 2>&1 > /dev/null); rc=$?
check_eq "missing run exit" "$rc" 1
grep -q "$TMP/nope" <<< "$err" || fail "missing run: message lacks the path: $err"

mkdir -p "$TMP/norun"
err=$("$VLKIT" plot "$TMP/norun" 2>&1 > /dev/null); rc=$?
check_eq "folder without metrics exit" "$rc" 1
grep -q "norun/metrics.jsonl: cannot open" <<< "$err" || fail "folder without metrics: $err"

"$VLKIT" plot > /dev/null 2>&1
check_eq "no RUN_DIR exit" "$?" 2
"$VLKIT" plot "$RUN" --smooth 1.5 > /dev/null 2>&1
check_eq "--smooth 1.5 exit" "$?" 2
"$VLKIT" plot "$RUN" --bogus > /dev/null 2>&1
check_eq "unknown option exit" "$?" 2
"$VLKIT" plot --help | grep -q "usage: vlkit plot" || fail "--help"
"$VLKIT" --help | grep -q "^  plot " || fail "plot missing from vlkit --help"

if [ $failures -ne 0 ]; then
    echo "test_plot.sh: $failures failure(s)" >&2
    exit 1
fi
echo "test_plot.sh: ok"
