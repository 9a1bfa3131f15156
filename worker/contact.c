/* contact.c: LegacyRoster and LegacyContact (reference/slidge.md §2.3, §2.4, §2.10).
 *
 * A contact is a puppet JID local@component/slidge whose local part is the XEP-0106
 * escape of its legacy id. Contacts are kept per session in two hash tables (by legacy
 * id, by local part). slidge's invariants kept here:
 *   - presences go to the user's bare JID, and only once the contact is a friend, except
 *     subscription requests; a presence set before that is remembered and sent when the
 *     contact becomes one;
 *   - an unchanged presence is not sent again;
 *   - a non-friend's stanzas carry its <nick> (messages: chat.c);
 *   - the last-seen time is XEP-0319 <idle/> only (slidge's --last-seen-fallback, which
 *     would also write it in the status text, is off by default). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

#define CONTACT_BUCKETS 1024

struct contact_table {
	struct slidge_contact *by_id[CONTACT_BUCKETS];
	struct slidge_contact *by_local[CONTACT_BUCKETS];
	struct slidge_contact *first, *last;
};

static unsigned
bucket(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h % CONTACT_BUCKETS;
}

int
contacts_init(struct slidge_session *s)
{
	return (s->contacts = calloc(1, sizeof *s->contacts)) == NULL ? -1 : 0;
}

void
contacts_free(struct slidge_session *s)
{
	struct slidge_contact *c, *next;

	if (s->contacts == NULL)
		return;
	for (c = s->contacts->first; c != NULL; c = next) {
		next = c->next;
		free(c->legacy_id);
		free(c->local);
		free(c->name);
		free(c->pres_status);
		avatar_free(c->avatar);
		vcard_free(c->vcard);
		free(c->client_type);
		free(c);
	}
	free(s->contacts);
	s->contacts = NULL;
}

struct slidge_contact *
contact_first(struct slidge_session *s)
{
	return s->contacts->first;
}

struct slidge_contact *
contact_lookup(struct slidge_session *s, const char *legacy_id)
{
	struct slidge_contact *c;

	for (c = s->contacts->by_id[bucket(legacy_id)]; c != NULL; c = c->hnext_id)
		if (strcmp(c->legacy_id, legacy_id) == 0)
			return c;
	return NULL;
}

static struct slidge_contact *
lookup_local(struct slidge_session *s, const char *local)
{
	struct slidge_contact *c;

	for (c = s->contacts->by_local[bucket(local)]; c != NULL; c = c->hnext_local)
		if (strcmp(c->local, local) == 0)
			return c;
	return NULL;
}

static struct slidge_contact *
contact_create(struct slidge_session *s, const char *legacy_id)
{
	struct contact_table *t = s->contacts;
	struct slidge_contact *c;
	char esc[JID_PART_MAX + 1], bare[JID_BUF];
	struct jid j;
	unsigned b;

	/* The local part must survive the server's nodeprep unchanged, so it is taken from
	 * the parsed JID: two legacy ids that differ only by case share one JID. */
	if (jid_escape(legacy_id, esc, sizeof esc) < 0 ||
	    snprintf(bare, sizeof bare, "%s@%s", esc, s->component_jid) >= (int)sizeof bare ||
	    jid_parse(bare, &j) < 0 || j.local[0] == '\0') {
		log_warn("a legacy id cannot be made a JID local part");
		return NULL;
	}
	if (lookup_local(s, j.local) != NULL) {
		log_warn("two legacy ids map to the JID %s@%s: keeping the first", j.local,
		    s->component_jid);
		return NULL;
	}
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->legacy_id = strdup(legacy_id)) == NULL || (c->local = strdup(j.local)) == NULL) {
		if (c != NULL)
			free(c->legacy_id);
		free(c);
		log_error("out of memory creating a contact");
		return NULL;
	}
	c->s = s;
	jid_bare(&j, c->jid, sizeof c->jid);
	snprintf(c->full, sizeof c->full, "%s/%s", c->jid, CONTACT_RESOURCE);

	b = bucket(c->legacy_id);
	c->hnext_id = t->by_id[b];
	t->by_id[b] = c;
	b = bucket(c->local);
	c->hnext_local = t->by_local[b];
	t->by_local[b] = c;
	if (t->last != NULL)
		t->last->next = c;
	else
		t->first = c;
	t->last = c;

	log_debug("new contact %s", c->jid);
	/* LegacyContact.update_info(), once per run on creation. Presences it sets are only
	 * cached; they are sent when (if) the contact is a friend. */
	if (module->update_info != NULL) {
		c->updating_info = 1;
		module->update_info(c);
		c->updating_info = 0;
		if (c->roster_pending && privilege_settled())
			contact_roster_sync(c);
		else if (c->is_friend && !c->roster_pending && c->pres != PRES_NONE)
			contact_send_presence(c, NULL);
	}
	return c;
}

