/* memory.c: PSS of the supervisor and of every worker, idle, at 1, 100 and 1000 users.
 *
 *   bench-memory [--prefix DIR] [--steps 1,100,1000] [--settle S] [--home DIR]
 *                [--json FILE]
 *
 * One slidged; users are registered with slidgectl up to each step, and once every
 * session has logged in and the gateway has been idle for --settle seconds, the program
 * reads /proc/PID/smaps_rollup of slidged and of each of its children. PSS charges a
 * shared page to each of its n users by 1/n, so the sum over processes is what the
 * gateway costs the machine. The increment per user is (total(last) - total(first)) /
 * (last - first). At the last step it lists the mappings of one typical worker (the one
 * with the median PSS) and of slidged, largest PSS first.
 *
 * With --home DIR (a short path), the home directory and its registrations are kept, so
 * bench-scale can start a gateway on the same store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_STEPS 8
#define MAX_WORKERS 8192
#define TOP_MAPS 12

struct step {
	int users;
	int workers;                    /* child processes found */
	struct proc_mem sup;
	long wk_pss, wk_rss, wk_dirty, wk_anon, wk_pte;
	double wk_min, wk_med, wk_max;
	double login_s;                 /* registration of this step to all logged in */
	long ctl_sup_pss, ctl_wk_pss;   /* what slidgectl stats says, for comparison */
};

static long
ctl_stat(const struct ctl_rows *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		const char *k = ctl_get(r, i, "key"), *v = ctl_get(r, i, "value");
		if (k && v && strcmp(k, key) == 0)
			return atol(v);
	}
	return -1;
}

static pid_t
measure(struct gw *g, struct stub *s, struct step *st)
{
	static pid_t kids[MAX_WORKERS];
	static double pss[MAX_WORKERS];
	double sorted[MAX_WORKERS];
	struct bbuf out = { 0 };
	struct ctl_rows rows;
	size_t n, i, k = 0;
	pid_t median = -1;

	proc_mem(g->pid, &st->sup);
	n = proc_children(g->pid, kids, MAX_WORKERS);
	st->wk_pss = st->wk_rss = st->wk_dirty = st->wk_anon = st->wk_pte = 0;
	for (i = 0; i < n; i++) {
		struct proc_mem m;

		if (proc_mem(kids[i], &m) < 0)
			continue;
		st->wk_pss += m.pss;
		st->wk_rss += m.rss;
		st->wk_dirty += m.private_dirty;
		st->wk_anon += m.pss_anon;
		if (m.pte > 0)
			st->wk_pte += m.pte;
		kids[k] = kids[i];
		pss[k++] = (double)m.pss;
	}
	st->workers = (int)k;
	memcpy(sorted, pss, k * sizeof *pss);
	st->wk_min = quantile(sorted, k, 0);
	st->wk_med = quantile(sorted, k, 0.5);
	st->wk_max = quantile(sorted, k, 1);
	for (i = 0; i < k; i++)
		if (pss[i] == st->wk_med) {
			median = kids[i];
			break;
		}
	st->ctl_sup_pss = st->ctl_wk_pss = -1;
	if (gw_ctl(g, s, &out, "stats", NULL) == 0 && out.data && ctl_parse(out.data, &rows) == 0) {
		st->ctl_sup_pss = ctl_stat(&rows, "supervisor_pss_kb");
		st->ctl_wk_pss = ctl_stat(&rows, "workers_pss_kb");
		ctl_rows_free(&rows);
	}
	bbuf_free(&out);
	return median;
}

static void
maps_json(struct bbuf *j, const char *key, const struct proc_map *m, size_t n)
{
	size_t i;

	bbuf_printf(j, ",\"%s\":[", key);
	for (i = 0; i < n; i++)
	{
		bbuf_printf(j, "%s{\"name\":", i ? "," : "");
		json_str(j, m[i].name);
		bbuf_printf(j, ",\"pss_kb\":%ld,\"rss_kb\":%ld,\"private_dirty_kb\":%ld}",
		    m[i].pss, m[i].rss, m[i].private_dirty);
	}
	bbuf_printf(j, "]");
}

