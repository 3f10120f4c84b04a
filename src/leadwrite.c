/*
 * leadwrite.c - a dependency leader's writes, and how it becomes one.
 *
 * Takeover: confirmed by the election (owner checked), the new leader
 * reads the state znode and writes the record takeover.c decides (the
 * one found with term + 1, or a CLOSED one created) before it is
 * announced.  Every leader write is one multi check(own election node) +
 * setData(state, version held), and needs a valid lease: the send time
 * of the last request the server answered plus 2T/3; a timer keeps that
 * fresh with an exists every T/4 and retries takeovers that did not go.
 *
 * Spreading: once a tick, spread.c says whether this instance leads more
 * than its fair share and which dependency to give up; handing it over
 * is abdicating its election (stop acting, delete our node, join again
 * last), and the successor takes over with its own fenced write.
 *
 * Overrides: any instance sets or removes one (FORCE).  Its ttl is a
 * duration, run by the dependency's leader on its monotonic clock from
 * when it first saw that version; when it runs out the leader deletes
 * the override with a fenced multi (check(own election node) +
 * delete(override, version)).  A new leader runs it from its own first
 * sight, so an override outlives its ttl by at most a failover.
 *
 * History: only the leader writes a dependency's history (history.c),
 * inside its fenced publish multi or, for overrides, a multi of its own.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "converge.h"
#include "election.h"
#include "errcode.h"
#include "fleet_int.h"
#include "history.h"
#include "leadwrite.h"
#include "log.h"
#include "membership.h"
#include "record.h"
#include "spread.h"
#include "takeover.h"
#include "util.h"
#include "votes.h"
#include "witness.h"
#include "zk.h"

#define LW_EXPIRE_RETRY_MS 250 /* an override delete that did not go */

/* A publish or force in flight. */
struct lw_op {
	struct fdep *fd;
	done_fn done;
	void *arg;
	char *json;
	int attempts;
	struct state_record rec;
	struct override_record ovr;
	int version;               /* publish: the state version it sets */
	bool has_plan;             /* publish: with its history entry */
	struct history_entry hent; /* that entry */
	struct history_plan plan;  /* and its operations */
};

static void lw_takeover(struct fdep *);
static struct spread_view *lw_spread_view(struct fleet *, struct spread_view *);

/* Leadership is gone (or never confirmed): tell everyone once. */
void
lw_step_down(struct fdep *fd)
{
	struct fleet *fl = fd->fl;

	fd->takeover_epoch++;
	fd->takeover_busy = false;
	fd->recreating = false; /* an old session's create is dropped */
	fd->expiring = false;
	evtimer_del(fd->expire_ev);
	if (!fd->leading) {
		witness_cancel(fl->wit, fd->dep);
		return;
	}
	fd->leading = false;
	witness_cancel(fl->wit, fd->dep); /* no longer acting: not published */
	history_reset(fd->hist);
	conv_not_leader(fl->conv, fd->dep);
	votes_unlead(fd->votes);
	dep_set_leader(fd->dep, false);
	log_info("fleet: no longer leader of %s", dep_name(fd->dep));
	if (fl->hooks.leader != NULL)
		fl->hooks.leader(fd->dep, false, fl->hooks.arg);
}

/* Repair done: only logged. */
static void
lw_repair_done(int code, uint64_t version, const char *msg, void *arg)
{
	struct fdep *fd = arg;

	if (code == 0)
		log_info("fleet: %s repaired (version %" PRIu64 ")",
		    fd->state_path, version);
	else
		log_warnx("fleet: %s not repaired: %s", fd->state_path, msg);
}

/* The leader overwrites a record that did not parse with the last good. */
void
lw_repair(struct fdep *fd)
{
	const struct state_record *held = dep_fleet(fd->dep, NULL);
	struct state_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.state = BREAKER_CLOSED;
	if (held != NULL)
		rec = *held;
	lw_publish(fd, rec.state, "repaired a malformed record", &rec,
	    lw_repair_done, fd);
}

