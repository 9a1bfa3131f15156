"""Commands, as XEP-0050 ad-hoc commands and as chat commands (messages to the gateway's
bare JID), with a real client through Prosody: the core's session commands (unregister,
preferences, re-login, find, contacts, sync-contacts), help, abort, confirmations, access
filtering of the commands disco, the demo module's own commands (a multi-step form, a
table), input() and its timeout, and gateway messages.
Expected behaviour: reference/slidge.md §2.8, §5, §6.5, §7.1 cases 7-8; DEMO.md (/input,
/gateway-message); contrib/modules/demo/demo_commands.c (poke, directory).

The input() timeout is 60 s; slidged and its workers take SLIDGE_INPUT_TIMEOUT (seconds)
from their environment instead, which test_input_timeout uses."""

import harness
from test_adhoc import command, execute
from harness import (COMPONENT, NS_DATA, NS_RECEIPTS, body, contact_jid, form_fields,
                     field_values, ibr_get, ibr_set, is_message, is_presence, is_registered,
                     local, register, sfrom, show, stanza_error, status, tostr)

NS_CMD = "http://jabber.org/protocol/commands"
NS_ITEMS = "http://jabber.org/protocol/disco#items"
CORE = "https://slidge.im/command/core/"
ADMIN = CORE + "admin"


# ---- helpers ---------------------------------------------------------------------------

def submit(client, node, sid, values, action="complete"):
    fields = ""
    for var, value in values.items():
        vals = value if isinstance(value, list) else [value]
        fields += "<field var='%s'>%s</field>" % (
            var, "".join("<value>%s</value>" % harness.escape(v) for v in vals))
    return client.send_iq(COMPONENT, "set",
                          "<command xmlns='%s' node='%s' sessionid='%s' action='%s'>"
                          "<x xmlns='%s' type='submit'>%s</x></command>"
                          % (NS_CMD, node, sid, action, NS_DATA, fields), timeout=30)


def note(cmd):
    return cmd.findtext("{%s}note" % NS_CMD)


def xform(cmd):
    x = cmd.find("{%s}x" % NS_DATA)
    assert x is not None, tostr(cmd)
    return x


def table(cmd):
    """(reported vars, [ {var: value} ]) of a command's result form."""
    x = xform(cmd)
    assert x.get("type") == "result", tostr(cmd)
    rep = [f.get("var") for f in x.find("{%s}reported" % NS_DATA)]
    items = []
    for it in x.findall("{%s}item" % NS_DATA):
        items.append({f.get("var"): f.findtext("{%s}value" % NS_DATA) for f in it})
    return rep, items


def disco_commands(client):
    r = client.send_iq(COMPONENT, "get", "<query xmlns='%s' node='%s'/>" % (NS_ITEMS, NS_CMD))
    assert r.get("type") == "result", tostr(r)
    return {i.get("node") for i in r.iter("{%s}item" % NS_ITEMS)}


def from_gw(text=None, startswith=None, contains=None):
    def pred(el):
        if local(el) != "message" or sfrom(el) != COMPONENT or el.get("type") == "error":
            return False
        b = body(el)
        if b is None:
            return False
        return ((text is None or b == text) and (startswith is None or b.startswith(startswith))
                and (contains is None or contains in b))
    pred.__doc__ = "message from %s %r %r %r" % (COMPONENT, text, startswith, contains)
    return pred


def say(client, text, extra=""):
    """A chat message to the gateway; returns (mark, id)."""
    mark = client.mark()
    mid = client.send_message(COMPONENT, text, extra=extra)
    return mark, mid


def ask(client, text, expect=None, startswith=None, timeout=20):
    """Say text to the gateway and wait for its answer."""
    mark, _ = say(client, text)
    return body(client.wait_for(from_gw(expect, startswith), timeout, since=mark))


def error_for(client, mid, since):
    return client.wait_for(lambda el: local(el) == "message" and el.get("id") == mid
                           and el.get("type") == "error", 15, since=since)


