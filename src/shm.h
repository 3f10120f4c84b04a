/*
 * shm.h - the daemon's side of the shared-memory state table
 * (shm_layout.h): publishing every dependency's answer under a seqlock,
 * moving the heartbeat, and draining what clients counted into the
 * breakers.  The loop thread is its only user.
 */
#ifndef BREAKERD_SHM_H
#define BREAKERD_SHM_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "registry.h"
#include "shm_layout.h"

/* Bounds on what one drain takes from the table (hostile input). */
#define SHM_DRAIN_SLOT_MAX  1024u      /* calls fed one by one, per slot */
#define SHM_DRAIN_TOTAL_MAX 16384u     /* the same over every slot */
#define SHM_DRAIN_ABSURD    (1u << 26) /* more per drain: rejected */

/* What one drain makes of one slot's counters (shm_drain_plan). */
struct shm_plan {
	bool rejected;                 /* a counter went back or jumped */
	uint64_t delta[SHM_C_NREPORT]; /* accepted increments */
	uint32_t feed[SHM_C_SLOW_MS];  /* of those, fed to the breaker */
	uint32_t slow_ms;              /* duration given to slow calls */
};

struct shm_stats {
	uint64_t drains;
	uint64_t calls;        /* reports taken from the table */
	uint64_t sampled_out;  /* counted but not fed one by one */
	uint64_t rejected;     /* counter or permit values refused */
	uint64_t answers;      /* slot writes */
	uint64_t permits_lent; /* half-open permits moved into the table */
};

struct shm;

/*
 * Create the table at cfg->shm_path: written in full under a temporary
 * name, given the socket's group and mode, then renamed into place.
 * NULL (logged) if it cannot be made: the socket still answers.
 */
struct shm *shm_open_table(
    const struct config *, struct registry *, uint64_t now_ms);
/* Mark the table stopped and remove it; NULL is ignored. */
void shm_close(struct shm *);
/*
 * A reload added dep: it gets a free slot (-1, logged, when none is
 * left: its applications use the socket).  Removed: its slot is freed
 * so that clients holding it fall back to the socket.  t may be NULL.
 */
int shm_add_dep(struct shm *, struct dep *);
void shm_remove_dep(struct shm *, struct dep *);
/* Write dep's slot if its answer changed. */
void shm_publish(struct shm *, struct dep *);
/* The drain timer: heartbeat, counters into the breakers, answers. */
void shm_drain(struct shm *, uint64_t now_ms);
/* A socket ALLOW in local HALF_OPEN claims from the table's pool. */
bool shm_claim_permit(struct dep *, void *shm);
struct evbuffer;
/* METRICS lines of the table; t may be NULL (nothing). */
void shm_metrics(const struct shm *, struct evbuffer *);
const struct shm_stats *shm_stats(const struct shm *);
const char *shm_path(const struct shm *);

/* Pure: validate and split one slot's counters (see shm.c). */
/*
 * Snapshot a slot's report counters for shm_drain_plan.  A client adds a
 * slow call's count before its duration (release); reading the duration
 * first (acquire) means every millisecond seen has its call seen too, so
 * a drain racing a report never finds more time than its calls explain.
 */
void shm_report_snapshot(struct shm_slot *s, uint64_t cur[SHM_C_NREPORT]);
void shm_drain_plan(const uint64_t last[SHM_C_NREPORT],
    const uint64_t cur[SHM_C_NREPORT], uint32_t budget, uint32_t slow_call_ms,
    struct shm_plan *);
/* Pure: lay out an empty table for nslots in mem (shm_table_size). */
void shm_table_init(void *mem, uint32_t nslots, uint64_t boot_id, uint32_t pid,
    uint32_t drain_ms, uint64_t now_ms);
/* Pure: write a slot under its seqlock (name may be NULL: unchanged). */
void shm_slot_write(
    struct shm_slot *, const struct shm_answer_copy *, const char *name);

#endif
