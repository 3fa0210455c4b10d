"""The packages stay true to the source: `make dist` gives one reproducible
tarball that leaves scripts/packaging/ out; update-sums.sh writes its
checksums and bay0's version into the APKBUILD and the Nix derivation; the
APKBUILD's build() and package() and the derivation's buildPhase and
installPhase, run here on that tarball, build a static binary and install
exactly the files the packages declare (binary, man pages, completion).

What cannot run here: abuild and nix-build themselves (no Alpine, no
nixpkgs). The same commands run with Debian's musl-gcc and the prefix
scripts/build-musl-deps.sh makes, in place of Alpine's cc + sqlite-static
and nixpkgs' pkgsStatic (MUSL_PREFIX=system there). The derivation is
parsed and evaluated by nix-instantiate (Debian nix-bin) with a stand-in
for nixpkgs, when nix-instantiate is installed."""
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tarfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PKG = os.path.join(ROOT, "scripts", "packaging")
APKBUILD = os.path.join(PKG, "alpine", "APKBUILD")
NIX = os.path.join(PKG, "nix", "default.nix")
INSTALLED = {
    "bin/bay0",
    "share/man/man8/bay0.8",
    "share/man/man5/bay0-servicedir.5",
    "share/bash-completion/completions/bay0",
    "share/zsh/site-functions/_bay0",
}
# A stand-in for nixpkgs: enough for default.nix to evaluate to its
# attributes (mkDerivation returns them, requireFile its arguments).
NIX_STUB = (
    "{ pkgsStatic = { stdenv.mkDerivation = a: a; sqlite = \"sqlite\"; jansson = \"jansson\";"
    " cmocka = \"cmocka\"; }; requireFile = a: a;"
    " lib.platforms.linux = [ \"x86_64-linux\" ]; }"
)


# What an outer make (make asan: CC, OPT, LDFLAGS=-fsanitize...) exports
# must not reach the package builds: abuild and nix-build start clean.
MAKE_ENV = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "CC", "CFLAGS",
            "CPPFLAGS", "LDFLAGS", "LDLIBS", "OPT", "BUILD"}
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in MAKE_ENV}


def version():
    with open(os.path.join(ROOT, "src", "util.h"), encoding="utf-8") as f:
        return re.search(r'#define BAY0_VERSION "([^"]+)"', f.read()).group(1)


def make_dist(dest):
    subprocess.run(["make", "-s", "-C", ROOT, "dist", f"DISTDIR={dest}"],
                   check=True, stdout=subprocess.DEVNULL, env=CLEAN_ENV)
    path = os.path.join(dest, f"bay0-{version()}.tar.gz")
    assert os.path.isfile(path), "make dist wrote no " + path
    return path


def sha(path, algo):
    with open(path, "rb") as f:
        return hashlib.new(algo, f.read()).hexdigest()


def apkbuild_vars(path, *names):
    """The APKBUILD's variables as abuild sees them: sourced by sh."""
    script = ". \"$1\"; " + "; ".join(f'printf "%s\\0" "${n}"' for n in names)
    out = subprocess.run(["sh", "-c", script, "sh", path], check=True,
                         capture_output=True, text=True).stdout
    return dict(zip(names, out.split("\0")))


