/* config_test.c: config_parse over a table of cases. Each case gets a fresh temporary
 * directory (files are written there, "%D" in env values and arguments stands for it), a
 * clean SLIDGE_* environment and SLIDGE_CONF_DIR=%D/conf.d unless it sets its own, so that
 * nothing of the machine's /etc/slidge leaks in. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build_config.h"
#include "config.h"
#include "log.h"

extern char **environ;

#define BASE "-j", "gw.example.org", "--secret", "s3cret", "--legacy-module", "demo"

struct tcase {
	const char *name;
	const char *files[6][2];   /* path relative to %D, content */
	const char *env[8];        /* NAME=value */
	const char *argv[32];      /* after argv[0] */
	const char *err;           /* expected substring of the error; NULL: must succeed */
	const char *want[24];      /* "key=value", see getval() */
};

static const struct tcase cases[] = {
	{ "defaults", .argv = { BASE },
	  .want = { "jid=gw.example.org", "secret=s3cret", "legacy_module=demo",
	    "server=localhost", "port=5347", "home_dir=/var/lib/slidge/gw.example.org",
	    "validator=.*@localhost",
	    "control_socket=/var/lib/slidge/gw.example.org/slidged.sock",
	    "max_stanza=262144", "log_level=1", "boot_concurrency=8", "max_crashes=5",
	    "crash_window=600", "ping_interval=30", "ping_timeout=15", "admins=", "module=",
	    "upload_service=(null)", "worker_user=(null)",
	    "worker_path=" SLIDGE_LIBEXECDIR "/slidge-worker" } },
	{ "extra defaults", .argv = { BASE },
	  .want = { "x:avatar-size=200", "x:avatar_size=200", "x:no-upload-method=copy",
	    "x:no-roster-push=false", "x:correction-empty-body-as-retraction=true",
	    "x:roster-push-presence-subscription-request-fallback=true",
	    "x:always-invite-when-adding-bookmarks=true", "x:mam-max-days=7",
	    "x:ignore-delay-threshold=300", "x:qr-timeout=60",
	    "x:attachment-maximum-file-name-length=200", "x:avatar-resampling-threads=2",
	    "x:partial-registration-timeout=3600", "x:dev-mode=false",
	    "x:log-format=%(levelname)s:%(name)s:%(message)s", "x:db-url=(null)",
	    "x:upload-requester=(null)", "x:secret-key=(null)", "x:not-an-option=(null)" } },
	{ "long options with =",
	  .argv = { "--jid=gw.example.org", "--secret=a=b", "--legacy-module=/x/demo.so",
	    "--server=127.0.0.1", "--port=5348", "--home-dir=/srv/gw",
	    "--upload-service=upload.example.org", "--worker-user=slidge",
	    "--max-stanza-size=65536", "--boot-concurrency=2", "--max-crashes=3",
	    "--crash-window=60", "--ping-interval=10", "--ping-timeout=5",
	    "--control-socket=/run/slidged.sock" },
	  .want = { "secret=a=b", "legacy_module=/x/demo.so", "server=127.0.0.1", "port=5348",
	    "home_dir=/srv/gw", "validator=.*@127\\.0\\.0\\.1", "upload_service=upload.example.org",
	    "worker_user=slidge", "max_stanza=65536", "boot_concurrency=2", "max_crashes=3",
	    "crash_window=60", "ping_interval=10", "ping_timeout=5",
	    "control_socket=/run/slidged.sock" } },
	{ "long options with a separate value",
	  .argv = { "--jid", "gw.example.org", "--secret", "s", "--legacy-module", "demo",
	    "--server", "xmpp.example.org", "--port", "5349", "--home-dir", "/h" },
	  .want = { "server=xmpp.example.org", "port=5349", "home_dir=/h",
	    "validator=.*@xmpp\\.example\\.org", "control_socket=/h/slidged.sock" } },
	{ "short options", .argv = { "-j", "gw.example.org", "-s", "::1", "-p", "5400",
	    "--secret", "s", "--legacy-module", "demo", "-d" },
	  .want = { "server=::1", "port=5400", "log_level=0" } },
	{ "short option with attached value", .argv = { BASE, "-p5401", "-sxmpp.example.org" },
	  .want = { "port=5401", "server=xmpp.example.org" } },
	{ "quiet", .argv = { BASE, "-q" }, .want = { "log_level=2" } },
	{ "short cluster, last wins", .argv = { BASE, "-dq" }, .want = { "log_level=2" } },
	{ "debug then --debug=false", .argv = { BASE, "--debug", "--debug=false" },
	  .want = { "log_level=1" } },
	{ "jid is normalised", .argv = { "-j", "GW.Example.ORG", "--secret", "s",
	    "--legacy-module", "demo" },
	  .want = { "jid=gw.example.org", "home_dir=/var/lib/slidge/gw.example.org" } },
	{ "precedence file < env < argv",
	  .files = { { "conf.d/10-a.conf", "server = file.example\nport = 1000\n"
	    "home_dir = /from-file\nsecret = file-secret\n" } },
	  .env = { "SLIDGE_PORT=2000", "SLIDGE_HOME_DIR=/from-env" },
	  .argv = { "-j", "gw.example.org", "--legacy-module", "demo", "--port", "3000" },
	  .want = { "server=file.example", "port=3000", "home_dir=/from-env",
	    "secret=file-secret" } },
	{ "conf.d files in name order",
	  .files = { { "conf.d/20-b.conf", "port = 2\n" }, { "conf.d/10-a.conf", "port = 1\n" },
	    { "conf.d/30-c.txt", "this is not a config file\n" },
	    { "conf.d/.40-hidden.conf", "this is not read either\n" } },
	  .argv = { BASE }, .want = { "port=2" } },
	{ "several conf dirs, missing ones skipped",
	  .files = { { "a/x.conf", "port = 10\nserver = a.example\n" }, { "b/x.conf", "port = 20\n" } },
	  .env = { "SLIDGE_CONF_DIR=%D/missing:%D/a::%D/b:%D/a/x.conf" },
	  .argv = { BASE }, .want = { "port=20", "server=a.example" } },
	{ "no conf dir at all",
	  .env = { "SLIDGE_CONF_DIR=" }, .argv = { BASE }, .want = { "port=5347" } },
	{ "-c file after conf.d, before env",
	  .files = { { "conf.d/10.conf", "port = 1\nserver = d.example\nhome-dir = /d\n" },
	    { "main.ini", "port = 2\nserver = c.example\nhome-dir = /c\n" } },
	  .env = { "SLIDGE_HOME_DIR=/e" },
	  .argv = { BASE, "-c", "%D/main.ini" },
	  .want = { "port=2", "server=c.example", "home_dir=/e" } },
	{ "SLIDGE_CONFIG",
	  .files = { { "main.ini", "port = 7\n" } },
	  .env = { "SLIDGE_CONFIG=%D/main.ini" }, .argv = { BASE }, .want = { "port=7" } },
	{ "--config wins over SLIDGE_CONFIG",
	  .files = { { "one.ini", "port = 7\n" }, { "two.ini", "server = two.example\n" } },
	  .env = { "SLIDGE_CONFIG=%D/one.ini" }, .argv = { BASE, "--config=%D/two.ini" },
	  .want = { "port=5347", "server=two.example" } },
	{ "file syntax",
	  .files = { { "c.ini", "# comment\n; comment\n\n[slidge]\n  JID=gw.example.org  \n"
	    "secret =  with spaces inside \t\r\nlegacy_module\t=\tdemo\n"
	    "user_jid_validator = .*@(a|b)\\.example\n[other section]\nport=6000" } },
	  .argv = { "-c", "%D/c.ini" },
	  .want = { "jid=gw.example.org", "secret=with spaces inside", "legacy_module=demo",
	    "validator=.*@(a|b)\\.example", "port=6000" } },
	{ "environment only",
	  .env = { "SLIDGE_JID=gw.example.org", "SLIDGE_SECRET=env", "SLIDGE_LEGACY_MODULE=demo",
	    "SLIDGE_USER_JID_VALIDATOR=.*", "SLIDGE_BOOT_CONCURRENCY=1", "SLIDGE_SERVER=" },
	  .want = { "secret=env", "validator=.*", "boot_concurrency=1", "server=localhost" } },
	{ "SLIDGE_WORKER", .env = { "SLIDGE_WORKER=/opt/w" }, .argv = { BASE },
	  .want = { "worker_path=/opt/w" } },
	{ "SLIDGE_WORKER_PATH wins over SLIDGE_WORKER",
	  .env = { "SLIDGE_WORKER=/opt/w", "SLIDGE_WORKER_PATH=/opt/wp" }, .argv = { BASE },
	  .want = { "worker_path=/opt/wp" } },
	{ "admins nargs *", .argv = { BASE, "--admins", "a@example.org", "b@example.org",
	    "--port", "1" },
	  .want = { "admins=a@example.org,b@example.org", "port=1", "module=" } },
	{ "admins last", .argv = { BASE, "--admins", "a@example.org" },
	  .want = { "admins=a@example.org" } },
	{ "admins empty", .files = { { "conf.d/a.conf", "admins = x@example.org" } },
	  .argv = { BASE, "--admins", "-d" }, .want = { "admins=", "log_level=0" } },
	{ "admins with =", .argv = { BASE, "--admins=a@example.org,b@example.org" },
	  .want = { "admins=a@example.org,b@example.org" } },
	{ "admins in a file, spaces and commas",
	  .files = { { "conf.d/a.conf", "admins = a@example.org, b@example.org  c@example.org" } },
	  .argv = { BASE }, .want = { "admins=a@example.org,b@example.org,c@example.org" } },
	{ "admins: argv replaces file, env replaces file",
	  .files = { { "conf.d/a.conf", "admins = a@example.org" } },
	  .env = { "SLIDGE_ADMINS=e@example.org" },
	  .argv = { BASE }, .want = { "admins=e@example.org" } },
	{ "admins: argv replaces env", .env = { "SLIDGE_ADMINS=e@example.org" },
	  .argv = { BASE, "--admins", "c@example.org" }, .want = { "admins=c@example.org" } },
	{ "admins keep the bare JID", .argv = { BASE, "--admins", "a@example.org/phone" },
	  .want = { "admins=a@example.org" } },
	{ "module options in order",
	  .argv = { "--demo-registration", "2fa", BASE, "--demo-flag", "--demo-x=1",
	    "--demo-registration=qr", "--port", "6", "--demo-last" },
	  .want = { "module=--demo-registration 2fa --demo-flag --demo-x 1 "
	    "--demo-registration qr --demo-last", "port=6" } },
	{ "module option value looking like a number",
	  .argv = { BASE, "--demo-offset", "-5", "-x", "y" },
	  .want = { "module=--demo-offset -5 -x y" } },
	{ "everything after -- is the module's",
	  .argv = { BASE, "--demo-a", "b", "--", "--jid", "x", "-d", "plain" },
	  .want = { "module=--demo-a b --jid x -d plain", "jid=gw.example.org", "log_level=1" } },
	{ "unknown config file keys are module options, before the command line's",
	  .files = { { "conf.d/a.conf", "demo_registration = qr\nDemo-Flag = true\nport = 9\n" } },
	  .argv = { BASE, "--demo-registration", "2fa" },
	  .want = { "module=--demo-registration qr --demo-flag true --demo-registration 2fa",
	    "port=9" } },
	{ "command-line names are exact", .argv = { BASE, "--home_dir", "/x" },
	  .want = { "module=--home_dir /x", "home_dir=/var/lib/slidge/gw.example.org" } },
	{ "booleans: flags",
	  .argv = { BASE, "--no-roster-push", "--correction-empty-body-as-retraction",
	    "--roster-push-presence-subscription-request-fallback", "--dev-mode" },
	  .want = { "x:no-roster-push=true", "x:correction-empty-body-as-retraction=false",
	    "x:roster-push-presence-subscription-request-fallback=false", "x:dev-mode=true",
	    "x:always-invite-when-adding-bookmarks=true", "module=" } },
	{ "booleans: explicit values",
	  .argv = { BASE, "--no-roster-push=false", "--correction-empty-body-as-retraction=true",
	    "--always-invite-when-adding-bookmarks=false", "--last-seen-fallback=yes",
	    "--use-attachment-original-urls=1", "--strip-leading-emoji-adhoc=No" },
	  .want = { "x:no-roster-push=false", "x:correction-empty-body-as-retraction=true",
	    "x:always-invite-when-adding-bookmarks=false", "x:last-seen-fallback=true",
	    "x:use-attachment-original-urls=true", "x:strip-leading-emoji-adhoc=false" } },
	{ "booleans: files and env",
	  .files = { { "conf.d/a.conf", "always-invite-when-adding-bookmarks = no\n"
	    "no_roster_push = yes\ndev-mode = 1\nfix-filename-suffix-mime-type = true\n"
	    "debug = true\n" } },
	  .env = { "SLIDGE_LAST_SEEN_FALLBACK=true", "SLIDGE_DEV_MODE=false" },
	  .argv = { BASE },
	  .want = { "x:always-invite-when-adding-bookmarks=false", "x:no-roster-push=true",
	    "x:dev-mode=false", "x:fix-filename-suffix-mime-type=true",
	    "x:last-seen-fallback=true", "log_level=0" } },
	{ "booleans: a flag does not take the next argument",
	  .argv = { BASE, "--no-roster-push", "--demo-x", "y" },
	  .want = { "x:no-roster-push=true", "module=--demo-x y" } },
	{ "quiet from the environment", .env = { "SLIDGE_QUIET=yes" }, .argv = { BASE },
	  .want = { "log_level=2" } },
	{ "other slidge options",
	  .files = { { "conf.d/a.conf", "db-url = sqlite:////x.db\nno-upload-path = /srv/up\n" } },
	  .env = { "SLIDGE_UPLOAD_REQUESTER=req@example.org", "SLIDGE_MAM_MAX_DAYS=0" },
	  .argv = { BASE, "--avatar-size", "64", "--no-upload-method=hardlink",
	    "--no-upload-url-prefix", "https://up.example.org/", "--log-file=/tmp/l",
	    "--secret-key", "k", "--qr-timeout", "5", "--ignore-delay-threshold=0" },
	  .want = { "x:db-url=sqlite:////x.db", "x:no-upload-path=/srv/up",
	    "x:upload-requester=req@example.org", "x:mam-max-days=0", "x:avatar-size=64",
	    "x:no-upload-method=hardlink", "x:no-upload-url-prefix=https://up.example.org/",
	    "x:log-file=/tmp/l", "x:secret-key=k", "x:qr-timeout=5",
	    "x:ignore-delay-threshold=0", "module=" } },
	{ "validator escapes the server",
	  .argv = { BASE, "-s", "a+b.ex(am)ple[1]{2}|x^y$z?*\\" },
	  .want = { "validator=.*@a\\+b\\.ex\\(am\\)ple\\[1\\]\\{2\\}\\|x\\^y\\$z\\?\\*\\\\" } },

	/* errors */
	{ "missing jid", .argv = { "--secret", "s", "--legacy-module", "demo" },
	  .err = "missing required option --jid" },
	{ "missing secret", .argv = { "-j", "gw.example.org", "--legacy-module", "demo" },
	  .err = "missing required option --secret" },
	{ "empty secret", .argv = { "-j", "gw.example.org", "--secret=", "--legacy-module", "x" },
	  .err = "missing required option --secret" },
	{ "missing legacy module", .argv = { "-j", "gw.example.org", "--secret", "s" },
	  .err = "missing required option --legacy-module" },
	{ "jid with a local part", .argv = { "-j", "user@gw.example.org", "--secret", "s",
	    "--legacy-module", "demo" }, .err = "invalid --jid 'user@gw.example.org'" },
	{ "jid with a resource", .argv = { "-j", "gw.example.org/r", "--secret", "s",
	    "--legacy-module", "demo" }, .err = "invalid --jid" },
	{ "port 0", .argv = { BASE, "-p", "0" }, .err = "invalid value '0' for --port" },
	{ "port 65536", .argv = { BASE, "--port=65536" }, .err = "invalid value '65536' for --port" },
	{ "port not a number", .argv = { BASE, "--port", "53a" }, .err = "for --port" },
	{ "port in env", .env = { "SLIDGE_PORT=x" }, .argv = { BASE },
	  .err = "SLIDGE_PORT: invalid value 'x' for --port" },
	{ "bad file line",
	  .files = { { "conf.d/10.conf", "# ok\nport = 1\njust some words\n" } },
	  .argv = { BASE }, .err = "%D/conf.d/10.conf:3: expected 'key = value'" },
	{ "bad file value",
	  .files = { { "c.ini", "\n\nport = 99999\n" } },
	  .argv = { BASE, "-c", "%D/c.ini" }, .err = "%D/c.ini:3: invalid value '99999' for --port" },
	{ "bad section line", .files = { { "conf.d/10.conf", "[slidge\n" } },
	  .argv = { BASE }, .err = "%D/conf.d/10.conf:1: bad section header" },
	{ "empty key", .files = { { "conf.d/10.conf", " = x\n" } },
	  .argv = { BASE }, .err = "%D/conf.d/10.conf:1: expected 'key = value'" },
	{ "config key in a config file", .files = { { "conf.d/10.conf", "config = /x\n" } },
	  .argv = { BASE }, .err = "%D/conf.d/10.conf:1: 'config' cannot be set in a config file" },
	{ "bad boolean", .argv = { BASE, "--no-roster-push=maybe" },
	  .err = "invalid value 'maybe' for --no-roster-push" },
	{ "bad boolean in a file", .files = { { "conf.d/1.conf", "dev-mode = sure\n" } },
	  .argv = { BASE }, .err = "%D/conf.d/1.conf:1: invalid value 'sure' for --dev-mode" },
	{ "bad choice", .argv = { BASE, "--no-upload-method", "teleport" },
	  .err = "invalid value 'teleport' for --no-upload-method" },
	{ "bad regex", .argv = { BASE, "--user-jid-validator", "(unclosed" },
	  .err = "invalid --user-jid-validator '(unclosed'" },
	{ "bad admin", .argv = { BASE, "--admins", "a@example.org", "@" },
	  .err = "invalid JID '@' in --admins" },
	{ "missing -c file", .argv = { BASE, "-c", "%D/nope.ini" }, .err = "cannot open %D/nope.ini" },
	{ "missing SLIDGE_CONFIG file", .env = { "SLIDGE_CONFIG=%D/nope.ini" }, .argv = { BASE },
	  .err = "cannot open %D/nope.ini" },
	{ "value missing at the end", .argv = { BASE, "--home-dir" },
	  .err = "--home-dir expects a value" },
	{ "value missing before an option", .argv = { "--jid", "--secret", "s" },
	  .err = "--jid expects a value" },
	{ "unexpected argument", .argv = { BASE, "stray" }, .err = "unexpected argument 'stray'" },
	{ "unexpected argument after a flag", .argv = { BASE, "--no-roster-push", "false" },
	  .err = "unexpected argument 'false'" },
	{ "unknown letter in a cluster", .argv = { BASE, "-dz" }, .err = "unknown option -z in -dz" },
	{ "stanza limit above the frame's", .argv = { BASE, "--max-stanza-size", "300000" },
	  .err = "--max-stanza-size 300000 is above" },
	{ "stanza limit too small", .argv = { BASE, "--max-stanza-size", "100" },
	  .err = "invalid value '100' for --max-stanza-size" },
	{ "negative int", .argv = { BASE, "--boot-concurrency=-1" },
	  .err = "invalid value '-1' for --boot-concurrency" },
	{ "control socket path too long",
	  .argv = { BASE, "--home-dir", "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
	  .err = "--control-socket path too long" },
	{ "--version with a value", .argv = { "--version=1" }, .err = "--version takes no value" },
};

static char tmpdir[64];
static int failures;

/* s with every "%D" replaced by the temp dir. Caller frees. */
static char *
subst(const char *s)
{
	size_t n = strlen(s) + 1;
	char *out, *p;

	for (const char *q = s; (q = strstr(q, "%D")) != NULL; q += 2)
		n += strlen(tmpdir);
	if ((out = malloc(n)) == NULL)
		abort();
	for (p = out; *s != '\0';) {
		if (strncmp(s, "%D", 2) == 0) {
			p = stpcpy(p, tmpdir);
			s += 2;
		} else {
			*p++ = *s++;
		}
	}
	*p = '\0';
	return out;
}

static void
clear_env(void)
{
	char *names[256];
	size_t n = 0;

	/* collect first: unsetenv changes environ under our feet */
	for (char **e = environ; *e != NULL && n < 256; e++)
		if (strncmp(*e, "SLIDGE_", 7) == 0 &&
		    (names[n++] = strndup(*e, strcspn(*e, "="))) == NULL)
			abort();
	for (size_t i = 0; i < n; i++) {
		unsetenv(names[i]);
		free(names[i]);
	}
}

static void
write_file(const char *rel, const char *content)
{
	char path[256], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	for (slash = strchr(path + strlen(tmpdir) + 1, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			abort();
		*slash = '/';
	}
	if ((f = fopen(path, "w")) == NULL || fputs(content, f) == EOF || fclose(f) != 0)
		abort();
}

static void
rm_tmpdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		abort();
}

static void
join(char *out, size_t outsz, char **v, size_t n, const char *sep)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strncat(out, sep, outsz - strlen(out) - 1);
		strncat(out, v[i], outsz - strlen(out) - 1);
	}
}

