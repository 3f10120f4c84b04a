/*
 * breaker.c - the local circuit breaker, a pure state machine modelled on
 * Resilience4j's CircuitBreaker.  It reads no clock and does no I/O: every
 * call gets a monotonic now_ms.  The sliding window (a ring of outcomes for
 * a COUNT window, one bucket per second for a TIME window) is allocated once
 * in breaker_new(); recording an outcome is O(1) amortised, and a clock that
 * jumps forward costs at most one pass over the window.  Transitions fill a
 * struct breaker_event with a human reason written into a fixed buffer, so
 * the hot path never allocates.  A reload hands a running breaker new
 * settings (breaker_reconfigure), which may build a window of a new size
 * and carries over what it can.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "log.h"
#include "util.h"

/* Bounds that keep one breaker's window small (1000 deps must fit). */
#define BREAKER_COUNT_MAX   100000 /* outcomes in a COUNT window */
#define BREAKER_TIME_MAX    3600   /* seconds in a TIME window */
#define BREAKER_BACKOFF_MAX 1000   /* x10 per failed recovery at most */

/* Outcome bits stored in a COUNT window slot. */
#define BREAKER_F_FAIL 0x1
#define BREAKER_F_SLOW 0x2

#define BREAKER_BIT(s) (1u << (s))
#define BREAKER_ALL    (BREAKER_BIT(BREAKER_NSTATES) - 1)

/* One second of a TIME window. */
struct breaker_bucket {
	uint32_t calls;
	uint32_t failures;
	uint32_t slow;
};

struct breaker {
	struct breaker_settings s;
	enum breaker_state state;
	uint32_t min_calls; /* minimum_calls, capped by a COUNT window */

	/* The sliding window and its running totals. */
	uint8_t *ring;                  /* COUNT: one slot per outcome */
	struct breaker_bucket *buckets; /* TIME: one bucket per second */
	uint32_t head;                  /* COUNT: next slot; TIME: newest */
	uint32_t filled;                /* COUNT: slots in use */
	uint64_t head_sec;              /* TIME: second of buckets[head] */
	uint32_t calls;
	uint32_t failures;
	uint32_t slow;
	uint32_t consecutive;

	/* OPEN: deadline, the wait in force and the backoff behind it. */
	uint64_t open_until;
	uint64_t open_wait;
	uint64_t backoff_wait; /* before jitter */
	uint32_t backoff_step; /* failed recoveries in a row */

	/* HALF_OPEN: permits left and the trial calls' results.  The calls
	 * needed and the time limit are fixed on entry, so that a reload
	 * cannot strand permits already handed out. */
	uint64_t half_open_since;
	uint32_t ho_need;
	uint32_t ho_max_ms;
	uint32_t permits;
	uint32_t ho_calls;
	uint32_t ho_failures;
	uint32_t ho_slow;

	uint64_t rng; /* splitmix64 state for the jitter */
};

/*
 * Resilience4j's StateTransition table: which moves are legal.  Staying in
 * a state is legal everywhere; CLOSED cannot jump to HALF_OPEN and
 * METRICS_ONLY only goes to CLOSED, FORCED_OPEN and DISABLED.
 */
static const unsigned breaker_allowed[BREAKER_NSTATES] = {
    [BREAKER_CLOSED] = BREAKER_ALL & ~BREAKER_BIT(BREAKER_HALF_OPEN),
    [BREAKER_OPEN] = BREAKER_ALL,
    [BREAKER_HALF_OPEN] = BREAKER_ALL,
    [BREAKER_FORCED_OPEN] = BREAKER_ALL,
    [BREAKER_DISABLED] = BREAKER_ALL,
    [BREAKER_METRICS_ONLY] = BREAKER_BIT(BREAKER_METRICS_ONLY)
        | BREAKER_BIT(BREAKER_CLOSED) | BREAKER_BIT(BREAKER_FORCED_OPEN)
        | BREAKER_BIT(BREAKER_DISABLED),
};

