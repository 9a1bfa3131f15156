/* inbound.c: stanzas from slidged (STANZA frames) and their acks.
 *
 * Each stanza is parsed with the untrusted-XML limits, checked (it must come from this
 * session's user and be addressed inside the component's domain; anything else is
 * ignored, since an answer could only go to someone this worker may not talk to), and
 * routed: messages to the gateway are chat commands, messages to contacts go to
 * message.c, presences to presence.c, iqs are answered here. A stanza is acked once it
 * is handled, which for a module hook may be later (INBOUND_DEFERRED: the hook's reply
 * acks it). Stanzas of type error are never answered.
 *
 * Until the login sequence is over, stanzas to contacts wait here, unacked, as slidge
 * awaits session.ready: the contacts are not known before the roster fill, and a probe
 * answered "unsubscribed" too early would cancel the user's subscription. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "worker.h"
#include "attach.h"
#include "parity.h"
#include "xml.h"

#define WAITING_MAX 1000
#define NS_PING "urn:xmpp:ping"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

struct waiting {
	uint64_t seq;
	char *xml;
	size_t len;
	struct waiting *next;
};

static struct waiting *waiting_head, **waiting_tail = &waiting_head;
static size_t nwaiting;

static int
wait_for_ready(uint64_t seq, const char *xml, size_t len)
{
	struct waiting *w;

	if (nwaiting >= WAITING_MAX)
		return -1;
	if ((w = calloc(1, sizeof *w)) == NULL || (w->xml = malloc(len + 1)) == NULL) {
		free(w);
		return -1;
	}
	memcpy(w->xml, xml, len);
	w->xml[len] = '\0';
	w->len = len;
	w->seq = seq;
	*waiting_tail = w;
	waiting_tail = &w->next;
	nwaiting++;
	return 0;
}

void
inbound_flush_waiting(void)
{
	struct waiting *w, *list = waiting_head;

	/* Detached first: handling one may complete hooks that end up here again. */
	waiting_head = NULL;
	waiting_tail = &waiting_head;
	nwaiting = 0;
	while ((w = list) != NULL) {
		list = w->next;
		inbound_stanza(w->seq, w->xml, w->len);
		free(w->xml);
		free(w);
	}
}

void
inbound_free_waiting(void)
{
	struct waiting *w;

	while ((w = waiting_head) != NULL) {
		waiting_head = w->next;
		free(w->xml);
		free(w);
	}
	waiting_tail = &waiting_head;
	nwaiting = 0;
}

static enum inbound_result
iq_from_user(struct inbound *in)
{
	xmlNodePtr q;
	const char *why;

	if (strcmp(in->type, "result") == 0 || strcmp(in->type, "error") == 0) {
		if (!iq_answer(in))
			log_debug("an iq %s nobody waits for", in->type);
		return INBOUND_DONE;
	}
	if (in->id == NULL) {
		log_debug("ignoring an iq without id");
		return INBOUND_DONE;
	}
	if (strcmp(in->type, "get") != 0 && strcmp(in->type, "set") != 0) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_BAD_REQUEST, NULL);
		return INBOUND_DONE;
	}
	if ((q = xml_first_elem(in->root)) == NULL) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_BAD_REQUEST, NULL);
		return INBOUND_DONE;
	}
	if (strcmp((const char *)q->name, "ping") == 0 && strcmp(xml_ns(q), NS_PING) == 0) {
		if (in->to_contact && contact_by_local(session, in->jto.local, &why) == NULL) {
			stanza_error("iq", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND, why);
			return INBOUND_DONE;
		}
		stanza_iq_result(in->to, in->from, in->id);
		return INBOUND_DONE;
	}
	/* Contact presentation (half B): disco, vCards, virtual PEP, search. */
	if (strcmp(xml_ns(q), NS_DISCO_INFO) == 0 || strcmp(xml_ns(q), NS_DISCO_ITEMS) == 0)
		return disco_iq(in, q);
	if (strcmp(xml_ns(q), "vcard-temp") == 0 ||
	    strcmp(xml_ns(q), "urn:ietf:params:xml:ns:vcard-4.0") == 0)
		return vcard_iq(in, q);
	if (strcmp(xml_ns(q), "http://jabber.org/protocol/pubsub") == 0)
		return pep_iq(in, q);
	if (strcmp(xml_ns(q), "jabber:iq:search") == 0 || strcmp(xml_ns(q), "jabber:iq:gateway") == 0)
		return search_iq(in, q);
	if (strcmp(xml_ns(q), "http://jabber.org/protocol/commands") == 0)
		return cmd_adhoc_iq(in, q);
	if (strcmp(xml_ns(q), "urn:xmpp:bob") == 0)
		return attach_bob_iq(in, q);   /* stickers we hold (attach_bob.c) */
	log_debug("no handler for an iq %s {%s}%s", in->type, xml_ns(q), (const char *)q->name);
	stanza_error("iq", in->to, in->from, in->id, SLIDGE_SERVICE_UNAVAILABLE, NULL);
	return INBOUND_DONE;
}

