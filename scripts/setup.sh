#!/usr/bin/env bash
# Quickstart: install what is missing, build (Release), and run the demo job:
# an MLP trained on Fashion-MNIST (Debian's dataset-fashion-mnist), printing test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
build/unizoo train fmnist-mlp "$@"
