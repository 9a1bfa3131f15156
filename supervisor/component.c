/* component.c: the XEP-0114 connection to the XMPP server.
 *
 * One TCP stream, opened with <stream:stream xmlns='jabber:component:accept'>, then
 * <handshake>sha1(stream id + secret)</handshake>. Everything the server sends goes
 * through the libxml2 push-parser splitter (no DTD, no entities, size and depth limits);
 * each stanza goes to route_stanza(). A bad stream from the server gets a stream error
 * and a new connection, never a crash. While the server is away, outgoing stanzas wait in
 * a bounded buffer and the workers are paused (backpressure) instead of buffering without
 * bound. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "log.h"
#include "slidged.h"
#include "xml.h"

#define PENDING_MAX (8u * 1024 * 1024)  /* stanzas kept while the server is away */
#define CONGESTED_AT (1u * 1024 * 1024) /* unsent bytes that pause the workers */
#define BACKOFF_MIN 1.0
#define BACKOFF_MAX 60.0
#define STABLE_AFTER 30.0               /* a stream up this long resets the backoff */

enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_READY };

static struct {
	enum cstate state;
	int fd;
	ev_io rw, ww;
	ev_timer retry;
	ev_timer dropper;     /* drops a failed stream outside the parser's callbacks */
	double backoff;
	ev_tstamp ready_at;
	struct xml_stream *xs;
	struct buf wbuf;      /* bytes to write on the socket now */
	struct buf pending;   /* stanzas waiting for the stream to be ready */
	int reset;            /* the stream must be dropped once the parser returns */
	int congested;
	int stopping;
	unsigned long long in, out;
} C = { .fd = -1, .backoff = BACKOFF_MIN };

static void c_connect(void);
static void c_update_congestion(void);

int
component_ready(void)
{
	return C.state == C_READY;
}

int
component_congested(void)
{
	return C.congested;
}

unsigned long long
component_stanzas_in(void)
{
	return C.in;
}

unsigned long long
component_stanzas_out(void)
{
	return C.out;
}

static void
c_want_write(void)
{
	if (C.fd >= 0 && buf_avail(&C.wbuf) > 0 && !ev_is_active(&C.ww))
		ev_io_start(G.loop, &C.ww);
}

/* Write what we can now; the rest when the socket is writable again. */
static int
c_flush(void)
{
	while (buf_avail(&C.wbuf) > 0) {
		ssize_t n = write(C.fd, buf_head(&C.wbuf), buf_avail(&C.wbuf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			log_warn("component: write: %s", strerror(errno));
			return -1;
		}
		buf_consume(&C.wbuf, (size_t)n);
	}
	if (buf_avail(&C.wbuf) == 0)
		ev_io_stop(G.loop, &C.ww);
	else
		c_want_write();
	c_update_congestion();
	return 0;
}

static void
c_update_congestion(void)
{
	int now = C.state != C_READY || buf_avail(&C.wbuf) > CONGESTED_AT;

	if (now == C.congested)
		return;
	C.congested = now;
	log_debug("component: %s workers", now ? "pausing" : "resuming");
	workers_pause_all(now);
}

static void
c_schedule_retry(void)
{
	if (C.stopping)
		return;
	log_info("component: reconnecting in %.0f s", C.backoff);
	ev_timer_set(&C.retry, C.backoff, 0.);
	ev_timer_start(G.loop, &C.retry);
	C.backoff *= 2;
	if (C.backoff > BACKOFF_MAX)
		C.backoff = BACKOFF_MAX;
}

/* Drop the connection and schedule a new one. */
static void
c_drop(void)
{
	if (C.fd >= 0) {
		ev_io_stop(G.loop, &C.rw);
		ev_io_stop(G.loop, &C.ww);
		close(C.fd);
		C.fd = -1;
	}
	if (C.xs) {
		xml_stream_free(C.xs);
		C.xs = NULL;
	}
	/* Whatever was in flight on the dead socket is lost with it; stanzas not yet handed
	 * to the socket stay in pending for the next stream. */
	buf_reset(&C.wbuf);
	if (C.state == C_READY && ev_now(G.loop) - C.ready_at > STABLE_AFTER)
		C.backoff = BACKOFF_MIN;
	C.state = C_IDLE;
	C.reset = 0;
	ev_timer_stop(G.loop, &C.dropper);
	c_update_congestion();
	c_schedule_retry();
}

/* The stream failed somewhere we cannot free it (inside a parser callback, or a send
 * from elsewhere): drop it from the loop, right after the current callback. */
static void
c_fail(void)
{
	C.reset = 1;
	if (!ev_is_active(&C.dropper)) {
		ev_timer_set(&C.dropper, 0., 0.);
		ev_timer_start(G.loop, &C.dropper);
	}
}

static void
c_dropper_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (C.reset)
		c_drop();
}

