#!/usr/bin/env bash
# test_inspect.sh — `vlkit inspect` on both fixture formats, folders, a sharded index, and errors.
# Run from the project root (make check-cli). Every expected number is derived here from the
# fixture files themselves (expected.json, config.json, the safetensors header and file size),
# never from vlkit's own output; the two formats are also compared row by row.
set -u
VLKIT=${VLKIT:-build/vlkit}
FIX=${VLKIT_FIXTURES:-../shared/fixtures}/blip-tiny
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vlkit-inspect-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
check_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"; }

ST=$FIX/captioning/model/model.safetensors
BIN=$FIX/captioning/model-bin/pytorch_model.bin
[ -x "$VLKIT" ] || { echo "FAIL: $VLKIT not built" >&2; exit 1; }
[ -f "$ST" ] && [ -f "$BIN" ] || { echo "FAIL: fixtures not found under $FIX" >&2; exit 1; }

# "total    N tensors, P parameters (...), B bytes (...)" -> "N P B"
totals() { sed -n 's/^total *\([0-9]*\) tensors, \([0-9]*\) parameters.*, \([0-9]*\) bytes.*/\1 \2 \3/p'; }
# The table rows (name dtype shape bytes) without the header: lines between the blank lines.
rows() { awk '/^$/{blank++; next} blank==1 && !/^name /' ; }
# Flatten a JSON file to one line, for grepping values that span lines.
flat() { tr -d '\n\t ' < "$1"; }

# ---- safetensors file: counts from expected.json and the file's own header --------------------------
n_saved=$(flat "$FIX/captioning/expected.json" | grep -o '"num_saved_tensors":[0-9]*' | head -1 | cut -d: -f2)
hlen=$(od -An -t u8 -N 8 "$ST" | tr -d ' ')
fsize=$(stat -c %s "$ST")
data_bytes=$((fsize - 8 - hlen))
dtypes=$(head -c $((8 + hlen)) "$ST" | tail -c "$hlen" | grep -o '"dtype":"[A-Z0-9_]*"' | sort -u | tr -d '\n')
check_eq "fixture dtypes (the parameter count below assumes F32)" "$dtypes" '"dtype":"F32"'
st_out=$("$VLKIT" inspect "$ST") || fail "inspect $ST exited $?"
check_eq "safetensors totals" "$(totals <<< "$st_out")" "$n_saved $((data_bytes / 4)) $data_bytes"
check_eq "safetensors table rows" "$(rows <<< "$st_out" | wc -l)" "$n_saved"
grep -q "^weights  model.safetensors: safetensors, metadata format=pt$" <<< "$st_out" || fail "safetensors weights line"

# ---- pytorch_model.bin: the same tensors plus the keys save_pretrained leaves out of safetensors -----
extra=$(flat "$FIX/captioning/expected.json" | grep -o '"state_dict_keys_not_saved":\[[^]]*\]' | head -1 |
        sed 's/.*\[//; s/\]//; s/"//g' | tr ',' '\n' | grep -c .)
vocab=$(flat "$FIX/captioning/model-bin/config.json" | grep -o '"vocab_size":[0-9]*' | head -1 | cut -d: -f2)
bin_out=$("$VLKIT" inspect "$BIN") || fail "inspect $BIN exited $?"
# The extra key is the LM-head decoder bias: one [vocab] F32 tensor (see the fixture README).
check_eq "pytorch_model.bin totals" "$(totals <<< "$bin_out")" \
    "$((n_saved + extra)) $((data_bytes / 4 + vocab)) $((data_bytes + 4 * vocab))"
grep -q "^weights  pytorch_model.bin: pytorch$" <<< "$bin_out" || fail "pytorch weights line"
# Row for row, the bin lists every safetensors tensor with the same dtype, shape and bytes.
missing=$(comm -23 <(rows <<< "$st_out" | sort) <(rows <<< "$bin_out" | sort))
check_eq "safetensors rows missing from the bin listing" "$missing" ""
only_bin=$(comm -13 <(rows <<< "$st_out" | sort) <(rows <<< "$bin_out" | sort) | awk '{print $1, $2, $3}')
check_eq "rows only in the bin" "$only_bin" "text_decoder.cls.predictions.decoder.bias F32 [$vocab]"

