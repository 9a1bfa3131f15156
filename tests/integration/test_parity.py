"""One-to-one parity with slidge, the rest of issue 4, seen from real slixmpp clients
through a real Prosody: XEP-0203 delays and slidge's 300 s threshold, threads both ways,
link previews both ways, XEP-0334 hints, MARK_ALL_MESSAGES, PROPER_RECEIPTS (§7.1 case 14),
the contact cache across worker restarts, the user's own avatar to the module (on_avatar,
§7.1 case 32), the gateway's avatar (COMPONENT_AVATAR), and XEP-0356 v1 (urn:xmpp:privilege:1)
against a raw component server.
The demo network's additions used here are documented at the top of
contrib/modules/demo/demo_parity.c."""

import calendar
import time

import pytest

import harness
from harness import (COMPONENT, NS_RECEIPTS, body, child, contact_jid, local, register, sfrom,
                     tostr)

# echo's helpers and a Prosody with mod_privilege (the fixture), from the messaging tests
from test_messages import (ECHO, ECHO_FULL, NS_HINTS, NS_MARKERS, NS_OGP, NS_RDF,  # noqa: F401
                           echo_body, from_echo, privileged, user)
from test_messages import send as send_to

NS_DELAY = "urn:xmpp:delay"


def say(c, inner, mid=None):
    return send_to(c, ECHO, inner, mid)


def ask(c, text, extra="", timeout=15, what=None):
    """Send text (+ extra elements) to echo; the first message from echo after it."""
    mark = c.mark()
    say(c, "<body>%s</body>%s" % (text, extra))
    return c.wait_for(lambda el: from_echo(el) and body(el) is not None, timeout, since=mark,
                      what=what or "echo's answer to %r" % text)


def thread_of(el):
    return child_text(el, "thread")


def child_text(el, name):
    c = el.find("{%s}%s" % (harness.ns_of(el), name))
    return None if c is None else (c.text or "")


def stamp_seconds(stamp):
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))


# ---------------------------------------------------------------------------------------
# XEP-0203 delays, with slidge's IGNORE_DELAY_THRESHOLD (300 s) for 1:1 chats

def test_delay_kept_past_the_threshold_only(gateway, clients):
    c = user(clients, "delay")
    m = ask(c, "/old from yesterday")
    assert body(m) == "from yesterday", tostr(m)
    d = child(m, NS_DELAY, "delay")
    assert d is not None, "a message a day old carries its date: " + tostr(m)
    assert abs(stamp_seconds(d.get("stamp")) - (time.time() - 86400)) < 120, tostr(m)
    assert d.get("from") == COMPONENT, tostr(m)
    # still an ordinary chat message
    assert m.get("type") == "chat" and child(m, NS_MARKERS, "markable") is not None, tostr(m)

    m = ask(c, "/recent a minute ago")
    assert body(m) == "a minute ago", tostr(m)
    assert child(m, NS_DELAY, "delay") is None, "delays under 300 s are stripped: " + tostr(m)


# ---------------------------------------------------------------------------------------
# threads (RFC 6121 <thread>, XEP-0201): mapped both ways through the store

def test_threads_both_ways(gateway, clients):
    c = user(clients, "thread")
    # U->C: the XMPP thread becomes a legacy thread (create_thread: "lt-" + id), which
    # on_text gets; echo answers in that legacy thread, which maps back to the XMPP one
    m = ask(c, "/which-thread", "<thread>xt-1</thread>")
    assert body(m) == "thread: lt-xt-1", tostr(m)
    assert thread_of(m) == "xt-1", tostr(m)
    # the same XMPP thread again: the stored legacy thread, not a new one
    m = ask(c, "/which-thread", "<thread>xt-1</thread>")
    assert body(m) == "thread: lt-xt-1", tostr(m)
    # C->U: a message in a known legacy thread carries the user's XMPP thread
    m = ask(c, "/thread lt-xt-1 in your thread")
    assert body(m) == "in your thread" and thread_of(m) == "xt-1", tostr(m)
    # a legacy thread XMPP has never seen keeps its legacy id
    m = ask(c, "/thread fresh-thread a new one")
    assert body(m) == "a new one" and thread_of(m) == "fresh-thread", tostr(m)
    # no thread at all
    m = ask(c, "/which-thread")
    assert body(m) == "thread: none" and thread_of(m) is None, tostr(m)


