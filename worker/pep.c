/* pep.c: each contact's virtual PEP service (slidge's core/pubsub.py; XEP-0163, XEP-0084,
 * XEP-0172, XEP-0292).
 *
 * Served: pubsub items get on a contact's bare JID for urn:xmpp:avatar:metadata,
 * urn:xmpp:avatar:data, urn:xmpp:vcard4 (item "current") and the nick node; on the
 * gateway's JID for its avatar. Pushed: headline <event/> messages from the contact's
 * bare JID when its nick, avatar or vCard changes (to the user's bare JID), and, when a
 * resource of the user comes online towards a friend, the items that resource asked for
 * with +notify features. Which features a resource has is learnt from its caps ver
 * (cached per ver) or, without caps, from a disco#info query (cached per full JID); the
 * contacts that wait for one answer are queued on it. Events go to friends only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"
#include "xml.h"

#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_EVENT "http://jabber.org/protocol/pubsub#event"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_AVATAR_META "urn:xmpp:avatar:metadata"
#define NS_AVATAR_DATA "urn:xmpp:avatar:data"
#define NS_VCARD4_NODE "urn:xmpp:vcard4"
#define NS_NICK "http://jabber.org/protocol/nick"
#define CAPS_MAX 64           /* cached feature sets */
#define WAITERS_MAX 4096      /* contacts waiting for one disco answer */

enum { WANT_AVATAR = 1, WANT_NICK = 2, WANT_VCARD = 4 };

struct caps_entry {
	char key[JID_BUF + 8];      /* "ver:<ver>" or "jid:<full JID>" */
	int known;                  /* the features came */
	unsigned want;              /* WANT_* */
	char to[JID_BUF];           /* the resource that asked (pending only) */
	struct slidge_contact **waiters;
	size_t nwaiters;
	struct caps_entry *next;
};

static struct caps_entry *caps;
static size_t ncaps;

/* ---- building items ---------------------------------------------------------------- */

static void
write_avatar_metadata(struct xb *x, const struct avatar *a)
{
	char n[32];

	xb_open(x, "metadata");
	xb_attr(x, "xmlns", NS_AVATAR_META);
	xb_open_end(x);
	if (a != NULL) {
		xb_open(x, "info");
		xb_attr(x, "id", a->sha1);
		xb_attr(x, "type", a->type);
		snprintf(n, sizeof n, "%zu", a->len);
		xb_attr(x, "bytes", n);
		if (a->width > 0 && a->height > 0) {
			snprintf(n, sizeof n, "%d", a->height);
			xb_attr(x, "height", n);
			snprintf(n, sizeof n, "%d", a->width);
			xb_attr(x, "width", n);
		}
		xb_open_end(x);
		xb_close(x, "info");
	}
	xb_close(x, "metadata");
}

static void
write_avatar_data(struct xb *x, const struct avatar *a)
{
	char *b64 = avatar_base64(a->data, a->len);

	if (b64 == NULL) {
		x->err = 1;
		return;
	}
	xb_text(x, "data", NS_AVATAR_DATA, b64);
	free(b64);
}

/* One <item> of node for the entity (c NULL: the gateway); -1 if there is none. */
static int
write_item(struct xb *x, const char *node, struct slidge_contact *c, const char *want_id)
{
	const struct avatar *a = c != NULL ? c->avatar : avatar_component();

	if (strcmp(node, NS_AVATAR_META) == 0 || strcmp(node, NS_AVATAR_DATA) == 0) {
		if (a == NULL || (want_id != NULL && strcmp(want_id, a->sha1) != 0))
			return -1;
		xb_open(x, "item");
		xb_attr(x, "id", a->sha1);
		xb_open_end(x);
		if (strcmp(node, NS_AVATAR_META) == 0)
			write_avatar_metadata(x, a);
		else
			write_avatar_data(x, a);
		xb_close(x, "item");
		return 0;
	}
	if (c == NULL || (want_id != NULL && strcmp(want_id, "current") != 0))
		return -1;
	if (strcmp(node, NS_VCARD4_NODE) == 0 && c->vcard != NULL) {
		xb_open(x, "item");
		xb_attr(x, "id", "current");
		xb_open_end(x);
		vcard_write_vcard4(x, c);
		xb_close(x, "item");
		return 0;
	}
	if (strcmp(node, NS_NICK) == 0 && c->name != NULL) {
		xb_open(x, "item");
		xb_attr(x, "id", "current");
		xb_open_end(x);
		xb_text(x, "nick", NS_NICK, c->name);
		xb_close(x, "item");
		return 0;
	}
	return -1;
}