/* The value of one field of cfg as text, for the table's "key=value" checks. */
static const char *
getval(const struct config *cfg, const char *key, char *buf, size_t bufsz)
{
	const struct { const char *k; const char *v; } strs[] = {
		{ "jid", cfg->jid }, { "secret", cfg->secret }, { "server", cfg->server },
		{ "home_dir", cfg->home_dir }, { "legacy_module", cfg->legacy_module },
		{ "validator", cfg->user_jid_validator }, { "upload_service", cfg->upload_service },
		{ "control_socket", cfg->control_socket }, { "worker_user", cfg->worker_user },
		{ "worker_path", cfg->worker_path },
	};
	const struct { const char *k; int v; } ints[] = {
		{ "port", cfg->port }, { "log_level", cfg->log_level },
		{ "max_stanza", cfg->max_stanza }, { "boot_concurrency", cfg->boot_concurrency },
		{ "max_crashes", cfg->max_crashes }, { "crash_window", cfg->crash_window },
		{ "ping_interval", cfg->ping_interval }, { "ping_timeout", cfg->ping_timeout },
	};
	const char *v;

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strcmp(key, strs[i].k) == 0)
			return strs[i].v != NULL ? strs[i].v : "(null)";
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		if (strcmp(key, ints[i].k) == 0) {
			snprintf(buf, bufsz, "%d", ints[i].v);
			return buf;
		}
	}
	if (strcmp(key, "admins") == 0) {
		join(buf, bufsz, cfg->admins, cfg->nadmins, ",");
		return buf;
	}
	if (strcmp(key, "module") == 0) {
		join(buf, bufsz, cfg->module_argv, cfg->module_argc, " ");
		return buf;
	}
	if (strncmp(key, "x:", 2) == 0)
		return (v = config_get_extra(cfg, key + 2)) != NULL ? v : "(null)";
	fprintf(stderr, "test bug: unknown key %s\n", key);
	abort();
}

