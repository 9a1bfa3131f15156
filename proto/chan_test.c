/* chan_test.c: two channels on a socketpair in one libev loop: thousands of frames both
 * ways (large ones included, so writes are partial), EOF, hostile bytes written raw,
 * chan_free inside callbacks, pause/resume, the queue's hard limit, chan_flush. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chan.h"

static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		failures++; \
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

#define LARGE (256 * 1024)

/* One end of a test pair and what it has seen. */
struct end {
	const char *name;
	struct chan *c;
	struct ev_loop *loop;
	unsigned long sent;       /* items sent by the pump */
	unsigned long recvd;      /* items received */
	unsigned long target;     /* items to send and to receive */
	unsigned long frames;     /* frames delivered to on_msg */
	unsigned long expect_emit; /* supervisor side: the EMIT that must follow an ACK */
	int want_emit;
	int errs;                 /* on_err calls */
	int err;
	char why[256];
	unsigned long free_at;    /* chan_free inside on_msg at this frame (0: never) */
	unsigned long pause_at;   /* chan_pause inside on_msg at this frame (0: never) */
	int free_on_err;          /* chan_free inside on_err */
	int after_free;           /* callbacks after chan_free: must stay 0 */
	int freed;
	int bad;                  /* content mismatches */
};

/* The supervisor end (reads W2S) and the worker end (reads S2W) of the current test. */
static struct end sup, wrk;
static struct end *const sup_end = &sup, *const wrk_end = &wrk;

static size_t item_size(unsigned long i)
{
	return i % 100 == 99 ? LARGE : (i * 37) % 3000;
}

static char *item_xml(unsigned long i, size_t *len)
{
	size_t n = item_size(i), j;
	char *s = malloc(n + 1);

	if (!s)
		abort();
	for (j = 0; j < n; j++)
		s[j] = (char)('a' + (i + j) % 26);
	s[n] = '\0';
	*len = n;
	return s;
}

static int item_ok(unsigned long i, const struct proto_val *v)
{
	size_t n;
	char *want = item_xml(i, &n);
	int ok = v->s && v->len == n && memcmp(v->s, want, n) == 0;

	free(want);
	return ok;
}

/* Tests that set targets end when both ends have received theirs. */
static void stop_if_done(struct ev_loop *loop)
{
	if ((sup.target || wrk.target) && sup.recvd >= sup.target && wrk.recvd >= wrk.target)
		ev_break(loop, EVBREAK_ALL);
}

static void on_msg(struct chan *c, struct proto_msg *m, void *arg)
{
	struct end *e = arg;

	if (e->freed) {
		e->after_free++;
		return;
	}
	e->frames++;
	if (e == wrk_end) {
		/* The worker side gets STANZA i, and PING i after every tenth. */
		if (m->type == PROTO_STANZA) {
			if (m->v[STANZA_seq].u != e->recvd || !item_ok(e->recvd, &m->v[STANZA_xml]))
				e->bad++;
			e->recvd++;
		} else if (m->type == PROTO_PING) {
			if (m->v[PING_seq].u + 1 != e->recvd || e->recvd % 10 != 1)
				e->bad++;
		} else {
			e->bad++;
		}
	} else {
		/* The supervisor side gets ACK i then EMIT i. */
		if (m->type == PROTO_ACK && !e->want_emit) {
			if (m->v[ACK_seq].u != e->recvd)
				e->bad++;
			e->want_emit = 1;
			e->expect_emit = e->recvd;
		} else if (m->type == PROTO_EMIT && e->want_emit) {
			if (!item_ok(e->expect_emit, &m->v[EMIT_xml]))
				e->bad++;
			e->want_emit = 0;
			e->recvd++;
		} else {
			e->bad++;
		}
	}
	if (e->free_at && e->frames == e->free_at) {
		e->freed = 1;
		chan_free(c);
		return;
	}
	if (e->pause_at && e->frames == e->pause_at)
		chan_pause(c, 1);
	stop_if_done(e->loop);
}

static void on_err(struct chan *c, int err, const char *why, void *arg)
{
	struct end *e = arg;

	if (e->freed) {
		e->after_free++;
		return;
	}
	e->errs++;
	e->err = err;
	snprintf(e->why, sizeof(e->why), "%s", why);
	if (e->free_on_err) {
		e->freed = 1;
		chan_free(c);
	}
	ev_break(e->loop, EVBREAK_ALL);
}

