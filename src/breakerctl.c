/*
 * breakerctl.c - the command-line client of breakerd, for operators and
 * shell scripts.  It speaks to the local daemon through libbreakerd_client
 * and prints a table for people (state coloured on a terminal unless
 * NO_COLOR is set) or, with --json, one JSON document per line for scripts.
 *
 * The exit status is part of the interface, so that scripts can write
 * `if breakerctl allow payments; then ...`: 0 ok / allowed / a state that
 * lets calls through, 1 denied / a state that stops calls, 2 usage error,
 * 3 daemon unreachable or timed out, 4 error reply from the daemon.
 */
#include <sys/types.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "breakerd_client.h"
#include "util.h"

#ifndef BREAKERD_VERSION
#define BREAKERD_VERSION "unknown"
#endif

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_DENY = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACH = 3,
	CTL_EXIT_ERR = 4
};

struct ctl {
	const char *socket;
	int json;
	int color;
	int timeout_ms;
	const char *ttl;
	const char *reason;
	const char *count; /* history -n */
	int argc;          /* positional arguments, the command first */
	char **argv;
	struct bd_client *c;
};

/* The lines of a multi-line reply. */
struct ctl_lines {
	char **v;
	size_t n;
};

struct ctl_cmd {
	const char *name;
	int min_args; /* after the command word */
	int max_args; /* -1: any number */
	int (*fn)(struct ctl *);
};

static const char ctl_usage_text[] =
    "usage: breakerctl [-s SOCKET] [--json] [--timeout MS] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  status                        the daemon's status\n"
    "  list                          every dependency and its state\n"
    "  get DEP                       one dependency's state\n"
    "  allow DEP                     may a call to DEP go ahead?\n"
    "  report DEP ok|fail|slow [MS]  report how a call went\n"
    "  watch [DEP...]                stream state changes until interrupted\n"
    "  force DEP open|closed|auto [--ttl S] [--reason TEXT]   (admin)\n"
    "  publish DEP STATE [--reason TEXT]                      (admin)\n"
    "  metrics                       Prometheus metrics\n"
    "  reload                        re-read the daemon's configuration\n"
    "                                (admin): what changed live, what\n"
    "                                needs a restart; a bad file changes\n"
    "                                nothing (exit 4, file:line:col)\n"
    "  fleet [DEP]                   every live instance: the version it\n"
    "                                applied per dependency (* leader),\n"
    "                                its authority, its acknowledgement's\n"
    "                                age; laggards marked LAG\n"
    "  history DEP [-n N]            the last N (20) transitions of DEP:\n"
    "                                from, to, why, who, term, version,\n"
    "                                leader (oldest first)\n"
    "  ping                          is the daemon answering?\n"
    "  ready                         is every dependency synced? (STATUS "
    "ready=1)\n"
    "\n"
    "options:\n"
    "  -s, --socket PATH   daemon socket (default $BREAKERD_SOCKET or\n"
    "                      " BD_DEFAULT_SOCKET ")\n"
    "  --json              one JSON document per line, for scripts\n"
    "  --timeout MS        per-request timeout (default 1000)\n"
    "  -h, --help          this help\n"
    "  -V, --version       print the version\n"
    "\n"
    "exit status:\n"
    "  0  success; allowed; the state lets calls through\n"
    "  1  denied; the state stops calls (OPEN, HALF_OPEN, FORCED_OPEN)\n"
    "  2  usage error\n"
    "  3  daemon unreachable or timed out\n"
    "  4  error reply from the daemon (message on stderr)\n";

/* Print a usage error to stderr and give the usage exit status. */
static int ctl_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static int
ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "breakerctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'breakerctl --help'.\n");
	return CTL_EXIT_USAGE;
}

/* Does this state stop calls?  That is what `get` exits 1 for. */
static int
ctl_state_denies(const char *state)
{
	return strcmp(state, "OPEN") == 0 || strcmp(state, "HALF_OPEN") == 0
	    || strcmp(state, "FORCED_OPEN") == 0;
}

/* ANSI colour for a state: red stops calls, green lets them through. */
static const char *
ctl_state_color(const char *state)
{
	if (strcmp(state, "CLOSED") == 0)
		return "\033[32m";
	if (strcmp(state, "HALF_OPEN") == 0)
		return "\033[33m";
	if (ctl_state_denies(state))
		return "\033[31m";
	return "\033[36m";
}

/* Print a state padded to width, coloured on a terminal. */
static void
ctl_print_state(const struct ctl *ctl, const char *state, int width)
{
	if (ctl->color)
		printf("%s%-*s\033[0m", ctl_state_color(state), width, state);
	else
		printf("%-*s", width, state);
}

