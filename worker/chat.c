/* chat.c: LegacyContact's message actions towards the user (slidge's MessageMaker,
 * TextMessageMixin, ChatStateMixin, MarkerMixin, CarbonMessageMixin; reference/slidge.md
 * §1 rows 0085/0184/0203/0308/0333/0334/0359/0424/0444/0461, §2.4, §2.10).
 *
 * Every message comes from the contact's full JID (local@component/slidge), type chat,
 * to the user's bare JID; a contact that is not a friend adds its <nick>. A message with
 * a body carries <active/> and, unless the module says otherwise, <markable/> + <store/>;
 * chat states alone carry <no-store/>; reactions and retractions <store/>. Legacy ids
 * become XMPP ids through the store (the XMPP id the user's own message had), then the
 * module's legacy_to_xmpp_msg_id, then the id itself.
 *
 * A carbon (the user acted from the official client) is the same message written from
 * the user's bare JID to the contact's bare JID, in jabber:client, handed to privilege.c
 * to be sent through XEP-0356; without the privilege it is dropped with a warning, as
 * slidge does. Its id is remembered so that the copy the server routes back to us is
 * ignored (slidge's ignore_messages); an id-less one gets the prefix slidge-carbon-. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "worker.h"

#define NS_CLIENT "jabber:client"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define NS_HINTS "urn:xmpp:hints"
#define NS_MARKERS "urn:xmpp:chat-markers:0"
#define NS_RECEIPTS "urn:xmpp:receipts"
#define NS_DELAY "urn:xmpp:delay"
#define NS_NICK "http://jabber.org/protocol/nick"
#define NS_CORRECT "urn:xmpp:message-correct:0"
#define NS_REACTIONS "urn:xmpp:reactions:0"
#define NS_RETRACT "urn:xmpp:message-retract:1"
#define NS_FALLBACK "urn:xmpp:fallback:0"
#define NS_REPLY "urn:xmpp:reply:0"
#define NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_OGP "https://ogp.me/ns#"

#define IGNORE_DELAY_THRESHOLD 300   /* seconds: slidge's --ignore-delay-threshold */
#define IGNORE_MAX 256               /* carbon ids we wait to see come back */
#define CARBON_PREFIX "slidge-carbon-"

static const struct slidge_send_opts no_opts;

/* ---- ids --------------------------------------------------------------------------- */

static void
copy_id(const char *id, char *out)
{
	size_t n = strlen(id);

	if (n >= ID_BUF) {
		log_warn("a message id of %zu bytes is cut to %d", n, ID_BUF - 1);
		n = ID_BUF - 1;
	}
	memcpy(out, id, n);
	out[n] = '\0';
}

void
chat_legacy_to_xmpp(const char *legacy_id, char *out)
{
	if (store_id_xmpp(STORE_MSG, legacy_id, out) == 0)
		return;
	if (module->legacy_to_xmpp_msg_id != NULL &&
	    module->legacy_to_xmpp_msg_id(session, legacy_id, out, ID_BUF) == 0 &&
	    memchr(out, '\0', ID_BUF) != NULL && *out != '\0')
		return;
	copy_id(legacy_id, out);
}

int
chat_xmpp_to_legacy(const char *xmpp_id, char *out)
{
	if (store_id_legacy(STORE_MSG, xmpp_id, out) == 0 ||
	    store_multi_legacy(xmpp_id, out) == 0)
		return 0;
	if (module->xmpp_to_legacy_msg_id != NULL) {
		if (module->xmpp_to_legacy_msg_id(session, xmpp_id, out, ID_BUF) < 0 ||
		    memchr(out, '\0', ID_BUF) == NULL || *out == '\0')
			return -1;
		return 0;
	}
	copy_id(xmpp_id, out);
	return 0;
}

void
chat_thread_to_xmpp(const char *legacy_thread, char *out)
{
	if (store_id_xmpp(STORE_THREAD, legacy_thread, out) != 0)
		copy_id(legacy_thread, out);
}

/* ---- carbons coming back ----------------------------------------------------------- */

static char *ignore_ring[IGNORE_MAX];
static size_t ignore_next;

static void
ignore_add(const char *id)
{
	char *d;

	if ((d = strdup(id)) == NULL)
		return;
	free(ignore_ring[ignore_next]);
	ignore_ring[ignore_next] = d;
	ignore_next = (ignore_next + 1) % IGNORE_MAX;
}

