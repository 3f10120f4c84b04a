/*
 * test_config.c - the configuration parser: every class of bad input must
 * be refused with the exact line:column and a message naming the key path;
 * good inputs must produce the documented defaults and values.  Also the
 * jsonpos scanner on its own, config_load's I/O errors, and the shipped
 * example configurations (the binary runs from the repository root).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"
#include "jsonpos.h"
#include "log.h"
#include "util.h"

#define MINIMAL "{\"dependencies\": [{\"name\": \"a\"}]}"

/* Parse text as "t.json". */
static int
parse(const char *text, struct config *cfg, char *err, size_t errlen)
{
	return config_parse(text, strlen(text), "t.json", cfg, err, errlen);
}

/* text must fail with "t.json:<where>: " and contain phrase. */
static void
expect_error(const char *text, const char *where, const char *phrase)
{
	struct config cfg;
	char err[512] = "", prefix[64];
	int rc;

	rc = parse(text, &cfg, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, -1);
	snprintf(prefix, sizeof(prefix), "t.json:%s: ", where);
	if (strncmp(err, prefix, strlen(prefix)) != 0
	    || strstr(err, phrase) == NULL) {
		printf(
		    "\n    got:  %s\n    want: %s...%s\n", err, prefix, phrase);
		CU_FAIL("error position or message");
	}
	/* A failed parse leaves nothing to free, and freeing is harmless. */
	CU_ASSERT_PTR_NULL(cfg.deps);
	CU_ASSERT_PTR_NULL(cfg.socket_path);
	config_free(&cfg);
}

/* text must parse; the caller checks and frees cfg. */
static int
expect_ok(const char *text, struct config *cfg)
{
	char err[512] = "";
	int rc = parse(text, cfg, err, sizeof(err));

	if (rc != 0)
		printf("\n    unexpected error: %s\n", err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	return rc;
}

static void
test_syntax_errors(void)
{
	/* jansson's own errors, with its positions. */
	expect_error("{\"dependencies\": [{\"name\": \"a\"}],\n"
	             " \"log_level\": \"info\",\n"
	             " \"log_level\": \"debug\"}",
	    "3:12", "duplicate object key");
	expect_error("{\"dependencies\": [{\"name\": \"a\"}", "1:31",
	    "expected near end of file");
	expect_error("", "1:1", "expected near end of file");
	expect_error("{\"dependencies\": [{\"name\": \"a\"}],}", "1:34",
	    "string or '}' expected");
	expect_error("[1]", "1:1", "top level must be an object, not an array");
	/* Raw NUL bytes are not JSON. */
	{
		struct config cfg;
		char err[256];
		const char text[] = "{\"dependencies\": [{\"name\": \"a\0\"}]}";

		CU_ASSERT_EQUAL(config_parse(text, sizeof(text) - 1, "t.json",
		                    &cfg, err, sizeof(err)),
		    -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.json:1:"));
		config_free(&cfg);
	}
}

static void
test_comments(void)
{
	struct config cfg;

	/* Comment lines are blanked, so later positions are unchanged. */
	expect_error("# a comment\n"
	             "{\n"
	             "  # another, indented\n"
	             "\t# and one after a tab\n"
	             "  \"dependencies\": [{\"name\": \"a\"}],\n"
	             "  \"metrics_port\": 70000\n"
	             "}\n",
	    "6:19", "metrics_port: 70000 is out of range 0..65535");
	/* The metrics listener needs an address literal, not a name. */
	expect_error("{\"dependencies\": [{\"name\": \"a\"}],\n"
	             " \"metrics_address\": \"localhost\"}",
	    "2:21",
	    "metrics_address: \"localhost\" is not an IP address literal");
	/* Only whole lines: a trailing comment is a JSON error. */
	expect_error("{\"dependencies\": [{\"name\": \"a\"}],\n"
	             " \"log_level\": \"info\", # no trailing comments\n"
	             " \"metrics_port\": 1}",
	    "2:23", "string or '}' expected near '#'");
	/* A '#' inside a string is data, handed to the validator. */
	expect_error("{\"dependencies\": [{\"name\": \"a\"}],\n"
	             " \"socket\": {\"group\": \"#wheel\"}}",
	    "2:22", "socket.group: \"#wheel\" is not a valid group name");
	if (expect_ok(
	        "# top\n{\"dependencies\": [{\"name\": \"a\", \"health\":\n"
	        "   # between members\n"
	        "   {\"http\": \"http://127.0.0.1:80/a#b\"}}]}\n# end",
	        &cfg)
	    == 0) {
		CU_ASSERT_STRING_EQUAL(
		    cfg.deps[0].health.url, "http://127.0.0.1:80/a#b");
		config_free(&cfg);
	}
}

static void
test_unknown_keys(void)
{
	expect_error("{\n  \"dependencies\": [{\"name\": \"a\"}],\n"
	             "  \"bogus\": 1\n}",
	    "3:3", "bogus: unknown key");
	expect_error("{\"dependencies\": [\n  {\"name\": \"a\",\n"
	             "   \"breaker\": {\"window_size\": 10, \"colour\": 1}}]}",
	    "3:35", "dependencies[0].breaker.colour: unknown key");
	expect_error("{\"defaults\": {\"breaker\": {\"bogus\": 1}},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:27", "defaults.breaker.bogus: unknown key");
	/* A secret inline is refused, with a hint. */
	expect_error("{\"zookeeper\": {\"password\": \"hunter2\"},"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:16",
	    "zookeeper.password: unknown key (secrets are never inline");
	/* Escaped and non-ASCII key names are found and printed. */
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"x\\u00e9\": 1}]}",
	    "1:33", "dependencies[0].x\xc3\xa9: unknown key");
}

static void
test_wrong_types(void)
{
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"probe\": "
	             "{\"count\": \"3\"}}]}",
	    "1:52",
	    "dependencies[0].probe.count: expected an integer, got a string");
	expect_error(
	    "{\"log_level\": 3, \"dependencies\": [{\"name\": \"a\"}]}", "1:15",
	    "log_level: expected a string, got an integer");
	expect_error("{\"socket\": [], \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:12", "socket: expected an object, got an array");
	expect_error("{\"dependencies\": {}}", "1:18",
	    "dependencies: expected an array, got an object");
	expect_error("{\"metrics_port\": 80.5, \"dependencies\": "
	             "[{\"name\": \"a\"}]}",
	    "1:18", "metrics_port: expected an integer, got a real number");
	expect_error("{\"dependencies\": [{\"name\": true}]}", "1:28",
	    "dependencies[0].name: expected a string, got a boolean");
	expect_error("{\"dependencies\": [null]}", "1:19",
	    "dependencies[0]: expected an object, got null");
	expect_error("{\"socket\": {\"mode\": 660}, \"dependencies\": "
	             "[{\"name\": \"a\"}]}",
	    "1:21", "expected an octal string such as \"0660\"");
	expect_error("{\"socket\": {\"admin_uids\": [0, \"root\"]}, "
	             "\"dependencies\": [{\"name\": \"a\"}]}",
	    "1:31", "socket.admin_uids[1]: expected an integer");
}

