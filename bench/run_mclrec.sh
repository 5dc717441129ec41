#!/usr/bin/env bash
# MCLRec / SASRec training-step benchmark on Beauty, unizoo (bench_mclrec)
# against PyTorch (bench/reference/mclrec_torch.py) on the very same batches
# (bench_mclrec --dump writes them), case by case back to back, and a
# Markdown table: ms per batch (mean, min), the epoch extrapolated to its
# 514 batches, GFLOP per batch and GFLOP/s (each side's own work, see the
# note under the table), peak RSS, and the speed ratio torch / unizoo.
#
# unizoo runs under each of THREAD_CONFIGS ("threads:wait_policy", wait
# policy "default", "passive" or "active"; OpenBLAS is Debian's OpenMP
# build, so it shares those threads); PyTorch runs with TORCH_THREADS (2).
#
# usage: bench/run_mclrec.sh      env: BUILD_DIR (build-bench), BUILD=0 to skip the build,
#        DATA (../shared/datasets/seqrec/Beauty.txt), BATCHES (10) and WARMUP (2) for unizoo,
#        TORCH_BATCHES (5) and TORCH_WARMUP (1) for MCLRec in PyTorch (SASRec: twice as many),
#        THREAD_CONFIGS ("2:default 2:passive 1:default"), CASES ("mclrec_pad mclrec_cut
#        sasrec_pad sasrec_cut"), TORCH_THREADS ("2"; a list runs PyTorch once per count, the
#        ratio uses 2), TORCH_LEAN=1 to also time PyTorch's step 2 done as unizoo does it,
#        RAW (file to keep the JSON lines)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
data=${DATA:-$root/../shared/datasets/seqrec/Beauty.txt}
batches=${BATCHES:-10}
warmup=${WARMUP:-2}
tbatches=${TORCH_BATCHES:-5}
twarmup=${TORCH_WARMUP:-1}
configs=${THREAD_CONFIGS:-"2:default 2:passive 1:default"}
cases=${CASES:-"mclrec_pad mclrec_cut sasrec_pad sasrec_cut"}

if [[ ! -f $data ]]; then
    echo "run_mclrec.sh: no $data (set DATA)" >&2
    exit 1
fi
if [[ ${BUILD:-1} != 0 ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DUZ_CUDA=OFF -DUZ_TESTS=OFF \
        -DUZ_WERROR=OFF >/dev/null
    cmake --build "$build" -j2 --target bench_mclrec >/dev/null
fi

raw=${RAW:-$(mktemp)}
: >"$raw"
dump=$(mktemp)
trap 'rm -f "$dump"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for c in $cases; do
    variant=${c%_*}
    cut=()
    [[ $c == *_cut ]] && cut=(--cut)
    first=1
    for cfg in $configs; do
        threads=${cfg%:*} policy=${cfg#*:}
        env_args=(OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads")
        [[ $policy != default ]] && env_args+=(OMP_WAIT_POLICY="$policy")
        dump_args=()
        ((first)) && dump_args=(--dump "$dump")
        env "${env_args[@]}" "$build/bench_mclrec" --data "$data" --variant "$variant" \
            "${cut[@]}" --batches "$batches" --warmup "$warmup" "${dump_args[@]}" >>"$raw"
        first=0
    done
    tb=$tbatches tw=$twarmup
    [[ $variant == sasrec ]] && tb=$((2 * tbatches)) tw=$((2 * twarmup))
    # The dump holds WARMUP + BATCHES batches; PyTorch takes the first ones.
    if ((tb + tw > batches + warmup)); then
        echo "run_mclrec.sh: PyTorch needs $((tb + tw)) batches, the dump has $((batches + warmup))" >&2
        exit 1
    fi
    for tt in ${TORCH_THREADS:-2}; do
        /usr/bin/python3 "$root/bench/reference/mclrec_torch.py" "$dump" --variant "$variant" \
            "${cut[@]}" --batches "$tb" --warmup "$tw" --threads "$tt" >>"$raw"
        if [[ ${TORCH_LEAN:-0} == 1 && $variant == mclrec ]]; then
            /usr/bin/python3 "$root/bench/reference/mclrec_torch.py" "$dump" --variant "$variant" \
                "${cut[@]}" --step2 lean --batches "$tb" --warmup "$tw" --threads "$tt" >>"$raw"
        fi
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

/usr/bin/python3 - "$raw" "$load_before" "$load_after" <<'EOF'
import json, sys

raw, load_before, load_after = sys.argv[1:4]
rows = [json.loads(line) for line in open(raw)]
torch = {r["case"]: r for r in rows if r["impl"] == "torch" and r["threads"] == 2}
print("| case | impl | threads / wait | ms per batch (min) | epoch s | GFLOP/batch | GFLOP/s "
      "| peak RSS MB | torch / unizoo (min) |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
for r in rows:
    if r["impl"] == "unizoo":
        t = torch.get(r["case"])
        ratio = "%.2f (%.2f)" % (t["ms_mean"] / r["ms_mean"], t["ms_min"] / r["ms_min"]) if t else "-"
        cfg = "%d / %s" % (r["threads"], r["wait_policy"])
    else:
        ratio, cfg = "", "%d" % r["threads"]
    print("| %s | %s | %s | %.0f (%.0f) | %.0f | %.1f | %.1f | %.0f | %s |" % (
        r["case"], r["impl"], cfg, r["ms_mean"], r["ms_min"], r["epoch_s"], r["gflop_batch"],
        r["gflops"], r["peak_rss_mb"], ratio))
print()
print("Ratios: PyTorch's 2-thread official-schedule row of the same case over unizoo's mean "
      "(min) time.")
print("GFLOP per batch: per token and layer 8d^2 + 4d*inner + 4*W*d over b x W tokens (W = the "
      "width computed), backward = 2x forward, plus 2*b*d*(n_items+1) per softmax; MCLRec "
      "official = 25 forward-equivalents + 6 softmax, unizoo and _lean = 20 + 6, SASRec 3 + 3. "
      "W is the padded width PyTorch computes (50, or the batch's longest when cut); unizoo's "
      "encoder computes runs of similar length instead (~1.15x the real tokens, 7-9 runs "
      "per forward on Beauty), so its GFLOP/s "
      "is the padded-equivalent rate.")
print("Load average before %s, after %s." % (load_before, load_after))
EOF
echo "JSON lines: $raw" >&2
