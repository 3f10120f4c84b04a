/*
 * test_lead.c - the leader's decisions: health check thresholds, trip votes
 * against the quorum, the open wait, half-open probes, backoff with jitter
 * and a cap, the maximum half-open time, pauses for overrides, pending
 * publishes and takeover in every state.  Time is passed in, so every
 * deadline is checked to the millisecond.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "lead.h"
#include "util.h"

#define T0 1000000 /* an arbitrary monotonic start */

static struct dep_config cfg;

/* A dependency with an HTTP check, 5/1 thresholds, 3 probes 500 ms apart. */
static void
cfg_reset(void)
{
	memset(&cfg, 0, sizeof(cfg));
	strlcpy_b(cfg.name, "payments", sizeof(cfg.name));
	breaker_settings_default(&cfg.breaker);
	cfg.breaker.open_wait_ms = 30000;
	cfg.breaker.backoff_multiplier_pct = 200;
	cfg.breaker.open_wait_max_ms = 300000;
	cfg.breaker.jitter_pct = 0;
	cfg.breaker.half_open_max_ms = 0;
	cfg.health.kind = HEALTH_HTTP;
	cfg.health.interval_ms = 1000;
	cfg.health.timeout_ms = 1000;
	cfg.health.healthy_threshold = 1;
	cfg.health.unhealthy_threshold = 5;
	cfg.health.status_min = 200;
	cfg.health.status_max = 299;
	cfg.quorum.min_votes = 2;
	cfg.quorum.fraction_pct = 50;
	cfg.probe.count = 3;
	cfg.probe.interval_ms = 500;
}

/* A record in a given state with a given wait and backoff step. */
static struct state_record
rec_make(enum breaker_state st, uint32_t wait, uint32_t fr)
{
	struct state_record r;

	memset(&r, 0, sizeof(r));
	r.state = st;
	r.term = 3;
	strlcpy_b(r.leader, "inst-old", sizeof(r.leader));
	snprintf(r.reason, sizeof(r.reason), "test");
	r.open_wait_ms = wait;
	r.failed_recoveries = fr;
	return r;
}

/* A lead that has just taken over a record (NULL: none). */
static struct lead *
lead_at(const struct state_record *r, uint64_t now)
{
	struct lead *l = lead_new(&cfg, "inst-a", 42);

	lead_takeover(l, r, now);
	return l;
}

/* A lead on the default settings of cfg_reset, taken over at T0. */
static struct lead *
fresh_lead(const struct state_record *r)
{
	cfg_reset();
	return lead_at(r, T0);
}

/* Publish a decision as the fleet layer would. */
static void
publish(struct lead *l, const struct state_record *next, uint64_t now)
{
	lead_published(l, next, now);
}

/* Run n health failures; return how many decided something. */
static int
fail_n(struct lead *l, int n, struct state_record *next)
{
	int decided = 0;

	for (int i = 0; i < n; i++)
		decided += lead_health(l, false, "connect refused", T0, next);
	return decided;
}

