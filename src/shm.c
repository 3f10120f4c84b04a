/*
 * shm.c - the daemon writes the shared-memory state table that local
 * applications answer ALLOW and GET from without a system call, and takes
 * back what they counted there (docs/protocol.md, "Shared-memory table").
 *
 * The file is made complete under a temporary name and renamed into
 * place, so a reader never maps a half-written table; a daemon that dies
 * while writing a slot leaves that slot's seqlock odd, which readers give
 * up on after a bounded number of tries.
 *
 * The table has spare slots beyond the dependencies it starts with, so
 * that a reload can add one without a new file.  A removed dependency's
 * slot is freed (generation bumped, name cleared, answer "ask the
 * socket"): a client holding the old index sees the generation change
 * and falls back to the socket, and its next index skips the slot.  The
 * header's names_gen moves on every such change, so a client that does
 * not find a name looks again.
 *
 * Everything clients write (counters, permits) is untrusted: a drain takes
 * at most SHM_DRAIN_SLOT_MAX calls per slot one by one into the breaker,
 * counts the rest only, and refuses a counter that went back or jumped
 * by more than any real rate could (counted, logged, resynchronised).
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "log.h"
#include "shm.h"
#include "util.h"

#define SHM_DAY_MS       86400000u
#define SHM_STALE_MIN_MS 1000u
#define SHM_SPARE_MIN    16u /* free slots for dependencies added live */

struct shm {
	char *path;
	struct registry *reg;
	struct shm_header *hdr;
	size_t len;
	uint32_t nslots;
	dev_t dev;
	ino_t ino;
	struct dep **deps;
	struct shm_answer_copy *cur; /* what each slot says now */
	uint64_t (*last)[SHM_C_NREPORT];
	uint64_t *last_allowed;
	uint64_t *last_denied;
	uint64_t *permit_last; /* permits word as last seen */
	uint64_t rejected_logged_ms;
	uint64_t now_ms;
	uint32_t names_gen; /* header's: bumped when a slot is named anew */
	struct shm_stats stats;
};

/* Which breaker outcome each counter kind is fed as. */
static const enum breaker_outcome shm_kind_outcome[SHM_C_SLOW_MS] = {
    BREAKER_OK, BREAKER_OK, BREAKER_FAIL, BREAKER_FAIL, BREAKER_SLOW};

/* Lay out the header and empty slots; the caller then fills the slots. */
void
shm_table_init(void *mem, uint32_t nslots, uint64_t boot_id, uint32_t pid,
    uint32_t drain_ms, uint64_t now_ms)
{
	struct shm_header *h = mem;

	memset(mem, 0, shm_table_size(nslots));
	h->magic = SHM_MAGIC;
	h->layout_version = SHM_LAYOUT_VERSION;
	h->header_size = SHM_HEADER_SIZE;
	h->slot_size = SHM_SLOT_SIZE;
	h->nslots = nslots;
	h->boot_id = boot_id;
	h->pid = pid;
	h->drain_ms = drain_ms;
	h->heartbeat_ms = drain_ms;
	h->stale_ms =
	    drain_ms * 4 > SHM_STALE_MIN_MS ? drain_ms * 4 : SHM_STALE_MIN_MS;
	atomic_store_explicit(&h->heartbeat, now_ms, memory_order_relaxed);
	atomic_store_explicit(
	    &h->status, SHM_STATUS_RUNNING, memory_order_release);
}

/*
 * The seqlock's writer side: odd sequence, release fence, the fields,
 * then the even sequence with release, so a reader that saw the same
 * even value before and after saw no field of another write.
 */
void
shm_slot_write(
    struct shm_slot *s, const struct shm_answer_copy *a, const char *name)
{
	uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
	uint64_t w[(SHM_NAME_MAX + 8) / 8];

	atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(
	    &s->generation, a->generation, memory_order_relaxed);
	atomic_store_explicit(&s->state, a->state, memory_order_relaxed);
	atomic_store_explicit(&s->answer, a->answer, memory_order_relaxed);
	atomic_store_explicit(
	    &s->authority, a->authority, memory_order_relaxed);
	atomic_store_explicit(&s->flags, a->flags, memory_order_relaxed);
	atomic_store_explicit(
	    &s->ramp_share, a->ramp_share, memory_order_relaxed);
	atomic_store_explicit(
	    &s->slow_call_ms, a->slow_call_ms, memory_order_relaxed);
	atomic_store_explicit(
	    &s->permit_epoch, a->permit_epoch, memory_order_relaxed);
	atomic_store_explicit(&s->version, a->version, memory_order_relaxed);
	if (name != NULL) {
		memset(w, 0, sizeof w);
		memcpy(w, name, strnlen(name, SHM_NAME_MAX));
		for (size_t k = 0; k < nitems(w); k++)
			atomic_store_explicit(
			    &s->name[k], w[k], memory_order_relaxed);
	}
	atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

void
shm_report_snapshot(struct shm_slot *s, uint64_t cur[SHM_C_NREPORT])
{
	cur[SHM_C_SLOW_MS] = atomic_load_explicit(
	    &s->report[SHM_C_SLOW_MS], memory_order_acquire);
	for (int k = 0; k < SHM_C_SLOW_MS; k++)
		cur[k] =
		    atomic_load_explicit(&s->report[k], memory_order_relaxed);
}

/*
 * Validate one slot's counters against what the last drain saw and split
 * the increments into calls fed one by one (at most budget, in proportion)
 * and calls only counted.  A counter that went back or jumped by more than
 * SHM_DRAIN_ABSURD, or a duration total that the slow calls counted so
 * far do not explain (more than a day each), rejects the whole drain of
 * the slot.
 */
void
shm_drain_plan(const uint64_t last[SHM_C_NREPORT],
    const uint64_t cur[SHM_C_NREPORT], uint32_t budget, uint32_t slow_call_ms,
    struct shm_plan *p)
{
	uint64_t n = 0, nslow, ms, avg, all_slow;

