/*
 * lead.h - the decisions of a dependency's leader, as a pure state machine:
 * health check results, trip votes, the open wait, half-open probes and the
 * maximum half-open time go in; "publish this state record" comes out.  No
 * I/O and no clock reads: every call gets a monotonic now_ms.  The glue
 * (prober.c) sends the checks and probes, publishes what lead decides and
 * tells lead what was published.  One struct lead per dependency.
 */
#ifndef BREAKERD_LEAD_H
#define BREAKERD_LEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "registry.h"

struct lead;

/* Counters and state for STATUS. */
struct lead_info {
	enum breaker_state state; /* the fleet state lead works from */
	bool leading;
	bool paused;                   /* an override forces the dependency */
	bool pending;                  /* a publish is in flight */
	uint32_t consecutive_failures; /* health checks, since the reset */
	uint32_t consecutive_successes;
	uint32_t probes_sent; /* in this half-open sequence */
	uint32_t probes_ok;
	uint32_t failed_recoveries;
	size_t votes;
	size_t live;
};

/* The dependency's config must outlive the lead; seed drives the jitter. */
struct lead *lead_new(
    const struct dep_config *, const char *instance_id, uint64_t seed);
void lead_free(struct lead *);
/* Its dependency's settings now live at cfg (same values, a reload). */
void lead_set_config(struct lead *, const struct dep_config *);

/*
 * Leadership.  Takeover starts from the published record (NULL: none yet,
 * taken as CLOSED): OPEN waits its open_wait_ms from now, HALF_OPEN
 * restarts the probe sequence, CLOSED starts with fresh health counters.
 */
void lead_takeover(struct lead *, const struct state_record *, uint64_t now_ms);
void lead_stepdown(struct lead *);
bool lead_leading(const struct lead *);

/* An override forces the dependency: no probes, checks or publishes.
 * Unpausing restarts the current phase from now_ms. */
void lead_pause(struct lead *, bool paused, uint64_t now_ms);

/*
 * The fleet record changed (read from ZooKeeper).  A record equal to the
 * one lead holds or is publishing changes nothing; another one is taken
 * over as it is.  Called for every record, leader or not.
 */
void lead_fleet(struct lead *, const struct state_record *, uint64_t now_ms);

/*
 * Decisions.  Each returns 1 and fills *next when that record should be
 * published, else 0.  While a publish is pending no new decision is made:
 * the caller reports the outcome with lead_published() or lead_publish_failed().
 */
int lead_health(struct lead *, bool ok, const char *detail, uint64_t now_ms,
    struct state_record *next);
int lead_votes(struct lead *, size_t votes, size_t live, uint64_t now_ms,
    struct state_record *next);
/* The fleet window judged the fleet's numbers bad (reason: why). */
int lead_fleet_window(struct lead *, const char *reason, uint64_t now_ms,
    struct state_record *next);
int lead_probe_result(struct lead *, bool ok, const char *detail,
    uint64_t now_ms, struct state_record *next);
int lead_tick(struct lead *, uint64_t now_ms, struct state_record *next);

/* The record lead asked for was written (or failed: nothing changes). */
void lead_published(
    struct lead *, const struct state_record *, uint64_t now_ms);
void lead_publish_failed(struct lead *);
/*
 * A witness saw the dependency healthy: the OPEN asked for is dropped and
 * the current phase starts again from now_ms (fresh health counts, or a
 * fresh probe sequence and half-open limit).
 */
void lead_overruled(struct lead *, uint64_t now_ms);

/* Should health checks run now (leader, CLOSED, checks configured)? */
bool lead_wants_health(const struct lead *);
/* Is a half-open probe due?  Then send it and call lead_probe_sent(). */
bool lead_probe_due(const struct lead *, uint64_t now_ms);
void lead_probe_sent(struct lead *, uint64_t now_ms);
/* Monotonic time lead_tick() or the next probe wants; 0 for none. */
uint64_t lead_deadline(const struct lead *);

void lead_info(const struct lead *, struct lead_info *);

/* The wait before jitter after n failed recoveries: base * mult^n, capped. */
uint32_t lead_backoff_ms(const struct breaker_settings *, uint32_t n);
/* The maximum half-open time: half_open_max_ms or a default from probes. */
uint32_t lead_half_open_max_ms(const struct dep_config *);
/* Does votes of live reach the quorum? */
bool lead_quorum(const struct quorum_config *, size_t votes, size_t live);

#endif
