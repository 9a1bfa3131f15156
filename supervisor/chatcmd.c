/* chatcmd.c: what slidged knows of the commands of sessions, and the chat commands it
 * answers itself (reference/slidge.md §5, §7.1 cases 7-8).
 *
 * Session workers list their commands (the core's session commands and the module's) in
 * a COMMANDS frame; with that table slidged filters disco#items of the commands node by
 * slidge's access rules (registration, login state from the STATE frames, admins) and
 * answers access errors for people without a session. Chat commands (messages to the
 * gateway's bare JID) of unregistered people come here from route.c; those of registered
 * users go to their session, which hands back (CHAT_COMMAND) what it does not serve:
 * help, the administration commands, answers to a dialogue of ours, unknown words. */
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
#define NODE_PREFIX PROTO_CMD_NODE_PREFIX

/* A command as both sides list them. */
struct row {
	const char *node, *name, *keyword;
	int access;
	const char *category, *help;
};

enum { A_ADMIN_ONLY, A_USER, A_USER_LOGGED, A_USER_NON_LOGGED, A_NON_USER, A_ANY };

/* slidged's own commands (adhoc.c runs them as XEP-0050, this file by chat). */
static const struct row own[] = {
	{ "jabber:iq:register", "📝 Register to the gateway", "register", A_NON_USER, "",
	  "Register to the gateway" },
	{ NODE_PREFIX "admin/info", "Get info about the component", "info", A_ANY, "admin",
	  "Get information about the gateway" },
	{ NODE_PREFIX "admin/list_users", "List registered users", "list_users", A_ADMIN_ONLY,
	  "admin", "List the users registered to this gateway" },
	{ NODE_PREFIX "admin/delete_user", "Delete a user", "delete_user", A_ADMIN_ONLY,
	  "admin", "Unregister a user from the gateway" },
	{ NODE_PREFIX "admin/loglevel", "Change the verbosity of the logs", "loglevel",
	  A_ADMIN_ONLY, "admin", "Set the logging level" },
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

/* A dialogue slidged runs by chat (delete_user, loglevel). */
enum dstep { D_DELETE_JID, D_DELETE_CONFIRM, D_LOGLEVEL };

struct dialogue {
	struct dialogue *next;
	char bare[JID_BUF], full[JID_BUF];
	enum dstep step;
	char victim[JID_BUF];
	ev_timer timer;
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
dialogue_free(struct dialogue *d)
{
	struct dialogue **pp;

	for (pp = &dialogues; *pp != NULL; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	ev_timer_stop(G.loop, &d->timer);
	free(d);
}

static void
dialogue_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct dialogue *d = (struct dialogue *)((char *)t - offsetof(struct dialogue, timer));

	(void)loop;
	(void)revents;
	say(d->full, "You took too much time to reply");
	dialogue_free(d);
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

/* Ask question and wait for bare's next message. */
static void
dialogue_ask(const char *full, const char *bare, enum dstep step, const char *question)
{
	struct dialogue *d = dialogue_find(bare);

	if (d == NULL) {
		if ((d = calloc(1, sizeof *d)) == NULL) {
			log_error("chatcmd: out of memory");
			return;
		}
		snprintf(d->bare, sizeof d->bare, "%s", bare);
		d->next = dialogues;
		dialogues = d;
		ev_timer_init(&d->timer, dialogue_timeout, input_timeout(), 0.);
	}
	snprintf(d->full, sizeof d->full, "%s", full);
	d->step = step;
	ev_timer_stop(G.loop, &d->timer);
	ev_timer_set(&d->timer, input_timeout(), 0.);
	ev_timer_start(G.loop, &d->timer);
	say(full, question);
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
		dialogue_free(d);
		return;
	}
	switch (d->step) {
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
		say(full, "Registration by chat is not available: use your client's "
		    "registration (XEP-0077) or the ad-hoc command 'Register to the gateway'.");
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
	if (*body != '\0')
		chatcmd_message(from, xml_attr(st, "id"), body);
	free(body);
	return 1;
}

void
chatcmd_worker_frame(struct user *u, struct proto_msg *m)
{
	const char *bare = workers_user_jid(u);
	char from[JID_BUF];

	switch (m->type) {
	case PROTO_COMMANDS:
		chatcmd_set_table(&m->v[COMMANDS_commands].table);
		break;
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
