#!/usr/bin/env bash
# lab/vm-run.sh: boots the lab guest (lab/build/, made by lab/setup.sh) with the host's / as its
# copy-on-write root, runs ONE command inside it as root, relays its output, powers off and exits
# with the command's exit status.
#
#   lab/vm-run.sh [options] [--] COMMAND [ARGS...]
#   lab/vm-run.sh --shell                 interactive shell in the guest (exit powers off)
#
# options:
#   --accel auto|kvm|tcg  default auto: KVM only if /dev/kvm is usable, the CPU has vmx/svm and it is
#                         not PVM (kvm_pvm cannot boot a stock kernel); otherwise TCG (emulation)
#   --mem MB              guest memory (default 1024)
#   --cpus N              vCPUs (default 2)
#   --timeout S           kill the guest after S seconds (default 600): exit status 124
#   --cwd DIR             working directory inside the guest (default: the current directory)
#   --rw DIR              share host DIR read-write at the same path (repeatable); every other write
#                         in the guest goes to a tmpfs and is thrown away
#   --env NAME=VALUE      environment variable for the command (repeatable); STAS_LAB_SLOW (the factor
#                         that scales every wait of the lab tests) is passed on when set in the environment
#   --modules a,b,c       extra kernel modules to load at boot
#   --tb-size MB          TCG translation cache size (smaller: less host memory)
#   --debug               kernel messages on the console and init timing marks
#   --log FILE            also copy the console output to FILE
#   --acpitable FILE      install FILE (a whole ACPI table, header included) in the guest's ACPI tables
#                         (QEMU -acpitable file=FILE); the guest kernel shows it under
#                         /sys/firmware/acpi/tables/<signature> (e.g. an nBFT: .../NBFT). Repeatable
#   --systemd             systemd (the host's /lib/systemd/systemd) is the guest's PID 1: the command runs
#                         as the oneshot unit vmrun.service after basic.target (journald, D-Bus system
#                         bus; the host's enabled services are not started), then the guest powers off
#
# Exit status: the command's; 124 on timeout; 125 if the guest died without reporting one (e.g. a
# kernel panic); 2 on usage errors or a missing guest build. The command runs under /bin/bash with the
# host's PATH, HOME and LANG plus VMRUN=1; stdin is /dev/null; stdout and stderr arrive merged,
# through the serial console.
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
BUILD=$LAB/build
ACCEL=auto MEM=1024 CPUS=2 TIMEOUT=600 CWD=$PWD MODULES='' TBSIZE='' DEBUG='' SHELL_MODE='' SYSTEMD='' LOG=''
RW=()
ENVS=()
ACPITABLES=()

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --accel) ACCEL=$2 && shift 2 ;;
    --mem) MEM=$2 && shift 2 ;;
    --cpus) CPUS=$2 && shift 2 ;;
    --timeout) TIMEOUT=$2 && shift 2 ;;
    --cwd) CWD=$2 && shift 2 ;;
    --rw) RW+=("$(cd "$2" && pwd)") && shift 2 ;;
    --env) ENVS+=("$2") && shift 2 ;;
    --modules) MODULES=$2 && shift 2 ;;
    --tb-size) TBSIZE=$2 && shift 2 ;;
    --log) LOG=$2 && shift 2 ;;
    --acpitable) ACPITABLES+=("$(cd "$(dirname "$2")" && pwd)/$(basename "$2")") && shift 2 ;;
    --debug) DEBUG=1 && shift ;;
    --shell) SHELL_MODE=1 && shift ;;
    --systemd) SYSTEMD=1 && shift ;;
    -h | --help) usage ;;
    --) shift && break ;;
    -*) echo "vm-run: unknown option $1" >&2 && exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || [ -n "$SHELL_MODE" ] || usage
[ -z "${STAS_LAB_SLOW:-}" ] || ENVS+=("STAS_LAB_SLOW=$STAS_LAB_SLOW")
if [ -n "$SYSTEMD" ]; then
  [ -z "$SHELL_MODE" ] || { echo "vm-run: --systemd runs a command; --shell is not supported with it" >&2 && exit 2; }
  [ -x /lib/systemd/systemd ] || { echo "vm-run: --systemd: no /lib/systemd/systemd on the host (apt-get install systemd)" >&2 && exit 2; }
fi

