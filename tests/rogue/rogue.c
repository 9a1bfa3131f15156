/* rogue.c: a legacy module that plays a compromised worker, for the isolation tests
 * (tests/integration/test_isolation.py).
 *
 * A compromised worker is arbitrary code in the worker process: this module is loaded
 * by the real slidge-worker, runs inside its real sandbox, and writes raw bytes on fd 3,
 * the worker's channel to slidged, behind the core's back. For normal text it behaves
 * like the demo's echo (registration username + password, login "Connected as
 * <username>", one contact `echo` that answers "echo: <text>"), so that the tests can
 * see the session come back after slidged killed it. The script commands:
 *
 *   /rogue spoof-from          EMIT a message from someone@other.domain
 *   /rogue other-user JID      EMIT a message from echo to another user, JID
 *   /rogue two-stanzas JID     EMIT two top-level stanzas, the second to JID
 *   /rogue huge-length         a frame header announcing 0xffffffff bytes
 *   /rogue hostile-msgpack     a 5-byte frame: an array32 header counting 2^32-1 items
 *   /rogue hostile-str         an EMIT whose xml string header says 2^32-1 bytes
 *   /rogue garbage-xml         EMIT with unparseable XML
 *   /rogue unknown-type        a frame of message type 99
 *   /rogue ack-unknown         an ACK for a seq slidged never sent
 *   /rogue hello-again         a second HELLO
 *   /rogue last-words [N]      N valid EMITs ("last words i/N", default 10), then _exit(0)
 *   /rogue flood [SECONDS]     valid EMITs (to its own user) as fast as the socket takes
 *                              them, for SECONDS (default 3); the server drops them
 *   /crash, /hang              as the demo: abort, busy loop
 *
 * Every hostile frame is written while on_text runs, before the core acks the stanza
 * that asked for it: slidged must read the frame, kill the worker and bounce that
 * stanza. Frames are encoded by hand here (u32 big-endian length + msgpack array
 * [type, fields...], proto/messages.def) so that nothing of the core's encoder can
 * correct them. Marker: every stanza body this module forges contains "ROGUE", so the
 * tests can check that none ever reaches anyone. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "legacy.h"

#define CHAN_FD 3
#define T_ACK 5          /* proto/messages.def */
#define T_EMIT 6
#define T_HELLO 1
#define T_UNKNOWN 99

struct rogue {
	char username[256];
	unsigned long n;
};

/* ---- raw bytes on fd 3 -------------------------------------------------------------- */

/* Write everything, waiting while the (non-blocking) socket is full, until deadline
 * (CLOCK_MONOTONIC seconds; 0: 10 s from now). -1 when slidged is gone or time is up. */
static int
raw_write(const void *p, size_t n, double deadline)
{
	const unsigned char *b = p;
	struct timespec ts;

	if (deadline == 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		deadline = (double)ts.tv_sec + ts.tv_nsec / 1e9 + 10;
	}
	while (n > 0) {
		ssize_t w = write(CHAN_FD, b, n);
		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = CHAN_FD, .events = POLLOUT };
			double now;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
			if (now >= deadline)
				return -1;
			poll(&pfd, 1, (int)((deadline - now) * 1000) + 1);
			continue;
		}
		return -1;
	}
	return 0;
}

static void
be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* msgpack str header for n bytes into p; returns its length. */
static size_t
str_header(unsigned char *p, size_t n)
{
	if (n < 32) {
		p[0] = (unsigned char)(0xa0 | n);
		return 1;
	}
	if (n < 256) {
		p[0] = 0xd9;
		p[1] = (unsigned char)n;
		return 2;
	}
	if (n < 65536) {
		p[0] = 0xda;
		p[1] = (unsigned char)(n >> 8);
		p[2] = (unsigned char)n;
		return 3;
	}
	p[0] = 0xdb;
	be32(p + 1, (uint32_t)n);
	return 5;
}

/* A whole EMIT frame: [6, xml]. */
static int
emit_raw(const char *xml, double deadline)
{
	size_t n = strlen(xml), h;
	unsigned char *f = malloc(n + 16);
	int rc;

	if (f == NULL)
		return -1;
	f[4] = 0x92;
	f[5] = T_EMIT;
	h = str_header(f + 6, n);
	memcpy(f + 6 + h, xml, n);
	be32(f, (uint32_t)(2 + h + n));
	rc = raw_write(f, 4 + 2 + h + n, deadline);
	free(f);
	return rc;
}

/* ---- the hostile acts ------------------------------------------------------------- */

