#!/usr/bin/env bash
# The control plane at scale, on hollow nodes, in a private network namespace:
#   - registers NODES hollow nodes (`minik agent --fake-nodes`) and measures the server's idle
#     CPU (over 30 s) and RSS with them;
#   - a Deployment of DEPLOY replicas: time until fully available;
#   - PODS bare pods: scheduling throughput end to end (create -> bound, seen by a watch);
#   - server RSS with NODES nodes and PODS pods.
# Usage: test/bench/run_control_plane_bench.sh [BUILD_DIR] [NODES] [PODS] [DEPLOY]
#        (as root; touches only its own netns and temp dir)
# SERVER_WRAPPER (optional) prefixes the server's command line, e.g.
#   SERVER_WRAPPER="heaptrack -o /tmp/cp.heap" to see the live heap by call site.
set -euo pipefail
BUILD=${1:-build}
NODES=${2:-1000}
PODS=${3:-30000}
DEPLOY=${4:-1000}
MINIK=$(realpath "$BUILD/minik")
BENCH=$(realpath "$BUILD/test/bench/control_plane/control_plane_bench")
NS=minik-cpbench-$$
TMP=$(mktemp -d /tmp/minik-cpbench-XXXXXX)
PID=""
APID=""
cleanup() {
  if [ -n "$PID" ] && ! kill -0 "$PID" 2>/dev/null; then
    echo "the server exited early; its log ends with:"
    tail -30 "$TMP/server.log"
  fi
  [ -n "$APID" ] && kill -9 "$APID" 2>/dev/null || true
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
  ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
touch "$TMP/config.yaml"
TLS="$TMP/data/server/tls"
kc() { ip netns exec "$NS" kubectl --kubeconfig "$TMP/kc.yaml" "$@"; }
ip netns exec "$NS" ${SERVER_WRAPPER:-} "$MINIK" server --config "$TMP/config.yaml" --data-dir "$TMP/data" \
  --write-kubeconfig "$TMP/kc.yaml" --bind-address 127.0.0.1 --disable-agent --log-level warn \
  >>"$TMP/server.log" 2>&1 &
PID=$!
until [ -f "$TMP/kc.yaml" ] && kc get --raw /readyz >/dev/null 2>&1; do sleep 0.05; done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

t0=$(date +%s%N)
ip netns exec "$NS" "$MINIK" agent --join https://127.0.0.1:6443 --token "$(cat "$TMP/data/server/token")" \
  --fake-nodes "$NODES" --log-level warn >>"$TMP/agent.log" 2>&1 &
APID=$!
until [ "$(kc get nodes --no-headers 2>/dev/null | grep -c ' Ready ')" -ge "$NODES" ]; do sleep 0.2; done
t1=$(date +%s%N)
echo "nodes_${NODES}_registered_ready_ms: $(( (t1 - t0) / 1000000 ))"
sleep 15
HZ=$(getconf CLK_TCK)
c0=$(cpu_ticks "$PID"); a0=$(cpu_ticks "$APID")
sleep 30
c1=$(cpu_ticks "$PID"); a1=$(cpu_ticks "$APID")
awk -v d=$((c1 - c0)) -v hz="$HZ" 'BEGIN {printf "server_idle_cpu_percent_of_a_core_%s_nodes: %.2f\n", "'"$NODES"'", 100 * d / hz / 30}'
awk -v d=$((a1 - a0)) -v hz="$HZ" 'BEGIN {printf "hollow_agent_cpu_percent_of_a_core: %.2f\n", 100 * d / hz / 30}'
echo "server_rss_mb_${NODES}_nodes: $(rss_mb "$PID")"

ip netns exec "$NS" "$BENCH" --port 6443 --tls-dir "$TLS" --deployment "$DEPLOY" --namespace deploy
kc delete namespace deploy --wait=true --timeout=300s >/dev/null
ip netns exec "$NS" "$BENCH" --port 6443 --tls-dir "$TLS" --pods "$PODS" --concurrency 64 --namespace bench
sleep 10
echo "server_rss_mb_${NODES}_nodes_${PODS}_pods: $(rss_mb "$PID")"
c0=$(cpu_ticks "$PID")
sleep 30
c1=$(cpu_ticks "$PID")
awk -v d=$((c1 - c0)) -v hz="$HZ" 'BEGIN {printf "server_idle_cpu_percent_with_pods: %.2f\n", 100 * d / hz / 30}'
