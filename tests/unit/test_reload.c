/*
 * test_reload.c - what a configuration reload changes: nothing for the
 * same file, log_level live, and every other difference reported by name
 * as needing a restart (socket, ZooKeeper, dependencies added, removed,
 * changed).
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "harness.h"
#include "reload.h"

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
	CU_ASSERT(has(&r, "restart needed: dependency r added"));
	CU_ASSERT(has(&r, "restart needed: dependency q removed"));
	CU_ASSERT(has(&r,
	    "applied: dependency p health, quorum and probe "
	    "settings (fleet state and window kept)"));
	/* The shared table's path follows the socket's by default. */
	CU_ASSERT(has(&r,
	    "restart needed: socket.shm_path or shm_drain_ms "
	    "changed"));
	CU_ASSERT_EQUAL(r.nrestart, 5);
	CU_ASSERT_EQUAL(r.napply, 1);
	/* Applied: the new quorum is in cur; next holds the old health. */
	reload_apply(&a, &b, &r);
	CU_ASSERT_EQUAL(a.deps[0].quorum.min_votes, 3);
	CU_ASSERT_EQUAL(a.log_level, b.log_level);
	config_free(&a);
	config_free(&b);
}

/* A breaker change needs a restart; a health change is applied. */
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
	    "restart needed: dependency p breaker settings "
	    "changed"));
	CU_ASSERT_EQUAL(r.napply, 1);
	reload_apply(&a, &b, &r);
	CU_ASSERT_EQUAL(a.deps[0].health.kind, HEALTH_HTTP);
	CU_ASSERT_EQUAL(a.deps[0].health.port, 2);
	CU_ASSERT_EQUAL(b.deps[0].health.kind, HEALTH_TCP);
	/* The breaker settings stay as they run. */
	CU_ASSERT_NOT_EQUAL(a.deps[0].breaker.failure_rate_pct, 10);
	config_free(&a);
	config_free(&b);
}

int
main(void)
{
	static const struct harness_test tests[] = {
	    {"same file", test_same_file},
	    {"differences", test_differences},
	    {"breaker and health", test_breaker_and_health},
	    {NULL, NULL},
	};

	return harness_run("reload", tests);
}
