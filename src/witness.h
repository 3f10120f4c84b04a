/*
 * witness.h - a second vantage point before the fleet opens.  When the
 * leader's own health checks or half-open probes would open a
 * dependency, it first asks one other instance (the candidate right
 * behind it in the dependency's election) to run the same check a few
 * times, through a request znode <root>/deps/<dep>/witness/<witness id>
 * (EPHEMERAL, created fenced by the leader; the witness writes its
 * verdict into the same node).  A witness that sees the dependency
 * healthy means the leader is blind: the fleet stays as it is and the
 * leader hands over.  No witness, no answer in time, or a witness that
 * fails too: the leader opens as before.
 *
 * The pure part (records, the successor, a witness's run, the outcome)
 * does no I/O and reads no clock; the glue (witness.c) runs on the loop
 * thread, reaching ZooKeeper only asynchronously through zk.c.
 */
#ifndef BREAKERD_WITNESS_H
#define BREAKERD_WITNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

#define WITNESS_CHECKS_MAX 10 /* a request never asks for more */
#define WITNESS_ID_MAX     64

struct event_base;
struct zk;
struct witness;

enum witness_verdict {
	WITNESS_PENDING,   /* a request, not answered yet */
	WITNESS_HEALTHY,   /* every check the witness ran was ok */
	WITNESS_UNHEALTHY, /* a check failed: the witness agrees */
	WITNESS_UNKNOWN,   /* the witness cannot check (no target) */
};

/* The request znode's content; the witness adds the verdict members. */
struct witness_record {
	char leader[WITNESS_ID_MAX + 1]; /* who asked */
	uint64_t req;                    /* the leader's request number */
	uint64_t term;                   /* the leader's term */
	uint32_t checks;                 /* checks asked for, 1..MAX */
	enum witness_verdict verdict;
	uint32_t ok;     /* checks that succeeded */
	uint32_t failed; /* checks that failed (0 or 1: it stops there) */
	char by[WITNESS_ID_MAX + 1]; /* the witness */
	char detail[128];            /* the last check's detail */
};

/* What the leader learns from asking. */
enum witness_outcome {
	WITNESS_ALONE,     /* no witness or no answer: open as before */
	WITNESS_CONFIRMED, /* the witness failed too: open */
	WITNESS_BLIND,     /* the witness saw it healthy: do not open */
};

/* A witness's run of checks for one request. */
struct witness_run {
	uint32_t want;
	uint32_t ok;
	uint32_t failed;
	char detail[128];
};

/* ---- pure ------------------------------------------------------------ */

/* Compact JSON (malloc'ed), NULL if a string is not UTF-8. */
char *witness_record_encode(const struct witness_record *);
/* 0, or -1 and a message: wrong types, absurd numbers, long strings. */
int witness_record_decode(const char *buf, size_t len,
    struct witness_record *out, char *err, size_t errlen);
/* Index of the candidate right behind own in sorted election names;
 * -1 if own is not among them or is last. */
ssize_t witness_successor(char *const *sorted, size_t n, const char *own);
/* Start a run of checks (want clamped to 1..WITNESS_CHECKS_MAX). */
void witness_run_start(struct witness_run *, uint32_t want);
/* One check's result: true when the run is over (a failure, or all ok). */
bool witness_run_result(struct witness_run *, bool ok, const char *detail);
/* The verdict of a finished run. */
enum witness_verdict witness_run_verdict(const struct witness_run *);
/* What an answer (NULL: none in time) means for the leader. */
enum witness_outcome witness_outcome(const struct witness_record *answer);
/* Names for logs, STATUS and records; NULL-safe parser (-1 unknown). */
const char *witness_verdict_name(enum witness_verdict);
int witness_verdict_parse(const char *, enum witness_verdict *);
const char *witness_outcome_name(enum witness_outcome);

/* ---- glue (loop thread) --------------------------------------------- */

/* The answer to witness_ask: exactly once, maybe before it returns. */
typedef void (*witness_done_fn)(enum witness_outcome,
    const struct witness_record *answer, const char *why, void *arg);
/* Run n witness checks of dep for leader; report with done(ctx). */
typedef void (*witness_check_done_fn)(const struct witness_run *, void *ctx);
typedef void (*witness_check_fn)(struct dep *, const char *leader, uint32_t n,
    witness_check_done_fn, void *ctx, void *arg);
typedef void (*witness_check_cancel_fn)(struct dep *, void *arg);

struct witness_hooks {
	witness_check_fn check;         /* run checks as a witness */
	witness_check_cancel_fn cancel; /* the request went away */
	void *arg;
};

/* dirs[i]: <root>/deps/<dep i> for registry dependency i. */
struct witness *witness_new(struct event_base *, struct zk *, struct registry *,
    const char *root, const char *instance_id);
void witness_set_hooks(struct witness *, const struct witness_hooks *);
/* A reload added dep (read from the next connect or witness_connected)
 * or removed it (its ask ends, ALONE; its entry stays inert). */
void witness_add_dep(struct witness *, struct dep *);
void witness_remove_dep(struct witness *, struct dep *);
/* dep's request node: read it now (an added dependency, connected). */
void witness_read_dep(struct witness *, struct dep *);
void witness_free(struct witness *);
/* Connected: (re)arm the watch on every request addressed to us. */
void witness_connected(struct witness *);
/*
 * Leader of dep (election node fence, term): ask the next candidate.
 * Bounded by timeout_ms; the request node is deleted when it is over.
 */
void witness_ask(struct witness *, struct dep *, const char *fence,
    uint64_t term, uint32_t checks, uint32_t timeout_ms, witness_done_fn,
    void *arg);
/* Leadership lost: drop dep's ask (done is called with ALONE, "cancelled"). */
void witness_cancel(struct witness *, struct dep *);
/* Requests this instance answered as a witness, for dep. */
uint64_t witness_answered(const struct witness *, const struct dep *);

#endif
