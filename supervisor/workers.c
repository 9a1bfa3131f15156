/* workers.c: registered users and their workers.
 *
 * Each registered user has at most one session worker, fork+exec'd with its channel on
 * fd 3. Stanzas for a user wait in a bounded queue while the worker starts; once sent,
 * each stays in the worker's unacked list until the worker acks it. When a worker dies,
 * what it had not acked is bounced to the user as an error with a human text: nothing is
 * dropped silently (ARCHITECTURE.md "Nothing lost"). A crashed worker is restarted with
 * exponential backoff; too many crashes in a window park the session and tell the user.
 *
 * Register workers (role "register") run one registration's validate() and are driven by
 * register.c through struct register_ops. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "build_config.h"
#include "chan.h"
#include "log.h"
#include "slidged.h"
#include "xml.h"

#define NBUCKETS 4096
#define QUEUE_MAX_ITEMS 1000           /* stanzas waiting for a starting worker */
#define QUEUE_MAX_BYTES (4u << 20)
#define STOP_GRACE 5.0                 /* seconds between STOP and SIGKILL */
#define RESTART_MIN 0.1                /* delay after a second crash; doubles per crash */
#define RESTART_MAX 60.0
#define CRASH_HISTORY 32
/* What a worker may emit: --worker-emit-rate sustained and --worker-emit-burst at once (a
 * token bucket). A session answering its user, or replaying a backlog, stays far below; a
 * worker above is flooding the component stream that every other user shares (the XMPP
 * server's time goes to it), and is killed. */
#define EMIT_RATE ((double)(G.cfg.worker_emit_rate > 0 ? G.cfg.worker_emit_rate : 1000))
#define EMIT_BURST ((double)(G.cfg.worker_emit_burst > 0 ? G.cfg.worker_emit_burst : 2000))

/* A stanza sent to (or waiting for) a worker, with what a bounce needs. */
struct qitem {
	struct qitem *next;
	uint64_t seq;
	char *xml;
	size_t len;
	char *kind, *from, *to, *id, *type;
};

struct qlist {
	struct qitem *head, *tail;
	size_t n, bytes;
};

enum ustate { U_STOPPED, U_STARTING, U_RUNNING, U_PARKED };

struct worker {
	struct worker *next, *prev;     /* every live worker, for shutdown */
	pid_t pid;
	enum worker_role role;
	struct chan *ch;
	ev_child cw;
	ev_timer killer;
	struct user *u;                 /* session workers */
	const struct register_ops *ops; /* register workers */
	void *arg;
	char *reg_jid;                  /* register worker: who it may send to (QR step) */
	int hello, manifest, stopping, answered;
	ev_timer ping;                  /* liveness: see w_ping_cb */
	double tokens;                  /* emission budget, see EMIT_RATE */
	int exited, status;             /* the process is gone (waitpid status) */
	ev_tstamp tokens_at;
	int ping_out;                   /* a PING is outstanding */
	unsigned long long frames_at_ping;
	uint64_t ping_seq;
	time_t started;
	uint64_t next_seq;
	struct qlist unacked;
	char why[256];                  /* why we killed it, for the log */
	ev_io errw;                     /* the worker's stderr, tagged and logged by us */
	int errfd;
	struct buf errbuf;
};

struct user {
	struct user *next;              /* hash chain */
	struct store_user rec;          /* rec.jid is the key */
	struct worker *w;
	enum ustate state;
	struct qlist queue;             /* waiting for the worker */
	int fresh;                      /* next START says fresh (welcome message) */
	int removing, unregister;
	int held;                       /* stopped by the operator: not restarted */
	int restart_now;                /* start again as soon as the worker exited */
	unsigned long long in, out;
	ev_timer restart;
	double backoff;
	time_t crashes[CRASH_HISTORY];
	unsigned int ncrashes;
	time_t started;
	unsigned int restarts;
	char last_exit[400];
	char state_text[256];
};

static struct user *buckets[NBUCKETS];
static size_t nusers;
static int paused;
static int nworkers;
static struct worker *all_workers;
static void (*shutdown_cb)(void);

/* Boot staggering: users waiting for a start slot. */
static struct user **boot_list;
static size_t boot_n, boot_next;
static int boot_running;

static void worker_start_session(struct user *u);
static int iqtrack_add(const char *user, pid_t reg_pid, xmlNodePtr iq);
static void grant_queue_front(struct user *u);
static void boot_more(void);

static unsigned int
hash(const char *s)
{
	unsigned int h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % NBUCKETS;
}

const char *
workers_user_jid(const struct user *u)
{
	return u->rec.jid;
}

const char *
workers_session_state(const struct user *u)
{
	return u->state_text;
}

void
workers_set_preferences(struct user *u, struct proto_list *prefs)
{
	proto_list_free(&u->rec.preferences);
	u->rec.preferences = *prefs;
	*prefs = (struct proto_list){ 0 };
	if (store_put(&u->rec) < 0)
		log_error("workers: could not store the preferences of %s", u->rec.jid);
}

struct user *
workers_find(const char *bare)
{
	struct user *u;

	for (u = buckets[hash(bare)]; u; u = u->next)
		if (!u->removing && strcmp(u->rec.jid, bare) == 0)
			return u;
	return NULL;
}

/* ---- queues ------------------------------------------------------------------------ */

static void
qitem_free(struct qitem *q)
{
	free(q->xml);
	free(q->kind);
	free(q->from);
	free(q->to);
	free(q->id);
	free(q->type);
	free(q);
}

static void
qlist_push(struct qlist *l, struct qitem *q)
{
	q->next = NULL;
	if (l->tail)
		l->tail->next = q;
	else
		l->head = q;
	l->tail = q;
	l->n++;
	l->bytes += q->len;
}

static struct qitem *
qlist_pop(struct qlist *l)
{
	struct qitem *q = l->head;

	if (!q)
		return NULL;
	l->head = q->next;
	if (!l->head)
		l->tail = NULL;
	l->n--;
	l->bytes -= q->len;
	q->next = NULL;
	return q;
}

