/* main.c: slidge-worker, the slidge core for one user (proto/PROTOCOL.md).
 *
 * slidged fork+execs one worker per registered user (role "session") and one per
 * registration in progress (role "register"), with the channel on fd 3. The worker loads
 * the legacy module first (so that a bad module or option fails before any protocol),
 * says HELLO, then serves the frames in the table below. Every frame type is allowed
 * only in the role and state the table says: anything else from the supervisor is
 * impossible and ends the worker (fatalx), as a protocol error would. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "build_config.h"
#include "chan.h"
#include "cmd.h"
#include "jid.h"
#include "log.h"
#if SLIDGE_SANDBOX
#include "sandbox.h"
#endif
#include "worker.h"
#include "parity.h"
#include "attach.h"
#include "http.h"
#include "upload.h"
#include "xml.h"

#define CHAN_FD 3
#define FLUSH_TIMEOUT_MS 2000

struct worker worker;

static void
usage(void)
{
	fprintf(stderr, "usage: slidge-worker --module NAME|PATH --role session|register "
	    "--jid COMPONENT_JID --state-dir DIR [--log-level N] [-- MODULE OPTIONS...]\n");
	exit(2);
}

/* ---- pacing: what this worker emits stays within slidged's flood guard -------------
 *
 * slidged kills a worker that emits more than --worker-emit-burst stanzas at once or
 * --worker-emit-rate per second (a flood of the stream every user shares). A module
 * that sends a lot at once (a history backlog, the demo's /burst) is not a flood: its
 * stanzas wait here, in order, and go out at 90% of the allowed rate. */

struct held {
	struct held *next;
	char *xml;
	size_t len;
};

static struct {
	double rate, burst, tokens;
	ev_tstamp at;
	struct held *head, **tail;
	size_t n;
	ev_timer drain;
} pace = { .rate = 900.0, .burst = 1800.0, .tokens = 1800.0, .tail = &pace.head };

static void
pace_refill(void)
{
	ev_tstamp now = ev_now(worker.loop);

	pace.tokens += (now - pace.at) * pace.rate;
	pace.at = now;
	if (pace.tokens > pace.burst)
		pace.tokens = pace.burst;
}

static int
emit_now(const char *xml, size_t len)
{
	struct proto_val v[EMIT__NFIELDS] = { 0 };

	v[EMIT_xml].s = xml;
	v[EMIT_xml].len = len;
	pace.tokens -= 1.0;
	if (chan_send(worker.chan, PROTO_EMIT, v) < 0) {
		log_error("cannot queue an emit frame to the supervisor");
		return -1;
	}
	return 0;
}

static void
pace_drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct held *h;

	(void)loop;
	(void)t;
	(void)revents;
	pace_refill();
	while ((h = pace.head) != NULL && pace.tokens >= 1.0 && worker.chan != NULL) {
		pace.head = h->next;
		if (pace.head == NULL)
			pace.tail = &pace.head;
		pace.n--;
		emit_now(h->xml, h->len);
		free(h->xml);
		free(h);
	}
	if (pace.head != NULL) {
		ev_timer_set(&pace.drain, 0.01, 0.);
		ev_timer_start(worker.loop, &pace.drain);
	}
}

static int
pace_emit(const struct proto_val *v)
{
	struct held *h;
	size_t len = v[EMIT_xml].len ? v[EMIT_xml].len : strlen(v[EMIT_xml].s);

	if (pace.at == 0)
		pace.at = ev_now(worker.loop);
	pace_refill();
	if (pace.head == NULL && pace.tokens >= 1.0)
		return emit_now(v[EMIT_xml].s, len);
	if ((h = calloc(1, sizeof *h)) == NULL || (h->xml = malloc(len + 1)) == NULL) {
		free(h);
		log_error("out of memory holding an emit frame");
		return -1;
	}
	memcpy(h->xml, v[EMIT_xml].s, len);
	h->xml[len] = '\0';
	h->len = len;
	*pace.tail = h;
	pace.tail = &h->next;
	pace.n++;
	if (!ev_is_active(&pace.drain)) {
		ev_init(&pace.drain, pace_drain_cb);
		ev_timer_set(&pace.drain, 0.01, 0.);
		ev_timer_start(worker.loop, &pace.drain);
	}
	return 0;
}

