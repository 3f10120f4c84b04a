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
 *
 * One vantage point is not evidence: an OPEN that comes from this
 * instance's own checks or probes is first put to a witness (ops
 * corroborate).  A witness that saw the dependency healthy overrules
 * it: nothing is published, this instance marks itself blind for the
 * dependency, hands its leadership over and, while the mark holds, hands
 * it over again whenever it wins it back.  The prober also runs the
 * checks other leaders ask this instance for as their witness.
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

#define PROBER_POLL_MS  1000 /* overrides and the lease are polled */
#define PROBER_QUIET_MS 2000 /* after a blind mark: time to hand over */

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

	/* An OPEN held back while a witness is asked. */
	bool asking;
	enum breaker_state held_from;
	struct state_record held;
	/* The blind mark: a witness saw dep healthy while we did not. */
	uint64_t blind_until; /* monotonic; 0 = never blind */
	uint64_t quiet_until; /* no checks or probes before: handing over */
	char blind_why[256];
	/* Checks run as another leader's witness. */
	struct probe *wprobe;
	struct witness_run wrun;
	witness_check_done_fn wdone;
	void *wctx;
	char wleader[WITNESS_ID_MAX + 1];
};

/* A witness asked for; orphaned (pr NULL) if the prober goes first. */
struct prober_ask {
	struct prober *pr;
	struct prober_dep *pd;
	uint64_t gen;
	struct prober_ask *next;
};

/* A publish in flight; orphaned (pr NULL) if the prober goes first. */
struct prober_pub {
	struct prober *pr;
	struct prober_dep *pd;
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
	struct prober_witness_ops wops; /* all NULL: no witnesses */
	uint64_t rng;
	uint64_t seed; /* the leads': seed + how many were made before */
	uint64_t nadded;
	struct prober_dep **deps; /* one by one: timers and probes point in */
	size_t ndeps;
	struct prober_pub *pubs;
	struct prober_ask *asks;
};

static void prober_schedule(struct prober_dep *, uint64_t);

/* The prober's entry for dep, NULL if unknown. */
static struct prober_dep *
prober_find(struct prober *pr, const struct dep *dep)
{
	for (size_t i = 0; i < pr->ndeps; i++)
		if (pr->deps[i]->dep == dep)
			return pr->deps[i];
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
	uint64_t j = splitmix64(&pd->pr->rng) % ((uint64_t)hc->jitter_ms + 1);

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
	pd = pub->pd;
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
	pub->pd = pd;
	pub->gen = pd->gen;
	pub->from = from;
	pub->rec = *next;
	pub->next = pr->pubs;
	pr->pubs = pub;
	pd->c.publishes++;
	pr->ops.publish(pd->dep, next, prober_published, pub, pr->ops.arg);
}

/* Is this instance's blind mark for pd held at now? */
static bool
prober_blind_now(const struct prober_dep *pd, uint64_t now)
{
	return pd->blind_until != 0 && now < pd->blind_until;
}

/*
 * Does this decision need a second opinion?  An OPEN that rests on this
 * instance's own checks or probes does; one from the trip votes already
 * is the fleet's evidence, and without a target there is nothing a
 * witness could check.
 */
static bool
prober_wants_witness(const struct prober_dep *pd, enum prober_input in,
    enum breaker_state from, const struct state_record *next)
{
	const struct health_config *hc = &dep_config(pd->dep)->health;

	if (next->state != BREAKER_OPEN || pd->pr->wops.corroborate == NULL
	    || hc->kind == HEALTH_NONE || hc->witness_checks == 0)
		return false;
	return in == PROBER_HEALTH || in == PROBER_PROBE
	    || (in == PROBER_TICK && from == BREAKER_HALF_OPEN);
}

/* Give leadership away while blind (if someone is there to take it). */
static void
prober_hand_over(struct prober_dep *pd)
{
	struct prober *pr = pd->pr;

	if (pr->wops.hand_over != NULL)
		pr->wops.hand_over(pd->dep, pr->wops.arg);
}

/* A witness saw dep healthy: do not open, say so, hand over. */
static void
prober_mark_blind(
    struct prober_dep *pd, const struct witness_record *a, uint64_t now)
{
	const struct health_config *hc = &dep_config(pd->dep)->health;

	pd->blind_until = now + (hc->blind_hold_ms ? hc->blind_hold_ms : 1);
	if (snprintf(pd->blind_why, sizeof(pd->blind_why),
	        "witness %s saw it healthy (%u of %u ok: %s) while we had %s",
	        a->by, a->ok, a->checks, a->detail, pd->held.reason)
	    < 0)
		pd->blind_why[0] = '\0'; /* a long reason is cut, never lost */
	log_warnx("%s: blind: %s; not opening the fleet, handing leadership "
	          "over",
	    dep_name(pd->dep), pd->blind_why);
	lead_overruled(pd->lead, now);
	pd->quiet_until = now + PROBER_QUIET_MS;
	prober_hand_over(pd);
}

