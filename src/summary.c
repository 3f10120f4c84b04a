/*
 * summary.c - publishes this instance's window summaries and, on a
 * dependency's leader, reads everybody's (see summary.h).
 *
 * One timer a second drives both sides.  The publisher keeps the latest
 * summary of each fleet-window dependency in one JSON object and hands it
 * to instdata as the key "windows" of the instance znode when a summary
 * changed (at most once per dependency interval); instdata coalesces it
 * with the node's other data into one write.
 *
 * The reader runs while this instance leads at least one fleet-window
 * dependency.  It keeps one slot per live instance id (from the
 * membership list), each with its own data watch; a watch that fires
 * re-reads that one node, so a leader reads at most one node per
 * instance per interval.  Everything read is untrusted: a summary that is
 * not five non-negative integers, or that fwin finds absurd, is rejected
 * and counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "fleet.h"
#include "fwin.h"
#include "instdata.h"
#include "log.h"
#include "membership.h"
#include "prober.h"
#include "summary.h"
#include "util.h"
#include "zk.h"

#define SUMMARY_TICK_MS 1000

struct summary;

/* Another instance's znode, as the leader reads it. */
struct summary_slot {
	struct summary *sm;
	char id[INSTANCE_ID_MAX + 1];
	char *path;
	struct zk_watch watch;
	bool live;     /* in the last membership list */
	bool armed;    /* read sent; cleared to have it read again */
	bool inflight; /* a read or its data watch is out (in gen) */
	uint64_t gen;  /* the zk handle generation it was armed on */
};

/* One dependency with a fleet window. */
struct summary_dep {
	struct dep *dep;
	struct fwin *fwin;
	bool leading;
	enum breaker_state last_state;
	uint64_t last_pub_ms; /* monotonic; 0 = never */
	uint64_t pub_total;   /* calls reported at the last publish */
};

struct summary {
	const struct config *cfg;
	struct registry *reg;
	struct fleet *fl;
	struct zk *zk;
	struct prober *pr;
	struct instdata *inst; /* our znode's data: "windows" goes there */
	struct event *tick;
	char *dir;
	json_t *windows; /* our latest summaries */
	struct summary_dep *deps;
	size_t ndeps;
	struct summary_slot **slots;
	size_t nslots;
	struct summary_counters c;
};

static void summary_read(struct summary_slot *);

/* This instance's summary of one dependency, from its local breaker. */
static void
summary_local(struct summary_dep *sd, uint64_t now, struct fwin_summary *s)
{
	const struct dep_counters *dc = dep_counters(sd->dep);
	struct breaker_stats st;

	breaker_stats(dep_breaker(sd->dep), now, &st);
	s->calls = st.calls;
	s->failures = st.failures;
	s->slow = st.slow;
	s->total_failures = dc->calls[BREAKER_FAIL];
	s->total = dc->calls[BREAKER_OK] + dc->calls[BREAKER_FAIL]
	    + dc->calls[BREAKER_SLOW];
	if (s->calls > s->total)
		s->calls = s->total; /* cannot happen; keep the record sane */
}

/* Refresh the summaries whose interval is over and which changed. */
static void
summary_collect(struct summary *sm, uint64_t now)
{
	struct fwin_summary s;
	bool changed = false;

	for (size_t i = 0; i < sm->ndeps; i++) {
		struct summary_dep *sd = &sm->deps[i];
		uint32_t every = dep_config(sd->dep)->fleet_window.interval_ms;

		summary_local(sd, now, &s);
		if (s.total == sd->pub_total)
			continue; /* idle: nothing to say */
		if (sd->last_pub_ms != 0 && now < sd->last_pub_ms + every)
			continue;
		sd->last_pub_ms = now;
		sd->pub_total = s.total;
		json_object_set_new(sm->windows, dep_name(sd->dep),
		    json_pack("{sIsIsIsIsI}", "calls", (json_int_t)s.calls,
		        "failures", (json_int_t)s.failures, "slow",
		        (json_int_t)s.slow, "total", (json_int_t)s.total,
		        "total_failures", (json_int_t)s.total_failures));
		changed = true;
	}
	if (changed)
		instdata_set(sm->inst, "windows", json_deep_copy(sm->windows));
}

