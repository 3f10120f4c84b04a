/*
 * test_spread.c - the leadership spreading policy: the fair share, the
 * hysteresis that keeps one dependency from flapping between two
 * instances, which successor may take a dependency, which dependency is
 * given up and the retry delay after an attempt that did not go.  Time
 * is passed in, so the retry is checked to the millisecond.
 */
#include <string.h>

#include "harness.h"
#include "spread.h"

#define NDEPS 12

static struct spread_dep deps[NDEPS];
static const char *live[8];
static struct spread_view view;
static const char *names[NDEPS] = {
    "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11"};
static const char *ids[] = {"a", "b", "c", "d", "e", "f", "g", "h"};

/* ndeps dependencies, none with a record; nlive instances a, b, c, ... */
static void
view_reset(size_t ndeps, size_t nlive)
{
	size_t i;

	memset(deps, 0, sizeof(deps));
	for (i = 0; i < ndeps; i++) {
		deps[i].name = names[i];
		deps[i].state = BREAKER_CLOSED;
	}
	for (i = 0; i < nlive; i++)
		live[i] = ids[i];
	view.deps = deps;
	view.ndeps = ndeps;
	view.live = live;
	view.nlive = nlive;
	view.self = "a";
}

/* Dependency i is led by id (as its record says); by us if id is "a". */
static void
led(size_t i, const char *id)
{
	deps[i].leader = id;
	deps[i].leading = strcmp(id, "a") == 0;
}

/*
 * One dependency per letter of leaders, led by the instance of that
 * letter ('-': no record); nlive instances.  "aab" is d0 and d1 led by
 * us, d2 by b.
 */
static void
layout(const char *leaders, size_t nlive)
{
	size_t i;

	view_reset(strlen(leaders), nlive);
	for (i = 0; leaders[i] != '\0'; i++)
		if (leaders[i] != '-')
			led(i, ids[leaders[i] - 'a']);
}

static void
test_fair_share(void)
{
	CU_ASSERT_EQUAL(spread_fair_share(10, 0), 10);
	CU_ASSERT_EQUAL(spread_fair_share(10, 1), 10);
	CU_ASSERT_EQUAL(spread_fair_share(10, 3), 4);
	CU_ASSERT_EQUAL(spread_fair_share(9, 3), 3);
	CU_ASSERT_EQUAL(spread_fair_share(2, 5), 1);
	CU_ASSERT_EQUAL(spread_fair_share(0, 5), 0);
}

static void
test_counts(void)
{
	layout("aab---", 3);
	deps[3].leading = true; /* a takeover of ours not yet read back */
	CU_ASSERT_EQUAL(spread_leading(&view), 3);
	CU_ASSERT_EQUAL(spread_led_by(&view, "a"), 2);
	CU_ASSERT_EQUAL(spread_led_by(&view, "b"), 1);
	CU_ASSERT_EQUAL(spread_led_by(&view, "c"), 0);
}

/* Above fair share + 1: always give one up. */
static void
test_overloaded_hard(void)
{
	layout("aaaabc", 3); /* fair share 2 */
	CU_ASSERT_TRUE(spread_overloaded(&view));
	layout("aaabcc", 3);
	CU_ASSERT_FALSE(spread_overloaded(&view)); /* 3 = fair + 1, min 1 */
}

/* Between fair share and fair share + 1: only if someone is far below. */
static void
test_overloaded_hysteresis(void)
{
	layout("aaaabbbbc", 3); /* fair share 3; c leads 1 < fair - 1 */
	CU_ASSERT_TRUE(spread_overloaded(&view));
	led(7, "c"); /* now b 3, c 2: min + 1 == fair */
	CU_ASSERT_FALSE(spread_overloaded(&view));
	/* At fair share: never. */
	layout("aaa------", 3);
	CU_ASSERT_FALSE(spread_overloaded(&view));
	/* Alone: fair share is everything. */
	layout("aaaa", 1);
	CU_ASSERT_FALSE(spread_overloaded(&view));
}

