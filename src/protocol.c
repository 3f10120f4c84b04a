/*
 * protocol.c - parse one control-socket request line into a struct
 * proto_request and format reply lines (docs/protocol.md).  Pure code in
 * memcached's manner: the line is split in place, checked against a table
 * of commands, and handed back for control.c to dispatch with a switch.
 * Every limit (line length, arity, numbers, reason length) is enforced
 * here so that the socket code never sees a malformed request.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "protocol.h"
#include "util.h"

struct proto_cmdinfo {
	const char *name;
	const char *usage;
	bool admin;
};

static const struct proto_cmdinfo proto_cmds[PROTO_NCMDS] = {
    [PROTO_PING] = {"PING", "PING", false},
    [PROTO_GET] = {"GET", "GET <dep>", false},
    [PROTO_ALLOW] = {"ALLOW", "ALLOW <dep>", false},
    [PROTO_REPORT] = {"REPORT", "REPORT <dep> ok|fail|slow [ms]", false},
    [PROTO_LIST] = {"LIST", "LIST", false},
    [PROTO_WATCH] = {"WATCH", "WATCH [<dep> ...]", false},
    [PROTO_FORCE] = {"FORCE",
        "FORCE <dep> open|closed|auto [ttl_s] [reason...]", true},
    [PROTO_PUBLISH] = {"PUBLISH", "PUBLISH <dep> <STATE> [reason...]", true},
    [PROTO_STATUS] = {"STATUS", "STATUS", false},
    [PROTO_METRICS] = {"METRICS", "METRICS", false},
    [PROTO_QUIT] = {"QUIT", "QUIT", false},
    [PROTO_HELP] = {"HELP", "HELP", false},
    [PROTO_HISTORY] = {"HISTORY", "HISTORY <dep> [n]", false},
    [PROTO_FLEET] = {"FLEET", "FLEET", false},
    [PROTO_RELOAD] = {"RELOAD", "RELOAD", true},
};

const char *const proto_help_lines[] = {
    "PING",
    "GET <dep>",
    "ALLOW <dep>",
    "REPORT <dep> ok|fail|slow [ms]",
    "LIST",
    "WATCH [<dep> ...]",
    "FORCE <dep> open|closed|auto [ttl_s] [reason...]  (admin)",
    "PUBLISH <dep> <STATE> [reason...]  (admin)",
    "STATUS",
    "METRICS",
    "HELP",
    "QUIT",
    "HISTORY <dep> [n]",
    "FLEET",
    "RELOAD  (admin)",
    NULL,
};

static const char *const proto_errnames[PROTO_NERRCODES] = {
    [PROTO_EPROTO] = "EPROTO",
    [PROTO_ENOENT] = "ENOENT",
    [PROTO_EPERM] = "EPERM",
    [PROTO_ETOOLONG] = "ETOOLONG",
    [PROTO_EUNAVAIL] = "EUNAVAIL",
    [PROTO_EBUSY] = "EBUSY",
};

/* A keyword argument and what it means. */
struct proto_keyword {
	const char *name;
	int value;
};

/* REPORT's outcomes and FORCE's modes (auto: BREAKER_NSTATES, no force). */
static const struct proto_keyword proto_outcomes[3] = {
    {"ok", BREAKER_OK}, {"fail", BREAKER_FAIL}, {"slow", BREAKER_SLOW}};
static const struct proto_keyword proto_modes[3] = {
    {"open", BREAKER_FORCED_OPEN}, {"closed", BREAKER_CLOSED},
    {"auto", BREAKER_NSTATES}};

/* A cursor over the unparsed rest of the line. */
struct proto_lex {
	char *p;
	char *end;
};

/* Fill err and return -1, so that error paths are one line. */
static int __attribute__((format(printf, 3, 4))) proto_fail(
    struct proto_error *err, enum proto_errcode code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return -1;
}

/* Spaces and tabs separate words. */
static bool
proto_isblank(char c)
{
	return c == ' ' || c == '\t';
}

/* Skip separators; true when nothing but separators is left. */
static bool
proto_lex_done(struct proto_lex *lx)
{
	while (lx->p < lx->end && proto_isblank(*lx->p))
		lx->p++;
	return lx->p == lx->end;
}

