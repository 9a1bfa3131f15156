/* config.c: slidged's configuration, compatible with slidge's (reference/slidge.md §3).
 *
 * Every option is one row of the table below: its long and short names, its kind, where it
 * lands (a field of struct config, or the generic cfg->extra list for the slidge options
 * that later features read by name), its default and its --help line. The three sources
 * are applied in increasing priority, each overwriting what the previous one set:
 *   1. *.conf files of each SLIDGE_CONF_DIR directory, then the -c/--config (SLIDGE_CONFIG)
 *      file,
 *   2. SLIDGE_<OPTION> environment variables,
 *   3. the command line.
 * The command line is scanned first, without applying it, because it names the config file
 * that has to be read before it. Whatever is not in the table is a module option, passed
 * through to the workers in the order seen (file options first, so that the module's own
 * parser lets the command line win there too). Defaults that depend on other options (home
 * dir, validator, control socket) are filled in last, once every source is applied. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "build_config.h"
#include "jid.h"
#include "log.h"
#include "proto.h"

#define DEFAULT_CONF_DIR "/etc/slidge/conf.d"
#define DEFAULT_HOME_PARENT "/var/lib/slidge"
#define MAX_STANZA_MIN 4096

enum opt_kind {
	OPT_STR,
	OPT_INT,
	OPT_BOOL,     /* always kept in extra as "true"/"false" */
	OPT_LIST,     /* JIDs; nargs * on the command line; split on spaces and commas */
	OPT_DEBUG,    /* -d: log level DEBUG */
	OPT_QUIET,    /* -q: log level WARN */
	OPT_CONFIG,   /* -c FILE: read before everything else */
	OPT_HELP,
	OPT_VERSION,
};

#define NO_FIELD ((size_t)-1)
#define F(member) offsetof(struct config, member)

struct opt {
	const char *name;     /* long name, with dashes */
	char shortname;       /* 0: none */
	enum opt_kind kind;
	size_t off;           /* field in struct config, NO_FIELD: kept in cfg->extra */
	const char *def;      /* static default (--help, and the initial value), or NULL */
	long min, max;        /* OPT_INT range */
	const char *choices;  /* OPT_STR: allowed values separated by '|', or NULL */
	const char *meta;     /* argument name in --help */
	const char *doc;
};

