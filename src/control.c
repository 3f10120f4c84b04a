/*
 * control.c - the control socket server: accepts Unix-socket clients on
 * the libevent loop, splits their input into lines, parses them with
 * protocol.c and dispatches with one switch.  Replies leave in request
 * order even when FORCE or PUBLISH complete later: while any reply is
 * outstanding, later output waits in a per-client queue of reply slots.
 * The same queue holds the answers about a dependency whose fleet state
 * this instance has not read yet (dep_must_hold): a held GET, ALLOW, LIST
 * or WATCH keeps a pending slot and is answered, in its place, when the
 * read completes or the start-up wait ends (control_release).  The loop
 * never waits for it; PING and STATUS are never held.
 * Every client's memory is bounded: a line is at most 4096 bytes, a
 * client whose replies pile up is not read until they drain, and a WATCH
 * subscriber that does not keep up is dropped.  Listening follows relayd:
 * a stale socket is removed only when nobody answers on it, umask around
 * bind, chmod/chown after, and accept pauses for a second on EMFILE.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "control.h"
#include "log.h"
#include "protocol.h"
#include "registry.h"
#include "util.h"

#define CONTROL_BACKLOG_MIN 128 /* listen backlog floor; max_clients above it */
#define CONTROL_OUT_HIGH    (256 * 1024) /* queued reply bytes: stop reading */
#define CONTROL_SLOTS_MAX   256          /* queued reply slots: stop reading */
#define CONTROL_IN_HIGH     (64 * 1024)  /* bufferevent read watermark */
#define CONTROL_PAUSE_MS    1000         /* accept pause on EMFILE/ENFILE */
#define CONTROL_WTIMEOUT_MS 30000        /* no write progress: peer is gone */

/* One reply, or a run of replies, waiting for an earlier one to finish. */
struct control_slot {
	TAILQ_ENTRY(control_slot) entry;
	struct control_client *cl;
	struct evbuffer *buf;
	bool done; /* false while its FORCE/PUBLISH is in flight */

	/* A held answer (on control.held): what to answer once released. */
	bool held;
	TAILQ_ENTRY(control_slot) hentry;
	enum proto_cmd cmd;
	struct dep **deps; /* GET/ALLOW: one; WATCH: named; NULL: all */
	size_t ndeps;
};
TAILQ_HEAD(control_slots, control_slot);

struct control_client {
	TAILQ_ENTRY(control_client) entry;  /* control.clients */
	TAILQ_ENTRY(control_client) wentry; /* control.watchers */
	struct control *ctl;                /* NULL once closed */
	struct bufferevent *bev;            /* NULL once closed */
	struct event *idle_ev;              /* half-written line timer */
	struct event *resume_ev;            /* process input after throttling */
	struct control_slots slots;
	size_t nslots;
	size_t slot_bytes; /* bytes held in slots */
	uid_t uid;
	pid_t pid;
	bool admin;
	bool discarding; /* skipping the rest of an over-long line */
	bool throttled;  /* not reading until replies drain */
	bool eof;        /* peer shut down its side */
	bool closing;    /* close once every reply is written */
	bool watching;
	bool watch_all;
	struct dep **wdeps;
	size_t nwdeps;
	size_t watch_extra; /* snapshot bytes, allowed over watch_buffer_max */
};
TAILQ_HEAD(control_clients, control_client);

struct control {
	struct event_base *base;
	const struct config *cfg;
	struct registry *reg;
	struct control_hooks hooks;
	struct evconnlistener *listener;
	struct event *pause_ev;
	struct evbuffer *scratch; /* STATUS/METRICS bodies */
	struct evbuffer *stage;   /* replies of the pass, to write directly */
	struct control_client *staging; /* the client whose pass owns stage */
	uint64_t mono;                  /* the clock cached for a pass */
	unsigned clock_uses;            /* reads of the cache since refreshed */
	char *path;                     /* bound socket, unlinked at free */
	struct control_clients clients;
	struct control_clients watchers;
	struct control_slots held;   /* held answers, in arrival order */
	struct control_slot *target; /* a held slot being answered */
	struct control_stats stats;
	uint64_t last_refusal_log;
};

static void control_process(struct control_client *);

/* A timeval from milliseconds. */
static struct timeval
control_tv(uint32_t ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}

/*
 * Where in-order output goes when no reply is outstanding: the stage
 * while this client's pass owns it (written at the end of the pass),
 * else the bufferevent's output.
 */
static struct evbuffer *
control_out(struct control_client *cl)
{
	if (cl->ctl->staging == cl)
		return cl->ctl->stage;
	return bufferevent_get_output(cl->bev);
}

/* Bytes this client holds in memory for output. */
static size_t
control_backlog(struct control_client *cl)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(cl->bev));

	if (cl->ctl->staging == cl)
		n += evbuffer_get_length(cl->ctl->stage);
	return n + cl->slot_bytes;
}

/*
 * The monotonic clock for a request.  Reading it cost a visible share of
 * a GET, so a pass reads it once per 64 requests: a pass takes
 * microseconds to a few milliseconds, far below any breaker interval.
 */
static uint64_t
control_clock(struct control *ctl)
{
	if (ctl->clock_uses++ % 64 == 0)
		ctl->mono = now_mono_ms();
	return ctl->mono;
}

