/* latency.c: p50/p99 of the echo round trip at a fixed offered rate below saturation.
 *
 *   bench-latency [--prefix DIR] [--users N] [--rate R | --saturation X [--fraction F]]
 *                 [--warmup S] [--duration S] [--json FILE]
 *
 * Open loop: message i is due at start + i/R whatever came back, round-robin over the
 * users, and its round trip counts from when it was due, not from when it left: a stall
 * of the sender or of the gateway shows in the numbers instead of hiding behind fewer
 * sends (coordinated omission). The rate is R round trips/s, or F (default 0.2) of X,
 * bench-relay's saturation in round trips/s.
 *
 * First, the same paced load goes through a null chain: three processes that only
 * forward 8-byte records over socketpairs, as many process hops as stub -> slidged ->
 * worker -> slidged -> stub. Its percentiles are the machine's own floor (wake-ups,
 * scheduling, other tenants), to read the gateway's against. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

struct lat {
	uint64_t measure_from;         /* due times from here on are recorded */
	FILE *dump;                    /* $BENCH_LATENCY_DUMP: "due_ms rtt_ms" lines */
	double *v;
	size_t n, cap;
	unsigned long long late;       /* answers to messages of the warm-up, ignored */
};

static void
on_echo(struct stub *s, int user, uint64_t seq, uint64_t due_ns, void *arg)
{
	struct lat *l = arg;

	(void)s;
	(void)user;
	(void)seq;
	if (due_ns < l->measure_from) {
		l->late++;
		return;
	}
	if (l->n < l->cap)
		l->v[l->n++] = (double)(now_ns() - due_ns) / 1e6;
	if (l->dump)
		fprintf(l->dump, "%.3f %.3f %d\n", (double)(due_ns - l->measure_from) / 1e6,
		    (double)(now_ns() - due_ns) / 1e6, user);
}

#define CHAIN 3

