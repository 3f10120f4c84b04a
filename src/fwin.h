/*
 * fwin.h - the fleet window of one dependency, on its leader: the window
 * summaries (calls, failures, slow, and running totals) that instances
 * publish in their instance znodes go in; whether the fleet as a whole
 * should trip, and why, comes out.  Two rules: the fleet's failure (or
 * slow-call) rate over the sum of the live instances' windows, with a
 * fleet-wide minimum of calls; and, with an objective, the error budget's
 * burn rate over a short and a long window (the multiwindow burn-rate
 * alert of Google's SRE workbook), from the totals' increments as the
 * leader received them.  Summaries are untrusted: an absurd one is
 * rejected, counted, and changes nothing.  Pure: no I/O, no clock.
 */
#ifndef BREAKERD_FWIN_H
#define BREAKERD_FWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define FWIN_CALLS_MAX 1000000000ULL       /* calls in one window */
#define FWIN_TOTAL_MAX 9007199254740992ULL /* 2^53: exact in JSON */

/* One instance's summary for one dependency. */
struct fwin_summary {
	uint64_t calls; /* in its local window now */
	uint64_t failures;
	uint64_t slow;
	uint64_t total; /* reported since the instance started */
	uint64_t total_failures;
};

/* What STATUS and METRICS show. */
struct fwin_info {
	size_t instances; /* with a summary */
	uint64_t calls;   /* summed windows */
	uint64_t failures;
	uint64_t slow;
	uint64_t rejected;       /* summaries refused as absurd */
	uint64_t updates;        /* summaries taken */
	uint32_t burn_short_x10; /* last burn rates, x10; 0 without SLO */
	uint32_t burn_long_x10;
};

struct fwin;

/* NULL if s is plausible, else why not. */
const char *fwin_check(const struct fwin_summary *s);

/* The dependency's config must outlive the fwin. */
struct fwin *fwin_new(const struct dep_config *);
void fwin_free(struct fwin *);
/* Its dependency's settings now live at cfg (same values, a reload). */
void fwin_set_config(struct fwin *, const struct dep_config *);
/* Forget every summary and the budget's history (the fleet closed). */
void fwin_reset(struct fwin *);
/* Take one instance's summary at now_ms; -1 if rejected (counted). */
int fwin_update(struct fwin *, const char *instance,
    const struct fwin_summary *, uint64_t now_ms);
/* Count a summary that did not parse (its caller rejected it). */
void fwin_reject(struct fwin *);
/* The instance is gone (its ephemeral node went): drop its summary. */
void fwin_remove(struct fwin *, const char *instance);
/* Should the fleet trip now?  Then reason says why. */
bool fwin_judge(struct fwin *, uint64_t now_ms, char *reason, size_t len);
void fwin_info(const struct fwin *, struct fwin_info *);

#endif