static const char *const breaker_state_names[BREAKER_NSTATES] = {
    [BREAKER_CLOSED] = "CLOSED",
    [BREAKER_OPEN] = "OPEN",
    [BREAKER_HALF_OPEN] = "HALF_OPEN",
    [BREAKER_FORCED_OPEN] = "FORCED_OPEN",
    [BREAKER_DISABLED] = "DISABLED",
    [BREAKER_METRICS_ONLY] = "METRICS_ONLY",
};

static const char *const breaker_outcome_names[BREAKER_NOUTCOMES] = {
    [BREAKER_OK] = "ok",
    [BREAKER_FAIL] = "fail",
    [BREAKER_SLOW] = "slow",
};

static void breaker_enter(struct breaker *, enum breaker_state, uint64_t);

/* Resilience4j's defaults, plus ours for what it does not have. */
void
breaker_settings_default(struct breaker_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->window_type = BREAKER_WINDOW_COUNT;
	s->window_size = 100;
	s->minimum_calls = 100;
	s->failure_rate_pct = 50;
	s->slow_rate_pct = 100;
	s->slow_call_ms = 60000;
	s->consecutive_failures = 0;
	s->open_wait_ms = 60000;
	s->backoff_multiplier_pct = 100;
	s->open_wait_max_ms = 600000;
	s->jitter_pct = 0;
	s->half_open_calls = 10;
	s->half_open_max_ms = 0;
}

/* Check the window part of the settings. */
static const char *
breaker_check_window(const struct breaker_settings *s)
{
	if (s->window_type != BREAKER_WINDOW_COUNT
	    && s->window_type != BREAKER_WINDOW_TIME)
		return "window type must be COUNT or TIME";
	if (s->window_size == 0)
		return "window size must be at least 1";
	if (s->window_type == BREAKER_WINDOW_COUNT
	    && s->window_size > BREAKER_COUNT_MAX)
		return "count window size must be at most 100000 calls";
	if (s->window_type == BREAKER_WINDOW_TIME
	    && s->window_size > BREAKER_TIME_MAX)
		return "time window size must be at most 3600 seconds";
	if (s->minimum_calls == 0)
		return "minimum calls must be at least 1";
	return NULL;
}

/* Check the thresholds and the OPEN/HALF_OPEN timing. */
static const char *
breaker_check_limits(const struct breaker_settings *s)
{
	if (s->failure_rate_pct < 1 || s->failure_rate_pct > 100)
		return "failure rate threshold must be 1..100 percent";
	if (s->slow_rate_pct < 1 || s->slow_rate_pct > 100)
		return "slow-call rate threshold must be 1..100 percent";
	if (s->slow_call_ms == 0)
		return "slow call duration must be at least 1 ms";
	if (s->open_wait_ms == 0)
		return "open wait must be at least 1 ms";
	if (s->backoff_multiplier_pct < 100
	    || s->backoff_multiplier_pct > BREAKER_BACKOFF_MAX)
		return "backoff multiplier must be 100..1000 percent";
	if (s->open_wait_max_ms < s->open_wait_ms)
		return "maximum open wait must not be below the open wait";
	if (s->jitter_pct > 100)
		return "jitter must be 0..100 percent";
	if (s->half_open_calls == 0)
		return "half-open calls must be at least 1";
	return NULL;
}

/* NULL if the settings are usable, else a static message saying why not. */
const char *
breaker_settings_check(const struct breaker_settings *s)
{
	const char *msg;

	if ((msg = breaker_check_window(s)) != NULL)
		return msg;
	return breaker_check_limits(s);
}

/*
 * Empty the window; a TIME window restarts at now_ms's second.  The run of
 * failures is not part of the window: callers clear it when they mean to.
 */
static void
breaker_window_clear(struct breaker *b, uint64_t now_ms)
{
	b->calls = b->failures = b->slow = 0;
	b->filled = 0;
	b->head = 0;
	if (b->buckets != NULL) {
		memset(b->buckets, 0, b->s.window_size * sizeof(*b->buckets));
		b->head_sec = now_ms / 1000;
		b->head = (uint32_t)(b->head_sec % b->s.window_size);
	}
}

