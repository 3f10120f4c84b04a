/*
 * test_registry.c - the effective answer: override over fleet over local,
 * authority from the session, the unreachable policies, ZooKeeper
 * ordering of records, votes and hooks.
 */
#include <string.h>

#include "harness.h"
#include "registry.h"
#include "util.h"

static struct config cfg;
static struct dep_config depcfg[2];
static struct registry *reg;
static int nchanged, nvotes;
static struct dep_view last_old, last_new;
static bool last_tripped;
static char last_reason[256];

static void
hook_changed(struct dep *d, const struct dep_view *old,
    const struct dep_view *now, const char *reason, void *arg)
{
	(void)d;
	(void)arg;
	nchanged++;
	strlcpy_b(last_reason, reason, sizeof(last_reason));
	last_old = *old;
	last_new = *now;
}

static void
hook_vote(
    struct dep *d, bool tripped, const struct breaker_stats *st, void *arg)
{
	(void)d;
	(void)st;
	(void)arg;
	nvotes++;
	last_tripped = tripped;
}

/* A registry of two dependencies with a small count window; payments. */
static struct dep *
setup(enum unreachable_policy policy, bool fleet)
{
	static const struct registry_hooks hooks = {
	    hook_changed, hook_vote, NULL, NULL};

	memset(&cfg, 0, sizeof(cfg));
	memset(depcfg, 0, sizeof(depcfg));
	for (int i = 0; i < 2; i++) {
		breaker_settings_default(&depcfg[i].breaker);
		depcfg[i].breaker.window_size = 4;
		depcfg[i].breaker.minimum_calls = 4;
		depcfg[i].breaker.failure_rate_pct = 50;
		depcfg[i].breaker.open_wait_ms = 1000;
		depcfg[i].breaker.open_wait_max_ms = 1000;
		depcfg[i].breaker.half_open_calls = 1;
	}
	strlcpy_b(depcfg[0].name, "payments", sizeof(depcfg[0].name));
	strlcpy_b(depcfg[1].name, "ledger", sizeof(depcfg[1].name));
	cfg.deps = depcfg;
	cfg.ndeps = 2;
	cfg.unreachable = policy;
	cfg.zk_hosts = fleet ? (char *)(uintptr_t) "127.0.0.1:1" : NULL;
	reg = registry_new(&cfg, 42, 1000);
	registry_set_hooks(reg, &hooks);
	nchanged = nvotes = 0;
	return registry_find(reg, "payments");
}

static void
teardown(void)
{
	registry_free(reg);
	reg = NULL;
}

static struct state_record
rec(enum breaker_state s)
{
	struct state_record r;

	memset(&r, 0, sizeof(r));
	r.state = s;
	r.term = 1;
	strlcpy_b(r.reason, "test", sizeof(r.reason));
	return r;
}

static struct znode_ver
ver(int64_t czxid, int64_t mzxid, int32_t v)
{
	struct znode_ver zv = {czxid, mzxid, v};

	return zv;
}

/* Bring the fleet session up with every dependency read. */
static void
connect_all(void)
{
	for (size_t i = 0; i < registry_count(reg); i++)
		dep_set_synced(registry_at(reg, i), true, 1000);
	registry_set_session(reg, FLEET_CONNECTED, 1000);
}

/* A fleet registry with every dependency read; payments. */
static struct dep *
setup_connected(enum unreachable_policy policy)
{
	setup(policy, true);
	connect_all();
	return registry_find(reg, "payments");
}

/* Connected; payments ramps linearly over 10 s from 20%.  Payments. */
static struct dep *
setup_ramped(void)
{
	setup(POLICY_LAST_KNOWN, true);
	depcfg[0].ramp.duration_ms = 10000;
	depcfg[0].ramp.curve = RAMP_LINEAR;
	depcfg[0].ramp.min_pct = 20;
	connect_all();
	return registry_find(reg, "payments");
}

/* Read a fleet record: state s in znode version (czxid, mzxid, v). */
static int
apply(struct dep *d, enum breaker_state s, int64_t czxid, int64_t mzxid,
    int32_t v, uint64_t now)
{
	struct state_record r = rec(s);
	struct znode_ver zv = ver(czxid, mzxid, v);

	return dep_apply_state(d, &r, &zv, now, 0);
}

