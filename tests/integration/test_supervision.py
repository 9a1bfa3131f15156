"""Supervision, seen from outside with real parts (Prosody, slixmpp clients, slidged and
its sandboxed workers as installed): crashes, hangs and restarts of one user's worker,
crash loops, shutdown, and the XMPP server going away.

The central test has several users chat with echo at once (a numbered message every 50 ms
each) while one worker is killed with SIGKILL, one hangs (`/hang`), one crashes (`/crash`)
and one is restarted by the operator (`slidgectl restart`). Every message sent is
accounted for: an echo, or an error stanza with its id. Zero silent losses, counted and
printed; the users nobody touched never notice; each affected user is back within seconds.

Expected behaviour: ARCHITECTURE.md "Nothing lost"; docs/operating.md ("Nothing is lost
silently", the restart/backoff/parking numbers, the liveness pings)."""

import os
import re
import signal
import time

import pytest

import harness
from harness import (COMPONENT, Chatter, Stream, TcpProxy, accept_subscriptions,
                     connected_status, contact_jid, echo_roundtrip, is_presence,
                     local, register, sfrom, stanza_error, tostr)

CALM_MAX_LATENCY = 0.5     # "the others never noticed"
BACK_WITHIN = 3.0          # a killed, crashed or restarted user answers again within this
PING = 2                   # --ping-interval and --ping-timeout for the hang case
HUNG_BACK_WITHIN = 2 * PING + 1 + BACK_WITHIN   # one ping round late at worst, then a crash
ALL_CONTACTS = [contact_jid(c) for c in harness.CONTACTS]


def first_echo_after(stream, t):
    """Seconds from t to the first echo of a message sent after t, or None."""
    times = [stream.answer[m][1] for m, (_, _, sent) in stream.sent.items()
             if sent > t and m in stream.answer and stream.answer[m][0] == "echo"]
    return min(times) - t if times else None


