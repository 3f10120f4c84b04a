/*
 * client_shm.c - libbreakerd_client's fast path: ALLOW, GET and REPORT
 * answered from the daemon's shared-memory state table (shm_layout.h)
 * with loads and atomic adds only, no system call.
 *
 * A table is used only while its header says RUNNING and its heartbeat
 * is younger than stale_ms, measured with CLOCK_MONOTONIC_COARSE (a vDSO
 * read, no system call, a few ns).  Anything unexpected -- no table, a
 * stale one, a torn slot after SHM_READ_TRIES reads, a slot reused for
 * another dependency, a value out of range -- answers -1 and the caller
 * asks the socket, which then applies the fail-open/closed policy.
 *
 * Mappings are never unmapped while the handle lives: another thread may
 * be reading one.  A replaced table is retired (at most BDT_RETIRED_MAX,
 * then the handle stays on the socket) and freed by bd_close().
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_shm.h"
#include "shm_layout.h"

struct bd_table {
	struct shm_header *h;
	size_t len;
	uint32_t nslots;
	uint32_t stale_ms;
	uint64_t boot_id;
	uint32_t names_gen; /* the header's when the index was built */
	uint32_t mask;      /* index size - 1 */
	int32_t *index;     /* name hash -> slot, -1 empty */
	char (*names)[SHM_NAME_MAX + 1];
	uint32_t *gen; /* generation when the index was built */
};

static const char *const bdt_states[] = {
    "CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN", "DISABLED", "METRICS_ONLY"};
static const char *const bdt_auth[] = {"authoritative", "stale", "local"};