/* Append a slot at the tail of the reply queue. */
static struct control_slot *
control_slot_new(struct control_client *cl, bool done)
{
	struct control_slot *s = xcalloc(1, sizeof *s);

	s->cl = cl;
	s->done = done;
	if ((s->buf = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	TAILQ_INSERT_TAIL(&cl->slots, s, entry);
	cl->nslots++;
	return s;
}

/* Unlink and free a slot, keeping the byte count right. */
static void
control_slot_free(struct control_client *cl, struct control_slot *s)
{
	TAILQ_REMOVE(&cl->slots, s, entry);
	cl->nslots--;
	cl->slot_bytes -= evbuffer_get_length(s->buf);
	evbuffer_free(s->buf);
	free(s->deps);
	free(s);
}

/* The buffer output goes to now: the socket, or the queue's tail. */
static struct evbuffer *
control_sink(struct control_client *cl)
{
	struct control_slot *tail;

	if (cl->ctl->target != NULL && cl->ctl->target->cl == cl)
		return cl->ctl->target->buf;
	if (TAILQ_EMPTY(&cl->slots))
		return control_out(cl);
	tail = TAILQ_LAST(&cl->slots, control_slots);
	if (!tail->done)
		tail = control_slot_new(cl, true);
	return tail->buf;
}

/* Queue output in order; direct to the socket when nothing waits. */
static void
control_emit(struct control_client *cl, const char *data, size_t len)
{
	struct evbuffer *sink;

	if (cl->bev == NULL || len == 0)
		return;
	sink = control_sink(cl);
	evbuffer_add(sink, data, len);
	if (sink != control_out(cl))
		cl->slot_bytes += len;
}

/* control_emit for a C string. */
static void
control_emit_str(struct control_client *cl, const char *s)
{
	control_emit(cl, s, strlen(s));
}

/* Move a whole buffer (STATUS/METRICS body) into the output, in order. */
static void
control_emit_buffer(struct control_client *cl, struct evbuffer *evb)
{
	size_t len = evbuffer_get_length(evb);
	struct evbuffer *sink;

	sink = control_sink(cl);
	evbuffer_add_buffer(sink, evb);
	if (sink != control_out(cl))
		cl->slot_bytes += len;
}

/*
 * Count an error by its code and format its "ERR CODE message" line; no
 * code says EUNAVAIL, no message "failed".  The formatter's result.
 */
static int
control_error_line(
    struct control *ctl, char *line, size_t len, int code, const char *msg)
{
	if (code > 0 && code < PROTO_NERRCODES)
		ctl->stats.errors[code]++;
	return proto_format_error(line, len, code != 0 ? code : PROTO_EUNAVAIL,
	    msg != NULL ? msg : "failed");
}

/* An "ERR CODE message" reply, counted. */
static void
control_error(struct control_client *cl, int code, const char *msg)
{
	char line[PROTO_REPLY_MAX];
	int n;

	if ((n = control_error_line(cl->ctl, line, sizeof line, code, msg)) > 0)
		control_emit(cl, line, (size_t)n);
}

/* Release a closed client once no FORCE/PUBLISH holds it. */
static void
control_client_free(struct control_client *cl)
{
	free(cl->wdeps);
	free(cl);
}

/* Stop being a WATCH subscriber. */
static void
control_unwatch(struct control_client *cl)
{
	if (!cl->watching)
		return;
	TAILQ_REMOVE(&cl->ctl->watchers, cl, wentry);
	cl->ctl->stats.watchers--;
	cl->watching = false;
}

/*
 * Close the connection now.  Replies still in flight keep the record
 * alive (their done callbacks find bev == NULL and free it at the end).
 */
static void
control_client_close(struct control_client *cl, const char *why)
{
	struct control_slot *s, *next;

	if (cl->bev == NULL)
		return;
	log_debug("control: close client uid %u pid %d: %s", (unsigned)cl->uid,
	    (int)cl->pid, why);
	control_unwatch(cl);
	if (cl->ctl->staging == cl) { /* not expected: a pass never closes */
		evbuffer_drain(
		    cl->ctl->stage, evbuffer_get_length(cl->ctl->stage));
		cl->ctl->staging = NULL;
	}
	for (s = TAILQ_FIRST(&cl->slots); s != NULL; s = TAILQ_NEXT(s, entry))
		if (s->held) {
			TAILQ_REMOVE(&cl->ctl->held, s, hentry);
			s->held = false;
			s->done = true; /* nothing will answer it now */
		}
	TAILQ_REMOVE(&cl->ctl->clients, cl, entry);
	cl->ctl->stats.clients--;
	bufferevent_free(cl->bev);
	cl->bev = NULL;
	event_free(cl->idle_ev);
	event_free(cl->resume_ev);
	cl->ctl = NULL;
	for (s = TAILQ_FIRST(&cl->slots); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->done)
			control_slot_free(cl, s);
	}
	if (TAILQ_EMPTY(&cl->slots))
		control_client_free(cl);
}

/*
 * Close when asked to and everything has been written; true if closed.
 * Never inside a pass (a FORCE completing at once): the pass ends first.
 */
static bool
control_maybe_close(struct control_client *cl)
{
	if (!cl->closing || !TAILQ_EMPTY(&cl->slots) || cl->ctl->staging == cl
	    || evbuffer_get_length(bufferevent_get_output(cl->bev)) != 0)
		return false;
	control_client_close(cl, "done");
	return true;
}

/* Stop reading; whatever the peer still sends is ignored. */
static void
control_stop_reading(struct control_client *cl)
{
	cl->closing = true;
	control_unwatch(cl);
	bufferevent_disable(cl->bev, EV_READ);
	evbuffer_drain(bufferevent_get_input(cl->bev),
	    evbuffer_get_length(bufferevent_get_input(cl->bev)));
	event_del(cl->idle_ev);
}

/* Too much output queued: stop reading requests until it drains. */
static void
control_check_throttle(struct control_client *cl)
{
	if (cl->throttled)
		return;
	if (control_backlog(cl) > CONTROL_OUT_HIGH
	    || cl->nslots >= CONTROL_SLOTS_MAX) {
		cl->throttled = true;
		bufferevent_disable(cl->bev, EV_READ);
	}
}

/* Resume reading once the backlog is down to half the limits. */
static void
control_maybe_resume(struct control_client *cl)
{
	if (!cl->throttled || cl->closing)
		return;
	if (control_backlog(cl) > CONTROL_OUT_HIGH / 2
	    || cl->nslots >= CONTROL_SLOTS_MAX / 2)
		return;
	cl->throttled = false;
	if (!cl->eof)
		bufferevent_enable(cl->bev, EV_READ);
	event_active(cl->resume_ev, EV_TIMEOUT, 1); /* input already read */
}

/* Write every finished slot at the head of the queue. */
static void
control_flush(struct control_client *cl)
{
	struct control_slot *s;

	while ((s = TAILQ_FIRST(&cl->slots)) != NULL && s->done) {
		cl->slot_bytes -= evbuffer_get_length(s->buf);
		evbuffer_add_buffer(control_out(cl), s->buf);
		control_slot_free(cl, s);
	}
	control_maybe_resume(cl);
}

/*
 * A held reply whose client went away: drop it, and the client with its
 * last slot.  True if so.
 */
static bool
control_slot_orphaned(struct control_slot *s)
{
	struct control_client *cl = s->cl;

	if (cl->bev != NULL)
		return false;
	control_slot_free(cl, s);
	if (TAILQ_EMPTY(&cl->slots))
		control_client_free(cl);
	return true;
}

/*
 * A held reply is complete: body and "END" if there is a body, else the
 * line of n bytes; then what is ready is sent in order.
 */
static void
control_slot_reply(
    struct control_slot *s, struct evbuffer *body, const char *line, int n)
{
	struct control_client *cl = s->cl;
	size_t before = evbuffer_get_length(s->buf);

	if (body != NULL) {
		evbuffer_add_buffer(s->buf, body);
		evbuffer_add(s->buf, "END\n", 4);
	} else if (n > 0)
		evbuffer_add(s->buf, line, (size_t)n);
	cl->slot_bytes += evbuffer_get_length(s->buf) - before;
	s->done = true;
	control_flush(cl);
	control_maybe_close(cl);
}

/* Completion of FORCE/PUBLISH (done_fn); done_arg is the slot. */
static void
control_done(int code, uint64_t version, const char *msg, void *arg)
{
	struct control_slot *s = arg;
	char line[PROTO_REPLY_MAX];
	int n;

	if (control_slot_orphaned(s))
		return;
	if (code == 0)
		n = proto_format_version(line, sizeof line, version);
	else
		n = control_error_line(
		    s->cl->ctl, line, sizeof line, code, msg);
	control_slot_reply(s, NULL, line, n);
}

/* Completion of a request with a body (body_fn). */
static void
control_done_body(int code, const char *msg, struct evbuffer *body, void *arg)
{
	struct control_slot *s = arg;
	char line[PROTO_REPLY_MAX];
	int n = 0;

	if (control_slot_orphaned(s))
		return;
	if (code != 0 || body == NULL) {
		n = control_error_line(
		    s->cl->ctl, line, sizeof line, code, msg);
		body = NULL;
	}
	control_slot_reply(s, body, line, n);
}

/* Is an optional hook there?  If the daemon gave none: EUNAVAIL. */
static bool
control_hook(struct control_client *cl, bool present)
{
	if (!present)
		control_error(
		    cl, PROTO_EUNAVAIL, "not available in this daemon");
	return present;
}

/* Look a dependency up or answer ENOENT. */
static struct dep *
control_find(struct control_client *cl, const char *name)
{
	struct dep *d;
	char msg[PROTO_ERRMSG_MAX];

	if ((d = registry_find(cl->ctl->reg, name)) == NULL) {
		snprintf(msg, sizeof msg, "no such dependency '%s'", name);
		control_error(cl, PROTO_ENOENT, msg);
	}
	return d;
}

/* Emit one view line with a prefix. */
static size_t
control_emit_view(
    struct control_client *cl, const char *prefix, const struct dep_view *v)
{
	char line[PROTO_REPLY_MAX];
	int n;

	if ((n = proto_format_view(line, sizeof line, prefix, v)) < 0)
		return 0;
	control_emit(cl, line, (size_t)n);
	return (size_t)n;
}

/*
 * Should this answer wait?  deps == NULL means every dependency (LIST,
 * WATCH of all); see dep_must_hold.
 */
static bool
control_must_hold(struct control *ctl, struct dep *const *deps, size_t n)
{
	size_t i, count = deps != NULL ? n : registry_count(ctl->reg);

	for (i = 0; i < count; i++)
		if (dep_must_hold(
		        deps != NULL ? deps[i] : registry_at(ctl->reg, i)))
			return true;
	return false;
}

/* Queue a held answer in the client's reply order. */
static void
control_hold(struct control_client *cl, enum proto_cmd cmd,
    struct dep *const *deps, size_t n)
{
	struct control_slot *s = control_slot_new(cl, false);

	s->held = true;
	s->cmd = cmd;
	s->ndeps = n;
	if (deps != NULL && n > 0) {
		s->deps = xreallocarray(NULL, n, sizeof *s->deps);
		memcpy(s->deps, deps, n * sizeof *s->deps);
	}
	TAILQ_INSERT_TAIL(&cl->ctl->held, s, hentry);
	cl->ctl->stats.held++;
}

/* GET <dep> */
static void
control_answer_get(struct control_client *cl, struct dep *d)
{
	struct dep_view v;
	char line[PROTO_REPLY_MAX];
	int n;

	dep_note_answer(d);
	dep_view(d, control_clock(cl->ctl), &v);
	if ((n = proto_format_get(line, sizeof line, &v)) > 0)
		control_emit(cl, line, (size_t)n);
}

/* ALLOW <dep> */
static void
control_answer_allow(struct control_client *cl, struct dep *d)
{
	struct dep_view v;
	char line[PROTO_REPLY_MAX];
	bool ok;
	int n;

	dep_note_answer(d);
	ok = dep_allow(d, control_clock(cl->ctl), &v);
	if ((n = proto_format_allow(line, sizeof line, ok, &v)) > 0)
		control_emit(cl, line, (size_t)n);
}

/* GET and ALLOW: answer now, or hold until the fleet state is read. */
static void
control_cmd_dep(struct control_client *cl, const struct proto_request *req)
{
	struct dep *d;

	if ((d = control_find(cl, req->dep)) == NULL)
		return;
	if (control_must_hold(cl->ctl, &d, 1))
		control_hold(cl, req->cmd, &d, 1);
	else if (req->cmd == PROTO_GET)
		control_answer_get(cl, d);
	else
		control_answer_allow(cl, d);
}

/* REPORT <dep> ok|fail|slow [ms] */
static void
control_cmd_report(struct control_client *cl, const struct proto_request *req)
{
	struct dep *d;

	if ((d = control_find(cl, req->dep)) == NULL)
		return;
	dep_report(d, control_clock(cl->ctl), req->outcome,
	    req->has_duration ? req->duration_ms : 0);
	control_emit_str(cl, "OK\n");
}

/* LIST: the count, one line per dependency, END. */
static void
control_answer_list(struct control_client *cl)
{
	struct registry *reg = cl->ctl->reg;
	size_t n = registry_count(reg);
	uint64_t now = now_mono_ms();
	struct dep_view v;
	char line[32];

	snprintf(line, sizeof line, "OK %zu\n", n);
	control_emit_str(cl, line);
	for (size_t i = 0; i < n; i++) {
		dep_note_answer(registry_at(reg, i));
		dep_view(registry_at(reg, i), now, &v);
		control_emit_view(cl, "", &v);
	}
	control_emit_str(cl, "END\n");
}

/* LIST waits while any dependency's fleet state is unread. */
static void
control_cmd_list(struct control_client *cl)
{
	if (control_must_hold(cl->ctl, NULL, 0))
		control_hold(cl, PROTO_LIST, NULL, 0);
	else
		control_answer_list(cl);
}

/* Is d among this subscriber's dependencies? */
static bool
control_subscribed(const struct control_client *cl, const struct dep *d)
{
	if (cl->watch_all)
		return true;
	for (size_t i = 0; i < cl->nwdeps; i++)
		if (cl->wdeps[i] == d)
			return true;
	return false;
}

/* Add a dependency to the subscription (a set). */
static void
control_subscribe(struct control_client *cl, struct dep *d)
{
	if (control_subscribed(cl, d))
		return;
	cl->wdeps = xreallocarray(cl->wdeps, cl->nwdeps + 1, sizeof *cl->wdeps);
	cl->wdeps[cl->nwdeps++] = d;
}

/*
 * WATCH [<dep> ...]: OK, then the current view of each named dependency
 * (every one when ds is NULL), then events.  A second WATCH adds to the
 * subscription.
 */
static void
control_answer_watch(
    struct control_client *cl, struct dep *const *list, size_t n)
{
	struct control *ctl = cl->ctl;
	uint64_t now = now_mono_ms();
	struct dep_view v;
	size_t i, j, bytes = 0;

	control_emit_str(cl, "OK\n");
	if (list == NULL) {
		cl->watch_all = true;
		n = registry_count(ctl->reg);
	}
	for (i = 0; i < n; i++) {
		struct dep *d = list ? list[i] : registry_at(ctl->reg, i);
		for (j = 0; list != NULL && j < i && list[j] != d; j++)
			;
		if (list != NULL && j < i)
			continue; /* named twice: one snapshot line */
		if (list != NULL)
			control_subscribe(cl, d);
		dep_note_answer(d);
		dep_view(d, now, &v);
		bytes += control_emit_view(cl, "EVENT ", &v);
	}
	cl->watch_extra = bytes;
	if (!cl->watching) {
		TAILQ_INSERT_TAIL(&ctl->watchers, cl, wentry);
		cl->watching = true;
		ctl->stats.watchers++;
	}
}

/*
 * WATCH: every name is checked before anything changes; the snapshot
 * (and the subscription) wait while a named dependency is unread.
 */
static void
control_cmd_watch(struct control_client *cl, const struct proto_request *req)
{
	struct dep *ds[PROTO_WATCH_MAX];
	size_t n = req->ndeps, i;

	for (i = 0; i < n; i++)
		if ((ds[i] = control_find(cl, req->deps[i])) == NULL)
			return;
	if (control_must_hold(cl->ctl, n > 0 ? ds : NULL, n))
		control_hold(cl, PROTO_WATCH, n > 0 ? ds : NULL, n);
	else
		control_answer_watch(cl, n > 0 ? ds : NULL, n);
}

/* STATUS and METRICS: OK, the hook's text, END. */
static void
control_cmd_body(
    struct control_client *cl, void (*fn)(struct evbuffer *, void *))
{
	struct control *ctl = cl->ctl;

	control_emit_str(cl, "OK\n");
	if (fn != NULL) {
		fn(ctl->scratch, ctl->hooks.arg);
		control_emit_buffer(cl, ctl->scratch);
	}
	control_emit_str(cl, "END\n");
}

/* HELP: OK, one line per command, END. */
static void
control_cmd_help(struct control_client *cl)
{
	control_emit_str(cl, "OK\n");
	for (size_t i = 0; proto_help_lines[i] != NULL; i++) {
		control_emit_str(cl, proto_help_lines[i]);
		control_emit_str(cl, "\n");
	}
	control_emit_str(cl, "END\n");
}

/* FORCE and PUBLISH: hand over to the daemon, reply when it is done. */
static void
control_cmd_async(struct control_client *cl, const struct proto_request *req)
{
	struct control *ctl = cl->ctl;
	struct control_slot *s;
	struct dep *d;

	if ((d = control_find(cl, req->dep)) == NULL)
		return;
	if (!control_hook(cl,
	        req->cmd == PROTO_FORCE ? ctl->hooks.force != NULL
	                                : ctl->hooks.publish != NULL))
		return;
	log_info("control: %s %s %s by uid %u%s%s", proto_cmd_name(req->cmd),
	    req->dep,
	    req->to == BREAKER_NSTATES ? "auto" : breaker_state_name(req->to),
	    (unsigned)cl->uid, *req->reason ? ": " : "", req->reason);
	s = control_slot_new(cl, false);
	if (req->cmd == PROTO_FORCE)
		ctl->hooks.force(d, req->to, req->ttl_s, req->reason, cl->uid,
		    control_done, s, ctl->hooks.arg);
	else
		ctl->hooks.publish(d, req->to, req->reason, cl->uid,
		    control_done, s, ctl->hooks.arg);
}

/* HISTORY <dep> [n]: read from ZooKeeper, answered when it is back. */
static void
control_cmd_history(struct control_client *cl, const struct proto_request *req)
{
	struct control *ctl = cl->ctl;
	struct dep *d;

	if ((d = control_find(cl, req->dep)) == NULL)
		return;
	if (!control_hook(cl, ctl->hooks.history != NULL))
		return;
	ctl->hooks.history(d, req->count, control_done_body,
	    control_slot_new(cl, false), ctl->hooks.arg);
}

/* FLEET: every instance's acknowledgements, read from ZooKeeper. */
static void
control_cmd_fleet(struct control_client *cl)
{
	struct control *ctl = cl->ctl;

	if (!control_hook(cl, ctl->hooks.fleet != NULL))
		return;
	ctl->hooks.fleet(
	    control_done_body, control_slot_new(cl, false), ctl->hooks.arg);
}

/* RELOAD (admin): the daemon re-reads its configuration. */
static void
control_cmd_reload(struct control_client *cl)
{
	struct control *ctl = cl->ctl;

	if (!control_hook(cl, ctl->hooks.reload != NULL))
		return;
	log_info("control: RELOAD by uid %u", (unsigned)cl->uid);
	ctl->hooks.reload(
	    control_done_body, control_slot_new(cl, false), ctl->hooks.arg);
}

/* Parse one line and answer it: memcached's parse-then-switch. */
static void
control_request(struct control_client *cl, char *line, size_t len)
{
	struct proto_request req;
	struct proto_error err;
	char msg[PROTO_ERRMSG_MAX];

	cl->ctl->stats.requests++;
	if (proto_parse(line, len, &req, &err) == -1) {
		control_error(cl, err.code, err.msg);
		return;
	}
	if (proto_cmd_admin(req.cmd) && !cl->admin) {
		snprintf(msg, sizeof msg, "%s needs an admin peer (uid %u)",
		    proto_cmd_name(req.cmd), (unsigned)cl->uid);
		log_info("control: refused %s from uid %u pid %d",
		    proto_cmd_name(req.cmd), (unsigned)cl->uid, (int)cl->pid);
		control_error(cl, PROTO_EPERM, msg);
		return;
	}
	switch (req.cmd) {
	case PROTO_PING:
		control_emit_str(cl, "OK PONG\n");
		break;
	case PROTO_GET:
	case PROTO_ALLOW:
		control_cmd_dep(cl, &req);
		break;
	case PROTO_REPORT:
		control_cmd_report(cl, &req);
		break;
	case PROTO_LIST:
		control_cmd_list(cl);
		break;
	case PROTO_WATCH:
		control_cmd_watch(cl, &req);
		break;
	case PROTO_FORCE:
	case PROTO_PUBLISH:
		control_cmd_async(cl, &req);
		break;
	case PROTO_STATUS:
		control_cmd_body(cl, cl->ctl->hooks.status);
		break;
	case PROTO_METRICS:
		control_cmd_body(cl, cl->ctl->hooks.metrics);
		break;
	case PROTO_HELP:
		control_cmd_help(cl);
		break;
	case PROTO_HISTORY:
		control_cmd_history(cl, &req);
		break;
	case PROTO_FLEET:
		control_cmd_fleet(cl);
		break;
	case PROTO_RELOAD:
		control_cmd_reload(cl);
		break;
	case PROTO_QUIT:
		control_emit_str(cl, "OK BYE\n");
		control_stop_reading(cl);
		break;
	case PROTO_NCMDS:
		break;
	}
}

/* Over-long line: one ETOOLONG now, then skip up to its "\n". */
static void
control_too_long(struct control_client *cl)
{
	char msg[64];

	cl->ctl->stats.requests++;
	snprintf(msg, sizeof msg, "line exceeds %d bytes", PROTO_LINE_MAX);
	control_error(cl, PROTO_ETOOLONG, msg);
}

/* Skip input up to the end of an over-long line; true once past it. */
static bool
control_discard(struct control_client *cl, struct evbuffer *in)
{
	struct evbuffer_ptr eol;
	size_t eol_len;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return false;
	}
	evbuffer_drain(in, (size_t)eol.pos + 1);
	cl->discarding = false;
	return true;
}

