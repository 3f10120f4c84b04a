/*
 * control.h - the control socket: a Unix stream socket on the libevent
 * loop that speaks the line protocol of protocol.h (docs/protocol.md) to
 * applications, breakerctl and operators.  Everything here runs on the
 * loop thread.  The daemon plugs in what the socket cannot do itself
 * (STATUS and METRICS text, FORCE and PUBLISH, which complete later)
 * through struct control_hooks.  The process must ignore SIGPIPE
 * (libevent writes with writev, which raises it when a client has gone).
 */
#ifndef BREAKERD_CONTROL_H
#define BREAKERD_CONTROL_H

#include <stdint.h>
#include <sys/types.h>

#include "breaker.h"
#include "config.h"
#include "errcode.h"
#include "registry.h"

struct event_base;
struct evbuffer;
struct control;

/*
 * The asynchronous hooks (FORCE, PUBLISH, HISTORY, FLEET, RELOAD) answer
 * through a done_fn or body_fn (errcode.h); calling it is safe after the
 * client has gone.
 */
struct control_hooks {
	/* STATUS body: key=value lines, each ending in "\n"; no END. */
	void (*status)(struct evbuffer *out, void *arg);
	/* METRICS body: Prometheus text format; no END. */
	void (*metrics)(struct evbuffer *out, void *arg);
	/*
	 * Start an async FORCE; later (or before returning) call done
	 * exactly once.  to = BREAKER_FORCED_OPEN, BREAKER_CLOSED, or
	 * BREAKER_NSTATES for "auto".  reason is only valid during the call
	 * (copy it); "" when none.  ttl_s 0 means no expiry.
	 */
	void (*force)(struct dep *, enum breaker_state to, uint32_t ttl_s,
	    const char *reason, uid_t uid, done_fn done, void *done_arg,
	    void *arg);
	/* Publish a fleet state as the dependency's leader; same contract
	 * (answer ERR EBUSY "not leader" through done otherwise). */
	void (*publish)(struct dep *, enum breaker_state to, const char *reason,
	    uid_t uid, done_fn done, void *done_arg, void *arg);
	/* HISTORY: the newest n transitions of dep (body: OK <n>, then
	 * one line per entry). */
	void (*history)(
	    struct dep *, size_t n, body_fn done, void *done_arg, void *arg);
	/* FLEET: every instance's acknowledgements (body: OK 1, JSON). */
	void (*fleet)(body_fn done, void *done_arg, void *arg);
	/* RELOAD: re-read the configuration (body: OK <n>, report lines). */
	void (*reload)(body_fn done, void *done_arg, void *arg);
	void *arg;
};

/* Counters for STATUS and METRICS (control_stats). */
struct control_stats {
	uint64_t clients;                 /* connected now */
	uint64_t watchers;                /* WATCH subscribers now */
	uint64_t accepted;                /* connections accepted since start */
	uint64_t refused;                 /* refused: max_clients reached */
	uint64_t requests;                /* request lines answered */
	uint64_t errors[PROTO_NERRCODES]; /* ERR replies by code */
	uint64_t events;        /* EVENT lines queued to subscribers */
	uint64_t watch_dropped; /* subscribers dropped: watch buffer full */
	uint64_t accept_paused; /* times accepting paused (EMFILE...) */
	uint64_t held;          /* answers held until a fleet state read */
};

/* Hooks are copied; any hook may be NULL (STATUS/METRICS then have an
 * empty body, FORCE/PUBLISH answer ERR EUNAVAIL). */
struct control *control_new(struct event_base *, const struct config *,
    struct registry *, const struct control_hooks *);
/* Bind and listen on cfg->socket_path; -1 and log on error (another
 * daemon answers there, bind failed, unknown socket_group...). */
int control_listen(struct control *);
/* The effective view of a dependency changed: send EVENT to its WATCHers. */
void control_notify(struct control *, const struct dep_view *);
void control_stats(const struct control *, struct control_stats *);
/*
 * Answers held because a dependency's fleet state was unread may go now
 * (d's state was read; d NULL: the start-up wait is over).  Each held
 * answer is computed at this moment and sent in its request's place.
 */
void control_release(struct control *, struct dep *);
/*
 * A reload removed d (still valid memory, out of the registry): held
 * answers naming it are answered ENOENT, subscriptions forget it.
 */
void control_forget(struct control *, struct dep *);
/* Closes every client, stops listening and unlinks the socket.  FORCE or
 * PUBLISH still pending complete harmlessly later (their done frees what
 * is left of the connection). */
void control_free(struct control *);

#endif
