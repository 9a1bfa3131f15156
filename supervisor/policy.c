/* policy.c: what a worker may say to the XMPP server (ARCHITECTURE.md "Trust rules").
 *
 * A worker is never trusted: each stanza it emits is parsed with the same limits as the
 * server's input, must be one message, presence or iq in the component's namespace,
 * must come from inside the component's domain, and must go to the worker's own user —
 * or to that user's server when it is an XEP-0356 privileged stanza acting for that same
 * user and nobody else. What passes is re-serialised from the parsed tree: raw worker
 * bytes never reach the server. */
#include <string.h>

#include "jid.h"
#include "slidged.h"
#include "xml.h"

#define NS_PRIV1 "urn:xmpp:privilege:1"
#define NS_PRIV2 "urn:xmpp:privilege:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_ROSTER "jabber:iq:roster"

/* 1 if s is a JID whose bare form is user_jid. */
static int
is_user(const char *s, const char *user_jid)
{
	struct jid j;
	char bare[JID_BUF];

	return s && jid_parse(s, &j) == 0 && jid_bare(&j, bare, sizeof bare) == 0 &&
	    strcmp(bare, user_jid) == 0;
}

/* 1 if s is a JID inside the component's domain. */
static int
is_ours(const char *s)
{
	struct jid j;

	return s && jid_parse(s, &j) == 0 && strcmp(j.domain, G.jid) == 0;
}

int
policy_to_server(xmlNodePtr st, const char *user_jid)
{
	const char *to = xml_attr(st, "to");
	const char *at = strchr(user_jid, '@');
	struct jid j;

	return at && to && jid_parse(to, &j) == 0 && !j.local[0] && !j.resource[0] &&
	    strcmp(j.domain, at + 1) == 0;
}

/* A privileged message (XEP-0356 §7, "message" permission): the server sends the
 * forwarded message as if the user had sent it. It must be the user's own message, to a
 * JID of ours (a contact), nothing else. */
static const char *
check_privileged_message(xmlNodePtr st, const char *user_jid)
{
	xmlNodePtr priv = xml_child(st, "privilege", NS_PRIV2);
	xmlNodePtr fwd, inner;

	if (!priv)
		priv = xml_child(st, "privilege", NS_PRIV1);
	if (!priv)
		return "to the user's server without a privilege element";
	fwd = xml_child(priv, "forwarded", NS_FORWARD);
	inner = fwd ? xml_child(fwd, "message", NULL) : NULL;
	if (!inner || xml_next_elem(inner))
		return "a privileged message without exactly one forwarded message";
	if (!is_user(xml_attr(inner, "from"), user_jid))
		return "a privileged message on behalf of someone other than its user";
	if (!is_ours(xml_attr(inner, "to")))
		return "a privileged message to a JID outside the component";
	return NULL;
}

/* A privileged iq (XEP-0356 v2 "iq" permission, e.g. the user's PEP): the wrapped iq must
 * be the user's own. */
static const char *
check_privileged_iq(xmlNodePtr st, const char *user_jid)
{
	xmlNodePtr p = xml_child(st, "privileged_iq", NS_PRIV2), inner;

	if (!p)
		return "an iq to the user's server that is not a privileged iq";
	inner = xml_child(p, "iq", NULL);
	if (!inner || xml_next_elem(inner))
		return "a privileged iq without exactly one wrapped iq";
	if (!is_user(xml_attr(inner, "from"), user_jid))
		return "a privileged iq on behalf of someone other than its user";
	return NULL;
}

/* A roster push (XEP-0356 "roster" permission) may only add or change JIDs of ours. */
static const char *
check_roster(xmlNodePtr st)
{
	xmlNodePtr q = xml_child(st, "query", NS_ROSTER), it;

	if (!q)
		return NULL;
	for (it = xml_first_elem(q); it; it = xml_next_elem(it))
		if (strcmp((const char *)it->name, "item") == 0 && !is_ours(xml_attr(it, "jid")))
			return "a roster item outside the component's domain";
	return NULL;
}

static int is_upload_service(const char *to);
static const char *check_upload_iq(xmlNodePtr st);

int
policy_upload_iq(xmlNodePtr st)
{
	return !strcmp((const char *)st->name, "iq") && is_upload_service(xml_attr(st, "to")) &&
	    check_upload_iq(st) == NULL;
}

/* Parse what a worker emits: one message, presence or iq in the stream's namespace.
 * NULL with the broken rule in *why otherwise. */
