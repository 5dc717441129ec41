#!/usr/bin/env bash
# The GPU check, one script for a machine with a CUDA GPU: builds unizoo with
# the CUDA backend (sm_90) in a fresh directory, runs the CUDA suites, the GPU
# benchmark against PyTorch on the same GPU, and the whole CTest suite, and
# writes OUTDIR/summary.md with the logs beside it (six files). Every step's
# failure is recorded in the summary and the script goes on; it is sized to
# finish in under 8 minutes on 16 cores.
#
# The project's C dependencies (OpenBLAS, cJSON, libjpeg-turbo, stb,
# SentencePiece, Check, OpenMPI, zlib, pkg-config) may be missing there and
# nothing can be installed: when they are, it unpacks the Debian packages
# that tests/cuda/device_deps.sh fetched into build-devdeps/ (carry that
# folder) into a private prefix and points CMake, pkg-config and the loader
# at it. cuDNN is taken from the toolkit, or else from PyTorch's wheel.
#
# usage: tests/cuda/device_check.sh OUTDIR
#   env: BUILD_DIR (default /tmp/uz-device-build, wiped first), JOBS (nproc),
#        DEPS_DIR (default build-devdeps), REPS (20, benchmark repetitions)
set -u

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
build=${BUILD_DIR:-/tmp/uz-device-build}
jobs=${JOBS:-$(nproc)}
deps_dir=${DEPS_DIR:-$root/build-devdeps}
reps=${REPS:-20}
start=$(date +%s)
steps=$out/.steps
: >"$steps"

# run NAME LOG LIMIT_S CMD...: runs CMD with its output appended to LOG,
# killed after LIMIT_S seconds; records status and time for the summary.
run() {
    local name=$1 log=$2 limit=$3
    shift 3
    local t0 rc
    t0=$(date +%s)
    echo "==== $name: $*" >>"$out/$log"
    timeout --kill-after=10 "$limit" "$@" >>"$out/$log" 2>&1
    rc=$?
    local status=ok
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        status="TIMED OUT after ${limit}s"
    elif [[ $rc -ne 0 ]]; then
        status="FAILED (exit $rc)"
    fi
    echo "| $name | $status | $(($(date +%s) - t0)) s | $log |" >>"$steps"
    echo "==== $name: $status" >>"$out/$log"
    return $rc
}

# ---- 1. the machine ----------------------------------------------------------------------
{
    echo "date: $(date -u)"
    nvidia-smi || echo "nvidia-smi failed"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
    nvcc --version || echo "no nvcc"
    cmake --version | head -1
    gcc --version | head -1
    grep PRETTY_NAME /etc/os-release
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" ||
        echo "no usable PyTorch"
} >"$out/env.log" 2>&1
echo "| machine | ok | 0 s | env.log |" >>"$steps"

# ---- 2. dependencies ------------------------------------------------------------------------
cmake_args=(-DUZ_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release)
if command -v ninja >/dev/null; then
    cmake_args+=(-G Ninja)
