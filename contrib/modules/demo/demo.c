/* demo.c: the demo network, a fake legacy network for tests, benchmarks and a first run
 * (/work/shared/DEMO.md is its contract). It is an ordinary legacy module built against
 * legacy.h only: deterministic, no network.
 *
 * Registration: username + password; --demo-registration form|2fa|qr picks the flow.
 * Contacts after login: echo, alice, bob. Echo repeats what the user says, and takes
 * script commands (a text starting with '/') that make the network do things. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "legacy.h"

#define LAST_SEEN_AGO 3600   /* bob was last seen an hour before login */
#define BURST_MAX 100000

struct demo {
	char username[256];
	unsigned long n;          /* on_text count: legacy ids u<N> / e<N> */
	time_t login_time;
};

static const struct {
	const char *id, *name;
} known[] = {
	{ "echo", "Echo" },
	{ "alice", "Alice" },
	{ "bob", "Bob" },
};

static const struct slidge_form_field registration_fields[] = {
	{ .var = "username", .label = "Username", .type = "text-single", .required = 1 },
	{ .var = "password", .label = "Password", .type = "text-private", .required = 1 },
	{ .var = NULL },
};

static const struct slidge_form_field search_fields[] = {
	{ .var = "phone", .label = "Phone number", .type = "text-single", .required = 1 },
	{ .var = NULL },
};

static const struct slidge_option options[] = {
	{ "demo-registration", "form", "registration flow: form, 2fa or qr" },
	{ NULL, NULL, NULL },
};

/* ---- registration ---------------------------------------------------------------- */

static int
valid_username(const char *u)
{
	if (u == NULL || *u == '\0')
		return 0;
	for (; *u != '\0'; u++)
		if (!(islower((unsigned char)*u) || isdigit((unsigned char)*u) ||
		    *u == '.' || *u == '_' || *u == '-'))
			return 0;
	return 1;
}

static void
demo_validate(const char *user_jid, const struct slidge_form *form, struct slidge_reply *r)
{
	const char *username = slidge_form_get(form, "username");
	const char *password = slidge_form_get(form, "password");

	if (password != NULL && strcmp(password, "wrong") == 0) {
		slidge_reply_error(r, SLIDGE_NOT_AUTHORIZED, "Wrong password");
		return;
	}
	if (!valid_username(username)) {
		slidge_reply_error(r, SLIDGE_NOT_ACCEPTABLE,
		    "The username may only contain a-z, 0-9, '.', '_' and '-'");
		return;
	}
	slidge_reply_set(r, "username", username);
	slidge_reply_ok(r);
}

static void
demo_validate_two_factor_code(const char *user_jid, const char *code, struct slidge_reply *r)
{
	if (strcmp(code, "1234") != 0) {
		slidge_reply_error(r, SLIDGE_NOT_AUTHORIZED, "Wrong code");
		return;
	}
	slidge_reply_ok(r);
}

static void
demo_get_qr_text(const char *user_jid, struct slidge_reply *r)
{
	const char *username = slidge_reply_data_get(r, "username");
	char text[300];

	if (username == NULL) {
		slidge_reply_error(r, SLIDGE_BAD_REQUEST, "No username in the registration");
		return;
	}
	snprintf(text, sizeof text, "demo-pair:%s", username);
	slidge_reply_str(r, text);
}

/* ---- session ---------------------------------------------------------------------- */

static struct demo *
demo_of(struct slidge_session *s)
{
	return slidge_session_priv(s);
}

