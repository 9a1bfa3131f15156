/* avatar.c: contact avatars (slidge's AvatarMixin, reference/slidge.md §1: XEP-0084,
 * XEP-0153, XEP-0054 PHOTO).
 *
 * An avatar is kept as the bytes the legacy network gave, with their SHA-1 (the XEP-0084
 * item id and the XEP-0153 photo hash), the module's unique id (so that an unchanged
 * avatar is not published again), the MIME type and, for PNG and GIF, the size read from
 * the header. slidge re-encodes every avatar to a PNG of at most AVATAR_SIZE pixels;
 * here the bytes are served as they are (modules that want PNG give PNG).
 * The hash is computed with nettle.
 *
 * The gateway's own avatar (COMPONENT_AVATAR, or component_avatar_path read before the
 * sandbox) is served on the component's vCard and PEP nodes and its hash rides on the
 * gateway's presences.
 *
 * The user's avatar goes the other way (BaseSession.on_avatar, reference/slidge.md §1
 * row 0084, §7.1 case 32): the gateway's caps say urn:xmpp:avatar:metadata+notify, so
 * the user's server sends it the user's PEP avatar metadata events; after login the
 * current metadata is fetched as well (slidge's fetch_user_avatar). A new hash makes the
 * gateway fetch urn:xmpp:avatar:data from the user's bare JID, check its SHA-1 and give
 * it to on_avatar, only with the sync_avatar preference on, and only once per hash: the
 * last hash given is kept in the store (slidge's user.avatar_hash). An empty metadata
 * (the user removed the avatar) calls on_avatar with no data, if one had been given.
 *
 * A contact's avatar may also come from a URL (slidge_contact_set_avatar_url): it is
 * downloaded (http.c, size-limited, into the state dir), then set like bytes; the
 * unique id (default: the URL) keeps an unchanged avatar from being fetched again. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nettle/sha1.h>

#include "log.h"
#include "worker.h"
#include "parity.h"
#include "http.h"
#include "xml.h"

#define AVATAR_MAX (8u << 20)   /* larger avatars are refused (stanza limits anyway) */
#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_EVENT "http://jabber.org/protocol/pubsub#event"
#define NS_AVATAR_META "urn:xmpp:avatar:metadata"
#define NS_AVATAR_DATA "urn:xmpp:avatar:data"
#define USER_HASH_KEY "avatar_hash"
#define URL_TIMEOUT 60          /* seconds for one avatar download */

void
avatar_sha1(const void *data, size_t len, unsigned char out[20])
{
	struct sha1_ctx ctx;

	/* nettle, not GnuTLS: the worker needs only SHA-1, and GnuTLS brought eight more
	 * libraries into every worker's memory. */
	sha1_init(&ctx);
	sha1_update(&ctx, len, data);
	sha1_digest(&ctx, SHA1_DIGEST_SIZE, out);
}

int
avatar_sha1_hex(const void *data, size_t len, char out[41])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[20];
	size_t i;

	avatar_sha1(data, len, d);
	for (i = 0; i < sizeof d; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[40] = '\0';
	return 0;
}

