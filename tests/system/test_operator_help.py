"""`bay0 help TOPIC` (the man pages inside the binary, for the Spine where
no `man` is) and the bash and zsh completions, which read the same command
table (src/main.c) through `bay0 help` (issue 16)."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BAY0

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BASH_COMP = os.path.join(ROOT, "scripts", "completion", "bay0.bash")
ZSH_COMP = os.path.join(ROOT, "scripts", "completion", "_bay0")


def table_commands():
    with open(os.path.join(ROOT, "src", "main.c"), encoding="utf-8") as f:
        src = f.read()
    start = src.index("static const struct command commands[] = {")
    block = src[start:src.index("};", start)]
    names = re.findall(r'^\s*\{"([a-z][a-z0-9-]*)",', block, re.M)
    assert len(names) > 20, names  # the parser still reads the table
    return names


@pytest.fixture
def path_with_bay0(tmp_path):
    """PATH with `bay0` (BAY0 may be bay0-static) first."""
    d = tmp_path / "bin"
    d.mkdir()
    os.symlink(os.path.abspath(BAY0), d / "bay0")
    return f"{d}:{os.environ['PATH']}"


def bash_complete(path, words, env=None):
    script = (f'source {BASH_COMP}; COMP_WORDS=({" ".join(repr(w) for w in words)}); '
              f'COMP_CWORD={len(words) - 1}; _bay0; printf "%s\\n" "${{COMPREPLY[@]}}"')
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                       env=dict(env or os.environ, PATH=path))
    assert r.returncode == 0, r
    return [w for w in r.stdout.splitlines() if w]


def zsh_complete(path, words, env=None):
    # compsys's _describe and compadd stood in for: they print what they get
    stubs = ('_describe() { print -l -- ${(P)${@[-1]}} }; '
             'compadd() { [[ $1 == -a ]] && print -l -- ${(P)2} }; ')
    script = (stubs + f'words=({" ".join(repr(w) for w in words)}); CURRENT={len(words)}; '
              f'source {ZSH_COMP}')
    r = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, timeout=30,
                       env=dict(env or os.environ, PATH=path))
    assert r.returncode in (0, 1), r
    return [w.split(":", 1)[0] for w in r.stdout.splitlines() if w]


needs_zsh = pytest.mark.skipif(not shutil.which("zsh"), reason="zsh not installed (deps.sh)")


def test_bash_completion_lists_every_command_of_the_table(path_with_bay0):
    got = bash_complete(path_with_bay0, ["bay0", ""])
    assert sorted(got) == sorted(table_commands()), (got, table_commands())


@needs_zsh
def test_zsh_completion_lists_every_command_of_the_table(path_with_bay0):
    got = zsh_complete(path_with_bay0, ["bay0", ""])
    assert sorted(got) == sorted(table_commands()), (got, table_commands())


def test_completions_name_services_and_help_topics(sup, path_with_bay0):
    sup.service("clock")
    sup.service("web")
    sup.start()
    for cmd in ("stop", "log", "enable"):
        assert {"clock", "web"} <= set(bash_complete(path_with_bay0, ["bay0", cmd, ""],
                                                     sup.env)), cmd
        if shutil.which("zsh"):
            assert {"clock", "web"} <= set(zsh_complete(path_with_bay0, ["bay0", cmd, ""],
                                                        sup.env)), cmd
    assert "signals" in bash_complete(path_with_bay0, ["bay0", "help", "s"])


def test_help_topic_prints_the_man_page_part_from_the_binary_alone(tmp_path):
    lone = tmp_path / "bay0"
    shutil.copy(BAY0, lone)  # no docs/ next to it: the text is inside
    r = subprocess.run([str(lone), "help", "log"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=30)
    assert r.returncode == 0, r
    assert "bay0 log [-n LINES]" in r.stdout and "--since" in r.stdout, r.stdout
    assert not re.search(r"^\.(SS|TP|B) |\\f[BIR]|\\-", r.stdout, re.M), r.stdout  # plain text
    r = subprocess.run([str(lone), "help", "notification-fd"], capture_output=True, text=True)
    assert r.returncode == 0 and "bay0-servicedir(5)" in r.stdout and "readiness" in r.stdout, r
    r = subprocess.run([str(lone), "help", "signals"], capture_output=True, text=True)
    assert r.returncode == 0 and "SIGHUP" in r.stdout, r


def test_help_topics_cover_every_command_and_unknown_is_said(tmp_path):
    r = subprocess.run([BAY0, "help", "topics"], capture_output=True, text=True)
    topics = set(r.stdout.split())
    missing = [c for c in table_commands() if c not in topics]
    assert not missing, missing
    assert {"servicedir", "notification-fd", "log/run", "signals"} <= topics, topics
    r = subprocess.run([BAY0, "help", "nosuchtopic"], capture_output=True, text=True)
    assert r.returncode == 1 and "bay0 help topics" in r.stderr, r
