#!/usr/bin/env bash
# Installs Mesa >= 23 lavapipe (a software Vulkan driver that Dawn accepts) from Debian 12's
# bookworm-backports, so the webgpu code path can be tested on a CPU-only machine.
# Idempotent; needs root on Debian. Exits 0 without doing anything when lavapipe is present.
set -euo pipefail

has_lavapipe() {
  local icd
  for icd in /usr/share/vulkan/icd.d/lvp_icd*.json; do
    [[ -e "$icd" ]] || continue
    local version
    version=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo 0)
    # Dawn refuses bookworm's Mesa 22.3 lavapipe; backports carry 25.x.
    dpkg --compare-versions "$version" ge 23 && return 0
  done
  return 1
}

if has_lavapipe; then
  echo "install-lavapipe: Mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) lavapipe already present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-lavapipe: needs root to apt-get install mesa-vulkan-drivers from bookworm-backports" >&2
  exit 1
fi
sources=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat >"$sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
has_lavapipe || { echo "install-lavapipe: lavapipe still missing after install" >&2; exit 1; }
echo "install-lavapipe: installed Mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) lavapipe"
