#!/usr/bin/env bash
# Stops minik and everything it started on this host (modelled on k3s's k3s-killall.sh):
#   1. stops minik.service and minik-agent.service;
#   2. kills the processes minik left running on purpose (KillMode=process): the per-container
#      shims and their containers, i.e. every process running the installed minik binary or a
#      program under the data dir or /run/minik, or living in a cgroup named minik, minik-*,
#      minik.* or minik_* (the units' cgroups and the pods'), with all their descendants;
#   3. unmounts everything mounted under the data dir, /run/minik and /run/netns/minik-*, and
#      deletes the minik-* network namespaces;
#   4. removes the network interfaces minik creates: the "minik0" bridge with the veths attached
#      to it, and the "minik.vxlan" VXLAN device;
#   5. deletes minik's nftables tables (any family) named minik, minik-*, minik.* or minik_*.
# Data (the data dir, /etc/minik) is left in place: minik-uninstall.sh removes it.
#
# Environment: MINIK_DATA_DIR (default /var/lib/minik), MINIK_BIN (default: minik next to this
# script, else /usr/local/bin/minik).
set -euo pipefail

DATA_DIR=${MINIK_DATA_DIR:-/var/lib/minik}
RUN_DIR=/run/minik
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
if [ -n "${MINIK_BIN:-}" ]; then
  BIN=$MINIK_BIN
elif [ -x "${HERE}/minik" ]; then
  BIN="${HERE}/minik"
else
  BIN=/usr/local/bin/minik
fi
BRIDGE=minik0
VXLAN=minik.vxlan
NETNS_PREFIX=minik-

die() { echo "minik-killall.sh: $*" >&2; exit 1; }
info() { echo "[minik-killall] $*"; }

[ "$(id -u)" -eq 0 ] || die "must run as root"

# Refuse a data dir that is not clearly minik's own: absolute, no "..", last component "minik"
# or "minik-*", "minik.*", "minik_*".
check_own_path() {
  case "$1" in
    /*) ;;
    *) die "not an absolute path: $1" ;;
  esac
  case "$1" in
    */../*|*/..|*/./*|*//*) die "refusing a non-canonical path: $1" ;;
  esac
  local base=${1%/}
  base=${base##*/}
  case "$base" in
    minik|minik[-._]*) ;;
    *) die "refusing a path whose last component does not start with \"minik\": $1" ;;
  esac
}
check_own_path "$DATA_DIR"
DATA_DIR=${DATA_DIR%/}

# ---- 1. services ----
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for unit in minik.service minik-agent.service; do
    if systemctl cat "$unit" >/dev/null 2>&1; then
      info "stopping ${unit}"
      systemctl stop "$unit" || true
    fi
  done
fi

# ---- 2. processes ----
# Children of a pid (from /proc, no ps needed).
children_of() {
  local parent=$1 stat pid rest _state ppid
  for stat in /proc/[0-9]*/stat; do
    # "pid (comm) state ppid ..." where comm may hold spaces and parentheses.
    { IFS= read -r rest <"$stat"; } 2>/dev/null || continue
    pid=${rest%% *}
    rest=${rest##*) }
    read -r _state ppid _ <<<"$rest"
    if [ "$ppid" = "$parent" ]; then echo "$pid"; fi
  done
  return 0
}

# The pid and all its descendants.
tree_of() {
  local pid=$1 child
  echo "$pid"
  for child in $(children_of "$pid"); do
    tree_of "$child"
  done
}

# Processes minik owns: the minik binary itself (server, agent, shims), programs run from
# minik's directories, and everything in a cgroup minik created or runs in (a path component
# "minik" or starting with "minik-", "minik." or "minik_": minik.service, minik-agent.service,
# the pods' cgroups). An editor that
# merely has a file of the data dir open is not one of them.
minik_pids() {
  local dir pid exe argv0 cg bin_real
  bin_real=$(readlink -f -- "$BIN" 2>/dev/null || echo "$BIN")
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ "$pid" = "$$" ] && continue
    [ "$pid" = "$PPID" ] && continue
    exe=$(readlink -- "$dir/exe" 2>/dev/null || true)
    exe=${exe% (deleted)}
    argv0=$(head -z -n 1 "$dir/cmdline" 2>/dev/null | tr -d '\0' || true)
    case "$exe" in
      "$bin_real"|"${DATA_DIR}/"*|"${RUN_DIR}/"*) echo "$pid"; continue ;;
    esac
    case "$argv0" in
      "${DATA_DIR}/"*|"${RUN_DIR}/"*) echo "$pid"; continue ;;
    esac
    cg=$(cat "$dir/cgroup" 2>/dev/null || true)
    case "$cg" in
      */minik|*/minik/*|*/minik[-._]*) echo "$pid" ;;
    esac
  done
  return 0
}

