/* adhoc.c: the XEP-0050 commands the supervisor runs itself (reference/slidge.md §5, §6.2).
 *
 * Only what needs no user session lives here: the registration command (node
 * jabber:iq:register, for people who are not registered yet) and the administration
 * category (info, list_users, delete_user, loglevel), which work on the registration
 * store. Everything a user does inside a session is the worker's. As with in-band
 * registration, the module's validate() and validate_two_factor_code() run in a register
 * worker kept for the length of the command, never in the supervisor. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build_config.h"
#include "commands.h"
#include "jid.h"
#include "log.h"
#include "qrflow.h"
#include "slidged.h"
#include "xml.h"

#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_DATA "jabber:x:data"
#define NODE_REGISTER "jabber:iq:register"
#define NODE_PREFIX "https://slidge.im/command/core/"
#define NODE_ADMIN NODE_PREFIX "admin"
#define NODE_INFO NODE_PREFIX "admin/info"
#define NODE_LIST_USERS NODE_PREFIX "admin/list_users"
#define NODE_DELETE_USER NODE_PREFIX "admin/delete_user"
#define NODE_LOGLEVEL NODE_PREFIX "admin/loglevel"
#define SESSION_TTL 600.0
#define REGISTRATION_2FA 1    /* MANIFEST.registration_type: legacy.h's SLIDGE_TWO_FACTOR_CODE */

enum step {
	S_REG_FORM,      /* waiting for the registration form */
	S_REG_VALIDATE,  /* validate() running */
	S_REG_2FA,       /* waiting for the code */
	S_REG_2FA_CHECK, /* validate_two_factor_code() running */
	S_REG_QR_SHOW,   /* get_qr_text(), the upload, the messages (qrflow.c) */
	S_REG_QR,        /* waiting for the user to submit "Flash this" */
	S_REG_QR_WAIT,   /* waiting for the module's confirm_qr */
	S_REG_PREFS,     /* waiting for the preferences */
	S_ADMIN_MENU,    /* waiting for the choice in the admin category */
	S_DELETE_FORM,   /* waiting for the JID to delete */
	S_DELETE_CONFIRM,
	S_LOGLEVEL_FORM,
};

struct cmd {
	struct cmd *next;
	char sid[48];
	char *node;
	char *bare, *full;     /* who runs it: only they may continue it */
	enum step step;
	struct proto_list data;  /* legacy_module_data gathered so far */
	char *victim;            /* delete_user */
	struct worker *w;        /* register worker */
	char *iq_id, *iq_to;     /* the iq waiting for the worker's answer */
	int chat;                /* registration by chat (chatcmd.c plays the forms) */
	struct qrflow qr;        /* the QR step (registration_type QRCODE) */
	ev_timer ttl;
};

static struct cmd *cmds;
static unsigned long long serial;

/* ---- building replies --------------------------------------------------------------- */

static void
put_attr(struct buf *b, const char *name, const char *value)
{
	buf_printf(b, " %s='", name);
	buf_put_xml_escaped(b, value ? value : "");
	buf_puts(b, "'");
}

static void
put_elem(struct buf *b, const char *name, const char *text)
{
	buf_printf(b, "<%s>", name);
	buf_put_xml_escaped(b, text);
	buf_printf(b, "</%s>", name);
}

/* <iq type=result><command ... status=...> + body + </command></iq> */
static void
reply(const char *to, const char *from, const char *id, const char *node, const char *sid,
    const char *status, const char *body)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "<iq type='result'");
	put_attr(&b, "from", from);
	put_attr(&b, "to", to);
	put_attr(&b, "id", id);
	buf_puts(&b, "><command xmlns='" NS_COMMANDS "'");
	put_attr(&b, "node", node);
	if (sid)
		put_attr(&b, "sessionid", sid);
	put_attr(&b, "status", status);
	buf_puts(&b, ">");
	if (strcmp(status, "executing") == 0)
		buf_puts(&b, "<actions execute='next'><next/></actions>");
	if (body)
		buf_puts(&b, body);
	buf_puts(&b, "</command></iq>");
	if (b.data && component_send(b.data, b.len) < 0)
		log_warn("adhoc: reply to %s could not be queued", to);
	buf_free(&b, 0);
}

static void
form_start(struct buf *b, const char *title, const char *instructions)
{
	buf_puts(b, "<x xmlns='" NS_DATA "' type='form'>");
	if (title)
		put_elem(b, "title", title);
	if (instructions && *instructions)
		put_elem(b, "instructions", instructions);
}

