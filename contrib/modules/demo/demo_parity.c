/* demo_parity.c: the demo network's additions for one-to-one parity with slidge (issue 4):
 * delays, threads, link previews, hints, markers, receipts and avatars, each observable
 * from an XMPP client. Everything below is an addition to /work/shared/DEMO.md.
 *
 * Module options:
 *   --demo-receipts auto|proper   auto (default): the gateway acks each message
 *                                 (XEP-0184) itself; proper: PROPER_RECEIPTS, and the
 *                                 network confirms every message the user sends, to any
 *                                 contact, at once (slidge_contact_received: a XEP-0184
 *                                 receipt and a XEP-0333 received marker)
 *   --demo-mark-all no|yes        MARK_ALL_MESSAGES (default no)
 *   --demo-component-avatar PATH  the gateway's picture is this file
 *                                 (component_avatar_path) instead of the built-in
 *                                 8x8 PNG (COMPONENT_AVATAR)
 *
 * Echo's script commands:
 *   /old T                echo sends T dated one day ago (XEP-0203 delay)
 *   /recent T             echo sends T dated one minute ago (below slidge's 300 s
 *                         threshold: no delay)
 *   /thread ID T          echo sends T in the legacy thread ID
 *   /which-thread         echo says "thread: <legacy thread of this message>" (or
 *                         "thread: none"), in that thread
 *   /preview URL          echo sends "see URL" with a link preview of URL (title
 *                         "Demo preview", description "A page on the demo network",
 *                         site name "Demo")
 *   /what-preview ...     echo says "preview: <about>|<title>|<description>" of the first
 *                         link preview of this message, or "preview: none"
 *   /hints LIST T         echo sends T with exactly the hints in LIST, comma-separated
 *                         among markable, store, no-store, no-copy, no-permanent-store,
 *                         or "none"
 *   /avatar-url URL       echo's avatar is the picture at URL (fetched by the gateway;
 *                         the URL is its unique id)
 *   /displayed            echo says "displayed: ID ID ..." with the legacy ids on_displayed
 *                         got since the last /displayed, in order ("displayed: none")
 *
 * Other behaviours:
 *   - login: the username slow-login takes three seconds to log in (the core's work
 *     before the login is over can be seen);
 *   - create_thread: an XMPP thread X the network has not seen becomes the legacy thread
 *     "lt-X";
 *   - on_avatar: echo says "your avatar: <sha1> <type> <width>x<height> <bytes>", or
 *     "your avatar: none" when the user removed it;
 *   - COMPONENT_AVATAR: the gateway has a picture (an 8x8 PNG). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo_parity.h"

#define DAY 86400
#define MINUTE 60
#define DISPLAYED_MAX 2048
#define SLOW_LOGIN 3.0

/* The gateway's picture: an 8x8 RGB gradient. */
static const unsigned char component_png[] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
	0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x08,
	0x08, 0x02, 0x00, 0x00, 0x00, 0x4b, 0x6d, 0x29, 0xdc, 0x00, 0x00, 0x00,
	0x6d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x15, 0xce, 0x51, 0x11, 0x00,
	0x51, 0x08, 0x42, 0x51, 0xa3, 0x18, 0x85, 0x28, 0x44, 0x31, 0xca, 0x8d,
	0x42, 0x14, 0xa2, 0xec, 0x5b, 0x3f, 0x39, 0x0c, 0xe3, 0xcc, 0xb0, 0x83,
	0x06, 0x0f, 0x37, 0x30, 0x64, 0xe8, 0x30, 0xb3, 0xec, 0xa2, 0xc5, 0xcb,
	0x2d, 0x2c, 0x59, 0xba, 0x0f, 0xc4, 0x0a, 0x09, 0x8b, 0x13, 0x88, 0x88,
	0xea, 0x81, 0x59, 0x23, 0x63, 0x73, 0x06, 0x13, 0x53, 0x3f, 0x38, 0xf6,
	0xd0, 0xe1, 0xe3, 0x0e, 0x8e, 0x1c, 0xbd, 0x07, 0xff, 0xec, 0x1b, 0x78,
	0xd5, 0x17, 0xfe, 0x17, 0xe8, 0x7b, 0x62, 0xc2, 0x06, 0x05, 0x87, 0xcb,
	0x1f, 0x27, 0x34, 0x0f, 0xca, 0x16, 0x15, 0x97, 0xeb, 0x5f, 0x4e, 0x69,
	0xf9, 0x00, 0xde, 0xa8, 0x60, 0x01, 0xb4, 0x9b, 0xb4, 0x6d, 0x00, 0x00,
	0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

