#!/usr/bin/env bash
# fuzz.sh — run the libFuzzer targets (build/fuzz/fuzz_*) for a fixed time each.
#
#   bash scripts/fuzz.sh SECONDS TARGET...     (make fuzz / make check call it)
#
# Seed corpora are assembled from the fixtures ($VLKIT_FIXTURES) at run time into
# build/fuzz/seeds/<name> (the fixtures are never copied into the repository); what a run finds
# is kept in build/fuzz/corpus/<name> and grows from run to run. Targets run two at a time
# (FUZZ_JOBS). A crash leaves its input in build/fuzz/crashes/ and fails the run.
set -uo pipefail
SECONDS_EACH=${1:?usage: fuzz.sh SECONDS TARGET...}
shift
FIX=${VLKIT_FIXTURES:-../shared/fixtures}
OUT=$(dirname "${1:-build/fuzz/x}")
JOBS=${FUZZ_JOBS:-2}
mkdir -p "$OUT/seeds" "$OUT/corpus" "$OUT/crashes" "$OUT/logs"

# seeds NAME: fill $OUT/seeds/NAME from the fixtures (small files only: big seeds slow every run).
seeds() {
    local d="$OUT/seeds/$1" f i
    rm -rf "$d" && mkdir -p "$d"
    case "$1" in
    fuzz_caption_ann)
        for f in "$FIX"/eval/captions/*/annotations*.json; do [ "$(stat -c %s "$f")" -lt 20000 ] && cp "$f" "$d/${f//\//_}"; done
        # the JSON-lines and Karpathy shapes, built from the small corpus
        jq -c '.annotations[] | {image_id, caption}' "$FIX/eval/captions/small/annotations.json" > "$d/records.jsonl"
        jq -c '[.annotations[] | {image: ("val2014/COCO_val2014_" + (.image_id|tostring) + ".jpg"), caption}]' \
            "$FIX/eval/captions/small/annotations.json" > "$d/records_image.json"
        jq -c '{images: [.annotations | group_by(.image_id)[] | {cocoid: .[0].image_id, sentences: [.[] | {raw: .caption}]}]}' \
            "$FIX/eval/captions/small/annotations.json" > "$d/karpathy.json" ;;
    fuzz_caption_dataset)
        # first byte: the options (0 = auto-detect, skip); then each format's shape
        printf '\0{"image": "imgs/COCO_val2014_000000000042.jpg", "caption": "a cat"}\n{"file_name": "b_7.png", "text": ["x", "y"], "image_id": "coco_7"}\n' > "$d/jsonl"
        printf '\0[{"image": "val2014/a_1.jpg", "caption": ["a dog", "two dogs"]}, {"image": "b.jpg", "caption": "c", "image_id": 3}]' > "$d/blip"
        printf '\0{"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}], "annotations": [{"image_id": 1, "caption": "a"}, {"image_id": 2, "caption": "b"}]}' > "$d/coco"
        printf '\x10{"images": [{"filepath": "val2014", "filename": "a_1.jpg", "split": "train", "cocoid": 1, "sentences": [{"raw": "a"}]}, {"filename": "b.jpg", "split": "test", "imgid": 2, "sentences": [{"raw": "b"}]}]}' > "$d/karpathy" ;;
    fuzz_caption_res)
        for f in "$FIX"/eval/captions/*/results*.json; do [ "$(stat -c %s "$f")" -lt 20000 ] && cp "$f" "$d/${f//\//_}"; done
        printf '[{"image_id":1,"caption":"A dog runs."},{"image_id":2,"caption":"a cat (sleeping)"},{"image_id":3,"caption":"two men"}]' > "$d/own.json" ;;
    fuzz_vqa)
        V="$FIX/eval/vqa/vqa_small"
        { printf '\0'; jq -c '.questions |= .[:5]' "$V/questions.json"; } > "$d/q"
        { printf '\1'; jq -c '.annotations |= .[:5]' "$V/annotations.json"; } > "$d/a"
        { printf '\2'; printf '[{"question_id":1,"answer":"the dog"},{"question_id":2,"answer":"two"}]'; } > "$d/r" ;;
    fuzz_ptb)
        i=0
        jq -r '.cases[].raw' "$FIX/eval/tokenizer/ptb_cases.json" | while IFS= read -r line; do
            printf '%s' "$line" > "$d/case$((i++))"
        done ;;
    fuzz_wordpiece)
        i=0
        jq -r '.cases[].text' "$FIX/blip-tiny/tokenizer/expected.json" | while IFS= read -r line; do
            printf '%s' "$line" > "$d/case$((i++))"
        done ;;
    fuzz_json_scan)
        for f in "$FIX"/eval/captions/*/*.json "$FIX"/blip-tiny/*/*.json "$FIX"/blip-tiny/*/*/*.json; do
            [ "$(stat -c %s "$f")" -lt 20000 ] && cp "$f" "$d/$(echo "$f" | tr / _)"
        done
        printf '{"a\\u00e9\\ud83d\\ude00":[1,-0.5e+3,true,false,null,"x\\"y",{}],"":[]}' > "$d/escapes.json" ;;
    fuzz_df)
        printf '{"format":"vlkit-cider-df-1","n_images":3,"ref_len":1.0986,"document_frequency":{"a":3,"a dog":2,"dog runs on":1}}' > "$d/df.json"
        printf '{"n_images":2,"document_frequency":{"the":2}}' > "$d/df2.json" ;;
    fuzz_safetensors)
        find "$FIX/blip-tiny" -name '*.safetensors' -size -300k -exec sh -c 'cp "$1" "$2/$(echo "$1" | tr / _)"' _ {} "$d" \; ;;
    fuzz_torchbin)
        cp "$FIX/blip-tiny/captioning/model-bin/pytorch_model.bin" "$d/" ;;
    fuzz_pickle)
        unzip -p "$FIX/blip-tiny/captioning/model-bin/pytorch_model.bin" '*/data.pkl' > "$d/data.pkl" ;;
    fuzz_preprocess)
        cp "$FIX/blip-tiny/captioning/model/preprocessor_config.json" "$d/"
        printf '{"size":16,"do_resize":true,"resample":3,"image_mean":[0.5,0.5,0.5],"image_std":[0.5,0.5,0.5]}' > "$d/small.json"
        printf '{"image_size":8,"rescale_factor":0.5}' > "$d/old.json" ;;
    fuzz_image)
        cp "$FIX"/blip-tiny/preprocess/images/* "$d/" ;;
    esac
}

run_one() {
    local t=$1 name
    name=$(basename "$t")
    seeds "$name"
    mkdir -p "$OUT/corpus/$name"
    if "$t" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$OUT/crashes/$name-" -print_final_stats=1 \
        "$OUT/corpus/$name" "$OUT/seeds/$name" > "$OUT/logs/$name.log" 2>&1; then
        echo "fuzz: $name: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/logs/$name.log" | grep -o '[0-9]*$') inputs in ${SECONDS_EACH} s, no crash"
    else
        echo "fuzz: $name: FAILED — log $OUT/logs/$name.log, input in $OUT/crashes/:" >&2
        grep -m 3 -E 'ERROR|SUMMARY|runtime error' "$OUT/logs/$name.log" >&2
        return 1
    fi
}
export -f run_one seeds
export OUT FIX SECONDS_EACH

printf '%s\n' "$@" | xargs -P "$JOBS" -I{} bash -c 'run_one {}'