static const struct opt opts[] = {
	/* slidge's core options, fields of struct config */
	{ "legacy-module", 0, OPT_STR, F(legacy_module), NULL, 0, 0, NULL, "MODULE",
	  "legacy module: an installed module's name or a path to a .so (required)" },
	{ "jid", 'j', OPT_STR, F(jid), NULL, 0, 0, NULL, "JID",
	  "the component's JID (required)" },
	{ "secret", 0, OPT_STR, F(secret), NULL, 0, 0, NULL, "SECRET",
	  "the component's XEP-0114 shared secret (required)" },
	{ "server", 's', OPT_STR, F(server), "localhost", 0, 0, NULL, "HOST",
	  "XMPP server host of the component connection" },
	{ "port", 'p', OPT_INT, F(port), "5347", 1, 65535, NULL, "PORT",
	  "XMPP server port of the component connection" },
	{ "home-dir", 0, OPT_STR, F(home_dir), NULL, 0, 0, NULL, "DIR",
	  "persistent data (default: /var/lib/slidge/<jid>)" },
	{ "user-jid-validator", 0, OPT_STR, F(user_jid_validator), NULL, 0, 0, NULL, "REGEX",
	  "POSIX extended regex of the JIDs allowed to register (default: .*@<server>)" },
	{ "admins", 0, OPT_LIST, F(admins), NULL, 0, 0, NULL, "JID ...",
	  "admin JIDs: admin commands and registration notices" },
	{ "upload-service", 0, OPT_STR, F(upload_service), NULL, 0, 0, NULL, "JID",
	  "HTTP upload component (default: the parent domain of the component's JID)" },
	/* slidge-c's own options */
	{ "control-socket", 0, OPT_STR, F(control_socket), NULL, 0, 0, NULL, "PATH",
	  "slidgectl's socket (default: <home-dir>/slidged.sock)" },
	{ "worker-user", 0, OPT_STR, F(worker_user), NULL, 0, 0, NULL, "USER",
	  "unprivileged user the workers run as when slidged starts as root" },
	{ "worker-path", 0, OPT_STR, F(worker_path), SLIDGE_LIBEXECDIR "/slidge-worker", 0, 0,
	  NULL, "PATH", "the slidge-worker program (env SLIDGE_WORKER also works)" },
	{ "max-stanza-size", 0, OPT_INT, F(max_stanza), "262144", MAX_STANZA_MIN, INT_MAX, NULL,
	  "BYTES", "largest stanza accepted from the XMPP server" },
	{ "boot-concurrency", 0, OPT_INT, F(boot_concurrency), "8", 1, 4096, NULL, "N",
	  "sessions started at the same time at boot" },
	{ "max-crashes", 0, OPT_INT, F(max_crashes), "5", 1, 10000, NULL, "N",
	  "crashes within --crash-window after which a session is parked" },
	{ "crash-window", 0, OPT_INT, F(crash_window), "600", 1, 30 * 86400, NULL, "SECONDS",
	  "window in which worker crashes are counted" },
	{ "ping-interval", 0, OPT_INT, F(ping_interval), "30", 1, 86400, NULL, "SECONDS",
	  "idle time after which a worker is pinged" },
	{ "ping-timeout", 0, OPT_INT, F(ping_timeout), "15", 1, 86400, NULL, "SECONDS",
	  "silence after a ping after which a worker is hung and restarted" },
	{ "worker-emit-rate", 0, OPT_INT, F(worker_emit_rate), "1000", 1, 10000000, NULL, "N",
	  "stanzas per second a worker may emit, sustained; above, it is killed as a flood" },
	{ "worker-emit-burst", 0, OPT_INT, F(worker_emit_burst), "2000", 1, 10000000, NULL, "N",
	  "stanzas a worker may emit at once" },
	{ "config", 'c', OPT_CONFIG, NO_FIELD, NULL, 0, 0, NULL, "FILE",
	  "read this config file after the SLIDGE_CONF_DIR ones (env SLIDGE_CONFIG)" },
	{ "debug", 'd', OPT_DEBUG, NO_FIELD, NULL, 0, 0, NULL, NULL, "log level debug" },
	{ "quiet", 'q', OPT_QUIET, NO_FIELD, NULL, 0, 0, NULL, NULL, "log warnings and errors only" },
	{ "help", 'h', OPT_HELP, NO_FIELD, NULL, 0, 0, NULL, NULL, "print this help and exit" },
	{ "version", 0, OPT_VERSION, NO_FIELD, NULL, 0, 0, NULL, NULL, "print the version and exit" },
	/* slidge's other options: kept by name in cfg->extra (config_get_extra). Booleans whose
	 * default is true are, as in slidge, flags that disable; --opt=true/false sets any. */
	{ "db-url", 0, OPT_STR, NO_FIELD, NULL, 0, 0, NULL, "URL",
	  "accepted for compatibility; slidge-c keeps its data in LMDB in the home dir" },
	{ "upload-requester", 0, OPT_STR, NO_FIELD, NULL, 0, 0, NULL, "JID",
	  "JID that requests upload slots (default: the component's JID)" },
	{ "no-upload-path", 0, OPT_STR, NO_FIELD, NULL, 0, 0, NULL, "DIR",
	  "copy attachments into this directory instead of using HTTP upload" },
	{ "no-upload-url-prefix", 0, OPT_STR, NO_FIELD, NULL, 0, 0, NULL, "URL",
	  "public URL prefix of --no-upload-path" },
	{ "no-upload-method", 0, OPT_STR, NO_FIELD, "copy", 0, 0, "copy|move|hardlink|symlink",
	  "METHOD", "how files get into --no-upload-path: copy, move, hardlink or symlink" },
	{ "no-upload-file-read-others", 0, OPT_BOOL, NO_FIELD, "false", 0, 0, NULL, NULL,
	  "make files in --no-upload-path readable by others" },
	{ "use-attachment-original-urls", 0, OPT_BOOL, NO_FIELD, "false", 0, 0, NULL, NULL,
	  "forward legacy attachment URLs as they are (leaks the client's IP)" },
	{ "fix-filename-suffix-mime-type", 0, OPT_BOOL, NO_FIELD, "false", 0, 0, NULL, NULL,
	  "fix attachment file name suffixes from their MIME type" },
	{ "attachment-maximum-file-name-length", 0, OPT_INT, NO_FIELD, "200", 1, INT_MAX, NULL,
	  "N", "truncate longer attachment file names, keeping the suffix" },
	/* slidge-c's attachment options (kept in extra, passed to the workers) */
	{ "attachment-max-size", 0, OPT_INT, NO_FIELD, "104857600", 1, INT_MAX, NULL, "BYTES",
	  "largest file downloaded for an attachment (files the user sends, legacy URLs)" },
	{ "http-ports", 0, OPT_STR, NO_FIELD, "80,443,5280,5281,5443", 0, 0, NULL, "PORTS",
	  "TCP ports the workers' HTTP client may connect to (attachments), with commas" },
	{ "avatar-size", 0, OPT_INT, NO_FIELD, "200", 1, INT_MAX, NULL, "PIXELS",
	  "maximum avatar width and height" },
	{ "avatar-resampling-threads", 0, OPT_INT, NO_FIELD, "2", 1, 1024, NULL, "N",
	  "threads resizing avatars" },
	{ "no-roster-push", 0, OPT_BOOL, NO_FIELD, "false", 0, 0, NULL, NULL,
	  "never push contacts or the component to user rosters" },
	{ "roster-push-presence-subscription-request-fallback", 0, OPT_BOOL, NO_FIELD, "true",
	  0, 0, NULL, NULL,
	  "without the roster privilege, contacts send subscription requests (the flag disables)" },
	{ "ignore-delay-threshold", 0, OPT_INT, NO_FIELD, "300", 0, INT_MAX, NULL, "SECONDS",
	  "strip <delay> from 1:1 messages younger than this" },
	{ "last-seen-fallback", 0, OPT_BOOL, NO_FIELD, "false", 0, 0, NULL, NULL,
	  "add \"last seen\" to contact statuses for clients without XEP-0319" },
	{ "qr-timeout", 0, OPT_INT, NO_FIELD, "60", 0, INT_MAX, NULL, "SECONDS",
	  "wait this long for a QR code confirmation during registration" },
	{ "partial-registration-timeout", 0, OPT_INT, NO_FIELD, "3600", 0, INT_MAX, NULL,
	  "SECONDS", "accepted for compatibility (unused by slidge too)" },
	{ "last-message-correction-retraction-workaround", 0, OPT_BOOL, NO_FIELD, "false", 0, 0,
	  NULL, NULL, "retract then resend when the legacy network cannot edit" },
	{ "correction-empty-body-as-retraction", 0, OPT_BOOL, NO_FIELD, "true", 0, 0, NULL, NULL,
	  "an empty correction retracts the message (the flag disables)" },
	{ "mam-max-days", 0, OPT_INT, NO_FIELD, "7", 0, INT_MAX, NULL, "DAYS",
	  "group chat archive retention (0: never purge)" },
	{ "always-invite-when-adding-bookmarks", 0, OPT_BOOL, NO_FIELD, "true", 0, 0, NULL, NULL,
	  "also send an invitation when adding a bookmark (the flag disables)" },
	{ "strip-leading-emoji-adhoc", 0, OPT_BOOL, NO_FIELD, "false", 0, 0, NULL, NULL,
	  "strip emoji prefixes from ad-hoc command names" },
	{ "log-file", 0, OPT_STR, NO_FIELD, NULL, 0, 0, NULL, "PATH", "log to this file" },
	{ "log-format", 0, OPT_STR, NO_FIELD, "%(levelname)s:%(name)s:%(message)s", 0, 0, NULL,
	  "FORMAT", "accepted for compatibility (Python logging format)" },
	{ "dev-mode", 0, OPT_BOOL, NO_FIELD, "false", 0, 0, NULL, NULL,
	  "accepted for compatibility (slidge's admin-only Python exec command)" },
	{ "secret-key", 0, OPT_STR, NO_FIELD, NULL, 0, 0, NULL, "KEY",
	  "accepted for compatibility (deprecated in slidge)" },
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* A growable array of owned strings. */
struct strv {
	char **v;
	size_t n;
};

/* One option of the command line, remembered by the first pass and applied after the
 * files and the environment. */
struct assign {
	const struct opt *o;
	const char *value;     /* NULL: bare flag */
	char **vals;           /* OPT_LIST without "=": the arguments that followed */
	size_t nvals;
};

static void seterr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* Strings may hold the secret; wipe every one we drop rather than tell them apart. */
static void
str_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static int
strv_add(struct strv *sv, const char *s, size_t len)
{
	char **v;
	char *c;

	if ((c = strndup(s, len)) == NULL)
		return -1;
	if ((v = realloc(sv->v, (sv->n + 1) * sizeof(*v))) == NULL) {
		free(c);
		return -1;
	}
	sv->v = v;
	sv->v[sv->n++] = c;
	return 0;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		str_free(v[i]);
	free(v);
}

/* '-' and '_' are the same in names (config file keys, config_get_extra). */
static int
name_eq(const char *a, size_t alen, const char *b)
{
	size_t i;

	for (i = 0; i < alen && b[i] != '\0'; i++) {
		char x = a[i] == '_' ? '-' : a[i], y = b[i] == '_' ? '-' : b[i];
		if (x != y)
			return 0;
	}
	return i == alen && b[i] == '\0';
}

static const struct opt *
opt_by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (name_eq(name, len, opts[i].name))
			return &opts[i];
	return NULL;
}