char *
avatar_base64(const unsigned char *data, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out, *o;
	size_t i;
	uint32_t v;

	if (len > AVATAR_MAX * 2 || (out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	o = out;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i < len) {
		v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The MIME type from the magic bytes, and the size where the header says it simply. */
static void
sniff(struct avatar *a)
{
	const unsigned char *p = a->data;
	size_t n = a->len;

	a->type = "application/octet-stream";
	if (n >= 24 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(p + 12, "IHDR", 4) == 0) {
		a->type = "image/png";
		if (be32(p + 16) <= 65535 && be32(p + 20) <= 65535) {
			a->width = (int)be32(p + 16);
			a->height = (int)be32(p + 20);
		}
	} else if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
		a->type = "image/jpeg";
	} else if (n >= 10 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) {
		a->type = "image/gif";
		a->width = p[6] | p[7] << 8;
		a->height = p[8] | p[9] << 8;
	} else if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) {
		a->type = "image/webp";
	}
}

/* slidge serves avatars of at most AVATAR_SIZE pixels a side: a larger PNG is
 * downscaled (its hash is that of the new bytes; the unique id stays the module's). */
static void
fit(struct avatar *a)
{
	unsigned char *out;
	size_t len;

	if (strcmp(a->type, "image/png") != 0 ||
	    (a->width <= AVATAR_SIZE && a->height <= AVATAR_SIZE) ||
	    image_png_fit(a->data, a->len, AVATAR_SIZE, &out, &len) <= 0)
		return;
	free(a->data);
	a->data = out;
	a->len = len;
	avatar_sha1_hex(out, len, a->sha1);
	sniff(a);
}

struct avatar *
avatar_new(const void *data, size_t len, const char *unique_id)
{
	struct avatar *a;

	if (data == NULL || len == 0)
		return NULL;
	if (len > AVATAR_MAX) {
		log_warn("ignoring an avatar of %zu bytes (more than %u)", len, AVATAR_MAX);
		return NULL;
	}
	if ((a = calloc(1, sizeof *a)) == NULL || (a->data = malloc(len)) == NULL)
		goto fail;
	memcpy(a->data, data, len);
	a->len = len;
	if (avatar_sha1_hex(data, len, a->sha1) < 0) {
		log_error("cannot hash an avatar");
		goto fail;
	}
	if ((a->unique_id = strdup(unique_id != NULL && *unique_id != '\0' ?
	    unique_id : a->sha1)) == NULL)
		goto fail;
	sniff(a);
	fit(a);
	return a;
fail:
	avatar_free(a);
	return NULL;
}

void
avatar_free(struct avatar *a)
{
	if (a == NULL)
		return;
	free(a->data);
	free(a->unique_id);
	free(a);
}

void
avatar_write_update(struct xb *x, const struct avatar *a)
{
	xb_open(x, "x");
	xb_attr(x, "xmlns", "vcard-temp:x:update");
	xb_open_end(x);
	if (a != NULL)
		xb_text(x, "photo", NULL, a->sha1);
	else
		xb_empty(x, "photo", NULL);
	xb_close(x, "x");
}

void
avatar_contact_set(struct slidge_contact *c, struct avatar *a)
{
	if (a == NULL && c->avatar == NULL)
		return;
	/* slidge: an avatar with the unique id of the current one is not published again. */
	if (a != NULL && c->avatar != NULL && strcmp(a->unique_id, c->avatar->unique_id) == 0) {
		avatar_free(a);
		return;
	}
	avatar_free(c->avatar);
	c->avatar = a;
	log_debug("%s: avatar %s", c->jid, a ? a->sha1 : "removed");
	contact_cache_save(c, 1);
	/* Inside update_info the contact is not announced yet: its roster sync sends all. */
	if (c->updating_info || !c->is_friend)
		return;
	pep_send_avatar(c, NULL);
	if (c->pres != PRES_NONE && c->pres != PRES_OFFLINE)
		presence_contact(c, NULL, NULL);
}

/* ---- the gateway's avatar ---------------------------------------------------------- */

static struct avatar *component;
static int component_tried;

void
avatar_component_load(void)
{
	FILE *f;
	unsigned char *data = NULL;
	size_t len = 0, n;

	if (component_tried || module == NULL)
		return;
	component_tried = 1;
	if (module->component_avatar != NULL && module->component_avatar_len > 0) {
		component = avatar_new(module->component_avatar, module->component_avatar_len,
		    NULL);
		return;
	}
	if (module->component_avatar_path == NULL || *module->component_avatar_path == '\0')
		return;
	/* Read now, before the sandbox closes the file system; bounded like any avatar. */
	if ((f = fopen(module->component_avatar_path, "rb")) == NULL) {
		log_warn("cannot open the component avatar %s", module->component_avatar_path);
		return;
	}
	if ((data = malloc(AVATAR_MAX + 1)) != NULL) {
		while ((n = fread(data + len, 1, AVATAR_MAX + 1 - len, f)) > 0 &&
		    len + n <= AVATAR_MAX)
			len += n;
		if (ferror(f) || n > 0)
			log_warn("cannot read the component avatar %s (unreadable, or more than "
			    "%u bytes)", module->component_avatar_path, AVATAR_MAX);
		else
			component = avatar_new(data, len, NULL);
	}
	free(data);
	fclose(f);
}

const struct avatar *
avatar_component(void)
{
	avatar_component_load();
	return component;
}

/* ---- the user's avatar ------------------------------------------------------------ */

struct user_fetch {
	char hash[41];
	char type[64];
	unsigned width, height;
};

static char user_fetching[41];   /* the hash being fetched, "" if none */
static char mem_hash[41];        /* the last hash given, without a store */
static int mem_hash_set;

int
avatar_sync_enabled(void)
{
	const char *v = proto_kv_get(&session->prefs, "sync_avatar");

	/* As sync_presence (presence.c): a missing preference (in-band registration) is
	 * off, as slidge's preferences.get("sync_avatar", False). */
	return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* The last hash given to on_avatar ("" none given, or removed) into out. */
static void
last_hash(char out[41])
{
	void *v;
	size_t n;

	out[0] = '\0';
	if (store_kv_get(KV_USER, USER_HASH_KEY, &v, &n) == 0) {
		if (n < 41)
			memcpy(out, v, n + 1);
		free(v);
	} else if (mem_hash_set) {
		memcpy(out, mem_hash, sizeof mem_hash);
	}
}

/* h: a SHA-1 hex (40 characters) or "" (none). */
static void
set_last_hash(const char *h)
{
	size_t n = strnlen(h, sizeof mem_hash - 1);

	memcpy(mem_hash, h, n);
	mem_hash[n] = '\0';
	mem_hash_set = 1;
	store_kv_put(KV_USER, USER_HASH_KEY, mem_hash, n);
}

/* Decode base64 (whitespace allowed) into a new buffer (caller frees). NULL if it is
 * not base64 or larger than AVATAR_MAX. */
static unsigned char *
base64_decode(const char *s, size_t *outlen)
{
	unsigned char *out;
	uint32_t acc = 0;
	size_t n = 0, bits = 0, pad = 0;
	int v;

	if ((out = malloc(strlen(s) / 4 * 3 + 3)) == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
			continue;
		if (*s == '=') {
			pad++;
			continue;
		}
		if (pad > 0)
			goto bad;   /* data after padding */
		if (*s >= 'A' && *s <= 'Z')
			v = *s - 'A';
		else if (*s >= 'a' && *s <= 'z')
			v = *s - 'a' + 26;
		else if (*s >= '0' && *s <= '9')
			v = *s - '0' + 52;
		else if (*s == '+')
			v = 62;
		else if (*s == '/')
			v = 63;
		else
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
		if (n > AVATAR_MAX)
			goto bad;
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	*outlen = n;
	return out;
bad:
	free(out);
	return NULL;
}

static void
user_data_answer(xmlNodePtr answer, void *arg)
{
	struct user_fetch *f = arg;
	xmlNodePtr items, item, data;
	unsigned char *bytes = NULL;
	char *b64 = NULL, sha1[41];
	const char *type = answer != NULL ? xml_attr(answer, "type") : NULL;
	size_t len = 0;

	if (session == NULL || strcmp(user_fetching, f->hash) != 0) {
		free(f);
		return;
	}
	user_fetching[0] = '\0';
	if (type == NULL || strcmp(type, "result") != 0 ||
	    (items = xml_child(xml_child(answer, "pubsub", NS_PUBSUB), "items", NS_PUBSUB))
	    == NULL || (item = xml_child(items, "item", NS_PUBSUB)) == NULL ||
	    (data = xml_child(item, "data", NS_AVATAR_DATA)) == NULL ||
	    (b64 = xml_text(data)) == NULL || (bytes = base64_decode(b64, &len)) == NULL ||
	    len == 0) {
		log_warn("could not fetch the user's avatar (%s)", answer == NULL ? "no answer" :
		    type != NULL && strcmp(type, "error") == 0 ? "error" : "bad data");
		goto done;
	}
	avatar_sha1_hex(bytes, len, sha1);
	if (strcmp(sha1, f->hash) != 0) {
		log_warn("the user's avatar data does not match its hash: ignored");
		goto done;
	}
	log_info("the user's avatar changed (%zu bytes)", len);
	set_last_hash(f->hash);
	module->on_avatar(session, bytes, len, f->hash, f->type[0] ? f->type : NULL,
	    f->width, f->height);
done:
	free(bytes);
	free(b64);
	free(f);
}

static unsigned
attr_uint(xmlNodePtr n, const char *name)
{
	const char *v = xml_attr(n, name);
	char *end;
	unsigned long u;

	if (v == NULL)
		return 0;
	u = strtoul(v, &end, 10);
	return *v != '\0' && *end == '\0' && u <= 65535 ? (unsigned)u : 0;
}

/* The user's current avatar metadata (NULL: none published). */
static void
user_metadata(xmlNodePtr metadata)
{
	struct user_fetch *f;
	struct xb q = { 0 };
	xmlNodePtr info = metadata != NULL ? xml_child(metadata, "info", NS_AVATAR_META) : NULL;
	const char *id = info != NULL ? xml_attr(info, "id") : NULL, *type;
	char last[41];

	if (module->on_avatar == NULL || !avatar_sync_enabled() || !session_logged())
		return;
	last_hash(last);
	if (id == NULL || *id == '\0') {
		if (last[0] == '\0')
			return;   /* nothing was given: nothing to take back */
		log_info("the user removed their avatar");
		set_last_hash("");
		module->on_avatar(session, NULL, 0, NULL, NULL, 0, 0);
		return;
	}
	if (strlen(id) != 40 || strspn(id, "0123456789abcdef") != 40) {
		log_warn("the user's avatar metadata has an id that is not a SHA-1: ignored");
		return;
	}
	if (strcmp(id, last) == 0 || strcmp(id, user_fetching) == 0)
		return;   /* slidge: the same hash is not fetched again */
	if ((f = calloc(1, sizeof *f)) == NULL)
		return;
	memcpy(f->hash, id, sizeof f->hash);
	if ((type = xml_attr(info, "type")) != NULL)
		snprintf(f->type, sizeof f->type, "%s", type);
	f->width = attr_uint(info, "width");
	f->height = attr_uint(info, "height");
	xb_open(&q, "pubsub");
	xb_attr(&q, "xmlns", NS_PUBSUB);
	xb_open_end(&q);
	xb_open(&q, "items");
	xb_attr(&q, "node", NS_AVATAR_DATA);
	xb_open_end(&q);
	xb_open(&q, "item");
	xb_attr(&q, "id", id);
	xb_open_end(&q);
	xb_close(&q, "item");
	xb_close(&q, "items");
	xb_close(&q, "pubsub");
	memcpy(user_fetching, id, sizeof user_fetching);
	if (q.err || iq_send(session->component_jid, session->user_jid, "get", q.b.data,
	    user_data_answer, f) < 0) {
		user_fetching[0] = '\0';
		free(f);
	}
	xb_free(&q);
}

int
avatar_user_event(xmlNodePtr msg)
{
	xmlNodePtr items = xml_child(xml_child(msg, "event", NS_EVENT), "items", NS_EVENT);
	const char *node = items != NULL ? xml_attr(items, "node") : NULL;

	if (node == NULL || strcmp(node, NS_AVATAR_META) != 0)
		return 0;
	/* Before the login is over the fetch at its end reads the same metadata. */
	user_metadata(xml_child(xml_child(items, "item", NS_EVENT), "metadata",
	    NS_AVATAR_META));
	return 1;
}

static void
user_meta_answer(xmlNodePtr answer, void *arg)
{
	xmlNodePtr items;
	const char *type = answer != NULL ? xml_attr(answer, "type") : NULL;

	if (session == NULL || type == NULL)
		return;
	if (strcmp(type, "result") == 0) {
		items = xml_child(xml_child(answer, "pubsub", NS_PUBSUB), "items", NS_PUBSUB);
		user_metadata(xml_child(xml_child(items, "item", NS_PUBSUB), "metadata",
		    NS_AVATAR_META));
	} else if (xml_child(xml_child(answer, "error", xml_ns(answer)), "item-not-found",
	    "urn:ietf:params:xml:ns:xmpp-stanzas") != NULL) {
		user_metadata(NULL);   /* no avatar node: no avatar */
	} else {
		/* A server without PEP (or refusing it to us): no avatar to sync. */
		log_debug("the user's avatar metadata cannot be read");
	}
}

void
avatar_user_fetch(void)
{
	static const char q[] = "<pubsub xmlns='" NS_PUBSUB "'><items node='" NS_AVATAR_META
	    "' max_items='1'/></pubsub>";

	if (module->on_avatar == NULL)
		return;
	/* slidge at login and when the preferences are saved: sync on, fetch; off, forget
	 * the hash given, so that turning it on again gives the module the avatar again. */
	if (!avatar_sync_enabled()) {
		set_last_hash("");
		return;
	}
	iq_send(session->component_jid, session->user_jid, "get", q, user_meta_answer, NULL);
}

/* ---- avatars from URLs --------------------------------------------------------------- */

struct url_fetch {
	struct slidge_contact *c;
	char *unique_id;
	char path[PATH_MAX];
	struct http_req *req;
	struct url_fetch *next;
};

static struct url_fetch *url_fetches;
static unsigned url_serial;

static void
url_fetch_free(struct url_fetch *f)
{
	struct url_fetch **fp;

	for (fp = &url_fetches; *fp != NULL; fp = &(*fp)->next)
		if (*fp == f) {
			*fp = f->next;
			break;
		}
	unlink(f->path);
	free(f->unique_id);
	free(f);
}

/* The downloaded file, bounded, into a new buffer (caller frees). NULL if unreadable. */
static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE *fp;
	unsigned char *data;
	size_t n;

	*len = 0;
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	if ((data = malloc(AVATAR_MAX + 1)) != NULL) {
		while ((n = fread(data + *len, 1, AVATAR_MAX + 1 - *len, fp)) > 0 &&
		    *len + n <= AVATAR_MAX)
			*len += n;
		if (ferror(fp) || n > 0) {
			free(data);
			data = NULL;
		}
	}
	fclose(fp);
	return data;
}

static void
url_done(void *arg, const struct http_result *res)
{
	struct url_fetch *f = arg;
	struct avatar *a = NULL;
	unsigned char *data;
	size_t len;

	if (res->error != NULL) {
		log_warn("%s: cannot download the avatar: %s", f->c->jid, res->error);
	} else if ((data = read_file(f->path, &len)) == NULL || len == 0) {
		log_warn("%s: cannot read the downloaded avatar", f->c->jid);
		free(data);
	} else {
		if ((a = avatar_new(data, len, f->unique_id)) != NULL)
			avatar_contact_set(f->c, a);
		free(data);
	}
	url_fetch_free(f);
}

/* LegacyContact.set_avatar with a URL (declared in legacy.h, SECTION-AVATAR). */
int
slidge_contact_set_avatar_url(struct slidge_contact *c, const char *url,
    const char *unique_id)
{
	struct http_opts o = { 0 };
	struct url_fetch *f, *old;
	const char *err = NULL;

	if (c == NULL || c->s != session || url == NULL || *url == '\0') {
		log_warn("slidge_contact_set_avatar_url: no such contact, or no URL");
		return -1;
	}
	if (unique_id == NULL || *unique_id == '\0')
		unique_id = url;
	if (c->avatar != NULL && strcmp(c->avatar->unique_id, unique_id) == 0)
		return 0;   /* slidge: the avatar the contact has is not fetched again */
	/* A newer avatar replaces one still downloading. */
	for (old = url_fetches; old != NULL; old = old->next)
		if (old->c == c)
			break;
	if (old != NULL) {
		if (strcmp(old->unique_id, unique_id) == 0)
			return 0;
		http_cancel(old->req);
		url_fetch_free(old);
	}
	if ((f = calloc(1, sizeof *f)) == NULL || (f->unique_id = strdup(unique_id)) == NULL) {
		free(f);
		log_error("out of memory fetching an avatar");
		return -1;
	}
	f->c = c;
	if ((size_t)snprintf(f->path, sizeof f->path, "%s/avatar-%u.tmp", worker.state_dir,
	    ++url_serial) >= sizeof f->path) {
		free(f->unique_id);
		free(f);
		return -1;
	}
	o.url = url;
	o.download_path = f->path;
	o.max_size = AVATAR_MAX;
	o.timeout = URL_TIMEOUT;
	f->next = url_fetches;
	url_fetches = f;
	if (http_start(&o, url_done, f, &f->req, &err) < 0) {
		log_warn("%s: cannot download the avatar: %s", c->jid, err ? err : "?");
		url_fetch_free(f);
		return -1;
	}
	return 0;
}

void
avatar_free_all(void)
{
	struct url_fetch *f;

	while ((f = url_fetches) != NULL) {
		http_cancel(f->req);
		url_fetch_free(f);
	}
	avatar_free(component);
	component = NULL;
	user_fetching[0] = '\0';
}