/* The null chain at `rate` for `seconds`: percentiles into q[5] (p50 p90 p99 p99.9 max). */
static void
baseline(double rate, double seconds, double q[5])
{
	int sp[CHAIN + 1][2], i, st;
	pid_t kids[CHAIN];
	uint64_t t0, end, due, period = (uint64_t)(1e9 / rate), n = 0;
	size_t cap = (size_t)(rate * seconds) + 16, got = 0;
	double *v = malloc(cap * sizeof *v);
	char rb[8192];
	size_t rl = 0;

	if (!v)
		die("out of memory");
	for (i = 0; i <= CHAIN; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp[i]) < 0)
			die("socketpair failed");
	/* Process i reads sp[i][1] and writes sp[i+1][0]; we write sp[0][0] and read
	 * sp[CHAIN][1]. */
	for (i = 0; i < CHAIN; i++) {
		if ((kids[i] = fork()) == 0) {
			char b[8192];
			ssize_t k;

			while ((k = read(sp[i][1], b, sizeof b)) > 0)
				if (write(sp[i + 1][0], b, (size_t)k) != k)
					_exit(1);
			_exit(0);
		}
	}
	t0 = now_ns();
	end = t0 + (uint64_t)(seconds * 1e9);
	due = t0;
	while (got < cap) {
		uint64_t now = now_ns();
		struct pollfd p = { .fd = sp[CHAIN][1], .events = POLLIN };
		struct timespec ts = { 0, 0 };

		while (due <= now && due < end) {
			if (write(sp[0][0], &due, sizeof due) != sizeof due)
				die("baseline: write failed");
			n++;
			due = t0 + n * period;
		}
		if (due >= end && got >= n)
			break;
		if (now > end + 5000000000ull)
			break;
		if (due < end && due > now)
			ts.tv_nsec = (long)(due - now);
		else if (due >= end)
			ts.tv_nsec = 1000000;
		if (ppoll(&p, 1, &ts, NULL) > 0) {
			ssize_t k = read(sp[CHAIN][1], rb + rl, sizeof rb - rl);
			size_t off = 0;

			if (k <= 0)
				break;
			rl += (size_t)k;
			now = now_ns();
			for (; off + 8 <= rl && got < cap; off += 8) {
				uint64_t d;
				memcpy(&d, rb + off, 8);
				v[got++] = (double)(now - d) / 1e6;
			}
			memmove(rb, rb + off, rl - off);
			rl -= off;
		}
	}
	for (i = 0; i <= CHAIN; i++) {
		close(sp[i][0]);
		close(sp[i][1]);
	}
	for (i = 0; i < CHAIN; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], &st, 0);
	}
	q[0] = quantile(v, got, 0.5);
	q[1] = quantile(v, got, 0.9);
	q[2] = quantile(v, got, 0.99);
	q[3] = quantile(v, got, 0.999);
	q[4] = quantile(v, got, 1);
	free(v);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-latency [--prefix DIR] [--users N] "
	    "[--rate R | --saturation X [--fraction F]] [--warmup S] [--duration S] "
	    "[--json FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *prefix = NULL, *json_path = NULL;
	int users = 100, i;
	double rate = 0, sat = 0, frac = 0.2, warmup = 1, duration = 10;
	uint64_t t_start, t_end, period, due, seq = 0;
	unsigned long long sent = 0, sent_measured = 0, err0;
	struct lat l = { 0 };
	struct stub s;
	struct gw g;
	struct bbuf j = { 0 };
	double p50, p90, p99, p999, mx, mean = 0, drain_end, base[5] = { 0 }, others, load0;
	long long busy0, busy1, tot0, tot1, sup0, wk0, sup1, wk1, me0, me1;
	unsigned long long lost;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
			prefix = argv[++i];
		else if (!strcmp(argv[i], "--users") && i + 1 < argc)
			users = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			rate = atof(argv[++i]);
		else if (!strcmp(argv[i], "--saturation") && i + 1 < argc)
			sat = atof(argv[++i]);
		else if (!strcmp(argv[i], "--fraction") && i + 1 < argc)
			frac = atof(argv[++i]);
		else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
			warmup = atof(argv[++i]);
		else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
			duration = atof(argv[++i]);
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json_path = argv[++i];
		else
			usage();
	}
	if (rate <= 0 && sat > 0)
		rate = sat * frac;
	if (rate <= 0)
		rate = 2000;
	if (users < 1 || users > 5000 || rate > 1e6 || duration <= 0 || duration > 300 ||
	    warmup < 0 || warmup > 60)
		usage();
	l.cap = (size_t)(rate * duration * 1.05) + 1000;
	if ((l.v = malloc(l.cap * sizeof *l.v)) == NULL)
		die("out of memory");
	if (getenv("BENCH_LATENCY_DUMP"))
		l.dump = fopen(getenv("BENCH_LATENCY_DUMP"), "w");

	baseline(rate, 3, base);
	if (gw_init(&g, prefix, NULL) < 0)
		die("cannot create a home directory under /tmp");
	bench_up(&s, &g, users, users, 60);
	stub_idle(&s, 0.5);
	s.on_echo = on_echo;
	s.arg = &l;
	err0 = s.errors;

	load0 = loadavg1();
	sys_cpu_us(&busy0, &tot0);
	gw_cpu(&g, &sup0, &wk0);
	me0 = self_cpu_us();
	period = (uint64_t)(1e9 / rate);
	t_start = now_ns();
	l.measure_from = t_start + (uint64_t)(warmup * 1e9);
	t_end = l.measure_from + (uint64_t)(duration * 1e9);
	due = t_start;
	while (due < t_end) {
		uint64_t now = now_ns();

		/* Everything due by now leaves now, stamped with when it was due. */
		while (due <= now && due < t_end) {
			stub_send_echo(&s, (int)(seq % (uint64_t)users) + 1, seq, due);
			seq++;
			sent++;
			if (due >= l.measure_from)
				sent_measured++;
			due = t_start + seq * period;
		}
		stub_flush(&s, 0);
		now = now_ns();
		if (stub_pump_us(&s, due > now ? (long)((due - now) / 1000) : 0) < 0)
			die("the gateway dropped the stream (log: %s)", g.log);
	}
	sys_cpu_us(&busy1, &tot1);
	gw_cpu(&g, &sup1, &wk1);
	me1 = self_cpu_us();
	others = (double)((busy1 - busy0) - (sup1 - sup0) - (wk1 - wk0) - (me1 - me0)) /
	    (double)(tot1 - tot0);
	if (others < 0)
		others = 0;
	/* Answers still on their way: wait for them (bounded). */
	drain_end = now_s() + 5;
	while (now_s() < drain_end && s.echoes + (s.errors - err0) < sent)
		stub_pump(&s, 5);
	gw_stop(&g, &s, 15);
	if (l.dump)
		fclose(l.dump);

	for (k = 0; k < l.n; k++)
		mean += l.v[k];
	mean = l.n ? mean / (double)l.n : 0;
	p50 = quantile(l.v, l.n, 0.5);
	p90 = quantile(l.v, l.n, 0.9);
	p99 = quantile(l.v, l.n, 0.99);
	p999 = quantile(l.v, l.n, 0.999);
	mx = quantile(l.v, l.n, 1);

	printf("latency: %d users, %.0f round trips/s offered (open loop), %.0f s measured\n",
	    users, rate, duration);
	lost = sent > s.echoes + (s.errors - err0) ? sent - s.echoes - (s.errors - err0) : 0;
	row("round trips measured", "%zu of %llu sent after the warm-up", l.n, sent_measured);
	row("lost / bounced (whole run)", "%llu / %llu", lost, s.errors - err0);
	row("p50 / p90 (ms)", "%.3f / %.3f", p50, p90);
	row("p99 / p99.9 (ms)", "%.3f / %.3f", p99, p999);
	row("max / mean (ms)", "%.3f / %.3f", mx, mean);
	row("null chain (machine floor) p50 / p99 (ms)", "%.3f / %.3f   (max %.3f)", base[0],
	    base[2], base[4]);
	row("CPU, % of a core: slidged / workers / stub", "%.0f / %.0f / %.0f",
	    100.0 * (double)(sup1 - sup0) / (double)(t_end - t_start) * 1e3,
	    100.0 * (double)(wk1 - wk0) / (double)(t_end - t_start) * 1e3,
	    100.0 * (double)(me1 - me0) / (double)(t_end - t_start) * 1e3);
	row("gateway CPU us per relayed stanza", "%.1f",
	    (double)((sup1 - sup0) + (wk1 - wk0)) / (2.0 * (double)sent));
	row("other processes' share of the machine", "%.0f%%  (load average %.1f before)",
	    100 * others, load0);

	bbuf_printf(&j, "{\"bench\":\"latency\",");
	machine_json(&j);
	bbuf_printf(&j, ",\"users\":%d,\"offered_roundtrips_per_s\":%.1f,\"saturation\":%.1f,"
	    "\"fraction\":%.3f,\"duration_s\":%.1f,\"sent\":%llu,\"measured\":%zu,"
	    "\"lost\":%llu,\"bounced\":%llu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
	    "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,\"baseline_p50_ms\":%.3f,"
	    "\"baseline_p90_ms\":%.3f,\"baseline_p99_ms\":%.3f,\"baseline_max_ms\":%.3f,"
	    "\"others_machine_share\":%.3f,\"loadavg_before\":%.2f,"
	    "\"supervisor_core_share\":%.3f,\"workers_core_share\":%.3f,\"stub_core_share\":%.3f,"
	    "\"gateway_cpu_us_per_stanza\":%.2f}", users, rate, sat,
	    sat > 0 ? rate / sat : 0, duration, sent_measured, l.n, lost,
	    s.errors - err0, p50, p90, p99, p999, mx, mean, base[0], base[1], base[2], base[4],
	    others, load0, (double)(sup1 - sup0) / (double)(t_end - t_start) * 1e3,
	    (double)(wk1 - wk0) / (double)(t_end - t_start) * 1e3,
	    (double)(me1 - me0) / (double)(t_end - t_start) * 1e3,
	    (double)((sup1 - sup0) + (wk1 - wk0)) / (2.0 * (double)sent));
	json_emit(&j, json_path);
	bbuf_free(&j);
	free(l.v);
	stub_free(&s);
	gw_cleanup(&g);
	return 0;
}
