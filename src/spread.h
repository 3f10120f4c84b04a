/*
 * spread.h - the policy that spreads leadership over the fleet, pure: no
 * I/O and no clock reads (times are passed in).  An instance leading more
 * than its fair share, ceil(deps / live instances), with a hysteresis,
 * hands one dependency over; which one and to whom is decided here, the
 * handing over itself (abdicating the election) is the leader code's.
 */
#ifndef BREAKERD_SPREAD_H
#define BREAKERD_SPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"

#define SPREAD_TICK_MS  1000 /* at most one handover per tick */
#define SPREAD_RETRY_MS 5000 /* after an attempt that did not go */

/* One dependency as this instance sees it. */
struct spread_dep {
	const char *name;
	/* The leader its state record names, NULL without a record. */
	const char *leader;
	enum breaker_state state; /* of that record */
	bool leading;             /* we lead it (takeover written) */
	bool busy; /* a write of ours in flight, or not election leader */
	uint64_t tried_ms; /* our last handover attempt, 0 if none */
};

/* The fleet as this instance sees it. */
struct spread_view {
	const struct spread_dep *deps;
	size_t ndeps;
	const char *const *live; /* the live instance ids */
	size_t nlive;
	const char *self; /* our instance id */
};

/* ceil(ndeps / live): what each instance should lead at most. */
size_t spread_fair_share(size_t ndeps, size_t live);
/* How many dependencies we lead. */
size_t spread_leading(const struct spread_view *);
/* How many the state records name id the leader of (a hint). */
size_t spread_led_by(const struct spread_view *, const char *id);
/* Should we give one dependency up? */
bool spread_overloaded(const struct spread_view *);
/* May a dependency go to successor (it will lead one more)? */
bool spread_successor_ok(const struct spread_view *, const char *successor);
/* The index of the dependency to give up at now_ms; ndeps if none. */
size_t spread_pick(const struct spread_view *, uint64_t now_ms);
/* The rendezvous hash that ranks (instance id, dependency) pairs. */
uint64_t spread_score(const char *id, const char *dep);

#endif
