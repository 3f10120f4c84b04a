/*
 * spread.c - which dependency a loaded leader hands over, and when.
 *
 * Pure: the leader code (leadwrite.c) builds a spread_view from what it
 * holds once a tick and abdicates the election of the dependency picked
 * here.  Leaders' loads are read from the state records this instance
 * holds, a hint (a takeover in flight is not counted), which is enough:
 * a wrong guess costs one handover that the next tick corrects.
 */
#include <string.h>

#include "spread.h"

size_t
spread_fair_share(size_t ndeps, size_t live)
{
	if (live == 0)
		return ndeps;
	return (ndeps + live - 1) / live;
}

size_t
spread_leading(const struct spread_view *v)
{
	size_t i, n = 0;

	for (i = 0; i < v->ndeps; i++)
		if (v->deps[i].leading)
			n++;
	return n;
}

size_t
spread_led_by(const struct spread_view *v, const char *id)
{
	size_t i, n = 0;

	for (i = 0; i < v->ndeps; i++)
		if (v->deps[i].leader != NULL
		    && strcmp(v->deps[i].leader, id) == 0)
			n++;
	return n;
}

/* The fewest dependencies a live instance leads (state records' word). */
static size_t
spread_min_leading(const struct spread_view *v)
{
	size_t i, n, min = SIZE_MAX;

	for (i = 0; i < v->nlive; i++)
		if ((n = spread_led_by(v, v->live[i])) < min)
			min = n;
	return min == SIZE_MAX ? 0 : min;
}

/*
 * A handover never leaves the successor leading more than we do now,
 * except while we are over the hard bound (fair share + 1): then it may
 * go to a successor as loaded as we are, which passes it on a tick
 * later.  That is how a dependency travels down a queue whose front is
 * made of loaded instances (the ones that joined first) to the idle
 * ones behind.  Within the bound only moves that narrow the gap are
 * made, so leadership settles instead of going round.
 */
bool
spread_successor_ok(const struct spread_view *v, const char *successor)
{
	size_t n = spread_led_by(v, successor);
	size_t mine = spread_leading(v);

	if (n + 1 <= mine)
		return true;
	return n <= mine && mine > spread_fair_share(v->ndeps, v->nlive) + 1;
}

/*
 * Above fair share + 1 always; above fair share only while some instance
 * leads fewer than fair share - 1.  Between the two nothing moves, so
 * leadership does not flap back and forth over one dependency.
 */
bool
spread_overloaded(const struct spread_view *v)
{
	size_t mine = spread_leading(v);
	size_t fair = spread_fair_share(v->ndeps, v->nlive);

	if (mine > fair + 1)
		return true;
	return mine > fair && fair >= 1 && spread_min_leading(v) + 1 < fair;
}

/* FNV-1a of the instance id and a dependency's name. */
uint64_t
spread_score(const char *id, const char *dep)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *p;

	for (p = id; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	h = (h ^ 0xff) * 0x100000001b3ULL;
	for (p = dep; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	return h;
}

/* May d be handed over now (settled state, no write of ours in flight)? */
static bool
spread_may_hand_over(const struct spread_dep *d, uint64_t now)
{
	if (!d->leading || d->busy || d->leader == NULL)
		return false;
	if (d->state != BREAKER_CLOSED && d->state != BREAKER_OPEN)
		return false; /* never in the middle of half-open probing */
	return d->tried_ms == 0 || now >= d->tried_ms + SPREAD_RETRY_MS;
}

/*
 * The one whose hash with our id is lowest.  Each instance ranks
 * differently, so they do not all give up (and take back) the same ones.
 */
size_t
spread_pick(const struct spread_view *v, uint64_t now_ms)
{
	uint64_t score, low = UINT64_MAX;
	size_t i, best = v->ndeps;

	for (i = 0; i < v->ndeps; i++) {
		if (!spread_may_hand_over(&v->deps[i], now_ms))
			continue;
		score = spread_score(v->self, v->deps[i].name);
		if (best == v->ndeps || score < low) {
			best = i;
			low = score;
		}
	}
	return best;
}
