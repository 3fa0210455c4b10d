#!/bin/sh
# mkspine.sh — build the Spine: ./vmlinuz and ./build/spine.img (a gzip'd
# newc cpio initramfs whose /sbin/init and /init are the static bay0).
#
#   scripts/mkspine.sh
#
# Environment:
#   SOURCE_DATE_EPOCH  timestamp of every file in the image (default: the
#                      time of the last git commit, else 0)
#   BAY0_STATIC        use this static bay0 instead of `make static`
#   BAY0_INPUTS        where the pinned .debs live (default build/inputs)
#   BAY0_OUT           output image (default build/spine.img)
#   BAY0_VMLINUZ       output kernel (default ./vmlinuz)
#
# Idempotent: build/rootfs is wiped and rebuilt every time. Reproducible:
# inputs pinned by version + sha256 (fetch-inputs.sh), every file's owner
# 0:0 and mtime SOURCE_DATE_EPOCH, entries sorted, inode numbers assigned in
# order, gzip without name or time: two runs give the same sha256
# (tests/vm/test_reproducible.py checks it). docs/HANDOFF.md explains how
# this stands in for the seed's digest-pinned build container.
set -eu
export LC_ALL=C
umask 022

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
inputs=${BAY0_INPUTS:-$build/inputs}
out=${BAY0_OUT:-$build/spine.img}
vmlinuz=${BAY0_VMLINUZ:-$root/vmlinuz}
rootfs=$build/rootfs
# Modules the image loads at boot (/etc/bay0/modules): what mounting the
# persist disk needs. Their dependencies come from modules.dep.
MODULES="crc32c_generic virtio_pci virtio_blk ext4"

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
say() { echo "mkspine: $*" >&2; }
die() { echo "mkspine: error: $*" >&2; exit 1; }

for tool in dpkg-deb gzip sha256sum python3 strip; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh)"
done

# 1. Pinned inputs.
"$root/scripts/fetch-inputs.sh" "$inputs"
. "$inputs/inputs.env"

# 2. Kernel tree (cached by the .deb's sha256) with a modules.dep.
ktree=$build/kernel-$KVER
if [ "$(cat "$ktree/.sha256" 2>/dev/null || true)" != "$KERNEL_SHA256" ]; then
    say "unpacking $KERNEL_PKG=$KERNEL_VERSION"
    rm -rf "$ktree"
    mkdir -p "$ktree"
    dpkg-deb -x "$inputs/kernel.deb" "$ktree"
    bbtmp=$build/busybox-host
    rm -rf "$bbtmp" && mkdir -p "$bbtmp"
    dpkg-deb -x "$inputs/busybox.deb" "$bbtmp"
    "$bbtmp/bin/busybox" depmod -b "$ktree" "$KVER"
    echo "$KERNEL_SHA256" >"$ktree/.sha256"
fi
moddir=$ktree/lib/modules/$KVER
[ -f "$moddir/modules.dep" ] || die "no modules.dep in $moddir"

# 3. The static bay0.
if [ -n "${BAY0_STATIC:-}" ]; then
    bay0=$BAY0_STATIC
else
    make -C "$root" -s static >&2 || die "make static failed"
    bay0=$build/bay0-static
fi
[ -x "$bay0" ] || die "bay0 binary missing or not executable: $bay0"
file_out=$(od -An -c -N4 "$bay0" | tr -d ' ')
[ "$file_out" = '177ELF' ] || die "$bay0 is not an ELF binary"

# 4. The rootfs.
say "assembling $rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"
cd "$rootfs"
mkdir -p bin sbin usr/bin usr/sbin etc/bay0/sv dev proc sys run persist tmp \
    root lib/firmware "lib/modules/$KVER" var/log
chmod 1777 tmp
cp "$bay0" bin/bay0
strip --strip-debug bin/bay0
chmod 0755 bin/bay0
ln -s ../bin/bay0 sbin/init
ln -s bin/bay0 init
[ -x sbin/init ] && [ -x init ] || die "/sbin/init -> bay0 is not executable"

dpkg-deb -x "$inputs/busybox.deb" "$build/busybox-img.tmp"
cp "$build/busybox-img.tmp/bin/busybox" bin/busybox
rm -rf "$build/busybox-img.tmp"
chmod 0755 bin/busybox
# One symlink per applet, except the ones that are bay0's job.
./bin/busybox --list-full | sort | while read -r applet; do
    case "$applet" in
    sbin/init | linuxrc | bin/linuxrc) continue ;;
    esac
    [ -e "$applet" ] || [ -L "$applet" ] && continue
    mkdir -p "$(dirname "$applet")"
    ln -s /bin/busybox "$applet"
