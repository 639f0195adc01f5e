#!/usr/bin/env bash
# bench/report.sh: the issue 14 report in ONE lab boot — AEN -> live and removal -> gone (stas vs nvme-cli's udev
# rule path), start -> bus name, RSS (idle, 10,000 / 65,536 entries) and connect of N (stacd vs bare writes and
# nvme connect-all), then one summary table (bench/report.ts). Figures only: nothing is asserted.
#
#   bench/report.sh [--quick] [--dist DIR] [--mem MB] [--timeout S] [-- REPORT OPTIONS...]
#
#   --quick       small sizes (N=16,64), 5 changes, 2 start-up rounds: a quick check of the whole chain
#   --dist DIR    the tsc output tree to build and run (default dist-bench; built with tsc + tools/bundle.js)
#   --no-build    run DIR as it is
#   --mem MB      guest memory (default 4096: stafd with 65,536 entries and N=1024 controllers)
#   --timeout S   kill the guest after S seconds (default 7200)
# Other options go to bench/report.ts: --sizes 16,64,256,1024 --changes 20 --n 16 --dc-hosts kernel
#   --rounds 1 --startup-rounds 5 --parts aen,startup,memory,scale
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=dist-bench MEM=4096 TIMEOUT=7200 BUILD=1
ARGS=()
while [ $# -gt 0 ]; do
  case $1 in
    --dist) DIST=${2%/} && shift 2 ;;
    --mem) MEM=$2 && shift 2 ;;
    --timeout) TIMEOUT=$2 && shift 2 ;;
    --no-build) BUILD='' && shift ;;
    --) shift && ARGS+=("$@") && break ;;
    *) ARGS+=("$1") && shift ;;
  esac
done
if [ -n "$BUILD" ]; then
  npx tsc -p tsconfig.json --outDir "$DIST"
  node "$DIST/tools/bundle.js"
fi
bash lab/setup.sh --build-only
COMMIT=${STAS_BENCH_COMMIT:-$(git rev-parse --short HEAD)}
[ -n "${STAS_BENCH_COMMIT:-}" ] || git diff --quiet HEAD -- src || COMMIT="$COMMIT+uncommitted src changes"
bash lab/vm-run.sh --timeout "$TIMEOUT" --mem "$MEM" --env "STAS_BENCH_COMMIT=$COMMIT" -- \
  node "$DIST/bench/report.js" "${ARGS[@]}"