# The guest mounts fresh /tmp, /run and /dev/shm over the host's, so a working directory under one of them
# (a CI checkout in /tmp, say) would vanish: share it into the guest at the same path.
CWD_ABS=$(cd "$CWD" && pwd)
case $CWD_ABS/ in
  /tmp/* | /run/* | /dev/shm/*)
    already=
    for d in "${RW[@]}"; do [ "$d" = "$CWD_ABS" ] && already=1; done
    [ -n "$already" ] || RW+=("$CWD_ABS")
    ;;
esac
if [ ! -f "$BUILD/vmlinux" ] || [ ! -f "$BUILD/initramfs.cpio" ]; then
  echo "vm-run: the guest is not built; run lab/setup.sh first" >&2
  exit 2
fi
command -v qemu-system-x86_64 >/dev/null || { echo "vm-run: qemu-system-x86_64 missing; run lab/setup.sh" >&2 && exit 2; }

if [ "$ACCEL" = auto ]; then
  ACCEL=tcg
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
    ACCEL=kvm
  fi
fi
case $ACCEL in
  kvm) ACCEL_ARGS=(-accel kvm -cpu host) ;;
  tcg) ACCEL_ARGS=(-accel "tcg,thread=multi${TBSIZE:+,tb-size=$TBSIZE}" -cpu max) ;;
  *) echo "vm-run: bad --accel $ACCEL" >&2 && exit 2 ;;
esac

RUN=$(mktemp -d /tmp/vmrun.XXXXXX)
QEMU_PID=''
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  if [ -n "$QEMU_PID" ]; then kill "$QEMU_PID" 2>/dev/null || true; fi
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The command, as a bash script the guest's init runs from the shared run directory.
if [ $# -gt 0 ]; then
  {
    echo "export PATH=$(printf %q "$PATH") HOME=$(printf %q "${HOME:-/root}") LANG=$(printf %q "${LANG:-C.UTF-8}") TERM=dumb VMRUN=1"
    for e in "${ENVS[@]}"; do echo "export $(printf %q "$e")"; done
    echo "cd $(printf %q "$CWD") || exit 126"
    printf 'exec'
    printf ' %q' "$@"
    echo
  } >"$RUN/cmd"
fi

VIRTFS=()
share() { # TAG HOST-PATH [ro]
  VIRTFS+=(-fsdev "local,id=fs_$1,path=$2,security_model=none,multidevs=remap${3:+,readonly=on}"
    -device "virtio-9p-pci,fsdev=fs_$1,mount_tag=$1")
}
share hostroot / ro
share vmrun "$RUN"
i=0
for dir in "${RW[@]}"; do
  share "rw$i" "$dir"
  echo "rw$i $dir" >>"$RUN/mounts"
  i=$((i + 1))
done

APPEND="console=ttyS0 rdinit=/init panic=-1 reboot=t mitigations=off tsc=reliable no_timer_check"
APPEND+=" i8042.noaux=1 i8042.nomux=1 i8042.nopnp=1 i8042.dumbkbd=1 8250.nr_uarts=1 random.trust_cpu=on"
[ -z "$MODULES" ] || APPEND+=" vmrun.modules=$MODULES"
if [ -n "$DEBUG" ]; then APPEND+=" vmrun.debug=1 loglevel=7"; else APPEND+=" quiet loglevel=1"; fi
[ -z "$SHELL_MODE" ] || APPEND+=" vmrun.shell=1"
if [ -n "$SYSTEMD" ]; then
  APPEND+=" vmrun.systemd=1 systemd.show_status=0"
  [ -n "$DEBUG" ] || APPEND+=" systemd.log_level=warning"
fi

QEMU=(qemu-system-x86_64 -nodefaults -no-user-config -machine q35 "${ACCEL_ARGS[@]}"
  -m "$MEM" -smp "$CPUS" -display none -monitor none -no-reboot
  -kernel "$BUILD/vmlinux" -initrd "$BUILD/initramfs.cpio" -append "$APPEND"
  -device virtio-rng-pci "${VIRTFS[@]}")

for table in "${ACPITABLES[@]}"; do
  [ -f "$table" ] || { echo "vm-run: --acpitable $table: no such file" >&2 && exit 2; }
  QEMU+=(-acpitable "file=${table//,/,,}") # QEMU option values escape ',' as ',,'
done

if [ -n "$SHELL_MODE" ]; then
  exec "${QEMU[@]}" -serial mon:stdio
fi

# Non-interactive: the serial console goes to a FIFO that we relay to stdout (and --log).
mkfifo "$RUN/console"
if [ -n "$LOG" ]; then tee "$LOG" <"$RUN/console" & else cat <"$RUN/console" & fi
RELAY_PID=$!
timeout -k 5 "$TIMEOUT" "${QEMU[@]}" -chardev "file,id=con,path=$RUN/console" -serial chardev:con </dev/null &
QEMU_PID=$!
QEMU_RC=0
wait "$QEMU_PID" || QEMU_RC=$?
QEMU_PID=''
wait "$RELAY_PID" 2>/dev/null || true

if [ -s "$RUN/rc" ]; then exit "$(cat "$RUN/rc")"; fi
if [ "$QEMU_RC" = 124 ] || [ "$QEMU_RC" = 137 ]; then
  echo "vm-run: timeout after ${TIMEOUT}s" >&2
  exit 124
fi
echo "vm-run: the guest stopped (qemu exit status $QEMU_RC) without reporting the command's exit status" >&2
exit 125
