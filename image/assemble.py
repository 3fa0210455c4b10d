#!/usr/bin/python3
"""assemble.py — make the Spine's ./vmlinuz and spine.img from the locked
Debian packages, a static bay0 and this repository. mkspine.sh runs it
inside the builder container (--network none); it reads only its arguments
and writes only under --work.

    assemble.py --src REPO --debs DIR --bay0 FILE --work DIR
                --flavour full|busybox --epoch N

Flavours:
  full     every package of the lock's "spine" set unpacked (dpkg-deb -x,
           no maintainer scripts), trimmed (docs, locales, weston plugins and
           clients the headless path never loads), image/rootfs/ on top
           (containers.conf, storage.conf, the image-load service), the
           sample images, modules for /persist + overlay + fuse; every ELF
           file's shared libraries checked present. Compressed with zstd.
  busybox  bay0 + busybox-static + the sample services (Gate A's fast
           image). Compressed with gzip.

Reproducible: files sorted, owner 0:0, mtime --epoch, modes normalised,
inode numbers in order, fixed compressor settings.
"""
import argparse
import os
import shutil
import stat
import struct
import subprocess
import sys
import tarfile

LIB_DIRS = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64",
            "usr/lib64", "lib", "usr/lib"]
MODULES = {
    "busybox": ["crc32c_generic", "virtio_pci", "virtio_blk", "ext4"],
    "full": ["crc32c_generic", "virtio_pci", "virtio_blk", "ext4", "overlay",
             "fuse"],
}
# Trimmed from the full image: what nothing that runs reads.
TRIM_DIRS = ["usr/share/doc", "usr/share/man", "usr/share/info",
             "usr/share/locale", "usr/share/lintian", "usr/share/bug",
             "usr/share/bash-completion", "usr/share/zsh", "usr/share/fish",
             "usr/share/gtk-doc", "usr/share/menu", "usr/share/applications",
             "usr/share/pixmaps", "usr/share/wayland-sessions",
             "usr/share/weston", "usr/lib/x86_64-linux-gnu/gconv",
             "usr/share/doc-base", "usr/share/gitweb", "etc/cron.daily",
             "usr/lib/systemd", "lib/systemd", "usr/lib/tmpfiles.d",
             "usr/lib/sysusers.d", "lib/udev/hwdb.d", "usr/share/libwacom",
             "usr/share/X11/locale", "usr/lib/python3"]
# weston: the headless backend, the kiosk and desktop shells and the
# pixman renderer (built into libweston) are what runs; the rest needs the
# libraries the lock trims (RDP, PipeWire, GStreamer, X11, EGL, cairo).
WESTON_KEEP = {
    "usr/lib/x86_64-linux-gnu/libweston-10": {"headless-backend.so"},
    "usr/lib/x86_64-linux-gnu/weston": {
        "kiosk-shell.so", "fullscreen-shell.so",
        "libexec_weston.so", "libexec_weston.so.0",
        "libexec_weston.so.0.0.0"},
}
WESTON_BIN_KEEP = {"weston", "weston-info"}
# weston's clients (cairo, pango): the kiosk shell needs none of them.
WESTON_CLIENT_DIRS = ("usr/bin", "usr/libexec", "usr/lib/x86_64-linux-gnu")


def say(msg):
    print("assemble: " + msg, file=sys.stderr, flush=True)