static void
demo_login(struct slidge_session *s, struct slidge_reply *r)
{
	const char *username = slidge_session_data_get(s, "username");
	struct demo *d;
	char status[300];

	if (username == NULL || strcmp(username, "fail-login") == 0) {
		slidge_reply_error(r, SLIDGE_NOT_AUTHORIZED, "Invalid credentials");
		return;
	}
	if ((d = calloc(1, sizeof *d)) == NULL) {
		slidge_reply_error(r, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return;
	}
	snprintf(d->username, sizeof d->username, "%s", username);
	d->login_time = time(NULL);
	slidge_session_set_priv(s, d);
	snprintf(status, sizeof status, "Connected as %s", username);
	slidge_log(s, SLIDGE_LOG_INFO, "demo network: logged in");
	slidge_reply_str(r, status);
}

static void
demo_logout(struct slidge_session *s)
{
	free(demo_of(s));
	slidge_session_set_priv(s, NULL);
}

static void
demo_update_info(struct slidge_contact *c)
{
	const char *id = slidge_contact_legacy_id(c);
	struct demo *d = demo_of(slidge_contact_session(c));
	size_t i;

	for (i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(known[i].id, id) == 0)
			slidge_contact_set_name(c, known[i].name);
	if (strcmp(id, "echo") == 0)
		slidge_contact_online(c, "I repeat everything", 0);
	else if (strcmp(id, "alice") == 0)
		slidge_contact_online(c, "Hello", 0);
	else if (strcmp(id, "bob") == 0)
		slidge_contact_away(c, "Busy", d ? d->login_time - LAST_SEEN_AGO : 0);
}

static void
demo_roster_fill(struct slidge_session *s, struct slidge_reply *r)
{
	struct slidge_contact *c;
	size_t i;

	for (i = 0; i < sizeof known / sizeof known[0]; i++)
		if ((c = slidge_roster_by_legacy_id(s, known[i].id)) != NULL)
			slidge_contact_add_to_roster(c);
	slidge_reply_ok(r);
}

static int
demo_jid_username_to_legacy_id(struct slidge_session *s, const char *username,
    const char **why)
{
	static char text[512];
	size_t i;

	for (i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(known[i].id, username) == 0)
			return 0;
	snprintf(text, sizeof text, "No contact named '%s' on the demo network", username);
	*why = text;
	return -1;
}

/* ---- echo's script --------------------------------------------------------------- */

static void
script_presence(struct slidge_contact *echo, const char *args)
{
	static const struct {
		const char *word;
		void (*set)(struct slidge_contact *, const char *, time_t);
	} kinds[] = {
		{ "online", slidge_contact_online },
		{ "away", slidge_contact_away },
		{ "xa", slidge_contact_extended_away },
		{ "dnd", slidge_contact_busy },
		{ "offline", slidge_contact_offline },
	};
	size_t i, len = strcspn(args, " ");
	const char *status = args[len] == ' ' ? args + len + 1 : NULL;

	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strlen(kinds[i].word) == len && strncmp(kinds[i].word, args, len) == 0) {
			kinds[i].set(echo, status, 0);
			return;
		}
	}
	slidge_contact_send_text(echo, "usage: /presence online|away|xa|dnd|offline [status]",
	    NULL, NULL);
}

static void
script_burst(struct slidge_contact *echo, const char *args)
{
	char *end, text[64];
	long n, i;

	n = strtol(args, &end, 10);
	if (*args == '\0' || *end != '\0' || n < 1 || n > BURST_MAX) {
		slidge_contact_send_text(echo, "usage: /burst N (1 to 100000)", NULL, NULL);
		return;
	}
	for (i = 1; i <= n; i++) {
		snprintf(text, sizeof text, "burst %ld/%ld", i, n);
		slidge_contact_send_text(echo, text, NULL, NULL);
	}
}

