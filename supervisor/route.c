/* route.c: every stanza from the XMPP server goes through route_stanza().
 *
 * The supervisor answers by itself only what needs no user session: disco and version of
 * the component, ping, the registration entry points, and errors for unregistered
 * senders. Everything else from a registered user goes to that user's worker, whatever
 * the `to` (ARCHITECTURE.md "Processes"): routing is by the sender's bare JID, so one
 * user's traffic can never reach another user's worker. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "build_config.h"
#include "jid.h"
#include "log.h"
#include "slidged.h"
#include "xml.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define CAPS_NODE "https://slidge.im/slidge-c"   /* worker.h's */
#define NS_REGISTER "jabber:iq:register"
#define NS_PING "urn:xmpp:ping"
#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_VERSION "jabber:iq:version"
#define NS_PRIVILEGE1 "urn:xmpp:privilege:1"
#define NS_PRIVILEGE2 "urn:xmpp:privilege:2"

static regex_t validator;
static int validator_ok;

/* A stanza id unique for this process's life. */
static void
route_new_id(char *out, size_t outsz)
{
	static unsigned long long n;
	static unsigned int salt;

	if (!salt)
		salt = (unsigned int)(time(NULL) ^ getpid()) | 1u;
	snprintf(out, outsz, "slidged-%x-%llu", salt, ++n);
}

int
route_jid_allowed(const char *bare)
{
	size_t i;
	char *re;

	for (i = 0; i < G.cfg.nadmins; i++)
		if (jid_bare_equal(G.cfg.admins[i], bare))
			return 1;
	if (!validator_ok) {
		/* slidge matches the whole JID; anchor the operator's pattern the same way. */
		if (asprintf(&re, "^(%s)$", G.cfg.user_jid_validator) < 0)
			return 0;
		if (regcomp(&validator, re, REG_EXTENDED | REG_NOSUB) != 0) {
			free(re);
			log_error("route: --user-jid-validator does not compile; nobody is allowed");
			return 0;
		}
		free(re);
		validator_ok = 1;
	}
	return regexec(&validator, bare, 0, NULL, 0) == 0;
}

/* The error type RFC 6120 §8.3.3 gives each condition. */
static const char *
route_error_type(const char *condition)
{
	static const struct { const char *cond, *type; } t[] = {
		{ "bad-request", "modify" }, { "conflict", "cancel" },
		{ "feature-not-implemented", "cancel" }, { "forbidden", "auth" },
		{ "gone", "cancel" }, { "internal-server-error", "cancel" },
		{ "item-not-found", "cancel" }, { "jid-malformed", "modify" },
		{ "not-acceptable", "modify" }, { "not-allowed", "cancel" },
		{ "not-authorized", "auth" }, { "policy-violation", "modify" },
		{ "recipient-unavailable", "wait" }, { "redirect", "modify" },
		{ "registration-required", "auth" }, { "remote-server-not-found", "cancel" },
		{ "remote-server-timeout", "wait" }, { "resource-constraint", "wait" },
		{ "service-unavailable", "cancel" }, { "subscription-required", "auth" },
		{ "undefined-condition", "cancel" }, { "unexpected-request", "wait" },
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		if (strcmp(t[i].cond, condition) == 0)
			return t[i].type;
	return "cancel";
}

/* Our address in a reply: what the sender wrote to, if it is inside our domain. */
static const char *
route_our_from(const char *orig_to)
{
	struct jid j;

	if (orig_to && jid_parse(orig_to, &j) == 0 && strcmp(j.domain, G.jid) == 0)
		return orig_to;
	return G.jid;
}

void
route_error_attrs(const char *kind, const char *from, const char *to, const char *id,
    const char *type, const char *condition, const char *text)
{
	struct buf b = BUF_INIT;

	if (!to || !*to)
		return;
	if (!type)
		type = route_error_type(condition);
	buf_printf(&b, "<%s type='error' from='", kind);
	buf_put_xml_escaped(&b, from);
	buf_puts(&b, "' to='");
	buf_put_xml_escaped(&b, to);
	buf_puts(&b, "'");
	if (id) {
		buf_puts(&b, " id='");
		buf_put_xml_escaped(&b, id);
		buf_puts(&b, "'");
	}
	buf_printf(&b, "><error type='%s'><%s xmlns='" NS_STANZAS "'/>", type, condition);
	if (text && *text) {
		buf_puts(&b, "<text xmlns='" NS_STANZAS "'>");
		buf_put_xml_escaped(&b, text);
		buf_puts(&b, "</text>");
	}
	buf_printf(&b, "</error></%s>", kind);
	if (b.data && component_send(b.data, b.len) < 0)
		log_warn("route: error reply to %s could not be queued", to);
	buf_free(&b, 0);
}

void
route_error(xmlNodePtr orig, const char *type, const char *condition, const char *text)
{
	const char *stype = xml_attr(orig, "type");

	/* Never answer an error with an error: two gateways would ping-pong forever. */
	if (stype && strcmp(stype, "error") == 0)
		return;
	route_error_attrs((const char *)orig->name, route_our_from(xml_attr(orig, "to")),
	    xml_attr(orig, "from"), xml_attr(orig, "id"), type, condition, text);
}

void
route_iq_result_attrs(const char *from, const char *to, const char *id, const char *payload)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "<iq type='result' from='");
	buf_put_xml_escaped(&b, from);
	buf_puts(&b, "' to='");
	buf_put_xml_escaped(&b, to);
	buf_puts(&b, "' id='");
	buf_put_xml_escaped(&b, id ? id : "");
	buf_puts(&b, "'");
	if (payload) {
		buf_puts(&b, ">");
		buf_puts(&b, payload);
		buf_puts(&b, "</iq>");
	} else {
		buf_puts(&b, "/>");
	}
	if (b.data && component_send(b.data, b.len) < 0)
		log_warn("route: iq result to %s could not be queued", to);
	buf_free(&b, 0);
}

