/*
 * fleet.h - breakerd's side of ZooKeeper: the session (zk.c), this
 * instance's registration (membership.c), one election per dependency
 * (election.c) and the records (record.c), glued to the registry.  Every
 * instance watches every dependency's state and override znodes and
 * applies what it reads; the leader of a dependency is its only writer,
 * through one fenced multi per write.  Loop thread only.
 */
#ifndef BREAKERD_FLEET_H
#define BREAKERD_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "config.h"
#include "errcode.h"
#include "registry.h"
#include "witness.h"

struct event_base;
struct evbuffer;
struct fleet;
struct membership;
struct zk;

/* What the daemon hears from the fleet; any member may be NULL. */
struct fleet_hooks {
	/* This instance now leads dep (takeover record written) or not. */
	void (*leader)(struct dep *, bool is_leader, void *arg);
	/* Leader only: the trip votes or the live count changed. */
	void (*votes)(struct dep *, size_t votes, size_t live, void *arg);
	/* Cannot go on (instance id taken): the daemon should exit(1). */
	void (*fatal_error)(const char *msg, void *arg);
	void *arg;
};

/*
 * Publish and force complete through a done_fn (errcode.h): PROTO_EBUSY
 * not leader, lease expired, version conflict; PROTO_EUNAVAIL no session
 * or outcome unknown; PROTO_EPROTO bad argument.  version is the state or
 * override znode's new version.
 */
struct fleet *fleet_new(struct event_base *, const struct config *,
    struct registry *, const struct fleet_hooks *);
/* Connect (asynchronously).  -1 if the handle could not be made. */
int fleet_start(struct fleet *);
/* Close the session now: ephemerals (votes, elections) go at once. */
void fleet_stop(struct fleet *);
void fleet_free(struct fleet *);

/*
 * A reload added dep to the registry: its znode parents are created if
 * missing, its state and override read with watches (it stays held until
 * read), its election joined and its vote kept.  Works in any session
 * state (what is not connected yet happens on the next connect).  -1 if
 * it could not be set up (logged).
 */
int fleet_add_dep(struct fleet *, struct dep *);
/*
 * A reload removed dep: leadership is given up, our election node and
 * vote deleted, its watches no longer applied.  Completions still in
 * flight find a retired entry, freed when the last of them returned.
 * The fleet's state znode stays (other instances may have the dep).
 */
void fleet_remove_dep(struct fleet *, struct dep *);

/*
 * Leader only: write dep's state record (term and leader are ours; extra,
 * if not NULL, gives open_until_ms, open_wait_ms, failed_recoveries).
 */
void fleet_publish(struct fleet *, struct dep *, enum breaker_state,
    const char *reason, const struct state_record *extra, done_fn, void *arg);
/*
 * Any instance: set the override (to FORCED_OPEN or CLOSED; ttl_s 0 = no
 * expiry) or remove it (to BREAKER_NSTATES, "auto").
 */
void fleet_force(struct fleet *, struct dep *, enum breaker_state to,
    uint32_t ttl_s, const char *reason, const char *by, done_fn, void *arg);
/* HISTORY: the newest n transitions of dep, as "OK <n>" + JSON lines. */
void fleet_history(struct fleet *, struct dep *, size_t n, body_fn, void *arg);

/* FLEET: every instance's acknowledgements, one JSON document. */
void fleet_view(struct fleet *, body_fn, void *arg);
/* Acknowledgements go to fn (instdata_set) instead of a direct write. */
void fleet_set_ack_sink(
    struct fleet *, void (*fn)(const char *, void *, void *), void *arg);
/* An applied version or authority changed: acknowledge (coalesced). */
void fleet_applied(struct fleet *);
/* breakerd_propagation_seconds, breakerd_converged and ack writes. */
void fleet_metrics(const struct fleet *, struct evbuffer *);

/* Cast (tripped) or withdraw this instance's trip vote for dep. */
void fleet_vote(
    struct fleet *, struct dep *, bool tripped, const struct breaker_stats *);

/* May a leader act now (session connected and lease not run out)? */
bool fleet_lease_valid(const struct fleet *, uint64_t now_ms);
/* Is this instance the confirmed leader of dep (takeover written)? */
bool fleet_is_leader(const struct fleet *, const struct dep *);
size_t fleet_live_instances(const struct fleet *);
/* For modules with znodes of their own (summary.c): the session, the
 * membership (live ids, our registration record) and zk.root. */
struct zk *fleet_zk(struct fleet *);
const struct membership *fleet_membership(const struct fleet *);
const char *fleet_root(const struct fleet *);
/* Leader only (0 otherwise): trip votes for dep. */
size_t fleet_vote_count(const struct fleet *, const struct dep *);
uint64_t fleet_records_rejected(const struct fleet *);
/* key=value lines for STATUS; never the credential. */
void fleet_status(const struct fleet *, struct evbuffer *);

/* Who runs the checks this instance is asked for as a witness. */
void fleet_set_witness_hooks(struct fleet *, const struct witness_hooks *);
/*
 * Leader only: ask the next candidate in dep's election to run checks
 * health checks (witness.h); done is called exactly once, with
 * WITNESS_ALONE when there is no witness, no answer within timeout_ms,
 * or this instance is not the acting leader.
 */
void fleet_corroborate(struct fleet *, struct dep *, uint32_t checks,
    uint32_t timeout_ms, witness_done_fn, void *arg);
/* Leader only: hand dep to the next candidate (blind for it). */
void fleet_hand_over(struct fleet *, struct dep *);
/* Leader only (0 otherwise): trip votes for dep not cast by us. */
size_t fleet_other_votes(const struct fleet *, const struct dep *);
/* Requests this instance answered as a witness for dep. */
uint64_t fleet_witness_answered(const struct fleet *, const struct dep *);

/* Read "user:password" from a credential file (trailing newline cut).
 * -1 and a message on error; never logs the content. */
int fleet_read_credential(
    const char *path, char *out, size_t outlen, char *err, size_t errlen);

#endif
