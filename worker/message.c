/* message.c: messages from the user to a contact (slidge's dispatcher/message/ package).
 *
 * A body goes to on_text(); its reply is the legacy id, remembered against the XMPP id
 * (slidge's xmpp_to_legacy_ids), and a requested XEP-0184 receipt is sent then, from the
 * JID the user wrote to (slidge acks by itself unless PROPER_RECEIPTS). A hook failure
 * goes back as a message error with the same id. Chat states go to on_composing and
 * friends; a module without them just does not see chat states. Corrections, reactions
 * and retractions have no hook yet: like slidge's for a module that does not implement
 * them, the answer is feature-not-implemented (never a duplicate sent as new text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"
#include "xml.h"

#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define NS_RECEIPTS "urn:xmpp:receipts"
#define NS_CORRECT "urn:xmpp:message-correct:0"
#define NS_REACTIONS "urn:xmpp:reactions:0"
#define NS_RETRACT "urn:xmpp:message-retract:1"
#define NS_FASTEN "urn:xmpp:fasten:0"

#define NOT_IMPLEMENTED "Not implemented by the legacy module"

/* What the completion of on_text needs once the stanza itself is gone. */
struct text_ctx {
	uint64_t seq;
	char *xmpp_id;            /* NULL if the message had none */
	char type[8];
	int want_receipt;
	char from[JID_BUF];       /* the user's full JID */
	char to[JID_BUF];         /* the JID the user wrote to */
};

static void
text_ctx_free(void *arg)
{
	struct text_ctx *ctx = arg;

	free(ctx->xmpp_id);
	free(ctx);
}

static void
text_done(struct slidge_reply *r, void *arg)
{
	struct text_ctx *ctx = arg;
	struct message_out m = { 0 };

	if (r->ok) {
		if (ctx->xmpp_id != NULL && r->value != NULL &&
		    idmap_put(session->ids, ctx->xmpp_id, r->value) < 0)
			log_error("out of memory remembering a message id");
		if (ctx->want_receipt) {
			m.type = ctx->type;
			m.from = ctx->to;
			m.to = session->user_jid;
			m.receipt = ctx->xmpp_id;
			stanza_message(&m);
		}
	} else {
		log_info("on_text failed (%s)", r->condition);
		stanza_error("message", ctx->to, ctx->from, ctx->xmpp_id, r->condition, r->text);
	}
	worker_ack(ctx->seq);
	text_ctx_free(ctx);
}

static enum inbound_result
send_text(struct inbound *in, struct slidge_contact *c, const char *text)
{
	struct slidge_text_opts opts = { 0 };
	struct text_ctx *ctx;
	struct slidge_reply *r;

	if (module->on_text == NULL) {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_FEATURE_NOT_IMPLEMENTED,
		    NOT_IMPLEMENTED);
		return INBOUND_DONE;
	}
	if ((ctx = calloc(1, sizeof *ctx)) == NULL ||
	    (in->id != NULL && (ctx->xmpp_id = strdup(in->id)) == NULL) ||
	    (r = reply_new(session, text_done, ctx)) == NULL) {
		if (ctx != NULL)
			text_ctx_free(ctx);
		stanza_error("message", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "Out of memory");
		return INBOUND_DONE;
	}
	r->free_arg = text_ctx_free;
	ctx->seq = in->seq;
	snprintf(ctx->type, sizeof ctx->type, "%s", in->type);
	snprintf(ctx->from, sizeof ctx->from, "%s", in->from);
	snprintf(ctx->to, sizeof ctx->to, "%s", in->to);
	/* slixmpp's XEP-0184 ack rules: asked for, an ackable type, not itself a receipt. */
	ctx->want_receipt = in->id != NULL &&
	    xml_child(in->root, "request", NS_RECEIPTS) != NULL &&
	    xml_child(in->root, "received", NS_RECEIPTS) == NULL &&
	    (strcmp(in->type, "chat") == 0 || strcmp(in->type, "normal") == 0);
	log_debug("text to %s (%zu bytes)", c->jid, strlen(text));
	module->on_text(session, c, text, &opts, r);
	return INBOUND_DEFERRED;
}

static void
chat_state(struct slidge_contact *c, const char *state)
{
	void (*hook)(struct slidge_session *, struct slidge_contact *, const char *) = NULL;

	if (strcmp(state, "composing") == 0)
		hook = module->on_composing;
	else if (strcmp(state, "paused") == 0)
		hook = module->on_paused;
	else if (strcmp(state, "active") == 0)
		hook = module->on_active;
	else if (strcmp(state, "inactive") == 0)
		hook = module->on_inactive;
	if (hook != NULL)
		hook(session, c, NULL);
}

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
	struct slidge_contact *c;
	xmlNodePtr body_node, state;
	const char *why;
	char *body = NULL;
	enum inbound_result res = INBOUND_DONE;

	if (strcmp(in->type, "chat") != 0 && strcmp(in->type, "normal") != 0) {
		if (strcmp(in->type, "groupchat") == 0)
			stanza_error("message", in->to, in->from, in->id,
			    SLIDGE_FEATURE_NOT_IMPLEMENTED, "Groups are not available on this gateway");
		return INBOUND_DONE;
	}
	/* Our own injected carbons coming back (slidge's _ignore). */
	if (in->id != NULL && strncmp(in->id, "slidge-carbon-", 14) == 0)
		return INBOUND_DONE;
	if (!session_logged()) {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "You are not logged to the legacy network");
		return INBOUND_DONE;
	}
	if ((c = contact_by_local(session, in->jto.local, &why)) == NULL) {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND, why);
		return INBOUND_DONE;
	}
	if (xml_child(in->root, "replace", NS_CORRECT) != NULL ||
	    xml_child(in->root, "reactions", NS_REACTIONS) != NULL ||
	    xml_child(in->root, "retract", NS_RETRACT) != NULL ||
	    xml_child(in->root, "apply-to", NS_FASTEN) != NULL) {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_FEATURE_NOT_IMPLEMENTED,
		    NOT_IMPLEMENTED);
		return INBOUND_DONE;
	}
	body_node = xml_child(in->root, "body", xml_ns(in->root));
	if (body_node != NULL && (body = xml_text(body_node)) == NULL) {
		stanza_error("message", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "Out of memory");
		return INBOUND_DONE;
	}
	if (body != NULL && *body != '\0')
		res = send_text(in, c, body);
	else if ((state = child_in_ns(in->root, NS_CHATSTATES)) != NULL)
		chat_state(c, (const char *)state->name);
	free(body);
	return res;
}
