/*
 * record.h - the JSON records breakerd keeps in ZooKeeper (docs/design.md
 * "ZooKeeper layout"): state, override, instance and vote.  A pure codec
 * over jansson: no I/O, no clock, and nothing judged by a wall clock.  Decoders ignore unknown members and reject
 * wrong types, unknown states, over-long strings and absurd numbers with
 * a message, so that a bad znode never becomes state.
 */
#ifndef BREAKERD_RECORD_H
#define BREAKERD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

#define RECORD_MAX_BYTES       4096 /* larger znodes are rejected unread */
#define RECORD_OVERRIDE_MAX_MS (30ULL * 24 * 3600 * 1000) /* longest ttl_ms */

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
