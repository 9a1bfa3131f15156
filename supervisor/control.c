/* control.c: the control socket slidgectl talks to.
 *
 * A Unix stream socket, mode 0600, and SO_PEERCRED on top: only root and slidged's own
 * uid may use it. One CTL_REQUEST per connection, one CTL_REPLY, then close. Every
 * command touches one user's session or reads state; none can block the supervisor. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "control.h"
#include "jid.h"
#include "log.h"
#include "slidged.h"

static int lfd = -1;
static ev_io lw;
static char *lpath;

/* A reply under construction. */
struct reply {
	struct proto_table rows;
	enum ctl_status status;
	char text[4096];
};

static void
row_add(struct reply *r, const char *const *cells, size_t n)
{
	struct proto_list row = { 0 };
	size_t i;

	for (i = 0; i < n; i++)
		if (proto_list_add(&row, cells[i] ? cells[i] : "") < 0)
			goto done;
	proto_table_add(&r->rows, &row);
done:
	proto_list_free(&row);
}

static const char *const info_cols[] = {
	"jid", "pid", "state", "session", "uptime", "restarts", "last_exit", "rss_kb",
	"pss_kb", "queue", "in", "out",
};
#define NCOLS (sizeof info_cols / sizeof info_cols[0])

static void
info_row(const struct worker_info *i, void *arg)
{
	struct reply *r = arg;
	char pid[16], up[24], rs[16], rss[24], pss[24], q[24], in[24], out[24];
	const char *cells[NCOLS];

	snprintf(pid, sizeof pid, "%d", i->pid);
	snprintf(up, sizeof up, "%ld", i->uptime);
	snprintf(rs, sizeof rs, "%u", i->restarts);
	snprintf(rss, sizeof rss, "%ld", i->rss_kb);
	snprintf(pss, sizeof pss, "%ld", i->pss_kb);
	snprintf(q, sizeof q, "%zu", i->queue);
	snprintf(in, sizeof in, "%llu", i->in);
	snprintf(out, sizeof out, "%llu", i->out);
	cells[0] = i->jid;
	cells[1] = pid;
	cells[2] = i->state;
	cells[3] = i->session;
	cells[4] = up;
	cells[5] = rs;
	cells[6] = i->last_exit;
	cells[7] = rss;
	cells[8] = pss;
	cells[9] = q;
	cells[10] = in;
	cells[11] = out;
	row_add(r, cells, NCOLS);
}

