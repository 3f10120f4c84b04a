/*
 * election.h - leader election for one dependency: the ZooKeeper recipe
 * with a GUID in the node name (_c_<uuid>-n_<seq>, EPHEMERAL_SEQUENTIAL
 * under <root>/deps/<dep>/election).  Each candidate watches only its
 * predecessor; the lowest sequence leads once it has checked that the
 * node's ephemeralOwner is this session.  Runs on the loop thread; the
 * session glue (fleet.c) tells it about connects, losses and expiry.
 */
#ifndef BREAKERD_ELECTION_H
#define BREAKERD_ELECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ELECTION_UUID_LEN 36

struct event_base;
struct zk;
struct election;

/* Leadership was confirmed (true) or dropped (false). */
typedef void (*election_fn)(bool leader, void *arg);
/* May the candidate with this instance id take over from us? */
typedef bool (*election_ok_fn)(const char *successor_id, void *arg);

struct election *election_new(struct event_base *, struct zk *, const char *dir,
    const char *instance_id, election_fn, void *arg);
void election_free(struct election *);

/* A new session: join with a new uuid. */
void election_join(struct election *);
/* Leave for good: step down and delete our candidate node(s). */
void election_leave(struct election *);
/* The same session is back after a disconnect: find our node, re-check. */
void election_reconnected(struct election *);
/* Disconnected: not leader from now until re-checked. */
void election_suspend(struct election *);
/* The session expired: the node is gone with it. */
void election_expired(struct election *);
/* A fenced write found our node gone: step down and rejoin. */
void election_deposed(struct election *);
/* Leader only: stat our node (keeps the lease fresh, checks the owner). */
void election_refresh(struct election *);
/*
 * Leader only: if another candidate waits and ok (may be NULL) accepts
 * its instance id, stop leading (the callback runs with false before
 * anything is sent), delete our node and join again at the end of the
 * queue.  Nothing happens if we are alone or ok refuses.
 */
void election_abdicate(struct election *, election_ok_fn ok, void *arg);
/* True while the callback reports a handover (not a deposition). */
bool election_abdicating(const struct election *);

bool election_leader(const struct election *);
/* Full path of our node; "" if none is known. */
const char *election_node(const struct election *);

/* Pure helpers, exposed for tests. */
/* The sequence number after the last '_' of a node name; -1 if none. */
int election_seq(const char *name, uint64_t *seq);
/* Sort node names by sequence number (names without one go last). */
void election_sort(char **names, size_t n);
/* Index of the name holding "_c_<uuid>-", or -1. */
ssize_t election_find(char *const *names, size_t n, const char *uuid);
/* A random RFC 4122 version 4 uuid, as 36 characters plus NUL. */
void election_uuid(char out[ELECTION_UUID_LEN + 1]);

#endif
