/* chatcmd.c: what slidged knows of the commands of sessions, and the chat commands it
 * answers itself (reference/slidge.md §5, §7.1 cases 7-8).
 *
 * Workers list a session's commands (the core's session commands and the module's) in
 * a COMMANDS frame after their MANIFEST, the probe worker at boot first; with that table
 * slidged filters disco#items of the commands node by slidge's access rules
 * (registration, login state from the STATE frames, admins) and answers access errors
 * for people without a session. Chat commands (messages to the gateway's bare JID) of
 * unregistered people come here from route.c; those of registered users go to their
 * session, which hands back (CHAT_COMMAND) what it does not serve: help, the
 * administration commands, answers to a dialogue of ours, unknown words. The forms of
 * the registration command (adhoc.c) are played here as dialogues when it runs by chat. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "commands.h"
#include "jid.h"
#include "log.h"
#include "slidged.h"
#include "xml.h"

#define INPUT_TIMEOUT 60.0     /* slidge's input(); env SLIDGE_INPUT_TIMEOUT */
#define NS_RECEIPTS "urn:xmpp:receipts"
#define NODE_PREFIX PROTO_CMD_NODE_PREFIX

/* A command as both sides list them. */
struct row {
	const char *node, *name, *keyword;
	int access;
	const char *category, *help;
	int session;     /* a session's command (COMMANDS), not slidged's own */
};

enum { A_ADMIN_ONLY, A_USER, A_USER_LOGGED, A_USER_NON_LOGGED, A_NON_USER, A_ANY };

/* slidged's own commands (adhoc.c runs them as XEP-0050, this file by chat). */
static const struct row own[] = {
	{ "jabber:iq:register", "📝 Register to the gateway", "register", A_NON_USER, "",
	  "Register to the gateway", 0 },
	{ NODE_PREFIX "admin/info", "Get info about the component", "info", A_ANY, "admin",
	  "Get information about the gateway", 0 },
	{ NODE_PREFIX "admin/list_users", "List registered users", "list_users", A_ADMIN_ONLY,
	  "admin", "List the users registered to this gateway", 0 },
	{ NODE_PREFIX "admin/delete_user", "Delete a user", "delete_user", A_ADMIN_ONLY,
	  "admin", "Unregister a user from the gateway", 0 },
	{ NODE_PREFIX "admin/loglevel", "Change the verbosity of the logs", "loglevel",
	  A_ADMIN_ONLY, "admin", "Set the logging level", 0 },
};
#define NOWN (sizeof own / sizeof own[0])

static const struct {
	const char *key, *name;
} categories[] = {
	{ "admin", "🛷️ Slidge administration" },
	{ "contacts", "👤 Contacts" },
	{ "groups", "👥 Groups" },
};
#define NCAT (sizeof categories / sizeof categories[0])

static struct proto_table session_cmds;   /* the last COMMANDS table */

/* A dialogue slidged runs by chat: delete_user, loglevel, and the forms of the
 * registration command (adhoc.c runs the command; D_FORM plays one of its forms, D_BUSY
 * holds the user's messages while the module checks a step). */
enum dstep { D_DELETE_JID, D_DELETE_CONFIRM, D_LOGLEVEL, D_FORM, D_BUSY };

struct dialogue {
	struct dialogue *next;
	char bare[JID_BUF], full[JID_BUF];
	enum dstep step;
	char victim[JID_BUF];
	ev_timer timer;
	/* D_FORM, D_BUSY */
	struct proto_table fields;   /* rows as PROTO_FIELD_* */
	size_t ask;                  /* the field asked */
	struct proto_list answers;   /* KV; may hold a password */
	chatcmd_form_cb *cb;
	void *arg;
};

static struct dialogue *dialogues;

/* ---- the table ------------------------------------------------------------------ */