int
chat_ignore(const char *id)
{
	size_t i;

	if (id == NULL)
		return 0;
	if (strncmp(id, CARBON_PREFIX, sizeof CARBON_PREFIX - 1) == 0)
		return 1;
	for (i = 0; i < IGNORE_MAX; i++) {
		if (ignore_ring[i] != NULL && strcmp(ignore_ring[i], id) == 0) {
			free(ignore_ring[i]);
			ignore_ring[i] = NULL;
			return 1;
		}
	}
	return 0;
}

void
chat_free(void)
{
	size_t i;

	for (i = 0; i < IGNORE_MAX; i++) {
		free(ignore_ring[i]);
		ignore_ring[i] = NULL;
	}
}

/* ---- building one message ---------------------------------------------------------- */

/* "<message ...>": from the contact (the gateway if c is NULL), or for a carbon from the
 * user to the contact. id NULL: a new one (slidge-carbon-... for a carbon). */
void
chat_out_open(struct chat_out *o, struct slidge_contact *c, int carbon, const char *id)
{
	memset(o, 0, sizeof *o);
	o->c = c;
	o->carbon = carbon;
	if (id != NULL) {
		copy_id(id, o->id);
	} else if (carbon) {
		memcpy(o->id, CARBON_PREFIX, sizeof CARBON_PREFIX - 1);
		stanza_new_id(o->id + sizeof CARBON_PREFIX - 1, sizeof o->id - sizeof CARBON_PREFIX);
	} else {
		stanza_new_id(o->id, sizeof o->id);
	}
	xb_open(&o->x, "message");
	if (carbon && c != NULL) {
		xb_attr(&o->x, "xmlns", NS_CLIENT);
		xb_attr(&o->x, "type", "chat");
		xb_attr(&o->x, "from", session->user_jid);
		xb_attr(&o->x, "to", c->jid);
	} else {
		o->carbon = 0;
		xb_attr(&o->x, "type", "chat");
		xb_attr(&o->x, "from", c != NULL ? c->full : session->component_jid);
		xb_attr(&o->x, "to", session->user_jid);
	}
	xb_attr(&o->x, "id", o->id);
	xb_open_end(&o->x);
}

static void
out_hints(struct chat_out *o, unsigned hints)
{
	if (hints & SLIDGE_HINT_MARKABLE) {
		xb_empty(&o->x, "markable", NS_MARKERS);
		o->markable = 1;
	}
	if (hints & SLIDGE_HINT_STORE)
		xb_empty(&o->x, "store", NS_HINTS);
	if (hints & SLIDGE_HINT_NO_STORE)
		xb_empty(&o->x, "no-store", NS_HINTS);
	if (hints & SLIDGE_HINT_NO_COPY)
		xb_empty(&o->x, "no-copy", NS_HINTS);
	if (hints & SLIDGE_HINT_NO_PERMANENT_STORE)
		xb_empty(&o->x, "no-permanent-store", NS_HINTS);
}

static void
out_id_elem(struct chat_out *o, const char *name, const char *ns, const char *id)
{
	xb_open(&o->x, name);
	xb_attr(&o->x, "xmlns", ns);
	xb_attr(&o->x, "id", id);
	xb_raw(&o->x, "/>");
}

static void
out_thread(struct chat_out *o, const char *legacy_thread)
{
	char t[ID_BUF];

	if (legacy_thread == NULL || *legacy_thread == '\0')
		return;
	chat_thread_to_xmpp(legacy_thread, t);
	xb_text(&o->x, "thread", NULL, t);
}

void
chat_out_common(struct chat_out *o, const char *thread, unsigned hints, time_t when)
{
	char stamp[32];

	out_thread(o, thread);
	xb_empty(&o->x, "active", NS_CHATSTATES);
	out_hints(o, hints & SLIDGE_HINTS_SET ? hints : SLIDGE_HINT_MARKABLE | SLIDGE_HINT_STORE);
	/* XEP-0203, only past the threshold (LegacyContact.STRIP_SHORT_DELAY). */
	if (when != 0 && time(NULL) - when >= IGNORE_DELAY_THRESHOLD) {
		stanza_format_time(when, stamp, sizeof stamp);
		xb_open(&o->x, "delay");
		xb_attr(&o->x, "xmlns", NS_DELAY);
		xb_attr(&o->x, "stamp", stamp);
		xb_attr(&o->x, "from", session->component_jid);
		xb_raw(&o->x, "/>");
	}
}