def register_failing(client):
    """Register the demo's fail-login user; wait for the failed login."""
    start = client.mark()
    r = ibr_set(client, {"username": "fail-login", "password": "pw"})
    assert r.get("type") == "result", tostr(r)
    client.wait_for(lambda el: local(el) == "presence" and sfrom(el) == COMPONENT
                    and (status(el) or "").startswith("Could not login"), 30, since=start)


# ---- disco and access ------------------------------------------------------------------

def test_disco_by_access_level(gateway, clients):
    c = clients.new("cmdunreg")
    assert disco_commands(c) == {ADMIN, "jabber:iq:register"}

    logged = clients.new("cmdlogged")
    register(logged, "romeo")
    # a session command without a session: slidge's access errors (slidged knows the
    # session commands from the worker it starts at boot)
    r = execute(c, CORE + "unregister")
    assert stanza_error(r) == ("auth", "forbidden",
                               "This is only available for users that are registered to this gateway"), tostr(r)
    r = execute(c, CORE + "contacts")
    assert stanza_error(r)[:2] == ("auth", "not-authorized"), tostr(r)
    assert disco_commands(logged) == {ADMIN, CORE + "contacts", CORE + "preferences",
                                      CORE + "unregister"}
    r = execute(logged, CORE + "re-login")
    assert stanza_error(r) == ("auth", "forbidden", "This is only available for users that are "
                               "not logged to the legacy service"), tostr(r)
    r = execute(logged, "jabber:iq:register")
    assert stanza_error(r)[1] == "bad-request", tostr(r)

    failed = clients.new("cmdfailed")
    register_failing(failed)
    assert disco_commands(failed) == {ADMIN, CORE + "re-login", CORE + "preferences",
                                      CORE + "unregister"}
    r = execute(failed, CORE + "contacts/contacts")
    assert stanza_error(r) == ("auth", "forbidden", "This is only available when you are "
                               "logged in to the legacy service"), tostr(r)


def test_disco_admin(gateways, clients):
    admin = clients.new("cmdadmin")
    gateways.start(args=("--admins", admin.jid))
    assert disco_commands(admin) == {ADMIN, "jabber:iq:register"}
    register(admin, "boss")
    # the demo's ADMIN_ONLY command (demo_commands.c) is listed to an admin with a session
    assert disco_commands(admin) == {ADMIN, CORE + "contacts", CORE + "preferences",
                                     CORE + "unregister", "https://slidge.im/demo/network-status"}
    # by chat, an admin's help lists the administration commands too
    text = ask(admin, "help", startswith="Available commands:")
    assert "\nlist_users -- " in text and "\ncontacts -- " in text, text
    listing = ask(admin, "list_users", startswith="List of registered users")
    assert "xmpp:" + admin.jid in listing, listing


# ---- chat basics -----------------------------------------------------------------------

def test_chat_unknown_help_and_receipt(gateway, clients):
    # another user's session (slidged knows the session commands from boot anyway)
    register(clients.new("cmdother"), "other")
    c = clients.new("cmdchat")
    # unregistered: slidged answers
    text = ask(c, "help", startswith="Available commands:")
    lines = text.split("\n")[1:]
    assert {l.split(" -- ")[0] for l in lines} == {"register", "info"}, text
    assert ask(c, "info", startswith="Demo network (slidge-c core ")
    mark, mid = say(c, "contacts")
    c.wait_for(from_gw("This is only available when you are logged in to the legacy service"),
               15, since=mark)
    assert stanza_error(error_for(c, mid, mark))[1] == "forbidden"

    register(c, "juliet")
    mark, mid = say(c, "Frobnicate now")
    c.wait_for(from_gw("Wut? I don't know that command: frobnicate"), 15, since=mark)
    err = error_for(c, mid, mark)
    assert stanza_error(err) == ("cancel", "item-not-found",
                                 "Wut? I don't know that command: frobnicate"), tostr(err)

    text = ask(c, "help", startswith="Available commands:")
    keywords = [l.split(" -- ")[0] for l in text.split("\n")[1:]]
    assert keywords == ["preferences", "unregister", "info", "contacts", "directory", "find",
                        "poke", "sync-contacts"], text
    assert ask(c, "help find") == "find: 🔎 Search for contacts\nSearch for contacts via this gateway"

    # a command message asking for a receipt gets one from the gateway
    mark, mid = say(c, "contacts", extra="<request xmlns='%s'/>" % NS_RECEIPTS)
    c.wait_for(lambda el: local(el) == "message" and sfrom(el) == COMPONENT and
               el.find("{%s}received" % NS_RECEIPTS) is not None and
               el.find("{%s}received" % NS_RECEIPTS).get("id") == mid, 15, since=mark)


