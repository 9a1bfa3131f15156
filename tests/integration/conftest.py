"""Fixtures for the integration tests (see harness.py for the pieces).

  prosody        one real Prosody for the whole run (session scope), on free loopback ports
  users          users.new(prefix) -> (jid, password): a fresh Prosody account
  clients        clients.connect(jid, password) -> harness.Client, logged in, roster fetched,
                 initial presence sent; disconnected at the end of the test
  gateway        a started, ready slidged on that Prosody with its own home dir
  gateways       gateways.start(**kw) for tests that need options or several starts
  fake_server    a raw XEP-0114 server (harness.FakeComponentServer)

Every process a test starts is stopped at its end, failed or not. A slidged that died during
the test, did not exit cleanly on SIGTERM, left workers behind, or printed a sanitizer report
fails the test (at teardown). Environment:
  SLIDGE_PREFIX         install prefix of slidge-c (default /usr/local)
  SLIDGE_TEST_TIMEOUT   seconds per test (default 240)
"""

import asyncio
import importlib.util
import os
import shutil
import signal
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import COMPONENT, NS_DISCO_INFO  # noqa: E402


def _sigterm(signum, frame):
    # a killed run (e.g. by timeout) unwinds like Ctrl-C: fixtures stop what they started
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _sigterm)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # lets fixtures know at teardown whether the test itself failed (to print logs)
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(autouse=True)
def _test_timeout():
    """A hard limit per test: nothing may hang CI."""
    seconds = int(os.environ.get("SLIDGE_TEST_TIMEOUT", "240"))

    def on_alarm(signum, frame):
        raise TimeoutError("test exceeded SLIDGE_TEST_TIMEOUT=%ss" % seconds)
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="slidge-it-")
    os.chmod(d, 0o755)  # workers may run as an unprivileged user: let them traverse
    yield d
    if os.environ.get("SLIDGE_KEEP_TMP"):
        print("kept test files in", d)
    else:
        shutil.rmtree(d, ignore_errors=True)


_test_numbers = iter(range(1, 1 << 30))


@pytest.fixture
def testdir(workdir, request):
    # short: slidged's control socket lives in the home dir, and a unix socket path is at
    # most 107 bytes
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)[:24]
    d = os.path.join(workdir, "%03d-%s" % (next(_test_numbers), name))
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="session")
def slidged_path():
    try:
        return harness.find_binaries()[0]
    except harness.GatewayMissing as e:
        if "SLIDGE_PREFIX" in os.environ:
            pytest.fail(str(e))  # asked to test an install that is not there: a failure
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def prosody(workdir):
    if shutil.which("prosody") is None or shutil.which("prosodyctl") is None:
        pytest.skip("prosody is not installed (apt-get install prosody)")
    p = harness.Prosody(workdir)
    p.start()
    yield p
    p.stop()


