#!/usr/bin/env bash
# tools/demo.sh — the main job: set up, build, train the demo MoE model on 2 MPI ranks with its experts split
# over them (ep = 2) on the synthetic corpus, write a checkpoint, evaluate it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh build
run=${RUN_DIR:-runs/demo}
rm -rf "$run"
mkdir -p "$run"
# --allow-run-as-root: the README's commands run as root on a fresh machine.
mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 \
  build/switchyard train --config configs/demo.ini --parallel.ep=2 \
  --ckpt.dir="$run/ckpt" --log.metrics="$run/metrics.jsonl"
echo
echo "metrics:    $run/metrics.jsonl"
echo "checkpoint: $run/ckpt/$(cat "$run/ckpt/latest")   (inspect: h5ls -r $run/ckpt/$(cat "$run/ckpt/latest")/model-shared.h5)"
build/switchyard eval --ckpt "$run/ckpt" --data.source=synthetic --eval.max_windows=256 | tail -1