/* A leader's history-only multi (an override entry) came back. */
struct lw_hop {
	struct fdep *fd;
	struct history_plan plan;
};

static void
lw_hop_done(const struct zk_result *r, void *arg)
{
	struct lw_hop *hop = arg;

	history_done(hop->fd->hist, &hop->plan, r, 1);
	history_plan_clear(&hop->plan);
	free(hop);
}

/*
 * The leader records an override set, changed or removed (any instance
 * may write the override; only the leader writes the history, fenced).
 * The first read of a session only learns what is there.
 */
void
lw_override_history(
    struct fdep *fd, const struct override_record *ovr, int64_t mzxid)
{
	const struct state_record *held = dep_fleet(fd->dep, NULL);
	struct zk_op ops[ZK_MULTI_MAX - 1];
	struct history_entry e;
	struct lw_hop *hop;
	struct dep_view v;
	bool known = fd->ovr_known, had = fd->ovr_mzxid != 0;

	if (known && mzxid == fd->ovr_mzxid)
		return;
	fd->ovr_known = true;
	fd->ovr_mzxid = mzxid;
	if (!known || !fd->leading || (!had && ovr == NULL))
		return;
	dep_view(fd->dep, now_mono_ms(), &v);
	memset(&e, 0, sizeof(e));
	e.from = v.state;
	e.to = ovr != NULL ? ovr->state
	    : held != NULL ? held->state
	                   : BREAKER_CLOSED;
	strlcpy_b(e.kind, ovr != NULL ? "override" : "override-removed",
	    sizeof(e.kind));
	strlcpy_b(e.reason, ovr != NULL ? ovr->reason : "override removed",
	    sizeof(e.reason));
	strlcpy_b(e.by, ovr != NULL ? ovr->by : "", sizeof(e.by));
	e.term = fd->term;
	e.version = fd->seen_ver.version;
	strlcpy_b(e.leader, fd->fl->cfg->instance_id, sizeof(e.leader));
	e.at_ms = now_wall_ms(); /* display only */
	hop = xcalloc(1, sizeof(*hop));
	hop->fd = fd;
	if (history_plan(fd->hist, &e, true, &hop->plan) == -1
	    || zk_fenced_multi(fd->fl->zk, election_node(fd->el), ops,
	           history_plan_ops(&hop->plan, ops), lw_hop_done, hop, 0)
	        == -1) {
		history_plan_clear(&hop->plan);
		free(hop);
	}
}

/* ---- leadership ------------------------------------------------------- */

/* The takeover is written: announce the leader. */
static void
lw_announce(struct fdep *fd)
{
	struct fleet *fl = fd->fl;

	fd->takeover_busy = false;
	fd->leading = true;
	fl->takeovers++;
	dep_set_leader(fd->dep, true);
	log_info(
	    "fleet: leader of %s, term %" PRIu64, dep_name(fd->dep), fd->term);
	votes_lead(fd->votes);
	lw_expiry_arm(fd, 0);
	history_sync(fd->hist);
	if (fl->hooks.leader != NULL)
		fl->hooks.leader(fd->dep, true, fl->hooks.arg);
}

/* A takeover write came back. */
static void
lw_takeover_written(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (r->tag != fd->takeover_epoch || !election_leader(fd->el))
		return;
	fd->takeover_busy = false;
	if (r->rc == ZK_OK && fd->takeover_created) {
		lw_takeover(fd); /* read it back for its version */
	} else if (r->rc == ZK_OK) {
		fleet_seen(fd, &r->stat.ver);
		fleet_apply(fd, &fd->takeover_rec, &r->stat.ver);
		lw_announce(fd);
	} else if (r->multi_err[0] == ZK_NONODE) {
		log_warnx("fleet: %s: election node gone; deposed",
		    dep_name(fd->dep));
		election_deposed(fd->el);
	} else if (zk_rc_answered(r->rc)) {
		fd->takeover_created = false;
		lw_takeover(fd); /* someone moved it: read again */
	}
	/* Connection trouble: the election re-confirms on reconnect. */
}

