/* api.c: the slidge_* functions of legacy.h, exported to the module (export_dynamic).
 *
 * This file is the module's only door into the core: each function checks what it is
 * given (a NULL or a foreign session is ignored with a warning rather than crashing the
 * worker on a module bug) and hands over to the file that owns the role. Strings are
 * copied by the callees, as legacy.h promises. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

static int
session_ok(const struct slidge_session *s, const char *fn)
{
	if (s != NULL && s == session)
		return 1;
	log_warn("%s: called without this worker's session", fn);
	return 0;
}

#define CHECK_SESSION(s, ...) do { if (!session_ok((s), __func__)) return __VA_ARGS__; } while (0)
#define CHECK_CONTACT(c, ...) do { \
	if ((c) == NULL || !session_ok((c)->s, __func__)) return __VA_ARGS__; } while (0)

/* ---- forms and replies -------------------------------------------------------------- */

const char *
slidge_form_get(const struct slidge_form *form, const char *var)
{
	if (form == NULL || var == NULL)
		return NULL;
	return proto_kv_get(form->kv, var);
}

void
slidge_reply_ok(struct slidge_reply *r)
{
	if (r != NULL)
		reply_complete_ok(r, NULL);
}

void
slidge_reply_str(struct slidge_reply *r, const char *value)
{
	if (r != NULL)
		reply_complete_ok(r, value);
}

void
slidge_reply_set(struct slidge_reply *r, const char *key, const char *value)
{
	if (r != NULL && key != NULL)
		reply_set(r, key, value);
}

void
slidge_reply_no_2fa(struct slidge_reply *r)
{
	if (r == NULL)
		return;
	r->no_2fa = 1;
	reply_complete_ok(r, NULL);
}

void
slidge_reply_error(struct slidge_reply *r, const char *condition, const char *text)
{
	if (r != NULL)
		reply_complete_error(r, condition, text);
}

struct slidge_session *
slidge_reply_session(struct slidge_reply *r)
{
	return r != NULL ? r->s : NULL;
}

const char *
slidge_reply_data_get(const struct slidge_reply *r, const char *key)
{
	if (r == NULL || r->data == NULL || key == NULL)
		return NULL;
	return proto_kv_get(r->data, key);
}

const char *
slidge_option(const char *name)
{
	return module_option(name);
}

/* ---- the session ----------------------------------------------------------------- */

const char *
slidge_session_user_jid(const struct slidge_session *s)
{
	CHECK_SESSION(s, NULL);
	return s->user_jid;
}

const char *
slidge_session_component_jid(const struct slidge_session *s)
{
	CHECK_SESSION(s, NULL);
	return s->component_jid;
}

void *
slidge_session_priv(const struct slidge_session *s)
{
	CHECK_SESSION(s, NULL);
	return s->priv;
}

void
slidge_session_set_priv(struct slidge_session *s, void *priv)
{
	CHECK_SESSION(s);
	s->priv = priv;
}

const char *
slidge_session_data_get(const struct slidge_session *s, const char *key)
{
	CHECK_SESSION(s, NULL);
	return key != NULL ? session_data_get(key) : NULL;
}

void
slidge_session_data_set(struct slidge_session *s, const char *key, const char *value)
{
	CHECK_SESSION(s);
	if (key != NULL)
		session_data_set(key, value);
}

void
slidge_session_send_gateway_status(struct slidge_session *s, const char *status,
    const char *show)
{
	CHECK_SESSION(s);
	session_gateway_status(status, show);
}

void
slidge_session_send_gateway_message(struct slidge_session *s, const char *text)
{
	CHECK_SESSION(s);
	if (text != NULL)
		session_gateway_message(NULL, text);
}

/* ---- the event loop ------------------------------------------------------------------ */

struct slidge_timer *
slidge_timer_add(struct slidge_session *s, double seconds, slidge_timer_cb *cb, void *arg)
{
	/* NULL is allowed: registration workers have no session. */
	if (s != NULL && s != session) {
		log_warn("%s: called with a foreign session", __func__);
		return NULL;
	}
	return timer_add(s, seconds, cb, arg);
}

void
slidge_timer_cancel(struct slidge_timer *t)
{
	timer_cancel(t);
}

void
slidge_log(const struct slidge_session *s, enum slidge_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (fmt == NULL)
		return;
	if ((int)level < SLIDGE_LOG_DEBUG || level > SLIDGE_LOG_ERROR)
		level = SLIDGE_LOG_ERROR;
	/* The user prefix is process-wide (log_set_prefix): one worker, one user. */
	va_start(ap, fmt);
	log_vlog((enum log_level)level, fmt, ap);
	va_end(ap);
}

