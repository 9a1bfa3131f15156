"""One-to-one messaging through the gateway, both directions, with the demo network's echo
contact (DEMO.md): text and hints, receipts, corrections, retractions, reactions and their
restrictions, replies with fallbacks, chat states, markers, the store surviving a restart,
and carbons of the user's own messages (XEP-0356, on a Prosody with mod_privilege).
Expected behaviour: reference/slidge.md §1 (rows 0085, 0184, 0308, 0333, 0334, 0359, 0424,
0428, 0444, 0461), §2.10, §7.1 cases 15 and 16."""

import os
import time

import pytest

import harness
from harness import (COMPONENT, DOMAIN, NS_RECEIPTS, SECRET, body, child, contact_jid, local,
                     register, sfrom, stanza_error, tostr)

ECHO = contact_jid("echo")
ECHO_FULL = ECHO + "/slidge"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_HINTS = "urn:xmpp:hints"
NS_MARKERS = "urn:xmpp:chat-markers:0"
NS_CORRECT = "urn:xmpp:message-correct:0"
NS_REACTIONS = "urn:xmpp:reactions:0"
NS_RETRACT = "urn:xmpp:message-retract:1"
NS_FALLBACK = "urn:xmpp:fallback:0"
NS_REPLY = "urn:xmpp:reply:0"
NS_SID = "urn:xmpp:sid:0"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_CLIENT = "jabber:client"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_OGP = "https://ogp.me/ns#"
THUMBS = "\U0001f44d"
HEART = "\u2764"


def from_echo(el):
    return local(el) == "message" and sfrom(el) == ECHO_FULL


def echo_body(text):
    def pred(el):
        return from_echo(el) and body(el) == text
    pred.__doc__ = "a message %r from %s" % (text, ECHO_FULL)
    return pred


def with_child(ns, name, **attrs):
    def pred(el):
        c = child(el, ns, name)
        return from_echo(el) and c is not None and all(c.get(k) == v for k, v in attrs.items())
    pred.__doc__ = "a message from %s with <%s xmlns=%s %s>" % (ECHO_FULL, name, ns, attrs)
    return pred


def assert_contact_message(m):
    """slidge §2.10: from the full contact JID, type chat, to the user's bare JID."""
    assert m.get("type") == "chat", tostr(m)
    assert sfrom(m) == ECHO_FULL, tostr(m)
    assert "/" not in m.get("to", ""), "contact messages go to the bare JID: " + tostr(m)


def user(clients, prefix, username="romeo"):
    c = clients.new(prefix)
    register(c, username)
    return c


def send(c, to, inner, mid=None, mtype="chat"):
    mid = mid or c.new_id()
    c.send("<message to='%s' type='%s' id='%s'>%s</message>" % (to, mtype, mid, inner))
    return mid


def no_error(c, mid, since):
    err = c.find(lambda el: local(el) == "message" and el.get("type") == "error"
                 and el.get("id") == mid, since)
    assert err is None, "unexpected error: " + tostr(err)


# ---------------------------------------------------------------------------------------
# text, hints, ids, receipts

def test_text_hints_ids_and_receipt(gateway, clients):
    c = user(clients, "text")
    start = c.mark()
    mid = send(c, ECHO, "<body>hello</body><request xmlns='%s'/><origin-id xmlns='%s' id='oid-1'/>"
               % (NS_RECEIPTS, NS_SID))
    m = c.wait_for(echo_body("echo: hello"), 15, since=start)
    assert_contact_message(m)
    # legacy id e1 is the XMPP id (legacy_to_xmpp_msg_id is the identity for the demo)
    assert m.get("id") == "e1", tostr(m)
    assert child(m, NS_CHATSTATES, "active") is not None, tostr(m)
    assert child(m, NS_MARKERS, "markable") is not None, tostr(m)
    assert child(m, NS_HINTS, "store") is not None, tostr(m)
    assert child(m, NS_HINTS, "no-store") is None, tostr(m)
    r = c.wait_for(lambda el: local(el) == "message" and child(el, NS_RECEIPTS, "received") is not None,
                   15, since=start, what="a XEP-0184 receipt")
    assert child(r, NS_RECEIPTS, "received").get("id") == mid, tostr(r)
    assert sfrom(r) == ECHO and r.get("type") == "chat", tostr(r)
    no_error(c, mid, start)


