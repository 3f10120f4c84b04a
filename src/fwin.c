/*
 * fwin.c - sums the window summaries of a fleet and judges them.
 *
 * Each instance's latest summary is kept by instance id; the failure-rate
 * rule adds up their windows.  For the error budget, the increment of an
 * instance's running totals since its previous summary is added to a
 * ring of time buckets on the leader's monotonic clock, so that a burn
 * rate over any window up to long_window_ms is a sum of buckets.  The
 * first summary of an instance only sets its baseline: when its earlier
 * calls happened is unknown.  A leader that has not yet seen a whole long
 * window judges the part it has seen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwin.h"
#include "util.h"

#define FWIN_BUCKETS 720 /* a long window in at most this many buckets */

struct fwin_inst {
	char id[INSTANCE_ID_MAX + 1];
	struct fwin_summary s;
};

struct fwin_bucket {
	uint64_t index; /* now_ms / bucket_ms of its start */
	uint64_t calls;
	uint64_t failures;
};

struct fwin {
	const struct dep_config *cfg;
	const struct fleet_window_config *w;
	struct fwin_inst *inst;
	size_t ninst, cap;
	uint64_t bucket_ms;
	size_t nbuckets;
	struct fwin_bucket *buckets;
	uint64_t rejected, updates;
	uint32_t burn_short_x10, burn_long_x10;
};

/* NULL if the summary is plausible, else why not. */
const char *
fwin_check(const struct fwin_summary *s)
{
	if (s->calls > FWIN_CALLS_MAX)
		return "more calls in a window than any instance can make";
	if (s->failures > s->calls || s->slow > s->calls)
		return "more failures or slow calls than calls";
	if (s->total > FWIN_TOTAL_MAX || s->total_failures > s->total)
		return "totals out of range";
	if (s->calls > s->total)
		return "a window larger than the total";
	return NULL;
}

/* Allocate the fleet window of one dependency. */
struct fwin *
fwin_new(const struct dep_config *cfg)
{
	struct fwin *f = xcalloc(1, sizeof(*f));

	f->cfg = cfg;
	f->w = &cfg->fleet_window;
	f->bucket_ms = f->w->long_window_ms / FWIN_BUCKETS;
	if (f->bucket_ms < 1000)
		f->bucket_ms = 1000;
	f->nbuckets = f->w->long_window_ms / f->bucket_ms + 2;
	f->buckets = xcalloc(f->nbuckets, sizeof(*f->buckets));
	return f;
}

/* The settings moved (a reload rebuilt the array); values unchanged. */
void
fwin_set_config(struct fwin *f, const struct dep_config *cfg)
{
	f->cfg = cfg;
	f->w = &cfg->fleet_window;
}

void
fwin_free(struct fwin *f)
{
	if (f == NULL)
		return;
	free(f->inst);
	free(f->buckets);
	free(f);
}

/* Forget all summaries and history: the fleet starts again from CLOSED. */
void
fwin_reset(struct fwin *f)
{
	f->ninst = 0;
	memset(f->buckets, 0, f->nbuckets * sizeof(*f->buckets));
	f->burn_short_x10 = f->burn_long_x10 = 0;
}

/* The slot of an instance, or NULL. */
static struct fwin_inst *
fwin_find(struct fwin *f, const char *id)
{
	for (size_t i = 0; i < f->ninst; i++)
		if (strcmp(f->inst[i].id, id) == 0)
			return &f->inst[i];
	return NULL;
}

/* Add an increment of calls and failures to the bucket of now. */
static void
fwin_add(struct fwin *f, uint64_t now_ms, uint64_t calls, uint64_t failures)
{
	uint64_t idx = now_ms / f->bucket_ms;
	struct fwin_bucket *b = &f->buckets[idx % f->nbuckets];

	if (b->index != idx) {
		b->index = idx;
		b->calls = b->failures = 0;
	}
	b->calls += calls;
	b->failures += failures;
}

/* Take one summary; a new instance only sets its baseline. */
int
fwin_update(struct fwin *f, const char *id, const struct fwin_summary *s,
    uint64_t now_ms)
{
	struct fwin_inst *in;

	if (fwin_check(s) != NULL || strlen(id) > INSTANCE_ID_MAX) {
		f->rejected++;
		return -1;
	}
	if ((in = fwin_find(f, id)) != NULL) {
		if (s->total < in->s.total
		    || s->total_failures < in->s.total_failures) {
			f->rejected++; /* totals never go back in one node */
			return -1;
		}
		fwin_add(f, now_ms, s->total - in->s.total,
		    s->total_failures - in->s.total_failures);
	} else {
		if (f->ninst == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 16;
			f->inst =
			    xreallocarray(f->inst, f->cap, sizeof(*f->inst));
		}
		in = &f->inst[f->ninst++];
		strlcpy_b(in->id, id, sizeof(in->id));
	}
	in->s = *s;
	f->updates++;
	return 0;
}