/* Send everything held, whatever the rate: the worker is about to exit. */
static void
pace_flush_all(void)
{
	struct held *h;

	while ((h = pace.head) != NULL) {
		pace.head = h->next;
		if (worker.chan != NULL)
			emit_now(h->xml, h->len);
		free(h->xml);
		free(h);
	}
	pace.tail = &pace.head;
	pace.n = 0;
}

int
worker_send(enum proto_type t, const struct proto_val *v)
{
	if (worker.chan == NULL)
		return -1;
	/* A message behind a file in flight waits for it (attach.c). */
	if (t == PROTO_EMIT && attach_hold(v[EMIT_xml].s,
	    v[EMIT_xml].len ? v[EMIT_xml].len : strlen(v[EMIT_xml].s)))
		return 0;
	if (t == PROTO_EMIT)
		return pace_emit(v);
	if (chan_send(worker.chan, t, v) < 0) {
		log_error("cannot queue a %s frame to the supervisor", proto_name(t));
		return -1;
	}
	return 0;
}

size_t
worker_clip(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	/* Back off to the start of a UTF-8 sequence: never cut a character in two. */
	for (n = max; n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; n--)
		;
	return n;
}

void
worker_ack(uint64_t seq)
{
	struct proto_val v[ACK__NFIELDS] = { 0 };

	v[ACK_seq].u = seq;
	worker_send(PROTO_ACK, v);
}

void
worker_exit(int code)
{
	/* What is queued (the last stanzas, ACKs, STATE) must reach slidged before we go:
	 * the channel is flushed with a bounded wait, then everything is released so that
	 * sanitizer runs see no leak. */
	attach_free_all();
	pace_flush_all();
	if (worker.chan != NULL) {
		if (chan_flush(worker.chan, FLUSH_TIMEOUT_MS) < 0)
			log_warn("could not flush the channel before exiting");
		chan_free(worker.chan);
		worker.chan = NULL;
	}
	inbound_free_waiting();
	timer_cancel_all(NULL);
	reply_free_all();
	module_unload();
	xmlCleanupParser();
	exit(code);
}

/* ---- frame handlers --------------------------------------------------------------- */

static void
on_hello(struct proto_msg *m)
{
	const char *role = m->v[HELLO_role].s;

	if (m->v[HELLO_version].u != PROTO_VERSION) {
		log_error("supervisor speaks protocol version %llu, this worker %d: closing",
		    (unsigned long long)m->v[HELLO_version].u, PROTO_VERSION);
		worker_exit(1);
	}
	if (strcmp(role, "supervisor") != 0)
		fatalx("peer says it is a \"%s\", not the supervisor", role);
	worker.hello_done = 1;
	log_debug("supervisor pid %llu says hello", (unsigned long long)m->v[HELLO_pid].u);
	if (module_send_manifest() < 0)
		worker_exit(1);
}

static void
on_validate(struct proto_msg *m)
{
	register_validate(m);
}

static void
on_start(struct proto_msg *m)
{
	if (session != NULL)
		fatalx("a second START for this session");
	session_start(m);
}

static void
on_stanza(struct proto_msg *m)
{
	if (worker.role == ROLE_REGISTER) {
		register_stanza(m);   /* iq answers only (qr.c's upload) */
		return;
	}
	if (session == NULL)
		fatalx("a stanza before START");
	if (worker.stopping)
		return;   /* not acked: slidged bounces it */
	inbound_stanza(m->v[STANZA_seq].u, m->v[STANZA_xml].s, m->v[STANZA_xml].len);
}

static void
on_ping(struct proto_msg *m)
{
	struct proto_val v[PONG__NFIELDS] = { 0 };

	v[PONG_seq].u = m->v[PING_seq].u;
	worker_send(PROTO_PONG, v);
}