static void
test_ranges(void)
{
	expect_error("{\n  \"dependencies\": [\n    {\"name\": \"a\"},\n"
	             "    {\"name\": \"b\",\n"
	             "     \"breaker\": {\"failure_rate_pct\": 150}}\n  ]\n}",
	    "5:38",
	    "dependencies[1].breaker.failure_rate_pct: 150 is out of range "
	    "1..100");
	expect_error("{\"metrics_port\": -1, \"dependencies\": "
	             "[{\"name\": \"a\"}]}",
	    "1:18", "-1 is out of range 0..65535");
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"breaker\": "
	             "{\"half_open_calls\": 0}}]}",
	    "1:64",
	    "dependencies[0].breaker.half_open_calls: 0 is out of range");
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"health\": "
	             "{\"healthy_threshold\": 0}}]}",
	    "1:65", "health.healthy_threshold: 0 is out of range 1..1000");
	expect_error("{\"zookeeper\": {\"session_timeout_ms\": 500}, "
	             "\"dependencies\": [{\"name\": \"a\"}]}",
	    "1:38", "500 is out of range 1000..120000");
	expect_error("{\"zookeeper\": {\"startup_wait_ms\": 600001}, "
	             "\"dependencies\": [{\"name\": \"a\"}]}",
	    "1:35",
	    "zookeeper.startup_wait_ms: 600001 is out of range 0..600000");
	expect_error("{\"zookeeper\": {\"startup_wait_ms\": -1}, "
	             "\"dependencies\": [{\"name\": \"a\"}]}",
	    "1:35", "startup_wait_ms");
	expect_error("{\"socket\": {\"mode\": \"1777\"}, \"dependencies\": "
	             "[{\"name\": \"a\"}]}",
	    "1:21", "mode 1777 is out of range 0..0777");
	expect_error("{\"socket\": {\"mode\": \"0689\"}, \"dependencies\": "
	             "[{\"name\": \"a\"}]}",
	    "1:21", "\"0689\" is not an octal mode");
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"health\": "
	             "{\"expected_status\": [99, 200]}}]}",
	    "1:64", "health.expected_status[0]: 99 is out of range 100..599");
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"health\": "
	             "{\"expected_status\": [500, 200]}}]}",
	    "1:63", "health.expected_status: min 500 is above max 200");
	/* Columns count characters, as jansson does: "/\xc3\xa9" is 2. */
	expect_error("{\"zookeeper\": {\"credential_file\": \"/\xc3\xa9\", "
	             "\"session_timeout_ms\": 1}, "
	             "\"dependencies\": [{\"name\": \"a\"}]}",
	    "1:63", "zookeeper.session_timeout_ms: 1 is out of range");
}

static void
test_enums(void)
{
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"breaker\": "
	             "{\"window\": \"sliding\"}}]}",
	    "1:55", "breaker.window: \"sliding\" is not one of count, time");
	expect_error("{\"zookeeper\": {\"unreachable_policy\": \"panic\"}, "
	             "\"dependencies\": [{\"name\": \"a\"}]}",
	    "1:38", "is not one of last-known, local, fail-closed, fail-open");
	expect_error("{\"log_level\": \"verbose\", \"dependencies\": "
	             "[{\"name\": \"a\"}]}",
	    "1:15", "is not one of error, warn, info, debug");
}