static xmlDocPtr
parse_emit(const char *xml, size_t len, const char **why)
{
	xmlDocPtr doc;
	xmlNodePtr st;
	const char *name, *ns;

	doc = xml_parse_stanza(xml, len, XML_DEPTH_MAX, why);
	if (!doc)
		return NULL;
	st = xmlDocGetRootElement(doc);
	name = (const char *)st->name;
	if (strcmp(name, "message") && strcmp(name, "presence") && strcmp(name, "iq")) {
		*why = "not a message, presence or iq";
		goto fail;
	}
	/* The stream's default namespace applies; anything else would change the meaning
	 * of the stanza once inside the component stream. */
	ns = xml_ns(st);
	if (*ns && strcmp(ns, "jabber:component:accept") != 0) {
		*why = "wrong namespace";
		goto fail;
	}
	return doc;
fail:
	xmlFreeDoc(doc);
	return NULL;
}

xmlDocPtr
policy_check_emit(const char *user_jid, const char *xml, size_t len, const char **why)
{
	xmlDocPtr doc;
	xmlNodePtr st;
	const char *name, *type;

	if (!(doc = parse_emit(xml, len, why)))
		return NULL;
	st = xmlDocGetRootElement(doc);
	name = (const char *)st->name;
	if (!is_ours(xml_attr(st, "from"))) {
		*why = "from outside the component's domain";
		goto fail;
	}
	type = xml_attr(st, "type");
	/* Attachments (worker upload.c): disco#info and slot requests to the upload
	 * service; their answers come back to this worker alone (workers.c tracks them). */
	if (policy_upload_iq(st))
		return doc;
	if (policy_to_server(st, user_jid)) {
		if (!strcmp(name, "message"))
			*why = check_privileged_message(st, user_jid);
		else if (!strcmp(name, "iq") && type && (!strcmp(type, "get") || !strcmp(type, "set")))
			*why = check_privileged_iq(st, user_jid);
		else
			*why = "a presence or iq reply to the user's server";
		if (*why)
			goto fail;
		return doc;
	}
	if (!is_user(xml_attr(st, "to"), user_jid)) {
		*why = "to someone other than its user";
		goto fail;
	}
	if (!strcmp(name, "iq") && (*why = check_roster(st)))
		goto fail;
	return doc;
fail:
	xmlFreeDoc(doc);
	return NULL;
}

/* The XEP-0363 upload service: --upload-service, else the parent domain of the
 * component's JID, as slidge (and the worker's upload.c) picks it. */
static int
is_upload_service(const char *to)
{
	const char *svc = G.cfg.upload_service, *dot = strchr(G.jid, '.');
	struct jid j;

	if (!to || jid_parse(to, &j) < 0 || j.local[0] || j.resource[0])
		return 0;
	if (svc && *svc)
		return jid_bare_equal(svc, j.domain);
	return dot && strcmp(dot + 1, j.domain) == 0;
}

/* An iq a register worker may send: a get to the upload service asking its disco#info
 * or an upload slot, and nothing else (no other payload, no other target). */
static const char *
check_upload_iq(xmlNodePtr st)
{
	const char *type = xml_attr(st, "type");
	xmlNodePtr q = xml_first_elem(st);

	if (!type || strcmp(type, "get") != 0 || !is_upload_service(xml_attr(st, "to")))
		return "an iq that is not a get to the upload service";
	if (!q || xml_next_elem(q) ||
	    !((!strcmp((const char *)q->name, "request") &&
	    !strcmp(xml_ns(q), "urn:xmpp:http:upload:0")) ||
	    (!strcmp((const char *)q->name, "query") &&
	    !strcmp(xml_ns(q), "http://jabber.org/protocol/disco#info"))))
		return "an iq to the upload service that is neither disco#info nor a slot request";
	return NULL;
}

xmlDocPtr
policy_check_register_emit(const char *user_jid, const char *xml, size_t len,
    const char **why)
{
	xmlDocPtr doc;
	xmlNodePtr st;
	const char *name;

	if (!(doc = parse_emit(xml, len, why)))
		return NULL;
	st = xmlDocGetRootElement(doc);
	name = (const char *)st->name;
	if (!strcmp(name, "message")) {
		/* Only the gateway itself speaks during a registration: no contact exists. */
		if (!jid_bare_equal(xml_attr(st, "from") ? xml_attr(st, "from") : "", G.jid) ||
		    strchr(xml_attr(st, "from"), '/')) {
			*why = "a registration message not from the component's JID";
			goto fail;
		}
		if (!is_user(xml_attr(st, "to"), user_jid)) {
			*why = "a registration message to someone other than the registering JID";
			goto fail;
		}
		return doc;
	}
	if (!strcmp(name, "iq")) {
		/* From the component or --upload-requester (the worker only uses one inside
		 * the component's domain). */
		if (!is_ours(xml_attr(st, "from"))) {
			*why = "from outside the component's domain";
			goto fail;
		}
		if ((*why = check_upload_iq(st)))
			goto fail;
		return doc;
	}
	*why = "a register worker may only send messages and upload iqs";
fail:
	xmlFreeDoc(doc);
	return NULL;
}
