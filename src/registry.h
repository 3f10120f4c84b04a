/*
 * registry.h - every dependency's state as this instance sees it: the local
 * breaker fed by REPORTs, the fleet record last read from ZooKeeper, the
 * operator override, and the effective answer built from the three
 * (docs/design.md "What an application is told").  Pure: no I/O, no clock
 * reads; the loop thread is its only user.  Hooks tell the daemon what
 * changed so that it can notify WATCH clients and ZooKeeper.
 */
#ifndef BREAKERD_REGISTRY_H
#define BREAKERD_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "config.h"
#include "record.h"

enum authority {
	AUTH_AUTHORITATIVE, /* session connected and fleet state current */
	AUTH_STALE,         /* disconnected or re-reading: last known state */
	AUTH_LOCAL          /* no fleet state yet, or session lost */
};

/* The ZooKeeper session as the registry needs to know it. */
enum fleet_session {
	FLEET_STANDALONE, /* no ZooKeeper configured: local only */
	FLEET_CONNECTING, /* never connected yet, or new session pending */
	FLEET_CONNECTED,  /* connected and every state read */
	FLEET_SUSPENDED,  /* connection lost, session may still live */
	FLEET_LOST        /* session expired; re-reading */
};

/* The answer an application gets. */
struct dep_view {
	const char *name;
	enum breaker_state state;
	uint64_t version; /* fleet state znode version; 0 if none */
	enum authority authority;
	int64_t ttl_left_ms; /* override with a ttl: time left here; else -1 */
	uint32_t ramp_ppm; /* share of calls admitted while ramping; 0: none */
	bool ramp_held;    /* dep_allow: the ramp held this call back */
};

/* Counters for METRICS. */
struct dep_counters {
	uint64_t transitions[BREAKER_NSTATES][BREAKER_NSTATES]; /* effective */
	uint64_t calls[BREAKER_NOUTCOMES];
	uint64_t allowed;
	uint64_t denied;
	uint64_t ramp_held; /* denied by the recovery ramp (in denied too) */
	uint64_t ramps;     /* ramps started */
	uint64_t
	    records_rejected;   /* state/override znodes that did not parse */
	uint64_t records_stale; /* older than what we hold: ignored */
	uint64_t unsynced_answers; /* local answers after startup_wait_ms */
	int64_t apply_lag_ms;      /* wall: record written -> applied here */
};

struct registry;
struct dep;

/* What the daemon wants to hear about; any member may be NULL. */
struct registry_hooks {
	/* The effective view changed (state, version or authority). */
	void (*changed)(struct dep *, const struct dep_view *old,
	    const struct dep_view *now, const char *reason, void *arg);
	/* The local breaker tripped (vote) or came back (withdraw). */
	void (*local_vote)(struct dep *, bool tripped,
	    const struct breaker_stats *, void *arg);
	void *arg;
	/* Held answers about dep may now be given (fleet state read, or
	 * the start-up wait over: dep is NULL then, for every one). */
	void (*release)(struct dep *, void *arg);
};

struct registry *registry_new(
    const struct config *, uint64_t seed, uint64_t now_ms);
void registry_free(struct registry *);
void registry_set_hooks(struct registry *, const struct registry_hooks *);

/*
 * A reload adds a dependency (cfg must outlive it, or be rebound) or
 * removes one: it leaves the table, and LIST and registry_find, at once,
 * while its memory stays valid until registry_free (dep_removed() says
 * so), for what is still in flight about it.
 */
struct dep *registry_add(struct registry *, const struct dep_config *cfg,
    uint64_t seed, uint64_t now_ms);
void registry_remove(struct registry *, struct dep *);
bool dep_removed(const struct dep *);
/* Every dependency's settings now live in cfg (same names). */
void registry_rebind(struct registry *, const struct config *cfg);
/* An added dependency's start-up wait ran out before its state was read. */
void registry_dep_wait_over(struct registry *, struct dep *);

size_t registry_count(const struct registry *);
struct dep *registry_at(struct registry *, size_t i);
struct dep *registry_find(struct registry *, const char *name);

/* Session changes recompute every dependency's authority. */
void registry_set_session(
    struct registry *, enum fleet_session, uint64_t now_ms);
enum fleet_session registry_session(const struct registry *);
/* Standalone, or every dependency's fleet state read since the session
 * (re)started: STATUS says ready=1. */
bool registry_ready(const struct registry *);
/* Timers: local open waits, half-open limits, a standalone override's
 * expiry (in a fleet the leader removes it from ZooKeeper). */