/* Close, then send: from the contact (or the gateway), or a carbon through XEP-0356. */
void
chat_out_send(struct chat_out *o)
{
	struct slidge_contact *c = o->c;

	if (!o->carbon && c != NULL && !c->is_friend && c->name != NULL && *c->name != '\0')
		xb_text(&o->x, "nick", NS_NICK, c->name);
	xb_close(&o->x, "message");
	if (o->carbon) {
		if (o->x.err) {
			log_error("out of memory building a carbon");
		} else if (privilege_send_message_as_user(o->x.b.data) < 0) {
			log_warn("dropping a carbon to %s: the gateway has no XEP-0356 message "
			    "privilege", c->jid);
		} else if (strncmp(o->id, CARBON_PREFIX, sizeof CARBON_PREFIX - 1) != 0) {
			ignore_add(o->id);
		}
		xb_free(&o->x);
		return;
	}
	if (xb_emit(&o->x) == 0 && o->markable && c != NULL && module->mark_all_messages)
		store_sent_add(c->jid, o->id);
	xb_free(&o->x);
}

/* ---- text ----------------------------------------------------------------------- */

/* Code points of a UTF-8 string (XEP-0426 counts characters). */
static size_t
utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static int
is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* XEP-0461's quoted fallback: "> nick:\n" then "> line" for each line, stripped. */
static int
quote(struct buf *q, const char *text, const char *nick)
{
	const char *line = text, *end, *a, *b;

	if (nick != NULL && *nick != '\0' &&
	    (buf_puts(q, "> ") < 0 || buf_puts(q, nick) < 0 || buf_puts(q, ":\n") < 0))
		return -1;
	for (;;) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		for (a = line; a < end && is_space(*a); a++)
			;
		for (b = end; b > a && is_space(b[-1]); b--)
			;
		if (buf_puts(q, "> ") < 0 || buf_append(q, a, (size_t)(b - a)) < 0 ||
		    buf_puts(q, "\n") < 0)
			return -1;
		if (*end == '\0')
			return 0;
		line = end + 1;
	}
}

static void
out_link_previews(struct chat_out *o, const struct slidge_send_opts *opts)
{
	static const char *const names[] = { "title", "description", "url", "image", "type",
		"site_name" };
	const struct slidge_link_preview *p;
	const char *vals[6];
	size_t i, j;

	for (i = 0; opts->link_previews != NULL && i < opts->n_link_previews; i++) {
		p = &opts->link_previews[i];
		vals[0] = p->title;
		vals[1] = p->description;
		vals[2] = p->url;
		vals[3] = p->image;
		vals[4] = p->type;
		vals[5] = p->site_name;
		xb_open(&o->x, "rdf:Description");
		xb_attr(&o->x, "xmlns:rdf", NS_RDF);
		xb_attr(&o->x, "xmlns:og", NS_OGP);
		if (p->about != NULL && *p->about != '\0')
			xb_attr(&o->x, "rdf:about", p->about);
		xb_open_end(&o->x);
		for (j = 0; j < 6; j++) {
			char name[32];

			if (vals[j] == NULL || *vals[j] == '\0')
				continue;
			snprintf(name, sizeof name, "og:%s", names[j]);
			xb_text(&o->x, name, NULL, vals[j]);
		}
		xb_close(&o->x, "rdf:Description");
	}
}