/* ---- contacts ---------------------------------------------------------------------- */

struct slidge_contact *
slidge_roster_by_legacy_id(struct slidge_session *s, const char *legacy_id)
{
	CHECK_SESSION(s, NULL);
	return legacy_id != NULL ? contact_by_legacy_id(s, legacy_id) : NULL;
}

struct slidge_contact *
slidge_roster_lookup(struct slidge_session *s, const char *legacy_id)
{
	CHECK_SESSION(s, NULL);
	return legacy_id != NULL ? contact_lookup(s, legacy_id) : NULL;
}

const char *
slidge_contact_legacy_id(const struct slidge_contact *c)
{
	CHECK_CONTACT(c, NULL);
	return c->legacy_id;
}

const char *
slidge_contact_jid(const struct slidge_contact *c)
{
	CHECK_CONTACT(c, NULL);
	return c->jid;
}

struct slidge_session *
slidge_contact_session(const struct slidge_contact *c)
{
	CHECK_CONTACT(c, NULL);
	return c->s;
}

void
slidge_contact_set_name(struct slidge_contact *c, const char *name)
{
	CHECK_CONTACT(c);
	contact_set_name(c, name);
}

const char *
slidge_contact_name(const struct slidge_contact *c)
{
	CHECK_CONTACT(c, NULL);
	return c->name;
}

void
slidge_contact_add_to_roster(struct slidge_contact *c)
{
	CHECK_CONTACT(c);
	contact_add_to_roster(c);
}

int
slidge_contact_is_friend(const struct slidge_contact *c)
{
	CHECK_CONTACT(c, 0);
	return c->is_friend;
}

void
slidge_contact_online(struct slidge_contact *c, const char *status, time_t last_seen)
{
	CHECK_CONTACT(c);
	contact_set_presence(c, PRES_ONLINE, status, last_seen);
}

void
slidge_contact_away(struct slidge_contact *c, const char *status, time_t last_seen)
{
	CHECK_CONTACT(c);
	contact_set_presence(c, PRES_AWAY, status, last_seen);
}

void
slidge_contact_extended_away(struct slidge_contact *c, const char *status, time_t last_seen)
{
	CHECK_CONTACT(c);
	contact_set_presence(c, PRES_XA, status, last_seen);
}

void
slidge_contact_busy(struct slidge_contact *c, const char *status, time_t last_seen)
{
	CHECK_CONTACT(c);
	contact_set_presence(c, PRES_BUSY, status, last_seen);
}

void
slidge_contact_offline(struct slidge_contact *c, const char *status, time_t last_seen)
{
	CHECK_CONTACT(c);
	contact_set_presence(c, PRES_OFFLINE, status, last_seen);
}

void
slidge_contact_send_text(struct slidge_contact *c, const char *body,
    const char *legacy_msg_id, const struct slidge_send_opts *opts)
{
	CHECK_CONTACT(c);
	if (body != NULL)
		chat_send_text(c, body, legacy_msg_id, opts);
}

/* ---- 1:1 messaging actions (half A) --------------------------------------------------- */

void
slidge_contact_correct(struct slidge_contact *c, const char *legacy_msg_id,
    const char *new_text, const struct slidge_send_opts *opts)
{
	CHECK_CONTACT(c);
	if (legacy_msg_id != NULL && *legacy_msg_id != '\0' && new_text != NULL)
		chat_correct(c, legacy_msg_id, new_text, opts);
}

void
slidge_contact_react(struct slidge_contact *c, const char *legacy_msg_id,
    const char *const *emojis, const struct slidge_send_opts *opts)
{
	CHECK_CONTACT(c);
	if (legacy_msg_id != NULL && *legacy_msg_id != '\0')
		chat_react(c, legacy_msg_id, emojis, NULL, opts);
}

void
slidge_contact_retract(struct slidge_contact *c, const char *legacy_msg_id,
    const struct slidge_send_opts *opts)
{
	CHECK_CONTACT(c);
	if (legacy_msg_id != NULL && *legacy_msg_id != '\0')
		chat_retract(c, legacy_msg_id, opts);
}

void
slidge_contact_ack(struct slidge_contact *c, const char *legacy_msg_id,
    const struct slidge_send_opts *opts)
{
	CHECK_CONTACT(c);
	if (legacy_msg_id != NULL && *legacy_msg_id != '\0')
		chat_marker(c, "acknowledged", legacy_msg_id, opts);
}

