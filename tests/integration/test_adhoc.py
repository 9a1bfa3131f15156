"""XEP-0050 commands answered by slidged itself: registration by ad-hoc command (form and
2FA flows) and the administration category. Expected behaviour: reference/slidge.md §5,
§6.2, §7.1 cases 7 and 30; DEMO.md (Registration)."""

from harness import (COMPONENT, NS_DATA, OTHER_DOMAIN, connected_status, form_fields,
                     stanza_error, tostr)

NS_CMD = "http://jabber.org/protocol/commands"
NS_ITEMS = "http://jabber.org/protocol/disco#items"
NODE_ADMIN = "https://slidge.im/command/core/admin"


def execute(client, node):
    return client.send_iq(COMPONENT, "set", "<command xmlns='%s' node='%s' action='execute'/>"
                          % (NS_CMD, node))


def submit(client, node, sid, values, action="next"):
    fields = "".join("<field var='%s'><value>%s</value></field>" % kv for kv in values.items())
    return client.send_iq(COMPONENT, "set",
                          "<command xmlns='%s' node='%s' sessionid='%s' action='%s'>"
                          "<x xmlns='%s' type='submit'>%s</x></command>"
                          % (NS_CMD, node, sid, action, NS_DATA, fields), timeout=30)


def command(r):
    assert r.get("type") == "result", tostr(r)
    c = r.find("{%s}command" % NS_CMD)
    assert c is not None, tostr(r)
    return c


def test_commands_disco_unregistered(gateway, clients):
    c = clients.new("cmddisco")
    r = c.send_iq(COMPONENT, "get", "<query xmlns='%s' node='%s'/>" % (NS_ITEMS, NS_CMD))
    assert r.get("type") == "result", tostr(r)
    items = {(i.get("node"), i.get("name")) for i in r.iter("{%s}item" % NS_ITEMS)}
    assert items == {(NODE_ADMIN, "🛷️ Slidge administration"),
                     ("jabber:iq:register", "📝 Register to the gateway")}, tostr(r)


def test_register_by_command_with_preferences(gateway, clients):
    c = clients.new("adhocreg")
    cmd = command(execute(c, "jabber:iq:register"))
    assert cmd.get("status") == "executing", tostr(cmd)
    assert cmd.find("{%s}actions/{%s}next" % (NS_CMD, NS_CMD)) is not None, tostr(cmd)
    x = cmd.find("{%s}x" % NS_DATA)
    assert x.findtext("{%s}title" % NS_DATA) == "Registration to 'Demo network'", tostr(x)
    assert {"username", "password"} <= set(form_fields(x)), tostr(x)
    sid = cmd.get("sessionid")

    # a missing field, then the module's refusal, are errors with slidge's texts
    r = submit(c, "jabber:iq:register", sid, {"username": "adhoc"})
    assert stanza_error(r) == ("modify", "not-acceptable", "Missing field: 'Password'"), tostr(r)
    r = submit(c, "jabber:iq:register", sid, {"username": "adhoc", "password": "wrong"})
    assert stanza_error(r) == ("auth", "not-authorized", "Wrong password"), tostr(r)

    # a refused step ends the command: start again
    sid = command(execute(c, "jabber:iq:register")).get("sessionid")
    cmd = command(submit(c, "jabber:iq:register", sid, {"username": "adhoc", "password": "pw"}))
    assert cmd.get("status") == "executing", tostr(cmd)
    prefs = form_fields(cmd.find("{%s}x" % NS_DATA))
    assert set(prefs) == {"sync_presence", "sync_avatar"}, tostr(cmd)
    cmd = command(submit(c, "jabber:iq:register", sid,
                         {"sync_presence": "true", "sync_avatar": "false"}, action="complete"))
    assert cmd.get("status") == "completed", tostr(cmd)
    assert cmd.findtext("{%s}note" % NS_CMD) == "Success, welcome!", tostr(cmd)
    c.wait_for(connected_status("adhoc"), timeout=30)

    # registered: the command is refused, and the disco list no longer offers it
    r = execute(c, "jabber:iq:register")
    assert stanza_error(r)[1] == "bad-request", tostr(r)