/* The i-th command (ours first), into r. -1 past the end. */
static int
row_nth(size_t i, struct row *r)
{
	const struct proto_list *l;

	if (i < NOWN) {
		*r = own[i];
		return 0;
	}
	i -= NOWN;
	if (i >= session_cmds.n)
		return -1;
	l = &session_cmds.rows[i];
	r->session = 1;
	r->node = l->v[PROTO_CMD_NODE];
	r->name = l->v[PROTO_CMD_NAME];
	r->keyword = l->v[PROTO_CMD_KEYWORD];
	r->access = atoi(l->v[PROTO_CMD_ACCESS]);
	r->category = l->v[PROTO_CMD_CATEGORY];
	r->help = l->v[PROTO_CMD_HELP];
	return 0;
}

static void
chatcmd_set_table(struct proto_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->rows[i].n != PROTO_CMD__NCOLS) {
			log_warn("chatcmd: a COMMANDS row with %zu columns ignored", t->rows[i].n);
			return;
		}
	proto_table_free(&session_cmds);
	session_cmds = *t;
	*t = (struct proto_table){ 0 };
}

/* slidge's Command.raise_if_not_authorized: 0, or -1 with the error. */
static int
row_access(const struct row *r, const char *bare, const char **cond, const char **text)
{
	struct user *u = workers_find(bare);
	int logged = u != NULL && strcmp(workers_session_state(u), "logged-in") == 0;

	if (!route_jid_allowed(bare)) {
		*cond = "bad-request";
		*text = "Your JID is not allowed to use this gateway.";
		return -1;
	}
	*cond = "forbidden";
	/* A session's command runs in the session: an admin or anyone needs one too. */
	if (r->session && u == NULL && (r->access == A_ADMIN_ONLY || r->access == A_ANY)) {
		*text = "This is only available for users that are registered to this gateway";
		return -1;
	}
	switch (r->access) {
	case A_ADMIN_ONLY:
		*cond = "not-authorized";
		*text = "";
		return adhoc_is_admin(bare) ? 0 : -1;
	case A_NON_USER:
		*cond = "bad-request";
		*text = "This is only available for non-users. Unregister first.";
		return u == NULL ? 0 : -1;
	case A_USER:
		*text = "This is only available for users that are registered to this gateway";
		return u != NULL ? 0 : -1;
	case A_USER_LOGGED:
		*text = "This is only available when you are logged in to the legacy service";
		return logged ? 0 : -1;
	case A_USER_NON_LOGGED:
		*text = "This is only available for users that are not logged to the legacy "
		    "service";
		return u != NULL && !logged ? 0 : -1;
	default:
		return 0;
	}
}

static int
category_allowed(size_t cat, const char *bare)
{
	struct row r;
	const char *c, *t;
	size_t i;

	for (i = 0; row_nth(i, &r) == 0; i++)
		if (strcmp(r.category, categories[cat].key) == 0 && row_access(&r, bare, &c, &t) == 0)
			return 1;
	return 0;
}

static void
disco_item(struct buf *b, const char *node, const char *name)
{
	buf_puts(b, "<item jid='");
	buf_put_xml_escaped(b, G.jid);
	buf_puts(b, "' node='");
	buf_put_xml_escaped(b, node);
	buf_puts(b, "' name='");
	buf_put_xml_escaped(b, name);
	buf_puts(b, "'/>");
}

void
chatcmd_disco_items(struct buf *b, const char *bare)
{
	struct row r;
	const char *c, *t;
	char node[256];
	size_t i;

	/* slidge lists a category once, if the caller may run one of its commands. */
	for (i = 0; i < NCAT; i++) {
		if (!category_allowed(i, bare))
			continue;
		snprintf(node, sizeof node, NODE_PREFIX "%s", categories[i].key);
		disco_item(b, node, categories[i].name);
	}
	for (i = 0; row_nth(i, &r) == 0; i++)
		if (*r.category == '\0' && row_access(&r, bare, &c, &t) == 0)
			disco_item(b, r.node, r.name);
}

int
chatcmd_adhoc_check(xmlNodePtr iq, const char *node, const char *bare)
{
	struct row r;
	const char *cond, *text;
	size_t i;

	for (i = 0; row_nth(i, &r) == 0; i++) {
		if (strcmp(r.node, node) != 0)
			continue;
		if (row_access(&r, bare, &cond, &text) == 0)
			return 0;
		route_error(iq, NULL, cond, *text ? text : NULL);
		return 1;
	}
	for (i = 0; i < NCAT; i++) {
		if (strncmp(node, NODE_PREFIX, strlen(NODE_PREFIX)) != 0 ||
		    strcmp(node + strlen(NODE_PREFIX), categories[i].key) != 0 ||
		    category_allowed(i, bare))
			continue;
		route_error(iq, NULL, "not-authorized",
		    "There is no command you can run in this category");
		return 1;
	}
	return 0;
}

