/* session.c: role "session", BaseSession for one user (reference/slidge.md §2.2, §2.10).
 *
 * START builds the session and runs slidge's startup sequence for the user:
 *   1. a presence probe, so that the user's server tells us the user's resources;
 *   2. the component asks to be in the user's roster (XEP-0100 fallback: without
 *      XEP-0356 roster privileges, a subscription request);
 *   3. right after a registration, the welcome message;
 *   4. login_wrap: "Logging in…" -> login() -> "Syncing contacts…" -> roster fill ->
 *      the login's status text with show=chat; or, if login fails, "Could not login: …"
 *      and a chat message saying why.
 * Stanzas to contacts wait (unacked) until that is over, as slidge awaits session.ready,
 * for at most READY_TIMEOUT. The gateway's presence is cached and replayed on probes.
 * STOP ends the session: unavailable presences (and with unregister, slidge's
 * unsubscriptions), the module's logout or unregister hook, then exit. */
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "worker.h"
#include "parity.h"

#define READY_TIMEOUT 10.0       /* slidge's wait_for_ready() default */
#define UNREGISTER_TIMEOUT 5.0   /* longest wait for the module's unregister hook */

struct resource {
	char jid[JID_BUF];
	struct resource *next;
};

struct slidge_session *session;

static char *login_status;     /* what login() returned, the final gateway status */
static ev_timer stop_timer;    /* bounds the wait for the unregister hook */
static char *stop_reason;
/* The re-login command (cmd_builtin.c) waits for the login's outcome. */
static void (*relogin_cb)(const char *error, const char *status, void *arg);
static void *relogin_arg;

static void
relogin_notify(const char *error, const char *status)
{
	void (*cb)(const char *, const char *, void *) = relogin_cb;

	relogin_cb = NULL;
	if (cb != NULL)
		cb(error, status, relogin_arg);
}

static void
send_state(const char *state, const char *text)
{
	struct proto_val v[STATE__NFIELDS] = { 0 };

	v[STATE_state].s = state;
	v[STATE_text].s = text ? text : "";
	v[STATE_text].len = worker_clip(v[STATE_text].s,
	    proto_desc(PROTO_STATE)->fields[STATE_text].max);
	if (v[STATE_text].len == 0)
		v[STATE_text].s = "";
	worker_send(PROTO_STATE, v);
}

static void
kv_wipe_free(struct proto_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i] != NULL)
			explicit_bzero(l->v[i], strlen(l->v[i]));
	proto_list_free(l);
	*l = (struct proto_list){ 0 };
}

/* ---- gateway presence and messages ---------------------------------------------- */

static const char *
valid_show(const char *show)
{
	/* The XMPP <show> values; "busy" is what slidge's code passes for dnd. */
	if (show == NULL)
		return NULL;
	if (strcmp(show, "busy") == 0)
		return "dnd";
	if (strcmp(show, "chat") == 0 || strcmp(show, "away") == 0 ||
	    strcmp(show, "xa") == 0 || strcmp(show, "dnd") == 0)
		return show;
	log_warn("ignoring an invalid gateway show \"%s\"", show);
	return NULL;
}

void
session_send_cached_status(const char *to)
{
	struct presence_out p = { 0 };

	p.from = session->component_jid;
	p.to = to;
	if (session->status_set) {
		p.show = session->status_show;
		p.status = session->status_text;
	} else {
		p.type = "unavailable";
	}
	disco_gateway_presence(&p);   /* with the gateway's caps and avatar hash */
}

void
session_gateway_status(const char *status, const char *show)
{
	char *t = NULL, *sh = NULL;

	show = valid_show(show);
	if ((status != NULL && (t = strdup(status)) == NULL) ||
	    (show != NULL && (sh = strdup(show)) == NULL)) {
		log_error("out of memory caching the gateway status");
		free(t);
		free(sh);
		return;
	}
	free(session->status_text);
	free(session->status_show);
	session->status_text = t;
	session->status_show = sh;
	session->status_set = 1;
	session_send_cached_status(session->user_jid);
}

void
session_gateway_message(const char *to, const char *text)
{
	/* BaseGateway.send_text: a chat message from the bare component JID, with the same
	 * hints as a contact's (test_shakespeare.py::test_gateway_message). */
	struct message_out m = { 0 };

	m.from = session->component_jid;
	m.to = to ? to : session->user_jid;
	m.body = text;
	m.state = "active";
	m.flags = MSG_MARKABLE | MSG_STORE;
	stanza_message(&m);
}

/* ---- legacy_module_data --------------------------------------------------------- */

const char *
session_data_get(const char *key)
{
	return proto_kv_get(&session->data, key);
}

