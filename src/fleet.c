/*
 * fleet.c - glue between the ZooKeeper session and the registry.
 *
 * Session: a new session creates the parents, registers, reads every
 * state and override (leaving watches) and joins every election with a
 * new uuid; a reconnect of the same session re-reads and re-checks
 * (reads that failed during the outage left no watch).  The registry is
 * told FLEET_CONNECTED only once every dependency's state has been read
 * since the (re)connect; until then it answers stale or local.
 *
 * Leader: confirmed by the election (owner checked), it takes over by
 * writing the record it found with term + 1, or creating a CLOSED one,
 * before it is announced.  Every leader write is one multi
 * check(own election node) + setData(state, version held), and needs a
 * valid lease: the send time of the last request the server answered
 * plus 2T/3; a timer keeps that fresh with an exists every T/4.
 *
 * Spreading: once a second an instance leading more than its fair share
 * (ceil(deps / live instances), with a hysteresis) hands one dependency
 * over: it stops acting, deletes its election node and joins again last,
 * and the successor takes over with its own fenced write.
 *
 * Overrides: every instance obeys one until its znode changes.  Its
 * ttl is a duration, run by the dependency's leader on its monotonic
 * clock from when it first saw that version; when it runs out the leader
 * deletes the override with a fenced multi (check(own election node) +
 * delete(override, version)).  A new leader runs it from its own first
 * sight, so an override outlives its ttl by at most a failover.
 *
 * Witnesses (witness.c, made here): before a leader's own failing checks
 * open the fleet it asks the next candidate through a request znode
 * under <dir>/witness; a blind leader hands over with fleet_hand_over.
 *
 * Records are ordered by their znode versions (the registry ignores
 * older ones), never by wall clocks; a record that does not parse is
 * counted and logged and the last good one is kept.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "election.h"
#include "converge.h"
#include "fleet.h"
#include "history.h"
#include "log.h"
#include "membership.h"
#include "protocol.h"
#include "record.h"
#include "util.h"
#include "witness.h"
#include "zk.h"

#ifndef BREAKERD_VERSION
#define BREAKERD_VERSION "unknown"
#endif

#define FLEET_CRED_MAX        512
#define FLEET_SPREAD_MS       1000 /* at most one handover per tick */
#define FLEET_SPREAD_RETRY_MS 5000 /* after an attempt that did not go */
#define FLEET_EXPIRE_RETRY_MS 250  /* an override delete that did not go */

/* One dependency's ZooKeeper side. */
struct fdep {
	struct fleet *fl;
	struct dep *dep;
	char *dir;
	char *state_path;
	char *override_path;
	char *votes_dir;
	char *vote_path;
	struct zk_watch state_w;
	struct zk_watch override_w;
	struct zk_watch votes_w;
	struct zk_watch vote_data_w; /* every vote child's data (leader) */
	struct election *el;
	struct event *expire_ev; /* the leader's override ttl timer */
	bool expiring;           /* its fenced delete is out */

	uint64_t synced_epoch; /* conn epoch whose state read completed */
	bool leading;          /* takeover written, announced */
	bool takeover_busy;
	bool takeover_created; /* we created the state: no term bump */
	uint64_t takeover_epoch;
	uint64_t term;     /* the term we lead under */
	uint64_t term_gen; /* the session generation that wrote it */
	struct state_record takeover_rec;
	bool seen; /* seen_ver holds the state znode's last read */
	struct znode_ver seen_ver; /* even of a record that did not parse */

	bool vote_want;
	struct vote_record vote;
	size_t votes;       /* valid votes of live instances (leader) */
	size_t votes_live;  /* the live count last reported with them */
	uint64_t votes_gen; /* bumped per list: older tallies are void */
	bool recreating;    /* a fenced create of a deleted state is out */
	uint64_t vote_gen;  /* session generation that may hold our vote */
	uint64_t spread_tried_ms; /* last handover attempt (monotonic) */
	bool blind_handover;      /* the handover under way: we are blind */
	struct history *hist;     /* history.c: entries under dir/history */
	char *history_dir;
	bool ovr_known;    /* ovr_mzxid holds a read of the override */
	int64_t ovr_mzxid; /* its mzxid; 0 when there is none */
};

/* One count of the votes: the data reads of one children list. */
struct fleet_tally {
	struct fdep *fd;
	uint64_t gen;
	size_t pending; /* reads not back yet */
	size_t count;   /* votes that decoded so far */
};

/* One vote's data read. */
struct fleet_vread {
	struct fleet_tally *t;
	char *path;
};

struct fleet {
	struct event_base *base;
	const struct config *cfg;
	struct registry *reg;
	struct fleet_hooks hooks;
	struct zk *zk;
	struct membership *mb;
	struct witness *wit; /* second opinions before a fleet trip */
	struct fdep *deps;
	size_t ndeps;
	char *root;

	uint64_t conn_epoch; /* bumped on every CONNECTED */
	size_t nsynced;
	bool dirs_ok;        /* the parents are known to exist */
	bool pending_new;    /* a new session still to start once they do */
	bool join_pending;   /* elections to join once registered */
	size_t dirs_pending; /* parent reads not back yet */
	bool auth_failed;
	bool stopped;
	uint64_t records_rejected;
	uint64_t publishes;
	uint64_t takeovers;
	struct event *lease_ev;
	struct event *spread_ev;
	struct converge *conv; /* converge.c: acknowledgements */
};

/* A publish or force in flight. */
struct fleet_op {
	struct fdep *fd;
	fleet_done_fn done;
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

static void fleet_read_state(struct fdep *, uint64_t tag);
static void fleet_read_override(struct fdep *);
static void fleet_takeover(struct fdep *);
static void fleet_expiry_arm(struct fdep *, uint64_t retry_ms);

/* Find the ZooKeeper side of a registry dependency. */
static struct fdep *
fleet_fdep(const struct fleet *fl, const struct dep *dep)
{
	size_t i;

	for (i = 0; i < fl->ndeps; i++)
		if (fl->deps[i].dep == dep)
			return &fl->deps[i];
	return NULL;
}

/* Read a "user:password" credential file. */
int
fleet_read_credential(
    const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	ssize_t n;
	size_t len;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n <= 0) {
		snprintf(err, errlen, "%s: empty or unreadable", path);
		return -1;
	}
	len = (size_t)n;
	out[len] = '\0';
	while (len > 0
	    && (out[len - 1] == '\n' || out[len - 1] == '\r'
	        || out[len - 1] == ' '))
		out[--len] = '\0';
	if (strlen(out) != len || out[0] == ':' || strchr(out, ':') == NULL) {
		explicit_bzero(out, outlen);
		snprintf(
		    err, errlen, "%s: expected one line user:password", path);
		return -1;
	}
	return 0;
}

/* ---- session ---------------------------------------------------------- */

/* Tell the registry; CONNECTED only once every state was read. */
static void
fleet_session(struct fleet *fl, enum fleet_session s)
{
	registry_set_session(fl->reg, s, now_mono_ms());
}

/* A state read of this connect completed: maybe the fleet is ready. */
static void
fleet_mark_synced(struct fdep *fd, uint64_t tag)
{
	struct fleet *fl = fd->fl;

	if (tag != fl->conn_epoch || fd->synced_epoch == tag)
		return;
	fd->synced_epoch = tag;
	dep_set_synced(fd->dep, true, now_mono_ms());
	if (++fl->nsynced == fl->ndeps && zk_connected(fl->zk)) {
		log_info("fleet: every state read; ready");
		fleet_session(fl, FLEET_CONNECTED);
	}
}

/* A parent's create: another instance may have made it meanwhile. */
static void
fleet_mkdir_done(const struct zk_result *r, void *arg)
{
	(void)arg;
	if (r->rc != ZOK && r->rc != ZNODEEXISTS && zk_rc_answered(r->rc))
		log_warnx("fleet: creating a parent znode: %s", zerror(r->rc));
}

/* Create one persistent parent (pipelined: FIFO orders it first). */
static void
fleet_mkdir(struct fleet *fl, const char *path)
{
	zk_create(fl->zk, path, "", 0, 0, fleet_mkdir_done, fl, 0);
}

/* Is name among the children of a listing? */
static bool
fleet_has_child(const struct zk_result *r, const char *name)
{
	int i;

	for (i = 0; r->rc == ZOK && i < r->nchildren; i++)
		if (strcmp(r->children[i], name) == 0)
			return true;
	return false;
}

