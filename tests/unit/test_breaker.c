/*
 * test_breaker.c - unit tests for the local breaker (src/breaker.c): every
 * rule of the state machine, with the edges that matter: exactly at a
 * threshold, one call below the minimum, window wrap-around and expiry,
 * time jumping by hours, backoff and its cap, jitter bounds, and the
 * Resilience4j transition table checked pair by pair.  Time is simulated:
 * every call gets an explicit now_ms, nothing reads a clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "harness.h"

#define T0 1000000ULL /* an arbitrary monotonic start, not 0 */

/* Small settings that make tests short: window 10, minimum 10, 50%. */
static struct breaker_settings
small_settings(void)
{
	struct breaker_settings s;

	breaker_settings_default(&s);
	s.window_size = 10;
	s.minimum_calls = 10;
	s.failure_rate_pct = 50;
	s.slow_rate_pct = 100;
	s.slow_call_ms = 1000;
	s.open_wait_ms = 1000;
	s.open_wait_max_ms = 8000;
	s.half_open_calls = 3;
	return s;
}

/* A TIME window of the given seconds that trips at 100% from one call. */
static struct breaker_settings
time_settings(uint32_t seconds)
{
	struct breaker_settings s = small_settings();

	s.window_type = BREAKER_WINDOW_TIME;
	s.window_size = seconds;
	s.minimum_calls = 1;
	s.failure_rate_pct = 100;
	return s;
}

/* A breaker with the given settings; fails the test if it cannot. */
static struct breaker *
make(const struct breaker_settings *s, uint64_t now_ms)
{
	struct breaker *b = breaker_new(s, 42, now_ms);

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	return b;
}

/* Record n identical outcomes; returns how many caused a transition. */
static int
record_n(struct breaker *b, uint64_t now_ms, enum breaker_outcome o,
    uint32_t duration_ms, int n)
{
	int moved = 0;

	for (int i = 0; i < n; i++)
		moved += breaker_record(b, now_ms, o, duration_ms, NULL);
	return moved;
}

/* The window at now_ms holds calls calls, failures of them failed. */
static void
window_is(struct breaker *b, uint64_t now_ms, uint32_t calls, uint32_t failures)
{
	struct breaker_stats st;

	breaker_stats(b, now_ms, &st);
	CU_ASSERT_EQUAL(st.calls, calls);
	CU_ASSERT_EQUAL(st.failures, failures);
}