# ---- contacts category -------------------------------------------------------------------

def test_find(gateway, clients):
    c = clients.new("cmdfind")
    register(c, "romeo")
    cmd = command(execute(c, CORE + "contacts/find"))
    assert cmd.get("status") == "executing", tostr(cmd)
    assert set(form_fields(xform(cmd))) == {"phone"}, tostr(cmd)
    cmd = command(submit(c, CORE + "contacts/find", cmd.get("sessionid"), {"phone": "+1000"}))
    assert cmd.get("status") == "completed", tostr(cmd)
    rep, items = table(cmd)
    assert rep == ["jid"] and items == [{"jid": contact_jid("alice")}], tostr(cmd)
    assert xform(cmd).findtext("{%s}title" % NS_DATA) == "Contact search results"

    sid = command(execute(c, CORE + "contacts/find")).get("sessionid")
    r = submit(c, CORE + "contacts/find", sid, {"phone": "+2000"})
    assert stanza_error(r) == ("cancel", "item-not-found", "No contact was found"), tostr(r)

    assert ask(c, "find +1000") == "Contact search results\n\nJID: xmpp:alice@" + COMPONENT
    assert ask(c, "find +3") == "Error: No contact was found"
    # without words, the form becomes a dialogue
    mark, _ = say(c, "find")
    c.wait_for(from_gw("Search for legacy contacts"), 15, since=mark)
    c.wait_for(from_gw("Phone number? (or 'abort')"), 15, since=mark)
    assert ask(c, "+1000", startswith="Contact search results") == \
        "Contact search results\n\nJID: xmpp:alice@" + COMPONENT


def test_contacts_and_category(gateway, clients):
    c = clients.new("cmdcontacts")
    register(c, "romeo")
    cmd = command(execute(c, CORE + "contacts/contacts"))
    rep, items = table(cmd)
    assert rep == ["name", "jid"], tostr(cmd)
    assert items == [{"name": n, "jid": contact_jid(i)}
                     for n, i in (("Alice", "alice"), ("Bob", "bob"), ("Echo", "echo"))], tostr(cmd)
    assert xform(cmd).findtext("{%s}title" % NS_DATA) == "Your buddies"

    text = ask(c, "contacts", startswith="Your buddies")
    assert text == "Your buddies\n" + "".join(
        "\nname: %s\njid: xmpp:%s" % (n, contact_jid(i))
        for n, i in (("Alice", "alice"), ("Bob", "bob"), ("Echo", "echo"))), text

    # the category: a list-single of what the user may run, then the chosen command
    cmd = command(execute(c, CORE + "contacts"))
    x = xform(cmd)
    assert x.findtext("{%s}title" % NS_DATA) == "👤 Contacts", tostr(cmd)
    opts = {o.get("label"): o.findtext("{%s}value" % NS_DATA)
            for o in form_fields(x)["command"].findall("{%s}option" % NS_DATA)}
    assert set(opts) == {"🔎 Search for contacts", "👤 List your legacy contacts",
                         "🔄 Sync XMPP roster", "👋 Poke a contact",
                         "📇 Directory of the demo network"}, tostr(cmd)
    cmd = command(submit(c, CORE + "contacts", cmd.get("sessionid"),
                         {"command": opts["👤 List your legacy contacts"]}))
    assert table(cmd)[0] == ["name", "jid"], tostr(cmd)


