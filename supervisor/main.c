/* main.c: slidged, the supervisor.
 *
 * Setup, in order: configuration; the home directory and the registration store; a first
 * worker that loads the module and tells us what it is (MANIFEST) — the supervisor never
 * loads module code itself; then the component connection and the sessions of every
 * registered user. SIGTERM/SIGINT shut down cleanly: every session says goodbye to its
 * user, then the stream is closed. */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build_config.h"
#include "control.h"
#include "jid.h"
#include "log.h"
#include "slidged.h"
#include "xml.h"

#define SHUTDOWN_DEADLINE 10.0

struct slidged G;

static ev_signal sig_term, sig_int;
static ev_timer shutdown_timer;
static struct worker *probe;

static char *
take_str(struct proto_msg *msg, int field)
{
	char *s = (char *)msg->v[field].s;

	msg->v[field].s = NULL;
	return s;
}

void
manifest_take(struct manifest *m, struct proto_msg *msg)
{
	manifest_clear(m);
	m->module = take_str(msg, MANIFEST_module);
	m->module_version = take_str(msg, MANIFEST_module_version);
	m->component_name = take_str(msg, MANIFEST_component_name);
	m->component_type = take_str(msg, MANIFEST_component_type);
	m->registration_type = msg->v[MANIFEST_registration_type].u;
	m->registration_instructions = take_str(msg, MANIFEST_registration_instructions);
	m->registration_fields = msg->v[MANIFEST_registration_fields].table;
	memset(&msg->v[MANIFEST_registration_fields].table, 0, sizeof(struct proto_table));
	m->search_title = take_str(msg, MANIFEST_search_title);
	m->search_instructions = take_str(msg, MANIFEST_search_instructions);
	m->search_fields = msg->v[MANIFEST_search_fields].table;
	memset(&msg->v[MANIFEST_search_fields].table, 0, sizeof(struct proto_table));
	m->ports = msg->v[MANIFEST_ports].list;
	memset(&msg->v[MANIFEST_ports].list, 0, sizeof(struct proto_list));
	m->welcome_message = take_str(msg, MANIFEST_welcome_message);
	/* Form rows are indexed up to PROTO_FIELD_OPTIONS: refuse short ones here once. */
	for (size_t i = 0; i < m->registration_fields.n; i++)
		if (m->registration_fields.rows[i].n < PROTO_FIELD_OPTIONS) {
			log_error("the module's registration field %zu is malformed", i);
			manifest_clear(m);
			return;
		}
	for (size_t i = 0; i < m->search_fields.n; i++)
		if (m->search_fields.rows[i].n < PROTO_FIELD_OPTIONS) {
			log_error("the module's search field %zu is malformed", i);
			manifest_clear(m);
			return;
		}
	m->ok = 1;
}

void
manifest_clear(struct manifest *m)
{
	free(m->module);
	free(m->module_version);
	free(m->component_name);
	free(m->component_type);
	free(m->registration_instructions);
	proto_table_free(&m->registration_fields);
	free(m->search_title);
	free(m->search_instructions);
	proto_table_free(&m->search_fields);
	proto_list_free(&m->ports);
	free(m->welcome_message);
	memset(m, 0, sizeof *m);
}

static void
shutdown_done(void)
{
	control_stop();
	component_stop();
	ev_timer_stop(G.loop, &shutdown_timer);
	ev_break(G.loop, EVBREAK_ALL);
}

static void
shutdown_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	log_warn("shutdown: workers did not stop in %.0f s; leaving", SHUTDOWN_DEADLINE);
	control_stop();
	component_stop();
	ev_break(G.loop, EVBREAK_ALL);
}

static void
sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	if (G.shutting_down) {
		log_warn("second signal: leaving now");
		ev_break(G.loop, EVBREAK_ALL);
		return;
	}
	log_info("signal %d: shutting down", w->signum);
	G.shutting_down = 1;
	ev_timer_init(&shutdown_timer, shutdown_deadline_cb, SHUTDOWN_DEADLINE, 0.);
	ev_timer_start(G.loop, &shutdown_timer);
	workers_shutdown(shutdown_done);
}