static void
test_health_threshold_exact(void)
{
	struct state_record next;
	struct lead *l;

	l = fresh_lead(NULL);
	CU_ASSERT_TRUE(lead_wants_health(l));
	CU_ASSERT_EQUAL(fail_n(l, 4, &next), 0);
	CU_ASSERT_EQUAL(lead_health(l, false, "connect refused", T0, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_OPEN);
	CU_ASSERT_STRING_EQUAL(next.reason,
	    "health check: 5 consecutive failures (connect refused)");
	CU_ASSERT_STRING_EQUAL(next.leader, "inst-a");
	CU_ASSERT_EQUAL(next.open_wait_ms, 30000);
	CU_ASSERT_EQUAL(next.failed_recoveries, 0);
	lead_free(l);
}

static void
test_health_success_streak(void)
{
	struct state_record next;
	struct lead *l;

	cfg_reset();
	cfg.health.healthy_threshold = 2;
	/* One success is not a streak: the failures keep counting. */
	l = lead_at(NULL, T0);
	CU_ASSERT_EQUAL(fail_n(l, 4, &next), 0);
	CU_ASSERT_EQUAL(lead_health(l, true, "HTTP 200", T0, &next), 0);
	CU_ASSERT_EQUAL(fail_n(l, 1, &next), 1);
	lead_free(l);
	/* Two in a row reset them. */
	l = lead_at(NULL, T0);
	CU_ASSERT_EQUAL(fail_n(l, 4, &next), 0);
	CU_ASSERT_EQUAL(lead_health(l, true, "HTTP 200", T0, &next), 0);
	CU_ASSERT_EQUAL(lead_health(l, true, "HTTP 200", T0, &next), 0);
	CU_ASSERT_EQUAL(fail_n(l, 4, &next), 0);
	CU_ASSERT_EQUAL(fail_n(l, 1, &next), 1);
	CU_ASSERT_STRING_EQUAL(next.reason,
	    "health check: 5 consecutive failures (connect refused)");
	lead_free(l);
	/* Threshold 1 is Envoy's: any success resets. */
	cfg.health.healthy_threshold = 1;
	l = lead_at(NULL, T0);
	CU_ASSERT_EQUAL(fail_n(l, 4, &next), 0);
	CU_ASSERT_EQUAL(lead_health(l, true, "HTTP 200", T0, &next), 0);
	CU_ASSERT_EQUAL(fail_n(l, 4, &next), 0);
	lead_free(l);
}

static void
test_health_ignored(void)
{
	struct state_record next, open = rec_make(BREAKER_OPEN, 30000, 0);
	struct lead *l;

	cfg_reset();
	cfg.health.unhealthy_threshold = 1;
	/* Not leading. */
	l = lead_new(&cfg, "inst-a", 1);
	CU_ASSERT_FALSE(lead_wants_health(l));
	CU_ASSERT_EQUAL(fail_n(l, 3, &next), 0);
	lead_free(l);
	/* Fleet already OPEN. */
	l = lead_at(&open, T0);
	CU_ASSERT_FALSE(lead_wants_health(l));
	CU_ASSERT_EQUAL(fail_n(l, 3, &next), 0);
	lead_free(l);
	/* Paused by an override. */
	l = lead_at(NULL, T0);
	lead_pause(l, true, T0);
	CU_ASSERT_FALSE(lead_wants_health(l));
	CU_ASSERT_EQUAL(fail_n(l, 3, &next), 0);
	lead_pause(l, false, T0);
	CU_ASSERT_EQUAL(fail_n(l, 1, &next), 1);
	lead_free(l);
	/* No target configured: nothing to check. */
	cfg.health.kind = HEALTH_NONE;
	l = lead_at(NULL, T0);
	CU_ASSERT_FALSE(lead_wants_health(l));
	lead_free(l);
}

static void
test_quorum_math(void)
{
	struct quorum_config q = {.min_votes = 2, .fraction_pct = 50};

	CU_ASSERT_TRUE(lead_quorum(&q, 2, 3));
	CU_ASSERT_FALSE(lead_quorum(&q, 1, 3)); /* below min_votes */
	CU_ASSERT_FALSE(lead_quorum(&q, 1, 1)); /* 100% but one vote */
	CU_ASSERT_TRUE(lead_quorum(&q, 2, 4));  /* exactly 50% */
	CU_ASSERT_FALSE(lead_quorum(&q, 2, 5)); /* 40% */
	CU_ASSERT_FALSE(lead_quorum(&q, 0, 0));
	CU_ASSERT_TRUE(lead_quorum(&q, 3, 0)); /* voters count as live */
	/* No rounding: 2 of 3 is 66.7%, enough for 66, short of 67. */
	q.fraction_pct = 66;
	CU_ASSERT_TRUE(lead_quorum(&q, 2, 3));
	q.fraction_pct = 67;
	CU_ASSERT_FALSE(lead_quorum(&q, 2, 3));
	CU_ASSERT_TRUE(lead_quorum(&q, 3, 3));
	q.fraction_pct = 0;
	q.min_votes = 0; /* treated as 1 */
	CU_ASSERT_TRUE(lead_quorum(&q, 1, 100));
	CU_ASSERT_FALSE(lead_quorum(&q, 0, 100));
}

static void
test_votes_trip(void)
{
	struct state_record next;
	struct lead *l;

	l = fresh_lead(NULL);
	CU_ASSERT_EQUAL(lead_votes(l, 1, 3, T0, &next), 0); /* one below */
	CU_ASSERT_EQUAL(lead_votes(l, 2, 3, T0, &next), 1); /* at quorum */
	CU_ASSERT_EQUAL(next.state, BREAKER_OPEN);
	CU_ASSERT_STRING_EQUAL(next.reason, "votes 2/3");
	CU_ASSERT_EQUAL(next.open_wait_ms, 30000);
	lead_free(l);
	/* Fraction not met although min_votes is. */
	cfg.quorum.fraction_pct = 67;
	l = lead_at(NULL, T0);
	CU_ASSERT_EQUAL(lead_votes(l, 2, 3, T0, &next), 0);
	CU_ASSERT_EQUAL(lead_votes(l, 3, 3, T0, &next), 1);
	CU_ASSERT_STRING_EQUAL(next.reason, "votes 3/3");
	lead_free(l);
}

static void
test_votes_linger(void)
{
	struct state_record next, ho = rec_make(BREAKER_HALF_OPEN, 30000, 0);
	struct lead *l;

	l = fresh_lead(&ho);
	lead_votes(l, 2, 3, T0, &next); /* ignored: not CLOSED */
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_TRUE(lead_probe_due(l, T0 + i * 500));
		lead_probe_sent(l, T0 + i * 500);
		lead_probe_result(l, true, "HTTP 200", T0 + i * 500, &next);
	}
	CU_ASSERT_EQUAL(next.state, BREAKER_CLOSED);
	publish(l, &next, T0 + 1000);
	/* The votes of the trip are still there: they must not reopen. */
	CU_ASSERT_EQUAL(lead_votes(l, 2, 3, T0 + 1100, &next), 0);
	CU_ASSERT_EQUAL(lead_votes(l, 1, 3, T0 + 1200, &next), 0);
	/* A new vote at quorum does. */
	CU_ASSERT_EQUAL(lead_votes(l, 2, 3, T0 + 1300, &next), 1);
	lead_free(l);
}

