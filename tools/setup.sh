#!/usr/bin/env bash
# tools/setup.sh — installs every Debian package Switchyard needs that is missing (idempotent; run as root).
set -euo pipefail

packages=(
  build-essential cmake git pkg-config
  openmpi-bin libopenmpi-dev
  libhdf5-dev hdf5-tools
  libboost-program-options-dev
  libopenblas-dev
  libdnnl-dev ocl-icd-opencl-dev  # dnnl-config.cmake requires OpenCL (only a Recommends of libdnnl-dev)
  libgtest-dev libgmock-dev
  python3 python3-torch python3-h5py python3-numpy
)
# Only the Slurm test (tests/slurm) uses these. Installed here so that the test
# does not run apt-get inside its ctest time limit, but not required: if they
# cannot be installed, everything else still builds and the test installs them
# itself or is skipped.
optional=(slurm-wlm munge)

missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t need < <(missing "${packages[@]}")
mapfile -t want < <(missing "${optional[@]}")

if ((${#need[@]} + ${#want[@]})) && [[ $(id -u) -ne 0 ]]; then
  if ((${#need[@]})); then
    echo "setup: missing packages need root: sudo bash tools/setup.sh (missing: ${need[*]})" >&2
    exit 1
  fi
  echo "setup: optional ${want[*]} not installed (needs root); the Slurm test will be skipped"
  want=()
fi
export DEBIAN_FRONTEND=noninteractive
if ((${#need[@]} + ${#want[@]})); then
  apt-get update -qq
fi
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ((${#want[@]})); then
  echo "setup: installing ${want[*]} (optional, for the Slurm test)"
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null ||
    echo "setup: could not install ${want[*]}; the Slurm test will try again or be skipped" >&2
fi
echo "setup: all packages present"
