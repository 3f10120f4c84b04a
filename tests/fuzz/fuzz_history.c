/*
 * fuzz_history.c - libFuzzer target for the history codec: any bytes a
 * writer with ensemble access could put in a history znode, and any name
 * among its children.  An entry that decodes must encode again and decode
 * to the same values; the reason parser never reads past its string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A decoded entry survives a round trip unchanged. */
static void
fuzz_roundtrip(const char *buf, size_t size)
{
	struct history_entry a, b;
	char err[160], *s;

	if (history_decode(buf, size, &a, err, sizeof(err)) != 0)
		return;
	if ((s = history_encode(&a, true)) == NULL)
		return;
	if (history_decode(s, strlen(s), &b, err, sizeof(err)) != 0
	    || a.from != b.from || a.to != b.to || a.term != b.term
	    || a.version != b.version || a.seq != b.seq || a.at_ms != b.at_ms
	    || strcmp(a.reason, b.reason) != 0 || strcmp(a.by, b.by) != 0
	    || strcmp(a.leader, b.leader) != 0 || strcmp(a.kind, b.kind) != 0)
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *str = malloc(size + 1), who[64];

	if (str == NULL)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';
	fuzz_roundtrip((const char *)data, size);
	(void)history_seq(str);
	history_who(str, who, sizeof(who));
	if (strlen(who) >= sizeof(who))
		abort();
	free(str);
	return 0;
}
