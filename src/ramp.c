/*
 * ramp.c - the recovery ramp's curve and its per-call decision.
 *
 * The share starts at min_pct and reaches 100% after duration_ms: along a
 * straight line, along an exponential (the share multiplies by the same
 * factor every millisecond, so early steps are small in absolute terms,
 * which suits a dependency whose capacity comes back by warming caches),
 * or along explicit steps of equal length.  Shares are integers in parts
 * per million so that the decision needs no floating point per call.
 *
 * The decision for call n is (offset + n * G) mod 2^64 < share * 2^64,
 * G being 2^64 divided by the golden ratio: the Weyl sequence with the
 * lowest discrepancy of its kind, so N consecutive calls admit
 * share * N +/- a few calls whatever N is.  The offset comes from the
 * instance, the dependency and the state version, so two instances
 * (or two ramps of one instance) start at different points.
 */
#include <math.h>
#include <string.h>

#include "ramp.h"

#define RAMP_GOLDEN 0x9e3779b97f4a7c15ULL /* 2^64 / golden ratio */

static const char *const curve_names[] = {"linear", "exponential", "steps"};

/* Check the settings of one ramp; NULL when they are valid. */
const char *
ramp_config_check(const struct ramp_config *c)
{
	if (c->duration_ms == 0)
		return NULL;
	if (c->min_pct < 1 || c->min_pct > 100)
		return "ramp min_pct must be 1..100";
	if (c->curve == RAMP_STEPS) {
		if (c->nsteps == 0 || c->nsteps > RAMP_STEPS_MAX)
			return "ramp steps_pct needs 1..16 steps";
		for (uint32_t i = 0; i < c->nsteps; i++) {
			if (c->steps_pct[i] < 1 || c->steps_pct[i] > 100)
				return "ramp steps_pct values must be 1..100";
			if (i > 0 && c->steps_pct[i] < c->steps_pct[i - 1])
				return "ramp steps_pct must not decrease";
		}
	}
	return NULL;
}

/* Does this config ramp at all? */
bool
ramp_enabled(const struct ramp_config *c)
{
	return c->duration_ms > 0;
}

/* The exponential curve: min * (1/min)^(t/d), in ppm. */
static uint32_t
ramp_exponential(const struct ramp_config *c, uint64_t t)
{
	double lo = c->min_pct / 100.0;
	double s = lo * pow(1.0 / lo, (double)t / (double)c->duration_ms);

	if (s >= 1.0)
		return RAMP_ONE;
	return (uint32_t)(s * RAMP_ONE);
}

/* The share elapsed ms into the ramp, in ppm of calls. */
uint32_t
ramp_share(const struct ramp_config *c, uint64_t t)
{
	uint64_t lo = (uint64_t)c->min_pct * (RAMP_ONE / 100), i;

	if (!ramp_enabled(c) || t >= c->duration_ms)
		return RAMP_ONE;
	switch (c->curve) {
	case RAMP_EXPONENTIAL:
		return ramp_exponential(c, t);
	case RAMP_STEPS:
		if (c->nsteps == 0)
			return RAMP_ONE;
		i = t * c->nsteps / c->duration_ms;
		return c->steps_pct[i] * (RAMP_ONE / 100);
	case RAMP_LINEAR:
	default:
		return (uint32_t)(lo + (RAMP_ONE - lo) * t / c->duration_ms);
	}
}

/* splitmix64's finaliser: spreads close inputs far apart. */
static uint64_t
ramp_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* FNV-1a of a string, folded into h. */
static uint64_t
ramp_hash(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL; /* separator */
}

/* A seed from the instance, the dependency and the state version. */
uint64_t
ramp_seed(const char *instance, const char *dep, uint64_t version)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = ramp_hash(h, instance);
	h = ramp_hash(h, dep);
	return ramp_mix(h ^ ramp_mix(version));
}

/* Start following the curve from now_ms. */
void
ramp_start(
    struct ramp *r, const struct ramp_config *c, uint64_t seed, uint64_t now_ms)
{
	memset(r, 0, sizeof(*r));
	if (!ramp_enabled(c))
		return;
	r->active = true;
	r->start_ms = now_ms;
	r->offset = seed;
}

/* Stop ramping: every call is admitted again. */
void
ramp_stop(struct ramp *r)
{
	r->active = false;
}

/* How far along its course the ramp is at now_ms. */
static uint64_t
ramp_elapsed(const struct ramp *r, uint64_t now_ms)
{
	return r->run_ms + (now_ms > r->start_ms ? now_ms - r->start_ms : 0);
}

/* Keep the fraction of the course run: restart the clock at now_ms with
 * that fraction of the new duration already run. */
void
ramp_reconfigure(struct ramp *r, const struct ramp_config *old,
    const struct ramp_config *c, uint64_t now_ms)
{
	uint64_t t;

	if (!r->active || !ramp_enabled(old) || !ramp_enabled(c))
		return;
	t = ramp_elapsed(r, now_ms);
	if (t >= old->duration_ms)
		return; /* over already; the next tick stops it */
	r->run_ms = t * c->duration_ms / old->duration_ms;
	if (now_ms > r->start_ms)
		r->start_ms = now_ms;
}

/* The current share; 0 when not ramping or once the ramp is over. */
uint32_t
ramp_current(const struct ramp *r, const struct ramp_config *c, uint64_t now_ms)
{
	uint32_t s;

	if (!r->active)
		return 0;
	s = ramp_share(c, ramp_elapsed(r, now_ms));
	return s >= RAMP_ONE ? 0 : s;
}

/* Is the ramp running but over? */
bool
ramp_over(const struct ramp *r, const struct ramp_config *c, uint64_t now_ms)
{
	return r->active && ramp_current(r, c, now_ms) == 0;
}

/* Decide one call along the sequence; not ramping admits it. */
bool
ramp_admit(struct ramp *r, const struct ramp_config *c, uint64_t now_ms)
{
	uint32_t share = ramp_current(r, c, now_ms);
	uint64_t x, threshold;

	if (share == 0)
		return true;
	x = r->offset + r->n * RAMP_GOLDEN;
	r->n++;
	/* floor(2^64 / 10^6) per ppm: a share below 1 is never everything */
	threshold = (uint64_t)share * 18446744073709ULL;
	if (x >= threshold)
		return false;
	r->admitted++;
	return true;
}

/* "linear", "exponential" or "steps". */
const char *
ramp_curve_name(enum ramp_curve c)
{
	if ((unsigned)c < sizeof(curve_names) / sizeof(curve_names[0]))
		return curve_names[c];
	return "?";
}
