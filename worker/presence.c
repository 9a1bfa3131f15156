/* presence.c: presences from the user (slidge's dispatcher/presence.py).
 *
 * To the gateway: a probe gets the cached gateway status; a subscription request is
 * granted; available/unavailable presences tell which of the user's resources are
 * online, and a resource that comes online is sent the gateway status and the presence
 * of every friend (a client that connects later sees them at once).
 * To a contact: a probe gets the contact's cached presence if it is a friend, and
 * "unsubscribed" if it is not (test_probe); a subscription request to a friend is
 * granted, followed by its presence. Other subscription states are only logged until
 * the friend-request hooks exist. Presences are never answered with errors. */
#include <string.h>

#include "log.h"
#include "worker.h"

static void
to_gateway(struct inbound *in)
{
	struct presence_out p = { 0 };
	struct slidge_contact *c;
	int available;

	if (strcmp(in->type, "probe") == 0) {
		session_send_cached_status(in->from);
		return;
	}
	if (strcmp(in->type, "subscribe") == 0) {
		p.from = session->component_jid;
		p.to = session->user_jid;
		p.type = "subscribed";
		stanza_presence(&p);
		session_send_cached_status(session->user_jid);
		return;
	}
	available = strcmp(in->type, "available") == 0;
	if (!available && strcmp(in->type, "unavailable") != 0) {
		log_info("the user sent the gateway a presence of type %s", in->type);
		return;
	}
	if (in->jto.resource[0] != '\0' || strchr(in->from, '/') == NULL)
		return;   /* not a resource's broadcast presence */
	if (!session_resource_set(in->from, available))
		return;
	log_debug("a resource of the user is online");
	session_send_cached_status(in->from);
	for (c = contact_first(session); c != NULL; c = c->next)
		if (c->is_friend && c->pres != PRES_NONE)
			contact_send_presence(c, in->from);
}

static void
to_contact(struct inbound *in)
{
	struct slidge_contact *c;
	struct presence_out p = { 0 };
	const char *why;
	int probe = strcmp(in->type, "probe") == 0;

	if (!probe && strcmp(in->type, "subscribe") != 0) {
		if (strcmp(in->type, "available") != 0 && strcmp(in->type, "unavailable") != 0)
			log_info("the user sent a contact a presence of type %s", in->type);
		return;
	}
	if ((c = contact_by_local(session, in->jto.local, &why)) == NULL) {
		log_debug("presence %s to an unknown contact: %s", in->type, why);
		return;
	}
	p.from = c->jid;
	p.to = session->user_jid;
	if (probe) {
		if (c->is_friend) {
			contact_send_presence(c, NULL);
		} else if (session_logged()) {
			p.type = "unsubscribed";
			stanza_presence(&p);
		} else {
			/* Not logged in: the friends are unknown, and "unsubscribed" would cancel
			 * a subscription that may well exist. */
			contact_send_presence_type(c, "unavailable", 1);
		}
		return;
	}
	if (!c->is_friend) {
		log_info("subscription request to %s, not a friend: ignored", c->jid);
		return;
	}
	p.type = "subscribed";
	stanza_presence(&p);
	contact_send_presence(c, NULL);
}

enum inbound_result
presence_from_user(struct inbound *in)
{
	if (in->to_component)
		to_gateway(in);
	else
		to_contact(in);
	return INBOUND_DONE;
}
