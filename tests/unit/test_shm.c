/*
 * test_shm.c - the shared-memory state table without a daemon: header
 * checks, the seqlock (round trip, a torn slot gives up), the drain's
 * validation of hostile counters, permits and the ramp's admission, the
 * client library answering from a table file (and falling back when it
 * is stale, stopped, torn or reused), and a multi-process stress run:
 * readers only ever see answers the writer published, and every counted
 * report is drained exactly once.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "breakerd_client.h"
#include "config.h"
#include "harness.h"
#include "log.h"
#include "registry.h"
#include "shm.h"
#include "util.h"

#define NSLOTS 4

/* An anonymous shared mapping that forked children share. */
static struct shm_header *
table_anon(uint32_t nslots)
{
	void *m = mmap(NULL, shm_table_size(nslots), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(m != MAP_FAILED);
	shm_table_init(m, nslots, 42, 1, 10, now_mono_ms());
	return m;
}

static void
answer_set(struct shm_answer_copy *a, uint32_t answer, uint64_t version)
{
	memset(a, 0, sizeof(*a));
	a->generation = 1;
	a->answer = answer;
	a->version = version;
	a->ramp_share = SHM_RAMP_FULL;
	a->slow_call_ms = 100;
}

/* A good header passes; each broken field is refused. */
static void
test_header(void)
{
	struct shm_header *h = table_anon(NSLOTS);
	size_t len = shm_table_size(NSLOTS);

	CU_ASSERT_EQUAL(shm_header_check(h, len), 0);
	CU_ASSERT_EQUAL(shm_header_check(h, len - 1), -1);
	CU_ASSERT_EQUAL(shm_header_check(h, 64), -1);
	h->magic ^= 1;
	CU_ASSERT_EQUAL(shm_header_check(h, len), -1);
	h->magic ^= 1;
	h->layout_version = 2;
	CU_ASSERT_EQUAL(shm_header_check(h, len), -1);
	h->layout_version = SHM_LAYOUT_VERSION;
	h->slot_size = 100;
	CU_ASSERT_EQUAL(shm_header_check(h, len), -1);
	h->slot_size = SHM_SLOT_SIZE;
	h->nslots = 0xffffffffu;
	CU_ASSERT_EQUAL(shm_header_check(h, len), -1);
	h->nslots = NSLOTS;
	CU_ASSERT_EQUAL(shm_header_check(h, len), 0);
	munmap(h, len);
}

/* What is written is read back; an odd sequence is given up on. */
static void
test_seqlock(void)
{
	struct shm_header *h = table_anon(NSLOTS);
	struct shm_slot *s = shm_slot_at(h, 2);
	struct shm_answer_copy a, b;
	char name[SHM_NAME_MAX + 1];
	uint32_t gen;

	answer_set(&a, SHM_ANSWER_DENY, 77);
	a.state = BREAKER_OPEN;
	a.authority = 1;
	shm_slot_write(s, &a, "ledger-db");
	CU_ASSERT_EQUAL(shm_slot_read(s, &b), 0);
	CU_ASSERT_EQUAL(memcmp(&a, &b, sizeof a), 0);
	CU_ASSERT_EQUAL(shm_slot_name(s, name, &gen), 0);
	CU_ASSERT_STRING_EQUAL(name, "ledger-db");
	CU_ASSERT_EQUAL(gen, 1);
	CU_ASSERT_EQUAL(atomic_load(&s->seq) % 2, 0);
	/* A writer that died half-way: bounded tries, then -1. */
	atomic_fetch_add(&s->seq, 1);
	CU_ASSERT_EQUAL(shm_slot_read(s, &b), -1);
	CU_ASSERT_EQUAL(shm_slot_name(s, name, &gen), -1);
	atomic_fetch_add(&s->seq, 1);
	/* A name without its NUL is refused. */
	for (size_t k = 0; k < nitems(s->name); k++)
		atomic_store(&s->name[k], 0x7878787878787878ULL);
	CU_ASSERT_EQUAL(shm_slot_name(s, name, &gen), -1);
	munmap(h, shm_table_size(NSLOTS));
}

/* A client's report counters: ok, fail, ok-but-slow and slow ms. */
static void
counts(uint64_t *cur, uint64_t ok, uint64_t fail, uint64_t ok_slow,
    uint64_t slow_ms)
{
	cur[SHM_C_OK] = ok;
	cur[SHM_C_FAIL] = fail;
	cur[SHM_C_OK_SLOW] = ok_slow;
	cur[SHM_C_SLOW_MS] = slow_ms;
}

/* Plan one drain with a slow threshold of 100 ms; refused or not. */
static void
plan(const uint64_t *last, const uint64_t *cur, uint32_t budget,
    struct shm_plan *p, bool rejected)
{
	shm_drain_plan(last, cur, budget, 100, p);
	CU_ASSERT_EQUAL(p->rejected, rejected);
}

/* Normal increments, budget, going back, jumps, wrap-around, sums. */
static void
test_drain_plan(void)
{
	uint64_t last[SHM_C_NREPORT] = {0}, cur[SHM_C_NREPORT] = {0};
	struct shm_plan p;

	counts(cur, 10, 5, 2, 600);
	plan(last, cur, 1000, &p, false);
	CU_ASSERT_EQUAL(p.feed[SHM_C_OK], 10);
	CU_ASSERT_EQUAL(p.feed[SHM_C_FAIL], 5);
	CU_ASSERT_EQUAL(p.feed[SHM_C_OK_SLOW], 2);
	CU_ASSERT_EQUAL(p.slow_ms, 300);
	/* Over budget: in proportion, every delta still counted. */
	counts(cur, 3000, 1000, 0, 0);
	plan(last, cur, 400, &p, false);
	CU_ASSERT_EQUAL(p.delta[SHM_C_OK], 3000);
	CU_ASSERT_EQUAL(p.feed[SHM_C_OK], 300);
	CU_ASSERT_EQUAL(p.feed[SHM_C_FAIL], 100);
	/* A counter that went back is refused. */
	last[SHM_C_OK] = 5000;
	plan(last, cur, 400, &p, true);
	CU_ASSERT_EQUAL(p.feed[SHM_C_FAIL], 0);
	/* An absurd jump is refused. */
	memset(last, 0, sizeof last);
	cur[SHM_C_OK] = (uint64_t)SHM_DRAIN_ABSURD + 1;
	plan(last, cur, 400, &p, true);
	/* Wrap-around of a 64-bit counter is an ordinary step. */
	memset(cur, 0, sizeof cur);
	last[SHM_C_OK] = UINT64_MAX - 1;
	cur[SHM_C_OK] = 3;
	plan(last, cur, 400, &p, false);
	CU_ASSERT_EQUAL(p.delta[SHM_C_OK], 5);
	/* A duration sum no slow call explains is refused. */
	memset(last, 0, sizeof last);
	memset(cur, 0, sizeof cur);
	cur[SHM_C_SLOW_MS] = 1;
	plan(last, cur, 400, &p, true);
	/* An average below slow_call_ms is raised to it. */
	cur[SHM_C_SLOW] = 4;
	cur[SHM_C_SLOW_MS] = 8;
	plan(last, cur, 400, &p, false);
	CU_ASSERT_EQUAL(p.slow_ms, 100);
}

/* Exactly share of every 10^6 calls, spread out. */
static void
test_ramp(void)
{
	unsigned n = 0, run = 0, maxrun = 0;

	for (uint64_t i = 0; i < SHM_RAMP_FULL; i++) {
		bool ok = shm_ramp_admits(i, 250000);

		n += ok;
		run = ok ? 0 : run + 1;
		maxrun = run > maxrun ? run : maxrun;
	}
	CU_ASSERT_EQUAL(n, 250000);
	CU_ASSERT_TRUE(maxrun <= 4);
	CU_ASSERT_FALSE(shm_ramp_admits(7, 0));
	CU_ASSERT_TRUE(shm_ramp_admits(7, SHM_RAMP_FULL));
}

/* Four processes race for 100 permits: exactly 100 are granted. */
static void
test_permits_processes(void)
{
	struct shm_header *h = table_anon(NSLOTS);
	struct shm_slot *s = shm_slot_at(h, 0);
	_Atomic uint64_t *granted = &shm_slot_at(h, 1)->allowed;
	pid_t pids[4];
	int st;

	atomic_store(&s->permits, (uint64_t)5 << 32 | 100);
	CU_ASSERT_FALSE(shm_permit_claim(s, 4)); /* another period */
	for (int i = 0; i < 4; i++) {
		if ((pids[i] = fork()) == 0) {
			for (int k = 0; k < 1000; k++)
				if (shm_permit_claim(s, 5))
					atomic_fetch_add(granted, 1);
			_exit(0);
		}
		CU_ASSERT_FATAL(pids[i] > 0);
	}
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(waitpid(pids[i], &st, 0), pids[i]);
		CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CU_ASSERT_EQUAL(atomic_load(granted), 100);
	CU_ASSERT_EQUAL((uint32_t)atomic_load(&s->permits), 0);
	munmap(h, shm_table_size(NSLOTS));
}

/* Everything in a slot is a function of its version: a torn read shows. */
static void
stress_answer(struct shm_answer_copy *a, uint64_t v)
{
	answer_set(a, (uint32_t)(v % 3) + 1, v);
	a->state = (uint32_t)(v % BREAKER_NSTATES);
	a->authority = (uint32_t)(v % 3);
	a->ramp_share = (uint32_t)(v % (SHM_RAMP_FULL + 1));
	a->permit_epoch = (uint32_t)(v * 7);
	a->slow_call_ms = (uint32_t)(v ^ 0x5a5a);
}

#define STRESS_KIDS    6
#define STRESS_REPORTS 200000

/*
 * A child: report STRESS_REPORTS calls and read all along, checking each
 * read, until it has seen the writer move 1000 times (10 s at most).
 * 0 if every read was a published answer.
 */
static int
stress_child(struct shm_header *h, int id)
{
	uint64_t seen[NSLOTS] = {0}, good = 0, moved = 0;
	uint64_t until = now_mono_ms() + 10000;
	struct shm_answer_copy a, want;

	for (int k = 0; k < STRESS_REPORTS || moved < 1000; k++) {
		uint32_t i = (uint32_t)(k + id) % NSLOTS;
		struct shm_slot *s = shm_slot_at(h, i);

		if (k >= STRESS_REPORTS && k % 1024 == 0
		    && now_mono_ms() > until)
			break;
		if (k < STRESS_REPORTS) {
			atomic_fetch_add_explicit(
			    &s->report[k % 5], 1, memory_order_relaxed);
			if (k % 5 == SHM_C_SLOW)
				atomic_fetch_add_explicit(
				    &s->report[SHM_C_SLOW_MS], 200,
				    memory_order_release);
		}
		if (shm_slot_read(s, &a) == -1)
			continue; /* torn: the socket would answer */
		stress_answer(&want, a.version);
		if (memcmp(&a, &want, sizeof a) != 0 || a.version < seen[i])
			return 1; /* not what the writer published */
		moved += a.version != seen[i];
		seen[i] = a.version;
		good++;
	}
	/* Reads must have overlapped the writer, or nothing was tested. */
	return good > 0 && moved >= 1000 ? 0 : 2;
}

/* The writer: publish versions, drain, until every child is done. */
static void
test_stress_processes(void)
{
	struct shm_header *h = table_anon(NSLOTS);
	uint64_t last[NSLOTS][SHM_C_NREPORT], total = 0, ms = 0, v = 0;
	struct shm_answer_copy a;
	struct shm_plan p;
	pid_t pids[STRESS_KIDS];
	int st, done = 0, bad = 0;

	memset(last, 0, sizeof last);
	for (uint32_t i = 0; i < NSLOTS; i++) {
		stress_answer(&a, ++v);
		shm_slot_write(shm_slot_at(h, i), &a, NULL);
	}
	for (int i = 0; i < STRESS_KIDS; i++) {
		if ((pids[i] = fork()) == 0)
			_exit(stress_child(h, i));
		CU_ASSERT_FATAL(pids[i] > 0);
	}
	while (done < STRESS_KIDS) {
		for (uint32_t i = 0; i < NSLOTS; i++) {
			stress_answer(&a, ++v);
			shm_slot_write(shm_slot_at(h, i), &a, NULL);
		}
		if (v % 64 == 0 || done == STRESS_KIDS - 1) {
			for (uint32_t i = 0; i < NSLOTS; i++) {
				uint64_t cur[SHM_C_NREPORT];

				shm_report_snapshot(shm_slot_at(h, i), cur);
				shm_drain_plan(last[i], cur, 64, 100, &p);
				CU_ASSERT_FALSE(p.rejected);
				memcpy(last[i], cur, sizeof cur);
				for (int k = 0; k < SHM_C_SLOW_MS; k++)
					total += p.delta[k];
				ms += p.delta[SHM_C_SLOW_MS];
			}
		}
		for (int i = 0; i < STRESS_KIDS; i++) {
			if (pids[i] == 0 || waitpid(pids[i], &st, WNOHANG) == 0)
				continue;
			bad += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
				fprintf(stderr, "child status %d\n", st);
			pids[i] = 0;
			done++;
		}
	}
	/* A last drain after every child has gone. */
	for (uint32_t i = 0; i < NSLOTS; i++) {
		uint64_t cur[SHM_C_NREPORT];

		shm_report_snapshot(shm_slot_at(h, i), cur);
		shm_drain_plan(last[i], cur, 64, 100, &p);
		for (int k = 0; k < SHM_C_SLOW_MS; k++)
			total += p.delta[k];
		ms += p.delta[SHM_C_SLOW_MS];
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(total, (uint64_t)STRESS_KIDS * STRESS_REPORTS);
	CU_ASSERT_EQUAL(ms, (uint64_t)STRESS_KIDS * (STRESS_REPORTS / 5) * 200);
	CU_ASSERT_TRUE(v > NSLOTS); /* the writer really moved meanwhile */
	munmap(h, shm_table_size(NSLOTS));
}

/* A table file beside a socket nobody listens on, for the client. */
struct fake {
	char dir[64], sock[96], shm[112];
	struct shm_header *h;
};

static void
fake_open(struct fake *f)
{
	size_t len = shm_table_size(2);
	struct shm_answer_copy a;
	int fd;

	snprintf(f->dir, sizeof f->dir, "/tmp/bd-test-shm.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
	snprintf(f->sock, sizeof f->sock, "%s/s.sock", f->dir);
	snprintf(f->shm, sizeof f->shm, "%s.shm", f->sock);
	fd = open(f->shm, O_RDWR | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(ftruncate(fd, (off_t)len) == 0);
	f->h = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	CU_ASSERT_FATAL(f->h != MAP_FAILED);
	shm_table_init(f->h, 2, 7, 1, 10, now_mono_ms());
	answer_set(&a, SHM_ANSWER_ALLOW, 3);
	shm_slot_write(shm_slot_at(f->h, 0), &a, "payments");
	answer_set(&a, SHM_ANSWER_DENY, 4);
	a.state = BREAKER_FORCED_OPEN;
	a.authority = 2;
	shm_slot_write(shm_slot_at(f->h, 1), &a, "ledger-db");
}

static void
fake_close(struct fake *f)
{
	munmap(f->h, shm_table_size(2));
	unlink(f->shm);
	rmdir(f->dir);
}

static struct bd_client *
fake_client(struct fake *f)
{
	struct bd_options o;

	bd_options_init(&o);
	o.socket_path = f->sock;
	o.fail_open = 0; /* a socket answer would be a deny */
	o.timeout_ms = 50;
	o.reconnect_ms = 1;
	return bd_open(&o);
}

/* The client answers from the table, and counts what it reports. */
static void
test_client_table(void)
{
	struct fake f;
	struct bd_client *c;
	struct bd_view v;
	struct bd_table_stats st;
	struct shm_slot *s;

	fake_open(&f);
	s = shm_slot_at(f.h, 0);
	c = fake_client(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(bd_allow(c, "payments"), 1);
	CU_ASSERT_EQUAL(bd_allow(c, "ledger-db"), 0);
	CU_ASSERT_EQUAL(bd_get(c, "ledger-db", &v), 0);
	CU_ASSERT_STRING_EQUAL(v.state, "FORCED_OPEN");
	CU_ASSERT_STRING_EQUAL(v.authority, "local");
	CU_ASSERT_EQUAL(v.version, 4);
	CU_ASSERT_EQUAL(bd_report(c, "payments", BD_OK, 5), 0);
	CU_ASSERT_EQUAL(bd_report(c, "payments", BD_OK, 150), 0);
	CU_ASSERT_EQUAL(bd_report(c, "payments", BD_FAIL, 1), 0);
	CU_ASSERT_EQUAL(bd_report(c, "payments", BD_SLOW, 20), 0);
	CU_ASSERT_EQUAL(atomic_load(&s->report[SHM_C_OK]), 1);
	CU_ASSERT_EQUAL(atomic_load(&s->report[SHM_C_OK_SLOW]), 1);
	CU_ASSERT_EQUAL(atomic_load(&s->report[SHM_C_FAIL]), 1);
	CU_ASSERT_EQUAL(atomic_load(&s->report[SHM_C_SLOW]), 1);
	CU_ASSERT_EQUAL(atomic_load(&s->report[SHM_C_SLOW_MS]), 170);
	CU_ASSERT_EQUAL(atomic_load(&s->allowed), 1);
	CU_ASSERT_EQUAL(bd_table_stats(c, &st), 0);
	CU_ASSERT_EQUAL(st.mapped, 1);
	CU_ASSERT_EQUAL(st.fallbacks, 0);
	/* Unknown here: the socket (down: fail closed). */
	CU_ASSERT_EQUAL(bd_allow(c, "nosuch"), 0);
	bd_table_stats(c, &st);
	CU_ASSERT_EQUAL(st.fallbacks, 1);
	bd_close(c);
	fake_close(&f);
}

/* Half-open: exactly the permits of the period, then denies. */
static void
test_client_permits(void)
{
	struct fake f;
	struct bd_client *c;
	struct shm_answer_copy a;
	int n = 0;

	fake_open(&f);
	answer_set(&a, SHM_ANSWER_PERMIT, 9);
	a.state = BREAKER_HALF_OPEN;
	a.permit_epoch = 3;
	atomic_store(&shm_slot_at(f.h, 0)->permits, (uint64_t)3 << 32 | 3);
	shm_slot_write(shm_slot_at(f.h, 0), &a, NULL);
	c = fake_client(&f);
	for (int i = 0; i < 10; i++)
		n += bd_allow(c, "payments");
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(atomic_load(&shm_slot_at(f.h, 0)->denied), 7);
	bd_close(c);
	fake_close(&f);
}

/* Stale, stopped, torn and reused slots all go to the socket. */
static void
test_client_fallbacks(void)
{
	struct fake f;
	struct bd_client *c;
	struct bd_table_stats st;
	struct shm_slot *s;
	struct shm_answer_copy a;

	fake_open(&f);
	s = shm_slot_at(f.h, 0);
	c = fake_client(&f);
	CU_ASSERT_EQUAL(bd_allow(c, "payments"), 1);
	/* Torn: odd sequence. */
	atomic_fetch_add(&s->seq, 1);
	CU_ASSERT_EQUAL(bd_allow(c, "payments"), 0);
	atomic_fetch_add(&s->seq, 1);
	CU_ASSERT_EQUAL(bd_allow(c, "payments"), 1);
	/* Reused for something else: new generation. */
	answer_set(&a, SHM_ANSWER_ALLOW, 3);
	a.generation = 2;
	shm_slot_write(s, &a, NULL);
	CU_ASSERT_EQUAL(bd_allow(c, "payments"), 0);
	a.generation = 1;
	shm_slot_write(s, &a, NULL);
	/* Stale heartbeat. */
	atomic_store(&f.h->heartbeat, now_mono_ms() - 5000);
	CU_ASSERT_EQUAL(bd_allow(c, "payments"), 0);
	CU_ASSERT_EQUAL(bd_report(c, "payments", BD_OK, 1), BD_EUNREACH);
	atomic_store(&f.h->heartbeat, now_mono_ms());
	/* Stopped. */
	atomic_store(&f.h->status, SHM_STATUS_STOPPED);
	CU_ASSERT_EQUAL(bd_allow(c, "payments"), 0);
	CU_ASSERT_EQUAL(bd_table_stats(c, &st), 0);
	CU_ASSERT_EQUAL(st.mapped, 0);
	CU_ASSERT_EQUAL(st.torn, 1);
	CU_ASSERT_TRUE(st.stale >= 3);
	CU_ASSERT_EQUAL(atomic_load(&s->report[SHM_C_OK]), 0);
	bd_close(c);
	fake_close(&f);
}

/* A daemon-side table for a registry, in a file of its own. */
struct daemon_side {
	char dir[64];
	struct config cfg;
	struct registry *reg;
	struct shm *t;
	struct shm_header *h; /* a client's view of the same file */
	size_t len;
};

static void
daemon_open(struct daemon_side *ds, uint64_t now)
{
	static const char text[] =
	    "{\"socket\":{\"path\":\"/tmp/x.sock\",\"shm_drain_ms\":10},"
	    "\"dependencies\":[{\"name\":\"a\",\"breaker\":{\"window\":"
	    "\"count\",\"window_size\":4,\"minimum_calls\":4,"
	    "\"failure_rate_pct\":50,\"open_wait_ms\":100,"
	    "\"open_wait_max_ms\":100,\"jitter_pct\":0,"
	    "\"half_open_calls\":3}},{\"name\":\"b\"}]}";
	char err[256], path[128];
	int fd;

	snprintf(ds->dir, sizeof ds->dir, "/tmp/bd-test-shmd.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(ds->dir));
	CU_ASSERT_EQUAL_FATAL(
	    config_parse(text, sizeof text - 1, "t", &ds->cfg, err, sizeof err),
	    0);
	CU_ASSERT_STRING_EQUAL(ds->cfg.shm_path, "/tmp/x.sock.shm");
	snprintf(path, sizeof path, "%s/t.shm", ds->dir);
	free(ds->cfg.shm_path);
	ds->cfg.shm_path = xstrdup(path);
	ds->reg = registry_new(&ds->cfg, 1, now);
	ds->t = shm_open_table(&ds->cfg, ds->reg, now);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ds->t);
	fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	ds->len = (size_t)lseek(fd, 0, SEEK_END);
	/* spare slots beyond the two dependencies, for reloads */
	CU_ASSERT_FATAL(ds->len >= shm_table_size(2 + 16));
	ds->h = mmap(NULL, ds->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	CU_ASSERT_FATAL(ds->h != MAP_FAILED);
	CU_ASSERT_EQUAL(shm_header_check(ds->h, ds->len), 0);
}

/* One drain interval later: the daemon publishes what changed since. */
static void
drain_tick(struct daemon_side *ds, uint64_t *now)
{
	*now += 10;
	shm_drain(ds->t, *now);
}

static void
daemon_close(struct daemon_side *ds)
{
	char path[128];

	snprintf(path, sizeof path, "%s/t.shm", ds->dir);
	munmap(ds->h, ds->len);
	shm_close(ds->t);
	CU_ASSERT_EQUAL(access(path, F_OK), -1); /* removed at close */
	registry_free(ds->reg);
	config_free(&ds->cfg);
	rmdir(ds->dir);
}

static uint32_t
slot_answer(struct shm_header *h, uint32_t i, struct shm_answer_copy *a)
{
	CU_ASSERT_EQUAL(shm_slot_read(shm_slot_at(h, i), a), 0);
	return a->answer;
}

/*
 * The daemon's side end to end: reports in the counters trip the
 * breaker at the next drain, the open wait leads to HALF_OPEN with the
 * permits lent to the table, and the table's claims plus the socket's
 * never exceed them.
 */
static void
test_daemon_drain_trip_permits(void)
{
	struct daemon_side ds;
	struct shm_answer_copy a;
	struct shm_slot *s;
	uint64_t now = 1000;
	int granted = 0;

	daemon_open(&ds, now);
	s = shm_slot_at(ds.h, 0);
	CU_ASSERT_EQUAL(slot_answer(ds.h, 0, &a), SHM_ANSWER_ALLOW);
	CU_ASSERT_EQUAL(a.slow_call_ms, 60000);
	atomic_fetch_add(&s->report[SHM_C_FAIL], 4);
	atomic_fetch_add(&s->allowed, 4);
	CU_ASSERT_EQUAL(slot_answer(ds.h, 0, &a), SHM_ANSWER_ALLOW);
	drain_tick(&ds, &now);
	CU_ASSERT_EQUAL(slot_answer(ds.h, 0, &a), SHM_ANSWER_DENY);
	CU_ASSERT_EQUAL(a.state, BREAKER_OPEN);
	CU_ASSERT_EQUAL(
	    dep_counters(registry_at(ds.reg, 0))->calls[BREAKER_FAIL], 4);
	CU_ASSERT_EQUAL(dep_counters(registry_at(ds.reg, 0))->allowed, 4);
	CU_ASSERT_EQUAL(atomic_load(&ds.h->heartbeat), now);
	/* The open wait ends on a tick: HALF_OPEN, 3 permits in the table. */
	now += 200;
	registry_tick(ds.reg, now);
	drain_tick(&ds, &now);
	CU_ASSERT_EQUAL(slot_answer(ds.h, 0, &a), SHM_ANSWER_PERMIT);
	CU_ASSERT_EQUAL((uint32_t)atomic_load(&s->permits), 3);
	CU_ASSERT_EQUAL(shm_stats(ds.t)->permits_lent, 3);
	granted += shm_permit_claim(s, a.permit_epoch);
	/* A hostile client puts permits back: the period's are forfeit (we
	 * cannot know how many were claimed meanwhile). */
	atomic_store(&s->permits, (uint64_t)a.permit_epoch << 32 | 50);
	drain_tick(&ds, &now);
	CU_ASSERT_EQUAL((uint32_t)atomic_load(&s->permits), 0);
	atomic_store(&s->permits, (uint64_t)a.permit_epoch << 32 | 2);
	drain_tick(&ds, &now);
	CU_ASSERT_EQUAL((uint32_t)atomic_load(&s->permits), 0);
	CU_ASSERT_TRUE(shm_stats(ds.t)->rejected >= 1);
	/* The socket's ALLOW claims from the same pool. */
	for (int i = 0; i < 5; i++) {
		struct dep_view v;

		granted += dep_allow(registry_at(ds.reg, 0), now, &v);
		granted += shm_permit_claim(s, a.permit_epoch);
	}
	CU_ASSERT_EQUAL(granted, 1); /* the rest were forfeit */
	/* Three good trial calls through the table close it again. */
	atomic_fetch_add(&s->report[SHM_C_OK], 3);
	drain_tick(&ds, &now);
	CU_ASSERT_EQUAL(slot_answer(ds.h, 0, &a), SHM_ANSWER_ALLOW);
	CU_ASSERT_EQUAL(a.state, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(slot_answer(ds.h, 1, &a), SHM_ANSWER_ALLOW);
	daemon_close(&ds);
}

/* In a fleet, a dependency not read yet in this session asks the socket. */
static void
test_daemon_held_until_synced(void)
{
	struct daemon_side ds;
	struct shm_answer_copy a;
	uint64_t now = 1000;

	daemon_open(&ds, now);
	registry_set_session(ds.reg, FLEET_CONNECTED, now);
	drain_tick(&ds, &now);
	CU_ASSERT_EQUAL(slot_answer(ds.h, 0, &a), SHM_ANSWER_SOCKET);
	CU_ASSERT_EQUAL(a.flags & SHM_FLAG_HELD, SHM_FLAG_HELD);
	dep_set_synced(registry_at(ds.reg, 0), true, now);
	drain_tick(&ds, &now);
	CU_ASSERT_EQUAL(slot_answer(ds.h, 0, &a), SHM_ANSWER_ALLOW);
	CU_ASSERT_EQUAL(a.authority, AUTH_AUTHORITATIVE);
	CU_ASSERT_EQUAL(slot_answer(ds.h, 1, &a), SHM_ANSWER_SOCKET);
	/* Lost with fail-closed policy would deny; default last-known: the
	 * last fleet state (none: local breaker) answers, stale or local. */
	registry_set_session(ds.reg, FLEET_SUSPENDED, now);
	drain_tick(&ds, &now);
	CU_ASSERT_EQUAL(slot_answer(ds.h, 0, &a), SHM_ANSWER_ALLOW);
	daemon_close(&ds);
}

/*
 * A reload removes a dependency: its slot is freed (generation bumped,
 * no name, "ask the socket") and a client falls back to the socket; one
 * added takes a free slot that a client finds once it maps anew (the
 * header's names_gen tells it to).
 */
static void
test_daemon_add_remove(void)
{
	struct daemon_side ds;
	struct dep_config extra;
	struct shm_answer_copy a;
	struct bd_options o;
	struct bd_client *c;
	struct bd_table_stats st;
	struct dep *b, *d;
	uint64_t now = now_mono_ms(); /* the client judges the heartbeat */
	uint32_t gen = 0, names_gen, slot = 0;
	char name[SHM_NAME_MAX + 1], path[128];
	int i, got;

	daemon_open(&ds, now);
	snprintf(path, sizeof path, "%s/t.shm", ds.dir);
	setenv("BREAKERD_SHM", path, 1);
	bd_options_init(&o);
	o.socket_path = "/nonexistent/breakerd.sock";
	o.fail_open = 0; /* a socket answer would be a deny */
	o.timeout_ms = 50;
	o.reconnect_ms = 1;
	c = bd_open(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(bd_allow(c, "b"), 1); /* from the table */
	b = registry_find(ds.reg, "b");
	CU_ASSERT_EQUAL(shm_slot_name(shm_slot_at(ds.h, 1), name, &gen), 0);
	CU_ASSERT_STRING_EQUAL(name, "b");
	names_gen = atomic_load(&ds.h->names_gen);

	shm_remove_dep(ds.t, b);
	registry_remove(ds.reg, b);
	CU_ASSERT_EQUAL(
	    shm_slot_name(shm_slot_at(ds.h, 1), name, &a.generation), 0);
	CU_ASSERT_STRING_EQUAL(name, "");
	CU_ASSERT_EQUAL(a.generation, gen + 1);
	CU_ASSERT_EQUAL(slot_answer(ds.h, 1, &a), SHM_ANSWER_SOCKET);
	CU_ASSERT_NOT_EQUAL(atomic_load(&ds.h->names_gen), names_gen);
	CU_ASSERT_EQUAL(bd_allow(c, "b"), 0); /* the socket: none, denied */
	now = now_mono_ms();
	shm_drain(ds.t, now); /* a free slot stays free */
	CU_ASSERT_EQUAL(slot_answer(ds.h, 1, &a), SHM_ANSWER_SOCKET);
	/* The changed generation made the client map again: wait for it,
	 * so that its index is older than c below. */
	for (i = 0, st.maps = 0; i < 500 && st.maps < 2; i++) {
		/* (a socket request is where a client maps again) */
		CU_ASSERT_EQUAL(bd_allow(c, "b"), 0);
		bd_table_stats(c, &st);
		if (st.maps < 2)
			usleep(2000);
		shm_drain(ds.t, now_mono_ms());
	}
	CU_ASSERT_EQUAL(st.maps, 2);

	memset(&extra, 0, sizeof extra);
	extra = *config_find_dep(&ds.cfg, "a");
	snprintf(extra.name, sizeof extra.name, "c");
	extra.health.url = extra.health.host = NULL;
	d = registry_add(ds.reg, &extra, 7, now);
	CU_ASSERT_EQUAL(shm_add_dep(ds.t, d), 0);
	for (uint32_t k = 0; k < ds.h->nslots; k++)
		if (shm_slot_name(shm_slot_at(ds.h, k), name, &gen) == 0
		    && strcmp(name, "c") == 0)
			slot = k;
	CU_ASSERT_EQUAL(slot, 1); /* the first free one: b's */
	CU_ASSERT_EQUAL(slot_answer(ds.h, slot, &a), SHM_ANSWER_ALLOW);
	/* The client's index predates c: it maps again, then answers. */
	for (i = 0, got = 0; i < 500 && got != 1; i++) {
		got = bd_allow(c, "c");
		if (got != 1)
			usleep(2000);
		shm_drain(ds.t, now_mono_ms()); /* fresh: no remap for that */
	}
	CU_ASSERT_EQUAL(got, 1);
	CU_ASSERT_EQUAL(bd_allow(c, "b"), 0);
	CU_ASSERT_EQUAL(bd_allow(c, "a"), 1);
	bd_close(c);
	unsetenv("BREAKERD_SHM");
	daemon_close(&ds);
}

static const struct harness_test tests[] = {
    {"header check", test_header},
    {"seqlock", test_seqlock},
    {"drain plan", test_drain_plan},
    {"ramp admission", test_ramp},
    {"permits across processes", test_permits_processes},
    {"stress: processes read, report, writer flips", test_stress_processes},
    {"client answers from the table", test_client_table},
    {"client half-open permits", test_client_permits},
    {"client falls back", test_client_fallbacks},
    {"daemon: drain trips, permits lent", test_daemon_drain_trip_permits},
    {"daemon: held until synced", test_daemon_held_until_synced},
    {"daemon: reload adds and removes", test_daemon_add_remove},
    {NULL, NULL},
};

int
main(void)
{
	log_init("test_shm", LOG_LVL_ERROR);
	return harness_run("shm", tests);
}
