/* relay.c: round trips user -> echo -> user per second at saturation, and the CPU the
 * gateway spends per relayed stanza.
 *
 *   bench-relay [--prefix DIR] [--users N] [--window W] [--warmup S] [--duration S]
 *               [--json FILE]
 *
 * N users each keep W messages to echo@gw.bench in flight (closed loop: every answer
 * sends the next message), so the gateway is always busy. After the warm-up, the
 * program counts answers for the duration and reads utime+stime of slidged and of its
 * workers from /proc before and after. A round trip is two relayed stanzas (the user's
 * message in, echo's answer out); both directions are reported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct run {
	uint64_t seq;
	int stopping;
};

static void
on_echo(struct stub *s, int user, uint64_t seq, uint64_t sent_ns, void *arg)
{
	struct run *r = arg;

	(void)seq;
	(void)sent_ns;
	if (!r->stopping)
		stub_send_echo(s, user, ++r->seq, now_ns());
}

static void
on_error(struct stub *s, int user, void *arg)
{
	on_echo(s, user, 0, 0, arg);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-relay [--prefix DIR] [--users N] [--window W] "
	    "[--warmup S] [--duration S] [--quiet-gateway] [--json FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *prefix = NULL, *json_path = NULL;
	int users = 100, window = 4, i, w, quiet = 0;
	double warmup = 2, duration = 10, t0, t1, el;
	long long sup0, wk0, sup1, wk1, me0, me1, busy0, busy1, tot0, tot1;
	unsigned long long e0, e1, err0, err1, in0, in1, sent0, sent1;
	struct stub s;
	struct gw g;
	struct run r = { 0 };
	struct bbuf j = { 0 };
	double rt, relayed, sup_per, wk_per, others, load0, proj;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
			prefix = argv[++i];
		else if (!strcmp(argv[i], "--users") && i + 1 < argc)
			users = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--window") && i + 1 < argc)
			window = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
			warmup = atof(argv[++i]);
		else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
			duration = atof(argv[++i]);
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json_path = argv[++i];
		else if (!strcmp(argv[i], "--quiet-gateway"))
			quiet = 1;
		else
			usage();
	}
	if (users < 1 || users > 5000 || window < 1 || window > 1000 || duration <= 0 ||
	    duration > 300 || warmup < 0 || warmup > 60)
		usage();

	if (gw_init(&g, prefix, NULL) < 0)
		die("cannot create a home directory under /tmp");
	g.quiet = quiet;
	bench_up(&s, &g, users, users, 60);
	stub_idle(&s, 0.5);

	s.on_echo = on_echo;
	s.on_error = on_error;
	s.arg = &r;
	for (w = 0; w < window; w++)
		for (i = 1; i <= users; i++)
			stub_send_echo(&s, i, ++r.seq, now_ns());
	stub_flush(&s, 0);

	/* Warm-up: the same load, not counted. */
	t0 = now_s();
	while (now_s() - t0 < warmup)
		if (stub_pump(&s, 50) < 0)
			die("the gateway dropped the stream (log: %s)", g.log);

	load0 = loadavg1();
	sys_cpu_us(&busy0, &tot0);
	gw_cpu(&g, &sup0, &wk0);
	me0 = self_cpu_us();
	e0 = s.echoes;
	err0 = s.errors;
	in0 = s.stanzas;
	sent0 = s.sent;
	t0 = now_s();
	while ((t1 = now_s()) - t0 < duration)
		if (stub_pump(&s, 50) < 0)
			die("the gateway dropped the stream (log: %s)", g.log);
	gw_cpu(&g, &sup1, &wk1);
	me1 = self_cpu_us();
	sys_cpu_us(&busy1, &tot1);
	e1 = s.echoes;
	err1 = s.errors;
	in1 = s.stanzas;
	sent1 = s.sent;
	el = t1 - t0;
	if (e1 == e0)
		die("no round trip completed in %.1f s (log: %s)", el, g.log);

	/* Let what is in flight come back (bounded), so the gateway stops idle. */
	r.stopping = 1;
	t0 = now_s();
	while (now_s() - t0 < 5) {
		unsigned long long out = 0;
		for (i = 1; i <= users; i++)
			out += s.users[i].inflight;
		if (out == 0)
			break;
		stub_pump(&s, 20);
	}
	gw_stop(&g, &s, 15);

	rt = (double)(e1 - e0) / el;
	relayed = 2 * rt;
	sup_per = (double)(sup1 - sup0) / (2.0 * (double)(e1 - e0));
	wk_per = (double)(wk1 - wk0) / (2.0 * (double)(e1 - e0));
	/* Busy time of the machine that was neither the gateway nor the stub: on a shared
	 * machine, the capacity others took from this run. */
	others = (double)((busy1 - busy0) - (sup1 - sup0) - (wk1 - wk0) - (me1 - me0)) /
	    (double)(tot1 - tot0);
	if (others < 0)
		others = 0;
	/* What 2 dedicated cores would relay at this CPU cost: bounded by both cores
	 * (gateway only, the stub elsewhere) and by the single-threaded supervisor. */
	proj = 2e6 / (sup_per + wk_per);
	if (1e6 / sup_per < proj)
		proj = 1e6 / sup_per;

	printf("relay: %d users x %d in flight, %.1f s measured after %.1f s warm-up\n", users,
	    window, el, warmup);
	row("round trips/s (user -> echo -> user)", "%.0f", rt);
	row("relayed stanzas/s (both directions)", "%.0f   (target >= 20000)", relayed);
	row("stanzas from the gateway/s (all kinds)", "%.0f", (double)(in1 - in0) / el);
	row("stanzas injected/s", "%.0f", (double)(sent1 - sent0) / el);
	row("bounces (message errors)", "%llu", err1 - err0);
	row("supervisor CPU us per relayed stanza", "%.1f  (%.0f%% of a core)", sup_per,
	    100.0 * (double)(sup1 - sup0) / (el * 1e6));
	row("workers CPU us per relayed stanza", "%.1f  (%.0f%% of a core)", wk_per,
	    100.0 * (double)(wk1 - wk0) / (el * 1e6));
	row("gateway CPU us per relayed stanza", "%.1f", sup_per + wk_per);
	row("stub server CPU us per relayed stanza", "%.1f  (%.0f%% of a core)",
	    (double)(me1 - me0) / (2.0 * (double)(e1 - e0)), 100.0 * (double)(me1 - me0) / (el * 1e6));
	row("other processes' share of the machine", "%.0f%%  (load average %.1f before)",
	    100 * others, load0);
	row("projection: stanzas/s on 2 dedicated cores", "%.0f  (CPU cost only)", proj);

	bbuf_printf(&j, "{\"bench\":\"relay\",");
	machine_json(&j);
	bbuf_printf(&j, ",\"users\":%d,\"window\":%d,\"warmup_s\":%.1f,\"duration_s\":%.3f,"
	    "\"roundtrips\":%llu,\"roundtrips_per_s\":%.1f,\"relayed_stanzas_per_s\":%.1f,"
	    "\"gateway_stanzas_out_per_s\":%.1f,\"bounces\":%llu,"
	    "\"supervisor_cpu_us_per_stanza\":%.2f,\"workers_cpu_us_per_stanza\":%.2f,"
	    "\"gateway_cpu_us_per_stanza\":%.2f,\"supervisor_core_share\":%.3f,"
	    "\"workers_core_share\":%.3f,\"stub_cpu_us_per_stanza\":%.2f,"
	    "\"others_machine_share\":%.3f,\"loadavg_before\":%.2f,"
	    "\"projected_stanzas_per_s_2_cores\":%.0f,"
	    "\"target_relayed_stanzas_per_s\":20000,\"target_met\":%s}",
	    users, window, warmup, el, e1 - e0, rt, relayed, (double)(in1 - in0) / el,
	    err1 - err0, sup_per, wk_per, sup_per + wk_per,
	    (double)(sup1 - sup0) / (el * 1e6), (double)(wk1 - wk0) / (el * 1e6),
	    (double)(me1 - me0) / (2.0 * (double)(e1 - e0)), others, load0, proj,
	    relayed >= 20000 ? "true" : "false");
	json_emit(&j, json_path);
	bbuf_free(&j);
	stub_free(&s);
	gw_cleanup(&g);
	return 0;
}