/* Trip a small breaker (10 failures) at now_ms. */
static void
trip(struct breaker *b, uint64_t now_ms)
{
	CU_ASSERT_EQUAL(record_n(b, now_ms, BREAKER_FAIL, 1, 10), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
}

/* Go from OPEN to HALF_OPEN through tick; returns the time it happened. */
static uint64_t
to_half_open(struct breaker *b)
{
	uint64_t t = breaker_open_until(b);

	CU_ASSERT_EQUAL(breaker_tick(b, t, NULL), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_HALF_OPEN);
	return t;
}

/* Names and their parser are inverses; unknown names give -1. */
static void
test_names(void)
{
	static const char *want[] = {"CLOSED", "OPEN", "HALF_OPEN",
	    "FORCED_OPEN", "DISABLED", "METRICS_ONLY"};

	for (int i = 0; i < BREAKER_NSTATES; i++) {
		CU_ASSERT_STRING_EQUAL(breaker_state_name(i), want[i]);
		CU_ASSERT_EQUAL(breaker_state_parse(want[i]), i);
	}
	CU_ASSERT_EQUAL(breaker_state_parse("open"), -1);
	CU_ASSERT_EQUAL(breaker_state_parse("OPEN "), -1);
	CU_ASSERT_EQUAL(breaker_state_parse(""), -1);
	CU_ASSERT_EQUAL(breaker_state_parse(NULL), -1);
	CU_ASSERT_STRING_EQUAL(breaker_outcome_name(BREAKER_OK), "ok");
	CU_ASSERT_STRING_EQUAL(breaker_outcome_name(BREAKER_FAIL), "fail");
	CU_ASSERT_STRING_EQUAL(breaker_outcome_name(BREAKER_SLOW), "slow");
	CU_ASSERT_PTR_NOT_NULL(breaker_state_name(BREAKER_NSTATES));
	CU_ASSERT_PTR_NOT_NULL(breaker_outcome_name(BREAKER_NOUTCOMES));
}

/* Only CLOSED, DISABLED and METRICS_ONLY let every call through. */
static void
test_state_permits(void)
{
	CU_ASSERT_TRUE(breaker_state_permits(BREAKER_CLOSED));
	CU_ASSERT_TRUE(breaker_state_permits(BREAKER_DISABLED));
	CU_ASSERT_TRUE(breaker_state_permits(BREAKER_METRICS_ONLY));
	CU_ASSERT_FALSE(breaker_state_permits(BREAKER_OPEN));
	CU_ASSERT_FALSE(breaker_state_permits(BREAKER_HALF_OPEN));
	CU_ASSERT_FALSE(breaker_state_permits(BREAKER_FORCED_OPEN));
}

/* The defaults are Resilience4j's, and they pass the check. */
static void
test_defaults(void)
{
	struct breaker_settings s;

	memset(&s, 0xff, sizeof(s));
	breaker_settings_default(&s);
	CU_ASSERT_EQUAL(s.window_type, BREAKER_WINDOW_COUNT);
	CU_ASSERT_EQUAL(s.window_size, 100);
	CU_ASSERT_EQUAL(s.minimum_calls, 100);
	CU_ASSERT_EQUAL(s.failure_rate_pct, 50);
	CU_ASSERT_EQUAL(s.slow_rate_pct, 100);
	CU_ASSERT_EQUAL(s.slow_call_ms, 60000);
	CU_ASSERT_EQUAL(s.open_wait_ms, 60000);
	CU_ASSERT_EQUAL(s.half_open_calls, 10);
	CU_ASSERT_EQUAL(s.half_open_max_ms, 0);
	CU_ASSERT_EQUAL(s.consecutive_failures, 0);
	CU_ASSERT_EQUAL(s.backoff_multiplier_pct, 100);
	CU_ASSERT_EQUAL(s.jitter_pct, 0);
	CU_ASSERT_TRUE(s.open_wait_max_ms >= s.open_wait_ms);
	CU_ASSERT_PTR_NULL(breaker_settings_check(&s));
}

/* Each bad setting on its own is rejected with a message. */
static void
test_settings_check(void)
{
	struct breaker_settings ok = small_settings(), s;
	int bad = 0;

#define REJECT(stmt)                                                           \
	do {                                                                   \
		s = ok;                                                        \
		stmt;                                                          \
		const char *m = breaker_settings_check(&s);                    \
		CU_ASSERT_PTR_NOT_NULL(m);                                     \
		if (m != NULL && *m != '\0')                                   \
			bad++;                                                 \
	} while (0)

	CU_ASSERT_PTR_NULL(breaker_settings_check(&ok));
	REJECT(s.window_size = 0);
	REJECT(s.window_type = (enum breaker_window)7);
	REJECT(s.window_size = 100001);
	REJECT((s.window_type = BREAKER_WINDOW_TIME, s.window_size = 3601));
	REJECT(s.minimum_calls = 0);
	REJECT(s.failure_rate_pct = 0);
	REJECT(s.failure_rate_pct = 101);
	REJECT(s.slow_rate_pct = 0);
	REJECT(s.slow_rate_pct = 101);
	REJECT(s.slow_call_ms = 0);
	REJECT(s.open_wait_ms = 0);
	REJECT(s.half_open_calls = 0);
	REJECT(s.open_wait_max_ms = s.open_wait_ms - 1);
	REJECT(s.backoff_multiplier_pct = 99);
	REJECT(s.backoff_multiplier_pct = 1001);
	REJECT(s.jitter_pct = 101);
	CU_ASSERT_EQUAL(bad, 16);
#undef REJECT

	/* The edges of each range are accepted. */
	s = ok;
	s.failure_rate_pct = 100;
	s.slow_rate_pct = 1;
	s.jitter_pct = 100;
	s.backoff_multiplier_pct = 1000;
	s.open_wait_max_ms = s.open_wait_ms;
	s.minimum_calls = 1000; /* above the window: capped, not rejected */
	CU_ASSERT_PTR_NULL(breaker_settings_check(&s));
	CU_ASSERT_PTR_NULL(breaker_new(&(struct breaker_settings){0}, 1, T0));
}

/* The transition table, written down from Resilience4j's StateTransition. */
static void
test_transition_table(void)
{
	/* rows: from; columns: to (CLOSED OPEN HALF FORCED DISABLED METRICS) */
	static const int allowed[BREAKER_NSTATES][BREAKER_NSTATES] = {
	    /* CLOSED */ {1, 1, 0, 1, 1, 1},
	    /* OPEN */ {1, 1, 1, 1, 1, 1},
	    /* HALF_OPEN */ {1, 1, 1, 1, 1, 1},
	    /* FORCED_OPEN */ {1, 1, 1, 1, 1, 1},
	    /* DISABLED */ {1, 1, 1, 1, 1, 1},
	    /* METRICS_ONLY */ {1, 0, 0, 1, 1, 1},
	};
	int n = 0;

	for (int f = 0; f < BREAKER_NSTATES; f++)
		for (int t = 0; t < BREAKER_NSTATES; t++) {
			bool got = breaker_transition_allowed(f, t);
			if (got != (allowed[f][t] != 0))
				printf("\n  %s -> %s: got %d\n",
				    breaker_state_name(f),
				    breaker_state_name(t), got);
			CU_ASSERT_EQUAL(got, allowed[f][t] != 0);
			n += got;
		}
	CU_ASSERT_EQUAL(n, 33); /* Resilience4j's enum has 33 members */
	CU_ASSERT_FALSE(breaker_transition_allowed(BREAKER_NSTATES, 0));
	CU_ASSERT_FALSE(breaker_transition_allowed(0, BREAKER_NSTATES));
}

/* breaker_transition follows the table for every pair of real breakers. */
static void
test_transition_every_pair(void)
{
	struct breaker_settings s = small_settings();

	for (enum breaker_state f = 0; f < BREAKER_NSTATES; f++)
		for (enum breaker_state t = 0; t < BREAKER_NSTATES; t++) {
			struct breaker *b = make(&s, T0);
			struct breaker_event ev;
			int want, rc;

			/* Reach f: via OPEN, from where every state is legal. */
			if (f != BREAKER_CLOSED) {
				CU_ASSERT_EQUAL(
				    breaker_transition(
				        b, BREAKER_OPEN, T0, "x", NULL),
				    1);
				if (f != BREAKER_OPEN)
					CU_ASSERT_EQUAL(breaker_transition(b, f,
					                    T0, "x", NULL),
					    1);
			}
			CU_ASSERT_EQUAL_FATAL(breaker_state(b), f);
			want = f == t                          ? 0
			    : breaker_transition_allowed(f, t) ? 1
			                                       : -1;
			rc = breaker_transition(b, t, T0 + 1, "op", &ev);
			CU_ASSERT_EQUAL(rc, want);
			CU_ASSERT_EQUAL(breaker_state(b), rc == 1 ? t : f);
			if (rc == 1) {
				CU_ASSERT_EQUAL(ev.from, f);
				CU_ASSERT_EQUAL(ev.to, t);
				CU_ASSERT_STRING_EQUAL(ev.reason, "op");
			}
			breaker_free(b);
		}
}

/* CLOSED -> HALF_OPEN is forbidden and leaves the breaker alone. */
static void
test_transition_forbidden(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_event ev;

	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_HALF_OPEN, T0, "no", &ev), -1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	CU_ASSERT_EQUAL(breaker_transition(b, BREAKER_CLOSED, T0, "x", &ev), 0);
	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_NSTATES, T0, "x", &ev), -1);
	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_METRICS_ONLY, T0, NULL, &ev), 1);
	CU_ASSERT_STRING_EQUAL(ev.reason, "requested");
	CU_ASSERT_EQUAL(breaker_transition(b, BREAKER_OPEN, T0, "x", &ev), -1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_METRICS_ONLY);
	breaker_free(b);
}

/* A failure rate exactly at the threshold trips, naming the numbers. */
static void
test_exact_threshold_trips(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_event ev;

	memset(&ev, 0, sizeof(ev));
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_OK, 1, 5), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 4), 0);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	CU_ASSERT_EQUAL(breaker_record(b, T0, BREAKER_FAIL, 1, &ev), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(ev.from, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(ev.to, BREAKER_OPEN);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.reason, "failure rate 50% >= 50%"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.reason, "5/10"));
	breaker_free(b);
}

/* One failure fewer than the threshold does not trip. */
static void
test_below_threshold(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_stats st;

	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_OK, 1, 6), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 4), 0);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 10);
	CU_ASSERT_EQUAL(st.failures, 4);
	CU_ASSERT_EQUAL(st.failure_rate_pct, 40);
	CU_ASSERT_EQUAL(st.slow_rate_pct, 0);
	breaker_free(b);
}

/* 49.5% is below 50%: the comparison is exact, not rounded. */
static void
test_fractional_rate(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_stats st;

	s.window_size = s.minimum_calls = 200;
	b = make(&s, T0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_OK, 1, 101), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 99), 0);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.failure_rate_pct, 49);
	/* The oldest success falls out: 100/200 = 50% trips. */
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 1), 1);
	breaker_free(b);
}