void
route_iq_result(xmlNodePtr iq, const char *payload)
{
	route_iq_result_attrs(route_our_from(xml_attr(iq, "to")), xml_attr(iq, "from"),
	    xml_attr(iq, "id"), payload);
}

void
route_gateway_message(const char *to, const char *body)
{
	struct buf b = BUF_INIT;
	char id[64];

	route_new_id(id, sizeof id);
	buf_puts(&b, "<message type='chat' from='");
	buf_put_xml_escaped(&b, G.jid);
	buf_puts(&b, "' to='");
	buf_put_xml_escaped(&b, to);
	buf_printf(&b, "' id='%s'><body>", id);
	buf_put_xml_escaped(&b, body);
	buf_puts(&b, "</body></message>");
	if (b.data && component_send(b.data, b.len) < 0)
		log_warn("route: gateway message could not be queued");
	buf_free(&b, 0);
}

void
route_gateway_status(const char *to, const char *show, const char *status)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "<presence from='");
	buf_put_xml_escaped(&b, G.jid);
	buf_puts(&b, "' to='");
	buf_put_xml_escaped(&b, to);
	buf_puts(&b, "'>");
	if (show) {
		buf_puts(&b, "<show>");
		buf_put_xml_escaped(&b, show);
		buf_puts(&b, "</show>");
	}
	if (status) {
		buf_puts(&b, "<status>");
		buf_put_xml_escaped(&b, status);
		buf_puts(&b, "</status>");
	}
	buf_puts(&b, "</presence>");
	if (b.data && component_send(b.data, b.len) < 0)
		log_warn("route: gateway status could not be queued");
	buf_free(&b, 0);
}

/* XEP-0030 disco#info of the component: a gateway of the module's type, with the
 * features the supervisor itself answers. */