# ---------------------------------------------------------------------------------------
# link previews (Cheogram's RDF/OpenGraph elements, slidge's LinkPreview), both ways

def test_link_previews_both_ways(gateway, clients):
    c = user(clients, "preview")
    m = ask(c, "/preview https://example.org/page")
    assert body(m) == "see https://example.org/page", tostr(m)
    d = m.find("{%s}Description" % NS_RDF)
    assert d is not None, "no link preview: " + tostr(m)
    assert d.get("{%s}about" % NS_RDF) == "https://example.org/page", tostr(m)
    og = {e.tag.split("}")[1]: e.text for e in d if e.tag.startswith("{%s}" % NS_OGP)}
    assert og == {"title": "Demo preview", "description": "A page on the demo network",
                  "url": "https://example.org/page", "site_name": "Demo"}, tostr(m)

    preview = ("<rdf:Description xmlns:rdf='%s' xmlns:og='%s' rdf:about='https://example.org'>"
               "<og:title>Example</og:title><og:description>An example</og:description>"
               "</rdf:Description>" % (NS_RDF, NS_OGP))
    m = ask(c, "/what-preview https://example.org", preview)
    assert body(m) == "preview: https://example.org|Example|An example", tostr(m)
    m = ask(c, "/what-preview")
    assert body(m) == "preview: none", tostr(m)


# ---------------------------------------------------------------------------------------
# XEP-0334 processing hints chosen by the module (send_text's hints)

def test_processing_hints(gateway, clients):
    c = user(clients, "hints")
    m = ask(c, "/hints no-store,no-copy quiet")
    assert body(m) == "quiet", tostr(m)
    assert child(m, NS_HINTS, "no-store") is not None and child(m, NS_HINTS, "no-copy") is not None, tostr(m)
    assert child(m, NS_HINTS, "store") is None and child(m, NS_MARKERS, "markable") is None, tostr(m)
    m = ask(c, "/hints no-permanent-store,markable kept")
    assert child(m, NS_HINTS, "no-permanent-store") is not None, tostr(m)
    assert child(m, NS_MARKERS, "markable") is not None and child(m, NS_HINTS, "store") is None, tostr(m)
    m = ask(c, "/hints none bare")
    assert [e for e in m if e.tag.startswith("{%s}" % NS_HINTS) or e.tag.startswith("{%s}" % NS_MARKERS)] == [], \
        tostr(m)
    # without hints: slidge's default, markable + store
    m = ask(c, "plain")
    assert child(m, NS_HINTS, "store") is not None and child(m, NS_MARKERS, "markable") is not None, tostr(m)


# ---------------------------------------------------------------------------------------
# XEP-0333 displayed markers from the user: MARK_ALL_MESSAGES (slidge's contact_sent)

@pytest.mark.parametrize("mark_all,expected", [("yes", "e1 e2 e3"), ("no", "e3")])
def test_mark_all_messages(gateways, clients, mark_all, expected):
    gateways.start(module_args=["--demo-mark-all", mark_all])
    c = user(clients, "markall")
    for i, text in enumerate(("one", "two", "three"), 1):
        m = ask(c, text)
        assert body(m) == "echo: " + text and m.get("id") == "e%d" % i, tostr(m)
    # the client marks the last message only
    mark = c.mark()
    did = say(c, "<displayed xmlns='%s' id='e3'/>" % NS_MARKERS)
    m = ask(c, "/displayed")
    assert body(m) == "displayed: " + expected, tostr(m)
    assert c.find(lambda el: el.get("type") == "error" and el.get("id") == did, mark) is None
    # the horizon moved: marking the answer reports only what came after e3
    say(c, "<displayed xmlns='%s' id='%s'/>" % (NS_MARKERS, m.get("id")))
    m2 = ask(c, "/displayed")
    assert body(m2) == "displayed: " + m.get("id"), tostr(m2)


# ---------------------------------------------------------------------------------------
# XEP-0184 with PROPER_RECEIPTS (§7.1 case 14): no automatic receipt; the network's
# confirmation sends a receipt and a XEP-0333 received marker from the contact

