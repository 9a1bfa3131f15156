/* cmd.c: one command engine, two front-ends (reference/slidge.md §2.8, §5).
 *
 * A command (struct slidge_command: the core's or the module's) runs as a struct
 * slidge_cmd. Each step of it (run, or the callback of a form or a confirmation) answers
 * with exactly one response: a text, nothing, an error, a table (the command ends), or a
 * form or a confirmation (the user answers, the next step runs). Steps may answer later,
 * so the engine never waits: it remembers what the user was asked and renders each
 * response for the front-end the command was started from:
 *   - ad-hoc (XEP-0050): every step answers the iq that carried the user's last action
 *     (the iq is acked to slidged only then), forms are x:data, tables x:data results
 *     with <reported>, texts notes;
 *   - chat (slidge's chat_command.py): forms become a dialogue, one question per field
 *     through input(), options and yes/no as xmpp: links, "abort" cancels; tables are
 *     lines of "label: value".
 * input() captures the user's next message to the gateway; it has a timeout (60 s, or
 * the environment variable SLIDGE_INPUT_TIMEOUT in seconds, for tests). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "log.h"
#include "xml.h"

#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_DATA "jabber:x:data"
#define NS_RECEIPTS "urn:xmpp:receipts"
#define CMD_TTL 600.0                /* an idle ad-hoc session is forgotten after this */
#define ARGS_MAX 64
#define VALUES_MAX 64

enum cmd_fe { FE_ADHOC, FE_CHAT };
enum cmd_wait { W_NONE, W_FORM, W_CONFIRM };

struct slidge_cmd {
	struct slidge_cmd *next;
	const struct slidge_command *command;
	enum cmd_fe fe;
	char sid[48];
	char *node;                      /* the node executed (a command or a category) */
	char user[JID_BUF];              /* full JID of the caller: only they continue it */
	char gw[JID_BUF];                /* the address it was sent to */
	char msg_type[16];               /* chat: the type of the user's message */
	/* ad-hoc: the iq waiting for this step's answer */
	int have_iq;
	uint64_t seq;
	char *iq_id;
	/* chat: a receipt to send with the first answer */
	char *receipt;
	int dead;                        /* cancelled while a step ran: drop its answer */
	/* what the user is asked */
	enum cmd_wait wait;
	struct slidge_form_field *fields;
	size_t nfields;
	char *title, *instructions, *success;
	slidge_cmd_form_cb *form_cb;
	slidge_cmd_confirm_cb *confirm_cb;
	void *arg;
	char *success_now;               /* replaces the text of this step's answer */
	/* chat dialogue */
	size_t ask;
	struct proto_list answers;       /* KV */
	ev_timer ttl;
};

static struct slidge_cmd *cmds;
static unsigned long long serial;
static int user_is_admin;          /* USER_ADMIN from slidged */

static struct {
	void (*cb)(struct slidge_session *, const char *, void *);
	void *arg;
	int active;
	ev_timer timer;
} input;

/* ---- commands the session serves ----------------------------------------------- */

static const struct {
	const char *key, *name;
} categories[] = {
	{ "contacts", "👤 Contacts" },
	{ "groups", "👥 Groups" },
};

/* The i-th command (core ones first), NULL past the end. */
static const struct slidge_command *
cmd_nth(size_t i)
{
	size_t n = 0;

	while (cmd_builtins[n].name != NULL)
		n++;
	if (i < n)
		return &cmd_builtins[i];
	i -= n;
	for (n = 0; module->commands != NULL && module->commands[n].name != NULL; n++)
		if (n == i)
			return &module->commands[n];
	return NULL;
}

/* The command with this node (keyword 0) or chat keyword (keyword 1), or NULL. */
static const struct slidge_command *
cmd_find(const char *name, int keyword)
{
	const struct slidge_command *k;
	const char *v;
	size_t i;

	for (i = 0; (k = cmd_nth(i)) != NULL; i++) {
		v = keyword ? k->chat_command : k->node;
		if (v != NULL && strcmp(v, name) == 0)
			return k;
	}
	return NULL;
}

/* The category whose node is node, or -1. */
static int
category_of_node(const char *node)
{
	size_t i, n = strlen(CMD_NODE_PREFIX);

	if (strncmp(node, CMD_NODE_PREFIX, n) != 0)
		return -1;
	for (i = 0; i < sizeof categories / sizeof categories[0]; i++)
		if (strcmp(node + n, categories[i].key) == 0)
			return (int)i;
	return -1;
}

/* slidge's Command.raise_if_not_authorized for a registered user of this session: 0,
 * or -1 with the error. slidged says whether the user is an admin (USER_ADMIN, before
 * START); it checks ad-hoc ADMIN_ONLY commands too before they get here. */
static int
cmd_access(const struct slidge_command *k, enum cmd_fe fe, const char **cond,
    const char **text)
{
	switch (k->access) {
	case SLIDGE_ACCESS_ADMIN_ONLY:
		if (user_is_admin)
			return 0;
		*cond = SLIDGE_NOT_AUTHORIZED;
		*text = "This command is for administrators only";
		return -1;
	case SLIDGE_ACCESS_NON_USER:
		*cond = SLIDGE_BAD_REQUEST;
		*text = "This is only available for non-users. Unregister first.";
		return -1;
	case SLIDGE_ACCESS_USER_LOGGED:
		if (session_logged())
			return 0;
		*cond = SLIDGE_FORBIDDEN;
		*text = "This is only available when you are logged in to the legacy service";
		return -1;
	case SLIDGE_ACCESS_USER_NON_LOGGED:
		if (!session_logged())
			return 0;
		*cond = SLIDGE_FORBIDDEN;
		*text = "This is only available for users that are not logged to the legacy "
		    "service";
		return -1;
	default:
		return 0;
	}
}

