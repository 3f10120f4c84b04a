/*
 * protocol.h - the control socket's line protocol (docs/protocol.md): a
 * pure parser that tokenises one request line in place into a struct, and
 * formatters that write reply lines into a caller's buffer.  No I/O, no
 * clock, no allocation: control.c reads the lines and dispatches on cmd.
 */
#ifndef BREAKERD_PROTOCOL_H
#define BREAKERD_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "errcode.h"
#include "registry.h"

#define PROTO_LINE_MAX        4096 /* bytes in a request line, terminator included */
#define PROTO_WATCH_MAX       64  /* dependencies named in one WATCH */
#define PROTO_REASON_MAX      159 /* bytes of a FORCE/PUBLISH reason */
#define PROTO_TTL_MAX         (7u * 24 * 3600) /* FORCE ttl_s: seven days */
#define PROTO_MS_MAX          86400000u        /* REPORT duration: one day */
#define PROTO_ERRMSG_MAX      128              /* proto_error.msg, with NUL */
#define PROTO_REPLY_MAX       256  /* enough for any one formatted reply line */
#define PROTO_HISTORY_MAX     1000 /* HISTORY <dep> [n]: entries at most */
#define PROTO_HISTORY_DEFAULT 20

enum proto_cmd {
	PROTO_PING,
	PROTO_GET,
	PROTO_ALLOW,
	PROTO_REPORT,
	PROTO_LIST,
	PROTO_WATCH,
	PROTO_FORCE,
	PROTO_PUBLISH,
	PROTO_STATUS,
	PROTO_METRICS,
	PROTO_QUIT,
	PROTO_HELP,
	PROTO_HISTORY,
	PROTO_FLEET,
	PROTO_RELOAD,
	PROTO_NCMDS
};

struct proto_error {
	enum proto_errcode code;
	char msg[PROTO_ERRMSG_MAX];
};

/*
 * A parsed request.  Every pointer points into the line passed to
 * proto_parse(), which must outlive the request.
 */
struct proto_request {
	enum proto_cmd cmd;
	const char *dep; /* GET ALLOW REPORT FORCE PUBLISH */

	/* REPORT */
	enum breaker_outcome outcome;
	bool has_duration;
	uint32_t duration_ms;

	/*
	 * FORCE: BREAKER_FORCED_OPEN, BREAKER_CLOSED, or BREAKER_NSTATES for
	 * "auto" (remove the override).  PUBLISH: any state.
	 */
	enum breaker_state to;
	uint32_t ttl_s;     /* FORCE: 0 = no expiry */
	const char *reason; /* FORCE PUBLISH: "" when absent, never NULL */

	/* HISTORY: how many of the newest entries */
	uint32_t count;

	/* WATCH: ndeps == 0 means every dependency */
	size_t ndeps;
	const char *deps[PROTO_WATCH_MAX];
};

/*
 * Parse one request line of len bytes, with or without its "\n" or
 * "\r\n" terminator.  line[len] must be writable (callers keep one spare
 * byte): tokens are NUL-terminated in place.  Returns 0, or -1 with err
 * filled (code and a one-line message without the "ERR CODE" prefix).
 */
int proto_parse(
    char *line, size_t len, struct proto_request *, struct proto_error *);

/* Is s a valid dependency name, [A-Za-z0-9._-]{1,64}? */
bool proto_valid_dep(const char *s);
/* Does this command need an admin peer? */
bool proto_cmd_admin(enum proto_cmd);
const char *proto_cmd_name(enum proto_cmd);
/* "EPROTO", ...; "EUNKNOWN" for anything else. */
const char *proto_errcode_name(int code);

/*
 * Formatters: each writes one "\n"-terminated line into buf and returns
 * its length, or -1 if it did not fit (buf is then still terminated).
 */
/* "<prefix><dep> <STATE> <version> <authority>[ ramp=<pct>%]\n"; prefix
 * may be "".  The ramp word is there only while a recovery ramp runs. */
int proto_format_view(
    char *buf, size_t len, const char *prefix, const struct dep_view *);
/* GET: "OK <dep> <STATE> <version> <authority>[ ttl_left_ms=<n>]
 * [ ramp=<pct>%]\n". */
int proto_format_get(char *buf, size_t len, const struct dep_view *);
/* "OK ALLOW\n", "OK DENY <STATE>\n" or, held back by the ramp,
 * "OK DENY RAMPING\n". */
int proto_format_allow(
    char *buf, size_t len, bool allowed, const struct dep_view *);
/* "ERR <CODE> <msg>\n"; control characters in msg become '?'. */
int proto_format_error(char *buf, size_t len, int code, const char *msg);
/* "OK <version>\n": FORCE and PUBLISH. */
int proto_format_version(char *buf, size_t len, uint64_t version);

/* HELP's body: NULL-terminated list of lines without "\n". */
extern const char *const proto_help_lines[];

#endif