	memset(p, 0, sizeof(*p));
	for (int k = 0; k < SHM_C_NREPORT; k++) {
		p->delta[k] = cur[k] - last[k]; /* modulo 2^64: wraps fine */
		if (k != SHM_C_SLOW_MS && p->delta[k] > SHM_DRAIN_ABSURD)
			goto reject;
		if (k != SHM_C_SLOW_MS)
			n += p->delta[k];
	}
	nslow = p->delta[SHM_C_OK_SLOW] + p->delta[SHM_C_FAIL_SLOW]
	    + p->delta[SHM_C_SLOW];
	ms = p->delta[SHM_C_SLOW_MS];
	/* The duration check is on the totals, not on this drain's deltas: a
	 * report's count and its duration may fall on either side of a drain
	 * (shm_report_snapshot), but every millisecond ever seen has its call
	 * seen by then.  The per-drain bound only catches a sum that went
	 * back (a huge delta modulo 2^64). */
	all_slow = cur[SHM_C_OK_SLOW] + cur[SHM_C_FAIL_SLOW] + cur[SHM_C_SLOW];
	if (cur[SHM_C_SLOW_MS] / SHM_DAY_MS > all_slow
	    || (cur[SHM_C_SLOW_MS] % SHM_DAY_MS != 0
	        && cur[SHM_C_SLOW_MS] / SHM_DAY_MS == all_slow)
	    || ms / SHM_DAY_MS > SHM_DRAIN_ABSURD)
		goto reject;
	avg = nslow == 0 ? 0 : ms / nslow;
	if (avg > UINT32_MAX)
		avg = UINT32_MAX;
	p->slow_ms = avg < slow_call_ms ? slow_call_ms : (uint32_t)avg;
	for (int k = 0; k < SHM_C_SLOW_MS; k++)
		p->feed[k] = n <= budget ? (uint32_t)p->delta[k]
		                         : (uint32_t)(p->delta[k] * budget / n);
	return;
reject:
	memset(p, 0, sizeof(*p));
	p->rejected = true;
}

static struct shm_slot *
shm_slot(struct shm *t, size_t i)
{
	return shm_slot_at(t->hdr, (uint32_t)i);
}

/* Rejections are counted always, logged at most once a minute. */
static void
shm_reject(struct shm *t, size_t i, const char *what)
{
	t->stats.rejected++;
	if (t->rejected_logged_ms != 0
	    && t->now_ms - t->rejected_logged_ms < 60000)
		return;
	t->rejected_logged_ms = t->now_ms;
	log_warnx("shm: %s: refused %s written by a client (%llu so far)",
	    dep_name(t->deps[i]), what, (unsigned long long)t->stats.rejected);
}

/* Feed the planned calls interleaved, so no kind comes in one run. */
static uint32_t
shm_feed(struct shm *t, size_t i, const struct shm_plan *p)
{
	uint32_t left[SHM_C_SLOW_MS], fed = 0;
	bool more = true;

	memcpy(left, p->feed, sizeof left);
	while (more) {
		more = false;
		for (int k = 0; k < SHM_C_SLOW_MS; k++) {
			if (left[k] == 0)
				continue;
			left[k]--;
			fed++;
			more = true;
			dep_report(t->deps[i], t->now_ms, shm_kind_outcome[k],
			    k == SHM_C_OK || k == SHM_C_FAIL ? 0 : p->slow_ms);
		}
	}
	return fed;
}

/* One counter that only grows by a plausible step; -1 if refused. */
static int
shm_take_count(_Atomic uint64_t *c, uint64_t *last, uint64_t *delta)
{
	uint64_t v = atomic_load_explicit(c, memory_order_relaxed);

	*delta = v - *last;
	*last = v;
	if (*delta > SHM_DRAIN_ABSURD) {
		*delta = 0;
		return -1;
	}
	return 0;
}

/* Drain slot i's counters into its dependency; *budget is shared. */
static void
shm_drain_slot(struct shm *t, size_t i, uint32_t *budget)
{
	struct shm_slot *s = shm_slot(t, i);
	uint64_t cur[SHM_C_NREPORT], calls[BREAKER_NOUTCOMES] = {0};
	uint64_t allowed = 0, denied = 0;
	struct shm_plan p;
	uint32_t fed;

	if (t->deps[i] == NULL)
		return; /* free: nothing of it is counted */
	if (shm_take_count(&s->allowed, &t->last_allowed[i], &allowed) == -1
	    || shm_take_count(&s->denied, &t->last_denied[i], &denied) == -1)
		shm_reject(t, i, "an answer counter");
	shm_report_snapshot(s, cur);
	shm_drain_plan(t->last[i], cur,
	    *budget < SHM_DRAIN_SLOT_MAX ? *budget : SHM_DRAIN_SLOT_MAX,
	    dep_config(t->deps[i])->breaker.slow_call_ms, &p);
	memcpy(t->last[i], cur, sizeof cur);
	if (p.rejected)
		shm_reject(t, i, "a report counter");
	fed = shm_feed(t, i, &p);
	*budget -= fed;
	for (int k = 0; k < SHM_C_SLOW_MS; k++) {
		calls[shm_kind_outcome[k]] += p.delta[k] - p.feed[k];
		t->stats.calls += p.delta[k];
		t->stats.sampled_out += p.delta[k] - p.feed[k];
	}
	dep_count_table(t->deps[i], allowed, denied, calls);
}

static uint32_t
shm_answer_of(enum dep_answer a)
{
	switch (a) {
	case DEP_ANSWER_ALLOW:
		return SHM_ANSWER_ALLOW;
	case DEP_ANSWER_DENY:
		return SHM_ANSWER_DENY;
	case DEP_ANSWER_PERMIT:
		return SHM_ANSWER_PERMIT;
	case DEP_ANSWER_ASK:
		break;
	}
	return SHM_ANSWER_SOCKET;
}

/*
 * Permits only go down between two looks, within the period we lent
 * them for.  Any other value was written by a hostile client; how many
 * permits were claimed since our last look is then unknown, so the rest
 * of the period is forfeit: never more trial calls than permitted.
 */
static void
shm_check_permits(struct shm *t, size_t i)
{
	struct shm_slot *s = shm_slot(t, i);
	uint64_t w = atomic_load_explicit(&s->permits, memory_order_relaxed);
	uint64_t was = t->permit_last[i];

	if ((w >> 32) != (was >> 32) || (uint32_t)w > (uint32_t)was) {
		w = was >> 32 << 32; /* the period, no permit left */
		atomic_store_explicit(&s->permits, w, memory_order_release);
		t->permit_last[i] = w;
		shm_reject(t, i, "a half-open permit count");
		return;
	}
	t->permit_last[i] = w;
}

/* Lend the breaker's half-open permits to the table as a new period. */
static void
shm_lend_permits(struct shm *t, size_t i, struct shm_answer_copy *a)
{
	uint32_t n = breaker_take_permits(dep_breaker(t->deps[i]));
	uint64_t w;

	if (n == 0)
		return;
	a->permit_epoch++;
	w = (uint64_t)a->permit_epoch << 32 | n;
	atomic_store_explicit(
	    &shm_slot(t, i)->permits, w, memory_order_release);
	t->permit_last[i] = w;
	t->stats.permits_lent += n;
}

/* Recompute slot i's answer and write it if it changed. */
static void
shm_publish_at(struct shm *t, size_t i)
{
	struct dep *d = t->deps[i];
	struct shm_answer_copy a = t->cur[i];
	struct dep_view v;

	if (d == NULL)
		return; /* a free slot says "ask the socket" */
	dep_view(d, t->now_ms, &v);
	a.state = (uint32_t)v.state;
	a.version = v.version;
	a.authority = (uint32_t)v.authority;
	a.answer = shm_answer_of(dep_answer(d));
	a.flags = a.answer == SHM_ANSWER_SOCKET ? SHM_FLAG_HELD : 0;
	/* the recovery ramp's share; the client admits along it */
	a.ramp_share = v.ramp_ppm != 0 ? v.ramp_ppm : SHM_RAMP_FULL;
	a.slow_call_ms = dep_config(d)->breaker.slow_call_ms;
	if (a.answer == SHM_ANSWER_PERMIT) {
		shm_check_permits(t, i);
		shm_lend_permits(t, i, &a);
	}
	if (memcmp(&a, &t->cur[i], sizeof a) == 0)
		return;
	shm_slot_write(shm_slot(t, i), &a, NULL);
	t->cur[i] = a;
	t->stats.answers++;
}

void
shm_publish(struct shm *t, struct dep *d)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nslots; i++)
		if (t->deps[i] == d) {
			shm_publish_at(t, i);
			return;
		}
}