/* Publish the held OPEN, its reason saying what corroborated it. */
static void
prober_open_anyway(struct prober_dep *pd, const char *why)
{
	char reason[sizeof(pd->held.reason)];

	/* The record's reason is bounded: what does not fit is cut. */
	if (snprintf(reason, sizeof(reason), "%s; %s", pd->held.reason, why)
	    > 0)
		strlcpy_b(pd->held.reason, reason, sizeof(pd->held.reason));
	prober_publish(pd, pd->held_from, &pd->held);
}

/* The witness answered (or there was none): open, or do not. */
static void
prober_witnessed(enum witness_outcome o, const struct witness_record *a,
    const char *why, void *arg)
{
	struct prober_ask *ask = arg, **pp;
	struct prober *pr = ask->pr;
	struct prober_dep *pd;
	uint64_t now = now_mono_ms();
	char text[256];
	bool stale;

	if (pr == NULL) {
		free(ask);
		return;
	}
	for (pp = &pr->asks; *pp != ask; pp = &(*pp)->next)
		;
	*pp = ask->next;
	pd = ask->pd;
	stale = ask->gen != pd->gen || !pd->asking;
	free(ask);
	if (stale)
		return; /* leadership changed meanwhile: lead was reset */
	pd->asking = false;
	log_info("prober: %s: witness: %s (%s)", dep_name(pd->dep),
	    witness_outcome_name(o), why);
	if (o == WITNESS_BLIND) {
		pd->c.witness_blind++;
		prober_mark_blind(pd, a, now);
	} else if (o == WITNESS_CONFIRMED) {
		pd->c.witness_confirmed++;
		snprintf(text, sizeof(text), "witness %s agrees (%s)", a->by,
		    a->detail);
		prober_open_anyway(pd, text);
	} else {
		pd->c.witness_alone++;
		snprintf(text, sizeof(text), "no witness (%s)", why);
		prober_open_anyway(pd, text);
	}
	prober_schedule(pd, now);
}

/*
 * Trip votes of other instances are the fleet's own traffic failing: a
 * second vantage point already.  Then the OPEN goes out at once.
 */
static bool
prober_votes_agree(struct prober_dep *pd)
{
	struct prober *pr = pd->pr;
	char text[96];
	size_t n;

	if (pr->wops.other_votes == NULL
	    || (n = pr->wops.other_votes(pd->dep, pr->wops.arg)) == 0)
		return false;
	pd->c.witness_votes++;
	log_info("prober: %s: would open (%s); %zu trip vote(s) of other "
	         "instances agree",
	    dep_name(pd->dep), pd->held.reason, n);
	snprintf(text, sizeof(text), "trip votes of %zu other(s) agree", n);
	prober_open_anyway(pd, text);
	return true;
}

/* Hold the OPEN back and ask a witness; lead stays frozen meanwhile. */
static void
prober_corroborate(
    struct prober_dep *pd, enum breaker_state from, struct state_record *next)
{
	struct prober *pr = pd->pr;
	const struct health_config *hc = &dep_config(pd->dep)->health;
	struct prober_ask *ask;

	pd->held_from = from;
	pd->held = *next;
	if (prober_votes_agree(pd))
		return;
	ask = xcalloc(1, sizeof(*ask));
	ask->pr = pr;
	ask->pd = pd;
	ask->gen = pd->gen;
	ask->next = pr->asks;
	pr->asks = ask;
	pd->asking = true;
	log_info("prober: %s: would open (%s); asking a witness first",
	    dep_name(pd->dep), next->reason);
	/* The bound: a witness adds at most one health check interval. */
	pr->wops.corroborate(pd->dep, hc->witness_checks, hc->interval_ms,
	    prober_witnessed, ask, pr->wops.arg);
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
	if (decided && prober_wants_witness(pd, in, li.state, &next))
		prober_corroborate(pd, li.state, &next);
	else if (decided)
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
	if (now < pd->quiet_until) { /* blind: the handover is under way */
		prober_schedule(pd, now);
		return;
	}
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
	if (pd->quiet_until > now && due < pd->quiet_until)
		due = pd->quiet_until;
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
	pr->seed = seed;
	pr->ndeps = registry_count(reg);
	pr->ndeps = 0;
	for (size_t i = 0; i < registry_count(reg); i++)
		prober_add_dep(pr, registry_at(reg, i));
	return pr;
}

