/* demo_commands.c: the demo network's commands (slidge's Command subclasses of a module)
 * and its use of input().
 *
 * Additions to DEMO.md (only added, as its contract requires):
 *   /input                   (DEMO.md) the session asks "What is your favourite colour?"
 *                            through input(); echo then says "you said: <answer>" (on
 *                            a timeout echo says nothing: the core already told the user)
 *   command "poke"           category contacts, node https://slidge.im/demo/poke, chat
 *                            keyword "poke", logged-in users: a form (contact: list-single
 *                            of the friends; text: text-single, required; loud: boolean),
 *                            then a confirmation "Poke <name>?" with success text
 *                            "Poked."; the contact then says "poke: <text>" (upper case
 *                            if loud). With "poke <words>" in chat the form still asks.
 *   command "directory"      category contacts, node https://slidge.im/demo/directory,
 *                            chat keyword "directory", logged-in users: a table "The demo
 *                            network" of every person of the network (id, name, jid as
 *                            jid-single), in the order echo, alice, bob.
 *   command "network-status" no category, node https://slidge.im/demo/network-status,
 *                            chat keyword "network-status", ADMIN_ONLY (the gateway's
 *                            --admins): the text "The demo network is up; N of echo,
 *                            alice, bob known to <user's bare JID>". */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_commands.h"

/* ---- /input ------------------------------------------------------------------- */

static void
input_answered(struct slidge_session *s, const char *answer, void *arg)
{
	struct slidge_contact *echo = slidge_roster_lookup(s, "echo");
	char *text;
	size_t n;

	(void)arg;
	if (answer == NULL || echo == NULL)
		return;
	n = strlen(answer) + sizeof "you said: ";
	if ((text = malloc(n)) == NULL)
		return;
	snprintf(text, n, "you said: %s", answer);
	slidge_contact_send_text(echo, text, NULL, NULL);
	free(text);
}

void
demo_input_script(struct slidge_session *s, struct slidge_contact *echo)
{
	(void)echo;
	slidge_session_input(s, "What is your favourite colour?", input_answered, NULL);
}

/* ---- poke: a form, then a confirmation ---------------------------------------- */

struct poke {
	char legacy_id[64];
	char name[128];
	char *text;
	int loud;
};

static void
poke_confirmed(struct slidge_session *s, struct slidge_cmd *cmd, void *arg)
{
	struct poke *p = arg;
	struct slidge_contact *c;
	char *msg, *q;
	size_t n;

	if (cmd != NULL && (c = slidge_roster_lookup(s, p->legacy_id)) != NULL) {
		n = strlen(p->text) + sizeof "poke: ";
		if ((msg = malloc(n)) != NULL) {
			snprintf(msg, n, "poke: %s", p->text);
			for (q = msg + 6; p->loud && *q != '\0'; q++)
				*q = (char)toupper((unsigned char)*q);
			slidge_contact_send_text(c, msg, NULL, NULL);
			free(msg);
		}
		slidge_cmd_done(cmd);
	} else if (cmd != NULL) {
		slidge_cmd_error(cmd, SLIDGE_ITEM_NOT_FOUND, "This contact left the network");
	}
	free(p->text);
	free(p);
}

