#!/usr/bin/env bash
# Removes everything minik installed and created on this host (modelled on k3s-uninstall.sh).
# Installed as <bin-dir>/minik-uninstall.sh by install.sh.
#
#   minik-uninstall.sh [--bin-dir DIR] [--root DIR]
#
#   --bin-dir DIR  where minik was installed (default: this script's directory when it is
#                  installed there, else /usr/local/bin)
#   --root DIR     remove the files under DIR instead of / (packaging and tests): no killall,
#                  no systemctl
#
# It runs minik-killall.sh (stop minik, kill its shims and containers, unmount, delete its
# interfaces and nftables tables), disables and removes minik.service and minik-agent.service,
# then removes <bin-dir>/minik, the killall and uninstall scripts, /etc/minik (config, agent
# env file and the default kubeconfig /etc/minik/minik.yaml), /var/lib/minik (or
# MINIK_DATA_DIR), /run/minik, the pods' logs /var/log/pods and their links in
# /var/log/containers. Nothing outside those paths is touched.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
if [ -x "${HERE}/minik" ] || [ "$(basename -- "${BASH_SOURCE[0]}")" = "minik-uninstall.sh" ]; then
  BIN_DIR=$HERE
else
  BIN_DIR=/usr/local/bin
fi
ROOT=/
DATA_DIR=${MINIK_DATA_DIR:-/var/lib/minik}

die() { echo "uninstall.sh: $*" >&2; exit 1; }
info() { echo "[minik-uninstall] $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a directory"; BIN_DIR=$2; shift 2 ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done
case "$BIN_DIR" in /*) ;; *) die "--bin-dir must be absolute: $BIN_DIR" ;; esac
case "$ROOT" in /*) ;; *) die "--root must be absolute: $ROOT" ;; esac
ROOT=${ROOT%/}
# A BIN_DIR found from this script's location inside --root is relative to that root.
if [ -n "$ROOT" ]; then
  case "$BIN_DIR" in "$ROOT"/*) BIN_DIR=${BIN_DIR#"$ROOT"} ;; esac
fi
case "$DATA_DIR" in
  /*) ;;
  *) die "MINIK_DATA_DIR must be absolute: $DATA_DIR" ;;
esac
case "$DATA_DIR" in */../*|*/..|*/./*|*//*) die "refusing a non-canonical data dir: $DATA_DIR" ;; esac
DATA_DIR=${DATA_DIR%/}
case "${DATA_DIR##*/}" in
  minik|minik[-._]*) ;;
  *) die "refusing a data dir whose last component does not start with \"minik\": $DATA_DIR" ;;
esac
[ -n "$ROOT" ] || [ "$(id -u)" -eq 0 ] || die "must run as root"

UNITS=(minik.service minik-agent.service)
SYSTEMD_DIR="${ROOT}/etc/systemd/system"

if [ -z "$ROOT" ]; then
  # Stop everything first.
  if [ -x "${BIN_DIR}/minik-killall.sh" ]; then
    MINIK_DATA_DIR=$DATA_DIR MINIK_BIN="${BIN_DIR}/minik" "${BIN_DIR}/minik-killall.sh"
  elif [ -x "${HERE}/minik-killall.sh" ]; then
    MINIK_DATA_DIR=$DATA_DIR MINIK_BIN="${BIN_DIR}/minik" "${HERE}/minik-killall.sh"
  else
    die "minik-killall.sh not found next to ${BIN_DIR}/minik nor this script"
  fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    for unit in "${UNITS[@]}"; do
      if systemctl cat "$unit" >/dev/null 2>&1; then
        info "disabling ${unit}"
        systemctl disable "$unit" >/dev/null 2>&1 || true
      fi
    done
  fi
fi

for unit in "${UNITS[@]}"; do
  if [ -e "${SYSTEMD_DIR}/${unit}" ]; then
    info "removing ${SYSTEMD_DIR#"$ROOT"}/${unit}"
    rm -f -- "${SYSTEMD_DIR:?}/${unit}"
  fi
done
if [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  for unit in "${UNITS[@]}"; do
    systemctl reset-failed "$unit" >/dev/null 2>&1 || true
  done
fi

# True if something is still mounted at or under $1: removing it then could reach into a bind
# mount of a path outside minik (a hostPath volume), so it is refused.
has_mounts_under() {
  local _dev mnt _rest
  while read -r _dev mnt _rest; do
    mnt=$(printf '%b' "$mnt")
    case "$mnt" in
      "$1"|"$1"/*) return 0 ;;
    esac
  done </proc/self/mounts
  return 1
}

failed=0
# The container log links (/var/log/containers/*.log -> /var/log/pods/...), then the logs.
if [ -d "${ROOT}/var/log/containers" ]; then
  for link in "${ROOT}/var/log/containers"/*.log; do
    [ -L "$link" ] || continue
    case "$(readlink -- "$link")" in
      /var/log/pods/*) rm -f -- "$link" ;;
    esac
  done
fi
for dir in "${ROOT}/etc/minik" "${ROOT}${DATA_DIR}" "${ROOT}/run/minik" "${ROOT}/var/log/pods"; do
  [ -e "$dir" ] || continue
  if has_mounts_under "$dir"; then
    echo "uninstall.sh: ${dir} still has mounts under it; not removing it (unmount them and run again)" >&2
    failed=1
    continue
  fi
  info "removing ${dir#"$ROOT"}"
  rm -rf --one-file-system -- "${dir:?}"
done

if [ "$failed" -ne 0 ]; then
  exit 1  # keep this script and minik-killall.sh to run again
fi

for f in minik minik-killall.sh minik-uninstall.sh; do
  if [ -e "${ROOT}${BIN_DIR}/${f}" ]; then
    info "removing ${BIN_DIR}/${f}"
    rm -f -- "${ROOT}${BIN_DIR:?}/${f}"
  fi
done
info "minik is uninstalled"
