#!/usr/bin/env bash
# Fetches RecBole's MovieLens-100k example files (ml-100k.inter, .item, .user,
# .kg, .link) from the `recbole` wheel on PyPI into a cache outside the repo
# and prints the directory. The wheel is only downloaded and unpacked: recbole
# is never installed or imported. Usage: scripts/fetch-ml100k.sh [CACHE_DIR]
# (default ${XDG_CACHE_HOME:-~/.cache}/unizoo/ml-100k); UZ_RECBOLE_VERSION
# overrides the pinned wheel version.
set -euo pipefail
version="${UZ_RECBOLE_VERSION:-1.2.1}"
dest="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/unizoo/ml-100k}"
if [ -s "$dest/ml-100k.inter" ] && [ -s "$dest/ml-100k.item" ]; then
  echo "$dest"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "fetch-ml100k: python3 -m pip is not available (Debian: apt-get install python3-pip)" >&2
  exit 1
fi
python3 -m pip download --quiet --no-deps --only-binary=:all: "recbole==$version" -d "$tmp" >&2
wheel="$(ls "$tmp"/recbole-*.whl)"
# A wheel is a zip; Python's zipfile avoids depending on unzip.
python3 - "$wheel" "$tmp/out" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
prefix = "recbole/dataset_example/ml-100k/"
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
    for n in names:
        with z.open(n) as src, open(os.path.join(out, os.path.basename(n)), "wb") as dst:
            dst.write(src.read())
if not any(n.endswith("ml-100k.inter") for n in names):
    sys.exit(f"fetch-ml100k: {os.path.basename(wheel)} carries no {prefix}ml-100k.inter")
PY
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
mv "$tmp/out" "$dest.partial"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "$dest"