/* Remove the item with this seq (almost always the head: workers ack in order). */
static struct qitem *
qlist_take_seq(struct qlist *l, uint64_t seq)
{
	struct qitem *q, *prev = NULL;

	for (q = l->head; q; prev = q, q = q->next) {
		if (q->seq != seq)
			continue;
		if (prev)
			prev->next = q->next;
		else
			l->head = q->next;
		if (l->tail == q)
			l->tail = prev;
		l->n--;
		l->bytes -= q->len;
		q->next = NULL;
		return q;
	}
	return NULL;
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Tell the sender that this stanza will not be handled. Presence is not bounced: it is
 * state, resent by the client, and errors to presence confuse clients. */
static void
bounce(const struct qitem *q, const char *condition, const char *text)
{
	/* A server's own stanzas (a privilege grant) are not answered with errors. */
	if (!q->from || strcmp(q->kind, "presence") == 0 || !strchr(q->from, '@'))
		return;
	if (q->type && (strcmp(q->type, "error") == 0 || strcmp(q->type, "result") == 0))
		return;
	log_info("workers: bouncing a <%s> to %s: %s", q->kind, q->from, condition);
	route_error_attrs(q->kind, q->to ? q->to : G.jid, q->from, q->id, NULL, condition, text);
}

static void
bounce_all(struct qlist *l, const char *condition, const char *text)
{
	struct qitem *q;

	while ((q = qlist_pop(l))) {
		bounce(q, condition, text);
		qitem_free(q);
	}
}

/* ---- spawning ---------------------------------------------------------------------- */

static const char *
worker_path(void)
{
	const char *env = getenv("SLIDGE_WORKER");

	if (G.cfg.worker_path)
		return G.cfg.worker_path;
	if (env && *env)
		return env;
	return SLIDGE_LIBEXECDIR "/slidge-worker";
}

/* The user's state directory: <home>/users/<bare JID>. A bare JID has no '/', and the
 * supervisor only builds this from JIDs that jid_parse accepted. */
static int
state_dir(const char *bare, char *out, size_t outsz)
{
	int n;

	if (bare)
		n = snprintf(out, outsz, "%s/users/%s", G.cfg.home_dir, bare);
	else
		n = snprintf(out, outsz, "%s/register", G.cfg.home_dir);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	return 0;
}

int
workers_check_access(char *err, size_t errsz)
{
	pid_t pid;
	int st;

	if (!G.drop)
		return 0;
	pid = fork();
	if (pid < 0) {
		snprintf(err, errsz, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(G.worker_gid, G.worker_gid, G.worker_gid) < 0 ||
		    setresuid(G.worker_uid, G.worker_uid, G.worker_uid) < 0)
			_exit(1);
		if (access(worker_path(), X_OK) < 0)
			_exit(2);
		if (access(G.cfg.home_dir, X_OK) < 0)
			_exit(3);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st)) {
		snprintf(err, errsz, "the access check did not finish");
		return -1;
	}
	switch (WEXITSTATUS(st)) {
	case 0:
		return 0;
	case 1:
		snprintf(err, errsz, "cannot switch to uid %u", (unsigned)G.worker_uid);
		return -1;
	case 2:
		snprintf(err, errsz, "the worker user (uid %u) cannot execute %s: make it and every "
		    "directory above it readable and traversable", (unsigned)G.worker_uid, worker_path());
		return -1;
	default:
		snprintf(err, errsz, "the worker user (uid %u) cannot reach %s: make every directory "
		    "above it traversable (o+x), or use another --home-dir", (unsigned)G.worker_uid,
		    G.cfg.home_dir);
		return -1;
	}
}