void
cmd_user_admin(struct proto_msg *m)
{
	user_is_admin = m->v[USER_ADMIN_admin].u != 0;
}

int
cmd_send_table(void)
{
	struct proto_val v[COMMANDS__NFIELDS] = { 0 };
	const struct slidge_command *k;
	struct proto_list row = { 0 };
	char access[8];
	size_t i;
	int rc;

	for (i = 0; (k = cmd_nth(i)) != NULL; i++) {
		if (k->node == NULL || k->run == NULL) {
			log_warn("a module command without node or run hook is ignored");
			continue;
		}
		snprintf(access, sizeof access, "%d", (int)k->access);
		if (proto_list_add(&row, k->node) < 0 ||
		    proto_list_add(&row, k->name ? k->name : k->node) < 0 ||
		    proto_list_add(&row, k->chat_command ? k->chat_command : "") < 0 ||
		    proto_list_add(&row, access) < 0 ||
		    proto_list_add(&row, k->category ? k->category : "") < 0 ||
		    proto_list_add(&row, k->help ? k->help : "") < 0 ||
		    proto_table_add(&v[COMMANDS_commands].table, &row) < 0)
			fatal("out of memory listing the commands");
		proto_list_free(&row);
		row = (struct proto_list){ 0 };
	}
	rc = worker_send(PROTO_COMMANDS, v);
	proto_table_free(&v[COMMANDS_commands].table);
	return rc;
}

/* ---- fields: copies, validation ----------------------------------------------- */

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void
fields_free(struct slidge_form_field *f, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		free((char *)f[i].var);
		free((char *)f[i].label);
		free((char *)f[i].type);
		free((char *)f[i].value);
		free((char *)f[i].desc);
		for (j = 0; f[i].options != NULL && f[i].options[j] != NULL; j++)
			free((char *)f[i].options[j]);
		free((char **)f[i].options);
	}
	free(f);
}

/* A deep copy of fields (ended by var NULL) with *n entries. NULL on OOM. */
static struct slidge_form_field *
fields_copy(const struct slidge_form_field *src, size_t *n)
{
	struct slidge_form_field *f;
	size_t i, j, k;
	char **o;

	for (k = 0; src != NULL && src[k].var != NULL; k++)
		;
	if ((f = calloc(k + 1, sizeof *f)) == NULL)
		return NULL;
	for (i = 0; i < k; i++) {
		f[i].var = strdup(src[i].var);
		f[i].label = dup_or_null(src[i].label);
		f[i].type = strdup(src[i].type ? src[i].type : "text-single");
		f[i].value = dup_or_null(src[i].value);
		f[i].desc = dup_or_null(src[i].desc);
		f[i].required = src[i].required;
		if (f[i].var == NULL || f[i].type == NULL)
			goto oom;
		if (src[i].options == NULL)
			continue;
		for (j = 0; src[i].options[j] != NULL; j++)
			;
		if ((o = calloc(j + 1, sizeof *o)) == NULL)
			goto oom;
		f[i].options = (const char *const *)o;
		for (j = 0; src[i].options[j] != NULL; j++)
			if ((o[j] = strdup(src[i].options[j])) == NULL)
				goto oom;
	}
	*n = k;
	return f;
oom:
	fields_free(f, i + 1);
	return NULL;
}

static const char *
field_label(const struct slidge_form_field *f)
{
	return f->label != NULL ? f->label : f->var;
}

static int
is_option(const struct slidge_form_field *f, const char *v)
{
	size_t j;

	for (j = 0; f->options != NULL && f->options[j] != NULL && f->options[j + 1] != NULL;
	    j += 2)
		if (strcmp(f->options[j], v) == 0)
			return 1;
	return 0;
}

/* slidge's FormField.validate: 0 and the normalised value added to out (KV), or -1 with
 * slidge's text. value NULL: not submitted. */