/* A JSON string; bytes that are not valid UTF-8 become '?'. */
static json_t *
ctl_jstr(const char *s)
{
	json_t *j;
	char *copy;
	size_t i;

	if ((j = json_string(s)) != NULL)
		return j;
	copy = xstrdup(s);
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* Print one JSON document on its own line and free it. */
static void
ctl_json_print(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

	if (s != NULL) {
		printf("%s\n", s);
		free(s);
	}
	json_decref(j);
	fflush(stdout);
}

/* A view as a JSON object. */
static json_t *
ctl_view_json(const struct bd_view *v)
{
	json_t *o = json_object();

	json_object_set_new(o, "dep", ctl_jstr(v->dep));
	json_object_set_new(o, "state", ctl_jstr(v->state));
	json_object_set_new(o, "version", json_integer((json_int_t)v->version));
	json_object_set_new(o, "authority", ctl_jstr(v->authority));
	return o;
}

/* The table header for views. */
static void
ctl_view_header(const struct ctl *ctl)
{
	if (!ctl->json)
		printf("%-24s %-12s %10s  %s\n", "DEPENDENCY", "STATE",
		    "VERSION", "AUTHORITY");
}

/* One view as a table row or a JSON line. */
static void
ctl_view_print(const struct ctl *ctl, const struct bd_view *v)
{
	if (ctl->json) {
		ctl_json_print(ctl_view_json(v));
		return;
	}
	printf("%-24s ", v->dep);
	ctl_print_state(ctl, v->state, 12);
	printf(" %10llu  %s\n", (unsigned long long)v->version, v->authority);
}

/*
 * Turn a library error into the exit status, with a message on stderr.
 * reply holds the daemon's ERR line, if there was one.
 */
static int
ctl_fail(const struct ctl *ctl, int rc, const char *reply)
{
	const char *path = ctl->socket;

	if (rc == BD_EUNREACH || rc == BD_ETIMEOUT) {
		fprintf(stderr, "breakerctl: %s: %s\n", path, bd_strerror(rc));
		return CTL_EXIT_UNREACH;
	}
	if (rc == BD_EINVAL)
		return ctl_usage_error("invalid request: %s", bd_strerror(rc));
	if (reply != NULL && strncmp(reply, "ERR ", 4) == 0)
		fprintf(stderr, "breakerctl: %s\n", reply + 4);
	else
		fprintf(stderr, "breakerctl: %s\n", bd_strerror(rc));
	return CTL_EXIT_ERR;
}

/* One single-line request; 0 with the OK reply, else the exit status. */
static int
ctl_request(struct ctl *ctl, const char *line, char *reply, size_t len)
{
	int rc;

	reply[0] = '\0';
	if ((rc = bd_command(ctl->c, line, reply, len)) != 0)
		return ctl_fail(ctl, rc, reply);
	return 0;
}

/* bd_query callback: keep every line. */
static void
ctl_lines_add(const char *line, void *arg)
{
	struct ctl_lines *l = arg;

	l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
	l->v[l->n++] = xstrdup(line);
}

/* Free collected lines. */
static void
ctl_lines_free(struct ctl_lines *l)
{
	strv_free(l->v, l->n);
	l->v = NULL;
	l->n = 0;
}

/*
 * The end of a multi-line command: the JSON built from its lines printed
 * (--json) or dropped, and the lines freed.
 */
static int
ctl_lines_done(const struct ctl *ctl, json_t *j, struct ctl_lines *l)
{
	if (ctl->json)
		ctl_json_print(j);
	else
		json_decref(j);
	ctl_lines_free(l);
	return CTL_EXIT_OK;
}

/* A multi-line request; 0 with the lines, else the exit status. */
static int
ctl_query(struct ctl *ctl, const char *line, struct ctl_lines *l)
{
	int rc;

	if ((rc = bd_query(ctl->c, line, ctl_lines_add, l)) != 0) {
		rc = ctl_fail(ctl, rc, l->n > 0 ? l->v[0] : NULL);
		ctl_lines_free(l);
	}
	return rc;
}

/* A one-word argument (what it is for the message), checked for the wire. */
static int
ctl_check_word(const char *what, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > BD_DEP_MAX || strpbrk(s, " \t\r\n") != NULL) {
		ctl_usage_error("invalid %s '%s'", what, s);
		return -1;
	}
	return 0;
}

/* A dependency name argument. */
static int
ctl_check_dep(const char *dep)
{
	return ctl_check_word("dependency name", dep);
}

