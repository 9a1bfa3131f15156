"""Hostile input from the XMPP server side. slidged connects to a raw XEP-0114 server written
in the test (harness.FakeComponentServer), which checks the handshake and then misbehaves.
slidged must answer with the right stream error (RFC 6120 §4.9.3), reconnect, and keep
working; a bad stanza gets an error stanza. It must never crash (the fixture also fails the
test if slidged died, did not exit cleanly, or printed a sanitizer report).
Expected behaviour: ARCHITECTURE.md (Trust rules); default --max-stanza-size 262144."""

import pytest

from harness import COMPONENT, NS_DISCO_INFO, local, sfrom, stanza_error, tostr

EVE = "eve@localhost/raw"

BILLION_LAUGHS = ("<!DOCTYPE stream:stream [<!ENTITY a 'aaaaaaaaaa'>"
                  "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
                  "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>]>")

HOSTILE = {
    "not-well-formed": (
        "not-well-formed",
        "<message from='%s' to='echo@%s' type='chat'><body>x</bod></message>" % (EVE, COMPONENT)),
    "oversized": (
        "policy-violation",
        "<message from='%s' to='echo@%s' type='chat' id='big'><body>%s</body></message>"
        % (EVE, COMPONENT, "A" * (300 * 1024))),
    "doctype-in-stream": (
        "restricted-xml",
        BILLION_LAUGHS + "<message from='%s' to='echo@%s' type='chat'><body>&c;</body></message>"
        % (EVE, COMPONENT)),
}


def start_connected(raw_gateways, fake_server):
    gw = raw_gateways.start(ready=False, port=fake_server.port)
    conn = fake_server.accept(30, gw)
    conn.handshake(15)
    return gw, conn


def check_still_serving(gw, conn):
    """The component answers a disco#info on this connection: it is alive and working."""
    assert gw.alive(), "slidged died:\n" + gw.log_tail()
    conn.send("<iq type='get' from='%s' to='%s' id='alive1'><query xmlns='%s'/></iq>"
              % (EVE, COMPONENT, NS_DISCO_INFO))
    r = conn.wait_for(lambda el: local(el) == "iq" and el.get("id") == "alive1", 15,
                      "the answer to a disco#info iq")
    assert r.get("type") == "result", tostr(r)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_stream_gets_stream_error_and_reconnect(raw_gateways, fake_server, case):
    condition, payload = HOSTILE[case]
    gw, conn = start_connected(raw_gateways, fake_server)
    conn.send(payload)
    got = conn.stream_error(15)
    assert got == condition, "stream error <%s/>, expected <%s/>" % (got, condition)
    assert conn.wait_closed(10), "slidged did not close the stream after the stream error"
    assert gw.alive(), "slidged exited after %s:\n%s" % (case, gw.log_tail())

    again = fake_server.accept(30, gw)
    again.handshake(15)
    check_still_serving(gw, again)


def test_doctype_in_server_header(raw_gateways, fake_server):
    """A DTD with entity definitions before the server's stream header."""
    gw = raw_gateways.start(ready=False, port=fake_server.port)
    conn = fake_server.accept(30, gw)
    conn.handshake(15, prolog=BILLION_LAUGHS)
    got = conn.stream_error(15)
    assert got == "restricted-xml", "stream error <%s/>, expected <restricted-xml/>" % got
    assert gw.alive(), gw.log_tail()
    again = fake_server.accept(30, gw)
    again.handshake(15)
    check_still_serving(gw, again)


def test_escaped_jid_gets_error_stanza(raw_gateways, fake_server):
    """XEP-0106: 'space cadet' is space\\20cadet; the error comes back from exactly that JID."""
    gw, conn = start_connected(raw_gateways, fake_server)
    to = r"space\20cadet@" + COMPONENT
    conn.send("<message from='%s' to='%s' type='chat' id='esc1'><body>hi</body></message>" % (EVE, to))
    err = conn.wait_for(lambda el: local(el) == "message" and el.get("id") == "esc1", 15,
                        "an answer to message esc1")
    assert err.get("type") == "error", tostr(err)
    assert sfrom(err) == to and err.get("to") == EVE, tostr(err)
    assert stanza_error(err)[:2] == ("auth", "registration-required"), tostr(err)

    conn.send("<iq type='get' from='%s' to='%s' id='esc2'><query xmlns='%s'/></iq>" % (EVE, to, NS_DISCO_INFO))
    err = conn.wait_for(lambda el: local(el) == "iq" and el.get("id") == "esc2", 15, "an answer to iq esc2")
    assert err.get("type") == "error" and sfrom(err) == to, tostr(err)
    assert stanza_error(err)[1] == "registration-required", tostr(err)

    assert not conn.closed, "slidged closed the stream:\n" + conn.raw[-2000:].decode(errors="replace")
    check_still_serving(gw, conn)