static void
field(struct buf *b, const char *var, const char *type, const char *label, int required,
    const char *value)
{
	buf_puts(b, "<field");
	put_attr(b, "var", var);
	put_attr(b, "type", type);
	if (label)
		put_attr(b, "label", label);
	buf_puts(b, ">");
	if (required)
		buf_puts(b, "<required/>");
	if (value)
		put_elem(b, "value", value);
}

/* ---- sessions ------------------------------------------------------------------------ */

static void
cmd_free(struct cmd *c)
{
	struct cmd **pp;
	size_t i;

	for (pp = &cmds; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	ev_timer_stop(G.loop, &c->ttl);
	qrflow_clear(&c->qr);
	if (c->chat)
		chatcmd_forget(c);
	if (c->w)
		workers_stop(c->w, "command done");
	for (i = 0; i < c->data.n; i++)
		explicit_bzero(c->data.v[i], strlen(c->data.v[i]));
	proto_list_free(&c->data);
	free(c->node);
	free(c->bare);
	free(c->full);
	free(c->victim);
	free(c->iq_id);
	free(c->iq_to);
	free(c);
}

static void
ttl_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct cmd *c = (struct cmd *)((char *)t - offsetof(struct cmd, ttl));

	(void)loop;
	(void)revents;
	log_debug("adhoc: session %s of %s expired", c->sid, c->bare);
	cmd_free(c);
}

static struct cmd *
cmd_new(const char *node, const char *bare, const char *full)
{
	struct cmd *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	snprintf(c->sid, sizeof c->sid, "slidged-%llx-%llu", (unsigned long long)time(NULL),
	    ++serial);
	c->node = strdup(node);
	c->bare = strdup(bare);
	c->full = strdup(full);
	if (!c->node || !c->bare || !c->full) {
		free(c->node);
		free(c->bare);
		free(c->full);
		free(c);
		return NULL;
	}
	ev_timer_init(&c->ttl, ttl_cb, SESSION_TTL, 0.);
	ev_timer_start(G.loop, &c->ttl);
	c->next = cmds;
	cmds = c;
	return c;
}

static struct cmd *
cmd_find(const char *sid, const char *full)
{
	struct cmd *c;

	for (c = cmds; c; c = c->next)
		if (!c->chat && strcmp(c->sid, sid) == 0 && strcmp(c->full, full) == 0)
			return c;
	return NULL;
}

int
form_values(xmlNodePtr x, struct proto_list *kv)
{
	xmlNodePtr f, v;

	for (f = x ? xml_first_elem(x) : NULL; f; f = xml_next_elem(f)) {
		const char *var = xml_attr(f, "var");
		struct buf val = BUF_INIT;

		if (strcmp((const char *)f->name, "field") != 0 || !var || !strcmp(var, "FORM_TYPE"))
			continue;
		for (v = xml_first_elem(f); v; v = xml_next_elem(v)) {
			char *t;
			if (strcmp((const char *)v->name, "value") != 0)
				continue;
			t = xml_text(v);
			if (val.len)
				buf_puts(&val, "\n");
			buf_puts(&val, t ? t : "");
			free(t);
		}
		if (proto_kv_set(kv, var, val.data ? val.data : "") < 0) {
			buf_free(&val, 1);
			return -1;
		}
		buf_free(&val, 1);
	}
	return 0;
}

static int
is_true(const char *v)
{
	return v && (!strcmp(v, "1") || !strcmp(v, "true"));
}

static int
is_admin(const char *bare)
{
	size_t i;

	for (i = 0; i < G.cfg.nadmins; i++)
		if (jid_bare_equal(G.cfg.admins[i], bare))
			return 1;
	return 0;
}

int
adhoc_is_admin(const char *bare)
{
	return is_admin(bare);
}

/* ---- the registration command ------------------------------------------------------ */

/* One command, two front-ends (reference/slidge.md §5, §6.2): every step shows a form,
 * as x:data answering the iq that waits (ad-hoc), or played as a dialogue by chatcmd.c
 * (chat "register"); the answers come back to reg_step either way. */

static void reg_step(struct cmd *c, xmlNodePtr iq, struct proto_list *vals);