void
session_data_set(const char *key, const char *value)
{
	struct proto_val v[DATA_UPDATE__NFIELDS] = { 0 };
	struct proto_list *d = &session->data;
	size_t i;

	if (value != NULL) {
		if (proto_kv_set(d, key, value) < 0) {
			log_error("out of memory setting legacy_module_data");
			return;
		}
	} else {
		for (i = 0; i + 1 < d->n; i += 2) {
			if (strcmp(d->v[i], key) != 0)
				continue;
			explicit_bzero(d->v[i + 1], strlen(d->v[i + 1]));
			free(d->v[i]);
			free(d->v[i + 1]);
			memmove(&d->v[i], &d->v[i + 2], (d->n - i - 2) * sizeof *d->v);
			d->n -= 2;
			break;
		}
	}
	v[DATA_UPDATE_data].list = *d;
	worker_send(PROTO_DATA_UPDATE, v);
}

/* ---- the user's resources ------------------------------------------------------- */

int
session_resource_set(const char *jid, int available)
{
	struct resource **rp, *r;

	for (rp = &session->resources; *rp != NULL; rp = &(*rp)->next) {
		if (strcmp((*rp)->jid, jid) != 0)
			continue;
		if (!available) {
			r = *rp;
			*rp = r->next;
			free(r);
		}
		return 0;
	}
	if (!available)
		return 0;
	if ((r = calloc(1, sizeof *r)) == NULL) {
		log_error("out of memory tracking a resource");
		return 0;
	}
	snprintf(r->jid, sizeof r->jid, "%s", jid);
	r->next = session->resources;
	session->resources = r;
	return 1;
}

/* ---- login --------------------------------------------------------------------- */

int
session_logged(void)
{
	return session != NULL && session->state == SESSION_LOGGED;
}

static void
session_set_ready(void)
{
	ev_timer_stop(worker.loop, &session->ready_timer);
	session->ready = 1;
	inbound_flush_waiting();
}

static void
ready_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_warn("login is taking more than %.0f s: handling the waiting stanzas now",
	    READY_TIMEOUT);
	session->ready = 1;
	inbound_flush_waiting();
}

static void
login_finish(void)
{
	session->state = SESSION_LOGGED;
	session_gateway_status(login_status, "chat");
	send_state("logged-in", login_status);
	log_info("logged in");
	session_set_ready();
	avatar_user_fetch();          /* slidge: the user's avatar, after login_wrap */
	relogin_notify(NULL, login_status);
	/* Loading the module, the manifest and the login leave freed heap behind; hand those
	 * pages back to the kernel: an idle worker's memory is what an operator pays per user. */
	malloc_trim(0);
}

static void
fill_done(struct slidge_reply *r, void *arg)
{
	if (!r->ok)
		log_warn("the roster fill failed (%s): going on without it", r->condition);
	login_finish();
}

static void
login_done(struct slidge_reply *r, void *arg)
{
	struct slidge_reply *fill;
	char text[4096];

	if (!r->ok) {
		log_warn("login failed (%s)", r->condition);
		session->state = SESSION_FAILED;
		snprintf(text, sizeof text, "Could not login: %s", r->text);
		session_gateway_status(text, "dnd");
		snprintf(text, sizeof text, "You are not connected to this gateway! "
		    "Maybe this message will tell you why: %s", r->text);
		session_gateway_message(NULL, text);
		send_state("login-failed", r->text);
		session_set_ready();
		relogin_notify(r->text ? r->text : r->condition, NULL);
		return;
	}
	free(login_status);
	if ((login_status = strdup(r->value ? r->value : "Logged in")) == NULL)
		fatal("strdup");
	session->state = SESSION_FILLING;
	session_gateway_status("Syncing contacts…", "dnd");
	if (module->roster_fill == NULL) {
		login_finish();
		return;
	}
	if ((fill = reply_new(session, fill_done, NULL)) == NULL)
		fatal("calloc");
	module->roster_fill(session, fill);
}

static void
login_start(void)
{
	struct slidge_reply *r;

	session->state = SESSION_LOGGING_IN;
	session->ready = 0;
	ev_timer_start(worker.loop, &session->ready_timer);
	session_gateway_status("Logging in…", "dnd");
	send_state("logging-in", "");
	if ((r = reply_new(session, login_done, NULL)) == NULL)
		fatal("calloc");
	if (module->login == NULL) {
		reply_complete_error(r, SLIDGE_FEATURE_NOT_IMPLEMENTED,
		    "Not implemented by the legacy module");
		return;
	}
	module->login(session, r);
}

void
session_relogin(void (*cb)(const char *error, const char *status, void *arg), void *arg)
{
	if (session->state == SESSION_LOGGING_IN || session->state == SESSION_FILLING) {
		cb("A login is already running", NULL, arg);
		return;
	}
	relogin_cb = cb;
	relogin_arg = arg;
	login_start();
}