/*
 * The one way a leader writes the state znode: a multi fenced by its own
 * election node, setData at version, or (create) a create with the
 * session's ACL.  0 if sent.
 */
static int
lw_write_json(struct fdep *fd, const char *json, int version, bool create,
    zk_done_fn done, uint64_t tag)
{
	return zk_fenced_write(fd->fl->zk, election_node(fd->el),
	    fd->state_path, json, (int)strlen(json), version, create, done, fd,
	    tag);
}

/* The fenced create of a deleted state znode came back. */
static void
lw_recreate_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	fd->recreating = false;
	if (r->rc == ZK_OK)
		log_info("fleet: %s recreated (term %" PRIu64 ")",
		    fd->state_path, fd->term);
	else if (r->multi_err[0] == ZK_NONODE) {
		if (!fd->leading)
			return; /* handed over or stepped down meanwhile */
		log_warnx("fleet: %s: election node gone; deposed",
		    dep_name(fd->dep));
		election_deposed(fd->el);
		return;
	} else if (zk_rc_answered(r->rc) && r->rc != ZK_NODEEXISTS)
		log_warnx("fleet: recreating %s: %s", fd->state_path,
		    zk_strerror(r->rc));
	if (zk_rc_answered(r->rc))
		fleet_read_state(fd, 0); /* its version, for the next write */
}

/*
 * The state znode is gone (deleted by hand or by a hostile writer): the
 * leader, with a valid lease, creates it again with the last good record
 * it holds, fenced like every leader write.  Others keep the last good
 * state and wait on their exists watch.
 */
static void
lw_recreate(struct fdep *fd)
{
	struct fleet *fl = fd->fl;
	const struct state_record *held = dep_fleet(fd->dep, NULL);
	struct state_record rec;
	char *json;

	if (!fd->leading || fd->recreating || !election_leader(fd->el)
	    || !fleet_lease_valid(fl, now_mono_ms()))
		return;
	memset(&rec, 0, sizeof(rec));
	rec.state = BREAKER_CLOSED;
	if (held != NULL)
		rec = *held;
	rec.term = fd->term;
	strlcpy_b(rec.leader, fl->cfg->instance_id, sizeof(rec.leader));
	snprintf(rec.reason, sizeof(rec.reason), "recreated by %s",
	    fl->cfg->instance_id);
	rec.changed_ms = now_wall_ms(); /* display only */
	if ((json = record_state_encode(&rec)) == NULL)
		return;
	log_warnx("fleet: %s is gone; recreating it", fd->state_path);
	if (lw_write_json(fd, json, -1, true, lw_recreate_done, 0) == 0)
		fd->recreating = true;
	free(json);
}

/* Write the takeover record: the state found, term + 1, leader = us. */
static void
lw_takeover_write(
    struct fdep *fd, const struct state_record *base, int version, bool create)
{
	struct fleet *fl = fd->fl;
	struct state_record *rec = &fd->takeover_rec;
	uint64_t wall = now_wall_ms(); /* display only: changed_ms */
	char *json;

	takeover_record(base, fl->cfg->instance_id, create, wall, rec);
	fd->takeover_created = create;
	if (!fleet_lease_valid(fl, now_mono_ms())
	    || (json = record_state_encode(rec)) == NULL) {
		fd->takeover_busy = false; /* the lease timer tries again */
		return;
	}
	fd->term = rec->term;
	fd->term_gen = zk_generation(fl->zk);
	if (lw_write_json(fd, json, version, create, lw_takeover_written,
	        fd->takeover_epoch)
	    == -1)
		fd->takeover_busy = false;
	free(json);
}