void
chat_send_text(struct slidge_contact *c, const char *body, const char *legacy_id,
    const struct slidge_send_opts *opts)
{
	struct chat_out o;
	struct buf q = BUF_INIT;
	char id[ID_BUF], rid[ID_BUF], end[32];
	const char *idsrc, *nick = NULL, *to = NULL;
	int carbon;

	if (opts == NULL)
		opts = &no_opts;
	carbon = opts->carbon;
	if (legacy_id != NULL && *legacy_id == '\0')
		legacy_id = NULL;
	if (carbon && !opts->correction && legacy_id != NULL) {
		/* slidge: a carbon of a message the user sent from XMPP is a module bug; else
		 * remember it as the user's, so that replies and corrections find it. */
		if (store_id_xmpp(STORE_MSG, legacy_id, id) == 0) {
			log_warn("a carbon for a message the user sent from XMPP: ignored");
			return;
		}
		if (module->legacy_to_xmpp_msg_id == NULL ||
		    module->legacy_to_xmpp_msg_id(session, legacy_id, id, sizeof id) < 0 ||
		    memchr(id, '\0', sizeof id) == NULL || *id == '\0')
			copy_id(legacy_id, id);
		store_id_put(STORE_MSG, id, legacy_id);
	}
	idsrc = opts->correction ? opts->correction_event_id : legacy_id;
	if (idsrc != NULL && *idsrc != '\0')
		chat_legacy_to_xmpp(idsrc, id);
	chat_out_open(&o, c, carbon, idsrc != NULL && *idsrc != '\0' ? id : NULL);

	/* XEP-0461: the quoted fallback goes before the text, and says where it ends. */
	if (opts->reply_to != NULL && *opts->reply_to != '\0') {
		if (opts->reply_to_user) {
			to = c->s->user_jid;
			nick = c->s->user_jid;   /* its local part, below */
		} else if (opts->reply_to_author != NULL) {
			to = opts->reply_to_author->full;
			nick = opts->reply_to_author->name;
		}
		if (opts->reply_to_user) {
			static char local[JID_BUF];
			size_t n = strcspn(c->s->user_jid, "@");

			snprintf(local, sizeof local, "%.*s", (int)n, c->s->user_jid);
			nick = local;
		}
		if (opts->reply_to_fallback != NULL && *opts->reply_to_fallback != '\0' &&
		    quote(&q, opts->reply_to_fallback, nick) < 0)
			o.x.err = 1;
	}
	xb_open(&o.x, "body");
	xb_open_end(&o.x);
	if (q.len > 0)
		xb_esc(&o.x, q.data);
	xb_esc(&o.x, body);
	xb_close(&o.x, "body");
	chat_out_common(&o, opts->thread, opts->hints, opts->when);
	out_link_previews(&o, opts);
	if (opts->reply_to != NULL && *opts->reply_to != '\0') {
		chat_legacy_to_xmpp(opts->reply_to, rid);
		xb_open(&o.x, "reply");
		xb_attr(&o.x, "xmlns", NS_REPLY);
		xb_attr(&o.x, "id", rid);
		xb_attr(&o.x, "to", to);
		xb_raw(&o.x, "/>");
		if (q.len > 0) {
			snprintf(end, sizeof end, "%zu", utf8_len(q.data));
			xb_open(&o.x, "fallback");
			xb_attr(&o.x, "xmlns", NS_FALLBACK);
			xb_attr(&o.x, "for", NS_REPLY);
			xb_open_end(&o.x);
			xb_open(&o.x, "body");
			xb_attr(&o.x, "start", "0");
			xb_attr(&o.x, "end", end);
			xb_raw(&o.x, "/>");
			xb_close(&o.x, "fallback");
		}
	}
	if (opts->correction && legacy_id != NULL) {
		chat_legacy_to_xmpp(legacy_id, rid);
		out_id_elem(&o, "replace", NS_CORRECT, rid);
	}
	buf_free(&q, 0);
	chat_out_send(&o);
}

void
chat_correct(struct slidge_contact *c, const char *legacy_id, const char *text,
    const struct slidge_send_opts *opts)
{
	struct slidge_send_opts o = opts != NULL ? *opts : no_opts;

	o.correction = 1;
	chat_send_text(c, text, legacy_id, &o);
}

/* ---- reactions and retractions -------------------------------------------------- */

static void
react_one(struct slidge_contact *c, const char *xmpp_id, const char *const *emojis,
    const struct slidge_send_opts *opts)
{
	struct chat_out o;
	size_t i;

	chat_out_open(&o, c, opts->carbon, NULL);
	out_thread(&o, opts->thread);
	out_hints(&o, SLIDGE_HINT_STORE);
	xb_open(&o.x, "reactions");
	xb_attr(&o.x, "xmlns", NS_REACTIONS);
	xb_attr(&o.x, "id", xmpp_id);
	xb_open_end(&o.x);
	for (i = 0; emojis != NULL && emojis[i] != NULL; i++)
		xb_text(&o.x, "reaction", NULL, emojis[i]);
	xb_close(&o.x, "reactions");
	chat_out_send(&o);
}

struct fan {
	struct slidge_contact *c;
	const char *const *emojis;
	const char *legacy_id;
	const struct slidge_send_opts *opts;
};

