/* chan.c: a framed, non-blocking channel on a socket, driven by libev.
 *
 * Reading: one read of up to 64 KiB per wakeup into c->in, then every complete frame in
 * the buffer is decoded and delivered. Writing: frames are encoded into c->out and written
 * at once if nothing is queued; the rest waits for the socket to be writable.
 *
 * User callbacks may free the channel. While one of them runs, c->busy is non-zero and
 * chan_free only closes the fd and marks the channel; the watcher callback that called
 * into user code frees it once it unwinds. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"

#define CHAN_READ_SIZE (64 * 1024)
#define CHAN_QUEUE_MAX (16 * 1024 * 1024)

struct chan {
	struct ev_loop *loop;
	ev_io rio;
	ev_io wio;
	ev_prepare flushw;  /* writes what this loop iteration queued, before the loop blocks */
	int fd;
	enum proto_dir dir;
	chan_msg_cb *on_msg;
	chan_err_cb *on_err;
	void *arg;
	struct buf in;
	struct buf out;
	unsigned long long frames_in;
	unsigned long long frames_out;
	int paused;    /* reading stopped by chan_pause */
	int rstatus;   /* 0, -1 after EOF, else the errno of a failed read */
	int werr;      /* errno of a failed write, to be reported from the loop */
	int wclosed;   /* the peer is gone for writing (EPIPE): output is dropped */
	int not_sock;  /* fd is not a socket: write() instead of send() */
	int dead;      /* the error callback ran (or is running): no more callbacks */
	int freed;     /* chan_free was called inside a callback */
	int busy;      /* depth of calls into user callbacks */
};

static void chan_destroy(struct chan *c)
{
	buf_free(&c->in, 0);
	buf_free(&c->out, 0);
	free(c);
}

/* Report the channel dead, once. Only called from watcher callbacks (c->busy > 0), so a
 * chan_free inside on_err is deferred. */
static void chan_fail(struct chan *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void chan_fail(struct chan *c, int err, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (c->dead || c->freed)
		return;
	c->dead = 1;
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	ev_prepare_stop(c->loop, &c->flushw);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	c->on_err(c, err, why, c->arg);
}

/* Describe a protocol error for the log: sizes and type names, never content. */
static void chan_fail_proto(struct chan *c, enum proto_err e)
{
	uint32_t len = 0, type = UINT32_MAX;

	proto_frame_peek(buf_head(&c->in), buf_avail(&c->in), &len, &type);
	switch (e) {
	case PROTO_ERR_TOO_BIG:
		if (type != UINT32_MAX && proto_desc(type))
			chan_fail(c, e, "frame too big: %u bytes (%s, max %zu)", len,
			    proto_name(type), proto_desc(type)->max_frame);
		else
			chan_fail(c, e, "frame too big: %u bytes", len);
		break;
	case PROTO_ERR_UNKNOWN:
		chan_fail(c, e, "unknown message type %u", type);
		break;
	case PROTO_ERR_DIRECTION:
		chan_fail(c, e, "message %s not allowed in this direction", proto_name(type));
		break;
	case PROTO_ERR_MALFORMED:
		if (proto_desc(type))
			chan_fail(c, e, "malformed %s frame of %u bytes", proto_name(type), len);
		else
			chan_fail(c, e, "malformed frame of %u bytes", len);
		break;
	default:
		chan_fail(c, e, "%s (frame of %u bytes)", proto_strerror(e), len);
		break;
	}
}

/* Deliver every complete frame in c->in, until the buffer runs dry, the channel is
 * paused, fails or is freed by a callback. */
static void chan_dispatch(struct chan *c)
{
	struct proto_msg m;
	enum proto_err e;
	size_t consumed;

	while (!c->dead && !c->freed && !c->paused && buf_avail(&c->in) > 0) {
		e = proto_decode_frame(buf_head(&c->in), buf_avail(&c->in), c->dir, &consumed, &m);
		if (e == PROTO_ERR_INCOMPLETE)
			break;
		if (e != PROTO_OK) {
			chan_fail_proto(c, e);
			break;
		}
		buf_consume(&c->in, consumed);
		c->frames_in++;
		c->on_msg(c, &m, c->arg);
		proto_msg_free(&m);
	}
	if (!c->freed && buf_avail(&c->in) == 0)
		buf_reset(&c->in);
}

/* One read of up to CHAN_READ_SIZE bytes into c->in. EOF and errors are kept in
 * c->rstatus and reported after the frames already received have been delivered. */
static void chan_read(struct chan *c)
{
	ssize_t r;

	/* One byte more than the read, for the NUL the buffer keeps after its data. */
	if (buf_reserve(&c->in, CHAN_READ_SIZE + 1) < 0) {
		c->rstatus = ENOMEM;
		return;
	}
	r = read(c->fd, c->in.data + c->in.len, CHAN_READ_SIZE);
	if (r > 0) {
		c->in.len += (size_t)r;
		c->in.data[c->in.len] = '\0';
	} else if (r == 0) {
		c->rstatus = -1;
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		c->rstatus = errno;
	}
	/* Nothing more will come: level-triggered reads would fire forever. */
	if (c->rstatus)
		ev_io_stop(c->loop, &c->rio);
}

static void chan_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct chan *c = w->data;

	c->busy++;
	if ((revents & EV_READ) && !c->rstatus && !c->dead)
		chan_read(c);
	chan_dispatch(c);
	/* The end of input is reported once the frames before it are delivered; if the
	 * channel is paused with frames left, that waits for chan_pause(c, 0). */
	if (c->rstatus && !c->paused) {
		if (c->rstatus > 0)
			chan_fail(c, c->rstatus, "read: %s", strerror(c->rstatus));
		else if (buf_avail(&c->in) > 0)
			chan_fail(c, 0, "eof inside a frame (%zu bytes)", buf_avail(&c->in));
		else
			chan_fail(c, 0, "eof");
	}
	if (--c->busy == 0 && c->freed)
		chan_destroy(c);
}

