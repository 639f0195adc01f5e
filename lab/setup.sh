#!/usr/bin/env bash
# lab/setup.sh: prepares the kernel lab on a Debian 12 host (run as root). Idempotent.
#
#   1. installs the host packages the lab needs (apt-get update only when something is missing);
#   2. rebuilds the kernel's NVMe modules with in-band authentication (DH-HMAC-CHAP) and the loop and
#      fc-loop transports, which Debian's kernel lacks, from Debian's source of the same kernel version
#      (linux-source-6.1 + linux-headers; only drivers/nvme/ and crypto/dh.c are compiled), unless
#      build/nvme-modules/ is already built from the same kernel, source version and recipe:
#        build/nvme-modules/   the rebuilt .ko files (kernel/drivers/nvme/..., kernel/crypto/...) + stamp
#   3. builds the guest into lab/build/, unless it is already built from the same kernel version,
#      lab/init and this script:
#        build/vmlinux         Debian's kernel (linux-image-amd64's dependency), decompressed ELF
#                              with a PVH entry; QEMU boots it directly, which saves ~5 s under TCG
#        build/initramfs.cpio  busybox-static + the virtio/9p/overlay/nvme/nvmet modules + lab/init;
#                              the rebuilt modules replace Debian's files of the same name
#        build/stamp           what the build was made from (kernel version + input checksums)
#
# The kernel packages (image, headers, kbuild, source) are only downloaded into lab/build/debs and
# unpacked under lab/build/; nothing is installed into the host's /boot, /lib/modules or /usr/src.
#
#   lab/setup.sh [--build-only] [--force]
#     --build-only   skip the package installation (the packages must already be present)
#     --force        rebuild the guest even if lab/build/ is up to date
#   KPKG=linux-image-X.Y.Z-N-amd64 lab/setup.sh   pins the guest kernel package
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
BUILD=$LAB/build
# gcc-12 (the compiler Debian's 6.1 kernel is built with, and the one its kbuild Makefile names), make and
# libelf1 (objtool) build the NVMe modules; binutils comes with gcc-12.
PACKAGES=(qemu-system-x86 busybox-static nvme-cli xz-utils gcc-12 make libelf1)
# Modules loaded into the guest image; their dependencies are added automatically.
WANT_MODULES=(
  virtio_pci virtio_mmio virtio_rng virtio_console 9pnet_virtio 9p overlay configfs
  nvme-core nvme-fabrics nvme-tcp nvmet nvmet-tcp null_blk loop
  crc32c_generic crc32c-intel libcrc32c crc64_rocksoft_generic crct10dif_generic crct10dif-pclmul
  # NVMe/RDMA over soft-RoCE (rdma_rxe on a dummy interface). rdma_rxe needs the crc32 shash.
  nvme-rdma nvmet-rdma rdma_rxe crc32_generic dummy
  # rebuilt (build_nvme_modules): nvme-common (the DH-HMAC-CHAP library) comes in as a dependency of
  # nvme-core and nvmet; the loop transport and fc-loop (with nvme-fc and nvmet-fc as dependencies)
  nvme-loop nvme-fcloop
  # DH-HMAC-CHAP's crypto, which the crypto API loads on demand (request_module -> the initramfs' busybox
  # modprobe): hmac(sha384) and hmac(sha512) need sha512 (hmac and sha256 are built in); the ffdhe2048..8192
  # DH groups need dh_rfc7919_groups (rebuilt) and, for their private keys, the default RNG (drbg, seeded
  # with jitterentropy_rng, which needs sha3-256; drbg's self-tests need ctr(aes): aes is built in)
  sha512_generic dh_rfc7919_groups drbg jitterentropy_rng sha3_generic ctr
)
# What build_nvme_modules sets on top of Debian's kernel configuration (none of these is set there).
NVME_CONFIG=(
  CONFIG_NVME_COMMON=m # drivers/nvme/common: nvme-common.ko, the DH-HMAC-CHAP helpers of host and target
  CONFIG_NVME_AUTH=y
  CONFIG_NVME_TARGET_AUTH=y
  CONFIG_NVME_TARGET_LOOP=m
  CONFIG_NVME_TARGET_FCLOOP=m
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

# Fetches a package's .deb into build/debs (cached); prints its path. VERSION pins the version (a cached
# .deb of another version does not count); without it any cached version will do.
download_deb() { # PACKAGE [VERSION]
  local pkg=$1 ver=${2:-} deb pattern
  pattern="${pkg}_${ver:-*}_*.deb"
  mkdir -p "$BUILD/debs"
  deb=$(find "$BUILD/debs" -maxdepth 1 -name "$pattern" | sort | tail -n1)
  if [ -z "$deb" ]; then
    log "apt-get download $pkg${ver:+=$ver}"
    # apt drops privileges to _apt for downloads; that user cannot write into the build dir
    # everywhere, so download in a temporary directory it can write to.
    local tmp
    tmp=$(mktemp -d)
    chmod 0777 "$tmp"
    if ! (cd "$tmp" && apt-get download -qq "$pkg${ver:+=$ver}" 2>/dev/null); then
      # stale package lists point at a version the mirror no longer has
      [ "$BUILD_ONLY" = 0 ] || die "apt-get download $pkg${ver:+=$ver} failed"
      apt_update
      (cd "$tmp" && apt-get download -qq "$pkg${ver:+=$ver}") || die "apt-get download $pkg${ver:+=$ver} failed"
    fi
    mv "$tmp"/*.deb "$BUILD/debs/"
    rmdir "$tmp"
    deb=$(find "$BUILD/debs" -maxdepth 1 -name "$pattern" | sort | tail -n1)
  fi
  [ -n "$deb" ] || die "no .deb for $pkg${ver:+=$ver}"
  echo "$deb"
}

# The Debian source version the kernel image was built from (its Built-Using: linux (= 6.1.192-2)).
source_version() { # IMAGE-DEB
  dpkg-deb -f "$1" Built-Using | sed -n 's/.*\blinux (= \([^)]*\)).*/\1/p'
}

# Prints a module's vermagic (e.g. "6.1.0-56-amd64 SMP preempt mod_unload modversions ").
vermagic() { tr '\0' '\n' <"$1" | grep -a -m1 '^vermagic=' | cut -d= -f2-; }

# Rebuilds every module of drivers/nvme/ from Debian's linux-source of the kernel's own source version,
# with NVME_CONFIG on top of Debian's configuration, plus dh_rfc7919_groups. All of drivers/nvme/, not
# only the modules that get new code: NVME_AUTH changes struct nvme_ctrl and NVME_TARGET_AUTH struct
# nvmet_ctrl/nvmet_sq, so the symbol versions (CONFIG_MODVERSIONS) of nvme-core's and nvmet's exports
# change, and nvme, nvme-fabrics, nvme-tcp, nvme-rdma, nvme-fc, nvmet-tcp, nvmet-rdma and nvmet-fc must be
# built against them. An out-of-tree (M=) build against a private copy of Debian's linux-headers
# (Module.symvers, include/generated, kbuild) whose include/config/auto.conf and
# include/generated/autoconf.h get NVME_CONFIG: no kernel build. The .ko files are stripped of debug
# info (as Debian's are) and unsigned: Debian's kernel does not enforce signatures (CONFIG_MODULE_SIG_FORCE
# is off, and the guest has no secure boot, so no lockdown); loading them taints the kernel (O, E).
#
# dh_rfc7919_groups: Debian builds the "dh" kpp algorithm into the kernel (CONFIG_CRYPTO_DH=y) without
# CONFIG_CRYPTO_DH_RFC7919_GROUPS, so the ffdhe2048..8192 groups of DH-HMAC-CHAP ("ffdhe2048(dh)", ...)
# do not exist. The module is crypto/dh.c compiled with that option and a forced include that skips the
# registration of dh.c's own "dh" (the templates wrap the kernel's built-in one).
#
# Result: build/nvme-modules/kernel/{drivers/nvme/{common,host,target},crypto}/*.ko and build/nvme-modules/stamp;
# rebuilt only when STAMP (kernel, source version, this recipe) changes. The build log stays in
# build/nvme-build/ when the build fails.
build_nvme_modules() { # KVER SOURCE-VERSION STAMP
  local kver=$1 srcver=$2 stamp=$3 out=$BUILD/nvme-modules work=$BUILD/nvme-build
  local abi=${kver%-*} series tool
  series=$(echo "$kver" | cut -d. -f1,2)
  if [ "$FORCE" = 0 ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
    log "nvme modules up to date ($stamp)"
    return 0
  fi
  for tool in gcc-12 make strip; do
    command -v "$tool" >/dev/null || die "missing: $tool (run lab/setup.sh without --build-only)"
  done
  local start=$SECONDS headers common kbuild source
  headers=$(download_deb "linux-headers-$kver" "$srcver")
  common=$(download_deb "linux-headers-$abi-common" "$srcver")
  # the headers need linux-kbuild-6.1 >= their version; the archive keeps only its newest version
  kbuild=$(find "$BUILD/debs" -maxdepth 1 -name "linux-kbuild-${series}_*.deb" | sort | tail -n1)
  if [ -n "$kbuild" ] && dpkg --compare-versions "$(dpkg-deb -f "$kbuild" Version)" lt "$srcver"; then
    rm -f "$kbuild"
  fi
  kbuild=$(download_deb "linux-kbuild-$series")
  source=$(download_deb "linux-source-$series" "$srcver")

  rm -rf "$work" "$out.tmp"
  mkdir -p "$work/root" "$work/src/ffdhe" "$out.tmp"
  local deb
  for deb in "$headers" "$common" "$kbuild"; do dpkg-deb -x "$deb" "$work/root"; done
  local kdir=$work/root/usr/src/linux-headers-$kver
  [ -f "$kdir/Module.symvers" ] && [ -f "$kdir/include/config/auto.conf" ] || die "no kernel build tree in $headers"
  # Debian's Makefile includes the common tree by its absolute path under /usr/src
  sed -i "s|^include /usr/src/|include $work/root/usr/src/|" "$kdir/Makefile"
  local opt name value
  for opt in "${NVME_CONFIG[@]}"; do
    name=${opt%%=*} value=${opt#*=}
    sed -i "/^$name=/d; s/^# $name is not set\$/$opt/" "$kdir/include/config/auto.conf" "$kdir/.config"
    grep -q "^$name=" "$kdir/.config" || echo "$opt" >>"$kdir/.config"
    echo "$opt" >>"$kdir/include/config/auto.conf"
    sed -i "/^#define ${name}\(_MODULE\)\{0,1\} /d" "$kdir/include/generated/autoconf.h"
    case $value in
      y) echo "#define $name 1" ;;
      m) echo "#define ${name}_MODULE 1" ;;
      *) die "NVME_CONFIG: $opt (only =y and =m)" ;;
    esac >>"$kdir/include/generated/autoconf.h"
  done

  log "unpacking drivers/nvme/ and crypto/dh.c from $(basename "$source")"
  dpkg-deb --fsys-tarfile "$source" | tar -xO "./usr/src/linux-source-$series.tar.xz" | xz -dc |
    tar -x -C "$work/src" --strip-components=1 "linux-source-$series/drivers/nvme" "linux-source-$series/crypto/dh.c"
  cp "$work/src/crypto/dh.c" "$work/src/ffdhe/dh.c"
  cat >"$work/src/ffdhe/only-groups.h" <<'EOF'
/* Forced include of crypto/dh.c for the module dh_rfc7919_groups (written by lab/setup.sh): the RFC 7919
 * templates ffdhe2048..ffdhe8192 only. They wrap the "dh" algorithm built into the kernel, so dh.c's own
 * "dh" is not registered. __crypto_dh_decode_key is not exported by the kernel; with the exported
 * crypto_dh_decode_key instead, an explicit private key is refused (nvme-auth never passes one: it has
 * the templates generate the key). */
#include <linux/module.h>
#include <crypto/internal/kpp.h>
#include <crypto/dh.h>
#define CONFIG_CRYPTO_DH_RFC7919_GROUPS 1
#define crypto_register_kpp(alg) ((void)(alg), 0)
#define crypto_unregister_kpp(alg) ((void)(alg))
#define __crypto_dh_decode_key crypto_dh_decode_key
MODULE_ALIAS_CRYPTO("ffdhe2048");
MODULE_ALIAS_CRYPTO("ffdhe3072");
MODULE_ALIAS_CRYPTO("ffdhe4096");
MODULE_ALIAS_CRYPTO("ffdhe6144");
MODULE_ALIAS_CRYPTO("ffdhe8192");
EOF
  printf '%s\n' 'obj-m := dh_rfc7919_groups.o' 'dh_rfc7919_groups-y := dh.o' \
    'CFLAGS_dh.o := -include $(src)/only-groups.h' >"$work/src/ffdhe/Kbuild"

  local dir
  for dir in drivers/nvme ffdhe; do
    log "make M=$dir modules ($(nproc) jobs)"
    make -C "$kdir" M="$work/src/$dir" -j"$(nproc)" modules >>"$work/build.log" 2>&1 || {
      tail -n 30 "$work/build.log" >&2
      die "building $dir failed; log: $work/build.log"
    }
  done

  local ko
  for ko in $(cd "$work/src" && find drivers/nvme -name '*.ko' | sort); do
    mkdir -p "$out.tmp/kernel/$(dirname "$ko")"
    strip --strip-debug -o "$out.tmp/kernel/$ko" "$work/src/$ko"
  done
  mkdir -p "$out.tmp/kernel/crypto"
  strip --strip-debug -o "$out.tmp/kernel/crypto/dh_rfc7919_groups.ko" "$work/src/ffdhe/dh_rfc7919_groups.ko"
  [ -f "$out.tmp/kernel/drivers/nvme/common/nvme-common.ko" ] || die "nvme-common.ko was not built"
  echo "$stamp" >"$out.tmp/stamp"
  rm -rf "$out" "$work"
  mv "$out.tmp" "$out"
  log "nvme modules built in $((SECONDS - start)) s: $(cd "$out" && find . -name '*.ko' | wc -l) modules"
}