/* Create what a dependency's directory lacks (all of it if r is NULL). */
static void
fleet_mkdir_dep(struct fdep *fd, const struct zk_result *r)
{
	char path[1024];

	if (r == NULL)
		fleet_mkdir(fd->fl, fd->dir);
	if (r == NULL || !fleet_has_child(r, "election")) {
		snprintf(path, sizeof(path), "%s/election", fd->dir);
		fleet_mkdir(fd->fl, path);
	}
	if (r == NULL || !fleet_has_child(r, "votes"))
		fleet_mkdir(fd->fl, fd->votes_dir);
	if (r == NULL || !fleet_has_child(r, "witness")) {
		snprintf(path, sizeof(path), "%s/witness", fd->dir);
		fleet_mkdir(fd->fl, path);
	}
	if (r == NULL || !fleet_has_child(r, "history"))
		fleet_mkdir(fd->fl, fd->history_dir);
}

static void fleet_connected_go(struct fleet *);

/* One parent read of this connect is back: go on once all are. */
static void
fleet_dirs_step(struct fleet *fl, uint64_t tag)
{
	if (tag != fl->conn_epoch || fl->dirs_ok || --fl->dirs_pending > 0)
		return;
	fl->dirs_ok = true;
	fleet_connected_go(fl);
}

/* A dependency's directory listed: create only what is missing. */
static void
fleet_dep_dir_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (r->tag != fd->fl->conn_epoch)
		return;
	if (r->rc == ZNONODE)
		fleet_mkdir_dep(fd, NULL);
	else if (r->rc == ZOK)
		fleet_mkdir_dep(fd, r);
	else if (zk_rc_answered(r->rc)) {
		log_warnx("fleet: listing %s: %s", fd->dir, zerror(r->rc));
		fleet_mkdir_dep(fd, NULL);
	} else
		return; /* the reconnect checks again */
	fleet_dirs_step(fd->fl, r->tag);
}

/* Create the root's components (the root is missing). */
static void
fleet_mkdir_root(struct fleet *fl)
{
	char path[1024], *p;

	strlcpy_b(path, fl->root, sizeof(path));
	for (p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		fleet_mkdir(fl, path);
		*p = '/';
	}
	fleet_mkdir(fl, fl->root);
}

/*
 * The root listed.  Missing parts are created; every dependency whose
 * directory may exist is listed before anything is created in it: a
 * create that fails because the node exists still costs the ensemble a
 * logged transaction, and a joining instance should only write its own
 * nodes.
 */
static void
fleet_root_done(const struct zk_result *r, void *arg)
{
	struct fleet *fl = arg;
	char path[1024];
	bool fresh;
	size_t i;

	if (r->tag != fl->conn_epoch)
		return;
	if (r->rc != ZOK && r->rc != ZNONODE && !zk_rc_answered(r->rc))
		return; /* the reconnect checks again */
	if (r->rc == ZNONODE)
		fleet_mkdir_root(fl);
	if (!fleet_has_child(r, "instances")) {
		snprintf(path, sizeof(path), "%s/instances", fl->root);
		fleet_mkdir(fl, path);
	}
	fresh = !fleet_has_child(r, "deps");
	if (fresh) {
		snprintf(path, sizeof(path), "%s/deps", fl->root);
		fleet_mkdir(fl, path);
	}
	fl->dirs_pending = fl->ndeps + 1;
	for (i = 0; i < fl->ndeps; i++) {
		struct fdep *fd = &fl->deps[i];

		if (fresh)
			fleet_mkdir_dep(fd, NULL);
		else if (zk_children(fl->zk, fd->dir, NULL, fleet_dep_dir_done,
		             fd, r->tag)
		    == 0)
			continue;
		fl->dirs_pending--;
	}
	fleet_dirs_step(fl, r->tag);
}

/* Make sure the parents exist, then start the session's work. */
static void
fleet_mkdirs(struct fleet *fl)
{
	zk_children(
	    fl->zk, fl->root, NULL, fleet_root_done, fl, fl->conn_epoch);
}

static void fleet_vote_sync(struct fdep *);

/* The parents exist: register, read, join, vote. */
static void
fleet_connected_go(struct fleet *fl)
{
	bool is_new = fl->pending_new;
	size_t i;

	fl->pending_new = false;
	if (is_new)
		membership_start(fl->mb);
	else
		membership_reconnected(fl->mb);
	for (i = 0; i < fl->ndeps; i++) {
		struct fdep *fd = &fl->deps[i];

		fleet_read_override(fd);
		fleet_read_state(fd, fl->conn_epoch);
		/*
		 * A new session joins once registered (fleet_registered); until
		 * then there is no candidacy to re-check, and joining here too
		 * would leave an orphan node of ours at the head of the queue.
		 */
		if (!is_new && !fl->join_pending)
			election_reconnected(fd->el);
		fleet_vote_sync(fd);
	}
	if (is_new)
		fl->join_pending = true;
	witness_connected(fl->wit);
	if (fl->ndeps == 0)
		fleet_session(fl, FLEET_CONNECTED);
}

/*
 * Our instance node exists: only now join the elections, so that a
 * daemon started with an instance id another live daemon holds (refused
 * after the wait in membership.c) never leads anything meanwhile.
 */
static void
fleet_registered(void *arg)
{
	struct fleet *fl = arg;

	if (!fl->join_pending)
		return;
	fl->join_pending = false;
	for (size_t i = 0; i < fl->ndeps; i++)
		election_join(fl->deps[i].el);
}

/*
 * Connected: a new session starts from scratch, an old one re-reads.
 * The parents are checked first (once per session: they are persistent).
 */
static void
fleet_connected(struct fleet *fl, bool is_new)
{
	fl->conn_epoch++;
	fl->nsynced = 0;
	fl->auth_failed = false;
	if (is_new) {
		fl->pending_new = true;
		fleet_session(fl, FLEET_CONNECTING);
		/* Nothing is read in this session yet: stale at best. */
		for (size_t i = 0; i < fl->ndeps; i++)
			dep_set_synced(fl->deps[i].dep, false, now_mono_ms());
	}
	if (fl->dirs_ok)
		fleet_connected_go(fl);
	else
		fleet_mkdirs(fl);
}

/* Leadership is gone (or never confirmed): tell everyone once. */
static void
fleet_step_down(struct fdep *fd)
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
	fd->votes = 0;
	fd->votes_live = 0;
	fd->votes_gen++;
	dep_set_leader(fd->dep, false);
	log_info("fleet: no longer leader of %s", dep_name(fd->dep));
	if (fl->hooks.leader != NULL)
		fl->hooks.leader(fd->dep, false, fl->hooks.arg);
}

/* The session changed (zk.c, loop thread). */
static void
fleet_session_cb(enum zk_session_event ev, bool is_new, void *arg)
{
	struct fleet *fl = arg;
	size_t i;

	switch (ev) {
	case ZK_SESS_CONNECTED:
		fleet_connected(fl, is_new);
		break;
	case ZK_SESS_CONNECTING:
		fleet_session(fl, FLEET_SUSPENDED);
		for (i = 0; i < fl->ndeps; i++)
			election_suspend(fl->deps[i].el);
		break;
	case ZK_SESS_EXPIRED:
		fl->dirs_ok = false; /* checked again by the new session */
		fleet_session(fl, FLEET_LOST);
		membership_expired(fl->mb);
		conv_session_reset(fl->conv);
		for (i = 0; i < fl->ndeps; i++)
			election_expired(fl->deps[i].el);
		break;
	case ZK_SESS_AUTH_FAILED:
		fl->dirs_ok = false;
		fl->auth_failed = true;
		fleet_session(fl, FLEET_LOST);
		for (i = 0; i < fl->ndeps; i++)
			election_expired(fl->deps[i].el);
		break;
	}
}

/* ---- reading state and override ---------------------------------------- */

/* Remember the newest state znode version read or written. */
static void
fleet_seen(struct fdep *fd, const struct Stat *st)
{
	if (fd->seen && st->mzxid <= fd->seen_ver.mzxid)
		return;
	fd->seen = true;
	fd->seen_ver.czxid = st->czxid;
	fd->seen_ver.mzxid = st->mzxid;
	fd->seen_ver.version = st->version;
}

/* Hand a state record to the registry (which orders it by version). */
static void
fleet_apply(struct fdep *fd, const struct state_record *rec,
    const struct znode_ver *ver)
{
	uint64_t wall = now_wall_ms(); /* display only: the apply lag */

	dep_apply_state(fd->dep, rec, ver, now_mono_ms(), wall);
}

