"""Removing what podman and bay0 leave on the host: used by the tests'
fixtures (conftest.py) and by bench/ (no pytest here)."""
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
        path = f"/sys/fs/cgroup/{top}{rel}"
        for dirpath, _, _ in sorted(os.walk(path), key=lambda x: -len(x[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