static int
mkdir_p(const char *path)
{
	char tmp[4096];
	char *p;

	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return -1;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static void w_msg(struct chan *c, struct proto_msg *m, void *arg);
static void w_err(struct chan *c, int err, const char *why, void *arg);
static void w_child_cb(struct ev_loop *loop, ev_child *cw, int revents);
static void w_killer_cb(struct ev_loop *loop, ev_timer *t, int revents);
static void w_ping_cb(struct ev_loop *loop, ev_timer *t, int revents);
static void w_stderr_cb(struct ev_loop *loop, ev_io *io, int revents);
static void w_finish(struct worker *w);

static struct worker *
spawn(enum worker_role role, struct user *u)
{
	struct worker *w;
	int sv[2];
	pid_t pid;
	char dir[4096], lvl[16], rate[32], burst[32];
	int ep[2], chfd, errfd;
	pid_t parent;
	const char **argv;
	size_t argc = 0, i;
	struct proto_val hello[HELLO__NFIELDS] = { 0 };

	if (state_dir(u ? u->rec.jid : NULL, dir, sizeof dir) < 0 || mkdir_p(dir) < 0) {
		log_error("workers: cannot create the state directory %s: %s", dir, strerror(errno));
		return NULL;
	}
	if (G.drop) {
		char users[4096];

		snprintf(users, sizeof users, "%s/users", G.cfg.home_dir);
		if ((u && chmod(users, 0711) < 0) || chown(dir, G.worker_uid, G.worker_gid) < 0) {
			log_error("workers: cannot hand %s to uid %u: %s", dir,
			    (unsigned)G.worker_uid, strerror(errno));
			return NULL;
		}
	}
	w = calloc(1, sizeof *w);
	argv = calloc(48 + G.cfg.module_argc, sizeof *argv);
	if (!w || !argv) {
		free(w);
		free(argv);
		return NULL;
	}
	snprintf(lvl, sizeof lvl, "%d", log_get_level());
	snprintf(rate, sizeof rate, "%.0f", EMIT_RATE);
	snprintf(burst, sizeof burst, "%.0f", EMIT_BURST);
	argv[argc++] = "slidge-worker";
	argv[argc++] = "--module";
	argv[argc++] = G.cfg.legacy_module;
	argv[argc++] = "--role";
	argv[argc++] = role == ROLE_SESSION ? "session" : "register";
	argv[argc++] = "--jid";
	argv[argc++] = G.jid;
	argv[argc++] = "--state-dir";
	argv[argc++] = dir;
	argv[argc++] = "--log-level";
	argv[argc++] = lvl;
	/* The worker paces itself below the flood guard (see EMIT_RATE). */
	argv[argc++] = "--emit-rate";
	argv[argc++] = rate;
	argv[argc++] = "--emit-burst";
	argv[argc++] = burst;
	/* Attachments (worker attach.c, upload.c, http.c): the options that are set. */
	{
		static const char *const att[] = { "--upload-requester", "--no-upload-path",
			"--no-upload-url-prefix", "--no-upload-method",
			"--no-upload-file-read-others", "--use-attachment-original-urls",
			"--attachment-maximum-file-name-length", "--attachment-max-size",
			"--http-ports" };
		const char *v;

		if (G.cfg.upload_service && *G.cfg.upload_service) {
			argv[argc++] = "--upload-service";
			argv[argc++] = G.cfg.upload_service;
		}
		for (i = 0; i < sizeof att / sizeof att[0]; i++)
			if ((v = config_get_extra(&G.cfg, att[i] + 2)) != NULL) {
				argv[argc++] = att[i];
				argv[argc++] = v;
			}
	}
	argv[argc++] = "--";
	for (i = 0; i < G.cfg.module_argc; i++)
		argv[argc++] = G.cfg.module_argv[i];
	argv[argc] = NULL;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("workers: socketpair: %s", strerror(errno));
		free(w);
		free(argv);
		return NULL;
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		log_error("workers: pipe: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		free(w);
		free(argv);
		return NULL;
	}
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		log_error("workers: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		close(ep[0]);
		close(ep[1]);
		free(w);
		free(argv);
		return NULL;
	}
	if (pid == 0) {
		sigset_t none;

		/* Its own process group: a Ctrl-C in slidged's terminal is for slidged, which
		 * then stops each worker cleanly. */
		setpgid(0, 0);
		/* As root: become the unprivileged worker user before exec, so that the module
		 * is never loaded with privileges. */
		if (G.drop && (setgroups(0, NULL) < 0 || setresgid(G.worker_gid, G.worker_gid,
		    G.worker_gid) < 0 || setresuid(G.worker_uid, G.worker_uid, G.worker_uid) < 0))
			_exit(126);
		/* Die with the supervisor, even if it is killed with SIGKILL (set after the uid
		 * change, which clears it), and catch a supervisor that died meanwhile. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		/* libev may block signals it watches; the worker starts with a clean mask. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* Move both ends out of the way first so that neither dup2 clobbers the other:
		 * the channel goes on fd 3, stdout and stderr on the log pipe. */
		chfd = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
		errfd = fcntl(ep[1], F_DUPFD_CLOEXEC, 10);
		if (chfd < 0 || errfd < 0 || dup2(chfd, 3) < 0 || dup2(errfd, 2) < 0 ||
		    dup2(errfd, 1) < 0)
			_exit(126);
		/* Nothing else of the supervisor's leaks into the worker. */
		close_range(4, ~0U, 0);
		execv(worker_path(), (char *const *)argv);
		fprintf(stderr, "slidged: cannot execute %s: %s\n", worker_path(), strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	close(ep[1]);
	free(argv);
	w->errfd = ep[0];
	fcntl(w->errfd, F_SETFL, O_NONBLOCK);
	ev_io_init(&w->errw, w_stderr_cb, w->errfd, EV_READ);
	ev_io_start(G.loop, &w->errw);
	w->pid = pid;
	w->role = role;
	w->u = u;
	w->ch = chan_new(G.loop, sv[0], PROTO_W2S, w_msg, w_err, w);
	if (!w->ch) {
		close(sv[0]);
		kill(pid, SIGKILL);
	}
	ev_child_init(&w->cw, w_child_cb, pid, 0);
	ev_child_start(G.loop, &w->cw);
	ev_init(&w->killer, w_killer_cb);
	ev_init(&w->ping, w_ping_cb);
	w->started = time(NULL);
	w->tokens = EMIT_BURST;
	w->tokens_at = ev_now(G.loop);
	if (role == ROLE_SESSION && G.cfg.ping_interval > 0) {
		ev_timer_set(&w->ping, G.cfg.ping_interval, 0.);
		ev_timer_start(G.loop, &w->ping);
	}
	nworkers++;
	w->next = all_workers;
	if (all_workers)
		all_workers->prev = w;
	all_workers = w;
	hello[HELLO_version].u = PROTO_VERSION;
	hello[HELLO_role].s = "supervisor";
	hello[HELLO_pid].u = (uint64_t)getpid();
	if (w->ch)
		chan_send(w->ch, PROTO_HELLO, hello);
	if (paused && w->ch)
		chan_pause(w->ch, 1);
	log_debug("workers: started %s worker %d%s%s", role == ROLE_SESSION ? "session" : "register",
	    (int)pid, u ? " for " : "", u ? u->rec.jid : "");
	return w;
}

/* Log what the worker wrote on stderr, one line at a time, tagged by us with its pid and
 * user: a worker cannot write a log line in another user's name. Lines are bounded. */
static void
w_stderr_lines(struct worker *w, int final)
{
	char *nl;

	while (buf_avail(&w->errbuf) > 0) {
		char *head = buf_head(&w->errbuf);
		size_t n = buf_avail(&w->errbuf);

		nl = memchr(head, '\n', n);
		if (!nl && !final && n < 2048)
			return;
		if (nl)
			n = (size_t)(nl - head);
		log_info("worker %d%s%s: %.*s", (int)w->pid, w->u ? " " : "",
		    w->u ? w->u->rec.jid : "", (int)(n > 2048 ? 2048 : n), head);
		buf_consume(&w->errbuf, nl ? n + 1 : n);
	}
}

static void
w_stderr_close(struct worker *w)
{
	if (w->errfd < 0)
		return;
	ev_io_stop(G.loop, &w->errw);
	close(w->errfd);
	w->errfd = -1;
	w_stderr_lines(w, 1);
	buf_free(&w->errbuf, 0);
}

static void
w_stderr_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = (struct worker *)((char *)io - offsetof(struct worker, errw));
	char rb[4096];
	ssize_t n;

	(void)loop;
	(void)revents;
	n = read(w->errfd, rb, sizeof rb);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		w_stderr_close(w);
		return;
	}
	buf_append(&w->errbuf, rb, (size_t)n);
	w_stderr_lines(w, 0);
	/* A worker flooding its log cannot make us buffer without bound. */
	if (buf_avail(&w->errbuf) > 65536)
		w_stderr_lines(w, 1);
}

/* Kill a worker that broke a rule; the child watcher cleans up. */
static void
w_kill(struct worker *w, const char *why)
{
	if (!w->why[0])
		snprintf(w->why, sizeof w->why, "%s", why);
	log_warn("workers: killing worker %d%s%s: %s", (int)w->pid, w->u ? " of " : "",
	    w->u ? w->u->rec.jid : "", why);
	if (w->ch) {
		chan_free(w->ch);
		w->ch = NULL;
	}
	/* A reaped pid may belong to someone else by now. */
	if (!w->exited)
		kill(w->pid, SIGKILL);
}

int
workers_send(struct worker *w, enum proto_type t, const struct proto_val *v)
{
	if (!w->ch)
		return -1;
	if (chan_send(w->ch, t, v) < 0) {
		w_kill(w, "its channel is full or broken");
		return -1;
	}
	if (t == PROTO_VALIDATE)
		w->answered = 0;   /* it owes an answer again: its death is reported */
	return 0;
}

void
workers_stop(struct worker *w, const char *reason)
{
	struct proto_val v[STOP__NFIELDS] = { 0 };

	if (w->stopping)
		return;
	w->stopping = 1;
	if (w->u && w->u->unregister)
		v[STOP_unregister].u = 1;
	v[STOP_reason].s = reason;
	if (w->ch)
		chan_send(w->ch, PROTO_STOP, v);
	ev_timer_set(&w->killer, STOP_GRACE, 0.);
	ev_timer_start(G.loop, &w->killer);
}

static void
w_killer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, killer));

	(void)loop;
	(void)revents;
	if (w->exited) {
		/* Exited, and its channel never said EOF: finish without the rest. */
		w_finish(w);
		return;
	}
	w_kill(w, "it did not stop in time");
}

/* Liveness (ARCHITECTURE.md "Nothing lost"): every ping_interval a PING goes out; if no
 * frame at all came back ping_timeout seconds later, the worker is hung: SIGABRT (for a
 * core, where cores are allowed), then SIGKILL after the stop grace. Any frame counts as
 * a sign of life. While workers are paused for backpressure we do not read them, so no
 * verdict is made then. */