def die(msg):
    print("assemble: error: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def run(cmd, **kw):
    r = subprocess.run(cmd, **kw)
    if r.returncode != 0:
        die("%s exited %d" % (" ".join(cmd), r.returncode))
    return r


def read_lock(path, sets):
    out = []
    for line in open(path):
        f = line.split()
        if not f or f[0].startswith("#") or f[0] not in sets:
            continue
        name, version, arch, sha = f[1], f[2], f[3], f[4]
        fname = "%s_%s_%s.deb" % (name, version.replace(":", "%3a"), arch)
        out.append((name, version, sha, fname))
    return out


def kernel_tree(a, work):
    (name, version, sha, fname), = read_lock(a.lock, {"kernel"})
    kver = name[len("linux-image-"):]
    tree = os.path.join(work, "kernel")
    stamp = os.path.join(tree, ".sha256")
    if not (os.path.exists(stamp) and open(stamp).read().strip() == sha):
        say("unpacking %s=%s" % (name, version))
        shutil.rmtree(tree, ignore_errors=True)
        os.makedirs(tree)
        run(["dpkg-deb", "-x", os.path.join(a.debs, fname), tree])
        depmod = shutil.which("depmod") or shutil.which("/sbin/depmod")
        if depmod:
            run([depmod, "-b", tree, kver])
        else:
            run([busybox_host(a, work), "depmod", "-b", tree, kver])
        open(stamp, "w").write(sha + "\n")
    return tree, kver, "%s=%s" % (name, version)


def busybox_host(a, work):
    bb = [p for p in read_lock(a.lock, {"spine"}) if p[0] == "busybox-static"]
    if not bb:
        die("busybox-static is not in the lock's spine set")
    d = os.path.join(work, "busybox-deb")
    shutil.rmtree(d, ignore_errors=True)
    run(["dpkg-deb", "-x", os.path.join(a.debs, bb[0][3]), d])
    return os.path.join(d, "bin", "busybox")


def unpack_spine(a, rootfs):
    pkgs = read_lock(a.lock, {"spine"})
    for name, version, sha, fname in pkgs:
        run(["dpkg-deb", "-x", os.path.join(a.debs, fname), rootfs])
    say("unpacked %d packages" % len(pkgs))


def trim(rootfs):
    for d in TRIM_DIRS:
        shutil.rmtree(os.path.join(rootfs, d), ignore_errors=True)
    for d, keep in WESTON_KEEP.items():
        full = os.path.join(rootfs, d)
        for n in sorted(os.listdir(full)) if os.path.isdir(full) else []:
            if n not in keep:
                os.unlink(os.path.join(full, n))
    os.unlink(os.path.join(rootfs, "usr/bin/wcap-decode"))
    for bindir in WESTON_CLIENT_DIRS:
        full = os.path.join(rootfs, bindir)
        for n in sorted(os.listdir(full)) if os.path.isdir(full) else []:
            if (n.startswith("weston-") or n == "weston") and \
                    n not in WESTON_BIN_KEEP:
                p = os.path.join(full, n)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
    # Development symlinks (libfoo.so -> libfoo.so.N) and static archives.
    for d in LIB_DIRS:
        full = os.path.join(rootfs, d)
        if not os.path.isdir(full):
            continue
        for n in sorted(os.listdir(full)):
            p = os.path.join(full, n)
            if n.endswith(".a") or (n.endswith(".so") and os.path.islink(p)):
                os.unlink(p)


def busybox_links(rootfs):
    listing = run([os.path.join(rootfs, "bin/busybox"), "--list-full"],
                  capture_output=True, text=True).stdout.split()
    for applet in sorted(listing):
        if applet in ("sbin/init", "linuxrc", "bin/linuxrc"):
            continue
        p = os.path.join(rootfs, applet)
        if os.path.lexists(p):
            continue
        os.makedirs(os.path.dirname(p), exist_ok=True)
        os.symlink("/bin/busybox", p)


GHOST_ROOT = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                  "spine:x:1000:1000:compositor and tenants:/run/spine:/bin/false\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\ntty:x:5:\nvideo:x:44:spine\ninput:x:105:spine\n"
                 "spine:x:1000:\nnogroup:x:65534:\n",
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\n"
                         "hosts: files\n",
    "etc/hostname": "spine\n",
    "etc/hosts": "127.0.0.1 localhost spine\n::1 localhost\n",
    "etc/resolv.conf": "",
    "etc/profile": "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
                   "export PS1='spine# '\n",
}


