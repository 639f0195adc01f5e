#!/usr/bin/env bash
# Runs every test stas has: lint, unit tests with coverage thresholds, and the end-to-end tests inside the
# kernel lab (real nvmet target and nvme-tcp host in QEMU). Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== lint"
npm run --silent lint

echo "== build"
npm run --silent build

# Coverage is gathered over both host suites (c8 keeps the first run's data: --clean=false) and checked once.
echo "== unit tests: the pure core and the programs' logic, in memory"
npx c8 --reporter=none node --test --test-reporter=spec dist/test/unit/

echo "== host integration tests: private dbus-daemon, avahi, the native addon, sockets, subprocesses (with coverage)"
npx c8 --clean=false --check-coverage node --test --test-reporter=spec dist/test/integration/

echo "== kernel lab tests"
bash lab/run-lab-tests.sh
