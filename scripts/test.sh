#!/usr/bin/env bash
# The whole test suite, from scratch: a normal build (warnings as errors, CUDA
# backend compiled when nvcc is present) and an ASan+UBSan build, each running
# every Check suite through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
rm -rf build-test build-test-asan

cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Release -DUZ_WERROR=ON
cmake --build build-test -j"$jobs"
(cd build-test && ctest --output-on-failure)

# CUDA is left out of the sanitizer build: ASan and the CUDA runtime do not mix.
cmake -S . -B build-test-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUZ_WERROR=ON -DUZ_SANITIZE=ON -DUZ_CUDA=OFF
cmake --build build-test-asan -j"$jobs"
(cd build-test-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure)
