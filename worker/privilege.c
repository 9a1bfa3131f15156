/* privilege.c: XEP-0356 privileged entity (slidge's slixfix/xep_0356 and xep_0356_old;
 * reference/slidge.md §7.1 case 16).
 *
 * The user's server grants the component its privileges once, in a message
 * <privilege xmlns='urn:xmpp:privilege:2'> (or :1, the older namespace) with one <perm/>
 * per access; slidged forwards it to every session worker. With roster "set" or "both",
 * friends are pushed into the user's roster (iq set jabber:iq:roster to the user's bare
 * JID, subscription both, group ROSTER_GROUP); with message "outgoing", messages the user
 * sent from the official client are injected as the user (forwarded inside a
 * <privilege> message to the user's server).
 *
 * The grant may come after the roster fill (a worker starts before slidged replays it).
 * So the first question "may we set the roster?" starts a PRIVILEGE_WAIT timer: until a
 * grant arrives or the timer fires, friends wait (roster_pending) instead of getting
 * slidge's fallback subscription request, which a later roster push would contradict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"
#include "xml.h"

#define NS_PRIV2 "urn:xmpp:privilege:2"
#define NS_PRIV1 "urn:xmpp:privilege:1"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_ROSTER "jabber:iq:roster"
#define PRIVILEGE_WAIT 1.5      /* seconds to wait for a grant before falling back */

static struct {
	int granted;                /* a grant arrived */
	const char *ns;             /* its namespace (static) */
	int roster_set;             /* roster "set" or "both" */
	int message_outgoing;       /* message "outgoing" */
	int settled;                /* granted, or PRIVILEGE_WAIT elapsed */
	int waiting;                /* the timer runs */
	ev_timer timer;
} priv;

static const char *
user_domain(void)
{
	const char *at = strchr(session->user_jid, '@');

	return at != NULL ? at + 1 : session->user_jid;
}

static void
settle(void)
{
	if (priv.settled)
		return;
	priv.settled = 1;
	if (priv.waiting) {
		ev_timer_stop(worker.loop, &priv.timer);
		priv.waiting = 0;
	}
	if (session != NULL)
		contact_roster_sync_all();
}

static void
wait_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	priv.waiting = 0;
	log_debug("no privilege grant after %.1f s: roster fallback", PRIVILEGE_WAIT);
	settle();
}

int
privilege_settled(void)
{
	if (!priv.settled && !priv.waiting) {
		ev_timer_init(&priv.timer, wait_timeout, PRIVILEGE_WAIT, 0.);
		ev_timer_start(worker.loop, &priv.timer);
		priv.waiting = 1;
	}
	return priv.settled;
}

int
privilege_roster_set(void)
{
	return priv.granted && priv.roster_set;
}

int
privilege_grant(xmlNodePtr msg, const char *from)
{
	xmlNodePtr p, perm;
	const char *ns = NULL, *access, *type;

	if ((p = xml_child(msg, "privilege", NS_PRIV2)) != NULL)
		ns = NS_PRIV2;
	else if ((p = xml_child(msg, "privilege", NS_PRIV1)) != NULL)
		ns = NS_PRIV1;
	else
		return 0;
	if (strcmp(from, user_domain()) != 0) {
		/* A grant is only worth something from the server that hosts the user. */
		log_info("ignoring a privilege grant from %s", from);
		return 1;
	}
	priv.granted = 1;
	priv.ns = ns;
	priv.roster_set = priv.message_outgoing = 0;
	for (perm = xml_first_elem(p); perm != NULL; perm = xml_next_elem(perm)) {
		if (strcmp((const char *)perm->name, "perm") != 0)
			continue;
		access = xml_attr(perm, "access");
		type = xml_attr(perm, "type");
		if (access == NULL || type == NULL)
			continue;
		if (strcmp(access, "roster") == 0)
			priv.roster_set = strcmp(type, "set") == 0 || strcmp(type, "both") == 0;
		else if (strcmp(access, "message") == 0)
			priv.message_outgoing = strcmp(type, "outgoing") == 0;
	}
	log_info("privileges from %s (%s): roster %s, message %s", from,
	    strcmp(ns, NS_PRIV2) == 0 ? "v2" : "v1", priv.roster_set ? "set" : "no",
	    priv.message_outgoing ? "outgoing" : "no");
	settle();
	return 1;
}

static void
roster_answer(xmlNodePtr answer, void *arg)
{
	const char *type = answer != NULL ? xml_attr(answer, "type") : NULL;

	if (type == NULL || strcmp(type, "result") != 0)
		log_warn("a privileged roster push was %s", answer ? "refused" : "not answered");
}

int
privilege_roster_push(const char *jid, const char *name, const char *subscription,
    const char *group)
{
	struct xb x = { 0 };
	int rc;

	if (!privilege_roster_set())
		return -1;
	xb_open(&x, "query");
	xb_attr(&x, "xmlns", NS_ROSTER);
	xb_open_end(&x);
	xb_open(&x, "item");
	xb_attr(&x, "subscription", subscription);
	xb_attr(&x, "jid", jid);
	if (name != NULL && *name != '\0')
		xb_attr(&x, "name", name);
	xb_open_end(&x);
	if (group != NULL && strcmp(subscription, "remove") != 0)
		xb_text(&x, "group", NULL, group);
	xb_close(&x, "item");
	xb_close(&x, "query");
	rc = x.err ? -1 : iq_send(session->component_jid, session->user_jid, "set", x.b.data,
	    roster_answer, NULL);
	xb_free(&x);
	return rc;
}

int
privilege_send_message_as_user(const char *inner_xml)
{
	struct xb x = { 0 };
	int rc;

	if (!priv.granted || !priv.message_outgoing || session == NULL)
		return -1;
	xb_open(&x, "message");
	xb_attr(&x, "from", session->component_jid);
	xb_attr(&x, "to", user_domain());
	xb_open_end(&x);
	xb_open(&x, "privilege");
	xb_attr(&x, "xmlns", priv.ns);
	xb_open_end(&x);
	xb_open(&x, "forwarded");
	xb_attr(&x, "xmlns", NS_FORWARD);
	xb_open_end(&x);
	if (!x.err && buf_puts(&x.b, inner_xml) < 0)
		x.err = 1;
	xb_close(&x, "forwarded");
	xb_close(&x, "privilege");
	xb_close(&x, "message");
	rc = xb_emit(&x);
	xb_free(&x);
	return rc;
}
