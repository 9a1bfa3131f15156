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
 *     would also write it in the status text, is off by default).
 * The contact cache (slidge's contact table, reference/slidge.md §4): each contact's
 * name, presence, avatar, friendship and roster state are kept in the per-user store, so
 * that the next run starts from them: a probe that comes before the login is over is
 * answered from it, and a roster entry or subscription request that the user already has
 * is not pushed or asked again at every start (only when the name changed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"
#include "parity.h"

#define CONTACT_BUCKETS 1024
#define CACHE_VERSION 1
/* A cached contact (KV_CONTACT, key: its local part): three bytes (CACHE_VERSION,
 * CACHED_* flags, enum presence_kind), then five NUL-terminated strings, "" for none:
 * last seen (decimal unix time), name, status, the name its roster entry has, its
 * avatar's unique id (the bytes are the KV_AVATAR record). */
#define CACHE_HEAD 3
enum { CACHED_FRIEND = 1, CACHED_IN_ROSTER = 2, CACHED_SUBSCRIBE_SENT = 4 };

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
		free(c->roster_name);
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

/* ---- the contact cache ------------------------------------------------------------- */

/* The next NUL-terminated string of a record at *p (before end) into *out (NULL if
 * empty), advancing *p. -1 if the record is cut. */
static int
rec_str(const char **p, const char *end, const char **out)
{
	const char *nul = memchr(*p, '\0', (size_t)(end - *p));

	if (nul == NULL)
		return -1;
	*out = nul == *p ? NULL : *p;
	*p = nul + 1;
	return 0;
}

static int
dup_or_null(char **dst, const char *src)
{
	free(*dst);
	*dst = NULL;
	return src != NULL && (*dst = strdup(src)) == NULL ? -1 : 0;
}

/* Fill c from its cached record (nothing if there is none or it does not parse). */
static void
cache_load(struct slidge_contact *c)
{
	const char *p, *end, *seen, *name, *status, *rname, *auid;
	const unsigned char *h;
	void *rec, *data;
	size_t n, dlen;

	if (store_kv_get(KV_CONTACT, c->local, &rec, &n) < 0)
		return;
	h = rec;
	p = (const char *)rec + CACHE_HEAD;
	end = (const char *)rec + n;
	if (n < CACHE_HEAD || h[0] != CACHE_VERSION || h[2] > PRES_OFFLINE ||
	    rec_str(&p, end, &seen) < 0 || rec_str(&p, end, &name) < 0 || rec_str(&p, end, &status) < 0 ||
	    rec_str(&p, end, &rname) < 0 || rec_str(&p, end, &auid) < 0) {
		log_warn("%s: ignoring a cached record that does not parse", c->jid);
		free(rec);
		return;
	}
	c->is_friend = (h[1] & CACHED_FRIEND) != 0;
	c->added_to_roster = (h[1] & CACHED_IN_ROSTER) != 0;
	c->subscribe_sent = (h[1] & CACHED_SUBSCRIBE_SENT) != 0;
	c->pres = (enum presence_kind)h[2];
	c->pres_last_seen = seen != NULL ? (time_t)strtoll(seen, NULL, 10) : 0;
	if (dup_or_null(&c->name, name) < 0 || dup_or_null(&c->pres_status, status) < 0 ||
	    dup_or_null(&c->roster_name, rname) < 0)
		log_error("out of memory loading a cached contact");
	/* The avatar the contact had: update_info setting the same unique id changes
	 * nothing, and the user is not told again. */
	if (auid != NULL && store_kv_get(KV_AVATAR, c->local, &data, &dlen) == 0) {
		if ((c->avatar = avatar_new(data, dlen, auid)) != NULL)
			memcpy(c->announced_avatar, c->avatar->sha1, sizeof c->announced_avatar);
		free(data);
	}
	free(rec);
	log_debug("%s: loaded from the cache", c->jid);
}

static int
str_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

void
contact_cache_save(struct slidge_contact *c, int avatar)
{
	struct buf b = BUF_INIT;
	unsigned char head[CACHE_HEAD];
	char seen[24];
	const char *strs[5];
	size_t i;

	if (c->updating_info)
		return;   /* saved once update_info is over */
	head[0] = CACHE_VERSION;
	head[1] = (c->is_friend ? CACHED_FRIEND : 0) |
	    (c->added_to_roster ? CACHED_IN_ROSTER : 0) |
	    (c->subscribe_sent ? CACHED_SUBSCRIBE_SENT : 0);
	head[2] = (unsigned char)c->pres;
	snprintf(seen, sizeof seen, "%lld", (long long)c->pres_last_seen);
	strs[0] = c->pres_last_seen != 0 ? seen : NULL;
	strs[1] = c->name;
	strs[2] = c->pres_status;
	strs[3] = c->roster_name;
	strs[4] = c->avatar != NULL ? c->avatar->unique_id : NULL;
	if (buf_append(&b, head, sizeof head) < 0)
		goto oom;
	for (i = 0; i < 5; i++)
		if ((strs[i] != NULL && buf_puts(&b, strs[i]) < 0) || buf_append(&b, "", 1) < 0)
			goto oom;
	/* The bytes first: a record never names an avatar the store lacks. */
	if (avatar)
		store_kv_put(KV_AVATAR, c->local, c->avatar ? c->avatar->data : NULL,
		    c->avatar ? c->avatar->len : 0);
	store_kv_put(KV_CONTACT, c->local, b.data, b.len);
	buf_free(&b, 0);
	return;
oom:
	buf_free(&b, 0);
	log_error("out of memory caching a contact");
}

/* update_info is over: what changed since the cached state reaches the user, and the
 * new state is kept. */
static void
cache_updated(struct slidge_contact *c)
{
	const char *now = c->avatar != NULL ? c->avatar->sha1 : "";
	int avatar_changed = strcmp(now, c->announced_avatar) != 0;

	/* A roster entry named differently than the contact is now: pushed again. */
	if (c->added_to_roster && str_differ(c->roster_name, c->name)) {
		c->added_to_roster = 0;
		c->roster_pending = c->is_friend;
	}
	if (c->roster_pending && privilege_settled()) {
		contact_roster_sync(c);
	} else if (c->is_friend && !c->roster_pending) {
		if (c->pres != PRES_NONE)
			contact_send_presence(c, NULL);
		if (avatar_changed)
			pep_send_avatar(c, NULL);
	}
	contact_cache_save(c, avatar_changed);
}

int
contact_cache_probe(const char *local)
{
	struct slidge_contact *c;
	char legacy_id[JID_PART_MAX + 1];
	int answered = 0;

	if ((c = lookup_local(session, local)) != NULL) {
		if (!c->is_friend)
			return 0;
		presence_contact(c, NULL, NULL);
		return 1;
	}
	/* Not created yet in this run: a stand-in built from the cache alone, so that the
	 * legacy network is not asked (no update_info before the login). */
	if (jid_unescape(local, legacy_id, sizeof legacy_id) < 0 ||
	    (c = calloc(1, sizeof *c)) == NULL)
		return 0;
	c->s = session;
	if ((c->legacy_id = strdup(legacy_id)) != NULL && (c->local = strdup(local)) != NULL &&
	    snprintf(c->jid, sizeof c->jid, "%s@%s", local, session->component_jid) <
	    (int)sizeof c->jid) {
		snprintf(c->full, sizeof c->full, "%s/%s", c->jid, CONTACT_RESOURCE);
		cache_load(c);
		if (c->is_friend) {
			log_debug("%s: probe answered from the cache", c->jid);
			presence_contact(c, NULL, NULL);
			answered = 1;
		}
	}
	free(c->legacy_id);
	free(c->local);
	free(c->name);
	free(c->pres_status);
	free(c->roster_name);
	avatar_free(c->avatar);
	free(c);
	return answered;
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
	cache_load(c);
	/* LegacyContact.update_info(), once per run on creation. Presences it sets are only
	 * cached; they are sent when (if) the contact is a friend. */
	if (module->update_info != NULL) {
		c->updating_info = 1;
		module->update_info(c);
		c->updating_info = 0;
	}
	cache_updated(c);
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
	if (c->updating_info)
		return;
	contact_name_changed(c);
	contact_cache_save(c, 0);
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
	contact_cache_save(c, 0);
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
	if (!c->is_friend) {
		c->is_friend = 1;
		contact_cache_save(c, 0);
	}
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
		dup_or_null(&c->roster_name, c->name);
		contact_cache_save(c, 0);
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
		contact_cache_save(c, 0);
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
	contact_cache_save(c, 0);
}

void
contact_friend_accept(struct slidge_contact *c, const char *text)
{
	c->is_friend = 1;
	c->roster_pending = 0;
	subscription_presence(c, "subscribed", text);
	announce(c);
	contact_cache_save(c, 0);
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
	contact_cache_save(c, 0);
}

void
contact_name_changed(struct slidge_contact *c)
{
	/* slidge's name setter broadcasts the PEP nick; the roster entry follows too. */
	if (!c->is_friend || c->roster_pending)
		return;
	pep_send_nick(c, NULL);
	if (c->added_to_roster &&
	    privilege_roster_push(c->jid, c->name, "both", roster_group()) == 0)
		dup_or_null(&c->roster_name, c->name);
}
