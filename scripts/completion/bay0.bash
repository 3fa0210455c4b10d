# bash completion for bay0(8): commands from `bay0 help` (so always the
# binary's own list), service names from `bay0 status` (first column) for the
# commands that take them. Installed as
# /usr/share/bash-completion/completions/bay0 by `make install`.
_bay0()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        local cmds
        cmds=$(bay0 help 2>/dev/null | sed -n 's/^  \([a-z][a-z0-9-]*\) .*/\1/p')
        COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
        return
    fi
    case ${COMP_WORDS[1]} in
    status | start | stop | restart | signal | log | deaths | enable | disable)
        local names
        names=$(bay0 status 2>/dev/null | awk 'NR > 1 || $1 != "NAME" { print $1 }')
        COMPREPLY=($(compgen -W "$names" -- "$cur"))
        ;;
    esac
}
complete -F _bay0 bay0
