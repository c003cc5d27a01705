#!/usr/bin/env bash
# bench/weak_scaling.sh — weak scaling of training: tokens/s at W=2 (ep=2, 1 thread per rank) ÷ (2 × tokens/s at
# W=1, 1 thread), the same per-rank micro-batch.  Target ≥ 0.9 (issue 3).  Medians over the timed steps.
# The machines are shared and drift by ±20 % within minutes, so REPEATS W=1/W=2 pairs run back to back and
# the median of the pairs' ratios is the result (each pair's ratio is printed too).
#   bash bench/weak_scaling.sh [CONFIG]     (STEPS [8], SKIP [2] warm-up steps left out, REPEATS [3], BUILD_DIR [build])
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-bench/configs/bench-fairseq.ini}
steps=${STEPS:-8} skip=${SKIP:-2} repeats=${REPEATS:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
build=${BUILD_DIR:-build}  # an existing build directory keeps its build type (build-release: Release)
cmake -S . -B "$build" >/dev/null
cmake --build "$build" -j2 --target switchyard >/dev/null
common=(train --config "$config" --parallel.threads=1 --train.steps="$steps" --log.every=1)
echo "config $config, $steps steps (first $skip left out), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
ratios=()
for ((r = 1; r <= repeats; r++)); do
  rm -f "$out/w1.jsonl" "$out/w2.jsonl"  # --log.metrics appends: each pair reads only its own steps
  mpirun --allow-run-as-root --oversubscribe --bind-to none -np 1 "$build/switchyard" "${common[@]}" \
    --parallel.ep=1 --log.metrics="$out/w1.jsonl" >/dev/null
  mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 "$build/switchyard" "${common[@]}" \
    --parallel.ep=2 --log.metrics="$out/w2.jsonl" >/dev/null
  t1=$(/usr/bin/python3 bench/metrics_stat.py "$out/w1.jsonl" tokens_per_s --skip "$skip")
  t2=$(/usr/bin/python3 bench/metrics_stat.py "$out/w2.jsonl" tokens_per_s --skip "$skip")
  ratio=$(/usr/bin/python3 -c "import sys; t1, t2 = map(float, sys.argv[1:]); print(f'{t2 / (2 * t1):.3f}')" "$t1" "$t2")
  printf 'pair %d: W=1: %.1f tok/s   W=2: %.1f tok/s   efficiency %s\n' "$r" "$t1" "$t2" "$ratio"
  ratios+=("$ratio")
done
/usr/bin/python3 -c "import statistics, sys; print(f'weak-scaling efficiency = {statistics.median(map(float, sys.argv[1:])):.3f} (median of {len(sys.argv) - 1} pairs)')" "${ratios[@]}"