/* Repair done: only logged. */
static void
fleet_repair_done(int code, uint64_t version, const char *msg, void *arg)
{
	struct fdep *fd = arg;

	if (code == 0)
		log_info("fleet: %s repaired (version %" PRIu64 ")",
		    fd->state_path, version);
	else
		log_warnx("fleet: %s not repaired: %s", fd->state_path, msg);
}

/* The leader overwrites a record that did not parse with the last good. */
static void
fleet_repair(struct fdep *fd)
{
	const struct state_record *held = dep_fleet(fd->dep, NULL);
	struct state_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.state = BREAKER_CLOSED;
	if (held != NULL)
		rec = *held;
	fleet_publish(fd->fl, fd->dep, rec.state, "repaired a malformed record",
	    &rec, fleet_repair_done, fd);
}

/* Decode and apply a state znode; a bad one is counted and logged. */
static int
fleet_apply_state(
    struct fdep *fd, const struct zk_result *r, struct state_record *rec)
{
	struct znode_ver ver;
	char err[160];

	fleet_seen(fd, &r->stat);
	if (record_state_decode(r->data,
	        r->datalen < 0 ? 0 : (size_t)r->datalen, rec, err, sizeof(err))
	    == -1) {
		fd->fl->records_rejected++;
		dep_reject_record(fd->dep);
		log_warnx("fleet: %s rejected (version %d): %s", fd->state_path,
		    r->stat.version, err);
		if (fd->leading)
			fleet_repair(fd);
		return -1;
	}
	ver.czxid = r->stat.czxid;
	ver.mzxid = r->stat.mzxid;
	ver.version = r->stat.version;
	fleet_apply(fd, rec, &ver);
	return 0;
}

/* The state znode is absent: its exists left the watch. */
static void
fleet_state_exists_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (r->rc == ZOK) /* created meanwhile */
		fleet_read_state(fd, r->tag);
	else if (r->rc == ZNONODE)
		fleet_mark_synced(fd, r->tag);
}

/* A state read (initial with tag = conn epoch, or after a watch). */
static void
fleet_state_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;
	struct state_record rec;

	if (r->rc == ZOK) {
		fleet_apply_state(fd, r, &rec);
		fleet_mark_synced(fd, r->tag);
	} else if (r->rc == ZNONODE) {
		/*
		 * Gone: keep the last good state and wait for it to come
		 * back; the leader's next write recreates it.
		 */
		zk_exists(fd->fl->zk, fd->state_path, &fd->state_w,
		    fleet_state_exists_done, fd, r->tag);
	}
	/* Connection trouble: the reconnect reads again. */
}

/* Read the state and leave a watch on it. */
static void
fleet_read_state(struct fdep *fd, uint64_t tag)
{
	zk_get(fd->fl->zk, fd->state_path, &fd->state_w, fleet_state_done, fd,
	    tag);
}

/* The state znode changed, appeared or went: read it again. */
static void
fleet_state_fired(int type, const char *path, void *arg)
{
	struct fdep *fd = arg;

	(void)type;
	(void)path;
	fleet_read_state(fd, 0);
}

/* The override is absent: its exists left the watch. */
static void
fleet_override_exists_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (r->rc == ZOK) /* created meanwhile */
		fleet_read_override(fd);
}

/* A leader's history-only multi (an override entry) came back. */
struct fleet_hop {
	struct fdep *fd;
	struct history_plan plan;
};

static void
fleet_hop_done(const struct zk_result *r, void *arg)
{
	struct fleet_hop *hop = arg;

	history_done(hop->fd->hist, &hop->plan, r, 1);
	history_plan_clear(&hop->plan);
	free(hop);
}

/*
 * The leader records an override set, changed or removed (any instance
 * may write the override; only the leader writes the history, fenced).
 * The first read of a session only learns what is there.
 */
static void
fleet_override_history(
    struct fdep *fd, const struct override_record *ovr, int64_t mzxid)
{
	const struct state_record *held = dep_fleet(fd->dep, NULL);
	struct zk_op ops[ZK_MULTI_MAX - 1];
	struct history_entry e;
	struct fleet_hop *hop;
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
	           history_plan_ops(&hop->plan, ops), fleet_hop_done, hop, 0)
	        == -1) {
		history_plan_clear(&hop->plan);
		free(hop);
	}
}

/* An override read: apply, remove, or reject. */
static void
fleet_override_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;
	struct override_record ovr;
	struct znode_ver ver;
	char err[160];

	if (r->rc == ZNONODE) {
		fleet_override_history(fd, NULL, 0);
		dep_apply_override(fd->dep, NULL, NULL, now_mono_ms());
		fleet_expiry_arm(fd, 0);
		zk_exists(fd->fl->zk, fd->override_path, &fd->override_w,
		    fleet_override_exists_done, fd, 0);
		return;
	}
	if (r->rc != ZOK)
		return;
	if (record_override_decode(r->data,
	        r->datalen < 0 ? 0 : (size_t)r->datalen, &ovr, err, sizeof(err))
	    == -1) {
		fd->fl->records_rejected++;
		dep_reject_record(fd->dep);
		log_warnx("fleet: %s rejected: %s", fd->override_path, err);
		return;
	}
	ver.czxid = r->stat.czxid;
	ver.mzxid = r->stat.mzxid;
	ver.version = r->stat.version;
	fleet_override_history(fd, &ovr, r->stat.mzxid);
	dep_apply_override(fd->dep, &ovr, &ver, now_mono_ms());
	fleet_expiry_arm(fd, 0);
}

/* Read the override and leave a watch. */
static void
fleet_read_override(struct fdep *fd)
{
	zk_get(fd->fl->zk, fd->override_path, &fd->override_w,
	    fleet_override_done, fd, 0);
}

/* The override changed. */
static void
fleet_override_fired(int type, const char *path, void *arg)
{
	struct fdep *fd = arg;

	(void)type;
	(void)path;
	fleet_read_override(fd);
}

/* ---- votes -------------------------------------------------------------- */

/* Tell the hook when the count of votes or of live instances moved. */
static void
fleet_votes_report(struct fdep *fd, size_t votes)
{
	struct fleet *fl = fd->fl;
	size_t live = membership_live(fl->mb);

	if (votes == fd->votes && live == fd->votes_live)
		return;
	fd->votes = votes;
	fd->votes_live = live;
	log_info("fleet: %s has %zu trip vote(s) of %zu live",
	    dep_name(fd->dep), votes, live);
	if (fl->hooks.votes != NULL)
		fl->hooks.votes(fd->dep, votes, live, fl->hooks.arg);
}

/* One read of a tally is back (or was never sent): maybe report. */
static void
fleet_tally_step(struct fleet_tally *t)
{
	struct fdep *fd = t->fd;

	if (--t->pending > 0)
		return;
	if (t->gen == fd->votes_gen && fd->leading)
		fleet_votes_report(fd, t->count);
	free(t);
}

/* A vote's data: it counts only if it decodes as a vote record. */
static void
fleet_vote_read_done(const struct zk_result *r, void *arg)
{
	struct fleet_vread *vr = arg;
	struct fleet_tally *t = vr->t;
	struct fdep *fd = t->fd;
	struct vote_record vote;
	char err[160];

	if (r->rc == ZOK && t->gen == fd->votes_gen) {
		if (record_vote_decode(r->data,
		        r->datalen < 0 ? 0 : (size_t)r->datalen, &vote, err,
		        sizeof(err))
		    == 0)
			t->count++;
		else {
			fd->fl->records_rejected++;
			dep_reject_record(fd->dep);
			log_warnx("fleet: vote %s rejected: %s", vr->path, err);
		}
	}
	/* ZNONODE: withdrawn meanwhile; the children watch re-counts. */
	free(vr->path);
	free(vr);
	fleet_tally_step(t);
}

/* Read one vote's data (leaving a watch: a set changes what it says). */
static void
fleet_vote_read(struct fleet_tally *t, const char *name)
{
	struct fdep *fd = t->fd;
	struct fleet_vread *vr = xcalloc(1, sizeof(*vr));

	vr->t = t;
	xasprintf(&vr->path, "%s/%s", fd->votes_dir, name);
	t->pending++;
	if (zk_get(fd->fl->zk, vr->path, &fd->vote_data_w, fleet_vote_read_done,
	        vr, t->gen)
	    == -1) {
		t->pending--;
		free(vr->path);
		free(vr);
	}
}

