/* cmd_builtin.c: the core's session commands (slidge/command/user.py; reference/slidge.md
 * §5), written against the same API as a module's commands.
 *
 * The registration command and the administration category are slidged's (they need no
 * session); help is slidged's too, since it lists commands of both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "log.h"
#include "parity.h"
#include "xml.h"

#define NS_ROSTER "jabber:iq:roster"
#define DEFAULT_SEARCH_TITLE "Search for legacy contacts"

/* ---- unregister ---------------------------------------------------------------- */

static int unregistered;

int
cmd_unregistered_by_command(void)
{
	return unregistered;
}

static void
unregister_yes(struct slidge_session *s, struct slidge_cmd *c, void *arg)
{
	struct proto_val v[UNREGISTER__NFIELDS] = { 0 };

	if (c == NULL)
		return;
	/* slidge's unregister_user: a busy presence, then the teardown. The answer goes
	 * first: slidged stops this worker as soon as it reads the frame. */
	session_gateway_status("You are not registered to this gateway anymore.", "dnd");
	slidge_cmd_text(c, "You are not registered anymore. Bye!");
	unregistered = 1;
	v[UNREGISTER_reason].s = "unregister command";
	worker_send(PROTO_UNREGISTER, v);
}

static void
unregister_run(struct slidge_session *s, struct slidge_cmd *c, const char *const *args)
{
	char prompt[JID_BUF + 64], success[JID_BUF + 64];

	snprintf(prompt, sizeof prompt, "Are you sure you want to unregister from '%s'?",
	    s->component_jid);
	snprintf(success, sizeof success, "You are not registered to '%s' anymore.",
	    s->component_jid);
	slidge_cmd_confirm(c, prompt, success, unregister_yes, NULL);
}

/* ---- preferences --------------------------------------------------------------- */

static void
preferences_saved(struct slidge_session *s, struct slidge_cmd *c,
    const struct slidge_form *values, void *arg)
{
	struct proto_val v[PREFERENCES__NFIELDS] = { 0 };
	const char *val;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < PROTO_NPREFS; i++) {
		if ((val = slidge_form_get(values, proto_prefs[i].var)) == NULL)
			continue;
		if (proto_kv_set(&s->prefs, proto_prefs[i].var, val) < 0) {
			slidge_cmd_error(c, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
			return;
		}
	}
	/* presence.c reads s->prefs at each presence: the new sync_presence applies now. */
	v[PREFERENCES_preferences].list = s->prefs;
	worker_send(PROTO_PREFERENCES, v);
	avatar_user_fetch();   /* slidge: re-fetches the avatar, or forgets its hash */
	log_info("preferences updated");
	slidge_cmd_text(c, "Your preferences have been updated.");
}

static const char *
pref_current(struct slidge_session *s, const struct proto_pref *p)
{
	const char *v = proto_kv_get(&s->prefs, p->var);

	/* in-band registration stores none: slidge's defaults */
	if (v == NULL)
		return p->value;
	return strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ? "true" : "false";
}

/* slidge's Preferences command: PREFERENCES (commands.h, as the last step of the
 * registration command in slidged), pre-filled with the user's. */
static void
preferences_run(struct slidge_session *s, struct slidge_cmd *c, const char *const *args)
{
	struct slidge_form_field f[PROTO_NPREFS + 1] = { { 0 } };
	size_t i;

	for (i = 0; i < PROTO_NPREFS; i++) {
		f[i].var = proto_prefs[i].var;
		f[i].type = "boolean";
		f[i].required = 1;
		f[i].label = proto_prefs[i].label;
		f[i].value = pref_current(s, &proto_prefs[i]);
	}
	slidge_cmd_form(c, PROTO_PREFS_TITLE, PROTO_PREFS_INSTRUCTIONS, f, preferences_saved,
	    NULL);
}

/* ---- re-login ------------------------------------------------------------------ */

static void
relogin_done(const char *error, const char *status, void *arg)
{
	struct slidge_cmd *c = arg;
	char text[1024];

	if (error != NULL) {
		snprintf(text, sizeof text, "Re-login failed: %s", error);
		session_gateway_status(text, "dnd");
		snprintf(text, sizeof text, "Could not login: %s", error);
		slidge_cmd_error(c, SLIDGE_INTERNAL_SERVER_ERROR, text);
		return;
	}
	session_gateway_message(NULL, status ? status : "Re-connected");
	slidge_cmd_text(c, status);
}

static void
relogin_run(struct slidge_session *s, struct slidge_cmd *c, const char *const *args)
{
	session_relogin(relogin_done, c);
}

/* ---- find --------------------------------------------------------------------- */