def test_sync_contacts_without_privileges(gateway, clients):
    c = clients.new("cmdsync")
    register(c, "romeo")
    cmd = command(execute(c, CORE + "contacts/sync-contacts"))
    x = xform(cmd)
    assert x.findtext("{%s}title" % NS_DATA) == "Are you sure you want to sync your roster?"
    assert field_values(form_fields(x)["confirm"]) == ["true"], tostr(cmd)
    r = submit(c, CORE + "contacts/sync-contacts", cmd.get("sessionid"), {"confirm": "true"})
    err = stanza_error(r)
    assert err[1] == "not-allowed" and "privilege" in err[2], tostr(r)

    text = ask(c, "sync-contacts", startswith="Are you sure you want to sync your roster?")
    assert "\nyes: xmpp:%s?message;body=yes" % COMPONENT in text, text
    assert "\nno: xmpp:%s?message;body=no" % COMPONENT in text, text
    assert ask(c, "nope") == "Canceled"
    ask(c, "sync-contacts", startswith="Are you sure")
    assert ask(c, "yes", startswith="Error: ").startswith("Error: Your server does not give")


# ---- preferences, re-login, unregister ------------------------------------------------------

def test_preferences(gateway, clients):
    c = clients.new("cmdprefs")
    register(c, "romeo")
    node = CORE + "preferences"
    cmd = command(execute(c, node))
    f = form_fields(xform(cmd))
    assert set(f) == {"sync_presence", "sync_avatar"}, tostr(cmd)
    assert field_values(f["sync_presence"]) == ["true"], tostr(cmd)
    cmd = command(submit(c, node, cmd.get("sessionid"),
                         {"sync_presence": "false", "sync_avatar": "1"}))
    assert note(cmd) == "Your preferences have been updated.", tostr(cmd)
    f = form_fields(xform(command(execute(c, node))))
    assert field_values(f["sync_presence"]) == ["false"] and field_values(f["sync_avatar"]) == ["true"]

    # by chat: title, instructions, one question per field with yes/no links
    mark, _ = say(c, "preferences")
    c.wait_for(from_gw("Preferences"), 15, since=mark)
    c.wait_for(from_gw("Customize the gateway behaviour to your liking"), 15, since=mark)
    q = body(c.wait_for(from_gw(startswith="yes: "), 15, since=mark))
    assert q.endswith("Propagate your XMPP presence to the legacy network.? (or 'abort')"), q
    assert "Default: false" in q, q
    q = ask(c, "yes", startswith="yes: ")
    assert q.endswith("Propagate your XMPP avatar to the legacy network.? (or 'abort')"), q
    assert ask(c, "no", startswith="Your") == "Your preferences have been updated."
    f = form_fields(xform(command(execute(c, node))))
    assert field_values(f["sync_presence"]) == ["true"] and field_values(f["sync_avatar"]) == ["false"]


def test_relogin(gateway, clients):
    c = clients.new("cmdrelogin")
    register_failing(c)
    r = execute(c, CORE + "re-login")
    assert stanza_error(r) == ("cancel", "internal-server-error",
                               "Could not login: Invalid credentials"), tostr(r)
    c.wait_for(lambda el: local(el) == "presence" and sfrom(el) == COMPONENT and
               status(el) == "Re-login failed: Invalid credentials", 15)
    assert ask(c, "re-login", startswith="Error: ") == "Error: Could not login: Invalid credentials"