/* The state as the new leader reads it: takeover.c decides the write. */
static void
lw_takeover_read(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;
	struct state_record rec, base;
	struct takeover_input in;

	if (r->tag != fd->takeover_epoch || !election_leader(fd->el))
		return;
	if (r->rc != ZK_OK && r->rc != ZK_NONODE) {
		fd->takeover_busy = false;
		return;
	}
	memset(&in, 0, sizeof(in));
	in.found = TAKEOVER_FOUND_NONE;
	if (r->rc == ZK_OK)
		in.found = fleet_apply_state(fd, r, &rec) == 0
		    ? TAKEOVER_FOUND_GOOD
		    : TAKEOVER_FOUND_BAD;
	in.rec = &rec;
	in.held = dep_fleet(fd->dep, NULL);
	in.term = fd->term;
	in.term_gen = fd->term_gen;
	in.gen = zk_generation(fd->fl->zk);
	in.self = fd->fl->cfg->instance_id;
	switch (takeover_plan(&in, &base)) {
	case TAKEOVER_RESUME:
		fd->takeover_created = false;
		lw_announce(fd);
		break;
	case TAKEOVER_CREATE:
		lw_takeover_write(fd, &base, -1, true);
		break;
	case TAKEOVER_SET:
		lw_takeover_write(fd, &base, r->stat.ver.version, false);
		break;
	}
}

/* Become the writer: read the state (leaving the watch), then write. */
static void
lw_takeover(struct fdep *fd)
{
	fd->takeover_busy = true;
	if (zk_get(fd->fl->zk, fd->state_path, &fd->state_w, lw_takeover_read,
	        fd, fd->takeover_epoch)
	    == -1)
		fd->takeover_busy = false;
}

/* The election confirmed or dropped us. */
void
lw_election_cb(bool leader, void *arg)
{
	struct fdep *fd = arg;
	struct spread_view v;

	if (fd->removed && leader)
		return; /* left its election (fleet_remove_dep) */
	if (!leader) {
		if (fd->leading && election_abdicating(fd->el)
		    && fd->blind_handover)
			log_info("fleet: %s: handing leadership over (blind)",
			    dep_name(fd->dep));
		else if (fd->leading && election_abdicating(fd->el))
			log_info("fleet: %s: handing leadership over (leading "
			         "%zu of %zu deps, fair share %zu)",
			    dep_name(fd->dep),
			    spread_leading(lw_spread_view(fd->fl, &v)),
			    fd->fl->ndeps,
			    spread_fair_share(fd->fl->ndeps, v.nlive));
		fd->blind_handover = false;
		lw_step_down(fd);
		return;
	}
	if (fd->leading || fd->takeover_busy)
		return;
	fd->takeover_epoch++;
	fd->takeover_created = false;
	lw_takeover(fd);
}

/* Every T/4: keep the lease fresh while leading, retry takeovers. */
void
lw_lease_cb(int fd_, short ev, void *arg)
{
	struct fleet *fl = arg;
	uint32_t t = zk_timeout_ms(fl->zk) / 4;
	struct timeval tv = {t / 1000, (t % 1000) * 1000};
	bool refreshed = false;
	size_t i;

	(void)fd_;
	(void)ev;
	for (i = 0; i < fl->ndeps && zk_connected(fl->zk); i++) {
		struct fdep *fd = fl->deps[i];

		if (!election_leader(fd->el))
			continue;
		if (!refreshed) {
			election_refresh(fd->el); /* one request is enough */
			refreshed = true;
		}
		if (!fd->leading && !fd->takeover_busy)
			lw_election_cb(true, fd);
	}
	if (fl->phase != FLEET_PHASE_STOPPED)
		evtimer_add(fl->lease_ev, &tv);
}

/* ---- publish and force --------------------------------------------------- */

/* Finish an operation. */
static void
lw_op_finish(struct lw_op *op, int code, uint64_t version, const char *msg)
{
	op->done(code, version, msg, op->arg);
	history_plan_clear(&op->plan);
	free(op->json);
	free(op);
}

static void lw_publish_done(const struct zk_result *, void *);

