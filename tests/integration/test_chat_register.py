"""Registration by chat (the chat command "register" to the gateway's bare JID) and the
other gaps of the command set: the module's session commands known to slidged from boot,
the module's ADMIN_ONLY commands by chat, the unregister command's teardown compared
with in-band unregistration, receipts of command messages slidged answers.
Expected behaviour: reference/slidge.md §5 (chatbot syntax, receipts, access), §6.2 (the
registration flows, with the form played as a dialogue), §6.5 (unregistration paths);
DEMO.md (Registration); contrib/modules/demo/demo_commands.c (network-status)."""

import time

from harness import (COMPONENT, NS_RECEIPTS, OTHER_DOMAIN, body, connected_status,
                     contact_jid, ibr_get, ibr_remove, is_presence, is_registered, local,
                     register, sfrom, show, stanza_error, status, tostr)
from test_adhoc import NS_CMD, execute
from test_commands import ask, disco_commands, error_for, from_gw, say
from test_qr import decode_png_url, is_gateway_attachment, is_gateway_text, qr_gateway

CORE = "https://slidge.im/command/core/"
ADMIN = CORE + "admin"
STATUS_NODE = "https://slidge.im/demo/network-status"
TIMEOUT_TEXT = "It does not seem that the QR code was correctly used, or you took too much time"


# ---- helpers ---------------------------------------------------------------------------

def question(label):
    return "%s? (or 'abort')" % label


def start_chat_registration(client):
    """Say "register"; the form's title, instructions and first question come back."""
    mark, _ = say(client, "register")
    client.wait_for(from_gw("Registration to 'Demo network'"), 15, since=mark)
    client.wait_for(from_gw("Enter your credentials"), 15, since=mark)
    client.wait_for(from_gw(question("Username")), 15, since=mark)
    return mark


def answer_credentials(client, username, password="pw"):
    """Answer the username and the password (text-private: asked the same way)."""
    ask(client, username, question("Password"))
    return say(client, password)[0]


def answer_preferences(client, since, presence="yes", avatar="no"):
    client.wait_for(from_gw("Preferences"), 20, since=since)
    client.wait_for(from_gw("Customize the gateway behaviour to your liking"), 15, since=since)
    q = body(client.wait_for(from_gw(startswith="yes: "), 15, since=since))
    assert q.endswith(question("Propagate your XMPP presence to the legacy network.")), q
    assert "\nDefault: true\n" in q, q
    q = ask(client, presence, startswith="yes: ")
    assert q.endswith(question("Propagate your XMPP avatar to the legacy network.")), q
    mark, _ = say(client, avatar)
    client.wait_for(from_gw("Success, welcome!"), 15, since=mark)
    return mark


def gateway_presences(client, since):
    return [el for el in client.received[since:] if local(el) == "presence" and
            sfrom(el) == COMPONENT]


def roster_removal(jid):
    """Predicate: the server's roster push removing jid (what an "unsubscribed" it
    received from jid becomes for the client: Prosody does not pass the presence on)."""
    def pred(el):
        item = el.find("{jabber:iq:roster}query/{jabber:iq:roster}item")
        return (local(el) == "iq" and item is not None and item.get("jid") == jid and
                item.get("subscription") == "remove")
    pred.__doc__ = "a roster push removing %s" % jid
    return pred


# ---- registration by chat ----------------------------------------------------------------

def test_chat_register_form(gateways, clients):
    admin = clients.new("chatregadmin")
    gateways.start(args=("--admins", admin.jid))
    c = clients.new("chatreg")
    start_chat_registration(c)
    mark = answer_credentials(c, "chatreg")
    mark = answer_preferences(c, mark, presence="yes", avatar="no")
    c.wait_for(connected_status("chatreg"), 30, since=mark)
    admin.wait_for(is_gateway_text("%s has registered" % c.jid), 15,
                   what="the admin's registration notice")
    assert is_registered(ibr_get(c))
    # the answers were stored: the preferences command shows them
    mark, _ = say(c, "preferences")
    q = body(c.wait_for(from_gw(startswith="yes: "), 15, since=mark))
    assert "Default: true" in q, q
    q = ask(c, "yes", startswith="yes: ")
    assert "Default: false" in q, q
    assert ask(c, "abort") == "Command aborted"
    # registered: register is refused, with slidge's text
    mark, mid = say(c, "register")
    c.wait_for(from_gw("This is only available for non-users. Unregister first."), 15, since=mark)
    assert stanza_error(error_for(c, mid, mark))[1] == "bad-request"


def test_chat_register_refusals(gateway, clients):
    c = clients.new("chatregbad")
    # the module's refusal ends the dialogue with slidge's "Error: <text>"
    start_chat_registration(c)
    mark = answer_credentials(c, "chatregbad", "wrong")
    c.wait_for(from_gw("Error: Wrong password"), 20, since=mark)
    # the dialogue is over: the next message is a command again
    assert ask(c, "zzz", startswith="Wut?") == "Wut? I don't know that command: zzz"
    # a username the module does not accept
    start_chat_registration(c)
    mark = answer_credentials(c, "No Spaces")
    assert body(c.wait_for(from_gw(startswith="Error: "), 20, since=mark)).startswith("Error: ")
    assert not is_registered(ibr_get(c))