static void
w_ping_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, ping));
	int timeout = G.cfg.ping_timeout > 0 ? G.cfg.ping_timeout : 15;
	int interval = G.cfg.ping_interval > 0 ? G.cfg.ping_interval : 30;
	struct proto_val v[PING__NFIELDS] = { 0 };

	(void)loop;
	(void)revents;
	if (!w->ch || w->stopping)
		return;
	if (w->ping_out && !paused && chan_frames_in(w->ch) == w->frames_at_ping) {
		snprintf(w->why, sizeof w->why, "hung: no answer %d s after a ping", timeout);
		log_warn("workers: worker %d%s%s is hung; aborting it", (int)w->pid,
		    w->u ? " of " : "", w->u ? w->u->rec.jid : "");
		kill(w->pid, SIGABRT);
		ev_timer_set(&w->killer, STOP_GRACE, 0.);
		ev_timer_start(G.loop, &w->killer);
		return;
	}
	if (w->ping_out) {
		/* Alive: wait for the next round. */
		w->ping_out = 0;
		ev_timer_set(&w->ping, interval > timeout ? interval - timeout : 1, 0.);
		ev_timer_start(G.loop, &w->ping);
		return;
	}
	w->frames_at_ping = chan_frames_in(w->ch);
	v[PING_seq].u = ++w->ping_seq;
	if (chan_send(w->ch, PROTO_PING, v) < 0) {
		w_kill(w, "its channel is full");
		return;
	}
	w->ping_out = 1;
	ev_timer_set(&w->ping, timeout, 0.);
	ev_timer_start(G.loop, &w->ping);
}

/* ---- sessions ----------------------------------------------------------------------- */

/* Send everything queued for the user to its running worker. */
static void
flush_queue(struct user *u)
{
	struct worker *w = u->w;
	struct qitem *q;
	struct proto_val v[STANZA__NFIELDS] = { 0 };

	/* Nothing more for a worker that was told to stop: what arrives meanwhile waits for
	 * the next worker (a restart) or is answered when the user is gone (unregister). */
	while (w && w->ch && !w->stopping && u->state == U_RUNNING && (q = qlist_pop(&u->queue))) {
		q->seq = ++w->next_seq;
		v[STANZA_seq].u = q->seq;
		v[STANZA_xml].s = q->xml;
		v[STANZA_xml].len = q->len;
		if (chan_send(w->ch, PROTO_STANZA, v) < 0) {
			/* The worker is gone or hopelessly behind: this stanza waits for the next
			 * one, at the front, in its order. */
			q->next = u->queue.head;
			u->queue.head = q;
			if (!u->queue.tail)
				u->queue.tail = q;
			u->queue.n++;
			u->queue.bytes += q->len;
			w_kill(w, "its channel is closed or full");
			return;
		}
		qlist_push(&w->unacked, q);
		u->in++;
	}
}

/* ARCHITECTURE.md "Trust rules": before anything is routed to a worker, the kernel must
 * say it is sandboxed (the worker enters its sandbox before it sends MANIFEST). */
static int
sandboxed(pid_t pid)
{
#if SLIDGE_SANDBOX
	char path[64], line[256];
	FILE *f;
	int nnp = 0, sec = 0;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "NoNewPrivs:", 11) == 0)
			nnp = atoi(line + 11);
		else if (strncmp(line, "Seccomp:", 8) == 0)
			sec = atoi(line + 8);
	}
	fclose(f);
	return nnp == 1 && sec == 2;
#else
	(void)pid;
	return 1;
#endif
}

static void
session_manifest(struct worker *w)
{
	struct user *u = w->u;
	struct proto_val v[START__NFIELDS] = { 0 }, a[USER_ADMIN__NFIELDS] = { 0 };

	/* The worker checks the module's ADMIN_ONLY commands run by chat (commands.def). */
	a[USER_ADMIN_admin].u = (uint64_t)adhoc_is_admin(u->rec.jid);
	if (workers_send(w, PROTO_USER_ADMIN, a) < 0)
		return;
	v[START_user_jid].s = u->rec.jid;
	v[START_component_jid].s = G.jid;
	v[START_data].list = u->rec.data;
	v[START_preferences].list = u->rec.preferences;
	v[START_registered].u = u->rec.registered;
	v[START_fresh].u = (uint64_t)u->fresh;
	if (workers_send(w, PROTO_START, v) < 0)
		return;
	u->fresh = 0;
	u->state = U_RUNNING;
	u->started = time(NULL);
	grant_queue_front(u);
	flush_queue(u);
	if (boot_running) {
		boot_running--;
		boot_more();
	}
}

