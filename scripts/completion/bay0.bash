# bash completion for bay0(8): commands from `bay0 help` (so always the
# binary's own list, the command table in src/main.c; the zsh completion
# _bay0 reads the same), service names from `bay0 status` (first column) for
# the commands that take them, persona names from `bay0 persona list`.
# Installed as /usr/share/bash-completion/completions/bay0 by `make install`.
_bay0()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        local cmds
        cmds=$(bay0 help 2>/dev/null | sed -n 's/^  \([a-z][a-z0-9-]*\) .*/\1/p')
        COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
        return
    fi
    local names
    case ${COMP_WORDS[1]} in
    status | start | stop | restart | signal | log | deaths | enable | disable)
        names=$(bay0 status 2>/dev/null | awk 'NR > 1 || $1 != "NAME" { print $1 }')
        ;;
    persona | focus)
        names=$(bay0 persona list 2>/dev/null | awk '$1 ~ /^p:\/\// { print $1 }')
        ;;
    help)
        names=$(bay0 help topics 2>/dev/null)
        ;;
    esac
    COMPREPLY=($(compgen -W "$names" -- "$cur"))
}
complete -F _bay0 bay0
