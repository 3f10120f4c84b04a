/*
 * test_reload.c - what a configuration reload changes: nothing for the
 * same file, log_level and a dependency's settings live (the breaker's
 * with its window carried over, and the line saying what was kept), and
 * every other difference reported by name as needing a restart (socket,
 * ZooKeeper, dependencies added or removed, a fleet window switched on or
 * off).

 * same file, log_level live, dependencies added and removed live (and
 * the array rebuilt for them), and every other difference reported by
 * name as needing a restart (socket, ZooKeeper, settings changed).
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "harness.h"
#include "registry.h"
#include "reload.h"

#define T0 5000000ULL /* a monotonic now, on a second boundary */

#define BASE                                                                   \
	"{\"instance_id\":\"a\",\"socket\":{\"path\":\"/tmp/x.sock\"},"        \
	"\"zookeeper\":{\"hosts\":\"127.0.0.1:2181\"},"

/* Parse a configuration or fail the test. */
static int
cfg(const char *text, struct config *c)
{
	char err[256];
	int rc =
	    config_parse(text, strlen(text), "t.json", c, err, sizeof(err));

	if (rc != 0)
		printf("config: %s\n", err);
	return rc;
}

/* Is line one of the report's? */
static int
has(const struct reload_report *r, const char *line)
{
	for (size_t i = 0; i < r->nlines; i++)
		if (strcmp(r->lines[i], line) == 0)
			return 1;
	return 0;
}

static void
test_same_file(void)
{
	struct config a, b;
	struct reload_report r;
	const char *t = BASE "\"dependencies\":[{\"name\":\"p\",\"health\":"
	                     "{\"http\":\"http://127.0.0.1:1/h\"}}]}";

	CU_ASSERT_EQUAL_FATAL(cfg(t, &a), 0);
	CU_ASSERT_EQUAL_FATAL(cfg(t, &b), 0);
	reload_diff(&a, &b, &r);
	CU_ASSERT_EQUAL(r.nrestart, 0);
	CU_ASSERT_FALSE(r.log_level);
	CU_ASSERT(has(&r, "no change"));
	config_free(&a);
	config_free(&b);
}

static void
test_differences(void)
{
	struct config a, b;
	struct reload_report r;

	CU_ASSERT_EQUAL_FATAL(
	    cfg(BASE "\"dependencies\":[{\"name\":\"p\"},{\"name\":\"q\"}]}",
	        &a),
	    0);
	CU_ASSERT_EQUAL_FATAL(
	    cfg("{\"instance_id\":\"a\",\"log_level\":\"debug\","
	        "\"socket\":{\"path\":\"/tmp/y.sock\"},"
	        "\"zookeeper\":{\"hosts\":\"127.0.0.1:2182\"},"
	        "\"dependencies\":[{\"name\":\"p\",\"quorum\":{\"min_votes\":"
	        "3}},{\"name\":\"r\"}]}",
	        &b),
	    0);
	reload_diff(&a, &b, &r);
	CU_ASSERT(r.log_level);
	CU_ASSERT(has(&r, "applied: log_level info -> debug"));
	CU_ASSERT(has(&r,
	    "restart needed: socket (path, mode or group) "
	    "changed"));
	CU_ASSERT(has(&r, "restart needed: zookeeper settings changed"));
	CU_ASSERT(has(&r, "applied: dependency r added (election joined)"));
	CU_ASSERT(has(&r,
	    "applied: dependency q removed (election left, vote withdrawn)"));
	CU_ASSERT(has(&r,
	    "applied: dependency p health, quorum and probe "
	    "settings (fleet state and window kept)"));
	/* The shared table's path follows the socket's by default. */
	CU_ASSERT(has(&r,
	    "restart needed: socket.shm_path or shm_drain_ms "
	    "changed"));
	CU_ASSERT_EQUAL(r.nrestart, 3);
	CU_ASSERT_EQUAL(r.napply, 1);
	/* Applied: the new quorum is in cur; next holds the old health. */
	reload_apply(&a, &b, &r);
	CU_ASSERT_EQUAL(a.deps[0].quorum.min_votes, 3);
	CU_ASSERT_EQUAL(a.log_level, b.log_level);
	config_free(&a);
	config_free(&b);
}