static void
rogue_act(struct slidge_session *s, struct slidge_contact *echo, const char *cmd,
    const char *arg)
{
	const char *user = slidge_session_user_jid(s);
	const char *gw = slidge_session_component_jid(s);
	char xml[4096];

	slidge_log(s, SLIDGE_LOG_WARN, "rogue: %s", cmd);
	if (strcmp(cmd, "spoof-from") == 0) {
		snprintf(xml, sizeof xml, "<message from='someone@other.domain/x' to='%s' "
		    "type='chat' id='rogue-spoof'><body>ROGUE spoofed from</body></message>", user);
		emit_raw(xml, 0);
	} else if (strcmp(cmd, "other-user") == 0 && *arg) {
		snprintf(xml, sizeof xml, "<message from='echo@%s/slidge' to='%s' type='chat' "
		    "id='rogue-other'><body>ROGUE to another user</body></message>", gw, arg);
		emit_raw(xml, 0);
	} else if (strcmp(cmd, "two-stanzas") == 0 && *arg) {
		snprintf(xml, sizeof xml, "<message from='echo@%s/slidge' to='%s' type='chat'>"
		    "<body>ROGUE first</body></message><message from='echo@%s/slidge' to='%s' "
		    "type='chat'><body>ROGUE second, to another user</body></message>",
		    gw, user, gw, arg);
		emit_raw(xml, 0);
	} else if (strcmp(cmd, "huge-length") == 0) {
		static const unsigned char f[] = { 0xff, 0xff, 0xff, 0xff, 0x92, T_EMIT, 0xa0 };
		raw_write(f, sizeof f, 0);
	} else if (strcmp(cmd, "hostile-msgpack") == 0) {
		static const unsigned char f[] = { 0, 0, 0, 5, 0xdd, 0xff, 0xff, 0xff, 0xff };
		raw_write(f, sizeof f, 0);
	} else if (strcmp(cmd, "hostile-str") == 0) {
		static const unsigned char f[] = { 0, 0, 0, 12, 0x92, T_EMIT, 0xdb, 0xff, 0xff,
			0xff, 0xff, '<', 'm', 'e', 's', 's' };
		raw_write(f, sizeof f, 0);
	} else if (strcmp(cmd, "garbage-xml") == 0) {
		snprintf(xml, sizeof xml, "<message from='echo@%s/slidge' to='%s' type='chat'>"
		    "<body>ROGUE garbage</bod></mess<<&;>", gw, user);
		emit_raw(xml, 0);
	} else if (strcmp(cmd, "unknown-type") == 0) {
		static const unsigned char f[] = { 0, 0, 0, 3, 0x92, T_UNKNOWN, 0x00 };
		raw_write(f, sizeof f, 0);
	} else if (strcmp(cmd, "ack-unknown") == 0) {
		/* [5, 4000000000]: uint32 */
		static const unsigned char f[] = { 0, 0, 0, 7, 0x92, T_ACK, 0xce, 0xee, 0x6b,
			0x28, 0x00 };
		raw_write(f, sizeof f, 0);
	} else if (strcmp(cmd, "hello-again") == 0) {
		/* [1, 1, "session", 1] */
		static const unsigned char f[] = { 0, 0, 0, 12, 0x94, T_HELLO, 0x01, 0xa7,
			's', 'e', 's', 's', 'i', 'o', 'n', 0x01 };
		raw_write(f, sizeof f, 0);
	} else if (strcmp(cmd, "last-words") == 0) {
		/* Valid stanzas, then an exit: what a worker said before it died must still
		 * reach its user (whatever slidged notices first, the exit or the frames). */
		long i, n = *arg ? atol(arg) : 10;

		if (n < 1 || n > 1000)
			n = 10;
		for (i = 1; i <= n; i++) {
			snprintf(xml, sizeof xml, "<message from='echo@%s/slidge' to='%s' type='chat'>"
			    "<body>last words %ld/%ld</body></message>", gw, user, i, n);
			if (emit_raw(xml, 0) < 0)
				break;
		}
		_exit(0);
	} else if (strcmp(cmd, "flood") == 0) {
		struct timespec ts;
		double end, now;
		unsigned long i = 0;
		double secs = *arg ? atof(arg) : 3.0;

		if (secs <= 0 || secs > 30)
			secs = 3.0;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
		end = now + secs;
		while (now < end) {
			/* Valid by the rules (from a contact, to its own user), and dropped by
			 * the server (an error to a resource that does not exist), so that the
			 * flood loads slidged and its component stream, not the test's client. */
			snprintf(xml, sizeof xml, "<message from='echo@%s/slidge' to='%s/rogue-void' "
			    "type='error'><body>ROGUE flood %lu</body></message>", gw, user, ++i);
			if (emit_raw(xml, end) < 0)
				break;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
		}
		slidge_log(s, SLIDGE_LOG_WARN, "rogue: flooded %lu frames", i);
	} else {
		slidge_contact_send_text(echo, "rogue: unknown act", NULL, NULL);
	}
}

