#!/usr/bin/env bash
# tools/setup.sh — installs every Debian package Switchyard needs that is missing (idempotent; run as root).
set -euo pipefail

packages=(
  build-essential cmake git pkg-config
  openmpi-bin libopenmpi-dev
  libhdf5-dev hdf5-tools
  libboost-program-options-dev
  libopenblas-dev
  libdnnl-dev
  libgtest-dev libgmock-dev
  python3 python3-torch python3-h5py python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages need root: sudo bash tools/setup.sh" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all packages present"