def test_chat_states_both_ways(gateway, clients):
    c = user(clients, "states")
    start = c.mark()
    send(c, ECHO, "<composing xmlns='%s'/>" % NS_CHATSTATES)
    m = c.wait_for(with_child(NS_CHATSTATES, "composing"), 15, since=start)
    assert_contact_message(m)
    assert child(m, NS_HINTS, "no-store") is not None, tostr(m)
    assert body(m) is None, tostr(m)
    # paused twice: a repeated state is sent once; composing always (a new burst)
    send(c, ECHO, "<paused xmlns='%s'/>" % NS_CHATSTATES)
    send(c, ECHO, "<paused xmlns='%s'/>" % NS_CHATSTATES)
    send(c, ECHO, "<composing xmlns='%s'/>" % NS_CHATSTATES)
    c.wait_for(lambda el: with_child(NS_CHATSTATES, "composing")(el) and el is not m, 15, since=start,
               what="a second composing")
    c.pump(1.0)
    paused = [el for el in c.received[start:] if with_child(NS_CHATSTATES, "paused")(el)]
    assert len(paused) == 1, "paused should be deduplicated:\n" + harness.dump(c.received[start:])


# ---------------------------------------------------------------------------------------
# XEP-0308 corrections, XEP-0424 retractions

def test_correction_both_ways(gateway, clients):
    c = user(clients, "correct")
    start = c.mark()
    mid = send(c, ECHO, "<body>helo</body>")
    c.wait_for(echo_body("echo: helo"), 15, since=start)
    mark = c.mark()
    cid = send(c, ECHO, "<body>hello</body><replace xmlns='%s' id='%s'/>" % (NS_CORRECT, mid))
    m = c.wait_for(echo_body("echo: hello"), 15, since=mark)
    assert_contact_message(m)
    assert child(m, NS_CORRECT, "replace") is not None, tostr(m)
    assert child(m, NS_CORRECT, "replace").get("id") == "e1", tostr(m)
    assert m.get("id") != "e1", "a correction needs its own id: " + tostr(m)
    no_error(c, cid, mark)


def test_empty_correction_is_retraction(gateway, clients):
    c = user(clients, "emptycorr")
    start = c.mark()
    mid = send(c, ECHO, "<body>oops</body>")
    c.wait_for(echo_body("echo: oops"), 15, since=start)
    mark = c.mark()
    send(c, ECHO, "<body> </body><replace xmlns='%s' id='%s'/>" % (NS_CORRECT, mid))
    m = c.wait_for(with_child(NS_RETRACT, "retract", id="e1"), 15, since=mark)
    # reference/slidge.md §7.1 case 15: the exact shape of a legacy retraction
    assert_contact_message(m)
    assert body(m) == "/me retracted the message e1", tostr(m)
    assert child(m, NS_CHATSTATES, "active") is not None, tostr(m)
    assert child(m, NS_HINTS, "store") is not None, tostr(m)
    fb = child(m, NS_FALLBACK, "fallback")
    assert fb is not None and fb.get("for") == NS_RETRACT, tostr(m)
    assert child(m, NS_CORRECT, "replace").get("id") == "e1", tostr(m)
    assert child(m, NS_MARKERS, "markable") is None, tostr(m)


def test_retraction_from_user(gateway, clients):
    c = user(clients, "retract")
    start = c.mark()
    mid = send(c, ECHO, "<body>regret</body>")
    c.wait_for(echo_body("echo: regret"), 15, since=start)
    mark = c.mark()
    # what Conversations/Gajim send: the retraction, its fallback body and 0428 marker
    rid = send(c, ECHO, "<retract xmlns='%s' id='%s'/><fallback xmlns='%s' for='%s'/>"
               "<body>/me retracted a message</body><store xmlns='%s'/>"
               % (NS_RETRACT, mid, NS_FALLBACK, NS_RETRACT, NS_HINTS))
    m = c.wait_for(with_child(NS_RETRACT, "retract", id="e1"), 15, since=mark)
    assert body(m) == "/me retracted the message e1", tostr(m)
    c.pump(0.5)
    assert c.find(lambda el: from_echo(el) and (body(el) or "").startswith("echo: /me"), mark) is None, \
        "the retraction's fallback body was sent as text"
    no_error(c, rid, mark)


