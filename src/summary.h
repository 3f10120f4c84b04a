/*
 * summary.h - the fleet window's ZooKeeper side.  Every instance
 * publishes, for each dependency with a fleet window, a summary of its
 * local window (calls, failures, slow, running totals) under the key
 * "windows" of its own instance znode: at most once per interval per
 * dependency and only when calls were reported since, so an idle fleet
 * writes nothing.  The leader of such a dependency reads the instance
 * znodes of the live instances (a data watch on each, re-read when it
 * fires), feeds fwin, and tells the prober when the fleet should trip.
 * A deleted instance znode takes its summary with it, and a summary
 * withdrawn from one (a reload removed the dependency or its fleet
 * window there) stops counting.  Loop thread only.
 */
#ifndef BREAKERD_SUMMARY_H
#define BREAKERD_SUMMARY_H

#include <stdint.h>

#include "config.h"
#include "registry.h"

struct event_base;
struct evbuffer;
struct fleet;
struct instdata;
struct prober;
struct summary;

/* ZooKeeper cost and hostile input, for STATUS, METRICS and benchmarks. */
struct summary_counters {
	uint64_t writes;   /* setData of our instance znode (all its keys) */
	uint64_t reads;    /* getData of instance znodes, as a leader */
	uint64_t rejected; /* summaries refused (all dependencies) */
};

/* NULL when no dependency has a fleet window (nothing to do) yet. */
struct summary *summary_new(struct event_base *, const struct config *,
    struct registry *, struct fleet *, struct prober *, struct instdata *);
void summary_free(struct summary *);
/* A reload added or removed a dependency; adding one without a fleet
 * window, or removing one summary does not know, does nothing. */
void summary_add_dep(struct summary *, struct dep *);
void summary_remove_dep(struct summary *, struct dep *);
/* The dependencies' settings moved (a reload): read them anew. */
void summary_rebind(struct summary *);
void summary_counters(const struct summary *, struct summary_counters *);
/* key=value lines for STATUS. */
void summary_status(const struct summary *, struct evbuffer *);
/* Prometheus families for METRICS. */
void summary_metrics(const struct summary *, struct evbuffer *);

#endif
