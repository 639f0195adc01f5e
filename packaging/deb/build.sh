#!/usr/bin/env bash
# packaging/deb/build.sh OUTDIR: builds OUTDIR/stas_<version>_<arch>.deb from the build tree (`make deb` calls it
# after `make`). The files are `make install DESTDIR=… PREFIX=/usr SYSCONFDIR=/etc` (units in /lib/systemd/system,
# as Debian 12's packages ship them); the control data comes from this folder; dpkg-shlibdeps computes the native
# addon's libc dependency and dpkg-deb builds the archive (root-owned files, no fakeroot needed). Offline.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-dist}")
here=packaging/deb

version=$(node -p 'require("./package.json").version')
node_min=$(node -p 'require("./package.json").engines.node.replace(/^>=\s*/, "")')
arch=$(dpkg --print-architecture)
work=$(mktemp -d /var/tmp/stas-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root" "$out"
chmod 0755 "$root"

make -s install BUNDLE="${BUNDLE:-dist/bundle}" DESTDIR="$root" PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system NODE=/usr/bin/node
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/lib/stas/stas_native.node"

# Documentation: Debian's copyright file (stas' license and those of the bundled packages), a changelog.
doc=$root/usr/share/doc/stas
mkdir -p "$doc"
{
  cat "$here/copyright.head"
  # The bundled packages' licenses, when there are any (THIRD-PARTY-LICENSES says so in one line otherwise).
  if grep -q '^=====' "$root/usr/share/doc/stas/THIRD-PARTY-LICENSES"; then
    echo
    cat "$root/usr/share/doc/stas/THIRD-PARTY-LICENSES"
  fi
} >"$doc/copyright"
rm -f "$doc/THIRD-PARTY-LICENSES"
printf 'stas (%s) unstable; urgency=medium\n\n  * Package built from the stas source tree (make deb).\n\n -- stas developers <stas@localhost>  %s\n' \
  "$version" "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" |
  gzip -9n >"$doc/changelog.Debian.gz"
find "$root/usr/share/man" -type f ! -name '*.gz' -exec gzip -9n {} +
chmod -R u+rwX,go+rX,go-w "$root"

# Control data.
mkdir -p "$root/DEBIAN" "$work/debian"
printf 'Source: stas\n\nPackage: stas\nArchitecture: any\n' >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O -e"$root/usr/lib/stas/stas_native.node" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@NODE_MIN@/$node_min/" \
  -e "s/@SHLIBS@/$shlibs/" "$here/control.in" >"$root/DEBIAN/control"
(cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"

deb=$out/stas_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
