/*
 * lead.c - what the leader of one dependency decides, with no I/O and no
 * clock reads.  Lead works from the fleet record it last saw (its own
 * publishes included) and the monotonic time at which it learned it; the
 * record's wall-clock fields are for display only.  While CLOSED it counts
 * health check results (Envoy's thresholds) and trip votes (a quorum of
 * live instances); OPEN lasts the record's open_wait_ms from when lead
 * learned it; HALF_OPEN runs probe.count probes and closes on all of them,
 * or reopens with an exponentially backed-off, jittered wait.  A publish in
 * flight freezes every decision, so at most one is outstanding.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lead.h"
#include "util.h"

#define LEAD_HALF_OPEN_MIN_MS 1000 /* default half-open limit floor */

struct lead {
	const struct dep_config *cfg;
	char instance_id[INSTANCE_ID_MAX + 1];
	uint64_t rng; /* splitmix64 state for the jitter */

	bool leading;
	bool paused;
	bool pending;
	struct state_record cur;  /* the fleet record lead works from */
	struct state_record want; /* the record being published */
	uint64_t since;           /* when lead learned cur (monotonic) */

	/* CLOSED: health check streaks. */
	uint32_t fails;
	uint32_t oks;

	/* HALF_OPEN: the probe sequence. */
	uint32_t sent;
	uint32_t ok;
	bool outstanding;
	uint64_t next_probe;

	/* Trip votes as last counted. */
	size_t votes;
	size_t live;

	/* When lead learned a CLOSED that followed OPEN/HALF_OPEN; 0: none. */
	uint64_t ramp_since;
};

static int lead_decide(struct lead *, enum breaker_state, bool,
    struct state_record *, const char *, ...)
    __attribute__((format(printf, 5, 6)));

/* FNV-1a of the name, so that deps sharing a seed jitter differently. */
static uint64_t
lead_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* Allocate a lead for one dependency, not leading, fleet CLOSED. */
struct lead *
lead_new(const struct dep_config *cfg, const char *instance_id, uint64_t seed)
{
	struct lead *l;

	l = xcalloc(1, sizeof(*l));
	l->cfg = cfg;
	strlcpy_b(l->instance_id, instance_id, sizeof(l->instance_id));
	l->rng = seed ^ lead_hash(cfg->name);
	l->cur.state = BREAKER_CLOSED;
	return l;
}

/* The settings moved (a reload rebuilt the array): same dependency. */
void
lead_set_config(struct lead *l, const struct dep_config *cfg)
{
	l->cfg = cfg;
}

/* Free a lead. */
void
lead_free(struct lead *l)
{
	free(l);
}

/* A threshold of 0 would never trip or always trip: treat it as 1. */
static uint32_t
lead_at_least_one(uint32_t v)
{
	return v == 0 ? 1 : v;
}

/* The wait before jitter after n failed recoveries: base * mult^n, capped. */
uint32_t
lead_backoff_ms(const struct breaker_settings *s, uint32_t n)
{
	uint64_t w = s->open_wait_ms, cap = s->open_wait_max_ms;

	if (cap == 0 || cap > UINT32_MAX)
		cap = UINT32_MAX;
	for (uint32_t i = 0; i < n && w < cap; i++) {
		uint64_t next = (w * s->backoff_multiplier_pct + 50) / 100;

		if (next <= w)
			break; /* multiplier 100%: constant */
		w = next;
	}
	return (uint32_t)(w > cap ? cap : w);
}

/* The maximum half-open time: the setting, else room for every probe. */
uint32_t
lead_half_open_max_ms(const struct dep_config *cfg)
{
	uint64_t ms;

	if (cfg->breaker.half_open_max_ms != 0)
		return cfg->breaker.half_open_max_ms;
	ms = 4ULL * lead_at_least_one(cfg->probe.count) * cfg->probe.interval_ms
	    + cfg->health.timeout_ms;
	if (ms < LEAD_HALF_OPEN_MIN_MS)
		ms = LEAD_HALF_OPEN_MIN_MS;
	return (uint32_t)(ms > UINT32_MAX ? UINT32_MAX : ms);
}

/* Does votes of live reach the quorum?  Voters count as live. */
bool
lead_quorum(const struct quorum_config *q, size_t votes, size_t live)
{
	if (live < votes)
		live = votes;
	if (votes == 0 || votes < lead_at_least_one(q->min_votes))
		return false;
	return (uint64_t)votes * 100 >= (uint64_t)q->fraction_pct * live;
}