/* ---- chat replies ---------------------------------------------------------------- */

static void
say(const char *to, const char *text)
{
	route_gateway_message(to, text);
}

static void
say_error(const char *to, const char *id, const char *cond, const char *text)
{
	if (text != NULL && *text != '\0')
		say(to, text);
	route_error_attrs("message", G.jid, to, id && *id ? id : NULL, NULL, cond,
	    text && *text ? text : NULL);
}

static void
not_found(const char *to, const char *id, const char *word)
{
	char text[512];

	snprintf(text, sizeof text, "Wut? I don't know that command: %.400s", word);
	say_error(to, id, "item-not-found", text);
}

static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->category, y->category);

	return c ? c : strcmp(x->keyword, y->keyword);
}

static void
help(const char *to, const char *bare, const char *id, const char *arg)
{
	struct row r, *all = NULL, *tmp;
	struct buf b = BUF_INIT;
	const char *c, *t;
	size_t i, n = 0;

	for (i = 0; row_nth(i, &r) == 0; i++) {
		if (*r.keyword == '\0')
			continue;
		if (arg != NULL) {
			if (strcmp(r.keyword, arg) != 0)
				continue;
			buf_printf(&b, "%s: %s\n%s", r.keyword, r.name, r.help);
			say(to, b.data);
			buf_free(&b, 0);
			return;
		}
		if (row_access(&r, bare, &c, &t) < 0)
			continue;
		if ((tmp = realloc(all, (n + 1) * sizeof *all)) == NULL)
			break;
		all = tmp;
		all[n++] = r;
	}
	if (arg != NULL) {
		not_found(to, id, arg);
		return;
	}
	qsort(all, n, sizeof *all, row_cmp);
	buf_puts(&b, "Available commands:");
	for (i = 0; i < n; i++)
		buf_printf(&b, "\n%s -- %s", all[i].keyword, all[i].name);
	say(to, b.data);
	buf_free(&b, 0);
	free(all);
}

/* ---- dialogues --------------------------------------------------------------------- */

static void
kv_wipe_free(struct proto_list *kv)
{
	size_t i;

	for (i = 0; i < kv->n; i++)
		explicit_bzero(kv->v[i], strlen(kv->v[i]));
	proto_list_free(kv);
	*kv = (struct proto_list){ 0 };
}

static void
form_clear(struct dialogue *d)
{
	proto_table_free(&d->fields);
	d->fields = (struct proto_table){ 0 };
	kv_wipe_free(&d->answers);
	d->ask = 0;
	d->cb = NULL;
	d->arg = NULL;
}

static void dialogue_free(struct dialogue *d);

/* End d and tell its owner (a form of adhoc.c) that the user left: last, since the
 * owner frees what arg points to. */
static void
dialogue_end(struct dialogue *d)
{
	chatcmd_form_cb *cb = d->cb;
	void *arg = d->arg;

	dialogue_free(d);
	if (cb != NULL)
		cb(arg, NULL);
}

static void
dialogue_free(struct dialogue *d)
{
	struct dialogue **pp;

	for (pp = &dialogues; *pp != NULL; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	ev_timer_stop(G.loop, &d->timer);
	form_clear(d);
	free(d);
}

static void
dialogue_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct dialogue *d = (struct dialogue *)((char *)t - offsetof(struct dialogue, timer));

	(void)loop;
	(void)revents;
	say(d->full, "You took too much time to reply");
	dialogue_end(d);
}

static double
input_timeout(void)
{
	const char *e = getenv("SLIDGE_INPUT_TIMEOUT");
	double t;

	if (e != NULL && (t = strtod(e, NULL)) > 0)
		return t;
	return INPUT_TIMEOUT;
}