/* Tell the server why we give up on this stream, then drop it. */
static void
c_stream_error(const char *condition, const char *text)
{
	struct buf b = BUF_INIT;

	log_warn("component: stream error %s: %s", condition, text ? text : "");
	if (C.fd >= 0) {
		buf_printf(&b, "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
		    condition);
		if (text) {
			buf_puts(&b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>");
			buf_put_xml_escaped(&b, text);
			buf_puts(&b, "</text>");
		}
		buf_puts(&b, "</stream:error></stream:stream>");
		/* Best effort, non-blocking: the peer may be gone already. */
		if (write(C.fd, b.data, b.len) < 0)
			log_debug("component: stream error not sent: %s", strerror(errno));
		buf_free(&b, 0);
	}
	C.reset = 1;
}

static void
xs_open(void *arg, const char **attrs)
{
	const char *id = NULL;
	unsigned char digest[20];
	char hex[41];
	struct buf b = BUF_INIT;
	size_t i;

	(void)arg;
	for (i = 0; attrs && attrs[i]; i += 2)
		if (strcmp(attrs[i], "id") == 0)
			id = attrs[i + 1];
	if (C.state != C_HANDSHAKE) {
		c_stream_error("conflict", "unexpected stream header");
		return;
	}
	if (!id || !*id) {
		c_stream_error("invalid-id", "the stream header has no id");
		return;
	}
	/* XEP-0114 §3: the handshake is the hex SHA-1 of the stream id and the secret. */
	if (buf_puts(&b, id) < 0 || buf_puts(&b, G.cfg.secret) < 0 ||
	    gnutls_hash_fast(GNUTLS_DIG_SHA1, b.data, b.len, digest) < 0) {
		buf_free(&b, 1);
		c_stream_error("internal-server-error", "cannot compute the handshake");
		return;
	}
	buf_free(&b, 1);
	for (i = 0; i < sizeof digest; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	buf_printf(&C.wbuf, "<handshake>%s</handshake>", hex);
	explicit_bzero(hex, sizeof hex);
	if (c_flush() < 0)
		c_fail();
}

static void
c_ready(void)
{
	C.state = C_READY;
	C.ready_at = ev_now(G.loop);
	log_info("component: connected to %s:%d as %s", G.cfg.server, G.cfg.port, G.jid);
	if (buf_avail(&C.pending) > 0) {
		buf_append(&C.wbuf, buf_head(&C.pending), buf_avail(&C.pending));
		buf_reset(&C.pending);
	}
	if (c_flush() < 0)
		c_fail();
	c_update_congestion();
	route_connected();
}

static void
xs_stanza(void *arg, xmlDocPtr doc)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	const char *name = root ? (const char *)root->name : "";
	int is_stream_ns = root && root->ns &&
	    strcmp((const char *)root->ns->href, "http://etherx.jabber.org/streams") == 0;

	(void)arg;
	if (C.reset) {
		xmlFreeDoc(doc);
		return;
	}
	if (is_stream_ns && strcmp(name, "error") == 0) {
		xmlNodePtr cond = xml_first_elem(root);
		log_error("component: the server closed the stream: %s%s",
		    cond ? (const char *)cond->name : "unknown error",
		    C.state == C_HANDSHAKE ? " (check --jid, --secret and the server's component config)" : "");
		xmlFreeDoc(doc);
		C.reset = 1;
		return;
	}
	if (C.state == C_HANDSHAKE) {
		if (strcmp(name, "handshake") == 0)
			c_ready();
		else
			c_stream_error("not-authorized", "stanza before the handshake");
		xmlFreeDoc(doc);
		return;
	}
	C.in++;
	route_stanza(doc);
}

static void
xs_close(void *arg)
{
	(void)arg;
	log_warn("component: the server closed the stream");
	if (C.fd >= 0 && write(C.fd, "</stream:stream>", 16) < 0)
		log_debug("component: close not sent: %s", strerror(errno));
	C.reset = 1;
}

static void
xs_error(void *arg, const char *condition, const char *text)
{
	(void)arg;
	c_stream_error(condition, text);
}

static const struct xml_stream_cb xs_cb = {
	.open = xs_open,
	.stanza = xs_stanza,
	.close = xs_close,
	.error = xs_error,
};

static void
c_start_stream(void)
{
	C.state = C_HANDSHAKE;
	C.xs = xml_stream_new(&xs_cb, NULL, (size_t)G.cfg.max_stanza, 0);
	if (!C.xs) {
		log_error("component: out of memory");
		C.reset = 1;
		return;
	}
	buf_printf(&C.wbuf,
	    "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
	    "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>", G.jid);
	if (c_flush() < 0)
		c_fail();
}

static void
c_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	char rb[65536];
	ssize_t n;

	(void)loop;
	(void)w;
	(void)revents;
	n = read(C.fd, rb, sizeof rb);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			log_warn("component: read: %s", strerror(errno));
		else
			log_warn("component: connection closed by the server");
		c_drop();
		return;
	}
	if (xml_stream_feed(C.xs, rb, (size_t)n) < 0)
		C.reset = 1;
	if (C.reset)
		c_drop();
}