static void
find_result(const char *cond, const char *text, size_t nfields, char *const *var,
    char *const *label, char *const *type, char *const *items, size_t nitems, void *arg)
{
	struct slidge_cmd *c = arg;
	struct slidge_form_field *f;
	size_t i;

	if (cond != NULL) {
		slidge_cmd_error(c, cond, text);
		return;
	}
	if (nitems == 0) {
		slidge_cmd_error(c, SLIDGE_ITEM_NOT_FOUND, "No contact was found");
		return;
	}
	if ((f = calloc(nfields + 1, sizeof *f)) == NULL) {
		slidge_cmd_error(c, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return;
	}
	for (i = 0; i < nfields; i++) {
		f[i].var = var[i];
		f[i].label = label[i];
		f[i].type = type[i];
	}
	slidge_cmd_table(c, "Contact search results", f, (const char *const *)items, nitems,
	    0);
	free(f);
}

static void
find_search(struct slidge_cmd *c, const struct proto_list *values)
{
	if (search_run(values, find_result, c) < 0)
		slidge_cmd_error(c, SLIDGE_INTERNAL_SERVER_ERROR, "The search could not start");
}

static void
find_form_done(struct slidge_session *s, struct slidge_cmd *c,
    const struct slidge_form *values, void *arg)
{
	if (c != NULL)
		find_search(c, values->kv);
}

static void
find_run(struct slidge_session *s, struct slidge_cmd *c, const char *const *args)
{
	struct proto_list kv = { 0 };
	struct buf b = BUF_INIT;
	size_t i;

	if (module->on_search == NULL || module->search_fields == NULL ||
	    module->search_fields[0].var == NULL) {
		slidge_cmd_error(c, SLIDGE_FEATURE_NOT_IMPLEMENTED,
		    "Not implemented by the legacy module");
		return;
	}
	if (args[0] == NULL) {
		slidge_cmd_form(c, module->search_title ? module->search_title :
		    DEFAULT_SEARCH_TITLE, module->search_instructions, module->search_fields,
		    find_form_done, NULL);
		return;
	}
	/* "find <words>": the words fill the first search field */
	for (i = 0; args[i] != NULL; i++)
		buf_printf(&b, "%s%s", i ? " " : "", args[i]);
	if (b.data == NULL || proto_kv_set(&kv, module->search_fields[0].var, b.data) < 0)
		slidge_cmd_error(c, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
	else
		find_search(c, &kv);
	buf_free(&b, 0);
	proto_list_free(&kv);
}

/* ---- contacts ----------------------------------------------------------------- */

static int
by_name(const void *a, const void *b)
{
	const struct slidge_contact *x = *(struct slidge_contact *const *)a;
	const struct slidge_contact *y = *(struct slidge_contact *const *)b;

	return strcasecmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void
contacts_run(struct slidge_session *s, struct slidge_cmd *c, const char *const *args)
{
	static const struct slidge_form_field f[] = {
		{ .var = "name" }, { .var = "jid", .type = "jid-single" }, { 0 },
	};
	struct slidge_contact *k, **all = NULL;
	const char **values = NULL;
	size_t n = 0, i;

	for (k = contact_first(s); k != NULL; k = k->next)
		n++;
	if (n > 0 && ((all = calloc(n, sizeof *all)) == NULL ||
	    (values = calloc(2 * n, sizeof *values)) == NULL)) {
		free(all);
		slidge_cmd_error(c, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return;
	}
	for (i = 0, k = contact_first(s); k != NULL && i < n; k = k->next)
		all[i++] = k;
	qsort(all, n, sizeof *all, by_name);
	for (i = 0; i < n; i++) {
		values[2 * i] = all[i]->name ? all[i]->name : "";
		values[2 * i + 1] = all[i]->jid;
	}
	slidge_cmd_table(c, "Your buddies", f, values, n, 0);
	free(values);
	free(all);
}

/* ---- sync-contacts ------------------------------------------------------------ */

static const char *
roster_group(void)
{
	return module->roster_group ? module->roster_group : "slidge";
}

/* One roster item in ROSTER_GROUP: removed, updated or kept. */
static void
sync_item(xmlNodePtr item, char *seen, size_t n, int *removed, int *updated)
{
	const char *jid = xml_attr(item, "jid"), *name = xml_attr(item, "name");
	char other[1024] = "";
	struct slidge_contact *k;
	xmlNodePtr g;
	size_t i, ngroups = 0;
	char *t;
	int ours = 0;

	for (g = xml_first_elem(item); g != NULL; g = xml_next_elem(g)) {
		if (strcmp((const char *)g->name, "group") != 0 || (t = xml_text(g)) == NULL)
			continue;
		ngroups++;
		if (strcmp(t, roster_group()) == 0)
			ours = 1;
		else if (other[0] == '\0')
			snprintf(other, sizeof other, "%s", t);
		free(t);
	}
	if (!ours || jid == NULL)
		return;
	for (i = 0, k = contact_first(session); k != NULL && i < n; k = k->next, i++) {
		if (!k->is_friend || strcmp(k->jid, jid) != 0)
			continue;
		seen[i] = 1;
		if (strcmp(k->name ? k->name : "", name ? name : "") != 0) {
			privilege_roster_push(k->jid, k->name, "both", roster_group());
			(*updated)++;
		}
		return;
	}
	/* Not a contact of ours (any more): out of our group, or out of the roster. */
	if (ngroups <= 1) {
		privilege_roster_push(jid, NULL, "remove", NULL);
		(*removed)++;
	} else {
		privilege_roster_push(jid, name, xml_attr(item, "subscription") ?
		    xml_attr(item, "subscription") : "none", other);
		(*updated)++;
	}
}

static void
sync_roster(xmlNodePtr answer, void *arg)
{
	struct slidge_cmd *c = arg;
	struct slidge_contact *k;
	xmlNodePtr q, item;
	char *seen = NULL, text[128];
	int added = 0, removed = 0, updated = 0;
	size_t n = 0, i;

	if (answer == NULL || strcmp(xml_attr(answer, "type") ? xml_attr(answer, "type") : "",
	    "result") != 0 || (q = xml_child(answer, "query", NS_ROSTER)) == NULL) {
		slidge_cmd_error(c, SLIDGE_REMOTE_SERVER_TIMEOUT,
		    "Your server did not give the gateway your roster");
		return;
	}
	for (k = contact_first(session); k != NULL; k = k->next)
		n++;
	if (n > 0 && (seen = calloc(n, 1)) == NULL) {
		slidge_cmd_error(c, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return;
	}
	for (item = xml_first_elem(q); item != NULL; item = xml_next_elem(item))
		if (strcmp((const char *)item->name, "item") == 0)
			sync_item(item, seen, n, &removed, &updated);
	/* Friends missing from the roster go in. */
	for (i = 0, k = contact_first(session); k != NULL && i < n; k = k->next, i++) {
		if (!k->is_friend || seen[i])
			continue;
		contact_roster_sync(k);
		added++;
	}
	free(seen);
	snprintf(text, sizeof text, "%d added, %d removed, %d updated", added, removed, updated);
	slidge_cmd_text(c, text);
}

static void
sync_yes(struct slidge_session *s, struct slidge_cmd *c, void *arg)
{
	if (c == NULL)
		return;
	if (!privilege_roster_set()) {
		slidge_cmd_error(c, SLIDGE_NOT_ALLOWED, "Your server does not give this gateway "
		    "the privilege to manage your roster (XEP-0356): it cannot sync it");
		return;
	}
	if (iq_send(s->component_jid, s->user_jid, "get", "<query xmlns='" NS_ROSTER "'/>",
	    sync_roster, c) < 0)
		slidge_cmd_error(c, SLIDGE_INTERNAL_SERVER_ERROR, "Could not ask for your roster");
}

static void
sync_run(struct slidge_session *s, struct slidge_cmd *c, const char *const *args)
{
	slidge_cmd_confirm(c, "Are you sure you want to sync your roster?", NULL, sync_yes,
	    NULL);
}

/* ---- the table ---------------------------------------------------------------- */

#define NODE(x) CMD_NODE_PREFIX x

const struct slidge_command cmd_builtins[] = {
	{ "🔐 Re-login to the legacy network", "Login to the legacy service",
	  NODE("re-login"), "re-login", SLIDGE_ACCESS_USER_NON_LOGGED, NULL, relogin_run },
	{ "⚙️ Preferences", "Customize the gateway behaviour to your liking",
	  NODE("preferences"), "preferences", SLIDGE_ACCESS_USER, NULL, preferences_run },
	{ "❌ Unregister from the gateway", "Unregister from the gateway",
	  NODE("unregister"), "unregister", SLIDGE_ACCESS_USER, NULL, unregister_run },
	{ "🔎 Search for contacts", "Search for contacts via this gateway",
	  NODE("contacts/find"), "find", SLIDGE_ACCESS_USER_LOGGED, "contacts", find_run },
	{ "👤 List your legacy contacts", "👤 List your legacy contacts",
	  NODE("contacts/contacts"), "contacts", SLIDGE_ACCESS_USER_LOGGED, "contacts",
	  contacts_run },
	{ "🔄 Sync XMPP roster", "Synchronize your XMPP roster with your legacy contacts. "
	  "Slidge will only add/remove/modify contacts in its dedicated roster group",
	  NODE("contacts/sync-contacts"), "sync-contacts", SLIDGE_ACCESS_USER_LOGGED,
	  "contacts", sync_run },
	{ NULL },
};