def receipts(c, since):
    return [el for el in c.received[since:] if local(el) == "message"
            and child(el, NS_RECEIPTS, "received") is not None]


def test_proper_receipts(gateways, clients):
    gateways.start(module_args=["--demo-receipts", "proper"])
    c = user(clients, "proper")
    mark = c.mark()
    mid = say(c, "<body>confirm me</body><request xmlns='%s'/>" % NS_RECEIPTS)
    c.wait_for(echo_body("echo: confirm me"), 15, since=mark)
    r = c.wait_for(lambda el: local(el) == "message" and child(el, NS_RECEIPTS, "received") is not None,
                   15, since=mark, what="the network's receipt")
    assert sfrom(r) == ECHO_FULL and r.get("type") == "chat", tostr(r)
    assert child(r, NS_RECEIPTS, "received").get("id") == mid, tostr(r)
    mk = c.wait_for(lambda el: from_echo(el) and child(el, NS_MARKERS, "received") is not None, 15,
                    since=mark, what="a XEP-0333 received marker")
    assert child(mk, NS_MARKERS, "received").get("id") == mid, tostr(mk)
    c.pump(1.0)
    # the gateway's own automatic receipt (from the bare JID the user wrote to) is not sent
    assert [tostr(x) for x in receipts(c, mark)] == [tostr(r)], harness.dump(c.received[mark:])
    # a message to a contact other than echo is confirmed too
    mark = c.mark()
    mid = c.send_message(contact_jid("alice"), "hi alice", extra="<request xmlns='%s'/>" % NS_RECEIPTS)
    r = c.wait_for(lambda el: local(el) == "message" and child(el, NS_RECEIPTS, "received") is not None,
                   15, since=mark, what="alice's receipt")
    assert sfrom(r) == contact_jid("alice") + "/slidge" and child(r, NS_RECEIPTS, "received").get("id") == mid, \
        tostr(r)


# ---------------------------------------------------------------------------------------
# the contact cache across worker restarts (issue 4 "The per-user store")

NS_ROSTER = "jabber:iq:roster"
CONTACT_JIDS = [contact_jid(x) for x in harness.CONTACTS]


def restart_worker(gw, c, username="romeo"):
    """slidgectl restart of c's session; returns the mark taken before it, once the new
    worker says it is connected."""
    mark = c.mark()
    r = harness.slidgectl(gw, "restart", c.jid)
    assert r.returncode == 0, (r.stdout, r.stderr)
    c.wait_for(harness.connected_status(username), 30, since=mark)
    return mark


def roster_push(jid=None):
    def pred(el):
        if local(el) != "iq" or el.get("type") != "set":
            return False
        item = el.find("{%s}query/{%s}item" % (NS_ROSTER, NS_ROSTER))
        return item is not None and (jid is None or item.get("jid") == jid)
    pred.__doc__ = "a roster push for %s" % (jid or "anyone")
    return pred


def available_from(jid):
    def pred(el):
        return local(el) == "presence" and sfrom(el) == jid + "/slidge" and el.get("type", "") == ""
    pred.__doc__ = "an available presence from %s/slidge" % jid
    return pred


def subscribe_from_contact(el):
    return (local(el) == "presence" and el.get("type") == "subscribe"
            and harness.bare(sfrom(el)) in CONTACT_JIDS + [contact_jid("carol")])


def test_cache_no_repeated_roster_push(privileged):
    prosody, clients, gateways = privileged
    gw = gateways.start()
    c = clients.new("cachepriv")
    start = register(c, "romeo")
    for j in CONTACT_JIDS:
        c.wait_for(roster_push(j), 20, since=start)
        c.wait_for(available_from(j), 20, since=start)

    mark = restart_worker(gw, c)
    # the contacts come back online, from the cache and the new session...
    for j in CONTACT_JIDS:
        c.wait_for(available_from(j), 20, since=mark)
    c.pump(2.0)   # longer than the worker's wait for the privilege grant
    # ...but the user's roster already has them: no push again
    pushes = [el for el in c.received[mark:] if roster_push()(el)]
    assert pushes == [], "roster pushes repeated after a restart:\n" + harness.dump(pushes)
    assert c.find(subscribe_from_contact, mark) is None

    # a name changed while the worker was away is pushed again (echo is "Echo" at every
    # start, "Eko" in the cache)
    m = c.mark()
    c.send_message(ECHO, "/nick Eko")
    c.wait_for(lambda el: roster_push(ECHO)(el) and
               el.find("{%s}query/{%s}item" % (NS_ROSTER, NS_ROSTER)).get("name") == "Eko", 15, since=m)
    mark = restart_worker(gw, c)
    push = c.wait_for(roster_push(ECHO), 20, since=mark)
    assert push.find("{%s}query/{%s}item" % (NS_ROSTER, NS_ROSTER)).get("name") == "Echo", tostr(push)
    c.pump(2.0)
    others = [el for el in c.received[mark:] if roster_push()(el) and not roster_push(ECHO)(el)]
    assert others == [], harness.dump(others)


