#!/usr/bin/env bash
# A small root filesystem image for the qemu backend's tests and bench:
# busybox (static, from Debian's busybox-static) and its applets in an ext4
# image made by mkfs.ext4 -d (no mount, no root needed beyond owning the
# files). /sbin/init prints FIRST-COMMAND and powers off: what a plain
# qemu boot of the image runs (bench/qemu's baseline); arca's agent never
# runs it. Made once: an existing OUT is kept.
#   qemu_rootfs.sh OUT.img [SIZE]      (SIZE for truncate, default 256M)
set -euo pipefail
OUT=$1 SIZE=${2:-256M}
[ -s "$OUT" ] && exit 0
BB=$(command -v busybox || true)
[ -n "$BB" ] && readelf -l "$BB" >/dev/null 2>&1 && ! readelf -l "$BB" | grep -q INTERP ||
	{ echo "qemu_rootfs: no static busybox (apt-get install busybox-static)" >&2; exit 77; }
command -v mkfs.ext4 >/dev/null || { echo "qemu_rootfs: no mkfs.ext4 (e2fsprogs)" >&2; exit 77; }
T=$(mktemp -d "${OUT%/*}/rootfs-XXXXXX")
trap 'rm -rf "$T"' EXIT
R=$T/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,mnt,var/log}
cp "$BB" "$R/bin/busybox"
for a in $("$BB" --list); do
	[ "$a" = busybox ] || [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
echo "hello from the image" >"$R/etc/motd"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
cat >"$R/sbin/init" <<'INIT'
#!/bin/sh
echo FIRST-COMMAND
exec poweroff -f
INIT
chmod 755 "$R/sbin/init"
chmod 1777 "$R/tmp"
truncate -s "$SIZE" "$T/img"
mkfs.ext4 -q -F -L arca-test -d "$R" "$T/img"
mv "$T/img" "$OUT"