static void
kv_row(struct reply *r, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
kv_row(struct reply *r, const char *k, const char *fmt, ...)
{
	char v[256];
	const char *cells[2] = { k, v };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	row_add(r, cells, 2);
}

static void
pss_sum(const struct worker_info *i, void *arg)
{
	long *sum = arg;

	if (i->pss_kb > 0)
		*sum += i->pss_kb;
}

/* Normalise a JID argument to a bare JID, or say why not. */
static int
arg_jid(struct reply *r, const struct proto_list *args, char *bare, size_t baresz)
{
	if (args->n != 1) {
		r->status = CTL_BAD_ARGS;
		snprintf(r->text, sizeof r->text, "usage: COMMAND JID");
		return -1;
	}
	if (jid_to_bare(args->v[0], bare, baresz) < 0) {
		r->status = CTL_BAD_ARGS;
		snprintf(r->text, sizeof r->text, "not a valid JID: %s", args->v[0]);
		return -1;
	}
	return 0;
}

static void
cmd_register(struct reply *r, const struct proto_list *args)
{
	struct store_user rec = { 0 };
	char bare[JID_BUF];
	size_t i;

	if (args->n < 1 || jid_to_bare(args->v[0], bare, sizeof bare) < 0) {
		r->status = CTL_BAD_ARGS;
		snprintf(r->text, sizeof r->text, "usage: register JID [key=value ...]");
		return;
	}
	if (workers_find(bare)) {
		r->status = CTL_ERR;
		snprintf(r->text, sizeof r->text, "%s is already registered", bare);
		return;
	}
	for (i = 1; i < args->n; i++) {
		char *eq = strchr(args->v[i], '=');
		if (!eq || eq == args->v[i]) {
			r->status = CTL_BAD_ARGS;
			snprintf(r->text, sizeof r->text, "not key=value: %s", args->v[i]);
			goto done;
		}
		*eq = '\0';
		if (proto_kv_set(&rec.data, args->v[i], eq + 1) < 0) {
			r->status = CTL_ERR;
			snprintf(r->text, sizeof r->text, "out of memory");
			goto done;
		}
	}
	rec.jid = bare;
	rec.registered = (uint64_t)time(NULL);
	if (store_put(&rec) < 0 || workers_add_user(&rec, 1) < 0) {
		store_del(bare);
		r->status = CTL_ERR;
		snprintf(r->text, sizeof r->text, "could not store the registration");
		goto done;
	}
	log_info("control: %s registered by the operator", bare);
	snprintf(r->text, sizeof r->text, "%s registered; session starting", bare);
done:
	for (i = 0; i < rec.data.n; i++)
		explicit_bzero(rec.data.v[i], strlen(rec.data.v[i]));
	proto_list_free(&rec.data);
}

static void
dispatch(struct reply *r, const char *cmd, struct proto_list *args)
{
	char bare[JID_BUF];
	struct worker_info i;

	r->status = CTL_OK;
	if (strcmp(cmd, "list") == 0) {
		row_add(r, info_cols, NCOLS);
		workers_foreach_info(info_row, r);
		snprintf(r->text, sizeof r->text, "%zu users", r->rows.n - 1);
	} else if (strcmp(cmd, "status") == 0) {
		if (arg_jid(r, args, bare, sizeof bare) < 0)
			return;
		if (workers_info(bare, &i) < 0) {
			r->status = CTL_UNKNOWN_JID;
			snprintf(r->text, sizeof r->text, "no such user: %s", bare);
			return;
		}
		row_add(r, info_cols, NCOLS);
		info_row(&i, r);
		snprintf(r->text, sizeof r->text, "%s: %s", bare, i.state);
	} else if (!strcmp(cmd, "restart") || !strcmp(cmd, "stop") || !strcmp(cmd, "start") ||
	    !strcmp(cmd, "kill")) {
		if (arg_jid(r, args, bare, sizeof bare) < 0)
			return;
		if (workers_ctl(bare, cmd) < 0) {
			r->status = CTL_UNKNOWN_JID;
			snprintf(r->text, sizeof r->text, "no such user: %s", bare);
			return;
		}
		log_info("control: %s %s", cmd, bare);
		snprintf(r->text, sizeof r->text, "%s: %s done", bare, cmd);
	} else if (strcmp(cmd, "stats") == 0) {
		size_t users;
		int nproc;
		long rss, pss, wpss = 0;
		const char *hdr[2] = { "key", "value" };

		workers_counts(&users, &nproc);
		proc_mem(getpid(), &rss, &pss);
		workers_foreach_info(pss_sum, &wpss);
		row_add(r, hdr, 2);
		kv_row(r, "users", "%zu", users);
		kv_row(r, "worker_processes", "%d", nproc);
		kv_row(r, "component", "%s", component_ready() ? "connected" : "away");
		kv_row(r, "stanzas_in", "%llu", component_stanzas_in());
		kv_row(r, "stanzas_out", "%llu", component_stanzas_out());
		kv_row(r, "uptime", "%ld", (long)(time(NULL) - G.started));
		kv_row(r, "supervisor_rss_kb", "%ld", rss);
		kv_row(r, "supervisor_pss_kb", "%ld", pss);
		kv_row(r, "workers_pss_kb", "%ld", wpss);
		snprintf(r->text, sizeof r->text, "%zu users, %d worker processes", users, nproc);
	} else if (strcmp(cmd, "register") == 0) {
		cmd_register(r, args);
	} else if (strcmp(cmd, "unregister") == 0) {
		if (arg_jid(r, args, bare, sizeof bare) < 0)
			return;
		if (!workers_find(bare)) {
			r->status = CTL_UNKNOWN_JID;
			snprintf(r->text, sizeof r->text, "no such user: %s", bare);
			return;
		}
		register_unregister(bare, "unregistered by the operator");
		snprintf(r->text, sizeof r->text, "%s unregistered", bare);
	} else if (strcmp(cmd, "loglevel") == 0) {
		int lvl = args->n == 1 ? log_level_parse(args->v[0]) : -1;
		if (lvl < 0) {
			r->status = CTL_BAD_ARGS;
			snprintf(r->text, sizeof r->text, "usage: loglevel debug|info|warning|error");
			return;
		}
		workers_set_loglevel(lvl);
		snprintf(r->text, sizeof r->text, "log level is now %s", log_level_name(lvl));
	} else {
		r->status = CTL_UNKNOWN_COMMAND;
		snprintf(r->text, sizeof r->text, "unknown command: %s (try slidgectl --help)", cmd);
	}
}

static void
send_reply(struct chan *c, struct reply *r)
{
	struct proto_val v[CTL_REPLY__NFIELDS] = { 0 };

	v[CTL_REPLY_status].u = r->status;
	v[CTL_REPLY_text].s = r->text;
	v[CTL_REPLY_rows].table = r->rows;
	if (chan_send(c, PROTO_CTL_REPLY, v) < 0) {
		/* Too large a table: say so instead. */
		memset(v, 0, sizeof v);
		v[CTL_REPLY_status].u = CTL_ERR;
		v[CTL_REPLY_text].s = "the reply is too large";
		chan_send(c, PROTO_CTL_REPLY, v);
	}
	/* slidgectl is waiting for exactly this: a short blocking flush is fine. */
	chan_flush(c, 1000);
	proto_table_free(&r->rows);
}

static void
c_msg(struct chan *c, struct proto_msg *m, void *arg)
{
	struct reply r = { 0 };

	(void)arg;
	dispatch(&r, m->v[CTL_REQUEST_command].s, &m->v[CTL_REQUEST_args].list);
	send_reply(c, &r);
	chan_free(c);
}

static void
c_err(struct chan *c, int err, const char *why, void *arg)
{
	(void)arg;
	if (err)
		log_warn("control: bad request: %s", why ? why : strerror(err));
	chan_free(c);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	struct chan *c;
	int fd;

	(void)loop;
	(void)w;
	(void)revents;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	c = chan_new(G.loop, fd, PROTO_C2S, c_msg, c_err, NULL);
	if (!c) {
		close(fd);
		return;
	}
	/* The socket's mode already keeps others out; the peer's uid is checked as well, in
	 * case the directory or the mode was loosened. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		struct reply r = { 0 };
		r.status = CTL_REFUSED;
		snprintf(r.text, sizeof r.text, "permission denied: uid %u may not control slidged",
		    (unsigned)cred.uid);
		log_warn("control: refused a peer with uid %u", (unsigned)cred.uid);
		send_reply(c, &r);
		chan_free(c);
	}
}

int
control_start(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof sa.sun_path) {
		log_error("control: socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0) {
		log_error("control: socket: %s", strerror(errno));
		return -1;
	}
	/* A socket left by a previous run that died. */
	unlink(path);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0600) < 0 ||
	    listen(lfd, 16) < 0) {
		log_error("control: %s: %s", path, strerror(errno));
		close(lfd);
		lfd = -1;
		return -1;
	}
	lpath = strdup(path);
	ev_io_init(&lw, accept_cb, lfd, EV_READ);
	ev_io_start(G.loop, &lw);
	log_info("control: listening on %s", path);
	return 0;
}

void
control_stop(void)
{
	if (lfd < 0)
		return;
	ev_io_stop(G.loop, &lw);
	close(lfd);
	lfd = -1;
	if (lpath)
		unlink(lpath);
	free(lpath);
	lpath = NULL;
}