static void
route_disco_info(xmlNodePtr iq, xmlNodePtr q)
{
	struct buf b = BUF_INIT;
	const char *node = xml_attr(q, "node");

	/* node#ver of the caps on the gateway's presences (worker/disco.c, which keeps a
	 * copy of this list): the same info, as XEP-0115 wants. */
	if (node && *node && strncmp(node, CAPS_NODE "#", sizeof CAPS_NODE) != 0) {
		route_error(iq, NULL, "item-not-found", "No such node");
		return;
	}
	buf_puts(&b, "<query xmlns='" NS_DISCO_INFO "'");
	if (node && *node) {
		buf_puts(&b, " node='");
		buf_put_xml_escaped(&b, node);
		buf_puts(&b, "'");
	}
	buf_puts(&b, "><identity category='gateway' type='");
	buf_put_xml_escaped(&b, G.man.component_type ? G.man.component_type : "");
	buf_puts(&b, "' name='");
	buf_put_xml_escaped(&b, G.man.component_name ? G.man.component_name : "");
	buf_puts(&b, "'/>"
	    "<identity category='account' type='registered'/>"
	    "<identity category='pubsub' type='pep'/>"
	    "<feature var='" NS_DISCO_INFO "'/>"
	    "<feature var='" NS_DISCO_ITEMS "'/>"
	    "<feature var='" NS_REGISTER "'/>"
	    "<feature var='" NS_COMMANDS "'/>"
	    "<feature var='" NS_PING "'/>"
	    "<feature var='" NS_VERSION "'/>"
	    "<feature var='jabber:iq:search'/>"
	    "<feature var='jabber:iq:gateway'/>"
	    "<feature var='urn:ietf:params:xml:ns:vcard-4.0'/>"
	    "<feature var='http://jabber.org/protocol/pubsub#event'/>"
	    "<feature var='http://jabber.org/protocol/pubsub#retrieve-items'/>"
	    "<feature var='http://jabber.org/protocol/pubsub#persistent-items'/>"
	    "<feature var='urn:xmpp:avatar:metadata+notify'/>"
	    "</query>");
	route_iq_result(iq, b.data);
	buf_free(&b, 0);
}

static void
route_version(xmlNodePtr iq)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "<query xmlns='" NS_VERSION "'><name>slidge-c</name><version>");
	buf_put_xml_escaped(&b, SLIDGE_VERSION);
	buf_puts(&b, "</version></query>");
	route_iq_result(iq, b.data);
	buf_free(&b, 0);
}

/* An iq to the component's bare JID that the supervisor answers itself; 1 if handled. */
static int
route_component_iq(xmlNodePtr iq, const char *type, const char *from_bare)
{
	xmlNodePtr q = xml_first_elem(iq);
	const char *ns = q ? xml_ns(q) : "";
	int get = strcmp(type, "get") == 0, set = strcmp(type, "set") == 0;

	if (!get && !set)
		return 0;
	if (!q) {
		route_error(iq, NULL, "bad-request", "An iq needs exactly one child element");
		return 1;
	}
	if (get && strcmp(ns, NS_DISCO_INFO) == 0) {
		route_disco_info(iq, q);
		return 1;
	}
	if (get && strcmp(ns, NS_DISCO_ITEMS) == 0) {
		const char *node = xml_attr(q, "node");
		if (node && strcmp(node, NS_COMMANDS) == 0)
			adhoc_disco_items(iq, from_bare);
		else if (node && *node)
			route_error(iq, NULL, "item-not-found", "No such node");
		else
			route_iq_result(iq, "<query xmlns='" NS_DISCO_ITEMS "'/>");
		return 1;
	}
	if (strcmp(ns, NS_REGISTER) == 0) {
		register_iq(iq, from_bare);
		return 1;
	}
	/* XEP-0050: registration and administration here; a registered user's own commands
	 * are its session's. */
	if (set && strcmp(ns, NS_COMMANDS) == 0 &&
	    (adhoc_owns(xml_attr(q, "node")) || !workers_find(from_bare))) {
		if (!xml_attr(q, "node"))
			route_error(iq, "modify", "bad-request", "A command needs a node");
		else
			adhoc_iq(iq, q, from_bare);
		return 1;
	}
	/* A session's command: slidged knows the admins, the session does not. */
	if (set && strcmp(ns, NS_COMMANDS) == 0 && xml_attr(q, "node") &&
	    !xml_attr(q, "sessionid") && chatcmd_adhoc_check(iq, xml_attr(q, "node"), from_bare))
		return 1;
	if (get && strcmp(ns, NS_PING) == 0) {
		route_iq_result(iq, NULL);
		return 1;
	}
	if (get && strcmp(ns, NS_VERSION) == 0) {
		route_version(iq);
		return 1;
	}
	return 0;
}