def test_zero_silent_losses(gateways, clients):
    gw = gateways.start(args=["--ping-interval", str(PING), "--ping-timeout", str(PING)])
    names = ["killed", "hung", "restarted", "crashed", "calm1", "calm2"]
    cs = {}
    for n in names:
        cs[n] = clients.new(n)
        register(cs[n], n)
    pids = {n: harness.worker_pid(gw, cs[n].jid) for n in names}
    streams = {n: Stream(cs[n], n) for n in names}
    chat = Chatter(list(streams.values()), period=0.05)
    chat.run(1.0)

    mark = harness.log_mark(gw)
    when = {}
    commands = {}

    def kill9():
        when["killed"] = time.monotonic()
        os.kill(pids["killed"], signal.SIGKILL)

    def hang():
        when["hung"] = time.monotonic()
        commands["hung"] = cs["hung"].send_message(contact_jid("echo"), "/hang")

    def restart():
        when["restarted"] = time.monotonic()
        r = harness.slidgectl(gw, "restart", cs["restarted"].jid)
        assert r.returncode == 0, r.stderr

    def crash():
        when["crashed"] = time.monotonic()
        commands["crashed"] = cs["crashed"].send_message(contact_jid("echo"), "/crash")

    chat.run(HUNG_BACK_WITHIN + 3, events=[(0.0, kill9), (0.2, hang), (0.4, restart), (0.6, crash)])
    chat.drain(20)
    print("\nevery message sent during the events:\n" + chat.report())
    total = {k: sum(s.counts()[k] for s in streams.values()) for k in ("sent", "echo", "error", "lost")}
    print("  total: sent %(sent)d, echoed %(echo)d, errors %(error)d, silently lost %(lost)d" % total)

    problems = []

    def check(ok, what):
        if not ok:
            problems.append(what)
        return ok

    assert gw.alive(), "slidged died:\n" + gw.log_tail()
    log = harness.log_since(gw, mark)

    # zero silent losses, for everyone
    for n, s in streams.items():
        check(not s.unanswered(), "%s: messages with neither echo nor error: %s (%s)" % (
            n, sorted(s.sent[m][0] for m in s.unanswered()), s.describe()))
        check(not s.extra, "%s: answered twice: %s" % (n, [tostr(e) for _, e in s.extra[:3]]))
        for num, el in s.errors():
            check(stanza_error(el)[1] == "recipient-unavailable" and sfrom(el) == contact_jid("echo"),
                  "%s: message %d got an unexpected error: %s" % (n, num, tostr(el)))

    # the commands that broke their worker got their error too (the demo crashes or hangs
    # before it accepts the message: DEMO.md)
    for n in ("hung", "crashed"):
        mid = commands.get(n)
        err = cs[n].find(lambda el, mid=mid: local(el) == "message" and el.get("id") == mid)
        check(err is not None and err.get("type") == "error"
              and stanza_error(err)[1] == "recipient-unavailable",
              "%s: the command message got %s" % (n, tostr(err) if err is not None else "no answer"))

    # the others never noticed
    for n in ("calm1", "calm2"):
        s = streams[n]
        c = s.counts()
        check(c["error"] == 0 and c["lost"] == 0, "%s was hurt: %s" % (n, s.describe()))
        check(s.max_latency() is not None and s.max_latency() < CALM_MAX_LATENCY
              and s.max_gap() < CALM_MAX_LATENCY, "%s was delayed: %s" % (n, s.describe()))
        check(harness.worker_pid(gw, cs[n].jid) == pids[n], "%s's worker changed" % n)

    # each affected user is back within seconds, on a new worker
    limits = {"killed": BACK_WITHIN, "hung": HUNG_BACK_WITHIN, "restarted": BACK_WITHIN,
              "crashed": BACK_WITHIN}
    for n, limit in limits.items():
        back = first_echo_after(streams[n], when[n])
        print("  %s: back %s after the event" % (n, "%.2f s" % back if back is not None else "never"))
        check(back is not None and back < limit, "%s: first echo %s after the event (limit %.1f s)"
              % (n, "%.2f s" % back if back is not None else "never", limit))
        new = harness.user_row(gw, cs[n].jid)
        check(new["state"] == "running" and int(new["pid"]) != pids[n],
              "%s: not running on a new worker: %s" % (n, new))

    # what slidged logged, and what it says of each
    check(re.search(r"session worker %d killed by signal 9" % pids["killed"], log),
          "no 'session worker %d killed by signal 9' in the log" % pids["killed"])
    check(re.search(r"worker %d of %s is hung" % (pids["hung"], re.escape(cs["hung"].jid)), log),
          "no 'worker %d of %s is hung' in the log" % (pids["hung"], cs["hung"].jid))
    check(re.search(r"session worker %d killed by signal 6" % pids["crashed"], log),
          "no 'session worker %d killed by signal 6' in the log" % pids["crashed"])
    row = harness.user_row(gw, cs["hung"].jid)
    check("hung" in row["last_exit"], "hung user's last_exit: %r" % row["last_exit"])
    for n in ("killed", "hung", "crashed", "restarted"):
        row = harness.user_row(gw, cs[n].jid)
        check(int(row["restarts"]) >= 1, "%s: restarts %s" % (n, row["restarts"]))

    # an operator's restart is clean: "stanzas meanwhile wait in the queue" (no bounce)
    check(streams["restarted"].counts()["error"] == 0,
          "slidgectl restart bounced messages instead of queueing them: " + streams["restarted"].describe())

    assert not problems, "\n  - " + "\n  - ".join(problems) + "\n" + chat.report()


