"""The state boundary: only src/state/ may name the persist path.

Every other C file under src/ is read with its comments removed (a header
comment may say "never touches /persist"); any remaining "/persist" — in a
string literal or anywhere else in code — fails the test and names the file
and line. Inside src/state/ the literal lives in one place (db.c).
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
NEEDLE = "/persist"


def strip_comments(text):
    """Blank out C comments, keeping string/char literals and newlines."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def hits(path):
    code = strip_comments(path.read_text(errors="replace"))
    return [(path.relative_to(ROOT), no) for no, line in
            enumerate(code.splitlines(), 1) if NEEDLE in line]


def c_files(top):
    return sorted(p for p in top.rglob("*") if p.suffix in (".c", ".h"))


def test_strip_comments_keeps_strings():
    src = 'a = "/persist"; /* /persist */ // /persist\nb = 1;'
    assert strip_comments(src) == 'a = "/persist";  \nb = 1;'
    assert strip_comments("x = '\"'; y = \"/* not a comment */\";") == \
        "x = '\"'; y = \"/* not a comment */\";"


def test_no_persist_path_outside_src_state():
    files = [p for p in c_files(SRC) if (SRC / "state") not in p.parents]
    assert files, "found no C sources to check"
    found = [h for p in files for h in hits(p)]
    assert found == [], "only src/state/ may name %s: %s" % (NEEDLE, found)


def test_state_module_names_it_once():
    found = [h for p in c_files(SRC / "state") for h in hits(p)]
    assert [str(f) for f, _ in found] == ["src/state/db.c"], found
