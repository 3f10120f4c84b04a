/*
 * fleet.c - glue between the ZooKeeper session and the registry.
 *
 * Session: a new session creates the parents, registers, reads every
 * state and override (leaving watches) and joins every election with a
 * new uuid; a reconnect of the same session re-reads and re-checks
 * (reads that failed during the outage left no watch).  Where that
 * set-up stands is one enum fleet_phase, changed only by
 * fleet_phase_set.  The registry is told FLEET_CONNECTED only once every
 * dependency's state has been read since the (re)connect; until then it
 * answers stale or local.
 *
 * Watches: every instance watches every dependency's state and override
 * znodes and applies what it reads.  Records are ordered by their znode
 * versions (the registry ignores older ones), never by wall clocks; a
 * record that does not parse is counted and logged and the last good one
 * is kept (the leader writes it back).
 *
 * The rest has rooms of its own: the leader's takeover and writes
 * (leadwrite.c, with the pure takeover.c and spread.c), the trip votes
 * (votes.c), witnesses (witness.c, made here), acknowledgements
 * (converge.c) and history (history.c).  fleet.h's calls are thin
 * wrappers over them.
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

#include "converge.h"
#include "election.h"
#include "errcode.h"
#include "fleet.h"
#include "fleet_int.h"
#include "history.h"
#include "leadwrite.h"
#include "log.h"
#include "membership.h"
#include "record.h"
#include "spread.h"
#include "util.h"
#include "votes.h"
#include "witness.h"
#include "zk.h"

#ifndef BREAKERD_VERSION
#define BREAKERD_VERSION "unknown"
#endif

#define FLEET_CRED_MAX 512

/* Find the ZooKeeper side of a registry dependency. */
struct fdep *
fleet_fdep(const struct fleet *fl, const struct dep *dep)
{
	size_t i;

	for (i = 0; i < fl->ndeps; i++)
		if (fl->deps[i]->dep == dep)
			return fl->deps[i];
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

static const char *
fleet_phase_name(enum fleet_phase p)
{
	switch (p) {
	case FLEET_PHASE_IDLE:
		return "idle";
	case FLEET_PHASE_AUTH_FAILED:
		return "auth_failed";
	case FLEET_PHASE_CHECK_NEW:
		return "check_new";
	case FLEET_PHASE_CHECK_OLD:
		return "check_old";
	case FLEET_PHASE_JOINING:
		return "joining";
	case FLEET_PHASE_UP:
		return "up";
	case FLEET_PHASE_STOPPED:
		return "stopped";
	}
	return "?";
}

/* The one place the phase changes; stopped is for good. */
static void
fleet_phase_set(struct fleet *fl, enum fleet_phase p, const char *why)
{
	if (fl->phase == p || fl->phase == FLEET_PHASE_STOPPED)
		return;
	log_info("fleet: session phase %s -> %s (%s)",
	    fleet_phase_name(fl->phase), fleet_phase_name(p), why);
	fl->phase = p;
}

/* Are the parents being checked in this session? */
static bool
fleet_phase_checking(const struct fleet *fl)
{
	return fl->phase == FLEET_PHASE_CHECK_NEW
	    || fl->phase == FLEET_PHASE_CHECK_OLD;
}

/* Are the parents known to exist in this session? */
static bool
fleet_phase_dirs_known(const struct fleet *fl)
{
	return fl->phase == FLEET_PHASE_JOINING || fl->phase == FLEET_PHASE_UP;
}

/* Tell the registry; CONNECTED only once every state was read. */
static void
fleet_session(struct fleet *fl, enum fleet_session s)
{
	registry_set_session(fl->reg, s, now_mono_ms());
}

/* Every state read since the (re)connect: the registry is CONNECTED. */
static void
fleet_check_synced(struct fleet *fl)
{
	if (fl->nsynced != fl->ndeps || !zk_connected(fl->zk)
	    || registry_session(fl->reg) == FLEET_CONNECTED)
		return;
	log_info("fleet: every state read; ready");
	fleet_session(fl, FLEET_CONNECTED);
}

/* A state read of this connect completed: maybe the fleet is ready. */
static void
fleet_mark_synced(struct fdep *fd, uint64_t tag)
{
	struct fleet *fl = fd->fl;

	if (fd->removed || tag != fl->conn_epoch || fd->synced_epoch == tag)
		return;
	fd->synced_epoch = tag;
	dep_set_synced(fd->dep, true, now_mono_ms());
	fl->nsynced++;
	fleet_check_synced(fl);
}

/* A parent's create: another instance may have made it meanwhile. */
static void
fleet_mkdir_done(const struct zk_result *r, void *arg)
{
	(void)arg;
	if (r->rc != ZK_OK && r->rc != ZK_NODEEXISTS && zk_rc_answered(r->rc))
		log_warnx(
		    "fleet: creating a parent znode: %s", zk_strerror(r->rc));
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

	for (i = 0; r->rc == ZK_OK && i < r->nchildren; i++)
		if (strcmp(r->children[i], name) == 0)
			return true;
	return false;
}

/*
 * A dependency's parent create.  One cut off by a connection loss may or
 * may not have been applied: the dependency's directory is listed again
 * at the next connect before it is used (fleet_connected_go), or its
 * election would wait forever for a directory nobody creates.
 */
static void
fleet_mkdir_dep_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (!zk_rc_answered(r->rc)) {
		if (!fd->removed && !fd->needs_dirs)
			log_info("fleet: %s: a parent create was cut off; "
			         "checked again on reconnect",
			    dep_name(fd->dep));
		fd->needs_dirs = fd->dirs_lost = !fd->removed;
		return;
	}
	fleet_mkdir_done(r, fd->fl);
}

