/* stubserver.c: the stub XEP-0114 server on its own, for a gateway started by hand (under
 * perf, valgrind, a debugger, or another gateway altogether).
 *
 *   bench-stub [--port P] [--users N] [--window W] [--duration S]
 *
 * It listens on 127.0.0.1:P (0: any free port, printed), accepts one component stream
 * for gw.bench with the secret "bench-secret", and prints once a second what the gateway
 * sent. With --users N it also drives the relay load of bench-relay: once user1..userN
 * (registered by you: slidgectl register userK@bench username=userK) have logged in,
 * each keeps W messages to echo@gw.bench in flight. It stops after --duration seconds
 * (default 60) or when the gateway leaves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int loading;

static void
on_echo(struct stub *s, int user, uint64_t seq, uint64_t sent_ns, void *arg)
{
	uint64_t *next = arg;

	(void)seq;
	(void)sent_ns;
	if (loading)
		stub_send_echo(s, user, ++*next, now_ns());
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-stub [--port P] [--users N] [--window W] [--duration S]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int port = 0, users = 0, window = 4, i, w;
	double duration = 60, t0, tick;
	unsigned long long last = 0, last_echo = 0;
	uint64_t seq = 0;
	struct stub s;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--users") && i + 1 < argc)
			users = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--window") && i + 1 < argc)
			window = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
			duration = atof(argv[++i]);
		else
			usage();
	}
	if (port < 0 || port > 65535 || users < 0 || users > 100000 || window < 1 ||
	    duration <= 0)
		usage();
	if (stub_init_port(&s, users > 0 ? users : 1, port) < 0)
		die("cannot listen on 127.0.0.1:%d", port);
	printf("bench-stub: listening on 127.0.0.1:%d for %s (secret %s)\n", s.port,
	    BENCH_DOMAIN, BENCH_SECRET);
	fflush(stdout);
	s.on_echo = on_echo;
	s.arg = &seq;
	t0 = tick = now_s();
	while (now_s() - t0 < duration) {
		if (stub_pump(&s, 20) < 0) {
			printf("bench-stub: the gateway left\n");
			break;
		}
		if (users > 0 && !loading && (int)s.logged >= users) {
			loading = 1;
			for (w = 0; w < window; w++)
				for (i = 1; i <= users; i++)
					stub_send_echo(&s, i, ++seq, now_ns());
			stub_flush(&s, 0);
		}
		if (now_s() - tick >= 1) {
			tick = now_s();
			printf("%7.1f s  %s  stanzas/s %llu  echoes/s %llu  logged in %u  "
			    "(messages %llu, presences %llu, iqs %llu, errors %llu)\n", tick - t0,
			    stub_ready(&s) ? "ready" : "waiting", s.stanzas - last,
			    s.echoes - last_echo, s.logged, s.messages, s.presences, s.iqs, s.errors);
			fflush(stdout);
			last = s.stanzas;
			last_echo = s.echoes;
		}
	}
	stub_free(&s);
	return 0;
}
