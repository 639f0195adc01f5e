#!/usr/bin/env bash
# lab/run-lab-tests.sh: runs the compiled lab tests (dist/test/lab/) in ONE boot of the kernel lab
# guest and exits with the test run's status. Host side; `npm run test:lab` builds and calls it.
#
#   lab/run-lab-tests.sh [TEST-PATH...]      default: dist/test/lab/
#
# Builds the guest first if lab/build/ is missing or stale (lab/setup.sh --build-only; the packages
# must be installed already: lab/setup.sh without options does that). The test files run one at a time (--test-concurrency=1): they all
# share the guest kernel's single NVMe target and host.
# Environment: LAB_TIMEOUT (seconds, default 1200), LAB_MEM (MB, default 1536), LAB_CPUS (default 2).
set -euo pipefail

cd "$(dirname "$0")/.."

# Builds the guest if lab/build/ is missing or was built from another lab/init, setup.sh or kernel
# version; a no-op (about 1 s) otherwise.
bash lab/setup.sh --build-only
if [ ! -d dist/test/lab ]; then
  echo "run-lab-tests: dist/test/lab/ missing; run 'npm run build' first" >&2
  exit 2
fi
[ $# -gt 0 ] || set -- dist/test/lab/

start=$(date +%s)
status=0
bash lab/vm-run.sh --timeout "${LAB_TIMEOUT:-1200}" --mem "${LAB_MEM:-1536}" --cpus "${LAB_CPUS:-2}" -- \
  node --test --test-reporter=spec --test-concurrency=1 "$@" || status=$?
echo "run-lab-tests: exit status $status after $(($(date +%s) - start)) s (boot included)" >&2
exit "$status"
