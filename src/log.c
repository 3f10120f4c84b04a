/*
 * log.c - leveled logging to stderr.  Each line is formatted into one
 * buffer and written with a single write(2) so that lines from the
 * ZooKeeper client threads never interleave with the loop thread's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_progname = "breakerd";
static volatile enum log_level log_level = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* Set the program name and the most verbose level that is printed. */
void
log_init(const char *progname, enum log_level level)
{
	if (progname != NULL)
		log_progname = progname;
	log_level = level;
}

void
log_setlevel(enum log_level level)
{
	log_level = level;
}

enum log_level
log_getlevel(void)
{
	return log_level;
}

int
log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
		return level_names[level];
	return "?";
}

static void log_emit(enum log_level, const char *, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

/* Format one line with a timestamp and level, and write it at once. */
static void
log_emit(enum log_level level, const char *errstr, const char *fmt, va_list ap)
{
	char buf[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(buf + n, sizeof(buf) - n,
	    ".%03ldZ %s[%ld] %s: ", ts.tv_nsec / 1000000, log_progname,
	    (long)getpid(), level_names[level]);
	if (r > 0)
		n += (size_t)r < sizeof(buf) - n ? (size_t)r
		                                 : sizeof(buf) - n - 1;
	r = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(buf) - n ? (size_t)r
		                                 : sizeof(buf) - n - 1;
	if (errstr != NULL && n < sizeof(buf) - 1) {
		r = snprintf(buf + n, sizeof(buf) - n, ": %s", errstr);
		if (r > 0)
			n += (size_t)r < sizeof(buf) - n ? (size_t)r
			                                 : sizeof(buf) - n - 1;
	}
	if (n >= sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* Nothing useful can be done if stderr is gone. */
	if (write(STDERR_FILENO, buf, n) < 0)
		return;
}

void
vlog_at(enum log_level level, const char *fmt, va_list ap)
{
	log_emit(level, NULL, fmt, ap);
}

/* Warning with strerror(errno) appended. */
void
log_warn(const char *fmt, ...)
{
	char ebuf[128];
	const char *es;
	int saved = errno;
	va_list ap;

	es = strerror_r(saved, ebuf, sizeof(ebuf));
	va_start(ap, fmt);
	log_emit(LOG_LVL_WARN, es, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_WARN, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_INFO, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

/* Log an error with strerror(errno) and exit. */
void
fatal(const char *fmt, ...)
{
	char ebuf[128];
	const char *es = strerror_r(errno, ebuf, sizeof(ebuf));
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_ERROR, es, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log an error and exit. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
