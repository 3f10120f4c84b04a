/*
 * breakerd_client.h - a small C client for the local breakerd daemon, for
 * applications that do not run an event loop.  It speaks socket protocol v1
 * (docs/protocol.md) over the daemon's Unix socket and depends only on libc
 * and pthreads, so it links into any program:
 *
 *	cc app.c $(pkg-config --cflags --libs breakerd_client)
 *
 * Guarantees:
 * - No call blocks longer than about timeout_ms (connect, send and receive
 *   are all non-blocking with poll and one deadline per request).
 * - A client handle is thread-safe: a mutex serialises requests, so one
 *   request is in flight on its connection at a time.
 * - After a failure the connection is dropped; a new one is made lazily by
 *   a later request, at most once per reconnect_ms, so a dead daemon costs
 *   a caller no more than one bounded connect attempt per reconnect_ms.
 * - A closed daemon socket never raises SIGPIPE in the application.
 * - No global state; lines are bounded (BD_LINE_MAX).
 *
 * Return values: functions returning int give 0 (or a documented positive
 * value) on success and a negative BD_E* code on failure; bd_strerror()
 * names the code.
 */
#ifndef BREAKERD_CLIENT_H
#define BREAKERD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where the daemon listens unless told otherwise ($BREAKERD_SOCKET wins). */
#define BD_DEFAULT_SOCKET "/run/breakerd/breakerd.sock"
/* Longest request or reply line, newline included. */
#define BD_LINE_MAX 4096
/* Longest dependency name. */
#define BD_DEP_MAX 64

/* Error codes (negative).  The BD_E codes from ENOENT on are the daemon's
 * own ERR replies (ERR <CODE> <message>). */
#define BD_EINVAL    -1  /* bad argument (name too long, newline in line) */
#define BD_EUNREACH  -2  /* daemon unreachable: no socket, refused, EOF */
#define BD_ETIMEOUT  -3  /* no complete reply within timeout_ms */
#define BD_EBADREPLY -4  /* the reply did not parse (or was too long) */
#define BD_ENOMEM    -5  /* out of memory */
#define BD_EPROTO    -6  /* ERR EPROTO: the daemon did not understand us */
#define BD_ENOENT    -7  /* ERR ENOENT: unknown dependency */
#define BD_EPERM     -8  /* ERR EPERM: admin command from a non-admin uid */
#define BD_ETOOLONG  -9  /* ERR ETOOLONG: request line too long */
#define BD_EUNAVAIL  -10 /* ERR EUNAVAIL: the daemon cannot answer now */
#define BD_EBUSY     -11 /* ERR EBUSY: the daemon is overloaded */
#define BD_ESERVER   -12 /* ERR with a code this library does not know */

/* How a call to a dependency went, for bd_report(). */
enum bd_outcome {
	BD_OK,   /* success */
	BD_FAIL, /* failure */
	BD_SLOW  /* success, but the application judged it slow */
};

/* One dependency as the daemon sees it (GET, WATCH events). */
struct bd_view {
	char dep[BD_DEP_MAX + 1];
	char state[16];     /* CLOSED OPEN HALF_OPEN FORCED_OPEN DISABLED ... */
	uint64_t version;   /* grows with every change of the fleet state */
	char authority[16]; /* authoritative, stale or local */
};

struct bd_options {
	const char
	    *socket_path; /* NULL: $BREAKERD_SOCKET or BD_DEFAULT_SOCKET */
	int timeout_ms;   /* bound on each request; <= 0 means 200 */
	int fail_open;    /* daemon unreachable: 1 -> bd_allow says allow */
	int reconnect_ms; /* at most one connect attempt per this; <= 0: 1000 */
};

struct bd_client;
struct bd_watch;

/* A line of a multi-line reply, for bd_query(). */
typedef void (*bd_line_cb)(const char *line, void *arg);
/* A view from a watch; called on the watch's own thread. */
typedef void (*bd_watch_cb)(const struct bd_view *view, void *arg);

