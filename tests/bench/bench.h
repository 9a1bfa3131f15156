/* bench.h: what the benchmark programs share.
 *
 * - a stub XEP-0114 server: it accepts slidged's component stream, checks the handshake,
 *   injects messages from synthetic users userN@bench and sinks everything the gateway
 *   sends, counting it; Prosody is out of the measurement;
 * - the gateway under test: slidged started with its own home directory, slidgectl;
 * - /proc readers (CPU ticks, PSS, the mappings of a process);
 * - small statistics and output helpers (one table, one JSON object).
 *
 * Everything is synchronous: a program drives the stub with stub_pump() in its own loop,
 * and every wait is bounded by a deadline. */
#ifndef SLIDGE_BENCH_H
#define SLIDGE_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_DOMAIN "gw.bench"      /* the component's JID */
#define BENCH_USER_DOMAIN "bench"    /* the synthetic users' server */
#define BENCH_SECRET "bench-secret"

/* ---- time ------------------------------------------------------------------------ */

/* CLOCK_MONOTONIC in nanoseconds / seconds. */
uint64_t now_ns(void);
double now_s(void);

/* ---- a growable byte buffer ------------------------------------------------------ */

struct bbuf {
	char *data;
	size_t len, cap;
};

/* Append; exits the program on allocation failure (a benchmark has no way out). */
void bbuf_add(struct bbuf *b, const void *p, size_t n);
void bbuf_printf(struct bbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes. */
void bbuf_consume(struct bbuf *b, size_t n);
void bbuf_free(struct bbuf *b);

/* ---- the stub XEP-0114 server ---------------------------------------------------- */

/* One synthetic user, index i is userI@bench (1-based: users[0] is unused). */
struct stub_user {
	double login_at;                 /* first "Connected as" gateway presence, or 0 */
	double last_login_at;            /* the latest one */
	unsigned int logins;             /* "Connected as" presences seen */
	unsigned long long echoes;       /* "echo: ..." messages received */
	unsigned long long errors;       /* message errors (bounces) received */
	unsigned int inflight;           /* sent and not yet answered (echo or error) */
};

struct stub;

/* Called for each echo answer: user index, the sequence number and send time (ns) that
 * the request's body carried. */
typedef void (*stub_echo_cb)(struct stub *s, int user, uint64_t seq, uint64_t sent_ns,
    void *arg);
/* Called for each message error to a user (a bounce). */
typedef void (*stub_error_cb)(struct stub *s, int user, void *arg);

struct stub {
	int lfd, fd, port;
	int state;                       /* see stub.c: header, handshake, ready */
	unsigned int connections;        /* streams accepted so far */
	double accepted_at, ready_at;    /* of the current stream */
	char sid[40];
	struct bbuf in, out;
	size_t scan, depth;              /* the splitter's position in `in` */
	int nusers;
	struct stub_user *users;
	unsigned int logged;             /* users with at least one login */
	/* what the gateway sent */
	unsigned long long stanzas, bytes, messages, presences, iqs, echoes, errors, other;
	unsigned long long sent;         /* stanzas the stub injected */
	stub_echo_cb on_echo;
	stub_error_cb on_error;
	void *arg;
};

/* Listen on 127.0.0.1, an ephemeral port (s->port), for nusers users. -1 on failure. */
int stub_init(struct stub *s, int nusers);
/* The same on a given port (0: any). */
int stub_init_port(struct stub *s, int nusers, int port);
void stub_free(struct stub *s);
/* Wait at most timeout_ms for input; accept, read, split and count; write what is
 * queued. Returns -1 if the stream broke (it is then closed and the stub listens). */
int stub_pump(struct stub *s, int timeout_ms);
/* The same with a timeout in microseconds (for the paced sender of bench-latency). */
int stub_pump_us(struct stub *s, long timeout_us);
int stub_ready(const struct stub *s);
/* Queue a chat message from userN@bench/res to echo@gw.bench whose body carries seq and
 * sent_ns (the echo answer carries them back). */
void stub_send_echo(struct stub *s, int user, uint64_t seq, uint64_t sent_ns);
/* Write what is queued: one non-blocking attempt, then pumping for at most timeout_ms
 * while something is left. Sends are only queued: call this (or stub_pump) after them. */
void stub_flush(struct stub *s, int timeout_ms);
/* Pump until every user 1..n has logged in at least `logins` times, or the deadline
 * (now_s()). 0 when all did, -1 on timeout. */
int stub_wait_logins(struct stub *s, int n, unsigned int logins, double deadline);
/* Pump until the stream is ready or the deadline. */
int stub_wait_ready(struct stub *s, double deadline);
/* Pump for `seconds`, whatever happens. */
void stub_idle(struct stub *s, double seconds);

/* ---- the gateway under test ------------------------------------------------------ */

struct gw {
	char prefix[512];                /* install prefix: bin/slidged, bin/slidgectl */
	char home[96];                   /* --home-dir (short: the control socket is in it) */
	char sock[128];
	char log[128];
	int port;
	int boot_concurrency;            /* 0: slidged's default */
	int quiet;                       /* -q */
	int keep;                        /* gw_cleanup leaves the home directory */
	pid_t pid;
	double started_at;
};

/* Fill g: prefix from the argument or $SLIDGE_PREFIX, a new home dir sbench.XXXXXX under
 * $BENCH_TMPDIR or /tmp (or `home` if not NULL: kept as it is, so a store can be
 * reused). -1 on failure. */
int gw_init(struct gw *g, const char *prefix, const char *home);
/* Start slidged connecting to the stub's port. -1 on failure. */
int gw_start(struct gw *g, int port);
/* SIGTERM, wait up to timeout seconds (pumping the stub so slidged can flush), then
 * SIGKILL. Returns the seconds it took to exit on its own, or -1 if it had to be killed. */
double gw_stop(struct gw *g, struct stub *s, double timeout);
/* Remove the home directory (rm -rf through the filesystem API) unless g->keep. */
void gw_cleanup(struct gw *g);
/* Run slidgectl --json ARGS..., NULL-terminated, pumping the stub meanwhile; the
 * output goes to *out (caller frees with bbuf_free). Returns slidgectl's exit status,
 * or -1. At most 60 s. */
int gw_ctl(struct gw *g, struct stub *s, struct bbuf *out, ...) __attribute__((sentinel));
/* Register users from..to (userN@bench, username=userN), `parallel` slidgectl processes at
 * a time, pumping the stub. Returns the number that failed. */
int gw_register_range(struct gw *g, struct stub *s, int from, int to, int parallel);
/* Worker pid of userN (slidgectl status), or -1. */
pid_t gw_worker_pid(struct gw *g, struct stub *s, int user);

/* A flat reading of slidgectl --json: row r's value for a column, or NULL. */
struct ctl_rows {
	size_t n;
	char ***kv;                      /* kv[r] = { key, value, key, value, ..., NULL } */
};
int ctl_parse(const char *json, struct ctl_rows *rows);
const char *ctl_get(const struct ctl_rows *rows, size_t r, const char *key);
void ctl_rows_free(struct ctl_rows *rows);

/* Start slidged against a new stub for `nusers` users, register users 1..`registered`
 * (parallel slidgectl) and wait until they all logged in. Exits on failure (with the
 * gateway's log path). `timeout` bounds each wait. */
void bench_up(struct stub *s, struct gw *g, int nusers, int registered, double timeout);
/* CPU time (utime+stime, microseconds) of slidged and of all its children (the
 * workers). */
void gw_cpu(const struct gw *g, long long *sup_us, long long *workers_us);

/* ---- /proc --------------------------------------------------------------------- */

/* Children of ppid (from /proc/PID/stat), up to max; returns how many. */
size_t proc_children(pid_t ppid, pid_t *out, size_t max);
/* utime+stime of a process in microseconds, or -1. */
long long proc_cpu_us(pid_t pid);
/* Fields of /proc/PID/smaps_rollup in KiB (-1 where missing), and VmPTE of
 * /proc/PID/status: the page tables, kernel memory that PSS does not show. */
struct proc_mem {
	long rss, pss, pss_anon, pss_file, private_dirty, shared_clean, swap, pte;
};
int proc_mem(pid_t pid, struct proc_mem *m);
/* The mappings of /proc/PID/smaps summed by name ([heap], [anon], library path...),
 * the top `max` by Pss, largest first; returns how many. */
struct proc_map {
	char name[160];
	long pss, rss, private_dirty;
};
size_t proc_maps_top(pid_t pid, struct proc_map *out, size_t max);

/* The whole machine's CPU time from /proc/stat, in microseconds summed over CPUs: busy
 * (user, nice, system, irq, softirq, steal) and total (busy + idle + iowait). Other
 * processes on a shared machine show as busy time that is not ours. */
void sys_cpu_us(long long *busy, long long *total);
/* This process's own utime+stime, microseconds. */
long long self_cpu_us(void);
/* The 1-minute load average. */
double loadavg1(void);

/* ---- statistics and output --------------------------------------------------------- */

/* The p-quantile (0..1) of v[0..n), sorted in place; 0 when n is 0. */
double quantile(double *v, size_t n, double p);

/* Print a two-column table row: label, then a formatted value. */
void row(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string (quoted, escaped). */
void json_str(struct bbuf *j, const char *s);
/* Machine facts for the JSON objects: nproc, CPU model, kernel, memory. */
void machine_json(struct bbuf *j);
/* Print the JSON object on its own line and, if path is not NULL, write it there. */
void json_emit(struct bbuf *j, const char *path);

/* Exit with a message (setup failures). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
