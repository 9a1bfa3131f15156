/* bench.c: the stub XEP-0114 server, the gateway under test, /proc readers and output.
 *
 * The stub splits the gateway's stream with a hand scanner instead of libxml2: what
 * slidged writes is its own re-serialisation (one element per stanza, quoted attributes,
 * escaped text), so counting '<' and '>' outside quotes finds every stanza, and the stub
 * stays far cheaper than the gateway it measures. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "bench.h"

enum { S_HEADER, S_HANDSHAKE, S_READY };

#define READ_CHUNK (256 * 1024)
#define HEADER_MAX (64 * 1024)

extern char **environ;

/* The gateway this program started, killed (its whole process group) on any exit. */
static pid_t live_pgid;

static void
kill_live(void)
{
	if (live_pgid > 0)
		kill(-live_pgid, SIGKILL);
	live_pgid = 0;
}

static void
on_signal(int sig)
{
	kill_live();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- small things ------------------------------------------------------------------ */

void
die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double
now_s(void)
{
	return (double)now_ns() / 1e9;
}

void
bbuf_add(struct bbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((d = realloc(b->data, cap)) == NULL)
			die("out of memory");
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
bbuf_printf(struct bbuf *b, const char *fmt, ...)
{
	char tmp[1024], *big;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("vsnprintf failed");
	if ((size_t)n < sizeof tmp) {
		bbuf_add(b, tmp, (size_t)n);
		return;
	}
	if ((big = malloc((size_t)n + 1)) == NULL)
		die("out of memory");
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	bbuf_add(b, big, (size_t)n);
	free(big);
}

void
bbuf_consume(struct bbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data)
		b->data[b->len] = '\0';
}

void
bbuf_free(struct bbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/* ---- the stub server: the stream ------------------------------------------------- */

int
stub_init(struct stub *s, int nusers)
{
	return stub_init_port(s, nusers, 0);
}

int
stub_init_port(struct stub *s, int nusers, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int one = 1;

	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->nusers = nusers;
	if ((s->users = calloc((size_t)nusers + 1, sizeof *s->users)) == NULL)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->lfd < 0)
		return -1;
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s->lfd, 4) < 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	s->port = ntohs(sa.sin_port);
	return 0;
}

static void
stub_close(struct stub *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->state = S_HEADER;
	s->in.len = s->out.len = 0;
	s->scan = s->depth = 0;
}

void
stub_free(struct stub *s)
{
	stub_close(s);
	if (s->lfd >= 0)
		close(s->lfd);
	bbuf_free(&s->in);
	bbuf_free(&s->out);
	free(s->users);
	s->users = NULL;
}

int
stub_ready(const struct stub *s)
{
	return s->fd >= 0 && s->state == S_READY;
}