/*
 * The votes list (leader).  A child counts only if it is named after a
 * live instance and its data decodes: anyone who can write the ensemble
 * can create children, and forged votes must not trip a healthy fleet.
 */
static void
fleet_votes_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;
	struct fleet_tally *t;
	int i;

	if (r->rc != ZOK || !fd->leading)
		return;
	t = xcalloc(1, sizeof(*t));
	t->fd = fd;
	t->gen = ++fd->votes_gen;
	t->pending = 1; /* held until every read is sent */
	for (i = 0; i < r->nchildren; i++) {
		if (membership_is_live(fd->fl->mb, r->children[i]))
			fleet_vote_read(t, r->children[i]);
		else
			log_debug("fleet: %s/%s is no live instance's vote",
			    fd->votes_dir, r->children[i]);
	}
	fleet_tally_step(t);
}

/* List the votes and leave a watch. */
static void
fleet_list_votes(struct fdep *fd)
{
	zk_children(
	    fd->fl->zk, fd->votes_dir, &fd->votes_w, fleet_votes_done, fd, 0);
}

/* The list or a vote changed: the leader counts again. */
static void
fleet_votes_fired(int type, const char *path, void *arg)
{
	struct fdep *fd = arg;

	(void)type;
	(void)path;
	if (fd->leading)
		fleet_list_votes(fd);
}

/* A vote create, set or delete came back. */
static void
fleet_vote_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;
	char *json;

	if (r->rc == ZNODEEXISTS && fd->vote_want) {
		if ((json = record_vote_encode(&fd->vote)) == NULL)
			return;
		zk_set(fd->fl->zk, fd->vote_path, json, (int)strlen(json), -1,
		    fleet_vote_done, fd, 0);
		free(json);
	} else if (r->rc != ZOK && r->rc != ZNONODE && zk_rc_answered(r->rc))
		log_warnx("fleet: vote %s: %s", fd->vote_path, zerror(r->rc));
}

/* A vote's delete came back; a lost one is sent again on reconnect. */
static void
fleet_vote_deleted(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (!zk_rc_answered(r->rc)) {
		if (!fd->vote_want && r->tag == zk_generation(fd->fl->zk))
			fd->vote_gen = r->tag;
	} else if (r->rc != ZOK && r->rc != ZNONODE)
		log_warnx("fleet: vote %s: %s", fd->vote_path, zerror(r->rc));
}

/*
 * Make the vote znode match what the local breaker wants.  A vote is
 * deleted only if this session may hold one (it sent the create): a
 * delete of a missing node still costs the ensemble a transaction.
 */
static void
fleet_vote_sync(struct fdep *fd)
{
	struct zk *zk = fd->fl->zk;
	uint64_t gen = zk_generation(zk);
	char *json;

	if (!zk_connected(zk))
		return;
	if (!fd->vote_want) {
		if (fd->vote_gen != gen)
			return; /* none of ours: an ephemeral dies with its session */
		fd->vote_gen = 0;
		zk_delete(zk, fd->vote_path, -1, fleet_vote_deleted, fd, gen);
		return;
	}
	if ((json = record_vote_encode(&fd->vote)) == NULL)
		return;
	fd->vote_gen = gen;
	zk_create(zk, fd->vote_path, json, (int)strlen(json), ZOO_EPHEMERAL,
	    fleet_vote_done, fd, 0);
	free(json);
}

/* Cast or withdraw this instance's trip vote. */
void
fleet_vote(struct fleet *fl, struct dep *dep, bool tripped,
    const struct breaker_stats *st)
{
	struct fdep *fd = fleet_fdep(fl, dep);

	if (fd == NULL || fl->stopped)
		return;
	if (fd->vote_want == tripped && !tripped)
		return;
	fd->vote_want = tripped;
	memset(&fd->vote, 0, sizeof(fd->vote));
	if (st != NULL) {
		fd->vote.failure_rate = st->failure_rate_pct < 0
		    ? 0
		    : (uint32_t)st->failure_rate_pct;
		fd->vote.calls = st->calls;
	}
	fd->vote.since_ms = now_wall_ms(); /* display only */
	fleet_vote_sync(fd);
}

/* ---- leadership ------------------------------------------------------- */

/* The takeover is written: announce the leader. */
static void
fleet_announce(struct fdep *fd)
{
	struct fleet *fl = fd->fl;

	fd->takeover_busy = false;
	fd->leading = true;
	fl->takeovers++;
	dep_set_leader(fd->dep, true);
	log_info(
	    "fleet: leader of %s, term %" PRIu64, dep_name(fd->dep), fd->term);
	fleet_list_votes(fd);
	fleet_expiry_arm(fd, 0);
	history_sync(fd->hist);
	if (fl->hooks.leader != NULL)
		fl->hooks.leader(fd->dep, true, fl->hooks.arg);
}

/* A takeover write came back. */
static void
fleet_takeover_written(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;
	struct znode_ver ver;

	if (r->tag != fd->takeover_epoch || !election_leader(fd->el))
		return;
	fd->takeover_busy = false;
	if (r->rc == ZOK && fd->takeover_created) {
		fleet_takeover(fd); /* read it back for its version */
	} else if (r->rc == ZOK) {
		ver.czxid = r->stat.czxid;
		ver.mzxid = r->stat.mzxid;
		ver.version = r->stat.version;
		fleet_seen(fd, &r->stat);
		fleet_apply(fd, &fd->takeover_rec, &ver);
		fleet_announce(fd);
	} else if (r->multi_err[0] == ZNONODE) {
		log_warnx("fleet: %s: election node gone; deposed",
		    dep_name(fd->dep));
		election_deposed(fd->el);
	} else if (zk_rc_answered(r->rc)) {
		fd->takeover_created = false;
		fleet_takeover(fd); /* someone moved it: read again */
	}
	/* Connection trouble: the election re-confirms on reconnect. */
}

/*
 * The one way a leader writes the state znode: a multi fenced by its own
 * election node, setData at version, or (create) a create with the
 * session's ACL.  0 if sent.
 */
static int
fleet_write_json(struct fdep *fd, const char *json, int version, bool create,
    zk_done_fn done, uint64_t tag)
{
	return zk_fenced_write(fd->fl->zk, election_node(fd->el),
	    fd->state_path, json, (int)strlen(json), version, create, done, fd,
	    tag);
}

/* The fenced create of a deleted state znode came back. */
static void
fleet_recreate_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	fd->recreating = false;
	if (r->rc == ZOK)
		log_info("fleet: %s recreated (term %" PRIu64 ")",
		    fd->state_path, fd->term);
	else if (r->multi_err[0] == ZNONODE) {
		if (!fd->leading)
			return; /* handed over or stepped down meanwhile */
		log_warnx("fleet: %s: election node gone; deposed",
		    dep_name(fd->dep));
		election_deposed(fd->el);
		return;
	} else if (zk_rc_answered(r->rc) && r->rc != ZNODEEXISTS)
		log_warnx(
		    "fleet: recreating %s: %s", fd->state_path, zerror(r->rc));
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
fleet_recreate(struct fdep *fd)
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
	if (fleet_write_json(fd, json, -1, true, fleet_recreate_done, 0) == 0)
		fd->recreating = true;
	free(json);
}

/* Write the takeover record: the state found, term + 1, leader = us. */
static void
fleet_takeover_write(
    struct fdep *fd, const struct state_record *base, int version, bool create)
{
	struct fleet *fl = fd->fl;
	struct state_record *rec = &fd->takeover_rec;
	char *json;

	*rec = *base;
	rec->term = base->term + 1;
	strlcpy_b(rec->leader, fl->cfg->instance_id, sizeof(rec->leader));
	snprintf(rec->reason, sizeof(rec->reason), "%s by %s",
	    create ? "created" : "leader takeover", fl->cfg->instance_id);
	rec->changed_ms = now_wall_ms(); /* display only */
	fd->takeover_created = create;
	if (!fleet_lease_valid(fl, now_mono_ms())
	    || (json = record_state_encode(rec)) == NULL) {
		fd->takeover_busy = false; /* the lease timer tries again */
		return;
	}
	fd->term = rec->term;
	fd->term_gen = zk_generation(fl->zk);
	if (fleet_write_json(fd, json, version, create, fleet_takeover_written,
	        fd->takeover_epoch)
	    == -1)
		fd->takeover_busy = false;
	free(json);
}