/* Take the next whole line off the input and answer it; false if none. */
static bool
control_next_line(struct control_client *cl, struct evbuffer *in)
{
	char line[PROTO_LINE_MAX + 1];
	struct evbuffer_ptr eol;
	size_t eol_len, len;

	if (cl->discarding)
		return control_discard(cl, in);
	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		if (evbuffer_get_length(in) < PROTO_LINE_MAX)
			return false;
		control_too_long(cl); /* it cannot fit any more */
		cl->discarding = true;
		return true;
	}
	len = (size_t)eol.pos + 1;
	if (len > PROTO_LINE_MAX) {
		control_too_long(cl);
		evbuffer_drain(in, len);
		return true;
	}
	evbuffer_remove(in, line, len);
	control_request(cl, line, len);
	return true;
}

/* After EOF the last, unterminated line still counts as a request. */
static void
control_last_line(struct control_client *cl, struct evbuffer *in)
{
	char line[PROTO_LINE_MAX + 1];
	size_t len = evbuffer_get_length(in);

	if (len > 0 && !cl->discarding && len < PROTO_LINE_MAX) {
		evbuffer_remove(in, line, len);
		control_request(cl, line, len);
	}
	evbuffer_drain(in, evbuffer_get_length(in));
	cl->closing = true;
}