/* Next blank-separated word, NUL-terminated in place; NULL at the end. */
static char *
proto_lex_word(struct proto_lex *lx)
{
	char *w;

	if (proto_lex_done(lx))
		return NULL;
	w = lx->p;
	while (lx->p < lx->end && !proto_isblank(*lx->p))
		lx->p++;
	if (lx->p < lx->end)
		*lx->p++ = '\0';
	else
		*lx->p = '\0'; /* end is the terminator's place */
	return w;
}

/* The rest of the line without leading and trailing blanks ("" if none). */
static char *
proto_lex_rest(struct proto_lex *lx)
{
	char *r;

	proto_lex_done(lx);
	r = lx->p;
	while (lx->end > r && proto_isblank(lx->end[-1]))
		lx->end--;
	*lx->end = '\0';
	lx->p = lx->end;
	return r;
}

/* Is s a valid dependency name, [A-Za-z0-9._-]{1,64}? */
bool
proto_valid_dep(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];
		if (n >= DEP_NAME_MAX)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		        || (c >= '0' && c <= '9') || c == '.' || c == '_'
		        || c == '-'))
			return false;
	}
	return n > 0;
}

/* Strip the terminator, bound the length and refuse control characters. */
static int
proto_check_line(
    char *line, size_t len, size_t *content, struct proto_error *err)
{
	size_t n = len, total = len;

	if (n > 0 && line[n - 1] == '\n') {
		n--;
		if (n > 0 && line[n - 1] == '\r')
			n--;
	} else
		total = len + 1; /* as if terminated: the limit counts "\n" */
	if (total > PROTO_LINE_MAX)
		return proto_fail(err, PROTO_ETOOLONG, "line exceeds %d bytes",
		    PROTO_LINE_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return proto_fail(err, PROTO_EPROTO,
			    "control character 0x%02x in request", c);
	}
	line[n] = '\0';
	*content = n;
	return 0;
}

/* Copy at most 32 bytes of a word for a message, '?' for non-ASCII. */
static void
proto_quote(char *dst, size_t dstlen, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < dstlen && i < 32 && s[i] != '\0'; i++)
		dst[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	dst[i] = '\0';
}

/* Wrong arity: the command's usage line is the message. */
static int
proto_usage(struct proto_request *req, struct proto_error *err)
{
	return proto_fail(
	    err, PROTO_EPROTO, "usage: %s", proto_cmds[req->cmd].usage);
}

/* A dependency name argument; -1 with the message if it is not one. */
static int
proto_check_dep(const char *w, struct proto_error *err)
{
	if (!proto_valid_dep(w))
		return proto_fail(err, PROTO_EPROTO,
		    "invalid dependency name (want [A-Za-z0-9._-]{1,64})");
	return 0;
}

/* Read the <dep> argument every per-dependency command starts with. */
static int
proto_need_dep(
    struct proto_lex *lx, struct proto_request *req, struct proto_error *err)
{
	char *w;

	if ((w = proto_lex_word(lx)) == NULL)
		return proto_usage(req, err);
	if (proto_check_dep(w, err) == -1)
		return -1;
	req->dep = w;
	return 0;
}

/* No more arguments allowed. */
static int
proto_need_end(
    struct proto_lex *lx, struct proto_request *req, struct proto_error *err)
{
	if (!proto_lex_done(lx))
		return proto_usage(req, err);
	return 0;
}

/*
 * The required word after <dep>, one of three keywords (any case): its
 * value, or -1 with "<what> must be a, b or c".
 */
static int
proto_need_choice(struct proto_lex *lx, struct proto_request *req,
    struct proto_error *err, const char *what, const struct proto_keyword kw[3])
{
	char *w;

	if ((w = proto_lex_word(lx)) == NULL)
		return proto_usage(req, err);
	for (int i = 0; i < 3; i++)
		if (strcasecmp(w, kw[i].name) == 0)
			return kw[i].value;
	return proto_fail(err, PROTO_EPROTO, "%s must be %s, %s or %s", what,
	    kw[0].name, kw[1].name, kw[2].name);
}