/* A summary that did not even parse: counted with the rejected. */
void
fwin_reject(struct fwin *f)
{
	f->rejected++;
}

/* Drop an instance's summary (its history stays in the buckets). */
void
fwin_remove(struct fwin *f, const char *id)
{
	struct fwin_inst *in = fwin_find(f, id);

	if (in == NULL)
		return;
	*in = f->inst[--f->ninst];
}

/* Calls and failures in the buckets of the last window_ms. */
static void
fwin_sum(const struct fwin *f, uint64_t now_ms, uint64_t window_ms,
    uint64_t *calls, uint64_t *failures)
{
	uint64_t now_idx = now_ms / f->bucket_ms;
	uint64_t n = (window_ms + f->bucket_ms - 1) / f->bucket_ms;

	*calls = *failures = 0;
	for (size_t i = 0; i < f->nbuckets; i++) {
		const struct fwin_bucket *b = &f->buckets[i];

		if (b->index > now_idx || now_idx - b->index >= n)
			continue;
		*calls += b->calls;
		*failures += b->failures;
	}
}

/* A duration as people say it: 1h, 5m, 30s, 1500ms. */
static void
fwin_duration(char *buf, size_t len, uint64_t ms)
{
	if (ms % 3600000 == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
}

/* Burn rate x10 of failures/calls against the budget (10000 - bp). */
static uint32_t
fwin_burn_x10(uint64_t calls, uint64_t failures, uint32_t objective_bp)
{
	double budget = 10000 - objective_bp, x;

	if (calls == 0)
		return 0;
	x = (double)failures * 100000.0 / ((double)calls * budget);
	return x >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)x;
}

/* The SLO rule: both windows burn at least burn_rate_pct / 100. */
static bool
fwin_judge_slo(struct fwin *f, uint64_t now_ms, char *reason, size_t len)
{
	uint64_t sc, sf, lc, lf;
	uint32_t need = f->w->burn_rate_pct / 10, low;
	char sw[32], lw[32];

	fwin_sum(f, now_ms, f->w->short_window_ms, &sc, &sf);
	fwin_sum(f, now_ms, f->w->long_window_ms, &lc, &lf);
	f->burn_short_x10 = fwin_burn_x10(sc, sf, f->w->objective_bp);
	f->burn_long_x10 = fwin_burn_x10(lc, lf, f->w->objective_bp);
	if (sc < f->w->minimum_calls || f->burn_short_x10 < need
	    || f->burn_long_x10 < need)
		return false;
	low = f->burn_short_x10 < f->burn_long_x10 ? f->burn_short_x10
	                                           : f->burn_long_x10;
	fwin_duration(sw, sizeof(sw), f->w->short_window_ms);
	fwin_duration(lw, sizeof(lw), f->w->long_window_ms);
	snprintf(reason, len, "error budget burn %u.%ux over %s and %s",
	    low / 10, low % 10, sw, lw);
	return true;
}

/* Is count at least pct% of the calls?  Then reason says which rate. */
static bool
fwin_rate_trips(const struct fwin_info *fi, uint64_t count, uint32_t pct,
    const char *what, char *reason, size_t len)
{
	if (count * 100 < (uint64_t)pct * fi->calls)
		return false;
	snprintf(reason, len,
	    "fleet %s rate %llu%% over %llu calls from %zu instance%s", what,
	    (unsigned long long)(count * 100 / fi->calls),
	    (unsigned long long)fi->calls, fi->instances,
	    fi->instances == 1 ? "" : "s");
	return true;
}

/* Should the fleet trip?  The rate rule first, then the SLO rule. */
bool
fwin_judge(struct fwin *f, uint64_t now_ms, char *reason, size_t len)
{
	uint32_t pct = f->w->failure_rate_pct != 0
	    ? f->w->failure_rate_pct
	    : f->cfg->breaker.failure_rate_pct;
	struct fwin_info fi;

	fwin_info(f, &fi);
	if (fi.calls >= f->w->minimum_calls && fi.calls > 0
	    && (fwin_rate_trips(&fi, fi.failures, pct, "failure", reason, len)
	        || fwin_rate_trips(&fi, fi.slow, f->cfg->breaker.slow_rate_pct,
	            "slow-call", reason, len)))
		return true;
	if (f->w->objective_bp == 0)
		return false;
	return fwin_judge_slo(f, now_ms, reason, len);
}

/* Sums for STATUS and METRICS; instances counts those with calls. */
void
fwin_info(const struct fwin *f, struct fwin_info *fi)
{
	memset(fi, 0, sizeof(*fi));
	for (size_t i = 0; i < f->ninst; i++) {
		const struct fwin_summary *s = &f->inst[i].s;

		fi->calls += s->calls;
		fi->failures += s->failures;
		fi->slow += s->slow;
		if (s->calls > 0)
			fi->instances++;
	}
	fi->rejected = f->rejected;
	fi->updates = f->updates;
	fi->burn_short_x10 = f->burn_short_x10;
	fi->burn_long_x10 = f->burn_long_x10;
}
