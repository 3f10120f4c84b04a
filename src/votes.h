/*
 * votes.h - one dependency's trip votes in ZooKeeper: this instance's own
 * vote (an ephemeral znode under <dir>/votes named after the instance id)
 * and, while this instance leads the dependency, the leader's tally of
 * every live instance's vote.  Kept apart from the session and the
 * leader's writes because it needs neither: only the session handle, the
 * live set and a place to report the count.  Loop thread only.
 */
#ifndef BREAKERD_VOTES_H
#define BREAKERD_VOTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "registry.h"

struct membership;
struct votes;
struct zk;

/* The tally (votes of live instances) or the live count moved. */
typedef void (*votes_report_fn)(
    struct dep *, size_t votes, size_t live, void *arg);

/* dir is the dependency's votes directory; our vote is dir/self_id. */
struct votes *votes_new(struct zk *, const struct membership *, struct dep *,
    const char *dir, const char *self_id, votes_report_fn, void *arg);
void votes_free(struct votes *);

/* Cast (tripped) or withdraw our vote; since_ms is display only. */
void votes_cast(struct votes *, bool tripped, const struct breaker_stats *,
    uint64_t since_ms);
/* (Re)connected: make the vote znode match what we want. */
void votes_sync(struct votes *);
/* The dependency was removed: our vote znode is deleted, no more kept. */
void votes_withdraw(struct votes *);

/* We lead: count (and keep counting on every change) until unlead. */
void votes_lead(struct votes *);
/* No longer leading: the tally is void and reads to come are ignored. */
void votes_unlead(struct votes *);
/* The live set changed: a leader counts again. */
void votes_recount(struct votes *);

/* The leader's tally (0 when not leading). */
size_t votes_count(const struct votes *);
/* Do we want our own vote cast? */
bool votes_own(const struct votes *);
/* Vote znodes that did not decode. */
uint64_t votes_rejected(const struct votes *);

#endif