/* Write as much of c->out as the socket takes. 0 when done or blocked (the write
 * watcher then runs while bytes are left), -1 with errno on a write error. */
static int chan_write(struct chan *c)
{
	ssize_t w;
	size_t n;

	while ((n = buf_avail(&c->out)) > 0) {
		/* send() with MSG_NOSIGNAL: a peer that died must give EPIPE, not kill the
		 * supervisor with SIGPIPE. */
		if (c->not_sock)
			w = write(c->fd, buf_head(&c->out), n);
		else
			w = send(c->fd, buf_head(&c->out), n, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK && !c->not_sock) {
			c->not_sock = 1;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		buf_consume(&c->out, (size_t)w);
	}
	if (buf_avail(&c->out) == 0) {
		buf_reset(&c->out);
		ev_io_stop(c->loop, &c->wio);
	} else {
		ev_io_start(c->loop, &c->wio);
	}
	return 0;
}

/* A write failed with err. A peer that closed (EPIPE) may still have frames for us in
 * the socket: drop the output and let reading deliver them and then report the EOF.
 * Otherwise (or if reading is paused, so the EOF would not be seen) report the error,
 * directly from a watcher callback or, when called from chan_send/chan_flush (inside
 * user code), through the write watcher on the next loop iteration. */
static void chan_write_failed(struct chan *c, int err, int in_watcher)
{
	if ((err == EPIPE || err == ECONNRESET) && !c->paused && !c->rstatus) {
		c->wclosed = 1;
		buf_reset(&c->out);
		ev_io_stop(c->loop, &c->wio);
		return;
	}
	c->werr = err;
	if (in_watcher)
		chan_fail(c, err, "write: %s", strerror(err));
	else
		ev_feed_event(c->loop, &c->wio, EV_CUSTOM);
}

static void chan_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct chan *c = w->data;

	c->busy++;
	if (c->werr)
		chan_fail(c, c->werr, "write: %s", strerror(c->werr));
	else if (!c->dead && chan_write(c) < 0)
		chan_write_failed(c, errno, 1);
	if (--c->busy == 0 && c->freed)
		chan_destroy(c);
}