static const struct opt *
opt_by_short(char c)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].shortname == c)
			return &opts[i];
	return NULL;
}

static char **
str_field(struct config *cfg, const struct opt *o)
{
	return (char **)(void *)((char *)cfg + o->off);
}

static int *
int_field(struct config *cfg, const struct opt *o)
{
	return (int *)(void *)((char *)cfg + o->off);
}

/* Set name=value in cfg->extra (copies both; replaces an existing name). */
static int
extra_set(struct config *cfg, const char *name, const char *value)
{
	char **v, *n, *c;

	if ((c = strdup(value)) == NULL)
		return -1;
	for (size_t i = 0; i < cfg->nextra; i++) {
		if (strcmp(cfg->extra[2 * i], name) == 0) {
			str_free(cfg->extra[2 * i + 1]);
			cfg->extra[2 * i + 1] = c;
			return 0;
		}
	}
	if ((n = strdup(name)) == NULL ||
	    (v = realloc(cfg->extra, 2 * (cfg->nextra + 1) * sizeof(*v))) == NULL) {
		free(n);
		str_free(c);
		return -1;
	}
	cfg->extra = v;
	cfg->extra[2 * cfg->nextra] = n;
	cfg->extra[2 * cfg->nextra + 1] = c;
	cfg->nextra++;
	return 0;
}

