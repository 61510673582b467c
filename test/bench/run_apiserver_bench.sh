#!/usr/bin/env bash
# Starts minik in a private network namespace with a fresh data dir and measures: cold start
# to /readyz, idle RSS, the API benchmark (creates, GETs, watch fan-out), RSS holding 10,000
# ConfigMaps of 1 KiB, and restart time with them.
# Usage: test/bench/run_apiserver_bench.sh [BUILD_DIR]   (as root; touches only its own netns)
set -euo pipefail
BUILD=${1:-build}
MINIK=$(realpath "$BUILD/minik")
BENCH=$(realpath "$BUILD/test/bench/server/apiserver_bench")
NS=minik-bench-$$
TMP=$(mktemp -d /tmp/minik-bench-XXXXXX)
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; fi
  # Anything else still running in the namespace (a server started by an interrupted run).
  ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
touch "$TMP/config.yaml"
TLS="$TMP/data/server/tls"
STARTUP_MS=0
start() {
  local t0 t1
  t0=$(date +%s%N)
  ip netns exec "$NS" "$MINIK" server --config "$TMP/config.yaml" --data-dir "$TMP/data" \
    --write-kubeconfig "$TMP/kc.yaml" --bind-address 127.0.0.1 --disable-agent --log-level warn \
    >>"$TMP/log" 2>&1 &
  PID=$!
  until [ -f "$TLS/client-admin.key" ] && ip netns exec "$NS" curl -sf --cacert "$TLS/server-ca.crt" \
      --cert "$TLS/client-admin.crt" --key "$TLS/client-admin.key" https://127.0.0.1:6443/readyz >/dev/null 2>&1; do
    sleep 0.002
  done
  t1=$(date +%s%N)
  STARTUP_MS=$(( (t1 - t0) / 1000000 ))
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$PID/status"; }

start
echo "cold_start_first_boot_ms: $STARTUP_MS (includes creating the CAs and certificates)"
stop
start
echo "cold_start_to_readyz_ms: $STARTUP_MS"
sleep 2
echo "rss_idle_mb: $(rss_mb)"
# Manifests directory: time from writing a file to the object being served.
get_cm() {
  ip netns exec "$NS" curl -sf -o /dev/null --cacert "$TLS/server-ca.crt" --cert "$TLS/client-admin.crt" \
    --key "$TLS/client-admin.key" https://127.0.0.1:6443/api/v1/namespaces/default/configmaps/manifest-bench
}
t0=$(date +%s%N)
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: manifest-bench\n' >"$TMP/data/server/manifests/bench.yaml"
until get_cm; do sleep 0.005; done
t1=$(date +%s%N)
echo "manifest_file_to_object_ms: $(( (t1 - t0) / 1000000 ))"
ip netns exec "$NS" "$BENCH" --port 6443 --tls-dir "$TLS"
echo "rss_after_api_bench_mb: $(rss_mb)"
stop
rm -rf "$TMP/data/server/db"
start
ip netns exec "$NS" "$BENCH" --port 6443 --tls-dir "$TLS" --namespace fill --single-creates 0 --creates 10000 \
  --payload 1024 --gets 0 --watchers 0
sleep 1
echo "rss_with_10000_1KiB_configmaps_mb: $(rss_mb)"
stop
start
echo "restart_with_10000_configmaps_to_readyz_ms: $STARTUP_MS"
echo "rss_after_restart_with_10000_configmaps_mb: $(rss_mb)"