static void
maps_print(const char *title, const struct proc_map *m, size_t n)
{
	size_t i;

	printf("\n%s\n  %8s %8s %8s  %s\n", title, "Pss KiB", "Rss KiB", "PrivDirty", "mapping");
	for (i = 0; i < n; i++)
		printf("  %8ld %8ld %8ld  %s\n", m[i].pss, m[i].rss, m[i].private_dirty, m[i].name);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-memory [--prefix DIR] [--steps 1,100,1000] [--settle S] "
	    "[--home DIR] [--json FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *prefix = NULL, *json_path = NULL, *home = NULL;
	char stepspec[128] = "1,100,1000", *tok, *save;
	struct step steps[MAX_STEPS] = { 0 };
	struct proc_map wmaps[TOP_MAPS], smaps[TOP_MAPS];
	size_t nw = 0, ns = 0;
	int nsteps = 0, i, done = 0, maxu = 0;
	double settle = 3;
	pid_t median = -1;
	struct stub s;
	struct gw g;
	struct bbuf j = { 0 };
	double inc, last_total, first_total;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
			prefix = argv[++i];
		else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
			snprintf(stepspec, sizeof stepspec, "%s", argv[++i]);
		else if (!strcmp(argv[i], "--settle") && i + 1 < argc)
			settle = atof(argv[++i]);
		else if (!strcmp(argv[i], "--home") && i + 1 < argc)
			home = argv[++i];
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json_path = argv[++i];
		else
			usage();
	}
	for (tok = strtok_r(stepspec, ",", &save); tok && nsteps < MAX_STEPS;
	    tok = strtok_r(NULL, ",", &save)) {
		steps[nsteps].users = atoi(tok);
		if (steps[nsteps].users < 1 || steps[nsteps].users > 5000 ||
		    steps[nsteps].users <= maxu)
			usage();
		maxu = steps[nsteps++].users;
	}
	if (nsteps < 1 || settle < 0 || settle > 60)
		usage();

	if (gw_init(&g, prefix, home) < 0)
		die("cannot create the home directory");
	g.keep = home != NULL;
	bench_up(&s, &g, maxu, 0, 30);

	for (i = 0; i < nsteps; i++) {
		double t0 = now_s();
		int failed = gw_register_range(&g, &s, done + 1, steps[i].users, 8);

		if (failed)
			die("%d registrations failed (log: %s)", failed, g.log);
		if (stub_wait_logins(&s, steps[i].users, 1, now_s() + 180) < 0)
			die("only %u of %d sessions logged in (log: %s)", s.logged, steps[i].users,
			    g.log);
		steps[i].login_s = now_s() - t0;
		done = steps[i].users;
		stub_idle(&s, settle);
		median = measure(&g, &s, &steps[i]);
	}
	if (median > 0)
		nw = proc_maps_top(median, wmaps, TOP_MAPS);
	ns = proc_maps_top(g.pid, smaps, TOP_MAPS);
	gw_stop(&g, &s, 30);

	first_total = (double)(steps[0].sup.pss + steps[0].wk_pss);
	last_total = (double)(steps[nsteps - 1].sup.pss + steps[nsteps - 1].wk_pss);
	inc = nsteps > 1 ? (last_total - first_total) /
	    (double)(steps[nsteps - 1].users - steps[0].users) : 0;

	printf("memory: idle PSS (KiB) after every session logged in and %.0f s idle\n", settle);
	printf("  %6s %8s %9s %9s %9s %8s %8s %8s %9s %9s %7s\n", "users", "workers",
	    "slidged", "workers", "total", "per-user", "wk-min", "wk-med", "wk-max",
	    "wk-privdirty", "login-s");
	for (i = 0; i < nsteps; i++) {
		struct step *st = &steps[i];
		long tot = st->sup.pss + st->wk_pss;

		printf("  %6d %8d %9ld %9ld %9ld %8.0f %8.0f %8.0f %9.0f %9.0f %7.1f\n", st->users,
		    st->workers, st->sup.pss, st->wk_pss, tot, (double)tot / st->users, st->wk_min,
		    st->wk_med, st->wk_max, st->workers ? (double)st->wk_dirty / st->workers : 0,
		    st->login_s);
	}
	printf("\n");
	row("page tables per worker (KiB, not in PSS)", "%.0f   (VmPTE, kernel memory)",
	    steps[nsteps - 1].workers ? (double)steps[nsteps - 1].wk_pte / steps[nsteps - 1].workers : 0);
	if (nsteps > 1)
		row("increment per user (KiB PSS)", "%.0f   (%d -> %d users)", inc, steps[0].users,
		    steps[nsteps - 1].users);
	row("PSS per user at the last step (KiB)", "%.0f   (target <= 512 at 1000 users)",
	    last_total / steps[nsteps - 1].users);
	row("slidgectl stats at the last step (KiB)", "supervisor %ld, workers %ld",
	    steps[nsteps - 1].ctl_sup_pss, steps[nsteps - 1].ctl_wk_pss);
	if (nw)
		maps_print("mappings of a median worker, by PSS:", wmaps, nw);
	if (ns)
		maps_print("mappings of slidged, by PSS:", smaps, ns);

	bbuf_printf(&j, "{\"bench\":\"memory\",");
	machine_json(&j);
	bbuf_printf(&j, ",\"settle_s\":%.1f,\"steps\":[", settle);
	for (i = 0; i < nsteps; i++) {
		struct step *st = &steps[i];
		long tot = st->sup.pss + st->wk_pss;

		bbuf_printf(&j, "%s{\"users\":%d,\"workers\":%d,\"supervisor_pss_kb\":%ld,"
		    "\"supervisor_rss_kb\":%ld,\"workers_pss_kb\":%ld,\"workers_rss_kb\":%ld,"
		    "\"workers_private_dirty_kb\":%ld,\"workers_pss_anon_kb\":%ld,"
		    "\"workers_page_tables_kb\":%ld,"
		    "\"total_pss_kb\":%ld,\"pss_per_user_kb\":%.1f,\"worker_pss_min_kb\":%.0f,"
		    "\"worker_pss_median_kb\":%.0f,\"worker_pss_max_kb\":%.0f,\"login_s\":%.2f,"
		    "\"slidgectl_supervisor_pss_kb\":%ld,\"slidgectl_workers_pss_kb\":%ld}",
		    i ? "," : "", st->users, st->workers, st->sup.pss, st->sup.rss, st->wk_pss,
		    st->wk_rss, st->wk_dirty, st->wk_anon, st->wk_pte, tot, (double)tot / st->users,
		    st->wk_min, st->wk_med, st->wk_max, st->login_s, st->ctl_sup_pss,
		    st->ctl_wk_pss);
	}
	/* The target is for 1000 idle users: below that, it is not judged. */
	bbuf_printf(&j, "],\"increment_per_user_kb\":%.1f,\"last_users\":%d,"
	    "\"last_pss_per_user_kb\":%.1f,\"target_pss_per_user_kb\":512,\"target_met\":%s",
	    inc, steps[nsteps - 1].users, last_total / steps[nsteps - 1].users,
	    steps[nsteps - 1].users < 1000 ? "null" :
	    last_total / steps[nsteps - 1].users <= 512 ? "true" : "false");
	maps_json(&j, "worker_maps", wmaps, nw);
	maps_json(&j, "supervisor_maps", smaps, ns);
	bbuf_printf(&j, "}");
	json_emit(&j, json_path);
	bbuf_free(&j);
	stub_free(&s);
	gw_cleanup(&g);
	return 0;
}
