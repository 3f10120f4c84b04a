/*
 * test_lograte.c - the log rate limiter (first of a kind printed, repeats
 * counted, one line per interval with the count, kinds independent, the
 * table bounded) and the parsing of ZooKeeper client log lines.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "lograte.h"

#define ZKLINE                                                                 \
	"2026-12-01 10:59:43,719:8415(0x7f32fd0f56c0):ZOO_ERROR@check_events"  \
	"@2985: Socket 127.0.0.1:29992 zk retcode=-4, errno=111(Connection "   \
	"refused): server refused to accept the client"

/* Ports and errnos do not split a kind; words do. */
static void
test_key_folds_digits(void)
{
	char a[LOGRATE_KEY_MAX], b[LOGRATE_KEY_MAX], c[8];

	lograte_key("Socket 127.0.0.1:2181 errno=111", a, sizeof(a));
	lograte_key("Socket 127.0.0.1:2182 errno=104", b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(a, "Socket #.#.#.#:# errno=#");
	CU_ASSERT_STRING_EQUAL(a, b);
	lograte_key("abcdefghijkl", c, sizeof(c));
	CU_ASSERT_STRING_EQUAL(c, "abcdefg");
}

/* First printed, repeats counted, the next after the interval has them. */
static void
test_admit_interval(void)
{
	struct lograte lr;
	uint64_t sup = 99, since = 99;
	int i;

	lograte_init(&lr, 60000);
	CU_ASSERT_TRUE(lograte_admit(&lr, "x 1", 1000, &sup, &since));
	CU_ASSERT_EQUAL(sup, 0);
	CU_ASSERT_EQUAL(since, 0);
	for (i = 0; i < 412; i++)
		CU_ASSERT_FALSE(lograte_admit(
		    &lr, "x 2", 1000 + (uint64_t)i, &sup, &since));
	CU_ASSERT_FALSE(lograte_admit(&lr, "x 3", 60999, &sup, &since));
	CU_ASSERT_TRUE(lograte_admit(&lr, "x 4", 61000, &sup, &since));
	CU_ASSERT_EQUAL(sup, 413);
	CU_ASSERT_EQUAL(since, 60000);
	/* The count starts again. */
	CU_ASSERT_FALSE(lograte_admit(&lr, "x 5", 61001, &sup, &since));
	CU_ASSERT_TRUE(lograte_admit(&lr, "x 6", 200000, &sup, &since));
	CU_ASSERT_EQUAL(sup, 1);
}

/* Different kinds are limited independently. */
static void
test_admit_kinds(void)
{
	struct lograte lr;
	uint64_t sup, since;

	lograte_init(&lr, 60000);
	CU_ASSERT_TRUE(lograte_admit(&lr, "alpha", 0, &sup, &since));
	CU_ASSERT_TRUE(lograte_admit(&lr, "beta", 0, &sup, &since));
	CU_ASSERT_FALSE(lograte_admit(&lr, "alpha", 1, &sup, &since));
	CU_ASSERT_FALSE(lograte_admit(&lr, "beta", 1, &sup, &since));
}

/* More kinds than slots: the table stays bounded, the oldest is reused. */
static void
test_admit_bounded(void)
{
	struct lograte lr;
	uint64_t sup, since;
	char msg[32];
	int i;

	lograte_init(&lr, 60000);
	for (i = 0; i < LOGRATE_SLOTS * 4; i++) {
		snprintf(
		    msg, sizeof(msg), "kind %c%c", 'a' + i % 26, 'a' + i / 26);
		CU_ASSERT_TRUE(
		    lograte_admit(&lr, msg, (uint64_t)i, &sup, &since));
	}
	/* The newest kind is still known; the first was evicted. */
	CU_ASSERT_FALSE(lograte_admit(&lr, msg, 100, &sup, &since));
	CU_ASSERT_TRUE(lograte_admit(&lr, "kind aa", 100, &sup, &since));
}

/* A ZooKeeper client line loses its prefix and yields its cause. */
static void
test_zk_text_and_cause(void)
{
	const char *t;
	char cause[64] = "";
	int level = -1;

	t = lograte_zk_text(ZKLINE, &level);
	CU_ASSERT_EQUAL(level, 0);
	CU_ASSERT_EQUAL(strncmp(t, "Socket 127.0.0.1:29992", 22), 0);
	CU_ASSERT_TRUE(lograte_zk_cause(t, cause, sizeof(cause)));
	CU_ASSERT_STRING_EQUAL(cause, "connection refused");
	t = lograte_zk_text("2026:1(0x1):ZOO_WARN@zookeeper_interest@2561: "
	                    "Delaying connection",
	    &level);
	CU_ASSERT_EQUAL(level, 1);
	CU_ASSERT_STRING_EQUAL(t, "Delaying connection");
	CU_ASSERT_FALSE(lograte_zk_cause(t, cause, sizeof(cause)));
	CU_ASSERT_TRUE(lograte_zk_cause(
	    "Client session timed out, have not heard from server in 1335ms",
	    cause, sizeof(cause)));
	CU_ASSERT_STRING_EQUAL(cause, "timed out");
	/* No prefix, a broken errno: the text as is, no cause. */
	t = lograte_zk_text("plain", &level);
	CU_ASSERT_STRING_EQUAL(t, "plain");
	CU_ASSERT_FALSE(lograte_zk_cause("errno=5(", cause, sizeof(cause)));
	CU_ASSERT_FALSE(lograte_zk_cause("errno=5()", cause, sizeof(cause)));
}

int
main(void)
{
	static const struct harness_test tests[] = {
	    {"key folds digits", test_key_folds_digits},
	    {"admit: interval", test_admit_interval},
	    {"admit: kinds", test_admit_kinds},
	    {"admit: bounded", test_admit_bounded},
	    {"zk text and cause", test_zk_text_and_cause},
	    {NULL, NULL},
	};

	return harness_run("lograte", tests);
}