static void
stub_accept(struct stub *s)
{
	int fd, one = 1;

	fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (s->fd >= 0) {
		/* One component stream at a time, as a server would insist on. */
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	stub_close(s);
	s->fd = fd;
	s->connections++;
	s->accepted_at = now_s();
	snprintf(s->sid, sizeof s->sid, "bench%u-%llx", s->connections,
	    (unsigned long long)now_ns());
}

/* ---- the stub server: what the gateway sends ------------------------------------ */

struct attrs {
	const char *from, *to, *type, *id;
	size_t from_n, to_n, type_n, id_n;
};

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Name and attributes of the root tag p[0..len) (p[0] is '<'); the name's length. */
static size_t
root_tag(const char *p, size_t len, struct attrs *a)
{
	size_t i = 1, name_n;

	memset(a, 0, sizeof *a);
	while (i < len && !is_space(p[i]) && p[i] != '>' && p[i] != '/')
		i++;
	name_n = i - 1;
	for (;;) {
		const char *an, *v;
		size_t an_n, v_n;
		char q;

		while (i < len && is_space(p[i]))
			i++;
		if (i >= len || p[i] == '>' || p[i] == '/')
			break;
		an = p + i;
		while (i < len && p[i] != '=' && !is_space(p[i]) && p[i] != '>')
			i++;
		an_n = (size_t)(p + i - an);
		while (i < len && (is_space(p[i]) || p[i] == '='))
			i++;
		if (i >= len || (p[i] != '"' && p[i] != '\''))
			break;
		q = p[i++];
		v = p + i;
		while (i < len && p[i] != q)
			i++;
		v_n = (size_t)(p + i - v);
		i++;
#define A(nm) \
	if (an_n == sizeof #nm - 1 && memcmp(an, #nm, an_n) == 0) { \
		a->nm = v; \
		a->nm##_n = v_n; \
	}
		A(from) A(to) A(type) A(id)
#undef A
	}
	return name_n;
}

static int
eq(const char *p, size_t n, const char *lit)
{
	return p != NULL && n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* userN@bench[/res] -> N, or 0 if it is none of ours. */
static int
user_of(const struct stub *s, const char *p, size_t n)
{
	long v = 0;
	size_t i = 4;

	if (p == NULL || n < 6 || memcmp(p, "user", 4) != 0)
		return 0;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		v = v * 10 + (p[i] - '0');
	if (i >= n || p[i] != '@' || v < 1 || v > s->nusers)
		return 0;
	return (int)v;
}

static const char *
find(const char *p, size_t n, const char *needle)
{
	return memmem(p, n, needle, strlen(needle));
}

static void
handshake(struct stub *s, const char *p, size_t n)
{
	unsigned char d[20];
	char want[41], buf[128];
	const char *text, *end;
	size_t i;

	snprintf(buf, sizeof buf, "%s%s", s->sid, BENCH_SECRET);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, strlen(buf), d) < 0)
		die("sha1 failed");
	for (i = 0; i < sizeof d; i++)
		snprintf(want + 2 * i, 3, "%02x", d[i]);
	text = memchr(p, '>', n);
	end = find(p, n, "</handshake>");
	if (!text || !end || (size_t)(end - text - 1) != 40 || memcmp(text + 1, want, 40) != 0) {
		fprintf(stderr, "bench: stub: bad handshake from the gateway\n");
		bbuf_printf(&s->out, "<stream:error><not-authorized "
		    "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>");
		return;
	}
	bbuf_printf(&s->out, "<handshake/>");
	s->state = S_READY;
	s->ready_at = now_s();
}

/* An IQ get/set from the gateway (the stub is "the server"): answer an error, as a server
 * that implements nothing would, so that nothing in the gateway waits for a timeout. */
static void
iq_error(struct stub *s, const struct attrs *a)
{
	bbuf_printf(&s->out, "<iq type='error' from='%.*s' to='%.*s' id='%.*s'>"
	    "<error type='cancel'><service-unavailable "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
	    (int)a->to_n, a->to ? a->to : "", (int)a->from_n, a->from ? a->from : "",
	    (int)a->id_n, a->id ? a->id : "");
	s->sent++;
}

static void
echo_body(struct stub *s, int user, const char *p, size_t n)
{
	static const char pre[] = "<body>echo: b ";
	const char *b = find(p, n, pre);
	unsigned long long u, seq, t;
	char tmp[80];
	size_t k;

	if (!b) {
		s->other++;
		return;
	}
	b += sizeof pre - 1;
	for (k = 0; k + 1 < sizeof tmp && b + k < p + n && b[k] != '<'; k++)
		tmp[k] = b[k];
	tmp[k] = '\0';
	if (sscanf(tmp, "%llu %llu %llu", &u, &seq, &t) != 3 || (int)u != user) {
		s->other++;
		return;
	}
	s->echoes++;
	s->users[user].echoes++;
	if (s->users[user].inflight)
		s->users[user].inflight--;
	if (s->on_echo)
		s->on_echo(s, user, seq, t, s->arg);
}

static void
stanza(struct stub *s, const char *p, size_t n)
{
	struct attrs a;
	size_t name_n = root_tag(p, n, &a);
	const char *name = p + 1;
	int u;

	if (s->state == S_HANDSHAKE) {
		if (eq(name, name_n, "handshake"))
			handshake(s, p, n);
		else
			fprintf(stderr, "bench: stub: %.*s before the handshake\n", (int)name_n, name);
		return;
	}
	s->stanzas++;
	s->bytes += n;
	if (eq(name, name_n, "message")) {
		s->messages++;
		u = user_of(s, a.to, a.to_n);
		if (eq(a.type, a.type_n, "error")) {
			s->errors++;
			if (u) {
				s->users[u].errors++;
				if (s->users[u].inflight)
					s->users[u].inflight--;
				if (s->on_error)
					s->on_error(s, u, s->arg);
			}
		} else if (u && a.from_n >= sizeof "echo@" BENCH_DOMAIN - 1 &&
		    memcmp(a.from, "echo@" BENCH_DOMAIN, sizeof "echo@" BENCH_DOMAIN - 1) == 0) {
			echo_body(s, u, p, n);
		} else {
			s->other++;
		}
	} else if (eq(name, name_n, "presence")) {
		s->presences++;
		if (a.type == NULL && eq(a.from, a.from_n, BENCH_DOMAIN) &&
		    (u = user_of(s, a.to, a.to_n)) != 0 && find(p, n, "<status>Connected as ")) {
			s->users[u].last_login_at = now_s();
			if (s->users[u].logins++ == 0) {
				s->users[u].login_at = now_s();
				s->logged++;
			}
		}
	} else if (eq(name, name_n, "iq")) {
		s->iqs++;
		if (eq(a.type, a.type_n, "get") || eq(a.type, a.type_n, "set"))
			iq_error(s, &a);
	} else {
		s->other++;
	}
}

