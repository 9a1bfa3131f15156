/* presence.c: presences, both ways (slidge's dispatcher/presence.py and PresenceMixin).
 *
 * From the user to the gateway: a probe gets the cached gateway status; a subscription
 * request is granted; available/unavailable presences of the user's resources are
 * tracked: a resource that comes online gets the gateway status and every friend's
 * presence, and the module hears of the change through on_presence, with slidge's
 * merge_resources() of all resources, when the sync_presence preference is on.
 * From the user to a contact (test_probe, test_user_subscribe_*): a probe gets the
 * cached presence of a friend, "unsubscribed" from a non-friend; subscribe to a friend
 * is granted at once, to a non-friend it is a friend request (on_friend_request);
 * subscribed is on_friend_accept; unsubscribe(d) ends the friendship
 * (on_friend_delete); an available presence lets pep.c push the PEP items the client
 * asked for. Presences are never answered with errors.
 * To the user: presence_contact() builds a contact's presence: show, status, <nick> when
 * not a friend, XEP-0115 caps and XEP-0153 photo hash on available ones, XEP-0319 idle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"
#include "parity.h"
#include "xml.h"

#define NS_NICK "http://jabber.org/protocol/nick"
#define NS_IDLE "urn:xmpp:idle:1"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define USER_RESOURCES_MAX 64

/* ---- the contact's presence to the user ---------------------------------------------- */

static const char *
kind_show(enum presence_kind k)
{
	switch (k) {
	case PRES_AWAY: return "away";
	case PRES_XA: return "xa";
	case PRES_BUSY: return "dnd";
	default: return NULL;
	}
}

void
presence_contact(struct slidge_contact *c, const char *type, const char *to)
{
	struct xb x = { 0 };
	char since[32];
	int available;

	if (type == NULL && (c->pres == PRES_NONE || c->pres == PRES_OFFLINE))
		type = "unavailable";
	available = type == NULL;
	xb_open(&x, "presence");
	xb_attr(&x, "from", c->full);
	xb_attr(&x, "to", to ? to : c->s->user_jid);
	xb_attr(&x, "type", type);
	xb_open_end(&x);
	if (c->pres != PRES_NONE && (available || strcmp(type, "unavailable") == 0)) {
		if (available && kind_show(c->pres) != NULL)
			xb_text(&x, "show", NULL, kind_show(c->pres));
		if (c->pres_status != NULL)
			xb_text(&x, "status", NULL, c->pres_status);
	}
	if (!c->is_friend && c->name != NULL && *c->name != '\0')
		xb_text(&x, "nick", NS_NICK, c->name);
	if (available) {
		/* slidge's caps filter: every available presence of a contact carries the ver
		 * of its disco#info; and its avatar hash (empty <photo/>: none). */
		xb_open(&x, "c");
		xb_attr(&x, "xmlns", NS_CAPS);
		xb_attr(&x, "hash", "sha-1");
		xb_attr(&x, "node", CAPS_NODE);
		xb_attr(&x, "ver", disco_contact_caps_ver(c));
		xb_open_end(&x);
		xb_close(&x, "c");
		avatar_write_update(&x, c->avatar);
	}
	if (c->pres != PRES_NONE && c->pres_last_seen != 0) {
		stanza_format_time(c->pres_last_seen, since, sizeof since);
		xb_open(&x, "idle");
		xb_attr(&x, "xmlns", NS_IDLE);
		xb_attr(&x, "since", since);
		xb_open_end(&x);
		xb_close(&x, "idle");
	}
	xb_close(&x, "presence");
	xb_emit(&x);
	xb_free(&x);
}

/* ---- the user's resources (on_presence) ------------------------------------------------ */

struct user_resource {
	char jid[JID_BUF];
	char show[8];                  /* "", "chat", "away", "xa", "dnd" */
	char *status;
	int priority;
	struct user_resource *next;
};

static struct user_resource *user_resources;