/* One of a dependency's parents. */
static void
fleet_mkdir_of(struct fdep *fd, const char *path)
{
	zk_create(fd->fl->zk, path, "", 0, 0, fleet_mkdir_dep_done, fd, 0);
}

/* Create what a dependency's directory lacks (all of it if r is NULL). */
static void
fleet_mkdir_dep(struct fdep *fd, const struct zk_result *r)
{
	char path[1024];

	if (r == NULL)
		fleet_mkdir_of(fd, fd->dir);
	if (r == NULL || !fleet_has_child(r, "election")) {
		snprintf(path, sizeof(path), "%s/election", fd->dir);
		fleet_mkdir_of(fd, path);
	}
	if (r == NULL || !fleet_has_child(r, "votes")) {
		snprintf(path, sizeof(path), "%s/votes", fd->dir);
		fleet_mkdir_of(fd, path);
	}
	if (r == NULL || !fleet_has_child(r, "witness")) {
		snprintf(path, sizeof(path), "%s/witness", fd->dir);
		fleet_mkdir_of(fd, path);
	}
	if (r == NULL || !fleet_has_child(r, "history"))
		fleet_mkdir_of(fd, fd->history_dir);
}

static void fleet_connected_go(struct fleet *, bool is_new);
static void fleet_add_check(struct fdep *);

/* One parent read of this connect is back: go on once all are. */
static void
fleet_dirs_step(struct fleet *fl, uint64_t tag)
{
	if (tag != fl->conn_epoch || !fleet_phase_checking(fl)
	    || --fl->dirs_pending > 0)
		return;
	fleet_connected_go(fl, fl->phase == FLEET_PHASE_CHECK_NEW);
}