/* Split what was read into stanzas. The scanner keeps its position (scan) and the
 * element depth across reads; only whole tags are taken, a partial one waits. */
static int
split(struct stub *s)
{
	char *b = s->in.data;
	size_t n = s->in.len, i = s->scan, done = 0, start = 0;

	if (s->state == S_HEADER) {
		const char *h = find(b, n, "<stream:stream");
		const char *e = h ? memchr(h, '>', (size_t)(b + n - h)) : NULL;

		if (!e) {
			if (n > HEADER_MAX)
				return -1;
			return 0;
		}
		bbuf_printf(&s->out, "<?xml version='1.0'?><stream:stream "
		    "xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' "
		    "from='%s' id='%s'>", BENCH_DOMAIN, s->sid);
		s->state = S_HANDSHAKE;
		i = done = (size_t)(e + 1 - b);
		s->depth = 0;
	}
	/* With depth > 0, the current stanza began at the buffer's start (what came before
	 * was consumed). */
	while (i < n) {
		size_t j;
		char q = 0;

		if (b[i] != '<') {
			const char *lt = memchr(b + i, '<', n - i);
			i = lt ? (size_t)(lt - b) : n;
			if (s->depth == 0)
				done = i;
			continue;
		}
		for (j = i + 1; j < n; j++) {
			if (q) {
				if (b[j] == q)
					q = 0;
			} else if (b[j] == '"' || b[j] == '\'') {
				q = b[j];
			} else if (b[j] == '>') {
				break;
			}
		}
		if (j >= n)
			break;
		if (b[i + 1] == '/') {
			if (s->depth == 0) {
				/* </stream:stream>: the gateway is leaving. */
				return -1;
			}
			if (--s->depth == 0) {
				stanza(s, b + start, j + 1 - start);
				done = j + 1;
			}
		} else if (b[i + 1] == '?' || b[i + 1] == '!') {
			if (s->depth == 0)
				done = j + 1;
		} else {
			if (s->depth == 0)
				start = i;
			if (b[j - 1] == '/') {
				if (s->depth == 0) {
					stanza(s, b + i, j + 1 - i);
					done = j + 1;
				}
			} else {
				s->depth++;
			}
		}
		i = j + 1;
	}
	if (s->depth > 0 && start < done)
		die("stub: splitter lost its place");
	/* A stanza in progress must start at the buffer's head for the next round. */
	if (s->depth > 0 && start > done)
		done = start;
	bbuf_consume(&s->in, done);
	s->scan = i - done;
	return 0;
}

static int
stub_write(struct stub *s)
{
	while (s->out.len > 0) {
		ssize_t n = write(s->fd, s->out.data, s->out.len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		bbuf_consume(&s->out, (size_t)n);
	}
	return 0;
}

int
stub_pump(struct stub *s, int timeout_ms)
{
	return stub_pump_us(s, timeout_ms * 1000L);
}

int
stub_pump_us(struct stub *s, long timeout_us)
{
	struct timespec ts = { timeout_us / 1000000, (timeout_us % 1000000) * 1000 };
	struct pollfd p;
	int k;

	if (timeout_us < 0)
		ts.tv_sec = ts.tv_nsec = 0;
	if (s->fd < 0) {
		p.fd = s->lfd;
		p.events = POLLIN;
		if (ppoll(&p, 1, &ts, NULL) > 0)
			stub_accept(s);
		return 0;
	}
	p.fd = s->fd;
	p.events = POLLIN | (s->out.len ? POLLOUT : 0);
	if (ppoll(&p, 1, &ts, NULL) <= 0)
		return 0;
	if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
		/* A few reads per round, so that writes are not starved. */
		for (k = 0; k < 8; k++) {
			ssize_t n;

			if (s->in.cap < s->in.len + READ_CHUNK + 1) {
				char *d = realloc(s->in.data, s->in.len + READ_CHUNK + 1);
				if (!d)
					die("out of memory");
				s->in.data = d;
				s->in.cap = s->in.len + READ_CHUNK + 1;
			}
			n = read(s->fd, s->in.data + s->in.len, READ_CHUNK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0) {
				stub_close(s);
				return -1;
			}
			s->in.len += (size_t)n;
			s->in.data[s->in.len] = '\0';
			if (split(s) < 0) {
				stub_close(s);
				return -1;
			}
			if ((size_t)n < READ_CHUNK)
				break;
		}
	}
	if (s->fd >= 0 && stub_write(s) < 0) {
		stub_close(s);
		return -1;
	}
	return 0;
}