def test_crash_loop_parks_the_session(gateways, clients):
    gw = gateways.start(args=["--max-crashes", "3", "--crash-window", "60"])
    c = clients.new("parked")
    register(c, "looper")
    pid = harness.worker_pid(gw, c.jid)
    mark = harness.log_mark(gw)
    for i in range(1, 4):
        start = c.mark()
        mid = c.send_message(contact_jid("echo"), "/crash")
        err = c.wait_for(lambda el: local(el) == "message" and el.get("id") == mid, 10, start,
                         what="the error answering /crash number %d" % i)
        assert err.get("type") == "error" and stanza_error(err)[1] == "recipient-unavailable", tostr(err)
        harness.wait_log(gw, r"session worker %d killed by signal 6" % pid, mark, 10, c)
        if i < 3:
            c.wait_for(connected_status("looper"), 10, start, what="the session back after crash %d" % i)
            pid2 = harness.worker_pid(gw, c.jid)
            assert pid2 != pid
            pid = pid2
    parked_at = start

    # the user is told
    msg = c.wait_for(lambda el: local(el) == "message" and sfrom(el) == COMPONENT
                     and el.get("type") != "error" and "crash" in (harness.body(el) or ""),
                     10, parked_at, what="the gateway's message about the parked session")
    print("\ngateway message: " + harness.body(msg))
    # the operator is told
    harness.wait_log(gw, r"%s: 3 crashes in 60 s; session parked" % re.escape(c.jid), mark, 5)
    row = harness.user_row(gw, c.jid)
    assert row["state"] == "parked", row
    assert "signal 6" in row["last_exit"], row
    r = harness.slidgectl(gw, "list")
    assert r.returncode == 0 and re.search(r"%s\s+\S+\s+parked" % re.escape(c.jid), r.stdout), r.stdout
    assert not harness.gateway_workers(gw) or all(
        p != pid for p in harness.gateway_workers(gw)), "the parked user's worker still runs"

    # while parked, messages get an error, not silence, and no worker is started
    start = c.mark()
    mid = c.send_message(contact_jid("echo"), "anyone?")
    err = c.wait_for(lambda el: local(el) == "message" and el.get("id") == mid, 10, start,
                     what="an answer to a message while parked")
    assert err.get("type") == "error" and stanza_error(err)[1] == "recipient-unavailable", tostr(err)
    assert harness.user_row(gw, c.jid)["state"] == "parked"

    # the gateway's presence says so too (ARCHITECTURE.md: "gateway presence + message")
    pres = c.find(lambda el: local(el) == "presence" and sfrom(el) == COMPONENT
                  and (el.get("type") == "unavailable" or harness.show(el) in ("dnd", "xa", "away")),
                  parked_at)
    if pres is not None:
        print("gateway presence: " + tostr(pres))
    assert pres is not None, ("parked: no gateway presence telling the user (unavailable or "
                              "dnd/xa/away from %s); received since the last crash:\n%s"
                              % (COMPONENT, harness.dump(c.received[parked_at:])))

    # slidgectl start brings it back
    start = c.mark()
    r = harness.slidgectl(gw, "start", c.jid)
    assert r.returncode == 0, r.stderr
    c.wait_for(connected_status("looper"), 15, start)
    echo_roundtrip(c, "back from the parking")
    assert harness.user_row(gw, c.jid)["state"] == "running"


def wait_unavailable(c, jids, since, timeout):
    for j in jids:
        c.wait_for(is_presence(j, "unavailable"), timeout, since, what="presence unavailable from %s" % j)


def test_sigterm_says_goodbye_and_leaves_nothing(gateways, clients):
    gw = gateways.start()
    users = []
    for n in ("terma", "termb"):
        c = clients.new(n)
        start = register(c, n)
        accept_subscriptions(c, [COMPONENT] + ALL_CONTACTS, since=start)
        users.append(c)
    for c in users:
        c.pump(0.5)
        echo_roundtrip(c, "before the end")
    # the register workers exit on their own once the sessions are up
    deadline = time.monotonic() + 5
    while len(harness.gateway_workers(gw)) != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(harness.gateway_workers(gw, "session")) == 2, harness.gateway_workers(gw)
    workers = harness.gateway_workers(gw)

    marks = [c.mark() for c in users]
    t0 = time.monotonic()
    rc, leftovers = gw.stop(signal.SIGTERM, timeout=15)
    took = time.monotonic() - t0
    print("\nslidged exited %r in %.2f s" % (rc, took))
    assert rc == 0, "slidged exited with %r on SIGTERM" % (rc,)
    assert took < 10, "slidged took %.1f s to stop" % took
    left = harness.wait_pids_gone(workers, 2)
    assert not left and not harness.gateway_workers(gw), "workers left: %s" % left
    for c, m in zip(users, marks):
        wait_unavailable(c, [COMPONENT] + ALL_CONTACTS, m, 5)

    # at restart, everything comes back
    marks = [c.mark() for c in users]
    gw.start()
    for c, m, n in zip(users, marks, ("terma", "termb")):
        c.wait_for(connected_status(n), 20, m)
        echo_roundtrip(c, "after the restart")