/* A dependency's directory listed: create only what is missing. */
static void
fleet_dep_dir_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (r->tag != fd->fl->conn_epoch)
		return;
	if (fd->removed)
		; /* counted in dirs_pending still: only no create */
	else if (r->rc == ZK_NONODE)
		fleet_mkdir_dep(fd, NULL);
	else if (r->rc == ZK_OK)
		fleet_mkdir_dep(fd, r);
	else if (zk_rc_answered(r->rc)) {
		log_warnx("fleet: listing %s: %s", fd->dir, zk_strerror(r->rc));
		fleet_mkdir_dep(fd, NULL);
	} else
		return; /* the reconnect checks again */
	fd->needs_dirs = fd->dirs_lost = false;
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
	if (r->rc != ZK_OK && r->rc != ZK_NONODE && !zk_rc_answered(r->rc))
		return; /* the reconnect checks again */
	if (r->rc == ZK_NONODE)
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
		struct fdep *fd = fl->deps[i];

		if (fresh) {
			fd->needs_dirs = fd->dirs_lost = false;
			fleet_mkdir_dep(fd, NULL);
		} else if (zk_children(fl->zk, fd->dir, NULL,
		               fleet_dep_dir_done, fd, r->tag)
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

/* The parents exist: register, read, join, vote. */
static void
fleet_connected_go(struct fleet *fl, bool is_new)
{
	bool joining = fl->phase == FLEET_PHASE_JOINING;
	size_t i;

	if (is_new)
		membership_start(fl->mb);
	else
		membership_reconnected(fl->mb);
	for (i = 0; i < fl->ndeps; i++) {
		struct fdep *fd = fl->deps[i];

		/* Added live while disconnected: its parents first. */
		if (fd->needs_dirs) {
			fleet_add_check(fd);
			continue;
		}
		fleet_read_override(fd);
		fleet_read_state(fd, fl->conn_epoch);
		/*
		 * A new session joins once registered (fleet_registered); until
		 * then there is no candidacy to re-check, and joining here too
		 * would leave an orphan node of ours at the head of the queue.
		 */
		if (!is_new && !joining)
			election_reconnected(fd->el);
		votes_sync(fd->votes);
	}
	if (is_new)
		fleet_phase_set(
		    fl, FLEET_PHASE_JOINING, "parents exist; registering");
	else if (!joining)
		fleet_phase_set(fl, FLEET_PHASE_UP, "parents exist");
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

	if (fl->phase != FLEET_PHASE_JOINING)
		return;
	fleet_phase_set(fl, FLEET_PHASE_UP, "registered; joining elections");
	for (size_t i = 0; i < fl->ndeps; i++)
		if (!fl->deps[i]->needs_dirs) /* fleet_add_go joins those */
			election_join(fl->deps[i]->el);
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
	if (is_new) {
		fleet_session(fl, FLEET_CONNECTING);
		/* Nothing is read in this session yet: stale at best. */
		for (size_t i = 0; i < fl->ndeps; i++)
			dep_set_synced(fl->deps[i]->dep, false, now_mono_ms());
	}
	if (fleet_phase_dirs_known(fl)) {
		fleet_connected_go(fl, is_new);
		return;
	}
	/* A new session's start waits (in CHECK_NEW) across reconnects. */
	if (is_new || fl->phase == FLEET_PHASE_CHECK_NEW)
		fleet_phase_set(fl, FLEET_PHASE_CHECK_NEW, "new session");
	else
		fleet_phase_set(fl, FLEET_PHASE_CHECK_OLD, "reconnected");
	fleet_mkdirs(fl);
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
			election_suspend(fl->deps[i]->el);
		break;
	case ZK_SESS_EXPIRED:
		/* The parents are checked again by the new session. */
		fleet_phase_set(fl, FLEET_PHASE_IDLE, "session expired");
		fleet_session(fl, FLEET_LOST);
		membership_expired(fl->mb);
		conv_session_reset(fl->conv);
		for (i = 0; i < fl->ndeps; i++)
			election_expired(fl->deps[i]->el);
		break;
	case ZK_SESS_AUTH_FAILED:
		fleet_phase_set(
		    fl, FLEET_PHASE_AUTH_FAILED, "authentication failed");
		fleet_session(fl, FLEET_LOST);
		for (i = 0; i < fl->ndeps; i++)
			election_expired(fl->deps[i]->el);
		break;
	}
}

/* ---- reading state and override ---------------------------------------- */

/* Remember the newest state znode version read or written. */
void
fleet_seen(struct fdep *fd, const struct znode_ver *ver)
{
	if (fd->seen && ver->mzxid <= fd->seen_ver.mzxid)
		return;
	fd->seen = true;
	fd->seen_ver = *ver;
}

