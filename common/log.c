/* log.c: "LEVEL ident: [prefix] message" lines on stderr, one write(2) per line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

/* Longest line written; longer messages are cut and end with "...". */
#define LOG_LINE_MAX 4096
#define LOG_IDENT_MAX 64
#define LOG_PREFIX_MAX 1024

static struct {
	char ident[LOG_IDENT_MAX];
	char prefix[LOG_PREFIX_MAX];
	enum log_level level;
} L = { "slidge", "", LOG_LVL_INFO };

static const char *const level_names[] = { "debug", "info", "warning", "error" };
static const char *const level_tags[] = { "DEBUG", "INFO", "WARNING", "ERROR" };

void
log_init(const char *ident, enum log_level level)
{
	snprintf(L.ident, sizeof L.ident, "%s", ident ? ident : "slidge");
	log_set_level(level);
}

void
log_set_level(enum log_level level)
{
	if (level >= LOG_LVL_DEBUG && level <= LOG_LVL_ERROR)
		L.level = level;
}

enum log_level
log_get_level(void)
{
	return L.level;
}

int
log_level_parse(const char *name)
{
	if (!name)
		return -1;
	if (strcasecmp(name, "debug") == 0)
		return LOG_LVL_DEBUG;
	if (strcasecmp(name, "info") == 0)
		return LOG_LVL_INFO;
	if (strcasecmp(name, "warning") == 0 || strcasecmp(name, "warn") == 0)
		return LOG_LVL_WARN;
	if (strcasecmp(name, "error") == 0)
		return LOG_LVL_ERROR;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	if (level >= LOG_LVL_DEBUG && level <= LOG_LVL_ERROR)
		return level_names[level];
	return "unknown";
}

void
log_set_prefix(const char *prefix)
{
	snprintf(L.prefix, sizeof L.prefix, "%s", prefix ? prefix : "");
}

/* Write the whole line, retrying on EINTR and short writes; logging never fails louder
 * than this, there is nowhere else to report it. */
static void
log_write(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Format one line; errstr (may be NULL) is appended after ": ". */
static void __attribute__((format(printf, 3, 0)))
log_line(enum log_level level, const char *errstr, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t len, i;
	int n;

	if (level < LOG_LVL_DEBUG || level > LOG_LVL_ERROR)
		level = LOG_LVL_ERROR;
	n = snprintf(line, sizeof line, "%s %s: ", level_tags[level], L.ident);
	len = n < 0 ? 0 : (size_t)n;
	if (L.prefix[0] && len < sizeof line) {
		n = snprintf(line + len, sizeof line - len, "[%s] ", L.prefix);
		len += n < 0 ? 0 : (size_t)n;
	}
	if (len < sizeof line) {
		n = vsnprintf(line + len, sizeof line - len, fmt, ap);
		len += n < 0 ? 0 : (size_t)n;
	}
	if (errstr && len < sizeof line) {
		n = snprintf(line + len, sizeof line - len, ": %s", errstr);
		len += n < 0 ? 0 : (size_t)n;
	}
	/* Keep room for the newline; a cut line says so. */
	if (len > sizeof line - 2) {
		len = sizeof line - 2;
		memcpy(line + len - 3, "...", 3);
	}
	/* Messages carry peer-controlled strings (JIDs, stanza names): a control character
	 * could forge a log line or drive a terminal, so each becomes '?'. */
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[len++] = '\n';
	log_write(line, len);
}

void
log_vlog(enum log_level level, const char *fmt, va_list ap)
{
	if (level < L.level)
		return;
	log_line(level, NULL, fmt, ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_DEBUG, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_INFO, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_WARN, fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	/* Saved first: formatting may change errno. */
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_LVL_ERROR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_LVL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
