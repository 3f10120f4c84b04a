/*
 * test_record.c - the ZooKeeper record codec: round trips, unknown members
 * ignored, wrong types, unknown states, over-long strings, absurd numbers
 * and oversized input rejected with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "record.h"
#include "util.h"

#define NOW_WALL 1764250000000ULL

/* Decode a C string as a state record. */
static int
dec_state(const char *s, struct state_record *r, char *err, size_t errlen)
{
	return record_state_decode(s, strlen(s), r, err, errlen);
}

/* Decode a C string as an override record. */
static int
dec_override(const char *s, struct override_record *o)
{
	char err[128];

	return record_override_decode(s, strlen(s), o, err, sizeof(err));
}

/* s is no override; the error names phrase. */
static void
override_refused(const char *s, const char *phrase)
{
	struct override_record o;
	char err[128] = "";

	CU_ASSERT_EQUAL(
	    record_override_decode(s, strlen(s), &o, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, phrase));
}

/* A full record survives encode + decode. */
static void
test_state_roundtrip(void)
{
	struct state_record in, out;
	char err[128], *s;

	memset(&in, 0, sizeof(in));
	in.state = BREAKER_HALF_OPEN;
	in.term = 7;
	strlcpy_b(in.leader, "inst-a", sizeof(in.leader));
	strlcpy_b(in.reason, "probe \"ok\" \xc3\xa9", sizeof(in.reason));
	in.changed_ms = NOW_WALL;
	in.open_until_ms = NOW_WALL + 5000;
	in.open_wait_ms = 5000;
	in.failed_recoveries = 3;
	s = record_state_encode(&in);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(dec_state(s, &out, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(out.state, BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(out.term, 7);
	CU_ASSERT_STRING_EQUAL(out.leader, "inst-a");
	CU_ASSERT_STRING_EQUAL(out.reason, in.reason);
	CU_ASSERT_EQUAL(out.changed_ms, NOW_WALL);
	CU_ASSERT_EQUAL(out.open_until_ms, NOW_WALL + 5000);
	CU_ASSERT_EQUAL(out.open_wait_ms, 5000);
	CU_ASSERT_EQUAL(out.failed_recoveries, 3);
	free(s);
}

/* Unknown members are ignored; missing optional ones default to zero. */
static void
test_state_unknown_fields(void)
{
	struct state_record r;
	char err[128];

	CU_ASSERT_EQUAL(dec_state("{\"state\":\"OPEN\",\"term\":2,\"x\":[1,{}],"
	                          "\"future\":\"yes\"}",
	                    &r, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(r.state, BREAKER_OPEN);
	CU_ASSERT_EQUAL(r.term, 2);
	CU_ASSERT_STRING_EQUAL(r.leader, "");
	CU_ASSERT_EQUAL(r.open_wait_ms, 0);
}

/* Each bad record is rejected and the message names the problem. */
static void
test_state_bad(void)
{
	static const struct {
		const char *json;
		const char *msg;
	} bad[] = {
	    {"", "empty"},
	    {"not json", "invalid JSON"},
	    {"[1,2]", "not a JSON object"},
	    {"{\"term\":1}", "missing \"state\""},
	    {"{\"state\":\"open\",\"term\":1}", "unknown state"},
	    {"{\"state\":\"WEIRD\",\"term\":1}", "unknown state"},
	    {"{\"state\":7,\"term\":1}", "\"state\" is not a string"},
	    {"{\"state\":\"OPEN\"}", "missing \"term\""},
	    {"{\"state\":\"OPEN\",\"term\":0}", "at least 1"},
	    {"{\"state\":\"OPEN\",\"term\":-3}", "\"term\" out of range"},
	    {"{\"state\":\"OPEN\",\"term\":\"7\"}", "not an integer"},
	    {"{\"state\":\"OPEN\",\"term\":1.5}", "not an integer"},
	    {"{\"state\":\"OPEN\",\"term\":1,\"leader\":5}", "\"leader\""},
	    {"{\"state\":\"OPEN\",\"term\":1,\"open_wait_ms\":4294967296}",
	        "\"open_wait_ms\" out of range"},
	    {"{\"state\":\"OPEN\",\"term\":1,\"failed_recoveries\":99999999}",
	        "\"failed_recoveries\" out of range"},
	    {"{\"state\":\"OPEN\",\"term\":1,\"state\":\"CLOSED\"}",
	        "invalid JSON"},
	    {"{\"state\":\"OPEN\",\"term\":1,\"reason\":\"a\\u0000b\"}",
	        "invalid JSON"},
	};
	struct state_record r;
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(
		    dec_state(bad[i].json, &r, err, sizeof(err)), -1);
		if (strstr(err, bad[i].msg) == NULL)
			fprintf(stderr, "case %zu: %s\n", i, err);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].msg));
	}
}

/* Strings longer than the struct holds and huge records are rejected. */
static void
test_state_too_long(void)
{
	struct state_record r;
	char err[128], *buf;
	size_t n;

	buf = malloc(RECORD_MAX_BYTES + 100);
	n = (size_t)snprintf(buf, RECORD_MAX_BYTES + 100,
	    "{\"state\":\"OPEN\",\"term\":1,\"leader\":\"%0*d\"}",
	    INSTANCE_ID_MAX + 1, 0);
	CU_ASSERT_EQUAL(record_state_decode(buf, n, &r, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"leader\" too long"));
	/* Exactly INSTANCE_ID_MAX characters fit. */
	n = (size_t)snprintf(buf, RECORD_MAX_BYTES + 100,
	    "{\"state\":\"OPEN\",\"term\":1,\"leader\":\"%0*d\"}",
	    INSTANCE_ID_MAX, 0);
	CU_ASSERT_EQUAL(record_state_decode(buf, n, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(strlen(r.leader), INSTANCE_ID_MAX);
	memset(buf, ' ', RECORD_MAX_BYTES + 1);
	buf[0] = '{';
	buf[RECORD_MAX_BYTES] = '}';
	CU_ASSERT_EQUAL(record_state_decode(
	                    buf, RECORD_MAX_BYTES + 1, &r, err, sizeof(err)),
	    -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "too large"));
	free(buf);
}

/*
 * Overrides: OPEN means FORCED_OPEN, a ttl of at most 30 days, other
 * states refused; nothing depends on the reader's clock; a record with
 * until_ms but no ttl_ms (an older version's) is rejected.
 */
static void
test_override(void)
{
	struct override_record o, in;
	const char *j;
	char *s;

	/* An older version's timed override: only a wall clock could judge. */
	override_refused(
	    "{\"state\":\"OPEN\",\"until_ms\":1764250060000,\"by\":\"ops\"}",
	    "without \"ttl_ms\"");
	/* Its untimed override keeps its meaning. */
	j = "{\"state\":\"OPEN\",\"until_ms\":0,\"by\":\"ops\"}";
	CU_ASSERT_EQUAL(dec_override(j, &o), 0);
	CU_ASSERT_EQUAL(o.state, BREAKER_FORCED_OPEN);
	CU_ASSERT_EQUAL(o.ttl_ms, 0);
	CU_ASSERT_STRING_EQUAL(o.by, "ops");
	override_refused("{\"state\":\"HALF_OPEN\"}", "OPEN or CLOSED");
	override_refused(
	    "{\"state\":\"CLOSED\",\"ttl_ms\":2592000001}", "ttl_ms");
	/* A wall-clock expiry years ahead is display only: accepted. */
	j = "{\"state\":\"CLOSED\",\"ttl_ms\":1000,"
	    "\"until_ms\":1921930000000}";
	CU_ASSERT_EQUAL(dec_override(j, &o), 0);
	CU_ASSERT_EQUAL(o.ttl_ms, 1000);
	memset(&in, 0, sizeof(in));
	in.state = BREAKER_FORCED_OPEN;
	in.ttl_ms = 300000;
	in.set_ms = NOW_WALL;
	in.until_ms = NOW_WALL + 300000;
	strlcpy_b(in.reason, "maintenance", sizeof(in.reason));
	s = record_override_encode(&in);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"state\":\"OPEN\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"ttl_ms\":300000"));
	CU_ASSERT_EQUAL(dec_override(s, &o), 0);
	CU_ASSERT_EQUAL(o.state, BREAKER_FORCED_OPEN);
	CU_ASSERT_EQUAL(o.ttl_ms, 300000);
	CU_ASSERT_EQUAL(o.set_ms, NOW_WALL);
	CU_ASSERT_EQUAL(o.until_ms, NOW_WALL + 300000);
	CU_ASSERT_STRING_EQUAL(o.reason, "maintenance");
	free(s);
}