void
route_connected(void)
{
	log_debug("route: stream ready");
}

void
route_stanza(xmlDocPtr doc)
{
	xmlNodePtr st = xmlDocGetRootElement(doc);
	const char *name, *type, *from, *to;
	struct jid jf, jt;
	char bare[JID_BUF];
	int to_component;
	struct user *u;

	if (!st)
		goto done;
	name = (const char *)st->name;
	if (strcmp(name, "message") && strcmp(name, "presence") && strcmp(name, "iq")) {
		log_warn("route: ignoring a top-level <%s> from the server", name);
		goto done;
	}
	type = xml_attr(st, "type");
	if (!type)
		type = strcmp(name, "message") == 0 ? "normal" : "";
	from = xml_attr(st, "from");
	to = xml_attr(st, "to");
	if (!from || jid_parse(from, &jf) < 0) {
		/* No address to answer to: the server should never do this. */
		log_warn("route: <%s> with a missing or invalid sender dropped", name);
		goto done;
	}
	if (!to || jid_parse(to, &jt) < 0) {
		route_error(st, NULL, "jid-malformed", "The recipient address is not a valid JID");
		goto done;
	}
	if (strcmp(jt.domain, G.jid) != 0) {
		route_error(st, NULL, "item-not-found", "This gateway does not serve that address");
		goto done;
	}
	if (jid_bare(&jf, bare, sizeof bare) < 0)
		goto done;
	to_component = jt.local[0] == '\0';

	if (jf.local[0] == '\0') {
		/* A server speaking for itself. Its XEP-0356 grant goes to the sessions of its
		 * users (and to those that start later); results of privileged IQs go back to the
		 * worker that asked, and only to it. */
		if (strcmp(name, "message") == 0 && (xml_child(st, "privilege", NS_PRIVILEGE2) ||
		    xml_child(st, "privilege", NS_PRIVILEGE1))) {
			log_info("route: %s granted privileges to the gateway", bare);
			workers_set_grant(bare, st);
			goto done;
		}
		if (strcmp(name, "iq") == 0 && (!strcmp(type, "result") || !strcmp(type, "error"))) {
			if (workers_iq_result(st) < 0)
				log_debug("route: iq %s from %s answers nothing we asked", type, bare);
			goto done;
		}
		if (strcmp(name, "iq") == 0 && to_component && route_component_iq(st, type, bare))
			goto done;
		if (strcmp(name, "iq") == 0 && (!strcmp(type, "get") || !strcmp(type, "set")))
			route_error(st, NULL, "service-unavailable", NULL);
		else
			log_debug("route: <%s type='%s'> from server %s ignored", name, type, bare);
		goto done;
	}

	u = workers_find(bare);
	if (to_component && strcmp(name, "iq") == 0 && route_component_iq(st, type, bare))
		goto done;
	if (u && to_component && strcmp(name, "presence") == 0 &&
	    strcmp(type, "unsubscribe") == 0 && jt.resource[0] == '\0') {
		/* slidge: removing the gateway from the roster is unregistering (XEP-0100). */
		route_gateway_message(bare, "Bye bye!");
		register_unregister(bare, "unsubscribed from the gateway");
		goto done;
	}
	if (u) {
		workers_deliver(u, st);
		goto done;
	}

	/* Not registered. */
	if (strcmp(type, "error") == 0)
		goto done;
	if (strcmp(name, "presence") == 0) {
		/* Presence gets no error replies (they would loop between servers); a probe of
		 * a puppet from someone unregistered simply stays unanswered. */
		log_debug("route: presence type='%s' from unregistered %s ignored", type, bare);
		goto done;
	}
	if (strcmp(name, "iq") == 0 && strcmp(type, "get") && strcmp(type, "set"))
		goto done;
	/* slidge's chatbot talks to everyone: help, info, register. */
	if (strcmp(name, "message") == 0 && to_component && jt.resource[0] == '\0' &&
	    chatcmd_stanza(st))
		goto done;
	route_error(st, "auth", "registration-required", "You are not registered to this gateway");
done:
	xmlFreeDoc(doc);
}