# ---- model folder: config summary --------------------------------------------------------------------
dir_out=$("$VLKIT" inspect "$FIX/captioning/model") || fail "inspect folder exited $?"
arch=$(flat "$FIX/captioning/model/config.json" | grep -o '"architectures":\["[A-Za-z]*"' | sed 's/.*\["//; s/"//')
grep -q "^model    blip, $arch " <<< "$dir_out" || fail "folder: model line lacks blip, $arch"
vh=$(flat "$FIX/captioning/model/config.json" | grep -o '"vision_config":{[^}]*}' | grep -o '"hidden_size":[0-9]*' | cut -d: -f2)
vl=$(flat "$FIX/captioning/model/config.json" | grep -o '"vision_config":{[^}]*}' | grep -o '"num_hidden_layers":[0-9]*' | cut -d: -f2)
grep -q "^vision   hidden $vh, layers $vl," <<< "$dir_out" || fail "folder: vision line (hidden $vh, layers $vl)"
grep -q "^text     .*vocab $vocab," <<< "$dir_out" || fail "folder: text line lacks vocab $vocab"
check_eq "folder totals = file totals" "$(totals <<< "$dir_out")" "$(totals <<< "$st_out")"
bindir_out=$("$VLKIT" inspect --no-tensors "$FIX/captioning/model-bin") || fail "inspect model-bin folder exited $?"
check_eq "model-bin folder totals" "$(totals <<< "$bindir_out")" "$(totals <<< "$bin_out")"
check_eq "--no-tensors prints no table" "$(rows <<< "$bindir_out" | wc -l)" "0"

# ---- adapter folder ----------------------------------------------------------------------------------
AD=$FIX/captioning/lora/adapter
r=$(flat "$AD/adapter_config.json" | grep -o '"r":[0-9]*' | cut -d: -f2)
alpha=$(flat "$AD/adapter_config.json" | grep -o '"lora_alpha":[0-9]*' | cut -d: -f2)
ahlen=$(od -An -t u8 -N 8 "$AD/adapter_model.safetensors" | tr -d ' ')
header_of() { head -c $((8 + $2)) "$1" | tail -c "$2"; } # file, header length
n_lora=$(header_of "$AD/adapter_model.safetensors" "$ahlen" | grep -o '"data_offsets"' | wc -l)
ad_out=$("$VLKIT" inspect "$AD") || fail "inspect adapter exited $?"
grep -q "^adapter  LORA, r $r, lora_alpha $alpha (scaling $((alpha / r))), " <<< "$ad_out" || fail "adapter line (r $r, alpha $alpha)"
grep -q '^base     \.\./model$' <<< "$ad_out" || fail "adapter base line"
check_eq "adapter tensor count" "$(totals <<< "$ad_out" | cut -d' ' -f1)" "$n_lora"

# ---- --json --------------------------------------------------------------------------------------------
json=$("$VLKIT" inspect --json "$ST" | tr -d '\n\t ') || fail "inspect --json exited $?"
grep -q "\"totals\":{\"tensors\":$n_saved,\"parameters\":$((data_bytes / 4)),\"bytes\":$data_bytes}" <<< "$json" ||
    fail "--json totals"
check_eq "--json tensor entries" "$(grep -o '"name":' <<< "$json" | wc -l)" "$n_saved"

