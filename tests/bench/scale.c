/* scale.c: slidged start to every session logged in, with many registered users; then
 * kill -9 of one worker to that user's echo working again; then a clean shutdown.
 *
 *   bench-scale [--prefix DIR] [--users N] [--boot-concurrency C] [--home DIR]
 *               [--restarts K] [--json FILE]
 *
 * A first gateway provisions N users (slidgectl register) and is stopped, unless --home
 * names a home directory that already has a registration store (bench-memory --home
 * leaves 1000 users in one); a --home without a store is provisioned and kept. The measured start counts from fork of slidged to the
 * "Connected as userN" gateway presence of every user reaching the stub; sessions are
 * started --boot-concurrency at a time (slidged's stagger).
 *
 * Restart: K different users (a second crash of the same user would wait for the crash
 * backoff's second step); for each, with nothing in flight, the worker gets SIGKILL, then
 * the stub sends that user a message to echo every 5 ms until the first echo answer to a
 * message sent after the kill. Messages sent meanwhile are queued by slidged (answered
 * later) or bounced with an error (the dead worker had them): both are counted. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define RESEND_US 5000
#define MAX_RESTARTS 20

struct probe {
	int user;
	uint64_t first_seq;            /* the first message sent after the kill */
	double first_echo;             /* its (or a later one's) answer arrived */
	unsigned long long answered, bounced;
};

static void
on_echo(struct stub *s, int user, uint64_t seq, uint64_t sent_ns, void *arg)
{
	struct probe *p = arg;

	(void)s;
	(void)sent_ns;
	if (!p || user != p->user || seq < p->first_seq)
		return;
	p->answered++;
	if (p->first_echo == 0)
		p->first_echo = now_s();
}

static void
on_error(struct stub *s, int user, void *arg)
{
	struct probe *p = arg;

	(void)s;
	if (p && user == p->user)
		p->bounced++;
}

struct restart {
	int user;
	double working_ms;             /* kill -> first echo answer */
	double relogin_ms;             /* kill -> "Connected as" again */
	unsigned long long sent, answered, bounced;
	pid_t old_pid, new_pid;
	int ok;
};

