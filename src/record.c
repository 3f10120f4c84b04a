/*
 * record.c - encode and decode the JSON records kept in ZooKeeper.
 *
 * Anyone with write access to the ensemble can put anything in a znode, so
 * decoding is strict about what it uses and lenient about what it does not:
 * unknown members are ignored (newer versions may add some), but a member
 * we know must have the right type and a sane value, or the whole record
 * is rejected with a message naming the member.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jfield.h"
#include "record.h"
#include "util.h"

/* The required "state" member as a breaker state name. */
static int
record_state_member(json_t *obj, int *state, char *err, size_t errlen)
{
	char name[32];

	if (jfield_str(obj, "state", name, sizeof(name), err, errlen) == -1)
		return -1;
	if (name[0] == '\0') {
		snprintf(err, errlen, "missing \"state\"");
		return -1;
	}
	if ((*state = breaker_state_parse(name)) == -1) {
		snprintf(err, errlen, "unknown state \"%s\"", name);
		return -1;
	}
	return 0;
}

/* The numeric members of a state record. */
static int
record_state_numbers(
    json_t *root, struct state_record *r, char *err, size_t errlen)
{
	if (jfield_uint(
	        root, "term", JFIELD_INT_MAX, true, &r->term, err, errlen)
	        == -1
	    || jfield_uint(root, "changed_ms", JFIELD_INT_MAX, false,
	           &r->changed_ms, err, errlen)
	        == -1
	    || jfield_uint(root, "open_until_ms", JFIELD_INT_MAX, false,
	           &r->open_until_ms, err, errlen)
	        == -1)
		return -1;
	if (r->term == 0) {
		snprintf(err, errlen, "\"term\" must be at least 1");
		return -1;
	}
	if (jfield_u32(root, "open_wait_ms", UINT32_MAX, false,
	        &r->open_wait_ms, err, errlen)
	        == -1
	    || jfield_u32(root, "failed_recoveries", 1000000, false,
	           &r->failed_recoveries, err, errlen)
	        == -1)
		return -1;
	return 0;
}

/* The members of a <root>/deps/<dep>/state record. */
static int
record_state_members(json_t *root, void *rec, char *err, size_t errlen)
{
	struct state_record *r = rec;
	int state;

	if (record_state_member(root, &state, err, errlen) == -1
	    || record_state_numbers(root, r, err, errlen) == -1
	    || jfield_str(
	           root, "leader", r->leader, sizeof(r->leader), err, errlen)
	        == -1
	    || jfield_str(
	           root, "reason", r->reason, sizeof(r->reason), err, errlen)
	        == -1)
		return -1;
	r->state = (enum breaker_state)state;
	return 0;
}

/* Decode a <root>/deps/<dep>/state record. */
int
record_state_decode(const char *buf, size_t len, struct state_record *out,
    char *err, size_t errlen)
{
	return jfield_decode(buf, len, RECORD_MAX_BYTES, record_state_members,
	    out, sizeof(*out), err, errlen);
}

/* The numeric members of an override: a ttl, and wall times to show. */
static int
record_override_numbers(
    json_t *root, struct override_record *r, char *err, size_t errlen)
{
	if (jfield_uint(root, "ttl_ms", RECORD_OVERRIDE_MAX_MS, false,
	        &r->ttl_ms, err, errlen)
	        == -1
	    || jfield_uint(root, "set_ms", JFIELD_INT_MAX, false, &r->set_ms,
	           err, errlen)
	        == -1
	    || jfield_uint(root, "until_ms", JFIELD_INT_MAX, false,
	           &r->until_ms, err, errlen)
	        == -1)
		return -1;
	/*
	 * until_ms without ttl_ms: written by a version that judged its
	 * expiry by wall clocks.  It may long have run out, and only a wall
	 * clock could tell: rejected (the last good override is kept).
	 */
	if (r->until_ms != 0 && json_object_get(root, "ttl_ms") == NULL) {
		snprintf(err, errlen,
		    "\"until_ms\" without \"ttl_ms\" (an older version's "
		    "wall-clock expiry): FORCE it again");
		return -1;
	}
	return 0;
}

/* The members of an override; only OPEN and CLOSED may be forced. */
static int
record_override_members(json_t *root, void *rec, char *err, size_t errlen)
{
	struct override_record *r = rec;
	int state;

	if (record_state_member(root, &state, err, errlen) == -1
	    || record_override_numbers(root, r, err, errlen) == -1
	    || jfield_str(root, "by", r->by, sizeof(r->by), err, errlen) == -1
	    || jfield_str(
	           root, "reason", r->reason, sizeof(r->reason), err, errlen)
	        == -1)
		return -1;
	if (state == BREAKER_OPEN || state == BREAKER_FORCED_OPEN)
		r->state = BREAKER_FORCED_OPEN;
	else if (state == BREAKER_CLOSED)
		r->state = BREAKER_CLOSED;
	else {
		snprintf(err, errlen, "override state must be OPEN or CLOSED");
		return -1;
	}
	return 0;
}