def nix_eval(path, expr="d"):
    nix = shutil.which("nix-instantiate")
    if not nix:
        pytest.skip("nix-instantiate missing (Debian nix-bin, scripts/deps.sh)")
    code = (f"let d = import {path} {{ pkgs = {NIX_STUB}; }}; in {expr}")
    out = subprocess.run([nix, "--eval", "--strict", "--json", "-E", code],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def is_static_elf(path):
    """An ELF executable with no PT_INTERP program header (no loader)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0]
             for i in range(phnum)]
    return 3 not in types  # PT_INTERP


def installed_files(dest):
    found = set()
    for d, _, files in os.walk(dest):
        for name in files:
            found.add(os.path.relpath(os.path.join(d, name), dest))
    return found


def test_dist_is_reproducible_and_is_the_source(tmp_path):
    one = make_dist(tmp_path / "one")
    two = make_dist(tmp_path / "two")
    assert sha(one, "sha256") == sha(two, "sha256"), "make dist is not reproducible"
    top = f"bay0-{version()}/"
    with tarfile.open(one) as t:
        names = t.getnames()
    assert all(n.startswith(top) for n in names), names[:5]
    for need in ("Makefile", "src/main.c", "docs/bay0.8",
                 "scripts/build-musl-deps.sh", "scripts/completion/bay0.bash"):
        assert top + need in names, need + " is not in the tarball"
    # The packaging files hold the tarball's checksums: they are not in it.
    assert not [n for n in names if n.startswith(top + "scripts/packaging/")]


def test_update_sums_writes_the_tarballs_checksums(tmp_path):
    tarball = make_dist(tmp_path / "dist")
    pkg = tmp_path / "pkg"
    shutil.copytree(PKG, pkg)
    subprocess.run([os.path.join(PKG, "update-sums.sh"), tarball, str(pkg)],
                   check=True, capture_output=True, env=CLEAN_ENV)
    v = apkbuild_vars(pkg / "alpine" / "APKBUILD", "pkgver", "source",
                      "sha512sums")
    assert v["pkgver"] == version()
    assert v["sha512sums"].split() == [sha(tarball, "sha512"),
                                       os.path.basename(tarball)]
    assert v["source"] == os.path.basename(tarball)
    d = nix_eval(pkg / "nix" / "default.nix",
                 "{ inherit (d) version; inherit (d.src) name sha256; }")
    assert d == {"version": version(), "name": os.path.basename(tarball),
                 "sha256": sha(tarball, "sha256")}


def test_packages_name_this_version():
    assert apkbuild_vars(APKBUILD, "pkgver")["pkgver"] == version()
    assert nix_eval(NIX, "d.version") == version()


# Each library bay0 links (Makefile LDLIBS): its static package on Alpine and
# its attribute in nixpkgs. A library added to LDLIBS fails here until the
# packages (and this table) name it.
LIBS = {"sqlite3": ("sqlite-static", "sqlite"), "jansson": ("jansson-static", "jansson")}
LIBC_PARTS = {"pthread", "m", "dl", "rt"}


def test_packages_name_every_linked_library():
    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as f:
        ldlibs = " ".join(l.split("+=", 1)[1] for l in f if l.startswith("LDLIBS"))
    libs = set(re.findall(r"-l(\S+)", ldlibs)) - LIBC_PARTS
    assert "sqlite3" in libs  # the parse found the line
    makedepends = apkbuild_vars(APKBUILD, "makedepends")["makedepends"].split()
    build_inputs = nix_eval(NIX, "d.buildInputs")
    for lib in sorted(libs):
        assert lib in LIBS, f"-l{lib}: name its Alpine and Nix packages (and add it to LIBS)"
        apk, nix = LIBS[lib]
        assert apk in makedepends, f"-l{lib}: {apk} is not in the APKBUILD's makedepends"
        assert nix in build_inputs, f"-l{lib}: static.{nix} is not in default.nix's buildInputs"


def test_package_files_parse():
    for shell in ("sh", "bash"):
        r = subprocess.run([shell, "-n", APKBUILD], capture_output=True, text=True)
        assert r.returncode == 0, f"{shell} -n APKBUILD: {r.stderr}"
    nix = shutil.which("nix-instantiate")
    if not nix:
        pytest.skip("nix-instantiate missing (Debian nix-bin, scripts/deps.sh)")
    r = subprocess.run([nix, "--parse", NIX], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = nix_eval(NIX)  # the whole derivation, strictly
    assert d["doCheck"] is True and d["pname"] == "bay0"


def test_packages_build_and_install_what_they_declare(tmp_path):
    if not shutil.which("musl-gcc"):
        pytest.skip("musl-gcc missing (Debian musl-tools, scripts/deps.sh)")
    prefix = subprocess.run([os.path.join(ROOT, "scripts", "build-musl-deps.sh")],
                            check=True, capture_output=True, text=True,
                            env=CLEAN_ENV).stdout.strip()
    tarball = make_dist(tmp_path / "dist")
    srcdir = tmp_path / "src"
    with tarfile.open(tarball) as t:
        t.extractall(srcdir)
    builddir = srcdir / f"bay0-{version()}"
    # make with Debian's musl in place of Alpine's/nixpkgs' own, -O0 to build
    # fast (the commands are under test, not the optimiser; later
    # assignments on make's command line win).
    shim = (f'make() {{ command make "$@" MUSL_CC=musl-gcc MUSL_PREFIX="{prefix}" OPT=-O0; }}; '
            'export MAKEFLAGS=-j2; ')

    # Alpine: source the APKBUILD as abuild does, run build() and package().
    pkgdir = tmp_path / "apk"
    subprocess.run(["sh", "-ec", shim + '. "$1"; cd "$builddir"; build; package',
                    "sh", APKBUILD], check=True, capture_output=True,
                   env={**CLEAN_ENV, "srcdir": str(srcdir), "pkgdir": str(pkgdir),
                        "startdir": os.path.dirname(APKBUILD)})
    assert installed_files(pkgdir) == {"usr/" + f for f in INSTALLED}
    binary = pkgdir / "usr" / "bin" / "bay0"
    assert is_static_elf(binary), "the packaged bay0 is not static"
    out = subprocess.run([binary, "version"], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip() == f"bay0 {version()}"
    # The subpackages that take the man pages and the completion exist.
    subs = apkbuild_vars(APKBUILD, "subpackages")["subpackages"].split()
    assert "bay0-doc" in subs and "bay0-bash-completion" in subs, subs
    # check() runs a target that exists (it is run for real by make check).
    subprocess.run(["make", "-n", "-C", builddir, "unit"], check=True,
                   capture_output=True, env=CLEAN_ENV)

    # Nix: the derivation's own phases, in the same tree (the build is done).
    phases = nix_eval(NIX, "{ inherit (d) buildPhase checkPhase installPhase; }")
    out_dir = tmp_path / "nix-out"
    script = shim + "runHook() { :; }; " + phases["buildPhase"] + phases["installPhase"]
    subprocess.run(["sh", "-ec", script], check=True, capture_output=True,
                   cwd=builddir, env={**CLEAN_ENV, "out": str(out_dir),
                                      "CC": "musl-gcc"})
    assert installed_files(out_dir) == INSTALLED
    assert is_static_elf(out_dir / "bin" / "bay0")
    assert "make unit" in phases["checkPhase"]