# ---------------------------------------------------------------------------------------
# XEP-0444 reactions

def reactions_of(el):
    r = child(el, NS_REACTIONS, "reactions")
    return r.get("id"), [x.text for x in r.findall("{%s}reaction" % NS_REACTIONS)]


def test_reactions_both_ways(gateway, clients):
    c = user(clients, "react")
    start = c.mark()
    mid = send(c, ECHO, "<body>react to me</body>")
    c.wait_for(echo_body("echo: react to me"), 15, since=start)
    mark = c.mark()
    # VS16 (U+FE0F) is stripped before on_react, as slidge does
    rid = send(c, ECHO, "<reactions xmlns='%s' id='%s'><reaction>%s</reaction><reaction>%s\ufe0f</reaction>"
               "</reactions><store xmlns='%s'/>" % (NS_REACTIONS, mid, THUMBS, HEART, NS_HINTS))
    m = c.wait_for(lambda el: from_echo(el) and child(el, NS_REACTIONS, "reactions") is not None,
                   15, since=mark, what="echo's reactions")
    assert_contact_message(m)
    # echo reacted to u1, which maps back to the XMPP id of the user's message
    assert reactions_of(m) == (mid, [THUMBS, HEART]), tostr(m)
    assert child(m, NS_HINTS, "store") is not None, tostr(m)
    assert body(m) is None, tostr(m)
    no_error(c, rid, mark)

    # /react-last: the network reacts to the user's last message
    mark = c.mark()
    send(c, ECHO, "<body>/react-last %s</body>" % HEART)
    m = c.wait_for(lambda el: from_echo(el) and child(el, NS_REACTIONS, "reactions") is not None,
                   15, since=mark, what="echo's reaction to the last message")
    assert reactions_of(m) == (mid, [HEART]), tostr(m)

    # an empty set removes the reactions
    mark = c.mark()
    send(c, ECHO, "<reactions xmlns='%s' id='%s'/>" % (NS_REACTIONS, mid))
    m = c.wait_for(lambda el: from_echo(el) and child(el, NS_REACTIONS, "reactions") is not None,
                   15, since=mark, what="echo's empty reactions")
    assert reactions_of(m) == (mid, []), tostr(m)


@pytest.mark.parametrize("mode,emojis,error", [
    ("single", [THUMBS, HEART], "Maximum 1 emoji/message"),
    ("limited", ["\U0001f600"], "You can only react with the following emojis: " + THUMBS + HEART),
])
def test_reaction_restrictions(gateways, clients, mode, emojis, error):
    gateways.start(module_args=["--demo-reactions", mode])
    c = user(clients, "restr")
    start = c.mark()
    mid = send(c, ECHO, "<body>restricted</body>")
    c.wait_for(echo_body("echo: restricted"), 15, since=start)
    mark = c.mark()
    rid = send(c, ECHO, "<reactions xmlns='%s' id='%s'>%s</reactions>"
               % (NS_REACTIONS, mid, "".join("<reaction>%s</reaction>" % e for e in emojis)))
    err = c.wait_for(lambda el: local(el) == "message" and el.get("type") == "error" and el.get("id") == rid,
                     15, since=mark, what="not-acceptable for the reaction")
    assert stanza_error(err) == ("modify", "not-acceptable", error), tostr(err)
    c.wait_for(lambda el: local(el) == "message" and sfrom(el) == COMPONENT and body(el) == error,
               15, since=mark, what="the gateway's message %r" % error)
    # the legacy side got an empty set: echo mirrors it
    m = c.wait_for(lambda el: from_echo(el) and child(el, NS_REACTIONS, "reactions") is not None,
                   15, since=mark, what="echo's reset reactions")
    assert reactions_of(m) == (mid, []), tostr(m)
    # an allowed reaction goes through
    mark = c.mark()
    send(c, ECHO, "<reactions xmlns='%s' id='%s'><reaction>%s</reaction></reactions>"
         % (NS_REACTIONS, mid, THUMBS))
    m = c.wait_for(lambda el: from_echo(el) and child(el, NS_REACTIONS, "reactions") is not None,
                   15, since=mark, what="echo's reaction")
    assert reactions_of(m) == (mid, [THUMBS]), tostr(m)


# ---------------------------------------------------------------------------------------
# XEP-0461 replies (with XEP-0428 fallbacks), XEP-0333 markers