/* Append one field row (PROTO_FIELD_* columns) to t. -1 on OOM. */
static int
row_add(struct proto_table *t, const char *var, const char *type, const char *label,
    int required, const char *value)
{
	struct proto_list row = { 0 };
	int rc = -1;

	if (proto_list_add(&row, var) == 0 && proto_list_add(&row, type) == 0 &&
	    proto_list_add(&row, label ? label : "") == 0 &&
	    proto_list_add(&row, required ? "1" : "0") == 0 &&
	    proto_list_add(&row, value ? value : "") == 0 && proto_list_add(&row, "") == 0)
		rc = proto_table_add(t, &row);
	proto_list_free(&row);
	return rc;
}

/* The rows as x:data fields into b. */
static void
rows_xml(struct buf *b, const struct proto_table *rows)
{
	size_t i, j;

	for (i = 0; i < rows->n; i++) {
		const struct proto_list *f = &rows->rows[i];
		const char *value = f->v[PROTO_FIELD_VALUE];

		field(b, f->v[PROTO_FIELD_VAR], f->v[PROTO_FIELD_TYPE],
		    *f->v[PROTO_FIELD_LABEL] ? f->v[PROTO_FIELD_LABEL] : NULL,
		    strcmp(f->v[PROTO_FIELD_REQUIRED], "1") == 0, *value ? value : NULL);
		if (*f->v[PROTO_FIELD_DESC])
			put_elem(b, "desc", f->v[PROTO_FIELD_DESC]);
		for (j = PROTO_FIELD_OPTIONS; j + 1 < f->n; j += 2) {
			buf_puts(b, "<option");
			put_attr(b, "label", f->v[j + 1]);
			buf_puts(b, ">");
			put_elem(b, "value", f->v[j]);
			buf_puts(b, "</option>");
		}
		buf_puts(b, "</field>");
	}
}

static void
chat_error(const char *to, const char *text)
{
	char msg[4200];

	/* slidge's chat commands: an exception becomes "Error: <text>" */
	snprintf(msg, sizeof msg, "Error: %s", text);
	route_gateway_message(to, msg);
}

/* The command ends with an error: an iq error (ad-hoc) or "Error: text" (chat). */
static void
cmd_fail(struct cmd *c, const char *condition, const char *text)
{
	if (c->chat)
		chat_error(c->full, text && *text ? text : condition);
	else
		route_error_attrs("iq", c->iq_to ? c->iq_to : G.jid, c->full, c->iq_id, NULL,
		    condition, text);
	cmd_free(c);
}

/* The user's answer is refused: an error to iq (ad-hoc; end: the command ends too, else
 * the user may submit again), or "Error: text" and the end (chat). */
static void
reg_refuse(struct cmd *c, xmlNodePtr iq, const char *type, const char *condition,
    const char *text, int end)
{
	if (c->chat) {
		chat_error(c->full, text);
		cmd_free(c);
		return;
	}
	route_error(iq, type, condition, text);
	if (end)
		cmd_free(c);
}

static void
reg_chat_answers(void *arg, struct proto_list *answers)
{
	struct cmd *c = arg;

	if (answers == NULL) {
		cmd_free(c);    /* aborted, timed out or refused: the user was told */
		return;
	}
	reg_step(c, NULL, answers);
}

/* Show the next form. c may be gone when this returns (a chat form without questions
 * answers at once). */
static void
reg_show(struct cmd *c, const char *title, const char *instructions,
    const struct proto_table *rows, const char *xdata)
{
	struct buf b = BUF_INIT;

	if (c->chat) {
		if (chatcmd_form(c->full, title, instructions, rows, reg_chat_answers, c) < 0)
			cmd_fail(c, "resource-constraint", "Out of memory");
		return;
	}
	if (xdata == NULL) {
		form_start(&b, title, instructions);
		rows_xml(&b, rows);
		buf_puts(&b, "</x>");
		xdata = b.data;
	}
	reply(c->full, c->iq_to, c->iq_id, c->node, c->sid, "executing", xdata);
	buf_free(&b, 0);
}

/* Step 1: the module's registration form. */
static void
reg_start(struct cmd *c)
{
	char title[512];

	snprintf(title, sizeof title, "Registration to '%.400s'",
	    G.man.component_name ? G.man.component_name : G.jid);
	c->step = S_REG_FORM;
	reg_show(c, title, G.man.registration_instructions && *G.man.registration_instructions
	    ? G.man.registration_instructions : "Enter your credentials",
	    &G.man.registration_fields, NULL);
}