static void
test_zookeeper(void)
{
	expect_error("{\"zookeeper\": {\"hosts\": "
	             "\"10.0.0.1:2181,zk2.example.com:2181,10.0.0.3:2181\"},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:25",
	    "zk2.example.com:2181\": host must be an IP address literal");
	expect_error("{\"zookeeper\": {\"hosts\": "
	             "\"127.0.0.1:2181,127.0.0.1:2182\"},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:25", "2 hosts: list an odd number of servers");
	expect_error("{\"zookeeper\": {\"hosts\": \"127.0.0.1\"},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:25", "\"127.0.0.1\" is not host:port");
	expect_error("{\"zookeeper\": {\"hosts\": \"127.0.0.1:0\"},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:25", "port must be 1..65535");
	expect_error(
	    "{\"zookeeper\": {\"hosts\": \"127.0.0.1:2181,,1.2.3.4:1\"},"
	    "\n \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:25", "\"\" is not host:port");
	expect_error("{\"zookeeper\": {\"root\": \"/breakerd/\"},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:24", "zookeeper.root: \"/breakerd/\" has an empty component");
	expect_error("{\"zookeeper\": {\"root\": \"/a/../b\"},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:24", "has a '.' or '..' component");
	expect_error("{\"zookeeper\": {\"root\": \"breakerd\"},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:24", "must start with '/'");
	expect_error("{\"zookeeper\": {\"root\": \"/a//b\"},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:24", "empty component");
	expect_error("{\"zookeeper\": {\"root\": \"/zookeeper/x\"},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:24", "reserved");
	expect_error("{\"zookeeper\": {\"credential_file\": \"zk.secret\"},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:35", "must be an absolute path");
}

static void
test_health(void)
{
	expect_error(
	    "{\"dependencies\": [{\"name\": \"a\",\n"
	    "  \"health\": {\"http\": \"https://127.0.0.1/health\"}}]}",
	    "2:22",
	    "dependencies[0].health.http: \"https://127.0.0.1/health\" "
	    "must start with http://");
	expect_error("{\"dependencies\": [{\"name\": \"a\",\n"
	             "  \"health\": {\"http\": \"http://localhost:8080/h\"}}]}",
	    "2:22", "host must be an IP address literal");
	expect_error("{\"dependencies\": [{\"name\": \"a\",\n"
	             "  \"health\": {\"http\": \"http://127.0.0.1/health\"}}]}",
	    "2:22", "\"127.0.0.1\" is not host:port");
	expect_error("{\"dependencies\": [{\"name\": \"a\",\n"
	             "  \"health\": {\"http\": \"http://127.0.0.1:80/a b\"}}]}",
	    "2:22", "printable ASCII");
	expect_error("{\"dependencies\": [{\"name\": \"a\",\n"
	             "  \"health\": {\"tcp\": \"::1:5432\"}}]}",
	    "2:21", "host must be an IP address literal");
	expect_error("{\"dependencies\": [{\"name\": \"a\",\n"
	             "  \"health\": {\"http\": \"http://127.0.0.1:80/\",\n"
	             "             \"tcp\": \"127.0.0.1:5432\"}}]}",
	    "3:14", "health.tcp: give either http or tcp, not both");
	expect_error(
	    "{\"defaults\": {\"health\": {\"tcp\": \"127.0.0.1:1\"}},\n"
	    " \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:26", "defaults.health.tcp: a health check target belongs");
	expect_error("{\"dependencies\": [{\"name\": \"a\",\n"
	             "  \"health\": {\"tcp\": \"127.0.0.1:5432\",\n"
	             "    \"interval_ms\": 1000, \"timeout_ms\": 2000}}]}",
	    "2:13",
	    "dependencies[0].health: timeout_ms 2000 is above "
	    "interval_ms 1000");
}

static void
test_names(void)
{
	expect_error("{\"dependencies\": [{\"name\": \"pay ments\"}]}", "1:28",
	    "dependencies[0].name: \"pay ments\" must be 1..64 characters");
	expect_error(
	    "{\"dependencies\": [{\"name\": "
	    "\"a123456789012345678901234567890123456789012345678901234567"
	    "8901234\"}]}",
	    "1:28", "must be 1..64 characters from [A-Za-z0-9._-]");
	expect_error("{\"dependencies\": [{\"name\": \"\"}]}", "1:28",
	    "must not be empty");
	expect_error("{\"dependencies\": [\n  {\"name\": \"a\"},\n"
	             "  {\"name\": \"b\"},\n  {\"name\": \"a\"}]}",
	    "4:12",
	    "dependencies[2].name: \"a\" is already used by "
	    "dependencies[0]");
	expect_error("{\"instance_id\": \"inst a\", \"dependencies\": "
	             "[{\"name\": \"a\"}]}",
	    "1:17", "instance_id: \"inst a\" must be 1..64");
	expect_error(
	    "{\"log_level\": \"info\"}", "1:1", "missing key \"dependencies\"");
	expect_error("{\"dependencies\": []}", "1:18",
	    "at least one dependency is required");
	expect_error(
	    "{\"dependencies\": [{\"name\": \"a\"}, {\"breaker\": {}}]}",
	    "1:34", "dependencies[1]: missing key \"name\"");
	expect_error("{\"socket\": {\"path\": \"breakerd.sock\"}, "
	             "\"dependencies\": [{\"name\": \"a\"}]}",
	    "1:21", "socket.path: \"breakerd.sock\" must be an absolute path");
	expect_error(
	    "{\"socket\": {\"path\": \"/tmp/"
	    "0123456789012345678901234567890123456789012345678901234567"
	    "89012345678901234567890123456789012345678901234567890\"}, "
	    "\"dependencies\": [{\"name\": \"a\"}]}",
	    "1:21", "the limit is 107");
}

static void
test_cross_checks(void)
{
	/* Set in the dependency: points at its breaker object. */
	expect_error("{\"dependencies\": [{\"name\": \"a\",\n"
	             "  \"breaker\": {\"open_wait_ms\": 5000, "
	             "\"open_wait_max_ms\": 1000}}]}",
	    "2:14",
	    "dependencies[0].breaker: open_wait_max_ms 1000 is below "
	    "open_wait_ms 5000");
	/* Inherited from defaults: points at the dependency. */
	expect_error("{\"defaults\": {\"breaker\": {\"window\": \"time\", "
	             "\"window_size\": 7200}},\n"
	             " \"dependencies\": [{\"name\": \"a\"}]}",
	    "2:19", "dependencies[0].breaker: a time window of 7200 s");
	/* An escaped key is found in the text like a plain one. */
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"br\\u0065aker\": "
	             "{\"window_size\": 0}}]}",
	    "1:65", "dependencies[0].breaker.window_size: 0 is out of range");
}