static void
test_open_wait(void)
{
	struct state_record next, open = rec_make(BREAKER_OPEN, 30000, 0);
	struct lead *l;

	cfg_reset();
	open.changed_ms = 1; /* wall clock: must not matter */
	open.open_until_ms = 2;
	l = lead_at(&open, T0);
	CU_ASSERT_EQUAL(lead_deadline(l), T0 + 30000);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 29999, &next), 0);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 30000, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_HALF_OPEN);
	CU_ASSERT_STRING_EQUAL(next.reason, "open wait 30000 ms over");
	CU_ASSERT_EQUAL(next.open_wait_ms, 30000);
	lead_free(l);
	/* A record without a wait gets the backoff for its step. */
	open = rec_make(BREAKER_OPEN, 0, 1);
	l = lead_at(&open, T0);
	CU_ASSERT_EQUAL(lead_deadline(l), T0 + 60000);
	lead_free(l);
}

/* Drive a fresh HALF_OPEN lead through n ok probes. */
static int
probes_ok(struct lead *l, int n, uint64_t *t, struct state_record *next)
{
	int decided = 0;

	for (int i = 0; i < n; i++) {
		CU_ASSERT_TRUE(lead_probe_due(l, *t));
		lead_probe_sent(l, *t);
		CU_ASSERT_FALSE(lead_probe_due(l, *t));
		decided += lead_probe_result(l, true, "HTTP 200", *t + 5, next);
		*t += 500;
	}
	return decided;
}