/*
 * Move a TIME window's head to second sec, dropping the buckets that fall
 * out.  A jump of a whole window or more clears everything at once, so the
 * cost is bounded by the window size, never by the time that passed.
 */
static void
breaker_window_advance(struct breaker *b, uint64_t sec)
{
	struct breaker_bucket *bk;
	uint64_t gap = sec - b->head_sec;

	if (gap >= b->s.window_size) {
		breaker_window_clear(b, sec * 1000);
		return;
	}
	while (gap-- > 0) {
		if (++b->head == b->s.window_size)
			b->head = 0;
		bk = &b->buckets[b->head];
		b->calls -= bk->calls;
		b->failures -= bk->failures;
		b->slow -= bk->slow;
		memset(bk, 0, sizeof(*bk));
	}
	b->head_sec = sec;
}

/* Add one outcome to a TIME window. */
static void
breaker_time_add(struct breaker *b, uint64_t now_ms, unsigned flags)
{
	struct breaker_bucket *bk;
	uint64_t sec = now_ms / 1000;

	/* A clock that went back (it should not) counts in the newest second. */
	if (sec > b->head_sec)
		breaker_window_advance(b, sec);
	bk = &b->buckets[b->head];
	bk->calls++;
	bk->failures += flags & BREAKER_F_FAIL;
	bk->slow += (flags & BREAKER_F_SLOW) >> 1;
}

/* Add one outcome to a COUNT window, pushing out the oldest when full. */
static void
breaker_count_add(struct breaker *b, unsigned flags)
{
	unsigned old;

	if (b->filled == b->s.window_size) {
		old = b->ring[b->head];
		b->calls--;
		b->failures -= old & BREAKER_F_FAIL;
		b->slow -= (old & BREAKER_F_SLOW) >> 1;
	} else
		b->filled++;
	b->ring[b->head] = (uint8_t)flags;
	if (++b->head == b->s.window_size)
		b->head = 0;
}

/* Count one outcome in the window and in the run of failures. */
static void
breaker_window_add(struct breaker *b, uint64_t now_ms, unsigned flags)
{
	if (b->ring != NULL)
		breaker_count_add(b, flags);
	else
		breaker_time_add(b, now_ms, flags);
	b->calls++;
	b->failures += flags & BREAKER_F_FAIL;
	b->slow += (flags & BREAKER_F_SLOW) >> 1;
	if (flags & BREAKER_F_FAIL)
		b->consecutive++;
	else
		b->consecutive = 0;
}

/* The window's totals as of now_ms, without changing the window. */
static void
breaker_window_totals(
    const struct breaker *b, uint64_t now_ms, struct breaker_stats *st)
{
	const struct breaker_bucket *bk;
	uint64_t gap = 0;
	uint32_t i = b->head;

	st->calls = b->calls;
	st->failures = b->failures;
	st->slow = b->slow;
	if (b->buckets != NULL && now_ms / 1000 > b->head_sec)
		gap = now_ms / 1000 - b->head_sec;
	if (gap >= b->s.window_size) {
		st->calls = st->failures = st->slow = 0;
		return;
	}
	while (gap-- > 0) {
		if (++i == b->s.window_size)
			i = 0;
		bk = &b->buckets[i];
		st->calls -= bk->calls;
		st->failures -= bk->failures;
		st->slow -= bk->slow;
	}
}

/* part/whole as a whole percentage, rounded down. */
static int32_t
breaker_pct(uint32_t part, uint32_t whole)
{
	return (int32_t)((uint64_t)part * 100 / whole);
}

/* Is part/whole at or above pct percent?  Exact, no rounding. */
static bool
breaker_over(uint32_t part, uint32_t whole, uint32_t pct)
{
	return (uint64_t)part * 100 >= (uint64_t)pct * whole;
}

/*
 * Change state: fill the event (reason from fmt) and enter the new state.
 * Returns 1 so callers can return its result as "a transition happened".
 */