/* A dependency to probe when leading it (at start, or added live). */
void
prober_add_dep(struct prober *pr, struct dep *dep)
{
	struct prober_dep *pd = xcalloc(1, sizeof(*pd));

	pd->pr = pr;
	pd->dep = dep;
	pd->lead =
	    lead_new(dep_config(dep), pr->instance_id, pr->seed + pr->nadded++);
	pd->timer = evtimer_new(pr->base, prober_tick_cb, pd);
	if (pd->timer == NULL)
		fatalx("prober_add_dep: evtimer_new failed");
	pr->deps = xreallocarray(pr->deps, pr->ndeps + 1, sizeof(*pr->deps));
	pr->deps[pr->ndeps++] = pd;
}

/* Stop pd's timer and checks and free it; nothing of it is in flight. */
static void
prober_dep_free(struct prober_dep *pd)
{
	prober_cancel(pd);
	if (pd->wprobe != NULL)
		probe_cancel(pd->wprobe);
	event_free(pd->timer);
	lead_free(pd->lead);
	free(pd);
}

/*
 * A dependency removed live: its checks stop now.  A publish or witness
 * request still out for it is orphaned (it frees itself on return), and
 * a witness run for another leader ends without an answer (the witness
 * module forgets the request with the dependency).
 */
void
prober_remove_dep(struct prober *pr, struct dep *dep)
{
	struct prober_dep *pd = prober_find(pr, dep);
	struct prober_pub **pp;
	struct prober_ask **ap;
	size_t i;

	if (pd == NULL)
		return;
	for (pp = &pr->pubs; *pp != NULL;)
		if ((*pp)->pd == pd) {
			(*pp)->pr = NULL;
			*pp = (*pp)->next;
		} else
			pp = &(*pp)->next;
	for (ap = &pr->asks; *ap != NULL;)
		if ((*ap)->pd == pd) {
			(*ap)->pr = NULL;
			*ap = (*ap)->next;
		} else
			ap = &(*ap)->next;
	for (i = 0; pr->deps[i] != pd; i++)
		;
	memmove(&pr->deps[i], &pr->deps[i + 1],
	    (pr->ndeps - i - 1) * sizeof(*pr->deps));
	pr->ndeps--;
	pd->wdone = NULL;
	prober_dep_free(pd);
}

/* The configuration array moved: lead reads its settings anew. */
void
prober_rebind(struct prober *pr)
{
	for (size_t i = 0; i < pr->ndeps; i++)
		lead_set_config(
		    pr->deps[i]->lead, dep_config(pr->deps[i]->dep));
}

