"""A registered user's session on the demo network, seen from a real client through Prosody:
presences and subscriptions after registration, chatting with echo, errors, restart of the
gateway, several users, unregistration, login failure.
Expected behaviour: reference/slidge.md §2.10, §6.4, §6.5, §7.1 cases 3, 4, 6; DEMO.md."""

import datetime

from harness import (COMPONENT, CONTACTS, NS_DISCO_INFO, NS_IDLE, NS_NICK, NS_RECEIPTS,
                     accept_subscriptions, body, connected_status, contact_jid,
                     echo_roundtrip, gateway_status, ibr_get, ibr_remove, ibr_set, is_message,
                     is_presence, is_registered, local, register, sfrom, show, stanza_error,
                     status, tostr)

ALL_CONTACTS = [contact_jid(c) for c in CONTACTS]


def test_presences_after_registration(gateway, clients):
    c = clients.new("pres")
    start = c.mark()
    r = ibr_set(c, {"username": "romeo", "password": "secret"})
    assert r.get("type") == "result", tostr(r)

    c.wait_for(is_presence(COMPONENT, "subscribe"), 20, since=start,
               what="presence subscribe from %s" % COMPONENT)
    logging_in = c.wait_for(gateway_status("dnd", "Logging in\u2026"), 20, since=start)
    connected = c.wait_for(connected_status("romeo"), 30, since=start)
    assert c.received.index(logging_in) < c.received.index(connected), \
        "'Connected as romeo' came before 'Logging in…'"

    for legacy_id, (nick, _, _) in CONTACTS.items():
        sub = c.wait_for(is_presence(contact_jid(legacy_id), "subscribe"), 20, since=start,
                         what="presence subscribe from %s" % contact_jid(legacy_id))
        n = sub.find("{%s}nick" % NS_NICK)
        assert n is not None and n.text == nick, "expected <nick>%s</nick>: %s" % (nick, tostr(sub))

    accepted = c.mark()
    accept_subscriptions(c, [COMPONENT] + ALL_CONTACTS, since=start)
    # contacts that are friends on the legacy side approve the user's subscription at once
    for j in ALL_CONTACTS:
        c.wait_for(is_presence(j, "subscribed"), 15, since=accepted, what="subscribed from %s" % j)

    for legacy_id, (nick, show_eq, status_eq) in CONTACTS.items():
        j = contact_jid(legacy_id)

        def pred(el, j=j, show_eq=show_eq, status_eq=status_eq):
            return (local(el) == "presence" and el.get("type", "") == "" and
                    el.get("from", "").split("/")[0] == j and show(el) == show_eq and status(el) == status_eq)
        p = c.wait_for(pred, 20, since=start,
                       what="available presence from %s show=%r status=%r" % (j, show_eq, status_eq))
        if legacy_id == "bob":
            idle = p.find("{%s}idle" % NS_IDLE)
            assert idle is not None, "no XEP-0319 <idle/> on bob's presence: " + tostr(p)
            since = datetime.datetime.fromisoformat(idle.get("since").replace("Z", "+00:00"))
            if since.tzinfo is None:
                since = since.replace(tzinfo=datetime.timezone.utc)
            ago = (datetime.datetime.now(datetime.timezone.utc) - since).total_seconds()
            assert 3600 - 180 <= ago <= 3600 + 180, "bob idle since %s (%ds ago), expected ~1h" % (
                idle.get("since"), ago)


def test_chat_with_echo(gateway, clients):
    c = clients.new("chat")
    register(c, "romeo")

    m = echo_roundtrip(c, "hello")
    assert m.get("to") == c.jid, "contact messages go to the bare JID: " + tostr(m)

    # a receipt request gets a XEP-0184 receipt from echo
    start = c.mark()
    mid = c.send_message(contact_jid("echo"), "with receipt", extra="<request xmlns='%s'/>" % NS_RECEIPTS)

    def receipt(el):
        r = el.find("{%s}received" % NS_RECEIPTS)
        return local(el) == "message" and el.get("from", "").split("/")[0] == contact_jid("echo") \
            and r is not None and r.get("id") == mid
    c.wait_for(receipt, 15, since=start, what="<received id='%s'/> from echo" % mid)
    c.wait_for(is_message(contact_jid("echo") + "/slidge", "chat", "echo: with receipt"), 15, since=start)

    # an unknown contact
    start = c.mark()
    mid = c.send_message("nobody@" + COMPONENT, "anyone there?")
    err = c.wait_for(lambda el: local(el) == "message" and el.get("type") == "error" and el.get("id") == mid,
                     15, since=start, what="a message error for id %s" % mid)
    assert sfrom(err) == "nobody@" + COMPONENT, tostr(err)
    assert stanza_error(err)[:2] == ("cancel", "item-not-found"), tostr(err)