static int __attribute__((format(printf, 5, 6)))
breaker_move(struct breaker *b, enum breaker_state to, uint64_t now_ms,
    struct breaker_event *ev, const char *fmt, ...)
{
	va_list ap;

	if (ev != NULL) {
		ev->from = b->state;
		ev->to = to;
		va_start(ap, fmt);
		vsnprintf(ev->reason, sizeof(ev->reason), fmt, ap);
		va_end(ap);
	}
	breaker_enter(b, to, now_ms);
	return 1;
}

/* Spread wait by +/- jitter_pct percent so a fleet does not retry at once. */
static uint64_t
breaker_jitter(struct breaker *b, uint64_t wait)
{
	uint64_t delta = wait * b->s.jitter_pct / 100;

	if (delta == 0)
		return wait;
	return wait - delta + splitmix64(&b->rng) % (2 * delta + 1);
}

/*
 * Start an OPEN wait.  Each failed recovery (HALF_OPEN -> OPEN) multiplies
 * the wait, up to the cap; jitter comes last so it spreads the capped wait.
 */
static void
breaker_open_start(struct breaker *b, enum breaker_state from, uint64_t now_ms)
{
	uint64_t w;

	if (from == BREAKER_HALF_OPEN) {
		w = (b->backoff_wait * b->s.backoff_multiplier_pct + 50) / 100;
		if (w > b->s.open_wait_max_ms)
			w = b->s.open_wait_max_ms;
		b->backoff_wait = w;
		b->backoff_step++;
	}
	b->open_wait = breaker_jitter(b, b->backoff_wait);
	b->open_until = now_ms + b->open_wait;
}

/* Forget the backoff: the next OPEN waits open_wait_ms again. */
static void
breaker_backoff_reset(struct breaker *b)
{
	b->backoff_wait = b->s.open_wait_ms;
	b->backoff_step = 0;
}

/* Set up the state just entered. */
static void
breaker_enter(struct breaker *b, enum breaker_state to, uint64_t now_ms)
{
	enum breaker_state from = b->state;

	b->state = to;
	b->open_until = 0;
	switch (to) {
	case BREAKER_CLOSED:
		breaker_window_clear(b, now_ms);
		b->consecutive = 0;
		breaker_backoff_reset(b);
		break;
	case BREAKER_OPEN:
		/* The window stays, so STATUS can show why it tripped. */
		breaker_open_start(b, from, now_ms);
		break;
	case BREAKER_HALF_OPEN:
		b->half_open_since = now_ms;
		b->ho_need = b->s.half_open_calls;
		b->ho_max_ms = b->s.half_open_max_ms;
		b->permits = b->s.half_open_calls;
		b->ho_calls = b->ho_failures = b->ho_slow = 0;
		break;
	default:
		/* FORCED_OPEN, DISABLED, METRICS_ONLY start from nothing. */
		breaker_window_clear(b, now_ms);
		b->consecutive = 0;
		break;
	}
}