/* Send a publish: check + set state (+ its history entry), one multi. */
static int
lw_publish_send(struct lw_op *op)
{
	struct fdep *fd = op->fd;
	struct zk_op ops[ZK_MULTI_MAX - 1] = {{.kind = ZK_OP_SET,
	    .path = fd->state_path,
	    .data = op->json,
	    .len = (int)strlen(op->json),
	    .version = op->version}};
	int n = 1;

	if (op->has_plan)
		n += history_plan_ops(&op->plan, ops + 1);
	return zk_fenced_multi(
	    fd->fl->zk, election_node(fd->el), ops, n, lw_publish_done, op, 0);
}

/* The history failed a publish: again without deletes, then without it. */
static int
lw_publish_retry(struct lw_op *op)
{
	history_plan_clear(&op->plan);
	op->has_plan = op->attempts++ == 0
	    && history_plan(op->fd->hist, &op->hent, false, &op->plan) == 0;
	return lw_publish_send(op);
}

/* The history entry of a publish: from the fleet state held to ours. */
static void
lw_publish_plan(struct lw_op *op)
{
	struct fdep *fd = op->fd;
	const struct state_record *held = dep_fleet(fd->dep, NULL);
	struct history_entry *e = &op->hent;

	e->seq = -1;
	e->from = held != NULL ? held->state : BREAKER_CLOSED;
	e->to = op->rec.state;
	strlcpy_b(e->kind, "publish", sizeof(e->kind));
	strlcpy_b(e->reason, op->rec.reason, sizeof(e->reason));
	history_who(op->rec.reason, e->by, sizeof(e->by));
	e->term = op->rec.term;
	e->version = (int64_t)op->version + 1;
	strlcpy_b(e->leader, op->rec.leader, sizeof(e->leader));
	e->at_ms = op->rec.changed_ms;
	op->has_plan = history_plan(fd->hist, e, true, &op->plan) == 0;
}

/* A fenced publish came back. */
static void
lw_publish_done(const struct zk_result *r, void *arg)
{
	struct lw_op *op = arg;
	struct fdep *fd = op->fd;

	if (op->has_plan && history_done(fd->hist, &op->plan, r, 2)
	    && lw_publish_retry(op) == 0)
		return; /* the history's own trouble: again, lighter */
	if (r->rc == ZK_OK) {
		fd->fl->publishes++;
		fleet_seen(fd, &r->stat.ver);
		conv_published(
		    fd->fl->conv, fd->dep, (uint64_t)r->stat.ver.version);
		fleet_apply(fd, &op->rec, &r->stat.ver);
		lw_op_finish(op, 0, (uint64_t)r->stat.ver.version, "published");
	} else if (r->multi_err[0] == ZK_NONODE) {
		if (fd->leading) /* else: handed over meanwhile, node rejoined */
			election_deposed(fd->el);
		lw_op_finish(op, PROTO_EBUSY, 0, "deposed: not the leader");
	} else if (r->multi_err[1] == ZK_NONODE) {
		/* Our node is there but the state znode is not. */
		lw_recreate(fd);
		lw_op_finish(op, PROTO_EBUSY, 0,
		    "state znode was deleted; recreating it, retry");
	} else if (zk_rc_answered(r->rc)) {
		fleet_read_state(fd, 0);
		lw_op_finish(op, PROTO_EBUSY, 0,
		    r->rc == ZK_BADVERSION ? "version conflict; state re-read"
		                           : zk_strerror(r->rc));
	} else
		lw_op_finish(
		    op, PROTO_EUNAVAIL, 0, "session lost: outcome unknown");
}

/* Why this instance may not publish for fd now; NULL if it may. */
static const char *
lw_publish_refusal(struct fdep *fd, int *code)
{
	*code = PROTO_EBUSY;
	if (fd->fl->phase == FLEET_PHASE_STOPPED || !zk_connected(fd->fl->zk)) {
		*code = PROTO_EUNAVAIL;
		return "no ZooKeeper session";
	}
	if (!fd->leading || !election_leader(fd->el))
		return "not the leader";
	if (!fleet_lease_valid(fd->fl, now_mono_ms()))
		return "leader lease expired";
	if (!fd->seen)
		return "no state record yet";
	return NULL;
}