/* The state as the new leader reads it. */
static void
fleet_takeover_read(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;
	struct state_record rec, base;
	const struct state_record *held;

	if (r->tag != fd->takeover_epoch || !election_leader(fd->el))
		return;
	memset(&base, 0, sizeof(base));
	base.state = BREAKER_CLOSED;
	if (r->rc == ZNONODE) {
		/*
		 * No znode: a new dependency (CLOSED, term 1) or one deleted
		 * under us, which is recreated from the last good record held
		 * so that no transition is lost.
		 */
		if ((held = dep_fleet(fd->dep, NULL)) != NULL)
			base = *held;
		fleet_takeover_write(fd, &base, -1, true);
		return;
	}
	if (r->rc != ZOK) {
		fd->takeover_busy = false;
		return;
	}
	if (fleet_apply_state(fd, r, &rec) == 0) {
		base = rec;
		/*
		 * Our own create read back, or our own term still standing
		 * after a reconnect within the same session (nobody led in
		 * between): lead on without a new write, so that losing one
		 * ZooKeeper server changes nothing anyone can see.
		 */
		if (rec.term == fd->term && fd->term != 0
		    && fd->term_gen == zk_generation(fd->fl->zk)
		    && strcmp(rec.leader, fd->fl->cfg->instance_id) == 0) {
			fd->takeover_created = false;
			fleet_announce(fd);
			return;
		}
	} else if ((held = dep_fleet(fd->dep, NULL)) != NULL)
		base = *held; /* repair a bad record with the last good one */
	fleet_takeover_write(fd, &base, r->stat.version, false);
}

/* Become the writer: read the state (leaving the watch), then write. */
static void
fleet_takeover(struct fdep *fd)
{
	fd->takeover_busy = true;
	if (zk_get(fd->fl->zk, fd->state_path, &fd->state_w,
	        fleet_takeover_read, fd, fd->takeover_epoch)
	    == -1)
		fd->takeover_busy = false;
}

static size_t fleet_leading(const struct fleet *);
static size_t fleet_fair_share(const struct fleet *);

/* The election confirmed or dropped us. */
static void
fleet_election_cb(bool leader, void *arg)
{
	struct fdep *fd = arg;

	if (!leader) {
		if (fd->leading && election_abdicating(fd->el)
		    && fd->blind_handover)
			log_info("fleet: %s: handing leadership over (blind)",
			    dep_name(fd->dep));
		else if (fd->leading && election_abdicating(fd->el))
			log_info("fleet: %s: handing leadership over (leading "
			         "%zu of %zu deps, fair share %zu)",
			    dep_name(fd->dep), fleet_leading(fd->fl),
			    fd->fl->ndeps, fleet_fair_share(fd->fl));
		fd->blind_handover = false;
		fleet_step_down(fd);
		return;
	}
	if (fd->leading || fd->takeover_busy)
		return;
	fd->takeover_epoch++;
	fd->takeover_created = false;
	fleet_takeover(fd);
}

/* Every T/4: keep the lease fresh while leading, retry takeovers. */
static void
fleet_lease_cb(int fd_, short ev, void *arg)
{
	struct fleet *fl = arg;
	uint32_t t = zk_timeout_ms(fl->zk) / 4;
	struct timeval tv = {t / 1000, (t % 1000) * 1000};
	bool refreshed = false;
	size_t i;

	(void)fd_;
	(void)ev;
	for (i = 0; i < fl->ndeps && zk_connected(fl->zk); i++) {
		struct fdep *fd = &fl->deps[i];

		if (!election_leader(fd->el))
			continue;
		if (!refreshed) {
			election_refresh(fd->el); /* one request is enough */
			refreshed = true;
		}
		if (!fd->leading && !fd->takeover_busy)
			fleet_election_cb(true, fd);
	}
	if (!fl->stopped)
		evtimer_add(fl->lease_ev, &tv);
}

bool
fleet_lease_valid(const struct fleet *fl, uint64_t now_ms)
{
	uint64_t last = zk_last_ok_send_ms(fl->zk);

	if (!zk_connected(fl->zk) || last == 0)
		return false;
	return now_ms < last + 2ULL * zk_timeout_ms(fl->zk) / 3;
}

bool
fleet_is_leader(const struct fleet *fl, const struct dep *dep)
{
	const struct fdep *fd = fleet_fdep(fl, dep);

	return fd != NULL && fd->leading;
}

/* ---- spreading leadership ------------------------------------------------ */

/* How many dependencies this instance leads. */
static size_t
fleet_leading(const struct fleet *fl)
{
	size_t i, n = 0;

	for (i = 0; i < fl->ndeps; i++)
		if (fl->deps[i].leading)
			n++;
	return n;
}

/* ceil(deps / live instances): what each instance should lead at most. */
static size_t
fleet_fair_share(const struct fleet *fl)
{
	size_t live = membership_live(fl->mb);

	if (live == 0)
		return fl->ndeps;
	return (fl->ndeps + live - 1) / live;
}

/*
 * How many dependencies id leads, as the state records this instance
 * holds name their leaders (a hint: a takeover in flight is not counted).
 */
static size_t
fleet_led_by(const struct fleet *fl, const char *id)
{
	const struct state_record *rec;
	size_t i, n = 0;

	for (i = 0; i < fl->ndeps; i++)
		if ((rec = dep_fleet(fl->deps[i].dep, NULL)) != NULL
		    && strcmp(rec->leader, id) == 0)
			n++;
	return n;
}

/* The fewest dependencies a live instance leads (state records' word). */
static size_t
fleet_min_leading(const struct fleet *fl)
{
	size_t i, n, min = SIZE_MAX;

	for (i = 0; i < membership_live(fl->mb); i++)
		if ((n = fleet_led_by(fl, membership_at(fl->mb, i))) < min)
			min = n;
	return min == SIZE_MAX ? 0 : min;
}

/*
 * A handover never leaves the successor leading more than we do now,
 * except while we are over the hard bound (fair share + 1): then it may
 * go to a successor as loaded as we are, which passes it on a second
 * later.  That is how a dependency travels down a queue whose front is
 * made of loaded instances (the ones that joined first) to the idle
 * ones behind.  Within the bound only moves that narrow the gap are
 * made, so leadership settles instead of going round.
 */
static bool
fleet_successor_ok(const char *successor, void *arg)
{
	struct fdep *fd = arg;
	size_t n = fleet_led_by(fd->fl, successor);
	size_t mine = fleet_leading(fd->fl);

	if (n + 1 <= mine)
		return true;
	return n <= mine && mine > fleet_fair_share(fd->fl) + 1;
}

/*
 * Should this instance give one dependency up?  Above fair share + 1
 * always; above fair share only while some instance leads fewer than
 * fair share - 1.  Between the two nothing moves, so leadership does not
 * flap back and forth over one dependency.
 */
static bool
fleet_overloaded(const struct fleet *fl)
{
	size_t mine = fleet_leading(fl), fair = fleet_fair_share(fl);

	if (mine > fair + 1)
		return true;
	return mine > fair && fair >= 1 && fleet_min_leading(fl) + 1 < fair;
}