static struct dialogue *
dialogue_find(const char *bare)
{
	struct dialogue *d;

	for (d = dialogues; d != NULL; d = d->next)
		if (strcmp(d->bare, bare) == 0)
			return d;
	return NULL;
}

/* The dialogue of full's bare JID, new if there is none; NULL on OOM. */
static struct dialogue *
dialogue_get(const char *full)
{
	char bare[JID_BUF];
	struct dialogue *d;

	if (jid_to_bare(full, bare, sizeof bare) < 0)
		return NULL;
	if ((d = dialogue_find(bare)) == NULL) {
		if ((d = calloc(1, sizeof *d)) == NULL) {
			log_error("chatcmd: out of memory");
			return NULL;
		}
		snprintf(d->bare, sizeof d->bare, "%s", bare);
		d->next = dialogues;
		dialogues = d;
		ev_timer_init(&d->timer, dialogue_timeout, input_timeout(), 0.);
	}
	snprintf(d->full, sizeof d->full, "%s", full);
	return d;
}

/* Wait for the user's answer for at most input_timeout(). */
static void
dialogue_wait(struct dialogue *d)
{
	ev_timer_stop(G.loop, &d->timer);
	ev_timer_set(&d->timer, input_timeout(), 0.);
	ev_timer_start(G.loop, &d->timer);
}

/* Ask question and wait for bare's next message. */
static void
dialogue_ask(const char *full, const char *bare, enum dstep step, const char *question)
{
	struct dialogue *d = dialogue_get(full);

	(void)bare;
	if (d == NULL)
		return;
	d->step = step;
	dialogue_wait(d);
	say(full, question);
}

/* ---- forms played by chat (slidge's chat_command.py) ---------------------------------- */

/* value percent-encoded for the query part of an xmpp: URI. */
static void
put_uri_value(struct buf *b, const char *value)
{
	for (; *value != '\0'; value++) {
		if (isalnum((unsigned char)*value) || strchr("-._~@/:", *value) != NULL)
			buf_printf(b, "%c", *value);
		else
			buf_printf(b, "%%%02X", (unsigned char)*value);
	}
}

static void
link_line(struct buf *b, const char *label, const char *value)
{
	buf_printf(b, "%s: xmpp:%s?message;body=", label, G.jid);
	put_uri_value(b, value);
	buf_puts(b, "\n");
}

static const char *
row_label(const struct proto_list *f)
{
	return *f->v[PROTO_FIELD_LABEL] ? f->v[PROTO_FIELD_LABEL] : f->v[PROTO_FIELD_VAR];
}

static int
row_is(const struct proto_list *f, const char *type)
{
	return strcmp(f->v[PROTO_FIELD_TYPE], type) == 0;
}

/* Ask the next field, or hand the answers to the owner once all are in. */
static void
form_next(struct dialogue *d)
{
	struct buf b = BUF_INIT;
	struct proto_list answers;
	const struct proto_list *f = NULL;
	chatcmd_form_cb *cb;
	void *arg;
	size_t j;

	for (; d->ask < d->fields.n; d->ask++) {
		f = &d->fields.rows[d->ask];
		if (row_is(f, "fixed")) {
			/* a field without a label is shown otherwise (the QR code's image) */
			if (*f->v[PROTO_FIELD_LABEL] != '\0') {
				buf_printf(&b, "%s: %s", f->v[PROTO_FIELD_LABEL], f->v[PROTO_FIELD_VALUE]);
				say(d->full, b.data);
				buf_free(&b, 0);
				b = (struct buf)BUF_INIT;
			}
		} else if (row_is(f, "hidden")) {
			if (proto_kv_set(&d->answers, f->v[PROTO_FIELD_VAR], f->v[PROTO_FIELD_VALUE]) < 0)
				goto oom;
		} else {
			break;
		}
	}
	if (d->ask == d->fields.n) {
		answers = d->answers;
		d->answers = (struct proto_list){ 0 };
		cb = d->cb;
		arg = d->arg;
		d->cb = NULL;
		dialogue_free(d);
		cb(arg, &answers);
		kv_wipe_free(&answers);
		return;
	}
	if (strstr(f->v[PROTO_FIELD_TYPE], "multi") != NULL)
		buf_puts(&b, "Several values are allowed: one per line (a single space for none)\n");
	for (j = PROTO_FIELD_OPTIONS; j + 1 < f->n; j += 2)
		link_line(&b, f->v[j + 1], f->v[j]);
	if (row_is(f, "boolean")) {
		link_line(&b, "yes", "yes");
		link_line(&b, "no", "no");
	}
	if (*f->v[PROTO_FIELD_VALUE] != '\0' && !row_is(f, "text-private"))
		buf_printf(&b, "Default: %s\n", f->v[PROTO_FIELD_VALUE]);
	buf_printf(&b, "%s? (or 'abort')", row_label(f));
	d->step = D_FORM;
	dialogue_wait(d);
	say(d->full, b.data);
	buf_free(&b, 0);
	return;
oom:
	say(d->full, "Error: Out of memory");
	dialogue_end(d);
}

