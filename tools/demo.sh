#!/usr/bin/env bash
# tools/demo.sh — the main job: set up, build, train the demo MoE model on the synthetic corpus, write a checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh build
run=${RUN_DIR:-runs/demo}
rm -rf "$run"
mkdir -p "$run"
build/switchyard train --config configs/demo.ini --ckpt.dir="$run/ckpt" --log.metrics="$run/metrics.jsonl"
echo
echo "metrics:    $run/metrics.jsonl"
echo "checkpoint: $run/ckpt/$(cat "$run/ckpt/latest")   (inspect: h5ls -r $run/ckpt/$(cat "$run/ckpt/latest")/model-shared.h5)"
build/switchyard eval --ckpt "$run/ckpt" --data.source=synthetic --eval.max_windows=256 | tail -1
