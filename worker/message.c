/* message.c: messages from the user to a contact (slidge's dispatcher/message/ package:
 * message.py, marker.py, chat_state.py, util.py; reference/slidge.md §1, §2.2, §2.10).
 *
 * One stanza may carry several things; like slidge's separate event handlers:
 *   - a retraction (XEP-0424 <retract>) goes to on_retract, and its fallbacks (body,
 *     <replace>) are not seen as text or correction;
 *   - a reaction (XEP-0444) goes to on_react after slidge's restriction checks;
 *   - a correction (XEP-0308 <replace>) goes to on_correct, or is a retraction when the
 *     new body is empty, or is resent as "Correction: ..." when the contact cannot edit;
 *   - a body goes to on_text with its reply (XEP-0461, the quoted fallback stripped as
 *     XEP-0428 says), thread and link previews;
 *   - a displayed marker (XEP-0333) goes to on_displayed, for every unread message up
 *     to it with MARK_ALL_MESSAGES;
 *   - a chat state (XEP-0085) goes to on_composing & co (<active/> with a body is just
 *     the body's).
 * The one deferred hook (text, correction, retraction or reaction) acks the stanza when
 * it completes: then the XMPP id of the user's message is remembered against the legacy
 * id it got (slidge's xmpp_to_legacy_ids, in the store), and a requested XEP-0184 receipt
 * is sent from the JID the user wrote to (unless PROPER_RECEIPTS). A failure goes back as
 * a message error with the same id. Markers and chat states without a hook are ignored;
 * other missing hooks answer feature-not-implemented. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"
#include "attach.h"
#include "xml.h"

#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define NS_RECEIPTS "urn:xmpp:receipts"
#define NS_MARKERS "urn:xmpp:chat-markers:0"
#define NS_CORRECT "urn:xmpp:message-correct:0"
#define NS_REACTIONS "urn:xmpp:reactions:0"
#define NS_RETRACT "urn:xmpp:message-retract:1"
#define NS_RETRACT0 "urn:xmpp:message-retract:0"
#define NS_FASTEN "urn:xmpp:fasten:0"
#define NS_FALLBACK "urn:xmpp:fallback:0"
#define NS_REPLY "urn:xmpp:reply:0"
#define NS_SID "urn:xmpp:sid:0"
#define NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_OGP "https://ogp.me/ns#"
#define NS_OOB "jabber:x:oob"

#define NOT_IMPLEMENTED "Not implemented by the legacy module"
#define PREVIEWS_MAX 8
#define REACTIONS_MAX 64
/* slidge's configuration defaults */
#define CORRECTION_EMPTY_BODY_AS_RETRACTION 1
#define LAST_MESSAGE_CORRECTION_RETRACTION_WORKAROUND 0

enum act { ACT_TEXT, ACT_CORRECT, ACT_RETRACT, ACT_REACT, ACT_REACT_REFUSED };

/* What the completion of a hook needs once the stanza itself is gone. */
struct msg_ctx {
	uint64_t seq;
	enum act act;
	struct slidge_contact *c;
	char *xmpp_id;            /* NULL if the message had none */
	char *origin_id;          /* XEP-0359, if not the same as the id */
	char *xmpp_thread;        /* MESSAGE_IDS_ARE_THREAD_IDS: a thread to name */
	char *legacy_id;          /* reactions: the message reacted to */
	char *react_to;           /* reactions: its XMPP id */
	char **emojis;            /* reactions: NULL-terminated */
	char *error;              /* ACT_REACT_REFUSED: the text of not-acceptable */
	char type[8];
	int want_receipt;
	char from[JID_BUF];       /* the user's full JID */
	char to[JID_BUF];         /* the JID the user wrote to */
};

/* Everything read from the stanza. */
struct parsed {
	struct inbound *in;
	struct slidge_contact *c;
	char *body;               /* NULL: no <body> */
	const char *state;        /* chat state element name */
	char thread[ID_BUF];      /* legacy thread; "" if none */
	const char *xmpp_thread;  /* <thread> as sent */
	struct slidge_link_preview previews[PREVIEWS_MAX];
	size_t n_previews;
	char *oob_url;            /* XEP-0066: a file for on_file (attach.c), or NULL */
	const char *sticker_cid;  /* XEP-0231: a sticker for on_sticker (attach_bob.c) */
};