static void
w_msg(struct chan *c, struct proto_msg *m, void *arg)
{
	struct worker *w = arg;
	struct user *u = w->u;

	(void)c;
	if (!w->hello && m->type != PROTO_HELLO) {
		w_kill(w, "it spoke before HELLO");
		return;
	}
	switch (m->type) {
	case PROTO_HELLO:
		if (w->hello || m->v[HELLO_version].u != PROTO_VERSION) {
			w_kill(w, "protocol version mismatch or repeated HELLO");
			return;
		}
		if (strcmp(m->v[HELLO_role].s, w->role == ROLE_SESSION ? "session" : "register")) {
			w_kill(w, "it claims another role");
			return;
		}
		w->hello = 1;
		return;
	case PROTO_MANIFEST:
		if (w->manifest) {
			w_kill(w, "repeated MANIFEST");
			return;
		}
		w->manifest = 1;
		if (!sandboxed(w->pid)) {
			w_kill(w, "it is not sandboxed (NoNewPrivs/Seccomp in /proc/PID/status)");
			return;
		}
		if (!G.man.ok)
			manifest_take(&G.man, m);
		/* A register worker stopped early (the user gave up): its owner is gone. */
		if (w->role == ROLE_SESSION)
			session_manifest(w);
		else if (w->ops && w->ops->manifest && !w->stopping)
			w->ops->manifest(w, w->arg);
		return;
	case PROTO_ACK: {
		struct qitem *q;
		if (w->role != ROLE_SESSION)
			break;
		q = qlist_take_seq(&w->unacked, m->v[ACK_seq].u);
		if (!q) {
			w_kill(w, "it acked a stanza it was never sent");
			return;
		}
		qitem_free(q);
		return;
	}
	case PROTO_EMIT: {
		const char *why = NULL;
		xmlDocPtr doc;
		if ((w->role != ROLE_SESSION || !u) && !w->reg_jid)
			break;
		{
			ev_tstamp now = ev_now(G.loop);
			w->tokens += (now - w->tokens_at) * EMIT_RATE;
			w->tokens_at = now;
			if (w->tokens > EMIT_BURST)
				w->tokens = EMIT_BURST;
			if (w->tokens < 1.0) {
				w_kill(w, "it floods the component stream (over --worker-emit-burst "
				    "stanzas at once, or --worker-emit-rate per second sustained)");
				return;
			}
			w->tokens -= 1.0;
		}
		if (w->reg_jid) {
			/* A register worker showing a QR code: its messages to the registering
			 * JID, its iqs to the upload service (answered to it alone). */
			doc = policy_check_register_emit(w->reg_jid, m->v[EMIT_xml].s,
			    m->v[EMIT_xml].len, &why);
			if (doc && !strcmp((const char *)xmlDocGetRootElement(doc)->name, "iq") &&
			    iqtrack_add(NULL, w->pid, xmlDocGetRootElement(doc)) < 0)
				log_warn("workers: cannot track an iq of a register worker");
		} else
			doc = policy_check_emit(u->rec.jid, m->v[EMIT_xml].s, m->v[EMIT_xml].len, &why);
		if (!doc) {
			char msg[200];
			snprintf(msg, sizeof msg, "it emitted a forbidden stanza (%s)", why);
			w_kill(w, msg);
			return;
		}
		if (u)
			u->out++;
		if (u) {
			xmlNodePtr root = xmlDocGetRootElement(doc);
			const char *t = xml_attr(root, "type");
			if (strcmp((const char *)root->name, "iq") == 0 && t &&
			    (!strcmp(t, "get") || !strcmp(t, "set")) &&
			    (policy_to_server(root, u->rec.jid) || policy_upload_iq(root)) &&
			    workers_track_iq(u, root) < 0)
				log_warn("workers: cannot track an iq of %s", u->rec.jid);
		}
		if (component_send_node(xmlDocGetRootElement(doc)) < 0)
			log_warn("workers: a stanza of %s could not be queued (server away too long)",
			    u ? u->rec.jid : w->reg_jid);
		xmlFreeDoc(doc);
		return;
	}
	case PROTO_VALIDATE_RESULT:
		if (w->role != ROLE_REGISTER || !w->manifest)
			break;
		w->answered = 1;
		if (w->ops && w->ops->result && !w->stopping)
			w->ops->result(w, m, w->arg);
		return;
	case PROTO_QR_SHOWN:
	case PROTO_QR_CONFIRM:
		/* QR_SHOWN answers step "qr", but the worker still owes the confirmation. */
		if (w->role != ROLE_REGISTER || !w->manifest || !w->ops || !w->ops->qr)
			break;
		w->answered = m->type == PROTO_QR_CONFIRM;
		if (!w->stopping)
			w->ops->qr(w, m, w->arg);
		return;
	case PROTO_DATA_UPDATE:
		if (w->role != ROLE_SESSION || !u)
			break;
		proto_list_free(&u->rec.data);
		u->rec.data = m->v[DATA_UPDATE_data].list;
		memset(&m->v[DATA_UPDATE_data].list, 0, sizeof m->v[DATA_UPDATE_data].list);
		if (store_put(&u->rec) < 0)
			log_error("workers: could not store the data of %s", u->rec.jid);
		return;
	case PROTO_PONG:
		return;
	case PROTO_COMMANDS:       /* from any worker past its MANIFEST (chatcmd.c) */
		if (!w->manifest)
			break;
		chatcmd_worker_frame(u, m);
		return;
	case PROTO_CHAT_COMMAND:   /* commands (chatcmd.c) */
	case PROTO_UNREGISTER:
	case PROTO_PREFERENCES:
		if (w->role != ROLE_SESSION || !u)
			break;
		chatcmd_worker_frame(u, m);
		return;
	case PROTO_STATE:
		if (!u)
			break;
		snprintf(u->state_text, sizeof u->state_text, "%s", m->v[STATE_state].s);
		log_info("workers: %s: session %s", u->rec.jid, m->v[STATE_state].s);
		return;
	default:
		break;
	}
	{
		char msg[128];
		snprintf(msg, sizeof msg, "unexpected %s frame", proto_name(m->type));
		w_kill(w, msg);
	}
}

static void
w_err(struct chan *c, int err, const char *why, void *arg)
{
	struct worker *w = arg;
	char msg[256];

	(void)c;
	if (err == 0) {
		/* EOF: the worker is exiting; the child watcher does the rest (or did). */
		chan_free(w->ch);
		w->ch = NULL;
		if (w->exited)
			w_finish(w);
		return;
	}
	snprintf(msg, sizeof msg, "channel: %s", why ? why : strerror(err));
	w_kill(w, msg);
	if (w->exited)
		w_finish(w);
}