/* A breaker change and a health change are both applied. */
static void
test_breaker_and_health(void)
{
	struct config a, b;
	struct reload_report r;

	CU_ASSERT_EQUAL_FATAL(
	    cfg(BASE "\"dependencies\":[{\"name\":\"p\","
	             "\"health\":{\"tcp\":\"127.0.0.1:1\"}}]}",
	        &a),
	    0);
	CU_ASSERT_EQUAL_FATAL(
	    cfg(BASE "\"dependencies\":[{\"name\":\"p\",\"breaker\":{"
	             "\"failure_rate_pct\":10},\"health\":{\"http\":"
	             "\"http://127.0.0.1:2/h\"}}]}",
	        &b),
	    0);
	reload_diff(&a, &b, &r);
	CU_ASSERT(has(&r,
	    "applied: dependency p breaker settings (window "
	    "kept)"));
	CU_ASSERT_EQUAL(r.nrestart, 0);
	CU_ASSERT_EQUAL(r.napply, 1);
	CU_ASSERT_EQUAL(r.apply_what[0], RELOAD_HEALTH | RELOAD_BREAKER);
	reload_apply(&a, &b, &r);
	CU_ASSERT_EQUAL(a.deps[0].health.kind, HEALTH_HTTP);
	CU_ASSERT_EQUAL(a.deps[0].health.port, 2);
	CU_ASSERT_EQUAL(b.deps[0].health.kind, HEALTH_TCP);
	/* The new breaker settings are in cur, the old ones in next. */
	CU_ASSERT_EQUAL(a.deps[0].breaker.failure_rate_pct, 10);
	CU_ASSERT_EQUAL(b.deps[0].breaker.failure_rate_pct, 50);
	config_free(&a);
	config_free(&b);
}

/* Feed a dependency's breaker n outcomes. */
static void
feed(struct dep *d, enum breaker_outcome o, int n)
{
	for (int i = 0; i < n; i++)
		dep_report(d, T0, o, 1);
}

/* Diff, apply and carry from text to text over a running registry. */
static void
reload_run(const char *from, const char *to, int ok, int fail,
    struct reload_report *r, struct breaker_stats *st)
{
	struct config a, b;
	struct registry *reg;

	CU_ASSERT_EQUAL_FATAL(cfg(from, &a), 0);
	CU_ASSERT_EQUAL_FATAL(cfg(to, &b), 0);
	reg = registry_new(&a, 1, T0);
	feed(registry_find(reg, "p"), BREAKER_OK, ok);
	feed(registry_find(reg, "p"), BREAKER_FAIL, fail);
	reload_diff(&a, &b, r);
	reload_apply(&a, &b, r);
	reload_carry(r, &a, &b, reg, T0 + 1);
	CU_ASSERT_EQUAL(breaker_state(dep_breaker(registry_find(reg, "p"))),
	    BREAKER_CLOSED);
	breaker_stats(dep_breaker(registry_find(reg, "p")), T0 + 1, st);
	registry_free(reg);
	config_free(&a);
	config_free(&b);
}

/* The line says how much of the running window was kept. */
static void
test_breaker_window_kept(void)
{
	struct reload_report r;
	struct breaker_stats st;

	reload_run(BASE "\"dependencies\":[{\"name\":\"p\",\"breaker\":{"
	                "\"window_size\":50}}]}",
	    BASE "\"dependencies\":[{\"name\":\"p\",\"breaker\":{"
	         "\"window_size\":37}}]}",
	    40, 10, &r, &st);
	CU_ASSERT(has(&r,
	    "applied: dependency p breaker settings (window kept: "
	    "37 of 50 calls)"));
	CU_ASSERT_EQUAL(r.nrestart, 0);
	CU_ASSERT_EQUAL(st.calls, 37);
	CU_ASSERT_EQUAL(st.failures, 10); /* the newest calls */

	/* A new threshold only: everything kept, nothing tripped. */
	reload_run(BASE "\"dependencies\":[{\"name\":\"p\",\"breaker\":{"
	                "\"window_size\":20,\"minimum_calls\":20}}]}",
	    BASE "\"dependencies\":[{\"name\":\"p\",\"breaker\":{"
	         "\"window_size\":20,\"minimum_calls\":20,"
	         "\"failure_rate_pct\":20}}]}",
	    12, 8, &r, &st);
	CU_ASSERT(has(&r,
	    "applied: dependency p breaker settings (window kept: "
	    "20 of 20 calls)"));
	CU_ASSERT_EQUAL(st.failures, 8);
}

