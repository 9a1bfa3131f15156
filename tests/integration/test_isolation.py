"""Isolation, seen from outside with real parts: a compromised worker cannot speak for
anyone else, cannot hurt slidged, and cannot disturb the other users.

A compromised worker is arbitrary code in the worker process. The rogue module
(tests/rogue/rogue.c, loaded by the real, sandboxed slidge-worker with --legacy-module
PATH) behaves like the demo's echo, and on `/rogue ACT` writes hostile bytes itself on
fd 3, the worker's channel to slidged: a spoofed `from`, another user's `to`, two stanzas
in one EMIT, a 4 GiB frame length, hostile msgpack headers, garbage XML, an unknown frame
type, an ACK for a stanza never sent, a second HELLO, and a flood. For each act, while two
other users chat with echo through Prosody (a numbered message every 50 ms each), and the
rogue user too:
  - slidged kills the rogue user's worker and logs "killing worker PID of JID: <rule>";
  - slidged stays up;
  - the other users' echoes keep coming (no answer later than BYSTANDER_MAX_LATENCY);
  - no stanza the rogue forged (every forged body says "ROGUE") reaches anyone;
  - the message that triggered the act gets an error (recipient-unavailable), not silence;
  - every other message of the three users gets its echo or an error: zero silent losses;
  - the rogue user is back within seconds ("Connected as", then echoes), on a new worker.

Also: a session worker runs sandboxed (NoNewPrivs 1, Seccomp 2) and, as root, unprivileged.
Expected behaviour: ARCHITECTURE.md "Trust rules" and "Nothing lost"; docs/operating.md.

The rogue module is built but never installed: SLIDGE_ROGUE_MODULE must give its path
(tests/run-all.sh sets it to <build dir>/tests/rogue/rogue.so); without it these tests
are skipped."""

import asyncio
import os
import re
import tempfile
import time

import pytest

import harness
from conftest import Clients, Gateways
from harness import (Chatter, Stream, connected_status, contact_jid, local, register, sfrom,
                     stanza_error, tostr)

ROGUE = harness.rogue_module()

# The other users' answers during an attack: "no gap beyond a few hundred ms".
BYSTANDER_MAX_LATENCY = 0.5
BYSTANDER_MAX_GAP = 0.5
# The rogue user is back (Connected as ..., first echo) within this after its act.
BACK_WITHIN = 8.0

# act -> (argument, the rule slidged must log when it kills the worker: a regex)
ACTS = {
    "spoof-from": (None, r"forbidden stanza \(from outside the component's domain\)"),
    "other-user": ("BYSTANDER", r"forbidden stanza \(to someone other than its user\)"),
    "two-stanzas": ("BYSTANDER", r"forbidden stanza"),
    "huge-length": (None, r"channel: frame too big: 4294967295 bytes"),
    "hostile-msgpack": (None, r"channel: .*malformed"),
    "hostile-str": (None, r"channel: .*(malformed|too big)"),
    "garbage-xml": (None, r"forbidden stanza"),
    "unknown-type": (None, r"channel: unknown message type 99"),
    "ack-unknown": (None, r"it acked a stanza it was never sent"),
    "hello-again": (None, r"repeated HELLO"),
    "flood": ("3", r"."),
}


def _skip_reason():
    if not ROGUE:
        return ("SLIDGE_ROGUE_MODULE is not set (tests/run-all.sh sets it to "
                "<build dir>/tests/rogue/rogue.so; the rogue module is built, not installed)")
    if not os.path.isfile(ROGUE):
        return "SLIDGE_ROGUE_MODULE=%s: no such file (build tests/rogue first)" % ROGUE
    return None


def world_readable(path):
    if not os.stat(path).st_mode & 0o004:
        return False
    d = os.path.dirname(path)
    while d not in ("/", ""):
        if not os.stat(d).st_mode & 0o001:
            return False
        d = os.path.dirname(d)
    return True