def test_chat_register_two_factor(gateways, clients):
    gateways.start(module_args=("--demo-registration", "2fa"))
    c = clients.new("chatregtwofa")
    start_chat_registration(c)
    mark = answer_credentials(c, "twofa")
    c.wait_for(from_gw("Enter your 2FA code"), 20, since=mark)
    c.wait_for(from_gw("You should have received something via email or SMS, or something"),
               15, since=mark)
    c.wait_for(from_gw(question("Code")), 15, since=mark)
    # a wrong code ends the registration, as the ad-hoc path does
    assert ask(c, "0000", startswith="Error: ") == "Error: Wrong code"
    assert not is_registered(ibr_get(c))
    start_chat_registration(c)
    mark = answer_credentials(c, "twofa")
    c.wait_for(from_gw(question("Code")), 20, since=mark)
    mark, _ = say(c, "1234")
    mark = answer_preferences(c, mark)
    c.wait_for(connected_status("twofa"), 30, since=mark)


def test_chat_register_qr(gateways, prosody, clients, testdir):
    qr_gateway(gateways, prosody)
    c = clients.new("chatregqr")
    start_chat_registration(c)
    mark = answer_credentials(c, "chatregqr")
    text = "demo-pair:chatregqr"
    # the attachment and the text, as the ad-hoc path sends them, then the form's texts
    att = c.wait_for(is_gateway_attachment, 30, since=mark, what="the QR code attachment")
    url = att.findtext("{jabber:x:oob}x/{jabber:x:oob}url")
    c.wait_for(is_gateway_text(text), 15, since=mark)
    c.wait_for(from_gw("Flash this"), 15, since=mark)
    c.wait_for(from_gw("Flash this QR in the appropriate place"), 15, since=mark)
    c.wait_for(from_gw("Text encoded in the QR code: " + text), 15, since=mark)
    c.wait_for(from_gw("URL of the QR code image: " + url), 15, since=mark)
    assert decode_png_url(url, testdir) == text
    # the demo network confirms by itself: no question, straight to the preferences
    mark = answer_preferences(c, mark)
    c.wait_for(connected_status("chatregqr"), 30, since=mark)


def test_chat_register_qr_timeout(gateways, prosody, clients):
    qr_gateway(gateways, prosody, "--qr-timeout", "2")
    c = clients.new("chatregqrslow")
    start_chat_registration(c)
    t0 = time.monotonic()
    mark = answer_credentials(c, "qr-never")
    c.wait_for(from_gw("Flash this"), 30, since=mark)
    # while the dialogue waits, messages are not commands
    assert ask(c, "help", startswith="This step") == \
        "This step is still running; wait for its answer (or 'abort')"
    c.wait_for(from_gw("Error: " + TIMEOUT_TEXT), 20, since=mark)
    assert time.monotonic() - t0 >= 2
    assert not is_registered(ibr_get(c))


def test_chat_register_abort(gateway, clients):
    c = clients.new("chatregabort")
    start_chat_registration(c)
    assert ask(c, "abort") == "Command aborted"
    assert ask(c, "zzz", startswith="Wut?") == "Wut? I don't know that command: zzz"
    # abort right after the last answer: whether it reaches slidged while the module
    # checks the form or once the preferences are asked (the demo answers at once), the
    # registration ends there and nothing is registered
    start_chat_registration(c)
    ask(c, "chatregabort", question("Password"))
    say(c, "pw")
    mark, _ = say(c, "abort")
    c.wait_for(from_gw("Command aborted"), 20, since=mark)
    c.pump(2)
    assert not c.find(from_gw("Success, welcome!"))
    assert not is_registered(ibr_get(c))


def test_chat_register_outside_validator(gateway, clients):
    eve = clients.new("evechatreg", host=OTHER_DOMAIN)
    mark, mid = say(eve, "register")
    eve.wait_for(from_gw("Your JID is not allowed to use this gateway."), 15, since=mark)
    assert stanza_error(error_for(eve, mid, mark)) == (
        "modify", "bad-request", "Your JID is not allowed to use this gateway.")
    eve.pump(0.5)
    assert not eve.find(from_gw(question("Username")), since=mark)


# ---- slidged knows the session commands from boot -------------------------------------------