/* The last step: slidge's PREFERENCES (commands.h, as the preferences command). */
static void
reg_prefs(struct cmd *c)
{
	struct proto_table rows = { 0 };
	size_t i;

	c->step = S_REG_PREFS;
	for (i = 0; i < PROTO_NPREFS; i++)
		if (row_add(&rows, proto_prefs[i].var, "boolean", proto_prefs[i].label, 1,
		    proto_prefs[i].value) < 0) {
			proto_table_free(&rows);
			cmd_fail(c, "resource-constraint", "Out of memory");
			return;
		}
	reg_show(c, PROTO_PREFS_TITLE, PROTO_PREFS_INSTRUCTIONS, &rows, NULL);
	proto_table_free(&rows);
}

/* The module checks the step: park the iq, which its answer completes (ad-hoc), or hold
 * the user's messages meanwhile (chat). -1 on OOM. */
static int
cmd_wait(struct cmd *c, xmlNodePtr iq)
{
	if (c->chat)
		return chatcmd_busy(c->full, reg_chat_answers, c);
	free(c->iq_id);
	free(c->iq_to);
	c->iq_id = strdup(xml_attr(iq, "id") ? xml_attr(iq, "id") : "");
	c->iq_to = strdup(xml_attr(iq, "to"));
	return c->iq_id && c->iq_to ? 0 : -1;
}

static void
send_validate(struct cmd *c, const char *step, const struct proto_list *form)
{
	if (!c->w || register_validate(c->w, step, c->bare, form, &c->data) < 0)
		cmd_fail(c, "internal-server-error", "Could not reach the legacy module");
}

static void
reg_worker_manifest(struct worker *w, void *arg)
{
	struct cmd *c = arg;

	(void)w;
	send_validate(c, "form", &c->data);
}

static void
reg_worker_result(struct worker *w, struct proto_msg *m, void *arg)
{
	struct cmd *c = arg;
	const char *cond = m->v[VALIDATE_RESULT_condition].s;
	struct proto_table rows = { 0 };

	(void)w;
	if (cond && *cond) {
		log_info("adhoc: registration of %s refused: %s", c->bare, cond);
		cmd_fail(c, cond, m->v[VALIDATE_RESULT_text].s);
		return;
	}
	proto_list_free(&c->data);
	c->data = m->v[VALIDATE_RESULT_data].list;
	memset(&m->v[VALIDATE_RESULT_data].list, 0, sizeof(struct proto_list));
	if (c->step == S_REG_VALIDATE && G.man.registration_type == REGISTRATION_QRCODE) {
		/* The worker shows the code, then answers QR_SHOWN (reg_worker_qr). */
		c->step = S_REG_QR_SHOW;
		send_validate(c, "qr", NULL);
		return;
	}
	if (c->step != S_REG_VALIDATE || G.man.registration_type != REGISTRATION_2FA ||
	    (m->v[VALIDATE_RESULT_flags].u & PROTO_VALIDATE_NO_2FA)) {
		reg_prefs(c);
		return;
	}
	c->step = S_REG_2FA;
	if (row_add(&rows, "code", "text-single", "Code", 1, NULL) < 0) {
		cmd_fail(c, "resource-constraint", "Out of memory");
		return;
	}
	reg_show(c, "Enter your 2FA code",
	    "You should have received something via email or SMS, or something", &rows, NULL);
	proto_table_free(&rows);
}

static void
reg_worker_died(struct worker *w, const char *why, void *arg)
{
	struct cmd *c = arg;

	(void)w;
	c->w = NULL;
	log_warn("adhoc: the register worker for %s failed: %s", c->bare, why);
	/* While the user looks at the QR code no iq waits: the failure is the answer the
	 * user gets on submitting "Flash this". */
	if (c->step == S_REG_QR || c->step == S_REG_QR_WAIT) {
		qrflow_fail(&c->qr, "internal-server-error",
		    "The legacy module failed while waiting for the QR code to be flashed");
		return;
	}
	cmd_fail(c, "internal-server-error", "The legacy module failed while checking the registration");
}

/* The user submitted "Flash this" and the module answered (or the wait timed out). */
static void
reg_qr_answer(void *arg, const char *condition, const char *text)
{
	struct cmd *c = arg;

	if (condition) {
		log_info("adhoc: QR registration of %s refused: %s", c->bare, condition);
		cmd_fail(c, condition, text);
		return;
	}
	if (qrflow_merge(&c->qr, &c->data) < 0) {
		cmd_fail(c, "resource-constraint", "Out of memory");
		return;
	}
	reg_prefs(c);
}

/* QR_SHOWN (the code is out: the "Flash this" form) or QR_CONFIRM (the module's
 * confirm_qr, kept until the user submits the form). */