/* Send the next item from one end: STANZA (+ PING) from the supervisor, ACK + EMIT from
 * the worker. */
static int send_item(struct end *e)
{
	struct proto_val v[PROTO_FIELDS_MAX];
	size_t len;
	char *xml = item_xml(e->sent, &len);
	int r;

	memset(v, 0, sizeof(v));
	if (e == sup_end) {
		v[STANZA_seq].u = e->sent;
		v[STANZA_xml].s = xml;
		v[STANZA_xml].len = len;
		r = chan_send(e->c, PROTO_STANZA, v);
		if (r == 0 && e->sent % 10 == 0) {
			memset(v, 0, sizeof(v));
			v[PING_seq].u = e->sent;
			r = chan_send(e->c, PROTO_PING, v);
		}
	} else {
		v[ACK_seq].u = e->sent;
		r = chan_send(e->c, PROTO_ACK, v);
		memset(v, 0, sizeof(v));
		v[EMIT_xml].s = xml;
		v[EMIT_xml].len = len;
		if (r == 0)
			r = chan_send(e->c, PROTO_EMIT, v);
	}
	free(xml);
	if (r == 0)
		e->sent++;
	return r;
}

/* After every loop iteration, top up both queues to 2 MiB. */
static void pump(struct end *e)
{
	while (!e->freed && e->sent < e->target && chan_pending(e->c) < 2 * 1024 * 1024)
		if (send_item(e) < 0) {
			e->bad++;
			return;
		}
}

static void pump_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	pump(sup_end);
	pump(wrk_end);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	fprintf(stderr, "FAIL: %s timed out\n", (const char *)w->data);
	failures++;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until something breaks it, at most secs seconds. */
static void run(struct ev_loop *loop, double secs, const char *what)
{
	ev_timer t;

	ev_timer_init(&t, timeout_cb, secs, 0);
	t.data = (void *)what;
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	ev_timer_stop(loop, &t);
}

/* Fresh ends; with both set, a socketpair between them, else only the supervisor end on
 * sv[0] and the raw other end returned in *raw. */
static void pair(struct ev_loop *loop, int both, int *raw)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("socketpair");
		exit(2);
	}
	memset(&sup, 0, sizeof(sup));
	memset(&wrk, 0, sizeof(wrk));
	sup.name = "supervisor";
	wrk.name = "worker";
	sup.loop = wrk.loop = loop;
	sup.c = chan_new(loop, sv[0], PROTO_W2S, on_msg, on_err, &sup);
	if (both)
		wrk.c = chan_new(loop, sv[1], PROTO_S2W, on_msg, on_err, &wrk);
	else
		*raw = sv[1];
	if (!sup.c || (both && !wrk.c))
		abort();
}

static void test_bulk(struct ev_loop *loop)
{
	ev_check chk;

	pair(loop, 1, NULL);
	sup.target = wrk.target = 3000;
	ev_check_init(&chk, pump_cb);
	ev_check_start(loop, &chk);
	pump(&sup);
	pump(&wrk);
	run(loop, 60, "bulk");
	ev_check_stop(loop, &chk);
	CHECK(sup.recvd == 3000 && wrk.recvd == 3000, "received %lu/%lu", sup.recvd, wrk.recvd);
	CHECK(sup.bad == 0 && wrk.bad == 0, "bad %d/%d", sup.bad, wrk.bad);
	CHECK(sup.errs == 0 && wrk.errs == 0, "errors: %s / %s", sup.why, wrk.why);
	CHECK(chan_frames_out(sup.c) == 3000 + 300, "sup out %llu", chan_frames_out(sup.c));
	CHECK(chan_frames_in(wrk.c) == 3000 + 300, "wrk in %llu", chan_frames_in(wrk.c));
	CHECK(chan_frames_out(wrk.c) == 6000 && chan_frames_in(sup.c) == 6000, "worker frames");
	CHECK(chan_pending(sup.c) == 0 && chan_pending(wrk.c) == 0, "pending %zu/%zu",
	    chan_pending(sup.c), chan_pending(wrk.c));
	chan_free(sup.c);
	chan_free(wrk.c);
}

