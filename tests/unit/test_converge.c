/*
 * test_converge.c - the pure parts of the acknowledgements: the instance
 * record with acks merged in, reading one dependency's ack back (bad data
 * refused), the coalescing rule and the histogram's buckets.
 */
#include <stdlib.h>
#include <string.h>

#include "converge.h"
#include "harness.h"

/* acks and auth are merged into the record; the rest stays. */
static void
test_instance_json(void)
{
	const char *deps[] = {"payments", "ledger-db"};
	const uint64_t vers[] = {7, 0};
	const char *auths[] = {"authoritative", "local"};
	uint64_t v = 0;
	char *s;

	s = conv_instance_json(
	    "{\"host\":\"h\",\"pid\":1}", deps, vers, auths, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"host\":\"h\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"auth\":{"));
	CU_ASSERT_EQUAL(conv_ack_of(s, strlen(s), "payments", &v), 0);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(conv_ack_of(s, strlen(s), "ledger-db", &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(conv_ack_of(s, strlen(s), "other", &v), -1);
	free(s);
	CU_ASSERT_PTR_NULL(conv_instance_json("[1]", deps, vers, auths, 2));
	CU_ASSERT_PTR_NULL(conv_instance_json("{", deps, vers, auths, 2));
}

/* Anything but a non-negative integer ack is no ack. */
static void
test_ack_of_rejects(void)
{
	static const char *const bad[] = {"", "{", "[]", "{\"acks\":3}",
	    "{\"acks\":{\"p\":-1}}", "{\"acks\":{\"p\":\"3\"}}",
	    "{\"acks\":{\"p\":1.5}}", NULL};
	uint64_t v = 99;
	size_t i;

	for (i = 0; bad[i] != NULL; i++)
		CU_ASSERT_EQUAL(
		    conv_ack_of(bad[i], strlen(bad[i]), "p", &v), -1);
	CU_ASSERT_EQUAL(v, 99);
	CU_ASSERT_EQUAL(conv_ack_of(NULL, 0, "p", &v), -1);
}

/* The first write after a quiet second goes at once, then one a second. */
static void
test_write_at(void)
{
	CU_ASSERT_EQUAL(conv_write_at(0, 5000), 5000);
	CU_ASSERT_EQUAL(conv_write_at(5000, 5200), 6000);
	CU_ASSERT_EQUAL(conv_write_at(5000, 6000), 6000);
	CU_ASSERT_EQUAL(conv_write_at(5000, 9000), 9000);
}

/* Cumulative buckets, count and sum. */
static void
test_hist(void)
{
	struct conv_hist h;

	memset(&h, 0, sizeof(h));
	conv_hist_observe(&h, 1);
	conv_hist_observe(&h, 30);
	conv_hist_observe(&h, 60000);
	CU_ASSERT_EQUAL(h.count, 3);
	CU_ASSERT_EQUAL(h.sum_ms, 60031);
	CU_ASSERT_EQUAL(h.bucket[0], 1);                 /* le 1 ms */
	CU_ASSERT_EQUAL(h.bucket[4], 1);                 /* le 25 ms */
	CU_ASSERT_EQUAL(h.bucket[5], 2);                 /* le 50 ms */
	CU_ASSERT_EQUAL(h.bucket[CONV_NBUCKETS - 1], 2); /* le 5 s */
}

int
main(void)
{
	static const struct harness_test tests[] = {
	    {"instance json", test_instance_json},
	    {"ack_of rejects", test_ack_of_rejects},
	    {"write_at", test_write_at},
	    {"histogram", test_hist},
	    {NULL, NULL},
	};

	return harness_run("converge", tests);
}
