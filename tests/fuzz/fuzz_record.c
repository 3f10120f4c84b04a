/*
 * fuzz_record.c - libFuzzer target for the ZooKeeper record decoders: any
 * bytes a writer with ensemble access could put in a znode.  A record that
 * decodes must encode again and decode to the same values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A decoded state record survives a round trip unchanged. */
static void
fuzz_state(const char *buf, size_t size)
{
	struct state_record a, b;
	char err[160], *s;

	if (record_state_decode(buf, size, &a, err, sizeof(err)) != 0)
		return;
	if ((s = record_state_encode(&a)) == NULL)
		return; /* a string that is not UTF-8 cannot come from JSON */
	if (record_state_decode(s, strlen(s), &b, err, sizeof(err)) != 0
	    || a.state != b.state || a.term != b.term
	    || strcmp(a.leader, b.leader) != 0
	    || strcmp(a.reason, b.reason) != 0)
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct override_record o;
	struct instance_record i;
	struct vote_record v;
	char err[160];

	fuzz_state(buf, size);
	record_override_decode(buf, size, &o, err, sizeof(err));
	record_instance_decode(buf, size, &i, err, sizeof(err));
	record_vote_decode(buf, size, &v, err, sizeof(err));
	return 0;
}
