# tests/mpi/netns_hosts.sh — sourced: two "hosts" (network namespaces behind a bridge) and an mpirun across them.
#
#   . netns_hosts.sh
#   netns_require_root                 # exit 77 (ctest: skipped) without root or iproute2
#   trap netns_hosts_down EXIT
#   netns_hosts_up MPIRUN_SH           # then:
#     $NETNS_WORK         a temporary directory, removed by netns_hosts_down
#     $NETNS_A, $NETNS_B  namespace names; $NETNS_IP_A, $NETNS_IP_B their addresses
#     $NETNS_LINK_A, $NETNS_LINK_B  the root-namespace ends of their veths (cut one to cut the host off)
#     $NETNS_MPIRUN       a script taking mpirun arguments: ranks 0, 1 on host A, 2, 3 on host B,
#                         btl self,tcp only, the variables of NETNS_FORWARD_ENV passed to the ranks
#
# Host A and host B have their own IPs on a /24 whose bridge (with an address of
# its own) lives in the root namespace, where mpirun runs; mpirun starts its
# remote daemons through an rsh agent that enters the host's namespace.  The
# namespaces share the file system and the process table with the root one.

netns_require_root() {
  if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "needs root and iproute2: skipped"
    exit 77
  fi
}

# Variables forwarded to the ranks on both hosts when set (mpirun -x).
NETNS_FORWARD_ENV="SWITCHYARD_TEST_STALL SWITCHYARD_TEST_NODE_SIZE OPENBLAS_NUM_THREADS OMP_NUM_THREADS"

netns_hosts_up() {
  local mpirun_sh=$1
  NETNS_TAG=sy$(( $$ % 100000 ))          # interface names must stay under 16 characters
  # A /24 no other interface uses (another netns test may be running).
  local octet try
  for try in $(seq 0 199); do
    octet=$(( 20 + ($$ + try) % 200 ))
    ip -4 addr show | grep -q "inet 10\.213\.$octet\." || break
  done
  NETNS_SUBNET=10.213.$octet
  NETNS_WORK=$(mktemp -d)
  NETNS_A=$NETNS_TAG-a NETNS_B=$NETNS_TAG-b
  NETNS_IP_A=$NETNS_SUBNET.2 NETNS_IP_B=$NETNS_SUBNET.3
  NETNS_LINK_A=${NETNS_TAG}va NETNS_LINK_B=${NETNS_TAG}vb
  NETNS_MPIRUN=$NETNS_WORK/mpirun.sh

  ip link add "${NETNS_TAG}br" type bridge || return 1
  ip addr add "$NETNS_SUBNET.1/24" dev "${NETNS_TAG}br" || return 1
  ip link set "${NETNS_TAG}br" up || return 1
  local hi h i
  for hi in a:2 b:3; do
    h=${hi%%:*} i=${hi##*:}
    ip netns add "$NETNS_TAG-$h" || return 1
    ip link add "${NETNS_TAG}v$h" type veth peer name "${NETNS_TAG}p$h" || return 1
    ip link set "${NETNS_TAG}p$h" netns "$NETNS_TAG-$h" || return 1
    ip link set "${NETNS_TAG}v$h" master "${NETNS_TAG}br" up || return 1
    ip netns exec "$NETNS_TAG-$h" ip addr add "$NETNS_SUBNET.$i/24" dev "${NETNS_TAG}p$h" || return 1
    ip netns exec "$NETNS_TAG-$h" ip link set "${NETNS_TAG}p$h" up || return 1
    ip netns exec "$NETNS_TAG-$h" ip link set lo up || return 1
  done

  # mpirun's remote-shell agent: skip options, map the host address to its namespace.
  cat >"$NETNS_WORK/rsh.sh" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do case "\$1" in -*) shift;; *) break;; esac; done
host=\$1; shift
case "\$host" in
  $NETNS_IP_A) ns=$NETNS_A;;
  $NETNS_IP_B) ns=$NETNS_B;;
  *) echo "rsh.sh: unknown host \$host" >&2; exit 1;;
esac
exec ip netns exec "\$ns" sh -c "\$*"
EOF
  # Open MPI's remote daemon start-up occasionally crashes inside hwloc here
  # (orted SIGSEGV in hwloc_shmem_topology_write); such a run is retried,
  # nothing else is.
  local forward="" v
  for v in $NETNS_FORWARD_ENV; do forward="$forward \${$v:+-x $v}"; done
  cat >"$NETNS_MPIRUN" <<EOF
#!/usr/bin/env bash
for attempt in 1 2 3; do
  bash $mpirun_sh --host $NETNS_IP_A:2,$NETNS_IP_B:2 --mca plm_rsh_agent $NETNS_WORK/rsh.sh \\
    --mca btl self,tcp --mca btl_tcp_if_include $NETNS_SUBNET.0/24 --mca oob_tcp_if_include $NETNS_SUBNET.0/24 \\
    $forward "\$@" >$NETNS_WORK/out.\$\$.\$attempt 2>&1
  rc=\$?
  grep -q "ORTE was unable to reliably start" $NETNS_WORK/out.\$\$.\$attempt || break
  echo "[netns: daemon start-up failed, retrying]"
done
cat $NETNS_WORK/out.\$\$.\$attempt
exit \$rc
EOF
  chmod +x "$NETNS_WORK/rsh.sh" "$NETNS_MPIRUN"
}

# Everything netns_hosts_up created, also after a failure half-way.  Processes
# still running in the namespaces (e.g. an orted cut off from mpirun) are ours: killed.
netns_hosts_down() {
  [ -n "${NETNS_TAG:-}" ] || return 0
  local h pids
  for h in a b; do
    pids=$(ip netns pids "$NETNS_TAG-$h" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    ip netns del "$NETNS_TAG-$h" 2>/dev/null
    ip link del "${NETNS_TAG}v$h" 2>/dev/null
  done
  ip link del "${NETNS_TAG}br" 2>/dev/null
  rm -rf "$NETNS_WORK"
  return 0
}