static void
reg_worker_qr(struct worker *w, struct proto_msg *m, void *arg)
{
	struct cmd *c = arg;
	struct buf b = BUF_INIT;
	struct proto_table rows = { 0 };
	const char *cond;

	(void)w;
	if (m->type == PROTO_QR_CONFIRM) {
		if (strcmp(m->v[QR_CONFIRM_user_jid].s, c->bare) != 0) {
			log_warn("adhoc: a QR confirmation for another JID than %s (ignored)", c->bare);
			return;
		}
		qrflow_confirm(&c->qr, m);
		return;
	}
	if (c->step != S_REG_QR_SHOW) {
		log_warn("adhoc: an unexpected QR_SHOWN for %s (ignored)", c->bare);
		return;
	}
	cond = m->v[QR_SHOWN_condition].s;
	if (*cond) {
		log_info("adhoc: the QR code for %s could not be shown: %s", c->bare, cond);
		cmd_fail(c, cond, m->v[QR_SHOWN_text].s);
		return;
	}
	/* A chat dialogue has nothing to ask here: it goes on to the wait at once. */
	c->step = S_REG_QR;
	if (row_add(&rows, "qr_img", "fixed", NULL, 0, m->v[QR_SHOWN_qr_text].s) < 0 ||
	    row_add(&rows, "qr_text", "fixed", QRFLOW_LABEL_TEXT, 0, m->v[QR_SHOWN_qr_text].s) < 0 ||
	    row_add(&rows, "qr_img_url", "fixed", QRFLOW_LABEL_URL, 0, m->v[QR_SHOWN_url].s) < 0) {
		proto_table_free(&rows);
		cmd_fail(c, "resource-constraint", "Out of memory");
		return;
	}
	qrflow_form(&b, m->v[QR_SHOWN_qr_text].s, m->v[QR_SHOWN_url].s);
	reg_show(c, QRFLOW_TITLE, QRFLOW_INSTRUCTIONS, &rows, b.data);
	proto_table_free(&rows);
	buf_free(&b, 0);
}

static const struct register_ops reg_ops = {
	.manifest = reg_worker_manifest,
	.result = reg_worker_result,
	.died = reg_worker_died,
	.qr = reg_worker_qr,
};

/* The last step answered: store the user, start the session, tell the admins. */
static void
reg_finish(struct cmd *c, xmlNodePtr iq, const struct proto_list *vals)
{
	struct store_user rec = { 0 };
	char text[JID_BUF + 32];
	size_t i;

	if (workers_find(c->bare)) {
		reg_refuse(c, iq, "modify", "bad-request",
		    "You are already registered to this gateway. Unregister first.", 1);
		return;
	}
	rec.jid = c->bare;
	rec.registered = (uint64_t)time(NULL);
	rec.data = c->data;
	for (i = 0; i < PROTO_NPREFS; i++)
		if (proto_kv_set(&rec.preferences, proto_prefs[i].var,
		    is_true(proto_kv_get(vals, proto_prefs[i].var)) ? "true" : "false") < 0)
			break;
	if (i < PROTO_NPREFS || store_put(&rec) < 0 || workers_add_user(&rec, 1) < 0) {
		store_del(c->bare);
		proto_list_free(&rec.preferences);
		reg_refuse(c, iq, NULL, "internal-server-error", "Could not save the registration", 1);
		return;
	}
	proto_list_free(&rec.preferences);
	log_info("adhoc: %s registered%s", c->bare, c->chat ? " by chat" : "");
	for (i = 0; i < G.cfg.nadmins; i++) {
		snprintf(text, sizeof text, "%s has registered", c->bare);
		route_gateway_message(G.cfg.admins[i], text);
	}
	if (c->chat)
		route_gateway_message(c->full, "Success, welcome!");
	else
		reply(xml_attr(iq, "from"), xml_attr(iq, "to"), xml_attr(iq, "id"), c->node, c->sid,
		    "completed", "<note type='info'>Success, welcome!</note>");
	cmd_free(c);
}

/* The user answered the current step (iq: the ad-hoc submit; NULL by chat). vals (KV)
 * may be taken. */