void
stub_flush(struct stub *s, int timeout_ms)
{
	double end = now_s() + timeout_ms / 1000.0;

	if (s->fd >= 0 && stub_write(s) < 0)
		stub_close(s);
	while (s->fd >= 0 && s->out.len > 0 && now_s() < end)
		stub_pump(s, 1);
}

void
stub_send_echo(struct stub *s, int user, uint64_t seq, uint64_t sent_ns)
{
	bbuf_printf(&s->out, "<message type='chat' from='user%d@" BENCH_USER_DOMAIN "/bench' "
	    "to='echo@" BENCH_DOMAIN "' id='b%d-%llu'><body>b %d %llu %llu</body></message>",
	    user, user, (unsigned long long)seq, user, (unsigned long long)seq,
	    (unsigned long long)sent_ns);
	s->users[user].inflight++;
	s->sent++;
}

int
stub_wait_ready(struct stub *s, double deadline)
{
	while (!stub_ready(s) && now_s() < deadline)
		stub_pump(s, 10);
	return stub_ready(s) ? 0 : -1;
}

static int
all_logged(const struct stub *s, int n, unsigned int logins)
{
	int i;

	for (i = 1; i <= n; i++)
		if (s->users[i].logins < logins)
			return 0;
	return 1;
}

int
stub_wait_logins(struct stub *s, int n, unsigned int logins, double deadline)
{
	while (now_s() < deadline) {
		if (logins == 1 ? (int)s->logged >= n : all_logged(s, n, logins))
			return 0;
		stub_pump(s, 5);
	}
	return all_logged(s, n, logins) ? 0 : -1;
}

void
stub_idle(struct stub *s, double seconds)
{
	double end = now_s() + seconds;

	while (now_s() < end)
		stub_pump(s, 5);
}

/* ---- the gateway under test ------------------------------------------------------ */

int
gw_init(struct gw *g, const char *prefix, const char *home)
{
	const char *env = getenv("SLIDGE_PREFIX");

	memset(g, 0, sizeof *g);
	snprintf(g->prefix, sizeof g->prefix, "%s", prefix ? prefix : env ? env : "/usr/local");
	if (home) {
		snprintf(g->home, sizeof g->home, "%s", home);
		if (mkdir(g->home, 0700) < 0 && errno != EEXIST)
			return -1;
	} else {
		/* $BENCH_TMPDIR puts the gateway's home (and the users' stores) elsewhere,
		 * e.g. on tmpfs (/dev/shm) to take the disk's fsync out. */
		const char *base = getenv("BENCH_TMPDIR");

		snprintf(g->home, sizeof g->home, "%s/sbench.XXXXXX", base && *base ? base : "/tmp");
		if (!mkdtemp(g->home))
			return -1;
	}
	snprintf(g->sock, sizeof g->sock, "%s/slidged.sock", g->home);
	snprintf(g->log, sizeof g->log, "%s/slidged.log", g->home);
	return 0;
}

