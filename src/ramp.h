/*
 * ramp.h - the recovery ramp: after the fleet closes a breaker that was
 * open, each instance admits a growing share of calls along a configured
 * curve instead of all at once, so that a recovering dependency does not
 * get the whole fleet's load in one step.  Pure: no I/O, no clock reads,
 * no allocation; time comes in as monotonic ms.  The per-call decision
 * is deterministic and needs no coordination: call n of an instance is
 * admitted when the n-th point of a golden-ratio (Weyl) sequence, offset
 * by a seed of the instance, the dependency and the state version, falls
 * below the current share.  That sequence has low discrepancy, so over
 * any run of calls the admitted fraction stays within a few calls of the
 * share, and instances with different seeds do not admit in lock-step.
 */
#ifndef BREAKERD_RAMP_H
#define BREAKERD_RAMP_H

#include <stdbool.h>
#include <stdint.h>

#define RAMP_ONE       1000000u /* a share of 100%, in parts per million */
#define RAMP_STEPS_MAX 16

enum ramp_curve { RAMP_LINEAR, RAMP_EXPONENTIAL, RAMP_STEPS };

/* The ramp of one dependency; duration_ms 0 means no ramp. */
struct ramp_config {
	uint32_t duration_ms;
	enum ramp_curve curve;
	uint32_t min_pct; /* share at the start of the ramp, 1..100 */
	uint32_t nsteps;  /* RAMP_STEPS: steps_pct[0..nsteps), equal lengths */
	uint32_t steps_pct[RAMP_STEPS_MAX];
};

/* One dependency's ramp as this instance follows it. */
struct ramp {
	bool active;
	uint64_t start_ms; /* monotonic: when the CLOSED version was applied */
	uint64_t run_ms;   /* course already run at start_ms (after a reload) */
	uint64_t offset;   /* the sequence's seed */
	uint64_t n;        /* calls decided in this ramp */
	uint64_t admitted; /* of those, admitted */
};

/* NULL if the settings are valid, else a static message. */
const char *ramp_config_check(const struct ramp_config *);
/* Does this config ramp at all? */
bool ramp_enabled(const struct ramp_config *);
/* The share (ppm of calls) elapsed_ms into the ramp; RAMP_ONE once over. */
uint32_t ramp_share(const struct ramp_config *, uint64_t elapsed_ms);
/* A seed from the instance, the dependency and the state version. */
uint64_t ramp_seed(const char *instance, const char *dep, uint64_t version);

/* Start a ramp at now_ms (no-op for a config without a ramp). */
void ramp_start(
    struct ramp *, const struct ramp_config *, uint64_t seed, uint64_t now_ms);
void ramp_stop(struct ramp *);
/*
 * New settings for a ramp that may be running (a reload): it goes on from
 * the same fraction of its course along the new curve, so a longer ramp
 * stretches what is left rather than starting again, and the call
 * sequence continues.  A ramp switched off is over (ramp_over says so).
 */
void ramp_reconfigure(struct ramp *, const struct ramp_config *old,
    const struct ramp_config *now_cfg, uint64_t now_ms);
/* The current share, 0 when not ramping (also once the ramp is over). */
uint32_t ramp_current(
    const struct ramp *, const struct ramp_config *, uint64_t now_ms);
/* Is the ramp running but over (the caller stops it and says so)? */
bool ramp_over(
    const struct ramp *, const struct ramp_config *, uint64_t now_ms);
/* Decide one call: true to admit.  Not ramping admits every call. */
bool ramp_admit(struct ramp *, const struct ramp_config *, uint64_t now_ms);
const char *ramp_curve_name(enum ramp_curve);

#endif