static int
is_option(const struct proto_list *f, const char *v)
{
	size_t j;

	for (j = PROTO_FIELD_OPTIONS; j + 1 < f->n; j += 2)
		if (strcmp(f->v[j], v) == 0)
			return 1;
	return 0;
}

/* The answer to the field asked (slidge's FormField.validate on the answer). */
static void
form_answer(struct dialogue *d, const char *answer)
{
	const struct proto_list *f = &d->fields.rows[d->ask];
	struct buf b = BUF_INIT;
	char *v = NULL, *p;

	if (row_is(f, "boolean")) {
		answer = tolower((unsigned char)answer[0]) == 'y' || strcmp(answer, "1") == 0 ||
		    strcasecmp(answer, "true") == 0 ? "true" : "false";
	} else if (row_is(f, "list-single") && !is_option(f, answer)) {
		buf_printf(&b, "Error: Not a valid option: '%s'", answer);
		goto refuse;
	}
	if ((v = strdup(strcmp(answer, " ") == 0 ? "" : answer)) == NULL) {
		buf_puts(&b, "Error: Out of memory");
		goto refuse;
	}
	if (strstr(f->v[PROTO_FIELD_TYPE], "multi") != NULL)
		for (p = v; *p != '\0'; p++)
			if (*p == ' ')
				*p = '\n';
	if (*v == '\0' && strcmp(f->v[PROTO_FIELD_REQUIRED], "1") == 0) {
		buf_printf(&b, "Error: Missing field: '%s'", row_label(f));
		goto refuse;
	}
	if (proto_kv_set(&d->answers, f->v[PROTO_FIELD_VAR], v) < 0) {
		buf_puts(&b, "Error: Out of memory");
		goto refuse;
	}
	explicit_bzero(v, strlen(v));
	free(v);
	d->ask++;
	form_next(d);
	return;
refuse:
	if (v != NULL) {
		explicit_bzero(v, strlen(v));
		free(v);
	}
	say(d->full, b.data);
	buf_free(&b, 0);
	dialogue_end(d);
}

int
chatcmd_form(const char *full, const char *title, const char *instructions,
    const struct proto_table *fields, chatcmd_form_cb *cb, void *arg)
{
	struct dialogue *d = dialogue_get(full);
	size_t i;

	if (d == NULL)
		return -1;
	form_clear(d);
	for (i = 0; i < fields->n; i++)
		if (fields->rows[i].n < PROTO_FIELD_OPTIONS ||
		    proto_table_add(&d->fields, &fields->rows[i]) < 0) {
			dialogue_free(d);
			return -1;
		}
	d->cb = cb;
	d->arg = arg;
	d->step = D_FORM;
	if (title != NULL && *title != '\0')
		say(full, title);
	if (instructions != NULL && *instructions != '\0')
		say(full, instructions);
	form_next(d);
	return 0;
}

int
chatcmd_busy(const char *full, chatcmd_form_cb *cb, void *arg)
{
	struct dialogue *d = dialogue_get(full);

	if (d == NULL)
		return -1;
	form_clear(d);
	d->cb = cb;
	d->arg = arg;
	d->step = D_BUSY;
	ev_timer_stop(G.loop, &d->timer);
	return 0;
}

