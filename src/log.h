/*
 * log.h - logging in the style of OpenBSD daemons: log_warn appends
 * strerror(errno), log_warnx does not; fatal/fatalx log and exit(1).
 * Lines go to stderr (systemd/journald or the fleet's log files collect
 * them), one write per line, so the ZooKeeper threads may log too.
 */
#ifndef BREAKERD_LOG_H
#define BREAKERD_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *progname, enum log_level level);
void log_setlevel(enum log_level level);
enum log_level log_getlevel(void);
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void vlog_at(enum log_level, const char *, va_list)
    __attribute__((format(printf, 2, 0)));
void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
