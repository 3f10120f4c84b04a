/*
 * prober.h - the leader's probe manager: for every dependency this
 * instance leads, runs the health checks and half-open probes (probe.h) on
 * the libevent loop, feeds their results, the trip votes and the timers to
 * lead.c, and publishes what lead decides.  It reaches ZooKeeper only
 * through the ops table that main wires to fleet.c.  Loop thread only.
 */
#ifndef BREAKERD_PROBER_H
#define BREAKERD_PROBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errcode.h"
#include "registry.h"
#include "witness.h"

struct event_base;
struct evbuffer;
struct prober;

/* What the prober needs from the fleet; every member is required. */
struct prober_ops {
	/* Leader of dep AND lease valid: asked right before every check,
	 * probe and publish. */
	bool (*may_act)(struct dep *, void *arg);
	/* Write next as dep's state record (fenced).  done is called exactly
	 * once, maybe before publish returns; code 0 means written. */
	void (*publish)(struct dep *, const struct state_record *next,
	    done_fn done, void *done_arg, void *arg);
	size_t (*votes)(struct dep *, void *arg); /* trip votes for dep */
	size_t (*live)(void *arg);                /* live instances */
	void *arg;
};

/* Second opinions (witness.h); without them the leader trips alone. */
struct prober_witness_ops {
	/* Ask a witness before the leader's own checks open dep; done is
	 * called exactly once. */
	void (*corroborate)(struct dep *, uint32_t checks, uint32_t timeout_ms,
	    witness_done_fn done, void *done_arg, void *arg);
	/* Give dep's leadership to another instance (blind). */
	void (*hand_over)(struct dep *, void *arg);
	void *arg;
	/* Optional: trip votes of instances other than this one for dep;
	 * any of them is a second vantage point already. */
	size_t (*other_votes)(struct dep *, void *arg);
};

/* Counters for METRICS, per dependency, since start. */
struct prober_counters {
	uint64_t checks_sent;
	uint64_t checks_ok;
	uint64_t checks_failed;
	uint64_t probes_sent;
	uint64_t probes_ok;
	uint64_t probes_failed;
	uint64_t publishes;
	uint64_t publish_failures;
	uint64_t witness_confirmed; /* asked a witness: it failed too */
	uint64_t witness_votes;     /* others' trip votes agreed: not asked */
	uint64_t witness_alone;     /* asked: no witness or no answer */
	uint64_t witness_blind;     /* asked: it saw dep healthy */
	uint64_t witness_checks;    /* checks run as another's witness */
	bool blind;                 /* the blind mark is held now */
};

/* The registry must outlive the prober; seed drives every jitter. */
struct prober *prober_new(struct event_base *, struct registry *,
    const char *instance_id, const struct prober_ops *, uint64_t seed);
void prober_set_witness_ops(struct prober *, const struct prober_witness_ops *);
/* A reload added or removed a dependency (its leadership ends first). */
void prober_add_dep(struct prober *, struct dep *);
void prober_remove_dep(struct prober *, struct dep *);
/* The dependencies' settings moved (reload): read them anew. */
void prober_rebind(struct prober *);
/* Leadership of dep won (start from its fleet record) or lost (stop at
 * once: timers off, outstanding check or probe cancelled). */
void prober_leader_changed(struct prober *, struct dep *, bool is_leader);
/* dep's fleet record changed (applied from ZooKeeper). */
void prober_fleet_changed(struct prober *, struct dep *);
/* dep's trip votes or the live membership changed. */
void prober_votes_changed(struct prober *, struct dep *);
/* Run n witness checks of dep for leader (witness.h's check hook). */
void prober_witness_check(struct prober *, struct dep *, const char *leader,
    uint32_t n, witness_check_done_fn, void *ctx);
/* Stop dep's witness checks; their done is not called. */
void prober_witness_cancel(struct prober *, struct dep *);
/* Is this instance blind for dep (a witness saw it healthy lately)? */
bool prober_blind(struct prober *, const struct dep *);
/* The fleet window says trip (reason: which rule, which figures). */
void prober_fleet_window(struct prober *, struct dep *, const char *reason);
/* key=value lines for STATUS: probe.<dep>.* for every dep led. */
void prober_status(struct prober *, struct evbuffer *);
/* STATUS: witness.<dep>.* for every dep, blind=N and blind.<dep>.*. */
void prober_status_witness(struct prober *, struct evbuffer *);
/* dep's counters; -1 if dep is unknown. */
int prober_counters(
    struct prober *, const struct dep *, struct prober_counters *);
/* Stops everything; publishes still in flight are answered into the void. */
void prober_free(struct prober *);

#endif