int
gw_start(struct gw *g, int port)
{
	char path[600], portstr[16], conc[16];
	const char *argv[32];
	int n = 0, fd;
	pid_t pid;

	snprintf(path, sizeof path, "%s/bin/slidged", g->prefix);
	if (access(path, X_OK) < 0)
		die("no %s (build and install first, or set SLIDGE_PREFIX)", path);
	snprintf(portstr, sizeof portstr, "%d", port);
	snprintf(conc, sizeof conc, "%d", g->boot_concurrency);
	argv[n++] = path;
	argv[n++] = "--jid";
	argv[n++] = BENCH_DOMAIN;
	argv[n++] = "--secret";
	argv[n++] = BENCH_SECRET;
	argv[n++] = "--server";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = portstr;
	argv[n++] = "--home-dir";
	argv[n++] = g->home;
	argv[n++] = "--legacy-module";
	argv[n++] = "demo";
	argv[n++] = "--user-jid-validator";
	argv[n++] = ".*@" BENCH_USER_DOMAIN;
	if (g->boot_concurrency > 0) {
		argv[n++] = "--boot-concurrency";
		argv[n++] = conc;
	}
	/* The relay saturates one worker far beyond a person's rate: lift the flood guard. */
	argv[n++] = "--worker-emit-rate";
	argv[n++] = "10000000";
	argv[n++] = "--worker-emit-burst";
	argv[n++] = "10000000";
	if (g->quiet)
		argv[n++] = "-q";
	argv[n] = NULL;
	g->port = port;
	g->started_at = now_s();
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char **e;

		/* Its own process group: the workers go with it, and nothing here catches
		 * the terminal's signals twice. No configuration from the machine. */
		setpgid(0, 0);
		for (e = environ; *e;) {
			if (strncmp(*e, "SLIDGE_", 7) == 0) {
				char name[128];
				size_t k = strcspn(*e, "=");
				snprintf(name, sizeof name, "%.*s", (int)k, *e);
				unsetenv(name);
				e = environ;
				continue;
			}
			e++;
		}
		setenv("SLIDGE_CONF_DIR", g->home, 1);
		fd = open(g->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(path, (char *const *)argv);
		_exit(127);
	}
	g->pid = pid;
	/* Set it from here too, so that a kill right after fork finds the group. */
	setpgid(pid, pid);
	if (live_pgid == 0) {
		static int once;
		if (!once++) {
			atexit(kill_live);
			signal(SIGINT, on_signal);
			signal(SIGTERM, on_signal);
			signal(SIGHUP, on_signal);
		}
	}
	live_pgid = pid;
	return 0;
}

double
gw_stop(struct gw *g, struct stub *s, double timeout)
{
	double t0 = now_s(), end = t0 + timeout;
	int st;

	if (g->pid <= 0)
		return 0;
	kill(g->pid, SIGTERM);
	while (now_s() < end) {
		pid_t r = waitpid(g->pid, &st, WNOHANG);
		if (r == g->pid) {
			double took = now_s() - t0;
			g->pid = 0;
			/* Anything of its group still there (a worker that lost its parent). */
			kill(-r, SIGKILL);
			live_pgid = 0;
			return took;
		}
		if (s)
			stub_pump(s, 5);
		else
			usleep(5000);
	}
	kill(-g->pid, SIGKILL);
	kill(g->pid, SIGKILL);
	waitpid(g->pid, &st, 0);
	g->pid = 0;
	live_pgid = 0;
	return -1;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path) < 0 ? 0 : 0;
}

void
gw_cleanup(struct gw *g)
{
	if (!g->keep && g->home[0] && strstr(g->home, "/sbench."))
		nftw(g->home, rm_cb, 32, FTW_DEPTH | FTW_PHYS);
}

