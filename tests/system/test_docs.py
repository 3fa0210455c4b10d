"""The man pages stay true to the code: every subcommand `bay0 --help` lists
has its own section in docs/bay0.8 (and every long option its usage names
is documented there), every file name src/svcdir.c (and deps.c, spawn_child.c)
reads from a service directory has an entry in docs/bay0-servicedir.5, and
both pages render without a single groff warning. Across the man pages
and ARCHITECTURE/OPERATIONS/THREATMODEL, every log event named exists in
src/, and limitations that the code has since lost are not claimed again.

Needs groff (Debian groff-base) for the rendering tests and man (man-db)
for the `man -l` one; they skip, saying so, when those are missing."""
import os
import re
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BAY0 = os.environ.get("BAY0") or os.path.join(ROOT, "build", "bay0")
MAN8 = os.path.join(ROOT, "docs", "bay0.8")
MAN5 = os.path.join(ROOT, "docs", "bay0-servicedir.5")
INTERNAL_COMMANDS = {"state-debug"}  # documented, but its options are not


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def roff_plain(text):
    """The roff source with escapes a reader does not see removed:
    \\- becomes -, font changes and \\& vanish."""
    text = text.replace("\\-", "-").replace("\\&", "")
    return re.sub(r"\\f[BIRP]", "", text)