/* Arm the half-written-line timer; it is not pushed back by more bytes. */
static void
control_arm_idle(struct control_client *cl, struct evbuffer *in)
{
	struct timeval tv;
	uint32_t ms = cl->ctl->cfg->idle_timeout_ms;

	if (ms == 0 || cl->closing || cl->throttled
	    || (evbuffer_get_length(in) == 0 && !cl->discarding)) {
		event_del(cl->idle_ev);
		return;
	}
	if (!evtimer_pending(cl->idle_ev, NULL)) {
		tv = control_tv(ms);
		evtimer_add(cl->idle_ev, &tv);
	}
}

/*
 * Start a pass over the input.  When nothing waits in the bufferevent's
 * output, the pass's replies collect in the stage and are written at the
 * end with one write: a stock bufferevent would arm EPOLLOUT and write on
 * the next loop iteration, three system calls more per request.
 */
static void
control_pass_begin(struct control_client *cl)
{
	struct control *ctl = cl->ctl;

	ctl->clock_uses = 0;
	if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0)
		ctl->staging = cl;
}

/*
 * End a pass: write the stage to the socket without blocking; what does
 * not fit (or meets an error) goes to the bufferevent, whose write timeout
 * and error reporting then apply as to any other output.
 */
static void
control_pass_end(struct control_client *cl)
{
	struct control *ctl = cl->ctl;

	ctl->clock_uses = 0;
	if (ctl->staging != cl)
		return;
	ctl->staging = NULL;
	if (evbuffer_get_length(ctl->stage) == 0)
		return;
	evbuffer_write(ctl->stage, bufferevent_getfd(cl->bev));
	if (evbuffer_get_length(ctl->stage) != 0)
		bufferevent_write_buffer(cl->bev, ctl->stage);
}

