/*
 * test_ramp.c - the recovery ramp: each curve's share at known points,
 * the settings check, and the per-call decision: one instance's admitted
 * fraction tracks the share over short and long runs, five instances
 * together follow the curve step by step, seeds keep instances out of
 * lock-step, and a ramp that is over (or never started) admits all.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "ramp.h"

#define T0 5000000 /* an arbitrary monotonic start */

/* A linear ramp over 10 s from 10%. */
static struct ramp_config
linear(void)
{
	struct ramp_config c;

	memset(&c, 0, sizeof(c));
	c.duration_ms = 10000;
	c.curve = RAMP_LINEAR;
	c.min_pct = 10;
	return c;
}

/* Make c a curve of four steps, in percent. */
static void
four_steps(
    struct ramp_config *c, uint32_t s0, uint32_t s1, uint32_t s2, uint32_t s3)
{
	c->curve = RAMP_STEPS;
	c->nsteps = 4;
	c->steps_pct[0] = s0;
	c->steps_pct[1] = s1;
	c->steps_pct[2] = s2;
	c->steps_pct[3] = s3;
}

static void
test_share_linear(void)
{
	struct ramp_config c = linear();

	CU_ASSERT_EQUAL(ramp_share(&c, 0), 100000);
	CU_ASSERT_EQUAL(ramp_share(&c, 5000), 550000);
	CU_ASSERT_EQUAL(ramp_share(&c, 9999), 999910);
	CU_ASSERT_EQUAL(ramp_share(&c, 10000), RAMP_ONE);
	CU_ASSERT_EQUAL(ramp_share(&c, 1000000), RAMP_ONE);
	c.duration_ms = 0;
	CU_ASSERT_EQUAL(ramp_share(&c, 0), RAMP_ONE);
}

static void
test_share_exponential(void)
{
	struct ramp_config c = linear();

	c.curve = RAMP_EXPONENTIAL;
	c.min_pct = 1;
	CU_ASSERT_EQUAL(ramp_share(&c, 0), 10000);
	/* halfway: 1% * 100^0.5 = 10% */
	CU_ASSERT(
	    ramp_share(&c, 5000) >= 99990 && ramp_share(&c, 5000) <= 100010);
	CU_ASSERT(ramp_share(&c, 2500) < ramp_share(&c, 5000));
	CU_ASSERT_EQUAL(ramp_share(&c, 10000), RAMP_ONE);
}

static void
test_share_steps(void)
{
	struct ramp_config c = linear();

	four_steps(&c, 10, 25, 50, 75);
	CU_ASSERT_EQUAL(ramp_share(&c, 0), 100000);
	CU_ASSERT_EQUAL(ramp_share(&c, 2499), 100000);
	CU_ASSERT_EQUAL(ramp_share(&c, 2500), 250000);
	CU_ASSERT_EQUAL(ramp_share(&c, 7500), 750000);
	CU_ASSERT_EQUAL(ramp_share(&c, 9999), 750000);
	CU_ASSERT_EQUAL(ramp_share(&c, 10000), RAMP_ONE);
}

static void
test_config_check(void)
{
	struct ramp_config c = linear();

	CU_ASSERT_PTR_NULL(ramp_config_check(&c));
	c.min_pct = 0;
	CU_ASSERT_PTR_NOT_NULL(ramp_config_check(&c));
	c.min_pct = 101;
	CU_ASSERT_PTR_NOT_NULL(ramp_config_check(&c));
	c = linear();
	c.curve = RAMP_STEPS;
	CU_ASSERT_PTR_NOT_NULL(ramp_config_check(&c)); /* no steps */
	c.nsteps = 2;
	c.steps_pct[0] = 50;
	c.steps_pct[1] = 20;
	CU_ASSERT_PTR_NOT_NULL(ramp_config_check(&c)); /* decreasing */
	c.steps_pct[1] = 60;
	CU_ASSERT_PTR_NULL(ramp_config_check(&c));
	c.duration_ms = 0; /* off: nothing else matters */
	c.min_pct = 0;
	CU_ASSERT_PTR_NULL(ramp_config_check(&c));
}

/* Admit n calls at a constant share; how many went through? */
static uint64_t
admit_n(struct ramp *r, const struct ramp_config *c, uint64_t at, int n)
{
	uint64_t k = 0;

	for (int i = 0; i < n; i++)
		k += ramp_admit(r, c, at);
	return k;
}

static void
test_admit_tracks_share(void)
{
	struct ramp_config c = linear();
	struct ramp r;
	uint64_t k;

	c.curve = RAMP_STEPS;
	c.nsteps = 1;
	c.steps_pct[0] = 30;
	for (uint64_t v = 1; v <= 50; v++) {
		ramp_start(&r, &c, ramp_seed("inst-a", "payments", v), T0);
		/* every run of 100 calls admits 30 +/- 2 */
		for (int run = 0; run < 20; run++) {
			k = admit_n(&r, &c, T0 + 1, 100);
			CU_ASSERT(k >= 28 && k <= 32);
		}
		k = admit_n(&r, &c, T0 + 1, 10000);
		CU_ASSERT(k >= 2990 && k <= 3010);
	}
}

static void
test_fleet_follows_curve(void)
{
	static const char *const ids[] = {"a", "b", "c", "d", "e"};
	struct ramp_config c = linear();
	struct ramp r[5];

	for (int i = 0; i < 5; i++)
		ramp_start(&r[i], &c, ramp_seed(ids[i], "ledger", 7), T0);
	/* each second, 40 calls per instance: the fleet's share per second */
	for (uint64_t s = 0; s < 10; s++) {
		uint64_t got = 0, want = 0;

		for (int call = 0; call < 40; call++) {
			uint64_t at = T0 + s * 1000 + (uint64_t)call * 25;

			for (int i = 0; i < 5; i++) {
				got += ramp_admit(&r[i], &c, at);
				want += ramp_share(&c, at - T0);
			}
		}
		want /= RAMP_ONE;
		CU_ASSERT(got * 10 >= want * 9 && got * 10 <= want * 11);
	}
}

