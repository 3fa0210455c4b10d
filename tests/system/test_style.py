"""STYLE.md rule 7, kept true: no function in bay0's C (src/, the tenants'
servers, the test helpers) is longer than 70 lines, counted from the line
that names it to its closing brace. Pure reading of files: no bay0 process.

A function is a brace alone at column 0 after a line that names it (bay0's
layout, which the code follows); a table at file scope opens its brace on
its own line, so it is not counted."""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINES_MAX = 70


def functions(path):
    """(name line, length in lines, first line's text) of each function."""
    lines = open(path, encoding="utf-8").read().split("\n")
    start = None
    for i, line in enumerate(lines):
        if line.startswith("{") and start is None:
            j = i - 1
            while j > 0 and not re.match(r"[A-Za-z_]", lines[j]):
                j -= 1
            start = j
        elif line.startswith("}") and start is not None:
            yield start + 1, i - start + 1, lines[start]
            start = None


def c_files():
    pats = ("src/*.c", "src/*/*.c", "tenants/*/*.c", "tests/helpers/*.c")
    return sorted(p for pat in pats for p in glob.glob(os.path.join(ROOT, pat)))


def test_the_counter_sees_functions():
    # it must find the functions it is meant to bound, or it proves nothing
    found = {text for f in c_files() for _, _, text in functions(f)}
    assert any(t.startswith("int main(") for t in found)
    assert sum(1 for f in c_files() for _ in functions(f)) > 500


def test_no_function_over_70_lines():
    long = [f"{os.path.relpath(f, ROOT)}:{line}: {n} lines: {text.strip()}"
            for f in c_files() for line, n, text in functions(f) if n > LINES_MAX]
    assert not long, "split these (STYLE.md 7):\n" + "\n".join(long)


# ---- one log dialect (issue 15) -------------------------------------------
# bay0's own log lines are `event=NAME key=value ...` (src/log.h). The state
# store (src/state/) wrote prose ("state: cannot open genesis log ...") until
# it was converted; these keep it converted.
LOG_CALL = re.compile(r'\blog_(?:debug|info|warn|error)\(\s*"((?:[^"\\]|\\.)*)"')


def log_formats(pattern):
    """(file:line, format string's first literal) of every log_* call."""
    for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
        text = open(path, encoding="utf-8").read()
        for m in LOG_CALL.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            yield f"{os.path.relpath(path, ROOT)}:{line}", m.group(1)


def test_the_log_call_finder_sees_the_state_lines():
    found = list(log_formats("src/state/*.c"))
    assert len(found) > 60, found
    assert any(fmt.startswith("event=db-moved-aside ") for _, fmt in found)


def test_no_prose_state_log_line_in_src():
    prose = [f"{where}: {fmt}" for pat in ("src/*.c", "src/*/*.c")
             for where, fmt in log_formats(pat) if fmt.startswith("state:")]
    assert not prose, "write these as event=NAME key=value (src/log.h):\n" + "\n".join(prose)


def test_every_log_line_in_src_is_key_value_with_its_event():
    # the rest of src/ too: the objects it is about (svc=, persona=, ...)
    # then event=NAME; the persona manager wrote "personas: ..." and
    # "reconcile: ..." prose until it was converted
    found = [(w, f) for pat in ("src/*.c", "src/*/*.c") for w, f in log_formats(pat)]
    assert len(found) > 250, len(found)
    other = [f"{where}: {fmt}" for where, fmt in found
             if not re.match(r"(?:[a-z_]+=%s )*event=(?:[a-z][a-z0-9-]*|%s)( |%s|$)", fmt)]
    assert not other, "write these as [object=%s ]event=NAME key=value (src/log.h):\n" + \
        "\n".join(other)


def test_every_state_and_exec_log_line_names_its_event_first():
    # exec.c's lines too: a VM test's console filter drops PID 1's lines by
    # "event=", and an "exec: ..." line once broke a command's JSON there
    other = [f"{where}: {fmt}" for pat in ("src/state/*.c", "src/exec.c")
             for where, fmt in log_formats(pat)
             if not re.match(r"event=[a-z][a-z0-9-]*( |$)", fmt)]
    assert not other, "start these with event=NAME (src/log.h):\n" + "\n".join(other)
