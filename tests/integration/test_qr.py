"""QR codes: the QRCODE registration flow of the register command, send_qr in a session,
and who may register at all. Expected behaviour: reference/slidge.md §6.2 (QRCODE steps
1-6, the "Flash this" form with the XEP-0221 media element), §6.3 (send_qr), §3
(--qr-timeout), §6 (--user-jid-validator on every path); DEMO.md (get_qr_text gives
demo-pair:<username>, the network confirms one second later, /qr T) and demo_qr.c's
documented additions (usernames qr-never and qr-refused).

The PNGs are fetched over HTTP from the test Prosody's upload service and decoded with
zbarimg (Debian zbar-tools)."""

import os
import shutil
import subprocess
import time
import urllib.request

import pytest

from harness import (COMPONENT, NS_DATA, OTHER_DOMAIN, connected_status, contact_jid,
                     form_fields, ibr_get, ibr_set, local, register, sfrom, stanza_error,
                     tostr)
from test_adhoc import command, execute, submit as adhoc_submit

NS_CMD = "http://jabber.org/protocol/commands"
NS_MEDIA = "urn:xmpp:media-element"
NS_OOB = "jabber:x:oob"
NODE = "jabber:iq:register"
TIMEOUT_TEXT = "It does not seem that the QR code was correctly used, or you took too much time"


# ---- helpers ---------------------------------------------------------------------------

def upload_args(prosody):
    """slidged options for the test Prosody's HTTP upload component (harness.py)."""
    return tuple(prosody.upload_args())


def qr_gateway(gateways, prosody, *args):
    return gateways.start(args=tuple(args) + upload_args(prosody),
                          module_args=("--demo-registration", "qr"))


def submit(client, sid, values, action="next"):
    return adhoc_submit(client, NODE, sid, values, action)


def fields_by_var(x):
    return {f.get("var"): f for f in x.iter("{%s}field" % NS_DATA)}