static void
ctx_free(void *arg)
{
	struct msg_ctx *ctx = arg;
	size_t i;

	free(ctx->xmpp_id);
	free(ctx->origin_id);
	free(ctx->xmpp_thread);
	free(ctx->legacy_id);
	free(ctx->react_to);
	for (i = 0; ctx->emojis != NULL && ctx->emojis[i] != NULL; i++)
		free(ctx->emojis[i]);
	free(ctx->emojis);
	free(ctx->error);
	free(ctx);
}

static int
feature(unsigned f)
{
	return !(module->contact_no_features & f);
}

/* slixmpp's XEP-0184 ack rules: asked for, an ackable type, not itself a receipt. */
static int
wants_receipt(struct inbound *in)
{
	return in->id != NULL && xml_child(in->root, "request", NS_RECEIPTS) != NULL &&
	    xml_child(in->root, "received", NS_RECEIPTS) == NULL &&
	    (strcmp(in->type, "chat") == 0 || strcmp(in->type, "normal") == 0);
}

/* slidge's __ack: the receipt, from the JID the user wrote to. */
static void
send_receipt(struct msg_ctx *ctx)
{
	struct message_out m = { 0 };

	if (!ctx->want_receipt || module->proper_receipts)
		return;
	m.type = ctx->type;
	m.from = ctx->to;
	m.to = session->user_jid;
	m.receipt = ctx->xmpp_id;
	stanza_message(&m);
}

static struct msg_ctx *
ctx_new(struct parsed *p, enum act act)
{
	struct inbound *in = p->in;
	struct msg_ctx *ctx;

	if ((ctx = calloc(1, sizeof *ctx)) == NULL)
		return NULL;
	if (in->id != NULL && (ctx->xmpp_id = strdup(in->id)) == NULL) {
		free(ctx);
		return NULL;
	}
	ctx->seq = in->seq;
	ctx->act = act;
	ctx->c = p->c;
	snprintf(ctx->type, sizeof ctx->type, "%s", in->type);
	snprintf(ctx->from, sizeof ctx->from, "%s", in->from);
	snprintf(ctx->to, sizeof ctx->to, "%s", in->to);
	ctx->want_receipt = wants_receipt(in);
	return ctx;
}

static void
remember_ids(struct msg_ctx *ctx, const char *legacy_id)
{
	char t[ID_BUF];

	if (legacy_id == NULL || *legacy_id == '\0')
		return;
	/* The id attribute last: it is what a legacy id maps back to. */
	if (ctx->origin_id != NULL)
		store_id_put(STORE_MSG, ctx->origin_id, legacy_id);
	if (ctx->xmpp_id != NULL)
		store_id_put(STORE_MSG, ctx->xmpp_id, legacy_id);
	/* MESSAGE_IDS_ARE_THREAD_IDS: a new thread is named by its first message. */
	if (ctx->xmpp_thread != NULL && store_id_legacy(STORE_THREAD, ctx->xmpp_thread, t) < 0)
		store_id_put(STORE_THREAD, ctx->xmpp_thread, legacy_id);
}

struct fanout {
	struct msg_ctx *ctx;
	struct slidge_send_opts opts;
};

static void
react_other_part(const char *xmpp_id, void *arg)
{
	struct fanout *f = arg;

	if (strcmp(xmpp_id, f->ctx->react_to) != 0)
		chat_react(f->ctx->c, f->ctx->legacy_id, (const char *const *)f->ctx->emojis,
		    xmpp_id, &f->opts);
}

