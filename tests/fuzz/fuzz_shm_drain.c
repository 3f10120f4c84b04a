/*
 * fuzz_shm_drain.c - libFuzzer target for the daemon's drain of the
 * shared-memory table: whatever a hostile client in the socket's group
 * writes into the counters and permits between drains.  The pure plan
 * must keep its bounds (never feed more than it accepted, nor more than
 * the budget), and the real drain -- a registry's table, its breakers fed
 * -- must not crash, nor leave more half-open permits than configured.
 *
 * Input: the first 13 words are a plan's (last, cur, budget); then
 * records of 10 bytes: slot, field, a 64-bit value (field 0..5 a report
 * counter, 6 allowed, 7 denied, 8 permits, 9 drain after value % 1000 ms).
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "registry.h"
#include "shm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf[] =
    "{\"socket\":{\"path\":\"/tmp/bd-fuzz-drain.sock\"},"
    "\"dependencies\":[{\"name\":\"a\",\"breaker\":{\"window_size\":4,"
    "\"minimum_calls\":2,\"open_wait_ms\":1,\"open_wait_max_ms\":1,"
    "\"half_open_calls\":2}},{\"name\":\"b\"}]}";

static struct config cfg;
static struct registry *reg;
static struct shm *table;
static struct shm_header *hdr;
static uint64_t now = 1000;

/* The plan's promises, for any pair of counter snapshots. */
static void
fuzz_plan(const uint64_t *last, const uint64_t *cur, uint32_t budget)
{
	struct shm_plan p;
	uint64_t fed = 0, acc = 0;

	shm_drain_plan(last, cur, budget, 100, &p);
	for (int k = 0; k < SHM_C_SLOW_MS; k++) {
		if (p.feed[k] > p.delta[k] || p.delta[k] > SHM_DRAIN_ABSURD)
			abort();
		if (p.rejected && (p.feed[k] != 0 || p.delta[k] != 0))
			abort();
		fed += p.feed[k];
		acc += p.delta[k];
	}
	if (fed > budget && fed != acc)
		abort();
	if (!p.rejected && p.slow_ms < 100)
		abort();
}

/* One table in a file of our own, made once and mapped here too. */
static void
fuzz_setup(void)
{
	char err[256], path[64];
	struct stat st;
	int fd;

	log_init("fuzz", LOG_LVL_ERROR);
	if (config_parse(conf, sizeof conf - 1, "fuzz", &cfg, err, sizeof err)
	    != 0)
		abort();
	snprintf(
	    path, sizeof path, "/tmp/bd-fuzz-drain.%ld.shm", (long)getpid());
	free(cfg.shm_path);
	cfg.shm_path = strdup(path);
	reg = registry_new(&cfg, 1, now);
	if ((table = shm_open_table(&cfg, reg, now)) == NULL)
		abort();
	if ((fd = open(path, O_RDWR)) == -1)
		abort();
	/* The whole file: the table has spare slots for dependencies added
	 * live, beyond the two configured. */
	if (fstat(fd, &st) == -1)
		abort();
	hdr = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	close(fd);
	unlink(path); /* mapped on both sides: keep /tmp clean */
	if (hdr == MAP_FAILED)
		abort();
}

/* After a drain: permits of the current period never above the limit. */
static void
fuzz_check(void)
{
	/* The configured dependencies' slots; the spare ones have none. */
	for (uint32_t i = 0; i < hdr->nslots && i < cfg.ndeps; i++) {
		struct shm_slot *s = shm_slot_at(hdr, i);
		struct shm_answer_copy a;
		uint64_t w = atomic_load(&s->permits);

		if (shm_slot_read(s, &a) != 0)
			abort(); /* only the daemon writes it: never torn */
		if (a.answer == SHM_ANSWER_PERMIT && (w >> 32) == a.permit_epoch
		    && (uint32_t)w > cfg.deps[i].breaker.half_open_calls)
			abort();
	}
	if (shm_stats(table)->sampled_out > shm_stats(table)->calls)
		abort();
}

/* One hostile write, or a drain. */
static void
fuzz_op(const uint8_t *r)
{
	struct shm_slot *s = shm_slot_at(hdr, r[0] % hdr->nslots);
	uint64_t v;

	memcpy(&v, r + 2, sizeof v);
	switch (r[1] % 10) {
	case 6:
		atomic_store(&s->allowed, v);
		break;
	case 7:
		atomic_store(&s->denied, v);
		break;
	case 8:
		atomic_store(&s->permits, v);
		break;
	case 9:
		now += v % 1000;
		registry_tick(reg, now);
		shm_drain(table, now);
		fuzz_check();
		break;
	default:
		atomic_store(&s->report[r[1] % 10], v);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t w[2 * SHM_C_NREPORT + 1];
	size_t head = sizeof w;

	if (table == NULL)
		fuzz_setup();
	memset(w, 0, sizeof w);
	memcpy(w, data, size < head ? size : head);
	fuzz_plan(w, w + SHM_C_NREPORT, (uint32_t)w[2 * SHM_C_NREPORT]);
	for (size_t off = head; off + 10 <= size; off += 10)
		fuzz_op(data + off);
	now += 10;
	shm_drain(table, now);
	fuzz_check();
	return 0;
}
