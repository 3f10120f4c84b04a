/*
 * registry.c - every dependency as this instance sees it, and the one
 * place where the effective answer is decided.
 *
 * Three sources feed a dependency: the local breaker (REPORTs from this
 * host's apps), the fleet record (the state znode, written only by the
 * dependency's leader) and the operator override (the override znode).
 * The effective state is the override if one is in force, else the fleet
 * state if it is not CLOSED, else the local breaker.  What the session to
 * ZooKeeper looks like decides the authority of the answer and, while
 * disconnected, the configured policy decides what is told.
 *
 * An override is obeyed until its znode changes: no instance ends it on
 * its own clock; its ttl is measured here only to show the time left and,
 * standalone, to end it (in a fleet the leader removes the znode).  A
 * dependency whose fleet state was never read is held (dep_must_hold)
 * until the read or the end of the start-up wait; one that was read
 * before keeps answering with its last known state (`stale`) while a new
 * session re-reads it.
 *
 * Nothing here does I/O or reads a clock; every entry point recomputes the
 * view of what it touched and tells the daemon through a hook when the
 * view changed, so WATCH clients and the log hear of every change once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "util.h"

struct dep {
	struct registry *reg;
	const struct dep_config *cfg;
	struct breaker *local;

	bool have_fleet;
	struct state_record fleet;
	struct znode_ver fleet_ver;

	bool have_override;
	struct override_record ovr;
	struct znode_ver ovr_ver;
	uint64_t ovr_seen_ms; /* monotonic: this version first seen here */

	bool synced;  /* fleet state read in this session */
	bool known;   /* fleet state read at least once in this process */
	bool hold;    /* added by a reload: held until its own wait ends */
	bool removed; /* removed by a reload: a tombstone, see below */
	bool leader;
	bool voted;           /* our trip vote is out */
	struct ramp ramp;     /* recovery ramp after the fleet closed */
	struct dep_view last; /* last view reported through the hook */
	struct dep_counters counters;
};

/*
 * Dependencies are allocated one by one so that a reload can add and
 * remove them while other modules hold pointers.  A removed one leaves
 * the table but not memory: it stays, marked, on the tombstone list until
 * registry_free, so that a completion or timer still in flight for it
 * finds valid memory (and dep_removed() true) instead of a freed struct.
 */
struct registry {
	struct dep **deps;
	size_t ndeps;
	struct dep **tombs;
	size_t ntombs;
	enum fleet_session session;
	enum unreachable_policy policy;
	struct registry_hooks hooks;
	bool wait_over; /* startup_wait_ms passed: never hold again */
	bool (*permit_claim)(struct dep *, void *); /* shared table's pool */
	void *permit_arg;
	const char *instance_id; /* seeds the ramps */
};

static const char *const authority_names[] = {
    "authoritative", "stale", "local"};
static const char *const session_names[] = {
    "standalone", "connecting", "connected", "suspended", "lost"};

static void dep_refresh(struct dep *, uint64_t, const char *);

/* Build the registry for every configured dependency; cfg must outlive it. */
struct registry *
registry_new(const struct config *cfg, uint64_t seed, uint64_t now_ms)
{
	struct registry *reg = xcalloc(1, sizeof(*reg));

	reg->session =
	    cfg->zk_hosts == NULL ? FLEET_STANDALONE : FLEET_CONNECTING;
	reg->policy = cfg->unreachable;
	reg->instance_id = cfg->instance_id;
	/* held by the registry-wide start-up wait, not one of their own */
	for (size_t i = 0; i < cfg->ndeps; i++)
		registry_add(reg, &cfg->deps[i], seed + i, now_ms)->hold =
		    false;
	reg->wait_over = reg->session == FLEET_STANDALONE;
	return reg;
}

/*
 * A new dependency, at the end of the table.  In a fleet it is held
 * (dep_must_hold) until its state is read or registry_dep_wait_over(),
 * as a joining instance's dependencies are during the start-up wait.
 */