/* Heartbeat, then every slot's counters from a rotating start, then
 * every answer (a change hook may have been missed: this heals it). */
void
shm_drain(struct shm *t, uint64_t now_ms)
{
	uint32_t budget = SHM_DRAIN_TOTAL_MAX;
	size_t start;

	if (t == NULL)
		return;
	t->now_ms = now_ms;
	atomic_store_explicit(&t->hdr->heartbeat, now_ms, memory_order_release);
	start = (size_t)(t->stats.drains++ % t->nslots);
	for (size_t n = 0; n < t->nslots; n++)
		shm_drain_slot(t, (start + n) % t->nslots, &budget);
	for (size_t i = 0; i < t->nslots; i++)
		shm_publish_at(t, i);
}

bool
shm_claim_permit(struct dep *d, void *arg)
{
	struct shm *t = arg;

	for (size_t i = 0; i < t->nslots; i++)
		if (t->deps[i] == d && d != NULL)
			return t->cur[i].answer == SHM_ANSWER_PERMIT
			    && shm_permit_claim(
			        shm_slot(t, i), t->cur[i].permit_epoch);
	return false;
}

/* The socket's group (when set) and mode, minus execute bits. */
static int
shm_set_perms(int fd, const struct config *cfg, const char *path)
{
	struct group *gr;

	if (cfg->socket_group != NULL && *cfg->socket_group != '\0') {
		if ((gr = getgrnam(cfg->socket_group)) == NULL) {
			log_warnx("shm: unknown group %s", cfg->socket_group);
			return -1;
		}
		if (fchown(fd, (uid_t)-1, gr->gr_gid) == -1) {
			log_warn("shm: chown %s", path);
			return -1;
		}
	}
	if (fchmod(fd, cfg->socket_mode & 0666) == -1) {
		log_warn("shm: chmod %s", path);
		return -1;
	}
	return 0;
}