static int
field_validate(const struct slidge_form_field *f, const char *value, struct proto_list *out,
    char *err, size_t errsz)
{
	char *copy, *line, *save;
	struct jid j;
	int multi = strcmp(f->type, "list-multi") == 0 || strcmp(f->type, "jid-multi") == 0;

	if (strcmp(f->type, "fixed") == 0)
		return 0;
	if (value == NULL || (*value == '\0' && !multi)) {
		if (f->required) {
			snprintf(err, errsz, "Missing field: '%s'", field_label(f));
			return -1;
		}
		return 0;
	}
	if (strcmp(f->type, "jid-single") == 0 && jid_parse(value, &j) < 0) {
		snprintf(err, errsz, "Not a valid JID: '%s'", value);
		return -1;
	}
	if (strcmp(f->type, "list-single") == 0 && !is_option(f, value)) {
		snprintf(err, errsz, "Not a valid option: '%s'", value);
		return -1;
	}
	if (strcmp(f->type, "boolean") == 0)
		value = strcmp(value, "1") == 0 || strcasecmp(value, "true") == 0 ? "true" :
		    "false";
	if (multi) {
		if ((copy = strdup(value)) == NULL)
			goto oom;
		for (line = strtok_r(copy, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			if ((strcmp(f->type, "list-multi") == 0 && !is_option(f, line)) ||
			    (strcmp(f->type, "jid-multi") == 0 && jid_parse(line, &j) < 0)) {
				snprintf(err, errsz, "Not a valid option: '%s'", line);
				free(copy);
				return -1;
			}
		}
		free(copy);
	}
	if (proto_kv_set(out, f->var, value) < 0)
		goto oom;
	return 0;
oom:
	snprintf(err, errsz, "Out of memory");
	return -1;
}

/* ---- lifetime -------------------------------------------------------------------- */

static int
cmd_live(const struct slidge_cmd *c)
{
	const struct slidge_cmd *p;

	for (p = cmds; p != NULL; p = p->next)
		if (p == c)
			return 1;
	return 0;
}

static void
ask_clear(struct slidge_cmd *c)
{
	fields_free(c->fields, c->nfields);
	c->fields = NULL;
	c->nfields = 0;
	free(c->title);
	free(c->instructions);
	free(c->success);
	c->title = c->instructions = c->success = NULL;
	c->form_cb = NULL;
	c->confirm_cb = NULL;
	c->arg = NULL;
	c->wait = W_NONE;
	proto_list_free(&c->answers);
	c->answers = (struct proto_list){ 0 };
	c->ask = 0;
}

/* The user will not answer what they were asked: let the module release its arg. */
static void
ask_cancel(struct slidge_cmd *c)
{
	slidge_cmd_form_cb *fcb = c->form_cb;
	slidge_cmd_confirm_cb *ccb = c->confirm_cb;
	void *arg = c->arg;
	enum cmd_wait w = c->wait;

	ask_clear(c);
	if (w == W_FORM && fcb != NULL)
		fcb(session, NULL, NULL, arg);
	else if (w == W_CONFIRM && ccb != NULL)
		ccb(session, NULL, arg);
}

static void
cmd_free(struct slidge_cmd *c)
{
	struct slidge_cmd **pp;

	for (pp = &cmds; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	ev_timer_stop(worker.loop, &c->ttl);
	ask_clear(c);
	if (c->have_iq)
		worker_ack(c->seq);
	free(c->node);
	free(c->iq_id);
	free(c->receipt);
	free(c->success_now);
	free(c);
}

/* End c whatever it is doing: the user cancelled, it expired, the session ends. */
static void
cmd_abandon(struct slidge_cmd *c)
{
	if (c->wait != W_NONE) {
		ask_cancel(c);
		cmd_free(c);
	} else {
		/* A step runs in the module, which still holds c: its answer is dropped. */
		c->dead = 1;
		if (c->have_iq) {
			worker_ack(c->seq);
			c->have_iq = 0;
		}
	}
}

static void
ttl_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct slidge_cmd *c = (struct slidge_cmd *)((char *)t - offsetof(struct slidge_cmd, ttl));

	log_debug("command session %s expired", c->sid);
	cmd_abandon(c);
}

static struct slidge_cmd *
cmd_new(enum cmd_fe fe, const struct slidge_command *k, const char *node, struct inbound *in)
{
	struct slidge_cmd *c;

	if ((c = calloc(1, sizeof *c)) == NULL || (c->node = strdup(node)) == NULL) {
		free(c);
		return NULL;
	}
	c->fe = fe;
	c->command = k;
	snprintf(c->sid, sizeof c->sid, "w%llx-%llu", (unsigned long long)time(NULL),
	    ++serial);
	snprintf(c->user, sizeof c->user, "%s", in->from);
	snprintf(c->gw, sizeof c->gw, "%s", in->to);
	snprintf(c->msg_type, sizeof c->msg_type, "%s",
	    strcmp(in->type, "normal") == 0 ? "normal" : "chat");
	ev_timer_init(&c->ttl, ttl_cb, CMD_TTL, 0.);
	ev_timer_start(worker.loop, &c->ttl);
	c->next = cmds;
	cmds = c;
	return c;
}

/* Remember the iq this step answers. -1 on OOM. */
static int
cmd_hold_iq(struct slidge_cmd *c, struct inbound *in)
{
	free(c->iq_id);
	if ((c->iq_id = strdup(in->id)) == NULL)
		return -1;
	c->seq = in->seq;
	c->have_iq = 1;
	ev_timer_again(worker.loop, &c->ttl);
	return 0;
}

void
cmd_free_all(void)
{
	while (cmds != NULL) {
		if (cmds->wait != W_NONE)
			ask_cancel(cmds);
		cmds->have_iq = 0;   /* never acked: the session is ending */
		cmd_free(cmds);
	}
	if (input.active) {
		ev_timer_stop(worker.loop, &input.timer);
		input.active = 0;
	}
}

/* ---- input() ------------------------------------------------------------------ */

static double
input_timeout(void)
{
	const char *e = getenv("SLIDGE_INPUT_TIMEOUT");
	double t;

	if (e != NULL && (t = strtod(e, NULL)) > 0)
		return t;
	return CMD_INPUT_TIMEOUT;
}

static void
input_fire(const char *answer)
{
	void (*cb)(struct slidge_session *, const char *, void *) = input.cb;
	void *arg = input.arg;

	ev_timer_stop(worker.loop, &input.timer);
	input.active = 0;
	input.cb = NULL;
	if (cb != NULL)
		cb(session, answer, arg);
}

static void
input_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	session_gateway_message(NULL, "You took too much time to reply");
	input_fire(NULL);
}

/* Ask text (NULL: nothing) and capture the next message to the gateway. */
static void
input_ask(const char *to, const char *text,
    void (*cb)(struct slidge_session *, const char *, void *), void *arg)
{
	if (input.active)
		input_fire(NULL);
	if (text != NULL)
		session_gateway_message(to, text);
	input.cb = cb;
	input.arg = arg;
	input.active = 1;
	ev_timer_init(&input.timer, input_timer_cb, input_timeout(), 0.);
	ev_timer_start(worker.loop, &input.timer);
}

