/*
 * witness_rule.c - the pure part of the witness protocol: the request
 * znode's record, which candidate is the witness, a witness's run of
 * checks and what its answer means to the leader.  No I/O, no clock.
 *
 * The rule: a witness runs at most the requested number of checks, one
 * after the other, and stops at the first failure.  It calls the
 * dependency healthy only if every check it ran succeeded, so a target
 * that flaps is never called healthy on one lucky check; a leader is
 * judged blind only on that strong evidence.  Anything less (no witness,
 * no answer, a witness that cannot check) leaves the leader's own
 * evidence standing alone, as before witnesses existed.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jfield.h"
#include "util.h"
#include "witness.h"

#define WITNESS_RECORD_MAX 4096

static const char *const witness_verdicts[] = {
    "pending", "healthy", "unhealthy", "unknown"};

/* A verdict's name as the record spells it. */
const char *
witness_verdict_name(enum witness_verdict v)
{
	if ((size_t)v >= nitems(witness_verdicts))
		return "?";
	return witness_verdicts[v];
}

/* Parse a verdict name; -1 if it is none. */
int
witness_verdict_parse(const char *s, enum witness_verdict *out)
{
	for (size_t i = 0; s != NULL && i < nitems(witness_verdicts); i++)
		if (strcmp(s, witness_verdicts[i]) == 0) {
			*out = (enum witness_verdict)i;
			return 0;
		}
	return -1;
}

/* An outcome's name for the log and METRICS. */
const char *
witness_outcome_name(enum witness_outcome o)
{
	switch (o) {
	case WITNESS_ALONE:
		return "alone";
	case WITNESS_CONFIRMED:
		return "confirmed";
	case WITNESS_BLIND:
		return "blind";
	}
	return "?";
}

/* Encode a request, or an answered request, as compact JSON. */
char *
witness_record_encode(const struct witness_record *r)
{
	json_t *o, *v = NULL;
	char *s = NULL;

	o = json_pack("{s:s, s:I, s:I, s:i}", "leader", r->leader, "req",
	    (json_int_t)r->req, "term", (json_int_t)r->term, "checks",
	    (int)r->checks);
	if (o != NULL && r->verdict != WITNESS_PENDING)
		v = json_pack("{s:s, s:i, s:i, s:s, s:s}", "verdict",
		    witness_verdict_name(r->verdict), "ok", (int)r->ok,
		    "failed", (int)r->failed, "by", r->by, "detail", r->detail);
	if (o != NULL
	    && (r->verdict == WITNESS_PENDING
	        || (v != NULL && json_object_update(o, v) == 0)))
		s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(v);
	json_decref(o);
	return s;
}

/* The members of a request or answer, checked one by one. */
static int
witness_members(json_t *o, void *rec, char *err, size_t errlen)
{
	struct witness_record *r = rec;
	char verdict[16];

	if (jfield_str(o, "leader", r->leader, sizeof(r->leader), err, errlen)
	        == -1
	    || jfield_uint(o, "req", UINT64_MAX, true, &r->req, err, errlen)
	        == -1
	    || jfield_uint(o, "term", UINT64_MAX, false, &r->term, err, errlen)
	        == -1
	    || jfield_u32(o, "checks", WITNESS_CHECKS_MAX, true, &r->checks,
	           err, errlen)
	        == -1
	    || jfield_str(o, "verdict", verdict, sizeof(verdict), err, errlen)
	        == -1
	    || jfield_u32(
	           o, "ok", WITNESS_CHECKS_MAX, false, &r->ok, err, errlen)
	        == -1
	    || jfield_u32(o, "failed", WITNESS_CHECKS_MAX, false, &r->failed,
	           err, errlen)
	        == -1
	    || jfield_str(o, "by", r->by, sizeof(r->by), err, errlen) == -1
	    || jfield_str(
	           o, "detail", r->detail, sizeof(r->detail), err, errlen)
	        == -1)
		return -1;
	if (r->leader[0] == '\0' || r->checks == 0) {
		snprintf(err, errlen, "no \"leader\" or \"checks\" is 0");
		return -1;
	}
	r->verdict = WITNESS_PENDING;
	if (verdict[0] != '\0'
	    && witness_verdict_parse(verdict, &r->verdict) == -1) {
		snprintf(err, errlen, "unknown verdict \"%s\"", verdict);
		return -1;
	}
	return 0;
}

/* Decode a request znode; a bad one never becomes a verdict. */
int
witness_record_decode(const char *buf, size_t len, struct witness_record *out,
    char *err, size_t errlen)
{
	return jfield_decode(buf, len, WITNESS_RECORD_MAX, witness_members, out,
	    sizeof(*out), err, errlen);
}

/* The candidate behind own: the one that would lead after a handover. */
ssize_t
witness_successor(char *const *sorted, size_t n, const char *own)
{
	for (size_t i = 0; own != NULL && *own != '\0' && i < n; i++)
		if (strcmp(sorted[i], own) == 0)
			return i + 1 < n ? (ssize_t)(i + 1) : -1;
	return -1;
}

/* A fresh run of want checks. */
void
witness_run_start(struct witness_run *run, uint32_t want)
{
	memset(run, 0, sizeof(*run));
	if (want == 0)
		want = 1;
	run->want = want > WITNESS_CHECKS_MAX ? WITNESS_CHECKS_MAX : want;
}

/* Count one check: the run ends at the first failure or the last ok. */
bool
witness_run_result(struct witness_run *run, bool ok, const char *detail)
{
	strlcpy_b(
	    run->detail, detail != NULL ? detail : "", sizeof(run->detail));
	if (!ok) {
		run->failed++;
		return true;
	}
	return ++run->ok >= run->want;
}

/* Healthy only if every check ran and none failed. */
enum witness_verdict
witness_run_verdict(const struct witness_run *run)
{
	if (run->failed > 0)
		return WITNESS_UNHEALTHY;
	if (run->want > 0 && run->ok >= run->want)
		return WITNESS_HEALTHY;
	return WITNESS_PENDING;
}

/*
 * What the leader does with an answer.  Only a complete healthy run
 * overrules the leader; a failure corroborates it; no answer, a pending
 * or unknown one leaves the leader's evidence standing alone.
 */
enum witness_outcome
witness_outcome(const struct witness_record *a)
{
	if (a == NULL)
		return WITNESS_ALONE;
	if (a->verdict == WITNESS_HEALTHY && a->ok >= a->checks
	    && a->failed == 0)
		return WITNESS_BLIND;
	if (a->verdict == WITNESS_UNHEALTHY)
		return WITNESS_CONFIRMED;
	return WITNESS_ALONE;
}