struct dep *
registry_add(struct registry *reg, const struct dep_config *cfg, uint64_t seed,
    uint64_t now_ms)
{
	struct dep *d = xcalloc(1, sizeof(*d));

	d->reg = reg;
	d->cfg = cfg;
	d->local = breaker_new(&cfg->breaker, seed, now_ms);
	d->last.name = cfg->name;
	d->last.state = breaker_state(d->local);
	d->last.authority = AUTH_LOCAL;
	d->last.ttl_left_ms = -1;
	d->hold = reg->session != FLEET_STANDALONE;
	reg->deps =
	    xreallocarray(reg->deps, reg->ndeps + 1, sizeof(*reg->deps));
	reg->deps[reg->ndeps++] = d;
	return d;
}

/* Out of the table (the order of the others kept), onto the tombstones. */
void
registry_remove(struct registry *reg, struct dep *d)
{
	size_t i;

	for (i = 0; i < reg->ndeps && reg->deps[i] != d; i++)
		;
	if (i == reg->ndeps)
		return;
	memmove(&reg->deps[i], &reg->deps[i + 1],
	    (reg->ndeps - i - 1) * sizeof(*reg->deps));
	reg->ndeps--;
	d->removed = true;
	d->hold = false;
	d->leader = false;
	reg->tombs =
	    xreallocarray(reg->tombs, reg->ntombs + 1, sizeof(*reg->tombs));
	reg->tombs[reg->ntombs++] = d;
}

/* The configuration array moved: point every dependency at its entry. */
void
registry_rebind(struct registry *reg, const struct config *cfg)
{
	for (size_t i = 0; i < reg->ndeps; i++) {
		struct dep *d = reg->deps[i];
		const struct dep_config *c = config_find_dep(cfg, d->cfg->name);

		if (c == NULL)
			continue; /* not in cfg: the caller removes it */
		d->cfg = c;
		d->last.name = c->name;
	}
}

/* An added dependency's own start-up wait is over: answer it `local`. */
void
registry_dep_wait_over(struct registry *reg, struct dep *d)
{
	const struct registry_hooks *h = &reg->hooks;

	if (!d->hold || d->removed)
		return;
	d->hold = false;
	if (h->release != NULL)
		h->release(d, h->arg);
}

bool
dep_removed(const struct dep *d)
{
	return d->removed;
}

static void
registry_dep_free(struct dep *d)
{
	breaker_free(d->local);
	free(d);
}

void
registry_free(struct registry *reg)
{
	if (reg == NULL)
		return;
	for (size_t i = 0; i < reg->ndeps; i++)
		registry_dep_free(reg->deps[i]);
	for (size_t i = 0; i < reg->ntombs; i++)
		registry_dep_free(reg->tombs[i]);
	free(reg->deps);
	free(reg->tombs);
	free(reg);
}

void
registry_set_hooks(struct registry *reg, const struct registry_hooks *hooks)
{
	reg->hooks = *hooks;
}

size_t
registry_count(const struct registry *reg)
{
	return reg->ndeps;
}

struct dep *
registry_at(struct registry *reg, size_t i)
{
	return i < reg->ndeps ? reg->deps[i] : NULL;
}

/* Linear search: lookups are by short names over tens to a few thousand
 * dependencies, and the table changes only on a reload. */
struct dep *
registry_find(struct registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->ndeps; i++)
		if (strcmp(reg->deps[i]->cfg->name, name) == 0)
			return reg->deps[i];
	return NULL;
}

/* Session changes move every dependency's authority. */
void
registry_set_session(
    struct registry *reg, enum fleet_session s, uint64_t now_ms)
{
	if (reg->session == s)
		return;
	reg->session = s;
	for (size_t i = 0; i < reg->ndeps; i++)
		dep_refresh(reg->deps[i], now_ms, fleet_session_name(s));
}

enum fleet_session
registry_session(const struct registry *reg)
{
	return reg->session;
}

bool
registry_ready(const struct registry *reg)
{
	if (reg->session == FLEET_STANDALONE)
		return true;
	if (reg->session != FLEET_CONNECTED)
		return false;
	for (size_t i = 0; i < reg->ndeps; i++)
		if (!reg->deps[i]->synced)
			return false;
	return true;
}

/* Standalone, this daemon is its own leader: it ends its overrides. */
static void
dep_expire_standalone(struct dep *d, uint64_t now_ms)
{
	uint64_t left;

	if (d->reg->session != FLEET_STANDALONE
	    || !dep_override_left(d, now_ms, &left) || left > 0)
		return;
	d->have_override = false;
	dep_refresh(d, now_ms, "override expired");
}