/* Start slidgectl with argv (argv[0] unused), stdout to a file; its pid. */
static pid_t
ctl_spawn(struct gw *g, const char **args, const char *outpath)
{
	char path[600];
	const char *argv[40];
	int n = 0, fd;
	pid_t pid;

	snprintf(path, sizeof path, "%s/bin/slidgectl", g->prefix);
	argv[n++] = path;
	argv[n++] = "-s";
	argv[n++] = g->sock;
	argv[n++] = "--json";
	while (*args && n < 39)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		fd = outpath ? open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600) :
		    open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			close(fd);
		}
		execv(path, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int
gw_ctl(struct gw *g, struct stub *s, struct bbuf *out, ...)
{
	const char *args[32];
	char outpath[160], rb[4096];
	va_list ap;
	int n = 0, st, fd;
	double end = now_s() + 60;
	pid_t pid, r = 0;
	ssize_t k;

	va_start(ap, out);
	while (n < 31 && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	snprintf(outpath, sizeof outpath, "%s/ctl.out", g->home);
	if ((pid = ctl_spawn(g, args, outpath)) < 0)
		return -1;
	while (now_s() < end && (r = waitpid(pid, &st, WNOHANG)) == 0) {
		if (s)
			stub_pump(s, 1);
		else
			usleep(1000);
	}
	if (r != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -1;
	}
	if (out && (fd = open(outpath, O_RDONLY)) >= 0) {
		while ((k = read(fd, rb, sizeof rb)) > 0)
			bbuf_add(out, rb, (size_t)k);
		close(fd);
	}
	unlink(outpath);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int
gw_register_range(struct gw *g, struct stub *s, int from, int to, int parallel)
{
	pid_t *running = calloc((size_t)parallel, sizeof *running);
	int next = from, failed = 0, active = 0, i, st;
	double end = now_s() + 600;

	if (!running)
		die("out of memory");
	while ((next <= to || active > 0) && now_s() < end) {
		for (i = 0; i < parallel; i++) {
			if (running[i] > 0) {
				pid_t r = waitpid(running[i], &st, WNOHANG);
				if (r == running[i]) {
					if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
						failed++;
					running[i] = 0;
					active--;
				}
			}
			if (running[i] == 0 && next <= to) {
				char jid[64], data[64];
				const char *args[] = { "register", jid, data, NULL };

				snprintf(jid, sizeof jid, "user%d@" BENCH_USER_DOMAIN, next);
				snprintf(data, sizeof data, "username=user%d", next);
				running[i] = ctl_spawn(g, args, NULL);
				if (running[i] < 0) {
					running[i] = 0;
					failed++;
				} else {
					active++;
				}
				next++;
			}
		}
		stub_pump(s, 1);
	}
	for (i = 0; i < parallel; i++)
		if (running[i] > 0) {
			kill(running[i], SIGKILL);
			waitpid(running[i], &st, 0);
			failed++;
		}
	free(running);
	return failed;
}

pid_t
gw_worker_pid(struct gw *g, struct stub *s, int user)
{
	struct bbuf out = { 0 };
	struct ctl_rows rows;
	char jid[64];
	const char *v;
	pid_t pid = -1;

	snprintf(jid, sizeof jid, "user%d@" BENCH_USER_DOMAIN, user);
	if (gw_ctl(g, s, &out, "status", jid, NULL) == 0 && out.data &&
	    ctl_parse(out.data, &rows) == 0) {
		if (rows.n > 0 && (v = ctl_get(&rows, 0, "pid")) != NULL)
			pid = (pid_t)atoi(v);
		ctl_rows_free(&rows);
	}
	bbuf_free(&out);
	return pid > 0 ? pid : -1;
}

void
bench_up(struct stub *s, struct gw *g, int nusers, int registered, double timeout)
{
	double t0 = now_s();
	int failed;

	if (stub_init(s, nusers) < 0)
		die("stub: cannot listen on 127.0.0.1: %s", strerror(errno));
	if (gw_start(g, s->port) < 0)
		die("cannot start slidged");
	if (stub_wait_ready(s, now_s() + timeout) < 0)
		die("slidged did not complete the component handshake in %.0f s (log: %s)",
		    timeout, g->log);
	if (registered <= 0)
		return;
	failed = gw_register_range(g, s, 1, registered, 8);
	if (failed)
		die("%d registrations failed (log: %s)", failed, g->log);
	if (stub_wait_logins(s, registered, 1, now_s() + timeout) < 0)
		die("only %u of %d sessions logged in after %.0f s (log: %s)", s->logged,
		    registered, now_s() - t0, g->log);
}

void
gw_cpu(const struct gw *g, long long *sup_us, long long *workers_us)
{
	pid_t kids[8192];
	size_t n = proc_children(g->pid, kids, 8192), i;
	long long v;

	*sup_us = proc_cpu_us(g->pid);
	*workers_us = 0;
	for (i = 0; i < n; i++)
		if ((v = proc_cpu_us(kids[i])) > 0)
			*workers_us += v;
}

/* ---- slidgectl --json ----------------------------------------------------------- */

/* A JSON string at *p (at its opening quote): a copy, *p moved past it. */
static char *
json_string(const char **p)
{
	struct bbuf b = { 0 };
	const char *q = *p + 1;

	while (*q && *q != '"') {
		if (*q == '\\' && q[1]) {
			char c = q[1];
			if (c == 'n')
				c = '\n';
			else if (c == 'u' && strlen(q) >= 6) {
				c = '?';
				q += 4;
			}
			bbuf_add(&b, &c, 1);
			q += 2;
		} else {
			bbuf_add(&b, q++, 1);
		}
	}
	bbuf_add(&b, "", 0);
	*p = *q ? q + 1 : q;
	return b.data;
}

int
ctl_parse(const char *json, struct ctl_rows *rows)
{
	const char *p = strstr(json, "\"rows\":[");

	memset(rows, 0, sizeof *rows);
	if (!p)
		return -1;
	p += 8;
	for (;;) {
		char **kv = NULL;
		size_t n = 0;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p != '{')
			break;
		p++;
		while (*p == '"') {
			char **nkv = realloc(kv, (n + 3) * sizeof *kv);
			if (!nkv)
				die("out of memory");
			kv = nkv;
			kv[n++] = json_string(&p);
			if (*p == ':')
				p++;
			kv[n++] = *p == '"' ? json_string(&p) : strdup("");
			kv[n] = NULL;
			if (*p == ',')
				p++;
		}
		if (*p == '}')
			p++;
		{
			char ***nr = realloc(rows->kv, (rows->n + 1) * sizeof *nr);
			if (!nr)
				die("out of memory");
			rows->kv = nr;
			rows->kv[rows->n++] = kv;
		}
	}
	return 0;
}

const char *
ctl_get(const struct ctl_rows *rows, size_t r, const char *key)
{
	char **kv;

	if (r >= rows->n || (kv = rows->kv[r]) == NULL)
		return NULL;
	for (; kv[0] && kv[1]; kv += 2)
		if (strcmp(kv[0], key) == 0)
			return kv[1];
	return NULL;
}

void
ctl_rows_free(struct ctl_rows *rows)
{
	size_t r;
	char **kv;

	for (r = 0; r < rows->n; r++) {
		for (kv = rows->kv[r]; kv && *kv; kv++)
			free(*kv);
		free(rows->kv[r]);
	}
	free(rows->kv);
	memset(rows, 0, sizeof *rows);
}

/* ---- /proc ------------------------------------------------------------------- */

size_t
proc_children(pid_t ppid, pid_t *out, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL && n < max) {
		char path[300], buf[512], *rp;
		int fd, pp;
		ssize_t k;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if ((fd = open(path, O_RDONLY)) < 0)
			continue;
		k = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (k <= 0)
			continue;
		buf[k] = '\0';
		/* The command name may hold spaces and parentheses: fields start after the
		 * last ')'. Field 3 is the state, 4 the parent. */
		if ((rp = strrchr(buf, ')')) == NULL || sscanf(rp + 2, "%*c %d", &pp) != 1)
			continue;
		if (pp == ppid)
			out[n++] = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	return n;
}

long long
proc_cpu_us(pid_t pid)
{
	char path[64], buf[1024], *rp;
	unsigned long long ut, st;
	static long hz;
	ssize_t k;
	int fd;

	if (!hz)
		hz = sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return -1;
	k = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (k <= 0)
		return -1;
	buf[k] = '\0';
	/* After ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
	 * cmajflt utime(14) stime(15). */
	if ((rp = strrchr(buf, ')')) == NULL ||
	    sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)((ut + st) * 1000000ull / (unsigned long long)hz);
}

int
proc_mem(pid_t pid, struct proc_mem *m)
{
	char path[64], line[256];
	FILE *f;

	m->rss = m->pss = m->pss_anon = m->pss_file = m->private_dirty = m->shared_clean = -1;
	m->swap = -1;
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f)) {
		long v;
		char key[64];

		if (sscanf(line, "%63[^:]: %ld kB", key, &v) != 2)
			continue;
		if (!strcmp(key, "Rss"))
			m->rss = v;
		else if (!strcmp(key, "Pss"))
			m->pss = v;
		else if (!strcmp(key, "Pss_Anon"))
			m->pss_anon = v;
		else if (!strcmp(key, "Pss_File"))
			m->pss_file = v;
		else if (!strcmp(key, "Private_Dirty"))
			m->private_dirty = v;
		else if (!strcmp(key, "Shared_Clean"))
			m->shared_clean = v;
		else if (!strcmp(key, "Swap"))
			m->swap = v;
	}
	fclose(f);
	m->pte = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) != NULL) {
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "VmPTE: %ld kB", &m->pte) == 1)
				break;
		fclose(f);
	}
	return m->pss < 0 ? -1 : 0;
}