static void
poke_form_done(struct slidge_session *s, struct slidge_cmd *cmd,
    const struct slidge_form *values, void *arg)
{
	const char *jid, *text, *loud;
	struct slidge_contact *c = NULL;
	struct poke *p;
	char prompt[200];
	const char *ids[] = { "echo", "alice", "bob" };
	size_t i;

	if (cmd == NULL)
		return;
	jid = slidge_form_get(values, "contact");
	text = slidge_form_get(values, "text");
	loud = slidge_form_get(values, "loud");
	for (i = 0; jid != NULL && i < sizeof ids / sizeof ids[0]; i++) {
		c = slidge_roster_lookup(s, ids[i]);
		if (c != NULL && strcmp(slidge_contact_jid(c), jid) == 0)
			break;
		c = NULL;
	}
	if (c == NULL || text == NULL) {
		slidge_cmd_error(cmd, SLIDGE_BAD_REQUEST, "Pick a contact and a text");
		return;
	}
	if ((p = calloc(1, sizeof *p)) == NULL || (p->text = strdup(text)) == NULL) {
		free(p);
		slidge_cmd_error(cmd, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return;
	}
	snprintf(p->legacy_id, sizeof p->legacy_id, "%s", slidge_contact_legacy_id(c));
	snprintf(p->name, sizeof p->name, "%s", slidge_contact_name(c) ?
	    slidge_contact_name(c) : p->legacy_id);
	p->loud = loud != NULL && strcmp(loud, "true") == 0;
	snprintf(prompt, sizeof prompt, "Poke %s?", p->name);
	slidge_cmd_confirm(cmd, prompt, "Poked.", poke_confirmed, p);
}

static void
poke_run(struct slidge_session *s, struct slidge_cmd *cmd, const char *const *args)
{
	const char *ids[] = { "echo", "alice", "bob" };
	const char *options[2 * 3 + 1] = { 0 };
	struct slidge_contact *c;
	size_t i, n = 0;
	struct slidge_form_field f[] = {
		{ .var = "contact", .label = "Contact", .type = "list-single", .required = 1 },
		{ .var = "text", .label = "Text", .required = 1, .value = "hello" },
		{ .var = "loud", .label = "Loud", .type = "boolean", .value = "false" },
		{ 0 },
	};

	(void)args;
	for (i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		if ((c = slidge_roster_lookup(s, ids[i])) == NULL || !slidge_contact_is_friend(c))
			continue;
		options[2 * n] = slidge_contact_jid(c);
		options[2 * n + 1] = slidge_contact_name(c) ? slidge_contact_name(c) : ids[i];
		n++;
	}
	f[0].options = options;
	slidge_cmd_form(cmd, "Poke a contact", "Who, and what should they say?", f,
	    poke_form_done, NULL);
}

/* ---- directory: a table ----------------------------------------------------- */

static void
directory_run(struct slidge_session *s, struct slidge_cmd *cmd, const char *const *args)
{
	static const struct slidge_form_field cols[] = {
		{ .var = "id", .label = "Legacy id" },
		{ .var = "name", .label = "Name" },
		{ .var = "jid", .label = "JID", .type = "jid-single" },
		{ 0 },
	};
	const char *ids[] = { "echo", "alice", "bob" };
	const char *values[3 * 3];
	struct slidge_contact *c;
	size_t i, n = 0;

	(void)args;
	for (i = 0; i < 3; i++) {
		if ((c = slidge_roster_by_legacy_id(s, ids[i])) == NULL)
			continue;
		values[3 * n] = ids[i];
		values[3 * n + 1] = slidge_contact_name(c) ? slidge_contact_name(c) : "";
		values[3 * n + 2] = slidge_contact_jid(c);
		n++;
	}
	slidge_cmd_table(cmd, "The demo network", cols, values, n, 0);
}

/* ---- network-status: an administrators' command ---------------------------------- */

static void
status_run(struct slidge_session *s, struct slidge_cmd *cmd, const char *const *args)
{
	const char *ids[] = { "echo", "alice", "bob" };
	char text[1024];
	size_t i, n = 0;

	(void)args;
	for (i = 0; i < 3; i++)
		if (slidge_roster_by_legacy_id(s, ids[i]) != NULL)
			n++;
	snprintf(text, sizeof text, "The demo network is up; %zu of echo, alice, bob known to %s",
	    n, slidge_cmd_user_jid(cmd));
	slidge_cmd_text(cmd, text);
}

const struct slidge_command demo_commands[] = {
	{ "👋 Poke a contact", "Make a contact say something", "https://slidge.im/demo/poke",
	  "poke", SLIDGE_ACCESS_USER_LOGGED, "contacts", poke_run },
	{ "📇 Directory of the demo network", "Everybody on the demo network",
	  "https://slidge.im/demo/directory", "directory", SLIDGE_ACCESS_USER_LOGGED,
	  "contacts", directory_run },
	{ "🩺 Demo network status", "How the demo network is doing (administrators only)",
	  "https://slidge.im/demo/network-status", "network-status", SLIDGE_ACCESS_ADMIN_ONLY,
	  NULL, status_run },
	{ NULL },
};
