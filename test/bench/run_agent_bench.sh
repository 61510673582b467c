#!/usr/bin/env bash
# The agent on real containers (issue 4 targets): pod startup latency, agent and shim memory,
# 110 pods on one node, and runc alone for comparison. See test/bench/agent/README.md.
# Usage: test/bench/run_agent_bench.sh [BUILD_DIR|MINIK_BINARY] [agent_bench.py options and scenarios]
#        e.g. test/bench/run_agent_bench.sh build --trace-runc startup
# As root. Each scenario runs its own server in private network and mount namespaces under a
# private cgroup root and removes everything it made (pods, shims, mounts, cgroups, files).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TARGET=${1:-build}
shift || true
if [ -d "$TARGET" ]; then MINIK="$TARGET/minik"; else MINIK="$TARGET"; fi
[ -x "$MINIK" ] || { echo "run_agent_bench.sh: $MINIK is not an executable" >&2; exit 1; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" -B "$HERE/agent/agent_bench.py" --minik "$(realpath "$MINIK")" "$@"
