/*
 * membership.h - this instance's registration under <root>/instances/<id>
 * (EPHEMERAL, JSON instance record) and the count of live instances, the
 * denominator of the trip quorum.  An id held by another live session is
 * refused: two daemons with one id would share votes and elections.
 */
#ifndef BREAKERD_MEMBERSHIP_H
#define BREAKERD_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct zk;
struct membership;

/* The set of live instances (or its count) changed. */
typedef void (*membership_live_fn)(size_t live, void *arg);
/* The id is taken by another live session: the daemon should exit. */
typedef void (*membership_fatal_fn)(const char *msg, void *arg);

struct membership *membership_new(struct event_base *, struct zk *,
    const char *dir, const char *instance_id, const char *json,
    membership_live_fn, membership_fatal_fn, void *arg);
void membership_free(struct membership *);

/* A new session: register and watch the instances. */
void membership_start(struct membership *);
/* The same session is back: re-check the node, re-list (re-arm). */
void membership_reconnected(struct membership *);
/* The session expired: the node went with it. */
void membership_expired(struct membership *);

bool membership_registered(const struct membership *);
/*
 * Replace our node's data (json is copied; later registrations use it
 * too).  0 if a set was sent now, -1 if not registered (the data goes
 * with the next registration).
 */
int membership_set_data(struct membership *, const char *json);
/* Call fn(arg) each time our node is (re)registered or adopted. */
void membership_on_registered(struct membership *, void (*fn)(void *));
/* The JSON record our node is created with. */
const char *membership_record(const struct membership *);
size_t membership_live(const struct membership *);
/* Is id a live instance (a child of the instances directory)? */
bool membership_is_live(const struct membership *, const char *id);
/* The i-th live id (sorted), i < membership_live(). */
const char *membership_at(const struct membership *, size_t i);

#endif
