#!/bin/sh
# build-musl-deps.sh — build the C libraries bay0 links, for musl, from
# Debian's own source packages pinned by version and sha256, into a cache
# outside the repository; print the prefix (PREFIX/include, PREFIX/lib,
# PREFIX/kinclude) on stdout. `make static` runs it.
#
#   scripts/build-musl-deps.sh            build if needed, print the prefix
#
# Environment:
#   BAY0_MUSL_CACHE   cache directory (default /var/cache/bay0/musl, or
#                     ~/.cache/bay0/musl when that cannot be created)
#   MUSL_CC           the musl compiler (default musl-gcc, Debian musl-tools)
#
# Libraries: SQLite (below) and Jansson (persona's JSON parsing). Why:
# Debian's libsqlite3.a is built for glibc and does not link with musl
# (__memcpy_chk, fcntl64), and no binary package ships the amalgamation. So:
# `apt-get source --download-only sqlite3=VERSION` through a private apt
# state (deb-src lines for the mirrors this machine already uses; the
# system's apt configuration is not touched), every file checked against the
# pinned sha256, Debian's patches applied (dpkg-source -x), `./configure &&
# make sqlite3.c` (needs tclsh), then the amalgamation compiled with MUSL_CC
# and the options below into PREFIX/lib/libsqlite3.a.
#
# The prefix's name is the sha256 of this script and the compiler's version,
# so changing a pin, an option or the compiler builds a new prefix and an old
# one is never half-reused. Concurrent runs wait on one lock; a prefix appears
# (rename) only once complete. Changing a pin: the version AND the sha256s in
# one commit whose message names both and says why (as fetch-inputs.sh).
set -eu
export LC_ALL=C

SQLITE_SRC=sqlite3
SQLITE_VERSION=3.40.1-2+deb12u2
SQLITE_DSC_SHA256=ee3459ae9d00939741c7708fc1b8ce1bde12d8c3fb1dfa005bbbc8651d884e23
SQLITE_ORIG_SHA256=aaa776260ab4dc976db34aa7891819484c8676b5b2783123ebc6301e2ca5d655
SQLITE_DEBIAN_SHA256=0843bc12e4364076477935ce313a6d0796fd899a989ff18ebb6545540e10e4ca

JANSSON_SRC=jansson
JANSSON_VERSION=2.14-2
JANSSON_DSC_SHA256=6296ddd9c0a022bd1b70074aefb171cfcdf5694a04ffd32b35fd66097621af87
JANSSON_ORIG_SHA256=c739578bf6b764aa0752db9a2fdadcfe921c78f1228c7ec0bb47fa804c55d17b
JANSSON_DEBIAN_SHA256=e89fe4fd8221f6934ddb50f2e7f8404311928d0e23e49a5599f3d3d14ee8cb88

# What bay0 needs from SQLite, and nothing it does not: no extension loading
# (so no dlopen in a static PID 1), no threads (bay0 is single-threaded; its
# SQLite work runs in forked children), no JSON/deprecated/shared-cache/
# progress-callback code, double-quoted strings are identifiers only. The
# HAVE_* are what musl has (without HAVE_USLEEP, busy_timeout sleeps whole
# seconds).
SQLITE_CFLAGS="-O2 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_THREADSAFE=0
  -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_DQS=0 -DSQLITE_OMIT_DEPRECATED
  -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_OMIT_PROGRESS_CALLBACK -DSQLITE_OMIT_JSON
  -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_MAX_EXPR_DEPTH=0
  -DHAVE_USLEEP=1 -DHAVE_FDATASYNC=1 -DHAVE_LOCALTIME_R=1 -DHAVE_GMTIME_R=1
  -DHAVE_POSIX_FALLOCATE=1 -DHAVE_STRCHRNUL=1 -DHAVE_ISNAN=1
  -ffunction-sections -fdata-sections"

say() { echo "build-musl-deps: $*" >&2; }
die() { echo "build-musl-deps: error: $*" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
cc=${MUSL_CC:-musl-gcc}
for tool in "$cc" apt-get dpkg-source tclsh cmake make sha256sum flock ar; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh installs it)"
done

cache=${BAY0_MUSL_CACHE:-/var/cache/bay0/musl}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
    [ -z "${BAY0_MUSL_CACHE:-}" ] || die "cannot write the cache $cache"
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/bay0/musl
    mkdir -p "$cache" || die "cannot create the cache $cache"
fi
key=$( { cat "$0"; "$cc" -v 2>&1 | tail -n 1; } | sha256sum | cut -c1-16)
prefix=$cache/$key
if [ -f "$prefix/.complete" ]; then
    echo "$prefix"
    exit 0
fi

exec 9>"$cache/.lock"
flock 9
if [ -f "$prefix/.complete" ]; then          # built while we waited
    echo "$prefix"
    exit 0
fi
start=$(date +%s)
work=$(mktemp -d "$cache/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
out=$work/prefix
mkdir -p "$out/include" "$out/lib" "$out/kinclude"

# Kernel headers without glibc's: musl-gcc searches only musl's include
# directory, and bay0 needs <linux/...> (close_range, random, futex).
for d in linux asm-generic; do
    [ -d "/usr/include/$d" ] || die "/usr/include/$d missing (linux-libc-dev)"
    ln -s "/usr/include/$d" "$out/kinclude/$d"
done
asm=/usr/include/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)/asm
[ -d "$asm" ] || asm=/usr/include/asm
[ -d "$asm" ] || die "no <asm/...> headers found (linux-libc-dev)"
ln -s "$asm" "$out/kinclude/asm"