def test_replies_both_ways(gateway, clients):
    c = user(clients, "reply")
    start = c.mark()
    mid = send(c, ECHO, "<body>first line\n  second line  </body>")
    c.wait_for(echo_body("echo: first line\n  second line  "), 15, since=start)

    # C->U: echo replies to the user's last message, with a quoted fallback
    mark = c.mark()
    send(c, ECHO, "<body>/reply indeed</body>")
    m = c.wait_for(lambda el: from_echo(el) and child(el, NS_REPLY, "reply") is not None, 15, since=mark,
                   what="echo's reply")
    assert_contact_message(m)
    r = child(m, NS_REPLY, "reply")
    assert r.get("id") == mid and r.get("to") == c.jid, tostr(m)
    user_local = c.jid.split("@")[0]
    quoted = "> %s:\n> first line\n> second line\n" % user_local
    assert body(m) == quoted + "indeed", tostr(m)
    fb = child(m, NS_FALLBACK, "fallback")
    assert fb is not None and fb.get("for") == NS_REPLY, tostr(m)
    fbody = child(fb, NS_FALLBACK, "body")
    assert (fbody.get("start"), fbody.get("end")) == ("0", str(len(quoted))), tostr(m)

    # U->C: the quoted fallback is stripped before on_text (echo repeats the text only)
    mark = c.mark()
    q = "> Echo:\n> echo: first line\n"
    send(c, ECHO, "<body>%s%s</body><reply xmlns='%s' to='%s' id='e1'/>"
         "<fallback xmlns='%s' for='%s'><body start='0' end='%d'/></fallback>"
         % (q, "me too \u00e9\U0001f600", NS_REPLY, ECHO_FULL, NS_FALLBACK, NS_REPLY, len(q)))
    c.wait_for(echo_body("echo: me too \u00e9\U0001f600"), 15, since=mark)


def test_markers_from_the_network(gateway, clients):
    c = user(clients, "markers")
    start = c.mark()
    mid = send(c, ECHO, "<body>read me</body>")
    c.wait_for(echo_body("echo: read me"), 15, since=start)
    mark = c.mark()
    send(c, ECHO, "<body>/read-last</body>")
    m = c.wait_for(with_child(NS_MARKERS, "displayed", id=mid), 15, since=mark)
    assert_contact_message(m)
    assert body(m) is None and child(m, NS_HINTS, "store") is None, tostr(m)
    # a displayed marker from the user is taken without an error (on_displayed)
    mark = c.mark()
    did = send(c, ECHO, "<displayed xmlns='%s' id='e1'/>" % NS_MARKERS)
    c.pump(1.0)
    no_error(c, did, mark)


def test_link_previews_pass_through(gateway, clients):
    """Cheogram's RDF link previews from the user do not disturb the text."""
    c = user(clients, "preview")
    start = c.mark()
    send(c, ECHO, "<body>see https://example.org</body>"
         "<rdf:Description xmlns:rdf='%s' xmlns:og='%s' rdf:about='https://example.org'>"
         "<og:title>Example</og:title><og:description>An example</og:description>"
         "</rdf:Description>" % (NS_RDF, NS_OGP))
    c.wait_for(echo_body("echo: see https://example.org"), 15, since=start)


# ---------------------------------------------------------------------------------------
# the per-user store (LMDB in the worker's state dir)

def test_id_maps_survive_a_restart(gateways, clients):
    gw = gateways.start()
    c = user(clients, "persist")
    start = c.mark()
    mid = send(c, ECHO, "<body>remember me</body>")
    c.wait_for(echo_body("echo: remember me"), 15, since=start)
    files = []
    for root, _, names in os.walk(gw.home):
        files += [n for n in names if n.startswith("messages.mdb")]
    assert "messages.mdb" in files, "no store in the state dir: %s" % files

    mark = c.mark()
    gateways.restart(gw)
    c.wait_for(harness.connected_status("romeo"), 30, since=mark)
    # a reaction to the message sent before the restart still finds its legacy id u1
    mark = c.mark()
    send(c, ECHO, "<reactions xmlns='%s' id='%s'><reaction>%s</reaction></reactions>"
         % (NS_REACTIONS, mid, THUMBS))
    m = c.wait_for(lambda el: from_echo(el) and child(el, NS_REACTIONS, "reactions") is not None,
                   15, since=mark, what="echo's reaction after the restart")
    assert reactions_of(m) == (mid, [THUMBS]), tostr(m)
    # and a retraction too: echo retracts its echo e1
    mark = c.mark()
    send(c, ECHO, "<retract xmlns='%s' id='%s'/>" % (NS_RETRACT, mid))
    c.wait_for(with_child(NS_RETRACT, "retract", id="e1"), 15, since=mark)


