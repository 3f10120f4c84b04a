/*
 * bench_breaker.c - how long one breaker_allow() + breaker_record() pair
 * takes in CLOSED, for a COUNT window of 100 and a 60 s TIME window, next
 * to a baseline loop that only generates the same outcomes.  The outcome
 * pattern (about 6% failures, some slow) comes from an LCG so the compiler
 * cannot fold the loop, and stays under the thresholds so the breaker stays
 * CLOSED.  Two checks that the breaker allocates nothing per call:
 * mallinfo2() before and after (the heap did not grow) and, outside
 * sanitizer builds, malloc/calloc/realloc/free replaced by counting
 * wrappers around glibc's own (catches a malloc+free pair per call too).
 * Timing is reported, never judged: the exit status is 1 only if
 * something was allocated or the breaker left CLOSED.
 *
 *   build/bench/bench_breaker [iterations]   (default 20000000)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "breaker.h"
#include "util.h"

static volatile uint64_t bench_sink;
static uint64_t bench_allocs; /* malloc/calloc/realloc calls seen */
static int bench_hook_live;   /* the counting malloc is in use */

#if defined(__SANITIZE_ADDRESS__)
#define BENCH_NO_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BENCH_NO_HOOK 1
#endif
#endif

#ifndef BENCH_NO_HOOK
/*
 * glibc lets a program replace malloc (its manual, "Replacing malloc");
 * these count and hand over to glibc's allocator, so mallinfo2 still works.
 */
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void __libc_free(void *);
void *malloc(size_t);
void *calloc(size_t, size_t);
void *realloc(void *, size_t);
void free(void *);

/* Counting malloc. */
void *
malloc(size_t size)
{
	bench_allocs++;
	return __libc_malloc(size);
}

/* Counting calloc. */
void *
calloc(size_t n, size_t size)
{
	bench_allocs++;
	return __libc_calloc(n, size);
}

/* Counting realloc. */
void *
realloc(void *p, size_t size)
{
	bench_allocs++;
	return __libc_realloc(p, size);
}

/* free, for symmetry (glibc's). */
void
free(void *p)
{
	__libc_free(p);
}
#endif

/* Next outcome and duration of the pattern (one LCG step). */
static enum breaker_outcome
bench_outcome(uint64_t *x, uint32_t *dur)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	*dur = (uint32_t)(*x >> 40) & 1023;
	if ((*x >> 60) == 0)
		return BREAKER_FAIL; /* 1 in 16 */
	if (((*x >> 56) & 0xf) == 1)
		return BREAKER_SLOW; /* 1 in 16 of the rest */
	return BREAKER_OK;
}

/* The loop without the breaker: what generating outcomes costs. */
static double
bench_baseline(uint64_t n)
{
	uint64_t x = 1, acc = 0, t0;
	uint32_t dur;

	t0 = now_mono_ns();
	for (uint64_t i = 0; i < n; i++)
		acc += bench_outcome(&x, &dur) + dur + (i & 1);
	bench_sink = acc;
	return (double)(now_mono_ns() - t0) / (double)n;
}

/* allow + record n times, one simulated ms apart; ns per pair. */
static double
bench_breaker(struct breaker *b, uint64_t n, int *moved)
{
	uint64_t x = 1, acc = 0, t0, now = 1000000;
	uint32_t dur;
	enum breaker_outcome o;

	t0 = now_mono_ns();
	for (uint64_t i = 0; i < n; i++, now++) {
		o = bench_outcome(&x, &dur);
		acc += breaker_allow(b, now, NULL, NULL);
		*moved += breaker_record(b, now, o, dur, NULL);
	}
	bench_sink = acc;
	return (double)(now_mono_ns() - t0) / (double)n;
}

/* Run one window type; returns ns per pair, sets *bad if it went wrong. */
static double
bench_window(enum breaker_window type, uint32_t size, uint64_t n, int *bad)
{
	struct breaker_settings s;
	struct breaker *b;
	struct mallinfo2 before, after;
	uint64_t allocs;
	double ns;
	int moved = 0;

	breaker_settings_default(&s);
	s.window_type = type;
	s.window_size = size;
	s.minimum_calls = 100;
	s.slow_call_ms = 1000; /* durations stay under it */
	allocs = bench_allocs;
	if ((b = breaker_new(&s, 1, 1000000)) == NULL)
		exit(2);
	/* breaker_new allocates: if nothing was counted, the hook is off. */
	bench_hook_live = bench_allocs != allocs;
	before = mallinfo2();
	allocs = bench_allocs;
	ns = bench_breaker(b, n, &moved);
	allocs = bench_allocs - allocs;
	after = mallinfo2();
	if (moved != 0 || breaker_state(b) != BREAKER_CLOSED) {
		fprintf(stderr, "bench_breaker: breaker left CLOSED\n");
		*bad = 1;
	}
	if (after.uordblks != before.uordblks
	    || after.hblkhd != before.hblkhd) {
		fprintf(stderr, "bench_breaker: heap grew %zu -> %zu bytes\n",
		    before.uordblks + before.hblkhd,
		    after.uordblks + after.hblkhd);
		*bad = 1;
	}
	if (allocs != 0) {
		fprintf(stderr, "bench_breaker: %llu allocations in the loop\n",
		    (unsigned long long)allocs);
		*bad = 1;
	}
	breaker_free(b);
	return ns;
}

int
main(int argc, char **argv)
{
	uint64_t n = 20000000;
	double base, count, timed;
	int bad = 0;

	if (argc > 1 && parse_u64(argv[1], 1000, 1000000000, &n) == -1) {
		fprintf(stderr, "usage: bench_breaker [iterations]\n");
		return 2;
	}
	base = bench_baseline(n);
	count = bench_window(BREAKER_WINDOW_COUNT, 100, n, &bad);
	timed = bench_window(BREAKER_WINDOW_TIME, 60, n, &bad);
	printf("breaker: count-window %.1f ns/op, time-window %.1f ns/op, "
	       "baseline %.1f ns/op (target < 50 ns)\n",
	    count, timed, base);
	printf("breaker: %llu iterations each; allocations in the loops: %s "
	       "(%s)\n",
	    (unsigned long long)n, bad ? "SOME" : "0",
	    bench_hook_live ? "counted malloc + mallinfo2" : "mallinfo2 only");
	return bad;
}
