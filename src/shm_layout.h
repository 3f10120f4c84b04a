/*
 * shm_layout.h - the shared-memory state table that breakerd publishes
 * beside its socket, as both sides see it: the daemon (src/shm.c) writes
 * it, libbreakerd_client (src/client_shm.c) reads it and adds to its
 * counters.  Not installed: applications use breakerd_client.h, and other
 * languages read the layout from docs/protocol.md.
 *
 * The file is a header followed by nslots slots of slot_size bytes, all in
 * the host's native byte order (the table never leaves the host).  Every
 * field that changes after the file was published is a C11 atomic, so
 * readers in other processes race with nobody: the daemon writes a slot's
 * answer under a seqlock, and clients change only the counters, the
 * half-open permits and the ramp counter, each with one atomic operation.
 *
 * The inline functions below are the pure parts both sides and the tests
 * share: checking a mapped header, a bounded seqlock read, claiming a
 * permit and the ramp's admission.  They do no I/O and read no clock.
 */
#ifndef BREAKERD_SHM_LAYOUT_H
#define BREAKERD_SHM_LAYOUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SHM_MAGIC          0x31544d5344524b42ULL /* "BKRDSMT1" read LE */
#define SHM_LAYOUT_VERSION 1u
#define SHM_HEADER_SIZE    128u
#define SHM_SLOT_SIZE      384u
#define SHM_NAME_MAX       64u /* as DEP_NAME_MAX */
#define SHM_SLOTS_MAX      65536u
#define SHM_READ_TRIES     16u      /* seqlock retries before the socket */
#define SHM_RAMP_FULL      1000000u /* ramp_share in ppm: every call */

/* header.status */
enum shm_status {
	SHM_STATUS_RUNNING = 1, /* heartbeat moves; answers count */
	SHM_STATUS_STOPPED = 2  /* the daemon stopped: use the socket */
};

/* slot.answer: what an ALLOW gets, decided by the daemon. */
enum shm_answer {
	SHM_ANSWER_SOCKET = 0, /* ask the socket (held, not synced, unused) */
	SHM_ANSWER_ALLOW = 1,  /* allow (subject to ramp_share) */
	SHM_ANSWER_DENY = 2,   /* deny */
	SHM_ANSWER_PERMIT = 3  /* half-open: allow only with a claimed permit */
};

/* slot.flags */
#define SHM_FLAG_HELD 0x1u /* not synced with the fleet yet: ask socket */

/* Counters clients add to; the daemon drains them. */
enum shm_count {
	SHM_C_OK,        /* success, shorter than slow_call_ms */
	SHM_C_OK_SLOW,   /* success, duration >= slow_call_ms */
	SHM_C_FAIL,      /* failure, shorter than slow_call_ms */
	SHM_C_FAIL_SLOW, /* failure, duration >= slow_call_ms */
	SHM_C_SLOW,      /* success the application judged slow */
	SHM_C_SLOW_MS,   /* sum of durations of the three slow kinds */
	SHM_C_NREPORT
};

/*
 * The header: the first line is written once before the file is renamed
 * into place and never again; the second holds what moves.
 */
struct shm_header {
	uint64_t magic;
	uint32_t layout_version;
	uint32_t header_size; /* SHM_HEADER_SIZE */
	uint32_t slot_size;   /* SHM_SLOT_SIZE, or more in later layouts */
	uint32_t nslots;
	uint64_t boot_id; /* random per daemon start */
	uint32_t pid;
	uint32_t stale_ms;     /* heartbeat older than this: stale */
	uint32_t heartbeat_ms; /* how often the heartbeat moves */
	uint32_t drain_ms;     /* how often counters are drained */
	uint8_t pad0[16];
	/* offset 64: written by the daemon while it runs */
	_Atomic uint64_t heartbeat; /* CLOCK_MONOTONIC ms of the last beat */
	_Atomic uint32_t status;    /* enum shm_status */
	/* bumped when a slot is named anew (a dependency added or removed
	 * live): a reader that does not find a name maps the table again */
	_Atomic uint32_t names_gen;
	uint8_t pad1[48];
};