/* One worker serves one user: the network's state for that user. */
static int proper_receipts;
static char displayed[DISPLAYED_MAX];   /* ids given to on_displayed, space-separated */

int
demo_parity_init(struct slidge_module *m)
{
	const char *v = slidge_option("demo-receipts");

	if (strcmp(v, "proper") == 0) {
		m->proper_receipts = proper_receipts = 1;
	} else if (strcmp(v, "auto") != 0) {
		slidge_log(NULL, SLIDGE_LOG_ERROR,
		    "--demo-receipts must be auto or proper, not \"%s\"", v);
		return -1;
	}
	v = slidge_option("demo-mark-all");
	if (strcmp(v, "yes") == 0) {
		m->mark_all_messages = 1;
	} else if (strcmp(v, "no") != 0) {
		slidge_log(NULL, SLIDGE_LOG_ERROR, "--demo-mark-all must be yes or no, not \"%s\"",
		    v);
		return -1;
	}
	v = slidge_option("demo-component-avatar");
	if (*v != '\0') {
		m->component_avatar_path = v;
	} else {
		m->component_avatar = component_png;
		m->component_avatar_len = sizeof component_png;
	}
	return 0;
}

struct slow_login {
	struct slidge_reply *r;
	char status[300];
};

static void
slow_login_done(struct slidge_session *s, void *arg)
{
	struct slow_login *l = arg;

	slidge_reply_str(l->r, l->status);
	free(l);
}

