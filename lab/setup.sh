#!/usr/bin/env bash
# lab/setup.sh: prepares the kernel lab on a Debian 12 host (run as root). Idempotent.
#
#   1. installs the host packages the lab needs (apt-get update only when something is missing);
#   2. builds the guest into lab/build/, unless it is already built from the same kernel version,
#      lab/init and this script:
#        build/vmlinux         Debian's kernel (linux-image-amd64's dependency), decompressed ELF
#                              with a PVH entry; QEMU boots it directly, which saves ~5 s under TCG
#        build/initramfs.cpio  busybox-static + the virtio/9p/overlay/nvme/nvmet modules + lab/init
#        build/stamp           what the build was made from (kernel version + input checksums)
#
# The kernel package is only downloaded and unpacked into lab/build/; nothing is installed into the
# host's /boot or /lib/modules.
#
#   lab/setup.sh [--build-only] [--force]
#     --build-only   skip the package installation (the packages must already be present)
#     --force        rebuild the guest even if lab/build/ is up to date
#   KPKG=linux-image-X.Y.Z-N-amd64 lab/setup.sh   pins the guest kernel package
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
BUILD=$LAB/build
PACKAGES=(qemu-system-x86 busybox-static nvme-cli xz-utils)
# Modules loaded into the guest image; their dependencies are added automatically.
WANT_MODULES=(
  virtio_pci virtio_mmio virtio_rng virtio_console 9pnet_virtio 9p overlay configfs
  nvme-core nvme-fabrics nvme-tcp nvmet nvmet-tcp null_blk loop
  crc32c_generic crc32c-intel libcrc32c crc64_rocksoft_generic crct10dif_generic crct10dif-pclmul
  # NVMe/RDMA over soft-RoCE (rdma_rxe on a dummy interface): Debian's kernel has no nvme-loop or fcloop, so
  # rdma is the lab's non-tcp transport. rdma_rxe needs the crc32 shash.
  nvme-rdma nvmet-rdma rdma_rxe crc32_generic dummy
)

BUILD_ONLY=0
FORCE=0
for arg in "$@"; do
  case $arg in
    --build-only) BUILD_ONLY=1 ;;
    --force) FORCE=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "lab/setup.sh: unknown option $arg" >&2
      exit 2
      ;;
  esac
done

log() { echo "[lab/setup] $*" >&2; }
die() {
  echo "[lab/setup] error: $*" >&2
  exit 1
}