/* FNV-1a of the instance id and a dependency's name (rendezvous hash). */
static uint64_t
fleet_spread_score(const char *id, const char *dep)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *p;

	for (p = id; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	h = (h ^ 0xff) * 0x100000001b3ULL;
	for (p = dep; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	return h;
}

/* May fd be handed over now (settled state, no write of ours in flight)? */
static bool
fleet_may_hand_over(const struct fdep *fd, uint64_t now)
{
	const struct state_record *rec = dep_fleet(fd->dep, NULL);

	if (!fd->leading || fd->takeover_busy || fd->recreating
	    || !election_leader(fd->el) || rec == NULL)
		return false;
	if (rec->state != BREAKER_CLOSED && rec->state != BREAKER_OPEN)
		return false; /* never in the middle of half-open probing */
	return fd->spread_tried_ms == 0
	    || now >= fd->spread_tried_ms + FLEET_SPREAD_RETRY_MS;
}

/*
 * The dependency to give up: the one whose hash with this instance's id
 * is lowest.  Each instance ranks differently, so they do not all give
 * up (and take back) the same ones.
 */
static struct fdep *
fleet_spread_pick(struct fleet *fl, uint64_t now)
{
	struct fdep *best = NULL;
	uint64_t score, low = UINT64_MAX;
	size_t i;

	for (i = 0; i < fl->ndeps; i++) {
		struct fdep *fd = &fl->deps[i];

		if (!fleet_may_hand_over(fd, now))
			continue;
		score =
		    fleet_spread_score(fl->cfg->instance_id, dep_name(fd->dep));
		if (best == NULL || score < low) {
			best = fd;
			low = score;
		}
	}
	return best;
}

/* Every second: hand one dependency over if this instance leads too many. */
static void
fleet_spread_cb(int fd_, short ev, void *arg)
{
	struct fleet *fl = arg;
	struct timeval tv = {
	    FLEET_SPREAD_MS / 1000, (FLEET_SPREAD_MS % 1000) * 1000};
	uint64_t now = now_mono_ms();
	struct fdep *fd;

	(void)fd_;
	(void)ev;
	if (fl->stopped)
		return;
	evtimer_add(fl->spread_ev, &tv);
	if (!zk_connected(fl->zk) || !fleet_lease_valid(fl, now)
	    || registry_session(fl->reg) != FLEET_CONNECTED
	    || !fleet_overloaded(fl)
	    || (fd = fleet_spread_pick(fl, now)) == NULL)
		return;
	fd->spread_tried_ms = now;
	fd->blind_handover = false;
	election_abdicate(fd->el, fleet_successor_ok, fd);
}

/* ---- publish and force --------------------------------------------------- */

/* Finish an operation. */
static void
fleet_op_finish(
    struct fleet_op *op, int code, uint64_t version, const char *msg)
{
	op->done(code, version, msg, op->arg);
	history_plan_clear(&op->plan);
	free(op->json);
	free(op);
}

static void fleet_publish_done(const struct zk_result *, void *);

/* Send a publish: check + set state (+ its history entry), one multi. */
static int
fleet_publish_send(struct fleet_op *op)
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
	return zk_fenced_multi(fd->fl->zk, election_node(fd->el), ops, n,
	    fleet_publish_done, op, 0);
}

/* The history failed a publish: again without deletes, then without it. */
static int
fleet_publish_retry(struct fleet_op *op)
{
	history_plan_clear(&op->plan);
	op->has_plan = op->attempts++ == 0
	    && history_plan(op->fd->hist, &op->hent, false, &op->plan) == 0;
	return fleet_publish_send(op);
}

/* The history entry of a publish: from the fleet state held to ours. */
static void
fleet_publish_plan(struct fleet_op *op)
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
fleet_publish_done(const struct zk_result *r, void *arg)
{
	struct fleet_op *op = arg;
	struct fdep *fd = op->fd;
	struct znode_ver ver;

	if (op->has_plan && history_done(fd->hist, &op->plan, r, 2)
	    && fleet_publish_retry(op) == 0)
		return; /* the history's own trouble: again, lighter */
	if (r->rc == ZOK) {
		ver.czxid = r->stat.czxid;
		ver.mzxid = r->stat.mzxid;
		ver.version = r->stat.version;
		fd->fl->publishes++;
		fleet_seen(fd, &r->stat);
		conv_published(
		    fd->fl->conv, fd->dep, (uint64_t)r->stat.version);
		fleet_apply(fd, &op->rec, &ver);
		fleet_op_finish(op, 0, (uint64_t)r->stat.version, "published");
	} else if (r->multi_err[0] == ZNONODE) {
		if (fd->leading) /* else: handed over meanwhile, node rejoined */
			election_deposed(fd->el);
		fleet_op_finish(op, PROTO_EBUSY, 0, "deposed: not the leader");
	} else if (r->multi_err[1] == ZNONODE) {
		/* Our node is there but the state znode is not. */
		fleet_recreate(fd);
		fleet_op_finish(op, PROTO_EBUSY, 0,
		    "state znode was deleted; recreating it, retry");
	} else if (zk_rc_answered(r->rc)) {
		fleet_read_state(fd, 0);
		fleet_op_finish(op, PROTO_EBUSY, 0,
		    r->rc == ZBADVERSION ? "version conflict; state re-read"
		                         : zerror(r->rc));
	} else
		fleet_op_finish(
		    op, PROTO_EUNAVAIL, 0, "session lost: outcome unknown");
}