struct slidge_contact *
contact_by_legacy_id(struct slidge_session *s, const char *legacy_id)
{
	struct slidge_contact *c;

	if (legacy_id == NULL || *legacy_id == '\0')
		return NULL;
	if ((c = contact_lookup(s, legacy_id)) != NULL)
		return c;
	return contact_create(s, legacy_id);
}

struct slidge_contact *
contact_by_local(struct slidge_session *s, const char *local, const char **why)
{
	struct slidge_contact *c;
	char legacy_id[JID_PART_MAX + 1];
	const char *w = NULL;

	*why = NULL;
	if ((c = lookup_local(s, local)) != NULL)
		return c;
	if (jid_unescape(local, legacy_id, sizeof legacy_id) < 0 || legacy_id[0] == '\0') {
		*why = "This is not a valid contact JID";
		return NULL;
	}
	if (module->jid_username_to_legacy_id != NULL &&
	    module->jid_username_to_legacy_id(s, legacy_id, &w) < 0) {
		*why = w != NULL ? w : "No such contact on the legacy network";
		return NULL;
	}
	if ((c = contact_by_legacy_id(s, legacy_id)) == NULL)
		*why = "This contact cannot be reached from XMPP";
	return c;
}

void
contact_set_name(struct slidge_contact *c, const char *name)
{
	char *n = NULL;

	if ((name == NULL && c->name == NULL) ||
	    (name != NULL && c->name != NULL && strcmp(name, c->name) == 0))
		return;
	if (name != NULL && (n = strdup(name)) == NULL) {
		log_error("out of memory setting a contact name");
		return;
	}
	free(c->name);
	c->name = n;
	if (!c->updating_info)
		contact_name_changed(c);
}

/* ---- presence ---------------------------------------------------------------------- */

void
contact_send_presence(struct slidge_contact *c, const char *to)
{
	/* Built in presence.c: caps, photo hash, nick, idle. */
	presence_contact(c, NULL, to);
}

void
contact_set_presence(struct slidge_contact *c, enum presence_kind k, const char *status,
    time_t last_seen)
{
	char *st = NULL;

	if (status != NULL && *status == '\0')
		status = NULL;
	if (c->pres == k && c->pres_last_seen == last_seen &&
	    ((status == NULL && c->pres_status == NULL) ||
	    (status != NULL && c->pres_status != NULL && strcmp(status, c->pres_status) == 0)))
		return;   /* unchanged: slidge's _ONLY_SEND_PRESENCE_CHANGES */
	if (status != NULL && (st = strdup(status)) == NULL) {
		log_error("out of memory caching a presence");
		return;
	}
	free(c->pres_status);
	c->pres = k;
	c->pres_status = st;
	c->pres_last_seen = last_seen;
	/* A friend waiting for the privileges gets its presence with its roster entry. */
	if (c->updating_info || !c->is_friend || c->roster_pending)
		return;
	contact_send_presence(c, NULL);
}

void
contact_send_presence_type(struct slidge_contact *c, const char *type, int full)
{
	struct presence_out p = { 0 };

	p.from = full ? c->full : c->jid;
	p.to = c->s->user_jid;
	p.type = type;
	stanza_presence(&p);
}