/* Hand a state record to the registry (which orders it by version). */
void
fleet_apply(struct fdep *fd, const struct state_record *rec,
    const struct znode_ver *ver)
{
	uint64_t wall = now_wall_ms(); /* display only: the apply lag */

	dep_apply_state(fd->dep, rec, ver, now_mono_ms(), wall);
}

/* Decode and apply a state znode; a bad one is counted and logged. */
int
fleet_apply_state(
    struct fdep *fd, const struct zk_result *r, struct state_record *rec)
{
	char err[160];

	fleet_seen(fd, &r->stat.ver);
	if (record_state_decode(r->data,
	        r->datalen < 0 ? 0 : (size_t)r->datalen, rec, err, sizeof(err))
	    == -1) {
		fd->fl->records_rejected++;
		dep_reject_record(fd->dep);
		log_warnx("fleet: %s rejected (version %d): %s", fd->state_path,
		    r->stat.ver.version, err);
		if (fd->leading)
			lw_repair(fd);
		return -1;
	}
	fleet_apply(fd, rec, &r->stat.ver);
	return 0;
}

/* The state znode is absent: its exists left the watch. */
static void
fleet_state_exists_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (fd->removed)
		return;
	if (r->rc == ZK_OK) /* created meanwhile */
		fleet_read_state(fd, r->tag);
	else if (r->rc == ZK_NONODE)
		fleet_mark_synced(fd, r->tag);
}

/* A state read (initial with tag = conn epoch, or after a watch). */
static void
fleet_state_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;
	struct state_record rec;

	if (fd->removed)
		return; /* a reload removed it: not applied, no new watch */
	if (r->rc == ZK_OK) {
		fleet_apply_state(fd, r, &rec);
		fleet_mark_synced(fd, r->tag);
	} else if (r->rc == ZK_NONODE) {
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
void
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
	if (!fd->removed)
		fleet_read_state(fd, 0);
}

/* The override is absent: its exists left the watch. */
static void
fleet_override_exists_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (r->rc == ZK_OK && !fd->removed) /* created meanwhile */
		fleet_read_override(fd);
}

/* An override read: apply, remove, or reject. */
static void
fleet_override_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;
	struct override_record ovr;
	char err[160];

	if (fd->removed)
		return;
	if (r->rc == ZK_NONODE) {
		lw_override_history(fd, NULL, 0);
		dep_apply_override(fd->dep, NULL, NULL, now_mono_ms());
		lw_expiry_arm(fd, 0);
		zk_exists(fd->fl->zk, fd->override_path, &fd->override_w,
		    fleet_override_exists_done, fd, 0);
		return;
	}
	if (r->rc != ZK_OK)
		return;
	if (record_override_decode(r->data,
	        r->datalen < 0 ? 0 : (size_t)r->datalen, &ovr, err, sizeof(err))
	    == -1) {
		fd->fl->records_rejected++;
		dep_reject_record(fd->dep);
		log_warnx("fleet: %s rejected: %s", fd->override_path, err);
		return;
	}
	lw_override_history(fd, &ovr, r->stat.ver.mzxid);
	dep_apply_override(fd->dep, &ovr, &r->stat.ver, now_mono_ms());
	lw_expiry_arm(fd, 0);
}

/* Read the override and leave a watch. */
void
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
	if (!fd->removed)
		fleet_read_override(fd);
}

/* ---- votes (votes.c) ------------------------------------------------- */

/* Cast or withdraw this instance's trip vote. */
void
fleet_vote(struct fleet *fl, struct dep *dep, bool tripped,
    const struct breaker_stats *st)
{
	struct fdep *fd = fleet_fdep(fl, dep);
	uint64_t wall = now_wall_ms(); /* display only: since_ms */

	if (fd == NULL || fl->phase == FLEET_PHASE_STOPPED)
		return;
	votes_cast(fd->votes, tripped, st, wall);
}

/* ---- leadership (leadwrite.c) ------------------------------------------ */

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

