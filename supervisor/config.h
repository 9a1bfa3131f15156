/* config.h: slidged's configuration, compatible with slidge's (reference/slidge.md §3):
 * config files (key = value lines, keys are the long option names), then SLIDGE_*
 * environment variables, then the command line, in increasing priority. Options the core
 * does not know are module options, passed through to the workers. */
#ifndef SLIDGE_CONFIG_H
#define SLIDGE_CONFIG_H

#include <stddef.h>

struct config {
	char *jid;                 /* --jid/-j, required: the component JID */
	char *secret;              /* --secret, required */
	char *server;              /* --server/-s, default "localhost" */
	int port;                  /* --port/-p, default 5347 */
	char *home_dir;            /* --home-dir, default /var/lib/slidge/<jid> */
	char *legacy_module;       /* --legacy-module, required: a name or a path to a .so */
	char **admins;             /* --admins JID [JID ...] (nargs *) */
	size_t nadmins;
	char *user_jid_validator;  /* --user-jid-validator, default ".*@<escaped server>" */
	char *upload_service;      /* --upload-service */
	char *control_socket;      /* --control-socket, default <home-dir>/slidged.sock */
	char *worker_user;         /* --worker-user (used when started as root) */
	char *worker_path;         /* --worker-path, default <libexecdir>/slidge-worker
	                              (env SLIDGE_WORKER also works) */
	int log_level;             /* enum log_level: -d DEBUG, -q WARN, default INFO */
	int max_stanza;            /* --max-stanza-size bytes, default 262144 */
	char **module_argv;        /* module options, as "--name" "value" pairs, in order */
	size_t module_argc;
	int boot_concurrency;      /* --boot-concurrency: sessions started at once, default 8 */
	int max_crashes;           /* --max-crashes within crash_window parks a session, default 5 */
	int crash_window;          /* --crash-window seconds, default 600 */
	int ping_interval;         /* --ping-interval seconds, default 30 */
	int ping_timeout;          /* --ping-timeout seconds after a ping: hung, default 15 */
	int worker_emit_rate;      /* --worker-emit-rate stanzas/s sustained, default 1000 */
	int worker_emit_burst;     /* --worker-emit-burst stanzas at once, default 2000 */
	char **extra;              /* slidge's other options by long name ("avatar-size"):
	                              extra[2*i] name, extra[2*i+1] value, i < nextra; booleans
	                              are "true"/"false", every option with a slidge default
	                              is present; read with config_get_extra */
	size_t nextra;             /* pairs */
};

/* Parse config files, environment and argv into cfg (zeroed first). On a usage error
 * returns -1 with a human message in err. Prints help and exits 0 for -h/--help, the
 * version for --version. Caller frees with config_free (on -1 cfg is already freed and
 * zeroed). */
int config_parse(int argc, char **argv, struct config *cfg, char *err, size_t errsz);
/* Free what cfg owns (wiping the strings) and zero it; safe on a zeroed or failed cfg. */
void config_free(struct config *cfg);
/* Value of one of slidge's other options (name with '-' or '_'), or NULL when unset and
 * without default. The string belongs to cfg. */
const char *config_get_extra(const struct config *cfg, const char *name);

#endif
