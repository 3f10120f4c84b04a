/*
 * fuzz_witness.c - libFuzzer target for the witness request decoder: any
 * bytes a writer with ensemble access could put in a request znode.  A
 * request that decodes must encode again and decode to the same values,
 * and what a leader makes of it must be one of the three outcomes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "witness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The members a round trip keeps: the verdict's only with a verdict. */
static int
fuzz_same(const struct witness_record *a, const struct witness_record *b)
{
	if (strcmp(a->leader, b->leader) != 0 || a->req != b->req
	    || a->term != b->term || a->checks != b->checks
	    || a->verdict != b->verdict)
		return 0;
	if (a->verdict == WITNESS_PENDING)
		return 1;
	return a->ok == b->ok && a->failed == b->failed
	    && strcmp(a->by, b->by) == 0 && strcmp(a->detail, b->detail) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct witness_record a, b;
	enum witness_outcome o;
	char err[160], *s;

	if (witness_record_decode(
	        (const char *)data, size, &a, err, sizeof(err))
	    != 0)
		return 0;
	o = witness_outcome(&a);
	if (o != WITNESS_ALONE && o != WITNESS_CONFIRMED && o != WITNESS_BLIND)
		abort();
	if ((s = witness_record_encode(&a)) == NULL)
		return 0; /* a string that is not UTF-8 cannot come from JSON */
	if (witness_record_decode(s, strlen(s), &b, err, sizeof(err)) != 0
	    || !fuzz_same(&a, &b))
		abort();
	free(s);
	return 0;
}