def test_unregister_adhoc(gateway, clients):
    c = clients.new("cmdbye")
    register(c, "romeo")
    node = CORE + "unregister"
    cmd = command(execute(c, node))
    assert xform(cmd).findtext("{%s}title" % NS_DATA) == \
        "Are you sure you want to unregister from '%s'?" % COMPONENT
    # no: nothing happens
    cmd = command(submit(c, node, cmd.get("sessionid"), {"confirm": "false"}))
    assert cmd.get("status") == "completed" and note(cmd) == "You canceled the operation", tostr(cmd)
    assert is_registered(ibr_get(c))

    mark = c.mark()
    cmd = command(execute(c, node))
    cmd = command(submit(c, node, cmd.get("sessionid"), {"confirm": "true"}))
    assert note(cmd) == "You are not registered to '%s' anymore." % COMPONENT, tostr(cmd)
    c.wait_for(lambda el: local(el) == "presence" and sfrom(el) == COMPONENT and show(el) == "dnd"
               and status(el) == "You are not registered to this gateway anymore.", 15, since=mark)
    for _ in range(20):
        if not is_registered(ibr_get(c)):
            break
        c.pump(0.5)
    assert not is_registered(ibr_get(c))
    assert disco_commands(c) == {ADMIN, "jabber:iq:register"}
    # the gateway's XEP-0100 unsubscription is in-band unregistration's only
    # (test_chat_register.py compares both paths)
    assert not c.find(is_presence(COMPONENT, "unsubscribe"), since=mark)


def test_unregister_chat(gateway, clients):
    c = clients.new("cmdbyechat")
    register(c, "romeo")
    text = ask(c, "unregister", startswith="Are you sure you want to unregister")
    assert text.split("\n")[1:] == ["yes: xmpp:%s?message;body=yes" % COMPONENT,
                                    "no: xmpp:%s?message;body=no" % COMPONENT], text
    assert ask(c, "yes") == "You are not registered to '%s' anymore." % COMPONENT
    for _ in range(20):
        if not is_registered(ibr_get(c)):
            break
        c.pump(0.5)
    assert not is_registered(ibr_get(c))


# ---- the module's commands: a multi-step form and a table --------------------------------

def test_module_form_confirmation_and_table(gateway, clients):
    c = clients.new("cmdpoke")
    register(c, "romeo")
    node = "https://slidge.im/demo/poke"
    cmd = command(execute(c, node))
    f = form_fields(xform(cmd))
    assert set(f) == {"contact", "text", "loud"}, tostr(cmd)
    options = {o.findtext("{%s}value" % NS_DATA) for o in f["contact"].findall("{%s}option" % NS_DATA)}
    assert options == {contact_jid(i) for i in ("echo", "alice", "bob")}, tostr(cmd)
    sid = cmd.get("sessionid")
    # FormField.validate: a value outside the options, a missing required field
    r = submit(c, node, sid, {"contact": "nobody@" + COMPONENT, "text": "x"})
    assert stanza_error(r) == ("modify", "not-acceptable",
                               "Not a valid option: 'nobody@%s'" % COMPONENT), tostr(r)
    sid = command(execute(c, node)).get("sessionid")
    r = submit(c, node, sid, {"contact": contact_jid("alice")})
    assert stanza_error(r) == ("modify", "not-acceptable", "Missing field: 'Text'"), tostr(r)

    sid = command(execute(c, node)).get("sessionid")
    cmd = command(submit(c, node, sid, {"contact": contact_jid("alice"), "text": "hi there",
                                        "loud": "true"}))
    assert cmd.get("status") == "executing", tostr(cmd)
    assert xform(cmd).findtext("{%s}title" % NS_DATA) == "Poke Alice?", tostr(cmd)
    mark = c.mark()
    cmd = command(submit(c, node, sid, {"confirm": "true"}))
    assert note(cmd) == "Poked.", tostr(cmd)
    c.wait_for(is_message(contact_jid("alice") + "/slidge", "chat", "poke: HI THERE"), 15, since=mark)

    # cancel in the middle
    sid = command(execute(c, node)).get("sessionid")
    r = c.send_iq(COMPONENT, "set", "<command xmlns='%s' node='%s' sessionid='%s' action='cancel'/>"
                  % (NS_CMD, node, sid))
    assert command(r).get("status") == "canceled", tostr(r)

    # the table, ad-hoc and by chat
    rep, items = table(command(execute(c, "https://slidge.im/demo/directory")))
    assert rep == ["id", "name", "jid"] and [i["id"] for i in items] == ["echo", "alice", "bob"]
    text = ask(c, "directory", startswith="The demo network")
    assert "\nLegacy id: bob\nName: Bob\nJID: xmpp:bob@%s" % COMPONENT in text, text


