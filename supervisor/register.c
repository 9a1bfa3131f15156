/* register.c: XEP-0077 in-band registration on the component (reference/slidge.md §6.1).
 *
 * The form comes from the module's registration fields (learnt from a worker's
 * MANIFEST). The submitted values are checked in a register worker started for that one
 * registration, never in the supervisor, which never runs module code. On success the
 * user is written to the store and its session worker starts. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jid.h"
#include "log.h"
#include "slidged.h"
#include "xml.h"

#define NS_REGISTER "jabber:iq:register"
#define NS_DATA "jabber:x:data"
#define VALIDATE_TIMEOUT 120.0

/* Field names XEP-0077 defines as plain elements of the query. */
static const char *const ibr_fields[] = {
	"username", "nick", "password", "name", "first", "last", "email", "address", "city",
	"state", "zip", "phone", "url", "date", "misc", "text", "key", NULL
};

/* One registration waiting for its register worker. */
struct pending {
	struct pending *next;
	char *bare;
	char *from;             /* full JID the iq came from */
	char *to;               /* what it was addressed to */
	char *id;
	int existing;           /* an update of a registration */
	struct proto_list form; /* submitted values (KV) */
	struct proto_list data; /* the stored legacy_module_data of an existing user */
	struct worker *w;
	ev_timer timeout;
	int answered;
};

static struct pending *pendings;
static uint64_t next_validate_id;

static int
is_ibr_field(const char *var)
{
	size_t i;

	for (i = 0; ibr_fields[i]; i++)
		if (strcmp(ibr_fields[i], var) == 0)
			return 1;
	return 0;
}

static struct pending *
pending_find(const char *bare)
{
	struct pending *p;

	for (p = pendings; p; p = p->next)
		if (strcmp(p->bare, bare) == 0)
			return p;
	return NULL;
}

