#!/usr/bin/env bash
# The demo: sets everything up (scripts/setup.sh), then boots the kernel lab and runs lab/demo.ts inside it:
# a real nvmet target, stas' host identity, userspace discovery, kernel connects, and an AEN-driven connect.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash lab/vm-run.sh --timeout 600 -- node dist/lab/demo.js