static void
c_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (C.state == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;

		ev_io_stop(G.loop, &C.ww);
		if (getsockopt(C.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			log_warn("component: cannot connect to %s:%d: %s", G.cfg.server,
			    G.cfg.port, strerror(err ? err : errno));
			c_drop();
			return;
		}
		ev_io_start(G.loop, &C.rw);
		c_start_stream();
		if (C.reset)
			c_drop();
		return;
	}
	if (c_flush() < 0)
		c_drop();
}

static void
c_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	c_connect();
}

static void
c_connect(void)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL, *ai;
	char port[8];
	int fd = -1, rc, one = 1;

	snprintf(port, sizeof port, "%d", G.cfg.port);
	/* A blocking lookup: the server is normally local (the component protocol has no
	 * encryption), so this is a hosts-file or loopback answer. */
	rc = getaddrinfo(G.cfg.server, port, &hints, &res);
	if (rc != 0) {
		log_warn("component: cannot resolve %s: %s", G.cfg.server, gai_strerror(rc));
		c_schedule_retry();
		return;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		log_warn("component: cannot connect to %s:%d: %s", G.cfg.server, G.cfg.port,
		    strerror(errno));
		c_schedule_retry();
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	C.fd = fd;
	C.state = C_CONNECTING;
	ev_io_set(&C.rw, fd, EV_READ);
	ev_io_set(&C.ww, fd, EV_WRITE);
	ev_io_start(G.loop, &C.ww);
}

void
component_start(void)
{
	ev_init(&C.rw, c_read_cb);
	ev_init(&C.ww, c_write_cb);
	ev_init(&C.retry, c_retry_cb);
	ev_init(&C.dropper, c_dropper_cb);
	C.congested = 1; /* workers stay paused until the stream is up */
	workers_pause_all(1);
	c_connect();
}

int
component_send(const char *xml, size_t len)
{
	if (C.state == C_READY) {
		if (buf_append(&C.wbuf, xml, len) < 0)
			return -1;
		C.out++;
		/* No write now: the write watcher sends everything queued in this loop iteration
		 * in one write(2) (one syscall per stanza was a quarter of the relay's cost). */
		c_want_write();
		c_update_congestion();
		return 0;
	}
	if (buf_avail(&C.pending) + len > PENDING_MAX) {
		log_warn("component: the server is away and %u bytes are waiting: stanza refused",
		    PENDING_MAX);
		return -1;
	}
	if (buf_append(&C.pending, xml, len) < 0)
		return -1;
	C.out++;
	return 0;
}

int
component_send_node(xmlNodePtr stanza)
{
	struct buf b = BUF_INIT;
	int rc;

	if (xml_serialize(stanza, &b) < 0) {
		buf_free(&b, 0);
		return -1;
	}
	rc = component_send(b.data, b.len);
	buf_free(&b, 0);
	return rc;
}

void
component_stop(void)
{
	struct pollfd pfd;
	ev_tstamp deadline;

	C.stopping = 1;
	ev_timer_stop(G.loop, &C.retry);
	if (C.fd < 0)
		return;
	if (C.state == C_READY)
		buf_puts(&C.wbuf, "</stream:stream>");
	/* Give the server up to two seconds to take what is queued. */
	deadline = ev_time() + 2.0;
	while (buf_avail(&C.wbuf) > 0 && ev_time() < deadline) {
		pfd.fd = C.fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 100) > 0 && c_flush() < 0)
			break;
	}
	ev_io_stop(G.loop, &C.rw);
	ev_io_stop(G.loop, &C.ww);
	close(C.fd);
	C.fd = -1;
	if (C.xs)
		xml_stream_free(C.xs);
	C.xs = NULL;
	buf_free(&C.wbuf, 0);
	buf_free(&C.pending, 0);
	C.state = C_IDLE;
}