is_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# The kernel package that linux-image-amd64 currently points to, e.g. linux-image-6.1.0-56-amd64.
resolve_kernel_package() {
  if [ -n "${KPKG:-}" ]; then
    echo "$KPKG"
    return
  fi
  apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
}

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do is_installed "$pkg" || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ] || [ -z "$(resolve_kernel_package)" ]; then
    [ "$(id -u)" = 0 ] || die "packages missing (${missing[*]:-none}); run as root"
    apt_update
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Fetches the kernel .deb into build/debs (cached); prints its path.
download_kernel() {
  local pkg=$1 deb
  mkdir -p "$BUILD/debs"
  deb=$(find "$BUILD/debs" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
  if [ -z "$deb" ]; then
    log "apt-get download $pkg"
    # apt drops privileges to _apt for downloads; that user cannot write into the build dir
    # everywhere, so download in a temporary directory it can write to.
    local tmp
    tmp=$(mktemp -d)
    chmod 0777 "$tmp"
    if ! (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null); then
      # stale package lists point at a version the mirror no longer has
      [ "$BUILD_ONLY" = 0 ] || die "apt-get download $pkg failed"
      apt_update
      (cd "$tmp" && apt-get download -qq "$pkg") || die "apt-get download $pkg failed"
    fi
    mv "$tmp"/*.deb "$BUILD/debs/"
    rmdir "$tmp"
    deb=$(find "$BUILD/debs" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
  fi
  [ -n "$deb" ] || die "no .deb for $pkg"
  echo "$deb"
}

# The bzImage carries the kernel as an XZ-compressed ELF: find the XZ stream that decompresses to an
# ELF file (--single-stream ignores what follows the stream in the bzImage).
extract_vmlinux() {
  local bzimage=$1 out=$2 offset
  while read -r offset; do
    # (not a pipe: tail gets SIGPIPE when xz stops reading, which pipefail would report)
    if xz -dc --single-stream < <(tail -c +"$((offset + 1))" "$bzimage" 2>/dev/null) >"$out.tmp" 2>/dev/null &&
      [ "$(head -c 4 "$out.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
      mv "$out.tmp" "$out"
      return 0
    fi
  done < <(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bzimage" | cut -d: -f1)
  rm -f "$out.tmp"
  die "no XZ-compressed ELF found in $bzimage"
}

# Prints the wanted modules and their dependencies, dependencies first, as "name path" lines.
# Dependencies come from each module's .modinfo 'depends=' (Debian ships no modules.dep).
resolve_modules() {
  local moddir=$1
  declare -A path_of=() seen=()
  local f n
  while IFS= read -r f; do
    n=$(basename "$f" .ko)
    path_of[${n//-/_}]=$f
  done < <(cd "$moddir" && find kernel -name '*.ko')
  visit() {
    local name=$1 key=${1//-/_} path deps dep
    [ -z "${seen[$key]:-}" ] || return 0
    seen[$key]=1
    path=${path_of[$key]:-}
    if [ -z "$path" ]; then
      # built into the kernel: nothing to load
      grep -qE "/(${name}|${key})\.ko\$" "$moddir/modules.builtin" 2>/dev/null && return 0
      die "kernel module $name not found in $moddir"
    fi
    deps=$(tr '\0' '\n' <"$moddir/$path" | grep -a -m1 '^depends=' | cut -d= -f2 | tr ',' ' ' || true)
    for dep in $deps; do visit "$dep"; done
    echo "$key $path"
  }
  for n in "${WANT_MODULES[@]}"; do visit "$n"; done
}

build_initramfs() {
  local kver=$1 moddir=$2 root=$BUILD/initramfs name path applet
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,lower,upper,newroot,lib/modules/"$kver"}
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  for applet in modprobe insmod rmmod lsmod depmod poweroff reboot halt; do
    ln -sf ../bin/busybox "$root/sbin/$applet"
  done
  resolve_modules "$moddir" >"$BUILD/modules.list" || die "cannot resolve the module dependencies"
  : >"$root/etc/modules"
  while read -r name path; do
    mkdir -p "$root/lib/modules/$kver/$(dirname "$path")"
    cp "$moddir/$path" "$root/lib/modules/$kver/$path"
    echo "$name" >>"$root/etc/modules"
  done <"$BUILD/modules.list"
  cp "$moddir/modules.builtin" "$moddir/modules.order" "$root/lib/modules/$kver/" 2>/dev/null || true
  /bin/busybox depmod -b "$root" "$kver"
  echo "$kver" >"$root/etc/kver"
  install -m 0755 "$LAB/init" "$root/init"
  (cd "$root" && find . | LC_ALL=C sort | /bin/busybox cpio -o -H newc 2>/dev/null) >"$BUILD/initramfs.cpio.tmp"
  mv "$BUILD/initramfs.cpio.tmp" "$BUILD/initramfs.cpio"
  log "initramfs: $(du -h "$BUILD/initramfs.cpio" | cut -f1), $(wc -l <"$root/etc/modules") modules"
  rm -rf "$root"
}

build_guest() {
  local missing=() tool
  for tool in xz dpkg-deb apt-get; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ -x /bin/busybox ] || missing+=(busybox-static)
  [ ${#missing[@]} = 0 ] || die "missing: ${missing[*]} (run lab/setup.sh without --build-only)"

  local pkg kver stamp
  pkg=$(resolve_kernel_package)
  if [ -z "$pkg" ] && [ "$BUILD_ONLY" = 0 ]; then
    apt_update
    pkg=$(resolve_kernel_package)
  fi
  [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 (apt-get update first)"
  kver=${pkg#linux-image-}
  stamp="kernel=$kver inputs=$(cat "$LAB/init" "$LAB/setup.sh" | sha256sum | cut -c1-16)"
  if [ "$FORCE" = 0 ] && [ -f "$BUILD/vmlinux" ] && [ -f "$BUILD/initramfs.cpio" ] &&
    [ "$(cat "$BUILD/stamp" 2>/dev/null)" = "$stamp" ]; then
    log "guest up to date ($stamp)"
    return 0
  fi

  local deb kroot=$BUILD/kroot
  deb=$(download_kernel "$pkg")
  log "unpacking $(basename "$deb")"
  rm -rf "$kroot" "$BUILD/stamp"
  dpkg-deb -x "$deb" "$kroot"
  [ -f "$kroot/boot/vmlinuz-$kver" ] || die "no /boot/vmlinuz-$kver in $deb"
  log "extracting vmlinux (PVH ELF) from the bzImage"
  extract_vmlinux "$kroot/boot/vmlinuz-$kver" "$BUILD/vmlinux"
  build_initramfs "$kver" "$kroot/lib/modules/$kver"
  rm -rf "$kroot"
  echo "$kver" >"$BUILD/kver"
  echo "$stamp" >"$BUILD/stamp"
  log "guest built: kernel $kver ($(du -h --apparent-size "$BUILD/vmlinux" | cut -f1) vmlinux)"
}

[ "$BUILD_ONLY" = 1 ] || install_packages
# One build at a time: two runs (parallel test runs) rebuilding lab/build/ at once would mix their files.
mkdir -p "$BUILD"
exec 9>"$BUILD/.lock"
flock 9
build_guest
