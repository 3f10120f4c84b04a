/*
 * leadwrite.h - a dependency leader's side of ZooKeeper: the takeover,
 * the lease timer, spreading leadership, and the writes (publish,
 * override set or removal, the fenced delete of an expired override, the
 * fenced history entries).  fleet.c owns the session and the reading
 * side and calls in here; fleet.h's public calls are thin wrappers.
 * Loop thread only.
 */
#ifndef BREAKERD_LEADWRITE_H
#define BREAKERD_LEADWRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet.h"

struct fdep;

/* The election confirmed (leader) or dropped us (election.c's hook). */
void lw_election_cb(bool leader, void *arg);
/* Leadership is gone (or never confirmed): tell everyone once. */
void lw_step_down(struct fdep *);
/* Timers: every T/4 (lease, retried takeovers); every SPREAD_TICK_MS. */
void lw_lease_cb(int, short, void *);
void lw_spread_cb(int, short, void *);
void lw_expire_cb(int, short, void *);
/* (Re)arm the override ttl timer; retry_ms after a failed delete. */
void lw_expiry_arm(struct fdep *, uint64_t retry_ms);
/* The leader overwrites a record that did not parse with the last good. */
void lw_repair(struct fdep *);
/* An override read (NULL: none): the leader records the change. */
void lw_override_history(
    struct fdep *, const struct override_record *, int64_t mzxid);

void lw_publish(struct fdep *, enum breaker_state, const char *reason,
    const struct state_record *extra, done_fn, void *arg);
void lw_force(struct fdep *, enum breaker_state to, uint32_t ttl_s,
    const char *reason, const char *by, done_fn, void *arg);
/* A blind leader hands dep to the next candidate. */
void lw_hand_over(struct fdep *);

#endif