/* Milliseconds on the coarse monotonic clock (the daemon's clock). */
static uint64_t
bdt_now_ms(void)
{
	struct timespec ts;

#ifdef CLOCK_MONOTONIC_COARSE
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
	clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* FNV-1a: short names, no allocation, good enough spread. */
static uint32_t
bdt_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Is t mapped, RUNNING and beating?  One relaxed load each. */
static int
bdt_fresh(const struct bd_table *t)
{
	uint64_t hb, now;

	if (atomic_load_explicit(&t->h->status, memory_order_relaxed)
	    != SHM_STATUS_RUNNING)
		return 0;
	hb = atomic_load_explicit(&t->h->heartbeat, memory_order_relaxed);
	now = bdt_now_ms();
	return now <= hb || now - hb <= t->stale_ms;
}

/* The slot of dep in t, or -1. */
static int32_t
bdt_find(const struct bd_table *t, const char *dep)
{
	uint32_t i = bdt_hash(dep) & t->mask;

	for (uint32_t n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
		int32_t s = t->index[i];

		if (s < 0)
			return -1;
		if (strcmp(t->names[s], dep) == 0)
			return s;
	}
	return -1;
}

/* A fallback to the socket, counted by cause. */
static int
bdt_fallback(struct bd_tabctl *ctl, _Atomic uint64_t *why)
{
	if (why != NULL)
		atomic_fetch_add_explicit(why, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ctl->fallbacks, 1, memory_order_relaxed);
	return -1;
}

/*
 * The common part of every fast call: a fresh table, dep's slot, and a
 * consistent copy of its answer of the generation the index knows.
 */
static struct shm_slot *
bdt_slot(struct bd_tabctl *ctl, const char *dep, struct shm_answer_copy *a)
{
	struct bd_table *t =
	    atomic_load_explicit(&ctl->cur, memory_order_acquire);
	struct shm_slot *s;
	int32_t i;

	if (ctl->off)
		return NULL;
	if (t == NULL) {
		bdt_fallback(ctl, NULL);
		return NULL;
	}
	if (!bdt_fresh(t)) {
		bdt_fallback(ctl, &ctl->stale);
		return NULL;
	}
	if ((i = bdt_find(t, dep)) < 0) {
		/* Slots named since the index was built (a reload): remap. */
		if (atomic_load_explicit(&t->h->names_gen, memory_order_acquire)
		    != t->names_gen)
			atomic_store_explicit(
			    &ctl->want_remap, 1, memory_order_relaxed);
		bdt_fallback(ctl, NULL);
		return NULL;
	}
	s = shm_slot_at(t->h, (uint32_t)i);
	if (shm_slot_read(s, a) == -1) {
		bdt_fallback(ctl, &ctl->torn);
		return NULL;
	}
	if (a->generation != t->gen[i]) {
		atomic_store_explicit(
		    &ctl->want_remap, 1, memory_order_relaxed);
		bdt_fallback(ctl, NULL);
		return NULL;
	}
	return s;
}

int
bdt_allow(struct bd_tabctl *ctl, const char *dep)
{
	struct shm_answer_copy a;
	struct shm_slot *s;
	int ok;

	if ((s = bdt_slot(ctl, dep, &a)) == NULL)
		return -1;
	switch (a.answer) {
	case SHM_ANSWER_ALLOW:
		ok = a.ramp_share >= SHM_RAMP_FULL
		    || shm_ramp_admits(atomic_fetch_add_explicit(&s->ramp_calls,
		                           1, memory_order_relaxed),
		        a.ramp_share);
		break;
	case SHM_ANSWER_DENY:
		ok = 0;
		break;
	case SHM_ANSWER_PERMIT:
		ok = shm_permit_claim(s, a.permit_epoch);
		break;
	default:
		return bdt_fallback(ctl, NULL);
	}
	atomic_fetch_add_explicit(
	    ok ? &s->allowed : &s->denied, 1, memory_order_relaxed);
	return ok;
}

int
bdt_get(struct bd_tabctl *ctl, const char *dep, struct bd_view *v)
{
	struct shm_answer_copy a;

	if (bdt_slot(ctl, dep, &a) == NULL)
		return -1;
	if (a.answer == SHM_ANSWER_SOCKET || a.state >= 6 || a.authority >= 3)
		return bdt_fallback(ctl, NULL);
	memset(v, 0, sizeof *v);
	memcpy(v->dep, dep, strlen(dep) + 1);
	memcpy(v->state, bdt_states[a.state], strlen(bdt_states[a.state]) + 1);
	memcpy(v->authority, bdt_auth[a.authority],
	    strlen(bdt_auth[a.authority]) + 1);
	v->version = a.version;
	return 0;
}

int
bdt_report(struct bd_tabctl *ctl, const char *dep, enum bd_outcome o,
    unsigned duration_ms)
{
	struct shm_answer_copy a;
	struct shm_slot *s;
	int slow, k;

	if ((s = bdt_slot(ctl, dep, &a)) == NULL)
		return -1;
	slow = duration_ms >= a.slow_call_ms;
	switch (o) {
	case BD_OK:
		k = slow ? SHM_C_OK_SLOW : SHM_C_OK;
		break;
	case BD_FAIL:
		k = slow ? SHM_C_FAIL_SLOW : SHM_C_FAIL;
		break;
	case BD_SLOW:
		k = SHM_C_SLOW;
		slow = 1;
		break;
	default:
		return -1;
	}
	/* The call first, the duration after it with release: the daemon
	 * reads the duration first (acquire), so a drain between the two
	 * adds finds a sum below what its calls explain (harmless), never
	 * one above it (which it would refuse). */
	atomic_fetch_add_explicit(&s->report[k], 1, memory_order_relaxed);
	if (slow)
		atomic_fetch_add_explicit(&s->report[SHM_C_SLOW_MS],
		    duration_ms, memory_order_release);
	return 0;
}

static void
bdt_table_free(struct bd_table *t)
{
	if (t == NULL)
		return;
	munmap(t->h, t->len);
	free(t->index);
	free(t->names);
	free(t->gen);
	free(t);
}

/* Index every slot by name; -1 if a slot cannot be read. */
static int
bdt_index(struct bd_table *t)
{
	uint32_t size = 2;

	while (size < t->nslots * 2)
		size *= 2;
	t->mask = size - 1;
	t->index = malloc(size * sizeof *t->index);
	t->names = calloc(t->nslots, sizeof *t->names);
	t->gen = calloc(t->nslots, sizeof *t->gen);
	if (t->index == NULL || t->names == NULL || t->gen == NULL)
		return -1;
	memset(t->index, 0xff, size * sizeof *t->index);
	for (uint32_t s = 0; s < t->nslots; s++) {
		uint32_t i;

		if (shm_slot_name(shm_slot_at(t->h, s), t->names[s], &t->gen[s])
		    == -1)
			return -1;
		if (t->names[s][0] == '\0' || bdt_find(t, t->names[s]) >= 0)
			continue; /* unused, or a duplicate: first one wins */
		for (i = bdt_hash(t->names[s]) & t->mask; t->index[i] >= 0;
		     i = (i + 1) & t->mask)
			;
		t->index[i] = (int32_t)s;
	}
	return 0;
}

/* Map and check the table at path; NULL if there is none usable. */
static struct bd_table *
bdt_map(const char *path)
{
	struct bd_table *t;
	struct stat st;
	void *m;
	int fd;

	if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)
	    || st.st_size < (off_t)SHM_HEADER_SIZE) {
		close(fd);
		return NULL;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return NULL;
	if ((t = calloc(1, sizeof *t)) == NULL) {
		munmap(m, (size_t)st.st_size);
		return NULL;
	}
	t->h = m;
	t->len = (size_t)st.st_size;
	if (shm_header_check(t->h, t->len) == -1) {
		bdt_table_free(t);
		return NULL;
	}
	t->nslots = t->h->nslots;
	t->stale_ms = t->h->stale_ms < 100 ? 100 : t->h->stale_ms;
	t->boot_id = t->h->boot_id;
	/* Read before the names: a change while indexing remaps again. */
	t->names_gen =
	    atomic_load_explicit(&t->h->names_gen, memory_order_acquire);
	if (bdt_index(t) == -1 || !bdt_fresh(t)) {
		bdt_table_free(t);
		return NULL;
	}
	return t;
}