static void
test_minimal_defaults(void)
{
	struct breaker_settings def;
	struct config cfg;
	const struct dep_config *d;

	if (expect_ok(MINIMAL, &cfg) != 0)
		return;
	CU_ASSERT_STRING_EQUAL(cfg.path, "t.json");
	CU_ASSERT_STRING_EQUAL(cfg.instance_id, ""); /* config_load fills */
	CU_ASSERT_STRING_EQUAL(cfg.socket_path, "/run/breakerd/breakerd.sock");
	CU_ASSERT_EQUAL(cfg.socket_mode, 0660);
	CU_ASSERT_PTR_NULL(cfg.socket_group);
	CU_ASSERT_EQUAL(cfg.n_admin_uids, 0);
	CU_ASSERT_EQUAL(cfg.max_clients, 1024);
	CU_ASSERT_EQUAL(cfg.idle_timeout_ms, 30000);
	CU_ASSERT_EQUAL(cfg.watch_buffer_max, 65536);
	CU_ASSERT_PTR_NULL(cfg.zk_hosts);
	CU_ASSERT_EQUAL(cfg.zk_session_timeout_ms, 10000);
	CU_ASSERT_EQUAL(cfg.startup_wait_ms, 2000);
	CU_ASSERT_STRING_EQUAL(cfg.zk_root, "/breakerd/default");
	CU_ASSERT_PTR_NULL(cfg.zk_credential_file);
	CU_ASSERT_EQUAL(cfg.unreachable, POLICY_LAST_KNOWN);
	CU_ASSERT_EQUAL(cfg.log_level, LOG_LVL_INFO);
	CU_ASSERT_EQUAL(cfg.metrics_port, 0);
	CU_ASSERT_STRING_EQUAL(cfg.metrics_address, "127.0.0.1");
	CU_ASSERT_EQUAL_FATAL(cfg.ndeps, 1);
	d = &cfg.deps[0];
	CU_ASSERT_STRING_EQUAL(d->name, "a");
	breaker_settings_default(&def);
	CU_ASSERT(memcmp(&d->breaker, &def, sizeof(def)) == 0);
	CU_ASSERT_EQUAL(d->health.kind, HEALTH_NONE);
	CU_ASSERT_PTR_NULL(d->health.url);
	CU_ASSERT_PTR_NULL(d->health.host);
	CU_ASSERT_EQUAL(d->health.interval_ms, 5000);
	CU_ASSERT_EQUAL(d->health.jitter_ms, 500);
	CU_ASSERT_EQUAL(d->health.timeout_ms, 1000);
	CU_ASSERT_EQUAL(d->health.healthy_threshold, 2);
	CU_ASSERT_EQUAL(d->health.unhealthy_threshold, 3);
	CU_ASSERT_EQUAL(d->health.status_min, 200);
	CU_ASSERT_EQUAL(d->health.status_max, 399);
	CU_ASSERT_EQUAL(d->quorum.min_votes, 1);
	CU_ASSERT_EQUAL(d->quorum.fraction_pct, 50);
	CU_ASSERT_EQUAL(d->probe.count, 3);
	CU_ASSERT_EQUAL(d->probe.interval_ms, 1000);
	CU_ASSERT_PTR_EQUAL(config_find_dep(&cfg, "a"), d);
	CU_ASSERT_PTR_NULL(config_find_dep(&cfg, "b"));
	config_free(&cfg);
	CU_ASSERT_PTR_NULL(cfg.deps);
	config_free(&cfg); /* twice is harmless */
}

static const char full_config[] =
    "{\n"
    "  \"instance_id\": \"inst-b\",\n"
    "  \"socket\": {\"path\": \"/tmp/b.sock\", \"mode\": \"0600\",\n"
    "             \"group\": \"apps\", \"admin_uids\": [0, 1000, 4294967294],\n"
    "             \"max_clients\": 10, \"idle_timeout_ms\": 500,\n"
    "             \"watch_buffer_max\": 8192},\n"
    "  \"zookeeper\": {\"hosts\": "
    "\"127.0.0.1:2181,[::1]:2182,10.1.2.3:2183\",\n"
    "                \"session_timeout_ms\": 4000, \"root\": \"/bk/test-1\",\n"
    "                \"startup_wait_ms\": 0,\n"
    "                \"credential_file\": \"/etc/breakerd/zk.secret\",\n"
    "                \"unreachable_policy\": \"fail-closed\"},\n"
    "  \"log_level\": \"debug\",\n"
    "  \"metrics_port\": 9100,\n"
    "  \"metrics_address\": \"::1\",\n"
    "  \"dependencies\": [\n"
    "    {\"name\": \"payments\",\n"
    "     \"breaker\": {\"window\": \"time\", \"window_size\": 60,\n"
    "       \"minimum_calls\": 20, \"failure_rate_pct\": 40,\n"
    "       \"slow_rate_pct\": 90, \"slow_call_ms\": 2000,\n"
    "       \"consecutive_failures\": 7, \"open_wait_ms\": 3000,\n"
    "       \"backoff_multiplier_pct\": 200, \"open_wait_max_ms\": 300000,\n"
    "       \"jitter_pct\": 10, \"half_open_calls\": 4,\n"
    "       \"half_open_max_ms\": 60000},\n"
    "     \"health\": {\"http\": \"http://[::1]:8080/health?deep=1\",\n"
    "       \"interval_ms\": 2000, \"jitter_ms\": 0, \"timeout_ms\": 700,\n"
    "       \"healthy_threshold\": 4, \"unhealthy_threshold\": 5,\n"
    "       \"expected_status\": [200, 204]},\n"
    "     \"quorum\": {\"min_votes\": 2, \"fraction_pct\": 0},\n"
    "     \"probe\": {\"count\": 6, \"interval_ms\": 250}},\n"
    "    {\"name\": \"ledger-db\", \"health\": {\"tcp\": \"127.0.0.1:5432\"}}\n"
    "  ]\n"
    "}\n";