done

# Ghost root: UID 0 and the usual groups resolve.
cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >etc/group <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
cat >etc/nsswitch.conf <<'EOF'
passwd: files
group: files
shadow: files
hosts: files
EOF
echo spine >etc/hostname
cat >etc/profile <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PS1='spine# '
EOF
printf '%s\n' "# kernel modules bay0 loads at boot (dependencies first)" $MODULES \
    >etc/bay0/modules

# Services.
cp -R "$root/services/sample/." etc/bay0/sv/

# Kernel modules: the closure of $MODULES over modules.dep.
python3 - "$moddir" "lib/modules/$KVER" $MODULES <<'PY'
import os, shutil, sys
src, dst, want = sys.argv[1], sys.argv[2], sys.argv[3:]
deps, order = {}, []
for line in open(os.path.join(src, "modules.dep")):
    path, _, rest = line.rstrip("\n").partition(":")
    deps[path] = rest.split()
    order.append(path)
def name(p):
    return os.path.basename(p).split(".ko")[0].replace("-", "_")
by_name = {name(p): p for p in order}
need, stack = set(), [by_name[n] for n in want if n in by_name]
missing = [n for n in want if n not in by_name]
if missing:
    sys.exit("mkspine: modules not in the kernel package: %s" % missing)
while stack:
    p = stack.pop()
    if p not in need:
        need.add(p)
        stack.extend(deps[p])
with open(os.path.join(dst, "modules.dep"), "w") as f:
    for p in order:
        if p in need:
            os.makedirs(os.path.join(dst, os.path.dirname(p)), exist_ok=True)
            shutil.copyfile(os.path.join(src, p), os.path.join(dst, p))
            f.write("%s:%s\n" % (p, "".join(" " + d for d in deps[p])))
print("mkspine: %d modules: %s" % (len(need), " ".join(sorted(name(p) for p in need))),
      file=sys.stderr)
PY
cp "$moddir/modules.builtin" "lib/modules/$KVER/"

# Firmware: whatever the kernel package brings (the Debian kernel .deb
# brings none: firmware-misc-nonfree / firmware-amd-graphics are separate).
if [ -d "$ktree/lib/firmware" ]; then
    cp -R "$ktree/lib/firmware/." lib/firmware/
fi
"$root/scripts/check-firmware.sh" "$rootfs" >&2 || true

# 5. The initramfs: sorted newc entries, fixed owners and times, plus
# /dev/console (the kernel opens it for init before devtmpfs exists).
mkdir -p "$(dirname "$out")"
python3 - "$rootfs" "$SOURCE_DATE_EPOCH" <<'PY' | gzip -n -9 >"$out.tmp"
import os, stat, sys
root, mtime = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
ino = [1000]
def entry(name, mode, data=b"", rdev=(0, 0), nlink=1):
    ino[0] += 1
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join("%08X" % v for v in (
        ino[0], mode, 0, 0, nlink, mtime, len(data), 0, 0,
        rdev[0], rdev[1], len(name_b), 0))
    out.write(hdr.encode() + name_b)
    out.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
    out.write(data)
    out.write(b"\0" * ((4 - len(data) % 4) % 4))
paths = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        paths.append(os.path.relpath(os.path.join(d, n), root))
for rel in sorted(paths):
    full = os.path.join(root, rel)
    st = os.lstat(full)
    if stat.S_ISLNK(st.st_mode):
        entry(rel, stat.S_IFLNK | 0o777, os.readlink(full).encode())
    elif stat.S_ISDIR(st.st_mode):
        entry(rel, stat.S_IFDIR | (st.st_mode & 0o7777), nlink=2)
    elif stat.S_ISREG(st.st_mode):
        perm = 0o755 if st.st_mode & 0o111 else 0o644
        entry(rel, stat.S_IFREG | perm, open(full, "rb").read())
    else:
        sys.exit("mkspine: unexpected file type: " + rel)
    if rel == "dev":
        entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
entry("TRAILER!!!", 0)
PY
mv "$out.tmp" "$out"
cp "$ktree/boot/vmlinuz-$KVER" "$vmlinuz"
touch -d "@$SOURCE_DATE_EPOCH" "$vmlinuz" "$out"

size=$(wc -c <"$out")
say "$out: $size bytes, sha256 $(sha256sum "$out" | cut -d' ' -f1)"
say "$vmlinuz: $KERNEL_PKG=$KERNEL_VERSION ($KVER)"