/* Parse one dependency's summary; -1 if it is not five integers >= 0. */
static int
summary_parse(json_t *v, struct fwin_summary *s)
{
	static const char *const keys[] = {
	    "calls", "failures", "slow", "total", "total_failures"};
	uint64_t *out[] = {
	    &s->calls, &s->failures, &s->slow, &s->total, &s->total_failures};

	if (!json_is_object(v))
		return -1;
	for (size_t i = 0; i < nitems(keys); i++) {
		json_t *x = json_object_get(v, keys[i]);

		if (!json_is_integer(x) || json_integer_value(x) < 0)
			return -1;
		*out[i] = (uint64_t)json_integer_value(x);
	}
	return 0;
}

/* Drop an instance's summaries from every fleet window. */
static void
summary_forget(struct summary *sm, const char *id)
{
	for (size_t i = 0; i < sm->ndeps; i++)
		fwin_remove(sm->deps[i].fwin, id);
}

/* Judge one led dependency; a trip goes to the prober. */
static void
summary_judge(struct summary *sm, struct summary_dep *sd, uint64_t now)
{
	const struct state_record *rec = dep_fleet(sd->dep, NULL);
	char why[160];

	if (!sd->leading || rec == NULL || rec->state != BREAKER_CLOSED)
		return;
	if (!fwin_judge(sd->fwin, now, why, sizeof(why)))
		return;
	log_info("%s: fleet window: %s", dep_name(sd->dep), why);
	if (sm->pr != NULL)
		prober_fleet_window(sm->pr, sd->dep, why);
}

/* Take the summaries of one instance znode's data. */
static void
summary_take(struct summary *sm, const char *id, const char *data, int len)
{
	uint64_t now = now_mono_ms();
	struct fwin_summary s;
	const char *why = NULL;
	json_t *root, *w;
	int rc;

	root = len > 0
	    ? json_loadb(data, (size_t)len, JSON_REJECT_DUPLICATES, NULL)
	    : NULL;
	w = json_is_object(root) ? json_object_get(root, "windows") : NULL;
	for (size_t i = 0; i < sm->ndeps; i++) {
		struct summary_dep *sd = &sm->deps[i];
		json_t *v;

		if (!sd->leading)
			continue;
		v = json_is_object(w) ? json_object_get(w, dep_name(sd->dep))
		                      : NULL;
		if (root != NULL && v == NULL
		    && (w == NULL || json_is_object(w))) {
			/* none there (yet), or withdrawn (a reload removed it
			 * there): what we held of that instance goes */
			fwin_remove(sd->fwin, id);
			continue;
		}
		if (summary_parse(v, &s) == -1) {
			fwin_reject(sd->fwin);
			why = "not five integers >= 0";
			rc = -1;
		} else if ((rc = fwin_update(sd->fwin, id, &s, now)) == -1)
			why = fwin_check(&s) != NULL ? fwin_check(&s)
			                             : "its totals went back";
		if (rc == -1) {
			sm->c.rejected++;
			log_warnx(
			    "%s: fleet window: summary of %s rejected: %s",
			    dep_name(sd->dep), id, why);
			continue;
		}
		summary_judge(sm, sd, now);
	}
	json_decref(root);
}

/* A read of an instance znode came back. */
static void
summary_read_done(const struct zk_result *r, void *arg)
{
	struct summary_slot *sl = arg;

	if (r->rc == ZK_NONODE) {
		sl->armed = sl->inflight =
		    false; /* no watch on a missing node */
		summary_forget(sl->sm, sl->id);
		return;
	}
	if (r->rc != ZK_OK) {
		sl->armed = sl->inflight = false; /* retried on the next tick */
		return;
	}
	if (sl->live)
		summary_take(sl->sm, sl->id, r->data, r->datalen);
}