static void
reg_step(struct cmd *c, xmlNodePtr iq, struct proto_list *vals)
{
	char text[512];
	const char *code;

	switch (c->step) {
	case S_REG_FORM:
		if (register_missing_field(vals, text, sizeof text)) {
			reg_refuse(c, iq, "modify", "not-acceptable", text, 0);
			return;
		}
		proto_list_free(&c->data);
		c->data = *vals;
		*vals = (struct proto_list){ 0 };
		if (cmd_wait(c, iq) < 0)
			break;
		c->step = S_REG_VALIDATE;
		c->w = workers_spawn_register(&reg_ops, c);
		if (!c->w || workers_register_for(c->w, c->bare) < 0)
			cmd_fail(c, "internal-server-error", "Could not start the legacy module");
		return;
	case S_REG_2FA:
		code = proto_kv_get(vals, "code");
		if (!code || !*code) {
			reg_refuse(c, iq, "modify", "not-acceptable", "Missing field: 'Code'", 0);
			return;
		}
		if (cmd_wait(c, iq) < 0)
			break;
		c->step = S_REG_2FA_CHECK;
		send_validate(c, "2fa", vals);
		return;
	case S_REG_QR:
		/* slidge's Register.qr: the code was flashed (or not) on the legacy side. */
		if (cmd_wait(c, iq) < 0)
			break;
		c->step = S_REG_QR_WAIT;
		qrflow_wait(&c->qr, reg_qr_answer, c);
		return;
	case S_REG_PREFS:
		reg_finish(c, iq, vals);
		return;
	default:
		reg_refuse(c, iq, "modify", "bad-request",
		    "This step is still running; wait for its answer", 0);
		return;
	}
	reg_refuse(c, iq, NULL, "resource-constraint", "Out of memory", 1);
}

static void
reg_submit(struct cmd *c, xmlNodePtr iq, xmlNodePtr x)
{
	struct proto_list vals = { 0 };
	size_t i;

	if (form_values(x, &vals) < 0)
		reg_refuse(c, iq, NULL, "resource-constraint", "Out of memory", 1);
	else
		reg_step(c, iq, &vals);
	for (i = 0; i < vals.n; i++)
		explicit_bzero(vals.v[i], strlen(vals.v[i]));
	proto_list_free(&vals);
}

void
adhoc_chat_register(const char *full, const char *bare)
{
	struct cmd *c;

	if ((c = cmd_new(NODE_REGISTER, bare, full)) == NULL) {
		chat_error(full, "Out of memory");
		return;
	}
	c->chat = 1;
	log_info("adhoc: %s registers by chat", bare);
	reg_start(c);
}

/* ---- administration ---------------------------------------------------------------- */

void
adhoc_info_text(struct buf *b)
{
	char since[64];
	struct tm tm;

	gmtime_r(&G.started, &tm);
	strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S UTC", &tm);
	buf_printf(b, "%s (slidge-c core %s, %s %s)\nUp since %s",
	    G.man.component_name ? G.man.component_name : G.jid, SLIDGE_VERSION,
	    G.man.module ? G.man.module : "module", G.man.module_version ? G.man.module_version : "",
	    since);
}

static int
list_user_cb(const struct store_user *u, void *arg)
{
	struct buf *b = arg;
	char date[64];
	time_t t = (time_t)u->registered;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_puts(b, "<item><field var='jid'>");
	put_elem(b, "value", u->jid);
	buf_puts(b, "</field><field var='joined'>");
	put_elem(b, "value", date);
	buf_puts(b, "</field></item>");
	return 0;
}

