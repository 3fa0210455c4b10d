"""Reading a log directory the way a person would: archives oldest first,
then current; stamps removed; a long line's "[...] " pieces joined.
Shared by test_reliability.py and test_soak.py."""
import os


def log_files(d):
    """Archives oldest first, then current."""
    if not os.path.isdir(d):
        return []
    names = sorted(n for n in os.listdir(d) if n.startswith("@") and n.endswith(".s"))
    files = [os.path.join(d, n) for n in names]
    cur = os.path.join(d, "current")
    return files + ([cur] if os.path.exists(cur) else [])


def raw_lines(d):
    """Every line of every file, stamps removed, in order (read again when
    a rotation renamed a file under the reader)."""
    for _ in range(20):
        try:
            out = []
            for path in log_files(d):
                with open(path, "rb") as f:
                    for line in f.read().split(b"\n")[:-1]:
                        out.append(line.split(b" ", 1)[1].decode() if b" " in line else line.decode())
            return out
        except FileNotFoundError:
            continue
    raise AssertionError(f"{d}: files kept moving under the reader")


def logical_lines(d):
    """The lines as the service wrote them: continuations ("[...] ") joined."""
    out = []
    for text in raw_lines(d):
        if text.startswith("[...] ") and out:
            out[-1] += text[len("[...] "):]
        else:
            out.append(text)
    return out
