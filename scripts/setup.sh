#!/usr/bin/env bash
# Quickstart: install what is missing, build (Release), and run three demo
# jobs through the trainer:
#  1. an MLP on Fashion-MNIST (Debian's dataset-fashion-mnist), printing
#     progress and test accuracy (runs/fmnist-mlp);
#  2. MCLRec on MovieLens-100k (the example files of the `recbole` wheel,
#     fetched by scripts/fetch-ml100k.sh into ~/.cache/unizoo/ml-100k), a few
#     minutes of training, its test metrics, then the top-5 movies of a few
#     users by title from `unizoo recommend` (runs/mclrec-ml100k);
#  3. the generalist: scenes composed from Fashion-MNIST (`unizoo data
#     scenes`), a SentencePiece tokenizer over their captions, the default
#     four-task config (about 27 minutes on 2 free cores; runs/generalist), then
#     a test scene captioned and detected by `unizoo infer` (boxes drawn to
#     runs/generalist/scene.png).
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

scenes="$HOME/.cache/unizoo/scenes"
if [[ ! -f "$scenes/tokenizer.model" ]]; then
  build/unizoo data scenes --out "$scenes" --n 10000 --seed 1
  build/unizoo text train-tokenizer --out "$scenes/tokenizer" --vocab 512 \
    --captions "$scenes/train/captions.json" --classes fashion-mnist --model-type bpe
fi
rm -rf runs/generalist
OMP_WAIT_POLICY=passive build/unizoo train generalist --out runs/generalist --progress lines
scene="$scenes/test/images/000001.jpg"
build/unizoo infer --ckpt runs/generalist --task caption --image "$scene"
build/unizoo infer --ckpt runs/generalist --task detect --image "$scene" \
  --draw runs/generalist/scene.png