/* Write the leader's record with one fenced multi. */
void
lw_publish(struct fdep *fd, enum breaker_state state, const char *reason,
    const struct state_record *extra, done_fn done, void *arg)
{
	struct fleet *fl = fd->fl;
	struct dep *dep = fd->dep;
	struct lw_op *op;
	const char *why;
	int code;

	if ((why = lw_publish_refusal(fd, &code)) != NULL) {
		done(code, 0, why, arg);
		return;
	}
	op = xcalloc(1, sizeof(*op));
	op->fd = fd;
	op->done = done;
	op->arg = arg;
	memset(&op->rec, 0, sizeof(op->rec));
	if (extra != NULL)
		op->rec = *extra;
	else if (dep_fleet(dep, NULL) != NULL)
		op->rec = *dep_fleet(dep, NULL);
	op->rec.state = state;
	op->rec.term = fd->term;
	strlcpy_b(op->rec.leader, fl->cfg->instance_id, sizeof(op->rec.leader));
	strlcpy_b(op->rec.reason, reason != NULL ? reason : "",
	    sizeof(op->rec.reason));
	op->rec.changed_ms = now_wall_ms(); /* display only */
	if ((op->json = record_state_encode(&op->rec)) == NULL) {
		lw_op_finish(op, PROTO_EPROTO, 0, "reason is not UTF-8");
		return;
	}
	op->version = fd->seen_ver.version;
	lw_publish_plan(op);
	if (lw_publish_send(op) == -1)
		lw_op_finish(op, PROTO_EUNAVAIL, 0, "request not sent");
}

/* Apply a written override at once (read-your-writes for FORCE). */
static void
lw_force_applied(struct lw_op *op, const struct zk_result *r)
{
	dep_apply_override(op->fd->dep, &op->ovr, &r->stat.ver, now_mono_ms());
	lw_expiry_arm(op->fd, 0);
	lw_op_finish(op, 0, (uint64_t)r->stat.ver.version, "override set");
}

static void lw_force_send(struct lw_op *, bool create);

/* A set or create of the override came back. */
static void
lw_force_done(const struct zk_result *r, void *arg)
{
	struct lw_op *op = arg;

	if (r->rc == ZK_OK)
		lw_force_applied(op, r);
	else if ((r->rc == ZK_NONODE || r->rc == ZK_NODEEXISTS)
	    && ++op->attempts < 4)
		lw_force_send(op, r->rc == ZK_NONODE);
	else
		lw_op_finish(op,
		    zk_rc_answered(r->rc) && r->rc != ZK_NOAUTH
		        ? PROTO_EBUSY
		        : PROTO_EUNAVAIL,
		    0, zk_strerror(r->rc));
}

/* Set the override, or create it when it is absent. */
static void
lw_force_send(struct lw_op *op, bool create)
{
	struct fleet *fl = op->fd->fl;
	int rc;

	if (create)
		rc = zk_create(fl->zk, op->fd->override_path, op->json,
		    (int)strlen(op->json), 0, lw_force_done, op, 0);
	else
		rc = zk_set(fl->zk, op->fd->override_path, op->json,
		    (int)strlen(op->json), -1, lw_force_done, op, 0);
	if (rc == -1)
		lw_op_finish(op, PROTO_EUNAVAIL, 0, "request not sent");
}

/* The override's delete came back. */
static void
lw_unforce_done(const struct zk_result *r, void *arg)
{
	struct lw_op *op = arg;

	if (r->rc == ZK_OK || r->rc == ZK_NONODE) {
		dep_apply_override(op->fd->dep, NULL, NULL, now_mono_ms());
		lw_expiry_arm(op->fd, 0);
		lw_op_finish(op, 0, 0, "override removed");
	} else
		lw_op_finish(op, PROTO_EUNAVAIL, 0, zk_strerror(r->rc));
}