/* An instance znode changed or went. */
static void
summary_fired(int type, const char *path, void *arg)
{
	struct summary_slot *sl = arg;

	(void)path;
	sl->armed = sl->inflight = false;
	if (type == ZK_EV_DELETED) {
		summary_forget(sl->sm, sl->id);
		return;
	}
	if (type == ZK_EV_CHANGED && sl->live)
		summary_read(sl);
}

/* Read an instance znode and leave a watch on it. */
static void
summary_read(struct summary_slot *sl)
{
	struct summary *sm = sl->sm;
	bool leading = false;

	for (size_t i = 0; i < sm->ndeps; i++)
		leading = leading || sm->deps[i].leading;
	if (!leading)
		return; /* the watch is spent; re-armed when leading again */
	if (zk_get(sm->zk, sl->path, &sl->watch, summary_read_done, sl, 0)
	    == -1)
		return;
	sl->armed = sl->inflight = true;
	sl->gen = zk_generation(sm->zk);
	sm->c.reads++;
}

/* May this slot take another id: gone, and nothing of ZooKeeper's
 * (a read, a watch of this handle) can still call back into it? */
static bool
summary_slot_free(const struct summary_slot *sl)
{
	return !sl->live
	    && (!sl->inflight || sl->gen != zk_generation(sl->sm->zk));
}

/* Give a slot another id. */
static void
summary_slot_name(struct summary_slot *sl, const char *id)
{
	free(sl->path);
	strlcpy_b(sl->id, id, sizeof(sl->id));
	xasprintf(&sl->path, "%s/%s", sl->sm->dir, id);
	sl->armed = sl->inflight = false;
}

/*
 * The slot of id: its own, else one of a gone instance that nothing can
 * call back into any more (so that churning instance ids do not grow the
 * table), else a new one.  A slot is freed only by summary_free.
 */
static struct summary_slot *
summary_slot(struct summary *sm, const char *id)
{
	struct summary_slot *sl;

	for (size_t i = 0; i < sm->nslots; i++)
		if (strcmp(sm->slots[i]->id, id) == 0)
			return sm->slots[i];
	for (size_t i = 0; i < sm->nslots; i++)
		if (summary_slot_free(sm->slots[i])) {
			summary_slot_name(sm->slots[i], id);
			return sm->slots[i];
		}
	sl = xcalloc(1, sizeof(*sl));
	sl->sm = sm;
	summary_slot_name(sl, id);
	zk_watch_init(&sl->watch, sm->zk, summary_fired, sl);
	sm->slots =
	    xreallocarray(sm->slots, sm->nslots + 1, sizeof(*sm->slots));
	sm->slots[sm->nslots++] = sl;
	return sl;
}

/* Follow the membership list: new ids are read, gone ones forgotten. */
static void
summary_sync_slots(struct summary *sm, bool leading)
{
	const struct membership *mb = fleet_membership(sm->fl);
	size_t n = membership_live(mb);

	for (size_t i = 0; i < sm->nslots; i++) {
		struct summary_slot *sl = sm->slots[i];
		bool live = membership_is_live(mb, sl->id);

		if (sl->live && !live)
			summary_forget(sm, sl->id);
		sl->live = live;
	}
	if (!leading || !zk_connected(sm->zk))
		return;
	for (size_t i = 0; i < n; i++) {
		struct summary_slot *sl =
		    summary_slot(sm, membership_at(mb, i));

		sl->live = true;
		if (!sl->armed || sl->gen != zk_generation(sm->zk))
			summary_read(sl);
	}
}

/*
 * Leadership and fleet-state changes.  A new leader starts afresh and
 * reads every node.  When the fleet closes again, the summaries held
 * describe the outage: they are forgotten, and only summaries written
 * after the close (the instances' windows were reset) count.
 */
