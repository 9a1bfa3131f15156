"""Contact presentation, seen from a real client through Prosody: per-contact disco and caps,
vCards (vcard-temp and vCard4), avatars (XEP-0084 PEP items and events, XEP-0153 hashes),
PEP nick events, search (XEP-0055) and jabber:iq:gateway (XEP-0100), presence subscriptions
and probes, the user's presence towards the module (on_presence), and XEP-0356 roster pushes
with Prosody's mod_privilege (and the subscription fallback without it).
Expected behaviour: reference/slidge.md §1, §2.2-2.4, §2.10, §7.1 cases 1, 2, 10, 12, 13, 16;
DEMO.md (alice's avatar and vCard, /nick, /avatar, /friend-request, SEARCH_FIELDS)."""

import base64
import hashlib
import os
import struct
import zlib

import pytest

import conftest
import harness
from harness import (COMPONENT, CONTACTS, NS_DATA, NS_DISCO_INFO, NS_NICK, accept_subscriptions,
                     body, contact_jid, is_message, is_presence, local, register, sfrom,
                     stanza_error, status, tostr)

NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_VCARD_TEMP = "vcard-temp"
NS_VCARD_UPDATE = "vcard-temp:x:update"
NS_VCARD4 = "urn:ietf:params:xml:ns:vcard-4.0"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_EVENT = "http://jabber.org/protocol/pubsub#event"
NS_AVATAR_META = "urn:xmpp:avatar:metadata"
NS_AVATAR_DATA = "urn:xmpp:avatar:data"
NS_SEARCH = "jabber:iq:search"
NS_GATEWAY = "jabber:iq:gateway"
NS_ROSTER = "jabber:iq:roster"

ALL_CONTACTS = [contact_jid(c) for c in CONTACTS]

# slidge's ChatterDiscoMixin features, in its order (jabber:x:conference left out: no groups)
CONTACT_FEATURES = [
    "http://jabber.org/protocol/chatstates",
    "urn:xmpp:receipts",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:chat-markers:0",
    "jabber:x:oob",
    "urn:xmpp:reactions:0",
    "urn:xmpp:message-retract:0",
    "urn:xmpp:reply:0",
    "urn:ietf:params:xml:ns:vcard-4.0",
]