void
session_start(struct proto_msg *m)
{
	struct slidge_session *s;
	struct presence_out p = { 0 };

	if ((s = calloc(1, sizeof *s)) == NULL)
		fatal("calloc");
	if (jid_to_bare(m->v[START_user_jid].s, s->user_jid, sizeof s->user_jid) < 0)
		fatalx("START for an invalid user JID");
	if (jid_to_bare(m->v[START_component_jid].s, s->component_jid,
	    sizeof s->component_jid) < 0)
		fatalx("START for an invalid component JID");
	if (strcmp(s->component_jid, worker.component_jid) != 0)
		log_warn("START names the component %s, the command line %s", s->component_jid,
		    worker.component_jid);
	/* Taken from the message, which the channel frees after this call. */
	s->data = m->v[START_data].list;
	m->v[START_data].list = (struct proto_list){ 0 };
	s->prefs = m->v[START_preferences].list;
	m->v[START_preferences].list = (struct proto_list){ 0 };
	s->fresh = m->v[START_fresh].u != 0;
	if (contacts_init(s) < 0)
		fatal("out of memory");
	/* The per-user store (id maps); without it, ids are kept in memory only. */
	store_open(worker.state_dir);
	ev_timer_init(&s->ready_timer, ready_timeout, READY_TIMEOUT, 0.);
	session = s;
	log_set_prefix(s->user_jid);
	log_info("session start%s", s->fresh ? " after registration" : "");

	/* The probe goes first: a server answers a probe from an entity without a
	 * subscription with "unsubscribed" on the user's behalf (RFC 6121 §4.3.2, Prosody
	 * does), and that would cancel a subscription request sent just before. */
	p.from = s->component_jid;
	p.to = s->user_jid;
	p.type = "probe";
	stanza_presence(&p);

	p.type = "subscribe";
	p.nick = module->component_name;
	stanza_presence(&p);

	if (s->fresh)
		session_gateway_message(NULL, module_welcome_message());
	login_start();
}

/* ---- the end ------------------------------------------------------------------- */

static void
session_free(void)
{
	struct resource *r;

	if (session == NULL)
		return;
	ev_timer_stop(worker.loop, &session->ready_timer);
	timer_cancel_all(session);
	cmd_free_all();
	contacts_free(session);
	avatar_free_all();
	store_close();
	chat_free();
	while ((r = session->resources) != NULL) {
		session->resources = r->next;
		free(r);
	}
	kv_wipe_free(&session->data);
	kv_wipe_free(&session->prefs);
	free(session->status_text);
	free(session->status_show);
	free(session);
	session = NULL;
	free(login_status);
	login_status = NULL;
}

static void
stop_finish(void)
{
	ev_timer_stop(worker.loop, &stop_timer);
	send_state("stopped", stop_reason);
	free(stop_reason);
	stop_reason = NULL;
	session_free();
	log_info("session stopped");
	worker_exit(0);
}

static void
unregister_done(struct slidge_reply *r, void *arg)
{
	if (!r->ok)
		log_warn("the module's unregister hook failed (%s)", r->condition);
	stop_finish();
}

static void
stop_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_warn("the module's unregister hook did not complete in %.0f s", UNREGISTER_TIMEOUT);
	stop_finish();
}

void
session_stop(const char *reason, int unregister)
{
	struct slidge_contact *c;
	struct presence_out p = { .from = session->component_jid, .to = session->user_jid };
	struct slidge_reply *r;
	int by_command;

	if ((stop_reason = strdup(reason)) == NULL)
		fatal("strdup");
	/* Waiting stanzas stay unacked: slidged bounces them to the user. */
	inbound_free_waiting();
	ev_timer_stop(worker.loop, &session->ready_timer);
	for (c = contact_first(session); c != NULL; c = c->next) {
		if (!c->is_friend)
			continue;
		if (unregister) {
			/* LegacyContact.unsubscribe(): "this contact removed you". */
			contact_send_presence_type(c, "unsubscribe", 0);
			contact_send_presence_type(c, "unsubscribed", 0);
		}
		contact_send_presence_type(c, "unavailable", 1);
	}
	/* XEP-0100 on_user_unregister: the component leaves the roster too; slidge's
	 * unregister command leaves its busy presence instead (reference/slidge.md §6.5). */
	by_command = unregister && cmd_unregistered_by_command();
	if (!by_command) {
		p.type = "unavailable";
		stanza_presence(&p);
	}
	if (unregister) {
		if (!by_command) {
			p.type = "unsubscribe";
			stanza_presence(&p);
			p.type = "unsubscribed";
			stanza_presence(&p);
		}
		if (module->unregister != NULL) {
			if ((r = reply_new(session, unregister_done, NULL)) == NULL)
				fatal("calloc");
			ev_timer_init(&stop_timer, stop_timeout, UNREGISTER_TIMEOUT, 0.);
			ev_timer_start(worker.loop, &stop_timer);
			module->unregister(session, r);
			return;
		}
	}
	if (module->logout != NULL)
		module->logout(session);
	stop_finish();
}

void
session_abort(void)
{
	if (session == NULL)
		return;
	if (session->state != SESSION_NEW && module->logout != NULL)
		module->logout(session);
	session_free();
}
