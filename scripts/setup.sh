#!/usr/bin/env bash
# Installs everything stas needs for building, testing and the demo on Debian 12 (run as root):
# Node packages (npm ci), and the kernel lab (QEMU, Debian kernel, busybox, nvme-cli) via lab/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

need_node_major=20
if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt "$need_node_major" ]; then
  echo "setup: Node.js >= ${need_node_major} is required (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "setup: on Debian 12 install it from the NodeSource or Debian backports packages, then re-run." >&2
  exit 1
fi

# The native addon (native/stas_native.c) is compiled by node-gyp during npm ci.
missing=()
for tool in python3 make g++; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing build tools for the native addon (missing: ${missing[*]})"
  apt-get update
  apt-get install -y --no-install-recommends python3 make g++
fi

# D-Bus and Avahi for the daemon tests (a private dbus-daemon, a real avahi-daemon in a network namespace);
# dpkg-dev (dpkg-shlibdeps) for `make deb`, init-system-helpers (deb-systemd-helper) for its maintainer scripts.
pkgs=()
for pair in dbus-daemon:/usr/bin/dbus-daemon systemd:/usr/bin/busctl avahi-daemon:/usr/sbin/avahi-daemon \
  avahi-utils:/usr/bin/avahi-publish iproute2:/usr/sbin/ip util-linux:/usr/bin/unshare \
  dpkg-dev:/usr/bin/dpkg-shlibdeps binutils:/usr/bin/strip init-system-helpers:/usr/bin/deb-systemd-helper; do
  [ -x "${pair#*:}" ] || pkgs+=("${pair%%:*}")
done
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "== installing ${pkgs[*]}"
  apt-get update
  apt-get install -y --no-install-recommends "${pkgs[@]}"
fi

echo "== npm ci"
npm ci --no-audit --no-fund

echo "== kernel lab"
bash lab/setup.sh

echo "== build"
npm run --silent build
