"""Test harness for slidge-c's integration tests.

Everything here runs for real: a Prosody started from a config in a temporary directory on
loopback (free ports), slidged and its workers as installed under SLIDGE_PREFIX, slixmpp
clients that log in to that Prosody, and, for the bad-input tests, a raw XEP-0114 server
written below (FakeComponentServer) that speaks the component protocol and then misbehaves.

The pieces:
  Prosody      one server, users created with prosodyctl
  Gateway      one slidged process (its own home dir, log file, process group)
  Client       a slixmpp client driven synchronously: every stanza it receives is kept in
               order in .received; wait_for(predicate) runs the event loop until one matches
  FakeComponentServer / FakeConn
               the server side of XEP-0114, to feed slidged hostile input
and small helpers to read stanzas (ElementTree elements).
"""

import asyncio
import atexit
import copy
import hashlib
import itertools
import os
import signal
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

# ---------------------------------------------------------------------------------------
# namespaces and stanza helpers

NS_CLIENT = "jabber:client"
NS_COMPONENT = "jabber:component:accept"
NS_STREAM = "http://etherx.jabber.org/streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_REGISTER = "jabber:iq:register"
NS_DATA = "jabber:x:data"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_NICK = "http://jabber.org/protocol/nick"
NS_IDLE = "urn:xmpp:idle:1"
NS_RECEIPTS = "urn:xmpp:receipts"

COMPONENT = "gw.localhost"
DOMAIN = "localhost"
OTHER_DOMAIN = "other.localhost"   # a local domain outside --user-jid-validator
SECRET = "integration-secret"