void
slidge_session_input(struct slidge_session *s, const char *text,
    void (*cb)(struct slidge_session *, const char *, void *), void *arg)
{
	if (s == NULL || s != session || cb == NULL) {
		log_warn("slidge_session_input: no session or no callback");
		return;
	}
	input_ask(NULL, text, cb, arg);
}

int
cmd_input_answer(const char *body)
{
	if (!input.active)
		return 0;
	input_fire(body);
	return 1;
}

/* ---- chat rendering --------------------------------------------------------------- */

static void
chat_say(struct slidge_cmd *c, const char *text)
{
	struct message_out m = { 0 };

	m.type = c->msg_type;
	m.from = c->gw;
	m.to = c->user;
	m.body = text;
	if (c->receipt != NULL) {
		/* slidge acks a command message once its first step answered. */
		struct message_out r = { .type = c->msg_type, .from = c->gw, .to = c->user,
		    .receipt = c->receipt };
		stanza_message(&r);
		free(c->receipt);
		c->receipt = NULL;
	}
	if (text != NULL)
		stanza_message(&m);
}

/* "xmpp:<local percent-encoded>@domain" of a JID into b. */
static void
xmpp_uri(struct buf *b, const char *jid)
{
	const char *at = strchr(jid, '@');
	const char *p;

	buf_puts(b, "xmpp:");
	if (at == NULL) {
		buf_puts(b, jid);
		return;
	}
	for (p = jid; p < at; p++) {
		if (isalnum((unsigned char)*p) || strchr("-._~", *p) != NULL)
			buf_printf(b, "%c", *p);
		else
			buf_printf(b, "%%%02X", (unsigned char)*p);
	}
	buf_puts(b, at);
}

static void
chat_link(struct buf *b, const struct slidge_cmd *c, const char *label, const char *value)
{
	buf_printf(b, "%s: xmpp:%s?message;body=", label, c->gw);
	/* The value is a URI query part: percent-encode what is not safe there. */
	for (; *value != '\0'; value++) {
		if (isalnum((unsigned char)*value) || strchr("-._~@/:", *value) != NULL)
			buf_printf(b, "%c", *value);
		else
			buf_printf(b, "%%%02X", (unsigned char)*value);
	}
	buf_puts(b, "\n");
}

static void chat_ask_next(struct slidge_cmd *c);

static void
chat_fail(struct slidge_cmd *c, const char *text)
{
	char msg[1024];

	snprintf(msg, sizeof msg, "Error: %s", text);
	chat_say(c, msg);
	ask_cancel(c);
	cmd_free(c);
}

static void run_form_cb(struct slidge_cmd *c, struct proto_list *values);
static void run_confirm_cb(struct slidge_cmd *c, int yes);

static void
chat_answer(struct slidge_session *s, const char *answer, void *arg)
{
	struct slidge_cmd *c = arg;
	const struct slidge_form_field *f;
	char err[512], *v = NULL, *p;

	if (!cmd_live(c) || c->wait == W_NONE)
		return;
	if (answer == NULL) {
		/* timed out: input() said so */
		cmd_abandon(c);
		return;
	}
	if (strcasecmp(answer, "abort") == 0) {
		chat_say(c, "Command aborted");
		cmd_abandon(c);
		return;
	}
	if (c->wait == W_CONFIRM) {
		run_confirm_cb(c, tolower((unsigned char)answer[0]) == 'y');
		return;
	}
	f = &c->fields[c->ask];
	if (strcmp(f->type, "boolean") == 0) {
		answer = tolower((unsigned char)answer[0]) == 'y' || strcmp(answer, "1") == 0 ||
		    strcasecmp(answer, "true") == 0 ? "true" : "false";
	} else if (strcmp(answer, " ") == 0 && strstr(f->type, "multi") != NULL) {
		answer = "";     /* a single space: none */
	}
	if ((v = strdup(answer)) == NULL) {
		chat_fail(c, "Out of memory");
		return;
	}
	/* list-multi answers: one value per line (a space separates them too, as slidge). */
	if (strstr(f->type, "multi") != NULL)
		for (p = v; *p != '\0'; p++)
			if (*p == ' ')
				*p = '\n';
	if (field_validate(f, v, &c->answers, err, sizeof err) < 0) {
		free(v);
		chat_fail(c, err);
		return;
	}
	free(v);
	c->ask++;
	chat_ask_next(c);
}

/* Ask the next field of the form, or run the form's callback when all are answered. */
static void
chat_ask_next(struct slidge_cmd *c)
{
	struct proto_list values;
	const struct slidge_form_field *f;
	struct buf b = BUF_INIT;
	size_t j;

	while (c->ask < c->nfields && (strcmp(c->fields[c->ask].type, "fixed") == 0 ||
	    strcmp(c->fields[c->ask].type, "hidden") == 0)) {
		f = &c->fields[c->ask++];
		if (strcmp(f->type, "fixed") == 0) {
			buf_printf(&b, "%s: %s", field_label(f), f->value ? f->value : "");
			chat_say(c, b.data);
			buf_free(&b, 0);
			b = (struct buf)BUF_INIT;
		} else if (f->value != NULL && proto_kv_set(&c->answers, f->var, f->value) < 0) {
			chat_fail(c, "Out of memory");
			return;
		}
	}
	if (c->ask == c->nfields) {
		values = c->answers;
		c->answers = (struct proto_list){ 0 };
		run_form_cb(c, &values);
		proto_list_free(&values);
		return;
	}
	f = &c->fields[c->ask];
	if (strstr(f->type, "multi") != NULL)
		buf_puts(&b, "Several values are allowed: one per line (a single space for "
		    "none)\n");
	for (j = 0; f->options != NULL && f->options[j] != NULL && f->options[j + 1] != NULL;
	    j += 2)
		chat_link(&b, c, f->options[j + 1], f->options[j]);
	if (strcmp(f->type, "boolean") == 0) {
		chat_link(&b, c, "yes", "yes");
		chat_link(&b, c, "no", "no");
	}
	if (f->value != NULL && *f->value != '\0')
		buf_printf(&b, "Default: %s\n", f->value);
	buf_printf(&b, "%s? (or 'abort')", field_label(f));
	if (c->receipt != NULL)
		chat_say(c, NULL);          /* the receipt goes before the question */
	input_ask(c->user, b.data, chat_answer, c);
	buf_free(&b, 0);
}