def test_sigkill_of_slidged_takes_the_workers_along(gateways, clients):
    gw = gateways.start()
    users = []
    for n in ("ninea", "nineb"):
        c = clients.new(n)
        register(c, n)
        users.append(c)
    # the register workers exit on their own once the sessions are up
    deadline = time.monotonic() + 5
    while len(harness.gateway_workers(gw)) != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(harness.gateway_workers(gw, "session")) == 2, harness.gateway_workers(gw)
    workers = harness.gateway_workers(gw)

    gw.stop(signal.SIGKILL, timeout=5)
    t0 = time.monotonic()
    left = harness.wait_pids_gone(workers, 3)
    took = time.monotonic() - t0
    harness.kill_pids(left)
    print("\nworkers gone %.2f s after slidged's SIGKILL" % took)
    assert not left, "workers still running 3 s after slidged was killed: %s" % left
    assert took < 2.0, "the workers took %.2f s to follow slidged" % took

    marks = [c.mark() for c in users]
    gw.start()
    for c, m, n in zip(users, marks, ("ninea", "nineb")):
        c.wait_for(connected_status(n), 20, m)
        echo_roundtrip(c, "after the crash of slidged")


@pytest.fixture
def proxy(prosody):
    p = TcpProxy(prosody.component_port)
    yield p
    p.close()


def test_server_away_reconnect_with_backoff(gateways, clients, proxy):
    """The XMPP server goes away (only the component connection: a TCP proxy between
    slidged and Prosody closes it and then refuses streams), and comes back."""
    gw = gateways.start(port=proxy.port)
    a = clients.new("awaya")
    register(a, "awaya")
    b = clients.new("awayb")
    register(b, "awayb")
    pids = [harness.worker_pid(gw, c.jid) for c in (a, b)]
    mark = harness.log_mark(gw)

    proxy.cut()
    t_cut = time.monotonic()
    a_mark, b_mark = a.mark(), b.mark()
    # Prosody knows the component is gone once it answers for it (a stanza it forwarded
    # into the dying connection before that is lost with it: XEP-0114 has no acks)
    deadline = time.monotonic() + 10
    while True:
        try:
            if a.send_iq(COMPONENT, "get", "<query xmlns='%s'/>" % harness.NS_DISCO_INFO,
                         timeout=1).get("type") == "error":
                break
        except AssertionError:
            pass
        assert time.monotonic() < deadline, "Prosody still routes to the component 10 s after the cut"
    # a message meanwhile gets an error (from the server), not silence
    mid = a.send_message(contact_jid("echo"), "is anyone there?")
    err = a.wait_for(lambda el: local(el) == "message" and el.get("id") == mid, 10, a_mark,
                     what="an answer while the gateway is away")
    assert err.get("type") == "error", tostr(err)
    # the session of b restarts meanwhile: what it says waits for the stream (bounded)
    r = harness.slidgectl(gw, "restart", b.jid)
    assert r.returncode == 0, r.stderr
    r = harness.ctl_json(gw, "stats")
    stats = {row["key"]: row["value"] for row in r["rows"]}
    assert stats["component"] == "away", stats

    # two attempts while away, then the server comes back
    deadline = time.monotonic() + 10
    while len([t for t, m in proxy.attempts if m == "down"]) < 2 and time.monotonic() < deadline:
        a.pump(0.05)
    down = [t for t, m in proxy.attempts if m == "down"]
    assert len(down) >= 2, "slidged tried %d times in 10 s" % len(down)
    proxy.restore()
    deadline = time.monotonic() + 15
    while not proxy.connected() and time.monotonic() < deadline:
        a.pump(0.05)
    assert proxy.connected(), "slidged did not reconnect within 15 s; log:\n" + harness.log_since(gw, mark)
    attempts = [t - t_cut for t, _ in proxy.attempts if t > t_cut]
    gaps = [y - x for x, y in zip(attempts, attempts[1:])]
    print("\nreconnection attempts at %s s after the cut (gaps %s)" % (
        ", ".join("%.2f" % t for t in attempts), ", ".join("%.2f" % g for g in gaps)))
    assert attempts[0] >= 0.5, "no backoff before the first attempt: %.2f s" % attempts[0]
    assert all(g >= 0.8 for g in gaps), "attempts too close: %s" % gaps
    assert all(y >= 1.5 * x for x, y in zip(gaps, gaps[1:])), "the backoff does not grow: %s" % gaps

    # sessions work again; nothing crashed
    harness.wait_log(gw, r"component: connected to", mark, 10, a)
    echo_roundtrip(a, "after the server came back", timeout=20)
    echo_roundtrip(b, "after the server came back", timeout=20)
    b.wait_for(connected_status("awayb"), 10, b_mark, what="b's 'Connected as' sent while away")
    assert harness.worker_pid(gw, a.jid) == pids[0], "a's worker changed"
    assert "killed by signal" not in harness.log_since(gw, mark)
    r = harness.ctl_json(gw, "stats")
    stats = {row["key"]: row["value"] for row in r["rows"]}
    assert stats["component"] == "connected", stats