/* Timers: local open waits and half-open limits, override expiry. */
void
registry_tick(struct registry *reg, uint64_t now_ms)
{
	for (size_t i = 0; i < reg->ndeps; i++) {
		struct dep *d = reg->deps[i];
		struct breaker_event ev;

		dep_expire_standalone(d, now_ms);
		if (ramp_over(&d->ramp, &d->cfg->ramp, now_ms)) {
			ramp_stop(&d->ramp);
			dep_refresh(d, now_ms, "recovery ramp over");
		}
		if (breaker_tick(d->local, now_ms, &ev) == 1)
			dep_refresh(d, now_ms, ev.reason);
		else
			dep_refresh(d, now_ms, "timer");
	}
}

/* The start-up wait ran out: release whatever is still held. */
void
registry_wait_over(struct registry *reg, uint64_t now_ms)
{
	const struct registry_hooks *h = &reg->hooks;

	(void)now_ms;
	if (reg->wait_over)
		return;
	reg->wait_over = true;
	if (h->release != NULL)
		h->release(NULL, h->arg);
}

bool
registry_waiting(const struct registry *reg)
{
	return !reg->wait_over;
}

const char *
dep_name(const struct dep *d)
{
	return d->cfg->name;
}

const struct dep_config *
dep_config(const struct dep *d)
{
	return d->cfg;
}

/* The override, if one is set: obeyed until its znode changes. */
const struct override_record *
dep_override(const struct dep *d, struct znode_ver *ver)
{
	if (!d->have_override)
		return NULL;
	if (ver != NULL)
		*ver = d->ovr_ver;
	return &d->ovr;
}

bool
dep_override_left(const struct dep *d, uint64_t now_ms, uint64_t *left)
{
	uint64_t ran;

	if (!d->have_override || d->ovr.ttl_ms == 0)
		return false;
	ran = now_ms > d->ovr_seen_ms ? now_ms - d->ovr_seen_ms : 0;
	*left = ran >= d->ovr.ttl_ms ? 0 : d->ovr.ttl_ms - ran;
	return true;
}

/* Has this dependency a fleet answer to give (current or last known)? */
static bool
dep_has_fleet_word(const struct dep *d)
{
	return d->synced || d->known || d->have_fleet || d->have_override;
}

/*
 * Has this process ever completed a read of the dependency's fleet state?
 * (Not merely applied a record: the read completes, and the answer is
 * current, only once it is marked synced right after.)
 */
static bool
dep_ever_read(const struct dep *d)
{
	return d->synced || d->known;
}

bool
dep_must_hold(const struct dep *d)
{
	return (!d->reg->wait_over || d->hold)
	    && d->reg->session != FLEET_STANDALONE && !dep_ever_read(d);
}

void
dep_note_answer(struct dep *d)
{
	if (d->reg->session != FLEET_STANDALONE && !dep_ever_read(d))
		d->counters.unsynced_answers++;
}

/* How much the answer can be trusted, from the session and the sync. */
static enum authority
dep_authority(const struct dep *d)
{
	switch (d->reg->session) {
	case FLEET_STANDALONE:
		return AUTH_LOCAL;
	case FLEET_CONNECTED:
	case FLEET_CONNECTING:
		/* Read in this session: current; else the last known, stale. */
		if (d->synced)
			return AUTH_AUTHORITATIVE;
		return dep_has_fleet_word(d) ? AUTH_STALE : AUTH_LOCAL;
	case FLEET_SUSPENDED:
	case FLEET_LOST:
		if (d->reg->policy == POLICY_LOCAL)
			return AUTH_LOCAL;
		if (d->reg->policy != POLICY_LAST_KNOWN)
			return AUTH_STALE;
		return d->have_fleet || d->have_override ? AUTH_STALE
		                                         : AUTH_LOCAL;
	}
	return AUTH_LOCAL;
}

/* Is ZooKeeper out of reach, so that the unreachable policy applies? */
static bool
dep_unreachable(const struct dep *d)
{
	return d->reg->session == FLEET_SUSPENDED
	    || d->reg->session == FLEET_LOST;
}

/*
 * The effective state (docs/design.md): override, else a non-CLOSED fleet
 * state, else the local breaker; while unreachable the policy decides
 * whether the fleet's word still counts.
 */