/* Fill in from the parsed root; -1 (logged) if the stanza is to be ignored. */
static int
inbound_check(struct inbound *in)
{
	const char *from, *to, *name = (const char *)in->root->name;
	struct jid j;
	char bare[JID_BUF];

	if (strcmp(name, "message") == 0)
		in->kind = "message";
	else if (strcmp(name, "presence") == 0)
		in->kind = "presence";
	else if (strcmp(name, "iq") == 0)
		in->kind = "iq";
	else {
		log_warn("ignoring a <%s> element", name);
		return -1;
	}
	if ((in->type = xml_attr(in->root, "type")) == NULL)
		in->type = in->kind[0] == 'm' ? "normal" : in->kind[0] == 'p' ? "available" : "";
	in->id = xml_attr(in->root, "id");
	if ((from = xml_attr(in->root, "from")) == NULL || jid_parse(from, &j) < 0 ||
	    jid_full(&j, in->from, sizeof in->from) < 0 || jid_bare(&j, bare, sizeof bare) < 0) {
		log_debug("ignoring a %s without a valid sender", in->kind);
		return -1;
	}
	if (strcmp(bare, session->user_jid) != 0) {
		/* The user's server itself: its XEP-0356 grant, or the answer to an iq of ours
		 * (half B: privilege.c, iq.c). */
		if (j.local[0] == '\0' && strchr(session->user_jid, '@') != NULL &&
		    strcmp(strchr(session->user_jid, '@') + 1, bare) == 0) {
			if (in->kind[0] == 'm' && privilege_grant(in->root, bare))
				return -1;
			if (in->kind[0] == 'i' && (strcmp(in->type, "result") == 0 ||
			    strcmp(in->type, "error") == 0) && iq_answer(in))
				return -1;
		}
		/* The upload service answering a slot or disco request (upload.c): iq_answer
		 * only matches an iq we sent to exactly this JID. */
		if (in->kind[0] == 'i' && (strcmp(in->type, "result") == 0 ||
		    strcmp(in->type, "error") == 0) && iq_answer(in))
			return -1;
		log_debug("ignoring a %s not from the user", in->kind);
		return -1;
	}
	if ((to = xml_attr(in->root, "to")) == NULL || jid_parse(to, &in->jto) < 0 ||
	    jid_full(&in->jto, in->to, sizeof in->to) < 0 ||
	    strcmp(in->jto.domain, session->component_jid) != 0) {
		log_debug("ignoring a %s not addressed to the gateway", in->kind);
		return -1;
	}
	in->to_component = in->jto.local[0] == '\0';
	in->to_contact = !in->to_component;
	if (strcmp(in->type, "error") == 0 && in->kind[0] != 'i') {
		log_debug("ignoring a %s error", in->kind);
		return -1;
	}
	return 0;
}

void
inbound_stanza(uint64_t seq, const char *xml, size_t len)
{
	struct inbound *in;
	const char *why = NULL;
	enum inbound_result res = INBOUND_DONE;

	if ((in = calloc(1, sizeof *in)) == NULL) {
		log_error("out of memory handling a stanza");
		worker_ack(seq);
		return;
	}
	in->seq = seq;
	if ((in->doc = xml_parse_stanza(xml, len, XML_DEPTH_MAX, &why)) == NULL ||
	    (in->root = xmlDocGetRootElement(in->doc)) == NULL) {
		log_warn("ignoring an unparsable stanza: %s", why ? why : "no root");
		goto done;
	}
	if (inbound_check(in) < 0)
		goto done;
	if (!session->ready && in->to_contact && in->kind[0] != 'i') {
		/* A probe of a cached friend is answered from the contact cache. */
		if (in->kind[0] == 'p' && strcmp(in->type, "probe") == 0 &&
		    contact_cache_probe(in->jto.local))
			goto done;
		if (wait_for_ready(seq, xml, len) == 0) {
			res = INBOUND_DEFERRED;
			goto done;
		}
		log_warn("too many stanzas waiting for the login: handling this one now");
	}
	switch (in->kind[0]) {
	case 'm':
		if (in->to_component && avatar_user_event(in->root))
			break;   /* the user's PEP avatar event (avatar.c) */
		res = in->to_component ? command_message(in) : message_to_contact(in);
		break;
	case 'p':
		res = presence_from_user(in);
		break;
	default:
		res = iq_from_user(in);
		break;
	}
done:
	if (res == INBOUND_DONE)
		worker_ack(seq);
	if (in->doc != NULL)
		xmlFreeDoc(in->doc);
	free(in);
}
