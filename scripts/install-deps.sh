#!/usr/bin/env bash
# Installs the Debian packages unizoo builds and runs with, when missing.
# --reference also installs PyTorch (CPU) for the reference scripts and benchmarks.
set -euo pipefail
pkgs=(cmake make gcc g++ pkg-config zlib1g-dev libopenblas-openmp-dev libcjson-dev
      libturbojpeg0-dev libstb-dev libsentencepiece-dev sentencepiece libopenmpi-dev openmpi-bin check libsubunit-dev
      dataset-fashion-mnist)
if [[ "${1:-}" == "--reference" ]]; then
  pkgs+=(python3-torch python3-numpy libopenblas0)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