static bool
summary_roles(struct summary *sm)
{
	bool any = false;

	for (size_t i = 0; i < sm->ndeps; i++) {
		struct summary_dep *sd = &sm->deps[i];
		const struct state_record *rec = dep_fleet(sd->dep, NULL);
		enum breaker_state st = rec ? rec->state : BREAKER_CLOSED;
		bool leading = fleet_is_leader(sm->fl, sd->dep);

		if (leading != sd->leading) {
			fwin_reset(sd->fwin);
			for (size_t j = 0; leading && j < sm->nslots; j++)
				sm->slots[j]->armed =
				    false; /* read all again */
		} else if (st == BREAKER_CLOSED && sd->last_state != st)
			fwin_reset(sd->fwin);
		sd->leading = leading;
		sd->last_state = st;
		any = any || leading;
	}
	return any;
}

/* Once a second: publish what changed, follow roles and members. */
static void
summary_tick(evutil_socket_t fd, short what, void *arg)
{
	struct summary *sm = arg;
	uint64_t now = now_mono_ms();

	(void)fd;
	(void)what;
	summary_collect(sm, now);
	summary_sync_slots(sm, summary_roles(sm));
}

/* Does any dependency in the registry have a fleet window? */
static bool
summary_any(struct registry *reg)
{
	for (size_t i = 0; i < registry_count(reg); i++)
		if (dep_config(registry_at(reg, i))->fleet_window.enabled)
			return true;
	return false;
}

/*
 * Set up both sides; NULL when no dependency has a fleet window (the
 * first one a reload adds has it set up then).
 */
struct summary *
summary_new(struct event_base *base, const struct config *cfg,
    struct registry *reg, struct fleet *fl, struct prober *pr,
    struct instdata *inst)
{
	struct timeval tv = {SUMMARY_TICK_MS / 1000, 0};
	struct summary *sm;

	if (fl == NULL || !summary_any(reg))
		return NULL;
	sm = xcalloc(1, sizeof(*sm));
	sm->cfg = cfg;
	sm->reg = reg;
	sm->fl = fl;
	sm->zk = fleet_zk(fl);
	sm->pr = pr;
	sm->inst = inst;
	xasprintf(&sm->dir, "%s/instances", fleet_root(fl));
	sm->windows = json_object();
	for (size_t i = 0; i < registry_count(reg); i++)
		summary_add_dep(sm, registry_at(reg, i));
	if ((sm->tick = event_new(base, -1, EV_PERSIST, summary_tick, sm))
	    == NULL)
		fatalx("summary_new: event_new");
	event_add(sm->tick, &tv);
	return sm;
}

/*
 * A dependency with a fleet window, at start or added by a reload: its
 * window starts empty and the next tick publishes its summary and, if
 * this instance leads it, reads the others'.
 */
void
summary_add_dep(struct summary *sm, struct dep *d)
{
	struct summary_dep *sd;

	if (!dep_config(d)->fleet_window.enabled)
		return;
	sm->deps = xreallocarray(sm->deps, sm->ndeps + 1, sizeof(*sm->deps));
	sd = &sm->deps[sm->ndeps++];
	memset(sd, 0, sizeof(*sd));
	sd->dep = d;
	sd->fwin = fwin_new(dep_config(d));
}

/*
 * A dependency a reload removes: its window goes, and so does its key in
 * our summaries (withdrawn from the instance znode at once, so that no
 * leader keeps reading a summary nobody updates).  Nothing ZooKeeper
 * calls back points at a dependency (reads and watches are the
 * instance slots'), so nothing in flight can reach the freed window.
 */
void
summary_remove_dep(struct summary *sm, struct dep *d)
{
	size_t i;

	if (sm == NULL)
		return;
	for (i = 0; i < sm->ndeps && sm->deps[i].dep != d; i++)
		;
	if (i == sm->ndeps)
		return;
	fwin_free(sm->deps[i].fwin);
	memmove(&sm->deps[i], &sm->deps[i + 1],
	    (sm->ndeps - i - 1) * sizeof(*sm->deps));
	sm->ndeps--;
	if (json_object_del(sm->windows, dep_name(d)) == 0)
		instdata_set(sm->inst, "windows", json_deep_copy(sm->windows));
}