static void
hook_done(struct slidge_reply *r, void *arg)
{
	struct msg_ctx *ctx = arg;
	struct fanout f = { 0 };

	if (ctx->act == ACT_REACT_REFUSED) {
		stanza_error("message", ctx->to, ctx->from, ctx->xmpp_id, SLIDGE_NOT_ACCEPTABLE,
		    ctx->error);
	} else if (!r->ok) {
		log_info("a message hook failed (%s)", r->condition);
		stanza_error("message", ctx->to, ctx->from, ctx->xmpp_id, r->condition, r->text);
	} else {
		if (ctx->act == ACT_TEXT || ctx->act == ACT_CORRECT)
			remember_ids(ctx, r->value);
		send_receipt(ctx);
		/* A reaction to one part of a multi-part message: the user's other clients
		 * see it on every part (slidge reflects it with carbons). */
		if (ctx->act == ACT_REACT && ctx->react_to != NULL) {
			f.ctx = ctx;
			f.opts.carbon = 1;
			store_multi_xmpp(ctx->legacy_id, react_other_part, &f);
		}
	}
	worker_ack(ctx->seq);
	ctx_free(ctx);
}

/* A reply for a hook, or NULL (an error already sent, ctx freed). */
static struct slidge_reply *
reply_for(struct parsed *p, struct msg_ctx *ctx)
{
	struct slidge_reply *r;

	if (ctx == NULL || (r = reply_new(session, hook_done, ctx)) == NULL) {
		if (ctx != NULL)
			ctx_free(ctx);
		stanza_error("message", p->in->to, p->in->from, p->in->id,
		    SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return NULL;
	}
	r->free_arg = ctx_free;
	return r;
}

static enum inbound_result
out_of_memory(struct inbound *in)
{
	stanza_error("message", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
	    "Out of memory");
	return INBOUND_DONE;
}

static enum inbound_result
not_implemented(struct inbound *in)
{
	stanza_error("message", in->to, in->from, in->id, SLIDGE_FEATURE_NOT_IMPLEMENTED,
	    NOT_IMPLEMENTED);
	return INBOUND_DONE;
}

/* ---- text, replies, link previews --------------------------------------------------- */

/* Byte offset of code point cp in s (its length if past the end). */
static size_t
cp_offset(const char *s, size_t cp)
{
	size_t i, n = 0;

	for (i = 0; s[i] != '\0'; i++) {
		if (((unsigned char)s[i] & 0xc0) == 0x80)
			continue;
		if (n++ == cp)
			return i;
	}
	return i;
}

/* The XEP-0428 range of the reply fallback, as byte offsets into body. -1 if none. */
static int
reply_fallback_range(xmlNodePtr root, const char *body, size_t *bstart, size_t *bend)
{
	xmlNodePtr f, b;
	const char *s, *e, *f_for;
	char *end;
	unsigned long start, stop;

	for (f = xml_first_elem(root); f != NULL; f = xml_next_elem(f)) {
		if (strcmp((const char *)f->name, "fallback") != 0 ||
		    strcmp(xml_ns(f), NS_FALLBACK) != 0 ||
		    (f_for = xml_attr(f, "for")) == NULL || strcmp(f_for, NS_REPLY) != 0)
			continue;
		if ((b = xml_child(f, "body", NS_FALLBACK)) == NULL ||
		    (s = xml_attr(b, "start")) == NULL || (e = xml_attr(b, "end")) == NULL)
			return -1;
		start = strtoul(s, &end, 10);
		if (*s == '\0' || *end != '\0')
			return -1;
		stop = strtoul(e, &end, 10);
		if (*e == '\0' || *end != '\0' || start > stop)
			return -1;
		*bstart = cp_offset(body, start);
		*bend = cp_offset(body, stop);
		return 0;
	}
	return -1;
}

/* The rdf:about attribute's value (belongs to the node), or NULL. */
static const char *
rdf_about(xmlNodePtr d)
{
	xmlAttrPtr a = xmlHasNsProp(d, (const xmlChar *)"about", (const xmlChar *)NS_RDF);

	if (a == NULL || a->children == NULL || a->children->type != XML_TEXT_NODE)
		return NULL;
	return (const char *)a->children->content;
}

static void
parse_previews(struct parsed *p)
{
	static const char *const og[] = { "title", "description", "url", "image", "type",
		"site_name" };
	xmlNodePtr d, o;
	struct slidge_link_preview *lp;
	const char **fields[6];
	size_t i;

	for (d = xml_first_elem(p->in->root); d != NULL && p->n_previews < PREVIEWS_MAX;
	    d = xml_next_elem(d)) {
		if (strcmp((const char *)d->name, "Description") != 0 ||
		    strcmp(xml_ns(d), NS_RDF) != 0)
			continue;
		lp = &p->previews[p->n_previews++];
		/* The strings stay in the document, valid while the stanza is handled. */
		lp->about = rdf_about(d);
		fields[0] = &lp->title;
		fields[1] = &lp->description;
		fields[2] = &lp->url;
		fields[3] = &lp->image;
		fields[4] = &lp->type;
		fields[5] = &lp->site_name;
		for (o = xml_first_elem(d); o != NULL; o = xml_next_elem(o)) {
			if (strcmp(xml_ns(o), NS_OGP) != 0 || o->children == NULL ||
			    o->children->type != XML_TEXT_NODE || o->children->next != NULL)
				continue;
			for (i = 0; i < 6; i++)
				if (strcmp((const char *)o->name, og[i]) == 0)
					*fields[i] = (const char *)o->children->content;
		}
	}
}

static void
fill_text_opts(struct parsed *p, struct slidge_text_opts *o)
{
	o->thread = p->thread[0] != '\0' ? p->thread : NULL;
	o->link_previews = p->n_previews > 0 ? p->previews : NULL;
	o->n_link_previews = p->n_previews;
}

static enum inbound_result
do_text(struct parsed *p, const char *text_override)
{
	struct inbound *in = p->in;
	struct slidge_text_opts opts = { 0 };
	struct msg_ctx *ctx;
	struct slidge_reply *r;
	xmlNodePtr reply, oid;
	const char *rid, *rto, *why, *o;
	char reply_legacy[ID_BUF], *text = NULL, *fallback = NULL;
	size_t fs, fe;
	struct jid j;

	int file = p->oob_url != NULL && module->on_file != NULL && text_override == NULL;
	int sticker = !file && p->sticker_cid != NULL && module->on_sticker != NULL &&
	    text_override == NULL;

	if (module->on_text == NULL && !file && !sticker)
		return not_implemented(in);
	fill_text_opts(p, &opts);
	reply = text_override ? NULL : xml_child(in->root, "reply", NS_REPLY);
	if (reply != NULL && (rid = xml_attr(reply, "id")) != NULL && *rid != '\0' &&
	    chat_xmpp_to_legacy(rid, reply_legacy) == 0) {
		opts.reply_to_msg_id = reply_legacy;
		rto = xml_attr(reply, "to");
		if (rto != NULL && jid_parse(rto, &j) == 0 && j.local[0] != '\0' &&
		    strcmp(j.domain, session->component_jid) == 0)
			opts.reply_to = contact_by_local(session, j.local, &why);
		/* The quoted text is the client's fallback: the module gets the text alone,
		 * and the quote apart. */
		if (feature(SLIDGE_FEATURE_REPLIES) &&
		    reply_fallback_range(in->root, p->body, &fs, &fe) == 0 && fe <= strlen(p->body)) {
			if ((text = malloc(strlen(p->body) - (fe - fs) + 1)) == NULL ||
			    (fallback = strndup(p->body + fs, fe - fs)) == NULL) {
				free(text);
				return out_of_memory(in);
			}
			memcpy(text, p->body, fs);
			strcpy(text + fs, p->body + fe);
			opts.reply_to_fallback_text = fallback;
		}
	}
	if ((r = reply_for(p, ctx = ctx_new(p, ACT_TEXT))) == NULL) {
		free(text);
		free(fallback);
		return INBOUND_DONE;
	}
	oid = xml_child(in->root, "origin-id", NS_SID);
	o = oid != NULL ? xml_attr(oid, "id") : NULL;
	if (o != NULL && (in->id == NULL || strcmp(o, in->id) != 0))
		ctx->origin_id = strdup(o);
	if (module->message_ids_are_thread_ids && p->xmpp_thread != NULL)
		ctx->xmpp_thread = strdup(p->xmpp_thread);
	log_debug("text to %s (%zu bytes)", p->c->jid, strlen(p->body));
	/* A file: downloaded first, then on_file gets r (ids, receipt and ack as text). */
	if (file)
		attach_on_file(p->c, p->oob_url, &opts, r);
	else if (sticker)
		attach_on_sticker(p->c, in->from, p->sticker_cid, in->root, &opts, r);
	else
		module->on_text(session, p->c, text_override ? text_override : text ? text :
		    p->body, &opts, r);
	free(text);
	free(fallback);
	return INBOUND_DEFERRED;
}

/* ---- corrections, retractions ---------------------------------------------------- */

static enum inbound_result
do_retract_legacy(struct parsed *p, const char *legacy_id)
{
	struct slidge_reply *r;

	if (module->on_retract == NULL)
		return not_implemented(p->in);
	if ((r = reply_for(p, ctx_new(p, ACT_RETRACT))) == NULL)
		return INBOUND_DONE;
	module->on_retract(session, p->c, legacy_id, p->thread[0] ? p->thread : NULL, r);
	return INBOUND_DEFERRED;
}

static enum inbound_result
do_retract(struct parsed *p, const char *xmpp_id)
{
	struct inbound *in = p->in;
	char legacy[ID_BUF];

	if (!feature(SLIDGE_FEATURE_RETRACTION)) {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_BAD_REQUEST,
		    "This legacy service does not support message retraction.");
		return INBOUND_DONE;
	}
	if (xmpp_id == NULL || *xmpp_id == '\0' || chat_xmpp_to_legacy(xmpp_id, legacy) < 0) {
		log_debug("ignored a retraction from the user");
		return INBOUND_DONE;
	}
	return do_retract_legacy(p, legacy);
}