/* Spread a wait by +/- jitter_pct percent so a fleet does not retry at once. */
static uint32_t
lead_jitter(struct lead *l, uint32_t wait)
{
	uint64_t delta = (uint64_t)wait * l->cfg->breaker.jitter_pct / 100;
	uint64_t w;

	if (delta == 0)
		return wait;
	w = wait - delta + splitmix64(&l->rng) % (2 * delta + 1);
	return (uint32_t)(w > UINT32_MAX ? UINT32_MAX : w);
}

/* The record's open wait; a record without one gets the base wait. */
static uint32_t
lead_open_wait(const struct lead *l)
{
	if (l->cur.open_wait_ms != 0)
		return l->cur.open_wait_ms;
	return lead_backoff_ms(&l->cfg->breaker, l->cur.failed_recoveries);
}

/* Start the phase of cur from now: fresh counters, fresh probe sequence. */
static void
lead_phase_start(struct lead *l, uint64_t now_ms)
{
	l->since = now_ms;
	l->fails = l->oks = 0;
	l->sent = l->ok = 0;
	l->outstanding = false;
	l->next_probe = now_ms;
}

/* Is the dependency probed (a health check target configured)? */
static bool
lead_has_target(const struct lead *l)
{
	return l->cfg->health.kind != HEALTH_NONE;
}

/* May lead decide anything now? */
static bool
lead_active(const struct lead *l)
{
	return l->leading && !l->paused && !l->pending;
}

/* Do two records mean the same decision?  Term and wall times may differ. */
static bool
lead_same(const struct state_record *a, const struct state_record *b)
{
	return a->state == b->state && a->open_wait_ms == b->open_wait_ms
	    && a->failed_recoveries == b->failed_recoveries
	    && strcmp(a->reason, b->reason) == 0;
}

/*
 * Build the next record from cur.  An OPEN after a failed recovery backs
 * off one step further; CLOSED forgets the backoff.  The glue fills the
 * wall-clock fields and the fleet layer the term.
 */
static int
lead_decide(struct lead *l, enum breaker_state to, bool failed_recovery,
    struct state_record *next, const char *fmt, ...)
{
	va_list ap;

	*next = l->cur;
	next->state = to;
	strlcpy_b(next->leader, l->instance_id, sizeof(next->leader));
	va_start(ap, fmt);
	vsnprintf(next->reason, sizeof(next->reason), fmt, ap);
	va_end(ap);
	if (to == BREAKER_OPEN) {
		if (failed_recovery)
			next->failed_recoveries++;
		else if (l->cur.state == BREAKER_CLOSED)
			next->failed_recoveries = 0; /* a new outage */
		next->open_wait_ms = lead_jitter(l,
		    lead_backoff_ms(&l->cfg->breaker, next->failed_recoveries));
	} else if (to == BREAKER_CLOSED) {
		/* with a ramp, a re-open during it backs off one step more */
		if (!ramp_enabled(&l->cfg->ramp))
			next->failed_recoveries = 0;
		next->open_wait_ms = 0;
	}
	next->changed_ms = next->open_until_ms = 0;
	l->want = *next;
	l->pending = true;
	return 1;
}

/* A record replaces cur: note when a recovery (and its ramp) began. */
static void
lead_set_cur(struct lead *l, const struct state_record *rec, uint64_t now_ms)
{
	if (rec->state == BREAKER_CLOSED && l->cur.state != BREAKER_CLOSED)
		l->ramp_since = now_ms;
	else if (rec->state != BREAKER_CLOSED)
		l->ramp_since = 0;
	l->cur = *rec;
}

/*
 * Is the fleet in the recovery ramp that followed a close?  A trip then
 * counts as a failed recovery.  A leader that took over a CLOSED record
 * does not know when its ramp began and judges a trip as a new outage.
 */
static bool
lead_ramping(const struct lead *l, uint64_t now_ms)
{
	return ramp_enabled(&l->cfg->ramp) && l->cur.state == BREAKER_CLOSED
	    && l->ramp_since != 0
	    && now_ms < l->ramp_since + l->cfg->ramp.duration_ms;
}

/* Leadership won: start from the published record. */
void
lead_takeover(struct lead *l, const struct state_record *rec, uint64_t now_ms)
{
	if (rec != NULL)
		l->cur = *rec;
	else {
		memset(&l->cur, 0, sizeof(l->cur));
		l->cur.state = BREAKER_CLOSED;
	}
	l->ramp_since = 0;
	l->leading = true;
	l->pending = false;
	l->votes = 0; /* the first count after takeover is judged as a level */
	lead_phase_start(l, now_ms);
}