/* A change of window kind starts a new window and says so. */
static void
test_breaker_window_restarted(void)
{
	struct reload_report r;
	struct breaker_stats st;
	const char *line = "applied: dependency p breaker settings (window "
	                   "restarted: kind changed count -> time)";

	reload_run(BASE "\"dependencies\":[{\"name\":\"p\"}]}",
	    BASE "\"dependencies\":[{\"name\":\"p\",\"breaker\":{"
	         "\"window\":\"time\",\"window_size\":60}}]}",
	    5, 5, &r, &st);
	CU_ASSERT(has(&r, line));
	CU_ASSERT_EQUAL(st.calls, 0);
	/* The diff alone already knows. */
	{
		struct config a, b;

		CU_ASSERT_EQUAL_FATAL(
		    cfg(BASE "\"dependencies\":[{\"name\":\"p\"}]}", &a), 0);
		CU_ASSERT_EQUAL_FATAL(
		    cfg(BASE "\"dependencies\":[{\"name\":\"p\",\"breaker\":"
		             "{\"window\":\"time\"}}]}",
		        &b),
		    0);
		reload_diff(&a, &b, &r);
		CU_ASSERT(has(&r, line));
		config_free(&a);
		config_free(&b);
	}
}

/* Ramp and fleet-window thresholds live, a fleet window switched on or
 * off too; its long window needs a restart and is not applied. */
static void
test_ramp_and_fleet_window(void)
{
	struct config a, b;
	struct reload_report r;

	CU_ASSERT_EQUAL_FATAL(
	    cfg(BASE "\"dependencies\":[{\"name\":\"p\",\"ramp\":{"
	             "\"duration_ms\":10000}},{\"name\":\"q\","
	             "\"fleet_window\":{}},{\"name\":\"s\",\"fleet_window\":"
	             "{}},{\"name\":\"u\"}]}",
	        &a),
	    0);
	CU_ASSERT_EQUAL_FATAL(
	    cfg(BASE "\"dependencies\":[{\"name\":\"p\",\"ramp\":{"
	             "\"duration_ms\":30000,\"curve\":\"exponential\"}},"
	             "{\"name\":\"q\",\"fleet_window\":{\"minimum_calls\":"
	             "7}},{\"name\":\"s\",\"fleet_window\":{"
	             "\"long_window_ms\":7200000}},{\"name\":\"u\","
	             "\"fleet_window\":{}}]}",
	        &b),
	    0);
	reload_diff(&a, &b, &r);
	CU_ASSERT(has(&r,
	    "applied: dependency p ramp settings (a running ramp goes on "
	    "from the same fraction of its course)"));
	CU_ASSERT(has(&r,
	    "applied: dependency q fleet_window settings (fleet window "
	    "kept)"));
	CU_ASSERT(has(&r,
	    "restart needed: dependency s fleet_window.long_window_ms "
	    "changed"));
	CU_ASSERT(has(&r,
	    "applied: dependency u fleet_window added (fleet window "
	    "started)"));
	CU_ASSERT_EQUAL(r.nrestart, 1);
	CU_ASSERT_EQUAL(r.napply, 3);
	reload_apply(&a, &b, &r);
	CU_ASSERT_EQUAL(a.deps[0].ramp.duration_ms, 30000);
	CU_ASSERT_EQUAL(a.deps[0].ramp.curve, RAMP_EXPONENTIAL);
	CU_ASSERT_EQUAL(b.deps[0].ramp.duration_ms, 10000);
	CU_ASSERT_EQUAL(a.deps[1].fleet_window.minimum_calls, 7);
	/* Not applied: what runs stays as it was built. */
	CU_ASSERT_NOT_EQUAL(a.deps[2].fleet_window.long_window_ms, 7200000);
	CU_ASSERT_TRUE(a.deps[3].fleet_window.enabled);
	config_free(&a);
	config_free(&b);
}