static void
test_full(void)
{
	struct config cfg;
	const struct dep_config *p, *l;
	const struct breaker_settings *b;

	if (expect_ok(full_config, &cfg) != 0)
		return;
	CU_ASSERT_STRING_EQUAL(cfg.instance_id, "inst-b");
	CU_ASSERT_STRING_EQUAL(cfg.socket_path, "/tmp/b.sock");
	CU_ASSERT_EQUAL(cfg.socket_mode, 0600);
	CU_ASSERT_STRING_EQUAL(cfg.socket_group, "apps");
	CU_ASSERT_EQUAL_FATAL(cfg.n_admin_uids, 3);
	CU_ASSERT_EQUAL(cfg.admin_uids[1], 1000);
	CU_ASSERT_EQUAL(cfg.admin_uids[2], (uid_t)4294967294u);
	CU_ASSERT_EQUAL(cfg.max_clients, 10);
	CU_ASSERT_EQUAL(cfg.idle_timeout_ms, 500);
	CU_ASSERT_EQUAL(cfg.watch_buffer_max, 8192);
	CU_ASSERT_STRING_EQUAL(
	    cfg.zk_hosts, "127.0.0.1:2181,[::1]:2182,10.1.2.3:2183");
	CU_ASSERT_EQUAL(cfg.zk_session_timeout_ms, 4000);
	CU_ASSERT_EQUAL(cfg.startup_wait_ms, 0);
	CU_ASSERT_STRING_EQUAL(cfg.zk_root, "/bk/test-1");
	CU_ASSERT_STRING_EQUAL(
	    cfg.zk_credential_file, "/etc/breakerd/zk.secret");
	CU_ASSERT_EQUAL(cfg.unreachable, POLICY_FAIL_CLOSED);
	CU_ASSERT_EQUAL(cfg.log_level, LOG_LVL_DEBUG);
	CU_ASSERT_EQUAL(cfg.metrics_port, 9100);
	CU_ASSERT_STRING_EQUAL(cfg.metrics_address, "::1");
	CU_ASSERT_EQUAL_FATAL(cfg.ndeps, 2);
	p = config_find_dep(&cfg, "payments");
	l = config_find_dep(&cfg, "ledger-db");
	CU_ASSERT_FATAL(p == &cfg.deps[0] && l == &cfg.deps[1]);
	b = &p->breaker;
	CU_ASSERT_EQUAL(b->window_type, BREAKER_WINDOW_TIME);
	CU_ASSERT_EQUAL(b->window_size, 60);
	CU_ASSERT_EQUAL(b->minimum_calls, 20);
	CU_ASSERT_EQUAL(b->failure_rate_pct, 40);
	CU_ASSERT_EQUAL(b->slow_rate_pct, 90);
	CU_ASSERT_EQUAL(b->slow_call_ms, 2000);
	CU_ASSERT_EQUAL(b->consecutive_failures, 7);
	CU_ASSERT_EQUAL(b->open_wait_ms, 3000);
	CU_ASSERT_EQUAL(b->backoff_multiplier_pct, 200);
	CU_ASSERT_EQUAL(b->open_wait_max_ms, 300000);
	CU_ASSERT_EQUAL(b->jitter_pct, 10);
	CU_ASSERT_EQUAL(b->half_open_calls, 4);
	CU_ASSERT_EQUAL(b->half_open_max_ms, 60000);
	CU_ASSERT_EQUAL(p->health.kind, HEALTH_HTTP);
	CU_ASSERT_STRING_EQUAL(
	    p->health.url, "http://[::1]:8080/health?deep=1");
	CU_ASSERT_STRING_EQUAL(p->health.host, "::1");
	CU_ASSERT_EQUAL(p->health.port, 8080);
	CU_ASSERT_EQUAL(p->health.interval_ms, 2000);
	CU_ASSERT_EQUAL(p->health.jitter_ms, 0);
	CU_ASSERT_EQUAL(p->health.timeout_ms, 700);
	CU_ASSERT_EQUAL(p->health.healthy_threshold, 4);
	CU_ASSERT_EQUAL(p->health.unhealthy_threshold, 5);
	CU_ASSERT_EQUAL(p->health.status_min, 200);
	CU_ASSERT_EQUAL(p->health.status_max, 204);
	CU_ASSERT_EQUAL(p->quorum.min_votes, 2);
	CU_ASSERT_EQUAL(p->quorum.fraction_pct, 0);
	CU_ASSERT_EQUAL(p->probe.count, 6);
	CU_ASSERT_EQUAL(p->probe.interval_ms, 250);
	CU_ASSERT_EQUAL(l->health.kind, HEALTH_TCP);
	CU_ASSERT_PTR_NULL(l->health.url);
	CU_ASSERT_STRING_EQUAL(l->health.host, "127.0.0.1");
	CU_ASSERT_EQUAL(l->health.port, 5432);
	config_free(&cfg);
}

