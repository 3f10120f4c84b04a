/*
 * converge.h - acknowledgements and the fleet's convergence.
 *
 * Every instance acknowledges, in its instance znode, the state version
 * (and the authority) it applied per dependency.  Writes are coalesced:
 * at most one per second, only when something changed, none while quiet.
 * The leader of a dependency, after each publish, watches the instance
 * znodes until every live instance acknowledged that version, and
 * measures publish -> last acknowledgement on its monotonic clock
 * (breakerd_propagation_seconds, breakerd_converged{dep}).  FLEET reads
 * every instance's acknowledgements for `breakerctl fleet`.
 *
 * The JSON and histogram helpers are pure; the rest runs on the loop.
 */
#ifndef BREAKERD_CONVERGE_H
#define BREAKERD_CONVERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errcode.h"

struct dep;
struct event_base;
struct evbuffer;
struct membership;
struct registry;
struct zk;

#define CONV_WRITE_GAP_MS 1000 /* acknowledgement writes: one a second */
#define CONV_NBUCKETS     12

/* A Prometheus histogram of seconds, kept in milliseconds. */
struct conv_hist {
	uint64_t bucket[CONV_NBUCKETS]; /* cumulative counts le bound */
	uint64_t count;
	uint64_t sum_ms;
};
extern const double conv_bucket_le[CONV_NBUCKETS];

/* ---- pure ----------------------------------------------------------------- */

void conv_hist_observe(struct conv_hist *, uint64_t ms);
/*
 * base (an instance record) with "acks": {dep: version} and "auth":
 * {dep: authority} set; malloc'ed, NULL if base is not a JSON object.
 */
char *conv_instance_json(const char *base, const char *const *deps,
    const uint64_t *versions, const char *const *auths, size_t n);
/* The version dep was acknowledged at in an instance znode's data. */
int conv_ack_of(const char *buf, size_t len, const char *dep, uint64_t *out);
/* When the next acknowledgement may be written. */
uint64_t conv_write_at(uint64_t last_write_ms, uint64_t now_ms);

/* ---- the loop's side -------------------------------------------------------- */

struct converge;

/*
 * Where the acknowledgements go when another module owns the instance
 * znode's data (instdata.c): key "acks" or "auth", value stolen.
 * Without a sink they are written through membership_set_data.
 */
typedef void (*conv_sink_fn)(const char *key, void *json_value, void *arg);
void conv_set_sink(struct converge *, conv_sink_fn, void *arg);

struct converge *conv_new(struct event_base *, struct zk *, struct membership *,
    struct registry *, const char *instances_dir, const char *base_json);
void conv_free(struct converge *);
/* A reload added or removed a dependency of the registry. */
void conv_add_dep(struct converge *, struct dep *);
void conv_remove_dep(struct converge *, const struct dep *);
/* Applied versions or authorities may have changed: acknowledge. */
void conv_applied(struct converge *);
/* This instance, as leader, published version of dep just now. */
void conv_published(struct converge *, const struct dep *, uint64_t version);
/* Not the leader of dep any more: stop measuring it. */
void conv_not_leader(struct converge *, const struct dep *);
/* The live set changed (an instance that left no longer counts). */
void conv_live_changed(struct converge *);
/* A new session: the watches are gone. */
void conv_session_reset(struct converge *);
/* The series breakerd_propagation_seconds and breakerd_converged. */
void conv_metrics(const struct converge *, struct evbuffer *);

/* FLEET: one JSON document of every instance's acknowledgements. */
void conv_fleet_read(struct converge *, body_fn, void *arg);

#endif
