#!/usr/bin/env bash
# Install the Debian 12 packages vlkit needs, if any are missing. Idempotent: prints what it
# installs, and nothing but a one-line summary when everything is there.
set -euo pipefail

packages=(
    build-essential pkg-config
    libtorch-dev          # libtorch 1.13 (CPU) — the tensor library under shim/
    libopenblas0-openmp   # without it libtorch uses the reference BLAS: fp32 matmul ~20x slower
    libcjson-dev          # JSON (configs, safetensors headers, datasets, COCO/VQA files)
    libstb-dev            # stb_image (decode), stb_ds (hash maps, dynamic arrays)
    uthash-dev            # the caption scorers' word and n-gram maps (util/ht.h)
    zlib1g-dev            # .gz datasets, deflated entries in pytorch_model.bin
    libutf8proc-dev       # Unicode normalisation and categories (tokenizers)
    libcriterion-dev      # the test framework
    libgloo-dev           # headers of c10d's Gloo backend (data-parallel training; the library ships with libtorch)
    libdnnl-dev           # oneDNN headers: prepacked bf16 linears (the library is libtorch's own libdnnl.so.2)
    clang libclang-rt-14-dev  # libFuzzer targets (make fuzz; a short run in make check)
    jq unzip              # fuzz seed corpora, built from the fixtures at run time
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} required Debian packages are installed"
    exit 0
fi

echo "install-deps: installing missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=sudo
    else
        echo "install-deps: error: not root and no password-less sudo; run as root:" >&2
        echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