static int
map_cmp(const void *a, const void *b)
{
	const struct proc_map *x = a, *y = b;

	return (y->pss > x->pss) - (y->pss < x->pss);
}

size_t
proc_maps_top(pid_t pid, struct proc_map *out, size_t max)
{
	char path[64], line[1024], cur[160];
	struct proc_map *all = NULL;
	size_t n = 0, cap = 0, i, ci = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f)) {
		size_t tok = strcspn(line, " \n");
		char name[600];
		long v;

		/* A mapping's header line ("lo-hi perms offset dev inode [name]") starts a
		 * block; its field lines ("Pss:   4 kB") have a first word ending in ':'. */
		if (tok > 0 && line[tok - 1] != ':') {
			const char *nm;
			size_t k;

			name[0] = '\0';
			sscanf(line, "%*s %*s %*s %*s %*s %599[^\n]", name);
			nm = name[0] ? name : "[anon]";
			snprintf(cur, sizeof cur, "%.*s", (int)sizeof cur - 1, nm);
			for (k = 0; k < n; k++)
				if (strcmp(all[k].name, cur) == 0)
					break;
			if (k == n) {
				if (n == cap) {
					cap = cap ? cap * 2 : 64;
					all = realloc(all, cap * sizeof *all);
					if (!all)
						die("out of memory");
				}
				memset(&all[n], 0, sizeof all[n]);
				snprintf(all[n].name, sizeof all[n].name, "%s", cur);
				n++;
			}
			ci = k;
			continue;
		}
		if (n == 0)
			continue;
		if (sscanf(line, "Pss: %ld kB", &v) == 1)
			all[ci].pss += v;
		else if (sscanf(line, "Rss: %ld kB", &v) == 1)
			all[ci].rss += v;
		else if (sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
			all[ci].private_dirty += v;
	}
	fclose(f);
	qsort(all, n, sizeof *all, map_cmp);
	for (i = 0; i < n && i < max; i++)
		out[i] = all[i];
	free(all);
	return i;
}