mapfile -t roots < <(minik_pids)
if [ "${#roots[@]}" -gt 0 ]; then
  pids=()
  for pid in "${roots[@]}"; do
    mapfile -t -O "${#pids[@]}" pids < <(tree_of "$pid")
  done
  info "killing ${#pids[@]} processes"
  kill -9 "${pids[@]}" 2>/dev/null || true
fi

# ---- 3. mounts and network namespaces ----
# Mount points under a prefix, deepest first (/proc/self/mounts escapes spaces as \040).
mounts_under() {
  local prefix=$1 _dev mnt _rest
  while read -r _dev mnt _rest; do
    mnt=$(printf '%b' "$mnt")  # \040 -> space, \011 -> tab, ...
    case "$mnt" in
      "$prefix"|"$prefix"/*) echo "$mnt" ;;
    esac
  done </proc/self/mounts | sort -r | uniq
}

unmount_under() {
  local mnt
  while IFS= read -r mnt; do
    [ -n "$mnt" ] || continue
    umount -- "$mnt" 2>/dev/null || umount -l -- "$mnt" 2>/dev/null || info "could not unmount ${mnt}"
  done < <(mounts_under "$1")
}

info "unmounting under ${DATA_DIR} and ${RUN_DIR}"
unmount_under "$DATA_DIR"
unmount_under "$RUN_DIR"
if [ -d /run/netns ]; then
  for ns in /run/netns/"${NETNS_PREFIX}"*; do
    [ -e "$ns" ] || continue
    unmount_under "$ns"
  done
fi
if command -v ip >/dev/null 2>&1; then
  while read -r ns _rest; do
    case "$ns" in
      "${NETNS_PREFIX}"*) info "deleting network namespace ${ns}"; ip netns delete "$ns" 2>/dev/null || true ;;
    esac
  done < <(ip netns list 2>/dev/null || true)
fi

# ---- 4. network interfaces ----
if command -v ip >/dev/null 2>&1; then
  if ip link show dev "$BRIDGE" >/dev/null 2>&1; then
    while read -r _idx iface _rest; do
      iface=${iface%:}
      iface=${iface%%@*}
      if [ -n "$iface" ]; then ip link delete dev "$iface" 2>/dev/null || true; fi
    done < <(ip -o link show master "$BRIDGE" 2>/dev/null || true)
  fi
  for link in "$BRIDGE" "$VXLAN"; do
    if ip link show dev "$link" >/dev/null 2>&1; then
      info "deleting interface ${link}"
      ip link delete dev "$link" || true
    fi
  done
fi

# ---- 5. nftables ----
if command -v nft >/dev/null 2>&1; then
  while read -r _table family name; do
    case "$name" in
      minik|minik[-._]*) info "deleting nftables table ${family} ${name}"; nft delete table "$family" "$name" || true ;;
    esac
  done < <(nft list tables 2>/dev/null || true)
fi

rm -rf -- "$RUN_DIR"
info "done"
