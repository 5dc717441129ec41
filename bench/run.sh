#!/usr/bin/env bash
# Builds the Release benchmark, runs bench_ops (unizoo + OpenBLAS ceilings)
# and torch_ops.py (PyTorch) case by case, back to back, for ROUNDS rounds,
# and prints a Markdown table: per case the median over rounds of each round's median time
# (min over everything in brackets), GFLOP/s from the median, the speed ratio
# torch/unizoo (> 1: unizoo faster), the OpenBLAS rate on the op's own GEMMs
# and unizoo's share of it; ratios from the medians, then (in brackets) from
# the minima, which are the better estimate when other jobs share the cores.
#
# usage: bench/run.sh [case-substring]      env: REPS (15), ROUNDS (3), QUIET_WAIT (30),
#        BUILD_DIR (build-bench), THREADS (2), RAW (file to keep the JSON lines),
#        BUILD=0 to rerun the last build without rebuilding,
#        FROM=file to only print the table of JSON lines kept earlier (RAW; several
#        runs' files concatenated pool their rounds)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
reps=${REPS:-15}
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
only=${1:-}

if [[ -n ${FROM:-} ]]; then
    BUILD=0 rounds=0
fi
# Warnings are not errors here: the benchmark must not stop on a warning that
# only the optimiser raises in code it does not time.
if [[ ${BUILD:-1} != 0 ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DUZ_CUDA=OFF -DUZ_TESTS=OFF \
        -DUZ_WERROR=OFF >/dev/null
    cmake --build "$build" -j"$threads" --target bench_ops >/dev/null
fi

export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
raw=${FROM:-${RAW:-$(mktemp)}}
[[ -n ${FROM:-} ]] || : >"$raw"

# Idle share of all CPUs over one second, in percent, from /proc/stat.
idle_pct() {
    local a b
    read -r -a a < <(head -1 /proc/stat)
    sleep 1
    read -r -a b < <(head -1 /proc/stat)
    local total=0 i
    for ((i = 1; i < ${#a[@]}; i++)); do total=$((total + b[i] - a[i])); done
    echo $((total > 0 ? 100 * (b[4] - a[4]) / total : 100))
}

# Other jobs on the cores inflate times; wait up to QUIET_WAIT seconds (30)
# for a mostly idle second before each measurement.
wait_quiet() {
    local deadline=$((SECONDS + ${QUIET_WAIT:-30}))
    while ((SECONDS < deadline)) && (($(idle_pct) < 90)); do :; done
}

cases="linear_qkv linear_proj linear_fc1 linear_fc2 attention layer_norm conv2d block sgemm_2048"
load_before=$( [[ -n ${FROM:-} ]] && echo "n/a (FROM)" || cut -d' ' -f1-3 /proc/loadavg)
# Case by case, unizoo and torch back to back, so both see similar load.
for ((r = 0; r < rounds; r++)); do
    for c in $cases; do
        [[ -z $only || $c == *"$only"* ]] || continue
        wait_quiet
        "$build/bench_ops" "$reps" "$c" >>"$raw"
        /usr/bin/python3 "$root/bench/torch_ops.py" "$reps" "$c" >>"$raw"
    done
done
load_after=$( [[ -n ${FROM:-} ]] && echo "n/a" || cut -d' ' -f1-3 /proc/loadavg)

/usr/bin/python3 - "$raw" "$reps" "$rounds" "$load_before" "$load_after" <<'EOF'
import json, statistics, sys

raw, reps, _, load_before, load_after = sys.argv[1:6]
runs, info, errors = {}, {}, []
for line in open(raw):
    r = json.loads(line)
    if "info" in r:
        info[r["impl"]] = r["info"]
    elif "error" in r:
        errors.append("%s %s: %s" % (r["impl"], r["case"], r["error"]))
    else:
        runs.setdefault((r["impl"], r["case"]), []).append(r)

def stat(impl, case):
    rs = runs.get((impl, case))
    if not rs:
        return None
    ms = statistics.median(x["ms"] for x in rs)
    return ms, min(x["ms_min"] for x in rs), rs[0]["gflop"] / (ms * 1e-3)

def fmt_ms(s):
    return "%.2f (%.2f)" % (s[0], s[1]) if s else "-"

def fmt_rate(s):
    return "%.1f" % s[2] if s else "-"

cases = []
for impl, case in runs:
    if case not in cases and case != "sgemm_2048":
        cases.append(case)

print("| case | unizoo ms (min) | GFLOP/s | torch ms (min) | GFLOP/s | torch/unizoo (min) "
      "| OpenBLAS GFLOP/s | unizoo % of OpenBLAS (min) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for case in cases:
    u, t, b = stat("unizoo", case), stat("torch", case), stat("openblas", case)
    ratio = "%.2f (%.2f)" % (t[0] / u[0], t[1] / u[1]) if u and t else "-"
    frac = "%.0f%% (%.0f%%)" % (100 * b[0] / u[0], 100 * b[1] / u[1]) if u and b else "-"
    print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (case, fmt_ms(u), fmt_rate(u), fmt_ms(t),
          fmt_rate(t), ratio, fmt_rate(b), frac))
peak, tpeak = stat("openblas", "sgemm_2048"), stat("torch", "sgemm_2048")
if peak:
    print("\nPeak: OpenBLAS SGEMM 2048^3 %.1f GFLOP/s (%.1f ms)%s." % (
        peak[2], peak[0], ", torch.mm %.1f GFLOP/s" % tpeak[2] if tpeak else ""))
rounds = max(len(v) for v in runs.values()) if runs else 0
print("%s rounds x %s reps, median of round medians; %s; %s. Load average before %s, after %s." % (
    rounds, reps, info.get("unizoo", "?"), info.get("torch", "?"), load_before, load_after))
for e in errors:
    print("ERROR", e)
EOF
echo "JSON lines: $raw" >&2