void
summary_free(struct summary *sm)
{
	if (sm == NULL)
		return;
	event_free(sm->tick);
	for (size_t i = 0; i < sm->ndeps; i++)
		fwin_free(sm->deps[i].fwin);
	for (size_t i = 0; i < sm->nslots; i++) {
		free(sm->slots[i]->path);
		free(sm->slots[i]);
	}
	free(sm->slots);
	free(sm->deps);
	json_decref(sm->windows);
	free(sm->dir);
	free(sm);
}

/* The configuration array moved (reload): every window reads it anew. */
void
summary_rebind(struct summary *sm)
{
	if (sm == NULL)
		return;
	for (size_t i = 0; i < sm->ndeps; i++)
		fwin_set_config(sm->deps[i].fwin, dep_config(sm->deps[i].dep));
}

void
summary_counters(const struct summary *sm, struct summary_counters *c)
{
	*c = sm->c;
	c->writes = instdata_writes(sm->inst);
}

/* STATUS: the cost counters, then each led dependency's fleet sums. */
void
summary_status(const struct summary *sm, struct evbuffer *out)
{
	evbuffer_add_printf(out,
	    "fleet_window.writes=%llu\nfleet_window.reads=%llu\n"
	    "fleet_window.rejected=%llu\n",
	    (unsigned long long)instdata_writes(sm->inst),
	    (unsigned long long)sm->c.reads,
	    (unsigned long long)sm->c.rejected);
	for (size_t i = 0; i < sm->ndeps; i++) {
		const struct summary_dep *sd = &sm->deps[i];
		const char *n = dep_name(sd->dep);
		struct fwin_info fi;

		if (!sd->leading)
			continue;
		fwin_info(sd->fwin, &fi);
		evbuffer_add_printf(out,
		    "fleet_window.%s.instances=%zu\n"
		    "fleet_window.%s.calls=%llu\n"
		    "fleet_window.%s.failures=%llu\n"
		    "fleet_window.%s.slow=%llu\n"
		    "fleet_window.%s.rejected=%llu\n"
		    "fleet_window.%s.burn=%u.%u %u.%u\n",
		    n, fi.instances, n, (unsigned long long)fi.calls, n,
		    (unsigned long long)fi.failures, n,
		    (unsigned long long)fi.slow, n,
		    (unsigned long long)fi.rejected, n, fi.burn_short_x10 / 10,
		    fi.burn_short_x10 % 10, fi.burn_long_x10 / 10,
		    fi.burn_long_x10 % 10);
	}
}

/* METRICS: ZooKeeper cost and rejected summaries. */
void
summary_metrics(const struct summary *sm, struct evbuffer *out)
{
	evbuffer_add_printf(out,
	    "# HELP breakerd_fleet_window_writes_total Writes of this "
	    "instance's znode carrying window summaries.\n"
	    "# TYPE breakerd_fleet_window_writes_total counter\n"
	    "breakerd_fleet_window_writes_total %llu\n"
	    "# HELP breakerd_fleet_window_reads_total Instance znodes read "
	    "as a fleet-window leader.\n"
	    "# TYPE breakerd_fleet_window_reads_total counter\n"
	    "breakerd_fleet_window_reads_total %llu\n"
	    "# HELP breakerd_fleet_window_rejected_total Window summaries "
	    "of other instances rejected as malformed or absurd.\n"
	    "# TYPE breakerd_fleet_window_rejected_total counter\n"
	    "breakerd_fleet_window_rejected_total %llu\n",
	    (unsigned long long)instdata_writes(sm->inst),
	    (unsigned long long)sm->c.reads,
	    (unsigned long long)sm->c.rejected);
}