def decode_png_url(url, tmpdir):
    """GET the image and return what zbarimg reads in it."""
    if shutil.which("zbarimg") is None:
        pytest.skip("zbarimg is not installed (apt-get install zbar-tools)")
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200, url
        data = r.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG at %s" % url
    path = os.path.join(tmpdir, "qr-%d.png" % time.monotonic_ns())
    with open(path, "wb") as f:
        f.write(data)
    out = subprocess.run(["zbarimg", "--raw", "-q", path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, timeout=30)
    assert out.returncode == 0, "zbarimg found no QR code in %s" % url
    return out.stdout.decode().rstrip("\n")


def is_gateway_attachment(el):
    return (local(el) == "message" and sfrom(el) == COMPONENT and
            el.find("{%s}x/{%s}url" % (NS_OOB, NS_OOB)) is not None)


def is_gateway_text(text):
    def pred(el):
        return (local(el) == "message" and sfrom(el) == COMPONENT and
                el.findtext("{jabber:client}body") == text)
    pred.__doc__ = "a message %r from the gateway" % text
    return pred


def start_qr_registration(client, username):
    """Run the command up to the "Flash this" form; returns (sessionid, form, mark)."""
    sid = command(execute(client, NODE)).get("sessionid")
    mark = client.mark()
    cmd = command(submit(client, sid, {"username": username, "password": "pw"}))
    assert cmd.get("status") == "executing", tostr(cmd)
    x = cmd.find("{%s}x" % NS_DATA)
    assert x is not None and x.findtext("{%s}title" % NS_DATA) == "Flash this", tostr(cmd)
    return sid, x, mark


# ---- the QR registration ---------------------------------------------------------------

def test_qr_registration_flow(gateways, prosody, clients, testdir):
    admin = clients.new("qradmin")
    qr_gateway(gateways, prosody, "--admins", admin.jid)
    c = clients.new("qruser")
    sid, x, mark = start_qr_registration(c, "qruser")
    text = "demo-pair:qruser"

    # the form: qr_img (with its XEP-0221 image), qr_text, qr_img_url, all fixed
    assert x.findtext("{%s}instructions" % NS_DATA) == "Flash this QR in the appropriate place"
    f = fields_by_var(x)
    assert set(f) == {"qr_img", "qr_text", "qr_img_url"}, tostr(x)
    assert all(fl.get("type") == "fixed" for fl in f.values()), tostr(x)
    url = f["qr_img_url"].findtext("{%s}value" % NS_DATA)
    assert url and url.startswith("http"), tostr(x)
    assert f["qr_img_url"].get("label") == "URL of the QR code image", tostr(x)
    assert f["qr_text"].findtext("{%s}value" % NS_DATA) == text, tostr(x)
    assert f["qr_text"].get("label") == "Text encoded in the QR code", tostr(x)
    assert f["qr_img"].findtext("{%s}value" % NS_DATA) == text, tostr(x)
    uri = f["qr_img"].find("{%s}media/{%s}uri" % (NS_MEDIA, NS_MEDIA))
    assert uri is not None and uri.get("type") == "image/png" and uri.text == url, tostr(x)

    # the user also got the image as an attachment from the gateway, then the text
    att = c.wait_for(is_gateway_attachment, since=mark, what="the QR code attachment")
    assert att.findtext("{jabber:client}body") == url, tostr(att)
    assert att.findtext("{%s}x/{%s}url" % (NS_OOB, NS_OOB)) == url, tostr(att)
    c.wait_for(is_gateway_text(text), since=mark)
    assert c.received.index(att) < c.received.index(c.find(is_gateway_text(text), mark))

    # the image really is a QR code of the text
    assert decode_png_url(url, testdir) == text

    # flashed (the demo network confirms by itself): preferences, then success
    cmd = command(submit(c, sid, {}))
    assert cmd.get("status") == "executing", tostr(cmd)
    assert set(form_fields(cmd.find("{%s}x" % NS_DATA))) == {"sync_presence", "sync_avatar"}, tostr(cmd)
    cmd = command(submit(c, sid, {"sync_presence": "true", "sync_avatar": "true"},
                         action="complete"))
    assert cmd.get("status") == "completed", tostr(cmd)
    assert cmd.findtext("{%s}note" % NS_CMD) == "Success, welcome!", tostr(cmd)
    c.wait_for(connected_status("qruser"), timeout=30)
    admin.wait_for(is_gateway_text("%s has registered" % c.jid), timeout=10,
                   what="the admin's registration notice")


def test_qr_registration_timeout(gateways, prosody, clients):
    qr_gateway(gateways, prosody, "--qr-timeout", "2")
    c = clients.new("qrnever")
    sid, _, _ = start_qr_registration(c, "qr-never")
    t0 = time.monotonic()
    r = submit(c, sid, {})
    waited = time.monotonic() - t0
    assert stanza_error(r) == ("wait", "remote-server-timeout", TIMEOUT_TEXT), tostr(r)
    assert 1.5 <= waited < 15, "answered after %.1f s with --qr-timeout 2" % waited
    # nothing was registered
    r = execute(c, NODE)
    assert command(r).get("status") == "executing", tostr(r)


def test_qr_refused_by_the_network(gateways, prosody, clients):
    qr_gateway(gateways, prosody)
    c = clients.new("qrrefused")
    sid, _, _ = start_qr_registration(c, "qr-refused")
    c.pump(1.5)   # the refusal arrives before the user submits: it is kept
    r = submit(c, sid, {})
    assert stanza_error(r) == ("auth", "not-authorized", "The QR code was refused"), tostr(r)


def test_qr_upload_failure(gateways, clients):
    # an upload service that does not exist: the code cannot be sent
    gateways.start(args=("--upload-service", "nowhere.localhost"),
                   module_args=("--demo-registration", "qr"))
    c = clients.new("qrnoup")
    sid = command(execute(c, NODE)).get("sessionid")
    r = submit(c, sid, {"username": "qrnoup", "password": "pw"})
    assert stanza_error(r) == ("cancel", "internal-server-error",
                               "Slidge cannot send attachments"), tostr(r)


def test_ibr_refused_for_qr_gateway(gateways, clients):
    gateways.start(module_args=("--demo-registration", "qr"))
    c = clients.new("qribr")
    for r in (ibr_get(c), ibr_set(c, {"username": "qribr", "password": "pw"})):
        assert stanza_error(r) == ("modify", "bad-request",
                                   "You must use adhoc commands to register to this gateway."), tostr(r)


# ---- send_qr in a session --------------------------------------------------------------

def test_send_qr_in_session(gateways, prosody, clients, testdir):
    gateways.start(args=upload_args(prosody))
    c = clients.new("qrsession")
    register(c, "qrsession")
    mark = c.mark()
    c.send_message(contact_jid("echo"), "/qr hello")
    att = c.wait_for(is_gateway_attachment, since=mark, timeout=30, what="the QR code attachment")
    url = att.findtext("{%s}x/{%s}url" % (NS_OOB, NS_OOB))
    assert att.findtext("{jabber:client}body") == url, tostr(att)
    c.wait_for(is_gateway_text("hello"), since=mark)
    assert decode_png_url(url, testdir) == "hello"


# ---- who may register ------------------------------------------------------------------

@pytest.mark.parametrize("flow", ["form", "2fa", "qr"])
def test_every_registration_path_checks_the_validator(gateways, clients, flow):
    gateways.start(module_args=("--demo-registration", flow))
    eve = clients.new("eve" + flow.replace("2", "two"), host=OTHER_DOMAIN)
    # XEP-0077: slidge's precondition of every registration
    for r in (ibr_get(eve), ibr_set(eve, {"username": "eve", "password": "pw"})):
        assert stanza_error(r) == ("cancel", "not-allowed",
                                   "Your account is not allowed to use this gateway."), tostr(r)
    # the register command: refused before any step (slidge's access check of commands)
    r = execute(eve, NODE)
    assert stanza_error(r) == ("modify", "bad-request",
                               "Your JID is not allowed to use this gateway."), tostr(r)
    eve.pump(0.5)
    assert not [el for el in eve.received if local(el) == "presence" and sfrom(el) == COMPONENT], \
        "\n".join(tostr(el) for el in eve.received)