void
sys_cpu_us(long long *busy, long long *total)
{
	unsigned long long v[8] = { 0 };
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "re");

	*busy = *total = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	    &v[4], &v[5], &v[6], &v[7]) == 8) {
		unsigned long long b = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
		*busy = (long long)(b * 1000000ull / (unsigned long long)hz);
		*total = (long long)((b + v[3] + v[4]) * 1000000ull / (unsigned long long)hz);
	}
	fclose(f);
}

long long
self_cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
	    (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

double
loadavg1(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "re");

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

/* ---- statistics and output --------------------------------------------------------- */

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double
quantile(double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, dbl_cmp);
	/* Nearest rank: the smallest value with at least p of the samples at or below. */
	k = (size_t)(p * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

void
row(const char *label, const char *fmt, ...)
{
	va_list ap;

	printf("  %-44s ", label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void
json_str(struct bbuf *j, const char *s)
{
	bbuf_add(j, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			bbuf_printf(j, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			bbuf_printf(j, "\\u%04x", (unsigned char)*s);
		else
			bbuf_add(j, s, 1);
	}
	bbuf_add(j, "\"", 1);
}

void
machine_json(struct bbuf *j)
{
	char line[512], model[256] = "unknown";
	struct utsname u;
	long memkb = 0;
	FILE *f;

	if ((f = fopen("/proc/cpuinfo", "re")) != NULL) {
		while (fgets(line, sizeof line, f))
			if (strncmp(line, "model name", 10) == 0) {
				char *c = strchr(line, ':');
				if (c) {
					snprintf(model, sizeof model, "%s", c + 2);
					model[strcspn(model, "\n")] = '\0';
				}
				break;
			}
		fclose(f);
	}
	if ((f = fopen("/proc/meminfo", "re")) != NULL) {
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "MemTotal: %ld kB", &memkb) == 1)
				break;
		fclose(f);
	}
	uname(&u);
	bbuf_printf(j, "\"machine\":{\"nproc\":%ld,\"cpu\":", sysconf(_SC_NPROCESSORS_ONLN));
	json_str(j, model);
	bbuf_printf(j, ",\"kernel\":");
	json_str(j, u.release);
	bbuf_printf(j, ",\"mem_kib\":%ld}", memkb);
}

void
json_emit(struct bbuf *j, const char *path)
{
	FILE *f;

	printf("%s\n", j->data);
	fflush(stdout);
	if (path && (f = fopen(path, "w")) != NULL) {
		fprintf(f, "%s\n", j->data);
		fclose(f);
	}
}
