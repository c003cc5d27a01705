#!/usr/bin/env bash
# bench/run.sh — builds Release, runs the GEMM ceiling, the torch baseline and Switchyard (fp32 and bf16) on both bench configs, prints a summary.
#
#   bash bench/run.sh                 # 2 threads, 3 warm-up + 10 timed torch steps
#   THREADS=1 STEPS=5 bash bench/run.sh
#   RUN_SWITCHYARD=0 bash bench/run.sh   # skip the switchyard training runs
#   RUN_BF16=0 bash bench/run.sh         # skip the train.precision = bf16 runs
#
# Environment: THREADS [2], WARMUP [3], STEPS [10], BUILD_DIR [build-release],
# OUT [$BUILD_DIR/bench-out/<date>] (raw outputs and JSON lines are kept there),
# GEMM_FLAGS [] (extra gemm_ceiling flags, e.g. "--reps 5" or "--filter square"),
# CEILING_GFLOPS [] (MFU denominator to use instead of this run's measured
# THREADS ceiling: on a shared machine a busy moment halves the 2-thread
# ceiling, so pin it to a quiet-machine figure from bench/RESULTS.md).
# Thread-related variables the user sets (OMP_WAIT_POLICY, ...) are passed
# through untouched and printed; this script sets none of them.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
WARMUP=${WARMUP:-3}
STEPS=${STEPS:-10}
BUILD_DIR=${BUILD_DIR:-build-release}
OUT=${OUT:-$BUILD_DIR/bench-out/$(date +%Y%m%d-%H%M%S)}
PY=/usr/bin/python3  # Debian's, the one with torch
CONFIGS=(fairseq olmoe)
mkdir -p "$OUT"

json_field() {  # json_field FILE NAME FIELD: FIELD of the last "JSON {...}" line whose name (or bench) is NAME
  "$PY" - "$1" "$2" "$3" <<'EOF'
import json, sys
path, name, field = sys.argv[1:]
value = None
for line in open(path):
    if line.startswith("JSON "):
        obj = json.loads(line[5:])
        if name in (obj.get("name"), obj.get("bench")):
            value = obj.get(field, value)
print("" if value is None else value)
EOF
}

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname): $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== env: OMP_NUM_THREADS=${OMP_NUM_THREADS-} OMP_WAIT_POLICY=${OMP_WAIT_POLICY-} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS-} OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-}"
echo "== build ($BUILD_DIR, Release)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2 --target gemm_ceiling >/dev/null

gemm_threads=1
[[ $THREADS == 1 ]] || gemm_threads=1,$THREADS
echo "== GEMM ceiling (threads $gemm_threads)"
# shellcheck disable=SC2086  # GEMM_FLAGS is a list of flags
"$BUILD_DIR/bench/gemm_ceiling" --threads "$gemm_threads" --json ${GEMM_FLAGS:-} | tee "$OUT/gemm_ceiling.txt" | grep -v '^JSON '
ceiling_1=$(grep '^CEILING threads=1 ' "$OUT/gemm_ceiling.txt" | sed 's/.*gflops=\([0-9.]*\).*/\1/')
measured_ceiling=$(grep "^CEILING threads=$THREADS " "$OUT/gemm_ceiling.txt" | sed 's/.*gflops=\([0-9.]*\).*/\1/')
ceiling=${CEILING_GFLOPS:-$measured_ceiling}