/* A number argument in [lo, hi]; -1 with "<what> must be ..." if not. */
static int
proto_number(const char *w, uint32_t lo, uint32_t hi, const char *what,
    const char *unit, uint32_t *out, struct proto_error *err)
{
	uint64_t v;

	if (parse_u64(w, lo, hi, &v) == -1)
		return proto_fail(err, PROTO_EPROTO,
		    "%s must be an integer %u..%u%s", what, lo, hi, unit);
	*out = (uint32_t)v;
	return 0;
}

/* REPORT <dep> ok|fail|slow [ms] */
static int
proto_parse_report(
    struct proto_lex *lx, struct proto_request *req, struct proto_error *err)
{
	char *w;
	int o;

	if (proto_need_dep(lx, req, err) == -1
	    || (o = proto_need_choice(lx, req, err, "outcome", proto_outcomes))
	        == -1)
		return -1;
	req->outcome = (enum breaker_outcome)o;
	if ((w = proto_lex_word(lx)) != NULL) {
		if (proto_number(w, 0, PROTO_MS_MAX, "duration", " ms",
		        &req->duration_ms, err)
		    == -1)
			return -1;
		req->has_duration = true;
	}
	return proto_need_end(lx, req, err);
}

/* HISTORY <dep> [n] */
static int
proto_parse_history(
    struct proto_lex *lx, struct proto_request *req, struct proto_error *err)
{
	char *w;

	if (proto_need_dep(lx, req, err) == -1)
		return -1;
	req->count = PROTO_HISTORY_DEFAULT;
	if ((w = proto_lex_word(lx)) != NULL
	    && proto_number(w, 1, PROTO_HISTORY_MAX, "n", "", &req->count, err)
	        == -1)
		return -1;
	return proto_need_end(lx, req, err);
}

/* WATCH [<dep> ...] */
static int
proto_parse_watch(
    struct proto_lex *lx, struct proto_request *req, struct proto_error *err)
{
	char *w;

	while ((w = proto_lex_word(lx)) != NULL) {
		if (req->ndeps == PROTO_WATCH_MAX)
			return proto_fail(err, PROTO_EPROTO,
			    "WATCH takes at most %d dependencies",
			    PROTO_WATCH_MAX);
		if (proto_check_dep(w, err) == -1)
			return -1;
		req->deps[req->ndeps++] = w;
	}
	return 0;
}

/* The free-text reason that ends FORCE and PUBLISH. */
static int
proto_parse_reason(
    struct proto_lex *lx, struct proto_request *req, struct proto_error *err)
{
	req->reason = proto_lex_rest(lx);
	if (strlen(req->reason) > PROTO_REASON_MAX)
		return proto_fail(err, PROTO_EPROTO,
		    "reason longer than %d bytes", PROTO_REASON_MAX);
	return 0;
}

/*
 * FORCE <dep> open|closed|auto [ttl_s] [reason...].  A third argument that
 * starts like a number (digit, '+' or '-') is the TTL and must be valid;
 * anything else starts the reason.
 */
static int
proto_parse_force(
    struct proto_lex *lx, struct proto_request *req, struct proto_error *err)
{
	int to;

	if (proto_need_dep(lx, req, err) == -1
	    || (to = proto_need_choice(lx, req, err, "mode", proto_modes))
	        == -1)
		return -1;
	req->to = (enum breaker_state)to;
	proto_lex_done(lx);
	if (lx->p < lx->end
	    && ((*lx->p >= '0' && *lx->p <= '9') || *lx->p == '-'
	        || *lx->p == '+')
	    && proto_number(proto_lex_word(lx), 0, PROTO_TTL_MAX, "ttl",
	           " seconds", &req->ttl_s, err)
	        == -1)
		return -1;
	return proto_parse_reason(lx, req, err);
}

/* PUBLISH <dep> <STATE> [reason...] */
static int
proto_parse_publish(
    struct proto_lex *lx, struct proto_request *req, struct proto_error *err)
{
	char *w, q[40];
	int s;

	if (proto_need_dep(lx, req, err) == -1)
		return -1;
	if ((w = proto_lex_word(lx)) == NULL)
		return proto_usage(req, err);
	for (s = 0; s < BREAKER_NSTATES; s++)
		if (strcasecmp(w, breaker_state_name(s)) == 0)
			break;
	if (s == BREAKER_NSTATES) {
		proto_quote(q, sizeof q, w);
		return proto_fail(err, PROTO_EPROTO, "unknown state '%s'", q);
	}
	req->to = (enum breaker_state)s;
	return proto_parse_reason(lx, req, err);
}