# Puts the rebuilt modules over Debian's in the unpacked kernel package (same paths; new ones added),
# after checking that they fit this kernel: same vermagic, and every Debian module of drivers/nvme/ has
# a rebuilt replacement (a leftover one would not load against the new symbol versions).
install_nvme_modules() { # MODDIR
  local moddir=$1 mods=$BUILD/nvme-modules ko
  [ "$(vermagic "$mods/kernel/drivers/nvme/host/nvme-core.ko")" = "$(vermagic "$moddir/kernel/drivers/nvme/host/nvme-core.ko")" ] ||
    die "vermagic of the rebuilt nvme-core differs from Debian's"
  for ko in $(cd "$moddir" && find kernel/drivers/nvme -name '*.ko'); do
    [ -f "$mods/$ko" ] || die "no rebuilt $ko"
  done
  cp -r "$mods/kernel" "$moddir/"
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

  local deb srcver kroot=$BUILD/kroot
  deb=$(download_deb "$pkg")
  srcver=$(source_version "$deb")
  [ -n "$srcver" ] || die "no Built-Using: linux (= VERSION) in $deb"
  build_nvme_modules "$kver" "$srcver" \
    "kernel=$kver source=$srcver recipe=$({ declare -f build_nvme_modules; printf '%s\n' "${NVME_CONFIG[@]}"; } | sha256sum | cut -c1-16)"
  log "unpacking $(basename "$deb")"
  rm -rf "$kroot" "$BUILD/stamp"
  dpkg-deb -x "$deb" "$kroot"
  [ -f "$kroot/boot/vmlinuz-$kver" ] || die "no /boot/vmlinuz-$kver in $deb"
  log "extracting vmlinux (PVH ELF) from the bzImage"
  extract_vmlinux "$kroot/boot/vmlinuz-$kver" "$BUILD/vmlinux"
  install_nvme_modules "$kroot/lib/modules/$kver"
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