/* Below minimum_calls the rate is unknown and even 100% does not trip. */
static void
test_minimum_calls(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_stats st;

	s.window_size = 100;
	s.minimum_calls = 10;
	b = make(&s, T0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 9), 0);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 9);
	CU_ASSERT_EQUAL(st.failures, 9);
	CU_ASSERT_EQUAL(st.failure_rate_pct, -1);
	CU_ASSERT_EQUAL(st.slow_rate_pct, -1);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 1), 1);
	breaker_free(b);
}

/* Like Resilience4j, a COUNT window caps minimum_calls at its size. */
static void
test_minimum_capped_by_count_window(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;

	s.window_size = 5;
	s.minimum_calls = 100;
	b = make(&s, T0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 4), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 1), 1);
	breaker_free(b);
}

/* A COUNT window keeps the last N outcomes: old ones fall out. */
static void
test_count_window_wraps(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_stats st;

	s.failure_rate_pct = 60;
	b = make(&s, T0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 5), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_OK, 1, 5), 0);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.failures, 5);
	/* Three successes push three failures out. */
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_OK, 1, 3), 0);
	window_is(b, T0, 10, 2);
	/* Many laps later only the last ten count. */
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_OK, 1, 1234), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 5), 0);
	window_is(b, T0, 10, 5);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 1), 1);
	breaker_free(b);
}

/* TIME window: a second's bucket leaves the window window_size s later. */
static void
test_time_window_expiry(void)
{
	struct breaker_settings s = time_settings(10);
	struct breaker *b;
	struct breaker_stats st;
	uint64_t t = 7000000; /* on a second boundary */

	b = make(&s, t);
	record_n(b, t + 500, BREAKER_OK, 1, 1);
	record_n(b, t + 500, BREAKER_FAIL, 1, 1);
	record_n(b, t + 5000, BREAKER_OK, 1, 2);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	breaker_stats(b, t + 9999, &st);
	CU_ASSERT_EQUAL(st.calls, 4);
	CU_ASSERT_EQUAL(st.failures, 1);
	CU_ASSERT_EQUAL(st.failure_rate_pct, 25);
	window_is(b, t + 10000, 2, 0);
	breaker_stats(b, t + 15000, &st);
	CU_ASSERT_EQUAL(st.calls, 0);
	CU_ASSERT_EQUAL(st.failure_rate_pct, -1);
	/* stats does not age the window itself: an earlier view is intact. */
	breaker_stats(b, t + 9000, &st);
	CU_ASSERT_EQUAL(st.calls, 4);
	/* Recording ages it for real. */
	record_n(b, t + 12000, BREAKER_OK, 1, 1);
	window_is(b, t + 12000, 3, 0);
	breaker_free(b);
}

/* TIME window trips on its rate like a COUNT window. */
static void
test_time_window_trips(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_event ev;
	uint64_t t = T0;

	s.window_type = BREAKER_WINDOW_TIME;
	s.window_size = 60;
	s.minimum_calls = 6;
	b = make(&s, t);
	/* One outcome a second for 20 s: ok, ok, fail, ... (33%). */
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(
		    breaker_record(b, t + i * 1000,
		        i % 3 == 2 ? BREAKER_FAIL : BREAKER_OK, 1, &ev),
		    0);
	/* 6/20 so far: seven more failures make 13/27, still under 50%. */
	CU_ASSERT_EQUAL(record_n(b, t + 20000, BREAKER_FAIL, 1, 7), 0);
	CU_ASSERT_EQUAL(breaker_record(b, t + 20000, BREAKER_FAIL, 1, &ev), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.reason, "14/28"));
	breaker_free(b);
}

/* Hours of silence empty the window, quickly, even for huge jumps. */
static void
test_time_jump(void)
{
	struct breaker_settings s = time_settings(3600);
	struct breaker *b;
	struct breaker_stats st;
	uint64_t t = T0, far = 1ULL << 60;

	b = make(&s, t);
	for (int i = 0; i < 3600; i++)
		record_n(b, t + i * 1000ULL, BREAKER_OK, 1, 2);
	breaker_stats(b, t + 3599000, &st);
	CU_ASSERT_EQUAL(st.calls, 7200);
	t += 5ULL * 3600 * 1000;
	breaker_stats(b, t, &st);
	CU_ASSERT_EQUAL(st.calls, 0);
	record_n(b, t, BREAKER_OK, 1, 1);
	breaker_stats(b, t, &st);
	CU_ASSERT_EQUAL(st.calls, 1);
	/*
	 * 2^60 ms is 36 million years: a loop per elapsed second would
	 * never end, so finishing at all shows the O(window) bound.
	 */
	breaker_stats(b, far, &st);
	CU_ASSERT_EQUAL(st.calls, 0);
	record_n(b, far, BREAKER_FAIL, 1, 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	window_is(b, far, 1, 1);
	breaker_free(b);
}

/* A success at or over slow_call_ms is slow; one ms under is not. */
static void
test_slow_by_duration(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_event ev;
	struct breaker_stats st;

	s.slow_rate_pct = 50;
	b = make(&s, T0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_OK, 999, 5), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_OK, 1000, 4), 0);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.slow, 4);
	CU_ASSERT_EQUAL(st.failures, 0);
	CU_ASSERT_EQUAL(breaker_record(b, T0, BREAKER_OK, 1000, &ev), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.reason, "slow-call rate 50% >= 50%"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.reason, "5/10"));
	breaker_free(b);
}

/* BREAKER_SLOW is a slow success whatever its duration. */
static void
test_slow_outcome(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_stats st;

	s.slow_rate_pct = 100;
	b = make(&s, T0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_SLOW, 0, 9), 0);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.slow, 9);
	CU_ASSERT_EQUAL(st.failures, 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_SLOW, 0, 1), 1);
	breaker_free(b);
}

/* A slow failure counts as a failure and as slow (as Resilience4j). */
static void
test_slow_failure_counts_both(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_stats st;

	record_n(b, T0, BREAKER_FAIL, 5000, 2);
	record_n(b, T0, BREAKER_FAIL, 10, 1);
	record_n(b, T0, BREAKER_OK, 10, 1);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 4);
	CU_ASSERT_EQUAL(st.failures, 3);
	CU_ASSERT_EQUAL(st.slow, 2);
	CU_ASSERT_EQUAL(breaker_record(b, T0, BREAKER_NOUTCOMES, 1, NULL), 0);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 4); /* an unknown outcome is ignored */
	breaker_free(b);
}

/* N failures in a row trip below minimum_calls; a success breaks the run. */
static void
test_consecutive_failures(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_event ev;
	struct breaker_stats st;

	s.window_size = s.minimum_calls = 100;
	s.consecutive_failures = 5;
	b = make(&s, T0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 4), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_SLOW, 1, 1), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 4), 0);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.consecutive_failures, 4);
	CU_ASSERT_EQUAL(st.failure_rate_pct, -1);
	CU_ASSERT_EQUAL(breaker_record(b, T0, BREAKER_FAIL, 1, &ev), 1);
	CU_ASSERT_STRING_EQUAL(ev.reason, "5 consecutive failures");
	breaker_free(b);
}