void
contact_add_to_roster(struct slidge_contact *c)
{
	c->is_friend = 1;
	if (c->added_to_roster)
		return;   /* slidge's add_to_roster(force=False) */
	/* Inside update_info, or while the privileges are not known yet, the entry waits:
	 * contact_create or contact_roster_sync_all finish it. */
	c->roster_pending = 1;
	if (c->updating_info || !privilege_settled())
		return;
	contact_roster_sync(c);
}

/* ---- roster and friends (presentation, half B) ------------------------------------- */

static const char *
roster_group(void)
{
	return module->roster_group != NULL ? module->roster_group : "slidge";
}

/* A subscription-family presence from the bare JID, with status and nick. */
static void
subscription_presence(struct slidge_contact *c, const char *type, const char *text)
{
	struct presence_out p = { 0 };

	p.from = c->jid;
	p.to = c->s->user_jid;
	p.type = type;
	p.status = text;
	p.nick = c->name;
	stanza_presence(&p);
}

/* What a new friend shows the user: its presence, then its PEP avatar and nick. */
static void
announce(struct slidge_contact *c)
{
	if (c->pres != PRES_NONE)
		contact_send_presence(c, NULL);
	if (c->avatar != NULL)
		pep_send_avatar(c, NULL);
	if (c->name != NULL)
		pep_send_nick(c, NULL);
}

void
contact_roster_sync(struct slidge_contact *c)
{
	char text[512];
	const char *network;

	c->roster_pending = 0;
	if (!c->is_friend || c->added_to_roster)
		return;
	/* XEP-0356: the contact goes straight into the user's roster, subscription both,
	 * in ROSTER_GROUP (test_privilege). */
	if (privilege_roster_push(c->jid, c->name, "both", roster_group()) == 0) {
		c->added_to_roster = 1;
		announce(c);
		return;
	}
	/* Without roster privileges, slidge's fallback
	 * (ROSTER_PUSH_PRESENCE_SUBSCRIPTION_REQUEST_FALLBACK): the contact asks the user for
	 * a subscription, with its name. Once per session: the user's server answers by
	 * itself when the subscription already exists. */
	if (!c->subscribe_sent) {
		c->subscribe_sent = 1;
		network = module->component_type && *module->component_type ?
		    module->component_type : module->component_name;
		snprintf(text, sizeof text, "I'm already your friend on %s, but slidge is not "
		    "allowed to manage your roster.", network);
		subscription_presence(c, "subscribe", text);
	}
	if (c->pres != PRES_NONE)
		contact_send_presence(c, NULL);
}

void
contact_roster_sync_all(void)
{
	struct slidge_contact *c;

	for (c = contact_first(session); c != NULL; c = c->next)
		if (c->roster_pending && !c->updating_info)
			contact_roster_sync(c);
}

void
contact_friend_request(struct slidge_contact *c, const char *text)
{
	/* LegacyContact.send_friend_request: always sent, with the nick. */
	c->subscribe_sent = 1;
	subscription_presence(c, "subscribe", text);
}

void
contact_friend_accept(struct slidge_contact *c, const char *text)
{
	c->is_friend = 1;
	c->roster_pending = 0;
	subscription_presence(c, "subscribed", text);
	announce(c);
}

void
contact_friend_reject(struct slidge_contact *c, const char *text)
{
	/* slidge: offline first (sent while still a friend), then unsubscribed. */
	contact_set_presence(c, PRES_OFFLINE, NULL, 0);
	subscription_presence(c, "unsubscribed", text);
	c->is_friend = 0;
	c->roster_pending = 0;
	if (c->added_to_roster) {
		privilege_roster_push(c->jid, c->name, "none", roster_group());
		c->added_to_roster = 0;
	}
}

void
contact_name_changed(struct slidge_contact *c)
{
	/* slidge's name setter broadcasts the PEP nick; the roster entry follows too. */
	if (!c->is_friend || c->roster_pending)
		return;
	pep_send_nick(c, NULL);
	if (c->added_to_roster)
		privilege_roster_push(c->jid, c->name, "both", roster_group());
}