SANITIZER_MARKERS = ("runtime error", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "ERROR: UndefinedBehaviorSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


def local(el):
    """Local name of an element ('message', 'presence', 'iq', ...)."""
    return el.tag.rsplit("}", 1)[-1]


def bare(jid):
    return (jid or "").split("/", 1)[0]


def sfrom(el):
    return el.get("from", "")


def child(el, ns, name):
    return el.find("{%s}%s" % (ns, name))


def child_text(el, ns, name):
    c = child(el, ns, name)
    return None if c is None else (c.text or "")


def ns_of(el):
    return el.tag[1:].split("}", 1)[0] if el.tag.startswith("{") else ""


def body(el):
    return child_text(el, ns_of(el), "body")


def show(el):
    return child_text(el, ns_of(el), "show") or ""


def status(el):
    return child_text(el, ns_of(el), "status")


def stanza_error(el):
    """(type, condition, text) of a stanza's <error/>, or None."""
    for e in el:
        if local(e) == "error":
            cond, text = None, None
            for c in e:
                if c.tag == "{%s}text" % NS_STANZAS:
                    text = c.text or ""
                elif c.tag.startswith("{%s}" % NS_STANZAS):
                    cond = local(c)
            return (e.get("type"), cond, text)
    return None


def tostr(el):
    return ET.tostring(el, encoding="unicode")


def dump(stanzas, last=40):
    """The last stanzas as text, for assertion messages."""
    sel = stanzas[-last:]
    skipped = len(stanzas) - len(sel)
    lines = ["  (%d earlier stanzas not shown)" % skipped] if skipped else []
    lines += ["  " + tostr(s) for s in sel]
    return "\n".join(lines) if lines else "  (nothing received)"


def is_presence(frm=None, ptype=None):
    """Predicate: a presence from frm (bare or full JID as given) of type ptype ('' = available)."""
    def pred(el):
        if local(el) != "presence":
            return False
        if frm is not None and sfrom(el) != frm and bare(sfrom(el)) != frm:
            return False
        if ptype is not None and el.get("type", "") != ptype:
            return False
        return True
    return pred


def is_message(frm=None, mtype=None, body_eq=None):
    def pred(el):
        if local(el) != "message":
            return False
        if frm is not None and sfrom(el) != frm and bare(sfrom(el)) != frm:
            return False
        if mtype is not None and el.get("type", "normal") != mtype:
            return False
        if body_eq is not None and body(el) != body_eq:
            return False
        return True
    return pred


def form_fields(x):
    """{var: field element} of a jabber:x:data form."""
    return {f.get("var"): f for f in x.findall("{%s}field" % NS_DATA)}


def field_values(field):
    return [v.text or "" for v in field.findall("{%s}value" % NS_DATA)]


def register_form_xml(fields):
    """A submitted XEP-0077 data form: fields is a dict var -> value (FORM_TYPE added)."""
    parts = ["<field var='FORM_TYPE' type='hidden'><value>jabber:iq:register</value></field>"]
    for var, value in fields.items():
        parts.append("<field var=%s><value>%s</value></field>" % (quoteattr(var), escape(value)))
    return ("<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>%s"
            "</x></query>" % "".join(parts))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout, proc=None, what="port"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s before listening on %d" % (what, proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("%s: nothing listens on 127.0.0.1:%d after %ss" % (what, port, timeout))


# Process groups started by the harness (Prosody, slidged and its workers): whatever still
# runs when Python exits (an interrupted run, a killed pytest) is killed.
_groups = set()


def spawn(cmd, **kw):
    proc = subprocess.Popen(cmd, start_new_session=True, **kw)
    _groups.add(proc.pid)
    return proc


@atexit.register
def _kill_leftovers():
    for pgid in list(_groups):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_group(proc, sig=signal.SIGKILL):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    if sig == signal.SIGKILL:
        _groups.discard(proc.pid)


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def group_members(pgid):
    """pids of the processes in process group pgid (from /proc)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(d))
    return pids


# ---------------------------------------------------------------------------------------
# Prosody

PROSODY_CFG = """-- generated by tests/integration/harness.py
-- global options: above the first VirtualHost
run_as_root = true
daemonize = false
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
log = {{ debug = "{dir}/prosody.log"; error = "{dir}/prosody.err" }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
component_interfaces = {{ "127.0.0.1" }}
component_ports = {{ {comp} }}
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping" }}
modules_disabled = {{ "s2s"; "tls"; "limits" }}
-- XEP-0363 for attachments: Prosody's own http_file_share on loopback
http_ports = {{ {http} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
http_external_url = "http://127.0.0.1:{http}/"
http_default_host = "{upload}"   -- requests to 127.0.0.1 reach the upload component
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"

VirtualHost "{domain}"
VirtualHost "{other}"

Component "{component}"
    component_secret = "{secret}"

Component "{upload}" "http_file_share"
    http_file_share_access = {{ "{component}"; "{domain}" }}
    http_file_share_size_limit = {upload_limit}
    http_file_share_daily_quota = 1024*1024*1024
"""

UPLOAD = "upload.localhost"           # the XEP-0363 service (Prosody's http_file_share)
UPLOAD_LIMIT = 1024 * 1024            # its max-file-size


class Prosody:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "prosody")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "certs"), exist_ok=True)  # Prosody indexes it at start
        self.c2s_port = free_port()
        self.component_port = free_port()
        while self.component_port == self.c2s_port:
            self.component_port = free_port()
        self.http_port = free_port()
        while self.http_port in (self.c2s_port, self.component_port):
            self.http_port = free_port()
        self.upload_jid = UPLOAD
        self.config = os.path.join(self.dir, "prosody.cfg.lua")
        with open(self.config, "w") as f:
            f.write(PROSODY_CFG.format(dir=self.dir, c2s=self.c2s_port, comp=self.component_port,
                                       domain=DOMAIN, other=OTHER_DOMAIN, component=COMPONENT,
                                       secret=SECRET, http=self.http_port, upload=UPLOAD,
                                       upload_limit=UPLOAD_LIMIT))
        self.proc = None
        self._users = itertools.count(1)

    def start(self, timeout=20):
        self.stdout = open(os.path.join(self.dir, "prosody.stdout"), "w")
        self.proc = spawn(["prosody", "-F", "--config", self.config],
                          stdin=subprocess.DEVNULL, stdout=self.stdout, stderr=subprocess.STDOUT)
        try:
            wait_port(self.c2s_port, timeout, self.proc, "prosody (c2s)")
            wait_port(self.component_port, timeout, self.proc, "prosody (component)")
            wait_port(self.http_port, timeout, self.proc, "prosody (http)")
        except Exception:
            self.stop()
            raise RuntimeError("prosody did not start:\n" + self.log_tail())

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            kill_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        kill_group(self.proc, signal.SIGKILL)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.stdout.close()

    def log_tail(self, n=60):
        out = []
        for name in ("prosody.stdout", "prosody.err", "prosody.log"):
            p = os.path.join(self.dir, name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    lines = f.readlines()[-n:]
                out.append("--- %s ---\n%s" % (name, "".join(lines)))
        return "\n".join(out)

    def upload_args(self):
        """slidged options for attachments through this Prosody's http_file_share."""
        return ["--upload-service", self.upload_jid, "--http-ports", str(self.http_port)]

    def register(self, user, host=DOMAIN, password=None):
        password = password or "pw-" + user
        r = subprocess.run(["prosodyctl", "--config", self.config, "register", user, host, password],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("prosodyctl register %s@%s failed (%d): %s%s"
                               % (user, host, r.returncode, r.stdout, r.stderr))
        return "%s@%s" % (user, host), password

    def new_user(self, prefix="user", host=DOMAIN):
        """A fresh user (unique name), so that no roster state leaks from test to test."""
        return self.register("%s%d" % (prefix, next(self._users)), host)


# ---------------------------------------------------------------------------------------
# slidged

class GatewayMissing(Exception):
    pass


def find_binaries():
    """(slidged, slidgectl) under SLIDGE_PREFIX (default /usr/local)."""
    prefix = os.environ.get("SLIDGE_PREFIX", "/usr/local")
    slidged = os.path.join(prefix, "bin", "slidged")
    if not os.access(slidged, os.X_OK):
        raise GatewayMissing("no executable %s (set SLIDGE_PREFIX to the install prefix)" % slidged)
    return slidged, os.path.join(prefix, "bin", "slidgectl")


class Gateway:
    """One slidged. args: extra arguments (core options, then module options)."""

    def __init__(self, workdir, port, server="127.0.0.1", home=None, args=(), module_args=(),
                 validator=r".*@localhost"):
        self.slidged, self.slidgectl = find_binaries()
        self.workdir = workdir
        self.port = port
        self.server = server
        self.home = home or os.path.join(workdir, "home")
        self.args = list(args)
        self.module_args = list(module_args)
        self.validator = validator
        self.log_path = os.path.join(workdir, "slidged.log")
        self.proc = None
        self.starts = 0
        # an empty config dir, so that no /etc/slidge/conf.d/*.conf leaks into the tests
        self.conf_dir = os.path.join(workdir, "conf.d")
        os.makedirs(self.conf_dir, exist_ok=True)

    def command(self):
        cmd = [self.slidged, "--jid", COMPONENT, "--secret", SECRET, "--server", self.server,
               "--port", str(self.port), "--home-dir", self.home, "--legacy-module", "demo"]
        if self.validator is not None:
            cmd += ["--user-jid-validator", self.validator]
        return cmd + self.args + ["-d"] + self.module_args

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIDGE_")}
        env["SLIDGE_CONF_DIR"] = self.conf_dir
        self.starts += 1
        log = open(self.log_path, "a")
        log.write("=== start %d: %s\n" % (self.starts, " ".join(self.command())))
        log.flush()
        self.proc = spawn(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                          stderr=subprocess.STDOUT, env=env, cwd=self.workdir)
        log.close()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Signal slidged, wait for it and for every process of its group (the workers).
        Returns (returncode, leftover pids that had to be SIGKILLed)."""
        if self.proc is None:
            return None, []
        pgid = self.proc.pid
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(5)
            rc = "timeout (killed after %ss)" % timeout
        leftovers = []
        deadline = time.monotonic() + 5
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if group_alive(pgid):
            leftovers = group_members(pgid)
        kill_group(self.proc, signal.SIGKILL)
        self.proc = None
        return rc, leftovers

    def kill(self):
        if self.proc is not None:
            kill_group(self.proc, signal.SIGKILL)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=80):
        return "".join(self.log_text().splitlines(True)[-n:])

    def sanitizer_report(self):
        text = self.log_text()
        for m in SANITIZER_MARKERS:
            i = text.find(m)
            if i >= 0:
                return text[max(0, i - 200):i + 3000]
        return None


# ---------------------------------------------------------------------------------------
# slixmpp client, driven synchronously

class Client:
    """A real XMPP client (slixmpp) whose event loop runs only inside the calls below.
    Stanzas that arrive while no call runs wait in the socket and are read at the next
    call; every stanza received is appended to .received (an ElementTree copy)."""

    _ids = itertools.count(1)

    def __init__(self, loop, jid, password, port, resource=None):
        import slixmpp  # imported here so that a missing slixmpp only skips the tests using it
        self.loop = loop
        self.jid = jid
        self.resource = resource or "test"
        self.full_jid = "%s/%s" % (jid, self.resource)
        self.port = port
        self.received = []
        self._changed = asyncio.Event()
        x = slixmpp.ClientXMPP(self.full_jid, password)
        x.loop = loop
        x.auto_authorize = None     # subscription requests are answered by the test itself
        x.auto_subscribe = False
        x.register_plugin("xep_0030")
        x.register_plugin("xep_0199")
        x["feature_mechanisms"].unencrypted_plain = True
        x.add_filter("in", self._incoming)
        self._started = loop.create_future()
        self._failed = None
        x.add_event_handler("session_start", lambda _: self._started.done() or self._started.set_result(True))
        x.add_event_handler("failed_auth", lambda *_: self._started.done() or self._started.set_exception(
            RuntimeError("authentication failed for %s" % jid)))
        self.xmpp = x

    def _incoming(self, stanza):
        try:
            self.received.append(copy.deepcopy(stanza.xml))
        finally:
            self._changed.set()
        return stanza

    def run(self, coro, timeout):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def connect(self, timeout=20, initial_presence=True):
        self.xmpp.connect(("127.0.0.1", self.port), use_ssl=False, force_starttls=False,
                          disable_starttls=True)
        try:
            self.run(asyncio.shield(self._started), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError("%s could not log in to prosody within %ss" % (self.jid, timeout))
        # the roster first: Prosody sends subscription requests only to "interested"
        # resources, those that fetched the roster
        self.run(self.xmpp.get_roster(), timeout)
        if initial_presence:
            self.send("<presence/>")
        self.pump(0.1)
        return self

    def disconnect(self):
        try:
            fut = self.xmpp.disconnect(wait=0.5)
            if fut is not None:
                self.loop.run_until_complete(asyncio.wait_for(fut, 5))
        except Exception:
            pass
        try:
            self.xmpp.abort()
        except Exception:
            pass

    # -- sending

    def new_id(self):
        return "t%d-%s" % (next(self._ids), uuid.uuid4().hex[:6])

    def send(self, xml):
        self.xmpp.send_raw(xml)
        self.pump(0)

    def send_message(self, to, text, mtype="chat", extra="", mid=None):
        mid = mid or self.new_id()
        self.send("<message to=%s type=%s id=%s><body>%s</body>%s</message>"
                  % (quoteattr(to), quoteattr(mtype), quoteattr(mid), escape(text), extra))
        return mid

    def send_presence(self, to=None, ptype=None, extra=""):
        attrs = ""
        if to:
            attrs += " to=%s" % quoteattr(to)
        if ptype:
            attrs += " type=%s" % quoteattr(ptype)
        self.send("<presence%s>%s</presence>" % (attrs, extra))

    def send_iq(self, to, itype, payload, timeout=15):
        """Send an iq and return its answer (result or error) as an element."""
        iid = self.new_id()
        start = self.mark()
        self.send("<iq to=%s type=%s id=%s>%s</iq>" % (quoteattr(to), quoteattr(itype), quoteattr(iid), payload))
        return self.wait_for(lambda el: local(el) == "iq" and el.get("id") == iid
                             and el.get("type") in ("result", "error"),
                             timeout, since=start, what="an answer to iq %s %s to %s" % (itype, iid, to))

    # -- receiving

    def mark(self):
        """Index to pass as since= to look only at stanzas received from now on."""
        return len(self.received)

    def pump(self, seconds):
        """Run the event loop for a while (receive whatever arrives)."""
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def find(self, pred, since=0):
        for el in self.received[since:]:
            if pred(el):
                return el
        return None

    def wait_for(self, pred, timeout=10, since=0, what=None):
        """The first stanza received at index >= since that matches pred; waits for it up to
        timeout seconds, then fails with what was received."""
        async def waiter():
            i = since
            while True:
                while i < len(self.received):
                    if pred(self.received[i]):
                        return self.received[i]
                    i += 1
                self._changed.clear()
                await self._changed.wait()
        try:
            return self.run(waiter(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("%s: timed out after %ss waiting for %s; received:\n%s"
                                 % (self.jid, timeout, what or getattr(pred, "__doc__", None) or "a stanza",
                                    dump(self.received[since:]))) from None


# ---------------------------------------------------------------------------------------
# A raw XEP-0114 server: accepts the component, checks its handshake, then sends whatever
# the test wants.

class StreamClosed(Exception):
    pass


class FakeConn:
    def __init__(self, sock, secret, domain):
        self.sock = sock
        self.secret = secret
        self.domain = domain
        self.stream_id = uuid.uuid4().hex
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.elements = []        # top-level elements received from the component, in order
        self.header = None        # the component's stream header (attributes)
        self.closed = False       # the component closed its stream or the socket
        self.raw = b""

    def _read_some(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            raise StreamClosed
        self.raw += data
        self.parser.feed(data)
        for ev, el in self.parser.read_events():
            if ev == "start":
                self.depth += 1
                if self.depth == 1:
                    self.header = dict(el.attrib)
                    self.header["tag"] = el.tag
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.elements.append(el)
                elif self.depth == 0:
                    self.closed = True

    def wait_for(self, pred, timeout=10, what="an element"):
        deadline = time.monotonic() + timeout
        i = 0
        while True:
            while i < len(self.elements):
                if pred(self.elements[i]):
                    return self.elements[i]
                i += 1
            try:
                self._read_some(deadline)
            except TimeoutError:
                raise AssertionError("fake server: timed out waiting for %s; component sent:\n%s"
                                     % (what, self.raw[-4000:].decode(errors="replace"))) from None
            except StreamClosed:
                raise AssertionError("fake server: the component closed the connection before %s; "
                                     "it sent:\n%s" % (what, self.raw[-4000:].decode(errors="replace"))) from None

    def wait_closed(self, timeout=10):
        deadline = time.monotonic() + timeout
        while not self.closed:
            try:
                self._read_some(deadline)
            except StreamClosed:
                return True
            except TimeoutError:
                return False
        return True

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True

    def handshake(self, timeout=10, prolog=""):
        """Read the component's stream header, answer ours (with prolog before it), check the
        <handshake/> digest and accept it."""
        deadline = time.monotonic() + timeout
        while self.header is None:
            try:
                self._read_some(deadline)
            except (TimeoutError, StreamClosed):
                raise AssertionError("fake server: no stream header from the component; got %r"
                                     % self.raw[:2000]) from None
        assert self.header["tag"] == "{%s}stream" % NS_STREAM, self.header
        assert self.header.get("to") == self.domain, "stream header to=%r" % self.header.get("to")
        self.send("<?xml version='1.0'?>%s<stream:stream xmlns:stream='%s' xmlns='%s' from='%s' id='%s'>"
                  % (prolog, NS_STREAM, NS_COMPONENT, self.domain, self.stream_id))
        if prolog:
            return None
        hs = self.wait_for(lambda el: local(el) == "handshake", max(0.1, deadline - time.monotonic()),
                           "the <handshake/>")
        expected = hashlib.sha1((self.stream_id + self.secret).encode()).hexdigest()
        assert (hs.text or "").strip().lower() == expected, \
            "handshake %r, expected sha1(id+secret) %r" % (hs.text, expected)
        self.send("<handshake/>")
        return hs

    def stream_error(self, timeout=10):
        """The condition of the stream error the component sends, or fail."""
        el = self.wait_for(lambda e: e.tag == "{%s}error" % NS_STREAM, timeout, "a stream error")
        for c in el:
            if c.tag.startswith("{%s}" % NS_STREAMS) and local(c) != "text":
                return local(c)
        raise AssertionError("stream error without a condition: %s" % tostr(el))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class FakeComponentServer:
    def __init__(self, secret=SECRET, domain=COMPONENT):
        self.secret = secret
        self.domain = domain
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.conns = []

    def accept(self, timeout=30, gateway=None):
        """The next connection; fails early if gateway (a Gateway) exits meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            self.lsock.settimeout(0.2)
            try:
                s, _ = self.lsock.accept()
                break
            except socket.timeout:
                pass
            if gateway is not None and not gateway.alive():
                raise AssertionError("fake server: slidged exited (status %s) instead of connecting:\n%s"
                                     % (gateway.proc.returncode if gateway.proc else "?", gateway.log_tail()))
            if time.monotonic() > deadline:
                raise AssertionError("fake server: no connection from the component within %ss" % timeout)
        c = FakeConn(s, self.secret, self.domain)
        self.conns.append(c)
        return c

    def close(self):
        for c in self.conns:
            c.close()
        self.lsock.close()

# ---------------------------------------------------------------------------------------
# steps shared by the tests (the gateway's contract: /work/shared/DEMO.md, reference/slidge.md §6)

CONTACTS = {  # demo network contacts: id -> (nick, show, status)
    "echo": ("Echo", "", "I repeat everything"),
    "alice": ("Alice", "", "Hello"),
    "bob": ("Bob", "away", "Busy"),
}


def contact_jid(legacy_id):
    return "%s@%s" % (legacy_id, COMPONENT)


def ibr_get(client):
    return client.send_iq(COMPONENT, "get", "<query xmlns='jabber:iq:register'/>")


def ibr_set(client, fields):
    return client.send_iq(COMPONENT, "set", register_form_xml(fields))


def ibr_remove(client):
    return client.send_iq(COMPONENT, "set", "<query xmlns='jabber:iq:register'><remove/></query>")


def is_registered(ibr_result):
    q = ibr_result.find("{%s}query" % NS_REGISTER)
    return q is not None and q.find("{%s}registered" % NS_REGISTER) is not None


def gateway_status(show_eq, status_eq):
    """Predicate: an available presence from the component with that show and status."""
    def pred(el):
        return (local(el) == "presence" and sfrom(el) == COMPONENT and el.get("type", "") == ""
                and show(el) == show_eq and status(el) == status_eq)
    pred.__doc__ = "presence from %s show=%r status=%r" % (COMPONENT, show_eq, status_eq)
    return pred


def connected_status(username):
    """Predicate: the gateway's final status after a successful login. slidge sends it with
    show=chat (reference/slidge.md §2.10); plain available is accepted as the same thing."""
    def pred(el):
        return (local(el) == "presence" and sfrom(el) == COMPONENT and el.get("type", "") == ""
                and show(el) in ("", "chat") and status(el) == "Connected as %s" % username)
    pred.__doc__ = "presence from %s, available, status 'Connected as %s'" % (COMPONENT, username)
    return pred


def register(client, username, password="secret", timeout=30):
    """Register through XEP-0077 and wait until the session says 'Connected as username'.
    Returns the index in client.received where the registration started."""
    start = client.mark()
    r = ibr_set(client, {"username": username, "password": password})
    assert r.get("type") == "result", "registration refused: %s" % tostr(r)
    client.wait_for(connected_status(username), timeout, since=start)
    return start


def set_preferences(client, timeout=30, **prefs):
    """Run the preferences command (XEP-0050) with these values, e.g.
    sync_presence="true": in-band registration stores none, which slidge reads as off."""
    ns_cmd = "http://jabber.org/protocol/commands"
    node = "https://slidge.im/command/core/preferences"
    r = client.send_iq(COMPONENT, "set", "<command xmlns='%s' node='%s' action='execute'/>"
                       % (ns_cmd, node), timeout=timeout)
    assert r.get("type") == "result", "preferences refused: %s" % tostr(r)
    sid = r.find("{%s}command" % ns_cmd).get("sessionid")
    fields = "".join("<field var='%s'><value>%s</value></field>" % kv for kv in prefs.items())
    r = client.send_iq(COMPONENT, "set", "<command xmlns='%s' node='%s' sessionid='%s' "
                       "action='complete'><x xmlns='%s' type='submit'>%s</x></command>"
                       % (ns_cmd, node, sid, NS_DATA, fields), timeout=timeout)
    assert r.get("type") == "result", "preferences not saved: %s" % tostr(r)
    return r


def accept_subscriptions(client, jids, since=0, timeout=15):
    """For each JID: wait for its subscribe, approve it and subscribe back."""
    for j in jids:
        client.wait_for(is_presence(j, "subscribe"), timeout, since,
                        what="presence subscribe from %s" % j)
        client.send_presence(j, "subscribed")
        client.send_presence(j, "subscribe")


def echo_roundtrip(client, text, timeout=15):
    start = client.mark()
    client.send_message(contact_jid("echo"), text)
    return client.wait_for(is_message(contact_jid("echo") + "/slidge", "chat", "echo: " + text),
                           timeout, since=start, what="'echo: %s' from echo@%s/slidge" % (text, COMPONENT))


# ---------------------------------------------------------------------------------------
# Isolation, supervision and control (test_isolation.py, test_supervision.py,
# test_control.py): slidgectl, the workers' processes, a numbered chat stream with
# timings, and a TCP proxy that can cut the component connection.

def rogue_module():
    """Absolute path of the rogue test module (tests/rogue), from SLIDGE_ROGUE_MODULE, or
    None. It is built, never installed: tests/run-all.sh points the variable at the build
    dir."""
    p = os.environ.get("SLIDGE_ROGUE_MODULE", "")
    return os.path.abspath(p) if p else None


def ctl_socket(gw):
    return os.path.join(gw.home, "slidged.sock")


def slidgectl(gw, *args, json_out=False, as_user=None, socket_path=None, timeout=30):
    """Run slidgectl against gw's control socket; returns the CompletedProcess (text).
    as_user: run it as that user (setpriv), to test the peer check."""
    cmd = [gw.slidgectl, "-s", socket_path or ctl_socket(gw)]
    if json_out:
        cmd.append("--json")
    cmd += [str(a) for a in args]
    if as_user is not None:
        import pwd
        pw = pwd.getpwnam(as_user)
        cmd = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--clear-groups",
               "--"] + cmd
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIDGE_")}
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=env)


def ctl_json(gw, *args, expect=0):
    """slidgectl --json ARGS, parsed; fails unless the exit status is expect."""
    import json
    r = slidgectl(gw, *args, json_out=True)
    assert r.returncode == expect, "slidgectl %s: exit %d (expected %d)\nstdout: %s\nstderr: %s" % (
        " ".join(map(str, args)), r.returncode, expect, r.stdout, r.stderr)
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        raise AssertionError("slidgectl --json %s printed no JSON: %r (stderr %r)"
                             % (" ".join(map(str, args)), r.stdout, r.stderr)) from None
    assert doc.get("status") == expect, "slidgectl --json %s: %s" % (" ".join(map(str, args)), doc)
    return doc


def user_row(gw, jid):
    """The `slidgectl --json status JID` row of a user (dict)."""
    doc = ctl_json(gw, "status", jid)
    assert len(doc["rows"]) == 1, doc
    return doc["rows"][0]


def worker_pid(gw, jid, timeout=15):
    """pid of jid's running session worker (waits until it runs)."""
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        row = user_row(gw, jid)
        if row.get("state") == "running" and int(row.get("pid") or 0) > 0:
            return int(row["pid"])
        time.sleep(0.05)
    raise AssertionError("no running worker for %s after %ss: %s" % (jid, timeout, row))


def proc_status(pid):
    """/proc/PID/status as a dict (field -> text), or None if the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines:
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def pid_running(pid):
    """The process exists and is not a zombie."""
    st = proc_status(pid)
    return st is not None and not st.get("State", "").startswith("Z")


def wait_pids_gone(pids, timeout):
    """Wait until none of pids runs; returns those still running after timeout."""
    deadline = time.monotonic() + timeout
    left = [p for p in pids if pid_running(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if pid_running(p)]
    return left


def gateway_workers(gw, role=None):
    """pids of the running slidge-worker processes of gw (by the --state-dir under its
    home dir, so that a worker is found whoever its parent is now); role "session" or
    "register" keeps only those (a register worker lives on briefly after registering)."""
    home = os.path.realpath(gw.home) + "/"
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"slidge-worker"):
            continue
        if role is not None and role.encode() not in [
                argv[i + 1] for i, a in enumerate(argv[:-1]) if a == b"--role"]:
            continue
        for i, a in enumerate(argv[:-1]):
            if a == b"--state-dir" and (argv[i + 1].decode(errors="replace") + "/").startswith(home):
                if pid_running(int(d)):
                    pids.append(int(d))
                break
    return pids


def kill_pids(pids, sig=signal.SIGKILL):
    for p in pids:
        try:
            os.kill(p, sig)
        except (ProcessLookupError, PermissionError):
            pass


def log_mark(gw):
    """Offset in slidged's log, for log_since / wait_log."""
    return len(gw.log_text())


def log_since(gw, mark):
    return gw.log_text()[mark:]


def wait_log(gw, pattern, mark=0, timeout=10, client=None):
    """Wait until slidged's log (from mark) matches the regex pattern; returns the match.
    client: a harness.Client whose event loop keeps running meanwhile."""
    import re
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        m = rx.search(log_since(gw, mark))
        if m:
            return m
        if time.monotonic() > deadline:
            raise AssertionError("slidged's log shows no /%s/ after %ss; since the mark:\n%s"
                                 % (pattern, timeout, log_since(gw, mark)[-6000:]))
        if client is not None:
            client.pump(0.05)
        else:
            time.sleep(0.05)


class Stream:
    """One client's numbered messages to echo, and what answered each."""

    def __init__(self, client, tag):
        self.client = client
        self.tag = tag
        self.n = 0
        self.sent = {}        # id -> (number, text, monotonic send time)
        self.by_text = {}     # text -> id
        self.answer = {}      # id -> ("echo" | "error", monotonic time, element)
        self.extra = []       # answers that match nothing sent (duplicates, strangers)
        self.active = True
        client.xmpp.add_filter("in", self._incoming)

    def _incoming(self, stanza):
        now = time.monotonic()
        el = stanza.xml
        if local(el) == "message":
            if el.get("type") == "error" and el.get("id") in self.sent:
                self._answered(el.get("id"), "error", now, el)
            else:
                b = body(el)
                if b and b.startswith("echo: ") and b[6:] in self.by_text \
                        and bare(sfrom(el)) == contact_jid("echo"):
                    self._answered(self.by_text[b[6:]], "echo", now, el)
        return stanza

    def _answered(self, mid, kind, now, el):
        if mid in self.answer:
            self.extra.append((kind, copy.deepcopy(el)))
        else:
            self.answer[mid] = (kind, now, copy.deepcopy(el))

    def send(self):
        self.n += 1
        text = "%s %d" % (self.tag, self.n)
        mid = "%s-%d-%s" % (self.tag, self.n, uuid.uuid4().hex[:4])
        self.sent[mid] = (self.n, text, time.monotonic())
        self.by_text[text] = mid
        self.client.send_message(contact_jid("echo"), text, mid=mid)
        return mid

    def unanswered(self):
        return [mid for mid in self.sent if mid not in self.answer]

    def counts(self):
        kinds = [a[0] for a in self.answer.values()]
        return {"sent": len(self.sent), "echo": kinds.count("echo"), "error": kinds.count("error"),
                "lost": len(self.unanswered()), "duplicates": len(self.extra)}

    def latencies(self):
        return [(self.answer[m][1] - t, n) for m, (n, _, t) in self.sent.items() if m in self.answer]

    def max_latency(self, kinds=("echo",)):
        lat = [self.answer[m][1] - t for m, (_, _, t) in self.sent.items()
               if m in self.answer and self.answer[m][0] in kinds]
        return max(lat) if lat else None

    def max_gap(self):
        """Longest time between two consecutive answers (echo or error) received."""
        times = sorted(a[1] for a in self.answer.values())
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)

    def errors(self):
        return [(self.sent[m][0], a[2]) for m, a in self.answer.items() if a[0] == "error"]

    def describe(self):
        c = self.counts()
        lat = self.max_latency(("echo", "error"))
        return ("%s: sent %d, echoed %d, errors %d, silently lost %d, duplicates %d, max latency %s, "
                "max gap %.3f s" % (self.tag, c["sent"], c["echo"], c["error"], c["lost"],
                                    c["duplicates"], "%.3f s" % lat if lat is not None else "-",
                                    self.max_gap()))


class Chatter:
    """Several clients, each sending a numbered message to echo every `period` seconds
    while events happen; every message is then accounted for: an echo, an error with its
    id, or silently lost. All clients share one event loop (the test's)."""

    def __init__(self, streams, period=0.05):
        self.streams = list(streams)
        self.period = period
        self.t0 = None

    def run(self, seconds, events=()):
        """Send for `seconds`; events: [(offset in seconds, callable)], each called once
        when its time comes (its return value is kept in .results)."""
        events = sorted(events, key=lambda e: e[0])
        self.results = []
        loop_client = self.streams[0].client
        start = time.monotonic()
        if self.t0 is None:
            self.t0 = start
        next_send = start
        i = 0
        while True:
            now = time.monotonic()
            if now - start >= seconds:
                break
            while i < len(events) and now - start >= events[i][0]:
                self.results.append(events[i][1]())
                i += 1
            if now >= next_send:
                for s in self.streams:
                    if s.active:
                        s.send()
                next_send += self.period
                if next_send < now:
                    next_send = now + self.period
            loop_client.pump(max(0.0, min(0.01, next_send - time.monotonic())))
        while i < len(events):
            self.results.append(events[i][1]())
            i += 1

    def drain(self, timeout):
        """Pump until every message sent has its answer, or timeout."""
        deadline = time.monotonic() + timeout
        loop_client = self.streams[0].client
        while time.monotonic() < deadline:
            if not any(s.unanswered() for s in self.streams):
                break
            loop_client.pump(0.05)
        loop_client.pump(0.3)  # late duplicates, if any

    def report(self):
        return "\n".join("  " + s.describe() for s in self.streams)


class TcpProxy:
    """A TCP proxy between slidged and Prosody's component port, so that a test can take
    the XMPP server away from slidged (and only from slidged) and give it back.
      up       bytes flow both ways
      down     existing connections are closed; new ones are accepted and closed at once
               (each one is recorded in .attempts with its time)
      stalled  nothing slidged sends is read (its socket fills up); the rest flows"""

    def __init__(self, target_port, rcvbuf=None):
        import threading
        self.target = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.mode = "up"
        self.attempts = []      # (monotonic time, mode) of every accepted connection
        self.pairs = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _close_pair(self, pair):
        for s in pair:
            try:
                s.close()
            except OSError:
                pass
        if pair in self.pairs:
            self.pairs.remove(pair)

    def _run(self):
        import select
        while not self.stop_ev.is_set():
            with self.lock:
                rlist = [self.lsock]
                for c, u in self.pairs:
                    if self.mode != "stalled":
                        rlist.append(c)
                    rlist.append(u)
            try:
                ready, _, _ = select.select(rlist, [], [], 0.05)
            except (OSError, ValueError):
                continue
            with self.lock:
                for s in ready:
                    if s is self.lsock:
                        try:
                            c, _ = self.lsock.accept()
                        except OSError:
                            continue
                        self.attempts.append((time.monotonic(), self.mode))
                        if self.mode == "down":
                            c.close()
                            continue
                        try:
                            u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                        except OSError:
                            c.close()
                            continue
                        self.pairs.append((c, u))
                        continue
                    pair = next((p for p in self.pairs if s in p), None)
                    if pair is None:
                        continue
                    other = pair[1] if s is pair[0] else pair[0]
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        self._close_pair(pair)
                        continue
                    try:
                        other.sendall(data)
                    except OSError:
                        self._close_pair(pair)

    def cut(self):
        """The server goes away: close what is open, accept-and-close from now on."""
        with self.lock:
            self.mode = "down"
            for p in list(self.pairs):
                self._close_pair(p)

    def restore(self):
        with self.lock:
            self.mode = "up"

    def stall(self, on=True):
        with self.lock:
            if on:
                self.mode = "stalled"
            elif self.mode == "stalled":
                self.mode = "up"

    def connected(self):
        with self.lock:
            return len(self.pairs)

    def close(self):
        self.stop_ev.set()
        self.thread.join(5)
        with self.lock:
            for p in list(self.pairs):
                self._close_pair(p)
            self.lsock.close()