/* Answer every complete line buffered, as far as the limits allow. */
static void
control_process(struct control_client *cl)
{
	struct evbuffer *in = bufferevent_get_input(cl->bev);

	control_pass_begin(cl);
	while (!cl->closing && !cl->throttled && control_next_line(cl, in))
		control_check_throttle(cl);
	if (cl->eof && !cl->closing && !cl->throttled)
		control_last_line(cl, in);
	control_pass_end(cl);
	control_maybe_resume(cl); /* the direct write may have drained it all */
	control_arm_idle(cl, in);
	control_maybe_close(cl);
}

/* New input: answer what is complete. */
static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *cl = arg;

	(void)bev;
	control_process(cl);
}

/* Output drained: resume a throttled client, finish a closing one. */
static void
control_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *cl = arg;

	(void)bev;
	control_maybe_resume(cl);
	control_maybe_close(cl);
}

/*
 * EOF may be a half-close (the peer still reads its replies) or a full
 * close; only in the latter does poll report POLLHUP on a Unix socket, and
 * then nothing is left to answer.
 */
static bool
control_peer_gone(evutil_socket_t fd)
{
	struct pollfd pfd = {fd, POLLOUT, 0};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR));
}

/* EOF, errors and write timeouts from the bufferevent. */
static void
control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *cl = arg;

	if (what & BEV_EVENT_EOF) {
		if (control_peer_gone(bufferevent_getfd(bev))) {
			control_client_close(cl, "peer closed");
			return;
		}
		cl->eof = true;
		control_process(cl);
	} else if (what & BEV_EVENT_TIMEOUT)
		control_client_close(cl, "write timeout");
	else if (what & BEV_EVENT_ERROR)
		control_client_close(cl, strerror(EVUTIL_SOCKET_ERROR()));
}