def run_bay0(*args, tmp_path):
    # A rundir with no supervisor in it: a client that (wrongly) connects
    # after printing its usage fails fast instead of talking to a real one.
    env = dict(os.environ, BAY0_RUNDIR=str(tmp_path / "no-supervisor"))
    return subprocess.run([BAY0, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=20, env=env)


def help_commands(tmp_path):
    out = run_bay0("--help", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    start = lines.index("commands:") + 1
    cmds = []
    for line in lines[start:]:
        if not line.strip():
            break
        cmds.append(line.split()[0])
    return cmds


def test_help_lists_the_commands_we_expect(tmp_path):
    # Guards the parser below: if the --help layout changes, say so here
    # instead of checking an empty list.
    cmds = help_commands(tmp_path)
    for must in ("supervise", "init", "status", "start", "stop", "log", "help"):
        assert must in cmds, f"{must} missing from `bay0 --help`: {cmds}"


def man8_headings():
    return [line for line in roff_plain(read(MAN8)).splitlines()
            if line.startswith(".SS ")]


def test_every_help_command_has_a_section_in_bay0_8(tmp_path):
    headings = man8_headings()
    missing = []
    for cmd in help_commands(tmp_path):
        word = re.compile(r"(?<![\w-])" + re.escape(cmd) + r"(?![\w-])")
        if not any(word.search(h) for h in headings):
            missing.append(cmd)
    assert not missing, f"commands with no .SS section in docs/bay0.8: {missing}"


def long_options(usage):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*[a-z])", usage)) - {"--help"}


def test_every_long_option_of_every_command_is_documented(tmp_path):
    text = roff_plain(read(MAN8))
    seen, missing = set(), []
    for cmd in help_commands(tmp_path):
        if cmd in INTERNAL_COMMANDS or cmd in ("help", "version"):
            continue
        out = run_bay0(cmd, "--help", tmp_path=tmp_path)
        usage = out.stdout + out.stderr
        assert "usage: bay0" in usage, f"`bay0 {cmd} --help` printed no usage: {usage!r}"
        for opt in sorted(long_options(usage)):
            seen.add(opt)
            if not re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", text):
                missing.append(f"{cmd} {opt}")
    assert {"--rundir", "--timeout", "--scandir"} <= seen, seen
    assert not missing, f"options in --help but not in docs/bay0.8: {missing}"


def documented_entries(path):
    """Names that head a tagged paragraph (.TP then .B NAME / .BR NAME ...)
    in a man page: a file's own entry, not a passing mention."""
    names = set()
    lines = roff_plain(read(path)).splitlines()
    for prev, line in zip(lines, lines[1:]):
        m = re.match(r"\.BR? (\S+)", line)
        if prev.strip() == ".TP" and m:
            names.add(m.group(1).strip('"').rstrip("/"))
    return names


def servicedir_files():
    src = read(os.path.join(ROOT, "src", "svcdir.c"))
    files = set(re.findall(
        r"\b(?:read_opt|read_u32|read_word|file_exists|check_run|open_dir)"
        r"\(\s*\w+,\s*\"([^\"%]+)\"", src))
    deps = read(os.path.join(ROOT, "src", "deps.c"))
    files |= set(re.findall(r"\b(?:file_read_small|openat)\(\s*\w+,\s*\"([^\"%]+)\"", deps))
    spawn = read(os.path.join(ROOT, "src", "spawn_child.c"))
    files |= set(re.findall(r"\"%s/([\w.-]+)\"", spawn))
    return files


def test_servicedir_parser_finds_the_files_we_expect():
    files = servicedir_files()
    for must in ("run", "finish", "down", "notification-fd", "timeout-kill",
                 "restart-limit", "down-signal", "type", "log/run",
                 "dependencies", "dependencies.d", "env"):
        assert must in files, f"{must} not found among {sorted(files)}"


def test_every_servicedir_file_has_an_entry_in_bay0_servicedir_5():
    entries = documented_entries(MAN5)
    missing = sorted(f for f in servicedir_files() if f not in entries)
    assert not missing, f"files bay0 reads but docs/bay0-servicedir.5 has no entry for: {missing}"


@pytest.mark.parametrize("page", [MAN8, MAN5], ids=["bay0.8", "bay0-servicedir.5"])
def test_groff_renders_without_warnings(page):
    if not shutil.which("groff"):
        pytest.skip("groff not installed (Debian package groff-base)")
    out = subprocess.run(["groff", "-man", "-Tutf8", "-ww", page],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", f"groff warnings for {page}:\n{out.stderr}"
    assert "NAME" in out.stdout and "bay0" in out.stdout
    assert len(out.stdout.splitlines()) > 50


@pytest.mark.parametrize("width", ["60", "80", "120"])
@pytest.mark.parametrize("page", [MAN8, MAN5], ids=["bay0.8", "bay0-servicedir.5"])
def test_man_renders_without_warnings(page, width):
    if not shutil.which("man"):
        pytest.skip("man not installed (Debian package man-db)")
    env = dict(os.environ, MANWIDTH=width, MANPAGER="cat", PAGER="cat")
    out = subprocess.run(["man", "--warnings", "-l", page], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", f"man -l warnings for {page} at width {width}:\n{out.stderr}"
    assert "SEE ALSO" in out.stdout


DOCS = [MAN8, MAN5] + [os.path.join(ROOT, "docs", f) for f in
                       ("ARCHITECTURE.md", "OPERATIONS.md", "THREATMODEL.md")]


def source_events():
    events = set()
    for top, _, files in os.walk(os.path.join(ROOT, "src")):
        for f in files:
            if f.endswith((".c", ".h")):
                events |= set(re.findall(r"event=([a-z][a-z0-9-]*)", read(os.path.join(top, f))))
    return events


def documented_events():
    """Every `event=NAME` the docs name, plus the bare names in the
    "Events worth grepping" list of OPERATIONS.md."""
    names = set()
    for path in DOCS:
        names |= set(re.findall(r"event=([a-z][a-z0-9-]*[a-z0-9])", roff_plain(read(path))))
    ops = read(os.path.join(ROOT, "docs", "OPERATIONS.md"))
    m = re.search(r"Events worth grepping: `([^`]+)`", ops)
    assert m, "the 'Events worth grepping' list is gone from OPERATIONS.md"
    listed = set(m.group(1).split())
    assert len(listed) > 20, listed
    return names | listed


def test_every_documented_log_event_exists_in_the_code():
    events = source_events()
    assert {"started", "failed", "config-error", "cgroups-unavailable"} <= events, events
    missing = sorted(documented_events() - events)
    assert not missing, f"log events named in docs/ that no source file logs: {missing}"


def test_docs_name_no_removed_limitation():
    # Statements that were true before the fixes of 51d2c7b/59a204d and must
    # not creep back: each regex names a behaviour the code no longer has.
    stale = {
        r"(?i)restart\s+accepts\s+--persist": "restart --persist is a usage error",
        r"(?i)logger\s+knows\s+only\s+-h": "bay0 logger takes --help",
        r"(?i)options\s+come\s+before\s+operands": "options may follow names",
        r"(?i)never\s+reaches\s+`?failed": "spawn failures end failed",
        r"(?i)not\s+restarted\s+again": "the log writer is always restarted",
        r"(?i)currently\s+keeps\s+20": "log-keep 0 keeps none",
        r"(?i)dies\s+of\s+SIGPIPE|killed\s+by\s+SIGPIPE": "clients ignore SIGPIPE",
    }
    found = []
    for path in DOCS:
        # drop roff macros (.B, .BR, ...) so sentences read as on the page
        text = re.sub(r"(?m)^\.[A-Z]{1,2}\b ?", "", roff_plain(read(path)))
        text = re.sub(r"\s+", " ", text)
        for pattern, why in stale.items():
            if re.search(pattern, text):
                found.append(f"{os.path.basename(path)}: /{pattern}/ ({why})")
    assert not found, "stale statements in docs/:\n" + "\n".join(found)


ALL_DOCS = DOCS + [os.path.join(ROOT, "docs", f) for f in ("HANDOFF.md", "state.md")]


def prose(path):
    """A document as one line of prose: roff escapes and macros gone,
    backquotes gone, whitespace squeezed."""
    text = re.sub(r"(?m)^\.[A-Z]{1,2}\b ?", "", roff_plain(read(path)))
    return re.sub(r"\s+", " ", text.replace("`", ""))


def not_yet_sections(path):
    """The text of every section that lists what is missing: NOT YET and
    BUGS in the man pages, "Not yet" in the markdown."""
    text = roff_plain(read(path))
    if path.endswith((".5", ".8")):
        parts = re.split(r"(?m)^\.SH ", text)
        keep = [p for p in parts if re.match(r"\"?(NOT YET|BUGS)\b", p)]
    else:
        parts = re.split(r"(?m)^#+ ", text)
        keep = [p for p in parts if re.match(r"(?i)not yet\b", p)]
    text = re.sub(r"(?m)^\.[A-Z]{1,2}\b ?", "", "\n".join(keep))
    return re.sub(r"\s+", " ", text.replace("`", ""))


# A sentence with one of these says the thing it names does not exist.
ABSENT = re.compile(r"(?i)\bthere (?:is|are) no\b|\bnot built\b|\bnot implemented\b"
                    r"|\bdoes not exist\b|\bno such\b")


def test_not_yet_sections_name_nothing_the_code_does(tmp_path):
    commands = set(help_commands(tmp_path))
    files = servicedir_files() | {"user", "limits"}
    found = []
    for path in ALL_DOCS:
        for sentence in re.split(r"(?<=[.;])\s+|\s-\s", not_yet_sections(path)):
            if not ABSENT.search(sentence):
                continue
            named = set(re.findall(r"\bbay0 ([a-z][\w-]*)", sentence)) & commands
            m = re.search(r"(?i)there (?:is|are) no (?:per-service )?([\w./-]+) file", sentence)
            if m and m.group(1) in files:
                named.add(m.group(1) + " file")
            for name in sorted(named):
                found.append(f"{os.path.basename(path)}: says {name!r} is missing: {sentence!r}")
    assert not found, "NOT YET/BUGS name what the code implements:\n" + "\n".join(found)


def test_bugs_about_help_output_still_hold(tmp_path):
    # "bay0 X --help still lists --Y": check it against the binary.
    wrong = []
    for path in ALL_DOCS:
        for cmd, opt in re.findall(r"bay0 ([a-z][\w-]*) --help (?:still )?lists --([\w-]+)",
                                   prose(path)):
            out = run_bay0(cmd, "--help", tmp_path=tmp_path)
            if "--" + opt not in out.stdout + out.stderr:
                wrong.append(f"{os.path.basename(path)}: bay0 {cmd} --help does not list --{opt}")
    assert not wrong, "\n".join(wrong)


def pid1_bound_s(name):
    m = re.search(r"#define " + name + r" (\d+)", read(os.path.join(ROOT, "src", "pid1.h")))
    assert m, f"{name} is gone from src/pid1.h"
    return int(m.group(1)) / 1000


def test_shutdown_bounds_agree_between_documents_and_code():
    # "sync (bounded, N s)", "unmount (N s)": every document that gives
    # the bound gives the one src/pid1.h has.
    code = {"sync": pid1_bound_s("PID1_SYNC_TIMEOUT_MS"),
            "unmount": pid1_bound_s("PID1_UMOUNT_TIMEOUT_MS")}
    said, wrong = {}, []
    for path in ALL_DOCS:
        for step, n in re.findall(r"(?<![\w-])(sync|unmount)\b[^.()]{0,50}?\([^)]*?(\d+(?:\.\d+)?) s\b",
                                  prose(path)):
            said.setdefault(step, []).append(os.path.basename(path))
            if float(n) != code[step]:
                wrong.append(f"{os.path.basename(path)}: {step} {n} s, src/pid1.h {code[step]:g} s")
    assert len(said.get("sync", [])) >= 3 and len(said.get("unmount", [])) >= 3, said
    assert not wrong, "shutdown bounds that disagree:\n" + "\n".join(wrong)


def test_man8_files_names_the_cgroup_as_the_code_does():
    src = read(os.path.join(ROOT, "src", "cgroup.c"))
    assert re.search(r"/bay0\.%d\.%", src), "cgroup.c no longer names bay0.PID.START"
    files = roff_plain(read(MAN8)).split(".SH FILES", 1)[1].split(".SH ", 1)[0]
    assert "/bay0. PID . START /" in files, \
        "FILES in docs/bay0.8 does not name the cgroup bay0.PID.START"


def test_help_points_at_a_man_page_that_is_installed(tmp_path):
    out = run_bay0("--help", tmp_path=tmp_path)
    assert "bay0(8)" in out.stdout
    assert "make install" in out.stdout, "--help names man bay0(8) but not how it gets installed"
    mk = read(os.path.join(ROOT, "Makefile"))
    assert "docs/bay0.8" in mk and "man8" in mk, "make install no longer installs bay0.8"