static void
user_free(struct user *u)
{
	struct user **pp;

	for (pp = &buckets[hash(u->rec.jid)]; *pp; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	ev_timer_stop(G.loop, &u->restart);
	bounce_all(&u->queue, "recipient-unavailable",
	    "You are not registered to this gateway anymore; this was not delivered.");
	store_user_free(&u->rec);
	free(u);
	nusers--;
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

/* After an unregistration, the user's state directory goes too. */
static void
remove_state(const char *bare)
{
	char dir[4096];

	if (state_dir(bare, dir, sizeof dir) == 0 &&
	    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		log_warn("workers: could not remove %s: %s", dir, strerror(errno));
}

/* Decide what a crash means: restart after a backoff, or park after too many. */
static void
session_crashed(struct user *u)
{
	time_t now = time(NULL);
	unsigned int i, recent = 0;
	int window = G.cfg.crash_window > 0 ? G.cfg.crash_window : 600;
	int max = G.cfg.max_crashes > 0 ? G.cfg.max_crashes : 5;

	u->crashes[u->ncrashes++ % CRASH_HISTORY] = now;
	for (i = 0; i < CRASH_HISTORY && i < u->ncrashes; i++)
		if (now - u->crashes[i] < window)
			recent++;
	if ((int)recent >= max) {
		u->state = U_PARKED;
		log_error("workers: %s: %u crashes in %d s; session parked (%s)", u->rec.jid,
		    recent, window, u->last_exit);
		bounce_all(&u->queue, "recipient-unavailable",
		    "Your session on this gateway keeps crashing and was stopped; an operator can restart it.");
		route_gateway_status(u->rec.jid, "dnd",
		    "Session stopped after repeated crashes; waiting for the operator");
		route_gateway_message(u->rec.jid,
		    "Your session on this gateway crashed too many times and was stopped. "
		    "The operator has been told; your messages are not delivered until it is restarted.");
		return;
	}
	/* A long stable run resets the backoff. */
	if (u->started && now - u->started > 60)
		u->backoff = RESTART_MIN;
	if (u->backoff < RESTART_MIN)
		u->backoff = RESTART_MIN;
	u->state = U_STARTING;
	/* A first crash in the window restarts at once (the user is back within the time of
	 * an exec and a login); only repeated crashes wait, doubling each time. */
	if (recent <= 1) {
		log_info("workers: %s: restarting the session now", u->rec.jid);
		ev_timer_set(&u->restart, 0., 0.);
		ev_timer_start(G.loop, &u->restart);
		return;
	}
	log_info("workers: %s: restarting the session in %.1f s", u->rec.jid, u->backoff);
	ev_timer_set(&u->restart, u->backoff, 0.);
	ev_timer_start(G.loop, &u->restart);
	u->backoff *= 2;
	if (u->backoff > RESTART_MAX)
		u->backoff = RESTART_MAX;
}

/* The worker process is gone. Its last frames (acks, goodbye presences) may still be in
 * the socket: the channel reads them, and the worker is finished when the channel says
 * EOF (or after a short grace if it does not). */
static void
w_child_cb(struct ev_loop *loop, ev_child *cw, int revents)
{
	struct worker *w = (struct worker *)((char *)cw - offsetof(struct worker, cw));

	(void)loop;
	(void)revents;
	ev_child_stop(G.loop, cw);
	ev_timer_stop(G.loop, &w->killer);
	ev_timer_stop(G.loop, &w->ping);
	w->exited = 1;
	w->status = cw->rstatus;
	if (!w->ch) {
		w_finish(w);
		return;
	}
	/* Read what is left even while workers are paused for backpressure: it is bounded by
	 * the dead worker's socket buffer. */
	chan_pause(w->ch, 0);
	ev_timer_set(&w->killer, 2.0, 0.);
	ev_timer_start(G.loop, &w->killer);
}

static void
w_finish(struct worker *w)
{
	struct user *u = w->u;
	int st = w->status;
	char how[400];

	ev_timer_stop(G.loop, &w->killer);
	/* Whatever it printed last (an ASan report, a reason) goes to the log too. */
	while (w->errfd >= 0) {
		char rb[4096];
		ssize_t n = read(w->errfd, rb, sizeof rb);
		if (n <= 0) {
			w_stderr_close(w);
			break;
		}
		buf_append(&w->errbuf, rb, (size_t)n);
		w_stderr_lines(w, 0);
	}
	if (WIFSIGNALED(st))
		snprintf(how, sizeof how, "killed by signal %d (%.40s)%s%.255s", WTERMSIG(st),
		    strsignal(WTERMSIG(st)), w->why[0] ? ": " : "", w->why);
	else
		snprintf(how, sizeof how, "exited with status %d%s%.255s", WEXITSTATUS(st),
		    w->why[0] ? ": " : "", w->why);
	if (w->ch) {
		chan_free(w->ch);
		w->ch = NULL;
	}
	nworkers--;
	if (w->prev)
		w->prev->next = w->next;
	else
		all_workers = w->next;
	if (w->next)
		w->next->prev = w->prev;

	if (w->role == ROLE_REGISTER) {
		log_debug("workers: register worker %d %s", (int)w->pid, how);
		if (!w->answered && !w->stopping && w->ops && w->ops->died)
			w->ops->died(w, how, w->arg);
		else if (!w->manifest && !G.man.ok && w->ops && w->ops->died)
			w->ops->died(w, how, w->arg);
		free(w->reg_jid);
		free(w);
		goto check_shutdown;
	}

	bounce_all(&w->unacked, "recipient-unavailable",
	    "The gateway's session for your account stopped before handling this; "
	    "it was not delivered to the legacy network.");
	u->w = NULL;
	snprintf(u->last_exit, sizeof u->last_exit, "%s", how);
	if (u->removing) {
		log_info("workers: %s: session ended (%s)", u->rec.jid, how);
		if (u->unregister)
			remove_state(u->rec.jid);
		user_free(u);
	} else if (G.shutting_down || w->stopping) {
		log_info("workers: %s: session stopped (%s)", u->rec.jid, how);
		u->state = U_STOPPED;
		if (u->held)
			bounce_all(&u->queue, "recipient-unavailable",
			    "Your session on this gateway was stopped by its operator.");
		if (G.shutting_down)
			bounce_all(&u->queue, "recipient-unavailable",
			    "The gateway is shutting down; this was not delivered. Try again when it is back.");
		if (u->restart_now && !G.shutting_down) {
			u->restart_now = 0;
			u->restarts++;
			worker_start_session(u);
		}
	} else {
		log_warn("workers: %s: session worker %d %s", u->rec.jid, (int)w->pid, how);
		u->restarts++;
		session_crashed(u);
	}
	free(w);
check_shutdown:
	if (G.shutting_down && nworkers == 0 && shutdown_cb) {
		void (*cb)(void) = shutdown_cb;
		shutdown_cb = NULL;
		cb();
	}
}

static void
worker_start_session(struct user *u)
{
	if (G.shutting_down || u->w)
		return;
	u->state = U_STARTING;
	u->w = spawn(ROLE_SESSION, u);
	if (!u->w) {
		snprintf(u->last_exit, sizeof u->last_exit, "could not be started");
		session_crashed(u);
	}
}

static void
restart_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct user *u = (struct user *)((char *)t - offsetof(struct user, restart));

	(void)loop;
	(void)revents;
	worker_start_session(u);
}

static struct user *
user_new(const struct store_user *rec)
{
	struct user *u = calloc(1, sizeof *u);
	unsigned int h;

	if (!u)
		return NULL;
	u->rec.jid = strdup(rec->jid);
	u->rec.registered = rec->registered;
	if (!u->rec.jid || proto_list_copy(&u->rec.data, &rec->data) < 0 ||
	    proto_list_copy(&u->rec.preferences, &rec->preferences) < 0) {
		store_user_free(&u->rec);
		free(u);
		return NULL;
	}
	ev_init(&u->restart, restart_cb);
	u->backoff = RESTART_MIN;
	h = hash(u->rec.jid);
	u->next = buckets[h];
	buckets[h] = u;
	nusers++;
	return u;
}

static int
load_cb(const struct store_user *rec, void *arg)
{
	(void)arg;
	if (!user_new(rec)) {
		log_error("workers: out of memory loading users");
		return 1;
	}
	return 0;
}

int
workers_load(void)
{
	if (store_foreach(load_cb, NULL) < 0)
		return -1;
	log_info("workers: %zu registered users", nusers);
	return 0;
}

/* Start the next sessions of the boot list, up to the configured concurrency. A slot is
 * freed when a worker reached its MANIFEST (it is up and loaded). */
static void
boot_more(void)
{
	int conc = G.cfg.boot_concurrency > 0 ? G.cfg.boot_concurrency : 8;

	while (boot_next < boot_n && boot_running < conc) {
		struct user *u = boot_list[boot_next++];
		if (!u)
			continue;
		boot_running++;
		worker_start_session(u);
		if (!u->w)
			boot_running--;
	}
	if (boot_next >= boot_n && boot_list) {
		free(boot_list);
		boot_list = NULL;
		boot_n = boot_next = 0;
	}
}

void
workers_boot(void)
{
	size_t i, n = 0;
	struct user *u;

	boot_list = calloc(nusers ? nusers : 1, sizeof *boot_list);
	if (!boot_list) {
		log_error("workers: out of memory at boot");
		return;
	}
	for (i = 0; i < NBUCKETS; i++)
		for (u = buckets[i]; u; u = u->next)
			boot_list[n++] = u;
	boot_n = n;
	boot_next = 0;
	boot_more();
}

int
workers_add_user(const struct store_user *rec, int fresh)
{
	struct user *u = user_new(rec);

	if (!u)
		return -1;
	u->fresh = fresh;
	worker_start_session(u);
	return 0;
}

void
workers_update_user(struct user *u, const struct store_user *rec)
{
	struct proto_list data = { 0 };

	if (proto_list_copy(&data, &rec->data) < 0)
		return;
	proto_list_free(&u->rec.data);
	u->rec.data = data;
}

void
workers_remove_user(struct user *u, int unregister)
{
	size_t i;

	u->removing = 1;
	u->unregister = unregister;
	ev_timer_stop(G.loop, &u->restart);
	for (i = boot_next; i < boot_n; i++)
		if (boot_list[i] == u)
			boot_list[i] = NULL;
	if (u->w) {
		workers_stop(u->w, unregister ? "unregistered" : "removed");
		return;
	}
	if (unregister)
		remove_state(u->rec.jid);
	user_free(u);
}

static struct qitem *
qitem_from(xmlNodePtr st)
{
	struct qitem *q = calloc(1, sizeof *q);
	struct buf b = BUF_INIT;

	if (!q)
		return NULL;
	if (xml_serialize(st, &b) < 0) {
		buf_free(&b, 0);
		free(q);
		return NULL;
	}
	q->len = b.len;
	q->xml = buf_steal(&b);
	q->kind = strdup((const char *)st->name);
	q->from = dup_or_null(xml_attr(st, "from"));
	q->to = dup_or_null(xml_attr(st, "to"));
	q->id = dup_or_null(xml_attr(st, "id"));
	q->type = dup_or_null(xml_attr(st, "type"));
	if (!q->xml || !q->kind) {
		qitem_free(q);
		return NULL;
	}
	return q;
}

void
workers_deliver(struct user *u, xmlNodePtr st)
{
	struct qitem *q;

	if (u->state == U_PARKED || (u->held && !u->w)) {
		struct qitem tmp = { .kind = (char *)st->name, .from = (char *)xml_attr(st, "from"),
			.to = (char *)xml_attr(st, "to"), .id = (char *)xml_attr(st, "id"),
			.type = (char *)xml_attr(st, "type") };
		bounce(&tmp, "recipient-unavailable", u->held
		    ? "Your session on this gateway was stopped by its operator."
		    : "Your session on this gateway is stopped after repeated crashes; an operator can restart it.");
		return;
	}
	q = qitem_from(st);
	if (!q) {
		route_error(st, NULL, "resource-constraint", "The gateway is out of memory");
		return;
	}
	/* Re-serialising can grow a stanza that was just under the input limit (escaped
	 * quotes, the root's xmlns) past what a STANZA frame carries: refuse that one stanza,
	 * not the worker. */
	if (q->len > proto_desc(PROTO_STANZA)->fields[STANZA_xml].max) {
		bounce(q, "policy-violation", "This stanza is too large for the gateway.");
		qitem_free(q);
		return;
	}
	if (u->queue.n >= QUEUE_MAX_ITEMS || u->queue.bytes + q->len > QUEUE_MAX_BYTES) {
		bounce(q, "resource-constraint",
		    "Too many stanzas are waiting for your session to start; try again later.");
		qitem_free(q);
		return;
	}
	qlist_push(&u->queue, q);
	if (u->state == U_STOPPED && !u->held && !u->w && !G.shutting_down)
		worker_start_session(u);
	flush_queue(u);
}

struct worker *
workers_spawn_register(const struct register_ops *ops, void *arg)
{
	struct worker *w = spawn(ROLE_REGISTER, NULL);

	if (!w)
		return NULL;
	w->ops = ops;
	w->arg = arg;
	return w;
}

int
workers_register_for(struct worker *w, const char *bare)
{
	free(w->reg_jid);
	return (w->reg_jid = strdup(bare)) ? 0 : -1;
}

void
workers_pause_all(int p)
{
	size_t i;
	struct user *u;

	paused = p;
	for (i = 0; i < NBUCKETS; i++)
		for (u = buckets[i]; u; u = u->next)
			if (u->w && u->w->ch)
				chan_pause(u->w->ch, p);
}

/* ---- XEP-0356 ----------------------------------------------------------------------- */

/* The last grant of each server, replayed to every session of its users that starts. */
struct grant {
	struct grant *next;
	char *domain;
	xmlDocPtr doc;
};

static struct grant *grants;

static const char *
user_domain(const struct user *u)
{
	const char *at = strchr(u->rec.jid, '@');

	return at ? at + 1 : u->rec.jid;
}

static struct grant *
grant_find(const char *domain)
{
	struct grant *g;

	for (g = grants; g; g = g->next)
		if (strcmp(g->domain, domain) == 0)
			return g;
	return NULL;
}

/* Put the grant in front of what waits for a session that is about to run. */
static void
grant_queue_front(struct user *u)
{
	struct grant *g = grant_find(user_domain(u));
	struct qitem *q;

	if (!g || !(q = qitem_from(xmlDocGetRootElement(g->doc))))
		return;
	q->next = u->queue.head;
	u->queue.head = q;
	if (!u->queue.tail)
		u->queue.tail = q;
	u->queue.n++;
	u->queue.bytes += q->len;
}

void
workers_set_grant(const char *domain, xmlNodePtr st)
{
	struct grant *g = grant_find(domain);
	xmlDocPtr copy = xmlNewDoc((const xmlChar *)"1.0");
	xmlNodePtr root;
	size_t i;
	struct user *u;

	if (!copy || !(root = xmlDocCopyNode(st, copy, 1))) {
		xmlFreeDoc(copy);
		log_error("workers: out of memory keeping a privilege grant");
		return;
	}
	xmlDocSetRootElement(copy, root);
	if (!g) {
		g = calloc(1, sizeof *g);
		if (!g || !(g->domain = strdup(domain))) {
			free(g);
			xmlFreeDoc(copy);
			return;
		}
		g->next = grants;
		grants = g;
	}
	xmlFreeDoc(g->doc);
	g->doc = copy;
	for (i = 0; i < NBUCKETS; i++)
		for (u = buckets[i]; u; u = u->next)
			if (!u->removing && u->state == U_RUNNING &&
			    strcmp(user_domain(u), domain) == 0)
				workers_deliver(u, st);
}

/* Privileged iqs in flight: our id -> the user and the worker's own id. */
struct iqtrack {
	struct iqtrack *next;
	char our_id[48];
	char *orig_id;
	char *user;
	pid_t reg_pid;                  /* or: the register worker that asked */
	ev_tstamp at;
};

#define IQTRACK_MAX 4096
#define IQTRACK_TTL 120.0

static struct iqtrack *iqs;
static size_t niqs;
static unsigned long long iq_serial;

static void
iqtrack_prune(void)
{
	struct iqtrack **pp = &iqs, *t;
	ev_tstamp now = ev_now(G.loop);

	while ((t = *pp)) {
		if (now - t->at > IQTRACK_TTL || niqs > IQTRACK_MAX) {
			*pp = t->next;
			free(t->orig_id);
			free(t->user);
			free(t);
			niqs--;
			continue;
		}
		pp = &t->next;
	}
}

/* Track iq for the session of user, or (user NULL) for register worker reg_pid. */
static int
iqtrack_add(const char *user, pid_t reg_pid, xmlNodePtr iq)
{
	struct iqtrack *t = calloc(1, sizeof *t);
	const char *id = xml_attr(iq, "id");

	if (!t)
		return -1;
	t->orig_id = strdup(id ? id : "");
	t->user = strdup(user ? user : "");
	t->reg_pid = reg_pid;
	if (!t->orig_id || !t->user) {
		free(t->orig_id);
		free(t->user);
		free(t);
		return -1;
	}
	snprintf(t->our_id, sizeof t->our_id, "slidged-iq-%llu", ++iq_serial);
	t->at = ev_now(G.loop);
	xmlSetProp(iq, (const xmlChar *)"id", (const xmlChar *)t->our_id);
	t->next = iqs;
	iqs = t;
	niqs++;
	iqtrack_prune();
	return 0;
}

int
workers_track_iq(struct user *u, xmlNodePtr iq)
{
	return iqtrack_add(u->rec.jid, 0, iq);
}

/* The answer to a register worker's iq, if that worker is still there. */
static int
iq_to_register_worker(pid_t pid, xmlNodePtr iq)
{
	struct proto_val v[STANZA__NFIELDS] = { 0 };
	struct worker *w;
	struct buf b = BUF_INIT;
	int rc = -1;

	for (w = all_workers; w; w = w->next)
		if (w->role == ROLE_REGISTER && w->pid == pid && w->ch && !w->stopping)
			break;
	if (!w || xml_serialize(iq, &b) < 0 ||
	    b.len > proto_desc(PROTO_STANZA)->fields[STANZA_xml].max) {
		buf_free(&b, 0);
		return -1;
	}
	v[STANZA_xml].s = b.data;
	v[STANZA_xml].len = b.len;
	rc = workers_send(w, PROTO_STANZA, v);
	buf_free(&b, 0);
	return rc;
}

int
workers_iq_result(xmlNodePtr iq)
{
	struct iqtrack **pp, *t;
	const char *id = xml_attr(iq, "id");
	struct user *u;
	int rc = -1;

	if (!id)
		return -1;
	for (pp = &iqs; (t = *pp); pp = &t->next)
		if (strcmp(t->our_id, id) == 0)
			break;
	if (!t)
		return -1;
	*pp = t->next;
	niqs--;
	if (t->reg_pid) {
		xmlSetProp(iq, (const xmlChar *)"id", (const xmlChar *)t->orig_id);
		rc = iq_to_register_worker(t->reg_pid, iq);
	} else if ((u = workers_find(t->user))) {
		xmlSetProp(iq, (const xmlChar *)"id", (const xmlChar *)t->orig_id);
		workers_deliver(u, iq);
		rc = 0;
	}
	free(t->orig_id);
	free(t->user);
	free(t);
	return rc;
}

void
workers_shutdown(void (*cb)(void))
{
	size_t i;
	struct user *u;
	struct worker *w;

	shutdown_cb = cb;
	for (i = 0; i < NBUCKETS; i++)
		for (u = buckets[i]; u; u = u->next)
			ev_timer_stop(G.loop, &u->restart);
	for (w = all_workers; w; w = w->next)
		workers_stop(w, "the gateway is shutting down");
	if (nworkers == 0 && shutdown_cb) {
		shutdown_cb = NULL;
		cb();
	}
}

/* ---- control ------------------------------------------------------------------------ */

static const char *
ustate_name(const struct user *u)
{
	if (u->held && !u->w)
		return "held";
	switch (u->state) {
	case U_STOPPED: return "stopped";
	case U_STARTING: return "starting";
	case U_RUNNING: return "running";
	case U_PARKED: return "parked";
	}
	return "unknown";
}

void
proc_mem(pid_t pid, long *rss, long *pss)
{
	char path[64], line[256];
	FILE *f;

	*rss = *pss = -1;
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "Rss:", 4) == 0)
			*rss = strtol(line + 4, NULL, 10);
		else if (strncmp(line, "Pss:", 4) == 0)
			*pss = strtol(line + 4, NULL, 10);
	}
	fclose(f);
}