/* consecutive_failures 0 is off: 99 failures under the minimum stay. */
static void
test_consecutive_off(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;

	s.window_size = s.minimum_calls = 100;
	s.consecutive_failures = 0;
	b = make(&s, T0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 99), 0);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 1), 1);
	breaker_free(b);
}

/* OPEN denies until the wait is over; the deadline is trip + wait. */
static void
test_open_denies(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	bool changed = true;

	CU_ASSERT_EQUAL(breaker_open_until(b), 0);
	CU_ASSERT_TRUE(breaker_allow(b, T0, NULL, &changed));
	CU_ASSERT_FALSE(changed);
	trip(b, T0 + 10);
	CU_ASSERT_EQUAL(breaker_open_until(b), T0 + 10 + 1000);
	for (uint64_t t = T0 + 10; t < T0 + 1010; t += 111) {
		CU_ASSERT_FALSE(breaker_allow(b, t, NULL, &changed));
		CU_ASSERT_FALSE(changed);
		CU_ASSERT_EQUAL(breaker_tick(b, t, NULL), 0);
	}
	CU_ASSERT_FALSE(breaker_allow(b, T0 + 1009, NULL, NULL));
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	breaker_free(b);
}

/* The first allow at the deadline moves to HALF_OPEN and takes a permit. */
static void
test_open_to_half_open_allow(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_event ev;
	bool changed = false;

	trip(b, T0);
	CU_ASSERT_TRUE(breaker_allow(b, T0 + 1000, &ev, &changed));
	CU_ASSERT_TRUE(changed);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(breaker_open_until(b), 0);
	CU_ASSERT_EQUAL(ev.from, BREAKER_OPEN);
	CU_ASSERT_EQUAL(ev.to, BREAKER_HALF_OPEN);
	CU_ASSERT_STRING_EQUAL(ev.reason, "open wait 1000 ms over");
	/* Two permits are left of three. */
	CU_ASSERT_TRUE(breaker_allow(b, T0 + 1001, &ev, &changed));
	CU_ASSERT_FALSE(changed);
	CU_ASSERT_TRUE(breaker_allow(b, T0 + 1001, NULL, NULL));
	CU_ASSERT_FALSE(breaker_allow(b, T0 + 1001, NULL, NULL));
	breaker_free(b);
}

/* tick moves OPEN -> HALF_OPEN at the deadline, not a ms before. */
static void
test_open_to_half_open_tick(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_event ev;

	trip(b, T0);
	CU_ASSERT_EQUAL(breaker_tick(b, T0 + 999, &ev), 0);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(breaker_tick(b, T0 + 1000, &ev), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(ev.from, BREAKER_OPEN);
	CU_ASSERT_EQUAL(breaker_tick(b, T0 + 5000, &ev), 0);
	breaker_free(b);
}

/* Exactly half_open_calls permits are handed out. */
static void
test_half_open_permits(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	int allowed = 0;

	s.half_open_calls = 7;
	b = make(&s, T0);
	trip(b, T0);
	to_half_open(b);
	for (int i = 0; i < 20; i++)
		allowed += breaker_allow(b, T0 + 2000 + i, NULL, NULL);
	CU_ASSERT_EQUAL(allowed, 7);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_HALF_OPEN);
	breaker_free(b);
}

