#!/bin/sh
# scripts/podman-setup.sh — make podman usable on a test host or in CI
# (DESIGN §7). Safe to run again; changes only what is missing.
#   1. podman, crun, conmon, fuse-overlayfs from Debian (apt-get).
#   2. On hybrid cgroups (cgroup v1 hierarchies with a cgroup2 unified one)
#      crun refuses to start a container ("cgroups in hybrid mode not
#      supported") until the hugetlb v1 hierarchy is mounted: mount it.
#   3. /etc/containers/containers.conf: default_ulimits lowered to
#      nofile=1024:1024 and nproc=1024:1024 (without CAP_SYS_RESOURCE crun
#      fails "setrlimit RLIMIT_NOFILE: Operation not permitted"),
#      cgroup_manager = "cgroupfs" (no systemd here), events_logger = "file"
#      (no journald), log_driver = "k8s-file". An existing file that lacks
#      these keys is kept as containers.conf.bay0-orig and rewritten.
# Needs root. Prints one line per change and "podman-setup: ok".
set -eu
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi

missing=""
for p in podman crun conmon fuse-overlayfs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "podman-setup: installing:$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# Hybrid cgroups: a tmpfs at /sys/fs/cgroup with v1 hierarchies in it.
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] &&
   grep -q hugetlb /proc/cgroups &&
   ! grep -q ' /sys/fs/cgroup/hugetlb cgroup ' /proc/mounts; then
    $SUDO mkdir -p /sys/fs/cgroup/hugetlb 2>/dev/null || true
    if $SUDO mount -t cgroup -o hugetlb hugetlb /sys/fs/cgroup/hugetlb; then
        echo "podman-setup: mounted the hugetlb v1 hierarchy (hybrid cgroups)" >&2
    else
        echo "podman-setup: cannot mount /sys/fs/cgroup/hugetlb: crun will refuse to start containers" >&2
    fi
fi

conf=/etc/containers/containers.conf
want='[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"'
if ! { [ -f "$conf" ] && grep -q '^default_ulimits = \["nofile=1024:1024"' "$conf" &&
       grep -q '^cgroup_manager = "cgroupfs"' "$conf" &&
       grep -q '^events_logger = "file"' "$conf"; }; then
    $SUDO mkdir -p /etc/containers
    [ -f "$conf" ] && $SUDO cp -p "$conf" "$conf.bay0-orig"
    printf '%s\n' "$want" | $SUDO tee "$conf.new" >/dev/null
    $SUDO mv "$conf.new" "$conf"
    echo "podman-setup: wrote $conf" >&2
fi
echo "podman-setup: ok" >&2
