/*
 * reload.h - what re-reading the configuration would change.  A pure
 * comparison of the running configuration with a new, fully validated
 * one: each difference is either applied live or reported as needing a
 * restart.  No I/O; the daemon applies the live part and logs the lines.
 */
#ifndef BREAKERD_RELOAD_H
#define BREAKERD_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define RELOAD_LINES_MAX 64
#define RELOAD_LINE_LEN  160

struct reload_report {
	bool log_level; /* applied live: log_level */
	size_t nrestart;
	size_t nlines;
	/* "applied: ...", "restart needed: ...", or "no change" */
	char lines[RELOAD_LINES_MAX][RELOAD_LINE_LEN];
	/* Dependencies whose health, quorum or probe settings change live:
	 * index in cur, index in next. */
	size_t napply;
	size_t apply_cur[RELOAD_LINES_MAX];
	size_t apply_next[RELOAD_LINES_MAX];
};

/* Compare cur with next; fill r (lines say what and why). */
void reload_diff(const struct config *cur, const struct config *next,
    struct reload_report *r);
/*
 * Apply the live part of r to cur: log_level, and the health, quorum and
 * probe settings of the dependencies listed (swapped with next's, so that
 * freeing next frees the old ones).  The dependencies' state, windows and
 * elections are untouched; readers of cur see the new values at once.
 */
void reload_apply(
    struct config *cur, struct config *next, const struct reload_report *r);

#endif
