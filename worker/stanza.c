/* stanza.c: building the stanzas the worker emits.
 *
 * Every stanza is written as text into a buffer, every attribute value and text escaped,
 * and sent as one EMIT frame; slidged parses, checks and re-serialises it. The root
 * namespace is left out (PROTOCOL.md allows it); children carry their own. Error
 * conditions are taken only from the RFC 6120 list below, since a condition is written
 * as an element name: a module cannot put arbitrary markup there. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "log.h"
#include "worker.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define NS_HINTS "urn:xmpp:hints"
#define NS_MARKERS "urn:xmpp:chat-markers:0"
#define NS_DELAY "urn:xmpp:delay"
#define NS_NICK "http://jabber.org/protocol/nick"
#define NS_IDLE "urn:xmpp:idle:1"
#define NS_RECEIPTS "urn:xmpp:receipts"

/* RFC 6120 §8.3.3: each condition with its usual error type. */
static const struct {
	const char *condition;
	const char *type;
} conditions[] = {
	{ "bad-request", "modify" },
	{ "conflict", "cancel" },
	{ "feature-not-implemented", "cancel" },
	{ "forbidden", "auth" },
	{ "gone", "cancel" },
	{ "internal-server-error", "cancel" },
	{ "item-not-found", "cancel" },
	{ "jid-malformed", "modify" },
	{ "not-acceptable", "modify" },
	{ "not-allowed", "cancel" },
	{ "not-authorized", "auth" },
	{ "policy-violation", "modify" },
	{ "recipient-unavailable", "wait" },
	{ "redirect", "modify" },
	{ "registration-required", "auth" },
	{ "remote-server-not-found", "cancel" },
	{ "remote-server-timeout", "wait" },
	{ "resource-constraint", "wait" },
	{ "service-unavailable", "cancel" },
	{ "subscription-required", "auth" },
	{ "undefined-condition", "cancel" },
	{ "unexpected-request", "wait" },
};

static void
xb_puts(struct xb *x, const char *s)
{
	if (!x->err && buf_puts(&x->b, s) < 0)
		x->err = 1;
}

static void
xb_escaped(struct xb *x, const char *s)
{
	if (!x->err && buf_put_xml_escaped(&x->b, s) < 0)
		x->err = 1;
}

void
xb_raw(struct xb *x, const char *s)
{
	xb_puts(x, s);
}

void
xb_esc(struct xb *x, const char *s)
{
	xb_escaped(x, s);
}

void
xb_open(struct xb *x, const char *name)
{
	xb_puts(x, "<");
	xb_puts(x, name);
}

void
xb_attr(struct xb *x, const char *name, const char *value)
{
	if (value == NULL)
		return;
	xb_puts(x, " ");
	xb_puts(x, name);
	xb_puts(x, "='");
	xb_escaped(x, value);
	xb_puts(x, "'");
}

void
xb_open_end(struct xb *x)
{
	xb_puts(x, ">");
}

void
xb_close(struct xb *x, const char *name)
{
	xb_puts(x, "</");
	xb_puts(x, name);
	xb_puts(x, ">");
}

void
xb_empty(struct xb *x, const char *name, const char *xmlns)
{
	xb_open(x, name);
	xb_attr(x, "xmlns", xmlns);
	xb_puts(x, "/>");
}

void
xb_text(struct xb *x, const char *name, const char *xmlns, const char *text)
{
	xb_open(x, name);
	xb_attr(x, "xmlns", xmlns);
	xb_open_end(x);
	xb_escaped(x, text);
	xb_close(x, name);
}

int
xb_emit(struct xb *x)
{
	struct proto_val v[EMIT__NFIELDS] = { 0 };
	int rc = -1;

	if (x->err) {
		log_error("out of memory building a stanza");
		goto done;
	}
	v[EMIT_xml].s = x->b.data;
	v[EMIT_xml].len = x->b.len;
	if (x->b.len == 0 || worker_send(PROTO_EMIT, v) < 0)
		goto done;
	rc = 0;
done:
	buf_reset(&x->b);
	x->err = 0;
	return rc;
}

void
xb_free(struct xb *x)
{
	buf_free(&x->b, 0);
	x->err = 0;
}

void
stanza_new_id(char *out, size_t outsz)
{
	static unsigned long long counter;
	static uint64_t state;

	/* Unique within the process by the counter, and across restarts of this worker by
	 * the random part (a message id reused after a crash would confuse clients that
	 * deduplicate or correct by id). */
	if (state == 0) {
		if (getrandom(&state, sizeof state, 0) != sizeof state)
			state = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
		state |= 1;
	}
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	snprintf(out, outsz, "slidge-%llu-%08x", ++counter, (unsigned)(state & 0xffffffffu));
}

void
stanza_format_time(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "1970-01-01T00:00:00Z");
}

const char *
stanza_condition(const char *condition)
{
	size_t i;

	for (i = 0; condition != NULL && i < sizeof conditions / sizeof conditions[0]; i++)
		if (strcmp(conditions[i].condition, condition) == 0)
			return conditions[i].condition;
	return NULL;
}

void
stanza_error(const char *kind, const char *from, const char *to, const char *id,
    const char *condition, const char *text)
{
	struct xb x = { 0 };
	const char *type = "cancel";
	size_t i;

	if (stanza_condition(condition) == NULL) {
		log_warn("unknown error condition \"%s\": sending internal-server-error",
		    condition ? condition : "");
		condition = "internal-server-error";
	}
	for (i = 0; i < sizeof conditions / sizeof conditions[0]; i++)
		if (strcmp(conditions[i].condition, condition) == 0)
			type = conditions[i].type;
	xb_open(&x, kind);
	xb_attr(&x, "type", "error");
	xb_attr(&x, "from", from);
	xb_attr(&x, "to", to);
	xb_attr(&x, "id", id);
	xb_open_end(&x);
	xb_open(&x, "error");
	xb_attr(&x, "type", type);
	xb_open_end(&x);
	xb_empty(&x, condition, NS_STANZAS);
	if (text != NULL && *text != '\0')
		xb_text(&x, "text", NS_STANZAS, text);
	xb_close(&x, "error");
	xb_close(&x, kind);
	xb_emit(&x);
	xb_free(&x);
}

