/*
 * util.h - small helpers shared by every module: allocators that never
 * return NULL (out of memory is fatal, so call sites stay simple), clocks,
 * and bounded string helpers.
 */
#ifndef BREAKERD_UTIL_H
#define BREAKERD_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
/* Free n strings and the array that holds them (NULL: nothing). */
void strv_free(char **, size_t n);
char *xstrndup(const char *, size_t);
int xasprintf(char **, const char *, ...) __attribute__((format(printf, 2, 3)));

/* Copy src into dst of size dstsize, always terminated; returns strlen(src). */
size_t strlcpy_b(char *dst, const char *src, size_t dstsize);

/* Monotonic milliseconds (CLOCK_MONOTONIC): for every deadline and timer. */
uint64_t now_mono_ms(void);
/* Monotonic nanoseconds: for the benchmarks' timings. */
uint64_t now_mono_ns(void);
/* Wall-clock milliseconds since the epoch: for display and override TTLs only. */
uint64_t now_wall_ms(void);

/*
 * Parse a base-10 unsigned integer in [min, max]; the whole string must be
 * consumed.  Returns 0, or -1 on any error (no partial results).
 */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * splitmix64: advance *state and return the next pseudo-random value.
 * Small and seedable: for the jitter of retries and checks, never secrets.
 */
uint64_t splitmix64(uint64_t *state);

#endif