int
presence_sync_enabled(void)
{
	const char *v = proto_kv_get(&session->prefs, "sync_presence");

	/* In-band registration stores no preferences, and slidge reads a missing one as
	 * off (preferences.get("sync_presence", False)): on only once the registration
	 * command's last step or the preferences command said so. */
	return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* slidge's merge_resources(): available if any resource is; else the show of the one
 * with the highest priority that has one; the status of the highest-priority resource
 * that has a status. Priorities tie in arrival order. */
static int
merge_resources(struct slidge_presence *out)
{
	struct user_resource *r, *best_show = NULL, *best_status = NULL;
	int any_available = 0, n = 0;

	for (r = user_resources; r != NULL; r = r->next) {
		n++;
		if (r->show[0] == '\0')
			any_available = 1;
		else if (best_show == NULL || r->priority > best_show->priority)
			best_show = r;
		if (r->status != NULL && *r->status != '\0' &&
		    (best_status == NULL || r->priority > best_status->priority))
			best_status = r;
	}
	if (n == 0)
		return 0;
	if (n == 1) {
		out->show = user_resources->show;
		out->status = user_resources->status ? user_resources->status : "";
		out->priority = user_resources->priority;
		return 1;
	}
	out->show = any_available || best_show == NULL ? "" : best_show->show;
	out->status = best_status != NULL ? best_status->status : "";
	out->priority = 0;
	return 1;
}

/* Update the table from an available/unavailable presence of a resource. */
static void
track_resource(struct inbound *in, int available, struct slidge_presence *p,
    char *show_buf, size_t show_sz)
{
	struct user_resource **rp, *r = NULL;
	xmlNodePtr n;
	char *text;
	size_t count = 0;

	for (rp = &user_resources; *rp != NULL; rp = &(*rp)->next, count++)
		if (strcmp((*rp)->jid, in->from) == 0) {
			r = *rp;
			break;
		}
	if (!available) {
		if (r != NULL) {
			*rp = r->next;
			free(r->status);
			free(r);
		}
		p->show = "unavailable";
		return;
	}
	if (r == NULL) {
		if (count >= USER_RESOURCES_MAX || (r = calloc(1, sizeof *r)) == NULL) {
			log_warn("not tracking one more resource of the user");
			return;
		}
		snprintf(r->jid, sizeof r->jid, "%s", in->from);
		r->next = user_resources;
		user_resources = r;
	}
	r->show[0] = '\0';
	if ((n = xml_child(in->root, "show", xml_ns(in->root))) != NULL &&
	    (text = xml_text(n)) != NULL) {
		if (strcmp(text, "chat") == 0 || strcmp(text, "away") == 0 ||
		    strcmp(text, "xa") == 0 || strcmp(text, "dnd") == 0)
			snprintf(r->show, sizeof r->show, "%s", text);
		free(text);
	}
	free(r->status);
	r->status = NULL;
	if ((n = xml_child(in->root, "status", xml_ns(in->root))) != NULL)
		r->status = xml_text(n);
	r->priority = 0;
	if ((n = xml_child(in->root, "priority", xml_ns(in->root))) != NULL &&
	    (text = xml_text(n)) != NULL) {
		r->priority = atoi(text);
		free(text);
	}
	snprintf(show_buf, show_sz, "%s", r->show);
	p->show = show_buf;
	p->status = r->status ? r->status : "";
	p->priority = r->priority;
}

static void
to_gateway(struct inbound *in)
{
	struct presence_out p = { 0 };
	struct slidge_presence one = { "", "", 0 }, merged;
	struct slidge_contact *c;
	char show[8];
	const char *resource;
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
		log_debug("the user sent the gateway a presence of type %s", in->type);
		return;
	}
	if (in->jto.resource[0] != '\0' || (resource = strchr(in->from, '/')) == NULL)
		return;   /* not a resource's broadcast presence */
	track_resource(in, available, &one, show, sizeof show);
	if (module->on_presence != NULL && presence_sync_enabled() && session_logged())
		module->on_presence(session, resource + 1, &one,
		    merge_resources(&merged) ? &merged : NULL);
	if (!session_resource_set(in->from, available))
		return;
	log_debug("a resource of the user is online");
	session_send_cached_status(in->from);
	for (c = contact_first(session); c != NULL; c = c->next)
		if (c->is_friend && c->pres != PRES_NONE)
			presence_contact(c, NULL, in->from);
}

static char *
status_of(struct inbound *in)
{
	xmlNodePtr n = xml_child(in->root, "status", xml_ns(in->root));

	return n != NULL ? xml_text(n) : NULL;
}

static void
to_contact(struct inbound *in)
{
	struct slidge_contact *c;
	struct presence_out p = { 0 };
	const char *why;
	char *text = NULL;

	if ((c = contact_by_local(session, in->jto.local, &why)) == NULL) {
		log_debug("presence %s to an unknown contact: %s", in->type, why);
		return;
	}
	p.from = c->jid;
	p.to = session->user_jid;
	if (strcmp(in->type, "probe") == 0) {
		if (c->is_friend) {
			presence_contact(c, NULL, NULL);
		} else if (session_logged()) {
			p.type = "unsubscribed";
			stanza_presence(&p);
		} else {
			/* Not logged in: the friends are unknown, and "unsubscribed" would cancel
			 * a subscription that may well exist. */
			presence_contact(c, "unavailable", NULL);
		}
	} else if (strcmp(in->type, "subscribe") == 0) {
		if (c->is_friend) {
			p.type = "subscribed";
			stanza_presence(&p);
			presence_contact(c, NULL, NULL);
		} else if (module->on_friend_request != NULL) {
			text = status_of(in);
			module->on_friend_request(c, text ? text : "");
		} else {
			log_info("friend request to %s: the module does not take them", c->jid);
		}
	} else if (strcmp(in->type, "subscribed") == 0) {
		if (module->on_friend_accept != NULL)
			module->on_friend_accept(c);
	} else if (strcmp(in->type, "unsubscribe") == 0 ||
	    strcmp(in->type, "unsubscribed") == 0) {
		if (strcmp(in->type, "unsubscribe") == 0) {
			/* unsubscribe: slidge answers it (RFC 6121 §3.3) */
			p.type = "unsubscribed";
			stanza_presence(&p);
		} else if (!c->is_friend) {
			return;   /* a refused request of ours: nothing to end */
		}
		c->is_friend = 0;
		c->added_to_roster = 0;
		contact_cache_save(c, 0);
		if (module->on_friend_delete != NULL) {
			text = status_of(in);
			module->on_friend_delete(c, text ? text : "");
		}
	} else if (strcmp(in->type, "available") == 0) {
		if (c->is_friend && strchr(in->from, '/') != NULL)
			pep_user_available(in, c);
	}
	free(text);
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