/* Run one admin command's first step. */
static void
admin_run(struct cmd *c, xmlNodePtr iq, const char *node)
{
	struct buf b = BUF_INIT;
	const char *to = xml_attr(iq, "from"), *from = xml_attr(iq, "to"), *id = xml_attr(iq, "id");

	if (strcmp(node, NODE_INFO) == 0) {
		struct buf t = BUF_INIT;
		adhoc_info_text(&t);
		buf_puts(&b, "<note type='info'>");
		buf_put_xml_escaped(&b, t.data);
		buf_puts(&b, "</note>");
		buf_free(&t, 0);
		reply(to, from, id, node, c ? c->sid : NULL, "completed", b.data);
		if (c)
			cmd_free(c);
		goto done;
	}
	if (!is_admin(c->bare)) {
		route_error(iq, "auth", "not-authorized", "This command is for administrators only");
		cmd_free(c);
		goto done;
	}
	if (strcmp(node, NODE_LIST_USERS) == 0) {
		buf_puts(&b, "<x xmlns='" NS_DATA "' type='result'><title>List of registered users</title>"
		    "<reported><field var='jid' label='JID' type='jid-single'/>"
		    "<field var='joined' label='Registration date' type='text-single'/></reported>");
		store_foreach(list_user_cb, &b);
		buf_puts(&b, "</x>");
		reply(to, from, id, node, c->sid, "completed", b.data);
		cmd_free(c);
	} else if (strcmp(node, NODE_DELETE_USER) == 0) {
		form_start(&b, "Remove a slidge user", "Enter the bare JID of the user you want to delete");
		field(&b, "jid", "jid-single", "JID", 1, NULL);
		buf_puts(&b, "</field></x>");
		c->step = S_DELETE_FORM;
		reply(to, from, id, node, c->sid, "executing", b.data);
	} else if (strcmp(node, NODE_LOGLEVEL) == 0) {
		form_start(&b, "Change the verbosity of the logs", NULL);
		field(&b, "level", "list-single", "Log level", 1, log_level_name(log_get_level()));
		buf_puts(&b, "<option label='WARNING'><value>warning</value></option>"
		    "<option label='INFO'><value>info</value></option>"
		    "<option label='DEBUG'><value>debug</value></option></field></x>");
		c->step = S_LOGLEVEL_FORM;
		reply(to, from, id, node, c->sid, "executing", b.data);
	} else {
		route_error(iq, NULL, "item-not-found", "No such command");
		cmd_free(c);
	}
done:
	buf_free(&b, 0);
}

static void
admin_menu(struct cmd *c, xmlNodePtr iq)
{
	struct buf b = BUF_INIT;

	form_start(&b, "🛷️ Slidge administration", "Choose a command");
	field(&b, "command", "list-single", "Command", 1, NULL);
	buf_puts(&b, "<option label='Get info about the component'><value>" NODE_INFO "</value></option>");
	if (is_admin(c->bare))
		buf_puts(&b, "<option label='List registered users'><value>" NODE_LIST_USERS "</value></option>"
		    "<option label='Delete a user'><value>" NODE_DELETE_USER "</value></option>"
		    "<option label='Change the verbosity of the logs'><value>" NODE_LOGLEVEL "</value></option>");
	buf_puts(&b, "</field></x>");
	c->step = S_ADMIN_MENU;
	reply(xml_attr(iq, "from"), xml_attr(iq, "to"), xml_attr(iq, "id"), c->node, c->sid,
	    "executing", b.data);
	buf_free(&b, 0);
}

static void
admin_submit(struct cmd *c, xmlNodePtr iq, xmlNodePtr x)
{
	struct proto_list vals = { 0 };
	struct buf b = BUF_INIT;
	const char *to = xml_attr(iq, "from"), *from = xml_attr(iq, "to"), *id = xml_attr(iq, "id");
	char bare[JID_BUF];

	if (form_values(x, &vals) < 0) {
		route_error(iq, NULL, "resource-constraint", "Out of memory");
		cmd_free(c);
		return;
	}
	switch (c->step) {
	case S_ADMIN_MENU: {
		const char *node = proto_kv_get(&vals, "command");
		if (!node) {
			route_error(iq, "modify", "not-acceptable", "Missing field: 'Command'");
			break;
		}
		free(c->node);
		c->node = strdup(node);
		if (!c->node) {
			route_error(iq, NULL, "resource-constraint", "Out of memory");
			cmd_free(c);
			break;
		}
		admin_run(c, iq, node);
		break;
	}
	case S_DELETE_FORM: {
		const char *j = proto_kv_get(&vals, "jid");
		if (!j || jid_to_bare(j, bare, sizeof bare) < 0) {
			route_error(iq, "modify", "jid-malformed", "This is not a valid JID");
			break;
		}
		if (!workers_find(bare)) {
			route_error(iq, "cancel", "item-not-found", "There is no user with this JID");
			cmd_free(c);
			break;
		}
		c->victim = strdup(bare);
		form_start(&b, NULL, NULL);
		buf_printf(&b, "<field var='confirm' type='boolean' label='");
		buf_puts(&b, "Are you sure you want to unregister ");
		buf_put_xml_escaped(&b, bare);
		buf_puts(&b, "?'><required/></field></x>");
		c->step = S_DELETE_CONFIRM;
		reply(to, from, id, c->node, c->sid, "executing", b.data);
		break;
	}
	case S_DELETE_CONFIRM:
		if (is_true(proto_kv_get(&vals, "confirm")) && c->victim) {
			register_unregister(c->victim, "deleted by an administrator");
			reply(to, from, id, c->node, c->sid, "completed",
			    "<note type='info'>The user has been unregistered.</note>");
		} else {
			reply(to, from, id, c->node, c->sid, "canceled", NULL);
		}
		cmd_free(c);
		break;
	case S_LOGLEVEL_FORM: {
		int lvl = log_level_parse(proto_kv_get(&vals, "level") ? proto_kv_get(&vals, "level") : "");
		if (lvl < 0) {
			route_error(iq, "modify", "not-acceptable", "Unknown log level");
			break;
		}
		workers_set_loglevel(lvl);
		reply(to, from, id, c->node, c->sid, "completed",
		    "<note type='info'>The log level has been changed.</note>");
		cmd_free(c);
		break;
	}
	default:
		route_error(iq, "modify", "bad-request", "Unexpected step");
		break;
	}
	proto_list_free(&vals);
	buf_free(&b, 0);
}