@pytest.fixture
def loop():
    if importlib.util.find_spec("slixmpp") is None:
        pytest.skip("slixmpp is not installed (apt-get install python3-slixmpp)")
    lp = asyncio.new_event_loop()
    asyncio.set_event_loop(lp)
    yield lp
    # let the disconnects finish, then close
    try:
        lp.run_until_complete(asyncio.sleep(0.05))
        pending = [t for t in asyncio.all_tasks(lp) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            lp.run_until_complete(asyncio.wait(pending, timeout=2))
    except Exception:
        pass
    lp.close()
    asyncio.set_event_loop(None)


class Users:
    def __init__(self, prosody):
        self.prosody = prosody

    def new(self, prefix="user", host=harness.DOMAIN):
        return self.prosody.new_user(prefix, host)


@pytest.fixture
def users(prosody):
    return Users(prosody)


class Clients:
    def __init__(self, loop, prosody):
        self.loop = loop
        self.prosody = prosody
        self.all = []

    def connect(self, jid, password, resource=None, initial_presence=True):
        c = harness.Client(self.loop, jid, password, self.prosody.c2s_port, resource)
        self.all.append(c)
        return c.connect(initial_presence=initial_presence)

    def new(self, prefix="user", host=harness.DOMAIN):
        """A fresh user, logged in."""
        jid, pw = self.prosody.new_user(prefix, host)
        return self.connect(jid, pw)

    def close(self):
        for c in self.all:
            c.disconnect()


@pytest.fixture
def clients(loop, prosody):
    cs = Clients(loop, prosody)
    yield cs
    cs.close()


def wait_gateway_ready(gw, probe, timeout=30):
    """Until the component answers disco#info (Prosody says service-unavailable while no
    component is connected)."""
    import time
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not gw.alive():
            raise AssertionError("slidged exited (%s) before it was ready:\n%s"
                                 % (gw.proc.returncode if gw.proc else "?", gw.log_tail()))
        r = probe.send_iq(COMPONENT, "get", "<query xmlns='%s'/>" % NS_DISCO_INFO, timeout=10)
        if r.get("type") == "result":
            return
        last = r
        probe.pump(0.2)
    raise AssertionError("the gateway did not answer disco#info within %ss; last answer: %s\nlog:\n%s"
                         % (timeout, harness.tostr(last) if last is not None else None, gw.log_tail()))


class Gateways:
    """Starts slidged processes for one test and checks how each ended."""

    def __init__(self, testdir, prosody=None, clients=None):
        self.testdir = testdir
        self.prosody = prosody
        self.clients = clients
        self.all = []
        self._probe = None

    def probe(self):
        if self._probe is None:
            self._probe = self.clients.new("probe")
        return self._probe

    def create(self, port=None, **kw):
        d = os.path.join(self.testdir, "gw%d" % (len(self.all) + 1))
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        # attachments: the test Prosody's upload service, unless the test says otherwise
        if self.prosody is not None and "--upload-service" not in kw.get("args", ()):
            kw["args"] = list(kw.get("args", ())) + self.prosody.upload_args()
        gw = harness.Gateway(d, port if port is not None else self.prosody.component_port, **kw)
        self.all.append(gw)
        return gw

    def start(self, ready=True, **kw):
        gw = self.create(**kw).start()
        if ready:
            wait_gateway_ready(gw, self.probe())
        return gw

    def restart(self, gw):
        """SIGTERM, check a clean exit, start again on the same home dir, wait until ready."""
        rc, leftovers = gw.stop()
        assert rc == 0, "slidged exited with %r on SIGTERM\n%s" % (rc, gw.log_tail())
        assert not leftovers, "processes left after slidged exited: %s" % leftovers
        gw.start()
        wait_gateway_ready(gw, self.probe())
        return gw

    def finish(self, request):
        problems = []
        for gw in self.all:
            if gw.proc is not None:
                if not gw.alive():
                    problems.append("slidged died during the test (exit status %s)" % gw.proc.returncode)
                    gw.kill()
                else:
                    rc, leftovers = gw.stop()
                    if rc != 0:
                        problems.append("slidged exited with %r on SIGTERM" % (rc,))
                    if leftovers:
                        problems.append("processes of slidged's group still running after it "
                                        "exited (killed): %s" % leftovers)
            report = gw.sanitizer_report()
            if report:
                problems.append("sanitizer report in slidged's log:\n" + report)
            failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
            if problems or failed:
                print("\n===== slidged log (%s) =====\n%s" % (gw.log_path, gw.log_tail(150)))
        if self.prosody is not None and (problems or (getattr(request.node, "rep_call", None)
                                                      and request.node.rep_call.failed)):
            print("\n===== prosody log =====\n" + self.prosody.log_tail(40))
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def gateways(request, slidged_path, testdir, prosody, clients):
    g = Gateways(testdir, prosody, clients)
    yield g
    g.finish(request)


@pytest.fixture
def gateway(gateways):
    return gateways.start()


def own_prosody(request, loop, testdir, prosody_class, name):
    """Generator body of a fixture giving (prosody, clients, gateways) on a Prosody of its
    own, configured by prosody_class (a harness.Prosody subclass), e.g. with mod_pep or
    mod_privilege: started before the test, stopped after it."""
    p = prosody_class(os.path.join(testdir, name))
    p.start()
    cs = Clients(loop, p)
    gws = Gateways(testdir, p, cs)
    yield p, cs, gws
    try:
        gws.finish(request)
    finally:
        cs.close()
        p.stop()


@pytest.fixture
def fake_server():
    s = harness.FakeComponentServer()
    yield s
    s.close()


@pytest.fixture
def raw_gateways(request, slidged_path, testdir):
    """slidged processes connected to a fake server instead of Prosody."""
    g = Gateways(testdir)
    yield g
    g.finish(request)