static void
on_stop(struct proto_msg *m)
{
	const char *reason = m->v[STOP_reason].s;
	int unregister = m->v[STOP_unregister].u != 0;

	if (worker.stopping)
		return;   /* already on the way out */
	log_info("stop requested (%s)%s", reason[0] ? reason : "no reason",
	    unregister ? ", unregistering" : "");
	worker.stopping = 1;
	if (worker.role == ROLE_SESSION && session != NULL) {
		session_stop(reason, unregister);   /* exits when the teardown is done */
		return;
	}
	worker_exit(0);
}

static void
on_loglevel(struct proto_msg *m)
{
	uint64_t level = m->v[LOGLEVEL_level].u;

	if (level > LOG_LVL_ERROR)
		fatalx("log level %llu out of range", (unsigned long long)level);
	log_set_level((enum log_level)level);
}

#define R_REG (1u << ROLE_REGISTER)
#define R_SES (1u << ROLE_SESSION)

/* Which frame is allowed when: a schema of the protocol, checked before any handler. */
static const struct {
	enum proto_type type;
	unsigned roles;
	int after_hello;
	void (*fn)(struct proto_msg *);
} dispatch[] = {
	{ PROTO_HELLO,    R_REG | R_SES, 0, on_hello },
	{ PROTO_VALIDATE, R_REG,         1, on_validate },
	{ PROTO_START,    R_SES,         1, on_start },
	{ PROTO_STANZA,   R_REG | R_SES, 1, on_stanza },
	{ PROTO_PING,     R_REG | R_SES, 1, on_ping },
	{ PROTO_STOP,     R_REG | R_SES, 1, on_stop },
	{ PROTO_LOGLEVEL, R_REG | R_SES, 1, on_loglevel },
	{ PROTO_USER_ADMIN, R_SES,       1, cmd_user_admin },   /* before START */
};

static void
chan_msg(struct chan *c, struct proto_msg *m, void *arg)
{
	size_t i;

	for (i = 0; i < sizeof dispatch / sizeof dispatch[0]; i++) {
		if (dispatch[i].type != m->type)
			continue;
		if (!(dispatch[i].roles & (1u << worker.role)))
			fatalx("%s is not for a %s worker", proto_name(m->type), worker.role_name);
		if (dispatch[i].after_hello != worker.hello_done)
			fatalx("%s %s the supervisor's hello", proto_name(m->type),
			    worker.hello_done ? "after" : "before");
		dispatch[i].fn(m);
		return;
	}
	fatalx("unexpected %s frame from the supervisor", proto_name(m->type));
}

static void
chan_err(struct chan *c, int err, const char *why, void *arg)
{
	if (err == 0) {
		/* The supervisor died or closed us: nobody is left to talk to. */
		log_info("the supervisor closed the channel: exiting");
		chan_free(worker.chan);
		worker.chan = NULL;
		session_abort();
		worker_exit(0);
	}
	log_error("channel error: %s", why ? why : strerror(err > 0 ? err : EPROTO));
	chan_free(worker.chan);
	worker.chan = NULL;
	session_abort();
	worker_exit(1);
}

/* ARCHITECTURE.md "Trust rules": the module is loaded and initialised, the channel is
 * set up; from here on the worker only talks to slidged and the legacy network. slidged
 * checks /proc for the sandbox when the MANIFEST arrives, so this comes before it. */
static void
enter_sandbox(void)
{
#if SLIDGE_SANDBOX
	struct sandbox_conf conf = { 0 };
	struct sandbox_report rep;

	conf.state_dir = worker.state_dir;
	/* HTTP (attachments) adds --http-ports and the no-upload directory. */
	conf.ports = http_sandbox_ports(module->connect_ports);
	conf.rw_dir = upload_no_upload_path();
	if (sandbox_enter(&conf, &rep) < 0)
		fatalx("cannot enter the sandbox");
	log_debug("sandboxed: seccomp, landlock abi %d%s", rep.landlock_abi,
	    rep.landlock_net ? ", tcp ports" : "");
#else
	log_warn("this worker is NOT sandboxed (built with -Dsandbox=false, for sanitizer "
	    "runs only)");
#endif
}