# ---- sharded index: two shards, every tensor mapped to its file -------------------------------------------
mkdir -p "$TMP/sharded"
cp "$ST" "$TMP/sharded/model-00001-of-00002.safetensors"
cp "$AD/adapter_model.safetensors" "$TMP/sharded/model-00002-of-00002.safetensors"
names1=$(flat "$FIX/captioning/expected.json" | grep -o '"grad\.[^"]*"' | sed 's/"grad\.//; s/"$//')
names2=$(header_of "$AD/adapter_model.safetensors" "$ahlen" | grep -o '"base_model[^"]*"' | tr -d '"')
{
    echo '{"metadata": {}, "weight_map": {'
    for n in $names1; do echo "\"$n\": \"model-00001-of-00002.safetensors\","; done
    for n in $names2; do echo "\"$n\": \"model-00002-of-00002.safetensors\","; done
} | sed '$ s/,$//' > "$TMP/sharded/model.safetensors.index.json"
echo '}}' >> "$TMP/sharded/model.safetensors.index.json"
sh_out=$("$VLKIT" inspect "$TMP/sharded") || fail "inspect sharded exited $?"
set -- $(totals <<< "$st_out")
st_n=$1 st_p=$2 st_b=$3
set -- $(totals <<< "$ad_out")
check_eq "sharded totals" "$(totals <<< "$sh_out")" "$((st_n + $1)) $((st_p + $2)) $((st_b + $3))"
check_eq "shard files read" "$(grep -c '^weights  model-0000[12]-of-00002.safetensors: safetensors' <<< "$sh_out")" "2"
# A tensor mapped to the wrong shard is an error naming it.
sed 's/"vision_model.post_layernorm.bias": "model-00001/"vision_model.post_layernorm.bias": "model-00002/' \
    "$TMP/sharded/model.safetensors.index.json" > "$TMP/sharded/x" && mv "$TMP/sharded/x" "$TMP/sharded/model.safetensors.index.json"
err=$("$VLKIT" inspect "$TMP/sharded" 2>&1 >/dev/null); rc=$?
check_eq "wrong shard exit status" "$rc" "1"
grep -q "vision_model.post_layernorm.bias" <<< "$err" || fail "wrong-shard error does not name the tensor: $err"

# ---- errors: exit 1 and exactly one clear line on stderr ----------------------------------------------------
expect_error() { # label, expected exit status, fragment the message must contain, command...
    local label=$1 want_rc=$2 frag=$3
    shift 3
    local out err rc
    out=$("$@" 2>"$TMP/err"); rc=$?
    err=$(cat "$TMP/err")
    check_eq "$label: exit status" "$rc" "$want_rc"
    check_eq "$label: stdout" "$out" ""
    if [ "$want_rc" = 1 ]; then
        check_eq "$label: stderr lines" "$(wc -l < "$TMP/err")" "1"
        [[ $err == "vlkit: error: "* ]] || fail "$label: stderr is not 'vlkit: error: ...': $err"
    fi
    grep -qF -- "$frag" <<< "$err" || fail "$label: message lacks '$frag': $err"
}
expect_error "missing file" 1 "$TMP/nope.safetensors" "$VLKIT" inspect "$TMP/nope.safetensors"
head -c 1000 "$ST" > "$TMP/cut.safetensors"
expect_error "truncated safetensors" 1 "$TMP/cut.safetensors" "$VLKIT" inspect "$TMP/cut.safetensors"
head -c 20000 "$BIN" > "$TMP/cut.bin"
expect_error "truncated pytorch_model.bin" 1 "$TMP/cut.bin" "$VLKIT" inspect "$TMP/cut.bin"
printf 'definitely not a tensor file' > "$TMP/garbage.safetensors"
expect_error "garbage file" 1 "$TMP/garbage.safetensors" "$VLKIT" inspect "$TMP/garbage.safetensors"
mkdir -p "$TMP/empty"
expect_error "empty folder" 1 "$TMP/empty" "$VLKIT" inspect "$TMP/empty"
expect_error "no argument" 2 "inspect" "$VLKIT" inspect
expect_error "unknown option" 2 "--bogus" "$VLKIT" inspect --bogus "$ST"
"$VLKIT" inspect --help | grep -q -- "--json" || fail "--help does not list --json"

if [ $failures -ne 0 ]; then
    echo "test_inspect.sh: $failures check(s) failed" >&2
    exit 1
fi
echo "test_inspect.sh: all checks passed"
