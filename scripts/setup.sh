#!/usr/bin/env bash
# Quickstart: install what is missing, build (Release), and run two demo jobs
# through the trainer:
#  1. an MLP on Fashion-MNIST (Debian's dataset-fashion-mnist), printing
#     progress and test accuracy (runs/fmnist-mlp);
#  2. MCLRec on MovieLens-100k (the example files of the `recbole` wheel,
#     fetched by scripts/fetch-ml100k.sh into ~/.cache/unizoo/ml-100k), a few
#     minutes of training, its test metrics, then the top-5 movies of a few
#     users by title from `unizoo recommend` (runs/mclrec-ml100k).
# Extra arguments go to the first `unizoo train` (e.g. --set train.steps=500);
# `build/unizoo zoo` lists the other models.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
build/unizoo train fmnist-mlp "$@"

ml100k="$(scripts/fetch-ml100k.sh)"
rm -rf runs/mclrec-ml100k
build/unizoo train mclrec-ml100k --set model.data="$ml100k" --out runs/mclrec-ml100k \
  --progress lines
echo "test metrics of the best checkpoint:"
build/unizoo eval runs/mclrec-ml100k --set model.eval_valid=false
build/unizoo recommend --ckpt runs/mclrec-ml100k --topk 5 --out runs/mclrec-ml100k/top5.tsv
echo "top-5 of the first three users (runs/mclrec-ml100k/top5.tsv has all of them):"
head -n 16 runs/mclrec-ml100k/top5.tsv
