/*
 * prober.c - the leader's probe manager on libevent.  Per dependency one
 * timer, at most one outstanding check or probe, and one lead (lead.c)
 * that makes every decision.  Everything that can change the fleet state
 * (a health check result, a probe result, a vote count, a timer) goes
 * through prober_decide(), the one place where an input becomes a publish,
 * in the manner of relayd's hce.  A transition is logged when its write
 * succeeded, and only when the state really changed.  The fleet is reached
 * through struct prober_ops only; may_act() (leader and lease valid) is
 * asked right before every check, probe and publish, because a process
 * that was stopped can wake up with timers due and its lease gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "lead.h"
#include "log.h"
#include "probe.h"
#include "prober.h"
#include "util.h"

#define PROBER_POLL_MS 1000 /* overrides and the lease are polled */

enum prober_input { PROBER_HEALTH, PROBER_PROBE, PROBER_VOTES, PROBER_TICK };

struct prober_dep {
	struct prober *pr;
	struct dep *dep;
	struct lead *lead;
	struct event *timer;
	struct probe *probe; /* the one outstanding check or probe */
	bool probe_is_health;
	uint64_t next_health; /* monotonic */
	uint64_t gen;         /* bumped on every leadership change */
	struct prober_counters c;
};

/* A publish in flight; orphaned (pr NULL) if the prober goes first. */
struct prober_pub {
	struct prober *pr;
	size_t idx;
	uint64_t gen;
	enum breaker_state from;
	struct state_record rec;
	struct prober_pub *next;
};

struct prober {
	struct event_base *base;
	struct registry *reg;
	char instance_id[INSTANCE_ID_MAX + 1];
	struct prober_ops ops;
	uint64_t rng;
	struct prober_dep *deps;
	size_t ndeps;
	struct prober_pub *pubs;
};

static void prober_schedule(struct prober_dep *, uint64_t);

