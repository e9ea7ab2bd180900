#!/usr/bin/env bash
# The vlkit demo: everything under build/demo/, about 3-4 minutes on 2 cores.
#  1. a synthetic dataset: coloured shapes, captions "a small red circle on a blue background";
#  2. a small BLIP model made through the real HF-folder path (vlkit init), pre-trained here on
#     short captions ("red circle") of other images and merged into a model folder (vlkit export);
#  3. CIDEr of that model on the held-out test split, before fine-tuning;
#  4. LoRA fine-tuning on the long captions (vlkit train, configs/demo.json), evaluation during
#     training, the best adapter kept;
#  5. CIDEr on the test split after; merged export; a few test images captioned by the merged model.
set -euo pipefail
cd "$(dirname "$0")/.."
V=build/vlkit
D=build/demo
start=$(date +%s)
rm -rf "$D"
mkdir -p "$D"
step() { printf '\n== %s\n' "$*"; }

step "1. synthetic data"
$V synth --out $D/data --train 600 --val 60 --test 60 --style long --seed 1
$V synth --out $D/pretrain --train 1200 --val 0 --test 0 --style short --seed 2

step "2. a small BLIP (random init), pre-trained on short captions, merged"
$V init --config configs/demo-model.json --out $D/init --vocab $D/data/vocab.txt --seed 3
$V train configs/demo-pretrain.json
pre=$(ls -d $D/pretrain-run/checkpoint-* | sort -t- -k3 -n | tail -1)
$V export --model $D/init --adapter "$pre" --out $D/model

step "3. CIDEr on the test split before fine-tuning"
$V eval --model $D/model --data $D/data/test.jsonl --prompt "a picture of " --beams 3 --min-length 3 --json | tee $D/before.json

step "4. LoRA fine-tuning on the long captions (configs/demo.json)"
$V train configs/demo.json
$V plot $D/run --out $D/run/curves.svg || true

step "5. CIDEr after, merged export, captions"
$V eval --model $D/model --adapter $D/run/best --data $D/data/test.jsonl --prompt "a picture of " --beams 3 --min-length 3 --json \
    --out $D/test_results.json | tee $D/after.json
$V export --model $D/model --adapter $D/run/best --out $D/merged
$V caption --model $D/merged --prompt "a picture of " --beams 3 --min-length 3 $D/data/images/test_0000{0,1,2,3}.png | tee $D/captions.txt
echo
for i in 0 1 2 3; do
    printf '  reference: %s\n' "$(sed -n "$((i + 1))p" $D/data/test.jsonl | sed 's/.*"captions": \["\([^"]*\)".*/\1/')"
done

cider() { sed 's/.*"CIDEr": \([0-9.]*\).*/\1/' "$1"; }
before=$(cider $D/before.json)
after=$(cider $D/after.json)
printf '\n== summary\n'
printf '  test CIDEr-D before fine-tuning: %s\n' "$before"
printf '  test CIDEr-D after  fine-tuning: %s\n' "$after"
printf '  merged model: %s   adapter: %s/run/best   curves: %s/run/curves.svg\n' "$D/merged" "$D" "$D"
printf '  time: %d s\n' $(( $(date +%s) - start ))
awk -v b="$before" -v a="$after" 'BEGIN { if (a > b + 0.3) exit 0; print "demo: no clear improvement" > "/dev/stderr"; exit 1 }'
