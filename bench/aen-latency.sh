#!/usr/bin/env bash
# Boots the kernel lab and runs bench/aen-latency.ts inside it: AEN -> new I/O controller live and removal -> gone,
# stas vs nvme-cli's udev rule path, same boot. Usage: bench/aen-latency.sh [N [CHANGES [DC_HOSTS]]]
# e.g. bench/aen-latency.sh 16 20 kernel,userspace
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
bash lab/setup.sh --build-only
bash lab/vm-run.sh --timeout 3000 --mem 2048 -- node dist/bench/aen-latency.js "${1:-16}" "${2:-20}" "${3:-kernel,userspace}"
