/*
 * takeover.h - what a new leader writes before it acts, pure: from what
 * its read of the state znode found, the record it starts from and
 * whether it creates the znode, sets it, or leads on without a write.
 * No I/O and no clock reads; leadwrite.c sends what is decided here.
 */
#ifndef BREAKERD_TAKEOVER_H
#define BREAKERD_TAKEOVER_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"

/* What the new leader's read of the state znode found. */
enum takeover_found {
	TAKEOVER_FOUND_NONE, /* no znode */
	TAKEOVER_FOUND_GOOD, /* a record that decoded */
	TAKEOVER_FOUND_BAD,  /* a znode whose record did not decode */
};

/* What to do about it. */
enum takeover_step {
	TAKEOVER_CREATE, /* create the znode (fenced) */
	TAKEOVER_SET,    /* set it at the version read (fenced) */
	TAKEOVER_RESUME, /* our own term still stands: lead on, no write */
};

struct takeover_input {
	enum takeover_found found;
	const struct state_record *rec;  /* FOUND_GOOD: the record read */
	const struct state_record *held; /* the last good one held, or NULL */
	uint64_t term;     /* the term we last led under (0: never) */
	uint64_t term_gen; /* the session generation that wrote it */
	uint64_t gen;      /* the session generation now */
	const char *self;  /* our instance id */
};

/* Decide; base gets the record the takeover starts from. */
enum takeover_step takeover_plan(
    const struct takeover_input *, struct state_record *base);
/*
 * The takeover record: base with term + 1 and leader = self; reason and
 * changed_ms (display only, passed in) say who and when.
 */
void takeover_record(const struct state_record *base, const char *self,
    bool create, uint64_t changed_ms, struct state_record *out);

#endif