static enum breaker_state
dep_effective(const struct dep *d)
{
	const struct override_record *o;
	bool use_fleet = true;

	if (dep_unreachable(d)) {
		switch (d->reg->policy) {
		case POLICY_FAIL_CLOSED:
			return BREAKER_OPEN;
		case POLICY_FAIL_OPEN:
			return BREAKER_CLOSED;
		case POLICY_LOCAL:
			use_fleet = false;
			break;
		case POLICY_LAST_KNOWN:
			break;
		}
	}
	if (use_fleet && (o = dep_override(d, NULL)) != NULL)
		return o->state;
	if (use_fleet && d->have_fleet && d->fleet.state != BREAKER_CLOSED)
		return d->fleet.state;
	return breaker_state(d->local);
}

void
dep_view(struct dep *d, uint64_t now_ms, struct dep_view *out)
{
	uint64_t left;

	out->name = d->cfg->name;
	out->state = dep_effective(d);
	out->version = d->have_fleet ? (uint64_t)d->fleet_ver.version : 0;
	out->authority = dep_authority(d);
	out->ttl_left_ms = -1;
	if (out->state == d->ovr.state && dep_override_left(d, now_ms, &left))
		out->ttl_left_ms = (int64_t)left;
	out->ramp_ppm = out->state == BREAKER_CLOSED
	    ? ramp_current(&d->ramp, &d->cfg->ramp, now_ms)
	    : 0;
	out->ramp_held = false;
}

/* Recompute the view; count and report it if it changed. */
static void
dep_refresh(struct dep *d, uint64_t now_ms, const char *reason)
{
	struct dep_view now, old = d->last;
	const struct registry_hooks *h = &d->reg->hooks;

	dep_view(d, now_ms, &now);
	if (now.state == old.state && now.version == old.version
	    && now.authority == old.authority
	    && (now.ramp_ppm != 0) == (old.ramp_ppm != 0))
		return;
	if (now.state != old.state)
		d->counters.transitions[old.state][now.state]++;
	d->last = now;
	if (h->changed != NULL && !d->removed) /* a tombstone tells nobody */
		h->changed(d, &old, &now, reason, h->arg);
}

/* Tell the daemon when our trip vote should be cast or withdrawn. */
static void
dep_update_vote(struct dep *d, uint64_t now_ms)
{
	const struct registry_hooks *h = &d->reg->hooks;
	enum breaker_state s = breaker_state(d->local);
	bool tripped = s == BREAKER_OPEN || s == BREAKER_HALF_OPEN;
	struct breaker_stats st;

	if (tripped == d->voted || d->removed)
		return;
	d->voted = tripped;
	if (h->local_vote != NULL) {
		breaker_stats(d->local, now_ms, &st);
		h->local_vote(d, tripped, &st, h->arg);
	}
}

/* Does the fleet's word decide this call (not the local breaker)? */
static bool
dep_fleet_decides(const struct dep *d)
{
	if (dep_unreachable(d) && d->reg->policy == POLICY_LOCAL)
		return false;
	if (dep_override(d, NULL) != NULL)
		return true;
	return d->have_fleet && d->fleet.state != BREAKER_CLOSED;
}

bool
dep_allow(struct dep *d, uint64_t now_ms, struct dep_view *out)
{
	struct breaker_event ev;
	bool allowed, changed = false;

	dep_view(d, now_ms, out);
	if (dep_unreachable(d) && d->reg->policy == POLICY_FAIL_CLOSED)
		allowed = false;
	else if (dep_unreachable(d) && d->reg->policy == POLICY_FAIL_OPEN)
		allowed = true;
	else if (dep_fleet_decides(d))
		/* HALF_OPEN fleet-wide: only the leader's probes go through. */
		allowed = breaker_state_permits(out->state);
	else {
		allowed = breaker_allow(d->local, now_ms, &ev, &changed);
		if (!allowed && breaker_state(d->local) == BREAKER_HALF_OPEN
		    && d->reg->permit_claim != NULL)
			allowed = d->reg->permit_claim(d, d->reg->permit_arg);
		if (changed) {
			dep_refresh(d, now_ms, ev.reason);
			dep_update_vote(d, now_ms);
			dep_view(d, now_ms, out);
		}
		if (allowed && out->ramp_ppm != 0
		    && !ramp_admit(&d->ramp, &d->cfg->ramp, now_ms)) {
			allowed = false;
			out->ramp_held = true;
			d->counters.ramp_held++;
		}
	}
	if (allowed)
		d->counters.allowed++;
	else
		d->counters.denied++;
	return allowed;
}