/* Instance and vote records round-trip; a reason that is not UTF-8 is
 * refused by the encoder instead of producing bad JSON. */
static void
test_instance_vote(void)
{
	struct instance_record ii, io;
	struct vote_record vi, vo;
	struct state_record st;
	char err[128], *s;

	memset(&ii, 0, sizeof(ii));
	strlcpy_b(ii.host, "web-1", sizeof(ii.host));
	ii.pid = 4242;
	strlcpy_b(ii.version, "0.1.0", sizeof(ii.version));
	ii.started_ms = NOW_WALL;
	strlcpy_b(ii.socket, "/run/breakerd.sock", sizeof(ii.socket));
	s = record_instance_encode(&ii);
	CU_ASSERT_EQUAL(
	    record_instance_decode(s, strlen(s), &io, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(io.pid, 4242);
	CU_ASSERT_STRING_EQUAL(io.socket, "/run/breakerd.sock");
	free(s);
	vi.failure_rate = 62;
	vi.calls = 100;
	vi.since_ms = NOW_WALL;
	s = record_vote_encode(&vi);
	CU_ASSERT_EQUAL(
	    record_vote_decode(s, strlen(s), &vo, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(vo.failure_rate, 62);
	CU_ASSERT_EQUAL(vo.calls, 100);
	free(s);
	memset(&st, 0, sizeof(st));
	st.term = 1;
	strlcpy_b(st.reason, "bad \xff byte", sizeof(st.reason));
	CU_ASSERT_PTR_NULL(record_state_encode(&st));
}

static const struct harness_test tests[] = {
    {"state round trip", test_state_roundtrip},
    {"state unknown fields", test_state_unknown_fields},
    {"state bad records", test_state_bad},
    {"state too long", test_state_too_long},
    {"override", test_override},
    {"instance and vote", test_instance_vote},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("record", tests);
}