/* All trial calls fine: CLOSED with an empty window and no backoff. */
static void
test_half_open_success(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_event ev;
	struct breaker_stats st;
	uint64_t t;

	trip(b, T0);
	t = to_half_open(b);
	CU_ASSERT_EQUAL(record_n(b, t, BREAKER_OK, 1, 2), 0);
	breaker_stats(b, t, &st);
	CU_ASSERT_EQUAL(st.calls, 2);
	CU_ASSERT_EQUAL(st.failure_rate_pct, -1);
	CU_ASSERT_EQUAL(breaker_record(b, t, BREAKER_OK, 1, &ev), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	CU_ASSERT_EQUAL(ev.from, BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(ev.to, BREAKER_CLOSED);
	CU_ASSERT_STRING_EQUAL(ev.reason, "half-open: 3/3 ok");
	breaker_stats(b, t, &st);
	CU_ASSERT_EQUAL(st.calls, 0);
	CU_ASSERT_EQUAL(st.failures, 0);
	CU_ASSERT_EQUAL(st.consecutive_failures, 0);
	/* The old failures are gone: 4 new ones are below 50% of 10. */
	record_n(b, t, BREAKER_OK, 1, 6);
	CU_ASSERT_EQUAL(record_n(b, t, BREAKER_FAIL, 1, 4), 0);
	breaker_free(b);
}

/* Half-open decides with the same >= rule; 1/3 closes, 2/4 reopens. */
static void
test_half_open_threshold(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_event ev;
	uint64_t t;

	trip(b, T0);
	t = to_half_open(b);
	record_n(b, t, BREAKER_FAIL, 1, 1);
	record_n(b, t, BREAKER_OK, 1, 1);
	CU_ASSERT_EQUAL(breaker_record(b, t, BREAKER_OK, 1, &ev), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	CU_ASSERT_STRING_EQUAL(ev.reason, "half-open: 2/3 ok");
	breaker_free(b);

	s.half_open_calls = 4;
	b = make(&s, T0);
	trip(b, T0);
	t = to_half_open(b);
	record_n(b, t, BREAKER_OK, 1, 2);
	record_n(b, t, BREAKER_FAIL, 1, 1);
	CU_ASSERT_EQUAL(breaker_record(b, t, BREAKER_FAIL, 1, &ev), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_STRING_EQUAL(
	    ev.reason, "half-open: failure rate 50% >= 50% (2/4 calls)");
	breaker_free(b);
}

/* Slow trial calls reopen too. */
static void
test_half_open_slow(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_event ev;
	uint64_t t;

	s.slow_rate_pct = 60;
	b = make(&s, T0);
	trip(b, T0);
	t = to_half_open(b);
	record_n(b, t, BREAKER_SLOW, 1, 1);
	record_n(b, t, BREAKER_OK, 5000, 1);
	CU_ASSERT_EQUAL(breaker_record(b, t, BREAKER_OK, 1, &ev), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.reason, "slow-call rate 66% >= 60%"));
	breaker_free(b);
}

/* Each failed recovery doubles the wait up to the cap; success resets. */
static void
test_backoff(void)
{
	static const uint64_t want[] = {1000, 2000, 4000, 8000, 8000, 8000};
	struct breaker_settings s = small_settings();
	struct breaker *b;
	uint64_t t = T0;

	s.backoff_multiplier_pct = 200;
	s.open_wait_max_ms = 8000;
	b = make(&s, T0);
	trip(b, t);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CU_ASSERT_EQUAL(breaker_open_until(b) - t, want[i]);
		t = to_half_open(b);
		CU_ASSERT_EQUAL(record_n(b, t, BREAKER_FAIL, 1, 3), 1);
		CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	}
	t = to_half_open(b);
	CU_ASSERT_EQUAL(record_n(b, t, BREAKER_OK, 1, 3), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	t += 50;
	trip(b, t);
	CU_ASSERT_EQUAL(breaker_open_until(b) - t, 1000);
	breaker_free(b);
}

/* A multiplier of 100 keeps the wait constant. */
static void
test_backoff_constant(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	uint64_t t = T0;

	trip(b, t);
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(breaker_open_until(b) - t, 1000);
		t = to_half_open(b);
		record_n(b, t, BREAKER_FAIL, 1, 3);
	}
	breaker_free(b);
}

/* Collect n successive open waits of a jittered breaker. */
static void
jitter_waits(uint64_t seed, uint32_t wait, uint32_t pct, uint64_t *out, int n)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	uint64_t t = T0;

	s.open_wait_ms = s.open_wait_max_ms = wait;
	s.jitter_pct = pct;
	b = breaker_new(&s, seed, t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	trip(b, t);
	for (int i = 0; i < n; i++) {
		out[i] = breaker_open_until(b) - t;
		t = to_half_open(b);
		record_n(b, t, BREAKER_FAIL, 1, 3);
	}
	breaker_free(b);
}

/* Same seed, same waits; every wait within +/- jitter; they do spread. */
static void
test_jitter(void)
{
	uint64_t a[200], c[200], d[200], lo = UINT64_MAX, hi = 0;
	int differ = 0, seen[13] = {0};

	jitter_waits(7, 10000, 20, a, 200);
	jitter_waits(7, 10000, 20, c, 200);
	jitter_waits(8, 10000, 20, d, 200);
	for (int i = 0; i < 200; i++) {
		CU_ASSERT_EQUAL(a[i], c[i]);
		CU_ASSERT(a[i] >= 8000 && a[i] <= 12000);
		differ += a[i] != d[i];
		lo = a[i] < lo ? a[i] : lo;
		hi = a[i] > hi ? a[i] : hi;
	}
	CU_ASSERT(differ > 150);
	/* 200 draws over 4001 values: the spread covers most of the range. */
	CU_ASSERT(lo < 8500);
	CU_ASSERT(hi > 11500);
	jitter_waits(9, 10000, 100, a, 200);
	for (int i = 0; i < 200; i++)
		CU_ASSERT(a[i] <= 20000);
	jitter_waits(9, 10000, 0, a, 50);
	for (int i = 0; i < 50; i++)
		CU_ASSERT_EQUAL(a[i], 10000);
	/* 10 ms +/- 10%: exactly 9, 10 and 11 occur, nothing else. */
	jitter_waits(3, 10, 10, a, 200);
	for (int i = 0; i < 200; i++)
		seen[a[i] < 12 ? a[i] : 12]++;
	CU_ASSERT(seen[9] > 0 && seen[10] > 0 && seen[11] > 0);
	CU_ASSERT_EQUAL(seen[9] + seen[10] + seen[11], 200);
}

/* A HALF_OPEN that never gets its results back reopens via tick. */
static void
test_half_open_max_tick(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_event ev;
	uint64_t t;

	s.half_open_max_ms = 30000;
	s.backoff_multiplier_pct = 200;
	b = make(&s, T0);
	trip(b, T0);
	t = to_half_open(b);
	CU_ASSERT_TRUE(breaker_allow(b, t, NULL, NULL));
	CU_ASSERT_EQUAL(breaker_tick(b, t + 29999, &ev), 0);
	CU_ASSERT_EQUAL(breaker_tick(b, t + 30000, &ev), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(ev.from, BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(ev.to, BREAKER_OPEN);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.reason, "half-open for 30000 ms"));
	/* It counts as a failed recovery: the wait doubled. */
	CU_ASSERT_EQUAL(breaker_open_until(b), t + 30000 + 2000);
	breaker_free(b);
}

/* ... and via allow, which then denies. */
static void
test_half_open_max_allow(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_event ev;
	bool changed = false;
	uint64_t t;

	s.half_open_max_ms = 500;
	s.half_open_calls = 100;
	b = make(&s, T0);
	trip(b, T0);
	t = to_half_open(b);
	CU_ASSERT_TRUE(breaker_allow(b, t + 499, &ev, &changed));
	CU_ASSERT_FALSE(changed);
	CU_ASSERT_FALSE(breaker_allow(b, t + 500, &ev, &changed));
	CU_ASSERT_TRUE(changed);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(ev.to, BREAKER_OPEN);
	breaker_free(b);
}

/* half_open_max_ms 0 is off: HALF_OPEN waits for its results forever. */
static void
test_half_open_max_off(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	uint64_t t;

	trip(b, T0);
	t = to_half_open(b);
	CU_ASSERT_EQUAL(breaker_tick(b, t + 10ULL * 3600 * 1000, NULL), 0);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_HALF_OPEN);
	breaker_free(b);
}

/* FORCED_OPEN denies everything, ignores results and timers. */
static void
test_forced_open(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_stats st;

	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_FORCED_OPEN, T0, "ops", NULL), 1);
	CU_ASSERT_EQUAL(breaker_open_until(b), 0);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_FALSE(
		    breaker_allow(b, T0 + i * 3600000ULL, NULL, NULL));
	CU_ASSERT_EQUAL(breaker_tick(b, T0 + 99999999, NULL), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_OK, 1, 20), 0);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 0);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_FORCED_OPEN);
	breaker_free(b);
}

/* DISABLED allows everything, records nothing, never trips. */
static void
test_disabled(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_stats st;

	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_DISABLED, T0, "ops", NULL), 1);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 1000), 0);
	CU_ASSERT_TRUE(breaker_allow(b, T0, NULL, NULL));
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 0);
	CU_ASSERT_EQUAL(st.failure_rate_pct, -1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_DISABLED);
	breaker_free(b);
}

/* METRICS_ONLY allows everything and keeps stats, but never trips. */
static void
test_metrics_only(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_stats st;

	s.consecutive_failures = 3;
	b = make(&s, T0);
	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_METRICS_ONLY, T0, "ops", NULL), 1);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 8), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_OK, 2000, 2), 0);
	CU_ASSERT_TRUE(breaker_allow(b, T0, NULL, NULL));
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 10);
	CU_ASSERT_EQUAL(st.failures, 8);
	CU_ASSERT_EQUAL(st.slow, 2);
	CU_ASSERT_EQUAL(st.failure_rate_pct, 80);
	CU_ASSERT_EQUAL(st.slow_rate_pct, 20);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_METRICS_ONLY);
	breaker_free(b);
}