static int
is_zero(const struct config *cfg)
{
	static const struct config zero;

	return memcmp(cfg, &zero, sizeof(zero)) == 0;
}

static void
run_case(const struct tcase *tc)
{
	char *argv[34], err[512] = "", buf[1024], *want_err = NULL;
	struct config cfg;
	int argc = 0, rc, conf_dir_set = 0;

	strcpy(tmpdir, "/tmp/config_test.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		abort();
	clear_env();
	for (size_t i = 0; i < 6 && tc->files[i][0] != NULL; i++)
		write_file(tc->files[i][0], tc->files[i][1]);
	for (size_t i = 0; i < 8 && tc->env[i] != NULL; i++) {
		char *e = subst(tc->env[i]), *eq = strchr(e, '=');

		if (eq == NULL)
			abort();
		*eq = '\0';
		setenv(e, eq + 1, 1);
		conf_dir_set |= strcmp(e, "SLIDGE_CONF_DIR") == 0;
		free(e);
	}
	if (!conf_dir_set) {
		snprintf(buf, sizeof(buf), "%s/conf.d", tmpdir);
		setenv("SLIDGE_CONF_DIR", buf, 1);
	}
	argv[argc++] = strdup("slidged");
	for (size_t i = 0; i < 32 && tc->argv[i] != NULL; i++)
		argv[argc++] = subst(tc->argv[i]);
	argv[argc] = NULL;

	rc = config_parse(argc, argv, &cfg, err, sizeof(err));
	if (tc->err != NULL) {
		want_err = subst(tc->err);
		if (rc != -1 || strstr(err, want_err) == NULL || !is_zero(&cfg)) {
			fprintf(stderr, "FAIL %s: rc %d, error \"%s\", expected \"%s\"\n", tc->name, rc,
			    err, want_err);
			failures++;
		}
	} else if (rc != 0) {
		fprintf(stderr, "FAIL %s: rc %d: %s\n", tc->name, rc, err);
		failures++;
	} else {
		for (size_t i = 0; i < 24 && tc->want[i] != NULL; i++) {
			const char *eq = strchr(tc->want[i], '=');
			char key[128];
			const char *got;

			snprintf(key, sizeof(key), "%.*s", (int)(eq - tc->want[i]), tc->want[i]);
			got = getval(&cfg, key, buf, sizeof(buf));
			if (strcmp(got, eq + 1) != 0) {
				fprintf(stderr, "FAIL %s: %s is \"%s\", expected \"%s\"\n", tc->name, key,
				    got, eq + 1);
				failures++;
			}
		}
	}
	config_free(&cfg);
	if (!is_zero(&cfg)) {
		fprintf(stderr, "FAIL %s: config_free left data\n", tc->name);
		failures++;
	}
	free(want_err);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	rm_tmpdir();
}

/* -h and --version print and exit 0 (even without the required options): run them in a
 * child and look at what it printed. */
static void
run_exit(const char *arg, const char *const *want)
{
	char *argv[] = { (char *)"slidged", (char *)arg, NULL };
	char out[16384];
	size_t len = 0;
	ssize_t n;
	int fds[2], status;
	pid_t pid;

	fflush(NULL);
	if (pipe(fds) == -1 || (pid = fork()) == -1)
		abort();
	if (pid == 0) {
		struct config cfg;
		char err[256];

		clear_env();
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		config_parse(2, argv, &cfg, err, sizeof(err));
		_exit(99);
	}
	close(fds[1]);
	while (len < sizeof(out) - 1 && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL %s: did not exit 0 (status %d)\n", arg, status);
		failures++;
	}
	for (size_t i = 0; want[i] != NULL; i++) {
		if (strstr(out, want[i]) == NULL) {
			fprintf(stderr, "FAIL %s: output lacks \"%s\"\n", arg, want[i]);
			failures++;
		}
	}
}

/* The default validator must match what slidge's re.match(".*@" + re.escape(server))
 * matches: the server name literally, metacharacters included. */
static void
test_validator_matches(void)
{
	static const struct {
		const char *server, *jid;
		int match;
	} t[] = {
		{ "127.0.0.1", "u@127.0.0.1", 1 },
		{ "127.0.0.1", "u@127a0b0c1", 0 },
		{ "a+b.example", "u@a+b.example", 1 },
		{ "a+b.example", "u@aab.example", 0 },
		{ "x(y)|z", "u@x(y)|z", 1 },
		{ "x(y)|z", "z", 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *argv[] = { (char *)"slidged", (char *)"-j", (char *)"gw.example.org",
			(char *)"--secret", (char *)"s", (char *)"--legacy-module", (char *)"d",
			(char *)"-s", (char *)t[i].server, NULL };
		struct config cfg;
		char err[256];
		regex_t re;

		clear_env();
		setenv("SLIDGE_CONF_DIR", "", 1);
		if (config_parse(9, argv, &cfg, err, sizeof(err)) == -1 ||
		    regcomp(&re, cfg.user_jid_validator, REG_EXTENDED | REG_NOSUB) != 0) {
			fprintf(stderr, "FAIL validator for %s: %s\n", t[i].server, err);
			failures++;
			config_free(&cfg);
			continue;
		}
		if ((regexec(&re, t[i].jid, 0, NULL, 0) == 0) != t[i].match) {
			fprintf(stderr, "FAIL validator %s on %s: expected %d\n",
			    cfg.user_jid_validator, t[i].jid, t[i].match);
			failures++;
		}
		regfree(&re);
		config_free(&cfg);
	}
}

int
main(void)
{
	static const char *const help[] = { "usage: slidged", "-j, --jid JID", "--secret",
		"--legacy-module", "--admins JID ...", "--no-roster-push", "--boot-concurrency",
		"--crash-window", "--ping-timeout", "(default: 5347)", "--secret-key", NULL };
	static const char *const version[] = { "slidged " SLIDGE_VERSION "\n", NULL };

	log_init("config_test", LOG_LVL_WARN);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	test_validator_matches();
	run_exit("--help", help);
	run_exit("-h", help);
	run_exit("--version", version);
	if (failures > 0) {
		fprintf(stderr, "config_test: %d failures\n", failures);
		return 1;
	}
	printf("config_test: %zu cases passed\n", sizeof(cases) / sizeof(cases[0]) + 3);
	return 0;
}