/* Append a copy of s[0..len) to the module options. */
static int
module_add(struct config *cfg, const char *s, size_t len)
{
	struct strv sv = { cfg->module_argv, cfg->module_argc };
	int rc = strv_add(&sv, s, len);

	cfg->module_argv = sv.v;
	cfg->module_argc = sv.n;
	return rc;
}

const char *
config_get_extra(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nextra; i++)
		if (name_eq(name, strlen(name), cfg->extra[2 * i]))
			return cfg->extra[2 * i + 1];
	return NULL;
}

/* Booleans as configparser and argparse users write them. */
static int
parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "true", "yes", "1", "on" };
	static const char *const no[] = { "false", "no", "0", "off" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
in_choices(const char *choices, const char *v)
{
	size_t len = strlen(v);

	for (const char *p = choices; *p != '\0';) {
		size_t n = strcspn(p, "|");
		if (n == len && strncmp(p, v, n) == 0)
			return 1;
		p += n;
		if (*p == '|')
			p++;
	}
	return 0;
}

/* Replace the admin list with the JIDs found in vals, each split on spaces and commas
 * (the config-file and environment form "a@x, b@y"). They are checked once all sources are
 * applied, since a later source may replace them. */
static int
set_list(struct config *cfg, const char *const *vals, size_t nvals)
{
	struct strv sv = { NULL, 0 };

	for (size_t i = 0; i < nvals; i++) {
		for (const char *p = vals[i]; *p != '\0';) {
			size_t n;

			p += strspn(p, " \t,");
			if ((n = strcspn(p, " \t,")) == 0)
				continue;
			if (strv_add(&sv, p, n) == -1) {
				strv_free(sv.v, sv.n);
				return -1;
			}
			p += n;
		}
	}
	strv_free(cfg->admins, cfg->nadmins);
	cfg->admins = sv.v;
	cfg->nadmins = sv.n;
	return 0;
}

/* Apply one value of option o from source where ("command line", "SLIDGE_PORT",
 * "file:line"). value is NULL for a bare flag. */
static int
set_value(struct config *cfg, const struct opt *o, const char *value, const char *where,
    char *err, size_t errsz)
{
	long n;
	int b;

	switch (o->kind) {
	case OPT_STR:
		if (value == NULL)
			goto novalue;
		if (o->choices != NULL && !in_choices(o->choices, value)) {
			seterr(err, errsz, "%s: invalid value '%s' for --%s (expected one of %s)",
			    where, value, o->name, o->choices);
			return -1;
		}
		if (o->off == NO_FIELD)
			return extra_set(cfg, o->name, value) == -1 ? -2 : 0;
		{
			char **field = str_field(cfg, o), *c;

			if ((c = strdup(value)) == NULL)
				return -2;
			str_free(*field);
			*field = c;
		}
		return 0;
	case OPT_INT:
		if (value == NULL)
			goto novalue;
		if (parse_int(value, o->min, o->max, &n) == -1) {
			seterr(err, errsz, "%s: invalid value '%s' for --%s (expected an integer in "
			    "%ld..%ld)", where, value, o->name, o->min, o->max);
			return -1;
		}
		if (o->off == NO_FIELD) {
			char num[32];

			snprintf(num, sizeof(num), "%ld", n);
			return extra_set(cfg, o->name, num) == -1 ? -2 : 0;
		}
		*int_field(cfg, o) = (int)n;
		return 0;
	case OPT_BOOL:
	case OPT_DEBUG:
	case OPT_QUIET:
		if (value == NULL) {
			/* a bare flag turns on, except slidge's default-true options, which it
			 * turns off (argparse store_false) */
			b = !(o->def != NULL && strcmp(o->def, "true") == 0);
		} else if (parse_bool(value, &b) == -1) {
			seterr(err, errsz, "%s: invalid value '%s' for --%s (expected true or false)",
			    where, value, o->name);
			return -1;
		}
		if (o->kind == OPT_DEBUG || o->kind == OPT_QUIET) {
			int lvl = o->kind == OPT_DEBUG ? LOG_LVL_DEBUG : LOG_LVL_WARN;

			if (b)
				cfg->log_level = lvl;
			else if (cfg->log_level == lvl)
				cfg->log_level = LOG_LVL_INFO;
			return 0;
		}
		return extra_set(cfg, o->name, b ? "true" : "false") == -1 ? -2 : 0;
	case OPT_LIST:
		if (value == NULL)
			return set_list(cfg, NULL, 0) == -1 ? -2 : 0;
		return set_list(cfg, &value, 1) == -1 ? -2 : 0;
	case OPT_CONFIG:
	case OPT_HELP:
	case OPT_VERSION:
		seterr(err, errsz, "%s: --%s cannot be set here", where, o->name);
		return -1;
	}
	return 0;
novalue:
	seterr(err, errsz, "%s: --%s expects a value", where, o->name);
	return -1;
}

/* set_value, with allocation failures reported. */
static int
apply(struct config *cfg, const struct opt *o, const char *value, const char *where,
    char *err, size_t errsz)
{
	int rc = set_value(cfg, o, value, where, err, errsz);

	if (rc == -2)
		seterr(err, errsz, "out of memory");
	return rc == 0 ? 0 : -1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: slidged --jid JID --secret SECRET --legacy-module MODULE [options] "
	    "[module options]\n\n"
	    "Options come from *.conf files in each directory of SLIDGE_CONF_DIR (default "
	    DEFAULT_CONF_DIR "),\nthen the -c file, then SLIDGE_<OPTION> environment variables, "
	    "then the command line.\nIn config files, write 'option = value' without the dashes. "
	    "Options not listed here\n(and everything after --) are passed to the legacy module."
	    "\n\noptions:\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		char left[96];
		int n;

		if (o->shortname != 0)
			n = snprintf(left, sizeof(left), "  -%c, --%s", o->shortname, o->name);
		else
			n = snprintf(left, sizeof(left), "      --%s", o->name);
		if (o->meta != NULL && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, " %s", o->meta);
		else if (o->kind == OPT_BOOL && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, "[=BOOL]");
		if (strlen(left) > 30)
			fprintf(f, "%s\n%32s", left, "");
		else
			fprintf(f, "%-30s  ", left);
		fputs(o->doc, f);
		if (o->def != NULL)
			fprintf(f, " (default: %s)", o->def);
		fputc('\n', f);
	}
}