def test_cache_no_repeated_subscription_request(gateway, clients):
    c = clients.new("cachesub")
    start = register(c, "romeo")
    harness.accept_subscriptions(c, [COMPONENT] + CONTACT_JIDS, since=start)
    for j in CONTACT_JIDS:
        c.wait_for(available_from(j), 20, since=start)

    mark = restart_worker(gateway, c)
    for j in CONTACT_JIDS:
        c.wait_for(available_from(j), 20, since=mark)
    c.pump(2.0)
    assert c.find(subscribe_from_contact, mark) is None, \
        "subscription requests repeated after a restart:\n" + harness.dump(c.received[mark:])
    harness.echo_roundtrip(c, "still friends")


def test_cache_answers_probes_before_login(gateway, clients):
    """slow-login takes 3 s to log in (demo_parity.c): a probe right after a restart is
    answered from the cache, before the login is over and before any update_info."""
    c = clients.new("cacheprobe")
    start = register(c, "slow-login", timeout=40)
    harness.accept_subscriptions(c, [COMPONENT] + CONTACT_JIDS, since=start)
    c.wait_for(available_from(contact_jid("alice")), 20, since=start)
    c.send_message(contact_jid("echo"), "/avatar")   # echo gets a picture (cached too)
    ev = c.wait_for(lambda el: local(el) == "presence" and sfrom(el) == ECHO_FULL
                    and el.find("{vcard-temp:x:update}x/{vcard-temp:x:update}photo") is not None
                    and el.find("{vcard-temp:x:update}x/{vcard-temp:x:update}photo").text,
                    15, since=start, what="echo's presence with its new photo hash")
    echo_hash = ev.find("{vcard-temp:x:update}x/{vcard-temp:x:update}photo").text

    mark = c.mark()
    r = harness.slidgectl(gateway, "restart", c.jid)
    assert r.returncode == 0, (r.stdout, r.stderr)
    c.wait_for(harness.gateway_status("dnd", "Logging in…"), 20, since=mark)
    probe_mark = c.mark()
    c.send_presence(contact_jid("alice"), "probe")
    c.send_presence(ECHO, "probe")
    p = c.wait_for(available_from(contact_jid("alice")), 10, since=probe_mark)
    assert harness.status(p) == "Hello", tostr(p)
    p = c.wait_for(available_from(ECHO), 10, since=probe_mark)
    assert p.find("{vcard-temp:x:update}x/{vcard-temp:x:update}photo").text == echo_hash, tostr(p)
    done = c.wait_for(harness.connected_status("slow-login"), 20, since=mark)
    assert c.received.index(p) < c.received.index(done), "the probe waited for the login"


# ---------------------------------------------------------------------------------------
# the user's own avatar to the module (BaseSession.on_avatar, §7.1 case 32)

import hashlib  # noqa: E402
import os  # noqa: E402
import struct  # noqa: E402
import zlib  # noqa: E402

import conftest  # noqa: E402

NS_CAPS = "http://jabber.org/protocol/caps"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_AVATAR_META = "urn:xmpp:avatar:metadata"


class PepProsody(harness.Prosody):
    """The test Prosody with mod_pep, so that users have a PEP service."""

    def __init__(self, d):
        super().__init__(d)
        with open(self.config) as f:
            cfg = f.read()
        old = "modules_enabled = { "
        assert old in cfg
        with open(self.config, "w") as f:
            f.write(cfg.replace(old, old + '"pep"; ', 1))


