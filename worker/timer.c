/* timer.c: one-shot timers for modules (struct slidge_timer), on the libev loop.
 *
 * The ev_timer is embedded in the timer it serves. A timer is freed after it fires or
 * when it is cancelled; those of a session are cancelled when the session ends, so a
 * module callback never runs against a session that is gone. */
#include <stdlib.h>

#include "log.h"
#include "worker.h"

struct slidge_timer {
	ev_timer w;
	struct slidge_session *s;
	slidge_timer_cb *cb;
	void *arg;
	int firing;
	struct slidge_timer *prev, *next;
};

static struct slidge_timer *timers;

static void
timer_unlink(struct slidge_timer *t)
{
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		timers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

static void
timer_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct slidge_timer *t = (struct slidge_timer *)w;

	/* Unlinked first: the callback may cancel this timer, others, or all of them. */
	timer_unlink(t);
	t->firing = 1;
	t->cb(t->s, t->arg);
	free(t);
}

struct slidge_timer *
timer_add(struct slidge_session *s, double seconds, slidge_timer_cb *cb, void *arg)
{
	struct slidge_timer *t;

	if (cb == NULL || (t = calloc(1, sizeof *t)) == NULL)
		return NULL;
	if (seconds < 0 || seconds != seconds)
		seconds = 0;
	t->s = s;
	t->cb = cb;
	t->arg = arg;
	ev_timer_init(&t->w, timer_fire, seconds, 0.);
	ev_timer_start(worker.loop, &t->w);
	t->next = timers;
	if (timers != NULL)
		timers->prev = t;
	timers = t;
	return t;
}

void
timer_cancel(struct slidge_timer *t)
{
	if (t == NULL || t->firing)
		return;   /* a firing timer is freed when its callback returns */
	ev_timer_stop(worker.loop, &t->w);
	timer_unlink(t);
	free(t);
}

void
timer_cancel_all(struct slidge_session *s)
{
	struct slidge_timer *t, *next;

	for (t = timers; t != NULL; t = next) {
		next = t->next;
		if (s == NULL || t->s == s)
			timer_cancel(t);
	}
}