/* More changed dependencies than one report holds: the rest are not
 * applied, and counted as needing a restart. */
static void
test_too_many_changed(void)
{
	static char ta[16384], tb[16384];
	struct config a, b;
	struct reload_report r;
	size_t la, lb;

	la = (size_t)snprintf(ta, sizeof(ta), BASE "\"dependencies\":[");
	lb = (size_t)snprintf(tb, sizeof(tb), BASE "\"dependencies\":[");
	for (int i = 0; i < RELOAD_LINES_MAX + 6; i++) {
		la += (size_t)snprintf(ta + la, sizeof(ta) - la,
		    "%s{\"name\":\"d%d\"}", i ? "," : "", i);
		lb += (size_t)snprintf(tb + lb, sizeof(tb) - lb,
		    "%s{\"name\":\"d%d\",\"breaker\":{\"failure_rate_pct\":9}}",
		    i ? "," : "", i);
	}
	snprintf(ta + la, sizeof(ta) - la, "]}");
	snprintf(tb + lb, sizeof(tb) - lb, "]}");
	CU_ASSERT_EQUAL_FATAL(cfg(ta, &a), 0);
	CU_ASSERT_EQUAL_FATAL(cfg(tb, &b), 0);
	reload_diff(&a, &b, &r);
	CU_ASSERT_EQUAL(r.napply, RELOAD_LINES_MAX);
	CU_ASSERT_EQUAL(r.nrestart, 6);
	reload_apply(&a, &b, &r);
	CU_ASSERT_EQUAL(
	    a.deps[RELOAD_LINES_MAX - 1].breaker.failure_rate_pct, 9);
	CU_ASSERT_NOT_EQUAL(
	    a.deps[RELOAD_LINES_MAX].breaker.failure_rate_pct, 9);
	config_free(&a);
	config_free(&b);
}

/* Standalone: the same, without an election to join or leave. */
static void
test_add_remove_standalone(void)
{
	struct config a, b;
	struct reload_report r;

	CU_ASSERT_EQUAL_FATAL(
	    cfg("{\"dependencies\":[{\"name\":\"p\"},{\"name\":\"q\"}]}", &a),
	    0);
	CU_ASSERT_EQUAL_FATAL(
	    cfg("{\"dependencies\":[{\"name\":\"s\"},{\"name\":\"q\"},"
	        "{\"name\":\"t\"}]}",
	        &b),
	    0);
	reload_diff(&a, &b, &r);
	CU_ASSERT(has(&r, "applied: dependency s added"));
	CU_ASSERT(has(&r, "applied: dependency t added"));
	CU_ASSERT(has(&r, "applied: dependency p removed"));
	CU_ASSERT_EQUAL(r.nrestart, 0);
	CU_ASSERT_EQUAL(r.nadd, 2);
	CU_ASSERT_EQUAL(r.add_next[0], 0);
	CU_ASSERT_EQUAL(r.add_next[1], 2);
	CU_ASSERT_EQUAL(r.nremove, 1);
	CU_ASSERT_EQUAL(r.remove_cur[0], 0);
	config_free(&a);
	config_free(&b);
}