/* argparse's rule: an argument that starts with '-' is an option, not a value, unless it
 * is "-" or a negative number. Use --name=-value for a value that looks like an option. */
static int
looks_like_option(const char *s)
{
	long n;

	return s[0] == '-' && s[1] != '\0' && parse_int(s, LONG_MIN, LONG_MAX, &n) == -1;
}

/* The value of a valued option written "--name value" or "-x value": the next argument. */
static const char *
next_value(int argc, char **argv, int *i, const struct opt *o, char *err, size_t errsz)
{
	if (*i + 1 >= argc || looks_like_option(argv[*i + 1])) {
		seterr(err, errsz, "command line: --%s expects a value (write --%s=VALUE for one "
		    "that starts with '-')", o->name, o->name);
		return NULL;
	}
	return argv[++*i];
}

/* "--name[=value]" or "-x" that is not ours: a module option. Its value is the next
 * argument unless that one is an option itself (then it was a flag). */
static int
module_arg(struct strv *margs, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *eq = a[1] == '-' ? strchr(a, '=') : NULL;

	if (eq != NULL)
		return strv_add(margs, a, (size_t)(eq - a)) == -1 ||
		    strv_add(margs, eq + 1, strlen(eq + 1)) == -1 ? -1 : 0;
	if (strv_add(margs, a, strlen(a)) == -1)
		return -1;
	if (*i + 1 < argc && !looks_like_option(argv[*i + 1])) {
		++*i;
		return strv_add(margs, argv[*i], strlen(argv[*i]));
	}
	return 0;
}

static void
print_version(void)
{
	printf("slidged %s\n", SLIDGE_VERSION);
}

enum { SCAN_HELP = 1, SCAN_VERSION = 2 };

/* First pass over argv: sort it into our options (as, in order) and module options
 * (margs). -h and --version end the scan, as in argparse: SCAN_HELP or SCAN_VERSION. */