/* A line stayed half-written too long: a stuck or hostile peer. */
static void
control_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control_client *cl = arg;

	(void)fd;
	(void)what;
	control_client_close(cl, "half-written line timed out");
}

/* Deferred from control_maybe_resume: lines read while throttled. */
static void
control_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control_client *cl = arg;

	(void)fd;
	(void)what;
	control_process(cl);
}

/* Is this peer allowed to run admin commands?  Root always is. */
static bool
control_is_admin(const struct config *cfg, uid_t uid)
{
	if (uid == 0)
		return true;
	for (size_t i = 0; i < cfg->n_admin_uids; i++)
		if (cfg->admin_uids[i] == uid)
			return true;
	return false;
}

/* Refuse a connection over max_clients with one line, logged at most 1/s. */
static void
control_refuse(struct control *ctl, evutil_socket_t fd)
{
	static const char msg[] = "ERR EBUSY too many clients\n";
	uint64_t now = now_mono_ms();
	ssize_t n;

	ctl->stats.refused++;
	if (now - ctl->last_refusal_log >= 1000 || ctl->last_refusal_log == 0) {
		log_warnx("control: %u clients connected, refusing more "
		          "(%llu refused so far)",
		    ctl->cfg->max_clients,
		    (unsigned long long)ctl->stats.refused);
		ctl->last_refusal_log = now;
	}
	n = write(fd, msg, sizeof msg - 1); /* best effort, never blocks */
	(void)n;
	evutil_closesocket(fd);
}

/* Set up a new client's bufferevent, timers and limits. */
static void
control_client_new(
    struct control *ctl, evutil_socket_t fd, uid_t uid, pid_t pid)
{
	struct control_client *cl = xcalloc(1, sizeof *cl);
	struct timeval wtv = control_tv(CONTROL_WTIMEOUT_MS);

	cl->ctl = ctl;
	cl->uid = uid;
	cl->pid = pid;
	cl->admin = control_is_admin(ctl->cfg, uid);
	TAILQ_INIT(&cl->slots);
	cl->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	cl->idle_ev = evtimer_new(ctl->base, control_idle_cb, cl);
	cl->resume_ev = event_new(ctl->base, -1, 0, control_resume_cb, cl);
	if (cl->bev == NULL || cl->idle_ev == NULL || cl->resume_ev == NULL)
		fatalx("control: out of memory for a client");
	bufferevent_setcb(
	    cl->bev, control_read_cb, control_write_cb, control_event_cb, cl);
	bufferevent_setwatermark(cl->bev, EV_READ, 0, CONTROL_IN_HIGH);
	bufferevent_set_timeouts(cl->bev, NULL, &wtv);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&ctl->clients, cl, entry);
	ctl->stats.clients++;
	ctl->stats.accepted++;
	log_debug(
	    "control: client uid %u pid %d connected", (unsigned)uid, (int)pid);
}