def test_session_commands_known_before_any_session(gateway, clients):
    c = clients.new("cmdfromboot")
    # no session ever started on this gateway: the access errors are slidge's anyway
    r = execute(c, CORE + "unregister")
    assert stanza_error(r) == ("auth", "forbidden", "This is only available for users that "
                               "are registered to this gateway"), tostr(r)
    mark, mid = say(c, "contacts")
    c.wait_for(from_gw("This is only available when you are logged in to the legacy service"),
               15, since=mark)
    assert stanza_error(error_for(c, mid, mark))[1] == "forbidden"
    # a command message asking for a receipt gets one from slidged too
    mark, mid = say(c, "info", extra="<request xmlns='%s'/>" % NS_RECEIPTS)
    c.wait_for(lambda el: local(el) == "message" and sfrom(el) == COMPONENT and
               el.find("{%s}received" % NS_RECEIPTS) is not None and
               el.find("{%s}received" % NS_RECEIPTS).get("id") == mid, 15, since=mark)
    # no receipt unless asked
    mark, _ = say(c, "info")
    c.wait_for(from_gw(startswith="Demo network"), 15, since=mark)
    c.pump(0.5)
    assert not c.find(lambda el: el.find("{%s}received" % NS_RECEIPTS) is not None, since=mark)


def test_receipt_for_what_slidged_answers_to_a_user(gateway, clients):
    c = clients.new("cmdreceipt")
    register(c, "romeo")
    # help is slidged's: the session passes it on, and acks it
    mark, mid = say(c, "help", extra="<request xmlns='%s'/>" % NS_RECEIPTS)
    c.wait_for(from_gw(startswith="Available commands:"), 15, since=mark)
    c.wait_for(lambda el: local(el) == "message" and sfrom(el) == COMPONENT and
               el.find("{%s}received" % NS_RECEIPTS) is not None and
               el.find("{%s}received" % NS_RECEIPTS).get("id") == mid, 15, since=mark)


# ---- the module's ADMIN_ONLY commands ---------------------------------------------------

def test_module_admin_command(gateways, clients):
    admin = clients.new("cmdadminmod")
    gateways.start(args=("--admins", admin.jid))
    register(admin, "boss")
    assert ask(admin, "network-status", startswith="The demo network") == \
        "The demo network is up; 3 of echo, alice, bob known to %s" % admin.jid
    assert STATUS_NODE in disco_commands(admin)
    # the same command as XEP-0050: slidged lets the admin's request through to the worker
    r = execute(admin, STATUS_NODE)
    assert r.get("type") == "result", tostr(r)
    cmd = r.find("{%s}command" % NS_CMD)
    assert cmd.get("status") == "completed", tostr(r)
    assert "The demo network is up; 3 of echo, alice, bob known to %s" % admin.jid in \
        [n.text for n in cmd.findall("{%s}note" % NS_CMD)], tostr(r)
    text = ask(admin, "help", startswith="Available commands:")
    assert "\nnetwork-status -- 🩺 Demo network status" in text, text

    user = clients.new("cmdnotadmin")
    register(user, "romeo")
    mark, mid = say(user, "network-status")
    user.wait_for(from_gw("This command is for administrators only"), 15, since=mark)
    assert stanza_error(error_for(user, mid, mark))[:2] == ("auth", "not-authorized")
    r = execute(user, STATUS_NODE)
    assert stanza_error(r)[:2] == ("auth", "not-authorized"), tostr(r)
    assert STATUS_NODE not in disco_commands(user)
    assert "network-status" not in ask(user, "help", startswith="Available commands:")


# ---- unregistration: the command versus in-band ----------------------------------------------

def test_unregister_command_without_xep0100_trio(gateway, clients):
    c = clients.new("byecmd")
    register(c, "romeo")
    c.wait_for(is_presence(contact_jid("echo") + "/slidge", ""), 15)
    mark = c.mark()
    ask(c, "unregister", startswith="Are you sure")
    assert ask(c, "yes") == "You are not registered to '%s' anymore." % COMPONENT
    c.wait_for(lambda el: local(el) == "presence" and sfrom(el) == COMPONENT and
               show(el) == "dnd" and status(el) == "You are not registered to this gateway "
               "anymore.", 15, since=mark)
    # the contacts still unsubscribe
    c.wait_for(is_presence(contact_jid("echo"), "unsubscribe"), 20, since=mark)
    c.wait_for(roster_removal(contact_jid("echo")), 20, since=mark)
    for _ in range(20):
        if not is_registered(ibr_get(c)):
            break
        c.pump(0.5)
    assert not is_registered(ibr_get(c))
    c.pump(1)
    types = [el.get("type", "") for el in gateway_presences(c, mark)]
    assert not {"unavailable", "unsubscribe", "unsubscribed"} & set(types), types
    assert not c.find(roster_removal(COMPONENT), since=mark)


def test_unregister_in_band_sends_xep0100_trio(gateway, clients):
    c = clients.new("byeibr")
    register(c, "romeo")
    c.wait_for(is_presence(contact_jid("echo") + "/slidge", ""), 15)
    mark = c.mark()
    r = ibr_remove(c)
    assert r.get("type") == "result", tostr(r)
    for ptype in ("unavailable", "unsubscribe"):
        c.wait_for(is_presence(COMPONENT, ptype), 20, since=mark)
    c.wait_for(roster_removal(COMPONENT), 20, since=mark)      # its "unsubscribed"
    c.wait_for(is_presence(contact_jid("echo"), "unsubscribe"), 20, since=mark)
    # no busy presence: that is the command's
    assert not [el for el in gateway_presences(c, mark) if show(el) == "dnd"]
