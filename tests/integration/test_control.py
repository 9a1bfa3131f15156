"""The control socket and slidgectl, against a running slidged with real users on a real
Prosody: every command of docs/operating.md's table with its output checked (plain and
--json), the exit statuses, the socket's mode, and a peer with another uid refused by
SO_PEERCRED even when the socket's mode lets it in.
Expected behaviour: docs/operating.md "The control socket"."""

import os
import pwd
import re
import shutil
import stat
import time

import pytest

import harness
from harness import (COMPONENT, connected_status, contact_jid, ctl_json, echo_roundtrip,
                     is_presence, local, register, slidgectl, stanza_error, tostr, user_row)

COLUMNS = ["jid", "pid", "state", "session", "uptime", "restarts", "last_exit", "rss_kb",
           "pss_kb", "queue", "in", "out"]


def ctl_ok(gw, *args):
    r = slidgectl(gw, *args)
    assert r.returncode == 0, "slidgectl %s: exit %d\nstdout: %s\nstderr: %s" % (
        " ".join(args), r.returncode, r.stdout, r.stderr)
    return r.stdout


def table(text):
    """Rows of slidgectl's plain table output (split on runs of 2+ spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


@pytest.fixture
def two_users(gateway, clients):
    a = clients.new("ctla")
    register(a, "ctla")
    b = clients.new("ctlb")
    register(b, "ctlb")
    return a, b


def test_list_status_stats(gateway, two_users):
    a, b = two_users
    # list: a header and one row per user, plain and --json
    rows = table(ctl_ok(gateway, "list"))
    assert rows[0] == COLUMNS, rows[0]
    by_jid = {r[0]: r for r in rows[1:]}
    assert set(by_jid) >= {a.jid, b.jid}, rows
    doc = ctl_json(gateway, "list")
    assert doc["text"].endswith("users"), doc["text"]
    jrows = {r["jid"]: r for r in doc["rows"]}
    for c in (a, b):
        r = jrows[c.jid]
        assert set(r) == set(COLUMNS), r
        assert r["state"] == "running" and r["session"] == "logged-in", r
        pid = int(r["pid"])
        assert harness.pid_running(pid) and pid in harness.gateway_workers(gateway), r
        assert int(r["rss_kb"]) > 0 and int(r["uptime"]) >= 0 and r["restarts"] == "0", r
        assert by_jid[c.jid][1] == r["pid"], (by_jid[c.jid], r)

    # status: the same for one user; in/out count stanzas
    before = user_row(gateway, a.jid)
    echo_roundtrip(a, "counted")
    after = user_row(gateway, a.jid)
    assert int(after["in"]) > int(before["in"]) and int(after["out"]) > int(before["out"]), (before, after)
    out = ctl_ok(gateway, "status", a.jid)
    rows = table(out)
    assert rows[0] == COLUMNS and len(rows) == 2 and rows[1][0] == a.jid and rows[1][2] == "running", out
    # a full JID names its bare JID
    assert user_row(gateway, a.jid + "/res")["pid"] == after["pid"]

    # stats
    doc = ctl_json(gateway, "stats")
    st = {r["key"]: r["value"] for r in doc["rows"]}
    assert int(st["users"]) == 2, st
    assert int(st["worker_processes"]) == 2, st
    assert st["component"] == "connected", st
    assert int(st["stanzas_in"]) > 0 and int(st["stanzas_out"]) > 0, st
    assert int(st["supervisor_rss_kb"]) > 0 and int(st["workers_pss_kb"]) > 0, st
    assert "2 users, 2 worker processes" in doc["text"], doc["text"]
    assert "component" in ctl_ok(gateway, "stats")


def test_restart_stop_start_kill(gateway, two_users):
    a, b = two_users
    pid_a = int(user_row(gateway, a.jid)["pid"])
    pid_b = int(user_row(gateway, b.jid)["pid"])

    # restart: a new worker for a, b untouched
    mark = a.mark()
    assert "restart done" in ctl_ok(gateway, "restart", a.jid)
    a.wait_for(connected_status("ctla"), 15, mark)
    new = harness.worker_pid(gateway, a.jid)
    assert new != pid_a and not harness.pid_running(pid_a)
    assert harness.user_row(gateway, a.jid)["restarts"] == "1"
    assert int(user_row(gateway, b.jid)["pid"]) == pid_b
    echo_roundtrip(a, "after restart")
    pid_a = new

    # stop: no worker, messages answered with an error saying so
    ctl_ok(gateway, "stop", a.jid)
    assert not harness.wait_pids_gone([pid_a], 10), "the stopped worker still runs"
    row = user_row(gateway, a.jid)
    assert row["state"] in ("held", "stopped") and row["pid"] in ("0", "-1", ""), row
    mark = a.mark()
    mid = a.send_message(contact_jid("echo"), "are you there?")
    err = a.wait_for(lambda el: local(el) == "message" and el.get("id") == mid, 10, mark,
                     what="the error for a message to a stopped session")
    assert err.get("type") == "error", tostr(err)
    cond = stanza_error(err)
    assert cond[1] == "recipient-unavailable" and "stopped by its operator" in (cond[2] or ""), tostr(err)
    time.sleep(0.5)
    assert user_row(gateway, a.jid)["state"] in ("held", "stopped"), "a message restarted a stopped session"
    assert int(user_row(gateway, b.jid)["pid"]) == pid_b
    echo_roundtrip(b, "b does not care")

    # start
    mark = a.mark()
    ctl_ok(gateway, "start", a.jid)
    a.wait_for(connected_status("ctla"), 15, mark)
    pid_a = harness.worker_pid(gateway, a.jid)
    echo_roundtrip(a, "after start")

    # kill: SIGKILL, restarted like a crash
    mark = a.mark()
    ctl_ok(gateway, "kill", a.jid)
    assert not harness.wait_pids_gone([pid_a], 5)
    a.wait_for(connected_status("ctla"), 15, mark)
    row = user_row(gateway, a.jid)
    assert int(row["pid"]) != pid_a and row["state"] == "running", row
    assert "signal 9" in row["last_exit"] and "killed by the operator" in row["last_exit"], row
    echo_roundtrip(a, "after kill")
    assert int(user_row(gateway, b.jid)["pid"]) == pid_b


def test_register_unregister(gateway, clients):
    c = clients.new("ctlreg")
    mark = c.mark()
    out = ctl_ok(gateway, "register", c.jid, "username=provisioned")
    assert "registered" in out, out
    # the session starts without any XMPP registration
    c.wait_for(connected_status("provisioned"), 20, mark)
    echo_roundtrip(c, "provisioned by the operator")
    r = slidgectl(gateway, "register", c.jid, "username=again")
    assert r.returncode == 1 and "already registered" in r.stderr, (r.returncode, r.stderr)
    r = slidgectl(gateway, "register", "someone@localhost", "novalue")
    assert r.returncode == 5, (r.returncode, r.stderr)

    pid = harness.worker_pid(gateway, c.jid)
    mark = c.mark()
    assert "unregistered" in ctl_ok(gateway, "unregister", c.jid)
    c.wait_for(is_presence(COMPONENT, "unsubscribe"), 15, mark, what="unsubscribe from the gateway")
    assert not harness.wait_pids_gone([pid], 10), "the worker of an unregistered user still runs"
    r = slidgectl(gateway, "status", c.jid)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    mark = c.mark()
    mid = c.send_message(contact_jid("echo"), "still registered?")
    err = c.wait_for(lambda el: local(el) == "message" and el.get("id") == mid, 10, mark)
    assert err.get("type") == "error" and stanza_error(err)[1] == "registration-required", tostr(err)
    assert not os.path.exists(os.path.join(gateway.home, "users", c.jid)), "state dir left behind"


def test_loglevel(gateway, two_users):
    a, _ = two_users
    doc = ctl_json(gateway, "loglevel", "error")
    assert doc["text"] == "log level is now error", doc
    mark = harness.log_mark(gateway)
    echo_roundtrip(a, "quiet please")
    ctl_ok(gateway, "restart", a.jid)
    harness.worker_pid(gateway, a.jid)
    echo_roundtrip(a, "still quiet")
    quiet = harness.log_since(gateway, mark)
    assert not re.search(r"^(DEBUG|INFO) ", quiet, re.M), "debug/info lines at level error:\n" + quiet[-2000:]

    assert "log level is now debug" in ctl_ok(gateway, "loglevel", "debug")
    mark = harness.log_mark(gateway)
    ctl_ok(gateway, "restart", a.jid)
    harness.worker_pid(gateway, a.jid)
    echo_roundtrip(a, "talk to me")
    # slidged's own lines, and a worker's (the level reaches the workers too)
    harness.wait_log(gateway, r"(?m)^DEBUG slidged: workers: started session worker", mark, 5)
    harness.wait_log(gateway, r"worker \d+ %s: DEBUG slidge-worker" % re.escape(a.jid), mark, 5, a)


def test_exit_statuses(gateway, two_users):
    a, _ = two_users
    r = slidgectl(gateway, "status", "nobody@localhost")
    assert r.returncode == 3 and "no such user" in r.stderr, (r.returncode, r.stderr)
    doc = ctl_json(gateway, "restart", "nobody@localhost", expect=3)
    assert "nobody@localhost" in doc["text"]
    r = slidgectl(gateway, "frobnicate")
    assert r.returncode == 4 and "unknown command" in r.stderr, (r.returncode, r.stderr)
    for args in (("status",), ("status", a.jid, "extra"), ("status", "not a jid@@/"),
                 ("loglevel", "loud"), ("loglevel",)):
        r = slidgectl(gateway, *args)
        assert r.returncode == 5, "slidgectl %s: exit %d, expected 5 (%s)" % (" ".join(args), r.returncode, r.stderr)
    # cannot reach slidged, bad usage
    r = slidgectl(gateway, "list", socket_path=os.path.join(gateway.home, "nothing.sock"))
    assert r.returncode == 2 and "cannot connect" in r.stderr, (r.returncode, r.stderr)
    r = slidgectl(gateway)
    assert r.returncode == 2, r.returncode
    r = slidgectl(gateway, "--bogus", "list")
    assert r.returncode == 2, r.returncode
    # nothing of this hurt anyone
    echo_roundtrip(a, "after the bad commands")


def test_socket_mode_and_peer_check(gateway, clients):
    c = clients.new("ctlpeer")
    register(c, "ctlpeer")
    a_jid = c.jid
    pid = harness.worker_pid(gateway, a_jid)
    path = harness.ctl_socket(gateway)
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode), "%s is not a socket" % path
    assert stat.S_IMODE(st.st_mode) == 0o600, "socket mode %o" % stat.S_IMODE(st.st_mode)
    assert st.st_uid == os.geteuid()

    if os.geteuid() != 0:
        pytest.skip("the peer check needs root, to run slidgectl as another uid")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed (util-linux)")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")

    # The mode keeps other users out...
    r = slidgectl(gateway, "list", as_user="nobody")
    assert r.returncode == 2 and "cannot connect" in r.stderr, (r.returncode, r.stderr)

    # ...and with the mode loosened, SO_PEERCRED still does: every directory on the way and
    # the socket opened to everyone, nobody is refused with status 6
    opened = []
    try:
        d = os.path.dirname(path)
        while d not in ("/", ""):
            mode = stat.S_IMODE(os.stat(d).st_mode)
            if mode & 0o001 == 0:
                opened.append((d, mode))
                os.chmod(d, mode | 0o011)
            d = os.path.dirname(d)
        opened.append((path, 0o600))
        os.chmod(path, 0o666)
        mark = harness.log_mark(gateway)
        r = slidgectl(gateway, "list", as_user="nobody")
        assert r.returncode == 6, "a peer with uid %d got exit %d: %s%s" % (
            nobody.pw_uid, r.returncode, r.stdout, r.stderr)
        assert "permission denied" in r.stderr, r.stderr
        harness.wait_log(gateway, r"control: refused a peer with uid %d" % nobody.pw_uid, mark, 5)
        # every time: the refusal may not depend on who writes or closes first
        got = []
        for i in range(20):
            args = ("stop", a_jid) if i % 2 else ("list",)
            r = slidgectl(gateway, *args, as_user="nobody", json_out=True)
            got.append(r.returncode)
            if r.returncode == 6:
                assert '"status":6' in r.stdout, r.stdout
        assert got == [6] * 20, ("a refused peer must get status 6 every time; 20 tries gave %s "
                                 "(negative: killed by that signal)" % got)
    finally:
        for p, mode in opened:
            os.chmod(p, mode)
    # still serving its owner; nobody stopped anything
    assert slidgectl(gateway, "list").returncode == 0
    assert harness.worker_pid(gateway, a_jid) == pid
    echo_roundtrip(c, "nobody could stop me")