static void
test_probes_close(void)
{
	struct state_record next, ho = rec_make(BREAKER_HALF_OPEN, 60000, 1);
	struct lead *l;
	uint64_t t = T0;

	l = fresh_lead(&ho);
	CU_ASSERT_EQUAL(lead_deadline(l), T0); /* first probe at once */
	CU_ASSERT_EQUAL(probes_ok(l, 1, &t, &next), 0);
	/* Spacing: the second is due one interval after the first. */
	CU_ASSERT_FALSE(lead_probe_due(l, T0 + 499));
	CU_ASSERT_EQUAL(lead_deadline(l), T0 + 500);
	CU_ASSERT_EQUAL(probes_ok(l, 1, &t, &next), 0);
	CU_ASSERT_EQUAL(probes_ok(l, 1, &t, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_CLOSED);
	CU_ASSERT_STRING_EQUAL(next.reason, "probe 3/3 ok");
	CU_ASSERT_EQUAL(next.failed_recoveries, 0);
	CU_ASSERT_EQUAL(next.open_wait_ms, 0);
	/* Nothing more is sent once the sequence is done. */
	CU_ASSERT_FALSE(lead_probe_due(l, T0 + 10000));
	lead_free(l);
}

static void
test_probe_fails(void)
{
	struct state_record next, ho = rec_make(BREAKER_HALF_OPEN, 30000, 0);
	struct lead *l;
	uint64_t t = T0;

	l = fresh_lead(&ho);
	probes_ok(l, 1, &t, &next);
	lead_probe_sent(l, t);
	CU_ASSERT_EQUAL(lead_probe_result(l, false, "HTTP 500", t, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_OPEN);
	CU_ASSERT_STRING_EQUAL(next.reason, "probe 2/3 failed: HTTP 500");
	CU_ASSERT_EQUAL(next.failed_recoveries, 1);
	CU_ASSERT_EQUAL(next.open_wait_ms, 60000);
	/* A late result of a finished sequence changes nothing. */
	publish(l, &next, t);
	CU_ASSERT_EQUAL(lead_probe_result(l, true, "HTTP 200", t, &next), 0);
	lead_free(l);
}

static void
test_backoff(void)
{
	struct breaker_settings s;

	cfg_reset();
	s = cfg.breaker;
	CU_ASSERT_EQUAL(lead_backoff_ms(&s, 0), 30000);
	CU_ASSERT_EQUAL(lead_backoff_ms(&s, 1), 60000);
	CU_ASSERT_EQUAL(lead_backoff_ms(&s, 2), 120000);
	CU_ASSERT_EQUAL(lead_backoff_ms(&s, 3), 240000);
	CU_ASSERT_EQUAL(lead_backoff_ms(&s, 4), 300000); /* cap */
	CU_ASSERT_EQUAL(lead_backoff_ms(&s, 1000000), 300000);
	s.backoff_multiplier_pct = 100;
	CU_ASSERT_EQUAL(lead_backoff_ms(&s, 50), 30000);
	s.backoff_multiplier_pct = 150;
	CU_ASSERT_EQUAL(lead_backoff_ms(&s, 2), 67500);
	s.backoff_multiplier_pct = 1000;
	s.open_wait_max_ms = 0; /* no cap: saturate, do not overflow */
	CU_ASSERT_EQUAL(lead_backoff_ms(&s, 100), UINT32_MAX);
}

/* Fail one probe of a fresh HALF_OPEN at step fr; return the new wait. */
static uint32_t
wait_after_failure(uint64_t seed, uint32_t fr)
{
	struct state_record next, ho = rec_make(BREAKER_HALF_OPEN, 1, fr);
	struct lead *l = lead_new(&cfg, "inst-a", seed);

	lead_takeover(l, &ho, T0);
	lead_probe_sent(l, T0);
	CU_ASSERT_EQUAL(lead_probe_result(l, false, "timeout", T0, &next), 1);
	CU_ASSERT_EQUAL(next.failed_recoveries, fr + 1);
	lead_free(l);
	return next.open_wait_ms;
}

static void
test_backoff_through_probes(void)
{
	cfg_reset();
	CU_ASSERT_EQUAL(wait_after_failure(1, 0), 60000);
	CU_ASSERT_EQUAL(wait_after_failure(1, 1), 120000);
	CU_ASSERT_EQUAL(wait_after_failure(1, 2), 240000);
	CU_ASSERT_EQUAL(wait_after_failure(1, 3), 300000);
	CU_ASSERT_EQUAL(wait_after_failure(1, 9), 300000);
}

static void
test_jitter_bounds(void)
{
	uint32_t w, lo = UINT32_MAX, hi = 0;

	cfg_reset();
	cfg.breaker.jitter_pct = 20;
	for (uint64_t seed = 0; seed < 500; seed++) {
		w = wait_after_failure(seed, 0); /* 60000 +/- 12000 */
		CU_ASSERT_TRUE(w >= 48000 && w <= 72000);
		lo = w < lo ? w : lo;
		hi = w > hi ? w : hi;
	}
	/* The waits really spread, over most of the range. */
	CU_ASSERT_TRUE(lo < 52000);
	CU_ASSERT_TRUE(hi > 68000);
	/* Same seed, same wait. */
	CU_ASSERT_EQUAL(wait_after_failure(7, 0), wait_after_failure(7, 0));
	/* The cap is jittered too: spread around 300000. */
	w = wait_after_failure(3, 8);
	CU_ASSERT_TRUE(w >= 240000 && w <= 360000);
}

static void
test_half_open_max(void)
{
	struct state_record next, ho = rec_make(BREAKER_HALF_OPEN, 30000, 0);
	struct lead *l;
	uint64_t t = T0;

	cfg_reset();
	/* Default: 4 x 3 probes x 500 ms + 1000 ms timeout. */
	CU_ASSERT_EQUAL(lead_half_open_max_ms(&cfg), 7000);
	l = lead_at(&ho, T0);
	probes_ok(l, 1, &t, &next);
	lead_probe_sent(l, t); /* never answers */
	CU_ASSERT_EQUAL(lead_deadline(l), T0 + 7000);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 6999, &next), 0);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 7000, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_OPEN);
	CU_ASSERT_STRING_EQUAL(
	    next.reason, "half-open max 7000 ms over (probe 1/3 ok)");
	CU_ASSERT_EQUAL(next.failed_recoveries, 1);
	CU_ASSERT_EQUAL(next.open_wait_ms, 60000);
	lead_free(l);
	/* The setting wins over the default. */
	cfg.breaker.half_open_max_ms = 2000;
	CU_ASSERT_EQUAL(lead_half_open_max_ms(&cfg), 2000);
	l = lead_at(&ho, T0);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 2000, &next), 1);
	lead_free(l);
}