/* Results that arrive while OPEN change nothing (they are dropped). */
static void
test_records_in_open_ignored(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_stats before, after;

	trip(b, T0);
	breaker_stats(b, T0, &before);
	CU_ASSERT_EQUAL(before.failures, 10); /* why it tripped, for STATUS */
	CU_ASSERT_EQUAL(record_n(b, T0 + 1, BREAKER_OK, 1, 50), 0);
	CU_ASSERT_EQUAL(record_n(b, T0 + 1, BREAKER_FAIL, 1, 50), 0);
	breaker_stats(b, T0 + 1, &after);
	CU_ASSERT_EQUAL(after.calls, before.calls);
	CU_ASSERT_EQUAL(after.failures, before.failures);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(breaker_open_until(b), T0 + 1000);
	breaker_free(b);
}

/* reset: CLOSED, empty window, backoff forgotten, no event needed. */
static void
test_reset(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_stats st;
	uint64_t t = T0;

	s.backoff_multiplier_pct = 300;
	s.consecutive_failures = 20;
	b = make(&s, t);
	trip(b, t);
	t = to_half_open(b);
	record_n(b, t, BREAKER_FAIL, 1, 3);
	CU_ASSERT_EQUAL(breaker_open_until(b) - t, 3000);
	breaker_reset(b, t + 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	CU_ASSERT_EQUAL(breaker_open_until(b), 0);
	breaker_stats(b, t + 1, &st);
	CU_ASSERT_EQUAL(st.calls, 0);
	CU_ASSERT_EQUAL(st.consecutive_failures, 0);
	trip(b, t + 2);
	CU_ASSERT_EQUAL(breaker_open_until(b) - (t + 2), 1000);
	breaker_free(b);
}

/* Operator moves: OPEN starts a wait, CLOSED clears, HALF_OPEN re-arms. */
static void
test_transition_effects(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_stats st;
	int allowed = 0;

	record_n(b, T0, BREAKER_FAIL, 1, 4);
	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_OPEN, T0 + 5, "f", NULL), 1);
	CU_ASSERT_EQUAL(breaker_open_until(b), T0 + 5 + 1000);
	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_HALF_OPEN, T0 + 6, "f", NULL), 1);
	for (int i = 0; i < 10; i++)
		allowed += breaker_allow(b, T0 + 7, NULL, NULL);
	CU_ASSERT_EQUAL(allowed, 3);
	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_OPEN, T0 + 8, "f", NULL), 1);
	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_HALF_OPEN, T0 + 9, "f", NULL), 1);
	allowed = 0;
	for (int i = 0; i < 10; i++)
		allowed += breaker_allow(b, T0 + 10, NULL, NULL);
	CU_ASSERT_EQUAL(allowed, 3);
	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_CLOSED, T0 + 11, "f", NULL), 1);
	breaker_stats(b, T0 + 11, &st);
	CU_ASSERT_EQUAL(st.calls, 0);
	breaker_free(b);
}

/* Every automatic transition has a reason with a number in it. */
static void
test_event_reasons(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_event ev;
	int events = 0;
	uint64_t t = T0;

	s.half_open_max_ms = 5000;
	b = make(&s, t);
	for (int i = 0; i < 40; i++) {
		bool changed = false;
		int moved;

		memset(&ev, 0, sizeof(ev));
		t += 700;
		breaker_allow(b, t, &ev, &changed);
		moved = changed;
		if (!moved) {
			moved = breaker_record(
			    b, t, i % 4 ? BREAKER_FAIL : BREAKER_OK, 1, &ev);
		}
		if (!moved)
			moved = breaker_tick(b, t + 6000 * (i % 5 == 0), &ev);
		if (!moved)
			continue;
		events++;
		CU_ASSERT_NOT_EQUAL(ev.from, ev.to);
		CU_ASSERT(strlen(ev.reason) > 5);
		CU_ASSERT_PTR_NOT_NULL(strpbrk(ev.reason, "0123456789"));
	}
	CU_ASSERT(events >= 5);
	breaker_free(b);
}

/* A NULL event and NULL changed are fine everywhere. */
static void
test_null_event(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);

	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 10), 1);
	CU_ASSERT_TRUE(breaker_allow(b, T0 + 1000, NULL, NULL));
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_CLOSED, T0 + 1001, NULL, NULL), 1);
	breaker_free(b);
	breaker_free(NULL);
}

/* Reconfigure or fail the test; returns what the window kept. */
static struct breaker_carry
reconf(struct breaker *b, const struct breaker_settings *s, uint64_t now_ms)
{
	struct breaker_carry c;

	memset(&c, 0xff, sizeof(c));
	CU_ASSERT_EQUAL(breaker_reconfigure(b, s, now_ms, &c), 0);
	return c;
}

/* Reconfigure; the window held before calls and kept kept of them. */
static struct breaker_carry
reconf_kept(struct breaker *b, const struct breaker_settings *s,
    uint64_t now_ms, uint32_t before, uint32_t kept)
{
	struct breaker_carry c = reconf(b, s, now_ms);

	CU_ASSERT_EQUAL(c.before, before);
	CU_ASSERT_EQUAL(c.kept, kept);
	return c;
}

/* New thresholds keep the whole window and never trip at reload time:
 * the lowered threshold decides at the next recorded call. */
static void
test_reconf_threshold_keeps_window(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_stats st;
	struct breaker_carry c;
	struct breaker_event ev;

	/* 6 ok, then 4 failures: 40%, under 50%. */
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_OK, 1, 6), 0);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 4), 0);
	s.failure_rate_pct = 40;
	c = reconf(b, &s, T0 + 1);
	CU_ASSERT_FALSE(c.restarted);
	CU_ASSERT_EQUAL(c.before, 10);
	CU_ASSERT_EQUAL(c.kept, 10);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	CU_ASSERT_EQUAL(breaker_tick(b, T0 + 2, NULL), 0);
	breaker_stats(b, T0 + 2, &st);
	CU_ASSERT_EQUAL(st.calls, 10);
	CU_ASSERT_EQUAL(st.failures, 4);
	CU_ASSERT_EQUAL(st.failure_rate_pct, 40);
	/* An ok pushes out the oldest ok: 4/10 is 40%, which now trips. */
	CU_ASSERT_EQUAL(breaker_record(b, T0 + 3, BREAKER_OK, 1, &ev), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_PTR_NOT_NULL(strstr(ev.reason, ">= 40%"));
	breaker_free(b);
}

/* A lowered run of failures is also judged at the next call only. */
static void
test_reconf_consecutive(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_stats st;

	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 3), 0);
	s.consecutive_failures = 3;
	reconf(b, &s, T0);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.consecutive_failures, 3);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 1), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	breaker_free(b);
}