static void
test_defaults_section(void)
{
	struct config cfg;
	struct breaker_settings def;

	/* "defaults" after "dependencies": order in the text must not matter. */
	if (expect_ok(
	        "{\"dependencies\": [\n"
	        "   {\"name\": \"a\", \"breaker\": {\"failure_rate_pct\": 40},"
	        "    \"health\": {\"tcp\": \"127.0.0.1:9\"}},\n"
	        "   {\"name\": \"b\", \"probe\": {\"count\": 1}}],\n"
	        " \"defaults\": {\"breaker\": {\"failure_rate_pct\": 30,"
	        " \"open_wait_ms\": 500},\n"
	        "   \"health\": {\"interval_ms\": 2000},\n"
	        "   \"quorum\": {\"min_votes\": 2},\n"
	        "   \"probe\": {\"count\": 5}}}",
	        &cfg)
	    != 0)
		return;
	breaker_settings_default(&def);
	CU_ASSERT_EQUAL_FATAL(cfg.ndeps, 2);
	CU_ASSERT_EQUAL(cfg.deps[0].breaker.failure_rate_pct, 40);
	CU_ASSERT_EQUAL(cfg.deps[1].breaker.failure_rate_pct, 30);
	CU_ASSERT_EQUAL(cfg.deps[0].breaker.open_wait_ms, 500);
	CU_ASSERT_EQUAL(cfg.deps[1].breaker.open_wait_ms, 500);
	/* Keys in neither place keep the built-in default. */
	CU_ASSERT_EQUAL(cfg.deps[1].breaker.window_size, def.window_size);
	CU_ASSERT_EQUAL(cfg.deps[0].health.interval_ms, 2000);
	CU_ASSERT_EQUAL(cfg.deps[1].health.interval_ms, 2000);
	CU_ASSERT_EQUAL(cfg.deps[0].health.kind, HEALTH_TCP);
	CU_ASSERT_EQUAL(cfg.deps[1].health.kind, HEALTH_NONE);
	CU_ASSERT_EQUAL(cfg.deps[0].quorum.min_votes, 2);
	CU_ASSERT_EQUAL(cfg.deps[1].quorum.min_votes, 2);
	CU_ASSERT_EQUAL(cfg.deps[0].probe.count, 5);
	CU_ASSERT_EQUAL(cfg.deps[1].probe.count, 1);
	config_free(&cfg);
}

static void
test_standalone(void)
{
	struct config cfg;

	if (expect_ok("{\"zookeeper\": {\"root\": \"/x\", "
	              "\"unreachable_policy\": \"local\"},"
	              " \"dependencies\": [{\"name\": \"a\"}]}",
	        &cfg)
	    != 0)
		return;
	CU_ASSERT_PTR_NULL(cfg.zk_hosts);
	CU_ASSERT_STRING_EQUAL(cfg.zk_root, "/x");
	CU_ASSERT_EQUAL(cfg.unreachable, POLICY_LOCAL);
	config_free(&cfg);
	if (expect_ok(MINIMAL, &cfg) != 0)
		return;
	CU_ASSERT_PTR_NULL(cfg.zk_hosts);
	config_free(&cfg);
}

static void
test_policy_names(void)
{
	CU_ASSERT_STRING_EQUAL(
	    config_policy_name(POLICY_LAST_KNOWN), "last-known");
	CU_ASSERT_STRING_EQUAL(config_policy_name(POLICY_LOCAL), "local");
	CU_ASSERT_STRING_EQUAL(
	    config_policy_name(POLICY_FAIL_CLOSED), "fail-closed");
	CU_ASSERT_STRING_EQUAL(
	    config_policy_name(POLICY_FAIL_OPEN), "fail-open");
	CU_ASSERT_STRING_EQUAL(
	    config_policy_name((enum unreachable_policy)9), "?");
}

/* Look path up in text; returns "line:col" or "none". */
static const char *
pos(const char *text, const struct jsonpos_step *path, size_t depth,
    int want_key)
{
	static char buf[32];
	unsigned line, col;

	if (jsonpos_find(text, strlen(text), path, depth, want_key, &line, &col)
	    == -1)
		return "none";
	snprintf(buf, sizeof(buf), "%u:%u", line, col);
	return buf;
}

static void
test_jsonpos(void)
{
	/* Strings holding brackets, quotes and escapes must be skipped. */
	const char *t =
	    "{\"s\": \"}]\\\"{[\", \"n\": [1, {\"k\": [true]}, -2.5e3],\n"
	    " \"a\\\"b\": null, \"\\u00e9\\ud83d\\ude00\": 7}";
	struct jsonpos_step p[4] = {{"n", 0}, {NULL, 1}, {"k", 0}, {NULL, 0}};
	struct jsonpos_step q[1] = {{"a\"b", 0}};
	struct jsonpos_step r[1] = {{"\xc3\xa9\xf0\x9f\x98\x80", 0}};
	struct jsonpos_step m[2] = {{"n", 0}, {NULL, 3}};
	struct jsonpos_step x[1] = {{"zz", 0}};
	struct jsonpos_step s2[2] = {{"s", 0}, {"t", 0}};

	CU_ASSERT_STRING_EQUAL(pos(t, p, 0, 0), "1:1");
	CU_ASSERT_STRING_EQUAL(pos(t, p, 1, 0), "1:22");
	CU_ASSERT_STRING_EQUAL(pos(t, p, 1, 1), "1:17");
	CU_ASSERT_STRING_EQUAL(pos(t, p, 2, 0), "1:26");
	CU_ASSERT_STRING_EQUAL(pos(t, p, 3, 0), "1:32");
	CU_ASSERT_STRING_EQUAL(pos(t, p, 4, 0), "1:33");
	CU_ASSERT_STRING_EQUAL(pos(t, q, 1, 0), "2:10");
	CU_ASSERT_STRING_EQUAL(pos(t, q, 1, 1), "2:2");
	CU_ASSERT_STRING_EQUAL(pos(t, r, 1, 0), "2:38");
	CU_ASSERT_STRING_EQUAL(pos(t, m, 2, 0), "none");
	CU_ASSERT_STRING_EQUAL(pos(t, x, 1, 0), "none");
	CU_ASSERT_STRING_EQUAL(pos(t, s2, 2, 0), "none"); /* not an object */
	CU_ASSERT_STRING_EQUAL(pos("", p, 0, 0), "none");
	/* Truncated or broken text must not be read past its end. */
	CU_ASSERT_STRING_EQUAL(pos("{\"n\": [1, ", p, 2, 0), "none");
	CU_ASSERT_STRING_EQUAL(pos("{\"n\\u12", p, 1, 0), "none");
	CU_ASSERT_STRING_EQUAL(pos("{\"n\\", p, 1, 0), "none");
}