void
demo_parity_login(struct slidge_session *s, struct slidge_reply *r, const char *username,
    const char *status)
{
	struct slow_login *l;

	if (strcmp(username, "slow-login") != 0) {
		slidge_reply_str(r, status);
		return;
	}
	if ((l = calloc(1, sizeof *l)) == NULL) {
		slidge_reply_error(r, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory");
		return;
	}
	l->r = r;
	snprintf(l->status, sizeof l->status, "%s", status);
	if (slidge_timer_add(s, SLOW_LOGIN, slow_login_done, l) == NULL) {
		free(l);
		slidge_reply_str(r, status);
	}
}

void
demo_parity_accepted(struct slidge_contact *chat, const char *legacy_id)
{
	if (proper_receipts)
		slidge_contact_received(chat, legacy_id, NULL);
}

/* ---- echo's script ----------------------------------------------------------------- */

static void
say(struct slidge_contact *echo, const char *text, const struct slidge_send_opts *o)
{
	slidge_contact_send_text(echo, text, NULL, o);
}

/* The hint bits of a comma-separated list; -1 if a word is unknown. */
static int
parse_hints(const char *list, size_t len, unsigned *out)
{
	static const struct {
		const char *word;
		unsigned bit;
	} hints[] = {
		{ "markable", SLIDGE_HINT_MARKABLE },
		{ "store", SLIDGE_HINT_STORE },
		{ "no-store", SLIDGE_HINT_NO_STORE },
		{ "no-copy", SLIDGE_HINT_NO_COPY },
		{ "no-permanent-store", SLIDGE_HINT_NO_PERMANENT_STORE },
		{ "none", 0 },
	};
	size_t i, n;

	*out = SLIDGE_HINTS_SET;
	while (len > 0) {
		n = strcspn(list, ",");
		if (n > len)
			n = len;
		for (i = 0; i < sizeof hints / sizeof hints[0]; i++)
			if (strlen(hints[i].word) == n && strncmp(hints[i].word, list, n) == 0)
				break;
		if (i == sizeof hints / sizeof hints[0])
			return -1;
		*out |= hints[i].bit;
		list += n;
		len -= n;
		if (len > 0) {
			list++;
			len--;
		}
	}
	return 0;
}

/* "/cmd WORD REST": WORD's length, *rest after it (NULL if there is no REST). */
static size_t
split(const char *args, const char **rest)
{
	size_t n = strcspn(args, " ");

	*rest = args[n] == ' ' && args[n + 1] != '\0' ? args + n + 1 : NULL;
	return n;
}

static void
script_thread(struct slidge_contact *echo, const char *args)
{
	struct slidge_send_opts o = { 0 };
	const char *rest;
	char thread[256];
	size_t n = split(args, &rest);

	if (n == 0 || rest == NULL || n >= sizeof thread) {
		say(echo, "usage: /thread ID TEXT", NULL);
		return;
	}
	memcpy(thread, args, n);
	thread[n] = '\0';
	o.thread = thread;
	say(echo, rest, &o);
}

static void
script_hints(struct slidge_contact *echo, const char *args)
{
	struct slidge_send_opts o = { 0 };
	const char *rest;
	size_t n = split(args, &rest);

	if (n == 0 || rest == NULL || parse_hints(args, n, &o.hints) < 0) {
		say(echo, "usage: /hints markable,store,no-store,no-copy,no-permanent-store|none "
		    "TEXT", NULL);
		return;
	}
	say(echo, rest, &o);
}

static void
script_preview(struct slidge_contact *echo, const char *url)
{
	struct slidge_link_preview p = { 0 };
	struct slidge_send_opts o = { 0 };
	char text[1100];

	if (*url == '\0' || strlen(url) > 1000) {
		say(echo, "usage: /preview URL", NULL);
		return;
	}
	p.about = url;
	p.url = url;
	p.title = "Demo preview";
	p.description = "A page on the demo network";
	p.site_name = "Demo";
	o.link_previews = &p;
	o.n_link_previews = 1;
	snprintf(text, sizeof text, "see %s", url);
	say(echo, text, &o);
}

static void
script_what_preview(struct slidge_contact *echo, const struct slidge_text_opts *opts)
{
	const struct slidge_link_preview *p;
	char text[2048];

	if (opts == NULL || opts->n_link_previews == 0) {
		say(echo, "preview: none", NULL);
		return;
	}
	p = &opts->link_previews[0];
	snprintf(text, sizeof text, "preview: %s|%s|%s", p->about ? p->about : "",
	    p->title ? p->title : "", p->description ? p->description : "");
	say(echo, text, NULL);
}

int
demo_parity_script(struct slidge_session *s, struct slidge_contact *echo, const char *text,
    const struct slidge_text_opts *opts)
{
	struct slidge_send_opts o = { 0 };
	size_t len = strcspn(text, " ");
	const char *args = text[len] == ' ' ? text + len + 1 : "";
	char line[DISPLAYED_MAX + 32];

#define IS(word) (len == strlen(word) && strncmp(text, word, len) == 0)
	if (IS("/old") || IS("/recent")) {
		o.when = time(NULL) - (IS("/old") ? DAY : MINUTE);
		say(echo, args, &o);
	} else if (IS("/thread")) {
		script_thread(echo, args);
	} else if (IS("/which-thread")) {
		o.thread = opts != NULL ? opts->thread : NULL;
		snprintf(line, sizeof line, "thread: %s", o.thread ? o.thread : "none");
		say(echo, line, &o);
	} else if (IS("/preview")) {
		script_preview(echo, args);
	} else if (IS("/what-preview")) {
		script_what_preview(echo, opts);
	} else if (IS("/hints")) {
		script_hints(echo, args);
	} else if (IS("/avatar-url")) {
		if (*args == '\0' || slidge_contact_set_avatar_url(echo, args, NULL) < 0)
			say(echo, "usage: /avatar-url http(s)://...", NULL);
	} else if (IS("/displayed")) {
		snprintf(line, sizeof line, "displayed: %s", displayed[0] ? displayed : "none");
		displayed[0] = '\0';
		say(echo, line, NULL);
	} else {
		return 0;
	}
#undef IS
	return 1;
}

/* ---- hooks ------------------------------------------------------------------------- */

void
demo_parity_on_displayed(struct slidge_session *s, struct slidge_contact *chat,
    const char *legacy_msg_id, const char *thread)
{
	size_t used = strlen(displayed);

	slidge_log(s, SLIDGE_LOG_DEBUG, "demo network: %s displayed",
	    slidge_contact_legacy_id(chat));
	if (used + strlen(legacy_msg_id) + 2 > sizeof displayed)
		return;   /* a test reads them long before this fills */
	snprintf(displayed + used, sizeof displayed - used, "%s%s", used ? " " : "",
	    legacy_msg_id);
}

int
demo_parity_create_thread(struct slidge_contact *c, const char *xmpp_thread, char *out,
    size_t outsz)
{
	if ((size_t)snprintf(out, outsz, "lt-%s", xmpp_thread) >= outsz)
		return -1;
	return 0;
}

void
demo_parity_on_avatar(struct slidge_session *s, const void *data, size_t len,
    const char *hash, const char *type, unsigned width, unsigned height)
{
	struct slidge_contact *echo = slidge_roster_lookup(s, "echo");
	char text[256];

	if (data == NULL || len == 0)
		snprintf(text, sizeof text, "your avatar: none");
	else
		snprintf(text, sizeof text, "your avatar: %s %s %ux%u %zu", hash, type, width,
		    height, len);
	slidge_log(s, SLIDGE_LOG_INFO, "demo network: the user's avatar changed");
	if (echo != NULL)
		say(echo, text, NULL);
}