/* evconnlistener callback: check limits and credentials, then serve. */
static void
control_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control *ctl = arg;
	struct ucred cred;
	socklen_t len = sizeof cred;

	(void)lev;
	(void)sa;
	(void)salen;
	if (ctl->stats.clients >= ctl->cfg->max_clients) {
		control_refuse(ctl, fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_debug("control: SO_PEERCRED: %s", strerror(errno));
		evutil_closesocket(fd);
		return;
	}
	control_client_new(ctl, fd, cred.uid, cred.pid);
}

/* Accept failed: out of descriptors pauses accepting for a second. */
static void
control_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct control *ctl = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = control_tv(CONTROL_PAUSE_MS);

	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		log_debug("control: accept: %s", strerror(e));
		return;
	}
	log_warnx("control: accept: %s; pausing for %d ms", strerror(e),
	    CONTROL_PAUSE_MS);
	ctl->stats.accept_paused++;
	evconnlistener_disable(lev);
	evtimer_add(ctl->pause_ev, &tv);
}

/* The accept pause is over. */
static void
control_pause_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *ctl = arg;

	(void)fd;
	(void)what;
	if (ctl->listener != NULL)
		evconnlistener_enable(ctl->listener);
}

/* Create the control server; nothing listens until control_listen(). */
struct control *
control_new(struct event_base *base, const struct config *cfg,
    struct registry *reg, const struct control_hooks *hooks)
{
	struct control *ctl = xcalloc(1, sizeof *ctl);

	ctl->base = base;
	ctl->cfg = cfg;
	ctl->reg = reg;
	if (hooks != NULL)
		ctl->hooks = *hooks;
	TAILQ_INIT(&ctl->clients);
	TAILQ_INIT(&ctl->watchers);
	TAILQ_INIT(&ctl->held);
	ctl->pause_ev = evtimer_new(base, control_pause_cb, ctl);
	ctl->scratch = evbuffer_new();
	ctl->stage = evbuffer_new();
	if (ctl->pause_ev == NULL || ctl->scratch == NULL || ctl->stage == NULL)
		fatalx("control_new: out of memory");
	return ctl;
}

/*
 * A socket file already at path: remove it only if nobody answers there
 * (connect refused: a daemon died without cleaning up).  Returns -1 if
 * another daemon is alive or the path is not a socket.
 */
static int
control_clear_stale(const char *path, const struct sockaddr_un *saddr)
{
	struct stat st;
	int fd, rc, e;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("control_listen: %s", path);
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx(
		    "control_listen: %s exists and is not a socket", path);
		return -1;
	}
	if ((fd = socket(
	         AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))
	    == -1) {
		log_warn("control_listen: socket");
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)saddr, sizeof *saddr);
	e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
		log_warnx(
		    "control_listen: another daemon is answering on %s", path);
		return -1;
	}
	if (e != ECONNREFUSED && e != ENOENT) {
		errno = e;
		log_warn("control_listen: probe %s", path);
		return -1;
	}
	if (e == ECONNREFUSED && unlink(path) == -1 && errno != ENOENT) {
		log_warn("control_listen: unlink stale %s", path);
		return -1;
	}
	if (e == ECONNREFUSED)
		log_info("control: removed stale socket %s", path);
	return 0;
}

/* chown to socket_group (when set) and chmod to socket_mode. */
static int
control_set_perms(const struct config *cfg, const char *path)
{
	struct group *gr;

	if (cfg->socket_group != NULL && *cfg->socket_group != '\0') {
		if ((gr = getgrnam(cfg->socket_group)) == NULL) {
			log_warnx("control_listen: unknown group %s",
			    cfg->socket_group);
			return -1;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) == -1) {
			log_warn("control_listen: chown %s", path);
			return -1;
		}
	}
	if (chmod(path, cfg->socket_mode) == -1) {
		log_warn("control_listen: chmod %s", path);
		return -1;
	}
	return 0;
}