def test_worker_is_sandboxed_and_unprivileged(gateway, clients):
    # (first in this file: its slidged must be gone before the arena's starts, since
    # Prosody takes one connection per component)
    if "NO WORKER SANDBOX" in gateway.log_text():
        pytest.skip("this build has no worker sandbox (-Dsandbox=false, sanitizer runs)")
    c = clients.new("sandbox")
    register(c, "sandboxed")
    pid = harness.worker_pid(gateway, c.jid)
    st = harness.proc_status(pid)
    assert st is not None, "worker %d vanished" % pid
    assert st.get("NoNewPrivs") == "1", "NoNewPrivs: %s" % st.get("NoNewPrivs")
    assert st.get("Seccomp") == "2", "Seccomp: %s (2 = filter mode)" % st.get("Seccomp")
    assert int(st.get("Seccomp_filters", "1")) >= 1, st.get("Seccomp_filters")
    uids = [int(x) for x in st["Uid"].split()]
    gids = [int(x) for x in st["Gid"].split()]
    if os.geteuid() == 0:
        assert all(u != 0 for u in uids), "the worker runs with uid 0: Uid %s" % st["Uid"]
        assert all(g != 0 for g in gids), "the worker runs with gid 0: Gid %s" % st["Gid"]
        assert st.get("Groups", "") == "", "supplementary groups kept: %s" % st.get("Groups")
    else:
        assert uids[0] == os.geteuid()
    assert int(st.get("CapEff", "0"), 16) == 0, "CapEff %s" % st.get("CapEff")
    assert int(st.get("CapPrm", "0"), 16) == 0, "CapPrm %s" % st.get("CapPrm")
    # and it still works
    harness.echo_roundtrip(c, "from inside the sandbox")


class Arena:
    """One slidged running the rogue module, two bystanders registered and chatting."""

    def __init__(self, gw, clients, bystanders):
        self.gw = gw
        self.clients = clients
        self.bystanders = bystanders
        self.count = 0


@pytest.fixture(scope="module")
def arena(request, slidged_path, prosody, workdir):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    import importlib.util
    if importlib.util.find_spec("slixmpp") is None:
        pytest.skip("slixmpp is not installed (apt-get install python3-slixmpp)")
    if os.geteuid() == 0 and not world_readable(ROGUE):
        pytest.fail("%s is not readable by the unprivileged worker user (every directory on "
                    "the way needs o+x, the file o+r)" % ROGUE, pytrace=False)
    # its own directory, traversable by the unprivileged workers (like conftest's testdir)
    d = tempfile.mkdtemp(prefix="isolation-", dir=workdir)
    os.chmod(d, 0o755)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    cs = Clients(loop, prosody)
    gws = Gateways(d, prosody, cs)
    try:
        gw = gws.start(args=["--legacy-module", ROGUE])
        bys = []
        for name in ("bysa", "bysb"):
            c = cs.new(name)
            register(c, name)
            bys.append(c)
        yield Arena(gw, cs, bys)
    finally:
        cs.close()
        try:
            gws.finish(request)
        finally:
            try:
                loop.run_until_complete(asyncio.sleep(0.05))
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=2))
            except Exception:
                pass
            loop.close()
            asyncio.set_event_loop(None)


def forged(el):
    """A stanza the rogue forged (its bodies say ROGUE) or that comes from outside."""
    text = tostr(el)
    return "ROGUE" in text or "other.domain" in sfrom(el)


