/* demo.c: the demo network, a fake legacy network for tests, benchmarks and a first run
 * (/work/shared/DEMO.md is its contract). It is an ordinary legacy module built against
 * legacy.h only: deterministic, no network.
 *
 * Registration: username + password; --demo-registration form|2fa|qr picks the flow.
 * Contacts after login: echo, alice, bob. Echo repeats what the user says, and takes
 * script commands (a text starting with '/') that make the network do things.
 *
 * Additions to DEMO.md (only added, as its contract requires):
 *   --demo-reactions any|single|limited   echo's reaction restrictions (default any:
 *                                         none; single: one emoji; limited: only
 *                                         the allow-list of available_emojis)
 *   /my-presence                          echo says the user's merged XMPP presence as
 *                                         the module saw it (on_presence)
 *   demo_parity.c: delays, threads, link previews, hints, markers, receipts and
 *   avatars (--demo-receipts, --demo-mark-all and script commands; see its top)
 *   demo_qr.c: QR codes (/qr, the QR registration; usernames qr-never and qr-refused)
 *   demo_commands.c: the commands poke (form + confirmation), directory (table) and
 *   network-status (admins only), /input
 *   demo_files.c: files (/file, /files, /file-url, /gateway-file; on_file and
 *   on_sticker echo the file back; see its top) */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "legacy.h"
#include "demo_parity.h"
#include "demo_qr.h"
#include "demo_files.h"
#include "demo_commands.h"   /* commands, /input (demo_commands.c) */

#define LAST_SEEN_AGO 3600   /* bob was last seen an hour before login */
#define BURST_MAX 100000

struct demo {
	char username[256];
	unsigned long n;          /* on_text count: legacy ids u<N> / e<N> */
	time_t login_time;
	/* presentation: carol asked to be a friend; echo's /avatar count; the user's
	 * merged XMPP presence (on_presence) */
	int carol;
	unsigned avatar_n;
	char user_presence[512];
	/* messaging: the user's last message to echo that was not a script command */
	char last_id[32];         /* its legacy id u<N>, "" if none yet */
	char *last_text;
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
	{ "demo-reactions", "any", "reactions the contacts take: any, single (one emoji) or "
	    "limited (only \xf0\x9f\x91\x8d and \xe2\x9d\xa4)" },
	DEMO_PARITY_OPTIONS
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
	demo_qr_shown(user_jid, username);
	slidge_reply_str(r, text);
}

/* ---- pictures: deterministic PNG avatars (contact presentation) ------------------- *
 * A 64x64 RGB PNG written by hand: the image rows go into stored (uncompressed) deflate
 * blocks, so no zlib is needed; CRC-32 and Adler-32 are computed here. */

#define AVATAR_SIDE 64
#define AVATAR_RAW (AVATAR_SIDE * (1 + AVATAR_SIDE * 3))
#define AVATAR_PNG_MAX (AVATAR_RAW + 128)

