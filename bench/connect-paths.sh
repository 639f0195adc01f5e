#!/usr/bin/env bash
# bench/connect-paths.sh [N] [ROUNDS]: where connect time goes between bare /dev/nvme-fabrics writes and stacd's
# adapter (node:fs vs the addon's one-job connect; with an idle stafd beside it), in one lab boot
# (bench/connect-paths.ts). Figures only.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
bash lab/setup.sh --build-only
bash lab/vm-run.sh --timeout 3000 --mem 2048 -- node dist/bench/connect-paths.js "${1:-256}" "${2:-3}"
