#!/usr/bin/env bash
# Quickstart: install what is missing, build (Release), and run the demo job:
# an MLP trained on Fashion-MNIST (Debian's dataset-fashion-mnist) through the
# trainer, printing progress and test accuracy; metrics.jsonl, loss.svg and the
# checkpoint go to runs/fmnist-mlp. Extra arguments go to `unizoo train`
# (e.g. --set train.steps=500 --out DIR); `build/unizoo zoo` lists the other models.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
build/unizoo train fmnist-mlp "$@"
