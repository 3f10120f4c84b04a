/*
 * harness.h - the little shared by every CUnit test binary: register one
 * suite from a NULL-terminated table and run it with the basic interface,
 * which prints CUnit's own summary.  The exit status is non-zero when any
 * assertion failed, so make and the test runner see failures.
 */
#ifndef BREAKERD_TEST_HARNESS_H
#define BREAKERD_TEST_HARNESS_H

#include <CUnit/CUnit.h>

struct harness_test {
	const char *name;
	void (*fn)(void);
};

/* Run the tests of one suite; returns the process exit status. */
int harness_run(const char *suite, const struct harness_test *tests);

#endif
