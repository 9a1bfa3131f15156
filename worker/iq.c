/* iq.c: iqs the worker sends (disco#info of the user's clients for their caps, XEP-0356
 * roster pushes) and their answers.
 *
 * slidged routes the answer to an iq back to the worker that sent it (it comes from the
 * user or the user's server). Each pending iq waits at most IQ_TIMEOUT seconds, on its
 * own ev_timer; an answer is matched on its id *and* on who sends it, so that nobody
 * else can complete it. The list is short (a few iqs per login), so it is a list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

struct pending_iq {
	ev_timer w;                    /* first: the timer callback casts back */
	char id[64];
	char to[JID_BUF];              /* normalised: who must answer */
	iq_cb *cb;
	void *arg;
	struct pending_iq *next;
};

static struct pending_iq *pending;

static void
iq_unlink(struct pending_iq *p)
{
	struct pending_iq **pp;

	for (pp = &pending; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	ev_timer_stop(worker.loop, &p->w);
}

static void
iq_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pending_iq *p = (struct pending_iq *)w;

	log_debug("no answer to iq %s in %.0f s", p->id, IQ_TIMEOUT);
	iq_unlink(p);
	p->cb(NULL, p->arg);
	free(p);
}

int
iq_send(const char *from, const char *to, const char *type, const char *payload,
    iq_cb *cb, void *arg)
{
	struct pending_iq *p;
	struct xb x = { 0 };
	struct jid j;

	if ((p = calloc(1, sizeof *p)) == NULL) {
		log_error("out of memory sending an iq");
		return -1;
	}
	if (jid_parse(to, &j) < 0 || jid_full(&j, p->to, sizeof p->to) < 0) {
		log_warn("not sending an iq to an invalid JID");
		free(p);
		return -1;
	}
	stanza_new_id(p->id, sizeof p->id);
	xb_open(&x, "iq");
	xb_attr(&x, "type", type);
	xb_attr(&x, "from", from);
	xb_attr(&x, "to", to);
	xb_attr(&x, "id", p->id);
	xb_open_end(&x);
	if (!x.err && buf_puts(&x.b, payload) < 0)
		x.err = 1;
	xb_close(&x, "iq");
	if (xb_emit(&x) < 0) {
		xb_free(&x);
		free(p);
		return -1;
	}
	xb_free(&x);
	p->cb = cb;
	p->arg = arg;
	ev_timer_init(&p->w, iq_timeout, IQ_TIMEOUT, 0.);
	ev_timer_start(worker.loop, &p->w);
	p->next = pending;
	pending = p;
	return 0;
}

int
iq_answer(struct inbound *in)
{
	struct pending_iq *p;

	if (in->id == NULL)
		return 0;
	for (p = pending; p != NULL; p = p->next) {
		if (strcmp(p->id, in->id) != 0 || strcmp(p->to, in->from) != 0)
			continue;
		iq_unlink(p);
		p->cb(in->root, p->arg);
		free(p);
		return 1;
	}
	return 0;
}

void
iq_free_all(void)
{
	struct pending_iq *p;

	while ((p = pending) != NULL) {
		iq_unlink(p);
		p->cb(NULL, p->arg);
		free(p);
	}
}