static void
test_takeover_each_state(void)
{
	struct state_record next, r;
	struct lead *l;
	uint64_t t;

	cfg_reset();
	/* CLOSED: the old leader's failures do not carry over. */
	l = lead_at(NULL, T0);
	fail_n(l, 4, &next);
	lead_stepdown(l);
	CU_ASSERT_FALSE(lead_wants_health(l));
	r = rec_make(BREAKER_CLOSED, 0, 0);
	lead_takeover(l, &r, T0 + 10);
	CU_ASSERT_EQUAL(fail_n(l, 4, &next), 0);
	CU_ASSERT_EQUAL(fail_n(l, 1, &next), 1);
	CU_ASSERT_EQUAL(next.term, 3); /* carried; the fleet layer bumps it */
	lead_free(l);
	/* OPEN: the wait runs from the takeover. */
	r = rec_make(BREAKER_OPEN, 30000, 2);
	l = lead_at(&r, T0 + 5000);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 30000, &next), 0);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 35000, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(next.failed_recoveries, 2);
	lead_free(l);
	/* HALF_OPEN: a new sequence from probe 1, whatever was sent before. */
	r = rec_make(BREAKER_HALF_OPEN, 30000, 0);
	l = lead_at(&r, T0);
	t = T0;
	probes_ok(l, 2, &t, &next);
	lead_probe_sent(l, t);
	lead_stepdown(l);
	CU_ASSERT_FALSE(lead_probe_due(l, t + 10000));
	CU_ASSERT_EQUAL(lead_probe_result(l, true, "HTTP 200", t, &next), 0);
	lead_takeover(l, &r, t + 100);
	t += 100;
	CU_ASSERT_EQUAL(probes_ok(l, 2, &t, &next), 0);
	CU_ASSERT_EQUAL(probes_ok(l, 1, &t, &next), 1);
	CU_ASSERT_STRING_EQUAL(next.reason, "probe 3/3 ok");
	lead_free(l);
}