static int
scan_argv(int argc, char **argv, struct assign *as, size_t *nas, struct strv *margs,
    char *err, size_t errsz)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			/* everything after a bare "--" belongs to the module, verbatim */
			for (i++; i < argc; i++)
				if (strv_add(margs, argv[i], strlen(argv[i])) == -1)
					goto nomem;
			break;
		}
		if (a[0] == '-' && a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
			const struct opt *o = opt_by_name(name, len);
			struct assign *x = &as[*nas];

			if (len == 0) {
				seterr(err, errsz, "command line: unexpected argument '%s'", a);
				return -1;
			}

			/* command-line names are exact: '_' is not '-' here */
			if (o != NULL && strncmp(o->name, name, len) != 0)
				o = NULL;
			if (o == NULL) {
				if (module_arg(margs, argc, argv, &i) == -1)
					goto nomem;
				continue;
			}
			if ((o->kind == OPT_HELP || o->kind == OPT_VERSION) && eq != NULL) {
				seterr(err, errsz, "command line: --%s takes no value", o->name);
				return -1;
			}
			if (o->kind == OPT_HELP || o->kind == OPT_VERSION)
				return o->kind == OPT_HELP ? SCAN_HELP : SCAN_VERSION;
			memset(x, 0, sizeof(*x));
			x->o = o;
			if (eq != NULL) {
				x->value = eq + 1;
			} else if (o->kind == OPT_LIST) {
				/* nargs *: every following argument that is not an option */
				x->vals = &argv[i + 1];
				while (i + 1 < argc && !looks_like_option(argv[i + 1])) {
					x->nvals++;
					i++;
				}
				if (x->nvals == 0)
					x->vals = NULL;
			} else if (o->kind == OPT_STR || o->kind == OPT_INT || o->kind == OPT_CONFIG) {
				if ((x->value = next_value(argc, argv, &i, o, err, errsz)) == NULL)
					return -1;
			}
			++*nas;
			continue;
		}
		if (a[0] == '-' && a[1] != '\0') {
			/* a cluster of short options: "-dq", "-jgw.example.org", "-p 5347" */
			for (size_t j = 1; a[j] != '\0'; j++) {
				const struct opt *o = opt_by_short(a[j]);
				struct assign *x = &as[*nas];

				if (o == NULL && j == 1) {
					if (module_arg(margs, argc, argv, &i) == -1)
						goto nomem;
					break;
				}
				if (o == NULL) {
					seterr(err, errsz, "command line: unknown option -%c in %s", a[j], a);
					return -1;
				}
				if (o->kind == OPT_HELP)
					return SCAN_HELP;
				memset(x, 0, sizeof(*x));
				x->o = o;
				++*nas;
				if (o->kind == OPT_STR || o->kind == OPT_INT || o->kind == OPT_CONFIG) {
					if (a[j + 1] != '\0')
						x->value = a + j + 1;
					else if ((x->value = next_value(argc, argv, &i, o, err, errsz)) == NULL)
						return -1;
					break;
				}
			}
			continue;
		}
		seterr(err, errsz, "command line: unexpected argument '%s'", a);
		return -1;
	}
	return 0;
nomem:
	seterr(err, errsz, "out of memory");
	return -1;
}

/* Trim spaces and tabs on both ends, in place. */
static char *
trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
	    end[-1] == '\n'))
		end--;
	*end = '\0';
	return s;
}

/* Read one config file: "key = value" lines (configparser style, sections ignored). Known
 * keys are applied; unknown keys are module options "--key value". */
static int
read_file(struct config *cfg, const char *path, char *err, size_t errsz)
{
	char *line = NULL, where[PATH_MAX + 32];
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = -1;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		seterr(err, errsz, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) != -1) {
		char *s = trim(line, line + len), *eq, *key, *value;
		const struct opt *o;

		lineno++;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			if (s[strlen(s) - 1] != ']') {
				seterr(err, errsz, "%s: bad section header", where);
				goto fail;
			}
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL) {
			seterr(err, errsz, "%s: expected 'key = value'", where);
			goto fail;
		}
		key = trim(s, eq);
		value = trim(eq + 1, eq + 1 + strlen(eq + 1));
		if (*key == '\0') {
			seterr(err, errsz, "%s: expected 'key = value'", where);
			goto fail;
		}
		/* configparser lower-cases keys; '_' and '-' are the same */
		for (char *p = key; *p != '\0'; p++) {
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
			else if (*p == '_')
				*p = '-';
		}
		if ((o = opt_by_name(key, strlen(key))) == NULL) {
			/* configparser has no flags: a key always has a value */
			char opt[PATH_MAX];
			int n = snprintf(opt, sizeof(opt), "--%s", key);

			if (n < 0 || (size_t)n >= sizeof(opt)) {
				seterr(err, errsz, "%s: key too long", where);
				goto fail;
			}
			if (module_add(cfg, opt, (size_t)n) == -1 ||
			    module_add(cfg, value, strlen(value)) == -1) {
				seterr(err, errsz, "out of memory");
				goto fail;
			}
			continue;
		}
		if (o->kind == OPT_CONFIG || o->kind == OPT_HELP || o->kind == OPT_VERSION) {
			seterr(err, errsz, "%s: '%s' cannot be set in a config file", where, key);
			goto fail;
		}
		if (apply(cfg, o, value, where, err, errsz) == -1)
			goto fail;
	}
	if (ferror(f)) {
		seterr(err, errsz, "cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	rc = 0;
fail:
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(f);
	return rc;
}

static int
conf_filter(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	/* glob's "*.conf": hidden files do not match */
	return d->d_name[0] != '.' && len > 5 && strcmp(d->d_name + len - 5, ".conf") == 0;
}

/* Every *.conf of every directory of SLIDGE_CONF_DIR, in name order; a directory that does
 * not exist is skipped, as slidge's glob would. */
static int
read_conf_dirs(struct config *cfg, char *err, size_t errsz)
{
	const char *dirs = getenv("SLIDGE_CONF_DIR");

	if (dirs == NULL)
		dirs = DEFAULT_CONF_DIR;
	for (const char *p = dirs; *p != '\0';) {
		size_t n = strcspn(p, ":");
		char dir[PATH_MAX];
		struct dirent **names = NULL;
		int count, rc = 0;

		if (n == 0 || n >= sizeof(dir)) {
			p += n + (p[n] == ':');
			continue;
		}
		memcpy(dir, p, n);
		dir[n] = '\0';
		p += n + (p[n] == ':');
		if ((count = scandir(dir, &names, conf_filter, alphasort)) == -1) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue;
			seterr(err, errsz, "cannot read directory %s: %s", dir, strerror(errno));
			return -1;
		}
		for (int i = 0; i < count; i++) {
			char path[PATH_MAX];

			if (rc == 0) {
				if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				    names[i]->d_name) >= sizeof(path)) {
					seterr(err, errsz, "path too long in %s", dir);
					rc = -1;
				} else {
					rc = read_file(cfg, path, err, errsz);
				}
			}
			free(names[i]);
		}
		free(names);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* SLIDGE_<OPTION>: upper case, '-' -> '_'. An empty variable counts as unset, so that an
 * EnvironmentFile line "SLIDGE_X=" does not override the config files. */