/* Decode an override; its ttl must be at most 30 days. */
int
record_override_decode(const char *buf, size_t len, struct override_record *out,
    char *err, size_t errlen)
{
	return jfield_decode(buf, len, RECORD_MAX_BYTES,
	    record_override_members, out, sizeof(*out), err, errlen);
}

/* The members of an instance registration. */
static int
record_instance_members(json_t *root, void *rec, char *err, size_t errlen)
{
	struct instance_record *r = rec;
	uint64_t pid;

	if (jfield_str(root, "host", r->host, sizeof(r->host), err, errlen)
	        == -1
	    || jfield_str(
	           root, "version", r->version, sizeof(r->version), err, errlen)
	        == -1
	    || jfield_str(
	           root, "socket", r->socket, sizeof(r->socket), err, errlen)
	        == -1
	    || jfield_uint(root, "pid", INT32_MAX, false, &pid, err, errlen)
	        == -1
	    || jfield_uint(root, "started_ms", JFIELD_INT_MAX, false,
	           &r->started_ms, err, errlen)
	        == -1)
		return -1;
	r->pid = (int64_t)pid;
	return 0;
}

/* Decode an instance registration (for tools and tests). */
int
record_instance_decode(const char *buf, size_t len, struct instance_record *out,
    char *err, size_t errlen)
{
	return jfield_decode(buf, len, RECORD_MAX_BYTES,
	    record_instance_members, out, sizeof(*out), err, errlen);
}

/* The members of a trip vote. */
static int
record_vote_members(json_t *root, void *rec, char *err, size_t errlen)
{
	struct vote_record *r = rec;

	if (jfield_u32(
	        root, "failure_rate", 100, false, &r->failure_rate, err, errlen)
	        == -1
	    || jfield_u32(
	           root, "calls", UINT32_MAX, false, &r->calls, err, errlen)
	        == -1
	    || jfield_uint(root, "since_ms", JFIELD_INT_MAX, false,
	           &r->since_ms, err, errlen)
	        == -1)
		return -1;
	return 0;
}

/* Decode a trip vote. */
int
record_vote_decode(const char *buf, size_t len, struct vote_record *out,
    char *err, size_t errlen)
{
	return jfield_decode(buf, len, RECORD_MAX_BYTES, record_vote_members,
	    out, sizeof(*out), err, errlen);
}

/*
 * Serialise and release an object.  json_pack fails on strings that are
 * not UTF-8 (a reason typed by a client): then NULL, the caller refuses.
 */
static char *
record_dump(json_t *root)
{
	char *s;

	if (root == NULL)
		return NULL;
	s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	return s;
}

/* Encode a state record. */
char *
record_state_encode(const struct state_record *r)
{
	return record_dump(json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:I}",
	    "state", breaker_state_name(r->state), "term", (json_int_t)r->term,
	    "leader", r->leader, "reason", r->reason, "changed_ms",
	    (json_int_t)r->changed_ms, "open_until_ms",
	    (json_int_t)r->open_until_ms, "open_wait_ms",
	    (json_int_t)r->open_wait_ms, "failed_recoveries",
	    (json_int_t)r->failed_recoveries));
}

/*
 * Encode an override; FORCED_OPEN is written as "OPEN".  until_ms is
 * still written for instances of older versions during an upgrade.
 */
char *
record_override_encode(const struct override_record *r)
{
	return record_dump(json_pack("{s:s, s:I, s:I, s:I, s:s, s:s}", "state",
	    r->state == BREAKER_CLOSED ? "CLOSED" : "OPEN", "ttl_ms",
	    (json_int_t)r->ttl_ms, "set_ms", (json_int_t)r->set_ms, "until_ms",
	    (json_int_t)r->until_ms, "by", r->by, "reason", r->reason));
}

/* Encode an instance registration. */
char *
record_instance_encode(const struct instance_record *r)
{
	return record_dump(json_pack("{s:s, s:I, s:s, s:I, s:s}", "host",
	    r->host, "pid", (json_int_t)r->pid, "version", r->version,
	    "started_ms", (json_int_t)r->started_ms, "socket", r->socket));
}

/* Encode a trip vote. */
char *
record_vote_encode(const struct vote_record *r)
{
	return record_dump(json_pack("{s:I, s:I, s:I}", "failure_rate",
	    (json_int_t)r->failure_rate, "calls", (json_int_t)r->calls,
	    "since_ms", (json_int_t)r->since_ms));
}