static void
pending_free(struct pending *p)
{
	struct pending **pp;

	for (pp = &pendings; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	ev_timer_stop(G.loop, &p->timeout);
	if (p->w)
		workers_stop(p->w, "registration done");
	free(p->bare);
	free(p->from);
	free(p->to);
	free(p->id);
	/* The form may hold a password. */
	for (size_t i = 0; i < p->form.n; i++)
		explicit_bzero(p->form.v[i], strlen(p->form.v[i]));
	proto_list_free(&p->form);
	proto_list_free(&p->data);
	free(p);
}

static void
pending_error(struct pending *p, const char *condition, const char *text)
{
	if (p->answered)
		return;
	p->answered = 1;
	route_error_attrs("iq", p->to, p->from, p->id, NULL, condition, text);
}

/* The <x type='form'> of registration, pre-filled for an existing user. */
static void
register_form(struct buf *b, const struct store_user *existing)
{
	size_t i, j;

	buf_puts(b, "<x xmlns='" NS_DATA "' type='form'><title>Registration to '");
	buf_put_xml_escaped(b, G.man.component_name ? G.man.component_name : G.jid);
	buf_puts(b, "'</title>");
	if (G.man.registration_instructions && *G.man.registration_instructions) {
		buf_puts(b, "<instructions>");
		buf_put_xml_escaped(b, G.man.registration_instructions);
		buf_puts(b, "</instructions>");
	}
	buf_puts(b, "<field type='hidden' var='FORM_TYPE'><value>" NS_REGISTER "</value></field>");
	for (i = 0; i < G.man.registration_fields.n; i++) {
		const struct proto_list *f = &G.man.registration_fields.rows[i];
		const char *var = f->v[PROTO_FIELD_VAR];
		const char *value = f->v[PROTO_FIELD_VALUE];
		const char *prev = existing ? proto_kv_get(&existing->data, var) : NULL;

		buf_puts(b, "<field var='");
		buf_put_xml_escaped(b, var);
		buf_puts(b, "' type='");
		buf_put_xml_escaped(b, f->v[PROTO_FIELD_TYPE]);
		buf_puts(b, "'");
		if (*f->v[PROTO_FIELD_LABEL]) {
			buf_puts(b, " label='");
			buf_put_xml_escaped(b, f->v[PROTO_FIELD_LABEL]);
			buf_puts(b, "'");
		}
		buf_puts(b, ">");
		if (*f->v[PROTO_FIELD_DESC]) {
			buf_puts(b, "<desc>");
			buf_put_xml_escaped(b, f->v[PROTO_FIELD_DESC]);
			buf_puts(b, "</desc>");
		}
		if (strcmp(f->v[PROTO_FIELD_REQUIRED], "1") == 0)
			buf_puts(b, "<required/>");
		if (prev)
			value = prev;
		if (value && *value) {
			buf_puts(b, "<value>");
			buf_put_xml_escaped(b, value);
			buf_puts(b, "</value>");
		}
		for (j = PROTO_FIELD_OPTIONS; j + 1 < f->n; j += 2) {
			buf_puts(b, "<option label='");
			buf_put_xml_escaped(b, f->v[j + 1]);
			buf_puts(b, "'><value>");
			buf_put_xml_escaped(b, f->v[j]);
			buf_puts(b, "</value></option>");
		}
		buf_puts(b, "</field>");
	}
	if (existing)
		buf_puts(b, "<field var='remove' type='boolean' label='Remove my registration'>"
		    "<required/><value>0</value></field>");
	buf_puts(b, "</x>");
}

int
register_missing_field(const struct proto_list *vals, char *text, size_t textsz)
{
	size_t i;

	for (i = 0; i < G.man.registration_fields.n; i++) {
		const struct proto_list *f = &G.man.registration_fields.rows[i];
		const char *val = proto_kv_get(vals, f->v[PROTO_FIELD_VAR]);

		if (strcmp(f->v[PROTO_FIELD_REQUIRED], "1") == 0 && (!val || !*val)) {
			snprintf(text, textsz, "Missing field: '%.400s'",
			    *f->v[PROTO_FIELD_LABEL] ? f->v[PROTO_FIELD_LABEL] : f->v[PROTO_FIELD_VAR]);
			return 1;
		}
	}
	return 0;
}

static void
register_get(xmlNodePtr iq, const char *bare)
{
	struct buf b = BUF_INIT;
	struct store_user existing = { 0 };
	int have = store_get(bare, &existing) == 0;
	size_t i;

	buf_puts(&b, "<query xmlns='" NS_REGISTER "'><instructions>");
	buf_put_xml_escaped(&b, G.man.registration_instructions && *G.man.registration_instructions
	    ? G.man.registration_instructions : "Enter your credentials");
	buf_puts(&b, "</instructions>");
	if (have)
		buf_puts(&b, "<registered/>");
	/* Plain XEP-0077 fields for clients without data forms. */
	for (i = 0; i < G.man.registration_fields.n; i++) {
		const char *var = G.man.registration_fields.rows[i].v[PROTO_FIELD_VAR];
		const char *prev = have ? proto_kv_get(&existing.data, var) : NULL;

		if (!is_ibr_field(var))
			continue;
		if (prev && strcmp(var, "password") != 0) {
			buf_printf(&b, "<%s>", var);
			buf_put_xml_escaped(&b, prev);
			buf_printf(&b, "</%s>", var);
		} else {
			buf_printf(&b, "<%s/>", var);
		}
	}
	register_form(&b, have ? &existing : NULL);
	buf_puts(&b, "</query>");
	route_iq_result(iq, b.data);
	buf_free(&b, 0);
	if (have)
		store_user_free(&existing);
}

/* Collect the submitted values: the data form if there is one, else plain fields.
 * Returns 1 if the user asked to be removed, 0 otherwise, -1 on a malformed form. */
static int
register_collect(xmlNodePtr q, struct proto_list *form)
{
	xmlNodePtr x = xml_child(q, "x", NS_DATA), c;
	int remove = xml_child(q, "remove", NS_REGISTER) != NULL;

	if (x) {
		const char *xt = xml_attr(x, "type");
		struct proto_list all = { 0 };
		size_t i;

		if (xt && strcmp(xt, "submit") != 0)
			return -1;
		if (form_values(x, &all) < 0) {
			proto_list_free(&all);
			return -1;
		}
		/* "remove" is the form's own field, not the module's. */
		for (i = 0; i + 1 < all.n; i += 2) {
			if (strcmp(all.v[i], "remove") == 0) {
				if (!strcmp(all.v[i + 1], "1") || !strcmp(all.v[i + 1], "true"))
					remove = 1;
			} else if (proto_kv_set(form, all.v[i], all.v[i + 1]) < 0) {
				proto_list_free(&all);
				return -1;
			}
		}
		for (i = 0; i < all.n; i++)
			explicit_bzero(all.v[i], strlen(all.v[i]));
		proto_list_free(&all);
		return remove;
	}
	for (c = xml_first_elem(q); c; c = xml_next_elem(c)) {
		const char *name = (const char *)c->name;
		char *t;

		if (!is_ibr_field(name))
			continue;
		t = xml_text(c);
		if (proto_kv_set(form, name, t ? t : "") < 0) {
			free(t);
			return -1;
		}
		if (t) {
			explicit_bzero(t, strlen(t));
			free(t);
		}
	}
	return remove;
}

int
register_validate(struct worker *w, const char *step, const char *user_jid,
    const struct proto_list *form, const struct proto_list *data)
{
	struct proto_val v[VALIDATE__NFIELDS] = { 0 };

	v[VALIDATE_id].u = ++next_validate_id;
	v[VALIDATE_step].s = step;
	v[VALIDATE_user_jid].s = user_jid;
	if (form)
		v[VALIDATE_form].list = *form;
	if (data)
		v[VALIDATE_data].list = *data;
	return workers_send(w, PROTO_VALIDATE, v);
}

static void
reg_manifest(struct worker *w, void *arg)
{
	struct pending *p = arg;

	if (register_validate(w, "form", p->bare, &p->form, &p->data) < 0) {
		pending_error(p, "internal-server-error", "Could not reach the legacy module");
		pending_free(p);
	}
}

static void
reg_result(struct worker *w, struct proto_msg *m, void *arg)
{
	struct pending *p = arg;
	const char *cond = m->v[VALIDATE_RESULT_condition].s;
	struct store_user rec = { 0 };
	struct user *u;
	size_t i;

	(void)w;
	if (cond && *cond) {
		log_info("register: %s refused: %s", p->bare, cond);
		pending_error(p, cond, m->v[VALIDATE_RESULT_text].s);
		pending_free(p);
		return;
	}
	rec.jid = p->bare;
	rec.data = m->v[VALIDATE_RESULT_data].list;
	u = workers_find(p->bare);
	if (p->existing && u) {
		struct store_user old = { 0 };
		if (store_get(p->bare, &old) == 0) {
			rec.registered = old.registered;
			rec.preferences = old.preferences;
		}
		if (store_put(&rec) < 0) {
			store_user_free(&old);
			pending_error(p, "internal-server-error", "Could not save the registration");
			pending_free(p);
			return;
		}
		workers_update_user(u, &rec);
		store_user_free(&old);
		log_info("register: %s updated the registration", p->bare);
	} else {
		/* IBR skips slidge's preferences step: preferences stay empty (§6.1). */
		rec.registered = (uint64_t)time(NULL);
		if (store_put(&rec) < 0 || workers_add_user(&rec, 1) < 0) {
			store_del(p->bare);
			pending_error(p, "internal-server-error", "Could not save the registration");
			pending_free(p);
			return;
		}
		log_info("register: %s registered", p->bare);
		for (i = 0; i < G.cfg.nadmins; i++) {
			char text[JID_BUF + 32];
			snprintf(text, sizeof text, "%s has registered", p->bare);
			route_gateway_message(G.cfg.admins[i], text);
		}
	}
	p->answered = 1;
	route_iq_result_attrs(p->to, p->from, p->id, NULL);
	pending_free(p);
}

static void
reg_died(struct worker *w, const char *why, void *arg)
{
	struct pending *p = arg;

	(void)w;
	log_warn("register: the register worker for %s failed: %s", p->bare, why);
	p->w = NULL;
	pending_error(p, "internal-server-error",
	    "The legacy module failed while checking the registration");
	pending_free(p);
}

static const struct register_ops reg_ops = {
	.manifest = reg_manifest,
	.result = reg_result,
	.died = reg_died,
};

static void
reg_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct pending *p = (struct pending *)((char *)t - offsetof(struct pending, timeout));

	(void)loop;
	(void)revents;
	pending_error(p, "remote-server-timeout", "The legacy network did not answer in time");
	pending_free(p);
}