/* Within the bound only moves that narrow the gap; above it, equal too. */
static void
test_successor(void)
{
	layout("aaabbc", 3);                              /* fair share 2 */
	CU_ASSERT_TRUE(spread_successor_ok(&view, "c"));  /* 1 + 1 <= 3 */
	CU_ASSERT_TRUE(spread_successor_ok(&view, "b"));  /* 2 + 1 <= 3 */
	CU_ASSERT_TRUE(spread_successor_ok(&view, "zz")); /* unknown: 0 */
	layout("aaabbb", 3);
	CU_ASSERT_FALSE(spread_successor_ok(&view, "b")); /* as loaded, 3 */
	layout("aaaaabbb", 3);                            /* fair share 3 */
	CU_ASSERT_TRUE(spread_successor_ok(&view, "b"));  /* 3 + 1 <= 5 */
	layout("aaaaabbbbb", 3);                          /* fair share 4 */
	/* 5 = fair + 1: within the bound, b (5) may not take a sixth. */
	CU_ASSERT_FALSE(spread_successor_ok(&view, "b"));
	layout("aaaaaabbbbbb", 4); /* fair share 3 */
	/* 6 > fair + 1: it may go to one as loaded (passed on later)... */
	CU_ASSERT_TRUE(spread_successor_ok(&view, "b"));
	/* ...but never to one more loaded than we are. */
	led(0, "b");
	led(1, "b");
	CU_ASSERT_FALSE(spread_successor_ok(&view, "b"));
}

/* The lowest score among those that may go; the order is per instance. */
static void
test_pick(void)
{
	size_t i, best = NDEPS;
	uint64_t low = UINT64_MAX;

	layout("aaaa", 2);
	for (i = 0; i < 4; i++)
		if (spread_score("a", names[i]) < low) {
			low = spread_score("a", names[i]);
			best = i;
		}
	CU_ASSERT_EQUAL(spread_pick(&view, 1000), best);
	CU_ASSERT_NOT_EQUAL(spread_score("a", "d0"), spread_score("b", "d0"));
	CU_ASSERT_NOT_EQUAL(spread_score("a", "d0"), spread_score("a", "d1"));
	/* The separator: ("ab", "c") is not ("a", "bc"). */
	CU_ASSERT_NOT_EQUAL(spread_score("ab", "c"), spread_score("a", "bc"));
	CU_ASSERT_EQUAL(spread_score("a", "d0"), spread_score("a", "d0"));
}

/* Only settled dependencies we lead go; an attempt waits for the retry. */
static void
test_pick_eligible(void)
{
	layout("---", 2);
	CU_ASSERT_EQUAL(spread_pick(&view, 1000), 3); /* none led */
	layout("aaa", 2);
	deps[0].busy = true;
	deps[1].state = BREAKER_HALF_OPEN;
	deps[2].leader = NULL; /* no record */
	CU_ASSERT_EQUAL(spread_pick(&view, 1000), 3);
	deps[2].leader = "a";
	deps[2].state = BREAKER_OPEN;
	CU_ASSERT_EQUAL(spread_pick(&view, 1000), 2);
	deps[2].state = BREAKER_FORCED_OPEN;
	CU_ASSERT_EQUAL(spread_pick(&view, 1000), 3);
	deps[2].state = BREAKER_CLOSED;
	deps[2].tried_ms = 10000;
	CU_ASSERT_EQUAL(spread_pick(&view, 10000 + SPREAD_RETRY_MS - 1), 3);
	CU_ASSERT_EQUAL(spread_pick(&view, 10000 + SPREAD_RETRY_MS), 2);
	deps[2].leading = false; /* the record says us, the election not */
	CU_ASSERT_EQUAL(spread_pick(&view, 10000 + SPREAD_RETRY_MS), 3);
}

static const struct harness_test tests[] = {
    {"fair share", test_fair_share},
    {"leading and led-by counts", test_counts},
    {"overloaded above the hard bound", test_overloaded_hard},
    {"overloaded hysteresis", test_overloaded_hysteresis},
    {"successor", test_successor},
    {"pick by score", test_pick},
    {"pick only settled, after retry", test_pick_eligible},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("spread", tests);
}
