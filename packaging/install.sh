#!/usr/bin/env bash
# Installs minik as a systemd service (modelled on k3s's install.sh, without the download).
#
#   packaging/install.sh [options]                  server: minik.service
#   packaging/install.sh --agent URL TOKEN [...]    agent:  minik-agent.service
#
# Options:
#   --binary PATH     the minik binary to install (default: build/minik of this checkout)
#   --bin-dir DIR     where minik and its scripts go (default: /usr/local/bin)
#   --agent URL TOKEN install the agent unit, joining the server at URL with TOKEN
#   --no-start        enable the unit but do not (re)start it
#   --root DIR        install under DIR instead of / (packaging and tests; implies no systemctl)
#   -h, --help        this text
#
# What it writes: <bin-dir>/minik, <bin-dir>/minik-killall.sh, <bin-dir>/minik-uninstall.sh,
# /etc/systemd/system/minik.service (or minik-agent.service), /etc/minik/ (and, for an agent,
# /etc/minik/minik-agent.env with MINIK_URL and MINIK_TOKEN, mode 0600). Idempotent: running it
# again replaces the binary and the units and restarts the service.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
BINARY="${HERE}/../build/minik"
BIN_DIR=/usr/local/bin
ROOT=/
AGENT=0
URL=""
TOKEN=""
START=1

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
die() { echo "install.sh: $*" >&2; exit 1; }
info() { echo "[minik] $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || die "--binary needs a path"; BINARY=$2; shift 2 ;;
    --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a directory"; BIN_DIR=$2; shift 2 ;;
    --agent)
      [ $# -ge 3 ] || die "--agent needs URL and TOKEN"
      AGENT=1; URL=$2; TOKEN=$3; shift 3 ;;
    --no-start) START=0; shift ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

case "$BIN_DIR" in /*) ;; *) die "--bin-dir must be absolute: $BIN_DIR" ;; esac
case "$ROOT" in /*) ;; *) die "--root must be absolute: $ROOT" ;; esac
ROOT=${ROOT%/}
if [ "$AGENT" -eq 1 ]; then
  case "$URL" in https://*) ;; *) die "agent URL must start with https://: $URL" ;; esac
  [ -n "$TOKEN" ] || die "agent TOKEN is empty"
  case "$URL$TOKEN" in *[[:space:]\"\'\\]*) die "URL and TOKEN may not contain spaces, quotes or backslashes" ;; esac
fi
if [ ! -f "$BINARY" ] || [ ! -x "$BINARY" ]; then
  die "no executable minik binary at $BINARY (build it first, or pass --binary)"
fi
if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
  die "must run as root"
fi

SYSTEMD_DIR="${ROOT}/etc/systemd/system"
CONFIG_DIR="${ROOT}/etc/minik"
DEST_BIN="${ROOT}${BIN_DIR}"

# Copies src to dst with mode through a temporary file and a rename, so that a running binary
# is replaced atomically ("text file busy" never happens) and a partial copy never appears.
install_file() {
  local src=$1 dst=$2 mode=$3 tmp
  tmp=$(mktemp "${dst}.XXXXXX")
  cat -- "$src" >"$tmp"
  chmod "$mode" "$tmp"
  mv -f -- "$tmp" "$dst"
}

mkdir -p -- "$DEST_BIN" "$SYSTEMD_DIR"
mkdir -p -- "$CONFIG_DIR"
chmod 0755 "$CONFIG_DIR"

info "Installing minik to ${BIN_DIR}/minik"
install_file "$BINARY" "${DEST_BIN}/minik" 0755
install_file "${HERE}/minik-killall.sh" "${DEST_BIN}/minik-killall.sh" 0755
install_file "${HERE}/uninstall.sh" "${DEST_BIN}/minik-uninstall.sh" 0755

if [ "$AGENT" -eq 1 ]; then
  UNIT=minik-agent.service
  info "Writing ${CONFIG_DIR#"$ROOT"}/minik-agent.env"
  env_tmp=$(mktemp "${CONFIG_DIR}/minik-agent.env.XXXXXX")
  chmod 0600 "$env_tmp"
  printf 'MINIK_URL=%s\nMINIK_TOKEN=%s\n' "$URL" "$TOKEN" >"$env_tmp"
  mv -f -- "$env_tmp" "${CONFIG_DIR}/minik-agent.env"
else
  UNIT=minik.service
fi

info "Installing systemd unit ${UNIT}"
unit_tmp=$(mktemp)
trap 'rm -f -- "$unit_tmp"' EXIT
sed "s|/usr/local/bin/minik |${BIN_DIR}/minik |" "${HERE}/systemd/${UNIT}" >"$unit_tmp"
install_file "$unit_tmp" "${SYSTEMD_DIR}/${UNIT}" 0644

if [ -n "$ROOT" ]; then
  info "Installed under ${ROOT}; systemctl skipped"
  exit 0
fi
if [ ! -d /run/systemd/system ]; then
  info "systemd is not running; start minik with: ${BIN_DIR}/minik $([ "$AGENT" -eq 1 ] && echo agent || echo server)"
  exit 0
fi
systemctl daemon-reload
systemctl enable "$UNIT" >/dev/null
info "Enabled ${UNIT}"
if [ "$START" -eq 1 ]; then
  systemctl restart "$UNIT"
  info "Started ${UNIT}"
fi