static uint32_t
png_crc(const unsigned char *p, size_t n, uint32_t crc)
{
	size_t i;
	int k;

	crc = ~crc;
	for (i = 0; i < n; i++) {
		crc ^= p[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static unsigned char *
put32(unsigned char *o, uint32_t v)
{
	o[0] = (unsigned char)(v >> 24);
	o[1] = (unsigned char)(v >> 16);
	o[2] = (unsigned char)(v >> 8);
	o[3] = (unsigned char)v;
	return o + 4;
}

/* A chunk of type t with n bytes of data at o + 8 already written; returns its end. */
static unsigned char *
png_chunk(unsigned char *o, const char *t, size_t n)
{
	put32(o, (uint32_t)n);
	memcpy(o + 4, t, 4);
	return put32(o + 8 + n, png_crc(o + 4, n + 4, 0));
}

/* A disc of colour fg on bg, with a band whose position depends on variant. Returns the
 * PNG length written to out (AVATAR_PNG_MAX bytes). */
static size_t
demo_png(unsigned char *out, uint32_t fg, uint32_t bg, unsigned variant)
{
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	unsigned char *o = out, *d, *raw;
	uint32_t a = 1, b = 0, px;
	int x, y, dx, dy;
	size_t i;

	memcpy(o, sig, 8);
	o += 8;
	d = o + 8;
	put32(d, AVATAR_SIDE);
	put32(d + 4, AVATAR_SIDE);
	d[8] = 8;      /* bit depth */
	d[9] = 2;      /* RGB */
	d[10] = d[11] = d[12] = 0;
	o = png_chunk(o, "IHDR", 13);
	/* IDAT: zlib header, one final stored block, Adler-32. */
	d = o + 8;
	d[0] = 0x78;
	d[1] = 0x01;
	d[2] = 0x01;
	d[3] = AVATAR_RAW & 0xff;
	d[4] = AVATAR_RAW >> 8;
	d[5] = (unsigned char)~d[3];
	d[6] = (unsigned char)~d[4];
	raw = d + 7;
	for (y = 0, i = 0; y < AVATAR_SIDE; y++) {
		raw[i++] = 0;  /* filter: none */
		for (x = 0; x < AVATAR_SIDE; x++) {
			dx = x - AVATAR_SIDE / 2;
			dy = y - AVATAR_SIDE / 2;
			px = dx * dx + dy * dy < 26 * 26 ? fg : bg;
			if (y / 8 == (int)(variant % 8))
				px ^= 0x404040u;
			raw[i++] = (unsigned char)(px >> 16);
			raw[i++] = (unsigned char)(px >> 8);
			raw[i++] = (unsigned char)px;
		}
	}
	for (i = 0; i < AVATAR_RAW; i++) {
		a = (a + raw[i]) % 65521u;
		b = (b + a) % 65521u;
	}
	put32(raw + AVATAR_RAW, b << 16 | a);
	o = png_chunk(o, "IDAT", 7 + AVATAR_RAW + 4);
	o = png_chunk(o, "IEND", 0);
	return (size_t)(o - out);
}

static void script_friend_request(struct slidge_session *s);

static void
set_png_avatar(struct slidge_contact *c, uint32_t fg, uint32_t bg, unsigned variant,
    const char *unique_id)
{
	unsigned char *png = malloc(AVATAR_PNG_MAX);

	if (png == NULL)
		return;
	slidge_contact_set_avatar(c, png, demo_png(png, fg, bg, variant), unique_id);
	free(png);
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
	demo_parity_login(s, r, username, status);
}

static void
demo_logout(struct slidge_session *s)
{
	if (demo_of(s) != NULL)
		free(demo_of(s)->last_text);
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
	if (strcmp(id, "alice") == 0) {
		static const struct slidge_vcard vcard = {
			.full_name = "Alice Liddell",
			.email = "alice@demo.invalid",
		};
		set_png_avatar(c, 0xd04040u, 0xf0e0c0u, 0, "alice-1");
		slidge_contact_set_vcard(c, &vcard);
	} else if (strcmp(id, "carol") == 0) {
		slidge_contact_set_name(c, "Carol");
		slidge_contact_online(c, NULL, 0);
	}
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
	if (strcmp(username, "carol") == 0 && demo_of(s) != NULL && demo_of(s)->carol)
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

/* ---- echo's messaging script: replies, reactions, markers, carbons ------------------- */

/* The echo message id e<N> of the user's message u<N>; -1 if id is not a u<N>. */
static int
echo_id_of(const char *id, char *out, size_t outsz)
{
	if (id[0] != 'u' || id[1] == '\0' || strspn(id + 1, "0123456789") != strlen(id + 1))
		return -1;
	snprintf(out, outsz, "e%s", id + 1);
	return 0;
}

static void
script_messaging(struct slidge_session *s, struct slidge_contact *echo, const char *text,
    size_t len, const char *args)
{
	struct demo *d = demo_of(s);
	struct slidge_send_opts o = { 0 };
	const char *emojis[2] = { args, NULL };
	char id[32];

#define IS(word) (len == strlen(word) && strncmp(text, word, len) == 0)
	snprintf(id, sizeof id, "%s%lu", IS("/carbon") ? "c" : "e", d->n);
	if (IS("/carbon")) {
		/* the user sent args to echo from the official app */
		o.carbon = 1;
		slidge_contact_send_text(echo, args, id, &o);
		return;
	}
	if (d->last_id[0] == '\0') {
		slidge_contact_send_text(echo, "no message of yours yet", NULL, NULL);
		return;
	}
	if (IS("/reply")) {
		o.reply_to = d->last_id;
		o.reply_to_user = 1;
		o.reply_to_fallback = d->last_text;
		slidge_contact_send_text(echo, args, id, &o);
	} else if (IS("/react-last")) {
		slidge_contact_react(echo, d->last_id, *args != '\0' ? emojis : NULL, NULL);
	} else {
		slidge_contact_displayed(echo, d->last_id, NULL);
	}
#undef IS
}

static void
demo_on_correct(struct slidge_session *s, struct slidge_contact *chat, const char *text,
    const char *legacy_msg_id, const struct slidge_text_opts *opts, struct slidge_reply *r)
{
	struct demo *d = demo_of(s);
	char echo_id[32], *reply;
	size_t n;

	slidge_reply_ok(r);
	if (d == NULL || strcmp(slidge_contact_legacy_id(chat), "echo") != 0 ||
	    echo_id_of(legacy_msg_id, echo_id, sizeof echo_id) < 0)
		return;
	if (strcmp(legacy_msg_id, d->last_id) == 0 && (reply = strdup(text)) != NULL) {
		free(d->last_text);
		d->last_text = reply;
	}
	n = strlen(text) + sizeof "echo: ";
	if ((reply = malloc(n)) == NULL)
		return;
	snprintf(reply, n, "echo: %s", text);
	slidge_contact_correct(chat, echo_id, reply, NULL);
	free(reply);
}

static void
demo_on_react(struct slidge_session *s, struct slidge_contact *chat, const char *legacy_msg_id,
    const char *const *emojis, const char *thread, struct slidge_reply *r)
{
	slidge_reply_ok(r);
	if (strcmp(slidge_contact_legacy_id(chat), "echo") == 0)
		slidge_contact_react(chat, legacy_msg_id, emojis, NULL);
}

static void
demo_on_retract(struct slidge_session *s, struct slidge_contact *chat,
    const char *legacy_msg_id, const char *thread, struct slidge_reply *r)
{
	char echo_id[32];

	slidge_reply_ok(r);
	if (strcmp(slidge_contact_legacy_id(chat), "echo") == 0 &&
	    echo_id_of(legacy_msg_id, echo_id, sizeof echo_id) == 0)
		slidge_contact_retract(chat, echo_id, NULL);
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
	} else if (IS("/avatar")) {
		if (strcmp(args, "none") == 0) {
			slidge_contact_set_avatar(echo, NULL, 0, NULL);
		} else {
			char uid[32];

			demo_of(s)->avatar_n++;
			snprintf(uid, sizeof uid, "echo-%u", demo_of(s)->avatar_n);
			set_png_avatar(echo, 0x4040d0u + demo_of(s)->avatar_n * 0x2000u,
			    0xe0f0e0u, demo_of(s)->avatar_n, uid);
		}
	} else if (IS("/friend-request")) {
		script_friend_request(s);
	} else if (IS("/my-presence")) {
		slidge_contact_send_text(echo, demo_of(s)->user_presence[0] ?
		    demo_of(s)->user_presence : "unknown", NULL, NULL);
	} else if (IS("/burst")) {
		script_burst(echo, args);
	} else if (IS("/reply") || IS("/react-last") || IS("/read-last") || IS("/carbon")) {
		script_messaging(s, echo, text, len, args);
	} else if (IS("/qr") && *args != '\0') {
		demo_qr_script(s, args);
	} else if (IS("/input")) {
		demo_input_script(s, echo);
	} else if (demo_files_script(s, echo, text, len, args) == 0) {
		/* /file, /files, /file-url, /gateway-file: done (demo_files.c) */
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
	/* /crash and /hang break the network while it handles the message: the message is
	 * never accepted, so the gateway answers it with an error once the worker is gone
	 * (what the isolation tests count). */
	if (strcmp(slidge_contact_legacy_id(chat), "echo") == 0 &&
	    (strcmp(text, "/crash") == 0 || strcmp(text, "/hang") == 0)) {
		script(s, chat, text);
		return;
	}
	d->n++;
	snprintf(id, sizeof id, "u%lu", d->n);
	snprintf(echo_id, sizeof echo_id, "e%lu", d->n);
	/* The network accepts the message first, then echo reacts to it. */
	slidge_reply_str(r, id);
	demo_parity_accepted(chat, id);
	if (strcmp(slidge_contact_legacy_id(chat), "echo") != 0)
		return;
	if (text[0] == '/') {
		if (!demo_parity_script(s, chat, text, opts))
			script(s, chat, text);
		return;
	}
	snprintf(d->last_id, sizeof d->last_id, "%s", id);
	free(d->last_text);
	d->last_text = strdup(text);
	n = strlen(text) + sizeof "echo: ";
	if ((reply = malloc(n)) == NULL)
		return;
	snprintf(reply, n, "echo: %s", text);
	slidge_contact_send_text(chat, reply, echo_id, NULL);
	free(reply);
}

/* A file or a sticker is counted like a text: ids u<N> and echo's e<N> (32 bytes each).
 * -1 (r completed) when not logged in. */
static int
demo_count(struct slidge_session *s, struct slidge_reply *r, char *id, char *echo_id)
{
	struct demo *d = demo_of(s);

	if (d == NULL) {
		slidge_reply_error(r, SLIDGE_INTERNAL_SERVER_ERROR, "Not logged in");
		return -1;
	}
	d->n++;
	snprintf(id, 32, "u%lu", d->n);
	snprintf(echo_id, 32, "e%lu", d->n);
	return 0;
}

static void
demo_on_file(struct slidge_session *s, struct slidge_contact *chat,
    const struct slidge_file *f, const struct slidge_text_opts *opts, struct slidge_reply *r)
{
	char id[32], echo_id[32];

	if (demo_count(s, r, id, echo_id) == 0)
		demo_files_on_file(chat, f, id, echo_id, r);
}

static void
demo_on_sticker(struct slidge_session *s, struct slidge_contact *chat,
    const struct slidge_sticker *st, const struct slidge_text_opts *opts,
    struct slidge_reply *r)
{
	char id[32], echo_id[32];

	if (demo_count(s, r, id, echo_id) == 0)
		demo_files_on_sticker(chat, st, id, echo_id, r);
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

/* ---- contact presentation: friends, search, the user's presence ------------------ */

static void
script_friend_request(struct slidge_session *s)
{
	struct demo *d = demo_of(s);
	struct slidge_contact *carol;

	/* carol exists on the network from now on (jid_username_to_legacy_id). */
	d->carol = 1;
	if ((carol = slidge_roster_by_legacy_id(s, "carol")) != NULL)
		slidge_contact_send_friend_request(carol, NULL);
}

static void
demo_on_friend_request(struct slidge_contact *c, const char *text)
{
	/* Everybody on the demo network accepts the user at once. */
	slidge_contact_accept_friend_request(c, NULL);
}

static void
demo_on_friend_accept(struct slidge_contact *c)
{
	/* The user accepted carol's request: she is a friend now. */
	if (!slidge_contact_is_friend(c))
		slidge_contact_add_to_roster(c);
}

static void
demo_on_friend_delete(struct slidge_contact *c, const char *text)
{
	slidge_log(slidge_contact_session(c), SLIDGE_LOG_INFO, "demo network: %s is no "
	    "longer a friend", slidge_contact_legacy_id(c));
}

static void
demo_on_search(struct slidge_session *s, const struct slidge_form *form,
    struct slidge_reply *r)
{
	const char *phone = slidge_form_get(form, "phone");
	struct slidge_contact *alice;
	const char *values[1];

	slidge_search_field(r, "jid", "JID", "jid-single");
	if (phone != NULL && strcmp(phone, "+1000") == 0 &&
	    (alice = slidge_roster_by_legacy_id(s, "alice")) != NULL) {
		values[0] = slidge_contact_jid(alice);
		slidge_search_item(r, values);
	}
	slidge_reply_ok(r);
}

static void
demo_on_presence(struct slidge_session *s, const char *resource,
    const struct slidge_presence *p, const struct slidge_presence *merged)
{
	struct demo *d = demo_of(s);

	if (d == NULL)
		return;
	if (merged == NULL)
		snprintf(d->user_presence, sizeof d->user_presence, "unavailable");
	else
		snprintf(d->user_presence, sizeof d->user_presence, "%s|%s",
		    merged->show[0] ? merged->show : "available", merged->status);
}

/* ---- the module -------------------------------------------------------------------- */

static const char *const *
demo_available_emojis(struct slidge_contact *c, const char *legacy_msg_id)
{
	static const char *const limited[] = { "\xf0\x9f\x91\x8d", "\xe2\x9d\xa4", NULL };

	return limited;
}

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
	/* XEP-0444 restrictions (REACTIONS_SINGLE_EMOJI, available_emojis) */
	flow = slidge_option("demo-reactions");
	if (strcmp(flow, "single") == 0) {
		m->reactions_single_emoji = 1;
	} else if (strcmp(flow, "limited") == 0) {
		m->available_emojis = demo_available_emojis;
	} else if (strcmp(flow, "any") != 0) {
		slidge_log(NULL, SLIDGE_LOG_ERROR,
		    "--demo-reactions must be any, single or limited, not \"%s\"", flow);
		return -1;
	}
	return demo_parity_init(m);
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
	.on_correct = demo_on_correct,
	.on_react = demo_on_react,
	.on_retract = demo_on_retract,
	.roster_fill = demo_roster_fill,
	.jid_username_to_legacy_id = demo_jid_username_to_legacy_id,
	.update_info = demo_update_info,
	/* contact presentation */
	.on_friend_request = demo_on_friend_request,
	.on_friend_accept = demo_on_friend_accept,
	.on_friend_delete = demo_on_friend_delete,
	.on_search = demo_on_search,
	.on_presence = demo_on_presence,
	/* one-to-one parity (demo_parity.c) */
	.on_displayed = demo_parity_on_displayed,
	.create_thread = demo_parity_create_thread,
	.on_avatar = demo_parity_on_avatar,
	/* files (demo_files.c) */
	.on_file = demo_on_file,
	.on_sticker = demo_on_sticker,
	/* commands (demo_commands.c) */
	.commands = demo_commands,
};
