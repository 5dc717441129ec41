#!/usr/bin/env bash
# Fetches the Debian packages of unizoo's C dependencies (and their runtime
# libraries) into build-devdeps/, for tests/cuda/device_check.sh on a GPU
# machine where nothing can be installed: carry build-devdeps with the call
# (it is ignored by git as a build directory). About 20 MB.
#
# usage: tests/cuda/device_deps.sh [DIR]      (run on a Debian 12 machine)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-$root/build-devdeps}
mkdir -p "$dir"
cd "$dir"
rm -f ./*.deb
apt-get download \
    libopenblas-openmp-dev libopenblas0-openmp libgfortran5 libquadmath0 \
    libcjson-dev libcjson1 libturbojpeg0-dev libturbojpeg0 libstb-dev libstb0 \
    libsentencepiece-dev libsentencepiece0 check libsubunit-dev libsubunit0 \
    libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libhwloc15 \
    libevent-core-2.1-7 libevent-pthreads-2.1-7 libpmix2 zlib1g-dev pkgconf-bin libpkgconf3
ls -l "$dir"