/* A smaller COUNT window keeps the newest calls, in order. */
static void
test_reconf_count_smaller(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_stats st;
	struct breaker_carry c;
	char text[64];

	s.failure_rate_pct = 100;
	b = make(&s, T0);
	/* 12 calls into a window of 10: f f | o o o o o o o f f f */
	record_n(b, T0, BREAKER_FAIL, 1, 2);
	record_n(b, T0, BREAKER_OK, 1, 7);
	record_n(b, T0, BREAKER_FAIL, 1, 3);
	s.window_size = 5;
	c = reconf_kept(b, &s, T0, 10, 5);
	breaker_carry_text(&c, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "window kept: 5 of 10 calls");
	/* o o f f f */
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 5);
	CU_ASSERT_EQUAL(st.failures, 3);
	/* The minimum follows the smaller window (as at start). */
	CU_ASSERT_EQUAL(st.failure_rate_pct, 60);
	/* The next call pushes out the oldest kept one, an ok. */
	record_n(b, T0, BREAKER_FAIL, 1, 1);
	window_is(b, T0, 5, 4);
	/* then the second ok: 5/5 trips at 100% */
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 1), 1);
	breaker_free(b);
}

/* A larger COUNT window keeps everything and fills up further. */
static void
test_reconf_count_larger(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	struct breaker_stats st;

	s.failure_rate_pct = 100;
	b = make(&s, T0);
	record_n(b, T0, BREAKER_FAIL, 1, 3);
	record_n(b, T0, BREAKER_OK, 1, 10); /* the failures fall out */
	record_n(b, T0, BREAKER_FAIL, 1, 3);
	s.window_size = 20;
	s.minimum_calls = 20;
	reconf_kept(b, &s, T0, 10, 10);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 10);
	CU_ASSERT_EQUAL(st.failures, 3);
	CU_ASSERT_EQUAL(st.failure_rate_pct, -1); /* 10 < 20 now */
	record_n(b, T0, BREAKER_OK, 1, 10);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 20);
	CU_ASSERT_EQUAL(st.failures, 3);
	CU_ASSERT_EQUAL(st.failure_rate_pct, 15);
	/* Full: the oldest kept call (an ok) goes first, then the failures. */
	record_n(b, T0, BREAKER_OK, 1, 7);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.failures, 3);
	record_n(b, T0, BREAKER_OK, 1, 1);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.failures, 2);
	breaker_free(b);
}

/* A shorter TIME window keeps the seconds still inside it. */
static void
test_reconf_time_shorter(void)
{
	struct breaker_settings s = time_settings(10);
	struct breaker *b;
	struct breaker_stats st;
	struct breaker_carry c;
	uint64_t t = 7000000; /* on a second boundary */

	b = make(&s, t);
	/* One call a second for 10 s, a failure every odd second. */
	for (int i = 0; i < 10; i++)
		record_n(b, t + i * 1000 + 500,
		    i % 2 == 1 ? BREAKER_FAIL : BREAKER_OK, 1, 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	s.window_size = 4;
	c = reconf(b, &s, t + 9900);
	CU_ASSERT_EQUAL(c.before, 10);
	CU_ASSERT_EQUAL(c.kept, 4); /* seconds 6, 7, 8, 9 */
	window_is(b, t + 9900, 4, 2);
	/* They age out on the new length: second 6 goes at 10. */
	window_is(b, t + 10000, 3, 2);
	record_n(b, t + 12000, BREAKER_OK, 1, 1);
	breaker_stats(b, t + 12000, &st);
	CU_ASSERT_EQUAL(st.calls, 2); /* seconds 9 and 12 */
	CU_ASSERT_EQUAL(st.failures, 1);
	/* A reload long after the last call keeps nothing of it. */
	s.window_size = 2;
	c = reconf_kept(b, &s, t + 13500, 1, 1);
	c = reconf_kept(b, &s, t + 20000, 0, 0);
	breaker_free(b);
}

/* A longer TIME window keeps everything; it then ages out later. */
static void
test_reconf_time_longer(void)
{
	struct breaker_settings s = time_settings(5);
	struct breaker *b;
	struct breaker_stats st;
	uint64_t t = 7000000;

	b = make(&s, t);
	for (int i = 0; i < 5; i++)
		record_n(b, t + i * 1000, BREAKER_OK, 1, 2);
	s.window_size = 30;
	reconf_kept(b, &s, t + 4000, 10, 10);
	/* Under the old length second 0 would be gone at 5 s. */
	breaker_stats(b, t + 29999, &st);
	CU_ASSERT_EQUAL(st.calls, 10);
	breaker_stats(b, t + 30000, &st);
	CU_ASSERT_EQUAL(st.calls, 8);
	breaker_free(b);
}

/* COUNT <-> TIME: a new, empty window, and the line says so. */
static void
test_reconf_kind_change(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_stats st;
	struct breaker_carry c;
	char text[64];

	record_n(b, T0, BREAKER_FAIL, 1, 4);
	s.window_type = BREAKER_WINDOW_TIME;
	s.window_size = 60;
	c = reconf(b, &s, T0 + 10);
	CU_ASSERT_TRUE(c.restarted);
	CU_ASSERT_EQUAL(c.before, 4);
	CU_ASSERT_EQUAL(c.kept, 0);
	breaker_carry_text(&c, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(
	    text, "window restarted: kind changed count -> time");
	breaker_stats(b, T0 + 10, &st);
	CU_ASSERT_EQUAL(st.calls, 0);
	/* The run of failures is not the window's: it is kept. */
	CU_ASSERT_EQUAL(st.consecutive_failures, 4);
	CU_ASSERT_EQUAL(record_n(b, T0 + 2000, BREAKER_FAIL, 1, 9), 0);
	CU_ASSERT_EQUAL(record_n(b, T0 + 61000, BREAKER_FAIL, 1, 1), 1);
	breaker_stats(b, T0 + 61000, &st);
	CU_ASSERT_EQUAL(st.calls, 10);
	/* and back */
	s = small_settings();
	c = reconf(b, &s, T0 + 62000);
	CU_ASSERT_TRUE(c.restarted);
	CU_ASSERT_EQUAL(c.from, BREAKER_WINDOW_TIME);
	CU_ASSERT_EQUAL(c.to, BREAKER_WINDOW_COUNT);
	breaker_free(b);
}

/* OPEN stays OPEN until its running wait ends; the next wait (and its
 * backoff step) follows the new settings. */
static void
test_reconf_open_wait_kept(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	uint64_t t;

	trip(b, T0); /* waits 1000 ms */
	s.open_wait_ms = 4000;
	s.open_wait_max_ms = 60000;
	s.backoff_multiplier_pct = 300;
	reconf(b, &s, T0 + 10);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(breaker_open_until(b), T0 + 1000);
	CU_ASSERT_EQUAL(breaker_tick(b, T0 + 999, NULL), 0);
	t = to_half_open(b);
	CU_ASSERT_EQUAL(t, T0 + 1000);
	/* A failed recovery: step 1 under the new settings, 4000 * 3. */
	CU_ASSERT_EQUAL(record_n(b, t, BREAKER_FAIL, 1, 3), 1);
	CU_ASSERT_EQUAL(breaker_open_until(b) - t, 12000);
	/* Reloaded in step 1: the running 12 s stays, the next is 2 s * 3^2. */
	s.open_wait_ms = 2000;
	reconf(b, &s, t + 1);
	CU_ASSERT_EQUAL(breaker_open_until(b) - t, 12000);
	t = to_half_open(b);
	CU_ASSERT_EQUAL(record_n(b, t, BREAKER_FAIL, 1, 3), 1);
	CU_ASSERT_EQUAL(breaker_open_until(b) - t, 18000);
	breaker_free(b);
}

/* A half-open period running finishes on its own trial count and time
 * limit (its permits are out); the next one takes the new ones. */
static void
test_reconf_half_open_kept(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b;
	int allowed = 0;
	uint64_t t;

	s.half_open_max_ms = 5000;
	b = make(&s, T0);
	trip(b, T0);
	t = to_half_open(b);
	for (int i = 0; i < 5; i++)
		allowed += breaker_allow(b, t, NULL, NULL);
	CU_ASSERT_EQUAL(allowed, 3);
	s.half_open_calls = 10;
	s.half_open_max_ms = 1000;
	reconf(b, &s, t);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_HALF_OPEN);
	/* The old limit (5 s), not the new one (1 s), holds this period. */
	CU_ASSERT_EQUAL(breaker_tick(b, t + 1000, NULL), 0);
	CU_ASSERT_EQUAL(record_n(b, t + 1001, BREAKER_OK, 1, 2), 0);
	CU_ASSERT_EQUAL(record_n(b, t + 1002, BREAKER_OK, 1, 1), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	/* The next half-open period: 10 permits, 1 s. */
	trip(b, t + 2000);
	t = to_half_open(b);
	allowed = 0;
	for (int i = 0; i < 20; i++)
		allowed += breaker_allow(b, t, NULL, NULL);
	CU_ASSERT_EQUAL(allowed, 10);
	CU_ASSERT_EQUAL(breaker_tick(b, t + 1000, NULL), 1);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	breaker_free(b);
}

/* Other states are kept too, with their windows. */
static void
test_reconf_keeps_state(void)
{
	struct breaker_settings s = small_settings();
	struct breaker *b = make(&s, T0);
	struct breaker_stats st;

	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_METRICS_ONLY, T0, "m", NULL), 1);
	record_n(b, T0, BREAKER_FAIL, 1, 10);
	s.window_size = 20;
	reconf(b, &s, T0);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_METRICS_ONLY);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 10);
	CU_ASSERT_EQUAL(
	    breaker_transition(b, BREAKER_FORCED_OPEN, T0, "f", NULL), 1);
	reconf(b, &s, T0);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_FORCED_OPEN);
	breaker_free(b);
}