def test_unregistered_user_gets_registration_required(gateway, clients):
    eve = clients.new("unreg")
    mid = eve.send_message(contact_jid("echo"), "hello?")
    err = eve.wait_for(lambda el: local(el) == "message" and el.get("id") == mid, 15,
                       what="an answer to message %s" % mid)
    assert err.get("type") == "error", tostr(err)
    assert sfrom(err) == contact_jid("echo"), tostr(err)
    assert stanza_error(err) == ("auth", "registration-required", "You are not registered to this gateway"), \
        tostr(err)

    r = eve.send_iq(contact_jid("alice"), "get", "<query xmlns='%s'/>" % NS_DISCO_INFO)
    assert r.get("type") == "error", tostr(r)
    assert stanza_error(r)[:2] == ("auth", "registration-required"), tostr(r)
    assert not [el for el in eve.received if local(el) == "message" and body(el) == "echo: hello?"]


def test_restart_keeps_registration(gateways, clients):
    gw = gateways.start()
    c = clients.new("restart")
    register(c, "romeo")
    echo_roundtrip(c, "before restart")

    mark = c.mark()
    gateways.restart(gw)
    c.wait_for(connected_status("romeo"), 30, since=mark)
    echo_roundtrip(c, "after restart")


def test_two_users_are_independent(gateway, clients):
    a = clients.new("twoa")
    b = clients.new("twob")
    register(a, "alpha")
    register(b, "beta")
    a_start, b_start = a.mark(), b.mark()
    a.send_message(contact_jid("echo"), "from alpha")
    b.send_message(contact_jid("echo"), "from beta")
    a.wait_for(is_message(contact_jid("echo") + "/slidge", "chat", "echo: from alpha"), 15, since=a_start)
    b.wait_for(is_message(contact_jid("echo") + "/slidge", "chat", "echo: from beta"), 15, since=b_start)
    a.pump(1.0)
    assert not a.find(lambda el: body(el) == "echo: from beta"), "alpha got beta's echo"
    assert not b.find(lambda el: body(el) == "echo: from alpha"), "beta got alpha's echo"
    # each session logged in with its own legacy account
    assert a.find(connected_status("alpha")) is not None and a.find(connected_status("beta")) is None
    assert b.find(connected_status("beta")) is not None and b.find(connected_status("alpha")) is None


def test_unregistration(gateway, clients):
    c = clients.new("bye")
    start = register(c, "romeo")
    accept_subscriptions(c, [COMPONENT] + ALL_CONTACTS, since=start)
    c.pump(1.0)  # let the subscriptions settle in the roster

    mark = c.mark()
    r = ibr_remove(c)
    assert r.get("type") == "result", tostr(r)
    for j in [COMPONENT] + ALL_CONTACTS:
        for t in ("unsubscribe", "unsubscribed"):
            c.wait_for(is_presence(j, t), 20, since=mark, what="presence %s from %s" % (t, j))

    mark = c.mark()
    mid = c.send_message(contact_jid("echo"), "still there?")
    err = c.wait_for(lambda el: local(el) == "message" and el.get("id") == mid, 15, since=mark,
                     what="an answer to message %s" % mid)
    assert stanza_error(err) is not None and stanza_error(err)[1] == "registration-required", tostr(err)
    assert not is_registered(ibr_get(c))


def test_login_failure(gateway, clients):
    c = clients.new("fail")
    start = c.mark()
    r = ibr_set(c, {"username": "fail-login", "password": "secret"})
    assert r.get("type") == "result", tostr(r)
    c.wait_for(gateway_status("dnd", "Could not login: Invalid credentials"), 30, since=start)
    # slidge: "You are not connected to this gateway! Maybe this message will tell you why: <e>"
    m = c.wait_for(lambda el: is_message(COMPONENT, "chat")(el)
                   and (body(el) or "").startswith("You are not connected to this gateway!"),
                   15, since=start, what="chat message 'You are not connected to this gateway! …' from %s" % COMPONENT)
    assert "Invalid credentials" in body(m), tostr(m)
    assert c.find(connected_status("fail-login"), since=start) is None


def test_burst_beyond_the_flood_guard(gateway, clients):
    """A module that sends more at once than slidged's flood guard allows (DEMO.md /burst
    N) is paced by the worker core instead of being killed: all N arrive, in order, from
    the same worker."""
    from harness import body, contact_jid, local, register, worker_pid
    c = clients.new("burst")
    register(c, "burst")
    pid = worker_pid(gateway, c.jid)
    n = 4000
    start = c.mark()
    c.send_message(contact_jid("echo"), "/burst %d" % n)
    c.wait_for(lambda el: local(el) == "message" and body(el) == "burst %d/%d" % (n, n),
               timeout=60, since=start, what="the last burst message")
    got = [body(el) for el in c.received[start:]
           if local(el) == "message" and (body(el) or "").startswith("burst ")]
    assert got == ["burst %d/%d" % (i, n) for i in range(1, n + 1)], "%d of %d, out of order or lost" % (len(got), n)
    assert worker_pid(gateway, c.jid) == pid, "the worker was replaced during the burst"