def skeleton(a, rootfs, kver, flavour):
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc/bay0/sv", "dev",
              "proc", "sys", "run", "persist", "tmp", "root", "lib/firmware",
              "lib/modules/" + kver, "var/log", "var/tmp"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    os.chmod(os.path.join(rootfs, "var/tmp"), 0o1777)
    shutil.copyfile(a.bay0, os.path.join(rootfs, "bin/bay0"))
    run(["strip", "--strip-debug", os.path.join(rootfs, "bin/bay0")])
    os.chmod(os.path.join(rootfs, "bin/bay0"), 0o755)
    for link, target in (("sbin/init", "../bin/bay0"), ("init", "bin/bay0")):
        p = os.path.join(rootfs, link)
        if os.path.lexists(p):
            os.unlink(p)
        os.symlink(target, p)
    for path, text in GHOST_ROOT.items():
        p = os.path.join(rootfs, path)
        if os.path.lexists(p):
            os.unlink(p)
        with open(p, "w") as f:
            f.write(text)
    if flavour == "full":
        p = os.path.join(rootfs, "etc/mtab")
        if not os.path.lexists(p):
            os.symlink("../proc/self/mounts", p)
    with open(os.path.join(rootfs, "etc/bay0/modules"), "w") as f:
        f.write("# kernel modules bay0 loads at boot (dependencies first)\n")
        f.write("".join(m + "\n" for m in MODULES[flavour]))
    shutil.copytree(os.path.join(a.src, "services/sample"),
                    os.path.join(rootfs, "etc/bay0/sv"), dirs_exist_ok=True)
    if flavour == "full":
        shutil.copytree(os.path.join(a.src, "image/rootfs"), rootfs,
                        dirs_exist_ok=True, symlinks=True)
        # The persona manager (and the other services that come with the
        # personas); it starts once the sample images are loaded.
        sv = os.path.join(a.src, "personas", "sv")
        if os.path.isdir(sv):
            shutil.copytree(sv, os.path.join(rootfs, "etc/bay0/sv"),
                            dirs_exist_ok=True)
        # The system tenants: the compositor (weston, headless) and the AI
        # tenant (its image is loaded by the images oneshot first).
        for name in ("compositor", "ai"):
            svc = os.path.join(a.src, "tenants", name, "service")
            if os.path.isdir(svc):
                shutil.copytree(svc, os.path.join(rootfs, "etc/bay0/sv", name),
                                dirs_exist_ok=True)
        for name in ("personas", "ai"):
            d = os.path.join(rootfs, "etc/bay0/sv", name)
            if os.path.isdir(d):
                os.makedirs(os.path.join(d, "dependencies.d"), exist_ok=True)
                open(os.path.join(d, "dependencies.d", "images"), "w").close()


def modules(tree, kver, rootfs, want):
    src = os.path.join(tree, "lib/modules", kver)
    dst = os.path.join(rootfs, "lib/modules", kver)
    deps, order = {}, []
    for line in open(os.path.join(src, "modules.dep")):
        path, _, rest = line.rstrip("\n").partition(":")
        deps[path] = rest.split()
        order.append(path)

    def name(p):
        return os.path.basename(p).split(".ko")[0].replace("-", "_")
    by_name = {name(p): p for p in order}
    builtin = {name(l.strip()) for l in open(os.path.join(src, "modules.builtin"))}
    missing = [n for n in want if n not in by_name and n not in builtin]
    if missing:
        die("modules not in the kernel package: %s" % missing)
    need, stack = set(), [by_name[n] for n in want if n in by_name]
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
    shutil.copyfile(os.path.join(src, "modules.builtin"),
                    os.path.join(dst, "modules.builtin"))
    say("%d modules: %s" % (len(need), " ".join(sorted(name(p) for p in need))))


