/* log_test.c: level names, the line format on stderr, filtering, fatal/fatalx. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

static int failures, cases;

static void
check(const char *what, const char *got, const char *want)
{
	cases++;
	if (strcmp(got, want) != 0) {
		failures++;
		printf("FAIL %s:\n  got:  \"%s\"\n  want: \"%s\"\n", what, got, want);
	}
}

static const struct {
	const char *name;
	int level;
} levels[] = {
	{ "debug", LOG_LVL_DEBUG }, { "DEBUG", LOG_LVL_DEBUG }, { "info", LOG_LVL_INFO },
	{ "Info", LOG_LVL_INFO }, { "warning", LOG_LVL_WARN }, { "warn", LOG_LVL_WARN },
	{ "WARNING", LOG_LVL_WARN }, { "error", LOG_LVL_ERROR }, { "ERROR", LOG_LVL_ERROR },
	{ "", -1 }, { "err", -1 }, { "critical", -1 }, { "debug ", -1 }, { "infos", -1 },
	{ NULL, -1 },
};

static void
test_levels(void)
{
	size_t i;
	char got[32], want[32];

	for (i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		snprintf(got, sizeof got, "%d", log_level_parse(levels[i].name));
		snprintf(want, sizeof want, "%d", levels[i].level);
		check(levels[i].name ? levels[i].name : "(null)", got, want);
	}
	check("name debug", log_level_name(LOG_LVL_DEBUG), "debug");
	check("name info", log_level_name(LOG_LVL_INFO), "info");
	check("name warn", log_level_name(LOG_LVL_WARN), "warning");
	check("name error", log_level_name(LOG_LVL_ERROR), "error");
	check("name unknown", log_level_name((enum log_level)42), "unknown");
	/* Every name parses back to its level. */
	for (i = LOG_LVL_DEBUG; i <= LOG_LVL_ERROR; i++) {
		snprintf(got, sizeof got, "%d", log_level_parse(log_level_name((enum log_level)i)));
		snprintf(want, sizeof want, "%zu", i);
		check("name round trip", got, want);
	}
}

/* Run fn with stderr on a pipe; returns what it wrote (static) and its exit status
 * (-1 if it returned normally). */
static const char *
capture(void (*fn)(void), int *status)
{
	static char out[16384];
	int p[2];
	pid_t pid;
	size_t n = 0;
	ssize_t r;

	if (pipe(p) < 0)
		return "pipe failed";
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return "fork failed";
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		fn();
		_exit(99);
	}
	close(p[1]);
	while (n < sizeof out - 1 && (r = read(p[0], out + n, sizeof out - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(p[0]);
	waitpid(pid, status, 0);
	*status = WIFEXITED(*status) ? WEXITSTATUS(*status) : -2;
	if (*status == 99)
		*status = -1;
	return out;
}

static void
emit_basic(void)
{
	log_init("slidged", LOG_LVL_INFO);
	log_debug("hidden %d", 1);
	log_info("session started");
	log_set_prefix("romeo@localhost");
	log_info("session %s", "started");
	log_warn("warned");
	log_set_prefix(NULL);
	log_error("error %d", 42);
	log_set_level(LOG_LVL_DEBUG);
	log_debug("shown");
	log_set_level(LOG_LVL_ERROR);
	log_warn("hidden");
	log_info("hidden");
	log_error("only errors");
}

static void
emit_hostile(void)
{
	log_init("w", LOG_LVL_DEBUG);
	log_info("forged\nINFO slidged: line\x1b[2J\ttab");
}

static void
emit_long(void)
{
	char big[10000];

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_init("w", LOG_LVL_DEBUG);
	log_info("%s", big);
	log_info("after");
}

static void
emit_fatal(void)
{
	log_init("slidged", LOG_LVL_INFO);
	errno = ENOENT;
	fatal("cannot open %s", "/x");
}

static void
emit_fatalx(void)
{
	log_init("slidged", LOG_LVL_ERROR);
	fatalx("bad option %s", "--x");
}

static void
test_output(void)
{
	const char *out;
	int status;
	char *nl;
	char st[16];

	out = capture(emit_basic, &status);
	check("basic lines", out,
	    "INFO slidged: session started\n"
	    "INFO slidged: [romeo@localhost] session started\n"
	    "WARNING slidged: [romeo@localhost] warned\n"
	    "ERROR slidged: error 42\n"
	    "DEBUG slidged: shown\n"
	    "ERROR slidged: only errors\n");
	out = capture(emit_hostile, &status);
	check("control characters", out, "INFO w: forged?INFO slidged: line?[2J?tab\n");

	out = capture(emit_long, &status);
	nl = strchr(out, '\n');
	cases++;
	if (!nl || nl - out != 4094 || strncmp(nl - 3, "...", 3) != 0 ||
	    strcmp(nl + 1, "INFO w: after\n") != 0) {
		failures++;
		printf("FAIL long line: first line %zd bytes\n", nl ? nl - out : -1);
	}

	out = capture(emit_fatal, &status);
	check("fatal", out, "ERROR slidged: cannot open /x: No such file or directory\n");
	snprintf(st, sizeof st, "%d", status);
	check("fatal status", st, "1");
	out = capture(emit_fatalx, &status);
	check("fatalx", out, "ERROR slidged: bad option --x\n");
	snprintf(st, sizeof st, "%d", status);
	check("fatalx status", st, "1");
}

int
main(void)
{
	test_levels();
	test_output();
	printf("log: %d/%d cases passed\n", cases - failures, cases);
	return failures ? 1 : 0;
}