static void
test_pending(void)
{
	struct state_record next, again, open = rec_make(BREAKER_OPEN, 1000, 0);
	struct lead *l;

	l = fresh_lead(&open);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 1000, &next), 1);
	/* In flight: no second decision, no deadline. */
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 2000, &again), 0);
	CU_ASSERT_EQUAL(lead_deadline(l), 0);
	lead_publish_failed(l);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 2000, &again), 1);
	CU_ASSERT_STRING_EQUAL(again.reason, next.reason);
	/* The watch may bring our write back before the reply does. */
	lead_fleet(l, &again, T0 + 2001);
	CU_ASSERT_TRUE(lead_probe_due(l, T0 + 2001));
	lead_published(l, &again, T0 + 2500); /* same record: no restart */
	CU_ASSERT_EQUAL(lead_deadline(l), T0 + 2001);
	lead_free(l);
}

static void
test_fleet_adopt(void)
{
	struct state_record next, r;
	struct lead *l;

	l = fresh_lead(NULL);
	fail_n(l, 4, &next);
	/* Someone else's OPEN (e.g. a stale leader's) is taken as it is. */
	r = rec_make(BREAKER_OPEN, 10000, 1);
	lead_fleet(l, &r, T0 + 100);
	CU_ASSERT_EQUAL(lead_deadline(l), T0 + 10100);
	/* An identical record does not restart the wait. */
	r.term = 9;
	lead_fleet(l, &r, T0 + 5000);
	CU_ASSERT_EQUAL(lead_deadline(l), T0 + 10100);
	/* Back to CLOSED: the counters start again. */
	r = rec_make(BREAKER_CLOSED, 0, 0);
	lead_fleet(l, &r, T0 + 6000);
	CU_ASSERT_EQUAL(fail_n(l, 4, &next), 0);
	lead_fleet(l, NULL, T0);
	CU_ASSERT_EQUAL(fail_n(l, 1, &next), 1);
	lead_free(l);
}

static void
test_pause(void)
{
	struct state_record next, ho = rec_make(BREAKER_HALF_OPEN, 30000, 0);
	struct lead *l;
	struct lead_info info;

	l = fresh_lead(&ho);
	lead_probe_sent(l, T0);
	lead_pause(l, true, T0 + 1);
	CU_ASSERT_FALSE(lead_probe_due(l, T0 + 100000));
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 100000, &next), 0);
	CU_ASSERT_EQUAL(lead_deadline(l), 0);
	lead_info(l, &info);
	CU_ASSERT_TRUE(info.paused);
	/* Unpaused: a new sequence, a new half-open limit. */
	lead_pause(l, false, T0 + 200000);
	CU_ASSERT_TRUE(lead_probe_due(l, T0 + 200000));
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 206999, &next), 0);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 207000, &next), 1);
	lead_free(l);
}

static void
test_no_target(void)
{
	struct state_record next, ho = rec_make(BREAKER_HALF_OPEN, 30000, 0);
	struct lead *l;

	cfg_reset();
	cfg.health.kind = HEALTH_NONE;
	/* Votes gone: close after one probe interval. */
	l = lead_at(&ho, T0);
	CU_ASSERT_FALSE(lead_probe_due(l, T0));
	CU_ASSERT_EQUAL(lead_deadline(l), T0 + 500);
	lead_votes(l, 1, 3, T0, &next);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 499, &next), 0);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 500, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_CLOSED);
	CU_ASSERT_STRING_EQUAL(
	    next.reason, "no probe target: votes 1/3 below quorum");
	lead_free(l);
	/* Votes still at quorum: back to OPEN, backed off. */
	l = lead_at(&ho, T0);
	lead_votes(l, 2, 3, T0, &next);
	CU_ASSERT_EQUAL(lead_tick(l, T0 + 500, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_OPEN);
	CU_ASSERT_EQUAL(next.failed_recoveries, 1);
	CU_ASSERT_STRING_EQUAL(
	    next.reason, "no probe target: votes 2/3 still at quorum");
	lead_free(l);
}