/* Find a command by name, case-insensitively; exact case first (cheap). */
static int
proto_lookup(const char *w)
{
	for (int i = 0; i < PROTO_NCMDS; i++)
		if (strcmp(w, proto_cmds[i].name) == 0)
			return i;
	for (int i = 0; i < PROTO_NCMDS; i++)
		if (strcasecmp(w, proto_cmds[i].name) == 0)
			return i;
	return -1;
}

/* Parse one request line; see protocol.h. */
int
proto_parse(
    char *line, size_t len, struct proto_request *req, struct proto_error *err)
{
	struct proto_lex lx;
	size_t n = 0;
	char *w, q[40];
	int c;

	/* deps[] is only read up to ndeps: skip clearing its 512 bytes. */
	memset(req, 0, offsetof(struct proto_request, deps));
	req->reason = "";
	err->code = 0;
	err->msg[0] = '\0';
	if (proto_check_line(line, len, &n, err) == -1)
		return -1;
	lx.p = line;
	lx.end = line + n;
	if ((w = proto_lex_word(&lx)) == NULL)
		return proto_fail(err, PROTO_EPROTO, "empty request");
	if ((c = proto_lookup(w)) == -1) {
		proto_quote(q, sizeof q, w);
		return proto_fail(
		    err, PROTO_EPROTO, "unknown command '%s' (try HELP)", q);
	}
	req->cmd = (enum proto_cmd)c;
	switch (req->cmd) {
	case PROTO_GET:
	case PROTO_ALLOW:
		if (proto_need_dep(&lx, req, err) == -1)
			return -1;
		return proto_need_end(&lx, req, err);
	case PROTO_REPORT:
		return proto_parse_report(&lx, req, err);
	case PROTO_WATCH:
		return proto_parse_watch(&lx, req, err);
	case PROTO_FORCE:
		return proto_parse_force(&lx, req, err);
	case PROTO_PUBLISH:
		return proto_parse_publish(&lx, req, err);
	case PROTO_HISTORY:
		return proto_parse_history(&lx, req, err);
	default:
		return proto_need_end(&lx, req, err);
	}
}

/* FORCE and PUBLISH change fleet or override state. */
bool
proto_cmd_admin(enum proto_cmd cmd)
{
	return (unsigned)cmd < PROTO_NCMDS && proto_cmds[cmd].admin;
}

/* Upper-case command word, for messages and logs. */
const char *
proto_cmd_name(enum proto_cmd cmd)
{
	return (unsigned)cmd < PROTO_NCMDS ? proto_cmds[cmd].name : "?";
}

/* The CODE word of an ERR line. */
const char *
proto_errcode_name(int code)
{
	if (code > 0 && code < PROTO_NERRCODES)
		return proto_errnames[code];
	return "EUNKNOWN";
}

/*
 * A bounded writer for reply lines.  The hot replies (GET, ALLOW, events)
 * are built from fixed pieces with memcpy: printf's format parsing was a
 * visible share of the daemon's CPU per request.
 */
struct proto_out {
	char *buf;
	char *p;
	char *end; /* one spare byte for the NUL stays beyond it */
	bool full;
};

/* Start writing into buf of len bytes. */
static void
proto_out_init(struct proto_out *o, char *buf, size_t len)
{
	o->buf = o->p = buf;
	o->end = len > 0 ? buf + len - 1 : buf;
	o->full = len == 0;
}

