/*
 * test_takeover.c - the record a new leader starts from: no znode (a new
 * dependency, or one deleted under us: from the last good record held),
 * a record found (term + 1 on it), a record that does not decode
 * (repaired from the last good one), and our own term still standing in
 * the same session (no write at all).
 */
#include <string.h>

#include "harness.h"
#include "takeover.h"
#include "util.h"

static struct state_record found, held;
static struct takeover_input in;

static struct state_record
rec_make(enum breaker_state st, uint64_t term, const char *leader)
{
	struct state_record r;

	memset(&r, 0, sizeof(r));
	r.state = st;
	r.term = term;
	strlcpy_b(r.leader, leader, sizeof(r.leader));
	strlcpy_b(r.reason, "test", sizeof(r.reason));
	r.open_wait_ms = 30000;
	r.failed_recoveries = 2;
	return r;
}

static void
in_reset(enum takeover_found f)
{
	memset(&in, 0, sizeof(in));
	in.found = f;
	in.rec = &found;
	in.self = "me";
	in.gen = 7;
	found = rec_make(BREAKER_OPEN, 4, "other");
	held = rec_make(BREAKER_HALF_OPEN, 3, "older");
}

/* With f found and a record held, the plan is step, made from the held
 * record (HALF_OPEN, term 3). */
static void
from_held(
    enum takeover_found f, enum takeover_step step, struct state_record *base)
{
	in_reset(f);
	in.held = &held;
	CU_ASSERT_EQUAL(takeover_plan(&in, base), step);
	CU_ASSERT_EQUAL(base->state, BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(base->term, 3);
}

/* No znode and nothing held: a new dependency, CLOSED, created. */
static void
test_none_new(void)
{
	struct state_record base, out;

	in_reset(TAKEOVER_FOUND_NONE);
	in.rec = NULL;
	CU_ASSERT_EQUAL(takeover_plan(&in, &base), TAKEOVER_CREATE);
	CU_ASSERT_EQUAL(base.state, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(base.term, 0);
	takeover_record(&base, "me", true, 1234, &out);
	CU_ASSERT_EQUAL(out.term, 1);
	CU_ASSERT_STRING_EQUAL(out.leader, "me");
	CU_ASSERT_STRING_EQUAL(out.reason, "created by me");
	CU_ASSERT_EQUAL(out.changed_ms, 1234);
}

/* No znode but a record held: recreated from it, no transition lost. */
static void
test_none_held(void)
{
	struct state_record base;

	from_held(TAKEOVER_FOUND_NONE, TAKEOVER_CREATE, &base);
	CU_ASSERT_EQUAL(base.failed_recoveries, 2);
}

/* A record found: set on it with term + 1, everything else kept. */
static void
test_found(void)
{
	struct state_record base, out;

	in_reset(TAKEOVER_FOUND_GOOD);
	in.held = &held; /* the record read wins over the one held */
	CU_ASSERT_EQUAL(takeover_plan(&in, &base), TAKEOVER_SET);
	CU_ASSERT_EQUAL(base.state, BREAKER_OPEN);
	CU_ASSERT_EQUAL(base.term, 4);
	takeover_record(&base, "me", false, 99, &out);
	CU_ASSERT_EQUAL(out.state, BREAKER_OPEN);
	CU_ASSERT_EQUAL(out.term, 5);
	CU_ASSERT_EQUAL(out.open_wait_ms, 30000);
	CU_ASSERT_EQUAL(out.failed_recoveries, 2);
	CU_ASSERT_STRING_EQUAL(out.leader, "me");
	CU_ASSERT_STRING_EQUAL(out.reason, "leader takeover by me");
	CU_ASSERT_EQUAL(base.term, 4); /* base is not changed */
}

/* A record that does not decode: repaired from the last good one. */
static void
test_bad(void)
{
	struct state_record base;

	from_held(TAKEOVER_FOUND_BAD, TAKEOVER_SET, &base);
	in.held = NULL; /* nothing good held: CLOSED, term 0 */
	CU_ASSERT_EQUAL(takeover_plan(&in, &base), TAKEOVER_SET);
	CU_ASSERT_EQUAL(base.state, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(base.term, 0);
}

/* Our own term in the same session: lead on; otherwise a new term. */
static void
test_resume(void)
{
	struct state_record base;

	in_reset(TAKEOVER_FOUND_GOOD);
	found = rec_make(BREAKER_OPEN, 4, "me");
	in.term = 4;
	in.term_gen = 7;
	CU_ASSERT_EQUAL(takeover_plan(&in, &base), TAKEOVER_RESUME);
	CU_ASSERT_EQUAL(base.term, 4);
	in.term_gen = 6; /* written by an older session */
	CU_ASSERT_EQUAL(takeover_plan(&in, &base), TAKEOVER_SET);
	in.term_gen = 7;
	in.term = 3; /* someone led in between */
	CU_ASSERT_EQUAL(takeover_plan(&in, &base), TAKEOVER_SET);
	in.term = 4;
	strlcpy_b(found.leader, "other", sizeof(found.leader));
	CU_ASSERT_EQUAL(takeover_plan(&in, &base), TAKEOVER_SET);
	/* Never led (term 0) even if a record says term 0 and us. */
	found = rec_make(BREAKER_CLOSED, 0, "me");
	in.term = 0;
	CU_ASSERT_EQUAL(takeover_plan(&in, &base), TAKEOVER_SET);
}

static const struct harness_test tests[] = {
    {"no znode, nothing held: create CLOSED", test_none_new},
    {"no znode, record held: recreate it", test_none_held},
    {"record found: term + 1", test_found},
    {"bad record: repair from the last good", test_bad},
    {"own term in the same session: resume", test_resume},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("takeover", tests);
}