/* Write text to a new temporary file; returns its name (static). */
static const char *
tmpfile_with(const char *text, size_t len)
{
	static char name[64];
	int fd;

	strlcpy_b(name, "/tmp/test_config.XXXXXX", sizeof(name));
	fd = mkstemp(name);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, text, len) == (ssize_t)len);
	close(fd);
	return name;
}

static void
test_load(void)
{
	struct config cfg;
	char err[512], want[600];
	const char *name;
	char *big;

	CU_ASSERT_EQUAL(
	    config_load("/nonexistent/b.json", &cfg, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err,
	    "/nonexistent/b.json: No such file or "
	    "directory");
	config_free(&cfg);
	CU_ASSERT_EQUAL(config_load("/tmp", &cfg, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "/tmp: Is a directory");
	config_free(&cfg);
	/* Over 1 MiB is refused before parsing. */
	big = calloc(1, 1024 * 1024 + 2);
	CU_ASSERT_FATAL(big != NULL);
	memset(big, ' ', 1024 * 1024 + 1);
	name = tmpfile_with(big, 1024 * 1024 + 1);
	free(big);
	CU_ASSERT_EQUAL(config_load(name, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", name);
	CU_ASSERT_STRING_EQUAL(err, want);
	unlink(name);
	/* Parse errors carry the file name; no instance_id means hostname. */
	name = tmpfile_with("{\"bogus\": 1}", 12);
	CU_ASSERT_EQUAL(config_load(name, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:1:2: bogus: unknown key", name);
	CU_ASSERT_STRING_EQUAL(err, want);
	unlink(name);
	name = tmpfile_with(MINIMAL, strlen(MINIMAL));
	CU_ASSERT_EQUAL_FATAL(config_load(name, &cfg, err, sizeof(err)), 0);
	unlink(name);
	CU_ASSERT_STRING_EQUAL(cfg.path, name);
	CU_ASSERT(cfg.instance_id[0] != '\0');
	CU_ASSERT(strspn(cfg.instance_id,
	              "abcdefghijklmnopqrstuvwxyz"
	              "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "0123456789._-")
	    == strlen(cfg.instance_id));
	config_free(&cfg);
}

/* ramp and fleet_window: defaults, values, errors. */
static void
test_ramp_fleet_window(void)
{
	struct config cfg;

	expect_ok(MINIMAL, &cfg);
	CU_ASSERT_EQUAL(cfg.deps[0].ramp.duration_ms, 0);
	CU_ASSERT_FALSE(cfg.deps[0].fleet_window.enabled);
	config_free(&cfg);
	expect_ok(
	    "{\"defaults\": {\"ramp\": {\"duration_ms\": 30000}},\n"
	    " \"dependencies\": [{\"name\": \"a\"},\n"
	    " {\"name\": \"b\", \"ramp\": {\"steps_pct\": [10, 50]},\n"
	    "  \"fleet_window\": {}},\n"
	    " {\"name\": \"c\", \"ramp\": {\"curve\": \"exponential\",\n"
	    "  \"min_pct\": 1}, \"fleet_window\": {\"interval_ms\": 1000,\n"
	    "  \"objective_bp\": 9990, \"minimum_calls\": 7}}]}",
	    &cfg);
	CU_ASSERT_EQUAL(cfg.deps[0].ramp.duration_ms, 30000);
	CU_ASSERT_EQUAL(cfg.deps[0].ramp.curve, RAMP_LINEAR);
	CU_ASSERT_EQUAL(cfg.deps[0].ramp.min_pct, 10);
	CU_ASSERT_EQUAL(cfg.deps[1].ramp.curve, RAMP_STEPS);
	CU_ASSERT_EQUAL(cfg.deps[1].ramp.nsteps, 2);
	CU_ASSERT_EQUAL(cfg.deps[1].ramp.steps_pct[1], 50);
	CU_ASSERT_TRUE(cfg.deps[1].fleet_window.enabled);
	CU_ASSERT_EQUAL(cfg.deps[1].fleet_window.interval_ms, 5000);
	CU_ASSERT_EQUAL(cfg.deps[1].fleet_window.burn_rate_pct, 1440);
	CU_ASSERT_EQUAL(cfg.deps[2].ramp.curve, RAMP_EXPONENTIAL);
	CU_ASSERT_EQUAL(cfg.deps[2].fleet_window.interval_ms, 1000);
	CU_ASSERT_EQUAL(cfg.deps[2].fleet_window.objective_bp, 9990);
	CU_ASSERT_EQUAL(cfg.deps[2].fleet_window.minimum_calls, 7);
	CU_ASSERT_FALSE(cfg.deps[0].fleet_window.enabled);
	config_free(&cfg);
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"ramp\": "
	             "{\"steps_pct\": [50, 20]}}]}",
	    "1:60", "steps must not decrease");
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"ramp\": "
	             "{\"curve\": \"cubic\"}}]}",
	    "1:51", "is not one of linear, exponential, steps");
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"ramp\": "
	             "{\"duration_ms\": 1000, \"curve\": \"steps\"}}]}",
	    "1:41", "1..16 steps");
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"fleet_window\": "
	             "{\"short_window_ms\": 9000, \"long_window_ms\": 8000}}]}",
	    "1:49", "below short_window_ms");
	expect_error("{\"dependencies\": [{\"name\": \"a\", \"fleet_window\": "
	             "{\"bogus\": 1}}]}",
	    "1:50", "unknown key");
}

static void
test_shipped_configs(void)
{
	static const char *const fleet[] = {"conf/fleet-example/inst-a.json",
	    "conf/fleet-example/inst-b.json", "conf/fleet-example/inst-c.json"};
	struct config cfg, other[3];
	char err[512];

	if (config_load("conf/breakerd.json", &cfg, err, sizeof(err)) != 0)
		printf("\n    %s\n", err);
	CU_ASSERT_FATAL(cfg.ndeps == 2);
	CU_ASSERT_STRING_EQUAL(cfg.instance_id, "inst-a");
	CU_ASSERT_PTR_NOT_NULL(cfg.zk_hosts);
	CU_ASSERT_EQUAL(cfg.deps[0].health.kind, HEALTH_HTTP);
	CU_ASSERT_EQUAL(cfg.deps[1].health.kind, HEALTH_TCP);
	config_free(&cfg);
	for (size_t i = 0; i < 3; i++) {
		if (config_load(fleet[i], &other[i], err, sizeof(err)) != 0)
			printf("\n    %s\n", err);
		CU_ASSERT_FATAL(other[i].ndeps > 0);
	}
	/* One host, three daemons: ids and sockets must differ. */
	for (size_t i = 0; i < 3; i++) {
		size_t j = (i + 1) % 3;

		CU_ASSERT_STRING_NOT_EQUAL(
		    other[i].instance_id, other[j].instance_id);
		CU_ASSERT_STRING_NOT_EQUAL(
		    other[i].socket_path, other[j].socket_path);
		CU_ASSERT_STRING_EQUAL(other[i].zk_root, other[j].zk_root);
	}
	for (size_t i = 0; i < 3; i++)
		config_free(&other[i]);
}

/* text must parse with this table path (NULL: "off") and drain interval. */
static void
expect_shm(const char *text, const char *path, uint32_t drain_ms)
{
	struct config cfg;

	if (expect_ok(text, &cfg) != 0)
		return;
	if (path == NULL) {
		CU_ASSERT_PTR_NULL(cfg.shm_path);
	} else {
		CU_ASSERT_STRING_EQUAL(cfg.shm_path, path);
	}
	CU_ASSERT_EQUAL(cfg.shm_drain_ms, drain_ms);
	config_free(&cfg);
}

/* socket.shm_path: beside the socket by default, "off", or a path. */
static void
test_shm(void)
{
	expect_shm(MINIMAL, "/run/breakerd/breakerd.sock.shm", 10);
	expect_shm("{\"socket\": {\"path\": \"/tmp/s\", \"shm_drain_ms\": "
	           "250}, \"dependencies\": [{\"name\": \"a\"}]}",
	    "/tmp/s.shm", 250);
	expect_shm("{\"socket\": {\"shm_path\": \"off\"}, "
	           "\"dependencies\": [{\"name\": \"a\"}]}",
	    NULL, 10);
	expect_error("{\"socket\": {\"shm_path\": \"rel/x\"}, "
	             "\"dependencies\": [{\"name\": \"a\"}]}",
	    "1:25", "must be an absolute path");
	expect_error("{\"socket\": {\"shm_path\": \"/tmp/d/\"}, "
	             "\"dependencies\": [{\"name\": \"a\"}]}",
	    "1:25", "must name a file");
	expect_error("{\"socket\": {\"shm_drain_ms\": 0}, "
	             "\"dependencies\": [{\"name\": \"a\"}]}",
	    "1:29", "out of range 1..1000");
	expect_error("{\"socket\": {\"path\": \"/tmp/s\", \"shm_path\": "
	             "\"/tmp/s\"}, \"dependencies\": [{\"name\": \"a\"}]}",
	    "1:1", "must not be the socket's own path");
}

static const struct harness_test tests[] = {
    {"syntax errors (jansson positions)", test_syntax_errors},
    {"comment lines", test_comments}, {"unknown keys", test_unknown_keys},
    {"wrong types", test_wrong_types}, {"out of range", test_ranges},
    {"bad enums", test_enums},
    {"zookeeper hosts, root, credentials", test_zookeeper},
    {"health checks", test_health}, {"names and required keys", test_names},
    {"cross-field checks", test_cross_checks},
    {"minimal config gets the defaults", test_minimal_defaults},
    {"full config", test_full}, {"defaults section", test_defaults_section},
    {"standalone", test_standalone}, {"policy names", test_policy_names},
    {"jsonpos", test_jsonpos}, {"config_load", test_load},
    {"ramp and fleet_window", test_ramp_fleet_window},
    {"shipped configs", test_shipped_configs},
    {"shared-memory table settings", test_shm}, {NULL, NULL}};

int
main(void)
{
	return harness_run("config", tests);
}