/* Invalid settings change nothing. */
static void
test_reconf_invalid(void)
{
	struct breaker_settings s = small_settings(), bad;
	struct breaker *b = make(&s, T0);
	struct breaker_stats st;

	record_n(b, T0, BREAKER_FAIL, 1, 4);
	bad = s;
	bad.window_size = 0;
	CU_ASSERT_EQUAL(breaker_reconfigure(b, &bad, T0, NULL), -1);
	bad = s;
	bad.failure_rate_pct = 0;
	CU_ASSERT_EQUAL(breaker_reconfigure(b, &bad, T0, NULL), -1);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.calls, 4);
	/* still 50%: 5 failures of 10 trip */
	record_n(b, T0, BREAKER_OK, 1, 5);
	CU_ASSERT_EQUAL(record_n(b, T0, BREAKER_FAIL, 1, 1), 1);
	breaker_free(b);
}

static const struct harness_test tests[] = {
    {"names", test_names},
    {"state_permits", test_state_permits},
    {"defaults", test_defaults},
    {"settings_check", test_settings_check},
    {"transition_table", test_transition_table},
    {"transition_every_pair", test_transition_every_pair},
    {"transition_forbidden", test_transition_forbidden},
    {"exact_threshold_trips", test_exact_threshold_trips},
    {"below_threshold", test_below_threshold},
    {"fractional_rate", test_fractional_rate},
    {"minimum_calls", test_minimum_calls},
    {"minimum_capped_by_count_window", test_minimum_capped_by_count_window},
    {"count_window_wraps", test_count_window_wraps},
    {"time_window_expiry", test_time_window_expiry},
    {"time_window_trips", test_time_window_trips},
    {"time_jump", test_time_jump},
    {"slow_by_duration", test_slow_by_duration},
    {"slow_outcome", test_slow_outcome},
    {"slow_failure_counts_both", test_slow_failure_counts_both},
    {"consecutive_failures", test_consecutive_failures},
    {"consecutive_off", test_consecutive_off},
    {"open_denies", test_open_denies},
    {"open_to_half_open_allow", test_open_to_half_open_allow},
    {"open_to_half_open_tick", test_open_to_half_open_tick},
    {"half_open_permits", test_half_open_permits},
    {"half_open_success", test_half_open_success},
    {"half_open_threshold", test_half_open_threshold},
    {"half_open_slow", test_half_open_slow},
    {"backoff", test_backoff},
    {"backoff_constant", test_backoff_constant},
    {"jitter", test_jitter},
    {"half_open_max_tick", test_half_open_max_tick},
    {"half_open_max_allow", test_half_open_max_allow},
    {"half_open_max_off", test_half_open_max_off},
    {"forced_open", test_forced_open},
    {"disabled", test_disabled},
    {"metrics_only", test_metrics_only},
    {"records_in_open_ignored", test_records_in_open_ignored},
    {"reset", test_reset},
    {"transition_effects", test_transition_effects},
    {"event_reasons", test_event_reasons},
    {"null_event", test_null_event},
    {"reconf_threshold_keeps_window", test_reconf_threshold_keeps_window},
    {"reconf_consecutive", test_reconf_consecutive},
    {"reconf_count_smaller", test_reconf_count_smaller},
    {"reconf_count_larger", test_reconf_count_larger},
    {"reconf_time_shorter", test_reconf_time_shorter},
    {"reconf_time_longer", test_reconf_time_longer},
    {"reconf_kind_change", test_reconf_kind_change},
    {"reconf_open_wait_kept", test_reconf_open_wait_kept},
    {"reconf_half_open_kept", test_reconf_half_open_kept},
    {"reconf_keeps_state", test_reconf_keeps_state},
    {"reconf_invalid", test_reconf_invalid},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("breaker", tests);
}
