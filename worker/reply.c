/* reply.c: struct slidge_reply, the completion handle of a module hook.
 *
 * slidge's hooks are coroutines: the core awaits them. Here a hook gets a reply and
 * completes it exactly once, during the call or later from a timer or fd callback. The
 * core's continuation (reply_done_cb) runs at completion, then the reply is freed; the
 * module must not touch it afterwards. Pending replies are kept in a list so that what
 * is left at exit is released. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

static struct slidge_reply *pending;

struct slidge_reply *
reply_new(struct slidge_session *s, reply_done_cb *done, void *arg)
{
	struct slidge_reply *r;

	if ((r = calloc(1, sizeof *r)) == NULL)
		return NULL;
	r->s = s;
	r->done = done;
	r->arg = arg;
	r->next = pending;
	if (pending != NULL)
		pending->prev = r;
	pending = r;
	return r;
}

static void
reply_unlink(struct slidge_reply *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		pending = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void
reply_free(struct slidge_reply *r)
{
	size_t i;

	/* Registration replies carry credentials in kv. */
	for (i = 0; i < r->kv.n; i++)
		if (r->kv.v[i] != NULL)
			explicit_bzero(r->kv.v[i], strlen(r->kv.v[i]));
	proto_list_free(&r->kv);
	free(r->value);
	free(r->condition);
	free(r->text);
	free(r);
}

static void
reply_finish(struct slidge_reply *r)
{
	/* Unlinked before the continuation runs: it may start new hooks, or exit. */
	reply_unlink(r);
	r->done(r, r->arg);
	reply_free(r);
}

void
reply_complete_ok(struct slidge_reply *r, const char *value)
{
	r->ok = 1;
	if (value != NULL && (r->value = strdup(value)) == NULL) {
		reply_complete_error(r, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return;
	}
	reply_finish(r);
}

void
reply_complete_error(struct slidge_reply *r, const char *condition, const char *text)
{
	r->ok = 0;
	free(r->value);
	r->value = NULL;
	r->condition = strdup(condition ? condition : SLIDGE_INTERNAL_SERVER_ERROR);
	r->text = strdup(text ? text : "");
	if (r->condition == NULL || r->text == NULL)
		log_error("out of memory completing a reply");
	reply_finish(r);
}

void
reply_set(struct slidge_reply *r, const char *key, const char *value)
{
	if (proto_kv_set(&r->kv, key, value ? value : "") < 0) {
		log_error("out of memory storing a reply value");
		return;
	}
	r->kv_set = 1;
}

void
reply_free_all(void)
{
	struct slidge_reply *r;

	while ((r = pending) != NULL) {
		reply_unlink(r);
		if (r->free_arg != NULL)
			r->free_arg(r->arg);
		reply_free(r);
	}
}