/* ---- entry points -------------------------------------------------------------------- */

int
adhoc_owns(const char *node)
{
	return node && (!strcmp(node, NODE_REGISTER) || !strncmp(node, NODE_ADMIN, strlen(NODE_ADMIN)));
}

void
adhoc_disco_items(xmlNodePtr iq, const char *bare)
{
	struct buf b = BUF_INIT;

	/* slidge's AdhocProvider.get_items: what bare may run (chatcmd.c knows the table). */
	buf_puts(&b, "<query xmlns='http://jabber.org/protocol/disco#items' node='" NS_COMMANDS "'>");
	chatcmd_disco_items(&b, bare);
	buf_puts(&b, "</query>");
	route_iq_result(iq, b.data);
	buf_free(&b, 0);
}

void
adhoc_iq(xmlNodePtr iq, xmlNodePtr command, const char *bare)
{
	const char *node = xml_attr(command, "node");
	const char *action = xml_attr(command, "action");
	const char *sid = xml_attr(command, "sessionid");
	const char *from = xml_attr(iq, "from");
	xmlNodePtr x = xml_child(command, "x", NS_DATA);
	struct cmd *c;

	if (!route_jid_allowed(bare)) {
		route_error(iq, "modify", "bad-request", "Your JID is not allowed to use this gateway.");
		return;
	}
	if (!action)
		action = "execute";
	if (sid && *sid) {
		c = cmd_find(sid, from);
		if (!c) {
			route_error(iq, "modify", "bad-request", "This command session has expired or is unknown");
			return;
		}
		if (!strcmp(action, "cancel")) {
			reply(from, xml_attr(iq, "to"), xml_attr(iq, "id"), c->node, c->sid, "canceled", NULL);
			cmd_free(c);
			return;
		}
		if (!strcmp(c->node, NODE_REGISTER))
			reg_submit(c, iq, x);
		else
			admin_submit(c, iq, x);
		return;
	}
	if (strcmp(action, "execute") != 0) {
		route_error(iq, "modify", "bad-request", "Execute the command first");
		return;
	}
	if (!strcmp(node, NODE_REGISTER)) {
		if (workers_find(bare)) {
			route_error(iq, "modify", "bad-request",
			    "You are already registered to this gateway. Unregister first.");
			return;
		}
		if (!(c = cmd_new(node, bare, from))) {
			route_error(iq, NULL, "resource-constraint", "Out of memory");
			return;
		}
		if (cmd_wait(c, iq) < 0) {
			route_error(iq, NULL, "resource-constraint", "Out of memory");
			cmd_free(c);
			return;
		}
		reg_start(c);
		return;
	}
	if (!strcmp(node, NODE_INFO)) {
		admin_run(NULL, iq, node);
		return;
	}
	if (!strcmp(node, NODE_ADMIN) || !strcmp(node, NODE_LIST_USERS) ||
	    !strcmp(node, NODE_DELETE_USER) || !strcmp(node, NODE_LOGLEVEL)) {
		if (!(c = cmd_new(node, bare, from))) {
			route_error(iq, NULL, "resource-constraint", "Out of memory");
			return;
		}
		if (!strcmp(node, NODE_ADMIN))
			admin_menu(c, iq);
		else
			admin_run(c, iq, node);
		return;
	}
	/* A session's command from someone without a session: slidge's access error. */
	if (chatcmd_adhoc_check(iq, node, bare))
		return;
	route_error(iq, "cancel", "item-not-found", "No such command");
}

void
adhoc_free(void)
{
	/* At shutdown the workers are gone already: nothing to stop. */
	while (cmds != NULL) {
		cmds->w = NULL;
		cmd_free(cmds);
	}
}
