/*
 * fuzz_record.c - libFuzzer target for the ZooKeeper record decoders: any
 * bytes a writer with ensemble access could put in a znode.  A record that
 * decodes must encode again (a decoded record holds only UTF-8 strings
 * that fit, so NULL from an encoder is a bug) and decode to the same
 * values, every field compared.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort unless s is an encoding that decodes (the caller compares). */
static char *
fuzz_encoded(char *s)
{
	if (s == NULL)
		abort();
	return s;
}

/* A decoded state record survives a round trip unchanged. */
static void
fuzz_state(const char *buf, size_t size)
{
	struct state_record a, b;
	char err[160], *s;

	if (record_state_decode(buf, size, &a, err, sizeof(err)) != 0)
		return;
	s = fuzz_encoded(record_state_encode(&a));
	if (record_state_decode(s, strlen(s), &b, err, sizeof(err)) != 0
	    || a.state != b.state || a.term != b.term
	    || strcmp(a.leader, b.leader) != 0
	    || strcmp(a.reason, b.reason) != 0 || a.changed_ms != b.changed_ms
	    || a.open_until_ms != b.open_until_ms
	    || a.open_wait_ms != b.open_wait_ms
	    || a.failed_recoveries != b.failed_recoveries)
		abort();
	free(s);
}

/* A decoded override survives a round trip unchanged. */
static void
fuzz_override(const char *buf, size_t size)
{
	struct override_record a, b;
	char err[160], *s;

	if (record_override_decode(buf, size, &a, err, sizeof(err)) != 0)
		return;
	s = fuzz_encoded(record_override_encode(&a));
	if (record_override_decode(s, strlen(s), &b, err, sizeof(err)) != 0
	    || a.state != b.state || a.ttl_ms != b.ttl_ms
	    || a.set_ms != b.set_ms || a.until_ms != b.until_ms
	    || strcmp(a.by, b.by) != 0 || strcmp(a.reason, b.reason) != 0)
		abort();
	free(s);
}

/* A decoded instance record survives a round trip unchanged. */
static void
fuzz_instance(const char *buf, size_t size)
{
	struct instance_record a, b;
	char err[160], *s;

	if (record_instance_decode(buf, size, &a, err, sizeof(err)) != 0)
		return;
	s = fuzz_encoded(record_instance_encode(&a));
	if (record_instance_decode(s, strlen(s), &b, err, sizeof(err)) != 0
	    || strcmp(a.host, b.host) != 0 || a.pid != b.pid
	    || strcmp(a.version, b.version) != 0 || a.started_ms != b.started_ms
	    || strcmp(a.socket, b.socket) != 0)
		abort();
	free(s);
}

/* A decoded vote survives a round trip unchanged. */
static void
fuzz_vote(const char *buf, size_t size)
{
	struct vote_record a, b;
	char err[160], *s;

	if (record_vote_decode(buf, size, &a, err, sizeof(err)) != 0)
		return;
	s = fuzz_encoded(record_vote_encode(&a));
	if (record_vote_decode(s, strlen(s), &b, err, sizeof(err)) != 0
	    || a.failure_rate != b.failure_rate || a.calls != b.calls
	    || a.since_ms != b.since_ms)
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;

	fuzz_state(buf, size);
	fuzz_override(buf, size);
	fuzz_instance(buf, size);
	fuzz_vote(buf, size);
	return 0;
}