static void
chat_table(struct slidge_cmd *c, const char *description,
    const struct slidge_form_field *fields, const char *const *values, size_t nitems,
    int mucs)
{
	struct buf b = BUF_INIT;
	size_t i, k, nf;
	const char *v;

	for (nf = 0; fields != NULL && fields[nf].var != NULL; nf++)
		;
	if (nitems == 0 || nf == 0) {
		chat_say(c, "Empty results");
		return;
	}
	buf_puts(&b, description ? description : "");
	buf_puts(&b, "\n");
	for (k = 0; k < nitems; k++)
		for (i = 0; i < nf; i++) {
			v = values[k * nf + i] ? values[k * nf + i] : "";
			buf_printf(&b, "\n%s: ", field_label(&fields[i]));
			if (fields[i].type != NULL && strcmp(fields[i].type, "jid-single") == 0 &&
			    *v != '\0') {
				xmpp_uri(&b, v);
				if (mucs)
					buf_puts(&b, "?join");
			} else {
				buf_puts(&b, v);
			}
		}
	chat_say(c, b.data);
	buf_free(&b, 0);
}

/* ---- ad-hoc rendering ------------------------------------------------------------- */

static void
adhoc_open(struct xb *x, struct slidge_cmd *c, const char *status)
{
	xb_iq_result_open_to(x, c->gw, c->user, c->iq_id);
	xb_open(x, "command");
	xb_attr(x, "xmlns", NS_COMMANDS);
	xb_attr(x, "node", c->node);
	xb_attr(x, "sessionid", c->sid);
	xb_attr(x, "status", status);
	xb_open_end(x);
}

static void
adhoc_send(struct slidge_cmd *c, struct xb *x)
{
	xb_close(x, "command");
	xb_close(x, "iq");
	xb_emit(x);
	xb_free(x);
	worker_ack(c->seq);
	c->have_iq = 0;
}

static void
adhoc_note(struct slidge_cmd *c, const char *status, const char *text)
{
	struct xb x = { 0 };

	adhoc_open(&x, c, status);
	if (text != NULL) {
		xb_open(&x, "note");
		xb_attr(&x, "type", "info");
		xb_open_end(&x);
		xb_esc(&x, text);
		xb_close(&x, "note");
	}
	adhoc_send(c, &x);
}

static void
adhoc_error(struct slidge_cmd *c, const char *cond, const char *text)
{
	stanza_error("iq", c->gw, c->user, c->iq_id, cond, text);
	worker_ack(c->seq);
	c->have_iq = 0;
}

static void
write_values(struct xb *x, const char *value)
{
	const char *p = value, *nl;
	char *one;

	/* Several values of a -multi field are kept joined by newlines. */
	while (p != NULL) {
		nl = strchr(p, '\n');
		if ((one = nl ? strndup(p, (size_t)(nl - p)) : strdup(p)) == NULL) {
			x->err = 1;
			return;
		}
		xb_text(x, "value", NULL, one);
		free(one);
		p = nl ? nl + 1 : NULL;
	}
}

static void
write_field(struct xb *x, const struct slidge_form_field *f)
{
	size_t j;

	xb_open(x, "field");
	xb_attr(x, "var", f->var);
	xb_attr(x, "type", f->type);
	xb_attr(x, "label", f->label);
	xb_open_end(x);
	if (f->desc != NULL)
		xb_text(x, "desc", NULL, f->desc);
	if (f->required)
		xb_empty(x, "required", NULL);
	if (f->value != NULL)
		write_values(x, f->value);
	for (j = 0; f->options != NULL && f->options[j] != NULL && f->options[j + 1] != NULL;
	    j += 2) {
		xb_open(x, "option");
		xb_attr(x, "label", f->options[j + 1]);
		xb_open_end(x);
		xb_text(x, "value", NULL, f->options[j]);
		xb_close(x, "option");
	}
	xb_close(x, "field");
}

static void
adhoc_form(struct slidge_cmd *c)
{
	static const struct slidge_form_field confirm = { .var = "confirm", .type = "boolean",
		.label = "Confirm", .value = "true" };
	struct xb x = { 0 };
	size_t i;

	adhoc_open(&x, c, "executing");
	xb_raw(&x, "<actions execute='complete'><complete/></actions>");
	xb_open(&x, "x");
	xb_attr(&x, "xmlns", NS_DATA);
	xb_attr(&x, "type", "form");
	xb_open_end(&x);
	if (c->title != NULL)
		xb_text(&x, "title", NULL, c->title);
	if (c->instructions != NULL && *c->instructions != '\0')
		xb_text(&x, "instructions", NULL, c->instructions);
	if (c->wait == W_CONFIRM)
		write_field(&x, &confirm);
	for (i = 0; i < c->nfields; i++)
		write_field(&x, &c->fields[i]);
	xb_close(&x, "x");
	adhoc_send(c, &x);
}

