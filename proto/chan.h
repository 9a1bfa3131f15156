/* chan.h: a framed, non-blocking channel on a socket, driven by libev. Used on both ends
 * of the supervisor <-> worker socketpair. Frames are decoded with proto_decode_frame and
 * delivered one at a time; writes are queued and flushed when the socket is writable. */
#ifndef SLIDGE_CHAN_H
#define SLIDGE_CHAN_H

#include <stddef.h>
#include <ev.h>

#include "proto.h"

struct chan;

/* A frame arrived; m is freed by the channel after the callback returns (steal fields
 * by setting them to NULL/zero if you keep them). The callback may call chan_free. */
typedef void chan_msg_cb(struct chan *c, struct proto_msg *m, void *arg);
/* The channel is dead: EOF (err == 0), a read/write error (errno), or a protocol error
 * (err is a negative enum proto_err; why says what). Called once; no more callbacks
 * follow. The callee usually calls chan_free. */
typedef void chan_err_cb(struct chan *c, int err, const char *why, void *arg);

/* Wrap fd (made non-blocking and close-on-exec). dir is the direction this end accepts.
 * The channel owns fd and closes it in chan_free. NULL on OOM or a bad fd (fd is then
 * left open). */
struct chan *chan_new(struct ev_loop *loop, int fd, enum proto_dir dir,
    chan_msg_cb *on_msg, chan_err_cb *on_err, void *arg);
/* Queue one message (written at once if the socket takes it). -1 if it breaks the
 * table's limits, the queue would go over its hard limit (16 MiB; nothing is queued then)
 * or the channel is dead. A peer that closed makes this -1 too; the error callback then
 * says EOF once the frames the peer sent before closing are delivered. */
int chan_send(struct chan *c, enum proto_type t, const struct proto_val *v);
/* Bytes queued and not yet written. */
size_t chan_pending(const struct chan *c);
/* Stop/resume reading (backpressure). */
void chan_pause(struct chan *c, int paused);
/* Write everything queued, blocking up to timeout_ms; 0 when all is out, -1 otherwise.
 * For shutdown paths. */
int chan_flush(struct chan *c, int timeout_ms);
/* The channel's fd (for logs, SO_PEERCRED and the like; the channel still owns it). */
int chan_fd(const struct chan *c);
/* Counters for stats. */
unsigned long long chan_frames_in(const struct chan *c);
unsigned long long chan_frames_out(const struct chan *c);
/* Close the fd, stop watchers, free. Safe inside callbacks. */
void chan_free(struct chan *c);

#endif
