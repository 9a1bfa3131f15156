"""Attachments both ways through Prosody's own http_file_share (XEP-0363) on loopback, with
the demo network's echo (DEMO.md: /file, on_file). Expected behaviour: reference/slidge.md
§1 rows 0066, 0363, 0385, 0447, 0461; §2 LegacyAttachment, send_file; §3 --upload-service,
--no-upload-path & co; §4 the attachment table.

- /file: echo's message has body = URL, OOB, SIMS and SFS metadata; the URL serves the
  exact PNG; the caption follows; a second /file reuses the URL (legacy_file_id);
- a text sent after /file is echoed after the file and its caption (order kept);
- a file the user uploads and sends (OOB) is fetched by the gateway and sent back by echo
  under a new URL with the same bytes, caption "echo: <name>";
- a URL that 404s, or that is larger than --attachment-max-size, gets an error stanza with
  a human text;
- --no-upload-path: the file lands in DIR/<legacy file id>/<uuid>/<name>, the URL is the
  prefix plus that path, and it is reused."""

import base64
import hashlib
import os
import urllib.error
import urllib.request
from xml.sax.saxutils import escape, quoteattr

import pytest

import harness
from harness import body, child, contact_jid, local, register, sfrom, stanza_error, tostr

ECHO = contact_jid("echo")
ECHO_FULL = ECHO + "/slidge"
NS_OOB = "jabber:x:oob"
NS_UPLOAD = "urn:xmpp:http:upload:0"
NS_REFERENCE = "urn:xmpp:reference:0"
NS_SIMS = "urn:xmpp:sims:1"
NS_JINGLE_FILE = "urn:xmpp:jingle:apps:file-transfer:5"
NS_SFS = "urn:xmpp:sfs:0"
NS_FILE_META = "urn:xmpp:file:metadata:0"
NS_URL_DATA = "http://jabber.org/protocol/url-data"
NS_HASHES = "urn:xmpp:hashes:2"
NS_MARKERS = "urn:xmpp:chat-markers:0"
NS_HINTS = "urn:xmpp:hints"
NS_RECEIPTS = "urn:xmpp:receipts"

PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000a49444154789c63000100000500010d0a2db40000000049454e44ae426082")


def user(clients, prefix):
    c = clients.new(prefix)
    register(c, "romeo")
    return c


def file_message(el):
    return (local(el) == "message" and sfrom(el) == ECHO_FULL and el.get("type") == "chat"
            and child(el, NS_OOB, "x") is not None)


def echo_text(text):
    def pred(el):
        return local(el) == "message" and sfrom(el) == ECHO_FULL and body(el) == text
    pred.__doc__ = "a message %r from echo" % text
    return pred


def is_error_for(mid):
    def pred(el):
        return local(el) == "message" and el.get("type") == "error" and el.get("id") == mid
    pred.__doc__ = "an error for message %s" % mid
    return pred


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def oob_url(m):
    return child(child(m, NS_OOB, "x"), NS_OOB, "url").text


def check_metadata(m, url, name, data, media_type, caption):
    """SIMS (XEP-0385) and SFS (XEP-0447) describe the file at url."""
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    ref = child(m, NS_REFERENCE, "reference")
    assert ref is not None and ref.get("type") == "data", tostr(m)
    sims = child(ref, NS_SIMS, "media-sharing")
    f = child(sims, NS_JINGLE_FILE, "file")
    sfs = child(m, NS_SFS, "file-sharing")
    assert sfs is not None and sfs.get("disposition") == "inline", tostr(m)
    f2 = child(sfs, NS_FILE_META, "file")
    for ns, el in ((NS_JINGLE_FILE, f), (NS_FILE_META, f2)):
        assert el is not None, tostr(m)
        assert child(el, ns, "name").text == name, tostr(m)
        assert child(el, ns, "size").text == str(len(data)), tostr(m)
        assert child(el, ns, "media-type").text == media_type, tostr(m)
        assert child(el, ns, "date") is not None, tostr(m)
        h = child(el, NS_HASHES, "hash")
        assert h is not None and h.get("algo") == "sha-256" and h.text == digest, tostr(m)
        if caption is not None:
            assert child(el, ns, "desc").text == caption, tostr(m)
    src = child(child(sims, NS_SIMS, "sources"), NS_REFERENCE, "reference")
    assert src.get("uri") == url, tostr(m)
    ud = child(child(sfs, NS_SFS, "sources"), NS_URL_DATA, "url-data")
    assert ud.get("target") == url, tostr(m)


