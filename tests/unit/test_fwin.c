/*
 * test_fwin.c - the fleet window on the leader: the failure-rate rule over
 * summed windows with a fleet-wide minimum (30% everywhere trips at 30%,
 * not at 50%), the reason's wording, instances dropping out, absurd
 * summaries rejected and counted, the SLO rule over two windows from the
 * totals' increments, and a reset forgetting everything.
 */
#include <stdio.h>
#include <string.h>

#include "fwin.h"
#include "harness.h"
#include "util.h"

#define T0 7000000 /* an arbitrary monotonic start */

static struct dep_config cfg;

/* A fleet window tripping at 30% over at least 100 calls. */
static void
cfg_reset(void)
{
	memset(&cfg, 0, sizeof(cfg));
	strlcpy_b(cfg.name, "payments", sizeof(cfg.name));
	breaker_settings_default(&cfg.breaker);
	cfg.breaker.failure_rate_pct = 50;
	cfg.fleet_window.enabled = true;
	cfg.fleet_window.interval_ms = 5000;
	cfg.fleet_window.failure_rate_pct = 30;
	cfg.fleet_window.minimum_calls = 100;
	cfg.fleet_window.short_window_ms = 300000;
	cfg.fleet_window.long_window_ms = 3600000;
	cfg.fleet_window.burn_rate_pct = 1440;
}

/* A fleet window on the default settings of cfg_reset. */
static struct fwin *
fresh_fwin(void)
{
	cfg_reset();
	return fwin_new(&cfg);
}

static struct fwin_summary
sum(uint64_t calls, uint64_t failures, uint64_t total, uint64_t tfail)
{
	struct fwin_summary s = {calls, failures, 0, total, tfail};

	return s;
}

static void
test_rate_rule(void)
{
	struct fwin_summary s;
	struct fwin *f;
	char why[160] = "";
	char id[16];

	f = fresh_fwin();
	/* 12 instances at 29%: no trip; at 31% a trip, with the numbers */
	for (int i = 0; i < 12; i++) {
		snprintf(id, sizeof(id), "inst-%d", i);
		s = sum(350, 101, 350, 101);
		CU_ASSERT_EQUAL(fwin_update(f, id, &s, T0), 0);
	}
	CU_ASSERT_FALSE(fwin_judge(f, T0, why, sizeof(why)));
	for (int i = 0; i < 12; i++) {
		snprintf(id, sizeof(id), "inst-%d", i);
		s = sum(350, 109, 700, 210);
		CU_ASSERT_EQUAL(fwin_update(f, id, &s, T0 + 5000), 0);
	}
	CU_ASSERT_TRUE(fwin_judge(f, T0 + 5000, why, sizeof(why)));
	CU_ASSERT_STRING_EQUAL(
	    why, "fleet failure rate 31% over 4200 calls from 12 instances");
	fwin_free(f);

	/* the slow-call rate trips at the breaker's slow_rate_pct */
	cfg.breaker.slow_rate_pct = 50;
	f = fwin_new(&cfg);
	s = sum(200, 10, 200, 10);
	s.slow = 120;
	fwin_update(f, "a", &s, T0);
	CU_ASSERT_TRUE(fwin_judge(f, T0, why, sizeof(why)));
	CU_ASSERT_STRING_EQUAL(
	    why, "fleet slow-call rate 60% over 200 calls from 1 instance");
	fwin_free(f);
	cfg.breaker.slow_rate_pct = 100;

	/* the breaker's 50% applies without failure_rate_pct: no trip */
	cfg.fleet_window.failure_rate_pct = 0;
	f = fwin_new(&cfg);
	s = sum(1000, 310, 1000, 310);
	fwin_update(f, "a", &s, T0);
	CU_ASSERT_FALSE(fwin_judge(f, T0, why, sizeof(why)));
	fwin_free(f);
}

static void
test_minimum_and_removal(void)
{
	struct fwin_summary s;
	struct fwin_info fi;
	struct fwin *f;
	char why[160];

	f = fresh_fwin();
	s = sum(60, 30, 60, 30);
	fwin_update(f, "a", &s, T0);
	CU_ASSERT_FALSE(fwin_judge(f, T0, why, sizeof(why))); /* 60 < 100 */
	fwin_update(f, "b", &s, T0);
	CU_ASSERT_TRUE(fwin_judge(f, T0, why, sizeof(why)));
	fwin_remove(f, "b"); /* b's ephemeral node went */
	fwin_remove(f, "nobody");
	fwin_info(f, &fi);
	CU_ASSERT_EQUAL(fi.calls, 60);
	CU_ASSERT_EQUAL(fi.instances, 1);
	CU_ASSERT_FALSE(fwin_judge(f, T0, why, sizeof(why)));
	fwin_reset(f);
	fwin_info(f, &fi);
	CU_ASSERT_EQUAL(fi.calls, 0);
	CU_ASSERT_EQUAL(fi.instances, 0);
	fwin_free(f);
}