/* chan_new sets O_NONBLOCK and FD_CLOEXEC; chan_free closes the fd. */
static void test_fd_flags(struct ev_loop *loop)
{
	int raw, fd;

	pair(loop, 0, &raw);
	fd = chan_fd(sup.c);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK, "O_NONBLOCK");
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "FD_CLOEXEC");
	chan_free(sup.c);
	CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "fd closed");
	close(raw);
	chan_free(NULL);
	CHECK(chan_new(loop, 9999, PROTO_W2S, on_msg, on_err, NULL) == NULL, "bad fd");
}

/* Frames sent right before a close arrive, then EOF (err 0); chan_free inside on_err is
 * safe. */
static void test_eof(struct ev_loop *loop)
{
	struct proto_val v[PROTO_FIELDS_MAX];
	int i;

	pair(loop, 1, NULL);
	sup.free_on_err = 1;
	memset(v, 0, sizeof(v));
	for (i = 0; i < 3; i++) {
		v[ACK_seq].u = (uint64_t)i;
		CHECK(chan_send(wrk.c, PROTO_ACK, v) == 0, "ack");
		v[EMIT_xml].s = "";
		CHECK(chan_send(wrk.c, PROTO_EMIT, v) == 0, "emit");
	}
	CHECK(chan_flush(wrk.c, 1000) == 0, "flush");
	chan_free(wrk.c);
	run(loop, 5, "eof");
	CHECK(sup.frames == 6 && sup.recvd == 3, "frames before eof: %lu", sup.frames);
	CHECK(sup.errs == 1 && sup.err == 0 && strcmp(sup.why, "eof") == 0, "eof: %d %d %s",
	    sup.errs, sup.err, sup.why);
	CHECK(sup.after_free == 0, "callbacks after free");
}

/* A partial frame, then EOF. */
static void test_eof_inside_frame(struct ev_loop *loop)
{
	int raw;

	pair(loop, 0, &raw);
	sup.free_on_err = 1;
	CHECK(write(raw, "\0\0\0\x10\x92\x05", 6) == 6, "write");
	close(raw);
	run(loop, 5, "eof inside a frame");
	CHECK(sup.errs == 1 && sup.err == 0 &&
	    strcmp(sup.why, "eof inside a frame (6 bytes)") == 0, "%s", sup.why);
}

struct raw_case {
	const char *name;
	const char *bytes;
	size_t len;
	unsigned long want_frames;
	int want_err;
	const char *want_why;
};

/* Hostile bytes written raw to the socket: a protocol error with a readable why, after
 * the good frames before them are delivered. */
static void test_hostile(struct ev_loop *loop)
{
	static const struct raw_case cases[] = {
		{ "prefix ffffffff", "\xff\xff\xff\xff", 4, 0, PROTO_ERR_TOO_BIG,
		  "frame too big: 4294967295 bytes" },
		{ "prefix FRAME_MAX+1", "\0\x10\0\x01", 4, 0, PROTO_ERR_TOO_BIG,
		  "frame too big: 1048577 bytes" },
		{ "ack over its max", "\0\0\0\x41\x92\x05", 6, 0, PROTO_ERR_TOO_BIG,
		  "frame too big: 65 bytes (ack, max 64)" },
		{ "ack then unknown type", "\0\0\0\x03\x92\x05\x00" "\0\0\0\x02\x92\x63", 13, 1,
		  PROTO_ERR_UNKNOWN, "unknown message type 99" },
		{ "ack then direction", "\0\0\0\x03\x92\x05\x00" "\0\0\0\x02\x92\x0a", 13, 1,
		  PROTO_ERR_DIRECTION, "message ping not allowed in this direction" },
		{ "facts dd04", "\0\0\0\x05\xdd\x04\0\0\0", 9, 0, PROTO_ERR_MALFORMED,
		  "malformed frame of 5 bytes" },
		{ "trailing byte", "\0\0\0\x04\x92\x05\x07\x00", 8, 0, PROTO_ERR_MALFORMED,
		  "malformed ack frame of 4 bytes" },
	};
	size_t i;
	int raw;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct raw_case *rc = &cases[i];

		pair(loop, 0, &raw);
		sup.free_on_err = 1;
		CHECK(write(raw, rc->bytes, rc->len) == (ssize_t)rc->len, "write");
		run(loop, 5, rc->name);
		CHECK(sup.frames == rc->want_frames, "%s: %lu frames", rc->name, sup.frames);
		CHECK(sup.errs == 1 && sup.err == rc->want_err, "%s: err %d (%s)", rc->name,
		    sup.err, sup.why);
		CHECK(strcmp(sup.why, rc->want_why) == 0, "%s: why '%s'", rc->name, sup.why);
		close(raw);
	}
}

