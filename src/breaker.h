/*
 * breaker.h - the local circuit breaker: a pure state machine modelled on
 * Resilience4j's CircuitBreaker.  No I/O, no clock reads, no allocation
 * after breaker_new() but for breaker_reconfigure(): the caller passes a
 * monotonic now_ms to every call.
 */
#ifndef BREAKERD_BREAKER_H
#define BREAKERD_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

enum breaker_state {
	BREAKER_CLOSED,
	BREAKER_OPEN,
	BREAKER_HALF_OPEN,
	BREAKER_FORCED_OPEN,
	BREAKER_DISABLED,
	BREAKER_METRICS_ONLY,
	BREAKER_NSTATES
};

enum breaker_window { BREAKER_WINDOW_COUNT, BREAKER_WINDOW_TIME };

/* What an application reported about one call. */
enum breaker_outcome {
	BREAKER_OK, /* success; slow if duration >= slow_call_duration_ms */
	BREAKER_FAIL, /* failure; also slow if duration >= slow_call_duration_ms */
	BREAKER_SLOW, /* success the app itself judged slow */
	BREAKER_NOUTCOMES
};

/* Settings; breaker_settings_default() gives Resilience4j's defaults. */
struct breaker_settings {
	enum breaker_window window_type;
	uint32_t window_size;      /* calls (COUNT) or seconds (TIME) */
	uint32_t minimum_calls;    /* below this the rates are unknown */
	uint32_t failure_rate_pct; /* trip at >= this failure rate, 1..100 */
	uint32_t slow_rate_pct;    /* trip at >= this slow-call rate, 1..100 */
	uint32_t slow_call_ms;     /* a call this long or longer is slow */
	uint32_t
	    consecutive_failures; /* trip after N failures in a row; 0 off */
	uint32_t open_wait_ms;    /* first wait in OPEN */
	uint32_t backoff_multiplier_pct; /* 100 = constant, 200 = doubling */
	uint32_t open_wait_max_ms;       /* cap on the backed-off wait */
	uint32_t jitter_pct;             /* +/- this percent, 0..100 */
	uint32_t half_open_calls;        /* calls permitted in HALF_OPEN */
	uint32_t half_open_max_ms; /* HALF_OPEN -> OPEN after this; 0 off */
};

/* A transition, for the caller to log, count and publish. */
struct breaker_event {
	enum breaker_state from;
	enum breaker_state to;
	char reason[128];
};

/* Sliding-window totals, for STATUS, METRICS and trip votes. */
struct breaker_stats {
	uint32_t calls;
	uint32_t failures;
	uint32_t slow;
	int32_t failure_rate_pct; /* -1 when unknown (below minimum_calls) */
	int32_t slow_rate_pct;    /* -1 when unknown */
	uint32_t consecutive_failures;
};

/* What breaker_reconfigure() did with the window, for the reload line. */
struct breaker_carry {
	bool restarted; /* the kind changed: a new, empty window */
	enum breaker_window from, to;
	uint32_t before; /* calls in the window before */
	uint32_t kept;   /* of those, calls in the new window */
};

struct breaker;

void breaker_settings_default(struct breaker_settings *);
/* Returns NULL if the settings are valid, else a static message. */
const char *breaker_settings_check(const struct breaker_settings *);

/*
 * Allocates the window once; seed drives the jitter (same seed, same
 * waits).  Returns NULL (and logs why) if the settings are invalid.
 * In every call below, ev and changed may be NULL.  In HALF_OPEN,
 * breaker_stats() covers the trial calls only.
 */
struct breaker *breaker_new(
    const struct breaker_settings *, uint64_t seed, uint64_t now_ms);
void breaker_free(struct breaker *);

enum breaker_state breaker_state(const struct breaker *);
/* Monotonic deadline at which OPEN ends (0 when not OPEN). */
uint64_t breaker_open_until(const struct breaker *);

/*
 * May a call go ahead now?  Moves OPEN -> HALF_OPEN when the wait is over
 * and HALF_OPEN -> OPEN when the maximum half-open time has passed; takes
 * one permit in HALF_OPEN.  Returns true to allow; *ev is filled and
 * *changed set when a transition happened (ev may be NULL).
 */
bool breaker_allow(
    struct breaker *, uint64_t now_ms, struct breaker_event *ev, bool *changed);

/* HALF_OPEN: take every permit left (0 in other states); breaker_allow
 * then denies until the next half-open period. */
uint32_t breaker_take_permits(struct breaker *);

/* Record the result of one call.  Returns 1 if it caused a transition. */
int breaker_record(struct breaker *, uint64_t now_ms, enum breaker_outcome,
    uint32_t duration_ms, struct breaker_event *ev);

/* Time-driven transitions only (timers).  Returns 1 on a transition. */
int breaker_tick(struct breaker *, uint64_t now_ms, struct breaker_event *ev);

/*
 * Move to a state as an operator or the fleet asks.  Returns 1 on a
 * transition, 0 if already there, -1 if Resilience4j's table forbids it.
 */
int breaker_transition(struct breaker *, enum breaker_state to, uint64_t now_ms,
    const char *reason, struct breaker_event *ev);

/*
 * Take new settings while running (a configuration reload).  The state is
 * kept, and so are the open wait running, the half-open period running
 * (its trial calls and time limit) and the backoff step: new timings
 * apply from the next transition.  The window keeps what the new one can
 * hold: everything for the same kind and size or a larger one, the newest
 * calls of a smaller COUNT window, the seconds still inside a shorter
 * TIME window; a change of kind (COUNT <-> TIME) starts an empty window.
 * It never causes a transition: a lowered threshold is judged at the next
 * recorded call.  Returns -1 (and changes nothing) on invalid settings.
 * carry may be NULL.
 */
int breaker_reconfigure(struct breaker *, const struct breaker_settings *,
    uint64_t now_ms, struct breaker_carry *carry);
/* "window kept: 37 of 50 calls" or
 * "window restarted: kind changed count -> time". */
void breaker_carry_text(const struct breaker_carry *, char *, size_t);
const char *breaker_window_name(enum breaker_window);

/* Clear the window (the fleet closed the breaker); state becomes CLOSED. */
void breaker_reset(struct breaker *, uint64_t now_ms);

void breaker_stats(
    const struct breaker *, uint64_t now_ms, struct breaker_stats *);

/* Is from -> to allowed by Resilience4j's transition table? */
bool breaker_transition_allowed(enum breaker_state from, enum breaker_state to);
const char *breaker_state_name(enum breaker_state);
/* "OPEN" -> BREAKER_OPEN (case-sensitive); -1 if unknown. */
int breaker_state_parse(const char *);
const char *breaker_outcome_name(enum breaker_outcome);
/* Does this state let calls through? (CLOSED, DISABLED, METRICS_ONLY) */
bool breaker_state_permits(enum breaker_state);

#endif