static void
test_hostile(void)
{
	struct fwin_summary s;
	struct fwin_info fi;
	struct fwin *f;
	char why[160];

	f = fresh_fwin();
	s = sum(100, 200, 100, 100); /* more failures than calls */
	CU_ASSERT_EQUAL(fwin_update(f, "evil", &s, T0), -1);
	s = sum(FWIN_CALLS_MAX + 1, 0, FWIN_CALLS_MAX + 1, 0);
	CU_ASSERT_EQUAL(fwin_update(f, "evil", &s, T0), -1);
	s = sum(10, 0, FWIN_TOTAL_MAX + 1, 0);
	CU_ASSERT_EQUAL(fwin_update(f, "evil", &s, T0), -1);
	s = sum(10, 0, 5, 0); /* window above total */
	CU_ASSERT_EQUAL(fwin_update(f, "evil", &s, T0), -1);
	s = sum(10, 0, 50, 0);
	CU_ASSERT_EQUAL(fwin_update(f, "ok", &s, T0), 0);
	s = sum(10, 0, 40, 0); /* total went back */
	CU_ASSERT_EQUAL(fwin_update(f, "ok", &s, T0), -1);
	fwin_info(f, &fi);
	CU_ASSERT_EQUAL(fi.rejected, 5);
	CU_ASSERT_EQUAL(fi.updates, 1);
	CU_ASSERT_EQUAL(fi.calls, 10); /* nothing of the rejected ones */
	CU_ASSERT_FALSE(fwin_judge(f, T0, why, sizeof(why)));
	fwin_free(f);
}

/* n instances each report calls/failures more every 5 s for secs. */
static void
traffic(struct fwin *f, int n, uint64_t *totals, uint64_t *tfails,
    uint64_t from, uint64_t secs, uint64_t calls, uint64_t failures)
{
	char id[16];

	for (uint64_t t = from; t < from + secs * 1000; t += 5000)
		for (int i = 0; i < n; i++) {
			struct fwin_summary s;

			totals[i] += calls;
			tfails[i] += failures;
			s = sum(calls, failures, totals[i], tfails[i]);
			snprintf(id, sizeof(id), "i%d", i);
			CU_ASSERT_EQUAL(fwin_update(f, id, &s, t), 0);
		}
}

static void
test_slo_rule(void)
{
	uint64_t tot[3] = {0}, tf[3] = {0};
	struct fwin_info fi;
	struct fwin *f;
	char why[160] = "";

	cfg_reset();
	cfg.fleet_window.failure_rate_pct = 100; /* only the SLO can trip */
	cfg.fleet_window.objective_bp = 9990;    /* 99.9%: budget 0.1% */
	f = fwin_new(&cfg);
	/* an hour at 0.05% errors: burn 0.5, no trip */
	traffic(f, 3, tot, tf, T0, 3600, 2000, 1);
	CU_ASSERT_FALSE(fwin_judge(f, T0 + 3600000, why, sizeof(why)));
	fwin_info(f, &fi);
	CU_ASSERT_EQUAL(fi.burn_short_x10, 5);
	/* five minutes at 2% errors: burn 20 short, about 2 long: no trip */
	traffic(f, 3, tot, tf, T0 + 3600000, 300, 2000, 40);
	CU_ASSERT_FALSE(fwin_judge(f, T0 + 3900000 - 1, why, sizeof(why)));
	fwin_info(f, &fi);
	CU_ASSERT(fi.burn_short_x10 >= 195 && fi.burn_short_x10 <= 200);
	CU_ASSERT(fi.burn_long_x10 < 144);
	/* three more quarters of an hour at 2%: both windows burn >= 14.4 */
	traffic(f, 3, tot, tf, T0 + 3900000, 2700, 2000, 40);
	CU_ASSERT_TRUE(fwin_judge(f, T0 + 6600000 - 1, why, sizeof(why)));
	fwin_info(f, &fi);
	CU_ASSERT(fi.burn_long_x10 >= 144);
	printf("\n    reason: %s\n", why);
	CU_ASSERT(strncmp(why, "error budget burn ", 18) == 0);
	CU_ASSERT(strstr(why, "x over 5m and 1h") != NULL);
	/* a burst that stopped: the short window recovers, no trip */
	traffic(f, 3, tot, tf, T0 + 6600000, 600, 2000, 0);
	CU_ASSERT_FALSE(fwin_judge(f, T0 + 7200000 - 1, why, sizeof(why)));
	fwin_free(f);
}

static void
test_slo_short_windows_wording(void)
{
	uint64_t tot[1] = {0}, tf[1] = {0};
	struct fwin *f;
	char why[160] = "";

	cfg_reset();
	cfg.fleet_window.failure_rate_pct = 100;
	cfg.fleet_window.objective_bp = 9900; /* 1% budget */
	cfg.fleet_window.short_window_ms = 10000;
	cfg.fleet_window.long_window_ms = 30000;
	cfg.fleet_window.minimum_calls = 10;
	f = fwin_new(&cfg);
	/* the first summary is a baseline only */
	traffic(f, 1, tot, tf, T0, 5, 1000, 500);
	CU_ASSERT_FALSE(fwin_judge(f, T0, why, sizeof(why)));
	traffic(f, 1, tot, tf, T0 + 5000, 30, 100, 20); /* 20%: burn 20 */
	CU_ASSERT_TRUE(fwin_judge(f, T0 + 35000 - 1, why, sizeof(why)));
	CU_ASSERT_STRING_EQUAL(why, "error budget burn 20.0x over 10s and 30s");
	fwin_reset(f);
	CU_ASSERT_FALSE(fwin_judge(f, T0 + 35000, why, sizeof(why)));
	fwin_free(f);
}

static const struct harness_test tests[] = {
    {"failure-rate rule", test_rate_rule},
    {"fleet minimum and removal", test_minimum_and_removal},
    {"hostile summaries", test_hostile},
    {"SLO burn over two windows", test_slo_rule},
    {"SLO with short windows", test_slo_short_windows_wording},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("fwin", tests);
}