/* Allocate a breaker in CLOSED with an empty window; NULL on bad settings. */
struct breaker *
breaker_new(const struct breaker_settings *s, uint64_t seed, uint64_t now_ms)
{
	struct breaker *b;
	const char *msg;

	if ((msg = breaker_settings_check(s)) != NULL) {
		log_warnx("breaker_new: %s", msg);
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	b->s = *s;
	b->rng = seed;
	b->min_calls = s->minimum_calls;
	if (s->window_type == BREAKER_WINDOW_COUNT) {
		b->ring = xcalloc(s->window_size, sizeof(*b->ring));
		if (b->min_calls > s->window_size)
			b->min_calls = s->window_size; /* as Resilience4j */
	} else
		b->buckets = xcalloc(s->window_size, sizeof(*b->buckets));
	b->state = BREAKER_CLOSED;
	breaker_window_clear(b, now_ms);
	breaker_backoff_reset(b);
	return b;
}

/* Free a breaker and its window. */
void
breaker_free(struct breaker *b)
{
	if (b == NULL)
		return;
	free(b->ring);
	free(b->buckets);
	free(b);
}

/* The current state. */
enum breaker_state
breaker_state(const struct breaker *b)
{
	return b->state;
}

/* When OPEN ends (0 when not OPEN). */
uint64_t
breaker_open_until(const struct breaker *b)
{
	return b->state == BREAKER_OPEN ? b->open_until : 0;
}

/* OPEN -> HALF_OPEN once the wait is over; 1 if it moved. */
static int
breaker_open_check(struct breaker *b, uint64_t now_ms, struct breaker_event *ev)
{
	if (now_ms < b->open_until)
		return 0;
	return breaker_move(b, BREAKER_HALF_OPEN, now_ms, ev,
	    "open wait %llu ms over", (unsigned long long)b->open_wait);
}

/* HALF_OPEN -> OPEN when it has lasted half_open_max_ms; 1 if it moved. */
static int
breaker_half_open_check(
    struct breaker *b, uint64_t now_ms, struct breaker_event *ev)
{
	uint64_t held;

	if (b->ho_max_ms == 0 || now_ms < b->half_open_since)
		return 0;
	held = now_ms - b->half_open_since;
	if (held < b->ho_max_ms)
		return 0;
	return breaker_move(b, BREAKER_OPEN, now_ms, ev,
	    "half-open for %llu ms (max %u ms)", (unsigned long long)held,
	    b->ho_max_ms);
}

/* Hand out one of the half-open trial permits, if any is left. */
static bool
breaker_take_permit(struct breaker *b)
{
	if (b->permits == 0)
		return false;
	b->permits--;
	return true;
}

/* May a call go ahead now?  May move OPEN <-> HALF_OPEN on the way. */
bool
breaker_allow(
    struct breaker *b, uint64_t now_ms, struct breaker_event *ev, bool *changed)
{
	bool moved = false, ok;

	switch (b->state) {
	case BREAKER_CLOSED:
	case BREAKER_DISABLED:
	case BREAKER_METRICS_ONLY:
		ok = true;
		break;
	case BREAKER_OPEN:
		moved = breaker_open_check(b, now_ms, ev);
		ok = moved && breaker_take_permit(b);
		break;
	case BREAKER_HALF_OPEN:
		moved = breaker_half_open_check(b, now_ms, ev);
		ok = !moved && breaker_take_permit(b);
		break;
	default:
		ok = false;
		break;
	}
	if (changed != NULL)
		*changed = moved;
	return ok;
}

/* Hand every half-open permit left to the caller (the shared table's
 * pool, where other processes claim them atomically). */
uint32_t
breaker_take_permits(struct breaker *b)
{
	uint32_t n = b->state == BREAKER_HALF_OPEN ? b->permits : 0;

	b->permits -= n;
	return n;
}

/* CLOSED: trip on a rate at or over its threshold, or a run of failures. */
static int
breaker_trip_check(struct breaker *b, uint64_t now_ms, struct breaker_event *ev)
{
	const struct breaker_settings *s = &b->s;

	if (b->calls >= b->min_calls) {
		if (breaker_over(b->failures, b->calls, s->failure_rate_pct))
			return breaker_move(b, BREAKER_OPEN, now_ms, ev,
			    "failure rate %d%% >= %u%% (%u/%u calls)",
			    breaker_pct(b->failures, b->calls),
			    s->failure_rate_pct, b->failures, b->calls);
		if (breaker_over(b->slow, b->calls, s->slow_rate_pct))
			return breaker_move(b, BREAKER_OPEN, now_ms, ev,
			    "slow-call rate %d%% >= %u%% (%u/%u calls)",
			    breaker_pct(b->slow, b->calls), s->slow_rate_pct,
			    b->slow, b->calls);
	}
	if (s->consecutive_failures != 0
	    && b->consecutive >= s->consecutive_failures)
		return breaker_move(b, BREAKER_OPEN, now_ms, ev,
		    "%u consecutive failures", b->consecutive);
	return 0;
}

/* HALF_OPEN: count a trial result; decide once all of them are in. */
static int
breaker_half_open_record(struct breaker *b, uint64_t now_ms, unsigned flags,
    struct breaker_event *ev)
{
	const struct breaker_settings *s = &b->s;
	uint32_t n;

	n = ++b->ho_calls;
	b->ho_failures += flags & BREAKER_F_FAIL;
	b->ho_slow += (flags & BREAKER_F_SLOW) >> 1;
	if (n < b->ho_need)
		return 0;
	if (breaker_over(b->ho_failures, n, s->failure_rate_pct))
		return breaker_move(b, BREAKER_OPEN, now_ms, ev,
		    "half-open: failure rate %d%% >= %u%% (%u/%u calls)",
		    breaker_pct(b->ho_failures, n), s->failure_rate_pct,
		    b->ho_failures, n);
	if (breaker_over(b->ho_slow, n, s->slow_rate_pct))
		return breaker_move(b, BREAKER_OPEN, now_ms, ev,
		    "half-open: slow-call rate %d%% >= %u%% (%u/%u calls)",
		    breaker_pct(b->ho_slow, n), s->slow_rate_pct, b->ho_slow,
		    n);
	return breaker_move(b, BREAKER_CLOSED, now_ms, ev,
	    "half-open: %u/%u ok", n - b->ho_failures, n);
}

/*
 * Record one call's result.  OPEN and FORCED_OPEN drop it (the call was
 * let through before the breaker opened; it says nothing new), DISABLED
 * does not record at all, METRICS_ONLY records but never trips.
 */
int
breaker_record(struct breaker *b, uint64_t now_ms, enum breaker_outcome o,
    uint32_t duration_ms, struct breaker_event *ev)
{
	unsigned flags = 0;

	if ((unsigned)o >= BREAKER_NOUTCOMES)
		return 0;
	if (o == BREAKER_FAIL)
		flags |= BREAKER_F_FAIL;
	if (o == BREAKER_SLOW || duration_ms >= b->s.slow_call_ms)
		flags |= BREAKER_F_SLOW;
	switch (b->state) {
	case BREAKER_CLOSED:
		breaker_window_add(b, now_ms, flags);
		return breaker_trip_check(b, now_ms, ev);
	case BREAKER_METRICS_ONLY:
		breaker_window_add(b, now_ms, flags);
		return 0;
	case BREAKER_HALF_OPEN:
		return breaker_half_open_record(b, now_ms, flags, ev);
	default:
		return 0;
	}
}

/* Timer-driven transitions: the open wait ending, half-open lasting too long. */
int
breaker_tick(struct breaker *b, uint64_t now_ms, struct breaker_event *ev)
{
	if (b->state == BREAKER_OPEN)
		return breaker_open_check(b, now_ms, ev);
	if (b->state == BREAKER_HALF_OPEN)
		return breaker_half_open_check(b, now_ms, ev);
	return 0;
}

/* An operator's or the fleet's move, checked against the table. */
int
breaker_transition(struct breaker *b, enum breaker_state to, uint64_t now_ms,
    const char *reason, struct breaker_event *ev)
{
	if ((unsigned)to >= BREAKER_NSTATES)
		return -1;
	if (to == b->state)
		return 0;
	if (!breaker_transition_allowed(b->state, to))
		return -1;
	return breaker_move(b, to, now_ms, ev, "%s",
	    reason != NULL && *reason != '\0' ? reason : "requested");
}

/* Back to a clean CLOSED: empty window, no backoff, no event. */
void
breaker_reset(struct breaker *b, uint64_t now_ms)
{
	b->state = BREAKER_CLOSED;
	b->open_until = 0;
	b->permits = 0;
	b->ho_calls = b->ho_failures = b->ho_slow = 0;
	b->consecutive = 0;
	breaker_window_clear(b, now_ms);
	breaker_backoff_reset(b);
}

/* The backed-off wait of step n under b's settings, as breaker_open_start
 * would have reached it. */
static uint64_t
breaker_backoff_at(const struct breaker *b, uint32_t n)
{
	uint64_t w = b->s.open_wait_ms;

	for (; n > 0 && w < b->s.open_wait_max_ms; n--) {
		if (b->s.backoff_multiplier_pct == 100)
			break;
		w = (w * b->s.backoff_multiplier_pct + 50) / 100;
	}
	return w > b->s.open_wait_max_ms ? b->s.open_wait_max_ms : w;
}

/* Recount a COUNT window's totals from its ring. */
static void
breaker_count_totals(struct breaker *b)
{
	b->calls = b->filled;
	b->failures = b->slow = 0;
	for (uint32_t i = 0; i < b->filled; i++) {
		b->failures += b->ring[i] & BREAKER_F_FAIL;
		b->slow += (b->ring[i] & BREAKER_F_SLOW) >> 1;
	}
}

/* A COUNT window of another size: the newest outcomes that fit, in order. */
static void
breaker_count_resize(struct breaker *b, uint32_t size)
{
	uint32_t old = b->s.window_size;
	uint32_t keep = b->filled < size ? b->filled : size;
	uint8_t *ring = xcalloc(size, sizeof(*ring));

	/* j = 0 is the newest outcome, just before head. */
	for (uint32_t j = 0; j < keep; j++)
		ring[keep - 1 - j] = b->ring[(b->head + old - 1 - j) % old];
	free(b->ring);
	b->ring = ring;
	b->filled = keep;
	b->head = keep % size;
	breaker_count_totals(b);
}

/*
 * A TIME window of another length: the seconds still inside it.  Bucket i
 * always holds second i mod window_size (breaker_window_clear and
 * breaker_window_advance keep that), so each second moves to its place.
 */
static void
breaker_time_resize(struct breaker *b, uint64_t now_ms, uint32_t size)
{
	uint32_t old = b->s.window_size;
	uint32_t keep = old < size ? old : size;
	struct breaker_bucket *bk = xcalloc(size, sizeof(*bk));
	uint32_t head;

	if (now_ms / 1000 > b->head_sec)
		breaker_window_advance(b, now_ms / 1000);
	head = (uint32_t)(b->head_sec % size);
	b->calls = b->failures = b->slow = 0;
	for (uint32_t j = 0; j < keep; j++) {
		const struct breaker_bucket *from =
		    &b->buckets[(b->head + old - j) % old];

		bk[(head + size - j) % size] = *from;
		b->calls += from->calls;
		b->failures += from->failures;
		b->slow += from->slow;
	}
	free(b->buckets);
	b->buckets = bk;
	b->head = head;
}

/* A window of the other kind: allocated empty at now_ms. */
static void
breaker_window_new(
    struct breaker *b, const struct breaker_settings *s, uint64_t now_ms)
{
	free(b->ring);
	free(b->buckets);
	b->ring = NULL;
	b->buckets = NULL;
	if (s->window_type == BREAKER_WINDOW_COUNT)
		b->ring = xcalloc(s->window_size, sizeof(*b->ring));
	else
		b->buckets = xcalloc(s->window_size, sizeof(*b->buckets));
	b->s.window_type = s->window_type;
	b->s.window_size = s->window_size;
	breaker_window_clear(b, now_ms);
}

/*
 * New settings while running.  Why no transition here: a trip is a
 * judgement on calls, and a reload is no call.  A configuration pushed to
 * every instance at once would otherwise trip the whole fleet in the same
 * second on a window recorded under the old rules; judged at the next
 * recorded call, each instance trips on its own traffic, as it would have
 * with the new settings from the start.
 */
int
breaker_reconfigure(struct breaker *b, const struct breaker_settings *s,
    uint64_t now_ms, struct breaker_carry *carry)
{
	struct breaker_stats st;
	struct breaker_carry c;

	if (breaker_settings_check(s) != NULL)
		return -1;
	breaker_window_totals(b, now_ms, &st);
	memset(&c, 0, sizeof(c));
	c.from = b->s.window_type;
	c.to = s->window_type;
	c.before = st.calls;
	if (s->window_type != b->s.window_type) {
		c.restarted = true;
		breaker_window_new(b, s, now_ms);
	} else if (s->window_size != b->s.window_size) {
		if (b->ring != NULL)
			breaker_count_resize(b, s->window_size);
		else
			breaker_time_resize(b, now_ms, s->window_size);
	}
	b->s = *s;
	b->min_calls = s->minimum_calls;
	if (b->ring != NULL && b->min_calls > s->window_size)
		b->min_calls = s->window_size;
	/* The wait running stays; the next one follows the new settings. */
	b->backoff_wait = breaker_backoff_at(b, b->backoff_step);
	breaker_window_totals(b, now_ms, &st);
	c.kept = c.restarted ? 0 : st.calls;
	if (carry != NULL)
		*carry = c;
	return 0;
}

/* The reload line's words for what the window kept. */
void
breaker_carry_text(const struct breaker_carry *c, char *buf, size_t len)
{
	if (c->restarted)
		snprintf(buf, len, "window restarted: kind changed %s -> %s",
		    breaker_window_name(c->from), breaker_window_name(c->to));
	else
		snprintf(buf, len, "window kept: %u of %u calls", c->kept,
		    c->before);
}

/* "count" or "time", as the configuration spells them. */
const char *
breaker_window_name(enum breaker_window w)
{
	return w == BREAKER_WINDOW_TIME ? "time" : "count";
}

/*
 * Window totals as of now_ms.  In HALF_OPEN these are the trial calls
 * (as Resilience4j reports its half-open metrics), whose rates are known
 * once every permitted call has reported.
 */
void
breaker_stats(
    const struct breaker *b, uint64_t now_ms, struct breaker_stats *st)
{
	uint32_t min = b->min_calls;

	if (b->state == BREAKER_HALF_OPEN) {
		st->calls = b->ho_calls;
		st->failures = b->ho_failures;
		st->slow = b->ho_slow;
		min = b->ho_need;
	} else
		breaker_window_totals(b, now_ms, st);
	st->consecutive_failures = b->consecutive;
	st->failure_rate_pct = -1;
	st->slow_rate_pct = -1;
	if (st->calls >= min && st->calls > 0) {
		st->failure_rate_pct = breaker_pct(st->failures, st->calls);
		st->slow_rate_pct = breaker_pct(st->slow, st->calls);
	}
}

/* Is from -> to in Resilience4j's StateTransition table? */
bool
breaker_transition_allowed(enum breaker_state from, enum breaker_state to)
{
	if ((unsigned)from >= BREAKER_NSTATES
	    || (unsigned)to >= BREAKER_NSTATES)
		return false;
	return (breaker_allowed[from] & BREAKER_BIT(to)) != 0;
}

/* "CLOSED", "OPEN", ...; "UNKNOWN" for a value out of range. */
const char *
breaker_state_name(enum breaker_state st)
{
	if ((unsigned)st >= BREAKER_NSTATES)
		return "UNKNOWN";
	return breaker_state_names[st];
}

/* The inverse of breaker_state_name (case-sensitive); -1 if unknown. */
int
breaker_state_parse(const char *name)
{
	int i;

	if (name == NULL)
		return -1;
	for (i = 0; i < BREAKER_NSTATES; i++)
		if (strcmp(name, breaker_state_names[i]) == 0)
			return i;
	return -1;
}

/* "ok", "fail", "slow"; "unknown" for a value out of range. */
const char *
breaker_outcome_name(enum breaker_outcome o)
{
	if ((unsigned)o >= BREAKER_NOUTCOMES)
		return "unknown";
	return breaker_outcome_names[o];
}

/* Does this state let every call through?  (HALF_OPEN needs a permit.) */
bool
breaker_state_permits(enum breaker_state st)
{
	return st == BREAKER_CLOSED || st == BREAKER_DISABLED
	    || st == BREAKER_METRICS_ONLY;
}
