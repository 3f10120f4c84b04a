/*
 * record.h - the JSON records breakerd keeps in ZooKeeper (docs/design.md
 * "ZooKeeper layout"): state, override, instance and vote, with the
 * version that orders them.  The record types live here and the registry
 * (registry.h) includes this header, not the reverse.  A pure codec over
 * jansson: no I/O, no clock, and nothing judged by a wall clock.
 * Decoders ignore unknown members and reject wrong types, unknown states,
 * over-long strings and absurd numbers with a message, so that a bad
 * znode never becomes state.
 */
#ifndef BREAKERD_RECORD_H
#define BREAKERD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "config.h"

#define RECORD_MAX_BYTES       4096 /* larger znodes are rejected unread */
#define RECORD_OVERRIDE_MAX_MS (30ULL * 24 * 3600 * 1000) /* longest ttl_ms */

/* A decoded <root>/deps/<dep>/state record. */
struct state_record {
	enum breaker_state state;
	uint64_t term; /* bumped by each new leader */
	char leader[INSTANCE_ID_MAX + 1];
	char reason[160];
	uint64_t changed_ms;        /* wall clock, display only */
	uint64_t open_until_ms;     /* wall clock, display only */
	uint32_t open_wait_ms;      /* the wait of this OPEN period */
	uint32_t failed_recoveries; /* backoff step, carried between leaders */
};

/*
 * A decoded <root>/deps/<dep>/override record.  Its duration is ttl_ms,
 * measured by each instance on its own monotonic clock from when it first
 * saw this version; the leader removes the override when it runs out.
 * set_ms and until_ms are wall clocks, for display (and for instances of
 * older versions, which judge until_ms on their own clocks).
 */
struct override_record {
	enum breaker_state state; /* FORCED_OPEN or CLOSED */
	uint64_t ttl_ms;          /* duration; 0 = until removed */
	uint64_t set_ms;          /* wall clock of the FORCE, display only */
	uint64_t until_ms;        /* wall clock set_ms + ttl_ms, display only */
	char by[64];
	char reason[160];
};

/* ZooKeeper's ordering of a znode's contents (from its Stat). */
struct znode_ver {
	int64_t czxid;
	int64_t mzxid;
	int32_t version;
};

/* What an instance registers under <root>/instances/<id>. */
struct instance_record {
	char host[256];
	int64_t pid;
	char version[32];
	uint64_t started_ms;
	char socket[256];
};

/* A trip vote under <root>/deps/<dep>/votes/<id>. */
struct vote_record {
	uint32_t failure_rate; /* percent; 0 when unknown */
	uint32_t calls;
	uint64_t since_ms;
};

/*
 * Decoders: 0 on success; -1 and a message in err (never longer than
 * errlen) on any problem, *out then untouched or partly written.
 */
int record_state_decode(const char *buf, size_t len, struct state_record *out,
    char *err, size_t errlen);
int record_override_decode(const char *buf, size_t len,
    struct override_record *out, char *err, size_t errlen);
int record_instance_decode(const char *buf, size_t len,
    struct instance_record *out, char *err, size_t errlen);
int record_vote_decode(const char *buf, size_t len, struct vote_record *out,
    char *err, size_t errlen);

/* Encoders: compact JSON, malloc'ed (free with free()); NULL if a string
 * is not valid UTF-8. */
char *record_state_encode(const struct state_record *);
char *record_override_encode(const struct override_record *);
char *record_instance_encode(const struct instance_record *);
char *record_vote_encode(const struct vote_record *);

#endif
