#!/usr/bin/env bash
# Installs every Debian package minik needs to build, test and run.
# Idempotent and non-interactive: safe to run again; installs only what is missing.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config
  # libraries
  libsqlite3-dev sqlite3 libuv1-dev node-llhttp rapidjson-dev libyaml-cpp-dev
  libnl-3-dev libnl-route-3-dev libnftables-dev libssl-dev openssl libarchive-dev libzstd-dev zlib1g-dev
  # tests
  catch2 python3 python3-kubernetes curl iproute2 nftables shellcheck
  # test images and registry tests (built offline from Debian packages)
  busybox-static docker-registry skopeo
  # runtime
  runc
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
