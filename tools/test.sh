#!/usr/bin/env bash
# tools/test.sh — sets up, builds and runs every test; then the unit tests once more under ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh build
(cd build && ctest --output-on-failure -j2 --timeout 600)
if [[ ${SWITCHYARD_SKIP_SANITIZE:-0} != 1 ]]; then
  echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
  # Without the CUDA backend: the CUDA runtime does not run under ASan without extra options
  # (protect_shadow_gap=0), and this configuration then tests the no-backend path of train.device = cuda.
  bash tools/build.sh build-asan -DSWITCHYARD_SANITIZE=ON -DSWITCHYARD_CUDA=OFF -DSWITCHYARD_BENCH=OFF
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$PWD/../tests/lsan.supp" \
    ctest --output-on-failure -j2 --timeout 600 -L unit)
fi