# A private apt state that knows the deb-src side of this machine's mirrors.
apt_dir=$cache/apt
mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
: >"$apt_dir/empty.list"
rm -f "$apt_dir/parts/"*
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed 's/^Types:.*/Types: deb-src/' "$f" >"$apt_dir/parts/$(basename "$f")"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -n 's/^deb[ \t]/deb-src /p' "$f" >"$apt_dir/parts/$(basename "$f")"
done
apt_opts="-o Dir::Etc::SourceList=$apt_dir/empty.list
  -o Dir::Etc::SourceParts=$apt_dir/parts -o Dir::State::Lists=$apt_dir/lists
  -o Dir::Cache=$apt_dir/cache -o APT::Sandbox::User=root"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# fetch_source PKG VERSION DSC_SHA256 FILE=SHA256... -> $work/PKG (unpacked)
fetch_source() {
    pkg=$1 version=$2 dsc_want=$3
    shift 3
    dl=$work/dl-$pkg
    mkdir -p "$dl"
    # shellcheck disable=SC2086
    if ! (cd "$dl" && apt-get $apt_opts -qq source --download-only "$pkg=$version" \
            >/dev/null 2>"$dl/err"); then
        say "$pkg=$version: source not in the private package lists; apt-get update"
        # shellcheck disable=SC2086
        apt-get $apt_opts -qq update >&2 || true
        # shellcheck disable=SC2086
        (cd "$dl" && apt-get $apt_opts -qq source --download-only "$pkg=$version" \
            >/dev/null 2>"$dl/err") || {
            cat "$dl/err" >&2
            die "source package $pkg=$version is not offered by this machine's" \
                "mirrors (deb-src); pin what \`apt-cache showsrc $pkg\` offers"
        }
    fi
    dsc=$(ls "$dl"/*.dsc)
    got=$(sha_of "$dsc")
    [ "$got" = "$dsc_want" ] || die "$dsc: sha256 mismatch: got $got, pinned $dsc_want"
    for pair in "$@"; do
        file=$dl/${pair%%=*} want=${pair#*=}
        [ -f "$file" ] || die "$pkg=$version: $file was not downloaded"
        got=$(sha_of "$file")
        [ "$got" = "$want" ] || die "$file: sha256 mismatch: got $got, pinned $want"
    done
    dpkg-source -q -x "$dsc" "$work/$pkg" >/dev/null 2>"$dl/err" || {
        cat "$dl/err" >&2
        die "dpkg-source -x $dsc failed"
    }
    say "$pkg=$version: sha256 ok, unpacked with Debian's patches"
}

build_sqlite() {
    up=${SQLITE_VERSION%%-*}
    fetch_source "$SQLITE_SRC" "$SQLITE_VERSION" "$SQLITE_DSC_SHA256" \
        "${SQLITE_SRC}_$up.orig.tar.xz=$SQLITE_ORIG_SHA256" \
        "${SQLITE_SRC}_$SQLITE_VERSION.debian.tar.xz=$SQLITE_DEBIAN_SHA256"
    b=$work/sqlite-build
    mkdir -p "$b"
    (cd "$b" && "$work/$SQLITE_SRC/configure" --disable-tcl >"$b/log" 2>&1 &&
        make sqlite3.c >>"$b/log" 2>&1) || {
        tail -n 20 "$b/log" >&2
        die "making the SQLite amalgamation failed (log above)"
    }
    # shellcheck disable=SC2086
    "$cc" $SQLITE_CFLAGS -c -o "$b/sqlite3.o" "$b/sqlite3.c" ||
        die "$cc could not compile sqlite3.c"
    ar rcs "$out/lib/libsqlite3.a" "$b/sqlite3.o"
    cp "$b/sqlite3.h" "$out/include/"
    say "sqlite $SQLITE_VERSION built for musl"
}

# Jansson with its own CMake build (the Debian source ships no configure):
# static only, no docs, examples or tests.
build_jansson() {
    up=${JANSSON_VERSION%%-*}
    fetch_source "$JANSSON_SRC" "$JANSSON_VERSION" "$JANSSON_DSC_SHA256" \
        "${JANSSON_SRC}_$up.orig.tar.gz=$JANSSON_ORIG_SHA256" \
        "${JANSSON_SRC}_$JANSSON_VERSION.debian.tar.xz=$JANSSON_DEBIAN_SHA256"
    b=$work/jansson-build
    mkdir -p "$b"
    (cmake -S "$work/$JANSSON_SRC" -B "$b" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$out" -DCMAKE_INSTALL_LIBDIR=lib \
        -DCMAKE_C_FLAGS="-ffunction-sections -fdata-sections" \
        -DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_BUILD_DOCS=OFF \
        -DJANSSON_EXAMPLES=OFF -DJANSSON_WITHOUT_TESTS=ON >"$b/log" 2>&1 &&
        make -C "$b" install >>"$b/log" 2>&1) || {
        tail -n 20 "$b/log" >&2
        die "building jansson for musl failed (log above)"
    }
    say "jansson $JANSSON_VERSION built for musl"
}

build_sqlite
build_jansson

printf 'sqlite3 %s\njansson %s\n' "$SQLITE_VERSION" "$JANSSON_VERSION" >"$out/.complete"
mv "$out" "$prefix"
say "prefix $prefix ready in $(( $(date +%s) - start )) s"
echo "$prefix"