/* ---- an echo network, as the demo's ---------------------------------------------- */

static void
rogue_validate(const char *user_jid, const struct slidge_form *form, struct slidge_reply *r)
{
	const char *username = slidge_form_get(form, "username");

	if (username == NULL || *username == '\0') {
		slidge_reply_error(r, SLIDGE_NOT_ACCEPTABLE, "A username is needed");
		return;
	}
	slidge_reply_set(r, "username", username);
	slidge_reply_ok(r);
}

static void
rogue_login(struct slidge_session *s, struct slidge_reply *r)
{
	const char *username = slidge_session_data_get(s, "username");
	struct rogue *d;
	char status[300];

	if (username == NULL || (d = calloc(1, sizeof *d)) == NULL) {
		slidge_reply_error(r, SLIDGE_NOT_AUTHORIZED, "Invalid credentials");
		return;
	}
	snprintf(d->username, sizeof d->username, "%s", username);
	slidge_session_set_priv(s, d);
	snprintf(status, sizeof status, "Connected as %s", username);
	slidge_reply_str(r, status);
}

static void
rogue_logout(struct slidge_session *s)
{
	free(slidge_session_priv(s));
	slidge_session_set_priv(s, NULL);
}

static void
rogue_update_info(struct slidge_contact *c)
{
	if (strcmp(slidge_contact_legacy_id(c), "echo") == 0) {
		slidge_contact_set_name(c, "Echo");
		slidge_contact_online(c, "I repeat everything", 0);
	}
}

static void
rogue_roster_fill(struct slidge_session *s, struct slidge_reply *r)
{
	struct slidge_contact *c = slidge_roster_by_legacy_id(s, "echo");

	if (c != NULL)
		slidge_contact_add_to_roster(c);
	slidge_reply_ok(r);
}

static int
rogue_jid_username_to_legacy_id(struct slidge_session *s, const char *username,
    const char **why)
{
	if (strcmp(username, "echo") == 0)
		return 0;
	*why = "No such contact on the rogue network";
	return -1;
}

static void
rogue_on_text(struct slidge_session *s, struct slidge_contact *chat, const char *text,
    const struct slidge_text_opts *opts, struct slidge_reply *r)
{
	struct rogue *d = slidge_session_priv(s);
	char id[32], echo_id[32], *reply;
	volatile unsigned long spin = 0;
	size_t n;

	if (d == NULL) {
		slidge_reply_error(r, SLIDGE_INTERNAL_SERVER_ERROR, "Not logged in");
		return;
	}
	d->n++;
	/* Hostile acts happen before the reply: the stanza is not acked yet. */
	if (strncmp(text, "/rogue ", 7) == 0) {
		char cmd[64] = "";
		const char *args = text + 7;
		size_t len = strcspn(args, " ");

		snprintf(cmd, sizeof cmd, "%.*s", (int)(len < 63 ? len : 63), args);
		rogue_act(s, chat, cmd, args[len] == ' ' ? args + len + 1 : "");
	} else if (strcmp(text, "/crash") == 0) {
		abort();
	} else if (strcmp(text, "/hang") == 0) {
		for (;;)
			spin++;
	}
	snprintf(id, sizeof id, "u%lu", d->n);
	snprintf(echo_id, sizeof echo_id, "e%lu", d->n);
	slidge_reply_str(r, id);
	if (text[0] == '/')
		return;
	n = strlen(text) + sizeof "echo: ";
	if ((reply = malloc(n)) == NULL)
		return;
	snprintf(reply, n, "echo: %s", text);
	slidge_contact_send_text(chat, reply, echo_id, NULL);
	free(reply);
}

static const struct slidge_form_field registration_fields[] = {
	{ .var = "username", .label = "Username", .type = "text-single", .required = 1 },
	{ .var = "password", .label = "Password", .type = "text-private", .required = 1 },
	{ .var = NULL },
};

struct slidge_module slidge_module_v1 = {
	.abi = SLIDGE_LEGACY_ABI,
	.name = "rogue",
	.version = "0.0.1",
	.component_name = "Rogue network (tests only)",
	.component_type = "rogue",
	.registration_type = SLIDGE_SINGLE_STEP_FORM,
	.registration_fields = registration_fields,
	.validate = rogue_validate,
	.login = rogue_login,
	.logout = rogue_logout,
	.on_text = rogue_on_text,
	.roster_fill = rogue_roster_fill,
	.jid_username_to_legacy_id = rogue_jid_username_to_legacy_id,
	.update_info = rogue_update_info,
};
