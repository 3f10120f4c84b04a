/*
 * fuzz_shm_reader.c - libFuzzer target for libbreakerd_client's reader of
 * the shared-memory table: any bytes a hostile writer could leave in the
 * file.  The input becomes the table file (with a fresh heartbeat, so
 * that the reader gets past the first check); the client maps it, indexes
 * its names and answers ALLOW, GET and REPORT for every name it holds and
 * a few it does not.  No crash, no hang, and GET only ever gives a known
 * state and authority.  The reader's own file is included so that its
 * static functions are reached without the socket.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/client_shm.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define READER_MAX (1u << 20)

/* A GET from the table names a state and an authority we know. */
static void
fuzz_get(struct bd_tabctl *ctl, const char *dep)
{
	struct bd_view v;
	int ok = 0;

	if (bdt_get(ctl, dep, &v) != 0)
		return;
	for (size_t i = 0; i < sizeof bdt_states / sizeof bdt_states[0]; i++)
		ok |= strcmp(v.state, bdt_states[i]) == 0;
	if (!ok || strcmp(v.dep, dep) != 0)
		abort();
}

/* Ask about dep in every way. */
static void
fuzz_ask(struct bd_tabctl *ctl, const char *dep)
{
	int a = bdt_allow(ctl, dep);

	if (a < -1 || a > 1)
		abort();
	fuzz_get(ctl, dep);
	bdt_report(ctl, dep, BD_OK, 5);
	bdt_report(ctl, dep, BD_FAIL, 100000);
	bdt_report(ctl, dep, BD_SLOW, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct bd_tabctl ctl;
	struct bd_table *t;
	uint8_t *buf;
	FILE *f;

	if (size > READER_MAX)
		return 0;
	if (path[0] == '\0')
		snprintf(path, sizeof path, "/tmp/bd-fuzz-reader.%ld.shm",
		    (long)getpid());
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	if (size >= SHM_HEADER_SIZE) {
		/* Fresh and running: the interesting checks come after. */
		uint64_t now = bdt_now_ms();
		uint32_t running = SHM_STATUS_RUNNING;

		memcpy(buf + 64, &now, sizeof now);
		memcpy(buf + 72, &running, sizeof running);
	}
	if ((f = fopen(path, "wb")) == NULL
	    || fwrite(buf, 1, size, f) != size) {
		if (f != NULL)
			fclose(f);
		free(buf);
		return 0;
	}
	fclose(f);
	free(buf);
	bdt_init(&ctl, "/nonexistent");
	snprintf(ctl.path, sizeof ctl.path, "%s", path);
	bdt_refresh(&ctl, 1, 1000);
	unlink(path);
	if ((t = atomic_load(&ctl.cur)) != NULL)
		for (uint32_t i = 0; i < t->nslots && i < 64; i++)
			fuzz_ask(&ctl, t->names[i]);
	fuzz_ask(&ctl, "payments");
	fuzz_ask(&ctl, "");
	bdt_free(&ctl);
	return 0;
}