static void
register_set(xmlNodePtr iq, xmlNodePtr q, const char *bare)
{
	struct pending *p;
	struct store_user existing = { 0 };
	int have, remove;

	if (pending_find(bare)) {
		route_error(iq, NULL, "resource-constraint",
		    "A registration for this account is already in progress");
		return;
	}
	p = calloc(1, sizeof *p);
	if (!p) {
		route_error(iq, NULL, "resource-constraint", "Out of memory");
		return;
	}
	remove = register_collect(q, &p->form);
	if (remove < 0) {
		proto_list_free(&p->form);
		free(p);
		route_error(iq, NULL, "bad-request", "The registration form is malformed");
		return;
	}
	have = store_get(bare, &existing) == 0;
	if (remove) {
		proto_list_free(&p->form);
		free(p);
		if (have)
			store_user_free(&existing);
		if (!have || !workers_find(bare)) {
			route_error(iq, NULL, "registration-required",
			    "You are not registered to this gateway");
			return;
		}
		route_iq_result(iq, NULL);
		register_unregister(bare, "in-band unregistration");
		return;
	}
	{
		char text[512];

		if (register_missing_field(&p->form, text, sizeof text)) {
			proto_list_free(&p->form);
			free(p);
			if (have)
				store_user_free(&existing);
			route_error(iq, "modify", "not-acceptable", text);
			return;
		}
	}
	p->bare = strdup(bare);
	p->from = strdup(xml_attr(iq, "from"));
	p->to = strdup(xml_attr(iq, "to"));
	p->id = strdup(xml_attr(iq, "id") ? xml_attr(iq, "id") : "");
	p->existing = have;
	if (have) {
		proto_list_copy(&p->data, &existing.data);
		store_user_free(&existing);
	}
	if (!p->bare || !p->from || !p->to || !p->id) {
		route_error(iq, NULL, "resource-constraint", "Out of memory");
		pending_free(p);
		return;
	}
	p->next = pendings;
	pendings = p;
	ev_timer_init(&p->timeout, reg_timeout_cb, VALIDATE_TIMEOUT, 0.);
	ev_timer_start(G.loop, &p->timeout);
	p->w = workers_spawn_register(&reg_ops, p);
	if (!p->w) {
		pending_error(p, "internal-server-error", "Could not start the legacy module");
		pending_free(p);
	}
}