/* Leadership lost: stop at once; an outstanding probe no longer counts. */
void
lead_stepdown(struct lead *l)
{
	l->leading = false;
	l->pending = false;
	l->outstanding = false;
}

/* Is this instance leading? */
bool
lead_leading(const struct lead *l)
{
	return l->leading;
}

/* An override forces the dependency (or stopped forcing it). */
void
lead_pause(struct lead *l, bool paused, uint64_t now_ms)
{
	if (l->paused == paused)
		return;
	l->paused = paused;
	if (!paused)
		lead_phase_start(l, now_ms);
	else
		l->outstanding = false;
}

/* A record read from ZooKeeper: ours echoed back, or a new one to adopt. */
void
lead_fleet(struct lead *l, const struct state_record *rec, uint64_t now_ms)
{
	if (rec == NULL)
		return;
	if (lead_same(rec, &l->cur)) {
		l->cur = *rec; /* term and times as written */
		return;
	}
	if (l->pending && lead_same(rec, &l->want))
		l->pending = false;
	lead_set_cur(l, rec, now_ms);
	lead_phase_start(l, now_ms);
}

/* The record asked for was written. */
void
lead_published(struct lead *l, const struct state_record *rec, uint64_t now_ms)
{
	bool same = lead_same(rec, &l->cur);

	l->pending = false;
	lead_set_cur(l, rec, now_ms);
	if (!same)
		lead_phase_start(l, now_ms);
}

/* The write failed; the next input decides again. */
void
lead_publish_failed(struct lead *l)
{
	l->pending = false;
}

/* A witness overruled the OPEN asked for: start the phase again. */
void
lead_overruled(struct lead *l, uint64_t now_ms)
{
	l->pending = false;
	lead_phase_start(l, now_ms);
}

/*
 * A health check result.  Failures count until healthy_threshold successes
 * in a row reset them (with a threshold of 1, Envoy's behaviour); reaching
 * unhealthy_threshold while CLOSED opens the fleet.
 */
int
lead_health(struct lead *l, bool ok, const char *detail, uint64_t now_ms,
    struct state_record *next)
{
	const struct health_config *h = &l->cfg->health;

	if (!lead_active(l) || l->cur.state != BREAKER_CLOSED)
		return 0;
	if (ok) {
		if (++l->oks >= lead_at_least_one(h->healthy_threshold))
			l->fails = 0;
		return 0;
	}
	l->oks = 0;
	if (++l->fails < lead_at_least_one(h->unhealthy_threshold))
		return 0;
	return lead_decide(l, BREAKER_OPEN, lead_ramping(l, now_ms), next,
	    "health check: %u consecutive failures (%s)%s", l->fails, detail,
	    lead_ramping(l, now_ms) ? " during the recovery ramp" : "");
}

/*
 * A new vote count.  Only a rise can trip: the votes of a trip linger
 * until the instances' local breakers recover, and must not reopen the
 * fleet that the probes just closed.
 */
int
lead_votes(struct lead *l, size_t votes, size_t live, uint64_t now_ms,
    struct state_record *next)
{
	size_t before = l->votes;

	l->votes = votes;
	l->live = live;
	if (!lead_active(l) || l->cur.state != BREAKER_CLOSED)
		return 0;
	if (votes <= before || !lead_quorum(&l->cfg->quorum, votes, live))
		return 0;
	return lead_decide(l, BREAKER_OPEN, lead_ramping(l, now_ms), next,
	    "votes %zu/%zu%s", votes, live < votes ? votes : live,
	    lead_ramping(l, now_ms) ? " during the recovery ramp" : "");
}

/*
 * The fleet window says the fleet's numbers are bad (reason says which
 * rule and the figures).  Trips a CLOSED fleet; during the recovery ramp
 * that is a failed recovery.
 */
int
lead_fleet_window(struct lead *l, const char *reason, uint64_t now_ms,
    struct state_record *next)
{
	if (!lead_active(l) || l->cur.state != BREAKER_CLOSED)
		return 0;
	return lead_decide(l, BREAKER_OPEN, lead_ramping(l, now_ms), next,
	    "%s%s", reason,
	    lead_ramping(l, now_ms) ? " during the recovery ramp" : "");
}

/* A half-open probe came back: all ok closes, one failure reopens. */
int
lead_probe_result(struct lead *l, bool ok, const char *detail, uint64_t now_ms,
    struct state_record *next)
{
	uint32_t count = lead_at_least_one(l->cfg->probe.count);