static void
fill_info(const struct user *u, struct worker_info *i)
{
	memset(i, 0, sizeof *i);
	i->jid = u->rec.jid;
	i->state = ustate_name(u);
	i->session = u->state_text[0] ? u->state_text : "-";
	i->restarts = u->restarts;
	i->last_exit = u->last_exit[0] ? u->last_exit : "-";
	i->rss_kb = i->pss_kb = -1;
	i->queue = u->queue.n;
	i->in = u->in;
	i->out = u->out;
	if (u->w) {
		i->pid = (int)u->w->pid;
		i->uptime = (long)(time(NULL) - u->w->started);
		i->queue += u->w->unacked.n;
		proc_mem(u->w->pid, &i->rss_kb, &i->pss_kb);
	}
}

void
workers_foreach_info(void (*cb)(const struct worker_info *i, void *arg), void *arg)
{
	size_t b;
	struct user *u;
	struct worker_info i;

	for (b = 0; b < NBUCKETS; b++)
		for (u = buckets[b]; u; u = u->next) {
			if (u->removing)
				continue;
			fill_info(u, &i);
			cb(&i, arg);
		}
}

int
workers_info(const char *bare, struct worker_info *i)
{
	struct user *u = workers_find(bare);

	if (!u)
		return -1;
	fill_info(u, i);
	return 0;
}

