#!/usr/bin/env bash
# tests/mpi/netns_faults.sh — fault scenarios with ranks on two "hosts" (network namespaces behind a bridge), so the status board is reached over TCP.
#
# Usage: netns_faults.sh PYTHON FAULT_TESTS_PY MPIRUN_SH FAULT_MAIN
# Host A (ranks 0, 1) and host B (ranks 2, 3) are namespaces with their own IPs on
# a /24 whose bridge lives in the root namespace, where mpirun runs.  Ranks talk
# MPI over btl tcp only.  Everything created here is removed on exit.  Exit 77
# (ctest: skipped) without root or iproute2.
set -u
PYTHON=$1 FAULT_TESTS=$2 MPIRUN_SH=$3 FAULT_MAIN=$4

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
  echo "needs root and iproute2: skipped"
  exit 77
fi

tag=sy$(( $$ % 100000 ))                 # interface names must stay under 16 characters
octet=$(( 20 + $$ % 200 ))
subnet=10.213.$octet
work=$(mktemp -d)

cleanup() {
  for h in a b; do
    ip netns del "$tag-$h" 2>/dev/null
    ip link del "${tag}v$h" 2>/dev/null
  done
  ip link del "${tag}br" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

set -e
ip link add "${tag}br" type bridge
ip addr add "$subnet.1/24" dev "${tag}br"
ip link set "${tag}br" up
for hi in a:2 b:3; do
  h=${hi%%:*} i=${hi##*:}
  ip netns add "$tag-$h"
  ip link add "${tag}v$h" type veth peer name "${tag}p$h"
  ip link set "${tag}p$h" netns "$tag-$h"
  ip link set "${tag}v$h" master "${tag}br" up
  ip netns exec "$tag-$h" ip addr add "$subnet.$i/24" dev "${tag}p$h"
  ip netns exec "$tag-$h" ip link set "${tag}p$h" up
  ip netns exec "$tag-$h" ip link set lo up
done
set +e

# mpirun's remote-shell agent: skip options, map the host address to its namespace.
cat >"$work/rsh.sh" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do case "\$1" in -*) shift;; *) break;; esac; done
host=\$1; shift
case "\$host" in
  $subnet.2) ns=$tag-a;;
  $subnet.3) ns=$tag-b;;
  *) echo "rsh.sh: unknown host \$host" >&2; exit 1;;
esac
exec ip netns exec "\$ns" sh -c "\$*"
EOF
# The mpirun the fault scenarios call.  Open MPI's remote daemon start-up
# occasionally crashes inside hwloc here (orted SIGSEGV in
# hwloc_shmem_topology_write); such a run is retried, nothing else is.
cat >"$work/mpirun.sh" <<EOF
#!/usr/bin/env bash
for attempt in 1 2 3; do
  bash $MPIRUN_SH --host $subnet.2:2,$subnet.3:2 --mca plm_rsh_agent $work/rsh.sh \\
    --mca btl self,tcp --mca btl_tcp_if_include $subnet.0/24 --mca oob_tcp_if_include $subnet.0/24 \\
    \${SWITCHYARD_TEST_STALL:+-x SWITCHYARD_TEST_STALL} "\$@" >$work/out.\$attempt 2>&1
  rc=\$?
  grep -q "ORTE was unable to reliably start" $work/out.\$attempt || break
  echo "[netns_faults: daemon start-up failed, retrying]"
done
cat $work/out.\$attempt
exit \$rc
EOF
chmod +x "$work/rsh.sh" "$work/mpirun.sh"

failed=0
for scenario in clean stall_ep kill kill_rank0; do
  echo "=== $scenario (hosts $subnet.2 and $subnet.3)"
  "$PYTHON" "$FAULT_TESTS" "$work/mpirun.sh" "$FAULT_MAIN" "$scenario" || failed=1
done
exit $failed