static void
script(struct slidge_session *s, struct slidge_contact *echo, const char *text)
{
	size_t len = strcspn(text, " ");
	const char *args = text[len] == ' ' ? text + len + 1 : "";
	volatile unsigned long spin = 0;

#define IS(word) (len == strlen(word) && strncmp(text, word, len) == 0)
	if (IS("/typing")) {
		slidge_contact_composing(echo);
	} else if (IS("/presence")) {
		script_presence(echo, args);
	} else if (IS("/nick") && *args != '\0') {
		slidge_contact_set_name(echo, args);
	} else if (IS("/burst")) {
		script_burst(echo, args);
	} else if (IS("/gateway-message") && *args != '\0') {
		slidge_session_send_gateway_message(s, args);
	} else if (IS("/crash")) {
		slidge_log(s, SLIDGE_LOG_WARN, "demo network: crashing on request");
		abort();
	} else if (IS("/hang")) {
		slidge_log(s, SLIDGE_LOG_WARN, "demo network: hanging on request");
		for (;;)
			spin++;
	} else {
		slidge_contact_send_text(echo, "unknown command", NULL, NULL);
	}
#undef IS
}

static void
demo_on_text(struct slidge_session *s, struct slidge_contact *chat, const char *text,
    const struct slidge_text_opts *opts, struct slidge_reply *r)
{
	struct demo *d = demo_of(s);
	char id[32], echo_id[32], *reply;
	size_t n;

	if (d == NULL) {
		slidge_reply_error(r, SLIDGE_INTERNAL_SERVER_ERROR, "Not logged in");
		return;
	}
	d->n++;
	snprintf(id, sizeof id, "u%lu", d->n);
	snprintf(echo_id, sizeof echo_id, "e%lu", d->n);
	/* The network accepts the message first, then echo reacts to it. */
	slidge_reply_str(r, id);
	if (strcmp(slidge_contact_legacy_id(chat), "echo") != 0)
		return;
	if (text[0] == '/') {
		script(s, chat, text);
		return;
	}
	n = strlen(text) + sizeof "echo: ";
	if ((reply = malloc(n)) == NULL)
		return;
	snprintf(reply, n, "echo: %s", text);
	slidge_contact_send_text(chat, reply, echo_id, NULL);
	free(reply);
}

static void
demo_on_composing(struct slidge_session *s, struct slidge_contact *chat, const char *thread)
{
	if (strcmp(slidge_contact_legacy_id(chat), "echo") == 0)
		slidge_contact_composing(chat);
}

static void
demo_on_paused(struct slidge_session *s, struct slidge_contact *chat, const char *thread)
{
	if (strcmp(slidge_contact_legacy_id(chat), "echo") == 0)
		slidge_contact_paused(chat);
}

/* ---- the module -------------------------------------------------------------------- */

static int
demo_init(struct slidge_module *m)
{
	const char *flow = slidge_option("demo-registration");

	if (strcmp(flow, "form") == 0) {
		m->registration_type = SLIDGE_SINGLE_STEP_FORM;
	} else if (strcmp(flow, "2fa") == 0) {
		m->registration_type = SLIDGE_TWO_FACTOR_CODE;
	} else if (strcmp(flow, "qr") == 0) {
		m->registration_type = SLIDGE_QRCODE;
	} else {
		slidge_log(NULL, SLIDGE_LOG_ERROR,
		    "--demo-registration must be form, 2fa or qr, not \"%s\"", flow);
		return -1;
	}
	return 0;
}

struct slidge_module slidge_module_v1 = {
	.abi = SLIDGE_LEGACY_ABI,
	.name = "demo",
	.version = "0.1.0",
	.component_name = "Demo network",
	.component_type = "demo",
	.registration_type = SLIDGE_SINGLE_STEP_FORM,
	.registration_fields = registration_fields,
	.search_fields = search_fields,
	.options = options,
	.init = demo_init,
	.validate = demo_validate,
	.validate_two_factor_code = demo_validate_two_factor_code,
	.get_qr_text = demo_get_qr_text,
	.login = demo_login,
	.logout = demo_logout,
	.on_text = demo_on_text,
	.on_composing = demo_on_composing,
	.on_paused = demo_on_paused,
	.roster_fill = demo_roster_fill,
	.jid_username_to_legacy_id = demo_jid_username_to_legacy_id,
	.update_info = demo_update_info,
};