enum inbound_result
pep_iq(struct inbound *in, xmlNodePtr q)
{
	struct slidge_contact *c = NULL;
	struct xb x = { 0 };
	xmlNodePtr items, item;
	const char *why, *node, *want_id = NULL;

	if (strcmp(in->type, "get") != 0 || (items = xml_child(q, "items", NS_PUBSUB)) == NULL ||
	    (node = xml_attr(items, "node")) == NULL) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_FEATURE_NOT_IMPLEMENTED,
		    "Only items get is served by this virtual PEP service");
		return INBOUND_DONE;
	}
	if (in->to_contact && (c = contact_by_local(session, in->jto.local, &why)) == NULL) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND, why);
		return INBOUND_DONE;
	}
	if ((item = xml_child(items, "item", NS_PUBSUB)) != NULL)
		want_id = xml_attr(item, "id");
	xb_iq_result_open(&x, in);
	xb_open(&x, "pubsub");
	xb_attr(&x, "xmlns", NS_PUBSUB);
	xb_open_end(&x);
	xb_open(&x, "items");
	xb_attr(&x, "node", node);
	xb_open_end(&x);
	if (write_item(&x, node, c, want_id) < 0) {
		xb_free(&x);
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND, NULL);
		return INBOUND_DONE;
	}
	xb_close(&x, "items");
	xb_close(&x, "pubsub");
	xb_close(&x, "iq");
	xb_emit(&x);
	xb_free(&x);
	return INBOUND_DONE;
}

/* ---- events ------------------------------------------------------------------------ */

static void
event_open(struct xb *x, struct slidge_contact *c, const char *to, const char *node)
{
	char id[64];

	stanza_new_id(id, sizeof id);
	xb_open(x, "message");
	xb_attr(x, "type", "headline");
	xb_attr(x, "from", c->jid);
	xb_attr(x, "to", to != NULL ? to : c->s->user_jid);
	xb_attr(x, "id", id);
	xb_open_end(x);
	xb_open(x, "event");
	xb_attr(x, "xmlns", NS_EVENT);
	xb_open_end(x);
	xb_open(x, "items");
	xb_attr(x, "node", node);
	xb_open_end(x);
}

static void
event_close(struct xb *x)
{
	xb_close(x, "items");
	xb_close(x, "event");
	xb_close(x, "message");
	xb_emit(x);
	xb_free(x);
}

void
pep_send_nick(struct slidge_contact *c, const char *to)
{
	struct xb x = { 0 };

	if (!c->is_friend)
		return;
	event_open(&x, c, to, NS_NICK);
	xb_open(&x, "item");
	xb_open_end(&x);
	if (c->name != NULL)
		xb_text(&x, "nick", NS_NICK, c->name);
	else
		xb_empty(&x, "nick", NS_NICK);
	xb_close(&x, "item");
	event_close(&x);
}

void
pep_send_avatar(struct slidge_contact *c, const char *to)
{
	struct xb x = { 0 };

	if (!c->is_friend)
		return;
	if (to == NULL)   /* every resource of the user is told: remembered (cache) */
		snprintf(c->announced_avatar, sizeof c->announced_avatar, "%s",
		    c->avatar != NULL ? c->avatar->sha1 : "");
	event_open(&x, c, to, NS_AVATAR_META);
	xb_open(&x, "item");
	if (c->avatar != NULL)
		xb_attr(&x, "id", c->avatar->sha1);
	xb_open_end(&x);
	write_avatar_metadata(&x, c->avatar);   /* empty <metadata/>: avatar removed */
	xb_close(&x, "item");
	event_close(&x);
}

void
pep_send_vcard(struct slidge_contact *c, const char *to)
{
	struct xb x = { 0 };

	if (!c->is_friend || c->vcard == NULL)
		return;
	/* XEP-0292 says the event should not carry the vCard; slidge sends it (Movim reads
	 * it there). */
	event_open(&x, c, to, NS_VCARD4_NODE);
	xb_open(&x, "item");
	xb_attr(&x, "id", "current");
	xb_open_end(&x);
	vcard_write_vcard4(&x, c);
	xb_close(&x, "item");
	event_close(&x);
}