def test_register_two_factor(gateways, clients):
    gateways.start(module_args=("--demo-registration", "2fa"))
    c = clients.new("twofa")
    sid = command(execute(c, "jabber:iq:register")).get("sessionid")
    cmd = command(submit(c, "jabber:iq:register", sid, {"username": "twofa", "password": "pw"}))
    fields = form_fields(cmd.find("{%s}x" % NS_DATA))
    assert set(fields) == {"code"}, tostr(cmd)
    r = submit(c, "jabber:iq:register", sid, {"code": "0000"})
    assert stanza_error(r) == ("auth", "not-authorized", "Wrong code"), tostr(r)
    sid = command(execute(c, "jabber:iq:register")).get("sessionid")
    command(submit(c, "jabber:iq:register", sid, {"username": "twofa", "password": "pw"}))
    cmd = command(submit(c, "jabber:iq:register", sid, {"code": "1234"}))
    assert set(form_fields(cmd.find("{%s}x" % NS_DATA))) == {"sync_presence", "sync_avatar"}, tostr(cmd)
    cmd = command(submit(c, "jabber:iq:register", sid, {"sync_presence": "1", "sync_avatar": "1"},
                         action="complete"))
    assert cmd.get("status") == "completed", tostr(cmd)
    c.wait_for(connected_status("twofa"), timeout=30)


def test_admin_category_and_info(gateway, clients):
    c = clients.new("nonadmin")
    cmd = command(execute(c, NODE_ADMIN))
    x = cmd.find("{%s}x" % NS_DATA)
    options = [v.text for v in x.iter("{%s}value" % NS_DATA)]
    assert options == [NODE_ADMIN + "/info"], tostr(cmd)
    cmd = command(submit(c, NODE_ADMIN, cmd.get("sessionid"), {"command": NODE_ADMIN + "/info"}))
    assert cmd.get("status") == "completed", tostr(cmd)
    assert cmd.findtext("{%s}note" % NS_CMD).startswith("Demo network (slidge-c core "), tostr(cmd)
    # admin-only commands are refused to others
    r = execute(c, NODE_ADMIN + "/list_users")
    assert stanza_error(r)[:2] == ("auth", "not-authorized"), tostr(r)


def test_admin_list_and_delete_users(gateways, clients):
    admin = clients.new("boss")
    gateways.start(args=("--admins", admin.jid))
    cmd = command(execute(admin, NODE_ADMIN))
    options = {v.text for v in cmd.iter("{%s}value" % NS_DATA)}
    assert NODE_ADMIN + "/list_users" in options and NODE_ADMIN + "/delete_user" in options, tostr(cmd)

    victim = clients.new("victim")
    sid = command(execute(victim, "jabber:iq:register")).get("sessionid")
    command(submit(victim, "jabber:iq:register", sid, {"username": "victim", "password": "pw"}))
    command(submit(victim, "jabber:iq:register", sid, {"sync_presence": "1", "sync_avatar": "1"}))
    victim.wait_for(connected_status("victim"), timeout=30)
    admin.wait_for(lambda el: el.get("from") == COMPONENT and
                   (el.findtext("{jabber:client}body") or "") == "%s has registered" % victim.jid,
                   timeout=10, what="the admin's registration notice")

    cmd = command(execute(admin, NODE_ADMIN + "/list_users"))
    assert cmd.get("status") == "completed", tostr(cmd)
    jids = [v.text for f in cmd.iter("{%s}field" % NS_DATA) if f.get("var") == "jid"
            for v in f.iter("{%s}value" % NS_DATA)]
    assert victim.jid in jids, tostr(cmd)

    sid = command(execute(admin, NODE_ADMIN + "/delete_user")).get("sessionid")
    cmd = command(submit(admin, NODE_ADMIN + "/delete_user", sid, {"jid": victim.jid}))
    cmd = command(submit(admin, NODE_ADMIN + "/delete_user", sid, {"confirm": "true"},
                         action="complete"))
    assert cmd.get("status") == "completed", tostr(cmd)
    victim.wait_for(lambda el: el.get("from") == COMPONENT and el.get("type") == "unavailable",
                    timeout=15, what="the gateway going unavailable for the deleted user")


def test_commands_refused_outside_validator(gateway, clients):
    eve = clients.new("evecmd", host=OTHER_DOMAIN)
    r = execute(eve, "jabber:iq:register")
    assert stanza_error(r) == ("modify", "bad-request",
                               "Your JID is not allowed to use this gateway."), tostr(r)