/* chan_free inside on_msg with more frames in the same read: nothing more is delivered
 * and nothing is touched after the free (ASan would say); the other end sees EOF. */
static void test_free_in_callback(struct ev_loop *loop)
{
	int i;

	pair(loop, 1, NULL);
	wrk.free_at = 3;
	for (i = 0; i < 10; i++)
		CHECK(send_item(&sup) == 0, "send");
	run(loop, 5, "free in callback");
	CHECK(wrk.frames == 3, "frames %lu", wrk.frames);
	CHECK(wrk.after_free == 0, "callbacks after free: %d", wrk.after_free);
	CHECK(sup.errs == 1 && sup.err == 0, "sup err %d %s", sup.err, sup.why);
	chan_free(sup.c);
}

static void resume_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	CHECK(wrk.frames == wrk.pause_at, "frames while paused: %lu", wrk.frames);
	chan_pause(wrk.c, 0);
}

/* Pause inside on_msg with frames buffered: none is delivered until the resume, then all
 * are, without new bytes on the socket. */
static void test_pause(struct ev_loop *loop)
{
	ev_timer resume;
	int i;

	pair(loop, 1, NULL);
	wrk.pause_at = 5;
	wrk.target = 20;
	for (i = 0; i < 20; i++)
		CHECK(send_item(&sup) == 0, "send");
	ev_timer_init(&resume, resume_cb, 0.2, 0);
	ev_timer_start(loop, &resume);
	run(loop, 5, "pause");
	ev_timer_stop(loop, &resume);
	CHECK(wrk.recvd == 20 && wrk.bad == 0, "recvd %lu bad %d", wrk.recvd, wrk.bad);
	CHECK(wrk.errs == 0, "err %s", wrk.why);
	chan_free(sup.c);
	chan_free(wrk.c);
}

/* With the reader paused, the queue grows to its hard limit (16 MiB) and chan_send then
 * says -1, leaving the queue as it was; after the resume everything arrives. */
static void test_queue_limit(struct ev_loop *loop)
{
	struct proto_val v[PROTO_FIELDS_MAX];
	size_t before = 0, len;
	unsigned long n;
	char *xml = item_xml(99, &len);

	pair(loop, 1, NULL);
	chan_pause(wrk.c, 1);
	memset(v, 0, sizeof(v));
	v[STANZA_xml].s = xml;
	v[STANZA_xml].len = len;
	for (n = 0; n < 200; n++) {
		before = chan_pending(sup.c);
		v[STANZA_seq].u = n;
		if (chan_send(sup.c, PROTO_STANZA, v) < 0)
			break;
	}
	CHECK(n < 200, "no limit");
	CHECK(chan_pending(sup.c) == before, "queue changed by a refused send");
	CHECK(before <= 16 * 1024 * 1024 && before > 16 * 1024 * 1024 - len - 64,
	    "pending %zu", before);
	CHECK(chan_frames_out(sup.c) == n, "frames out %llu", chan_frames_out(sup.c));
	free(xml);
	/* Every STANZA counts as received; their contents do not match item n, ignore. */
	wrk.target = n;
	chan_pause(wrk.c, 0);
	run(loop, 30, "drain");
	CHECK(chan_frames_in(wrk.c) == n, "delivered %llu of %lu", chan_frames_in(wrk.c), n);
	CHECK(chan_pending(sup.c) == 0, "pending after drain %zu", chan_pending(sup.c));
	chan_free(sup.c);
	chan_free(wrk.c);
}

/* chan_flush writes everything out to a reader in another process; with nobody reading
 * it gives up after its timeout. */