/* Create, size and map the temporary file; -1 (logged) on failure. */
static int
shm_map_temp(struct shm *t, const char *tmp, const struct config *cfg)
{
	struct stat st;
	mode_t old;
	int fd;

	if (unlink(tmp) == -1 && errno != ENOENT) {
		log_warn("shm: unlink %s", tmp);
		return -1;
	}
	old = umask(S_IRWXG | S_IRWXO);
	fd =
	    open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	umask(old);
	if (fd == -1) {
		log_warn("shm: create %s", tmp);
		return -1;
	}
	if (ftruncate(fd, (off_t)t->len) == -1 || fstat(fd, &st) == -1
	    || shm_set_perms(fd, cfg, tmp) == -1) {
		log_warn("shm: prepare %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->hdr = mmap(NULL, t->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (t->hdr == MAP_FAILED) {
		log_warn("shm: mmap %s", tmp);
		t->hdr = NULL;
		unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 * Name slot i for d (NULL: free it) under a new generation, answering
 * "ask the socket" until shm_publish_at says more.  What clients counted
 * in it before is taken as the new starting point, not as d's calls.
 */
static void
shm_name_slot(struct shm *t, size_t i, struct dep *d)
{
	struct shm_slot *s = shm_slot(t, i);
	struct shm_answer_copy a;

	memset(&a, 0, sizeof a);
	a.generation = t->cur[i].generation + 1;
	a.permit_epoch = t->cur[i].permit_epoch + 1;
	a.answer = SHM_ANSWER_SOCKET;
	a.flags = SHM_FLAG_HELD;
	t->deps[i] = d;
	/* No permit of the old period stays claimable. */
	t->permit_last[i] = (uint64_t)a.permit_epoch << 32;
	atomic_store_explicit(
	    &s->permits, t->permit_last[i], memory_order_release);
	shm_slot_write(s, &a, d != NULL ? dep_name(d) : "");
	t->cur[i] = a;
	shm_report_snapshot(s, t->last[i]);
	t->last_allowed[i] =
	    atomic_load_explicit(&s->allowed, memory_order_relaxed);
	t->last_denied[i] =
	    atomic_load_explicit(&s->denied, memory_order_relaxed);
	shm_publish_at(t, i);
}

/* Fill every slot: the dependencies at generation 1, then free ones. */
static void
shm_fill(struct shm *t)
{
	for (size_t i = 0; i < t->nslots; i++) {
		t->cur[i].generation = 0;
		t->cur[i].permit_epoch = (uint32_t)-1;
		shm_name_slot(t, i, registry_at(t->reg, i));
	}
}

/* The header's names_gen: clients that miss a name remap when it moved. */
static void
shm_names_moved(struct shm *t)
{
	atomic_store_explicit(
	    &t->hdr->names_gen, ++t->names_gen, memory_order_release);
}

int
shm_add_dep(struct shm *t, struct dep *d)
{
	if (t == NULL)
		return 0;
	for (size_t i = 0; i < t->nslots; i++)
		if (t->deps[i] == NULL) {
			shm_name_slot(t, i, d);
			shm_names_moved(t);
			return 0;
		}
	log_warnx("shm: no free slot for %s: its applications use the "
	          "socket until a restart",
	    dep_name(d));
	return -1;
}

void
shm_remove_dep(struct shm *t, struct dep *d)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nslots; i++)
		if (t->deps[i] == d) {
			uint32_t budget = SHM_DRAIN_SLOT_MAX;

			shm_drain_slot(t, i, &budget); /* its last calls */
			shm_name_slot(t, i, NULL);
			shm_names_moved(t);
			return;
		}
}

static void
shm_free(struct shm *t)
{
	if (t->hdr != NULL)
		munmap(t->hdr, t->len);
	free(t->deps);
	free(t->cur);
	free(t->last);
	free(t->last_allowed);
	free(t->last_denied);
	free(t->permit_last);
	free(t->path);
	free(t);
}

struct shm *
shm_open_table(const struct config *cfg, struct registry *reg, uint64_t now_ms)
{
	struct shm *t;
	char *tmp;
	size_t n = registry_count(reg), spare;

	spare = n / 4 > SHM_SPARE_MIN ? n / 4 : SHM_SPARE_MIN;
	if (cfg->shm_path == NULL || n > SHM_SLOTS_MAX)
		return NULL;
	n = n + spare > SHM_SLOTS_MAX ? SHM_SLOTS_MAX : n + spare;
	t = xcalloc(1, sizeof(*t));
	t->path = xstrdup(cfg->shm_path);
	t->reg = reg;
	t->nslots = (uint32_t)n;
	t->len = shm_table_size(t->nslots);
	t->now_ms = now_ms;
	t->deps = xcalloc(n, sizeof(*t->deps));
	t->cur = xcalloc(n, sizeof(*t->cur));
	t->last = xcalloc(n, sizeof(*t->last));
	t->last_allowed = xcalloc(n, sizeof(*t->last_allowed));
	t->last_denied = xcalloc(n, sizeof(*t->last_denied));
	t->permit_last = xcalloc(n, sizeof(*t->permit_last));
	xasprintf(&tmp, "%s.tmp", t->path);
	if (shm_map_temp(t, tmp, cfg) == -1) {
		free(tmp);
		shm_free(t);
		return NULL;
	}
	shm_table_init(t->hdr, t->nslots,
	    /* Differs between two starts: time moved, pid and ASLR too. */
	    now_ms ^ ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)t,
	    (uint32_t)getpid(), cfg->shm_drain_ms, now_ms);
	shm_fill(t);
	if (rename(tmp, t->path) == -1) {
		log_warn("shm: rename %s to %s", tmp, t->path);
		unlink(tmp);
		free(tmp);
		shm_free(t);
		return NULL;
	}
	free(tmp);
	registry_set_permit_pool(reg, shm_claim_permit, t);
	log_info("shm: state table %s (%zu dependencies, %u slots, drained "
	         "every %u ms)",
	    t->path, registry_count(reg), t->nslots, cfg->shm_drain_ms);
	return t;
}