void
stanza_iq_result(const char *from, const char *to, const char *id)
{
	struct xb x = { 0 };

	xb_open(&x, "iq");
	xb_attr(&x, "type", "result");
	xb_attr(&x, "from", from);
	xb_attr(&x, "to", to);
	xb_attr(&x, "id", id);
	xb_puts(&x, "/>");
	xb_emit(&x);
	xb_free(&x);
}

void
stanza_message(const struct message_out *m)
{
	struct xb x = { 0 };
	char newid[64], stamp[32];
	const char *id = m->id;

	if (id == NULL) {
		stanza_new_id(newid, sizeof newid);
		id = newid;
	}
	xb_open(&x, "message");
	xb_attr(&x, "type", m->type ? m->type : "chat");
	xb_attr(&x, "from", m->from);
	xb_attr(&x, "to", m->to);
	xb_attr(&x, "id", id);
	xb_open_end(&x);
	if (m->body != NULL)
		xb_text(&x, "body", NULL, m->body);
	if (m->state != NULL)
		xb_empty(&x, m->state, NS_CHATSTATES);
	if (m->flags & MSG_MARKABLE)
		xb_empty(&x, "markable", NS_MARKERS);
	if (m->flags & MSG_STORE)
		xb_empty(&x, "store", NS_HINTS);
	if (m->flags & MSG_NO_STORE)
		xb_empty(&x, "no-store", NS_HINTS);
	if (m->nick != NULL && *m->nick != '\0')
		xb_text(&x, "nick", NS_NICK, m->nick);
	if (m->receipt != NULL) {
		xb_open(&x, "received");
		xb_attr(&x, "xmlns", NS_RECEIPTS);
		xb_attr(&x, "id", m->receipt);
		xb_puts(&x, "/>");
	}
	if (m->delay_from != NULL) {
		stanza_format_time(m->delay, stamp, sizeof stamp);
		xb_open(&x, "delay");
		xb_attr(&x, "xmlns", NS_DELAY);
		xb_attr(&x, "stamp", stamp);
		xb_attr(&x, "from", m->delay_from);
		xb_puts(&x, "/>");
	}
	xb_close(&x, "message");
	xb_emit(&x);
	xb_free(&x);
}

void
stanza_presence(const struct presence_out *p)
{
	struct xb x = { 0 };
	char since[32];

	xb_open(&x, "presence");
	xb_attr(&x, "from", p->from);
	xb_attr(&x, "to", p->to);
	xb_attr(&x, "type", p->type);
	if (p->show == NULL && (p->status == NULL || *p->status == '\0') &&
	    (p->nick == NULL || *p->nick == '\0') && p->idle_since == 0) {
		xb_puts(&x, "/>");
		goto emit;
	}
	xb_open_end(&x);
	if (p->show != NULL)
		xb_text(&x, "show", NULL, p->show);
	if (p->status != NULL && *p->status != '\0')
		xb_text(&x, "status", NULL, p->status);
	if (p->nick != NULL && *p->nick != '\0')
		xb_text(&x, "nick", NS_NICK, p->nick);
	if (p->idle_since != 0) {
		stanza_format_time(p->idle_since, since, sizeof since);
		xb_open(&x, "idle");
		xb_attr(&x, "xmlns", NS_IDLE);
		xb_attr(&x, "since", since);
		xb_puts(&x, "/>");
	}
	xb_close(&x, "presence");
emit:
	xb_emit(&x);
	xb_free(&x);
}

void
xb_iq_result_open(struct xb *x, const struct inbound *in)
{
	xb_iq_result_open_to(x, in->to, in->from, in->id);
}

void
xb_iq_result_open_to(struct xb *x, const char *from, const char *to, const char *id)
{
	xb_open(x, "iq");
	xb_attr(x, "type", "result");
	xb_attr(x, "from", from);
	xb_attr(x, "to", to);
	xb_attr(x, "id", id);
	xb_open_end(x);
}

void
xb_data_table(struct xb *x, const char *title, const struct slidge_form_field *cols,
    size_t ncols, const char *const *values, size_t nrows)
{
	size_t i, k;
	const char *v;

	xb_open(x, "x");
	xb_attr(x, "xmlns", "jabber:x:data");
	xb_attr(x, "type", "result");
	xb_open_end(x);
	if (title != NULL)
		xb_text(x, "title", NULL, title);
	xb_open(x, "reported");
	xb_open_end(x);
	for (i = 0; i < ncols; i++) {
		xb_open(x, "field");
		xb_attr(x, "var", cols[i].var);
		xb_attr(x, "label", cols[i].label);
		xb_attr(x, "type", cols[i].type != NULL ? cols[i].type : "text-single");
		xb_raw(x, "/>");
	}
	xb_close(x, "reported");
	for (k = 0; k < nrows; k++) {
		xb_open(x, "item");
		xb_open_end(x);
		for (i = 0; i < ncols; i++) {
			v = values[k * ncols + i];
			xb_open(x, "field");
			xb_attr(x, "var", cols[i].var);
			xb_open_end(x);
			xb_text(x, "value", NULL, v != NULL ? v : "");
			xb_close(x, "field");
		}
		xb_close(x, "item");
	}
	xb_close(x, "x");
}