/* Set or remove the operator override (any instance may). */
void
lw_force(struct fdep *fd, enum breaker_state to, uint32_t ttl_s,
    const char *reason, const char *by, done_fn done, void *arg)
{
	struct fleet *fl = fd->fl;
	struct lw_op *op;

	if ((to != BREAKER_NSTATES && to != BREAKER_CLOSED && to != BREAKER_OPEN
	        && to != BREAKER_FORCED_OPEN)) {
		done(PROTO_EPROTO, 0, "bad dependency or state", arg);
		return;
	}
	if (ttl_s > RECORD_OVERRIDE_MAX_MS / 1000) {
		done(PROTO_EPROTO, 0, "ttl longer than 30 days", arg);
		return;
	}
	if (fl->phase == FLEET_PHASE_STOPPED || !zk_connected(fl->zk)) {
		done(PROTO_EUNAVAIL, 0, "no ZooKeeper session", arg);
		return;
	}
	op = xcalloc(1, sizeof(*op));
	op->fd = fd;
	op->done = done;
	op->arg = arg;
	if (to == BREAKER_NSTATES) {
		if (zk_delete(
		        fl->zk, fd->override_path, -1, lw_unforce_done, op, 0)
		    == -1)
			lw_op_finish(op, PROTO_EUNAVAIL, 0, "request not sent");
		return;
	}
	op->ovr.state =
	    to == BREAKER_CLOSED ? BREAKER_CLOSED : BREAKER_FORCED_OPEN;
	op->ovr.ttl_ms = (uint64_t)ttl_s * 1000;
	op->ovr.set_ms = now_wall_ms(); /* display only */
	op->ovr.until_ms = ttl_s ? op->ovr.set_ms + op->ovr.ttl_ms : 0;
	strlcpy_b(op->ovr.by, by != NULL ? by : "", sizeof(op->ovr.by));
	strlcpy_b(op->ovr.reason, reason != NULL ? reason : "",
	    sizeof(op->ovr.reason));
	if ((op->json = record_override_encode(&op->ovr)) == NULL) {
		lw_op_finish(op, PROTO_EPROTO, 0, "reason is not UTF-8");
		return;
	}
	lw_force_send(op, false);
}

/* ---- override expiry (leader) ------------------------------------------ */

/* The fenced delete of an override whose ttl ran out came back. */
static void
lw_expire_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (r->tag != fd->takeover_epoch)
		return; /* stepped down meanwhile */
	fd->expiring = false;
	if (r->rc == ZK_OK
	    || (r->rc != ZK_OK && r->multi_err[0] == ZK_OK
	        && r->multi_err[1] == ZK_NONODE)) {
		log_info("fleet: %s: override ended (ttl ran out)",
		    dep_name(fd->dep));
		dep_apply_override(fd->dep, NULL, NULL, now_mono_ms());
	} else if (r->multi_err[0] == ZK_NONODE) {
		log_warnx("fleet: %s: election node gone; deposed",
		    dep_name(fd->dep));
		election_deposed(fd->el);
	} else if (r->multi_err[1] == ZK_BADVERSION) {
		fleet_read_override(fd); /* a new FORCE: its own ttl */
	} else {
		if (zk_rc_answered(r->rc))
			log_warnx("fleet: %s: ending the override: %s",
			    dep_name(fd->dep), zk_strerror(r->rc));
		lw_expiry_arm(fd, LW_EXPIRE_RETRY_MS);
	}
}

/* The ttl timer: remove the override if it is still the one timed. */
void
lw_expire_cb(int fd_, short ev, void *arg)
{
	struct fdep *fd = arg;
	struct fleet *fl = fd->fl;
	struct znode_ver ver;
	uint64_t left;

	(void)fd_;
	(void)ev;
	if (!fd->leading || fd->expiring || fl->phase == FLEET_PHASE_STOPPED
	    || dep_override(fd->dep, &ver) == NULL
	    || !dep_override_left(fd->dep, now_mono_ms(), &left))
		return;
	if (left > 0 || !election_leader(fd->el)
	    || !fleet_lease_valid(fl, now_mono_ms())) {
		lw_expiry_arm(fd, left > 0 ? 0 : LW_EXPIRE_RETRY_MS);
		return;
	}
	if (zk_fenced_delete(fl->zk, election_node(fd->el), fd->override_path,
	        ver.version, lw_expire_done, fd, fd->takeover_epoch)
	    == 0)
		fd->expiring = true;
	else
		lw_expiry_arm(fd, LW_EXPIRE_RETRY_MS);
}