/* Write the leader's record with one fenced multi. */
void
fleet_publish(struct fleet *fl, struct dep *dep, enum breaker_state state,
    const char *reason, const struct state_record *extra, done_fn done,
    void *arg)
{
	struct fdep *fd = fleet_fdep(fl, dep);

	if (fd == NULL) {
		done(PROTO_ENOENT, 0, "unknown dependency", arg);
		return;
	}
	lw_publish(fd, state, reason, extra, done, arg);
}

/* Set or remove the operator override (any instance may). */
void
fleet_force(struct fleet *fl, struct dep *dep, enum breaker_state to,
    uint32_t ttl_s, const char *reason, const char *by, done_fn done, void *arg)
{
	struct fdep *fd = fleet_fdep(fl, dep);

	if (fd == NULL) {
		done(PROTO_EPROTO, 0, "bad dependency or state", arg);
		return;
	}
	lw_force(fd, to, ttl_s, reason, by, done, arg);
}

/* FLEET: every instance's acknowledgements. */
void
fleet_view(struct fleet *fl, body_fn done, void *arg)
{
	if (fl->phase == FLEET_PHASE_STOPPED || !zk_connected(fl->zk)) {
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
    struct fleet *fl, struct dep *dep, size_t n, body_fn done, void *arg)
{
	struct fdep *fd = fleet_fdep(fl, dep);

	if (fd == NULL || fl->phase == FLEET_PHASE_STOPPED
	    || !zk_connected(fl->zk)) {
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
		votes_recount(fl->deps[i]->votes);
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

/* Paths and watchers of one dependency, at the end of fl->deps. */
static struct fdep *
fleet_fdep_new(struct fleet *fl, struct dep *dep)
{
	struct fdep *fd = xcalloc(1, sizeof(*fd));
	char *el;

	fl->deps = xreallocarray(fl->deps, fl->ndeps + 1, sizeof(*fl->deps));
	fl->deps[fl->ndeps++] = fd;
	fl->spread_deps =
	    xreallocarray(fl->spread_deps, fl->ndeps, sizeof(*fl->spread_deps));
	fd->fl = fl;
	fd->dep = dep;
	xasprintf(&fd->dir, "%s/deps/%s", fl->root, dep_name(dep));
	xasprintf(&fd->state_path, "%s/state", fd->dir);
	xasprintf(&fd->override_path, "%s/override", fd->dir);
	xasprintf(&fd->history_dir, "%s/history", fd->dir);
	fd->hist =
	    history_new(fl->zk, fd->history_dir, fl->cfg->zk_history_keep);
	zk_watch_init(&fd->state_w, fl->zk, fleet_state_fired, fd);
	zk_watch_init(&fd->override_w, fl->zk, fleet_override_fired, fd);
	xasprintf(&el, "%s/votes", fd->dir);
	fd->votes = votes_new(fl->zk, fl->mb, dep, el, fl->cfg->instance_id,
	    fl->hooks.votes, fl->hooks.arg);
	free(el);
	xasprintf(&el, "%s/election", fd->dir);
	fd->el = election_new(
	    fl->base, fl->zk, el, fl->cfg->instance_id, lw_election_cb, fd);
	free(el);
	if ((fd->expire_ev = evtimer_new(fl->base, lw_expire_cb, fd)) == NULL)
		fatalx("fleet: evtimer_new");
	return fd;
}

static void
fleet_fdep_free(struct fdep *fd)
{
	election_free(fd->el);
	event_free(fd->expire_ev);
	free(fd->dir);
	free(fd->state_path);
	free(fd->override_path);
	votes_free(fd->votes);
	history_free(fd->hist);
	free(fd->history_dir);
	free(fd);
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
	fl->spread_deps = xcalloc(1, sizeof(*fl->spread_deps));
	for (i = 0; i < registry_count(reg); i++)
		fleet_fdep_new(fl, registry_at(reg, i));
	if ((fl->lease_ev = evtimer_new(base, lw_lease_cb, fl)) == NULL
	    || (fl->spread_ev = evtimer_new(base, lw_spread_cb, fl)) == NULL)
		fatalx("fleet_new: evtimer_new");
	return fl;
}

/* Connect; the rest happens as the session comes up. */
int
fleet_start(struct fleet *fl)
{
	struct timeval tv = {0, 250 * 1000};
	struct timeval spread = {
	    SPREAD_TICK_MS / 1000, (SPREAD_TICK_MS % 1000) * 1000};

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

	if (fl->phase == FLEET_PHASE_STOPPED)
		return;
	fleet_phase_set(fl, FLEET_PHASE_STOPPED, "stopped");
	evtimer_del(fl->lease_ev);
	evtimer_del(fl->spread_ev);
	for (i = 0; i < fl->ndeps; i++)
		lw_step_down(fl->deps[i]);
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
	for (i = 0; i < fl->ndeps; i++)
		fleet_fdep_free(fl->deps[i]);
	for (i = 0; i < fl->ntombs; i++)
		fleet_fdep_free(fl->tombs[i]);
	free(fl->deps);
	free(fl->tombs);
	free(fl->spread_deps);
	free(fl->spread_live);
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

	return fd != NULL && fd->leading ? votes_count(fd->votes) : 0;
}

/* State and override records, and votes, that did not decode. */
uint64_t
fleet_records_rejected(const struct fleet *fl)
{
	uint64_t n = fl->records_rejected;
	size_t i;

	for (i = 0; i < fl->ndeps; i++)
		n += votes_rejected(fl->deps[i]->votes);
	return n;
}

/* The session's name for STATUS. */
static const char *
fleet_session_word(const struct fleet *fl)
{
	if (fl->phase == FLEET_PHASE_STOPPED)
		return "closed";
	if (fl->phase == FLEET_PHASE_AUTH_FAILED)
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
		if (!fl->deps[i]->leading)
			continue;
		leaders++;
		evbuffer_add_printf(
		    out, "leader.%s=1\n", dep_name(fl->deps[i]->dep));
		evbuffer_add_printf(out, "votes.%s=%zu\n",
		    dep_name(fl->deps[i]->dep),
		    votes_count(fl->deps[i]->votes));
	}
	evbuffer_add_printf(out, "leaders=%zu\n", leaders);
	evbuffer_add_printf(out, "leading=%zu\n", leaders);
	evbuffer_add_printf(out, "fair_share=%zu\n",
	    spread_fair_share(fl->ndeps, membership_live(fl->mb)));
	evbuffer_add_printf(out, "lease_ms_left=%" PRIu64 "\n",
	    fleet_lease_valid(fl, now) ? until - now : 0);
	evbuffer_add_printf(
	    out, "records_rejected=%" PRIu64 "\n", fleet_records_rejected(fl));
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

	if (fd != NULL)
		lw_hand_over(fd);
}

/* Leader only: valid trip votes for dep other than our own. */
size_t
fleet_other_votes(const struct fleet *fl, const struct dep *dep)
{
	const struct fdep *fd = fleet_fdep(fl, dep);
	size_t own;

	if (fd == NULL || !fd->leading)
		return 0;
	own = votes_own(fd->votes) ? 1 : 0;
	return votes_count(fd->votes) > own ? votes_count(fd->votes) - own : 0;
}

/* Requests this instance answered as a witness for dep. */
uint64_t
fleet_witness_answered(const struct fleet *fl, const struct dep *dep)
{
	return witness_answered(fl->wit, dep);
}

/* ---- dependencies added or removed by a reload ------------------------ */

/*
 * A dependency whose parents were re-checked after a cut-off create: what
 * a reconnect does for every other one (read, re-check the candidacy,
 * vote).  Its candidacy is found again by uuid, never joined twice.
 */
static void
fleet_dep_resume(struct fdep *fd)
{
	fleet_read_override(fd);
	fleet_read_state(fd, fd->fl->conn_epoch);
	if (fd->fl->phase == FLEET_PHASE_UP)
		election_reconnected(fd->el);
	votes_sync(fd->votes);
}

/* An added dependency's parents exist: read, join, vote, as at start. */
static void
fleet_add_go(struct fdep *fd)
{
	struct fleet *fl = fd->fl;

	fleet_read_override(fd);
	fleet_read_state(fd, fl->conn_epoch);
	/* JOINING: fleet_registered joins it with the others */
	if (fl->phase == FLEET_PHASE_UP)
		election_join(fd->el);
	votes_sync(fd->votes);
	witness_read_dep(fl->wit, fd->dep);
}

/* An added dependency's directory listed: create what it lacks first. */
static void
fleet_add_dir_done(const struct zk_result *r, void *arg)
{
	struct fdep *fd = arg;

	if (fd->removed || r->tag != fd->fl->conn_epoch || !fd->needs_dirs)
		return; /* removed again, or another listing set it up */
	if (r->rc == ZK_OK)
		fleet_mkdir_dep(fd, r);
	else if (r->rc == ZK_NONODE || zk_rc_answered(r->rc))
		fleet_mkdir_dep(fd, NULL);
	else
		return; /* the reconnect's set-up covers it */
	fd->needs_dirs = false;
	/* The creates went first: the session keeps their order. */
	if (!fleet_phase_dirs_known(fd->fl))
		return;
	if (fd->dirs_lost) {
		fd->dirs_lost = false;
		fleet_dep_resume(fd);
	} else
		fleet_add_go(fd);
}

/* List an added dependency's directory: creates, then reads and joins. */
static void
fleet_add_check(struct fdep *fd)
{
	if (zk_children(fd->fl->zk, fd->dir, NULL, fleet_add_dir_done, fd,
	        fd->fl->conn_epoch)
	    == -1)
		log_warnx("fleet: %s: listing not sent; set up on reconnect",
		    fd->dir);
}

/*
 * See fleet.h.  While the session is set up the new entry is simply one
 * more (the set-up reads and joins every entry); connected, its parents
 * are listed and the missing ones created, then it is read and joined.
 * Not connected: the next connect does all of it.
 */
int
fleet_add_dep(struct fleet *fl, struct dep *dep)
{
	struct fdep *fd;

	if (fl->phase == FLEET_PHASE_STOPPED || fleet_fdep(fl, dep) != NULL)
		return -1;
	fd = fleet_fdep_new(fl, dep);
	fd->needs_dirs = true;
	conv_add_dep(fl->conv, dep);
	witness_add_dep(fl->wit, dep);
	if (zk_connected(fl->zk) && fl->phase != FLEET_PHASE_IDLE
	    && fl->phase != FLEET_PHASE_AUTH_FAILED)
		fleet_add_check(fd);
	log_info(
	    "fleet: %s added (%zu dependencies)", dep_name(dep), fl->ndeps);
	return 0;
}

/*
 * See fleet.h.  The entry leaves fl->deps, so no set-up, timer or STATUS
 * line sees it again, and is marked removed, so that the completions and
 * watches still out for it (they point at it) do nothing; it is freed
 * with the fleet, after the session.
 */
void
fleet_remove_dep(struct fleet *fl, struct dep *dep)
{
	struct fdep *fd = fleet_fdep(fl, dep);
	size_t i;

	if (fd == NULL)
		return;
	election_leave(fd->el); /* steps down through lw_election_cb */
	lw_step_down(fd);
	fd->removed = true;
	votes_withdraw(fd->votes);
	evtimer_del(fd->expire_ev);
	witness_remove_dep(fl->wit, dep);
	conv_remove_dep(fl->conv, dep);
	if (fd->synced_epoch == fl->conn_epoch && fl->nsynced > 0)
		fl->nsynced--;
	for (i = 0; fl->deps[i] != fd; i++)
		;
	memmove(&fl->deps[i], &fl->deps[i + 1],
	    (fl->ndeps - i - 1) * sizeof(*fl->deps));
	fl->ndeps--;
	fl->tombs =
	    xreallocarray(fl->tombs, fl->ntombs + 1, sizeof(*fl->tombs));
	fl->tombs[fl->ntombs++] = fd;
	log_info("fleet: %s removed: election left, vote withdrawn (its "
	         "state znode stays)",
	    dep_name(dep));
	/* it may have been the last one unread */
	if (fleet_phase_dirs_known(fl))
		fleet_check_synced(fl);
}