fi
have_deps() {
    command -v pkg-config >/dev/null &&
        pkg-config --exists openblas libcjson libturbojpeg stb sentencepiece check zlib &&
        command -v mpicc >/dev/null && command -v mpirun >/dev/null
}
use_bundle() {
    local p=/tmp/uz-deps
    rm -rf "$p" && mkdir -p "$p"
    for deb in "$deps_dir"/*.deb; do
        dpkg-deb -x "$deb" "$p" || return 1
    done
    local lib=$p/usr/lib/x86_64-linux-gnu
    # The .pc files name /usr: point them at the prefix.
    find "$p" -name '*.pc' -exec sed -i -E \
        "s#^(prefix|exec_prefix|libdir|includedir)=/usr#\1=$p/usr#" {} +
    export PATH=$p/usr/bin:$PATH
    export PKG_CONFIG_PATH=$lib/pkgconfig:$lib/openblas-openmp/pkgconfig:$p/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
    export LD_LIBRARY_PATH=$lib:$lib/openblas-openmp:$lib/openmpi/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export OPAL_PREFIX=$p/usr
    if ! command -v pkg-config >/dev/null; then
        cmake_args+=(-DPKG_CONFIG_EXECUTABLE=$p/usr/bin/pkgconf)
    fi
    if ! command -v mpicc >/dev/null; then
        # No MPI compiler wrapper to ask: name OpenMPI's parts to FindMPI.
        cmake_args+=(-DMPI_C_HEADER_DIR=$lib/openmpi/include -DMPI_C_LIB_NAMES=mpi
                     -DMPI_mpi_LIBRARY=$lib/openmpi/lib/libmpi.so
                     -DMPIEXEC_EXECUTABLE=$p/usr/bin/mpirun.openmpi)
    fi
    echo "using the dependency bundle unpacked in $p"
}
{
    if have_deps; then
        echo "the system has every C dependency"
    elif compgen -G "$deps_dir/*.deb" >/dev/null; then
        use_bundle
    else
        echo "C dependencies missing and no bundle in $deps_dir (run tests/cuda/device_deps.sh here first and carry it)"
    fi
    if ! ls /usr/local/cuda/include/cudnn.h /usr/include/cudnn.h >/dev/null 2>&1; then
        cudnn=$(python3 -c "import nvidia.cudnn as m, os; print(os.path.dirname(m.__file__))" 2>/dev/null ||
                python3 -c "import nvidia.cudnn as m; print(list(m.__path__)[0])" 2>/dev/null)
        if [[ -n $cudnn ]]; then
            export CUDNN_ROOT=$cudnn
            export LD_LIBRARY_PATH=$cudnn/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
            echo "cuDNN from PyTorch's wheel: $cudnn"
        fi
    fi
} >>"$out/build.log" 2>&1
echo "| dependencies | see build.log | 0 s | build.log |" >>"$steps"

# ---- 3. build: the CUDA suites and the benchmark first, the rest after ------------------------
rm -rf "$build"
run configure build.log 120 cmake -S "$root" -B "$build" "${cmake_args[@]}"
cuda_tests=$(cd "$root/tests/cuda" && ls test_cuda_*.c 2>/dev/null | sed 's/\.c$//' | tr '\n' ' ')
# shellcheck disable=SC2086
run build-cuda build.log 300 cmake --build "$build" -j "$jobs" --target bench_cuda $cuda_tests

# ---- 4. the CUDA suites -------------------------------------------------------------------------
run cuda-tests cuda_tests.log 240 ctest --test-dir "$build" -L cuda --output-on-failure --timeout 200

# ---- 5. the benchmark, unizoo then PyTorch on the same GPU ----------------------------------------
run bench-unizoo bench.log 150 "$build/bench_cuda" "$reps"
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
    run bench-torch bench.log 150 env PYTHONUNBUFFERED=1 python3 "$root/bench/torch_cuda.py" "$reps"
else
    echo "| bench-torch | skipped: no PyTorch with CUDA | 0 s | bench.log |" >>"$steps"
fi

# ---- 6. everything else, and the whole CTest suite (CUDA suites included) ---------------------------
left=$((420 - ($(date +%s) - start)))
if [[ $left -gt 60 ]]; then
    run build-all build.log $((left / 2)) cmake --build "$build" -j "$jobs"
    left=$((450 - ($(date +%s) - start)))
    if [[ $left -gt 30 ]]; then
        run ctest ctest.log "$left" ctest --test-dir "$build" -j "$jobs" --output-on-failure --timeout 120
    else
        echo "| ctest | skipped: out of time | 0 s | ctest.log |" >>"$steps"
    fi
else
    echo "| build-all, ctest | skipped: out of time | 0 s | - |" >>"$steps"
fi

# ---- 7. summary -----------------------------------------------------------------------------------
python3 - "$out" "$steps" "$(($(date +%s) - start))" <<'EOF'
import json, re, sys
out, steps, secs = sys.argv[1], sys.argv[2], sys.argv[3]

def read(name):
    try:
        return open(f"{out}/{name}", errors="replace").read()
    except OSError:
        return ""

lines = ["# unizoo CUDA device check", ""]
gpu = re.search(r"^(NVIDIA [^,\n]+), (\d+ MiB), ([\d.]+)", read("env.log"), re.M)
if gpu:
    lines.append(f"GPU: {gpu.group(1)}, {gpu.group(2)}, driver {gpu.group(3)}. Total time {secs} s.")
lines += ["", "## Steps", "", "| step | status | time | log |", "| --- | --- | --- | --- |"]
lines += open(steps).read().splitlines()

tests = re.findall(r"^\s*\d+/\d+ Test\s+#\d+: (\S+) \.+\s*(.*?)\s+[\d.]+ sec", read("cuda_tests.log"), re.M)
lines += ["", "## CUDA suites", ""]
if tests:
    lines += ["| suite | result |", "| --- | --- |"] + [f"| {n} | {r} |" for n, r in tests]
    fails = re.findall(r"^[^\n]*:[EF]:[^\n]*$", read("cuda_tests.log"), re.M)
    if fails:
        lines += ["", "First failures:", "", "```"] + fails[:20] + ["```"]
else:
    lines.append("(no results: see cuda_tests.log)")

results = {}
for line in read("bench.log").splitlines():
    if line.startswith("{"):
        try:
            r = json.loads(line)
            results.setdefault(r["case"], {})[r["impl"]] = r
        except (ValueError, KeyError):
            pass
lines += ["", "## Benchmark (median ms per step; GFLOP/s)", "",
          "| case | unizoo ms | unizoo GFLOP/s | torch ms | torch GFLOP/s | torch/unizoo time |",
          "| --- | --- | --- | --- | --- | --- |"]
for case, impls in results.items():
    u, t = impls.get("unizoo"), impls.get("torch")
    cell = lambda r, k: f"{r[k]:.3f}" if r and k == "ms" else (f"{r[k]:.0f}" if r else "-")
    ratio = f"{t['ms'] / u['ms']:.2f}" if u and t else "-"
    lines.append(f"| {case} | {cell(u, 'ms')} | {cell(u, 'gflops')} | {cell(t, 'ms')} | "
                 f"{cell(t, 'gflops')} | {ratio} |")
notes = [l for l in read("bench.log").splitlines() if "of this precision" in l or l.startswith("# torch")]
lines += [""] + [f"- {n}" for n in notes]

summary = re.search(r"(\d+)% tests passed, (\d+) tests failed out of (\d+)", read("ctest.log"))
lines += ["", "## Whole CTest suite", ""]
if summary:
    lines.append(f"{summary.group(1)}% passed, {summary.group(2)} failed of {summary.group(3)}.")
    failed = re.findall(r"^\s+\d+ - (\S+) \((\w+)\)", read("ctest.log"), re.M)
    lines += [f"- {n}: {why}" for n, why in failed]
else:
    lines.append("(no result: see ctest.log)")
open(f"{out}/summary.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
rm -f "$steps"