/*
 * (Re)arm the leader's ttl timer for the override in force: at the time
 * left, or after retry_ms when a delete could not go.  Not leading, or
 * no override with a ttl: no timer.
 */
void
lw_expiry_arm(struct fdep *fd, uint64_t retry_ms)
{
	struct timeval tv;
	uint64_t left;

	evtimer_del(fd->expire_ev);
	if (!fd->leading || fd->expiring
	    || !dep_override_left(fd->dep, now_mono_ms(), &left))
		return;
	if (retry_ms > left)
		left = retry_ms;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	evtimer_add(fd->expire_ev, &tv);
}

/* ---- spreading leadership ------------------------------------------------ */

/* What spread.c decides from: the records held and the live set now. */
static struct spread_view *
lw_spread_view(struct fleet *fl, struct spread_view *v)
{
	size_t i, live = membership_live(fl->mb);

	if (live > fl->spread_live_cap) {
		fl->spread_live = xreallocarray(
		    fl->spread_live, live, sizeof(*fl->spread_live));
		fl->spread_live_cap = live;
	}
	for (i = 0; i < live; i++)
		fl->spread_live[i] = membership_at(fl->mb, i);
	for (i = 0; i < fl->ndeps; i++) {
		struct fdep *fd = fl->deps[i];
		struct spread_dep *d = &fl->spread_deps[i];
		const struct state_record *rec = dep_fleet(fd->dep, NULL);

		d->name = dep_name(fd->dep);
		d->leader = rec != NULL ? rec->leader : NULL;
		d->state = rec != NULL ? rec->state : BREAKER_CLOSED;
		d->leading = fd->leading;
		d->busy = fd->takeover_busy || fd->recreating
		    || !election_leader(fd->el);
		d->tried_ms = fd->spread_tried_ms;
	}
	v->deps = fl->spread_deps;
	v->ndeps = fl->ndeps;
	v->live = fl->spread_live;
	v->nlive = live;
	v->self = fl->cfg->instance_id;
	return v;
}

/* May the dependency go to successor?  (asked by election.c) */
static bool
lw_successor_ok(const char *successor, void *arg)
{
	struct fdep *fd = arg;
	struct spread_view v;

	return spread_successor_ok(lw_spread_view(fd->fl, &v), successor);
}

/* Every tick: hand one dependency over if this instance leads too many. */
void
lw_spread_cb(int fd_, short ev, void *arg)
{
	struct fleet *fl = arg;
	struct timeval tv = {
	    SPREAD_TICK_MS / 1000, (SPREAD_TICK_MS % 1000) * 1000};
	uint64_t now = now_mono_ms();
	struct spread_view v;
	struct fdep *fd;
	size_t i;

	(void)fd_;
	(void)ev;
	if (fl->phase == FLEET_PHASE_STOPPED)
		return;
	evtimer_add(fl->spread_ev, &tv);
	if (!zk_connected(fl->zk) || !fleet_lease_valid(fl, now)
	    || registry_session(fl->reg) != FLEET_CONNECTED
	    || !spread_overloaded(lw_spread_view(fl, &v))
	    || (i = spread_pick(&v, now)) == fl->ndeps)
		return;
	fd = fl->deps[i];
	fd->spread_tried_ms = now;
	fd->blind_handover = false;
	election_abdicate(fd->el, lw_successor_ok, fd);
}

/* A blind leader gives dep to the next candidate (if there is one). */
void
lw_hand_over(struct fdep *fd)
{
	if (!fd->leading || !election_leader(fd->el))
		return;
	fd->blind_handover = true;
	election_abdicate(fd->el, NULL, NULL);
}