@pytest.fixture
def pep(request, workdir, slidged_path, loop, testdir):
    yield from conftest.own_prosody(request, loop, testdir, PepProsody, "pep")


def png(w, h, seed):
    raw = b"".join(b"\0" + bytes((seed * 40 + x * 20 + y) & 255 for x in range(w * 3)) for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def publish_avatar(c, data, w, h):
    """XEP-0084 from a slixmpp client: the data node, then the metadata node."""
    sha1 = hashlib.sha1(data).hexdigest()
    x = c.xmpp
    c.run(x["xep_0084"].publish_avatar(data), 15)
    c.run(x["xep_0084"].publish_avatar_metadata(
        {"id": sha1, "type": "image/png", "bytes": str(len(data)), "width": str(w), "height": str(h)}), 15)
    return sha1


def unpublish_avatar(c):
    r = c.send_iq(c.jid, "set", "<pubsub xmlns='%s'><publish node='%s'><item id='current'>"
                  "<metadata xmlns='%s'/></item></publish></pubsub>" % (NS_PUBSUB, NS_AVATAR_META, NS_AVATAR_META))
    assert r.get("type") == "result", tostr(r)


def your_avatar(el):
    return from_echo(el) and (body(el) or "").startswith("your avatar:")


def test_user_avatar_reaches_the_module(pep):
    prosody, clients, gateways = pep
    gw = gateways.start()
    c = clients.new("avatar")
    c.xmpp.register_plugin("xep_0084")
    start = register(c, "romeo")
    harness.accept_subscriptions(c, [COMPONENT] + CONTACT_JIDS, since=start)
    c.pump(1.0)
    # in-band registration stores no preferences (sync off, as slidge): turn it on
    harness.set_preferences(c, sync_presence="false", sync_avatar="true")

    # the gateway's presence carries caps whose ver is that of slidged's disco#info, which
    # says urn:xmpp:avatar:metadata+notify
    from test_contacts import caps_ver
    p = c.wait_for(lambda el: local(el) == "presence" and sfrom(el) == COMPONENT and el.get("type", "") == ""
                   and el.find("{%s}c" % NS_CAPS) is not None, 15, since=start, what="the gateway's caps")
    cn = p.find("{%s}c" % NS_CAPS)
    r = c.send_iq(COMPONENT, "get", "<query xmlns='%s' node='%s#%s'/>"
                  % (harness.NS_DISCO_INFO, cn.get("node"), cn.get("ver")))
    assert r.get("type") == "result", tostr(r)
    q = r.find("{%s}query" % harness.NS_DISCO_INFO)
    assert caps_ver(q) == cn.get("ver"), tostr(r)
    assert "urn:xmpp:avatar:metadata+notify" in [f.get("var") for f in q], tostr(r)

    # publish: the gateway gets the event, fetches the data, on_avatar once
    data = png(5, 5, 1)
    mark = c.mark()
    sha1 = publish_avatar(c, data, 5, 5)
    m = c.wait_for(your_avatar, 20, since=mark, what="echo telling the avatar the module got")
    assert body(m) == "your avatar: %s image/png 5x5 %d" % (sha1, len(data)), tostr(m)
    # the same avatar again: no fetch, no second on_avatar
    mark = c.mark()
    publish_avatar(c, data, 5, 5)
    c.pump(2.0)
    assert c.find(your_avatar, mark) is None, harness.dump(c.received[mark:])

    # removed: on_avatar without data
    mark = c.mark()
    unpublish_avatar(c)
    m = c.wait_for(your_avatar, 20, since=mark)
    assert body(m) == "your avatar: none", tostr(m)

    # a new one, then a worker restart: fetched after login, but it is the hash already
    # given to the module, so on_avatar is not called again
    data2 = png(7, 3, 2)
    mark = c.mark()
    sha2 = publish_avatar(c, data2, 7, 3)
    m = c.wait_for(your_avatar, 20, since=mark)
    assert body(m) == "your avatar: %s image/png 7x3 %d" % (sha2, len(data2)), tostr(m)
    mark = restart_worker(gw, c)
    c.pump(2.0)
    assert c.find(your_avatar, mark) is None, harness.dump(c.received[mark:])
    harness.echo_roundtrip(c, "after the restart")


# ---------------------------------------------------------------------------------------
# the gateway's avatar (COMPONENT_AVATAR / component_avatar_path): the component's
# vCard and PEP avatar, and the XEP-0153 hash on its presences

import base64  # noqa: E402

NS_AVATAR_DATA = "urn:xmpp:avatar:data"
NS_VCARD_UPDATE = "vcard-temp:x:update"


def check_component_avatar(c, start, expected):
    sha1 = hashlib.sha1(expected).hexdigest()
    p = c.wait_for(lambda el: local(el) == "presence" and sfrom(el) == COMPONENT and el.get("type", "") == ""
                   and el.find("{%s}x" % NS_VCARD_UPDATE) is not None, 15, since=start,
                   what="the gateway's presence with its photo hash")
    assert p.findtext("{%s}x/{%s}photo" % (NS_VCARD_UPDATE, NS_VCARD_UPDATE)) == sha1, tostr(p)
    r = c.send_iq(COMPONENT, "get", "<vCard xmlns='vcard-temp'/>")
    assert r.get("type") == "result", tostr(r)
    assert r.findtext("{vcard-temp}vCard/{vcard-temp}PHOTO/{vcard-temp}TYPE") == "image/png", tostr(r)
    assert base64.b64decode(r.findtext("{vcard-temp}vCard/{vcard-temp}PHOTO/{vcard-temp}BINVAL")) == expected
    r = c.send_iq(COMPONENT, "get", "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (NS_PUBSUB, NS_AVATAR_META))
    assert r.get("type") == "result", tostr(r)
    item = r.find("{%s}pubsub/{%s}items/{%s}item" % (NS_PUBSUB, NS_PUBSUB, NS_PUBSUB))
    assert item.get("id") == sha1, tostr(r)
    info = item.find("{%s}metadata/{%s}info" % (NS_AVATAR_META, NS_AVATAR_META))
    assert (info.get("type"), info.get("bytes")) == ("image/png", str(len(expected))), tostr(r)
    r = c.send_iq(COMPONENT, "get", "<pubsub xmlns='%s'><items node='%s'><item id='%s'/></items></pubsub>"
                  % (NS_PUBSUB, NS_AVATAR_DATA, sha1))
    data = r.findtext("{%s}pubsub/{%s}items/{%s}item/{%s}data" % (NS_PUBSUB, NS_PUBSUB, NS_PUBSUB, NS_AVATAR_DATA))
    assert data is not None and base64.b64decode(data) == expected, tostr(r)


def test_component_avatar(gateway, clients):
    c = clients.new("gwavatar")
    start = register(c, "romeo")
    # the demo's built-in picture: an 8x8 PNG (fetched here through the vCard, then
    # compared everywhere else)
    r = c.send_iq(COMPONENT, "get", "<vCard xmlns='vcard-temp'/>")
    expected = base64.b64decode(r.findtext("{vcard-temp}vCard/{vcard-temp}PHOTO/{vcard-temp}BINVAL") or "")
    assert expected[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", expected[16:24]) == (8, 8), tostr(r)
    check_component_avatar(c, start, expected)


def test_component_avatar_from_a_file(gateways, clients, testdir):
    path = os.path.join(testdir, "gateway.png")
    picture = png(12, 6, 3)
    with open(path, "wb") as f:
        f.write(picture)
    os.chmod(path, 0o644)   # read by the worker's unprivileged user, before its sandbox
    gateways.start(module_args=["--demo-component-avatar", path])
    c = clients.new("gwavfile")
    start = register(c, "romeo")
    check_component_avatar(c, start, picture)


# ---------------------------------------------------------------------------------------
# XEP-0356 v1 (urn:xmpp:privilege:1), which Debian's mod_privilege does not speak: a raw
# component server grants it and checks the roster pushes and the carbon that come out

NS_PRIV1 = "urn:xmpp:privilege:1"
NS_FORWARD = "urn:xmpp:forward:0"
NS_CLIENT = "jabber:client"


def test_privilege_v1(raw_gateways, fake_server):
    gw = raw_gateways.start(ready=False, port=fake_server.port)
    conn = fake_server.accept(30, gw)
    conn.handshake(15)
    conn.send("<message from='localhost' to='%s' id='grant'><privilege xmlns='%s'>"
              "<perm access='roster' type='both'/><perm access='message' type='outgoing'/>"
              "</privilege></message>" % (COMPONENT, NS_PRIV1))
    r = harness.slidgectl(gw, "register", "romeo@localhost", "username=romeo")
    assert r.returncode == 0, (r.stdout, r.stderr)

    def push_for(jid):
        def pred(el):
            item = el.find("{%s}query/{%s}item" % (NS_ROSTER, NS_ROSTER))
            return (local(el) == "iq" and el.get("type") == "set" and el.get("to") == "romeo@localhost"
                    and item is not None and item.get("jid") == jid)
        return pred
    for legacy_id, (nick, _, _) in harness.CONTACTS.items():
        push = conn.wait_for(push_for(contact_jid(legacy_id)), 20, "a v1 roster push for %s" % legacy_id)
        assert sfrom(push) == COMPONENT, tostr(push)
        item = push.find("{%s}query/{%s}item" % (NS_ROSTER, NS_ROSTER))
        assert (item.get("subscription"), item.get("name")) == ("both", nick), tostr(push)
        assert [g.text for g in item.findall("{%s}group" % NS_ROSTER)] == ["slidge"], tostr(push)
        conn.send("<iq type='result' from='romeo@localhost' to='%s' id='%s'/>" % (COMPONENT, push.get("id")))
    assert not any(local(el) == "presence" and el.get("type") == "subscribe" and sfrom(el) in CONTACT_JIDS
                   for el in conn.elements), "a subscription request despite the roster privilege"

    # the user's message from the official app: forwarded as the user, in the v1 namespace
    conn.send("<message from='romeo@localhost/raw' to='%s' type='chat' id='m1'>"
              "<body>/carbon sent from my phone</body></message>" % ECHO)

    def carbon(el):
        p = el.find("{%s}privilege" % NS_PRIV1)
        return local(el) == "message" and p is not None and p.find("{%s}forwarded" % NS_FORWARD) is not None
    el = conn.wait_for(carbon, 20, "a privileged message in urn:xmpp:privilege:1")
    assert (sfrom(el), el.get("to")) == (COMPONENT, "localhost"), tostr(el)
    inner = el.find("{%s}privilege/{%s}forwarded/{%s}message" % (NS_PRIV1, NS_FORWARD, NS_CLIENT))
    assert inner is not None, tostr(el)
    assert (inner.get("from"), inner.get("to"), inner.get("type")) == ("romeo@localhost", ECHO, "chat"), tostr(el)
    assert body(inner) == "sent from my phone", tostr(el)


# ---------------------------------------------------------------------------------------
# a contact's avatar from a URL (LegacyContact.set_avatar with a URL), downloaded by the
# worker through --http-ports

import http.server  # noqa: E402
import threading  # noqa: E402


class PictureServer:
    """A loopback HTTP server serving pictures ({path: bytes}); counts the GETs."""

    def __init__(self, pictures):
        outer = self
        self.gets = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.gets += 1
                picture = pictures.get(self.path)
                if picture is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(picture)))
                self.end_headers()
                self.wfile.write(picture)

            def log_message(self, *a):
                pass
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def picture_server():
    s = PictureServer({"/a.png": png(9, 4, 5), "/big.png": png(300, 150, 6)})
    yield s
    s.close()


def test_contact_avatar_from_a_url(gateways, clients, picture_server):
    # the picture server's port, added to those the test Prosody's upload service needs
    args = list(getattr(gateways.prosody, "upload_args", lambda: [])())
    if "--http-ports" in args:
        i = args.index("--http-ports") + 1
        args[i] += ",%d" % picture_server.port
    else:
        args += ["--upload-service", "upload.invalid", "--http-ports", str(picture_server.port)]
    gateways.start(args=args)
    c = clients.new("avurl")
    start = register(c, "romeo")
    harness.accept_subscriptions(c, [COMPONENT] + CONTACT_JIDS, since=start)
    c.pump(0.5)
    picture = png(9, 4, 5)
    sha1 = hashlib.sha1(picture).hexdigest()
    url = "http://127.0.0.1:%d/a.png" % picture_server.port

    mark = c.mark()
    c.send_message(ECHO, "/avatar-url " + url)
    c.wait_for(lambda el: local(el) == "presence" and sfrom(el) == ECHO_FULL
                   and el.findtext("{%s}x/{%s}photo" % (NS_VCARD_UPDATE, NS_VCARD_UPDATE)) == sha1,
                   20, since=mark, what="echo's presence with the downloaded picture's hash")
    r = c.send_iq(ECHO, "get", "<vCard xmlns='vcard-temp'/>")
    assert base64.b64decode(r.findtext("{vcard-temp}vCard/{vcard-temp}PHOTO/{vcard-temp}BINVAL")) == picture
    assert picture_server.gets == 1
    # the same URL again (the same unique id): not downloaded again
    mark = c.mark()
    c.send_message(ECHO, "/avatar-url " + url)
    harness.echo_roundtrip(c, "no refetch")
    c.pump(0.5)
    assert picture_server.gets == 1
    # a URL that fails: logged, nothing changes
    c.send_message(ECHO, "/avatar-url http://127.0.0.1:%d/missing.png" % picture_server.port)
    harness.echo_roundtrip(c, "still there")
    r = c.send_iq(ECHO, "get", "<vCard xmlns='vcard-temp'/>")
    assert base64.b64decode(r.findtext("{vcard-temp}vCard/{vcard-temp}PHOTO/{vcard-temp}BINVAL")) == picture

    # slidge serves avatars of at most AVATAR_SIZE (200) pixels a side: a larger PNG is
    # downscaled, and its hash is that of what is served
    mark = c.mark()
    c.send_message(ECHO, "/avatar-url http://127.0.0.1:%d/big.png" % picture_server.port)
    ev = c.wait_for(lambda el: local(el) == "message" and sfrom(el) == ECHO and
                    el.find("{http://jabber.org/protocol/pubsub#event}event") is not None, 20, since=mark,
                    what="echo's avatar event")
    r = c.send_iq(ECHO, "get", "<vCard xmlns='vcard-temp'/>")
    served = base64.b64decode(r.findtext("{vcard-temp}vCard/{vcard-temp}PHOTO/{vcard-temp}BINVAL"))
    assert struct.unpack(">II", served[16:24]) == (200, 100), struct.unpack(">II", served[16:24])
    zlib.decompress(b"".join(served[i + 8:i + 8 + n] for i, n in chunks(served) if served[i + 4:i + 8] == b"IDAT"))
    info = ev.find(".//{%s}info" % NS_AVATAR_META)
    assert info.get("id") == hashlib.sha1(served).hexdigest(), tostr(ev)
    assert (info.get("width"), info.get("height")) == ("200", "100"), tostr(ev)


def chunks(data):
    """(offset, length) of each chunk of a PNG."""
    i, out = 8, []
    while i < len(data):
        n, = struct.unpack(">I", data[i:i + 4])
        out.append((i, n))
        i += 12 + n
    return out


def test_user_avatar_not_synced_when_the_preference_is_off(pep):
    """sync_avatar false (the registration command's preferences step): on_avatar is
    never called."""
    from test_adhoc import command, execute, submit
    prosody, clients, gateways = pep
    gateways.start()
    c = clients.new("nosync")
    c.xmpp.register_plugin("xep_0084")
    start = c.mark()
    sid = command(execute(c, "jabber:iq:register")).get("sessionid")
    command(submit(c, "jabber:iq:register", sid, {"username": "romeo", "password": "pw"}))
    cmd = command(submit(c, "jabber:iq:register", sid,
                         {"sync_presence": "true", "sync_avatar": "false"}, action="complete"))
    assert cmd.get("status") == "completed", tostr(cmd)
    c.wait_for(harness.connected_status("romeo"), 30, since=start)
    harness.accept_subscriptions(c, [COMPONENT] + CONTACT_JIDS, since=start)
    c.pump(1.0)
    mark = c.mark()
    publish_avatar(c, png(5, 5, 4), 5, 5)
    harness.echo_roundtrip(c, "no avatar for the network")
    c.pump(2.0)
    assert c.find(your_avatar, mark) is None, harness.dump(c.received[mark:])