static void
test_seeds_differ(void)
{
	struct ramp_config c = linear();
	struct ramp a, b;
	int same = 0;

	ramp_start(&a, &c, ramp_seed("inst-a", "payments", 3), T0);
	ramp_start(&b, &c, ramp_seed("inst-b", "payments", 3), T0);
	for (int i = 0; i < 200; i++)
		same += ramp_admit(&a, &c, T0) == ramp_admit(&b, &c, T0);
	CU_ASSERT(same < 200);
	CU_ASSERT(ramp_seed("a", "b", 1) != ramp_seed("a", "b", 2));
	CU_ASSERT(ramp_seed("ab", "c", 1) != ramp_seed("a", "bc", 1));
	/* same seed, same decisions: deterministic */
	ramp_start(&a, &c, 42, T0);
	ramp_start(&b, &c, 42, T0);
	for (int i = 0; i < 200; i++)
		CU_ASSERT_EQUAL(ramp_admit(&a, &c, T0), ramp_admit(&b, &c, T0));
}

static void
test_over_and_off(void)
{
	struct ramp_config c = linear();
	struct ramp r;

	memset(&r, 0, sizeof(r));
	CU_ASSERT_EQUAL(ramp_current(&r, &c, T0), 0);
	CU_ASSERT_EQUAL(admit_n(&r, &c, T0, 100), 100); /* never started */
	ramp_start(&r, &c, 1, T0);
	CU_ASSERT(r.active);
	CU_ASSERT_EQUAL(ramp_current(&r, &c, T0), 100000);
	CU_ASSERT_FALSE(ramp_over(&r, &c, T0 + 9999));
	CU_ASSERT(ramp_over(&r, &c, T0 + 10000));
	CU_ASSERT_EQUAL(admit_n(&r, &c, T0 + 10000, 100), 100);
	ramp_stop(&r);
	CU_ASSERT_FALSE(ramp_over(&r, &c, T0 + 10000));
	c.duration_ms = 0;
	ramp_start(&r, &c, 1, T0); /* no ramp configured */
	CU_ASSERT_FALSE(r.active);
	CU_ASSERT_STRING_EQUAL(ramp_curve_name(RAMP_STEPS), "steps");
}

/* A reload goes on from the same fraction of the course: a ramp twice
 * as long is half-way at twice the time, and the sequence continues. */
static void
test_reconfigure_keeps_fraction(void)
{
	struct ramp_config c = linear(), longer = linear(), off = linear();
	struct ramp r;
	uint64_t n;

	ramp_start(&r, &c, 7, T0);
	for (int i = 0; i < 100; i++)
		ramp_admit(&r, &c, T0 + 5000);
	n = r.n;
	CU_ASSERT_EQUAL(ramp_current(&r, &c, T0 + 5000), 550000);
	longer.duration_ms = 20000;
	ramp_reconfigure(&r, &c, &longer, T0 + 5000);
	CU_ASSERT_EQUAL(ramp_current(&r, &longer, T0 + 5000), 550000);
	CU_ASSERT_EQUAL(ramp_current(&r, &longer, T0 + 10000), 775000);
	CU_ASSERT_FALSE(ramp_over(&r, &longer, T0 + 14999));
	CU_ASSERT_TRUE(ramp_over(&r, &longer, T0 + 15000));
	CU_ASSERT_EQUAL(r.n, n);
	/* A new curve from the same fraction: three quarters into steps. */
	c = longer;
	four_steps(&longer, 10, 20, 40, 80);
	ramp_reconfigure(&r, &c, &longer, T0 + 10000);
	CU_ASSERT_EQUAL(ramp_current(&r, &longer, T0 + 10000), 800000);
	/* Switched off: over, and the caller stops it. */
	off.duration_ms = 0;
	ramp_reconfigure(&r, &longer, &off, T0 + 10000);
	CU_ASSERT_TRUE(ramp_over(&r, &off, T0 + 10000));
	/* Early in a monotonic clock's life (now smaller than the course
	 * the longer ramp has run): still half-way. */
	c = linear();
	longer = linear();
	longer.duration_ms = 40000;
	ramp_start(&r, &c, 7, 1000);
	ramp_reconfigure(&r, &c, &longer, 6000);
	CU_ASSERT_EQUAL(ramp_current(&r, &longer, 6000), 550000);
	CU_ASSERT_TRUE(ramp_over(&r, &longer, 26000));
	CU_ASSERT_FALSE(ramp_over(&r, &longer, 25999));
	/* Not ramping: nothing starts. */
	ramp_stop(&r);
	ramp_reconfigure(&r, &off, &c, T0 + 10000);
	CU_ASSERT_FALSE(r.active);
	CU_ASSERT_EQUAL(ramp_current(&r, &c, T0 + 10000), 0);
}

static const struct harness_test tests[] = {
    {"linear share", test_share_linear},
    {"exponential share", test_share_exponential},
    {"steps share", test_share_steps},
    {"settings check", test_config_check},
    {"admitted fraction tracks share", test_admit_tracks_share},
    {"five instances follow the curve", test_fleet_follows_curve},
    {"seeds differ, same seed same decisions", test_seeds_differ},
    {"over and off", test_over_and_off},
    {"reconfigure keeps the fraction", test_reconfigure_keeps_fraction},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("ramp", tests);
}
