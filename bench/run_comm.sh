#!/usr/bin/env bash
# Builds the Release benchmark and runs bench_comm on RANKS (2) MPI ranks with
# THREADS (1) OpenMP threads each: allreduce time for 1M and 10M floats and
# the allreduce overhead on a 10.5M-parameter training step.
#
# usage: bench/run_comm.sh [reps]     env: RANKS (2), THREADS (1), BUILD_DIR (build-bench)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
ranks=${RANKS:-2}
threads=${THREADS:-1}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DUZ_CUDA=OFF -DUZ_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target bench_comm >/dev/null

# OpenMPI refuses to run as root (containers, CI) unless told to.
as_root=()
[[ $(id -u) -eq 0 ]] && as_root=(--allow-run-as-root)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
mpirun "${as_root[@]}" --oversubscribe --stdin none -np "$ranks" \
    -x OMP_NUM_THREADS="$threads" -x OPENBLAS_NUM_THREADS="$threads" \
    "$build/bench_comm" "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