static enum inbound_result
do_correct(struct parsed *p, const char *xmpp_id)
{
	struct inbound *in = p->in;
	struct slidge_text_opts opts = { 0 };
	struct slidge_reply *r;
	struct buf b = BUF_INIT;
	char legacy[ID_BUF];
	const char *body = p->body ? p->body : "";
	const char *s;
	enum inbound_result res;

	for (s = body; *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'; s++)
		;
	if (xmpp_id == NULL || *xmpp_id == '\0' || chat_xmpp_to_legacy(xmpp_id, legacy) < 0) {
		log_debug("no legacy id to correct: sending the correction as text");
		if (buf_printf(&b, "Correction:%s", body) < 0)
			return out_of_memory(in);
		res = do_text(p, b.data);
		buf_free(&b, 0);
		return res;
	}
	if (*s == '\0' && CORRECTION_EMPTY_BODY_AS_RETRACTION && feature(SLIDGE_FEATURE_RETRACTION))
		return do_retract_legacy(p, legacy);
	if (!feature(SLIDGE_FEATURE_CORRECTION)) {
		session_gateway_message(NULL, "Last message correction is not supported by this "
		    "legacy service. Slidge will send your correction as new message.");
		if (buf_printf(&b, "Correction: %s", body) < 0)
			return out_of_memory(in);
		res = do_text(p, b.data);
		buf_free(&b, 0);
		return res;
	}
	if (module->on_correct == NULL)
		return not_implemented(in);
	fill_text_opts(p, &opts);
	if ((r = reply_for(p, ctx_new(p, ACT_CORRECT))) == NULL)
		return INBOUND_DONE;
	log_debug("correction to %s (%zu bytes)", p->c->jid, strlen(body));
	module->on_correct(session, p->c, body, legacy, &opts, r);
	return INBOUND_DEFERRED;
}

/* ---- reactions ---------------------------------------------------------------------- */

/* The emoji without U+FE0F (VS16), as slidge's remove_emoji_variation_selector_16. */
static char *
strip_vs16(const char *s)
{
	char *out, *o;

	if ((out = malloc(strlen(s) + 1)) == NULL)
		return NULL;
	for (o = out; *s != '\0'; s++) {
		if ((unsigned char)s[0] == 0xef && (unsigned char)s[1] == 0xb8 &&
		    (unsigned char)s[2] == 0x8f) {
			s += 2;
			continue;
		}
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

static int
allowed(const char *const *set, const char *e)
{
	for (; *set != NULL; set++)
		if (strcmp(*set, e) == 0)
			return 1;
	return 0;
}

static enum inbound_result
do_react(struct parsed *p, xmlNodePtr reactions)
{
	struct inbound *in = p->in;
	struct msg_ctx *ctx;
	struct slidge_reply *r;
	struct slidge_send_opts copts = { 0 };
	const char *react_to = xml_attr(reactions, "id");
	const char *const *subset;
	const char *const no_emojis[] = { NULL };
	struct buf err = BUF_INIT;
	char legacy[ID_BUF], *t, **view;
	xmlNodePtr n;
	size_t ne = 0, i;
	int special;

	if (module->on_react == NULL)
		return not_implemented(in);
	if (react_to == NULL || *react_to == '\0') {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_BAD_REQUEST, NULL);
		return INBOUND_DONE;
	}
	special = module->special_msg_id_prefix != NULL && *module->special_msg_id_prefix &&
	    strncmp(react_to, module->special_msg_id_prefix,
	    strlen(module->special_msg_id_prefix)) == 0;
	if (special)
		snprintf(legacy, sizeof legacy, "%s", react_to);
	else if (chat_xmpp_to_legacy(react_to, legacy) < 0) {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "Could not convert the XMPP msg ID to a legacy ID");
		return INBOUND_DONE;
	}
	if ((ctx = ctx_new(p, ACT_REACT)) == NULL ||
	    (ctx->emojis = calloc(REACTIONS_MAX + 1, sizeof *ctx->emojis)) == NULL ||
	    (ctx->legacy_id = strdup(legacy)) == NULL || (ctx->react_to = strdup(react_to)) == NULL)
		goto oom;
	for (n = xml_first_elem(reactions); n != NULL && ne < REACTIONS_MAX; n = xml_next_elem(n)) {
		if (strcmp((const char *)n->name, "reaction") != 0 ||
		    strcmp(xml_ns(n), NS_REACTIONS) != 0)
			continue;
		if ((t = xml_text(n)) == NULL)
			goto oom;
		ctx->emojis[ne] = strip_vs16(t);
		free(t);
		if (ctx->emojis[ne] == NULL)
			goto oom;
		if (*ctx->emojis[ne] == '\0') {
			free(ctx->emojis[ne]);
			ctx->emojis[ne] = NULL;
			continue;
		}
		ne++;
	}
	/* XEP-0444 restrictions, as advertised in the contact's disco. */
	if (!special) {
		if (module->reactions_single_emoji && ne > 1)
			buf_puts(&err, "Maximum 1 emoji/message");
		if (err.len == 0 && module->available_emojis != NULL &&
		    (subset = module->available_emojis(p->c, legacy)) != NULL && *subset != NULL) {
			for (i = 0; i < ne; i++)
				if (!allowed(subset, ctx->emojis[i]))
					break;
			if (i < ne) {
				buf_puts(&err, "You can only react with the following emojis: ");
				for (; *subset != NULL; subset++)
					buf_puts(&err, *subset);
			}
		}
	}
	if (err.len > 0) {
		/* slidge: tell the user, reset the user's reactions on their other clients,
		 * clear them on the legacy side, then refuse the stanza. */
		session_gateway_message(NULL, err.data);
		copts.carbon = 1;
		chat_react(p->c, legacy, no_emojis, NULL, &copts);
		ctx->act = ACT_REACT_REFUSED;
		ctx->error = buf_steal(&err);
		buf_free(&err, 0);
		if ((r = reply_for(p, ctx)) == NULL)
			return INBOUND_DONE;
		module->on_react(session, p->c, legacy, no_emojis, p->thread[0] ? p->thread : NULL, r);
		return INBOUND_DEFERRED;
	}
	buf_free(&err, 0);
	if ((r = reply_for(p, ctx)) == NULL)
		return INBOUND_DONE;
	/* The module may complete r (and so free ctx) inside the call: it gets a copy. */
	if ((view = calloc(ne + 1, sizeof *view)) == NULL) {
		reply_complete_error(r, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return INBOUND_DEFERRED;
	}
	for (i = 0; i < ne; i++)
		if ((view[i] = strdup(ctx->emojis[i])) == NULL)
			break;
	if (i < ne) {
		while (i > 0)
			free(view[--i]);
		free(view);
		reply_complete_error(r, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return INBOUND_DEFERRED;
	}
	module->on_react(session, p->c, legacy, (const char *const *)view,
	    p->thread[0] ? p->thread : NULL, r);
	for (i = 0; i < ne; i++)
		free(view[i]);
	free(view);
	return INBOUND_DEFERRED;
oom:
	buf_free(&err, 0);
	if (ctx != NULL)
		ctx_free(ctx);
	stanza_error("message", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
	    "Out of memory");
	return INBOUND_DONE;
}

/* ---- markers and chat states ------------------------------------------------------- */

struct mark {
	struct parsed *p;
	int n;
};

static void
mark_one(const char *xmpp_id, void *arg)
{
	struct mark *m = arg;
	char legacy[ID_BUF];

	if (chat_xmpp_to_legacy(xmpp_id, legacy) < 0)
		return;
	m->n++;
	module->on_displayed(session, m->p->c, legacy, m->p->thread[0] ? m->p->thread : NULL);
}

static void
do_displayed(struct parsed *p, const char *xmpp_id)
{
	struct mark m = { p, 0 };

	if (module->on_displayed == NULL || xmpp_id == NULL || *xmpp_id == '\0')
		return;
	/* MARK_ALL_MESSAGES: clients mark the last message only; the legacy network wants
	 * every message up to it. Unknown horizon: that one alone. */
	if (module->mark_all_messages &&
	    store_sent_pop_up_to(p->c->jid, xmpp_id, mark_one, &m) >= 0)
		return;
	mark_one(xmpp_id, &m);
}

static void
do_chat_state(struct parsed *p)
{
	void (*hook)(struct slidge_session *, struct slidge_contact *, const char *) = NULL;
	const char *st = p->state;

	if (st == NULL)
		return;
	if (strcmp(st, "composing") == 0)
		hook = module->on_composing;
	else if (strcmp(st, "paused") == 0)
		hook = module->on_paused;
	else if (strcmp(st, "active") == 0 && (p->body == NULL || *p->body == '\0'))
		hook = module->on_active;
	else if (strcmp(st, "inactive") == 0)
		hook = module->on_inactive;
	if (hook != NULL)
		hook(session, p->c, p->thread[0] ? p->thread : NULL);
}

/* ---- threads -------------------------------------------------------------------- */

/* slidge's _xmpp_to_legacy_thread. -1 if the module could not create it. */
static int
legacy_thread(struct parsed *p)
{
	xmlNodePtr t = xml_child(p->in->root, "thread", xml_ns(p->in->root));
	char *x;

	if (t == NULL || t->children == NULL || t->children->type != XML_TEXT_NODE ||
	    (x = (char *)t->children->content) == NULL || *x == '\0' || strlen(x) >= ID_BUF)
		return 0;
	p->xmpp_thread = x;
	if (store_id_legacy(STORE_THREAD, x, p->thread) == 0)
		return 0;
	if (module->message_ids_are_thread_ids)
		return chat_xmpp_to_legacy(x, p->thread) < 0 ? -1 : 0;
	if (module->create_thread != NULL) {
		if (module->create_thread(p->c, x, p->thread, sizeof p->thread) < 0 ||
		    memchr(p->thread, '\0', sizeof p->thread) == NULL || p->thread[0] == '\0')
			return -1;
	} else {
		snprintf(p->thread, sizeof p->thread, "%s", x);
	}
	store_id_put(STORE_THREAD, x, p->thread);
	return 0;
}

/* ---- the entry point ------------------------------------------------------------- */

static xmlNodePtr
child_in_ns(xmlNodePtr root, const char *ns)
{
	xmlNodePtr n;

	for (n = xml_first_elem(root); n != NULL; n = xml_next_elem(n))
		if (strcmp(xml_ns(n), ns) == 0)
			return n;
	return NULL;
}

enum inbound_result
message_to_contact(struct inbound *in)
{
	struct parsed p = { 0 };
	xmlNodePtr n, state, retract = NULL, reactions, replace, displayed, apply;
	const char *why, *retract_id = NULL;
	enum inbound_result res = INBOUND_DONE;

	if (strcmp(in->type, "chat") != 0 && strcmp(in->type, "normal") != 0) {
		if (strcmp(in->type, "groupchat") == 0)
			stanza_error("message", in->to, in->from, in->id,
			    SLIDGE_FEATURE_NOT_IMPLEMENTED, "Groups are not available on this gateway");
		return INBOUND_DONE;
	}
	/* Our own carbons coming back (slidge's _ignore). */
	if (chat_ignore(in->id))
		return INBOUND_DONE;
	if (!session_logged()) {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "You are not logged to the legacy network");
		return INBOUND_DONE;
	}
	if ((p.c = contact_by_local(session, in->jto.local, &why)) == NULL) {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND, why);
		return INBOUND_DONE;
	}
	p.in = in;
	if ((n = xml_child(in->root, "body", xml_ns(in->root))) != NULL &&
	    (p.body = xml_text(n)) == NULL) {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "Out of memory");
		return INBOUND_DONE;
	}
	if ((state = child_in_ns(in->root, NS_CHATSTATES)) != NULL)
		p.state = (const char *)state->name;
	if (legacy_thread(&p) < 0) {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "Could not create a thread on the legacy network");
		goto done;
	}
	parse_previews(&p);
	/* XEP-0066 OOB: the user sent a file (slidge: the URL goes to on_file, else it is
	 * the text). */
	if ((n = xml_child(in->root, "x", NS_OOB)) != NULL &&
	    (n = xml_child(n, "url", NS_OOB)) != NULL && (p.oob_url = xml_text(n)) != NULL &&
	    *p.oob_url == '\0') {
		free(p.oob_url);
		p.oob_url = NULL;
	}
	/* XEP-0231 stickers (slidge: after OOB files, before text). */
	if (p.oob_url == NULL && module->on_sticker != NULL &&
	    (p.sticker_cid = attach_sticker_cid(in->root)) != NULL &&
	    (p.body == NULL || *p.body == '\0')) {
		free(p.body);
		if ((p.body = strdup(p.sticker_cid)) == NULL) {
			stanza_error("message", in->to, in->from, in->id,
			    SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
			goto done;
		}
	}
	if (p.oob_url != NULL && (p.body == NULL || *p.body == '\0')) {
		free(p.body);
		if ((p.body = strdup(p.oob_url)) == NULL) {
			stanza_error("message", in->to, in->from, in->id,
			    SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
			goto done;
		}
	}

	/* Chat states and markers first: they never wait. */
	do_chat_state(&p);
	if ((displayed = xml_child(in->root, "displayed", NS_MARKERS)) != NULL)
		do_displayed(&p, xml_attr(displayed, "id"));

	if ((retract = xml_child(in->root, "retract", NS_RETRACT)) != NULL)
		retract_id = xml_attr(retract, "id");
	else if ((apply = xml_child(in->root, "apply-to", NS_FASTEN)) != NULL &&
	    xml_child(apply, "retract", NS_RETRACT0) != NULL)
		retract_id = xml_attr(apply, "id"), retract = apply;
	reactions = xml_child(in->root, "reactions", NS_REACTIONS);
	replace = xml_child(in->root, "replace", NS_CORRECT);

	if (retract != NULL)
		res = do_retract(&p, retract_id);
	else if (reactions != NULL)
		res = do_react(&p, reactions);
	else if (replace != NULL)
		res = do_correct(&p, xml_attr(replace, "id"));
	else if (p.body != NULL && *p.body != '\0')
		res = do_text(&p, NULL);
done:
	free(p.body);
	free(p.oob_url);
	return res;
}