def elf_needed(path):
    """(DT_NEEDED names, DT_RUNPATH/RPATH dirs) of a 64-bit little-endian
    ELF file, or None if it is not one."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads, dyn = [], None
    for i in range(phnum):
        ptype, _, off, vaddr, _, filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if ptype == 1:
            loads.append((vaddr, off, filesz))
        elif ptype == 2:
            dyn = (off, filesz)
    if dyn is None:
        return [], []

    def v2o(addr):
        for vaddr, off, size in loads:
            if vaddr <= addr < vaddr + size:
                return addr - vaddr + off
        return None
    entries, strtab = [], None
    for i in range(dyn[1] // 16):
        tag, val = struct.unpack_from("<qQ", data, dyn[0] + i * 16)
        if tag == 0:
            break
        if tag == 5:
            strtab = v2o(val)
        entries.append((tag, val))
    if strtab is None:
        return [], []

    def s(off):
        end = data.index(b"\0", strtab + off)
        return data[strtab + off:end].decode()
    needed = [s(v) for t, v in entries if t == 1]
    paths = []
    for t, v in entries:
        if t in (15, 29):
            paths += s(v).split(":")
    return needed, paths


def check_elf(rootfs):
    """Every ELF file outside /lib/modules finds each library it names."""
    missing = []
    n = 0
    for d, dirs, files in os.walk(rootfs):
        dirs.sort()
        if os.path.relpath(d, rootfs).startswith("lib/modules"):
            continue
        for fn in sorted(files):
            p = os.path.join(d, fn)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            r = elf_needed(p)
            if r is None:
                continue
            n += 1
            needed, runpath = r
            here = os.path.relpath(d, rootfs)
            search = [x.replace("$ORIGIN", "/" + here).lstrip("/")
                      for x in runpath] + LIB_DIRS
            # weston's plugins use libexec_weston, which weston (RUNPATH)
            # has loaded before it loads them.
            if here == "usr/lib/x86_64-linux-gnu/weston":
                search.append(here)
            for lib in needed:
                if not any(os.path.exists(os.path.join(rootfs, s, lib))
                           for s in search):
                    missing.append("%s needs %s" % (os.path.relpath(p, rootfs), lib))
    if missing:
        die("shared libraries missing from the image (add the package to "
            "scripts/lock-packages.sh or trim the file):\n  " +
            "\n  ".join(missing))
    say("ELF check: %d files, every library present" % n)


def sample_images(a, rootfs):
    """personas/build.sh --tar-only: the sample images' rootfs tarball and
    import changes, loaded into podman at boot by the image-load service."""
    script = os.path.join(a.src, "personas", "build.sh")
    dst = os.path.join(rootfs, "usr/share/bay0/images")
    if not os.path.exists(script):
        say("no personas/build.sh: the image carries no sample images")
        return
    os.makedirs(dst, exist_ok=True)
    # Its busybox is the builder's: the same locked busybox-static.
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(a.epoch))
    run(["sh", script, "--tar-only", dst], env=env, stdout=subprocess.DEVNULL)
    # The AI tenant's image (tenants/ai/build.sh --tar-only, run by
    # mkspine.sh before the build: it compiles our static server), and the
    # server as a client for the shell (it has --ask).
    ai = os.path.join(a.work, "inputs", "ai-rootfs.tar")
    if os.path.exists(ai):
        shutil.copyfile(ai, os.path.join(dst, "ai-rootfs.tar"))
        with open(os.path.join(dst, "ai.changes"), "w") as f:
            f.write('CMD ["/ai-server", "/run/bay0-ai/ai.sock"]\n')
        with tarfile.open(ai) as t:
            data = t.extractfile("./ai-server").read()
        client = os.path.join(rootfs, "usr/libexec/bay0/ai-client")
        os.makedirs(os.path.dirname(client), exist_ok=True)
        with open(client, "wb") as f:
            f.write(data)
        os.chmod(client, 0o755)
    say("sample images: " + " ".join(sorted(os.listdir(dst))))


def busybox_path(rootfs):
    return os.path.join(rootfs, "bin/busybox")


def cpio(rootfs, epoch, out):
    ino = [1000]

    def entry(name, mode, data=b"", rdev=(0, 0), nlink=1):
        ino[0] += 1
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            ino[0], mode, 0, 0, nlink, epoch, len(data), 0, 0,
            rdev[0], rdev[1], len(name_b), 0))
        out.write(hdr.encode() + name_b)
        out.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
        out.write(data)
        out.write(b"\0" * ((4 - len(data) % 4) % 4))
    paths = []
    for d, dirs, files in os.walk(rootfs):
        for n in dirs + files:
            paths.append(os.path.relpath(os.path.join(d, n), rootfs))
    size = 0
    for rel in sorted(paths):
        full = os.path.join(rootfs, rel)
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            entry(rel, stat.S_IFLNK | 0o777, os.readlink(full).encode())
        elif stat.S_ISDIR(st.st_mode):
            entry(rel, stat.S_IFDIR | (st.st_mode & 0o1777), nlink=2)
        elif stat.S_ISREG(st.st_mode):
            perm = 0o755 if st.st_mode & 0o111 else 0o644
            with open(full, "rb") as f:
                data = f.read()
            size += len(data)
            entry(rel, stat.S_IFREG | perm, data)
        else:
            die("unexpected file type: " + rel)
        if rel == "dev":
            entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    entry("TRAILER!!!", 0)
    return size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--debs", required=True)
    ap.add_argument("--lock")
    ap.add_argument("--bay0", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--flavour", choices=("full", "busybox"), default="full")
    ap.add_argument("--epoch", type=int, required=True)
    a = ap.parse_args()
    a.lock = a.lock or os.path.join(a.src, "image/packages.lock")
    os.umask(0o022)
    work = a.work
    tree, kver, kpkg = kernel_tree(a, work)
    rootfs = os.path.join(work, "rootfs")
    shutil.rmtree(rootfs, ignore_errors=True)
    os.makedirs(rootfs)
    if a.flavour == "full":
        unpack_spine(a, rootfs)
        trim(rootfs)
    else:
        os.makedirs(os.path.join(rootfs, "bin"))
        shutil.copyfile(busybox_host(a, work), busybox_path(rootfs))
        os.chmod(busybox_path(rootfs), 0o755)
    skeleton(a, rootfs, kver, a.flavour)
    busybox_links(rootfs)
    modules(tree, kver, rootfs, MODULES[a.flavour])
    if os.path.isdir(os.path.join(tree, "lib/firmware")):
        shutil.copytree(os.path.join(tree, "lib/firmware"),
                        os.path.join(rootfs, "lib/firmware"), dirs_exist_ok=True)
    if a.flavour == "full":
        sample_images(a, rootfs)
        check_elf(rootfs)
    img = os.path.join(work, "spine.img")
    comp = (["zstd", "-q", "-T1", "-12", "--no-progress"] if a.flavour == "full"
            else ["gzip", "-n", "-9"])
    with open(img + ".tmp", "wb") as f:
        p = subprocess.Popen(comp, stdin=subprocess.PIPE, stdout=f)
        size = cpio(rootfs, a.epoch, p.stdin)
        p.stdin.close()
        if p.wait() != 0:
            die("%s failed" % comp[0])
    os.replace(img + ".tmp", img)
    shutil.copyfile(os.path.join(tree, "boot", "vmlinuz-" + kver),
                    os.path.join(work, "vmlinuz"))
    with open(os.path.join(work, "image.env"), "w") as f:
        f.write("KVER=%s\nKERNEL=%s\nFLAVOUR=%s\nUNPACKED_BYTES=%d\n" % (
            kver, kpkg, a.flavour, size))
    for p in ("spine.img", "vmlinuz"):
        os.utime(os.path.join(work, p), (a.epoch, a.epoch))
    say("%s: %d bytes (%d unpacked), kernel %s" % (
        a.flavour, os.path.getsize(img), size, kpkg))


if __name__ == "__main__":
    main()
