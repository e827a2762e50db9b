/* check.h: the smallest test harness that says where it failed. */
#ifndef IVB_CHECK_H
#define IVB_CHECK_H

#include <stdio.h>

static int check_failures;
static int check_passed_tests, check_failed_tests;

/* Record a failed expectation with its place; the test goes on so that one run shows them all. */
#define CHECK(expr)                                                                          \
	do {                                                                                 \
		if (!(expr)) {                                                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
			check_failures++;                                                    \
		}                                                                            \
	} while (0)

/* Run one test function and count it as passed when it recorded no failure. */
#define RUN_TEST(fn)                                                \
	do {                                                        \
		int before = check_failures;                        \
		fn();                                               \
		if (check_failures == before) {                     \
			check_passed_tests++;                       \
			printf("ok   %s\n", #fn);                   \
		} else {                                            \
			check_failed_tests++;                       \
			printf("FAIL %s\n", #fn);                   \
		}                                                   \
	} while (0)

/* The closing line CI reads, and the exit status. */
#define CHECK_SUMMARY(suite)                                                                      \
	(printf("%s: %d passed, %d failed\n", suite, check_passed_tests, check_failed_tests), \
	 check_failed_tests == 0 ? 0 : 1)

#endif /* IVB_CHECK_H */
