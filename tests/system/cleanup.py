"""Removing what podman and bay0 leave on the host: used by the tests'
fixtures (conftest.py) and by bench/ (no pytest here)."""
import glob
import os
import subprocess


def unmount_under(d):
    """podman's storage bind-mounts ROOT/overlay onto itself: unmount what is
    under d (deepest first, lazily), or the directory cannot be removed."""
    with open("/proc/self/mounts") as f:
        ours = [l.split()[1] for l in f if l.split()[1].startswith(d.rstrip("/") + "/")]
    for m in sorted(ours, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


def remove_cgroup_tree(rel):
    """Remove /sys/fs/cgroup/*/REL and everything below it (deepest first),
    in every hierarchy; a directory still in use stays."""
    for top in os.listdir("/sys/fs/cgroup"):
        rmdir_tree(f"/sys/fs/cgroup/{top}{rel}")


def rmdir_tree(path):
    """rmdir path and every directory under it, deepest first (cgroups are
    removed by rmdir alone); one still in use stays. Returns [(directory
    left, the OSError)]."""
    left = []
    for dirpath, _, _ in sorted(os.walk(path), key=lambda x: -len(x[0])):
        try:
            os.rmdir(dirpath)
        except OSError as e:
            left.append((dirpath, e))
    return left


def cgroup2_own_dir():
    """This process's cgroup2 directory (the cgroup2 mount point and the
    "0::" line of /proc/self/cgroup), or None without cgroup2."""
    mnt = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.startswith("cgroup2 "):
                mnt = left.split()[4]
                break
    with open("/proc/self/cgroup") as f:
        own = next((l.strip()[3:] for l in f if l.startswith("0::")), None)
    if mnt is None or own is None:
        return None
    return mnt + own.rstrip("/")


def remove_supervisor_cgroups(pid):
    """The cgroups a `bay0 supervise` of this pid left (OWN/bay0.PID.START/
    NAME: an orderly stop removes them, a SIGKILL cannot), deepest first; a
    directory still in use stays. Returns what rmdir_tree left."""
    base = cgroup2_own_dir()
    if base is None:
        return []
    return [x for top in glob.glob(f"{base}/bay0.{pid}.*") for x in rmdir_tree(top)]
