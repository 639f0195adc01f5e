#!/usr/bin/env bash
# lab/run-lab-tests.sh: runs the compiled lab tests (dist/test/lab/) in the kernel lab guest and exits
# with the test run's status (the first failing boot's). Host side; `npm run test:lab` builds and calls it.
#
#   lab/run-lab-tests.sh [TEST-PATH...]      default: dist/test/lab/ (every test file)
#
# Up to three boots: every test file but the nBFT and systemd ones (nbft*.test.js) in a guest without an NBFT; then the nBFT
# ones in a second guest whose ACPI tables include the NBFT that `node dist/test/support/nbft-fixture.js`
# writes (lab/vm-run.sh --acpitable), so that only they see a firmware table (stafd reads it at start).
# A third boot, with systemd as PID 1 (lab/vm-run.sh --systemd), runs the systemd*.test.js files: the installed
# package's units under a real systemd. A boot with no test file to run is left out. Arguments starting with '-' go to node --test in each.
#
# Builds the guest first if lab/build/ is missing or stale (lab/setup.sh --build-only; the packages
# must be installed already: lab/setup.sh without options does that). The test files run one at a time (--test-concurrency=1): they all
# share the guest kernel's single NVMe target and host.
# A staged install (make install DESTDIR=) is made first for test/lab/install.test.ts (STAS_STAGED_ROOT), and
# the Debian package (make deb) for test/lab/deb.test.ts (STAS_DEB).
# Environment: LAB_TIMEOUT (seconds per boot, default 2400: only a bound on a hung guest; the main boot takes
# 10-15 min on a quiet 2-core host and twice that beside a second guest), LAB_MEM (MB, default 1536), LAB_CPUS (default 2).
set -euo pipefail

cd "$(dirname "$0")/.."

# STAS_LAB_SLOW (the factor every lab deadline is scaled by, test/support/slow.ts) defaults to 3 here: the guest is
# emulated (TCG) and shares the host's CPUs with whatever else runs, and a deadline only bounds a hung test (a
# passing test is not slower for it). Three clean-clone CI runs side by side (three guests on 2 cores) missed the
# default 30 s "IOCs connected" deadline of stacd.test.ts with factor 1.
export STAS_LAB_SLOW="${STAS_LAB_SLOW:-3}"

# Builds the guest if lab/build/ is missing or was built from another lab/init, setup.sh or kernel
# version; a no-op (about 1 s) otherwise.
bash lab/setup.sh --build-only
if [ ! -d dist/test/lab ]; then
  echo "run-lab-tests: dist/test/lab/ missing; run 'npm run build' first" >&2
  exit 2
fi
[ $# -gt 0 ] || set -- dist/test/lab/

# A staged install (make install DESTDIR=…, as a distribution package is built) for test/lab/install.test.ts,
# which copies it over the guest's throw-away root and runs the installed programs on a real system bus.
STAGE=$(mktemp -d /var/tmp/stas-stage.XXXXXX)
DEBOUT=$(mktemp -d /var/tmp/stas-deb.XXXXXX)
trap 'rm -rf "$STAGE" "$DEBOUT"' EXIT
chmod 0755 "$STAGE"
make -s install DESTDIR="$STAGE" PREFIX=/usr SYSCONFDIR=/etc NODE="$(command -v node)" >/dev/null
# The Debian package (make deb) for test/lab/deb.test.ts, which installs it with dpkg in the guest (STAS_DEB).
DEB=$(make -s deb DEBDIR="$DEBOUT" | tail -n 1)

# Split the test files between the two boots.
opts=() plain=() nbft=() sysd=()
classify() {
  case $(basename "$1") in
    nbft*.test.js) nbft+=("$1") ;;
    systemd*.test.js) sysd+=("$1") ;;
    *) plain+=("$1") ;;
  esac
}
for arg in "$@"; do
  if [[ $arg == -* ]]; then
    opts+=("$arg")
  elif [ -d "$arg" ]; then
    while IFS= read -r f; do classify "$f"; done < <(find "$arg" -name '*.test.js' | sort)
  else
    classify "$arg"
  fi
done
guest() { # [vm-run options] -- TEST-FILE...
  local vm=()
  while [ "$1" != -- ]; do vm+=("$1") && shift; done
  shift
  bash lab/vm-run.sh --timeout "${LAB_TIMEOUT:-2400}" --mem "${LAB_MEM:-1536}" --cpus "${LAB_CPUS:-2}" \
    --env STAS_STAGED_ROOT="$STAGE" --env STAS_DEB="$DEB" "${vm[@]}" -- \
    node --test --test-reporter=spec --test-concurrency=1 "${opts[@]}" "$@"
}

start=$(date +%s)
status=0
if [ ${#plain[@]} -gt 0 ]; then
  guest -- "${plain[@]}" || status=$?
fi
if [ ${#nbft[@]} -gt 0 ]; then
  table=$(mktemp /tmp/stas-lab-nbft.XXXXXX)
  node dist/test/support/nbft-fixture.js "$table" || { rm -f "$table" && exit 1; }
  echo "run-lab-tests: a boot with an NBFT for ${nbft[*]}" >&2
  rc=0
  guest --acpitable "$table" -- "${nbft[@]}" || rc=$?
  rm -f "$table"
  [ "$status" -ne 0 ] || status=$rc
fi
if [ ${#sysd[@]} -gt 0 ]; then
  echo "run-lab-tests: a boot with systemd as PID 1 for ${sysd[*]}" >&2
  rc=0
  guest --systemd -- "${sysd[@]}" || rc=$?
  [ "$status" -ne 0 ] || status=$rc
fi
echo "run-lab-tests: exit status $status after $(($(date +%s) - start)) s (boots included)" >&2
exit "$status"
