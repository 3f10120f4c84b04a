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
#include <stdint.h>

#include "config.h"

struct registry;

/* What changes live in a dependency (reload_report.apply_what). */
#define RELOAD_HEALTH  0x1  /* health, quorum, probe */
#define RELOAD_BREAKER 0x2  /* the local breaker's settings */
#define RELOAD_RAMP    0x4  /* the recovery ramp */
#define RELOAD_FWIN    0x8  /* the fleet window's thresholds */
#define RELOAD_FWIN_ON 0x10 /* with RELOAD_FWIN: switched on or off */

#define RELOAD_LINES_MAX 64
#define RELOAD_LINE_LEN  160

struct reload_report {
	bool log_level; /* applied live: log_level */
	size_t nrestart;
	size_t nlines;
	/* "applied: ...", "restart needed: ...", or "no change" */
	char lines[RELOAD_LINES_MAX][RELOAD_LINE_LEN];
	/* Dependencies whose settings change live: index in cur, index in
	 * next, what changes (RELOAD_*), and the line of its breaker
	 * settings (which reload_carry rewrites with what the window kept). */
	size_t napply;
	size_t apply_cur[RELOAD_LINES_MAX];
	size_t apply_next[RELOAD_LINES_MAX];
	unsigned apply_what[RELOAD_LINES_MAX];
	size_t apply_line[RELOAD_LINES_MAX];
	/* Dependencies added live (index in next) and removed live (index
	 * in cur): reload_deps_rebuild() makes the new array. */
	size_t nadd;
	size_t add_next[RELOAD_LINES_MAX];
	size_t nremove;
	size_t remove_cur[RELOAD_LINES_MAX];
};

/* Compare cur with next; fill r (lines say what and why). */
void reload_diff(const struct config *cur, const struct config *next,
    struct reload_report *r);
/*
 * Apply the live part of r to cur: log_level, and the health, quorum,
 * probe, breaker, ramp and fleet-window settings of the dependencies
 * listed (swapped with next's, so that freeing next frees the old ones,
 * and next holds the old values until then).  The dependencies' state,
 * windows and elections are untouched; readers of cur see the new values
 * at once.
 */
void reload_apply(
    struct config *cur, struct config *next, const struct reload_report *r);
/*
 * After reload_apply: hand the new breaker and ramp settings to the
 * running dependencies of reg (dep_reconfigure), with next holding the
 * old values, and rewrite each breaker line with what its window kept:
 * "applied: dependency p breaker settings (window kept: 37 of 50 calls)".
 */
void reload_carry(struct reload_report *r, const struct config *cur,
    const struct config *next, struct registry *reg, uint64_t now_ms);

/*
 * After reload_apply, when r adds or removes dependencies: build cur's
 * new array (the kept entries in their order, then the added ones, moved
 * out of next so that freeing next leaves them) and return the old one.
 * The old array still holds the removed entries, with their strings: the
 * caller keeps it until nothing points into it (reload_retired_free).
 * Everything that pointed into the old array must be rebound by name.
 */
struct dep_config *reload_deps_rebuild(struct config *cur, struct config *next,
    const struct reload_report *r, size_t *nold);
void reload_retired_free(struct dep_config *, size_t n);

#endif