def pixel_from_echo(c, since):
    m = c.wait_for(file_message, 30, since=since, what="echo's file message")
    url = body(m)
    assert url and url == oob_url(m), tostr(m)
    return m, url


def upload_as_user(c, prosody, name, data, ctype="text/plain"):
    """The user's client uploads data to Prosody (its own XEP-0363 slot) and returns the GET
    URL."""
    ans = c.send_iq(prosody.upload_jid, "get",
                    "<request xmlns='%s' filename=%s size='%d' content-type=%s/>"
                    % (NS_UPLOAD, quoteattr(name), len(data), quoteattr(ctype)))
    assert ans.get("type") == "result", tostr(ans)
    slot = child(ans, NS_UPLOAD, "slot")
    put, get = child(slot, NS_UPLOAD, "put"), child(slot, NS_UPLOAD, "get")
    headers = {h.get("name"): h.text for h in put if h.tag == "{%s}header" % NS_UPLOAD}
    headers["Content-Type"] = ctype
    req = urllib.request.Request(put.get("url"), data=data, method="PUT", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status in (200, 201), r.status
    return get.get("url")


def send_file(c, url, mid=None, extra=""):
    mid = mid or c.new_id()
    c.send("<message to=%s type='chat' id=%s><body>%s</body><x xmlns='%s'><url>%s</url></x>%s"
           "</message>" % (quoteattr(ECHO), quoteattr(mid), escape(url), NS_OOB, escape(url),
                           extra))
    return mid


def upload_dir_files(prosody):
    d = os.path.join(prosody.dir, "data")
    n = 0
    for root, _dirs, files in os.walk(d):
        if "file_share" in root or "file%5fshare" in root:
            n += len(files)
    return n


# ---------------------------------------------------------------------------------------
# towards the user (send_file)

def test_file_from_contact(gateway, clients, prosody):
    c = user(clients, "att-file")
    start = c.mark()
    c.send_message(ECHO, "/file")
    m, url = pixel_from_echo(c, start)
    assert m.get("to") == c.jid.split("/")[0], tostr(m)
    assert child(m, NS_MARKERS, "markable") is not None and child(m, NS_HINTS, "store") is not None
    assert url.startswith("http://127.0.0.1:%d/" % prosody.http_port), url
    check_metadata(m, url, "pixel.png", PIXEL, "image/png", "a pixel")
    assert fetch(url) == PIXEL
    # the caption is a second message, after the file
    cap = c.wait_for(echo_text("a pixel"), 15, since=start)
    assert c.received.index(cap) > c.received.index(m)


def test_file_dedup_by_legacy_file_id(gateway, clients, prosody):
    c = user(clients, "att-dedup")
    start = c.mark()
    c.send_message(ECHO, "/file")
    _m, url = pixel_from_echo(c, start)
    c.wait_for(echo_text("a pixel"), 15, since=start)
    stored = upload_dir_files(prosody)
    mark = c.mark()
    c.send_message(ECHO, "/file")
    m2, url2 = pixel_from_echo(c, mark)
    assert url2 == url, "the same legacy file id must reuse its URL"
    check_metadata(m2, url2, "pixel.png", PIXEL, "image/png", "a pixel")
    assert upload_dir_files(prosody) == stored, "a second upload happened"
    assert "demo-pixel" not in gateway.log_text()  # no legacy file id in the logs


def test_file_then_text_keeps_order(gateway, clients):
    c = user(clients, "att-order")
    start = c.mark()
    c.send_message(ECHO, "/file")
    c.send_message(ECHO, "right after")
    text = c.wait_for(echo_text("echo: right after"), 30, since=start)
    f = c.find(file_message, start)
    cap = c.find(echo_text("a pixel"), start)
    assert f is not None and cap is not None, harness.dump(c.received[start:])
    i_f, i_cap, i_text = (c.received.index(x) for x in (f, cap, text))
    assert i_f < i_cap < i_text, harness.dump(c.received[start:])


# ---------------------------------------------------------------------------------------
# from the user (on_file)

def test_user_file_to_echo(gateway, clients, prosody):
    c = user(clients, "att-user")
    data = os.urandom(3000)
    url = upload_as_user(c, prosody, "notes.bin", data, "application/octet-stream")
    start = c.mark()
    mid = send_file(c, url, extra="<request xmlns='%s'/>" % NS_RECEIPTS)
    m = c.wait_for(file_message, 30, since=start, what="echo sending the file back")
    back = body(m)
    assert back != url, "echo must upload the file again"
    assert fetch(back) == data
    check_metadata(m, back, "notes.bin", data, "application/octet-stream", "echo: notes.bin")
    c.wait_for(echo_text("echo: notes.bin"), 15, since=start)
    c.wait_for(lambda el: local(el) == "message" and child(el, NS_RECEIPTS, "received") is not None
               and child(el, NS_RECEIPTS, "received").get("id") == mid, 15, since=start,
               what="the receipt of the file message")
    assert c.find(is_error_for(mid), start) is None


def test_user_file_404(gateway, clients, prosody):
    c = user(clients, "att-404")
    url = "http://127.0.0.1:%d/file_share/no-such-file/x.png" % prosody.http_port
    start = c.mark()
    mid = send_file(c, url)
    err = c.wait_for(is_error_for(mid), 30, since=start)
    _type, cond, text = stanza_error(err)
    assert cond == "item-not-found" and "404" in (text or ""), tostr(err)
    assert c.find(file_message, start) is None


def test_user_file_too_large(gateways, clients, prosody):
    gateways.start(args=["--attachment-max-size", "1000"])
    c = user(clients, "att-big")
    url = upload_as_user(c, prosody, "big.bin", os.urandom(5000), "application/octet-stream")
    start = c.mark()
    mid = send_file(c, url)
    err = c.wait_for(is_error_for(mid), 30, since=start)
    _type, cond, text = stanza_error(err)
    assert cond == "not-acceptable" and "larger than 1000 bytes" in (text or ""), tostr(err)


# ---------------------------------------------------------------------------------------
# --no-upload-path

def test_no_upload_path(gateways, clients, testdir):
    d = os.path.join(testdir, "public")
    os.makedirs(d)
    os.chmod(d, 0o777)   # the workers run as nobody
    prefix = "http://files.example/slidge"
    gw = gateways.start(args=["--no-upload-path", d, "--no-upload-url-prefix", prefix,
                              "--no-upload-file-read-others"])
    c = user(clients, "att-noup")
    start = c.mark()
    c.send_message(ECHO, "/file")
    m, url = pixel_from_echo(c, start)
    assert url.startswith(prefix + "/demo-pixel/"), url
    rel = url[len(prefix) + 1:].split("/")
    assert len(rel) == 3 and rel[2] == "pixel.png", url
    path = os.path.join(d, *rel)
    with open(path, "rb") as f:
        assert f.read() == PIXEL
    assert os.stat(path).st_mode & 0o004, "--no-upload-file-read-others"
    check_metadata(m, url, "pixel.png", PIXEL, "image/png", "a pixel")
    c.wait_for(echo_text("a pixel"), 15, since=start)
    mark = c.mark()
    c.send_message(ECHO, "/file")
    _m2, url2 = pixel_from_echo(c, mark)
    assert url2 == url
    assert len(os.listdir(os.path.join(d, "demo-pixel"))) == 1


# ---------------------------------------------------------------------------------------
# send_files, legacy URLs, the gateway's own files, failures

def test_send_files_in_order(gateway, clients):
    c = user(clients, "att-files")
    start = c.mark()
    c.send_message(ECHO, "/files")
    text = c.wait_for(echo_text("two pixels"), 30, since=start)
    files = [el for el in c.received[start:] if file_message(el)]
    assert len(files) == 2, harness.dump(c.received[start:])
    names = [child(child(child(f, NS_REFERENCE, "reference"), NS_SIMS, "media-sharing"),
                   NS_JINGLE_FILE, "file") for f in files]
    assert [child(n, NS_JINGLE_FILE, "name").text for n in names] == ["red.png", "blue.png"]
    assert c.received.index(files[1]) < c.received.index(text)
    for f in files:
        assert fetch(body(f)) == PIXEL


def test_file_from_legacy_url(gateway, clients, prosody):
    c = user(clients, "att-lurl")
    data = os.urandom(2000)
    url = upload_as_user(c, prosody, "legacy.dat", data, "application/octet-stream")
    start = c.mark()
    c.send_message(ECHO, "/file-url " + url)
    m, back = pixel_from_echo(c, start)
    assert back != url, "a legacy URL is uploaded again (--use-attachment-original-urls is off)"
    assert fetch(back) == data
    check_metadata(m, back, "legacy.dat", data, "application/octet-stream", "from a URL")
    c.wait_for(echo_text("from a URL"), 15, since=start)


def test_original_urls(gateways, clients, prosody):
    gateways.start(args=["--use-attachment-original-urls"])
    c = user(clients, "att-orig")
    url = upload_as_user(c, prosody, "orig.txt", b"original", "text/plain")
    start = c.mark()
    c.send_message(ECHO, "/file-url " + url)
    m, back = pixel_from_echo(c, start)
    assert back == url, tostr(m)


def test_gateway_file(gateway, clients):
    c = user(clients, "att-gw")
    start = c.mark()
    c.send_message(ECHO, "/gateway-file")
    m = c.wait_for(lambda el: local(el) == "message" and sfrom(el) == harness.COMPONENT
                   and child(el, NS_OOB, "x") is not None, 30, since=start,
                   what="a file from the gateway")
    check_metadata(m, body(m), "pixel.png", PIXEL, "image/png", "a pixel from the gateway")
    assert fetch(body(m)) == PIXEL
    c.wait_for(lambda el: local(el) == "message" and sfrom(el) == harness.COMPONENT
               and body(el) == "a pixel from the gateway", 15, since=start)


def test_upload_failure_is_never_silent(gateways, clients):
    gw = gateways.start(args=["--upload-service", "nowhere.localhost"])
    c = user(clients, "att-fail")
    start = c.mark()
    c.send_message(ECHO, "/file")
    c.send_message(ECHO, "after the failure")
    note = c.wait_for(lambda el: local(el) == "message" and sfrom(el) == ECHO_FULL
                      and "something went wrong" in (body(el) or ""), 30, since=start,
                      what="the failure note")
    assert child(note, NS_OOB, "x") is None, tostr(note)
    cap = c.wait_for(echo_text("a pixel"), 15, since=start)
    after = c.wait_for(echo_text("echo: after the failure"), 15, since=start)
    assert c.received.index(note) < c.received.index(cap) < c.received.index(after)
    assert "could not be sent" in gw.log_text()


# ---------------------------------------------------------------------------------------
# stickers (XEP-0231 Bits of Binary)

NS_BOB = "urn:xmpp:bob"
NS_XHTML_IM = "http://jabber.org/protocol/xhtml-im"
NS_XHTML = "http://www.w3.org/1999/xhtml"


def sticker_xml(cid, inline=None):
    x = ("<body>sticker</body><html xmlns='%s'><body xmlns='%s'><p><img src='cid:%s' alt='s'/>"
         "</p></body></html>" % (NS_XHTML_IM, NS_XHTML, cid))
    if inline is not None:
        x += "<data xmlns='%s' cid='%s' type='image/png'>%s</data>" % (
            NS_BOB, cid, base64.b64encode(inline).decode())
    return x


def bob_get(c, cid):
    return c.send_iq(harness.COMPONENT, "get", "<data xmlns='%s' cid=%s/>" % (NS_BOB, quoteattr(cid)))


def test_sticker_fetched_from_client(gateway, clients):
    c = user(clients, "att-bob")
    c.xmpp.register_plugin("xep_0231")
    cid = c.run(c.xmpp["xep_0231"].set_bob(PIXEL, "image/png"), 10)
    start = c.mark()
    mid = c.new_id()
    c.send("<message to=%s type='chat' id=%s>%s</message>" % (quoteattr(ECHO), quoteattr(mid),
                                                             sticker_xml(cid)))
    # the gateway asks the client for the data (slixmpp's xep_0231 answers it)
    q = c.wait_for(lambda el: local(el) == "iq" and el.get("type") == "get"
                   and child(el, NS_BOB, "data") is not None, 30, since=start,
                   what="the gateway's BoB request")
    assert child(q, NS_BOB, "data").get("cid") == cid and sfrom(q) == harness.COMPONENT, tostr(q)
    m = c.wait_for(file_message, 30, since=start, what="echo sending the sticker back")
    assert fetch(body(m)) == PIXEL
    c.wait_for(echo_text("echo: sticker"), 15, since=start)
    assert c.find(is_error_for(mid), start) is None
    # the gateway now holds the cid: BoB requests get its data, other cids item-not-found
    ans = bob_get(c, cid)
    assert ans.get("type") == "result", tostr(ans)
    d = child(ans, NS_BOB, "data")
    assert base64.b64decode(d.text) == PIXEL and d.get("type") == "image/png", tostr(ans)
    unknown = "sha1+%s@bob.xmpp.org" % hashlib.sha1(b"nothing").hexdigest()
    ans = bob_get(c, unknown)
    assert ans.get("type") == "error" and stanza_error(ans)[1] == "item-not-found", tostr(ans)


def test_sticker_inline_and_bad_data(gateway, clients):
    c = user(clients, "att-bob2")
    data = PIXEL + b"\0inline"
    cid = "sha1+%s@bob.xmpp.org" % hashlib.sha1(data).hexdigest()
    start = c.mark()
    c.send("<message to=%s type='chat' id='s1'>%s</message>" % (quoteattr(ECHO),
                                                               sticker_xml(cid, data)))
    m = c.wait_for(file_message, 30, since=start, what="echo sending the inline sticker back")
    assert fetch(body(m)) == data
    assert c.find(lambda el: local(el) == "iq" and child(el, NS_BOB, "data") is not None,
                  start) is None, "inline data needs no request"
    # data that does not match its cid: an error, nothing cached
    bad = "sha1+%s@bob.xmpp.org" % hashlib.sha1(b"other").hexdigest()
    mark = c.mark()
    c.send("<message to=%s type='chat' id='s2'>%s</message>" % (quoteattr(ECHO),
                                                               sticker_xml(bad, data)))
    q = c.wait_for(lambda el: local(el) == "iq" and el.get("type") == "get"
                   and child(el, NS_BOB, "data") is not None, 30, since=mark)
    c.send("<iq type='error' to=%s id=%s><error type='cancel'><item-not-found xmlns="
           "'urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>" % (quoteattr(q.get("from")),
                                                                   quoteattr(q.get("id"))))
    err = c.wait_for(is_error_for("s2"), 30, since=mark)
    assert stanza_error(err)[1] == "item-not-found" and stanza_error(err)[2], tostr(err)
    assert bob_get(c, bad).get("type") == "error"


def test_file_with_caption_is_one_legacy_message(gateway, clients, prosody):
    """The file and its caption are two parts of one legacy message: a reaction to the
    file part reaches the module as a reaction to that message, and echo's reaction to it
    lands on both parts (legacy_ids_multi)."""
    ns_reactions = "urn:xmpp:reactions:0"
    c = user(clients, "att-multi")
    url = upload_as_user(c, prosody, "multi.txt", b"two parts", "text/plain")
    start = c.mark()
    send_file(c, url)
    f = c.wait_for(file_message, 30, since=start)
    cap = c.wait_for(echo_text("echo: multi.txt"), 15, since=start)
    assert cap.get("id") == "e1" and f.get("id") != "e1", harness.dump(c.received[start:])
    mark = c.mark()
    c.send("<message to=%s type='chat' id='r1'><reactions xmlns='%s' id=%s><reaction>%s"
           "</reaction></reactions></message>" % (quoteattr(ECHO), ns_reactions,
                                                   quoteattr(f.get("id")), "\U0001f44d"))

    def reaction_to(mid):
        def pred(el):
            r = child(el, ns_reactions, "reactions")
            return sfrom(el) == ECHO_FULL and r is not None and r.get("id") == mid
        pred.__doc__ = "echo's reaction to %s" % mid
        return pred
    c.wait_for(reaction_to(f.get("id")), 15, since=mark)
    c.wait_for(reaction_to("e1"), 15, since=mark)
    assert c.find(is_error_for("r1"), mark) is None