static void
test_find(void)
{
	setup(POLICY_LAST_KNOWN, false);
	CU_ASSERT_PTR_NOT_NULL(registry_find(reg, "payments"));
	CU_ASSERT_STRING_EQUAL(
	    dep_name(registry_find(reg, "ledger")), "ledger");
	CU_ASSERT_PTR_NULL(registry_find(reg, "nope"));
	CU_ASSERT_PTR_NULL(registry_at(reg, 2));
	teardown();
}

static void
test_standalone_local(void)
{
	struct dep_view v;
	struct dep *d;

	d = setup(POLICY_LAST_KNOWN, false);
	CU_ASSERT_TRUE(registry_ready(reg));
	dep_view(d, 1000, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(v.authority, AUTH_LOCAL);
	CU_ASSERT_EQUAL(v.version, 0);
	CU_ASSERT_TRUE(dep_allow(d, 1000, &v));
	teardown();
}

static void
test_local_trip_votes(void)
{
	struct dep_view v;
	struct dep *d;

	d = setup(POLICY_LAST_KNOWN, false);
	for (int i = 0; i < 4; i++)
		dep_report(d, 1000 + i, BREAKER_FAIL, 10);
	dep_view(d, 1010, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_OPEN);
	CU_ASSERT_EQUAL(nvotes, 1);
	CU_ASSERT_TRUE(last_tripped);
	CU_ASSERT_EQUAL(nchanged, 1);
	CU_ASSERT_EQUAL(last_old.state, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(last_new.state, BREAKER_OPEN);
	CU_ASSERT_FALSE(dep_allow(d, 1010, &v));
	CU_ASSERT_EQUAL(dep_counters(d)->denied, 1);
	CU_ASSERT_EQUAL(dep_counters(d)->calls[BREAKER_FAIL], 4);
	CU_ASSERT_EQUAL(
	    dep_counters(d)->transitions[BREAKER_CLOSED][BREAKER_OPEN], 1);
	/* The other dependency is untouched. */
	dep_view(registry_find(reg, "ledger"), 1010, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_CLOSED);
	teardown();
}

static void
test_fleet_overrides_local(void)
{
	struct dep_view v;
	struct dep *d;

	d = setup(POLICY_LAST_KNOWN, true);
	dep_view(d, 1000, &v);
	CU_ASSERT_EQUAL(v.authority, AUTH_LOCAL);
	CU_ASSERT_FALSE(registry_ready(reg));
	connect_all();
	CU_ASSERT_TRUE(registry_ready(reg));
	CU_ASSERT_EQUAL(apply(d, BREAKER_OPEN, 5, 9, 3, 1000), 1);
	dep_view(d, 1000, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_OPEN);
	CU_ASSERT_EQUAL(v.version, 3);
	CU_ASSERT_EQUAL(v.authority, AUTH_AUTHORITATIVE);
	CU_ASSERT_FALSE(dep_allow(d, 1000, &v));
	/* HALF_OPEN fleet-wide denies app calls everywhere. */
	CU_ASSERT_EQUAL(apply(d, BREAKER_HALF_OPEN, 5, 10, 4, 1000), 1);
	CU_ASSERT_FALSE(dep_allow(d, 1000, &v));
	CU_ASSERT_EQUAL(v.state, BREAKER_HALF_OPEN);
	teardown();
}

static void
test_ordering(void)
{
	struct dep_view v;
	struct dep *d;

	d = setup_connected(POLICY_LAST_KNOWN);
	CU_ASSERT_EQUAL(apply(d, BREAKER_OPEN, 5, 20, 7, 1000), 1);
	/* Same znode, same or lower version: ignored however it looks. */
	CU_ASSERT_EQUAL(apply(d, BREAKER_CLOSED, 5, 25, 7, 1000), 0);
	CU_ASSERT_EQUAL(apply(d, BREAKER_CLOSED, 5, 30, 6, 1000), 0);
	CU_ASSERT_EQUAL(dep_counters(d)->records_stale, 2);
	dep_view(d, 1000, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_OPEN);
	/* A recreated znode (new czxid) counts by mzxid. */
	CU_ASSERT_EQUAL(apply(d, BREAKER_CLOSED, 40, 41, 0, 1000), 1);
	dep_view(d, 1000, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(apply(d, BREAKER_CLOSED, 3, 4, 99, 1000), 0);
	teardown();
}

static void
test_fleet_close_resets_and_withdraws(void)
{
	struct dep_view v;
	struct dep *d;

	d = setup_connected(POLICY_LAST_KNOWN);
	for (int i = 0; i < 4; i++)
		dep_report(d, 1000, BREAKER_FAIL, 10);
	CU_ASSERT_TRUE(last_tripped);
	apply(d, BREAKER_OPEN, 5, 9, 1, 1000);
	apply(d, BREAKER_CLOSED, 5, 10, 2, 1000);
	CU_ASSERT_FALSE(last_tripped);
	CU_ASSERT_EQUAL(nvotes, 2);
	dep_view(d, 1000, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_CLOSED);
	CU_ASSERT_TRUE(dep_allow(d, 1000, &v));
	teardown();
}

static void
test_override_and_expiry(void)
{
	struct override_record o;
	struct dep_view v;
	struct dep *d;
	uint64_t left;

	d = setup(POLICY_LAST_KNOWN, false);
	memset(&o, 0, sizeof(o));
	o.state = BREAKER_FORCED_OPEN;
	o.ttl_ms = 40000;
	o.until_ms =
	    1; /* wall clock, display only: long past, must not matter */
	strlcpy_b(o.by, "uid 1000", sizeof(o.by));
	strlcpy_b(o.reason, "maintenance", sizeof(o.reason));
	CU_ASSERT_EQUAL(dep_apply_override(d, &o, NULL, 1000), 1);
	CU_ASSERT_STRING_EQUAL(
	    last_reason, "forced open by uid 1000: maintenance");
	dep_view(d, 1000, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_FORCED_OPEN);
	CU_ASSERT_EQUAL(v.ttl_left_ms, 40000);
	CU_ASSERT_FALSE(dep_allow(d, 1000, &v));
	CU_ASSERT_TRUE(dep_override_left(d, 31000, &left));
	CU_ASSERT_EQUAL(left, 10000);
	/* Standalone, the ttl runs on the monotonic clock, seen by the tick. */
	nchanged = 0;
	registry_tick(reg, 40999);
	CU_ASSERT_EQUAL(nchanged, 0);
	CU_ASSERT_PTR_NOT_NULL(dep_override(d, NULL));
	registry_tick(reg, 41000);
	CU_ASSERT_EQUAL(nchanged, 1);
	CU_ASSERT_EQUAL(last_new.state, BREAKER_CLOSED);
	CU_ASSERT_PTR_NULL(dep_override(d, NULL));
	/* Override CLOSED beats an OPEN local breaker. */
	for (int i = 0; i < 4; i++)
		dep_report(d, 43000, BREAKER_FAIL, 10);
	o.state = BREAKER_CLOSED;
	o.ttl_ms = 0;
	dep_apply_override(d, &o, NULL, 43000);
	CU_ASSERT_FALSE(dep_override_left(d, 43000, &left));
	dep_view(d, 43000, &v);
	CU_ASSERT_EQUAL(v.ttl_left_ms, -1);
	CU_ASSERT_TRUE(dep_allow(d, 43000, &v));
	CU_ASSERT_EQUAL(dep_apply_override(d, NULL, NULL, 43000), 1);
	CU_ASSERT_FALSE(dep_allow(d, 43000, &v));
	CU_ASSERT_EQUAL(dep_apply_override(d, NULL, NULL, 43000), 0);
	teardown();
}

/*
 * In a fleet no instance ends an override on its own clock: it is obeyed
 * until the znode changes (the leader deletes it), however long ago the
 * ttl ran out here.
 */
static void
test_override_fleet_no_local_expiry(void)
{
	struct override_record o;
	struct znode_ver zv = ver(7, 7, 0);
	struct dep_view v;
	struct dep *d;
	uint64_t left;

	d = setup_connected(POLICY_LAST_KNOWN);
	memset(&o, 0, sizeof(o));
	o.state = BREAKER_FORCED_OPEN;
	o.ttl_ms = 1000;
	CU_ASSERT_EQUAL(dep_apply_override(d, &o, &zv, 5000), 1);
	registry_tick(reg, 5000 + 3600000);
	dep_view(d, 5000 + 3600000, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_FORCED_OPEN);
	CU_ASSERT_EQUAL(v.ttl_left_ms, 0);
	CU_ASSERT_TRUE(dep_override_left(d, 5000 + 3600000, &left));
	CU_ASSERT_EQUAL(left, 0);
	/* The same version read again keeps its first sight. */
	CU_ASSERT_EQUAL(dep_apply_override(d, &o, &zv, 9000), 0);
	CU_ASSERT_TRUE(dep_override_left(d, 5500, &left));
	CU_ASSERT_EQUAL(left, 500);
	/* A new version (a new FORCE) runs its ttl from its own sight. */
	zv = ver(7, 8, 1);
	CU_ASSERT_EQUAL(dep_apply_override(d, &o, &zv, 9000), 1);
	CU_ASSERT_TRUE(dep_override_left(d, 9400, &left));
	CU_ASSERT_EQUAL(left, 600);
	teardown();
}

/*
 * Joining: an unread dependency is held until its read or the end of the
 * start-up wait; then local answers are counted.  After a session expiry
 * the last known state answers, stale, and nothing is held.
 */
static void
test_hold_until_synced(void)
{
	struct dep_view v;
	struct dep *d;

	d = setup(POLICY_LAST_KNOWN, true);
	CU_ASSERT_TRUE(dep_must_hold(d));
	CU_ASSERT_TRUE(registry_waiting(reg));
	apply(d, BREAKER_OPEN, 5, 9, 1, 1000);
	dep_set_synced(d, true, 1000);
	CU_ASSERT_FALSE(dep_must_hold(d));
	CU_ASSERT_TRUE(dep_must_hold(registry_find(reg, "ledger")));
	/* A new session (expiry): last known, stale, not held. */
	registry_set_session(reg, FLEET_LOST, 2000);
	registry_set_session(reg, FLEET_CONNECTING, 2000);
	dep_set_synced(d, false, 2000);
	CU_ASSERT_FALSE(dep_must_hold(d));
	dep_view(d, 2000, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_OPEN);
	CU_ASSERT_EQUAL(v.authority, AUTH_STALE);
	CU_ASSERT_FALSE(dep_allow(d, 2000, &v));
	/* The wait runs out: the never-read one answers local, counted. */
	registry_wait_over(reg, 3000);
	CU_ASSERT_FALSE(registry_waiting(reg));
	d = registry_find(reg, "ledger");
	CU_ASSERT_FALSE(dep_must_hold(d));
	dep_note_answer(d);
	dep_view(d, 3000, &v);
	CU_ASSERT_EQUAL(v.authority, AUTH_LOCAL);
	CU_ASSERT_EQUAL(dep_counters(d)->unsynced_answers, 1);
	dep_note_answer(registry_find(reg, "payments"));
	CU_ASSERT_EQUAL(
	    dep_counters(registry_find(reg, "payments"))->unsynced_answers, 0);
	teardown();
}

static void
test_suspended_last_known(void)
{
	struct dep_view v;
	struct dep *d;

	d = setup_connected(POLICY_LAST_KNOWN);
	apply(d, BREAKER_OPEN, 5, 9, 1, 1000);
	nchanged = 0;
	registry_set_session(reg, FLEET_SUSPENDED, 1000);
	CU_ASSERT_EQUAL(nchanged, 2); /* both deps change authority */
	dep_view(d, 1000, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_OPEN);
	CU_ASSERT_EQUAL(v.authority, AUTH_STALE);
	CU_ASSERT_FALSE(registry_ready(reg));
	/* A dependency with no fleet record is answered locally. */
	dep_view(registry_find(reg, "ledger"), 1000, &v);
	CU_ASSERT_EQUAL(v.authority, AUTH_LOCAL);
	registry_set_session(reg, FLEET_CONNECTED, 1000);
	dep_view(d, 1000, &v);
	CU_ASSERT_EQUAL(v.authority, AUTH_AUTHORITATIVE);
	CU_ASSERT_EQUAL(v.state, BREAKER_OPEN);
	teardown();
}

static void
test_policies(void)
{
	struct dep_view v;
	struct dep *d;

	d = setup_connected(POLICY_FAIL_OPEN);
	apply(d, BREAKER_OPEN, 5, 9, 1, 1000);
	registry_set_session(reg, FLEET_SUSPENDED, 1000);
	CU_ASSERT_TRUE(dep_allow(d, 1000, &v));
	CU_ASSERT_EQUAL(v.state, BREAKER_CLOSED);
	teardown();

	setup_connected(POLICY_FAIL_CLOSED);
	d = registry_find(reg, "ledger");
	registry_set_session(reg, FLEET_LOST, 1000);
	CU_ASSERT_FALSE(dep_allow(d, 1000, &v));
	CU_ASSERT_EQUAL(v.state, BREAKER_OPEN);
	CU_ASSERT_EQUAL(v.authority, AUTH_STALE);
	teardown();

	d = setup_connected(POLICY_LOCAL);
	apply(d, BREAKER_OPEN, 5, 9, 1, 1000);
	registry_set_session(reg, FLEET_SUSPENDED, 1000);
	CU_ASSERT_TRUE(dep_allow(d, 1000, &v));
	CU_ASSERT_EQUAL(v.state, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(v.authority, AUTH_LOCAL);
	teardown();
}

static void
test_names(void)
{
	CU_ASSERT_STRING_EQUAL(
	    authority_name(AUTH_AUTHORITATIVE), "authoritative");
	CU_ASSERT_STRING_EQUAL(authority_name(AUTH_STALE), "stale");
	CU_ASSERT_STRING_EQUAL(authority_name(AUTH_LOCAL), "local");
	CU_ASSERT_STRING_EQUAL(
	    fleet_session_name(FLEET_SUSPENDED), "suspended");
	CU_ASSERT_STRING_EQUAL(authority_name((enum authority)9), "?");
}

/* A fleet close after OPEN ramps: DENY RAMPING, share, end event. */
static void
test_ramp_after_close(void)
{
	struct dep_view v;
	struct dep *d;
	int admitted = 0, held = 0;

	d = setup_ramped();
	/* a first CLOSED read (no OPEN before it) does not ramp */
	apply(d, BREAKER_CLOSED, 1, 1, 0, 1000);
	dep_view(d, 1000, &v);
	CU_ASSERT_EQUAL(v.ramp_ppm, 0);
	apply(d, BREAKER_OPEN, 1, 2, 1, 2000);
	CU_ASSERT_FALSE(dep_allow(d, 2000, &v));
	CU_ASSERT_FALSE(v.ramp_held);
	nchanged = 0;
	apply(d, BREAKER_CLOSED, 1, 3, 2, 3000);
	CU_ASSERT_EQUAL(nchanged, 1);
	CU_ASSERT_EQUAL(last_new.ramp_ppm, 200000);
	for (int i = 0; i < 1000; i++) {
		if (dep_allow(d, 3000, &v))
			admitted++;
		else {
			CU_ASSERT_TRUE(v.ramp_held);
			CU_ASSERT_EQUAL(v.state, BREAKER_CLOSED);
			held++;
		}
	}
	CU_ASSERT(admitted >= 195 && admitted <= 205);
	CU_ASSERT_EQUAL(dep_counters(d)->ramp_held, (uint64_t)held);
	CU_ASSERT_EQUAL(dep_counters(d)->ramps, 1);
	CU_ASSERT_EQUAL(dep_ramp_share(d, 8000), 600000);
	/* the other dependency has no ramp */
	CU_ASSERT_TRUE(dep_allow(registry_find(reg, "ledger"), 3000, &v));
	/* the tick after the end says so once, and every call goes */
	nchanged = 0;
	registry_tick(reg, 13000);
	CU_ASSERT_EQUAL(nchanged, 1);
	CU_ASSERT_STRING_EQUAL(last_reason, "recovery ramp over");
	CU_ASSERT_EQUAL(last_new.ramp_ppm, 0);
	for (int i = 0; i < 100; i++)
		CU_ASSERT_TRUE(dep_allow(d, 13000, &v));
	/* a new OPEN stops a running ramp at once */
	apply(d, BREAKER_OPEN, 1, 4, 3, 14000);
	apply(d, BREAKER_CLOSED, 1, 5, 4, 15000);
	CU_ASSERT_EQUAL(dep_ramp_share(d, 15000), 200000);
	apply(d, BREAKER_OPEN, 1, 6, 5, 16000);
	CU_ASSERT_EQUAL(dep_ramp_share(d, 16000), 0);
	/* an override stops a ramp; removing a FORCED_OPEN on a closed
	 * fleet ramps, removing a forced CLOSED does not */
	apply(d, BREAKER_CLOSED, 1, 7, 6, 17000);
	CU_ASSERT_EQUAL(dep_ramp_share(d, 17000), 200000);
	{
		struct override_record o;

		memset(&o, 0, sizeof(o));
		o.state = BREAKER_FORCED_OPEN;
		dep_apply_override(d, &o, &(struct znode_ver){9, 9, 0}, 17500);
		CU_ASSERT_EQUAL(dep_ramp_share(d, 17500), 0);
		CU_ASSERT_FALSE(dep_allow(d, 17500, &v));
		CU_ASSERT_FALSE(v.ramp_held);
		dep_apply_override(d, NULL, NULL, 18000);
		CU_ASSERT_EQUAL(dep_ramp_share(d, 18000), 200000);
		dep_view(d, 18000, &v);
		CU_ASSERT_EQUAL(v.ramp_ppm, 200000);
		o.state = BREAKER_CLOSED;
		dep_apply_override(d, &o, &(struct znode_ver){9, 10, 1}, 18500);
		for (int i = 0; i < 50; i++)
			CU_ASSERT_TRUE(dep_allow(d, 18500, &v));
		dep_apply_override(d, NULL, NULL, 19000);
		CU_ASSERT_EQUAL(dep_ramp_share(d, 19000), 0);
	}
	CU_ASSERT_EQUAL(dep_counters(d)->ramps, 4);
	teardown();
}

/* A reload (dep_reconfigure): the local window and its vote stay, the
 * fleet state is not touched, a running ramp keeps its fraction. */
static void
test_reconfigure(void)
{
	struct ramp_config old;
	struct breaker_carry c;
	struct breaker_stats st;
	struct dep_view v;
	struct dep *d;

	d = setup_ramped();
	apply(d, BREAKER_OPEN, 1, 2, 1, 2000);
	apply(d, BREAKER_CLOSED, 1, 3, 2, 3000);
	dep_report(d, 3000, BREAKER_OK, 1);
	dep_report(d, 3000, BREAKER_FAIL, 1);
	CU_ASSERT_EQUAL(dep_ramp_share(d, 8000), 600000);
	/* window 4 -> 8, ramp 10 s -> 20 s, at half of the ramp */
	old = depcfg[0].ramp;
	depcfg[0].breaker.window_size = 8;
	depcfg[0].ramp.duration_ms = 20000;
	nchanged = nvotes = 0;
	CU_ASSERT_EQUAL(dep_reconfigure(d, &old, 8000, &c), 0);
	CU_ASSERT_EQUAL(c.kept, 2);
	CU_ASSERT_EQUAL(c.before, 2);
	CU_ASSERT_EQUAL(nchanged, 0);
	CU_ASSERT_EQUAL(nvotes, 0);
	CU_ASSERT_EQUAL(dep_ramp_share(d, 8000), 600000);
	CU_ASSERT_EQUAL(dep_ramp_share(d, 13000), 800000);
	CU_ASSERT_EQUAL(dep_ramp_share(d, 18000), 0); /* over */
	breaker_stats(dep_breaker(d), 8000, &st);
	CU_ASSERT_EQUAL(st.calls, 2);
	CU_ASSERT_EQUAL(st.failures, 1);
	dep_view(d, 8000, &v);
	CU_ASSERT_EQUAL(v.state, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(v.version, 2);
	/* invalid settings: refused, nothing changes */
	depcfg[0].breaker.window_size = 0;
	CU_ASSERT_EQUAL(dep_reconfigure(d, &depcfg[0].ramp, 8000, &c), -1);
	breaker_stats(dep_breaker(d), 8000, &st);
	CU_ASSERT_EQUAL(st.calls, 2);
	teardown();
}

static int nreleased;
static struct dep *last_released;

static void
hook_release(struct dep *d, void *arg)
{
	(void)arg;
	nreleased++;
	last_released = d;
}

/*
 * A reload adds a dependency (held on its own until read or its wait
 * ends, even after the start-up wait) and removes one: out of the table
 * and lookups at once, its memory a tombstone until registry_free.
 */
static void
test_add_remove(void)
{
	static const struct registry_hooks hooks = {
	    hook_changed, hook_vote, NULL, hook_release};
	struct dep_config extra;
	struct dep *p, *x;
	struct dep_view v;

	setup(POLICY_LAST_KNOWN, true);
	registry_set_hooks(reg, &hooks);
	nreleased = 0;
	registry_set_session(reg, FLEET_CONNECTED, 1000);
	registry_wait_over(reg, 1000);
	CU_ASSERT_EQUAL(nreleased, 1);
	extra = depcfg[0];
	strlcpy_b(extra.name, "search", sizeof(extra.name));
	x = registry_add(reg, &extra, 7, 1000);
	CU_ASSERT_EQUAL(registry_count(reg), 3);
	CU_ASSERT_PTR_EQUAL(registry_at(reg, 2), x);
	CU_ASSERT_PTR_EQUAL(registry_find(reg, "search"), x);
	CU_ASSERT_TRUE(dep_must_hold(x));
	CU_ASSERT_FALSE(dep_must_hold(registry_find(reg, "ledger")));
	CU_ASSERT_FALSE(registry_ready(reg));
	/* Its own wait runs out: local, released once. */
	registry_dep_wait_over(reg, x);
	CU_ASSERT_FALSE(dep_must_hold(x));
	CU_ASSERT_EQUAL(nreleased, 2);
	CU_ASSERT_PTR_EQUAL(last_released, x);
	registry_dep_wait_over(reg, x);
	CU_ASSERT_EQUAL(nreleased, 2);
	dep_view(x, 1000, &v);
	CU_ASSERT_EQUAL(v.authority, AUTH_LOCAL);
	CU_ASSERT_STRING_EQUAL(v.name, "search");

	/* Removed: gone from lookups, order of the others kept. */
	p = registry_find(reg, "payments");
	registry_remove(reg, p);
	CU_ASSERT_EQUAL(registry_count(reg), 2);
	CU_ASSERT_PTR_NULL(registry_find(reg, "payments"));
	CU_ASSERT_STRING_EQUAL(dep_name(registry_at(reg, 0)), "ledger");
	CU_ASSERT_PTR_EQUAL(registry_at(reg, 1), x);
	CU_ASSERT_TRUE(dep_removed(p));
	CU_ASSERT_FALSE(dep_removed(x));
	CU_ASSERT_STRING_EQUAL(dep_name(p), "payments"); /* still valid */
	registry_remove(reg, p);                         /* twice: nothing */
	CU_ASSERT_EQUAL(registry_count(reg), 2);

	/* Added while held, then read: released by the read. */
	strlcpy_b(extra.name, "payments", sizeof(extra.name));
	p = registry_add(reg, &extra, 8, 1000);
	CU_ASSERT_TRUE(dep_must_hold(p));
	dep_set_synced(p, true, 1100);
	CU_ASSERT_FALSE(dep_must_hold(p));
	CU_ASSERT_PTR_EQUAL(last_released, p);
	dep_set_synced(x, true, 1100);
	CU_ASSERT_FALSE(registry_ready(reg)); /* ledger is still unread */
	dep_set_synced(registry_find(reg, "ledger"), true, 1100);
	CU_ASSERT_TRUE(registry_ready(reg)); /* the tombstone counts not */
	teardown(); /* frees the tombstone too (ASan would tell) */
}

/* The settings array moved: every dependency points at its new entry. */
static void
test_rebind(void)
{
	struct dep_config moved[2];
	struct config c2;

	setup(POLICY_LAST_KNOWN, false);
	memcpy(moved, depcfg, sizeof(moved));
	memset(&c2, 0, sizeof(c2));
	c2.deps = moved;
	c2.ndeps = 2;
	/* in another order: matched by name */
	moved[0] = depcfg[1];
	moved[1] = depcfg[0];
	registry_rebind(reg, &c2);
	CU_ASSERT_PTR_EQUAL(
	    dep_config(registry_find(reg, "payments")), &moved[1]);
	CU_ASSERT_PTR_EQUAL(
	    dep_config(registry_find(reg, "ledger")), &moved[0]);
	teardown();
}

int
main(void)
{
	static const struct harness_test tests[] = {
	    {"find", test_find},
	    {"standalone answers are local", test_standalone_local},
	    {"local trip casts a vote", test_local_trip_votes},
	    {"fleet state beats local", test_fleet_overrides_local},
	    {"records applied in ZooKeeper order", test_ordering},
	    {"fleet close resets window and vote",
	        test_fleet_close_resets_and_withdraws},
	    {"override and its expiry", test_override_and_expiry},
	    {"fleet override ends only by its znode",
	        test_override_fleet_no_local_expiry},
	    {"unread dependency is held", test_hold_until_synced},
	    {"suspended keeps last known", test_suspended_last_known},
	    {"unreachable policies", test_policies},
	    {"names", test_names},
	    {"reload adds and removes", test_add_remove},
	    {"reload rebinds settings", test_rebind},
	    {"recovery ramp after a fleet close", test_ramp_after_close},
	    {"reconfigure keeps window, vote and ramp", test_reconfigure},
	    {NULL, NULL},
	};

	return harness_run("registry", tests);
}