/* A dependency with a fleet window is added and removed live too. */
static void
test_fleet_window_needs_restart(void)
{
	struct config a, b;
	struct reload_report r;

	CU_ASSERT_EQUAL_FATAL(
	    cfg(BASE "\"dependencies\":[{\"name\":\"p\",\"fleet_window\":"
	             "{}}]}",
	        &a),
	    0);
	CU_ASSERT_EQUAL_FATAL(
	    cfg(BASE "\"dependencies\":[{\"name\":\"q\",\"fleet_window\":"
	             "{}}]}",
	        &b),
	    0);
	reload_diff(&a, &b, &r);
	CU_ASSERT(has(&r,
	    "applied: dependency q added (election joined, fleet window "
	    "started)"));
	CU_ASSERT(has(&r,
	    "applied: dependency p removed (election left, vote withdrawn, "
	    "fleet window stopped)"));
	CU_ASSERT_EQUAL(r.nrestart, 0);
	CU_ASSERT_EQUAL(r.nadd, 1);
	CU_ASSERT_EQUAL(r.nremove, 1);
	config_free(&a);
	config_free(&b);
}

/*
 * The rebuilt array: kept entries first, in their order, with their
 * strings; added ones moved out of next (freeing next leaves them); the
 * old array keeps only the removed entries' strings.
 */
static void
test_rebuild(void)
{
	struct config a, b;
	struct reload_report r;
	struct dep_config *old;
	const char *q_url, *s_url;
	size_t nold;

	CU_ASSERT_EQUAL_FATAL(
	    cfg(BASE "\"dependencies\":[{\"name\":\"p\",\"health\":{"
	             "\"http\":\"http://127.0.0.1:1/p\"}},{\"name\":\"q\","
	             "\"health\":{\"http\":\"http://127.0.0.1:1/q\"}}]}",
	        &a),
	    0);
	CU_ASSERT_EQUAL_FATAL(
	    cfg(BASE "\"dependencies\":[{\"name\":\"s\",\"health\":{"
	             "\"http\":\"http://127.0.0.1:1/s\"}},{\"name\":\"q\","
	             "\"health\":{\"http\":\"http://127.0.0.1:1/q\"}}]}",
	        &b),
	    0);
	q_url = a.deps[1].health.url;
	s_url = b.deps[0].health.url;
	reload_diff(&a, &b, &r);
	reload_apply(&a, &b, &r);
	old = reload_deps_rebuild(&a, &b, &r, &nold);
	CU_ASSERT_EQUAL(nold, 2);
	CU_ASSERT_EQUAL_FATAL(a.ndeps, 2);
	CU_ASSERT_STRING_EQUAL(a.deps[0].name, "q");
	CU_ASSERT_PTR_EQUAL(a.deps[0].health.url, q_url);
	CU_ASSERT_STRING_EQUAL(a.deps[1].name, "s");
	CU_ASSERT_PTR_EQUAL(a.deps[1].health.url, s_url);
	CU_ASSERT_PTR_NULL(b.deps[0].health.url);
	CU_ASSERT_PTR_NOT_NULL(old[0].health.url); /* p's, removed */
	CU_ASSERT_PTR_NULL(old[1].health.url);     /* q's moved */
	CU_ASSERT_PTR_EQUAL(config_find_dep(&a, "s"), &a.deps[1]);
	CU_ASSERT_PTR_NULL(config_find_dep(&a, "p"));
	config_free(&b); /* s's url lives on in a */
	CU_ASSERT_STRING_EQUAL(a.deps[1].health.url, "http://127.0.0.1:1/s");
	reload_retired_free(old, nold);
	config_free(&a);
}

int
main(void)
{
	static const struct harness_test tests[] = {
	    {"same file", test_same_file},
	    {"differences", test_differences},
	    {"breaker and health", test_breaker_and_health},
	    {"breaker window kept", test_breaker_window_kept},
	    {"breaker window restarted", test_breaker_window_restarted},
	    {"ramp and fleet window", test_ramp_and_fleet_window},
	    {"too many changed", test_too_many_changed},
	    {"add and remove standalone", test_add_remove_standalone},
	    {"fleet window needs a restart", test_fleet_window_needs_restart},
	    {"rebuilt dependency array", test_rebuild},
	    {NULL, NULL},
	};

	return harness_run("reload", tests);
}