	(void)now_ms;
	if (!lead_active(l) || l->cur.state != BREAKER_HALF_OPEN
	    || !l->outstanding)
		return 0;
	l->outstanding = false;
	if (!ok)
		return lead_decide(l, BREAKER_OPEN, true, next,
		    "probe %u/%u failed: %s", l->sent, count, detail);
	if (++l->ok < count)
		return 0;
	return lead_decide(
	    l, BREAKER_CLOSED, false, next, "probe %u/%u ok", l->ok, count);
}

/* HALF_OPEN without a target: the votes are the only signal left. */
static int
lead_untargeted(struct lead *l, struct state_record *next)
{
	size_t live = l->live < l->votes ? l->votes : l->live;

	if (lead_quorum(&l->cfg->quorum, l->votes, l->live))
		return lead_decide(l, BREAKER_OPEN, true, next,
		    "no probe target: votes %zu/%zu still at quorum", l->votes,
		    live);
	return lead_decide(l, BREAKER_CLOSED, false, next,
	    "no probe target: votes %zu/%zu below quorum", l->votes, live);
}

/* Time-driven decisions: the open wait and the half-open limits. */
int
lead_tick(struct lead *l, uint64_t now_ms, struct state_record *next)
{
	uint32_t wait, homax;

	if (!lead_active(l))
		return 0;
	switch (l->cur.state) {
	case BREAKER_OPEN:
		wait = lead_open_wait(l);
		if (now_ms < l->since + wait)
			return 0;
		return lead_decide(l, BREAKER_HALF_OPEN, false, next,
		    "open wait %u ms over", wait);
	case BREAKER_HALF_OPEN:
		homax = lead_half_open_max_ms(l->cfg);
		if (now_ms >= l->since + homax)
			return lead_decide(l, BREAKER_OPEN, true, next,
			    "half-open max %u ms over (probe %u/%u ok)", homax,
			    l->ok, lead_at_least_one(l->cfg->probe.count));
		if (!lead_has_target(l)
		    && now_ms >= l->since + l->cfg->probe.interval_ms)
			return lead_untargeted(l, next);
		return 0;
	default:
		return 0;
	}
}

/* Should health checks run now? */
bool
lead_wants_health(const struct lead *l)
{
	return lead_active(l) && lead_has_target(l)
	    && l->cur.state == BREAKER_CLOSED;
}

/* Is a half-open probe due now? */
bool
lead_probe_due(const struct lead *l, uint64_t now_ms)
{
	if (!lead_active(l) || !lead_has_target(l)
	    || l->cur.state != BREAKER_HALF_OPEN || l->outstanding)
		return false;
	return l->sent < lead_at_least_one(l->cfg->probe.count)
	    && now_ms >= l->next_probe;
}

/* A probe went out: the next one is due one interval later. */
void
lead_probe_sent(struct lead *l, uint64_t now_ms)
{
	l->outstanding = true;
	l->sent++;
	l->next_probe = now_ms + l->cfg->probe.interval_ms;
}

/* The earlier of two deadlines, 0 meaning none. */
static uint64_t
lead_min(uint64_t a, uint64_t b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

/* When lead_tick() or the next probe wants the caller back; 0: never. */
uint64_t
lead_deadline(const struct lead *l)
{
	uint64_t d;

	if (!lead_active(l))
		return 0;
	switch (l->cur.state) {
	case BREAKER_OPEN:
		return l->since + lead_open_wait(l);
	case BREAKER_HALF_OPEN:
		d = l->since + lead_half_open_max_ms(l->cfg);
		if (!lead_has_target(l))
			return lead_min(
			    d, l->since + l->cfg->probe.interval_ms);
		if (!l->outstanding
		    && l->sent < lead_at_least_one(l->cfg->probe.count))
			d = lead_min(d, l->next_probe);
		return d;
	default:
		return 0;
	}
}

/* Counters and state for STATUS. */
void
lead_info(const struct lead *l, struct lead_info *info)
{
	memset(info, 0, sizeof(*info));
	info->state = l->cur.state;
	info->leading = l->leading;
	info->paused = l->paused;
	info->pending = l->pending;
	info->consecutive_failures = l->fails;
	info->consecutive_successes = l->oks;
	info->probes_sent = l->sent;
	info->probes_ok = l->ok;
	info->failed_recoveries = l->cur.failed_recoveries;
	info->votes = l->votes;
	info->live = l->live;
}
