/* log.h: logging to stderr for every slidge-c process.
 *
 * Lines are "LEVEL ident: [prefix] message". Never log credentials, tokens or message
 * bodies: lengths only, even at debug. */
#ifndef SLIDGE_LOG_H
#define SLIDGE_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Set the process name shown in every line and the lowest level printed. */
void log_init(const char *ident, enum log_level level);
/* Change the lowest level printed. */
void log_set_level(enum log_level level);
/* The lowest level printed. */
enum log_level log_get_level(void);
/* Parse "debug", "info", "warning"/"warn", "error" (any case); -1 if unknown. */
int log_level_parse(const char *name);
/* Name of a level, lower-case. */
const char *log_level_name(enum log_level level);
/* Set a prefix for every line (e.g. the user's bare JID in a worker); NULL clears it.
 * The string is copied. */
void log_set_prefix(const char *prefix);

/* One line at that level, if not filtered out; control characters in the message are
 * written as '?', and a line longer than 4 KiB is cut (it then ends with "..."). */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vlog(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Log at error level with strerror(errno) appended and exit(1). Setup paths only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Log at error level and exit(1). Setup paths only. */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