/* Readers see STOPPED at once; the file goes only if it is still ours. */
void
shm_close(struct shm *t)
{
	struct stat st;

	if (t == NULL)
		return;
	atomic_store_explicit(
	    &t->hdr->status, SHM_STATUS_STOPPED, memory_order_release);
	if (stat(t->path, &st) == 0 && st.st_dev == t->dev
	    && st.st_ino == t->ino)
		unlink(t->path);
	registry_set_permit_pool(t->reg, NULL, NULL);
	shm_free(t);
}

const struct shm_stats *
shm_stats(const struct shm *t)
{
	return &t->stats;
}

const char *
shm_path(const struct shm *t)
{
	return t->path;
}

/* METRICS: the table's own series (docs/metrics.md). */
void
shm_metrics(const struct shm *t, struct evbuffer *out)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} m[] = {
	    {"breakerd_table_drains_total", "Drains of the shared table.",
	        offsetof(struct shm_stats, drains)},
	    {"breakerd_table_reports_total",
	        "Calls reported through the shared table.",
	        offsetof(struct shm_stats, calls)},
	    {"breakerd_table_reports_sampled_out_total",
	        "Table reports counted but not fed one by one to a breaker.",
	        offsetof(struct shm_stats, sampled_out)},
	    {"breakerd_table_rejected_total",
	        "Counter or permit values written by a client and refused.",
	        offsetof(struct shm_stats, rejected)},
	    {"breakerd_table_writes_total", "Slot writes by the daemon.",
	        offsetof(struct shm_stats, answers)},
	    {"breakerd_table_permits_lent_total",
	        "Half-open permits handed to the shared table.",
	        offsetof(struct shm_stats, permits_lent)},
	};

	if (t == NULL)
		return;
	for (size_t i = 0; i < nitems(m); i++)
		evbuffer_add_printf(out,
		    "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", m[i].name,
		    m[i].help, m[i].name, m[i].name,
		    (unsigned long long)*(
		        const uint64_t *)(const void *)((const char *)&t->stats
		        + m[i].off));
}