@pytest.mark.parametrize("act", list(ACTS))
def test_rogue_worker_dies_alone(arena, act):
    gw, bystanders = arena.gw, arena.bystanders
    arg, rule = ACTS[act]
    arena.count += 1
    username = "rogue%d" % arena.count
    rogue = arena.clients.new("rogue")
    register(rogue, username)
    old_pid = harness.worker_pid(gw, rogue.jid)
    by_pids = [harness.worker_pid(gw, c.jid) for c in bystanders]

    streams = [Stream(c, "%s-%s" % (act, c.jid.split("@")[0])) for c in bystanders + [rogue]]
    chat = Chatter(streams, period=0.05)
    text = "/rogue " + act
    if arg == "BYSTANDER":
        text += " " + bystanders[0].jid
    elif arg:
        text += " " + arg
    try:
        chat.run(1.0)
        log_mark = harness.log_mark(gw)
        trigger_at = time.monotonic()
        trigger_mark = rogue.mark()
        trigger = rogue.send_message(contact_jid("echo"), text)
        # long enough to see the bystanders through the kill and the rogue's restart
        # (0.1 s of backoff, then a login), or through the whole flood
        chat.run(2.5 if act != "flood" else 6.0)
        chat.drain(15)
    finally:
        for s in streams:
            s.client.xmpp.del_filter("in", s._incoming)
    print("\n%s:\n%s" % (act, chat.report()))

    # Every check is made, then all the failures are reported together: which of the
    # promises broke matters as much as the first one that did.
    problems = []

    def check(ok, what):
        if not ok:
            problems.append(what)
        return ok

    assert gw.alive(), "slidged died after /rogue %s:\n%s" % (act, gw.log_tail())

    # slidged killed that worker, and said which rule it broke
    log = harness.log_since(gw, log_mark)
    kill = re.search(r"killing worker (\d+) of %s: (.*)" % re.escape(rogue.jid), log)
    if kill:
        print("  killed for: " + kill.group(2))
    if check(kill, "slidged did not kill the rogue's worker %d (no 'killing worker %d of %s: ...' "
             "in its log)" % (old_pid, old_pid, rogue.jid)):
        check(int(kill.group(1)) == old_pid, "killed pid %s, the rogue's worker was %d"
              % (kill.group(1), old_pid))
        check(re.search(rule, kill.group(2)), "killed for %r, expected /%s/" % (kill.group(2), rule))
        check(not harness.pid_running(old_pid), "the rogue's worker %d still runs" % old_pid)

    # the bystanders' workers were not touched
    for c, pid in zip(bystanders, by_pids):
        check(harness.worker_pid(gw, c.jid) == pid, "%s's worker changed" % c.jid)
        check(not re.search(r"killing worker \d+ of %s" % re.escape(c.jid), log),
              "slidged killed %s's worker too" % c.jid)

    # the trigger got its error, not silence
    err = rogue.find(lambda el: local(el) == "message" and el.get("id") == trigger, trigger_mark)
    if check(err is not None and err.get("type") == "error",
             "the '%s' message (id %s) got %s" % (text, trigger, tostr(err) if err is not None
                                                  else "no answer at all")):
        check(stanza_error(err)[1] == "recipient-unavailable",
              "the trigger's error is not recipient-unavailable: " + tostr(err))

    # nothing forged reached anyone
    for c in arena.clients.all:
        bad = [el for el in c.received if forged(el)]
        check(not bad, "%s received forged stanzas:\n%s" % (c.jid, harness.dump(bad, 5)))

    # the bystanders never noticed
    for s in streams[:2]:
        counts = s.counts()
        check(counts["lost"] == 0 and counts["error"] == 0 and counts["duplicates"] == 0,
              "bystander hurt: " + s.describe())
        check(s.max_latency() < BYSTANDER_MAX_LATENCY and s.max_gap() < BYSTANDER_MAX_GAP,
              "bystander delayed (limits: latency %.1f s, gap %.1f s): %s"
              % (BYSTANDER_MAX_LATENCY, BYSTANDER_MAX_GAP, s.describe()))

    # zero silent losses for the rogue user too
    rs = streams[2]
    check(rs.counts()["lost"] == 0, "rogue user's messages lost: %s; unanswered: %s"
          % (rs.describe(), sorted(rs.sent[m][0] for m in rs.unanswered())))

    # the rogue user is back within seconds, on a new worker
    if kill:
        check(rogue.find(connected_status(username), trigger_mark) is not None,
              "%s did not get 'Connected as %s' again" % (rogue.jid, username))
        echoes_after = [rs.answer[m][1] for m, (n, _, t) in rs.sent.items()
                        if t > trigger_at and m in rs.answer and rs.answer[m][0] == "echo"]
        if check(echoes_after, "no echo for the rogue user after its act: " + rs.describe()):
            first = min(echoes_after) - trigger_at
            print("  the rogue user was back %.2f s after its act" % first)
            check(first < BACK_WITHIN, "the rogue user's first echo came %.1f s after the act" % first)
        check(harness.worker_pid(gw, rogue.jid) != old_pid, "the rogue user has no new worker")
    arena.clients.all.remove(rogue)
    rogue.disconnect()
    assert not problems, "/rogue %s:\n  - %s\nslidged's log since the act (tail):\n%s" % (
        act, "\n  - ".join(problems), log[-3000:])


def test_last_words_of_a_dying_worker_arrive(arena):
    """A worker emits valid stanzas and exits at once (as a crashing module may): slidged
    sees the exit and the frames at about the same time, and whichever it handles first,
    what the worker said before it died reaches the user; the stanza being handled is
    bounced. Repeated, since it is a race."""
    gw = arena.gw
    rogue = arena.clients.new("lastw")
    register(rogue, "lastwords")
    n = 200
    problems = []
    for attempt in range(1, 5):  # 4 exits: under the default --max-crashes 5
        pid = harness.worker_pid(gw, rogue.jid)
        start = rogue.mark()
        mid = rogue.send_message(contact_jid("echo"), "/rogue last-words %d" % n)
        rogue.wait_for(connected_status("lastwords"), 15, start,
                       what="the session back after exit %d" % attempt)
        rogue.pump(0.3)
        got = [harness.body(el) for el in rogue.received[start:]
               if local(el) == "message" and (harness.body(el) or "").startswith("last words ")]
        want = ["last words %d/%d" % (i, n) for i in range(1, n + 1)]
        if got != want:
            problems.append("exit %d (worker %d): %d of %d last words arrived" % (
                attempt, pid, len(got), n))
        err = rogue.find(lambda el: local(el) == "message" and el.get("id") == mid, start)
        if err is None or err.get("type") != "error":
            problems.append("exit %d: the message being handled got %s" % (
                attempt, tostr(err) if err is not None else "no answer"))
    arena.clients.all.remove(rogue)
    rogue.disconnect()
    assert not problems, "\n  - " + "\n  - ".join(problems)
