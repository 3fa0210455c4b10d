"""A service's `user` and `limits` files (DESIGN §4), on the real binary: the
service's process really runs with those credentials and limits (read from
/proc), bad files are config errors naming the file and line, and every
other service runs."""
import grp
import os
import pwd

from conftest import wait_for


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.split()
    return out


def proc_limit(pid, title):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith(title):
                return line[len(title):].split()[:2]
    raise AssertionError(f"no '{title}' in /proc/{pid}/limits")


def creds_service(sup, name, files):
    """A service that says ready from its run script: by then its exec and
    the switch to its user and limits are done (`up` only means spawned;
    the child may not have reached its exec yet)."""
    return sup.service(name, run="echo >&3\nexec sleep 1000",
                       files={**files, "notification-fd": "3\n"})


def running_pid(sup, name):
    # the pid is the run script's shell, then `sleep` after its exec
    return sup.wait_state(name, "ready")["pid"]


def test_user_by_name_gets_its_uid_gid_and_groups(sup):
    nobody = pwd.getpwnam("nobody")
    creds_service(sup, "nob", {"user": "nobody\n"})
    sup.start()
    st = proc_status(running_pid(sup, "nob"))
    assert st["Uid"] == [str(nobody.pw_uid)] * 4, st["Uid"]
    assert st["Gid"] == [str(nobody.pw_gid)] * 4, st["Gid"]
    want = sorted({nobody.pw_gid} | {g.gr_gid for g in grp.getgrall() if "nobody" in g.gr_mem})
    assert sorted(int(g) for g in st["Groups"]) == want


def test_user_with_group_and_numbers(sup):
    daemon_gid = grp.getgrnam("daemon").gr_gid
    creds_service(sup, "named", {"user": "nobody:daemon\n"})
    creds_service(sup, "numeric", {"user": "  4321:8765  \n"})
    sup.start()
    st = proc_status(running_pid(sup, "named"))
    assert st["Gid"] == [str(daemon_gid)] * 4 and st["Groups"] == [str(daemon_gid)], st
    st = proc_status(running_pid(sup, "numeric"))
    assert st["Uid"] == ["4321"] * 4 and st["Gid"] == ["8765"] * 4, st
    assert st["Groups"] == ["8765"], st["Groups"]


def test_own_user_needs_no_switch(sup):
    me = pwd.getpwuid(os.geteuid()).pw_name
    creds_service(sup, "me", {"user": f"{me}\n"})
    sup.start()
    st = proc_status(running_pid(sup, "me"))
    assert st["Uid"][0] == str(os.geteuid())


def test_limits_apply_soft_and_hard(sup):
    creds_service(sup, "lim", {"limits": "# open files\nnofile 64 128\ncore 0\n\nstack 4M\n"})
    sup.start()
    pid = running_pid(sup, "lim")
    assert proc_limit(pid, "Max open files") == ["64", "128"]
    core_hard = proc_limit(os.getpid(), "Max core file size")[1]
    assert proc_limit(pid, "Max core file size") == ["0", core_hard]  # soft only
    assert proc_limit(pid, "Max stack size")[0] == str(4 << 20)


def test_bad_user_and_limits_are_config_errors_rest_runs(sup):
    bad = {
        "nouser": ({"user": "no-such-user-here\n"}, "user: no such user 'no-such-user-here'"),
        "nogroup": ({"user": "nobody:no-such-group\n"}, "user: no such group 'no-such-group'"),
        "badnum": ({"limits": "nofile lots\n"}, "limits: line 1: nofile: not a number"),
        "badres": ({"limits": "core 0\nwings 2\n"}, "limits: line 2: unknown resource 'wings'"),
        "softhi": ({"limits": "nofile 200 100\n"}, "soft 200 is above the hard limit"),
        "hardhi": ({"limits": "nofile 10 unlimited\n"}, "above bay0's own hard limit"),
        "shape": ({"limits": "nofile\n"}, "limits: line 1: expected 'RESOURCE SOFT [HARD]'"),
    }
    for name, (files, _) in bad.items():
        sup.service(name, files=files)
    sup.service("fine", files={"user": "nobody\n", "limits": "nofile 32\n"})
    sup.start()
    for name, (_, reason) in bad.items():
        s = sup.wait_state(name, "failed")
        assert reason in s["reason"], (name, s["reason"])
    assert sup.wait_state("fine", "up")["pid"] > 0


def test_user_file_changed_after_scan_refuses_the_spawn(sup):
    # read again at each spawn (like env/): a bad edit shows at the next start
    d = creds_service(sup, "later", {"user": "nobody\n"})
    sup.start()
    first = running_pid(sup, "later")
    with open(os.path.join(d, "user"), "w") as f:
        f.write("no-such-user-now\n")
    os.kill(first, 9)
    wait_for(lambda: "svc=later event=spawn-refused" in sup.log_text(), timeout=10,
             what="the refused spawn")
    assert "no such user 'no-such-user-now'" in sup.log_text()


def test_notify_readiness_works_as_another_user(sup, helpers):
    # RUNDIR/notify is mode 0666 and the rundir searchable: a service that
    # dropped to nobody can still say READY=1
    sup.public_rundir()  # a service that dropped to nobody reaches RUNDIR/notify
    notify = os.path.join(helpers, "sdnotify")
    sup.service("sdn", run=f"exec {notify} -d 100 -- sleep 1000",
                files={"notify": "", "user": "nobody\n"})
    sup.start()
    s = sup.wait_state("sdn", "ready")
    assert proc_status(s["pid"])["Uid"][0] == str(pwd.getpwnam("nobody").pw_uid)