declare -A torch_tps sy_tps bf16_tps sy_drop
for c in "${CONFIGS[@]}"; do
  ini=bench/configs/bench-$c.ini
  echo "== torch baseline: $ini, $THREADS threads"
  "$PY" bench/torch_moe_train.py "$ini" --threads "$THREADS" --warmup "$WARMUP" --steps "$STEPS" | tee "$OUT/torch-$c.txt"
  torch_tps[$c]=$(json_field "$OUT/torch-$c.txt" torch_moe_train tokens_per_s)

  sy_tps[$c]="" bf16_tps[$c]="" sy_drop[$c]=""
  # ---------------------------------------------------------------------------
  # Switchyard tokens/s (RUN_SWITCHYARD=0 skips it): trains the same INI for
  # WARMUP+STEPS steps and takes the median of the metrics JSONL field
  # `tokens_per_s` (DESIGN §6) over the steps numbered > WARMUP.
  if [[ ${RUN_SWITCHYARD:-1} == 1 ]] && ! cmake --build "$BUILD_DIR" -j2 --target switchyard >"$OUT/switchyard-build.log" 2>&1; then
    echo "switchyard does not build (see $OUT/switchyard-build.log); skipped"
  elif [[ ${RUN_SWITCHYARD:-1} == 1 ]]; then
    precisions=(fp32)
    [[ ${RUN_BF16:-1} == 1 ]] && precisions+=(bf16)
    for p in "${precisions[@]}"; do
      suffix=""
      [[ $p == fp32 ]] || suffix="-$p"
      metrics="$OUT/switchyard-$c$suffix.jsonl"
      rm -f "$metrics"
      echo "== switchyard: $ini, $THREADS threads, train.precision = $p"
      "$BUILD_DIR/switchyard" train --config "$ini" --parallel.threads="$THREADS" --train.precision="$p" \
        --train.steps=$((WARMUP + STEPS)) --log.every=1 --log.metrics="$metrics" |
        tee "$OUT/switchyard-$c$suffix.txt" || echo "switchyard train failed (exit $?)"
      tps=""
      if [[ -s $metrics ]]; then
        tps=$("$PY" - "$metrics" "$WARMUP" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
timed = [r for r in rows if r["step"] > int(sys.argv[2])]
# median tokens/s, and the mean fraction of expert assignments the capacity dropped (not computed)
print(f'{statistics.median(r["tokens_per_s"] for r in timed)} {statistics.fmean(r.get("dropped_frac", 0) for r in timed)}'
      if timed else "")
EOF
)
        read -r tps drop <<<"$tps"
        [[ $p == fp32 ]] && sy_drop[$c]=$drop
      else
        echo "no metrics in $metrics"
      fi
      if [[ $p == fp32 ]]; then sy_tps[$c]=$tps; else bf16_tps[$c]=$tps; fi
    done
  fi
  # ---------------------------------------------------------------------------
done

echo
echo "== summary ($THREADS threads; ceiling = max median fp32 GEMM GFLOP/s over shapes and libraries; MFU = train FLOPs/token × tokens/s ÷ ceiling, bf16 runs too)"
echo "GEMM ceiling measured: 1 thread ${ceiling_1} GFLOP/s, $THREADS threads ${measured_ceiling} GFLOP/s; MFU uses ${ceiling}${CEILING_GFLOPS:+ (CEILING_GFLOPS)}"
printf '%-8s %8s %10s %12s %9s %12s %9s %9s %12s %9s %10s\n' config dropped MFLOP/tok torch_tok/s torch_MFU sy_tok/s sy_MFU \
  sy/torch bf16_tok/s bf16_MFU bf16/fp32
for c in "${CONFIGS[@]}"; do
  ini=bench/configs/bench-$c.ini
  # Expert rows dropped by the capacity are never computed: they are not model FLOPs
  # (the Switchyard fp32 run's mean dropped_frac; torch routes the same model alike).
  drop=${sy_drop[$c]:-0}
  mflop=$("$PY" bench/model_flops.py "$ini" --dropped-frac "$drop" --field train_flops_per_token)
  mfu() { "$PY" bench/model_flops.py "$ini" --dropped-frac "$drop" --tokens-per-s "$1" --ceiling-gflops "$ceiling" --field mfu; }
  t=${torch_tps[$c]} s=${sy_tps[$c]} b=${bf16_tps[$c]}
  t_mfu=$(mfu "$t")
  if [[ -n $s ]]; then
    s_mfu=$(mfu "$s")
    ratio=$("$PY" -c "print(f'{$s / $t:.2f}x')")
    s=$(printf '%.1f' "$s") s_mfu=$(printf '%.1f%%' "$("$PY" -c "print(100 * $s_mfu)")")
  else
    s=n/a s_mfu=n/a ratio=n/a
  fi
  if [[ -n $b ]]; then
    b_mfu=$(printf '%.1f%%' "$("$PY" -c "print(100 * $(mfu "$b"))")")
    b_ratio=n/a
    [[ $s == n/a ]] || b_ratio=$("$PY" -c "print(f'{$b / ${sy_tps[$c]}:.2f}x')")
    b=$(printf '%.1f' "$b")
  else
    b=n/a b_mfu=n/a b_ratio=n/a
  fi
  printf '%-8s %8.4f %10.1f %12.1f %8.1f%% %12s %9s %9s %12s %9s %10s\n' "$c" "$drop" "$("$PY" -c "print($mflop / 1e6)")" "$t" \
    "$("$PY" -c "print(100 * $t_mfu)")" "$s" "$s_mfu" "$ratio" "$b" "$b_mfu" "$b_ratio"
done
echo "raw outputs: $OUT"
