#!/usr/bin/env bash
# Boots the kernel lab and runs bench/stacd-scale.ts inside it. Usage: bench/stacd-scale.sh [SIZES [AEN_ROUNDS [ROUNDS]]]
# e.g. bench/stacd-scale.sh 16,64,256 20 3   (STAS_BENCH_PROF=DIR: CPU profiles of the daemons in DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
bash lab/setup.sh --build-only
prof=()
[ -z "${STAS_BENCH_PROF:-}" ] || { mkdir -p "$STAS_BENCH_PROF" && prof=(--rw "$STAS_BENCH_PROF" --env "STAS_BENCH_PROF=$STAS_BENCH_PROF"); }
bash lab/vm-run.sh --timeout 3000 --mem 2048 "${prof[@]}" -- node dist/bench/stacd-scale.js "${1:-16,64,256}" "${2:-20}" "${3:-3}"