def test_prosody_restart(gateways, clients, prosody):
    """Prosody itself stops with users logged in, and starts again: slidged reconnects,
    the sessions (same workers) serve the users once they are back."""
    gw = gateways.start()
    creds = []
    for n in ("prosa", "prosb"):
        jid, pw = prosody.new_user(n)
        c = clients.connect(jid, pw)
        register(c, n)
        creds.append((jid, pw, n))
    pids = [harness.worker_pid(gw, j) for j, _, _ in creds]
    mark = harness.log_mark(gw)
    clients.close()
    prosody.stop()
    harness.wait_log(gw, r"component: reconnecting in", mark, 10)
    time.sleep(1.5)
    prosody.start()
    for (j, pw, n), pid in zip(creds, pids):
        c = clients.connect(j, pw)
        # the session may need the stream back first: retry the first message for a while
        deadline = time.monotonic() + 20
        while True:
            try:
                echo_roundtrip(c, "after prosody's restart", timeout=3)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        assert harness.worker_pid(gw, j) == pid, "%s's worker changed" % j
    assert gw.alive()
    assert "killed by signal" not in harness.log_since(gw, mark)


def rss_kb(pid):
    st = harness.proc_status(pid)
    return int(st["VmRSS"].split()[0]) if st and "VmRSS" in st else None


def test_slow_server_backpressure(gateways, clients, prosody):
    """The XMPP server stops reading what slidged sends (a proxy that stalls one way):
    slidged pauses its workers instead of buffering without bound, the other direction
    keeps working, and once the server reads again everything arrives, in order."""
    proxy = TcpProxy(prosody.component_port, rcvbuf=16384)
    try:
        # A 20000-message burst is far above the flood guard's default (that is what
        # test_isolation's flood checks); here the server is what is slow.
        gw = gateways.start(port=proxy.port, args=("--worker-emit-rate", "1000000",
                                                   "--worker-emit-burst", "1000000"))
        c = clients.new("slow")
        register(c, "slow")
        pid = harness.worker_pid(gw, c.jid)
        mark = harness.log_mark(gw)
        base = rss_kb(gw.proc.pid)
        n = 20000
        proxy.stall(True)
        start = c.mark()
        c.send_message(contact_jid("echo"), "/burst %d" % n)
        harness.wait_log(gw, r"component: pausing workers", mark, 20, c)
        peak = base
        t_end = time.monotonic() + 2
        while time.monotonic() < t_end:
            peak = max(peak, rss_kb(gw.proc.pid) or 0)
            c.pump(0.1)
        print("\nslidged RSS %d kB before, %d kB at most while stalled" % (base, peak))
        # Under AddressSanitizer freed memory sits in its quarantine (256 MB by default):
        # RSS says nothing about buffering there, the normal build's run checks it.
        with open("/proc/%d/maps" % gw.proc.pid) as f:
            sanitized = "libasan" in f.read()
        if not sanitized:
            assert peak - base < 16 * 1024, "slidged grew by %d kB while the server was stalled" % (peak - base)
        proxy.stall(False)
        t0 = time.monotonic()

        def last(el):
            return local(el) == "message" and harness.body(el) == "burst %d/%d" % (n, n)
        c.wait_for(last, 60, start, what="the last burst message")
        print("the %d messages arrived %.1f s after the server read again" % (n, time.monotonic() - t0))
        got = [harness.body(el) for el in c.received[start:]
               if local(el) == "message" and (harness.body(el) or "").startswith("burst ")]
        want = ["burst %d/%d" % (i, n) for i in range(1, n + 1)]
        assert got == want, "burst: %d of %d arrived; first difference at %s" % (
            len(got), n, next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), len(got)))
        harness.wait_log(gw, r"component: resuming workers", mark, 10, c)
        assert harness.worker_pid(gw, c.jid) == pid
        echo_roundtrip(c, "after the slow server")
    finally:
        proxy.close()