static void
restart_one(struct gw *g, struct stub *s, int user, struct restart *r, uint64_t *seq)
{
	struct probe p = { .user = user };
	unsigned int logins = s->users[user].logins;
	double t_kill, next, end;

	memset(r, 0, sizeof *r);
	r->user = user;
	r->old_pid = gw_worker_pid(g, s, user);
	if (r->old_pid <= 0) {
		fprintf(stderr, "bench: no worker pid for user%d\n", user);
		return;
	}
	s->arg = &p;
	p.first_seq = *seq + 1;
	t_kill = now_s();
	kill(r->old_pid, SIGKILL);
	next = t_kill;
	end = t_kill + 10;
	while (now_s() < end && p.first_echo == 0) {
		double now = now_s();

		if (now >= next) {
			stub_send_echo(s, user, ++*seq, now_ns());
			stub_flush(s, 0);
			r->sent++;
			next += RESEND_US / 1e6;
		}
		stub_pump_us(s, (long)((next - now_s()) * 1e6) + 1);
	}
	if (p.first_echo > 0) {
		r->ok = 1;
		r->working_ms = (p.first_echo - t_kill) * 1000;
	}
	/* What was queued comes back now; wait for every message sent to be answered or
	 * bounced (bounded). */
	end = now_s() + 5;
	while (now_s() < end && p.answered + p.bounced < r->sent)
		stub_pump(s, 5);
	if (s->users[user].logins > logins)
		r->relogin_ms = (s->users[user].last_login_at - t_kill) * 1000;
	r->answered = p.answered;
	r->bounced = p.bounced;
	r->new_pid = gw_worker_pid(g, s, user);
	s->arg = NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-scale [--prefix DIR] [--users N] [--boot-concurrency C] "
	    "[--home DIR] [--restarts K] [--json FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *prefix = NULL, *json_path = NULL, *home = NULL;
	int users = 1000, conc = 0, nrestarts = 5, i;
	struct restart rs[MAX_RESTARTS];
	double *logins, t_ready, first, p50, p90, p99, last, shut, prov = -1;
	double working[MAX_RESTARTS], relog[MAX_RESTARTS];
	size_t nok = 0;
	uint64_t seq = 0;
	struct stub s;
	struct gw g;
	struct bbuf j = { 0 };
	char store[200];
	long long boot_sup_us, boot_wk_us, busy0, tot0, busy1, tot1, me0;
	double boot_others, load0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
			prefix = argv[++i];
		else if (!strcmp(argv[i], "--users") && i + 1 < argc)
			users = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--boot-concurrency") && i + 1 < argc)
			conc = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--home") && i + 1 < argc)
			home = argv[++i];
		else if (!strcmp(argv[i], "--restarts") && i + 1 < argc)
			nrestarts = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json_path = argv[++i];
		else
			usage();
	}
	if (users < 1 || users > 5000 || conc < 0 || conc > 4096 || nrestarts < 0 ||
	    nrestarts > MAX_RESTARTS || nrestarts > users)
		usage();

	if (gw_init(&g, prefix, home) < 0)
		die("cannot create the home directory");
	g.keep = home != NULL;
	snprintf(store, sizeof store, "%s/slidge.mdb", g.home);
	if (!home || access(store, F_OK) < 0) {
		double t0 = now_s();

		printf("scale: provisioning %d users...\n", users);
		fflush(stdout);
		bench_up(&s, &g, users, users, 180);
		gw_stop(&g, &s, 60);
		stub_free(&s);
		prov = now_s() - t0;
	}

	/* The measured start. */
	if (stub_init(&s, users) < 0)
		die("stub: cannot listen");
	s.on_echo = on_echo;
	s.on_error = on_error;
	g.boot_concurrency = conc;
	load0 = loadavg1();
	sys_cpu_us(&busy0, &tot0);
	me0 = self_cpu_us();
	if (gw_start(&g, s.port) < 0)
		die("cannot start slidged");
	if (stub_wait_ready(&s, now_s() + 30) < 0)
		die("no component handshake in 30 s (log: %s)", g.log);
	t_ready = s.ready_at - g.started_at;
	if (stub_wait_logins(&s, users, 1, now_s() + 180) < 0)
		die("only %u of %d sessions logged in after %.0f s (log: %s); is --home a store "
		    "with %d users?", s.logged, users, now_s() - g.started_at, g.log, users);
	if ((logins = calloc((size_t)users, sizeof *logins)) == NULL)
		die("out of memory");
	for (i = 0; i < users; i++)
		logins[i] = s.users[i + 1].login_at - g.started_at;
	first = quantile(logins, (size_t)users, 0);
	p50 = quantile(logins, (size_t)users, 0.5);
	p90 = quantile(logins, (size_t)users, 0.9);
	p99 = quantile(logins, (size_t)users, 0.99);
	last = quantile(logins, (size_t)users, 1);
	free(logins);
	/* What starting a session costs: every worker's CPU so far is its start (exec, the
	 * dynamic linker, the sandbox, login); slidged's includes the handshake. */
	gw_cpu(&g, &boot_sup_us, &boot_wk_us);
	sys_cpu_us(&busy1, &tot1);
	boot_others = (double)((busy1 - busy0) - boot_sup_us - boot_wk_us - (self_cpu_us() - me0)) /
	    (double)(tot1 - tot0);
	if (boot_others < 0)
		boot_others = 0;
	stub_idle(&s, 1);

	for (i = 0; i < nrestarts; i++) {
		int u = 1 + (int)((long)(i + 1) * users / (nrestarts + 1));

		if (u > users)
			u = users;
		restart_one(&g, &s, u, &rs[i], &seq);
		if (rs[i].ok) {
			working[nok] = rs[i].working_ms;
			relog[nok++] = rs[i].relogin_ms;
		}
		stub_idle(&s, 0.3);
	}
	shut = gw_stop(&g, &s, 60);

	if (conc)
		printf("scale: %d registered users, --boot-concurrency %d\n", users, conc);
	else
		printf("scale: %d registered users, --boot-concurrency default (8)\n", users);
	if (prov >= 0)
		row("provisioning (register + log in + stop)", "%.1f s", prov);
	row("start -> component handshake done", "%.3f s", t_ready);
	row("start -> first session logged in", "%.3f s", first);
	row("start -> half of the sessions logged in", "%.3f s", p50);
	row("start -> 90% logged in", "%.3f s", p90);
	row("start -> 99% logged in", "%.3f s", p99);
	row("start -> all sessions logged in", "%.3f s   (target <= 5 s for 1000)", last);
	row("session start rate after the first", "%.0f /s", last > first ?
	    (users - 1) / (last - first) : 0);
	row("CPU per session start: slidged / worker", "%.1f ms / %.1f ms",
	    boot_sup_us / 1e3 / users, boot_wk_us / 1e3 / users);
	row("other processes' share of the machine", "%.0f%%  (load average %.1f before)",
	    100 * boot_others, load0);
	if (nrestarts) {
		printf("\n  kill -9 of one worker -> that user's echo working again (resend every %d ms)\n",
		    RESEND_US / 1000);
		printf("  %8s %8s %8s %10s %10s %6s %8s %8s\n", "user", "old pid", "new pid",
		    "working ms", "relogin ms", "sent", "answered", "bounced");
		for (i = 0; i < nrestarts; i++)
			printf("  %8d %8d %8d %10.1f %10.1f %6llu %8llu %8llu\n", rs[i].user,
			    (int)rs[i].old_pid, (int)rs[i].new_pid, rs[i].ok ? rs[i].working_ms : -1,
			    rs[i].relogin_ms, rs[i].sent, rs[i].answered, rs[i].bounced);
		if (nok) {
			double wmed, wmin, wmax;
			wmed = quantile(working, nok, 0.5);
			wmin = quantile(working, nok, 0);
			wmax = quantile(working, nok, 1);
			row("restart -> working, median (min..max)", "%.1f ms (%.1f..%.1f)   "
			    "(target <= 100 ms)", wmed, wmin, wmax);
		}
	}
	row("clean shutdown (SIGTERM -> slidged exited)", shut >= 0 ? "%.2f s" : "%.0f (killed)",
	    shut);

	bbuf_printf(&j, "{\"bench\":\"scale\",");
	machine_json(&j);
	bbuf_printf(&j, ",\"users\":%d,\"boot_concurrency\":%d,\"provision_s\":%.2f,"
	    "\"handshake_s\":%.3f,\"first_login_s\":%.3f,\"p50_login_s\":%.3f,"
	    "\"p90_login_s\":%.3f,\"p99_login_s\":%.3f,\"all_logged_in_s\":%.3f,"
	    "\"sessions_per_s\":%.1f,\"target_all_logged_in_s\":5,\"target_met\":%s,"
	    "\"shutdown_s\":%.3f,\"boot_cpu_ms_per_session_supervisor\":%.2f,"
	    "\"boot_cpu_ms_per_session_worker\":%.2f,\"others_machine_share\":%.3f,"
	    "\"loadavg_before\":%.2f,\"restarts\":[", users, conc ? conc : 8, prov, t_ready,
	    first, p50, p90, p99, last, last > first ? (users - 1) / (last - first) : 0,
	    users < 1000 ? "null" : last <= 5 ? "true" : "false", shut, boot_sup_us / 1e3 / users,
	    boot_wk_us / 1e3 / users, boot_others, load0);
	for (i = 0; i < nrestarts; i++)
		bbuf_printf(&j, "%s{\"user\":%d,\"ok\":%s,\"working_ms\":%.1f,\"relogin_ms\":%.1f,"
		    "\"sent\":%llu,\"answered\":%llu,\"bounced\":%llu}", i ? "," : "", rs[i].user,
		    rs[i].ok ? "true" : "false", rs[i].ok ? rs[i].working_ms : -1, rs[i].relogin_ms,
		    rs[i].sent, rs[i].answered, rs[i].bounced);
	bbuf_printf(&j, "]");
	if (nok) {
		bbuf_printf(&j, ",\"restart_working_ms_median\":%.1f,\"restart_working_ms_max\":%.1f,"
		    "\"restart_relogin_ms_median\":%.1f,\"target_restart_ms\":100,"
		    "\"restart_target_met\":%s", quantile(working, nok, 0.5),
		    quantile(working, nok, 1), quantile(relog, nok, 0.5),
		    quantile(working, nok, 0.5) <= 100 ? "true" : "false");
	}
	bbuf_printf(&j, "}");
	json_emit(&j, json_path);
	bbuf_free(&j);
	stub_free(&s);
	gw_cleanup(&g);
	return 0;
}