static void
probe_manifest(struct worker *w, void *arg)
{
	(void)arg;
	if (!G.man.ok)
		fatalx("the legacy module %s sent an unusable manifest", G.cfg.legacy_module);
	log_info("legacy module %s %s: \"%s\" (%s)", G.man.module, G.man.module_version,
	    G.man.component_name, G.man.component_type);
	workers_stop(w, "manifest received");
	probe = NULL;
	component_start();
	workers_boot();
}

static void
probe_result(struct worker *w, struct proto_msg *m, void *arg)
{
	(void)w;
	(void)m;
	(void)arg;
}

static void
probe_died(struct worker *w, const char *why, void *arg)
{
	(void)w;
	(void)arg;
	if (!G.man.ok)
		fatalx("the legacy module %s could not be loaded: the worker %s", G.cfg.legacy_module, why);
}

static const struct register_ops probe_ops = {
	.manifest = probe_manifest,
	.result = probe_result,
	.died = probe_died,
};

int
main(int argc, char **argv)
{
	char err[512];
	struct jid j;

	if (config_parse(argc, argv, &G.cfg, err, sizeof err) < 0) {
		fprintf(stderr, "slidged: %s\n(try slidged --help)\n", err);
		return 2;
	}
	log_init("slidged", (enum log_level)G.cfg.log_level);
	xml_init();
	if (jid_parse(G.cfg.jid, &j) < 0 || j.local[0] || j.resource[0])
		fatalx("--jid must be a plain domain, e.g. gateway.example.org");
	snprintf(G.jid, sizeof G.jid, "%s", j.domain);
	G.started = time(NULL);

	/* As root, workers run as an unprivileged user (ARCHITECTURE.md "Trust rules"). */
	if (geteuid() == 0) {
		const char *name = G.cfg.worker_user ? G.cfg.worker_user : "nobody";
		struct passwd *pw = getpwnam(name);

		if (!pw || pw->pw_uid == 0)
			fatalx("--worker-user %s: no such unprivileged user", name);
		G.drop = 1;
		G.worker_uid = pw->pw_uid;
		G.worker_gid = pw->pw_gid;
		log_info("workers run as %s (uid %u)", name, (unsigned)pw->pw_uid);
	} else if (G.cfg.worker_user) {
		log_warn("--worker-user needs slidged to start as root; workers run as uid %u",
		    (unsigned)geteuid());
	}

	umask(077);
	if (mkdir(G.cfg.home_dir, 0700) < 0 && errno != EEXIST)
		fatal("cannot create the home directory %s", G.cfg.home_dir);
	/* Unprivileged workers must be able to reach their own directory below the home
	 * dir, and nothing else in it (the store and the socket stay 0700/0600). */
	if (G.drop && chmod(G.cfg.home_dir, 0711) < 0)
		fatal("cannot chmod %s", G.cfg.home_dir);
	if (workers_check_access(err, sizeof err) < 0)
		fatalx("%s", err);
	if (store_open(G.cfg.home_dir) < 0)
		fatalx("cannot open the registration store in %s", G.cfg.home_dir);
	if (workers_load() < 0)
		fatalx("cannot read the registration store");

	signal(SIGPIPE, SIG_IGN);
	G.loop = ev_default_loop(0);
	ev_signal_init(&sig_term, sig_cb, SIGTERM);
	ev_signal_init(&sig_int, sig_cb, SIGINT);
	ev_signal_start(G.loop, &sig_term);
	ev_signal_start(G.loop, &sig_int);
#if !SLIDGE_SANDBOX
	log_warn("THIS BUILD HAS NO WORKER SANDBOX: for sanitizer runs only, never in production");
#endif
	log_info("slidged %s starting: %s, module %s, home %s", SLIDGE_VERSION, G.jid,
	    G.cfg.legacy_module, G.cfg.home_dir);

	if (control_start(G.cfg.control_socket) < 0)
		fatalx("cannot open the control socket %s", G.cfg.control_socket);
	probe = workers_spawn_register(&probe_ops, NULL);
	if (!probe)
		fatalx("cannot start a worker");
	ev_run(G.loop, 0);

	log_info("slidged stopped");
	/* The commands and dialogues in progress (their workers are gone). */
	adhoc_free();
	chatcmd_free();
	register_free();
	store_close();
	manifest_clear(&G.man);
	config_free(&G.cfg);
	xmlCleanupParser();
	return 0;
}
