/* qrflow.c: the QR step of the registration command (qrflow.h; reference/slidge.md §6.2
 * QRCODE). adhoc.c drives the command; this file holds the form and the wait. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "qrflow.h"
#include "slidged.h"

#define NS_DATA "jabber:x:data"
#define NS_MEDIA "urn:xmpp:media-element"
#define QR_TIMEOUT_DEFAULT 60.0

void
qrflow_init(struct qrflow *q)
{
	memset(q, 0, sizeof *q);
}

void
qrflow_clear(struct qrflow *q)
{
	size_t i;

	ev_timer_stop(G.loop, &q->timeout);
	free(q->condition);
	free(q->text);
	for (i = 0; i < q->data.n; i++)
		explicit_bzero(q->data.v[i], strlen(q->data.v[i]));
	proto_list_free(&q->data);
	memset(q, 0, sizeof *q);
}

static void
put_escaped_attr(struct buf *b, const char *name, const char *value)
{
	buf_printf(b, " %s='", name);
	buf_put_xml_escaped(b, value);
	buf_puts(b, "'");
}

static void
fixed_field(struct buf *b, const char *var, const char *label, const char *value,
    const char *image_url)
{
	buf_puts(b, "<field type='fixed'");
	put_escaped_attr(b, "var", var);
	if (label)
		put_escaped_attr(b, "label", label);
	buf_puts(b, "><value>");
	buf_put_xml_escaped(b, value);
	buf_puts(b, "</value>");
	/* XEP-0221: the image that goes with the field (slidge's FormField.image_url). */
	if (image_url) {
		buf_puts(b, "<media xmlns='" NS_MEDIA "'><uri type='image/png'>");
		buf_put_xml_escaped(b, image_url);
		buf_puts(b, "</uri></media>");
	}
	buf_puts(b, "</field>");
}

void
qrflow_form(struct buf *b, const char *qr_text, const char *url)
{
	buf_puts(b, "<x xmlns='" NS_DATA "' type='form'><title>" QRFLOW_TITLE "</title>"
	    "<instructions>" QRFLOW_INSTRUCTIONS "</instructions>");
	fixed_field(b, "qr_img", NULL, qr_text, url);
	fixed_field(b, "qr_text", QRFLOW_LABEL_TEXT, qr_text, NULL);
	fixed_field(b, "qr_img_url", QRFLOW_LABEL_URL, url, NULL);
	buf_puts(b, "</x>");
}

/* Hand the answer to whoever waits (at most once). */
static void
answer_waiter(struct qrflow *q)
{
	qrflow_cb *cb = q->cb;

	if (!q->answered || !cb)
		return;
	q->cb = NULL;
	ev_timer_stop(G.loop, &q->timeout);
	/* Last: cb may free the struct q lives in. */
	cb(q->arg, q->condition, q->text);
}

static void
remember(struct qrflow *q, const char *condition, const char *text)
{
	q->answered = 1;
	if (condition) {
		q->condition = strdup(condition);
		q->text = strdup(text ? text : "");
		if (!q->condition || !q->text) {
			free(q->condition);
			free(q->text);
			q->condition = strdup("internal-server-error");
			q->text = NULL;
		}
		if (!q->condition)
			fatal("out of memory");
	}
}

void
qrflow_confirm(struct qrflow *q, struct proto_msg *m)
{
	const char *cond = m->v[QR_CONFIRM_condition].s;

	if (q->answered) {
		log_warn("adhoc: a second QR confirmation for one registration (ignored)");
		return;
	}
	remember(q, *cond ? cond : NULL, m->v[QR_CONFIRM_text].s);
	if (!*cond) {
		q->data = m->v[QR_CONFIRM_data].list;
		memset(&m->v[QR_CONFIRM_data].list, 0, sizeof m->v[QR_CONFIRM_data].list);
	}
	answer_waiter(q);
}

void
qrflow_fail(struct qrflow *q, const char *condition, const char *text)
{
	if (q->answered)
		return;
	remember(q, condition, text);
	answer_waiter(q);
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct qrflow *q = (struct qrflow *)((char *)t - offsetof(struct qrflow, timeout));
	qrflow_cb *cb = q->cb;

	(void)loop;
	(void)revents;
	q->cb = NULL;
	if (cb)
		cb(q->arg, "remote-server-timeout",
		    "It does not seem that the QR code was correctly used, or you took too much time");
}

void
qrflow_wait(struct qrflow *q, qrflow_cb *cb, void *arg)
{
	const char *opt = config_get_extra(&G.cfg, "qr-timeout");
	double secs = opt ? strtod(opt, NULL) : QR_TIMEOUT_DEFAULT;

	q->cb = cb;
	q->arg = arg;
	if (q->answered) {
		answer_waiter(q);
		return;
	}
	ev_timer_init(&q->timeout, timeout_cb, secs > 0 ? secs : 0., 0.);
	ev_timer_start(G.loop, &q->timeout);
}

int
qrflow_merge(const struct qrflow *q, struct proto_list *kv)
{
	size_t i;

	for (i = 0; i + 1 < q->data.n; i += 2)
		if (proto_kv_set(kv, q->data.v[i], q->data.v[i + 1]) < 0)
			return -1;
	return 0;
}