/* Wire the second opinions (main does, in a fleet). */
void
prober_set_witness_ops(struct prober *pr, const struct prober_witness_ops *w)
{
	pr->wops = *w;
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
	pd->asking = false;
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
	if (prober_blind_now(pd, now)) {
		log_info("%s: leading while blind (%s): handing it over",
		    dep_name(dep), pd->blind_why);
		pd->quiet_until = now + PROBER_QUIET_MS;
		prober_hand_over(pd);
	}
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

/* The fleet window judged the fleet's numbers bad: lead decides. */
void
prober_fleet_window(struct prober *pr, struct dep *dep, const char *reason)
{
	struct prober_dep *pd = prober_find(pr, dep);
	uint64_t now = now_mono_ms();
	struct state_record next;
	struct lead_info li;

	if (pd == NULL)
		return;
	lead_info(pd->lead, &li);
	if (lead_fleet_window(pd->lead, reason, now, &next))
		prober_publish(pd, li.state, &next);
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

/*
 * STATUS: witness figures of every dependency that had any, and the blind
 * marks held (blind.<dep>=1 with how long it still holds and why, then
 * blind=N).
 */
void
prober_status_witness(struct prober *pr, struct evbuffer *out)
{
	uint64_t now = now_mono_ms();
	size_t blind = 0;

	for (size_t i = 0; i < pr->ndeps; i++) {
		struct prober_dep *pd = pr->deps[i];
		const char *n = dep_name(pd->dep);
		const struct prober_counters *c = &pd->c;

		if (c->witness_votes + c->witness_confirmed + c->witness_alone
		            + c->witness_blind + c->witness_checks
		        == 0
		    && !pd->asking)
			continue; /* no witness business yet: no lines */
		evbuffer_add_printf(out,
		    "witness.%s.votes_agreed=%llu\n"
		    "witness.%s.asked_confirmed=%llu\n"
		    "witness.%s.asked_alone=%llu\n"
		    "witness.%s.asked_blind=%llu\nwitness.%s.checks=%llu\n"
		    "witness.%s.asking=%d\n",
		    n, (unsigned long long)pd->c.witness_votes, n,
		    (unsigned long long)pd->c.witness_confirmed, n,
		    (unsigned long long)pd->c.witness_alone, n,
		    (unsigned long long)pd->c.witness_blind, n,
		    (unsigned long long)pd->c.witness_checks, n, pd->asking);
	}
	for (size_t i = 0; i < pr->ndeps; i++) {
		struct prober_dep *pd = pr->deps[i];
		const char *n = dep_name(pd->dep);

		if (!prober_blind_now(pd, now))
			continue;
		blind++;
		evbuffer_add_printf(out,
		    "blind.%s=1\nblind.%s.ms_left=%llu\nblind.%s.reason=%s\n",
		    n, n, (unsigned long long)(pd->blind_until - now), n,
		    pd->blind_why);
	}
	evbuffer_add_printf(out, "blind=%zu\n", blind);
}

/* STATUS: how many deps this instance leads, and each one's lines. */
void
prober_status(struct prober *pr, struct evbuffer *out)
{
	size_t leading = 0;

	for (size_t i = 0; i < pr->ndeps; i++)
		if (lead_leading(pr->deps[i]->lead))
			leading++;
	evbuffer_add_printf(out, "probe.leading=%zu\n", leading);
	for (size_t i = 0; i < pr->ndeps; i++)
		if (lead_leading(pr->deps[i]->lead))
			prober_status_dep(pr->deps[i], out);
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
	c->blind = prober_blind_now(pd, now_mono_ms());
	return 0;
}

/* ---- as another leader's witness ----------------------------------------- */

static void prober_witness_next(struct prober_dep *);

/* One witness check came back: the next one, or the verdict. */
static void
prober_wprobe_done(const struct probe_result *r, void *arg)
{
	struct prober_dep *pd = arg;
	witness_check_done_fn done = pd->wdone;

	pd->wprobe = NULL;
	log_debug("prober: %s: witness check for %s %s in %u ms: %s",
	    dep_name(pd->dep), pd->wleader, r->ok ? "ok" : "failed",
	    r->elapsed_ms, r->detail);
	if (done == NULL)
		return;
	if (!witness_run_result(&pd->wrun, r->ok, r->detail)) {
		prober_witness_next(pd);
		return;
	}
	pd->wdone = NULL;
	done(&pd->wrun, pd->wctx);
}

/* Send the next witness check (tagged, so the dependency can tell). */
static void
prober_witness_next(struct prober_dep *pd)
{
	struct prober *pr = pd->pr;

	pd->c.witness_checks++;
	pd->wprobe = probe_start_witness(pr->base, &dep_config(pd->dep)->health,
	    pr->instance_id, pd->wleader, prober_wprobe_done, pd);
	if (pd->wprobe == NULL) {
		struct probe_result r = {.ok = false};

		snprintf(r.detail, sizeof(r.detail), "cannot start check");
		prober_wprobe_done(&r, pd);
	}
}

/* Run n checks of dep for leader, one at a time, stopping at a failure. */
void
prober_witness_check(struct prober *pr, struct dep *dep, const char *leader,
    uint32_t n, witness_check_done_fn done, void *ctx)
{
	struct prober_dep *pd = prober_find(pr, dep);
	struct witness_run none;

	if (pd == NULL || dep_config(dep)->health.kind == HEALTH_NONE) {
		memset(&none, 0, sizeof(none));
		strlcpy_b(none.detail, "no health check configured",
		    sizeof(none.detail));
		done(&none, ctx);
		return;
	}
	prober_witness_cancel(pr, dep);
	witness_run_start(&pd->wrun, n);
	pd->wdone = done;
	pd->wctx = ctx;
	strlcpy_b(pd->wleader, leader, sizeof(pd->wleader));
	prober_witness_next(pd);
}

/* The request went away: stop checking. */
void
prober_witness_cancel(struct prober *pr, struct dep *dep)
{
	struct prober_dep *pd = prober_find(pr, dep);

	if (pd == NULL)
		return;
	pd->wdone = NULL;
	if (pd->wprobe != NULL)
		probe_cancel(pd->wprobe);
	pd->wprobe = NULL;
}

/* Is the blind mark for dep held now? */
bool
prober_blind(struct prober *pr, const struct dep *dep)
{
	struct prober_dep *pd = prober_find(pr, dep);

	return pd != NULL && prober_blind_now(pd, now_mono_ms());
}

/* Stop every timer and check; orphan the publishes still in flight. */
void
prober_free(struct prober *pr)
{
	if (pr == NULL)
		return;
	for (struct prober_pub *pub = pr->pubs; pub != NULL; pub = pub->next)
		pub->pr = NULL;
	for (struct prober_ask *a = pr->asks; a != NULL; a = a->next)
		a->pr = NULL;
	for (size_t i = 0; i < pr->ndeps; i++)
		prober_dep_free(pr->deps[i]);
	free(pr->deps);
	free(pr);
}