int
workers_ctl(const char *bare, const char *action)
{
	struct user *u = workers_find(bare);

	if (!u)
		return -1;
	if (strcmp(action, "restart") == 0) {
		u->held = 0;
		if (u->state == U_PARKED)
			u->ncrashes = 0;
		if (u->w) {
			u->restart_now = 1;
			workers_stop(u->w, "restarted by the operator");
		} else {
			ev_timer_stop(G.loop, &u->restart);
			u->restarts++;
			worker_start_session(u);
		}
		return 0;
	}
	if (strcmp(action, "stop") == 0) {
		u->held = 1;
		u->restart_now = 0;
		ev_timer_stop(G.loop, &u->restart);
		if (u->w)
			workers_stop(u->w, "stopped by the operator");
		else {
			u->state = U_STOPPED;
			bounce_all(&u->queue, "recipient-unavailable",
			    "Your session on this gateway was stopped by its operator.");
		}
		return 0;
	}
	if (strcmp(action, "start") == 0) {
		u->held = 0;
		u->ncrashes = 0;
		memset(u->crashes, 0, sizeof u->crashes);
		u->backoff = RESTART_MIN;
		if (!u->w) {
			ev_timer_stop(G.loop, &u->restart);
			worker_start_session(u);
		}
		return 0;
	}
	if (strcmp(action, "kill") == 0) {
		if (u->w)
			w_kill(u->w, "killed by the operator");
		return 0;
	}
	return -2;
}

void
workers_set_loglevel(int level)
{
	struct worker *w;
	struct proto_val v[LOGLEVEL__NFIELDS] = { 0 };

	log_set_level((enum log_level)level);
	v[LOGLEVEL_level].u = (uint64_t)level;
	for (w = all_workers; w; w = w->next)
		if (w->ch)
			chan_send(w->ch, PROTO_LOGLEVEL, v);
}

void
workers_counts(size_t *users, int *nproc)
{
	*users = nusers;
	*nproc = nworkers;
}