/*
 * One dependency.  Offsets 0..191 are the daemon's (seqlock, then the
 * name); 192.. are the clients', one cache line per kind of writer so
 * that reporting threads do not slow down allowing ones.
 */
struct shm_slot {
	/* offset 0: under the seqlock */
	_Atomic uint32_t seq;        /* odd while the daemon writes */
	_Atomic uint32_t generation; /* bumped when the slot is reused */
	_Atomic uint32_t state;      /* enum breaker_state */
	_Atomic uint32_t answer;     /* enum shm_answer */
	_Atomic uint32_t authority;  /* enum authority */
	_Atomic uint32_t flags;      /* SHM_FLAG_* */
	_Atomic uint32_t ramp_share; /* ppm, 0..SHM_RAMP_FULL */
	_Atomic uint32_t slow_call_ms;
	_Atomic uint64_t version;      /* fleet state version */
	_Atomic uint32_t permit_epoch; /* the half-open period of permits */
	uint8_t pad0[20];
	/* offset 64: the name, NUL-padded, under the seqlock too */
	_Atomic uint64_t name[(SHM_NAME_MAX + 8) / 8];
	uint8_t pad1[56];
	/* offset 192: permits (epoch << 32 | count) and the ramp counter */
	_Atomic uint64_t permits;
	_Atomic uint64_t ramp_calls;
	uint8_t pad2[48];
	/* offset 256: bd_report() */
	_Atomic uint64_t report[SHM_C_NREPORT];
	uint8_t pad3[16];
	/* offset 320: answers given from the table */
	_Atomic uint64_t allowed;
	_Atomic uint64_t denied;
	uint8_t pad4[48];
};

_Static_assert(sizeof(struct shm_header) == SHM_HEADER_SIZE, "header size");
_Static_assert(sizeof(struct shm_slot) == SHM_SLOT_SIZE, "slot size");
_Static_assert(offsetof(struct shm_header, heartbeat) == 64, "heartbeat");
_Static_assert(offsetof(struct shm_slot, name) == 64, "name offset");
_Static_assert(offsetof(struct shm_slot, permits) == 192, "permits offset");
_Static_assert(offsetof(struct shm_slot, report) == 256, "report offset");
_Static_assert(offsetof(struct shm_slot, allowed) == 320, "allowed offset");

/* A consistent copy of a slot's daemon-written part. */
struct shm_answer_copy {
	uint32_t generation;
	uint32_t state;
	uint32_t answer;
	uint32_t authority;
	uint32_t flags;
	uint32_t ramp_share;
	uint32_t slow_call_ms;
	uint32_t permit_epoch;
	uint64_t version;
};

/* The table's size for n slots. */
static inline size_t
shm_table_size(uint32_t nslots)
{
	return SHM_HEADER_SIZE + (size_t)nslots * SHM_SLOT_SIZE;
}

/*
 * Is a mapping of len bytes a table this code can read?  Everything a
 * reader later indexes is checked here once.  0, or -1.
 */
static inline int
shm_header_check(const struct shm_header *h, size_t len)
{
	if (len < SHM_HEADER_SIZE || h->magic != SHM_MAGIC
	    || h->layout_version != SHM_LAYOUT_VERSION
	    || h->header_size != SHM_HEADER_SIZE || h->slot_size < SHM_SLOT_SIZE
	    || h->slot_size % 64 != 0 || h->nslots == 0
	    || h->nslots > SHM_SLOTS_MAX)
		return -1;
	if ((len - SHM_HEADER_SIZE) / h->slot_size < h->nslots)
		return -1;
	return 0;
}

/* Slot i of a checked table. */
static inline struct shm_slot *
shm_slot_at(struct shm_header *h, uint32_t i)
{
	return (struct shm_slot *)((char *)h + SHM_HEADER_SIZE
	    + (size_t)i * h->slot_size);
}