/* ---- +notify ------------------------------------------------------------------------ */

static void
push_wanted(struct slidge_contact *c, unsigned want, const char *to)
{
	if (!c->is_friend)
		return;
	if ((want & WANT_AVATAR) && c->avatar != NULL)
		pep_send_avatar(c, to);
	if ((want & WANT_NICK) && c->name != NULL)
		pep_send_nick(c, to);
	if (want & WANT_VCARD)
		pep_send_vcard(c, to);
}

static void
disco_answer(xmlNodePtr answer, void *arg)
{
	struct caps_entry *e = arg;
	xmlNodePtr q, f;
	const char *var;
	size_t i;

	e->known = 1;
	if (answer != NULL && strcmp(xml_attr(answer, "type") ? xml_attr(answer, "type") : "",
	    "result") == 0 && (q = xml_child(answer, "query", NS_DISCO_INFO)) != NULL) {
		for (f = xml_first_elem(q); f != NULL; f = xml_next_elem(f)) {
			if (strcmp((const char *)f->name, "feature") != 0 ||
			    (var = xml_attr(f, "var")) == NULL)
				continue;
			if (strcmp(var, NS_AVATAR_META "+notify") == 0)
				e->want |= WANT_AVATAR;
			else if (strcmp(var, NS_NICK "+notify") == 0)
				e->want |= WANT_NICK;
			else if (strcmp(var, NS_VCARD4_NODE "+notify") == 0)
				e->want |= WANT_VCARD;
		}
	}
	if (session != NULL)
		for (i = 0; i < e->nwaiters; i++)
			push_wanted(e->waiters[i], e->want, e->to);
	free(e->waiters);
	e->waiters = NULL;
	e->nwaiters = 0;
}

static struct caps_entry *
caps_find(const char *key)
{
	struct caps_entry *e;

	for (e = caps; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

void
pep_user_available(struct inbound *in, struct slidge_contact *c)
{
	struct caps_entry *e;
	struct slidge_contact **w;
	xmlNodePtr cn;
	const char *ver = NULL, *node = NULL;
	char key[JID_BUF + 8], payload[JID_BUF + 128];
	struct xb q = { 0 };

	if ((cn = xml_child(in->root, "c", NS_CAPS)) != NULL) {
		ver = xml_attr(cn, "ver");
		node = xml_attr(cn, "node");
	}
	if (ver != NULL && node != NULL && *ver != '\0')
		snprintf(key, sizeof key, "ver:%s", ver);
	else
		snprintf(key, sizeof key, "jid:%s", in->from);
	if ((e = caps_find(key)) != NULL && e->known) {
		push_wanted(c, e->want, in->from);
		return;
	}
	if (e == NULL) {
		if (ncaps >= CAPS_MAX || (e = calloc(1, sizeof *e)) == NULL) {
			log_warn("caps cache full: not pushing PEP items");
			return;
		}
		snprintf(e->key, sizeof e->key, "%s", key);
		snprintf(e->to, sizeof e->to, "%s", in->from);
		e->next = caps;
		caps = e;
		ncaps++;
		/* The query, from the gateway, as slixmpp's get_caps / get_info would. */
		xb_open(&q, "query");
		xb_attr(&q, "xmlns", NS_DISCO_INFO);
		if (ver != NULL && node != NULL && *ver != '\0') {
			snprintf(payload, sizeof payload, "%s#%s", node, ver);
			xb_attr(&q, "node", payload);
		}
		xb_open_end(&q);
		xb_close(&q, "query");
		if (q.err || iq_send(session->component_jid, in->from, "get", q.b.data,
		    disco_answer, e) < 0) {
			e->known = 1;   /* nothing will come: push nothing */
			xb_free(&q);
			return;
		}
		xb_free(&q);
	}
	if (e->nwaiters >= WAITERS_MAX ||
	    (w = realloc(e->waiters, (e->nwaiters + 1) * sizeof *w)) == NULL)
		return;
	e->waiters = w;
	e->waiters[e->nwaiters++] = c;
}

void
pep_free(void)
{
	struct caps_entry *e;

	while ((e = caps) != NULL) {
		caps = e->next;
		free(e->waiters);
		free(e);
	}
	ncaps = 0;
}