static void chan_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct chan *c = w->data;

	ev_prepare_stop(loop, w);
	c->busy++;
	if (!c->dead && buf_avail(&c->out) > 0 && chan_write(c) < 0)
		chan_write_failed(c, errno, 1);
	if (--c->busy == 0 && c->freed)
		chan_destroy(c);
}

struct chan *chan_new(struct ev_loop *loop, int fd, enum proto_dir dir,
    chan_msg_cb *on_msg, chan_err_cb *on_err, void *arg)
{
	struct chan *c;
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return NULL;
	if ((fl = fcntl(fd, F_GETFD)) < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return NULL;
	if (!(c = calloc(1, sizeof(*c))))
		return NULL;
	c->loop = loop;
	c->fd = fd;
	c->dir = dir;
	c->on_msg = on_msg;
	c->on_err = on_err;
	c->arg = arg;
	ev_io_init(&c->rio, chan_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, chan_write_cb, fd, EV_WRITE);
	ev_prepare_init(&c->flushw, chan_flush_cb);
	c->rio.data = c;
	c->wio.data = c;
	c->flushw.data = c;
	ev_io_start(loop, &c->rio);
	return c;
}

int chan_send(struct chan *c, enum proto_type t, const struct proto_val *v)
{
	size_t before;

	if (c->dead || c->freed || c->werr || c->wclosed)
		return -1;
	before = buf_avail(&c->out);
	if (proto_encode(&c->out, t, v) < 0)
		return -1;
	/* Over the hard limit the frame is taken back out (proto_encode only appended). */
	if (buf_avail(&c->out) > CHAN_QUEUE_MAX) {
		c->out.len = c->out.off + before;
		c->out.data[c->out.len] = '\0';
		return -1;
	}
	c->frames_out++;
	/* No write now: every frame queued during this loop iteration goes out in one
	 * send(2), just before the loop waits again (one syscall per frame was 15% of the
	 * supervisor's relay cost). chan_flush writes at once when a caller needs it. */
	if (!ev_is_active(&c->wio) && !ev_is_active(&c->flushw))
		ev_prepare_start(c->loop, &c->flushw);
	return 0;
}

size_t chan_pending(const struct chan *c)
{
	return buf_avail(&c->out);
}

void chan_pause(struct chan *c, int paused)
{
	if (c->dead || c->freed || !!paused == c->paused)
		return;
	c->paused = !!paused;
	if (c->paused) {
		ev_io_stop(c->loop, &c->rio);
		return;
	}
	if (!c->rstatus)
		ev_io_start(c->loop, &c->rio);
	/* Frames (or an EOF) may wait in the buffer with nothing more to come from the
	 * socket: have the read callback run once anyway. */
	if (buf_avail(&c->in) > 0 || c->rstatus)
		ev_feed_event(c->loop, &c->rio, EV_CUSTOM);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int chan_flush(struct chan *c, int timeout_ms)
{
	long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	long long left;
	struct pollfd pfd;
	int r;

	if (c->freed || c->werr || c->wclosed || c->dead)
		return buf_avail(&c->out) == 0 ? 0 : -1;
	for (;;) {
		if (chan_write(c) < 0) {
			chan_write_failed(c, errno, 0);
			return -1;
		}
		if (buf_avail(&c->out) == 0)
			return 0;
		if ((left = deadline - now_ms()) <= 0)
			return -1;
		pfd.fd = c->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r == 0)
			return -1;
	}
}

int chan_fd(const struct chan *c)
{
	return c->fd;
}

unsigned long long chan_frames_in(const struct chan *c)
{
	return c->frames_in;
}

unsigned long long chan_frames_out(const struct chan *c)
{
	return c->frames_out;
}

void chan_free(struct chan *c)
{
	if (!c || c->freed)
		return;
	c->freed = 1;
	c->dead = 1;
	/* Stopping also drops events fed with ev_feed_event that have not run yet. */
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	ev_prepare_stop(c->loop, &c->flushw);
	close(c->fd);
	c->fd = -1;
	if (c->busy == 0)
		chan_destroy(c);
}