static void
adhoc_table(struct slidge_cmd *c, const char *description,
    const struct slidge_form_field *fields, const char *const *values, size_t nitems)
{
	struct xb x = { 0 };
	size_t nf;

	for (nf = 0; fields != NULL && fields[nf].var != NULL; nf++)
		;
	adhoc_open(&x, c, "completed");
	xb_data_table(&x, description, fields, nf, values, nitems);
	adhoc_send(c, &x);
}

/* ---- responses (the public API) ---------------------------------------------------- */

/* 0 if c may answer now; -1 if not (misuse logged, or c was cancelled: freed). */
static int
respond_check(struct slidge_cmd *c, const char *what)
{
	if (c == NULL || !cmd_live(c)) {
		log_warn("%s: not a running command", what);
		return -1;
	}
	if (c->wait != W_NONE) {
		log_warn("%s: the command already waits for the user", what);
		return -1;
	}
	if (c->fe == FE_ADHOC && !c->have_iq && !c->dead) {
		log_warn("%s: nothing to answer", what);
		return -1;
	}
	return 0;
}

void
slidge_cmd_text(struct slidge_cmd *c, const char *text)
{
	if (respond_check(c, "slidge_cmd_text") < 0)
		return;
	if (c->success_now != NULL)
		text = c->success_now;
	if (!c->dead) {
		if (c->fe == FE_CHAT)
			chat_say(c, text ? text : "End of command.");
		else
			adhoc_note(c, "completed", text ? text : "Success!");
	}
	cmd_free(c);
}

void
slidge_cmd_done(struct slidge_cmd *c)
{
	slidge_cmd_text(c, NULL);
}

void
slidge_cmd_error(struct slidge_cmd *c, const char *condition, const char *text)
{
	char msg[1024];

	if (respond_check(c, "slidge_cmd_error") < 0)
		return;
	if (condition == NULL)
		condition = SLIDGE_INTERNAL_SERVER_ERROR;
	if (!c->dead) {
		if (c->fe == FE_CHAT) {
			snprintf(msg, sizeof msg, "Error: %s", text ? text : condition);
			chat_say(c, msg);
		} else {
			adhoc_error(c, condition, text);
		}
	}
	cmd_free(c);
}

void
slidge_cmd_table(struct slidge_cmd *c, const char *description,
    const struct slidge_form_field *fields, const char *const *values, size_t nitems,
    int jids_are_mucs)
{
	if (respond_check(c, "slidge_cmd_table") < 0)
		return;
	if (!c->dead) {
		if (c->fe == FE_CHAT)
			chat_table(c, description, fields, values, nitems, jids_are_mucs);
		else
			adhoc_table(c, description, fields, values, nitems);
	}
	cmd_free(c);
}

/* The step asks something: show it. */
static void
ask_show(struct slidge_cmd *c)
{
	struct buf b = BUF_INIT;

	if (c->fe == FE_ADHOC) {
		adhoc_form(c);
		return;
	}
	if (c->wait == W_CONFIRM) {
		buf_printf(&b, "%s\n", c->title ? c->title : "");
		chat_link(&b, c, "yes", "yes");
		chat_link(&b, c, "no", "no");
		b.data[b.len - 1] = '\0';   /* no trailing newline */
		if (c->receipt != NULL)
			chat_say(c, NULL);
		input_ask(c->user, b.data, chat_answer, c);
		buf_free(&b, 0);
		return;
	}
	if (c->title != NULL && *c->title != '\0')
		chat_say(c, c->title);
	if (c->instructions != NULL && *c->instructions != '\0')
		chat_say(c, c->instructions);
	chat_ask_next(c);
}