/* Bind with a tight umask so the socket is never briefly too open. */
static int
control_bind(const char *path, const struct sockaddr_un *saddr)
{
	mode_t old;
	int fd, rc;

	if ((fd = socket(
	         AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))
	    == -1) {
		log_warn("control_listen: socket");
		return -1;
	}
	old = umask(S_IRWXG | S_IRWXO);
	rc = bind(fd, (const struct sockaddr *)saddr, sizeof *saddr);
	umask(old);
	if (rc == -1) {
		log_warn("control_listen: bind %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* Listen on cfg->socket_path; see control.h. */
int
control_listen(struct control *ctl)
{
	const char *path = ctl->cfg->socket_path;
	struct sockaddr_un saddr;
	int fd;

	if (ctl->listener != NULL)
		return 0;
	memset(&saddr, 0, sizeof saddr);
	saddr.sun_family = AF_UNIX;
	if (path == NULL
	    || strlcpy_b(saddr.sun_path, path, sizeof saddr.sun_path)
	        >= sizeof saddr.sun_path) {
		log_warnx("control_listen: socket path too long or unset");
		return -1;
	}
	if (control_clear_stale(path, &saddr) == -1
	    || (fd = control_bind(path, &saddr)) == -1)
		return -1;
	if (control_set_perms(ctl->cfg, path) == -1)
		goto fail;
	/* A burst of max_clients connects must not meet EAGAIN. */
	ctl->listener = evconnlistener_new(ctl->base, control_accept_cb, ctl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    ctl->cfg->max_clients > CONTROL_BACKLOG_MIN
	        ? (int)ctl->cfg->max_clients
	        : CONTROL_BACKLOG_MIN,
	    fd);
	if (ctl->listener == NULL) {
		log_warn("control_listen: listen %s", path);
		goto fail;
	}
	evconnlistener_set_error_cb(ctl->listener, control_accept_error_cb);
	ctl->path = xstrdup(path);
	log_info("control: listening on %s", path);
	return 0;
fail:
	close(fd);
	unlink(path);
	return -1;
}

/*
 * Send an EVENT line to every subscriber of the dependency.  A subscriber
 * with more than watch_buffer_max bytes unread (beyond its initial
 * snapshot) is dropped: one last ERR line, then closed once written.
 */
void
control_notify(struct control *ctl, const struct dep_view *v)
{
	struct control_client *cl, *next;
	char line[PROTO_REPLY_MAX];
	struct dep *d;
	int n;

	if (TAILQ_EMPTY(&ctl->watchers))
		return;
	d = registry_find(ctl->reg, v->name);
	if ((n = proto_format_view(line, sizeof line, "EVENT ", v)) < 0)
		return;
	for (cl = TAILQ_FIRST(&ctl->watchers); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, wentry);
		if (!control_subscribed(cl, d))
			continue;
		control_emit(cl, line, (size_t)n);
		ctl->stats.events++;
		if (control_backlog(cl)
		    > ctl->cfg->watch_buffer_max + cl->watch_extra) {
			log_info("control: dropping WATCH client uid %u pid "
			         "%d: %zu bytes unread",
			    (unsigned)cl->uid, (int)cl->pid,
			    control_backlog(cl));
			ctl->stats.watch_dropped++;
			control_error(cl, PROTO_EBUSY, "watch buffer overflow");
			control_stop_reading(cl);
		}
	}
}

/* Answer one held slot now, in its place in the client's order. */
static void
control_release_slot(struct control *ctl, struct control_slot *s)
{
	struct control_client *cl = s->cl;

	TAILQ_REMOVE(&ctl->held, s, hentry);
	s->held = false;
	ctl->target = s;
	switch (s->cmd) {
	case PROTO_GET:
		control_answer_get(cl, s->deps[0]);
		break;
	case PROTO_ALLOW:
		control_answer_allow(cl, s->deps[0]);
		break;
	case PROTO_LIST:
		control_answer_list(cl);
		break;
	default:
		control_answer_watch(cl, s->deps, s->ndeps);
		break;
	}
	ctl->target = NULL;
	s->done = true;
	control_flush(cl);
	control_maybe_close(cl);
}

/* The first held answer that may go now, or NULL. */
static struct control_slot *
control_next_release(struct control *ctl)
{
	struct control_slot *s;

	for (s = TAILQ_FIRST(&ctl->held); s != NULL; s = TAILQ_NEXT(s, hentry))
		if (!control_must_hold(ctl, s->deps, s->ndeps))
			return s;
	return NULL;
}

/*
 * See control.h: give every held answer that no longer has to wait.
 * Answering one can change a view and call back here (through the
 * daemon's hook), and can free slots: so the nested call does nothing and
 * the scan starts again from the head after each answer.  d is a hint
 * only; every held answer is checked.
 */
void
control_release(struct control *ctl, struct dep *d)
{
	struct control_slot *s;

	(void)d;
	if (ctl->target != NULL || TAILQ_EMPTY(&ctl->held))
		return;
	ctl->clock_uses = 0; /* outside a pass: read the clock afresh */
	while ((s = control_next_release(ctl)) != NULL)
		control_release_slot(ctl, s);
}

/* Does held slot s name d? */
static bool
control_slot_names(const struct control_slot *s, const struct dep *d)
{
	for (size_t i = 0; i < s->ndeps; i++)
		if (s->deps[i] == d)
			return true;
	return false;
}

/*
 * See control.h: d was removed.  A held answer naming it gets the error
 * a request naming it now gets, in its place; WATCH subscriptions drop
 * it (a subscriber of everything just hears nothing more of it).
 */
void
control_forget(struct control *ctl, struct dep *d)
{
	char msg[PROTO_ERRMSG_MAX];
	struct control_client *cl;
	struct control_slot *s;

	for (cl = TAILQ_FIRST(&ctl->watchers); cl != NULL;
	     cl = TAILQ_NEXT(cl, wentry))
		for (size_t i = 0; i < cl->nwdeps; i++)
			if (cl->wdeps[i] == d) {
				cl->wdeps[i] = cl->wdeps[--cl->nwdeps];
				break;
			}
	snprintf(
	    msg, sizeof msg, "no such dependency '%s' (removed)", dep_name(d));
	for (;;) {
		for (s = TAILQ_FIRST(&ctl->held); s != NULL;
		     s = TAILQ_NEXT(s, hentry))
			if (control_slot_names(s, d))
				break;
		if (s == NULL)
			break;
		cl = s->cl;
		TAILQ_REMOVE(&ctl->held, s, hentry);
		s->held = false;
		ctl->target = s;
		control_error(cl, PROTO_ENOENT, msg);
		ctl->target = NULL;
		s->done = true;
		control_flush(cl);
		control_maybe_close(cl);
	}
}

/* A copy of the counters, for STATUS and METRICS. */
void
control_stats(const struct control *ctl, struct control_stats *st)
{
	*st = ctl->stats;
}

/* Close every client, stop listening and remove the socket file. */
void
control_free(struct control *ctl)
{
	struct control_client *cl;

	if (ctl == NULL)
		return;
	while ((cl = TAILQ_FIRST(&ctl->clients)) != NULL)
		control_client_close(cl, "shutting down");
	if (ctl->listener != NULL)
		evconnlistener_free(ctl->listener);
	if (ctl->path != NULL && unlink(ctl->path) == -1 && errno != ENOENT)
		log_warn("control_free: unlink %s", ctl->path);
	free(ctl->path);
	event_free(ctl->pause_ev);
	evbuffer_free(ctl->scratch);
	evbuffer_free(ctl->stage);
	free(ctl);
}
