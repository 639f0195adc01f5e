#!/usr/bin/env bash
# Runs every test stas has: lint, unit tests with coverage thresholds, and the end-to-end tests inside the
# kernel lab (real nvmet target and nvme-tcp host in QEMU). Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== lint"
npm run --silent lint

echo "== build"
npm run --silent build

echo "== unit tests (with coverage)"
npx c8 --check-coverage node --test --test-reporter=spec dist/test/unit/

echo "== kernel lab tests"
bash lab/run-lab-tests.sh
