#!/usr/bin/env bash
# bench/a2a_overlap.sh — how much all-to-all latency the chunked pipeline hides.  Every all-to-all gets
# LATENCY ms added by the CommEngine's fault-injecting transport (SWITCHYARD_BENCH_A2A_LATENCY_MS); with
# a2a_chunks = 1 and 4 it reports the per-step a2a_exposed_ms (time the compute thread waited) and
#   hidden ratio = (exposed with latency − exposed without) ÷ (all-to-alls per step × LATENCY)
# i.e. the fraction of the injected latency that was NOT hidden (target ≤ 0.25 at 4 chunks, issue 3).
# All-to-alls per step: per MoE layer and micro-batch 1 (counts) + 2C forward + 2C backward.
#   bash bench/a2a_overlap.sh [CONFIG]      (LATENCY [20], STEPS [6], SKIP [2], NP [2], CHUNKS ["1 4"])
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-bench/configs/bench-fairseq.ini}
latency=${LATENCY:-20} steps=${STEPS:-6} skip=${SKIP:-2} np=${NP:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bash tools/build.sh build >/dev/null
moe_layers=$(/usr/bin/python3 -c "import configparser,sys; c=configparser.ConfigParser(); c.read(sys.argv[1]); print(len([x for x in c['model']['moe_layers'].split(',') if x.strip()]))" "$config")
accum=$(/usr/bin/python3 -c "import configparser,sys; c=configparser.ConfigParser(); c.read(sys.argv[1]); print(c['train'].get('grad_accum', '1'))" "$config")
echo "config $config, $np ranks (ep=$np, 1 thread each), $steps steps (first $skip left out), +$latency ms per all-to-all"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-7s %16s %16s %10s %12s\n' chunks exposed_ms/step exposed_ms/step a2a/step not_hidden
printf '%-7s %16s %16s %10s %12s\n' "" "(no latency)" "(+${latency} ms)" "" ""
for chunks in ${CHUNKS:-1 4}; do
  for lat in 0 "$latency"; do
    SWITCHYARD_BENCH_A2A_LATENCY_MS=$lat mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$np" \
      build/switchyard train --config "$config" --parallel.threads=1 --parallel.ep="$np" \
      --parallel.a2a_chunks="$chunks" --train.steps="$steps" --log.every=1 \
      --log.metrics="$out/c$chunks-l$lat.jsonl" >/dev/null 2>&1
  done
  base=$(/usr/bin/python3 bench/metrics_stat.py "$out/c$chunks-l0.jsonl" a2a_exposed_ms --skip "$skip")
  with=$(/usr/bin/python3 bench/metrics_stat.py "$out/c$chunks-l$latency.jsonl" a2a_exposed_ms --skip "$skip")
  /usr/bin/python3 -c "
import sys
base, with_, layers, accum, c, lat = map(float, sys.argv[1:])
ops = layers * accum * (1 + 4 * c)
print(f'{int(c):<7d} {base:16.1f} {with_:16.1f} {int(ops):10d} {(with_ - base) / (ops * lat):12.3f}')" \
    "$base" "$with" "$moe_layers" "$accum" "$chunks" "$latency"
done