void
dep_report(struct dep *d, uint64_t now_ms, enum breaker_outcome outcome,
    uint32_t duration_ms)
{
	struct breaker_event ev;

	if ((unsigned)outcome < BREAKER_NOUTCOMES)
		d->counters.calls[outcome]++;
	if (breaker_record(d->local, now_ms, outcome, duration_ms, &ev) == 1) {
		dep_refresh(d, now_ms, ev.reason);
		dep_update_vote(d, now_ms);
	}
}

/* ZooKeeper's order: same znode and a higher version, or a later mzxid. */
static bool
znode_newer(const struct znode_ver *have, const struct znode_ver *got)
{
	if (got->czxid == have->czxid)
		return got->version > have->version;
	return got->mzxid > have->mzxid;
}

/*
 * The fleet closed an open breaker, or an operator's FORCED_OPEN ended on
 * a closed fleet: follow the ramp from now.  key (a znode version or
 * zxid) makes the seed differ from one ramp to the next.
 */
static void
dep_ramp_start(struct dep *d, uint64_t key, uint64_t now_ms)
{
	if (!ramp_enabled(&d->cfg->ramp))
		return;
	ramp_start(&d->ramp, &d->cfg->ramp,
	    ramp_seed(d->reg->instance_id, d->cfg->name, key), now_ms);
	d->counters.ramps++;
}

/* New settings in d->cfg (reload): carry the breaker and the ramp over. */
int
dep_reconfigure(struct dep *d, const struct ramp_config *old_ramp,
    uint64_t now_ms, struct breaker_carry *carry)
{
	if (breaker_reconfigure(d->local, &d->cfg->breaker, now_ms, carry)
	    == -1)
		return -1;
	ramp_reconfigure(&d->ramp, old_ramp, &d->cfg->ramp, now_ms);
	/* no transition; a ramp switched off shows at once */
	dep_refresh(d, now_ms, "configuration reloaded");
	return 0;
}

/* The ramp's share of calls now, 0 when not ramping (METRICS, STATUS). */
uint32_t
dep_ramp_share(const struct dep *d, uint64_t now_ms)
{
	return ramp_current(&d->ramp, &d->cfg->ramp, now_ms);
}

int
dep_apply_state(struct dep *d, const struct state_record *rec,
    const struct znode_ver *ver, uint64_t now_ms, uint64_t wall_ms)
{
	bool was_open;

	if (d->have_fleet && !znode_newer(&d->fleet_ver, ver)) {
		d->counters.records_stale++;
		return 0;
	}
	was_open = d->have_fleet && d->fleet.state != BREAKER_CLOSED;
	d->fleet = *rec;
	d->fleet_ver = *ver;
	/* Display only: wall clocks of two hosts are not comparable. */
	d->counters.apply_lag_ms =
	    rec->changed_ms == 0 ? 0 : (int64_t)(wall_ms - rec->changed_ms);
	d->have_fleet = true;
	/*
	 * The fleet closed the breaker again: every instance starts a fresh
	 * window and withdraws its vote, so old failures cannot re-trip it.
	 */
	if (was_open && rec->state == BREAKER_CLOSED) {
		breaker_reset(d->local, now_ms);
		dep_update_vote(d, now_ms);
		dep_ramp_start(d, (uint64_t)d->fleet_ver.version, now_ms);
	} else if (rec->state != BREAKER_CLOSED)
		ramp_stop(&d->ramp);
	dep_refresh(d, now_ms, rec->reason);
	return 1;
}

void
dep_reject_record(struct dep *d)
{
	d->counters.records_rejected++;
}