def test_chat_dialogue_options_and_abort(gateway, clients):
    c = clients.new("cmddialog")
    register(c, "romeo")
    mark, _ = say(c, "poke")
    c.wait_for(from_gw("Poke a contact"), 15, since=mark)
    q = body(c.wait_for(from_gw(contains="\nAlice: "), 15, since=mark))
    assert "\nAlice: xmpp:%s?message;body=alice@%s" % (COMPONENT, COMPONENT) in q, q
    assert q.endswith("Contact? (or 'abort')"), q
    assert ask(c, "abort") == "Command aborted"
    # aborted: the next message is a command again
    assert ask(c, "zzz", startswith="Wut?") == "Wut? I don't know that command: zzz"

    # a whole dialogue: list-single, text, boolean, then the confirmation
    mark, _ = say(c, "poke")
    c.wait_for(from_gw(contains="\nAlice: "), 15, since=mark)
    q = ask(c, contact_jid("bob"), startswith="Default: hello")
    assert q.endswith("Text? (or 'abort')"), q
    q = ask(c, "psst", startswith="yes: ")
    assert q.endswith("Loud? (or 'abort')"), q
    q = ask(c, "no", startswith="Poke Bob?")
    mark = c.mark()
    assert ask(c, "yes") == "Poked."
    c.wait_for(is_message(contact_jid("bob") + "/slidge", "chat", "poke: psst"), 15, since=mark)

    # a bad answer ends the dialogue with slidge's error text
    mark, _ = say(c, "poke")
    c.wait_for(from_gw(contains="\nAlice: "), 15, since=mark)
    assert ask(c, "carol", startswith="Error: ") == "Error: Not a valid option: 'carol'"


# ---- input() and gateway messages ---------------------------------------------------------

def test_input_and_gateway_message(gateway, clients):
    c = clients.new("cmdinput")
    register(c, "romeo")
    mark = c.mark()
    c.send_message(contact_jid("echo"), "/input")
    c.wait_for(from_gw("What is your favourite colour?"), 15, since=mark)
    mark = c.mark()
    c.send_message(COMPONENT, "blue. no, yellow")
    c.wait_for(is_message(contact_jid("echo") + "/slidge", "chat", "you said: blue. no, yellow"),
               15, since=mark)
    # the answer was not taken for a command
    assert not c.find(from_gw(startswith="Wut?"), since=mark)

    mark = c.mark()
    c.send_message(contact_jid("echo"), "/gateway-message hello from the network")
    c.wait_for(from_gw("hello from the network"), 15, since=mark)


def test_input_timeout(gateways, clients, monkeypatch):
    real_spawn = harness.spawn

    def spawn(cmd, **kw):
        kw["env"] = dict(kw.get("env") or {}, SLIDGE_INPUT_TIMEOUT="2")
        return real_spawn(cmd, **kw)
    monkeypatch.setattr(harness, "spawn", spawn)
    gateways.start()
    c = clients.new("cmdslow")
    register(c, "romeo")
    mark = c.mark()
    c.send_message(contact_jid("echo"), "/input")
    c.wait_for(from_gw("What is your favourite colour?"), 15, since=mark)
    c.wait_for(from_gw("You took too much time to reply"), 15, since=mark)
    # too late: the message is a command again
    assert ask(c, "red", startswith="Wut?") == "Wut? I don't know that command: red"
    assert not c.find(lambda el: body(el) == "you said: red", since=mark)

    # a dialogue times out the same way
    mark, _ = say(c, "preferences")
    c.wait_for(from_gw(startswith="yes: "), 15, since=mark)
    c.wait_for(from_gw("You took too much time to reply"), 15, since=mark)
    assert ask(c, "yes", startswith="Wut?") == "Wut? I don't know that command: yes"