static void test_flush(struct ev_loop *loop)
{
	struct proto_val v[PROTO_FIELDS_MAX];
	static char big[100 * 1024];
	int raw, i, status, pfd[2];
	long total = 0;
	pid_t pid;
	ssize_t r;

	pair(loop, 0, &raw);
	if (pipe(pfd) < 0)
		abort();
	memset(big, 'x', sizeof(big) - 1);
	memset(v, 0, sizeof(v));
	v[STANZA_xml].s = big;
	for (i = 0; i < 40; i++)
		CHECK(chan_send(sup.c, PROTO_STANZA, v) == 0, "queue");
	CHECK(chan_pending(sup.c) > 0, "something pending");
	CHECK(chan_flush(sup.c, 50) == -1, "flush with no reader");
	CHECK(chan_pending(sup.c) > 0, "still pending");

	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		char b[65536];

		close(chan_fd(sup.c));
		close(pfd[0]);
		while ((r = read(raw, b, sizeof(b))) > 0)
			total += r;
		if (write(pfd[1], &total, sizeof(total)) != sizeof(total))
			_exit(1);
		_exit(0);
	}
	close(raw);
	close(pfd[1]);
	CHECK(chan_flush(sup.c, 10000) == 0, "flush to a reader");
	CHECK(chan_pending(sup.c) == 0, "pending %zu", chan_pending(sup.c));
	chan_free(sup.c);
	CHECK(read(pfd[0], &total, sizeof(total)) == sizeof(total), "child count");
	CHECK(total == 40L * (4 + 1 + 1 + 1 + 5 + (long)sizeof(big) - 1), "child read %ld", total);
	close(pfd[0]);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}

/* A value over the table's limits is refused without touching the queue. A peer gone
 * makes chan_send fail and the reading side report EOF. */
static void test_dead_peer(struct ev_loop *loop)
{
	struct proto_val v[PROTO_FIELDS_MAX];
	char *huge = malloc(LARGE + 2);
	int raw;

	if (!huge)
		abort();
	memset(huge, 'y', LARGE + 1);
	huge[LARGE + 1] = '\0';
	pair(loop, 0, &raw);
	sup.free_on_err = 1;
	memset(v, 0, sizeof(v));
	v[STANZA_xml].s = huge;
	CHECK(chan_send(sup.c, PROTO_STANZA, v) == -1 && chan_pending(sup.c) == 0,
	    "over the limit");
	CHECK(chan_frames_out(sup.c) == 0, "counted a refused frame");
	free(huge);
	close(raw);
	memset(v, 0, sizeof(v));
	/* Frames are written when the loop turns: the send is queued, the EPIPE comes then,
	 * and the read side reports the EOF. */
	CHECK(chan_send(sup.c, PROTO_PING, v) == 0, "send to a closed peer is queued");
	run(loop, 5, "dead peer");
	CHECK(sup.errs == 1 && sup.err == 0 && strcmp(sup.why, "eof") == 0, "dead peer: %d %s",
	    sup.err, sup.why);
}

/* A write error other than EPIPE (here: the fd is not a socket and is read-only) is
 * reported through the loop, once, with errno. */
static void test_write_error(struct ev_loop *loop)
{
	struct proto_val v[PROTO_FIELDS_MAX];
	int p[2];

	if (pipe(p) < 0)
		abort();
	memset(&sup, 0, sizeof(sup));
	memset(&wrk, 0, sizeof(wrk));
	sup.loop = loop;
	sup.free_on_err = 1;
	/* The read end of a pipe: readable (never), and every write fails with EBADF. */
	sup.c = chan_new(loop, p[0], PROTO_W2S, on_msg, on_err, &sup);
	memset(v, 0, sizeof(v));
	CHECK(chan_send(sup.c, PROTO_PING, v) == 0, "queued");
	run(loop, 5, "write error");
	CHECK(sup.errs == 1 && sup.err == EBADF, "err %d %s", sup.err, sup.why);
	CHECK(strncmp(sup.why, "write: ", 7) == 0, "why %s", sup.why);
	close(p[1]);
}

int main(void)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	/* chan uses MSG_NOSIGNAL: a SIGPIPE here would be a bug, so let it kill us. */
	signal(SIGPIPE, SIG_DFL);
	test_fd_flags(loop);
	test_bulk(loop);
	test_eof(loop);
	test_eof_inside_frame(loop);
	test_hostile(loop);
	test_free_in_callback(loop);
	test_pause(loop);
	test_queue_limit(loop);
	test_flush(loop);
	test_dead_peer(loop);
	test_write_error(loop);
	ev_loop_destroy(loop);
	if (failures) {
		fprintf(stderr, "chan_test: %d failures\n", failures);
		return 1;
	}
	printf("chan_test: ok\n");
	return 0;
}
