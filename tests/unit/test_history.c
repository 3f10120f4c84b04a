/*
 * test_history.c - the history codec: round trips, unknown members
 * ignored, wrong types and states rejected, znode names, the operator
 * found in a reason, and how many old entries a write deletes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "history.h"
#include "util.h"

/* Decode a C string. */
static int
dec(const char *s, struct history_entry *e)
{
	char err[160];

	return history_decode(s, strlen(s), e, err, sizeof(err));
}

/* Every member survives encode + decode; seq only when asked. */
static void
test_roundtrip(void)
{
	struct history_entry in, out;
	char *s;

	memset(&in, 0, sizeof(in));
	in.seq = 42;
	in.from = BREAKER_CLOSED;
	in.to = BREAKER_OPEN;
	strlcpy_b(in.kind, "publish", sizeof(in.kind));
	strlcpy_b(in.reason, "published by uid 1000: \"drill\" \xc3\xa9",
	    sizeof(in.reason));
	strlcpy_b(in.by, "uid 1000", sizeof(in.by));
	in.term = 7;
	in.version = 12;
	strlcpy_b(in.leader, "inst-a", sizeof(in.leader));
	in.at_ms = 1764250000000ULL;
	s = history_encode(&in, true);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(dec(s, &out), 0);
	CU_ASSERT_EQUAL(out.seq, 42);
	CU_ASSERT_EQUAL(out.from, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(out.to, BREAKER_OPEN);
	CU_ASSERT_STRING_EQUAL(out.kind, "publish");
	CU_ASSERT_STRING_EQUAL(out.reason, in.reason);
	CU_ASSERT_STRING_EQUAL(out.by, "uid 1000");
	CU_ASSERT_EQUAL(out.term, 7);
	CU_ASSERT_EQUAL(out.version, 12);
	CU_ASSERT_STRING_EQUAL(out.leader, "inst-a");
	CU_ASSERT_EQUAL(out.at_ms, 1764250000000ULL);
	free(s);
	/* Without seq (the znode's data: the number is in its name). */
	s = history_encode(&in, false);
	CU_ASSERT_PTR_NULL(strstr(s, "\"seq\""));
	CU_ASSERT_EQUAL(dec(s, &out), 0);
	CU_ASSERT_EQUAL(out.seq, -1);
	free(s);
	/* A reason that is not UTF-8 cannot be encoded. */
	strlcpy_b(in.reason, "\xff\xfe", sizeof(in.reason));
	CU_ASSERT_PTR_NULL(history_encode(&in, false));
}

/* Unknown members are ignored, missing optional ones default. */
static void
test_lenient_where_safe(void)
{
	struct history_entry e;

	CU_ASSERT_EQUAL(
	    dec("{\"from\":\"OPEN\",\"to\":\"HALF_OPEN\",\"x\":[1,{}]}", &e),
	    0);
	CU_ASSERT_EQUAL(e.to, BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(e.version, -1);
	CU_ASSERT_EQUAL(e.term, 0);
	CU_ASSERT_STRING_EQUAL(e.by, "");
}

/* Wrong types, unknown states, long strings, bad JSON: rejected. */
static void
test_rejects(void)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{",
	    "{\"to\":\"OPEN\"}",
	    "{\"from\":\"OPEN\",\"to\":\"AJAR\"}",
	    "{\"from\":\"OPEN\",\"to\":\"OPEN\",\"term\":-1}",
	    "{\"from\":\"OPEN\",\"to\":\"OPEN\",\"term\":\"1\"}",
	    "{\"from\":\"OPEN\",\"to\":\"OPEN\",\"version\":-2}",
	    "{\"from\":\"OPEN\",\"to\":\"OPEN\",\"by\":7}",
	    "{\"from\":\"OPEN\",\"to\":\"OPEN\",\"kind\":"
	    "\"0123456789012345678901234567\"}",
	    "{\"from\":\"OPEN\",\"to\":\"OPEN\",\"leader\":\"a\\u0000b\"}",
	    "{\"from\":\"OPEN\",\"from\":\"OPEN\",\"to\":\"OPEN\"}",
	    NULL,
	};
	struct history_entry e;
	char err[160], big[5000];
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(history_decode(bad[i], strlen(bad[i]), &e, err,
		                    sizeof(err)),
		    -1);
		CU_ASSERT(err[0] != '\0');
	}
	memset(big, ' ', sizeof(big));
	CU_ASSERT_EQUAL(
	    history_decode(big, sizeof(big), &e, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(history_decode(NULL, 0, &e, err, sizeof(err)), -1);
}

/* Only "h-" and ZooKeeper's ten digits name an entry. */
static void
test_seq(void)
{
	CU_ASSERT_EQUAL(history_seq("h-0000000042"), 42);
	CU_ASSERT_EQUAL(history_seq("h-0000000000"), 0);
	CU_ASSERT_EQUAL(history_seq("h-2147483647"), 2147483647);
	CU_ASSERT_EQUAL(history_seq("h-42"), -1);
	CU_ASSERT_EQUAL(history_seq("x-0000000042"), -1);
	CU_ASSERT_EQUAL(history_seq("h-00000000x2"), -1);
	CU_ASSERT_EQUAL(history_seq("h-9999999999"), -1);
	CU_ASSERT_EQUAL(history_seq(""), -1);
}

/* The operator in our own reasons; nothing in others. */
static void
test_who(void)
{
	char who[64];

	history_who("published by uid 1000: drill", who, sizeof(who));
	CU_ASSERT_STRING_EQUAL(who, "uid 1000");
	history_who("forced open by uid 0", who, sizeof(who));
	CU_ASSERT_STRING_EQUAL(who, "uid 0");
	history_who("health checks failed 3 times", who, sizeof(who));
	CU_ASSERT_STRING_EQUAL(who, "");
	history_who("by uid x", who, sizeof(who));
	CU_ASSERT_STRING_EQUAL(who, "");
	history_who("by uid 12345", who, 6);
	CU_ASSERT_STRING_EQUAL(who, "");
}

/* Deletes keep the count at the bound, at most HISTORY_DEL_MAX a write. */
static void
test_excess(void)
{
	CU_ASSERT_EQUAL(history_excess(0, 100), 0);
	CU_ASSERT_EQUAL(history_excess(99, 100), 0);
	CU_ASSERT_EQUAL(history_excess(100, 100), 1);
	CU_ASSERT_EQUAL(history_excess(101, 100), 2);
	CU_ASSERT_EQUAL(history_excess(500, 100), HISTORY_DEL_MAX);
	CU_ASSERT_EQUAL(history_excess(1, 1), 1);
	CU_ASSERT_EQUAL(history_excess(0, 0), 0);
}

int
main(void)
{
	static const struct harness_test tests[] = {
	    {"round trip", test_roundtrip},
	    {"lenient where safe", test_lenient_where_safe},
	    {"rejects", test_rejects},
	    {"seq", test_seq},
	    {"who", test_who},
	    {"excess", test_excess},
	    {NULL, NULL},
	};

	return harness_run("history", tests);
}
