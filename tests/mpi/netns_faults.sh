#!/usr/bin/env bash
# tests/mpi/netns_faults.sh — fault scenarios with ranks on two "hosts" (network namespaces behind a bridge), so the status board is reached over TCP.
#
# Usage: netns_faults.sh PYTHON FAULT_TESTS_PY MPIRUN_SH FAULT_MAIN
# Host A (ranks 0, 1) and host B (ranks 2, 3): see netns_hosts.sh.  Ranks talk
# MPI over btl tcp only.  Everything created here is removed on exit.  Exit 77
# (ctest: skipped) without root or iproute2.
set -u
PYTHON=$1 FAULT_TESTS=$2 MPIRUN_SH=$3 FAULT_MAIN=$4
. "$(dirname "$0")/netns_hosts.sh"

netns_require_root
trap netns_hosts_down EXIT
netns_hosts_up "$MPIRUN_SH" || { echo "could not set up the namespaces"; exit 1; }

failed=0
for scenario in clean stall_ep kill kill_rank0; do
  echo "=== $scenario (hosts $NETNS_IP_A and $NETNS_IP_B)"
  "$PYTHON" "$FAULT_TESTS" "$NETNS_MPIRUN" "$FAULT_MAIN" "$scenario" || failed=1
done
exit $failed