void
bdt_init(struct bd_tabctl *ctl, const char *socket_path)
{
	const char *env = getenv("BREAKERD_SHM");
	int n;

	memset(ctl, 0, sizeof *ctl);
	atomic_init(&ctl->cur, NULL);
	if (env != NULL && strcmp(env, "off") == 0) {
		ctl->off = 1;
		return;
	}
	if (env != NULL && *env != '\0')
		n = snprintf(ctl->path, sizeof ctl->path, "%s", env);
	else
		n = snprintf(
		    ctl->path, sizeof ctl->path, "%s.shm", socket_path);
	if (n < 0 || (size_t)n >= sizeof ctl->path)
		ctl->off = 1;
}

void
bdt_free(struct bd_tabctl *ctl)
{
	bdt_table_free(atomic_load(&ctl->cur));
	for (unsigned i = 0; i < ctl->nretired; i++)
		bdt_table_free(ctl->retired[i]);
	memset(ctl, 0, sizeof *ctl);
}

/* Swap in a new table, retiring the old one (never unmapped here). */
static void
bdt_install(struct bd_tabctl *ctl, struct bd_table *t)
{
	struct bd_table *old = atomic_load(&ctl->cur);

	if (old != NULL)
		ctl->retired[ctl->nretired++] = old;
	atomic_store_explicit(&ctl->cur, t, memory_order_release);
	atomic_store_explicit(&ctl->want_remap, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&ctl->maps, 1, memory_order_relaxed);
}

void
bdt_refresh(struct bd_tabctl *ctl, uint64_t now_ms, int retry_ms)
{
	struct bd_table *cur = atomic_load(&ctl->cur), *t;

	if (ctl->off || now_ms < ctl->next_try_ms)
		return;
	if (cur != NULL && bdt_fresh(cur)
	    && !atomic_load_explicit(&ctl->want_remap, memory_order_relaxed))
		return;
	ctl->next_try_ms = now_ms + (uint64_t)(retry_ms > 0 ? retry_ms : 1000);
	if (cur != NULL && ctl->nretired == BDT_RETIRED_MAX)
		return; /* no room to retire it: stay on the socket */
	if ((t = bdt_map(ctl->path)) == NULL)
		return;
	if (cur != NULL && t->boot_id == cur->boot_id
	    && !atomic_load(&ctl->want_remap)) {
		bdt_table_free(t); /* the same daemon's table, still stale */
		return;
	}
	bdt_install(ctl, t);
}

void
bdt_stats(struct bd_tabctl *ctl, struct bd_table_stats *st)
{
	struct bd_table *t = atomic_load(&ctl->cur);

	memset(st, 0, sizeof *st);
	st->mapped = t != NULL && bdt_fresh(t);
	st->maps = atomic_load(&ctl->maps);
	st->fallbacks = atomic_load(&ctl->fallbacks);
	st->stale = atomic_load(&ctl->stale);
	st->torn = atomic_load(&ctl->torn);
}
