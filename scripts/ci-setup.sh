#!/usr/bin/env bash
# Arranges what the test command needs beyond Node and pnpm, idempotently (run it any
# number of times; apt-get runs only when something is missing):
#   - Debian's python3-torch and python3-torchvision for /usr/bin/python3: the fixture
#     generators (scripts/fixtures/) that the drift check and the full ResNet parity run.
#   - Mesa >= 23 lavapipe (software Vulkan, from bookworm-backports; scripts/install-lavapipe.sh)
#     so the webgpu parity suite runs det's ops on tfjs-backend-webgpu through Dawn without a GPU.
#   - Debian's chromium for apps/playground's browser test (driven by playwright-core through
#     /usr/bin/chromium; no browser download).
# Without them those tests fail with the reason; they never skip. (The permission-denied
# test needs no setup: as root it drops its effective uid to nobody itself.)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/install-lavapipe.sh"

missing=()
if ! /usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1; then
  missing+=(python3-torch python3-torchvision)
fi
if [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "ci-setup: everything present (torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), torchvision $(/usr/bin/python3 -c 'import torchvision; print(torchvision.__version__)'), $(/usr/bin/chromium --version 2>/dev/null || echo chromium))"
  exit 0
fi

echo "ci-setup: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "ci-setup: need root or sudo to install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
[ -x /usr/bin/chromium ] || {
  echo "ci-setup: chromium installed but /usr/bin/chromium is missing" >&2
  exit 1
}
/usr/bin/python3 -c 'import torch, torchvision' || {
  echo "ci-setup: python3-torch / python3-torchvision installed but not importable" >&2
  exit 1
}
