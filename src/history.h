/*
 * history.h - the transition history of a dependency: one persistent
 * sequential znode <root>/deps/<dep>/history/h-<seq> per transition the
 * leader published, written in the same multi as the state itself, with
 * bounded retention (the oldest entries are deleted in that multi too).
 *
 * Two halves: a pure codec (entries to and from JSON, znode names, who
 * acted) that the unit tests and the fuzzer drive, and the ZooKeeper side
 * (the leader's list of entries, the operations a publish adds to its
 * multi, and the asynchronous read behind the HISTORY command).  Loop
 * thread only.
 */
#ifndef BREAKERD_HISTORY_H
#define BREAKERD_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "errcode.h"
#include "registry.h"
#include "zk.h"

struct evbuffer;

#define HISTORY_KEEP_DEFAULT 100 /* entries kept per dependency */
#define HISTORY_DEL_MAX      2   /* oldest entries deleted per multi */
#define HISTORY_PREFIX       "h-"

/* One published transition. */
struct history_entry {
	int64_t seq; /* from the znode name (-1 unknown); not in the data */
	enum breaker_state from;
	enum breaker_state to;
	char kind[24]; /* "publish", "override", "override-removed" */
	char reason[160];
	char by[64]; /* "uid 1000" when an operator acted, else "" */
	uint64_t term;
	int64_t version; /* the state znode's version written (-1: none) */
	char leader[INSTANCE_ID_MAX + 1];
	uint64_t at_ms; /* wall clock, display only */
};

/* ---- pure --------------------------------------------------------------- */

/* Compact JSON; with_seq adds "seq" (protocol lines).  NULL: not UTF-8. */
char *history_encode(const struct history_entry *, bool with_seq);
/* 0, or -1 with a message; unknown members are ignored. */
int history_decode(const char *buf, size_t len, struct history_entry *out,
    char *err, size_t errlen);
/* "h-0000000042" -> 42; -1 if name is not a history entry's. */
int64_t history_seq(const char *name);
/* The operator named in a reason ("... by uid 1000: why") into out, or "". */
void history_who(const char *reason, char *out, size_t outlen);
/*
 * How many of the oldest entries a multi deletes so that, with the one it
 * adds, at most keep remain (bounded by HISTORY_DEL_MAX).
 */
size_t history_excess(size_t have, size_t keep);

/* ---- the leader's side ---------------------------------------------------- */

struct history;

/* The operations one write adds to its multi; the caller owns it. */
struct history_plan {
	char *json;
	char create_path[1024];
	char del_path[HISTORY_DEL_MAX][1024];
	size_t ndel;
};

struct history *history_new(struct zk *, const char *dir, size_t keep);
void history_free(struct history *);
void history_set_keep(struct history *, size_t keep);
/* Forget the list (not leader any more) / list the entries again. */
void history_reset(struct history *);
void history_sync(struct history *);
/*
 * Plan the operations for e: a sequential create and, once the list is
 * known, deletes of the oldest.  0, or -1 (e not encodable: no ops).
 * with_deletes false plans the create only.
 */
int history_plan(struct history *, const struct history_entry *e,
    bool with_deletes, struct history_plan *);
/* Append the plan's operations to ops (room for 1 + HISTORY_DEL_MAX). */
int history_plan_ops(const struct history_plan *, struct zk_op *ops);
void history_plan_clear(struct history_plan *);
/*
 * The multi came back; first is the index in multi_err of the plan's
 * first operation.  Returns true if the failure was the history's own
 * (the list is then read again, and a write may be retried).
 */
bool history_done(struct history *, const struct history_plan *,
    const struct zk_result *, int first);

/* ---- reading (any instance) ----------------------------------------------- */

/*
 * The newest n entries of dir, oldest first, or code != 0 (an enum
 * proto_errcode) and a message.  Called exactly once.
 */
typedef void (*history_read_fn)(int code, const char *msg,
    const struct history_entry *entries, size_t n, void *arg);
void history_read(
    struct zk *, const char *dir, size_t n, history_read_fn, void *arg);
/* The HISTORY reply body: "OK <n>", then one JSON line per entry. */
void history_read_body(
    struct zk *, const char *dir, size_t n, body_fn, void *arg);

#endif