void
chatcmd_forget(void *arg)
{
	struct dialogue *d, *next;

	for (d = dialogues; d != NULL; d = next) {
		next = d->next;
		if (d->cb != NULL && d->arg == arg)
			dialogue_free(d);
	}
}

static void
yes_no(struct buf *b)
{
	buf_printf(b, "\nyes: xmpp:%s?message;body=yes\nno: xmpp:%s?message;body=no", G.jid,
	    G.jid);
}

static void
dialogue_answer(struct dialogue *d, const char *answer)
{
	struct buf b = BUF_INIT;
	char bare[JID_BUF];
	int lvl;

	if (strcasecmp(answer, "abort") == 0) {
		say(d->full, "Command aborted");
		dialogue_end(d);
		return;
	}
	switch (d->step) {
	case D_FORM:
		form_answer(d, answer);
		return;
	case D_BUSY:
		say(d->full, "This step is still running; wait for its answer (or 'abort')");
		return;
	case D_DELETE_JID:
		if (jid_to_bare(answer, bare, sizeof bare) < 0) {
			say(d->full, "Error: Not a valid JID");
			break;
		}
		if (workers_find(bare) == NULL) {
			say(d->full, "Error: There is no user with this JID");
			break;
		}
		snprintf(d->victim, sizeof d->victim, "%s", bare);
		buf_printf(&b, "Are you sure you want to unregister %s?", bare);
		yes_no(&b);
		dialogue_ask(d->full, d->bare, D_DELETE_CONFIRM, b.data);
		buf_free(&b, 0);
		return;
	case D_DELETE_CONFIRM:
		if (tolower((unsigned char)answer[0]) != 'y') {
			say(d->full, "Canceled");
			break;
		}
		register_unregister(d->victim, "deleted by an administrator");
		say(d->full, "The user has been unregistered.");
		break;
	case D_LOGLEVEL:
		if ((lvl = log_level_parse(answer)) < 0) {
			say(d->full, "Error: Not a valid option");
			break;
		}
		workers_set_loglevel(lvl);
		say(d->full, "The log level has been changed.");
		break;
	}
	dialogue_free(d);
}

/* ---- slidged's chat commands --------------------------------------------------------- */

static int
list_line(const struct store_user *u, void *arg)
{
	struct buf *b = arg;
	char date[64];
	time_t t = (time_t)u->registered;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_printf(b, "\nJID: xmpp:%s\nRegistration date: %s", u->jid, date);
	return 0;
}

static void
run_own(const struct row *r, const char *full, const char *bare)
{
	struct buf b = BUF_INIT;

	if (strcmp(r->keyword, "info") == 0) {
		adhoc_info_text(&b);
		say(full, b.data);
	} else if (strcmp(r->keyword, "list_users") == 0) {
		buf_puts(&b, "List of registered users\n");
		store_foreach(list_line, &b);
		say(full, b.data);
	} else if (strcmp(r->keyword, "delete_user") == 0) {
		say(full, "Remove a slidge user");
		say(full, "Enter the bare JID of the user you want to delete");
		dialogue_ask(full, bare, D_DELETE_JID, "JID? (or 'abort')");
	} else if (strcmp(r->keyword, "loglevel") == 0) {
		say(full, "Change the verbosity of the logs");
		buf_printf(&b, "WARNING: xmpp:%s?message;body=warning\nINFO: xmpp:%s?message;"
		    "body=info\nDEBUG: xmpp:%s?message;body=debug\nDefault: %s\nLog level? (or "
		    "'abort')", G.jid, G.jid, G.jid, log_level_name(log_get_level()));
		dialogue_ask(full, bare, D_LOGLEVEL, b.data);
	} else if (strcmp(r->keyword, "register") == 0) {
		adhoc_chat_register(full, bare);
	}
	buf_free(&b, 0);
}