/*
 * Fill opts with the defaults: default socket, 200 ms, fail open,
 * reconnect at most once a second.  A zeroed struct means fail closed.
 */
void bd_options_init(struct bd_options *opts);

/*
 * Make a client handle and try to connect once (bounded by timeout_ms).
 * A daemon that is down is not an error: requests fail until it is back.
 * opts may be NULL for the defaults.  Returns NULL only on bad options
 * (socket path too long) or out of memory.
 */
struct bd_client *bd_open(const struct bd_options *opts);
/* Close the connection and free the handle; NULL is ignored. */
void bd_close(struct bd_client *c);

/* GET dep: fill view.  0, or BD_E* (BD_ENOENT for an unknown dependency). */
int bd_get(struct bd_client *c, const char *dep, struct bd_view *view);

/*
 * ALLOW dep: 1 if the call may go ahead, 0 if not.  Whenever no clear
 * answer comes back (unreachable, timeout, ERR reply, garbled reply) the
 * fail_open option decides.  Never blocks longer than about timeout_ms.
 */
int bd_allow(struct bd_client *c, const char *dep);

/* REPORT dep ok|fail|slow duration_ms: 0, or BD_E*. */
int bd_report(struct bd_client *c, const char *dep, enum bd_outcome outcome,
    unsigned duration_ms);

/*
 * Send one raw single-line request (no newline) and copy the one-line reply,
 * without its newline, into reply (truncated to len - 1; reply may be NULL).
 * Returns 0 for an OK reply, the mapped BD_E* for an ERR reply (the ERR line
 * is still copied), or another BD_E*.  Multi-line commands (LIST, STATUS,
 * METRICS, HELP, WATCH) are refused with BD_EINVAL: use bd_query() or
 * bd_watch_start().
 */
int bd_command(struct bd_client *c, const char *line, char *reply, size_t len);

/*
 * Send a request whose reply ends with a line "END" (LIST, STATUS, METRICS,
 * HELP) and call cb for every line before END, the first "OK ..." included.
 * An ERR first line is passed to cb and its code returned.  cb runs with
 * the client locked: it must not use the same handle.
 */
int bd_query(struct bd_client *c, const char *line, bd_line_cb cb, void *arg);

/*
 * Parse "OK|EVENT <dep> <STATE> <version> <authority>" into view.
 * 0, or BD_EBADREPLY.
 */
int bd_parse_view(const char *line, struct bd_view *view);

/*
 * Watch deps (n == 0: every dependency) on a dedicated connection and
 * thread.  cb gets the current view of each dependency at once and then
 * every change.  When the connection is lost cb gets one view with an empty
 * dep, state "UNKNOWN" and authority "unreachable"; the watch reconnects
 * (at most once per reconnect_ms) and the daemon re-sends current views.
 * Returns NULL on a bad argument or if the thread cannot start.
 */
struct bd_watch *bd_watch_start(const struct bd_options *opts,
    const char *const *deps, size_t n, bd_watch_cb cb, void *arg);
/* Stop the thread and free the watch.  Never call it from inside cb. */
void bd_watch_stop(struct bd_watch *w);

/*
 * The shared-memory state table (docs/clients.md): while the daemon's
 * table is mapped and its heartbeat moves, bd_allow(), bd_get() and
 * bd_report() answer from it without a system call; otherwise they use
 * the socket.  The table is the socket path + ".shm" unless
 * $BREAKERD_SHM names another file ("off": never map one).
 */
struct bd_table_stats {
	int mapped;         /* 1 if a fresh table is mapped now */
	uint64_t maps;      /* tables mapped (daemon restarts add one) */
	uint64_t fallbacks; /* calls that went to the socket instead */
	uint64_t stale;     /* of those: heartbeat stopped or daemon gone */
	uint64_t torn;      /* of those: a slot kept changing while read */
};
/* Fill st for this handle.  0, or BD_EINVAL. */
int bd_table_stats(struct bd_client *c, struct bd_table_stats *st);

/* A static, human-readable name for a BD_E* code (or 0). */
const char *bd_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
