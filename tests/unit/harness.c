/*
 * harness.c - run one CUnit suite and turn its result into an exit status.
 */
#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>

#include "harness.h"

int
harness_run(const char *suite_name, const struct harness_test *tests)
{
	CU_pSuite suite;
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite = CU_add_suite(suite_name, NULL, NULL);
	if (suite == NULL)
		return 2;
	for (const struct harness_test *t = tests; t->name != NULL; t++)
		if (CU_add_test(suite, t->name, t->fn) == NULL)
			return 2;
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	if (CU_get_number_of_tests_run() == 0)
		failed = 1; /* a suite that ran nothing is not a pass */
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}
