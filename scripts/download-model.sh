#!/usr/bin/env bash
# Download a Hugging Face hub model folder (the files vlkit reads) with curl.
#
#   scripts/download-model.sh Salesforce/blip-image-captioning-base models/blip-image-captioning-base
#
# Environment: HF_TOKEN (for gated/private repos), HF_ENDPOINT (a mirror; default https://huggingface.co),
# REVISION (branch, tag or commit; default main). Each file is fetched to a temporary name and
# renamed when complete, so an interrupted run never leaves a truncated file; rerunning skips
# files already present.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 MODEL_ID DIR   (e.g. $0 Salesforce/blip-image-captioning-base models/blip-base)" >&2
    exit 2
fi
model=$1
dir=$2
endpoint=${HF_ENDPOINT:-https://huggingface.co}
revision=${REVISION:-main}
command -v curl >/dev/null || { echo "error: curl is not installed (apt-get install curl)" >&2; exit 1; }
mkdir -p "$dir"

auth=()
[ -n "${HF_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $HF_TOKEN")

# fetch FILE [optional]: returns 0 when the file is there afterwards
fetch() {
    local file=$1 optional=${2:-}
    local dest="$dir/$file" tmp="$dir/.$file.part"
    if [ -s "$dest" ]; then echo "have  $dest"; return 0; fi
    local url="$endpoint/$model/resolve/$revision/$file"
    local code
    code=$(curl -sS -L --retry 3 --fail-with-body -C - "${auth[@]}" -o "$tmp" -w '%{http_code}' "$url" 2>/dev/null) || true
    if [ "$code" = "200" ] || [ "$code" = "206" ]; then
        mv -f "$tmp" "$dest"
        echo "got   $dest ($(stat -c %s "$dest") bytes)"
        return 0
    fi
    rm -f "$tmp"
    if [ -n "$optional" ]; then return 1; fi
    echo "error: $url: HTTP ${code:-failure}" >&2
    [ "$code" = "401" ] || [ "$code" = "403" ] && echo "hint: set HF_TOKEN for gated or private models" >&2
    exit 1
}

fetch config.json
fetch preprocessor_config.json
# weights: safetensors when the repo has it, else the older pytorch_model.bin
if ! fetch model.safetensors optional; then
    if ! fetch model.safetensors.index.json optional; then
        fetch pytorch_model.bin
    else
        # sharded: every shard named in the index
        for shard in $(grep -o '"[^"]*\.safetensors"' "$dir/model.safetensors.index.json" | tr -d '"' | sort -u); do
            fetch "$shard"
        done
    fi
fi
# tokenizer: vocab.txt (or tokenizer.json) and the configs around it
fetch vocab.txt optional || fetch tokenizer.json
for f in tokenizer_config.json special_tokens_map.json added_tokens.json generation_config.json; do
    fetch "$f" optional || true
done
echo "done: $dir (check it with: build/vlkit inspect $dir)"
