"""Component discovery and XEP-0077 registration, as a real client sees them through Prosody.
Expected behaviour: reference/slidge.md §6.1 and §7.1 cases 5 and 9; DEMO.md (Registration)."""

from harness import (COMPONENT, NS_DATA, NS_DISCO_INFO, NS_REGISTER, OTHER_DOMAIN,
                     connected_status, field_values, form_fields, ibr_get, ibr_set, is_registered,
                     local, stanza_error, tostr)


def test_component_disco_info(gateway, clients):
    c = clients.new("disco")
    r = c.send_iq(COMPONENT, "get", "<query xmlns='%s'/>" % NS_DISCO_INFO)
    assert r.get("type") == "result", tostr(r)
    q = r.find("{%s}query" % NS_DISCO_INFO)
    assert q is not None, tostr(r)
    identities = [(i.get("category"), i.get("type"), i.get("name"))
                  for i in q.findall("{%s}identity" % NS_DISCO_INFO)]
    assert ("gateway", "demo", "Demo network") in identities, tostr(r)
    features = {f.get("var") for f in q.findall("{%s}feature" % NS_DISCO_INFO)}
    assert "jabber:iq:register" in features, tostr(r)


def test_ibr_get_form(gateway, clients):
    c = clients.new("ibrget")
    r = ibr_get(c)
    assert r.get("type") == "result", tostr(r)
    q = r.find("{%s}query" % NS_REGISTER)
    assert q is not None, tostr(r)
    instructions = q.find("{%s}instructions" % NS_REGISTER)
    assert instructions is not None and (instructions.text or "").strip(), \
        "no <instructions/>: " + tostr(r)
    assert q.find("{%s}registered" % NS_REGISTER) is None, "new user shown as registered: " + tostr(r)
    x = q.find("{%s}x" % NS_DATA)
    assert x is not None, "no jabber:x:data form: " + tostr(r)
    assert x.get("type") == "form", tostr(x)
    fields = form_fields(x)
    assert "FORM_TYPE" in fields and field_values(fields["FORM_TYPE"]) == ["jabber:iq:register"], tostr(x)
    assert fields["FORM_TYPE"].get("type") == "hidden", tostr(x)
    for var, ftype, label in (("username", "text-single", "Username"),
                              ("password", "text-private", "Password")):
        assert var in fields, "no field %r: %s" % (var, tostr(x))
        f = fields[var]
        assert f.find("{%s}required" % NS_DATA) is not None, "%s not required: %s" % (var, tostr(f))
        assert f.get("type", "text-single") == ftype, tostr(f)
        assert f.get("label") == label, tostr(f)


def test_ibr_outside_user_jid_validator(gateway, clients):
    eve = clients.new("eve", host=OTHER_DOMAIN)
    for r in (ibr_get(eve), ibr_set(eve, {"username": "eve", "password": "secret"})):
        assert r.get("type") == "error", tostr(r)
        assert stanza_error(r) == ("cancel", "not-allowed",
                                   "Your account is not allowed to use this gateway."), tostr(r)
    # and nothing was registered: no session, no gateway presence
    eve.pump(1)
    assert not [el for el in eve.received if local(el) == "presence" and el.get("from", "").endswith(COMPONENT)], \
        "\n".join(tostr(el) for el in eve.received)


def test_ibr_set_errors_then_success(gateway, clients):
    c = clients.new("ibrset")

    r = ibr_set(c, {"username": "romeo"})
    assert r.get("type") == "error", tostr(r)
    etype, cond, text = stanza_error(r)
    assert (cond, text) == ("not-acceptable", "Missing field: 'Password'"), tostr(r)

    r = ibr_set(c, {"username": "romeo", "password": "wrong"})
    assert r.get("type") == "error", tostr(r)
    etype, cond, text = stanza_error(r)
    assert (cond, text) == ("not-authorized", "Wrong password"), tostr(r)

    r = ibr_set(c, {"username": "Bad User!", "password": "secret"})
    assert r.get("type") == "error", tostr(r)
    assert stanza_error(r)[1] == "not-acceptable", tostr(r)

    # none of the refused attempts registered anything
    assert not is_registered(ibr_get(c))

    start = c.mark()
    r = ibr_set(c, {"username": "romeo", "password": "secret"})
    assert r.get("type") == "result", tostr(r)
    assert is_registered(ibr_get(c))
    c.wait_for(connected_status("romeo"), 30, since=start)


def test_second_registration_updates_data(gateway, clients):
    c = clients.new("rereg")
    start = c.mark()
    assert ibr_set(c, {"username": "romeo", "password": "secret"}).get("type") == "result"
    c.wait_for(connected_status("romeo"), 30, since=start)

    r = ibr_get(c)
    assert r.get("type") == "result", tostr(r)
    assert is_registered(r), "no <registered/> for a registered user: " + tostr(r)
    x = r.find("{%s}query/{%s}x" % (NS_REGISTER, NS_DATA))
    assert x is not None, tostr(r)
    username = form_fields(x).get("username")
    assert username is not None and field_values(username) == ["romeo"], \
        "username not pre-filled: " + tostr(x)

    r = ibr_set(c, {"username": "romeo2", "password": "other"})
    assert r.get("type") == "result", tostr(r)

    r = ibr_get(c)
    assert is_registered(r), tostr(r)
    x = r.find("{%s}query/{%s}x" % (NS_REGISTER, NS_DATA))
    assert x is not None, tostr(r)
    username = form_fields(x).get("username")
    assert username is not None and field_values(username) == ["romeo2"], \
        "legacy_module_data not updated: " + tostr(x)