# ---------------------------------------------------------------------------------------
# carbons of the user's own messages (XEP-0356 privileged messages)

PRIVILEGE_MODULES = '"privilege"; "carbons"; '
PRIVILEGE_CFG = """privileged_entities = {{
    ["{component}"] = {{ roster = "both"; message = "outgoing" }};
}}
"""


class PrivilegedProsody(harness.Prosody):
    """The test Prosody with mod_privilege (Debian's prosody-modules) granting the gateway
    message (outgoing) and roster privileges, and mod_carbons."""

    def __init__(self, workdir):
        super().__init__(workdir)
        with open(self.config) as f:
            cfg = f.read()
        old = "modules_enabled = { "
        assert old in cfg
        cfg = cfg.replace(old, old + PRIVILEGE_MODULES, 1)
        vh = 'VirtualHost "%s"\n' % DOMAIN
        cfg = cfg.replace(vh, PRIVILEGE_CFG.format(component=COMPONENT) + "\n" + vh, 1)
        # mod_privilege learns of the component's authentication on the component's host
        comp = 'component_secret = "%s"' % SECRET
        assert comp in cfg
        cfg = cfg.replace(comp, comp + '\n    modules_enabled = { "privilege" }', 1)
        with open(self.config, "w") as f:
            f.write(cfg)


@pytest.fixture
def privileged(request, workdir, slidged_path, loop, testdir):
    if not os.path.exists("/usr/lib/prosody/modules/mod_privilege/mod_privilege.lua"):
        pytest.skip("mod_privilege is not installed (apt-get install prosody-modules)")
    import conftest
    yield from conftest.own_prosody(request, loop, testdir, PrivilegedProsody, "privileged")


def enable_carbons(c):
    r = c.send_iq(c.jid, "set", "<enable xmlns='%s'/>" % NS_CARBONS)
    assert r.get("type") == "result", "carbons not enabled: " + tostr(r)


def test_carbon_from_the_official_app(privileged):
    prosody, clients, gateways = privileged
    gw = gateways.start()
    c = clients.new("carbon")
    enable_carbons(c)
    register(c, "romeo")
    c.pump(1.0)
    start = c.mark()
    send(c, ECHO, "<body>/carbon sent from my phone</body>")

    def sent_copy(el):
        s = child(el, NS_CARBONS, "sent")
        return local(el) == "message" and s is not None
    try:
        el = c.wait_for(sent_copy, 10, since=start, what="a carbon of the privileged message")
    except AssertionError:
        if "no XEP-0356 message privilege" in gw.log_text():
            pytest.skip("the gateway got no message privilege from this Prosody (see its log)")
        raise
    fwd = child(child(el, NS_CARBONS, "sent"), NS_FORWARD, "forwarded")
    inner = child(fwd, NS_CLIENT, "message")
    assert inner is not None, tostr(el)
    # reference/slidge.md §7.1 case 16: from the user's bare JID to the contact
    assert harness.bare(inner.get("from")) == c.jid and inner.get("to") == ECHO, tostr(el)
    assert body(inner) == "sent from my phone" and inner.get("type") == "chat", tostr(el)
    assert inner.get("id") == "c1", tostr(el)
    # the copy the server routes to the gateway is not taken as a new message
    c.pump(1.0)
    assert c.find(echo_body("echo: sent from my phone"), start) is None


def test_carbon_without_privilege_is_dropped(gateway, clients):
    c = user(clients, "nocarbon")
    start = c.mark()
    mid = send(c, ECHO, "<body>/carbon nobody sees this</body>")
    c.pump(1.5)
    assert c.find(lambda el: "nobody sees this" in (body(el) or ""), start) is None, \
        harness.dump(c.received[start:])
    no_error(c, mid, start)
    # the session goes on
    harness.echo_roundtrip(c, "still here")