/* Build a request line; a usage error if it would be too long. */
static int ctl_vline(char *buf, size_t len, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static int
ctl_vline(char *buf, size_t len, const char *fmt, va_list ap)
{
	int n = vsnprintf(buf, len, fmt, ap);

	if (n < 0 || (size_t)n >= len)
		return ctl_usage_error("%s", "request too long");
	return 0;
}

static int ctl_line(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
ctl_line(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = ctl_vline(buf, len, fmt, ap);
	va_end(ap);
	return rc;
}

/* A single-line request built from fmt; 0 with the OK reply, else the exit
 * status (a usage error if the line would be too long). */
static int ctl_send(struct ctl *ctl, char *reply, size_t len, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
static int
ctl_send(struct ctl *ctl, char *reply, size_t len, const char *fmt, ...)
{
	char line[BD_LINE_MAX];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = ctl_vline(line, sizeof line, fmt, ap);
	va_end(ap);
	return rc != 0 ? rc : ctl_request(ctl, line, reply, len);
}

/* ping: OK PONG. */
static int
ctl_cmd_ping(struct ctl *ctl)
{
	char reply[BD_LINE_MAX];
	json_t *o;
	int rc;

	if ((rc = ctl_request(ctl, "PING", reply, sizeof reply)) != 0)
		return rc;
	if (ctl->json) {
		o = json_object();
		json_object_set_new(o, "ok", json_true());
		json_object_set_new(o, "reply", ctl_jstr(reply + 3));
		ctl_json_print(o);
	} else
		printf("%s\n", reply + 3);
	return CTL_EXIT_OK;
}

/* The " ttl_left_ms=N" word of a GET reply: N, or -1 if absent. */
static long long
ctl_ttl_left(const char *reply)
{
	const char *p = strstr(reply, " ttl_left_ms=");
	char *end;
	long long n;

	if (p == NULL)
		return -1;
	n = strtoll(p + 13, &end, 10);
	return end == p + 13 || n < 0 ? -1 : n;
}

/* get's output: the view, and the time left of an override's ttl. */
static void
ctl_get_print(const struct ctl *ctl, const struct bd_view *v, long long left)
{
	json_t *o;

	if (ctl->json) {
		o = ctl_view_json(v);
		if (left >= 0)
			json_object_set_new(
			    o, "ttl_left_ms", json_integer(left));
		ctl_json_print(o);
		return;
	}
	ctl_view_header(ctl);
	ctl_view_print(ctl, v);
	if (left >= 0)
		printf("override ends in %lld.%03llds (as this daemon measures "
		       "it)\n",
		    left / 1000, left % 1000);
}

/* get DEP: exits 1 when the state stops calls. */
static int
ctl_cmd_get(struct ctl *ctl)
{
	char reply[BD_LINE_MAX];
	struct bd_view v;
	int rc;

	if (ctl_check_dep(ctl->argv[1]) == -1)
		return CTL_EXIT_USAGE;
	if ((rc = ctl_send(ctl, reply, sizeof reply, "GET %s", ctl->argv[1]))
	    != 0)
		return rc;
	if (bd_parse_view(reply, &v) != 0)
		return ctl_fail(ctl, BD_EBADREPLY, NULL);
	ctl_get_print(ctl, &v, ctl_ttl_left(reply));
	return ctl_state_denies(v.state) ? CTL_EXIT_DENY : CTL_EXIT_OK;
}

/* ready: exit 0 if STATUS says ready=1 (every dependency synced), else 1. */
static int
ctl_cmd_ready(struct ctl *ctl)
{
	struct ctl_lines l = {NULL, 0};
	int ready = 0;
	json_t *o;
	size_t i;
	int rc;

	if ((rc = ctl_query(ctl, "STATUS", &l)) != 0)
		return rc;
	for (i = 1; i < l.n; i++)
		if (strcmp(l.v[i], "ready=1") == 0)
			ready = 1;
	ctl_lines_free(&l);
	if (ctl->json) {
		o = json_object();
		json_object_set_new(o, "ready", json_boolean(ready));
		ctl_json_print(o);
	} else
		printf("%s\n", ready ? "ready" : "not ready");
	return ready ? CTL_EXIT_OK : CTL_EXIT_DENY;
}

/* allow DEP: "OK ALLOW" exits 0, "OK DENY <STATE>" exits 1. */
static int
ctl_cmd_allow(struct ctl *ctl)
{
	char reply[BD_LINE_MAX];
	const char *state;
	json_t *o;
	int rc, allowed;

	if (ctl_check_dep(ctl->argv[1]) == -1)
		return CTL_EXIT_USAGE;
	if ((rc = ctl_send(ctl, reply, sizeof reply, "ALLOW %s", ctl->argv[1]))
	    != 0)
		return rc;
	allowed = strcmp(reply, "OK ALLOW") == 0;
	if (!allowed && strncmp(reply, "OK DENY", 7) != 0)
		return ctl_fail(ctl, BD_EBADREPLY, NULL);
	state = allowed ? "" : reply + 7 + (reply[7] == ' ');
	if (ctl->json) {
		o = json_object();
		json_object_set_new(o, "dep", ctl_jstr(ctl->argv[1]));
		json_object_set_new(o, "allow", json_boolean(allowed));
		if (!allowed)
			json_object_set_new(o, "state", ctl_jstr(state));
		ctl_json_print(o);
	} else if (allowed)
		printf("ALLOW\n");
	else {
		printf("DENY ");
		ctl_print_state(ctl, state, 0);
		printf("\n");
	}
	return allowed ? CTL_EXIT_OK : CTL_EXIT_DENY;
}

/* Is s all digits (and not empty)? */
static int
ctl_digits(const char *s)
{
	return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* report DEP ok|fail|slow [MS] */
static int
ctl_cmd_report(struct ctl *ctl)
{
	char reply[BD_LINE_MAX];
	const char *outcome = ctl->argv[2],
	           *ms = ctl->argc > 3 ? ctl->argv[3] : "";
	int rc;

	if (ctl_check_dep(ctl->argv[1]) == -1)
		return CTL_EXIT_USAGE;
	if (strcmp(outcome, "ok") != 0 && strcmp(outcome, "fail") != 0
	    && strcmp(outcome, "slow") != 0)
		return ctl_usage_error(
		    "outcome must be ok, fail or slow: '%s'", outcome);
	if (*ms != '\0' && !ctl_digits(ms))
		return ctl_usage_error(
		    "duration must be milliseconds: '%s'", ms);
	if ((rc = ctl_send(ctl, reply, sizeof reply, "REPORT %s %s%s%s",
	         ctl->argv[1], outcome, *ms != '\0' ? " " : "", ms))
	    != 0)
		return rc;
	if (ctl->json)
		ctl_json_print(json_pack("{s:b}", "ok", 1));
	return CTL_EXIT_OK;
}

/* The reply of FORCE and PUBLISH: "OK <version>" (or a whole view). */
static int
ctl_print_change(struct ctl *ctl, const char *reply)
{
	struct bd_view v;
	uint64_t version;
	json_t *o;

	if (bd_parse_view(reply, &v) == 0) {
		ctl_view_header(ctl);
		ctl_view_print(ctl, &v);
		return CTL_EXIT_OK;
	}
	if (parse_u64(reply + 3, 0, UINT64_MAX, &version) == -1)
		return ctl_fail(ctl, BD_EBADREPLY, NULL);
	if (ctl->json) {
		o = json_object();
		json_object_set_new(o, "dep", ctl_jstr(ctl->argv[1]));
		json_object_set_new(
		    o, "version", json_integer((json_int_t)version));
		ctl_json_print(o);
	} else
		printf("%s: version %llu\n", ctl->argv[1],
		    (unsigned long long)version);
	return CTL_EXIT_OK;
}

/* A --reason must stay on one line. */
static int
ctl_check_reason(const char *reason)
{
	if (reason != NULL && strpbrk(reason, "\r\n") != NULL) {
		ctl_usage_error("%s", "the reason must be one line");
		return -1;
	}
	return 0;
}

/*
 * force DEP open|closed|auto [--ttl S] [--reason TEXT].  A reason without a
 * TTL is sent after a TTL of 0 (no expiry), so that a reason starting with
 * a digit cannot be taken for the TTL.
 */
static int
ctl_cmd_force(struct ctl *ctl)
{
	char reply[BD_LINE_MAX];
	const char *mode = ctl->argv[2], *ttl = ctl->ttl;
	int rc;

	if (ctl_check_dep(ctl->argv[1]) == -1 || ctl_check_reason(ctl->reason))
		return CTL_EXIT_USAGE;
	if (strcmp(mode, "open") != 0 && strcmp(mode, "closed") != 0
	    && strcmp(mode, "auto") != 0)
		return ctl_usage_error(
		    "mode must be open, closed or auto: '%s'", mode);
	if (ttl != NULL && !ctl_digits(ttl))
		return ctl_usage_error("--ttl must be seconds: '%s'", ttl);
	if (ttl == NULL && ctl->reason != NULL)
		ttl = "0";
	if ((rc = ctl_send(ctl, reply, sizeof reply, "FORCE %s %s%s%s%s%s",
	         ctl->argv[1], mode, ttl ? " " : "", ttl ? ttl : "",
	         ctl->reason ? " " : "", ctl->reason ? ctl->reason : ""))
	    != 0)
		return rc;
	return ctl_print_change(ctl, reply);
}

/* publish DEP STATE [--reason TEXT] */
static int
ctl_cmd_publish(struct ctl *ctl)
{
	char reply[BD_LINE_MAX];
	int rc;

	if (ctl_check_dep(ctl->argv[1]) == -1 || ctl_check_reason(ctl->reason))
		return CTL_EXIT_USAGE;
	if (ctl_check_word("state", ctl->argv[2]) == -1)
		return CTL_EXIT_USAGE;
	if ((rc = ctl_send(ctl, reply, sizeof reply, "PUBLISH %s %s%s%s",
	         ctl->argv[1], ctl->argv[2], ctl->reason ? " " : "",
	         ctl->reason ? ctl->reason : ""))
	    != 0)
		return rc;
	return ctl_print_change(ctl, reply);
}

/* list: the "OK <n>" line, then "<dep> <STATE> <version> <authority>". */
static int
ctl_cmd_list(struct ctl *ctl)
{
	struct ctl_lines l = {NULL, 0};
	char buf[BD_LINE_MAX];
	struct bd_view v;
	json_t *a;
	size_t i;
	int rc;

	if ((rc = ctl_query(ctl, "LIST", &l)) != 0)
		return rc;
	a = json_array();
	ctl_view_header(ctl);
	for (i = 1; i < l.n; i++) {
		snprintf(buf, sizeof buf, "OK %s", l.v[i]);
		if (bd_parse_view(buf, &v) != 0)
			continue;
		if (ctl->json)
			json_array_append_new(a, ctl_view_json(&v));
		else
			ctl_view_print(ctl, &v);
	}
	return ctl_lines_done(ctl, a, &l);
}

/* status: "OK", key=value lines. */
static int
ctl_cmd_status(struct ctl *ctl)
{
	struct ctl_lines l = {NULL, 0};
	json_t *o = json_object();
	char *eq;
	size_t i;
	int rc;

	if ((rc = ctl_query(ctl, "STATUS", &l)) != 0) {
		json_decref(o);
		return rc;
	}
	for (i = 1; i < l.n; i++) {
		if ((eq = strchr(l.v[i], '=')) == NULL)
			continue;
		*eq++ = '\0';
		if (ctl->json)
			json_object_set_new(o, l.v[i], ctl_jstr(eq));
		else
			printf("%-28s %s\n", l.v[i], eq);
	}
	return ctl_lines_done(ctl, o, &l);
}

/* One Prometheus sample "name{labels} value" into a JSON object. */
static void
ctl_metric_json(json_t *o, char *line)
{
	char *sp, *end;
	double d;

	if (line[0] == '#' || (sp = strrchr(line, ' ')) == NULL)
		return;
	*sp++ = '\0';
	d = strtod(sp, &end);
	if (*end != '\0' || end == sp)
		json_object_set_new(o, line, ctl_jstr(sp));
	else if (d < 9007199254740992.0 && d > -9007199254740992.0
	    && d == (double)(json_int_t)d)
		json_object_set_new(o, line, json_integer((json_int_t)d));
	else if (isfinite(d))
		json_object_set_new(o, line, json_real(d));
	else
		json_object_set_new(o, line, ctl_jstr(sp));
}

/* metrics: the Prometheus text (after an "OK" line, if the daemon sends one). */
static int
ctl_cmd_metrics(struct ctl *ctl)
{
	struct ctl_lines l = {NULL, 0};
	json_t *o;
	size_t i;
	int rc;

	if ((rc = ctl_query(ctl, "METRICS", &l)) != 0)
		return rc;
	i = l.n > 0 && strcmp(l.v[0], "OK") == 0 ? 1 : 0;
	o = json_object();
	for (; i < l.n; i++) {
		if (ctl->json)
			ctl_metric_json(o, l.v[i]);
		else
			printf("%s\n", l.v[i]);
	}
	return ctl_lines_done(ctl, o, &l);
}

/* The wall-clock time of day, for watch lines. */
static void
ctl_print_time(void)
{
	struct timespec ts;
	struct tm tm;
	char buf[16];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof buf, "%H:%M:%S", &tm);
	printf("%s.%03ld ", buf, ts.tv_nsec / 1000000);
}

/* Watch callback (on the watch thread): print one event. */
static void
ctl_watch_cb(const struct bd_view *v, void *arg)
{
	struct ctl *ctl = arg;

	if (v->dep[0] == '\0') {
		if (ctl->json)
			ctl_json_print(
			    json_pack("{s:s}", "event", "disconnected"));
		fprintf(stderr,
		    "breakerctl: lost breakerd at %s; reconnecting\n",
		    ctl->socket);
		return;
	}
	if (ctl->json) {
		ctl_view_print(ctl, v);
		return;
	}
	ctl_print_time();
	ctl_view_print(ctl, v);
	fflush(stdout);
}

/*
 * Check that the daemon answers and knows every named dependency, so that
 * a typo exits 4 at once instead of watching nothing forever.
 */
static int
ctl_watch_precheck(struct ctl *ctl)
{
	char reply[BD_LINE_MAX];
	int i, rc;

	if ((rc = ctl_request(ctl, "PING", reply, sizeof reply)) != 0)
		return rc;
	for (i = 1; i < ctl->argc; i++) {
		if (ctl_check_dep(ctl->argv[i]) == -1)
			return CTL_EXIT_USAGE;
		if ((rc = ctl_send(
		         ctl, reply, sizeof reply, "GET %s", ctl->argv[i]))
		    != 0)
			return rc;
	}
	return 0;
}

/* watch [DEP...]: stream events until SIGINT or SIGTERM. */
static int
ctl_cmd_watch(struct ctl *ctl)
{
	struct bd_options o;
	struct bd_watch *w;
	sigset_t set;
	int rc, sig;

	if ((rc = ctl_watch_precheck(ctl)) != 0)
		return rc;
	/* Block the signals before the thread starts so only sigwait sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	bd_options_init(&o);
	o.socket_path = ctl->socket;
	o.timeout_ms = ctl->timeout_ms;
	w = bd_watch_start(&o, (const char *const *)ctl->argv + 1,
	    (size_t)ctl->argc - 1, ctl_watch_cb, ctl);
	if (w == NULL) {
		fprintf(stderr, "breakerctl: cannot start the watch\n");
		return CTL_EXIT_ERR;
	}
	sigwait(&set, &sig);
	bd_watch_stop(w);
	return CTL_EXIT_OK;
}

/* A string member of a history entry ("" if absent or not a string). */
static const char *
ctl_hstr(json_t *e, const char *key)
{
	const char *s = json_string_value(json_object_get(e, key));

	return s != NULL ? s : "";
}

/* One history entry as a table row; times in UTC. */
static void
ctl_history_row(const struct ctl *ctl, json_t *e)
{
	json_int_t at = json_integer_value(json_object_get(e, "at_ms"));
	time_t t = (time_t)(at / 1000);
	char when[32] = "-";
	struct tm tm;

	if (at > 0 && gmtime_r(&t, &tm) != NULL)
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	printf("%-6lld %-19s %-11s -> ",
	    (long long)json_integer_value(json_object_get(e, "seq")), when,
	    ctl_hstr(e, "from"));
	ctl_print_state(ctl, ctl_hstr(e, "to"), 11);
	printf(" %-16s %4lld %5lld %-12s %-10s %s\n", ctl_hstr(e, "kind"),
	    (long long)json_integer_value(json_object_get(e, "term")),
	    (long long)json_integer_value(json_object_get(e, "version")),
	    ctl_hstr(e, "leader"), *ctl_hstr(e, "by") ? ctl_hstr(e, "by") : "-",
	    ctl_hstr(e, "reason"));
}

/* history DEP [-n N]: the dependency's last transitions, oldest first. */
static int
ctl_cmd_history(struct ctl *ctl)
{
	struct ctl_lines l = {NULL, 0};
	char line[BD_LINE_MAX];
	json_t *a, *e;
	uint64_t n = 20;
	size_t i;
	int rc;

	if (ctl_check_dep(ctl->argv[1]) == -1)
		return CTL_EXIT_USAGE;
	if (ctl->count != NULL && parse_u64(ctl->count, 1, 1000, &n) == -1)
		return ctl_usage_error("bad -n '%s' (1..1000)", ctl->count);
	if ((rc = ctl_line(line, sizeof line, "HISTORY %s %llu", ctl->argv[1],
	         (unsigned long long)n))
	        != 0
	    || (rc = ctl_query(ctl, line, &l)) != 0)
		return rc;
	a = json_array();
	if (!ctl->json)
		printf(
		    "%-6s %-19s %-11s    %-11s %-16s %4s %5s %-12s %-10s %s\n",
		    "SEQ", "TIME (UTC)", "FROM", "TO", "KIND", "TERM", "VER",
		    "LEADER", "BY", "REASON");
	for (i = 1; i < l.n; i++) {
		if ((e = json_loads(l.v[i], 0, NULL)) == NULL
		    || !json_is_object(e)) {
			json_decref(e);
			continue;
		}
		if (ctl->json)
			json_array_append_new(a, e);
		else {
			ctl_history_row(ctl, e);
			json_decref(e);
		}
	}
	return ctl_lines_done(ctl, a, &l);
}

/* One instance's cell for dep: version, leader mark, authority; lagging? */
static bool
ctl_fleet_cell(
    json_t *inst, const char *dep, json_t *info, char *cell, size_t len)
{
	json_t *ack = json_object_get(json_object_get(inst, "acks"), dep);
	const char *auth = json_string_value(
	    json_object_get(json_object_get(inst, "auth"), dep));
	const char *leader = ctl_hstr(info, "leader");
	json_int_t want = json_integer_value(json_object_get(info, "version"));
	bool lead = strcmp(leader, ctl_hstr(inst, "instance")) == 0;

	if (!json_is_integer(ack)) {
		snprintf(cell, len, "-");
		return true;
	}
	snprintf(cell, len, "v%lld%s %s", (long long)json_integer_value(ack),
	    lead ? "*" : "", auth != NULL ? auth : "?");
	return json_integer_value(ack) < want
	    || (auth != NULL && strcmp(auth, "authoritative") != 0);
}

/* The fleet table: one row per instance, one column per dependency. */
static void
ctl_fleet_table(const struct ctl *ctl, json_t *doc, const char *only)
{
	json_t *deps = json_object_get(doc, "deps"), *insts, *inst, *info;
	const char *dep;
	char cell[96];
	size_t i;
	bool lag;

	insts = json_object_get(doc, "instances");
	printf("%-16s", "INSTANCE");
	json_object_foreach(deps, dep, info) if (only == NULL
	    || strcmp(only, dep) == 0) printf(" %-24s", dep);
	printf(" %9s\n", "ACK AGE");
	json_array_foreach(insts, i, inst)
	{
		lag = false;
		printf("%-16s", ctl_hstr(inst, "instance"));
		json_object_foreach(deps, dep, info)
		{
			if (only != NULL && strcmp(only, dep) != 0)
				continue;
			if (ctl_fleet_cell(inst, dep, info, cell, sizeof cell))
				lag = true;
			printf(" %-24s", cell);
		}
		printf(" %8.1fs%s%s%s\n",
		    (double)json_integer_value(
		        json_object_get(inst, "ack_age_ms"))
		        / 1000.0,
		    lag && ctl->color ? " \033[31m" : " ", lag ? "LAG" : "",
		    lag && ctl->color ? "\033[0m" : "");
	}
	printf("fleet view:");
	json_object_foreach(deps, dep, info) if (only == NULL
	    || strcmp(only, dep) == 0) printf(" %s v%lld %s leader %s;", dep,
	    (long long)json_integer_value(json_object_get(info, "version")),
	    ctl_hstr(info, "state"),
	    *ctl_hstr(info, "leader") ? ctl_hstr(info, "leader") : "-");
	printf("\n");
}

/* fleet [DEP]: every instance's acknowledgements, laggards marked. */
static int
ctl_cmd_fleet(struct ctl *ctl)
{
	struct ctl_lines l = {NULL, 0};
	const char *only = ctl->argc > 1 ? ctl->argv[1] : NULL;
	json_t *doc;
	int rc;

	if (only != NULL && ctl_check_dep(only) == -1)
		return CTL_EXIT_USAGE;
	if ((rc = ctl_query(ctl, "FLEET", &l)) != 0)
		return rc;
	doc = l.n > 1 ? json_loads(l.v[1], 0, NULL) : NULL;
	ctl_lines_free(&l);
	if (!json_is_object(doc)) {
		json_decref(doc);
		fprintf(stderr, "breakerctl: unexpected FLEET reply\n");
		return CTL_EXIT_ERR;
	}
	if (only != NULL
	    && json_object_get(json_object_get(doc, "deps"), only) == NULL) {
		json_decref(doc);
		fprintf(stderr, "breakerctl: no such dependency '%s'\n", only);
		return CTL_EXIT_ERR;
	}
	if (ctl->json)
		ctl_json_print(doc);
	else {
		ctl_fleet_table(ctl, doc, only);
		json_decref(doc);
	}
	return CTL_EXIT_OK;
}

/* reload (admin): the daemon's report, one line each. */
static int
ctl_cmd_reload(struct ctl *ctl)
{
	struct ctl_lines l = {NULL, 0};
	json_t *a;
	size_t i;
	int rc;

	if ((rc = ctl_query(ctl, "RELOAD", &l)) != 0)
		return rc;
	a = json_array();
	for (i = 1; i < l.n; i++) {
		if (ctl->json)
			json_array_append_new(a, ctl_jstr(l.v[i]));
		else
			printf("%s\n", l.v[i]);
	}
	return ctl_lines_done(ctl, a, &l);
}

static const struct ctl_cmd ctl_cmds[] = {
    {"status", 0, 0, ctl_cmd_status},
    {"list", 0, 0, ctl_cmd_list},
    {"get", 1, 1, ctl_cmd_get},
    {"allow", 1, 1, ctl_cmd_allow},
    {"report", 2, 3, ctl_cmd_report},
    {"watch", 0, -1, ctl_cmd_watch},
    {"force", 2, 2, ctl_cmd_force},
    {"publish", 2, 2, ctl_cmd_publish},
    {"metrics", 0, 0, ctl_cmd_metrics},
    {"ping", 0, 0, ctl_cmd_ping},
    {"ready", 0, 0, ctl_cmd_ready},
    {"history", 1, 1, ctl_cmd_history},
    {"fleet", 0, 1, ctl_cmd_fleet},
    {"reload", 0, 0, ctl_cmd_reload},
};

/*
 * The value of option name at argv[*i]: "--name=value" or "--name value".
 * NULL if argv[*i] is not that option; exits 2 if its value is missing.
 */
static const char *
ctl_optval(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		exit(ctl_usage_error("option %s needs a value", name));
	return argv[++*i];
}

/* Options that take a value; 1 if argv[*i] was one of them. */
static int
ctl_parse_valued(struct ctl *ctl, int argc, char **argv, int *i)
{
	const char *v, *timeout;
	uint64_t ms;

	if ((v = ctl_optval(argc, argv, i, "--socket")) != NULL
	    || (v = ctl_optval(argc, argv, i, "-s")) != NULL)
		ctl->socket = v;
	else if ((timeout = ctl_optval(argc, argv, i, "--timeout")) != NULL) {
		if (parse_u64(timeout, 1, 3600000, &ms) == -1)
			exit(ctl_usage_error("bad --timeout '%s'", timeout));
		ctl->timeout_ms = (int)ms;
	} else if ((v = ctl_optval(argc, argv, i, "--ttl")) != NULL)
		ctl->ttl = v;
	else if ((v = ctl_optval(argc, argv, i, "--reason")) != NULL)
		ctl->reason = v;
	else if ((v = ctl_optval(argc, argv, i, "-n")) != NULL)
		ctl->count = v;
	else
		return 0;
	return 1;
}

/* One option at argv[*i]; exits for --help, --version and errors. */
static void
ctl_parse_option(struct ctl *ctl, int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		fputs(ctl_usage_text, stdout);
		exit(CTL_EXIT_OK);
	}
	if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
		printf("breakerctl %s\n", BREAKERD_VERSION);
		exit(CTL_EXIT_OK);
	}
	if (strcmp(a, "--json") == 0)
		ctl->json = 1;
	else if (!ctl_parse_valued(ctl, argc, argv, i))
		exit(ctl_usage_error("unknown option '%s'", a));
}

/* Options anywhere on the line; everything else is positional. */
static void
ctl_parse_args(struct ctl *ctl, int argc, char **argv)
{
	int i, options = 1;

	ctl->argv = xcalloc((size_t)argc + 1, sizeof *ctl->argv);
	for (i = 1; i < argc; i++) {
		if (options && strcmp(argv[i], "--") == 0)
			options = 0;
		else if (options && argv[i][0] == '-' && argv[i][1] != '\0')
			ctl_parse_option(ctl, argc, argv, &i);
		else
			ctl->argv[ctl->argc++] = argv[i];
	}
}

/* Find the command and check its argument count and options. */
static const struct ctl_cmd *
ctl_find_cmd(const struct ctl *ctl)
{
	const struct ctl_cmd *cmd = NULL;
	size_t i;
	int nargs = ctl->argc - 1;

	if (ctl->argc == 0)
		exit(ctl_usage_error("%s", "no command given"));
	for (i = 0; i < nitems(ctl_cmds); i++)
		if (strcmp(ctl->argv[0], ctl_cmds[i].name) == 0)
			cmd = &ctl_cmds[i];
	if (cmd == NULL)
		exit(ctl_usage_error("unknown command '%s'", ctl->argv[0]));
	if (nargs < cmd->min_args
	    || (cmd->max_args >= 0 && nargs > cmd->max_args))
		exit(ctl_usage_error(
		    "wrong number of arguments for '%s'", cmd->name));
	if (ctl->count != NULL && cmd->fn != ctl_cmd_history)
		exit(ctl_usage_error("%s", "-n is for history only"));
	if (ctl->ttl != NULL && cmd->fn != ctl_cmd_force)
		exit(ctl_usage_error("%s", "--ttl is for force only"));
	if (ctl->reason != NULL && cmd->fn != ctl_cmd_force
	    && cmd->fn != ctl_cmd_publish)
		exit(
		    ctl_usage_error("%s", "--reason is for force and publish"));
	return cmd;
}

/* Colour only for a terminal, and never when NO_COLOR is set. */
static int
ctl_want_color(void)
{
	const char *nc = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0');
}

int
main(int argc, char **argv)
{
	struct ctl ctl;
	const struct ctl_cmd *cmd;
	struct bd_options o;
	int rc;

	memset(&ctl, 0, sizeof ctl);
	ctl.timeout_ms = 1000;
	ctl_parse_args(&ctl, argc, argv);
	cmd = ctl_find_cmd(&ctl);
	if (ctl.socket == NULL
	    && (ctl.socket = getenv("BREAKERD_SOCKET")) == NULL)
		ctl.socket = BD_DEFAULT_SOCKET;
	ctl.color = ctl_want_color();
	setvbuf(stdout, NULL, _IOLBF, 0);
	bd_options_init(&o);
	o.socket_path = ctl.socket;
	o.timeout_ms = ctl.timeout_ms;
	/* One command per process: mapping the shared table would cost more
	 * than it saves, and the socket's answers are the daemon's own (a
	 * REPORT counted before the command returns). */
	setenv("BREAKERD_SHM", "off", 1);
	if ((ctl.c = bd_open(&o)) == NULL)
		return ctl_usage_error("bad socket path '%s'", ctl.socket);
	rc = cmd->fn(&ctl);
	bd_close(ctl.c);
	free(ctl.argv);
	return rc;
}