void registry_tick(struct registry *, uint64_t now_ms);
/*
 * The start-up wait (startup_wait_ms) is over: a dependency whose fleet
 * state was never read answers from its local breaker (`local`) instead
 * of being held.
 */
void registry_wait_over(struct registry *, uint64_t now_ms);
bool registry_waiting(const struct registry *);

const char *dep_name(const struct dep *);
const struct dep_config *dep_config(const struct dep *);
void dep_view(struct dep *, uint64_t now_ms, struct dep_view *);
/* ALLOW: true if the call may go ahead; counts allow/deny. */
bool dep_allow(struct dep *, uint64_t now_ms, struct dep_view *);
/* The recovery ramp's share of calls now (ppm); 0 when not ramping. */
uint32_t dep_ramp_share(const struct dep *, uint64_t now_ms);
/* REPORT: feed the local breaker. */
void dep_report(
    struct dep *, uint64_t now_ms, enum breaker_outcome, uint32_t duration_ms);
/*
 * Must answers about this dependency (GET, ALLOW, LIST, a WATCH snapshot)
 * wait?  True in a fleet while its fleet state has never been read in
 * this process and the start-up wait is not over: an answer from the
 * empty local breaker could say ALLOW where the fleet denies.
 */
bool dep_must_hold(const struct dep *);
/* An answer is about to be given: counted (METRICS) if it comes from
 * the local breaker only because the start-up wait ran out first. */
void dep_note_answer(struct dep *);

/*
 * Apply a fleet state read from ZooKeeper.  Applied only if newer than the
 * one held (same czxid and higher version, or higher mzxid): returns 1 if
 * applied, 0 if ignored as stale.
 */
int dep_apply_state(struct dep *, const struct state_record *,
    const struct znode_ver *, uint64_t now_ms, uint64_t wall_ms);
/* (wall_ms only computes the displayed apply lag.) */
/* A state znode did not parse: counted, last good state kept. */
void dep_reject_record(struct dep *);
/* Override set (rec != NULL) or removed (rec == NULL). */
int dep_apply_override(struct dep *, const struct override_record *,
    const struct znode_ver *, uint64_t now_ms);
/* Mark whether this dependency's fleet state has been read since the
 * session (re)started: until then answers are `local`. */
void dep_set_synced(struct dep *, bool, uint64_t now_ms);

/*
 * Its dep_config's breaker and ramp settings were changed in place (a
 * reload): the local breaker takes the new ones, keeping its state and
 * what its window can hold (carry says what), and a running ramp goes
 * on from the same fraction of its course.  Nothing is published: the
 * fleet state is not the local breaker's to change.  -1 if the breaker
 * refused the settings (they were validated: it cannot happen).
 */
int dep_reconfigure(struct dep *, const struct ramp_config *old_ramp,
    uint64_t now_ms, struct breaker_carry *carry);

const struct state_record *dep_fleet(const struct dep *, struct znode_ver *);
/* The override in force (obeyed until its znode changes), or NULL. */
const struct override_record *dep_override(
    const struct dep *, struct znode_ver *);
/*
 * Time left of the override's ttl, measured on the monotonic clock from
 * when this instance first saw its version: false if no override with a
 * ttl is in force.
 */
bool dep_override_left(const struct dep *, uint64_t now_ms, uint64_t *left);
struct breaker *dep_breaker(struct dep *);
const struct dep_counters *dep_counters(const struct dep *);
/* This instance leads the dependency (set by the election code). */
void dep_set_leader(struct dep *, bool);
bool dep_is_leader(const struct dep *);

/* What the shared-memory table tells an ALLOW (see shm.c). */
enum dep_answer {
	DEP_ANSWER_ASK,   /* ask the socket: not synced (held) */
	DEP_ANSWER_ALLOW, /* every call may go ahead */
	DEP_ANSWER_DENY,  /* no call may */
	DEP_ANSWER_PERMIT /* local HALF_OPEN: a call needs a permit */
};
/* The answer dep_allow() would give, without taking a permit. */
enum dep_answer dep_answer(const struct dep *);
/* Where half-open permits live once handed to the shared table: a
 * socket ALLOW that finds none left in the breaker claims one there. */
void registry_set_permit_pool(
    struct registry *, bool (*claim)(struct dep *, void *), void *arg);
/* Calls answered or reported through the shared table and not fed one
 * by one to dep_allow()/dep_report(): counted for METRICS only. */
void dep_count_table(struct dep *, uint64_t allowed, uint64_t denied,
    const uint64_t calls[BREAKER_NOUTCOMES]);

const char *authority_name(enum authority);
const char *fleet_session_name(enum fleet_session);

#endif