static void
test_info(void)
{
	struct state_record next;
	struct lead *l;
	struct lead_info info;

	l = fresh_lead(NULL);
	fail_n(l, 3, &next);
	lead_votes(l, 1, 4, T0, &next);
	lead_info(l, &info);
	CU_ASSERT_EQUAL(info.state, BREAKER_CLOSED);
	CU_ASSERT_TRUE(info.leading);
	CU_ASSERT_EQUAL(info.consecutive_failures, 3);
	CU_ASSERT_EQUAL(info.votes, 1);
	CU_ASSERT_EQUAL(info.live, 4);
	CU_ASSERT_TRUE(lead_leading(l));
	lead_free(l);
}

/* With a ramp, a trip during it backs off one step more; after it, not. */
static void
test_ramp_reopen_backoff(void)
{
	struct state_record next, ho = rec_make(BREAKER_HALF_OPEN, 60000, 1);
	struct lead *l;
	uint64_t t = T0;

	cfg_reset();
	cfg.ramp.duration_ms = 20000;
	cfg.ramp.min_pct = 10;
	cfg.quorum.min_votes = 1;
	l = lead_at(&ho, T0);
	CU_ASSERT_EQUAL(probes_ok(l, 3, &t, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(next.failed_recoveries, 1); /* carried into the ramp */
	publish(l, &next, t);
	/* votes during the ramp: failed recovery, next step (120 s) */
	CU_ASSERT_EQUAL(lead_votes(l, 2, 4, t + 19999, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_OPEN);
	CU_ASSERT_EQUAL(next.failed_recoveries, 2);
	CU_ASSERT_EQUAL(next.open_wait_ms, 120000);
	CU_ASSERT_STRING_EQUAL(
	    next.reason, "votes 2/4 during the recovery ramp");
	lead_free(l);

	/* the same trip after the ramp is a new outage: base wait */
	l = lead_at(&ho, T0);
	t = T0;
	CU_ASSERT_EQUAL(probes_ok(l, 3, &t, &next), 1);
	publish(l, &next, t);
	CU_ASSERT_EQUAL(lead_votes(l, 2, 4, t + 20000, &next), 1);
	CU_ASSERT_EQUAL(next.failed_recoveries, 0);
	CU_ASSERT_EQUAL(next.open_wait_ms, 30000);
	CU_ASSERT_STRING_EQUAL(next.reason, "votes 2/4");
	lead_free(l);

	/* a leader that took over a CLOSED record cannot know the ramp */
	ho = rec_make(BREAKER_CLOSED, 0, 3);
	l = lead_at(&ho, T0);
	CU_ASSERT_EQUAL(fail_n(l, 5, &next), 1);
	CU_ASSERT_EQUAL(next.failed_recoveries, 0);
	CU_ASSERT_EQUAL(next.open_wait_ms, 30000);
	lead_free(l);

	/* without a ramp, closing forgets the backoff as before */
	cfg.ramp.duration_ms = 0;
	ho = rec_make(BREAKER_HALF_OPEN, 60000, 1);
	l = lead_at(&ho, T0);
	t = T0;
	CU_ASSERT_EQUAL(probes_ok(l, 3, &t, &next), 1);
	CU_ASSERT_EQUAL(next.failed_recoveries, 0);
	lead_free(l);
}

static const struct harness_test tests[] = {
    {"health threshold exactly met", test_health_threshold_exact},
    {"health success streak resets", test_health_success_streak},
    {"health ignored when not acting", test_health_ignored},
    {"quorum arithmetic", test_quorum_math},
    {"votes trip at quorum", test_votes_trip},
    {"lingering votes do not reopen", test_votes_linger},
    {"open wait from learning", test_open_wait},
    {"probes all ok close", test_probes_close},
    {"probe failure reopens", test_probe_fails},
    {"backoff doubling and cap", test_backoff},
    {"backoff through failed probes", test_backoff_through_probes},
    {"jitter bounds", test_jitter_bounds},
    {"maximum half-open time", test_half_open_max},
    {"takeover in each state", test_takeover_each_state},
    {"pending publish", test_pending},
    {"fleet record adoption", test_fleet_adopt},
    {"override pause", test_pause},
    {"no probe target", test_no_target},
    {"info", test_info},
    {"ramp: re-open backs off further", test_ramp_reopen_backoff},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("lead", tests);
}