/*
 * Read a slot's answer under its seqlock: at most SHM_READ_TRIES tries,
 * then give up (a torn or abandoned slot), so a reader never spins on a
 * daemon that died mid-write.  0 with *out filled, or -1.
 */
static inline int
shm_slot_read(struct shm_slot *s, struct shm_answer_copy *out)
{
	for (unsigned i = 0; i < SHM_READ_TRIES; i++) {
		uint32_t s1, s2;

		s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (s1 & 1u)
			continue;
		out->generation =
		    atomic_load_explicit(&s->generation, memory_order_relaxed);
		out->state =
		    atomic_load_explicit(&s->state, memory_order_relaxed);
		out->answer =
		    atomic_load_explicit(&s->answer, memory_order_relaxed);
		out->authority =
		    atomic_load_explicit(&s->authority, memory_order_relaxed);
		out->flags =
		    atomic_load_explicit(&s->flags, memory_order_relaxed);
		out->ramp_share =
		    atomic_load_explicit(&s->ramp_share, memory_order_relaxed);
		out->slow_call_ms = atomic_load_explicit(
		    &s->slow_call_ms, memory_order_relaxed);
		out->permit_epoch = atomic_load_explicit(
		    &s->permit_epoch, memory_order_relaxed);
		out->version =
		    atomic_load_explicit(&s->version, memory_order_relaxed);
		/* The loads above must not move below the second check. */
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&s->seq, memory_order_relaxed);
		if (s1 == s2)
			return 0;
	}
	return -1;
}

/*
 * Copy a slot's name under its seqlock into buf (SHM_NAME_MAX + 1 bytes)
 * with its generation.  0, or -1 if torn or not a terminated name.
 */
static inline int
shm_slot_name(struct shm_slot *s, char *buf, uint32_t *gen)
{
	uint64_t w[(SHM_NAME_MAX + 8) / 8];

	for (unsigned i = 0; i < SHM_READ_TRIES; i++) {
		uint32_t s1, s2;

		s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (s1 & 1u)
			continue;
		*gen =
		    atomic_load_explicit(&s->generation, memory_order_relaxed);
		for (size_t k = 0; k < sizeof w / sizeof w[0]; k++)
			w[k] = atomic_load_explicit(
			    &s->name[k], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&s->seq, memory_order_relaxed);
		if (s1 != s2)
			continue;
		memcpy(buf, w, SHM_NAME_MAX + 1);
		if (memchr(buf, '\0', SHM_NAME_MAX + 1) == NULL)
			return -1;
		return 0;
	}
	return -1;
}

/*
 * Claim one half-open permit of period epoch: the count only goes down,
 * by compare-and-swap, so the permitted number holds across processes.
 * A bounded number of tries: on contention past it, no permit.
 */
static inline bool
shm_permit_claim(struct shm_slot *s, uint32_t epoch)
{
	uint64_t cur = atomic_load_explicit(&s->permits, memory_order_relaxed);

	for (unsigned i = 0; i < 64; i++) {
		if ((uint32_t)(cur >> 32) != epoch || (uint32_t)cur == 0)
			return false;
		if (atomic_compare_exchange_weak_explicit(&s->permits, &cur,
		        cur - 1, memory_order_acq_rel, memory_order_relaxed))
			return true;
	}
	return false;
}

/*
 * The ramp's admission of call n (counted on the host): admitted when the
 * running total floor(n * share / 10^6) steps up, so that of every 10^6
 * calls exactly share are admitted, evenly spread.
 */
static inline bool
shm_ramp_admits(uint64_t n, uint32_t share)
{
	if (share >= SHM_RAMP_FULL)
		return true;
	n %= SHM_RAMP_FULL;
	return (n + 1) * share / SHM_RAMP_FULL > n * share / SHM_RAMP_FULL;
}

#endif