void
slidge_contact_received(struct slidge_contact *c, const char *legacy_msg_id,
    const struct slidge_send_opts *opts)
{
	CHECK_CONTACT(c);
	if (legacy_msg_id != NULL && *legacy_msg_id != '\0')
		chat_marker(c, "received", legacy_msg_id, opts);
}

void
slidge_contact_displayed(struct slidge_contact *c, const char *legacy_msg_id,
    const struct slidge_send_opts *opts)
{
	CHECK_CONTACT(c);
	if (legacy_msg_id != NULL && *legacy_msg_id != '\0')
		chat_marker(c, "displayed", legacy_msg_id, opts);
}

void
slidge_contact_composing(struct slidge_contact *c)
{
	CHECK_CONTACT(c);
	chat_state(c, "composing");
}

void
slidge_contact_paused(struct slidge_contact *c)
{
	CHECK_CONTACT(c);
	chat_state(c, "paused");
}

void
slidge_contact_active(struct slidge_contact *c)
{
	CHECK_CONTACT(c);
	chat_state(c, "active");
}

void
slidge_contact_inactive(struct slidge_contact *c)
{
	CHECK_CONTACT(c);
	chat_state(c, "inactive");
}

void
slidge_contact_gone(struct slidge_contact *c)
{
	CHECK_CONTACT(c);
	chat_state(c, "gone");
}

/* ---- contact presentation (half B: avatar.c, vcard.c, contact.c, search.c) ---------- */

void
slidge_contact_set_avatar(struct slidge_contact *c, const void *data, size_t len,
    const char *unique_id)
{
	struct avatar *a = NULL;

	CHECK_CONTACT(c);
	if (data != NULL && len > 0 && (a = avatar_new(data, len, unique_id)) == NULL)
		return;   /* logged */
	avatar_contact_set(c, a);
}

int
slidge_contact_set_avatar_path(struct slidge_contact *c, const char *path,
    const char *unique_id)
{
	FILE *f;
	unsigned char *data = NULL, *p;
	size_t len = 0, cap = 0, n;
	int rc = -1;

	CHECK_CONTACT(c, -1);
	if (path == NULL || (f = fopen(path, "rb")) == NULL) {
		log_warn("%s: cannot open the avatar file", c->jid);
		return -1;
	}
	/* Read the whole file, bounded (avatar_new refuses what is too large anyway). */
	for (;;) {
		if (len == cap) {
			if (cap >= (16u << 20) || (p = realloc(data, cap ? cap * 2 : 65536)) == NULL)
				goto done;
			data = p;
			cap = cap ? cap * 2 : 65536;
		}
		if ((n = fread(data + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f) || len == 0)
		goto done;
	slidge_contact_set_avatar(c, data, len, unique_id);
	rc = 0;
done:
	if (rc < 0)
		log_warn("%s: cannot read the avatar file", c->jid);
	fclose(f);
	free(data);
	return rc;
}

const char *
slidge_contact_avatar_id(const struct slidge_contact *c)
{
	CHECK_CONTACT(c, NULL);
	return c->avatar != NULL ? c->avatar->unique_id : NULL;
}

void
slidge_contact_set_vcard(struct slidge_contact *c, const struct slidge_vcard *v)
{
	CHECK_CONTACT(c);
	vcard_contact_set(c, v);
}

void
slidge_contact_set_client_type(struct slidge_contact *c, const char *type)
{
	char *t = NULL;

	CHECK_CONTACT(c);
	if (type != NULL && *type != '\0' && (t = strdup(type)) == NULL) {
		log_error("out of memory setting a client type");
		return;
	}
	free(c->client_type);
	c->client_type = t;
}

void
slidge_contact_send_friend_request(struct slidge_contact *c, const char *text)
{
	CHECK_CONTACT(c);
	contact_friend_request(c, text);
}

void
slidge_contact_accept_friend_request(struct slidge_contact *c, const char *text)
{
	CHECK_CONTACT(c);
	contact_friend_accept(c, text);
}

void
slidge_contact_reject_friend_request(struct slidge_contact *c, const char *text)
{
	CHECK_CONTACT(c);
	contact_friend_reject(c, text);
}

void
slidge_search_field(struct slidge_reply *r, const char *var, const char *label,
    const char *type)
{
	search_reply_field(r, var, label, type);
}

void
slidge_search_item(struct slidge_reply *r, const char *const *values)
{
	search_reply_item(r, values);
}
