# inputs-lib.sh — sourced by fetch-inputs.sh, mkspine.sh and mkbuilder.sh:
# where the cache is and how a locked package is named in it.

# The cache directory (outside the repository; CI keeps it between runs).
inputs_cache() {
    if [ -n "${BAY0_CACHE:-}" ]; then
        echo "$BAY0_CACHE"
    elif mkdir -p /var/cache/bay0 2>/dev/null && [ -w /var/cache/bay0 ]; then
        echo /var/cache/bay0
    else
        echo "${XDG_CACHE_HOME:-$HOME/.cache}/bay0"
    fi
}

# inputs_list LOCK SET... -> "NAME VERSION SHA256 FILE" per package, in the
# lock's order (FILE is apt's name: NAME_VERSION_ARCH.deb, ':' as %3a).
inputs_list() {
    _lock=$1
    shift
    awk -v sets=" $* " '
        /^#/ || NF < 5 { next }
        index(sets, " " $1 " ") && !seen[$2 " " $3]++ {
            v = $3; sub(/:/, "%3a", v)
            print $2, $3, $5, $2 "_" v "_" $4 ".deb"
        }' "$_lock"
}

# builder_podman CACHE -> the podman command line of the builder's own store
# ($BAY0_BUILDER_PODMAN, or one under CACHE/podman: never the machine's
# default store, which other tools and tests use).
builder_podman() {
    if [ -n "${BAY0_BUILDER_PODMAN:-}" ]; then
        echo "$BAY0_BUILDER_PODMAN"
        return
    fi
    _run=/run/bay0-builder
    mkdir -p "$_run" 2>/dev/null || _run=${XDG_RUNTIME_DIR:-/tmp}/bay0-builder
    echo "podman --root $1/podman/root --runroot $_run/run --tmpdir $_run/tmp"
}