void
slidge_cmd_form(struct slidge_cmd *c, const char *title, const char *instructions,
    const struct slidge_form_field *fields, slidge_cmd_form_cb *next, void *arg)
{
	if (respond_check(c, "slidge_cmd_form") < 0)
		return;
	if (c->dead || next == NULL) {
		if (next != NULL)
			next(session, NULL, NULL, arg);
		else
			log_warn("slidge_cmd_form: no next step");
		if (!c->dead && c->fe == FE_ADHOC)
			adhoc_error(c, SLIDGE_INTERNAL_SERVER_ERROR, "The command has no next step");
		cmd_free(c);
		return;
	}
	free(c->success_now);
	c->success_now = NULL;
	if ((c->fields = fields_copy(fields, &c->nfields)) == NULL ||
	    (title != NULL && (c->title = strdup(title)) == NULL) ||
	    (instructions != NULL && (c->instructions = strdup(instructions)) == NULL)) {
		ask_clear(c);
		next(session, NULL, NULL, arg);
		slidge_cmd_error(c, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return;
	}
	c->wait = W_FORM;
	c->form_cb = next;
	c->arg = arg;
	ask_show(c);
}

void
slidge_cmd_confirm(struct slidge_cmd *c, const char *prompt, const char *success,
    slidge_cmd_confirm_cb *next, void *arg)
{
	if (respond_check(c, "slidge_cmd_confirm") < 0)
		return;
	if (c->dead || next == NULL) {
		if (next != NULL)
			next(session, NULL, arg);
		if (!c->dead && c->fe == FE_ADHOC)
			adhoc_error(c, SLIDGE_INTERNAL_SERVER_ERROR, "The command has no next step");
		cmd_free(c);
		return;
	}
	free(c->success_now);
	c->success_now = NULL;
	if ((c->title = strdup(prompt ? prompt : "")) == NULL ||
	    (success != NULL && (c->success = strdup(success)) == NULL)) {
		ask_clear(c);
		next(session, NULL, arg);
		slidge_cmd_error(c, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return;
	}
	c->wait = W_CONFIRM;
	c->confirm_cb = next;
	c->arg = arg;
	ask_show(c);
}

const char *
slidge_cmd_user_jid(const struct slidge_cmd *c)
{
	return session != NULL ? session->user_jid : NULL;
}

/* ---- running steps ------------------------------------------------------------------ */

static void
run_form_cb(struct slidge_cmd *c, struct proto_list *values)
{
	struct slidge_form form = { values };
	slidge_cmd_form_cb *cb = c->form_cb;
	void *arg = c->arg;

	ask_clear(c);
	cb(session, c, &form, arg);
}

static void
run_confirm_cb(struct slidge_cmd *c, int yes)
{
	slidge_cmd_confirm_cb *cb = c->confirm_cb;
	void *arg = c->arg;
	char *success = c->success;

	c->success = NULL;
	ask_clear(c);
	if (!yes) {
		free(success);
		cb(session, NULL, arg);
		if (c->fe == FE_CHAT)
			chat_say(c, "Canceled");
		else
			adhoc_note(c, "completed", "You canceled the operation");
		cmd_free(c);
		return;
	}
	c->success_now = success;
	cb(session, c, arg);
}

static void
run_command(struct slidge_cmd *c, const struct slidge_command *k, const char *const *args)
{
	static const char *const none[] = { NULL };

	c->command = k;
	k->run(session, c, args ? args : none);
}

/* The user picked a command of a category. */
static void
category_choice(struct slidge_session *s, struct slidge_cmd *c, const struct slidge_form *v,
    void *arg)
{
	const char *choice;
	const struct slidge_command *k;
	const char *cond, *text;
	char *end;
	unsigned long i;

	if (c == NULL)
		return;
	choice = slidge_form_get(v, "command");
	i = choice ? strtoul(choice, &end, 10) : 0;
	if (choice == NULL || *end != '\0' || (k = cmd_nth(i)) == NULL) {
		slidge_cmd_error(c, SLIDGE_BAD_REQUEST, "No such command");
		return;
	}
	if (cmd_access(k, c->fe, &cond, &text) < 0) {
		slidge_cmd_error(c, cond, text);
		return;
	}
	run_command(c, k, NULL);
}

/* Executing a category: slidge's list-single "command" of what the caller may run. */
static void
category_menu(struct slidge_cmd *c, int cat)
{
	struct slidge_form_field f[2] = { { 0 } };
	const char *opts[2 * 32 + 1] = { 0 };
	char idx[32][16];
	const struct slidge_command *k;
	const char *cond, *text;
	size_t i, n = 0;

	for (i = 0; (k = cmd_nth(i)) != NULL && n < 32; i++) {
		if (k->category == NULL || strcmp(k->category, categories[cat].key) != 0 ||
		    cmd_access(k, c->fe, &cond, &text) < 0)
			continue;
		snprintf(idx[n], sizeof idx[n], "%zu", i);
		opts[2 * n] = idx[n];
		opts[2 * n + 1] = k->name ? k->name : k->node;
		n++;
	}
	if (n == 0) {
		slidge_cmd_error(c, SLIDGE_NOT_AUTHORIZED,
		    "There is no command you can run in this category");
		return;
	}
	f[0].var = "command";
	f[0].label = "Command";
	f[0].type = "list-single";
	f[0].required = 1;
	f[0].options = opts;
	slidge_cmd_form(c, categories[cat].name, "", f, category_choice, NULL);
}

/* ---- the ad-hoc front-end ---------------------------------------------------------- */

static struct slidge_cmd *
cmd_by_sid(const char *sid, const char *user)
{
	struct slidge_cmd *c;

	for (c = cmds; c != NULL; c = c->next)
		if (c->fe == FE_ADHOC && strcmp(c->sid, sid) == 0 && strcmp(c->user, user) == 0)
			return c;
	return NULL;
}

/* The submitted x:data values (several values joined by newlines) into kv. */
static int
read_submitted(xmlNodePtr x, struct proto_list *kv)
{
	xmlNodePtr f, v;
	const char *var;
	struct buf val;
	char *t;
	size_t n = 0;

	for (f = x ? xml_first_elem(x) : NULL; f != NULL && n < VALUES_MAX;
	    f = xml_next_elem(f)) {
		if (strcmp((const char *)f->name, "field") != 0 ||
		    (var = xml_attr(f, "var")) == NULL)
			continue;
		val = (struct buf)BUF_INIT;
		for (v = xml_first_elem(f); v != NULL; v = xml_next_elem(v)) {
			if (strcmp((const char *)v->name, "value") != 0)
				continue;
			if ((t = xml_text(v)) == NULL)
				break;
			if (val.len > 0)
				buf_puts(&val, "\n");
			buf_puts(&val, t);
			free(t);
		}
		if (proto_kv_set(kv, var, val.data ? val.data : "") < 0) {
			buf_free(&val, 0);
			return -1;
		}
		buf_free(&val, 0);
		n++;
	}
	return 0;
}

/* A submitted form or confirmation. */
static void
adhoc_submit(struct slidge_cmd *c, xmlNodePtr command)
{
	struct proto_list got = { 0 }, values = { 0 };
	const char *confirm;
	char err[512];
	size_t i;

	if (read_submitted(xml_child(command, "x", NS_DATA), &got) < 0) {
		adhoc_error(c, "resource-constraint", "Out of memory");
		goto done;
	}
	if (c->wait == W_CONFIRM) {
		confirm = proto_kv_get(&got, "confirm");
		run_confirm_cb(c, confirm != NULL && (strcmp(confirm, "1") == 0 ||
		    strcasecmp(confirm, "true") == 0));
		goto done;
	}
	for (i = 0; i < c->nfields; i++) {
		if (field_validate(&c->fields[i], proto_kv_get(&got, c->fields[i].var), &values,
		    err, sizeof err) < 0) {
			/* slidge: an XMPPError ends the command */
			adhoc_error(c, SLIDGE_NOT_ACCEPTABLE, err);
			ask_cancel(c);
			cmd_free(c);
			goto done;
		}
	}
	run_form_cb(c, &values);
done:
	proto_list_free(&got);
	proto_list_free(&values);
}

/* A new command session for node. */
static enum inbound_result
adhoc_execute(struct inbound *in, const char *node)
{
	const struct slidge_command *k = cmd_find(node, 0);
	int cat = category_of_node(node);
	const char *cond, *text;
	struct slidge_cmd *c;

	if (k == NULL && cat < 0) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND,
		    "No such command");
		return INBOUND_DONE;
	}
	if (k != NULL && cmd_access(k, FE_ADHOC, &cond, &text) < 0) {
		stanza_error("iq", in->to, in->from, in->id, cond, text);
		return INBOUND_DONE;
	}
	if ((c = cmd_new(FE_ADHOC, k, node, in)) == NULL || cmd_hold_iq(c, in) < 0) {
		if (c != NULL) {
			c->have_iq = 0;
			cmd_free(c);
		}
		stanza_error("iq", in->to, in->from, in->id, "resource-constraint", "Out of memory");
		return INBOUND_DONE;
	}
	log_info("ad-hoc command %s", node);
	if (k != NULL)
		run_command(c, k, NULL);
	else
		category_menu(c, cat);
	return INBOUND_DEFERRED;
}