int
dep_apply_override(struct dep *d, const struct override_record *rec,
    const struct znode_ver *ver, uint64_t now_ms)
{
	char why[256];

	if (rec == NULL) {
		if (!d->have_override)
			return 0;
		d->have_override = false;
		/* the end of a forced outage is a recovery too */
		if (d->ovr.state == BREAKER_FORCED_OPEN
		    && (!d->have_fleet || d->fleet.state == BREAKER_CLOSED))
			dep_ramp_start(d, (uint64_t)d->ovr_ver.mzxid, now_ms);
		dep_refresh(d, now_ms, "override removed");
		return 1;
	}
	if (d->have_override && ver != NULL && !znode_newer(&d->ovr_ver, ver)) {
		d->counters.records_stale++;
		return 0;
	}
	d->ovr = *rec;
	if (ver != NULL)
		d->ovr_ver = *ver;
	/* Its ttl runs from now: the first sight of this version here. */
	d->ovr_seen_ms = now_ms;
	d->have_override = true;
	ramp_stop(&d->ramp); /* the operator decides every call now */
	/* The transition's reason names who forced it, as operators ask. */
	snprintf(why, sizeof(why), "forced %s by %s%s%s",
	    rec->state == BREAKER_CLOSED ? "closed" : "open",
	    rec->by[0] != '\0' ? rec->by : "unknown",
	    rec->reason[0] != '\0' ? ": " : "", rec->reason);
	dep_refresh(d, now_ms, why);
	return 1;
}

void
dep_set_synced(struct dep *d, bool synced, uint64_t now_ms)
{
	const struct registry_hooks *h = &d->reg->hooks;

	if (d->synced == synced)
		return;
	d->synced = synced;
	if (synced)
		d->known = true;
	dep_refresh(d, now_ms,
	    synced ? "fleet state read" : "fleet state not read yet");
	if (synced && h->release != NULL)
		h->release(d, h->arg);
}

const struct state_record *
dep_fleet(const struct dep *d, struct znode_ver *ver)
{
	if (!d->have_fleet)
		return NULL;
	if (ver != NULL)
		*ver = d->fleet_ver;
	return &d->fleet;
}

struct breaker *
dep_breaker(struct dep *d)
{
	return d->local;
}

const struct dep_counters *
dep_counters(const struct dep *d)
{
	return &d->counters;
}

void
dep_set_leader(struct dep *d, bool leader)
{
	d->leader = leader;
}

bool
dep_is_leader(const struct dep *d)
{
	return d->leader;
}

/*
 * Mirrors dep_allow() for the shared table, which answers without us:
 * any new rule there that admits only some calls must become a field of
 * the slot (as the ramp's share) or answer DEP_ANSWER_ASK here.
 */
enum dep_answer
dep_answer(const struct dep *d)
{
	enum breaker_state st;

	/* Held, or not read in this session: the socket decides. */
	if (dep_must_hold(d))
		return DEP_ANSWER_ASK;
	if (!dep_unreachable(d) && d->reg->session != FLEET_STANDALONE
	    && !d->synced)
		return DEP_ANSWER_ASK;
	if (dep_unreachable(d) && d->reg->policy == POLICY_FAIL_CLOSED)
		return DEP_ANSWER_DENY;
	if (dep_unreachable(d) && d->reg->policy == POLICY_FAIL_OPEN)
		return DEP_ANSWER_ALLOW;
	if (dep_fleet_decides(d))
		return breaker_state_permits(dep_effective(d))
		    ? DEP_ANSWER_ALLOW
		    : DEP_ANSWER_DENY;
	st = breaker_state(d->local);
	if (st == BREAKER_HALF_OPEN)
		return DEP_ANSWER_PERMIT;
	return breaker_state_permits(st) ? DEP_ANSWER_ALLOW : DEP_ANSWER_DENY;
}

void
registry_set_permit_pool(
    struct registry *reg, bool (*claim)(struct dep *, void *), void *arg)
{
	reg->permit_claim = claim;
	reg->permit_arg = arg;
}

void
dep_count_table(struct dep *d, uint64_t allowed, uint64_t denied,
    const uint64_t calls[BREAKER_NOUTCOMES])
{
	d->counters.allowed += allowed;
	d->counters.denied += denied;
	for (int o = 0; o < BREAKER_NOUTCOMES; o++)
		d->counters.calls[o] += calls[o];
}

const char *
authority_name(enum authority a)
{
	if ((unsigned)a < nitems(authority_names))
		return authority_names[a];
	return "?";
}

const char *
fleet_session_name(enum fleet_session s)
{
	if ((unsigned)s < nitems(session_names))
		return session_names[s];
	return "?";
}
