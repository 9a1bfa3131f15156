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
};

/* Parse config files, environment and argv into cfg (zeroed first). On a usage error
 * returns -1 with a human message in err. Prints help and exits 0 for -h/--help, the
 * version for --version. Caller frees with config_free. */
int config_parse(int argc, char **argv, struct config *cfg, char *err, size_t errsz);
void config_free(struct config *cfg);

#endif