/* splitmix64 for the health check jitter. */
static uint64_t
prober_random(struct prober *pr)
{
	uint64_t z = (pr->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The prober's entry for dep, NULL if unknown. */
static struct prober_dep *
prober_find(struct prober *pr, const struct dep *dep)
{
	for (size_t i = 0; i < pr->ndeps; i++)
		if (pr->deps[i].dep == dep)
			return &pr->deps[i];
	return NULL;
}

/* Drop the outstanding check or probe; its result will not come. */
static void
prober_cancel(struct prober_dep *pd)
{
	if (pd->probe == NULL)
		return;
	probe_cancel(pd->probe);
	pd->probe = NULL;
}

/* An outstanding check that lead no longer wants is cancelled. */
static void
prober_reconcile(struct prober_dep *pd)
{
	struct lead_info li;

	if (pd->probe == NULL)
		return;
	lead_info(pd->lead, &li);
	if (!li.leading || li.paused
	    || (pd->probe_is_health && !lead_wants_health(pd->lead))
	    || (!pd->probe_is_health && li.state != BREAKER_HALF_OPEN))
		prober_cancel(pd);
}

/* The random part of the next health check's delay. */
static uint64_t
prober_health_delay(struct prober_dep *pd, bool first)
{
	const struct health_config *hc = &dep_config(pd->dep)->health;
	uint64_t j = prober_random(pd->pr) % ((uint64_t)hc->jitter_ms + 1);

	return first ? j : hc->interval_ms + j;
}

/* The state lead works from changed: a fresh CLOSED waits a full health
 * interval, since the probes that closed it just saw the target healthy. */
static void
prober_state_moved(
    struct prober_dep *pd, enum breaker_state before, uint64_t now)
{
	struct lead_info li;

	lead_info(pd->lead, &li);
	if (before != BREAKER_CLOSED && li.state == BREAKER_CLOSED)
		pd->next_health = now + prober_health_delay(pd, false);
	prober_reconcile(pd);
}

/* The write came back: adopt it and log the transition, or retry later. */
static void
prober_published(int code, uint64_t version, const char *msg, void *arg)
{
	struct prober_pub *pub = arg, **pp;
	struct prober *pr = pub->pr;
	struct prober_dep *pd;
	struct lead_info li;
	uint64_t now = now_mono_ms();

	if (pr == NULL) { /* the prober is gone */
		free(pub);
		return;
	}
	for (pp = &pr->pubs; *pp != pub; pp = &(*pp)->next)
		;
	*pp = pub->next;
	pd = &pr->deps[pub->idx];
	if (pub->gen != pd->gen) {
		free(pub); /* leadership changed meanwhile */
		return;
	}
	lead_info(pd->lead, &li);
	if (code == 0) {
		lead_published(pd->lead, &pub->rec, now);
		if (pub->from != pub->rec.state)
			log_info("%s: %s -> %s (%s) [v%llu]", dep_name(pd->dep),
			    breaker_state_name(pub->from),
			    breaker_state_name(pub->rec.state), pub->rec.reason,
			    (unsigned long long)version);
	} else {
		pd->c.publish_failures++;
		lead_publish_failed(pd->lead);
		log_warnx("prober: %s: publish %s failed: %s",
		    dep_name(pd->dep), breaker_state_name(pub->rec.state),
		    msg == NULL ? "?" : msg);
	}
	free(pub);
	prober_state_moved(pd, li.state, now);
	prober_schedule(pd, now);
}

/* Hand a decision to the fleet, if this instance may still act. */
static void
prober_publish(
    struct prober_dep *pd, enum breaker_state from, struct state_record *next)
{
	struct prober *pr = pd->pr;
	struct prober_pub *pub;
	uint64_t wall = now_wall_ms(); /* display only: record times */

	if (!pr->ops.may_act(pd->dep, pr->ops.arg)) {
		lead_publish_failed(pd->lead);
		log_debug("prober: %s: not publishing %s: not acting leader",
		    dep_name(pd->dep), breaker_state_name(next->state));
		return;
	}
	next->changed_ms = wall;
	if (next->state == BREAKER_OPEN)
		next->open_until_ms = wall + next->open_wait_ms;
	pub = xcalloc(1, sizeof(*pub));
	pub->pr = pr;
	pub->idx = (size_t)(pd - pr->deps);
	pub->gen = pd->gen;
	pub->from = from;
	pub->rec = *next;
	pub->next = pr->pubs;
	pr->pubs = pub;
	pd->c.publishes++;
	pr->ops.publish(pd->dep, next, prober_published, pub, pr->ops.arg);
}

/*
 * The one place where an input becomes a state change: hand it to lead
 * and publish what lead decides.
 */
static void
prober_decide(struct prober_dep *pd, enum prober_input in,
    const struct probe_result *r, uint64_t now)
{
	struct state_record next;
	struct lead_info li;
	int decided = 0;

	lead_info(pd->lead, &li);
	switch (in) {
	case PROBER_HEALTH:
		decided = lead_health(pd->lead, r->ok, r->detail, now, &next);
		break;
	case PROBER_PROBE:
		decided =
		    lead_probe_result(pd->lead, r->ok, r->detail, now, &next);
		break;
	case PROBER_VOTES:
		decided = lead_votes(pd->lead,
		    pd->pr->ops.votes(pd->dep, pd->pr->ops.arg),
		    pd->pr->ops.live(pd->pr->ops.arg), now, &next);
		break;
	case PROBER_TICK:
		decided = lead_tick(pd->lead, now, &next);
		break;
	}
	if (decided)
		prober_publish(pd, li.state, &next);
}

/* A check or probe came back. */
static void
prober_probe_done(const struct probe_result *r, void *arg)
{
	struct prober_dep *pd = arg;
	bool health = pd->probe_is_health;
	uint64_t now = now_mono_ms();

	pd->probe = NULL;
	if (health && r->ok)
		pd->c.checks_ok++;
	else if (health)
		pd->c.checks_failed++;
	else if (r->ok)
		pd->c.probes_ok++;
	else
		pd->c.probes_failed++;
	log_debug("prober: %s: %s %s in %u ms: %s", dep_name(pd->dep),
	    health ? "health check" : "probe", r->ok ? "ok" : "failed",
	    r->elapsed_ms, r->detail);
	prober_decide(pd, health ? PROBER_HEALTH : PROBER_PROBE, r, now);
	prober_schedule(pd, now);
}

/* Send a health check or a half-open probe. */
static void
prober_send(struct prober_dep *pd, bool health, uint64_t now)
{
	struct prober *pr = pd->pr;

	pd->probe = probe_start(pr->base, &dep_config(pd->dep)->health,
	    pr->instance_id, prober_probe_done, pd);
	pd->probe_is_health = health;
	if (health) {
		pd->c.checks_sent++;
		pd->next_health = now + prober_health_delay(pd, false);
	} else {
		pd->c.probes_sent++;
		lead_probe_sent(pd->lead, now);
	}
	if (pd->probe == NULL) { /* cannot even start: a failed result */
		struct probe_result r = {.ok = false};

		snprintf(r.detail, sizeof(r.detail), "cannot start check");
		prober_probe_done(&r, pd);
	}
}

/* The dependency's timer: overrides, the lease, lead's deadlines, sends. */
static void
prober_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct prober_dep *pd = arg;
	struct prober *pr = pd->pr;
	uint64_t now = now_mono_ms();
	bool forced = dep_override(pd->dep, NULL) != NULL;

	(void)fd;
	(void)what;
	lead_pause(pd->lead, forced, now);
	if (!pr->ops.may_act(pd->dep, pr->ops.arg)) {
		prober_cancel(pd); /* no lease: stop probing at once */
		prober_schedule(pd, now);
		return;
	}
	prober_reconcile(pd);
	prober_decide(pd, PROBER_TICK, NULL, now);
	if (pd->probe == NULL && lead_probe_due(pd->lead, now))
		prober_send(pd, false, now);
	else if (pd->probe == NULL && lead_wants_health(pd->lead)
	    && now >= pd->next_health)
		prober_send(pd, true, now);
	prober_schedule(pd, now);
}

/* Arm the timer for the earliest thing due, polling at least every second. */
static void
prober_schedule(struct prober_dep *pd, uint64_t now)
{
	uint64_t due = now + PROBER_POLL_MS, d = lead_deadline(pd->lead);
	struct timeval tv;

	if (!lead_leading(pd->lead)) {
		evtimer_del(pd->timer);
		return;
	}
	if (d != 0 && d < due)
		due = d;
	if (pd->probe == NULL && lead_wants_health(pd->lead)
	    && pd->next_health < due)
		due = pd->next_health;
	due = due < now ? 0 : due - now;
	tv.tv_sec = (time_t)(due / 1000);
	tv.tv_usec = (suseconds_t)(due % 1000) * 1000;
	evtimer_add(pd->timer, &tv);
}

/* Build the prober with one entry per registry dependency. */
struct prober *
prober_new(struct event_base *base, struct registry *reg,
    const char *instance_id, const struct prober_ops *ops, uint64_t seed)
{
	struct prober *pr;

	pr = xcalloc(1, sizeof(*pr));
	pr->base = base;
	pr->reg = reg;
	strlcpy_b(pr->instance_id, instance_id, sizeof(pr->instance_id));
	pr->ops = *ops;
	pr->rng = seed;
	pr->ndeps = registry_count(reg);
	pr->deps = xcalloc(pr->ndeps == 0 ? 1 : pr->ndeps, sizeof(*pr->deps));
	for (size_t i = 0; i < pr->ndeps; i++) {
		struct prober_dep *pd = &pr->deps[i];

		pd->pr = pr;
		pd->dep = registry_at(reg, i);
		pd->lead = lead_new(dep_config(pd->dep), instance_id, seed + i);
		pd->timer = evtimer_new(base, prober_tick_cb, pd);
		if (pd->timer == NULL)
			fatalx("prober_new: evtimer_new failed");
	}
	return pr;
}

/* Leadership of dep changed. */
void
prober_leader_changed(struct prober *pr, struct dep *dep, bool is_leader)
{
	struct prober_dep *pd = prober_find(pr, dep);
	uint64_t now = now_mono_ms();

	if (pd == NULL)
		return;
	pd->gen++;
	prober_cancel(pd);
	if (!is_leader) {
		lead_stepdown(pd->lead);
		evtimer_del(pd->timer);
		log_debug("prober: %s: no longer leader", dep_name(dep));
		return;
	}
	lead_takeover(pd->lead, dep_fleet(dep, NULL), now);
	pd->next_health = now + prober_health_delay(pd, true);
	log_info("prober: %s: leading from %s", dep_name(dep),
	    breaker_state_name(dep_fleet(dep, NULL) == NULL
	            ? BREAKER_CLOSED
	            : dep_fleet(dep, NULL)->state));
	prober_decide(pd, PROBER_VOTES, NULL, now);
	prober_schedule(pd, now);
}

/* dep's fleet record changed: lead adopts it; stale checks are dropped. */
void
prober_fleet_changed(struct prober *pr, struct dep *dep)
{
	struct prober_dep *pd = prober_find(pr, dep);
	struct lead_info li;
	uint64_t now = now_mono_ms();

	if (pd == NULL)
		return;
	lead_info(pd->lead, &li);
	lead_fleet(pd->lead, dep_fleet(dep, NULL), now);
	prober_state_moved(pd, li.state, now);
	prober_schedule(pd, now);
}

/* dep's votes or the membership changed. */
void
prober_votes_changed(struct prober *pr, struct dep *dep)
{
	struct prober_dep *pd = prober_find(pr, dep);
	uint64_t now = now_mono_ms();

	if (pd == NULL)
		return;
	prober_decide(pd, PROBER_VOTES, NULL, now);
	prober_schedule(pd, now);
}

/* One dependency's STATUS lines. */
static void
prober_status_dep(struct prober_dep *pd, struct evbuffer *out)
{
	const char *n = dep_name(pd->dep);
	struct lead_info li;

	lead_info(pd->lead, &li);
	evbuffer_add_printf(out,
	    "probe.%s.state=%s\nprobe.%s.paused=%d\n"
	    "probe.%s.checks_sent=%llu\nprobe.%s.checks_ok=%llu\n"
	    "probe.%s.checks_failed=%llu\n"
	    "probe.%s.consecutive_failures=%u\n"
	    "probe.%s.probes_sent=%llu\nprobe.%s.probes_failed=%llu\n"
	    "probe.%s.failed_recoveries=%u\nprobe.%s.votes=%zu/%zu\n",
	    n, breaker_state_name(li.state), n, li.paused, n,
	    (unsigned long long)pd->c.checks_sent, n,
	    (unsigned long long)pd->c.checks_ok, n,
	    (unsigned long long)pd->c.checks_failed, n, li.consecutive_failures,
	    n, (unsigned long long)pd->c.probes_sent, n,
	    (unsigned long long)pd->c.probes_failed, n, li.failed_recoveries, n,
	    li.votes, li.live);
}

/* STATUS: how many deps this instance leads, and each one's lines. */
void
prober_status(struct prober *pr, struct evbuffer *out)
{
	size_t leading = 0;

	for (size_t i = 0; i < pr->ndeps; i++)
		if (lead_leading(pr->deps[i].lead))
			leading++;
	evbuffer_add_printf(out, "probe.leading=%zu\n", leading);
	for (size_t i = 0; i < pr->ndeps; i++)
		if (lead_leading(pr->deps[i].lead))
			prober_status_dep(&pr->deps[i], out);
}

/* dep's counters for METRICS. */
int
prober_counters(
    struct prober *pr, const struct dep *dep, struct prober_counters *c)
{
	struct prober_dep *pd = prober_find(pr, dep);

	if (pd == NULL)
		return -1;
	*c = pd->c;
	return 0;
}

/* Stop every timer and check; orphan the publishes still in flight. */
void
prober_free(struct prober *pr)
{
	if (pr == NULL)
		return;
	for (struct prober_pub *pub = pr->pubs; pub != NULL; pub = pub->next)
		pub->pr = NULL;
	for (size_t i = 0; i < pr->ndeps; i++) {
		prober_cancel(&pr->deps[i]);
		event_free(pr->deps[i].timer);
		lead_free(pr->deps[i].lead);
	}
	free(pr->deps);
	free(pr);
}