void
register_iq(xmlNodePtr iq, const char *from_bare)
{
	const char *type = xml_attr(iq, "type");
	xmlNodePtr q = xml_first_elem(iq);

	if (!type || (strcmp(type, "get") && strcmp(type, "set")))
		return;
	if (!route_jid_allowed(from_bare)) {
		route_error(iq, "cancel", "not-allowed",
		    "Your account is not allowed to use this gateway.");
		return;
	}
	/* Only SINGLE_STEP_FORM registers in band; the other flows need several steps. The
	 * <remove/> of an existing registration works whatever the flow. */
	if (G.man.registration_type != 0 &&
	    !(strcmp(type, "set") == 0 && xml_child(q, "remove", NS_REGISTER))) {
		route_error(iq, "modify", "bad-request",
		    "You must use adhoc commands to register to this gateway.");
		return;
	}
	if (strcmp(type, "get") == 0)
		register_get(iq, from_bare);
	else
		register_set(iq, q, from_bare);
}

void
register_unregister(const char *bare, const char *why)
{
	struct user *u = workers_find(bare);

	if (!u)
		return;
	log_info("register: %s unregistered (%s)", bare, why);
	/* Forget the user first: a crash now must not bring the registration back. */
	if (store_del(bare) < 0)
		log_error("register: could not delete %s from the store", bare);
	workers_remove_user(u, 1);
}

void
register_free(void)
{
	/* At shutdown the register workers are gone already: nothing to stop. */
	while (pendings != NULL) {
		pendings->w = NULL;
		pending_free(pendings);
	}
}
