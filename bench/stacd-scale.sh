#!/usr/bin/env bash
# Boots the kernel lab and runs bench/stacd-scale.ts inside it. Usage: bench/stacd-scale.sh [SIZES [AEN_ROUNDS]]
# e.g. bench/stacd-scale.sh 16,64,256 20
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
bash lab/setup.sh --build-only
bash lab/vm-run.sh --timeout 3000 --mem 2048 -- node dist/bench/stacd-scale.js "${1:-16,64,256}" "${2:-20}"