static int
parse_level(const char *s)
{
	char *end;
	long n;

	n = strtol(s, &end, 10);
	if (*s != '\0' && *end == '\0')
		return n >= LOG_LVL_DEBUG && n <= LOG_LVL_ERROR ? (int)n : -1;
	return log_level_parse(s);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "role", required_argument, NULL, 'r' },
		{ "jid", required_argument, NULL, 'j' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "emit-rate", required_argument, NULL, 'R' },
		{ "emit-burst", required_argument, NULL, 'B' },
		/* attachments (attach.c, upload.c, http.c) */
		{ "upload-service", required_argument, NULL, 'A' },
		{ "upload-requester", required_argument, NULL, 'A' },
		{ "no-upload-path", required_argument, NULL, 'A' },
		{ "no-upload-url-prefix", required_argument, NULL, 'A' },
		{ "no-upload-method", required_argument, NULL, 'A' },
		{ "no-upload-file-read-others", required_argument, NULL, 'A' },
		{ "use-attachment-original-urls", required_argument, NULL, 'A' },
		{ "attachment-maximum-file-name-length", required_argument, NULL, 'A' },
		{ "attachment-max-size", required_argument, NULL, 'A' },
		{ "http-ports", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	const char *modname = NULL, *role = NULL, *jid = NULL;
	struct proto_val hello[HELLO__NFIELDS] = { 0 };
	int ch, li = 0, level = LOG_LVL_INFO;

	/* "+": stop at the first non-option so that module options are never permuted. */
	while ((ch = getopt_long(argc, argv, "+", longopts, &li)) != -1) {
		switch (ch) {
		case 'm': modname = optarg; break;
		case 'r': role = optarg; break;
		case 'j': jid = optarg; break;
		case 's': worker.state_dir = optarg; break;
		case 'A':
			if (attach_set_option(longopts[li].name, optarg) < 0)
				exit(2);
			break;
		case 'R':
			if (atof(optarg) >= 2)
				pace.rate = 0.9 * atof(optarg);
			break;
		case 'B':
			if (atof(optarg) >= 2)
				pace.tokens = pace.burst = 0.9 * atof(optarg);
			break;
		case 'l':
			if ((level = parse_level(optarg)) < 0) {
				fprintf(stderr, "slidge-worker: bad log level: %s\n", optarg);
				exit(2);
			}
			break;
		default: usage();
		}
	}
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0)
		usage();
	if (modname == NULL || role == NULL || jid == NULL || worker.state_dir == NULL)
		usage();
	if (strcmp(role, "session") == 0)
		worker.role = ROLE_SESSION;
	else if (strcmp(role, "register") == 0)
		worker.role = ROLE_REGISTER;
	else
		usage();
	worker.role_name = role;

	log_init("slidge-worker", (enum log_level)level);
	if (jid_to_bare(jid, worker.component_jid, sizeof worker.component_jid) < 0) {
		fprintf(stderr, "slidge-worker: bad component JID: %s\n", jid);
		exit(2);
	}
	if (fcntl(CHAN_FD, F_GETFD) < 0)
		fatal("fd %d (the channel to slidged) is not open", CHAN_FD);
	/* A write to a dead supervisor must be an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	xml_init();

	/* The loop exists before init: a module may set timers from there. */
	if ((worker.loop = ev_default_loop(0)) == NULL)
		fatalx("cannot initialise libev");
	module_load(modname);
	module_parse_options(argc - optind, argv + optind);
	module_init();
	avatar_component_load();   /* component_avatar_path: read before the sandbox */

	worker.chan = chan_new(worker.loop, CHAN_FD, PROTO_S2W, chan_msg, chan_err, NULL);
	if (worker.chan == NULL)
		fatalx("cannot set up the channel");
	enter_sandbox();
	hello[HELLO_version].u = PROTO_VERSION;
	hello[HELLO_role].s = worker.role_name;
	hello[HELLO_pid].u = (uint64_t)getpid();
	if (worker_send(PROTO_HELLO, hello) < 0)
		worker_exit(1);

	ev_run(worker.loop, 0);
	/* The loop only ends when nothing is left to watch: the channel is gone. */
	session_abort();
	worker_exit(0);
}