enum inbound_result
cmd_adhoc_iq(struct inbound *in, xmlNodePtr command)
{
	const char *node = xml_attr(command, "node");
	const char *action = xml_attr(command, "action");
	const char *sid = xml_attr(command, "sessionid");
	struct slidge_cmd *c;

	if (strcmp(in->type, "set") != 0 || node == NULL || !in->to_component) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_BAD_REQUEST,
		    "A command is executed with an iq set to the gateway, with a node");
		return INBOUND_DONE;
	}
	if (action == NULL)
		action = "execute";
	if (sid == NULL || *sid == '\0') {
		if (strcmp(action, "execute") != 0) {
			stanza_error("iq", in->to, in->from, in->id, SLIDGE_BAD_REQUEST,
			    "Execute the command first");
			return INBOUND_DONE;
		}
		return adhoc_execute(in, node);
	}
	if ((c = cmd_by_sid(sid, in->from)) == NULL || c->dead) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_BAD_REQUEST,
		    "This command session has expired or is unknown");
		return INBOUND_DONE;
	}
	if (strcmp(action, "cancel") == 0) {
		if (c->have_iq) {
			/* A step is running: its iq gets an answer now. */
			adhoc_error(c, SLIDGE_BAD_REQUEST, "Canceled");
		}
		if (cmd_hold_iq(c, in) < 0) {
			stanza_error("iq", in->to, in->from, in->id, "resource-constraint",
			    "Out of memory");
			cmd_abandon(c);
			return INBOUND_DONE;
		}
		adhoc_note(c, "canceled", NULL);
		cmd_abandon(c);
		return INBOUND_DEFERRED;
	}
	if (c->wait == W_NONE || c->have_iq) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_BAD_REQUEST,
		    "This step is still running; wait for its answer");
		return INBOUND_DONE;
	}
	if (cmd_hold_iq(c, in) < 0) {
		stanza_error("iq", in->to, in->from, in->id, "resource-constraint", "Out of memory");
		return INBOUND_DONE;
	}
	adhoc_submit(c, command);
	return INBOUND_DEFERRED;
}

/* ---- the chat front-end ------------------------------------------------------------ */

int
cmd_chat(struct inbound *in, const char *body)
{
	char *copy, *word, *save, *args[ARGS_MAX + 1];
	const struct slidge_command *k;
	const char *cond, *text;
	struct slidge_cmd *c;
	size_t n = 0, i;

	if ((copy = strdup(body)) == NULL)
		return 0;
	for (word = strtok_r(copy, " ", &save); word != NULL && n < ARGS_MAX;
	    word = strtok_r(NULL, " ", &save))
		args[n++] = word;
	args[n] = NULL;
	if (n == 0) {
		free(copy);
		return 0;
	}
	for (i = 0; args[0][i] != '\0'; i++)
		args[0][i] = (char)tolower((unsigned char)args[0][i]);
	if ((k = cmd_find(args[0], 1)) == NULL) {
		free(copy);
		return 0;
	}
	if (cmd_access(k, FE_CHAT, &cond, &text) < 0) {
		struct message_out m = { .type = in->type, .from = in->to, .to = in->from,
		    .body = text };
		stanza_message(&m);
		stanza_error("message", in->to, in->from, in->id, cond, text);
		free(copy);
		return 1;
	}
	if ((c = cmd_new(FE_CHAT, k, k->node, in)) == NULL) {
		free(copy);
		log_error("out of memory starting a chat command");
		return 1;
	}
	if (in->id != NULL && xml_child(in->root, "request", NS_RECEIPTS) != NULL)
		c->receipt = strdup(in->id);
	log_info("chat command %s with %zu arguments", k->chat_command, n - 1);
	run_command(c, k, (const char *const *)args + 1);
	free(copy);
	return 1;
}