static int
read_env(struct config *cfg, char *err, size_t errsz)
{
	const char *w = getenv("SLIDGE_WORKER");

	/* the older name of the worker path; SLIDGE_WORKER_PATH below wins over it */
	if (w != NULL && *w != '\0' &&
	    apply(cfg, opt_by_name("worker-path", 11), w, "SLIDGE_WORKER", err, errsz) == -1)
		return -1;
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		char name[128];
		const char *v;
		size_t j;

		if (o->kind == OPT_CONFIG || o->kind == OPT_HELP || o->kind == OPT_VERSION)
			continue;
		memcpy(name, "SLIDGE_", 7);
		for (j = 0; o->name[j] != '\0' && 7 + j < sizeof(name) - 1; j++) {
			char c = o->name[j];
			name[7 + j] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
		}
		name[7 + j] = '\0';
		if ((v = getenv(name)) == NULL || *v == '\0')
			continue;
		if (apply(cfg, o, v, name, err, errsz) == -1)
			return -1;
	}
	return 0;
}

/* ".*@" + the server name with every POSIX ERE special character escaped (slidge:
 * ".*@" + re.escape(server)). Caller frees. */
static char *
default_validator(const char *server)
{
	size_t len = strlen(server);
	char *v, *p;

	if ((v = malloc(3 + 2 * len + 1)) == NULL)
		return NULL;
	p = v;
	memcpy(p, ".*@", 3);
	p += 3;
	for (const char *s = server; *s != '\0'; s++) {
		if (strchr(".[]()*+?{}|^$\\", *s) != NULL)
			*p++ = '\\';
		*p++ = *s;
	}
	*p = '\0';
	return v;
}

/* *field = a + b unless already set. */
static int
set_default(char **field, const char *a, const char *b)
{
	if (*field != NULL)
		return 0;
	if (asprintf(field, "%s%s", a, b) == -1) {
		*field = NULL;
		return -1;
	}
	return 0;
}

/* Checks and the defaults that depend on other options, once every source is applied. */
static int
finish(struct config *cfg, char *err, size_t errsz)
{
	static const char *const required[] = { "jid", "secret", "legacy-module" };
	const struct proto_desc *sd = proto_desc(PROTO_STANZA);
	struct jid j;
	regex_t re;
	int rc;

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		const struct opt *o = opt_by_name(required[i], strlen(required[i]));
		const char *v = *str_field(cfg, o);

		if (v == NULL || *v == '\0') {
			seterr(err, errsz, "missing required option --%s", o->name);
			return -1;
		}
	}
	/* the component is a domain: no user part, no resource; keep the normalised form */
	if (jid_parse(cfg->jid, &j) == -1 || j.local[0] != '\0' || j.resource[0] != '\0') {
		seterr(err, errsz, "invalid --jid '%s' (expected a domain, like gw.example.org)",
		    cfg->jid);
		return -1;
	}
	if (strcmp(j.domain, cfg->jid) != 0) {
		char *d = strdup(j.domain);

		if (d == NULL)
			goto nomem;
		str_free(cfg->jid);
		cfg->jid = d;
	}
	for (size_t i = 0; i < cfg->nadmins; i++) {
		char bare[3 * (JID_PART_MAX + 1)], *b;

		if (jid_parse(cfg->admins[i], &j) == -1 || jid_bare(&j, bare, sizeof(bare)) == -1) {
			seterr(err, errsz, "invalid JID '%s' in --admins", cfg->admins[i]);
			return -1;
		}
		if ((b = strdup(bare)) == NULL)
			goto nomem;
		str_free(cfg->admins[i]);
		cfg->admins[i] = b;
	}
	/* a stanza from the server travels to its worker whole, in one STANZA frame */
	if (sd != NULL && (size_t)cfg->max_stanza > sd->fields[STANZA_xml].max) {
		seterr(err, errsz, "--max-stanza-size %d is above the %zu bytes a worker accepts",
		    cfg->max_stanza, sd->fields[STANZA_xml].max);
		return -1;
	}
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];

		if (o->kind == OPT_STR && o->def != NULL && o->off != NO_FIELD &&
		    set_default(str_field(cfg, o), o->def, "") == -1)
			goto nomem;
		if (o->off == NO_FIELD && o->def != NULL && config_get_extra(cfg, o->name) == NULL &&
		    extra_set(cfg, o->name, o->def) == -1)
			goto nomem;
	}
	if (set_default(&cfg->home_dir, DEFAULT_HOME_PARENT "/", cfg->jid) == -1 ||
	    set_default(&cfg->control_socket, cfg->home_dir, "/slidged.sock") == -1)
		goto nomem;
	if (cfg->user_jid_validator == NULL &&
	    (cfg->user_jid_validator = default_validator(cfg->server)) == NULL)
		goto nomem;
	if ((rc = regcomp(&re, cfg->user_jid_validator, REG_EXTENDED | REG_NOSUB)) != 0) {
		char msg[128];

		regerror(rc, &re, msg, sizeof(msg));
		seterr(err, errsz, "invalid --user-jid-validator '%s': %s",
		    cfg->user_jid_validator, msg);
		return -1;
	}
	regfree(&re);
	/* caught here rather than when slidged is already running */
	if (strlen(cfg->control_socket) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		seterr(err, errsz, "--control-socket path too long (at most %zu bytes): %s",
		    sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1, cfg->control_socket);
		return -1;
	}
	return 0;
