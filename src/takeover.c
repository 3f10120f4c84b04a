/*
 * takeover.c - the record a new leader starts from.
 *
 * A new leader never acts before its takeover record is written: the
 * record it found with term + 1, so that every instance sees the term
 * move and a deposed leader's late write is fenced out.  No znode means
 * a new dependency (CLOSED, term 1) or one deleted under us, which is
 * recreated from the last good record held so that no transition is
 * lost; a record that does not decode is repaired with that same last
 * good record.  Our own term still standing after a reconnect within the
 * same session (nobody led in between) needs no write at all, so that
 * losing one ZooKeeper server changes nothing anyone can see.
 */
#include <stdio.h>
#include <string.h>

#include "takeover.h"
#include "util.h"

enum takeover_step
takeover_plan(const struct takeover_input *in, struct state_record *base)
{
	const struct state_record *rec = in->rec;

	memset(base, 0, sizeof(*base));
	base->state = BREAKER_CLOSED;
	if (in->found == TAKEOVER_FOUND_GOOD && rec != NULL) {
		*base = *rec;
		if (rec->term == in->term && in->term != 0
		    && in->term_gen == in->gen
		    && strcmp(rec->leader, in->self) == 0)
			return TAKEOVER_RESUME;
		return TAKEOVER_SET;
	}
	if (in->held != NULL)
		*base = *in->held;
	return in->found == TAKEOVER_FOUND_NONE ? TAKEOVER_CREATE
	                                        : TAKEOVER_SET;
}

void
takeover_record(const struct state_record *base, const char *self, bool create,
    uint64_t changed_ms, struct state_record *out)
{
	*out = *base;
	out->term = base->term + 1;
	strlcpy_b(out->leader, self, sizeof(out->leader));
	snprintf(out->reason, sizeof(out->reason), "%s by %s",
	    create ? "created" : "leader takeover", self);
	out->changed_ms = changed_ms;
}