static void
react_part(const char *xmpp_id, void *arg)
{
	struct fan *f = arg;

	react_one(f->c, xmpp_id, f->emojis, f->opts);
}

void
chat_react(struct slidge_contact *c, const char *legacy_id, const char *const *emojis,
    const char *xmpp_id, const struct slidge_send_opts *opts)
{
	struct fan f = { c, emojis, legacy_id, opts != NULL ? opts : &no_opts };
	char id[ID_BUF];

	if (xmpp_id != NULL) {
		react_one(c, xmpp_id, emojis, f.opts);
		return;
	}
	/* A legacy message sent as several XMPP messages: react to each part. */
	if (store_multi_xmpp(legacy_id, react_part, &f) > 0)
		return;
	chat_legacy_to_xmpp(legacy_id, id);
	react_one(c, id, emojis, f.opts);
}

static void
retract_one(struct slidge_contact *c, const char *legacy_id, const char *xmpp_id,
    const struct slidge_send_opts *opts)
{
	struct chat_out o;
	struct buf b = BUF_INIT;

	/* reference/slidge.md §7.1 case 15: a body for clients without XEP-0424, marked as
	 * its fallback, and a correction for clients that only know XEP-0308. */
	if (buf_printf(&b, "/me retracted the message %s", legacy_id) < 0) {
		log_error("out of memory retracting a message");
		return;
	}
	chat_out_open(&o, c, opts->carbon, NULL);
	xb_text(&o.x, "body", NULL, b.data);
	out_thread(&o, opts->thread);
	xb_empty(&o.x, "active", NS_CHATSTATES);
	out_hints(&o, SLIDGE_HINT_STORE);
	xb_open(&o.x, "fallback");
	xb_attr(&o.x, "xmlns", NS_FALLBACK);
	xb_attr(&o.x, "for", NS_RETRACT);
	xb_raw(&o.x, "/>");
	out_id_elem(&o, "retract", NS_RETRACT, xmpp_id);
	out_id_elem(&o, "replace", NS_CORRECT, xmpp_id);
	chat_out_send(&o);
	buf_free(&b, 0);
}

static void
retract_part(const char *xmpp_id, void *arg)
{
	struct fan *f = arg;

	retract_one(f->c, f->legacy_id, xmpp_id, f->opts);
}

void
chat_retract(struct slidge_contact *c, const char *legacy_id,
    const struct slidge_send_opts *opts)
{
	struct fan f = { c, NULL, legacy_id, opts != NULL ? opts : &no_opts };
	char id[ID_BUF];

	if (store_multi_xmpp(legacy_id, retract_part, &f) > 0)
		return;
	chat_legacy_to_xmpp(legacy_id, id);
	retract_one(c, legacy_id, id, f.opts);
}

/* ---- chat states and markers ------------------------------------------------------ */

void
chat_state(struct slidge_contact *c, const char *state)
{
	static const char *const states[] = { "active", "composing", "paused", "inactive",
		"gone" };
	struct chat_out o;
	const char *st = NULL;
	size_t i;

	for (i = 0; i < sizeof states / sizeof states[0]; i++)
		if (strcmp(states[i], state) == 0)
			st = states[i];
	if (st == NULL)
		return;
	/* slidge sends a repeated state once, except composing (a new typing burst). */
	if (c->last_state == st && st != states[1])
		return;
	c->last_state = st;
	chat_out_open(&o, c, 0, NULL);
	xb_empty(&o.x, st, NS_CHATSTATES);
	out_hints(&o, SLIDGE_HINT_NO_STORE);
	chat_out_send(&o);
}

void
chat_marker(struct slidge_contact *c, const char *marker, const char *legacy_id,
    const struct slidge_send_opts *opts)
{
	struct chat_out o;
	char id[ID_BUF];

	if (opts == NULL)
		opts = &no_opts;
	chat_legacy_to_xmpp(legacy_id, id);
	/* LegacyContact.received(): a XEP-0184 receipt too, from the contact (not for the
	 * user's own marks made on the official client). */
	if (strcmp(marker, "received") == 0 && !opts->carbon) {
		chat_out_open(&o, c, 0, NULL);
		out_id_elem(&o, "received", NS_RECEIPTS, id);
		chat_out_send(&o);
	}
	chat_out_open(&o, c, opts->carbon, NULL);
	out_id_elem(&o, marker, NS_MARKERS, id);
	chat_out_send(&o);
}
