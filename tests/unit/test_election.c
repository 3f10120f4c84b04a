/*
 * test_election.c - the pure parts of the election: sequence numbers are
 * read after the last '_', candidates sort numerically (not lexically),
 * our node is found by uuid, and uuids are well-formed and distinct.
 */
#include <string.h>

#include "election.h"
#include "harness.h"

/* The suffix after the last '_' is the sequence; junk is refused. */
static void
test_seq(void)
{
	uint64_t s;

	CU_ASSERT_EQUAL(election_seq("_c_ab-cd-n_0000000042", &s), 0);
	CU_ASSERT_EQUAL(s, 42);
	CU_ASSERT_EQUAL(election_seq("_c_x_y-n_0000000007", &s), 0);
	CU_ASSERT_EQUAL(s, 7);
	CU_ASSERT_EQUAL(election_seq("nounderscore", &s), -1);
	CU_ASSERT_EQUAL(election_seq("_c_ab-n_", &s), -1);
	CU_ASSERT_EQUAL(election_seq("_c_ab-n_12x", &s), -1);
}

/* Sorting uses the number: a uuid that sorts first lexically does not
 * win, and 10 comes after 9 even without zero padding. */
static void
test_sort(void)
{
	char a[] = "_c_ffff-n_0000000003";
	char b[] = "_c_0000-n_0000000010";
	char c[] = "_c_8888-n_9";
	char d[] = "garbage";
	char e[] = "_c_1111-n_0000000001";
	char *names[] = {a, b, c, d, e};

	election_sort(names, 5);
	CU_ASSERT_PTR_EQUAL(names[0], e);
	CU_ASSERT_PTR_EQUAL(names[1], a);
	CU_ASSERT_PTR_EQUAL(names[2], c);
	CU_ASSERT_PTR_EQUAL(names[3], b);
	CU_ASSERT_PTR_EQUAL(names[4], d);
}

/* Our node is found by uuid, and its predecessor is the one before it. */
static void
test_find(void)
{
	char a[] = "_c_aaaa-n_0000000005";
	char b[] = "_c_bbbb-n_0000000002";
	char c[] = "_c_cccc-n_0000000009";
	char *names[] = {a, b, c};
	ssize_t i;

	election_sort(names, 3);
	i = election_find(names, 3, "aaaa");
	CU_ASSERT_EQUAL(i, 1);
	CU_ASSERT_PTR_EQUAL(names[i - 1], b);
	CU_ASSERT_EQUAL(election_find(names, 3, "cccc"), 2);
	CU_ASSERT_EQUAL(election_find(names, 3, "dddd"), -1);
	CU_ASSERT_EQUAL(election_find(names, 3, ""), -1);
	/* A uuid that is a prefix of another does not match it. */
	CU_ASSERT_EQUAL(election_find(names, 3, "aaa"), -1);
}

/* uuids are version 4, 36 characters, and differ. */
static void
test_uuid(void)
{
	char u1[ELECTION_UUID_LEN + 1], u2[ELECTION_UUID_LEN + 1];

	election_uuid(u1);
	election_uuid(u2);
	CU_ASSERT_EQUAL(strlen(u1), ELECTION_UUID_LEN);
	CU_ASSERT_EQUAL(u1[8], '-');
	CU_ASSERT_EQUAL(u1[14], '4');
	CU_ASSERT_PTR_NOT_NULL(strchr("89ab", u1[19]));
	CU_ASSERT_STRING_NOT_EQUAL(u1, u2);
}

static const struct harness_test tests[] = {
    {"sequence suffix", test_seq},
    {"sort by sequence", test_sort},
    {"find own and predecessor", test_find},
    {"uuid", test_uuid},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("election", tests);
}