nomem:
	seterr(err, errsz, "out of memory");
	return -1;
}

int
config_parse(int argc, char **argv, struct config *cfg, char *err, size_t errsz)
{
	struct assign *as = NULL;
	struct strv margs = { NULL, 0 };
	const char *cfile = NULL;
	size_t nas = 0;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	if (errsz > 0)
		err[0] = '\0';
	cfg->log_level = LOG_LVL_INFO;
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].kind == OPT_INT && opts[i].off != NO_FIELD)
			*int_field(cfg, &opts[i]) = atoi(opts[i].def);

	/* at most one assignment per argument (a short cluster "-dq" has one per letter) */
	{
		size_t cap = 1;

		for (int i = 1; i < argc; i++)
			cap += strlen(argv[i]);
		if ((as = calloc(cap, sizeof(*as))) == NULL) {
			seterr(err, errsz, "out of memory");
			goto fail;
		}
	}
	if ((rc = scan_argv(argc, argv, as, &nas, &margs, err, errsz)) != 0) {
		if (rc == -1)
			goto fail;
		free(as);
		strv_free(margs.v, margs.n);
		if (rc == SCAN_HELP)
			usage(stdout);
		else
			print_version();
		exit(fflush(stdout) == 0 ? 0 : 1);
	}
	rc = -1;

	/* 1. config files: the directories, then the one named by -c or SLIDGE_CONFIG, which
	 * must exist when named */
	for (size_t i = 0; i < nas; i++)
		if (as[i].o->kind == OPT_CONFIG)
			cfile = as[i].value;
	if (cfile == NULL && (cfile = getenv("SLIDGE_CONFIG")) != NULL && *cfile == '\0')
		cfile = NULL;
	if (read_conf_dirs(cfg, err, errsz) == -1)
		goto fail;
	if (cfile != NULL && read_file(cfg, cfile, err, errsz) == -1)
		goto fail;

	/* 2. environment */
	if (read_env(cfg, err, errsz) == -1)
		goto fail;

	/* 3. command line */
	for (size_t i = 0; i < nas; i++) {
		const struct opt *o = as[i].o;

		if (o->kind == OPT_CONFIG)
			continue;
		if (o->kind == OPT_LIST && as[i].value == NULL) {
			if (set_list(cfg, (const char *const *)as[i].vals, as[i].nvals) == -1) {
				seterr(err, errsz, "out of memory");
				goto fail;
			}
			continue;
		}
		if (apply(cfg, o, as[i].value, "command line", err, errsz) == -1)
			goto fail;
	}
	for (size_t i = 0; i < margs.n; i++) {
		if (module_add(cfg, margs.v[i], strlen(margs.v[i])) == -1) {
			seterr(err, errsz, "out of memory");
			goto fail;
		}
	}

	if (finish(cfg, err, errsz) == -1)
		goto fail;
	rc = 0;
fail:
	free(as);
	strv_free(margs.v, margs.n);
	if (rc == -1)
		config_free(cfg);
	return rc;
}

void
config_free(struct config *cfg)
{
	str_free(cfg->jid);
	str_free(cfg->secret);
	str_free(cfg->server);
	str_free(cfg->home_dir);
	str_free(cfg->legacy_module);
	strv_free(cfg->admins, cfg->nadmins);
	str_free(cfg->user_jid_validator);
	str_free(cfg->upload_service);
	str_free(cfg->control_socket);
	str_free(cfg->worker_user);
	str_free(cfg->worker_path);
	strv_free(cfg->module_argv, cfg->module_argc);
	strv_free(cfg->extra, 2 * cfg->nextra);
	memset(cfg, 0, sizeof(*cfg));
}