def caps_ver(query):
    """XEP-0115 §5.1 ver string of a disco#info <query/> (identities and features only)."""
    ids = sorted("%s/%s/%s/%s" % (i.get("category"), i.get("type"),
                                  i.get("{http://www.w3.org/XML/1998/namespace}lang", ""),
                                  i.get("name", ""))
                 for i in query.findall("{%s}identity" % NS_DISCO_INFO))
    feats = sorted(f.get("var") for f in query.findall("{%s}feature" % NS_DISCO_INFO))
    s = "".join(x + "<" for x in ids + feats)
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def png_size(data):
    """(width, height) of a PNG after checking every chunk's CRC and inflating IDAT."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    i, idat, size = 8, b"", None
    while i < len(data):
        n, = struct.unpack(">I", data[i:i + 4])
        kind, payload = data[i + 4:i + 8], data[i + 8:i + 8 + n]
        crc, = struct.unpack(">I", data[i + 8 + n:i + 12 + n])
        assert zlib.crc32(kind + payload) == crc, "bad CRC in chunk %r" % kind
        if kind == b"IHDR":
            size = struct.unpack(">II", payload[:8])
        elif kind == b"IDAT":
            idat += payload
        i += 12 + n
    raw = zlib.decompress(idat)
    assert len(raw) == size[1] * (1 + size[0] * 3), "IDAT of %d bytes for %s" % (len(raw), size)
    return size


def iq_ok(client, to, itype, payload):
    r = client.send_iq(to, itype, payload)
    assert r.get("type") == "result", tostr(r)
    return r


def friends(client, start):
    """Accept the gateway's and the contacts' subscription requests (fallback)."""
    accept_subscriptions(client, [COMPONENT] + ALL_CONTACTS, since=start)
    client.pump(0.5)


def is_event(frm, node):
    def pred(el):
        ev = el.find("{%s}event" % NS_EVENT)
        return (local(el) == "message" and el.get("type") == "headline" and sfrom(el) == frm
                and ev is not None and ev.find("{%s}items" % NS_EVENT) is not None
                and ev.find("{%s}items" % NS_EVENT).get("node") == node)
    pred.__doc__ = "a PEP event %s from %s" % (node, frm)
    return pred


def event_item(el):
    return el.find("{%s}event/{%s}items/{%s}item" % (NS_EVENT, NS_EVENT, NS_EVENT))


def photo_hash(presence):
    x = presence.find("{%s}x" % NS_VCARD_UPDATE)
    if x is None:
        return None
    p = x.find("{%s}photo" % NS_VCARD_UPDATE)
    return None if p is None else (p.text or "")


def available_from(jid):
    def pred(el):
        return local(el) == "presence" and sfrom(el) == jid + "/slidge" and el.get("type", "") == ""
    pred.__doc__ = "an available presence from %s/slidge" % jid
    return pred


# ---------------------------------------------------------------------------------------
# XEP-0030 / XEP-0115: a contact's disco and caps (§7.1 case 10)

def test_contact_disco_and_caps(gateway, clients):
    c = clients.new("disco")
    start = register(c, "romeo")
    friends(c, start)
    alice = contact_jid("alice")

    r = iq_ok(c, alice + "/slidge", "get", "<query xmlns='%s'/>" % NS_DISCO_INFO)
    q = r.find("{%s}query" % NS_DISCO_INFO)
    ids = [(i.get("category"), i.get("type"), i.get("name")) for i in q.findall("{%s}identity" % NS_DISCO_INFO)]
    assert ids == [("client", "pc", "Demo network")], tostr(r)
    assert [f.get("var") for f in q.findall("{%s}feature" % NS_DISCO_INFO)] == CONTACT_FEATURES, tostr(r)
    ver = caps_ver(q)

    r = iq_ok(c, alice, "get", "<query xmlns='%s'/>" % NS_DISCO_INFO)
    q = r.find("{%s}query" % NS_DISCO_INFO)
    ids = [(i.get("category"), i.get("type"), i.get("name")) for i in q.findall("{%s}identity" % NS_DISCO_INFO)]
    assert ids == [("account", "registered", "Demo network"), ("pubsub", "pep", "Demo network")], tostr(r)
    assert [f.get("var") for f in q.findall("{%s}feature" % NS_DISCO_INFO)] == [
        "http://jabber.org/protocol/pubsub", "http://jabber.org/protocol/pubsub#retrieve-items",
        "http://jabber.org/protocol/pubsub#subscribe"], tostr(r)

    r = iq_ok(c, alice, "get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS)
    assert list(r.find("{%s}query" % NS_DISCO_ITEMS)) == [], tostr(r)

    # an unknown contact
    r = c.send_iq(contact_jid("nobody"), "get", "<query xmlns='%s'/>" % NS_DISCO_INFO)
    assert stanza_error(r)[:2] == ("cancel", "item-not-found"), tostr(r)

    # every available presence of a contact carries caps with that ver (XEP-0115)
    p = c.wait_for(available_from(alice), 15, since=start)
    caps = p.find("{%s}c" % NS_CAPS)
    assert caps is not None, tostr(p)
    assert caps.get("hash") == "sha-1" and caps.get("ver") == ver, tostr(p)
    # and node#ver answers the same info
    r = iq_ok(c, alice + "/slidge", "get", "<query xmlns='%s' node='%s#%s'/>"
              % (NS_DISCO_INFO, caps.get("node"), ver))
    q = r.find("{%s}query" % NS_DISCO_INFO)
    assert q.get("node") == "%s#%s" % (caps.get("node"), ver) and caps_ver(q) == ver, tostr(r)


# ---------------------------------------------------------------------------------------
# XEP-0054 / XEP-0153 / XEP-0292 / XEP-0084: alice's vCard and avatar (DEMO.md)

def test_alice_vcard_and_avatar(gateway, clients):
    c = clients.new("vcard")
    start = register(c, "romeo")
    friends(c, start)
    alice = contact_jid("alice")

    r = iq_ok(c, alice, "get", "<vCard xmlns='%s'/>" % NS_VCARD_TEMP)
    v = r.find("{%s}vCard" % NS_VCARD_TEMP)
    assert v.findtext("{%s}FN" % NS_VCARD_TEMP) == "Alice Liddell", tostr(r)
    assert v.findtext("{vcard-temp}EMAIL/{vcard-temp}USERID") == "alice@demo.invalid", tostr(r)
    assert v.findtext("{vcard-temp}PHOTO/{vcard-temp}TYPE") == "image/png", tostr(r)
    png = base64.b64decode(v.findtext("{vcard-temp}PHOTO/{vcard-temp}BINVAL"))
    assert png_size(png) == (64, 64)
    sha1 = hashlib.sha1(png).hexdigest()

    # XEP-0153: the hash in alice's presence
    p = c.wait_for(lambda el: available_from(alice)(el) and photo_hash(el) is not None, 15, since=start,
                   what="alice's presence with a photo hash")
    assert photo_hash(p) == sha1, tostr(p)

    # XEP-0292 vCard4
    r = iq_ok(c, alice, "get", "<vcard xmlns='%s'/>" % NS_VCARD4)
    v4 = r.find("{%s}vcard" % NS_VCARD4)
    assert v4.findtext("{%s}fn/{%s}text" % (NS_VCARD4, NS_VCARD4)) == "Alice Liddell", tostr(r)
    assert v4.findtext("{%s}email/{%s}text" % (NS_VCARD4, NS_VCARD4)) == "alice@demo.invalid", tostr(r)
    assert v4.findtext("{%s}impp/{%s}uri" % (NS_VCARD4, NS_VCARD4)) == "xmpp:" + alice, tostr(r)
    # bob has none: an empty vcard
    r = iq_ok(c, contact_jid("bob"), "get", "<vcard xmlns='%s'/>" % NS_VCARD4)
    assert list(r.find("{%s}vcard" % NS_VCARD4)) == [], tostr(r)

    # XEP-0084 through the contact's virtual PEP service
    r = iq_ok(c, alice, "get", "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (NS_PUBSUB, NS_AVATAR_META))
    item = r.find("{%s}pubsub/{%s}items/{%s}item" % (NS_PUBSUB, NS_PUBSUB, NS_PUBSUB))
    info = item.find("{%s}metadata/{%s}info" % (NS_AVATAR_META, NS_AVATAR_META))
    assert item.get("id") == sha1 and info.get("id") == sha1, tostr(r)
    assert (info.get("type"), info.get("bytes"), info.get("width"), info.get("height")) == \
        ("image/png", str(len(png)), "64", "64"), tostr(r)
    r = iq_ok(c, alice, "get", "<pubsub xmlns='%s'><items node='%s'><item id='%s'/></items></pubsub>"
              % (NS_PUBSUB, NS_AVATAR_DATA, sha1))
    data = r.findtext("{%s}pubsub/{%s}items/{%s}item/{%s}data" % (NS_PUBSUB, NS_PUBSUB, NS_PUBSUB, NS_AVATAR_DATA))
    assert base64.b64decode(data) == png
    r = iq_ok(c, alice, "get", "<pubsub xmlns='%s'><items node='urn:xmpp:vcard4'/></pubsub>" % NS_PUBSUB)
    item = r.find("{%s}pubsub/{%s}items/{%s}item" % (NS_PUBSUB, NS_PUBSUB, NS_PUBSUB))
    assert item.get("id") == "current" and item.find("{%s}vcard" % NS_VCARD4) is not None, tostr(r)
    # a wrong item id, and a contact without avatar: item-not-found
    r = c.send_iq(alice, "get", "<pubsub xmlns='%s'><items node='%s'><item id='nope'/></items></pubsub>"
                  % (NS_PUBSUB, NS_AVATAR_DATA))
    assert stanza_error(r)[1] == "item-not-found", tostr(r)
    r = c.send_iq(contact_jid("bob"), "get", "<pubsub xmlns='%s'><items node='%s'/></pubsub>"
                  % (NS_PUBSUB, NS_AVATAR_META))
    assert stanza_error(r)[1] == "item-not-found", tostr(r)


# ---------------------------------------------------------------------------------------
# XEP-0172 nick events, avatar changes (/nick, /avatar, /avatar none)

def test_nick_and_avatar_changes(gateway, clients):
    c = clients.new("nick")
    start = register(c, "romeo")
    friends(c, start)
    echo = contact_jid("echo")

    mark = c.mark()
    c.send_message(echo, "/nick Eko")
    ev = c.wait_for(is_event(echo, NS_NICK), 15, since=mark)
    assert ev.get("to") == c.jid, tostr(ev)
    assert event_item(ev).findtext("{%s}nick" % NS_NICK) == "Eko", tostr(ev)

    mark = c.mark()
    c.send_message(echo, "/avatar")
    ev = c.wait_for(is_event(echo, NS_AVATAR_META), 15, since=mark)
    item = event_item(ev)
    info = item.find("{%s}metadata/{%s}info" % (NS_AVATAR_META, NS_AVATAR_META))
    assert info is not None and info.get("id") == item.get("id"), tostr(ev)
    p = c.wait_for(lambda el: available_from(echo)(el) and photo_hash(el), 15, since=mark,
                   what="echo's presence with the new photo hash")
    assert photo_hash(p) == item.get("id"), tostr(p)
    r = iq_ok(c, echo, "get", "<vCard xmlns='%s'/>" % NS_VCARD_TEMP)
    png = base64.b64decode(r.findtext("{vcard-temp}vCard/{vcard-temp}PHOTO/{vcard-temp}BINVAL"))
    assert hashlib.sha1(png).hexdigest() == item.get("id") and png_size(png) == (64, 64)
    first = item.get("id")

    mark = c.mark()
    c.send_message(echo, "/avatar")
    ev = c.wait_for(is_event(echo, NS_AVATAR_META), 15, since=mark)
    assert event_item(ev).get("id") not in (None, first), "a second /avatar is a new picture: " + tostr(ev)

    mark = c.mark()
    c.send_message(echo, "/avatar none")
    ev = c.wait_for(is_event(echo, NS_AVATAR_META), 15, since=mark)
    meta = event_item(ev).find("{%s}metadata" % NS_AVATAR_META)
    assert meta is not None and list(meta) == [], "removal is an empty <metadata/>: " + tostr(ev)
    p = c.wait_for(lambda el: available_from(echo)(el) and photo_hash(el) == "", 15, since=mark,
                   what="echo's presence with an empty <photo/>")
    r = c.send_iq(echo, "get", "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (NS_PUBSUB, NS_AVATAR_META))
    assert stanza_error(r)[1] == "item-not-found", tostr(r)


# ---------------------------------------------------------------------------------------
# XEP-0055 search, XEP-0100 jabber:iq:gateway (§7.1 cases 1-2)

def test_search_and_gateway_prompt(gateway, clients):
    c = clients.new("search")
    register(c, "romeo")

    r = iq_ok(c, COMPONENT, "get", "<query xmlns='%s'/>" % NS_SEARCH)
    x = r.find("{%s}query/{%s}x" % (NS_SEARCH, NS_DATA))
    assert x.get("type") == "form" and x.findtext("{%s}title" % NS_DATA) == "Search for legacy contacts", tostr(r)
    fields = x.findall("{%s}field" % NS_DATA)
    assert [(f.get("var"), f.get("label")) for f in fields] == [("phone", "Phone number")], tostr(r)
    assert fields[0].find("{%s}required" % NS_DATA) is not None, tostr(r)

    def submit(phone):
        return c.send_iq(COMPONENT, "set", "<query xmlns='%s'><x xmlns='%s' type='submit'>"
                         "<field var='phone'><value>%s</value></field></x></query>" % (NS_SEARCH, NS_DATA, phone))
    r = submit("+1000")
    assert r.get("type") == "result", tostr(r)
    x = r.find("{%s}query/{%s}x" % (NS_SEARCH, NS_DATA))
    rep = x.findall("{%s}reported/{%s}field" % (NS_DATA, NS_DATA))
    assert [(f.get("var"), f.get("type")) for f in rep] == [("jid", "jid-single")], tostr(r)
    items = x.findall("{%s}item" % NS_DATA)
    assert [i.findtext("{%s}field/{%s}value" % (NS_DATA, NS_DATA)) for i in items] == [contact_jid("alice")], tostr(r)
    r = submit("+2000")
    assert stanza_error(r) == ("cancel", "item-not-found", "Nothing was found"), tostr(r)

    r = iq_ok(c, COMPONENT, "get", "<query xmlns='%s'/>" % NS_GATEWAY)
    q = r.find("{%s}query" % NS_GATEWAY)
    assert (q.findtext("{%s}desc" % NS_GATEWAY), q.findtext("{%s}prompt" % NS_GATEWAY)) == \
        ("Search for legacy contacts", "Phone number"), tostr(r)
    r = iq_ok(c, COMPONENT, "set", "<query xmlns='%s'><prompt>+1000</prompt></query>" % NS_GATEWAY)
    assert r.findtext("{%s}query/{%s}jid" % (NS_GATEWAY, NS_GATEWAY)) == contact_jid("alice"), tostr(r)
    r = c.send_iq(COMPONENT, "set", "<query xmlns='%s'><prompt>+2000</prompt></query>" % NS_GATEWAY)
    assert stanza_error(r) == ("cancel", "item-not-found", "No contact was found with the info you provided."), \
        tostr(r)
    r = c.send_iq(contact_jid("alice"), "get", "<query xmlns='%s'/>" % NS_GATEWAY)
    assert stanza_error(r) == ("modify", "bad-request", "This can only be used on the component JID"), tostr(r)


# ---------------------------------------------------------------------------------------
# Subscriptions and probes (§7.1 cases 12-13), /friend-request

def test_probe_and_friend_requests(gateway, clients):
    c = clients.new("friend")
    start = register(c, "romeo")
    friends(c, start)
    carol = contact_jid("carol")

    # a friend's probe: its presence
    mark = c.mark()
    c.send_presence(contact_jid("alice"), "probe")
    c.wait_for(available_from(contact_jid("alice")), 15, since=mark)

    # carol does not exist before /friend-request
    r = c.send_iq(carol, "get", "<query xmlns='%s'/>" % NS_DISCO_INFO)
    assert stanza_error(r)[1] == "item-not-found", tostr(r)

    mark = c.mark()
    c.send_message(contact_jid("echo"), "/friend-request")
    sub = c.wait_for(is_presence(carol, "subscribe"), 15, since=mark)
    assert sfrom(sub) == carol and sub.findtext("{%s}nick" % NS_NICK) == "Carol", tostr(sub)

    # not a friend yet: a probe gets "unsubscribed" from the bare JID, which Prosody
    # keeps to itself (the user has no subscription to carol); no presence comes
    mark = c.mark()
    c.send_presence(carol, "probe")
    c.pump(1.0)
    assert c.find(is_presence(carol, ""), since=mark) is None

    # the user asks carol (a non-friend): on_friend_request, the demo accepts at once:
    # subscribed from the bare JID, then her presence and PEP nick
    mark = c.mark()
    c.send_presence(carol, "subscribe")
    p = c.wait_for(is_presence(carol, "subscribed"), 15, since=mark)
    assert sfrom(p) == carol, tostr(p)
    c.wait_for(available_from(carol), 15, since=mark)
    ev = c.wait_for(is_event(carol, NS_NICK), 15, since=mark)
    assert event_item(ev).findtext("{%s}nick" % NS_NICK) == "Carol", tostr(ev)
    # (subscribe to a friend is answered "subscribed" at once: the user's server keeps
    # that one to itself, the subscription existing already)


# ---------------------------------------------------------------------------------------
# on_presence with slidge's merge_resources (only with the sync_presence preference on:
# in-band registration stores no preferences, which slidge reads as off)

def test_user_presence_reaches_the_module(gateway, clients, users):
    jid, pw = users.new("mypres")
    a = clients.connect(jid, pw, resource="a")
    start = register(a, "romeo")
    friends(a, start)
    echo = contact_jid("echo")
    # registered in-band: no sync_presence yet, the module hears nothing
    mark = a.mark()
    a.send_message(echo, "/my-presence")
    m = a.wait_for(lambda el: is_message(echo + "/slidge", "chat")(el) and body(el) is not None
                   and not body(el).startswith("echo:"), 15, since=mark, what="echo's /my-presence answer")
    first = body(m)
    a.send("<presence><show>dnd</show><status>not for the module</status></presence>")
    a.pump(0.5)
    mark = a.mark()
    a.send_message(echo, "/my-presence")
    m = a.wait_for(lambda el: is_message(echo + "/slidge", "chat")(el) and body(el) is not None
                   and not body(el).startswith("echo:"), 15, since=mark, what="echo's /my-presence answer")
    assert body(m) == first and "not for the module" not in body(m), tostr(m)
    harness.set_preferences(a, sync_presence="true", sync_avatar="false")

    def my_presence(expected):
        mark = a.mark()
        a.send_message(echo, "/my-presence")
        m = a.wait_for(lambda el: is_message(echo + "/slidge", "chat")(el) and body(el) is not None
                       and not body(el).startswith("echo:"), 15, since=mark, what="echo's /my-presence answer")
        assert body(m) == expected, tostr(m)

    a.send("<presence><show>away</show><status>lunch</status></presence>")
    a.pump(0.5)
    my_presence("away|lunch")
    b = clients.connect(jid, pw, resource="b")
    b.pump(0.5)
    my_presence("available|lunch")    # available wins; the only status is kept
    b.disconnect()
    a.pump(0.8)
    my_presence("away|lunch")


# ---------------------------------------------------------------------------------------
# PEP +notify: a client that asks for nick/avatar/vcard4 events gets them when it comes
# online (slidge's PubSubComponent._on_presence_available)

@pytest.mark.parametrize("with_caps", [False, True])
def test_pep_items_pushed_to_interested_resource(gateway, clients, users, with_caps):
    jid, pw = users.new("notify")
    a = clients.connect(jid, pw, resource="a")
    start = register(a, "romeo")
    friends(a, start)

    b = clients.connect(jid, pw, resource="b", initial_presence=False)
    node, ver = "https://example.org/test-client", "dGVzdC1jbGllbnQtdmVy"
    for feat in (NS_NICK + "+notify", NS_AVATAR_META + "+notify", "urn:xmpp:vcard4+notify"):
        b.xmpp["xep_0030"].add_feature(feat, node="%s#%s" % (node, ver) if with_caps else None)
    mark = b.mark()
    b.send("<presence>%s</presence>" % ("<c xmlns='%s' hash='sha-1' node='%s' ver='%s'/>" % (NS_CAPS, node, ver)
                                       if with_caps else ""))
    for legacy_id, (nick, _, _) in CONTACTS.items():
        ev = b.wait_for(is_event(contact_jid(legacy_id), NS_NICK), 20, since=mark)
        assert ev.get("to") == b.full_jid and event_item(ev).findtext("{%s}nick" % NS_NICK) == nick, tostr(ev)
    ev = b.wait_for(is_event(contact_jid("alice"), NS_AVATAR_META), 20, since=mark)
    assert event_item(ev).find("{%s}metadata/{%s}info" % (NS_AVATAR_META, NS_AVATAR_META)) is not None, tostr(ev)
    ev = b.wait_for(is_event(contact_jid("alice"), "urn:xmpp:vcard4"), 20, since=mark)
    assert event_item(ev).find("{%s}vcard" % NS_VCARD4) is not None, tostr(ev)
    # bob has no avatar, no vCard: nothing for him
    b.pump(0.5)
    assert b.find(is_event(contact_jid("bob"), NS_AVATAR_META), since=mark) is None
    # the first resource did not ask: it got no such event
    assert a.find(lambda el: is_event(contact_jid("alice"), "urn:xmpp:vcard4")(el) and el.get("to") == a.full_jid,
                  since=start) is None


# ---------------------------------------------------------------------------------------
# XEP-0356 with Prosody's mod_privilege (§7.1 case 16)

PRIVILEGES = """
privileged_entities = {
    ["%s"] = {
        roster = "both";
        message = "outgoing";
        iq = { ["http://jabber.org/protocol/pubsub"] = "both" };
    }
}
""" % COMPONENT


@pytest.fixture(scope="module")
def priv_prosody(workdir):
    import shutil
    if shutil.which("prosody") is None:
        pytest.skip("prosody is not installed")
    if not os.path.exists("/usr/lib/prosody/modules/mod_privilege/mod_privilege.lua"):
        pytest.skip("mod_privilege is not installed (apt-get install prosody-modules)")
    d = os.path.join(workdir, "privileged")
    os.makedirs(d, exist_ok=True)
    p = harness.Prosody(d)
    with open(p.config) as f:
        cfg = f.read()
    enabled = 'modules_enabled = { "roster"; "saslauth"; "disco"; "ping" }'
    assert enabled in cfg
    cfg = cfg.replace(enabled, enabled[:-2] + '; "privilege" }\n' + PRIVILEGES)
    # mod_privilege learns of the component's authentication on the component's host
    comp = 'component_secret = "%s"' % harness.SECRET
    assert comp in cfg
    cfg = cfg.replace(comp, comp + '\n    modules_enabled = { "privilege" }')
    with open(p.config, "w") as f:
        f.write(cfg)
    p.start()
    yield p
    p.stop()


@pytest.fixture
def priv_clients(loop, priv_prosody):
    cs = conftest.Clients(loop, priv_prosody)
    yield cs
    cs.close()


@pytest.fixture
def priv_gateway(request, slidged_path, testdir, priv_prosody, priv_clients):
    g = conftest.Gateways(testdir, priv_prosody, priv_clients)
    yield g.start()
    g.finish(request)


def roster_push(jid):
    def pred(el):
        if local(el) != "iq" or el.get("type") != "set":
            return False
        item = el.find("{%s}query/{%s}item" % (NS_ROSTER, NS_ROSTER))
        return item is not None and item.get("jid") == jid
    pred.__doc__ = "a roster push for %s" % jid
    return pred


def test_privileged_roster_push(priv_gateway, priv_clients):
    c = priv_clients.new("priv")
    start = register(c, "romeo")
    for legacy_id, (nick, _, _) in CONTACTS.items():
        push = c.wait_for(roster_push(contact_jid(legacy_id)), 20, since=start)
        item = push.find("{%s}query/{%s}item" % (NS_ROSTER, NS_ROSTER))
        assert (item.get("subscription"), item.get("name")) == ("both", nick), tostr(push)
        assert [g.text for g in item.findall("{%s}group" % NS_ROSTER)] == ["slidge"], tostr(push)
    # in the roster now, presences come without any subscription dance
    for j in ALL_CONTACTS:
        c.wait_for(available_from(j), 20, since=start)
    assert c.find(lambda el: is_presence(None, "subscribe")(el) and bare(sfrom(el)) in ALL_CONTACTS,
                  since=start) is None, "a subscription request despite the roster privilege"
    # the client's roster (kept by slixmpp from the pushes)
    for legacy_id, (nick, _, _) in CONTACTS.items():
        item = c.xmpp.client_roster[contact_jid(legacy_id)]
        assert (item["subscription"], item["name"], item["groups"]) == ("both", nick, ["slidge"]), \
            (legacy_id, item["subscription"], item["name"], item["groups"])

    # a name change is pushed too (and as a PEP nick event)
    mark = c.mark()
    c.send_message(contact_jid("echo"), "/nick Eko")
    push = c.wait_for(lambda el: roster_push(contact_jid("echo"))(el) and
                      el.find("{%s}query/{%s}item" % (NS_ROSTER, NS_ROSTER)).get("name") == "Eko", 15, since=mark)
    c.wait_for(is_event(contact_jid("echo"), NS_NICK), 15, since=mark)


def bare(j):
    return harness.bare(j)


def test_fallback_without_privileges(gateway, clients):
    # the default Prosody grants nothing: contacts ask for a subscription instead
    c = clients.new("nopriv")
    start = register(c, "romeo")
    for j in ALL_CONTACTS:
        sub = c.wait_for(is_presence(j, "subscribe"), 20, since=start)
        assert status(sub) == ("I'm already your friend on demo, but slidge is not allowed to manage "
                               "your roster."), tostr(sub)
    for j in ALL_CONTACTS:
        assert c.find(roster_push(j), since=start) is None, "a roster push without the privilege"