/* Append n bytes, or note that they did not fit. */
static void
proto_out_put(struct proto_out *o, const char *s, size_t n)
{
	if (o->full || (size_t)(o->end - o->p) < n) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

/* Append a C string. */
static void
proto_out_str(struct proto_out *o, const char *s)
{
	proto_out_put(o, s, strlen(s));
}

/* Append an unsigned integer in base 10. */
static void
proto_out_u64(struct proto_out *o, uint64_t v)
{
	char tmp[20], *q = tmp + sizeof tmp;

	do
		*--q = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	proto_out_put(o, q, (size_t)(tmp + sizeof tmp - q));
}

/* Terminate; the formatters' result: the length, or -1 if it overflowed. */
static int
proto_out_end(struct proto_out *o, size_t len)
{
	if (len == 0)
		return -1;
	*o->p = '\0';
	return o->full ? -1 : (int)(o->p - o->buf);
}

/* snprintf's result turned into the formatters' contract. */
static int
proto_fit(int n, size_t len)
{
	if (n < 0 || (size_t)n >= len)
		return -1;
	return n;
}

/* While a recovery ramp runs, a trailing " ramp=<pct>%" (v1 readers
 * ignore words after the fourth). */
static void
proto_out_ramp(struct proto_out *o, const struct dep_view *v)
{
	if (v->ramp_ppm == 0)
		return;
	proto_out_put(o, " ramp=", 6);
	proto_out_u64(o, v->ramp_ppm / 10000);
	proto_out_put(o, ".", 1);
	proto_out_u64(o, v->ramp_ppm / 1000 % 10);
	proto_out_put(o, "%", 1);
}

/* The four words every view shares: "<dep> <STATE> <version> <authority>". */
static void
proto_out_view(struct proto_out *o, const struct dep_view *v)
{
	proto_out_str(o, v->name);
	proto_out_put(o, " ", 1);
	proto_out_str(o, breaker_state_name(v->state));
	proto_out_put(o, " ", 1);
	proto_out_u64(o, v->version);
	proto_out_put(o, " ", 1);
	proto_out_str(o, authority_name(v->authority));
}

/* One view line: LIST bodies, GET replies ("OK ") and events ("EVENT "). */
int
proto_format_view(
    char *buf, size_t len, const char *prefix, const struct dep_view *v)
{
	struct proto_out o;

	proto_out_init(&o, buf, len);
	proto_out_str(&o, prefix);
	proto_out_view(&o, v);
	proto_out_ramp(&o, v);
	proto_out_put(&o, "\n", 1);
	return proto_out_end(&o, len);
}

/*
 * GET's answer: the view, and while an override with a ttl is in force
 * " ttl_left_ms=<n>", the time left as this instance measures it.
 */
int
proto_format_get(char *buf, size_t len, const struct dep_view *v)
{
	struct proto_out o;

	proto_out_init(&o, buf, len);
	proto_out_put(&o, "OK ", 3);
	proto_out_view(&o, v);
	if (v->ttl_left_ms >= 0) {
		proto_out_str(&o, " ttl_left_ms=");
		proto_out_u64(&o, (uint64_t)v->ttl_left_ms);
	}
	proto_out_ramp(&o, v);
	proto_out_put(&o, "\n", 1);
	return proto_out_end(&o, len);
}

/* ALLOW's answer: the state is given only on a denial. */
int
proto_format_allow(
    char *buf, size_t len, bool allowed, const struct dep_view *v)
{
	struct proto_out o;

	proto_out_init(&o, buf, len);
	if (allowed)
		proto_out_put(&o, "OK ALLOW\n", 9);
	else if (v->ramp_held)
		proto_out_str(&o, "OK DENY RAMPING\n");
	else {
		proto_out_put(&o, "OK DENY ", 8);
		proto_out_str(&o, breaker_state_name(v->state));
		proto_out_put(&o, "\n", 1);
	}
	return proto_out_end(&o, len);
}

/* An error line; the message is made single-line and printable. */
int
proto_format_error(char *buf, size_t len, int code, const char *msg)
{
	char clean[200]; /* "ERR EUNAVAIL " + this fits PROTO_REPLY_MAX */
	size_t i;

	for (i = 0; i + 1 < sizeof clean && msg[i] != '\0'; i++) {
		unsigned char c = (unsigned char)msg[i];
		clean[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	clean[i] = '\0';
	return proto_fit(snprintf(buf, len, "ERR %s%s%s\n",
	                     proto_errcode_name(code), i > 0 ? " " : "", clean),
	    len);
}

/* FORCE and PUBLISH succeed with the version they produced. */
int
proto_format_version(char *buf, size_t len, uint64_t version)
{
	struct proto_out o;

	proto_out_init(&o, buf, len);
	proto_out_put(&o, "OK ", 3);
	proto_out_u64(&o, version);
	proto_out_put(&o, "\n", 1);
	return proto_out_end(&o, len);
}