static void
chatcmd_message(const char *full, const char *id, const char *body)
{
	char bare[JID_BUF], word[128], *sp;
	const char *cond, *text, *arg;
	struct dialogue *d;
	struct row r;
	size_t i;

	if (jid_to_bare(full, bare, sizeof bare) < 0 || *body == '\0')
		return;
	if ((d = dialogue_find(bare)) != NULL) {
		dialogue_answer(d, body);
		return;
	}
	snprintf(word, sizeof word, "%s", body);
	if ((sp = strchr(word, ' ')) != NULL)
		*sp = '\0';
	for (i = 0; word[i] != '\0'; i++)
		word[i] = (char)tolower((unsigned char)word[i]);
	if (strcmp(word, "help") == 0) {
		arg = strchr(body, ' ');
		help(full, bare, id, arg != NULL && arg[1] != '\0' ? arg + 1 : NULL);
		return;
	}
	for (i = 0; row_nth(i, &r) == 0; i++) {
		if (strcmp(r.keyword, word) != 0)
			continue;
		if (row_access(&r, bare, &cond, &text) < 0) {
			say_error(full, id, cond, text);
			return;
		}
		if (i >= NOWN) {
			/* a session command, and the session did not take it: it is not running */
			say_error(full, id, "recipient-unavailable",
			    "Your session on this gateway is not running");
			return;
		}
		log_info("chatcmd: %s runs %s", bare, r.keyword);
		run_own(&r, full, bare);
		return;
	}
	not_found(full, id, word);
}

/* XEP-0184: slidge acks command messages that ask for it. */
static void
receipt(xmlNodePtr st)
{
	const char *id = xml_attr(st, "id"), *type = xml_attr(st, "type");
	struct buf b = BUF_INIT;

	if (id == NULL || *id == '\0' || xml_child(st, "request", NS_RECEIPTS) == NULL)
		return;
	buf_puts(&b, "<message type='");
	buf_puts(&b, type != NULL && strcmp(type, "normal") == 0 ? "normal" : "chat");
	buf_puts(&b, "' from='");
	buf_put_xml_escaped(&b, G.jid);
	buf_puts(&b, "' to='");
	buf_put_xml_escaped(&b, xml_attr(st, "from"));
	buf_puts(&b, "'><received xmlns='" NS_RECEIPTS "' id='");
	buf_put_xml_escaped(&b, id);
	buf_puts(&b, "'/></message>");
	if (b.data != NULL && component_send(b.data, b.len) < 0)
		log_warn("chatcmd: a receipt could not be queued");
	buf_free(&b, 0);
}

int
chatcmd_stanza(xmlNodePtr st)
{
	const char *type = xml_attr(st, "type"), *from = xml_attr(st, "from");
	xmlNodePtr bn = xml_child(st, "body", xml_ns(st));
	char *body;

	if (type == NULL)
		type = "normal";
	if ((strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0) || bn == NULL)
		return 0;
	if ((body = xml_text(bn)) == NULL)
		return 0;
	if (*body != '\0') {
		receipt(st);
		chatcmd_message(from, xml_attr(st, "id"), body);
	}
	free(body);
	return 1;
}

void
chatcmd_worker_frame(struct user *u, struct proto_msg *m)
{
	const char *bare;
	char from[JID_BUF];

	if (m->type == PROTO_COMMANDS) {
		chatcmd_set_table(&m->v[COMMANDS_commands].table);
		return;
	}
	if (u == NULL)
		return;
	bare = workers_user_jid(u);
	switch (m->type) {
	case PROTO_CHAT_COMMAND:
		/* A worker speaks only for its own user. */
		if (jid_to_bare(m->v[CHAT_COMMAND_from].s, from, sizeof from) < 0 ||
		    !jid_bare_equal(from, bare)) {
			log_warn("chatcmd: the session of %s passed a command of someone else", bare);
			break;
		}
		chatcmd_message(m->v[CHAT_COMMAND_from].s, m->v[CHAT_COMMAND_id].s,
		    m->v[CHAT_COMMAND_body].s);
		break;
	case PROTO_UNREGISTER:
		register_unregister(bare, m->v[UNREGISTER_reason].s);
		break;
	case PROTO_PREFERENCES:
		workers_set_preferences(u, &m->v[PREFERENCES_preferences].list);
		break;
	default:
		break;
	}
}

void
chatcmd_free(void)
{
	while (dialogues != NULL)
		dialogue_free(dialogues);
	proto_table_free(&session_cmds);
}