/* Why this instance may not publish for fd now; NULL if it may. */
static const char *
fleet_publish_refusal(struct fdep *fd, int *code)
{
	*code = PROTO_EBUSY;
	if (fd->fl->stopped || !zk_connected(fd->fl->zk)) {
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
fleet_publish(struct fleet *fl, struct dep *dep, enum breaker_state state,
    const char *reason, const struct state_record *extra, fleet_done_fn done,
    void *arg)
{
	struct fdep *fd = fleet_fdep(fl, dep);
	struct fleet_op *op;
	const char *why;
	int code;

	if (fd == NULL) {
		done(PROTO_ENOENT, 0, "unknown dependency", arg);
		return;
	}
	if ((why = fleet_publish_refusal(fd, &code)) != NULL) {
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
		fleet_op_finish(op, PROTO_EPROTO, 0, "reason is not UTF-8");
		return;
	}
	op->version = fd->seen_ver.version;
	fleet_publish_plan(op);
	if (fleet_publish_send(op) == -1)
		fleet_op_finish(op, PROTO_EUNAVAIL, 0, "request not sent");
}

/* Apply a written override at once (read-your-writes for FORCE). */
static void
fleet_force_applied(struct fleet_op *op, const struct zk_result *r)
{
	struct znode_ver ver;

	ver.czxid = r->stat.czxid;
	ver.mzxid = r->stat.mzxid;
	ver.version = r->stat.version;
	dep_apply_override(op->fd->dep, &op->ovr, &ver, now_mono_ms());
	fleet_expiry_arm(op->fd, 0);
	fleet_op_finish(op, 0, (uint64_t)r->stat.version, "override set");
}

static void fleet_force_send(struct fleet_op *, bool create);

/* A set or create of the override came back. */
static void
fleet_force_done(const struct zk_result *r, void *arg)
{
	struct fleet_op *op = arg;

	if (r->rc == ZOK)
		fleet_force_applied(op, r);
	else if ((r->rc == ZNONODE || r->rc == ZNODEEXISTS)
	    && ++op->attempts < 4)
		fleet_force_send(op, r->rc == ZNONODE);
	else
		fleet_op_finish(op,
		    zk_rc_answered(r->rc) && r->rc != ZNOAUTH ? PROTO_EBUSY
		                                              : PROTO_EUNAVAIL,
		    0, zerror(r->rc));
}

/* Set the override, or create it when it is absent. */
static void
fleet_force_send(struct fleet_op *op, bool create)
{
	struct fleet *fl = op->fd->fl;
	int rc;

	if (create)
		rc = zk_create(fl->zk, op->fd->override_path, op->json,
		    (int)strlen(op->json), 0, fleet_force_done, op, 0);
	else
		rc = zk_set(fl->zk, op->fd->override_path, op->json,
		    (int)strlen(op->json), -1, fleet_force_done, op, 0);
	if (rc == -1)
		fleet_op_finish(op, PROTO_EUNAVAIL, 0, "request not sent");
}

/* The override's delete came back. */
static void
fleet_unforce_done(const struct zk_result *r, void *arg)
{
	struct fleet_op *op = arg;

	if (r->rc == ZOK || r->rc == ZNONODE) {
		dep_apply_override(op->fd->dep, NULL, NULL, now_mono_ms());
		fleet_expiry_arm(op->fd, 0);
		fleet_op_finish(op, 0, 0, "override removed");
	} else
		fleet_op_finish(op, PROTO_EUNAVAIL, 0, zerror(r->rc));
}

/* Set or remove the operator override (any instance may). */
void
fleet_force(struct fleet *fl, struct dep *dep, enum breaker_state to,
    uint32_t ttl_s, const char *reason, const char *by, fleet_done_fn done,
    void *arg)
{
	struct fdep *fd = fleet_fdep(fl, dep);
	struct fleet_op *op;

	if (fd == NULL
	    || (to != BREAKER_NSTATES && to != BREAKER_CLOSED
	        && to != BREAKER_OPEN && to != BREAKER_FORCED_OPEN)) {
		done(PROTO_EPROTO, 0, "bad dependency or state", arg);
		return;
	}
	if (ttl_s > RECORD_OVERRIDE_MAX_MS / 1000) {
		done(PROTO_EPROTO, 0, "ttl longer than 30 days", arg);
		return;
	}
	if (fl->stopped || !zk_connected(fl->zk)) {
		done(PROTO_EUNAVAIL, 0, "no ZooKeeper session", arg);
		return;
	}
	op = xcalloc(1, sizeof(*op));
	op->fd = fd;
	op->done = done;
	op->arg = arg;
	if (to == BREAKER_NSTATES) {
		if (zk_delete(fl->zk, fd->override_path, -1, fleet_unforce_done,
		        op, 0)
		    == -1)
			fleet_op_finish(
			    op, PROTO_EUNAVAIL, 0, "request not sent");
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
		fleet_op_finish(op, PROTO_EPROTO, 0, "reason is not UTF-8");
		return;
	}
	fleet_force_send(op, false);
}

/* ---- override expiry (leader) ------------------------------------------ */

/* The fenced delete of an override whose ttl ran out came back. */
static void
fleet_expire_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (r->tag != fd->takeover_epoch)
		return; /* stepped down meanwhile */
	fd->expiring = false;
	if (r->rc == ZOK
	    || (r->rc != ZOK && r->multi_err[0] == ZOK
	        && r->multi_err[1] == ZNONODE)) {
		log_info("fleet: %s: override ended (ttl ran out)",
		    dep_name(fd->dep));
		dep_apply_override(fd->dep, NULL, NULL, now_mono_ms());
	} else if (r->multi_err[0] == ZNONODE) {
		log_warnx("fleet: %s: election node gone; deposed",
		    dep_name(fd->dep));
		election_deposed(fd->el);
	} else if (r->multi_err[1] == ZBADVERSION) {
		fleet_read_override(fd); /* a new FORCE: its own ttl */
	} else {
		if (zk_rc_answered(r->rc))
			log_warnx("fleet: %s: ending the override: %s",
			    dep_name(fd->dep), zerror(r->rc));
		fleet_expiry_arm(fd, FLEET_EXPIRE_RETRY_MS);
	}
}

/* The ttl timer: remove the override if it is still the one timed. */
static void
fleet_expire_cb(int fd_, short ev, void *arg)
{
	struct fdep *fd = arg;
	struct fleet *fl = fd->fl;
	struct znode_ver ver;
	uint64_t left;

	(void)fd_;
	(void)ev;
	if (!fd->leading || fd->expiring || fl->stopped
	    || dep_override(fd->dep, &ver) == NULL
	    || !dep_override_left(fd->dep, now_mono_ms(), &left))
		return;
	if (left > 0 || !election_leader(fd->el)
	    || !fleet_lease_valid(fl, now_mono_ms())) {
		fleet_expiry_arm(fd, left > 0 ? 0 : FLEET_EXPIRE_RETRY_MS);
		return;
	}
	if (zk_fenced_delete(fl->zk, election_node(fd->el), fd->override_path,
	        ver.version, fleet_expire_done, fd, fd->takeover_epoch)
	    == 0)
		fd->expiring = true;
	else
		fleet_expiry_arm(fd, FLEET_EXPIRE_RETRY_MS);
}

/*
 * (Re)arm the leader's ttl timer for the override in force: at the time
 * left, or after retry_ms when a delete could not go.  Not leading, or
 * no override with a ttl: no timer.
 */
static void
fleet_expiry_arm(struct fdep *fd, uint64_t retry_ms)
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

/* FLEET: every instance's acknowledgements. */
void
fleet_view(struct fleet *fl, fleet_body_fn done, void *arg)
{
	if (fl->stopped || !zk_connected(fl->zk)) {
		done(PROTO_EUNAVAIL, "no ZooKeeper session", NULL, arg);
		return;
	}
	conv_fleet_read(fl->conv, done, arg);
}

void
fleet_set_ack_sink(
    struct fleet *fl, void (*fn)(const char *, void *, void *), void *arg)
{
	conv_set_sink(fl->conv, fn, arg);
}

void
fleet_applied(struct fleet *fl)
{
	conv_applied(fl->conv);
}

void
fleet_metrics(const struct fleet *fl, struct evbuffer *out)
{
	conv_metrics(fl->conv, out);
}

/* HISTORY: the newest n entries of dep's history (any instance). */
void
fleet_history(
    struct fleet *fl, struct dep *dep, size_t n, fleet_body_fn done, void *arg)
{
	struct fdep *fd = fleet_fdep(fl, dep);

	if (fd == NULL || fl->stopped || !zk_connected(fl->zk)) {
		done(fd == NULL ? PROTO_ENOENT : PROTO_EUNAVAIL,
		    fd == NULL ? "unknown dependency" : "no ZooKeeper session",
		    NULL, arg);
		return;
	}
	history_read_body(fl->zk, fd->history_dir, n, done, arg);
}

/* ---- membership hooks -------------------------------------------------- */

/*
 * The live set changed: leaders count their votes again (a vote of an
 * instance that left no longer counts) and report with the new count.
 */
static void
fleet_live_cb(size_t live, void *arg)
{
	struct fleet *fl = arg;
	size_t i;

	(void)live;
	for (i = 0; i < fl->ndeps; i++)
		if (fl->deps[i].leading)
			fleet_list_votes(&fl->deps[i]);
	conv_live_changed(fl->conv);
}

/* Our id is taken by another live session. */
static void
fleet_fatal_cb(const char *msg, void *arg)
{
	struct fleet *fl = arg;

	if (fl->hooks.fatal_error != NULL)
		fl->hooks.fatal_error(msg, fl->hooks.arg);
	else
		fatalx("%s", msg);
}

/* ---- set-up --------------------------------------------------------------- */

/* This instance's registration record. */
static char *
fleet_instance_json(const struct config *cfg)
{
	struct instance_record ir;
	char *json;

	memset(&ir, 0, sizeof(ir));
	if (gethostname(ir.host, sizeof(ir.host) - 1) == -1)
		strlcpy_b(ir.host, "unknown", sizeof(ir.host));
	ir.pid = (int64_t)getpid();
	strlcpy_b(ir.version, BREAKERD_VERSION, sizeof(ir.version));
	ir.started_ms = now_wall_ms(); /* display only */
	strlcpy_b(ir.socket, cfg->socket_path != NULL ? cfg->socket_path : "",
	    sizeof(ir.socket));
	if ((json = record_instance_encode(&ir)) == NULL)
		json = xstrdup("{}");
	return json;
}

/* Paths and watchers of one dependency. */
static void
fleet_fdep_init(struct fleet *fl, struct fdep *fd, struct dep *dep)
{
	char *el;

	fd->fl = fl;
	fd->dep = dep;
	xasprintf(&fd->dir, "%s/deps/%s", fl->root, dep_name(dep));
	xasprintf(&fd->state_path, "%s/state", fd->dir);
	xasprintf(&fd->override_path, "%s/override", fd->dir);
	xasprintf(&fd->votes_dir, "%s/votes", fd->dir);
	xasprintf(&fd->vote_path, "%s/%s", fd->votes_dir, fl->cfg->instance_id);
	xasprintf(&fd->history_dir, "%s/history", fd->dir);
	fd->hist =
	    history_new(fl->zk, fd->history_dir, fl->cfg->zk_history_keep);
	zk_watch_init(&fd->state_w, fl->zk, fleet_state_fired, fd);
	zk_watch_init(&fd->override_w, fl->zk, fleet_override_fired, fd);
	zk_watch_init(&fd->votes_w, fl->zk, fleet_votes_fired, fd);
	zk_watch_init(&fd->vote_data_w, fl->zk, fleet_votes_fired, fd);
	xasprintf(&el, "%s/election", fd->dir);
	fd->el = election_new(
	    fl->base, fl->zk, el, fl->cfg->instance_id, fleet_election_cb, fd);
	free(el);
	if ((fd->expire_ev = evtimer_new(fl->base, fleet_expire_cb, fd))
	    == NULL)
		fatalx("fleet: evtimer_new");
}

/* Build the fleet side; fatal at start-up if the credential is bad. */
struct fleet *
fleet_new(struct event_base *base, const struct config *cfg,
    struct registry *reg, const struct fleet_hooks *hooks)
{
	struct fleet *fl = xcalloc(1, sizeof(*fl));
	char cred[FLEET_CRED_MAX], err[256], *json, *dir;
	size_t i;

	fl->base = base;
	fl->cfg = cfg;
	fl->reg = reg;
	if (hooks != NULL)
		fl->hooks = *hooks;
	fl->root =
	    xstrdup(cfg->zk_root != NULL ? cfg->zk_root : "/breakerd/default");
	if (cfg->zk_credential_file != NULL
	    && fleet_read_credential(cfg->zk_credential_file, cred,
	           sizeof(cred), err, sizeof(err))
	        == -1)
		fatalx("zookeeper credential: %s", err);
	fl->zk = zk_new(base, cfg->zk_hosts, cfg->zk_session_timeout_ms,
	    cfg->zk_credential_file != NULL ? cred : NULL, fleet_session_cb,
	    fl);
	explicit_bzero(cred, sizeof(cred));
	json = fleet_instance_json(cfg);
	xasprintf(&dir, "%s/instances", fl->root);
	fl->mb = membership_new(base, fl->zk, dir, cfg->instance_id, json,
	    fleet_live_cb, fleet_fatal_cb, fl);
	membership_on_registered(fl->mb, fleet_registered);
	fl->conv = conv_new(base, fl->zk, fl->mb, reg, dir, json);
	free(dir);
	free(json);
	fl->wit = witness_new(base, fl->zk, reg, fl->root, cfg->instance_id);
	fl->ndeps = registry_count(reg);
	fl->deps = xcalloc(fl->ndeps ? fl->ndeps : 1, sizeof(*fl->deps));
	for (i = 0; i < fl->ndeps; i++)
		fleet_fdep_init(fl, &fl->deps[i], registry_at(reg, i));
	if ((fl->lease_ev = evtimer_new(base, fleet_lease_cb, fl)) == NULL
	    || (fl->spread_ev = evtimer_new(base, fleet_spread_cb, fl)) == NULL)
		fatalx("fleet_new: evtimer_new");
	return fl;
}

/* Connect; the rest happens as the session comes up. */
int
fleet_start(struct fleet *fl)
{
	struct timeval tv = {0, 250 * 1000};
	struct timeval spread = {
	    FLEET_SPREAD_MS / 1000, (FLEET_SPREAD_MS % 1000) * 1000};

	evtimer_add(fl->lease_ev, &tv);
	evtimer_add(fl->spread_ev, &spread);
	fleet_session(fl, FLEET_CONNECTING);
	return zk_start(fl->zk);
}

/* Close the session now (SIGTERM): other instances take over in ms. */
void
fleet_stop(struct fleet *fl)
{
	size_t i;

	if (fl->stopped)
		return;
	fl->stopped = true;
	evtimer_del(fl->lease_ev);
	evtimer_del(fl->spread_ev);
	for (i = 0; i < fl->ndeps; i++)
		fleet_step_down(&fl->deps[i]);
	zk_stop(fl->zk);
}

void
fleet_free(struct fleet *fl)
{
	size_t i;

	if (fl == NULL)
		return;
	fleet_stop(fl);
	zk_free(fl->zk); /* no callback can come after this */
	for (i = 0; i < fl->ndeps; i++) {
		struct fdep *fd = &fl->deps[i];

		election_free(fd->el);
		event_free(fd->expire_ev);
		free(fd->dir);
		free(fd->state_path);
		free(fd->override_path);
		free(fd->votes_dir);
		free(fd->vote_path);
		history_free(fd->hist);
		free(fd->history_dir);
	}
	free(fl->deps);
	witness_free(fl->wit);
	conv_free(fl->conv);
	membership_free(fl->mb);
	event_free(fl->lease_ev);
	event_free(fl->spread_ev);
	free(fl->root);
	free(fl);
}

/* The session, for modules that keep their own znodes (summary.c). */
struct zk *
fleet_zk(struct fleet *fl)
{
	return fl->zk;
}

/* The live instances and our own registration record. */
const struct membership *
fleet_membership(const struct fleet *fl)
{
	return fl->mb;
}

const char *
fleet_root(const struct fleet *fl)
{
	return fl->root;
}

size_t
fleet_live_instances(const struct fleet *fl)
{
	return membership_live(fl->mb);
}

size_t
fleet_vote_count(const struct fleet *fl, const struct dep *dep)
{
	const struct fdep *fd = fleet_fdep(fl, dep);

	return fd != NULL && fd->leading ? fd->votes : 0;
}

uint64_t
fleet_records_rejected(const struct fleet *fl)
{
	return fl->records_rejected;
}

/* The session's name for STATUS. */
static const char *
fleet_session_word(const struct fleet *fl)
{
	if (fl->stopped)
		return "closed";
	if (fl->auth_failed)
		return "auth_failed";
	return fleet_session_name(registry_session(fl->reg));
}

/* STATUS lines (never the credential). */
void
fleet_status(const struct fleet *fl, struct evbuffer *out)
{
	uint64_t now = now_mono_ms(), last = zk_last_ok_send_ms(fl->zk);
	uint64_t until = last + 2ULL * zk_timeout_ms(fl->zk) / 3;
	size_t i, leaders = 0;

	evbuffer_add_printf(out, "zk_session=%s\n", fleet_session_word(fl));
	evbuffer_add_printf(out, "zk_connected=%d\n", zk_connected(fl->zk));
	evbuffer_add_printf(out, "zk_session_id=0x%llx\n",
	    (unsigned long long)zk_session_id(fl->zk));
	evbuffer_add_printf(out, "zk_timeout_ms=%u\n", zk_timeout_ms(fl->zk));
	evbuffer_add_printf(
	    out, "zk_generation=%" PRIu64 "\n", zk_generation(fl->zk));
	evbuffer_add_printf(out, "zk_auth=%d\n", zk_has_auth(fl->zk));
	/* The same test as READY=1 to systemd and `breakerctl ready`. */
	evbuffer_add_printf(out, "ready=%d\n", registry_ready(fl->reg));
	evbuffer_add_printf(
	    out, "registered=%d\n", membership_registered(fl->mb));
	evbuffer_add_printf(
	    out, "live_instances=%zu\n", membership_live(fl->mb));
	for (i = 0; i < fl->ndeps; i++) {
		if (!fl->deps[i].leading)
			continue;
		leaders++;
		evbuffer_add_printf(
		    out, "leader.%s=1\n", dep_name(fl->deps[i].dep));
		evbuffer_add_printf(out, "votes.%s=%zu\n",
		    dep_name(fl->deps[i].dep), fl->deps[i].votes);
	}
	evbuffer_add_printf(out, "leaders=%zu\n", leaders);
	evbuffer_add_printf(out, "leading=%zu\n", leaders);
	evbuffer_add_printf(out, "fair_share=%zu\n", fleet_fair_share(fl));
	evbuffer_add_printf(out, "lease_ms_left=%" PRIu64 "\n",
	    fleet_lease_valid(fl, now) ? until - now : 0);
	evbuffer_add_printf(
	    out, "records_rejected=%" PRIu64 "\n", fl->records_rejected);
	evbuffer_add_printf(out, "publishes=%" PRIu64 "\n", fl->publishes);
	evbuffer_add_printf(out, "takeovers=%" PRIu64 "\n", fl->takeovers);
}

/* ---- witnesses ---------------------------------------------------------- */

/* Who runs the checks this instance is asked for as a witness. */
void
fleet_set_witness_hooks(struct fleet *fl, const struct witness_hooks *h)
{
	witness_set_hooks(fl->wit, h);
}

/* Leader only: ask the next candidate for a second opinion (fenced). */
void
fleet_corroborate(struct fleet *fl, struct dep *dep, uint32_t checks,
    uint32_t timeout_ms, witness_done_fn done, void *arg)
{
	struct fdep *fd = fleet_fdep(fl, dep);

	if (fd == NULL || !fd->leading || !election_leader(fd->el)
	    || !fleet_lease_valid(fl, now_mono_ms())) {
		done(WITNESS_ALONE, NULL, "not acting leader", arg);
		return;
	}
	witness_ask(fl->wit, dep, election_node(fd->el), fd->term, checks,
	    timeout_ms, done, arg);
}

/* A blind leader gives dep to the next candidate (if there is one). */
void
fleet_hand_over(struct fleet *fl, struct dep *dep)
{
	struct fdep *fd = fleet_fdep(fl, dep);

	if (fd == NULL || !fd->leading || !election_leader(fd->el))
		return;
	fd->blind_handover = true;
	election_abdicate(fd->el, NULL, NULL);
}

/* Leader only: valid trip votes for dep other than our own. */
size_t
fleet_other_votes(const struct fleet *fl, const struct dep *dep)
{
	const struct fdep *fd = fleet_fdep(fl, dep);
	size_t own;

	if (fd == NULL || !fd->leading)
		return 0;
	own = fd->vote_want ? 1 : 0;
	return fd->votes > own ? fd->votes - own : 0;
}

/* Requests this instance answered as a witness for dep. */
uint64_t
fleet_witness_answered(const struct fleet *fl, const struct dep *dep)
{
	return witness_answered(fl->wit, dep);
}
