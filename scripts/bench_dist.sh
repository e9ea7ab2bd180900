#!/usr/bin/env bash
# bench_dist.sh — data-parallel training on this machine (not a test). Runs the BLIP-base LoRA
# recipe (configs/caption-lora-base.json: r=16 on query,value, bf16) for a few steps on synthetic
# 384x384 images, batch 2 per rank, and prints from metrics.jsonl:
#   - the all-reduce of the LoRA gradients per step with 2 ranks: bytes, seconds, share of the step;
#   - samples/s with one process at one thread vs --nproc 2 at one thread per rank (the speed-up
#     is bounded by this machine's 2 cores and its memory bandwidth).
# Steps after the first are averaged (the first pays for oneDNN's set-up and the first images).
#   bash scripts/bench_dist.sh   (from the project root; VLKIT, VLKIT_BENCH_MODEL=DIR optional)
set -euo pipefail
VLKIT=${VLKIT:-build/vlkit}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vlkit-bench-dist-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
MODEL=${VLKIT_BENCH_MODEL:-}
if [ -z "$MODEL" ]; then
    MODEL=$TMP/blip-base
    "$VLKIT" init --config configs/blip-base.json --out "$MODEL" >/dev/null
fi
"$VLKIT" synth --out "$TMP/data" --train 64 --val 2 --test 2 --size 384 >/dev/null
STEPS=${BENCH_DIST_STEPS:-5}
common=(--quiet --set "model=$MODEL" --set "train.path=$TMP/data/train.jsonl" --set "train.format=auto"
        --set train.image_root=null --set val.path=null --set max_steps=$STEPS --set epochs=null --set batch_size=2
        --set grad_accum=1 --set save.every_steps=0 --set data.workers=1)
"$VLKIT" train configs/caption-lora-base.json "${common[@]}" --set threads=1 --set "output_dir=$TMP/one"
"$VLKIT" train configs/caption-lora-base.json "${common[@]}" --nproc 2 --set threads=2 --set "output_dir=$TMP/two"

# mean of KEY over steps 2..N of a metrics file (training lines only)
mean() { grep '"step_s"' "$1" | tail -n +2 | grep -o "\"$2\": [0-9.e+-]*" | awk '{s += $2; n++} END {printf "%.6g", n ? s / n : 0}'; }
one_step=$(mean "$TMP/one/metrics.jsonl" step_s)
two_step=$(mean "$TMP/two/metrics.jsonl" step_s)
comm=$(mean "$TMP/two/metrics.jsonl" comm_s)
bytes=$(grep -o '"allreduce_bytes": [0-9]*' "$TMP/two/metrics.jsonl" | head -1 | awk '{print $2}')
awk -v o="$one_step" -v t="$two_step" -v c="$comm" -v b="$bytes" 'BEGIN {
    printf "data-parallel (BLIP-base, LoRA r=16 query,value, bf16, batch 2 per rank, 384 px, steps 2..N):\n"
    printf "  all-reduce of the LoRA gradients: %.2f MB per step, %.4f s (%.1f%% of a %.3f s step) with 2 ranks\n", b / 1e6, c, 100 * c / t, t
    printf "  --nproc 1, 1 thread : %.3f s per step, %.2f samples/s\n", o, 2 / o
    printf "  --nproc 2, 1 thread each: %.3f s per step, %.2f samples/s (x%.2f)\n", t, 4 / t, (4 / t) / (2 / o)
}'
