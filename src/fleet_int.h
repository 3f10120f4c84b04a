/*
 * fleet_int.h - what fleet.c (session, watches, STATUS) and leadwrite.c
 * (the leader's writes and takeover) share: one dependency's ZooKeeper
 * side and the fleet itself.  Private to those two files; every other
 * module (votes.c, spread.c, takeover.c) gets only the few values it
 * needs.  Loop thread only.
 */
#ifndef BREAKERD_FLEET_INT_H
#define BREAKERD_FLEET_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet.h"
#include "record.h"
#include "spread.h"
#include "zk.h"

struct converge;
struct election;
struct event;
struct history;
struct votes;

/*
 * Where the session's set-up stands.  Connectivity itself is zk.c's
 * (zk_connected); this is what the fleet has done in the session.
 * Transitions go through fleet_phase_set (fleet.c), which logs them.
 */
enum fleet_phase {
	FLEET_PHASE_IDLE,        /* no session set up: parents unknown */
	FLEET_PHASE_AUTH_FAILED, /* as IDLE, after the server refused us */
	FLEET_PHASE_CHECK_NEW,   /* a new session checks the parents */
	FLEET_PHASE_CHECK_OLD,   /* a surviving session checks them */
	FLEET_PHASE_JOINING,     /* parents exist; join once registered */
	FLEET_PHASE_UP,          /* parents exist; elections joined */
	FLEET_PHASE_STOPPED,     /* fleet_stop: nothing more */
};

/* One dependency's ZooKeeper side. */
struct fdep {
	struct fleet *fl;
	struct dep *dep;
	char *dir;
	char *state_path;
	char *override_path;
	char *history_dir;
	struct zk_watch state_w;
	struct zk_watch override_w;
	struct election *el;
	struct votes *votes;     /* votes.c: our vote, the leader's tally */
	struct history *hist;    /* history.c: entries under dir/history */
	struct event *expire_ev; /* the leader's override ttl timer */
	bool expiring;           /* its fenced delete is out */

	uint64_t synced_epoch; /* conn epoch whose state read completed */
	bool leading;          /* takeover written, announced */
	bool takeover_busy;
	bool takeover_created; /* we created the state: no term bump */
	uint64_t takeover_epoch;
	uint64_t term;     /* the term we lead under */
	uint64_t term_gen; /* the session generation that wrote it */
	struct state_record takeover_rec;
	bool seen; /* seen_ver holds the state znode's last read */
	struct znode_ver seen_ver; /* even of a record that did not parse */
	bool recreating; /* a fenced create of a deleted state is out */
	uint64_t spread_tried_ms; /* last handover attempt (monotonic) */
	bool blind_handover;      /* the handover under way: we are blind */
	bool ovr_known;           /* ovr_mzxid holds a read of the override */
	bool removed;    /* a reload removed it: inert, see fleet_remove_dep */
	bool needs_dirs; /* added live: its parents not checked yet */
	bool dirs_lost;  /* a create of its parents was cut off: re-check */
	int64_t ovr_mzxid; /* its mzxid; 0 when there is none */
};

struct fleet {
	struct event_base *base;
	const struct config *cfg;
	struct registry *reg;
	struct fleet_hooks hooks;
	struct zk *zk;
	struct membership *mb;
	struct witness *wit; /* second opinions before a fleet trip */
	struct fdep **deps;  /* one by one: completions and watches point in */
	size_t ndeps;
	struct fdep **tombs; /* removed by a reload: freed after the session */
	size_t ntombs;
	char *root;

	enum fleet_phase phase;
	uint64_t conn_epoch; /* bumped on every CONNECTED */
	size_t nsynced;
	size_t dirs_pending;       /* parent reads not back yet */
	uint64_t records_rejected; /* state and override records */
	uint64_t publishes;
	uint64_t takeovers;
	struct event *lease_ev;
	struct event *spread_ev;
	struct spread_dep
	    *spread_deps;         /* leadwrite.c's view, ndeps (or more) */
	const char **spread_live; /* and its live ids */
	size_t spread_live_cap;
	struct converge *conv; /* converge.c: acknowledgements */
};

/* fleet.c: the reading side, which the leader's writes feed too. */
struct fdep *fleet_fdep(const struct fleet *, const struct dep *);
void fleet_seen(struct fdep *, const struct znode_ver *);
void fleet_apply(
    struct fdep *, const struct state_record *, const struct znode_ver *);
int fleet_apply_state(
    struct fdep *, const struct zk_result *, struct state_record *);
void fleet_read_state(struct fdep *, uint64_t tag);
void fleet_read_override(struct fdep *);

#endif
