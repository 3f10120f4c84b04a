/*
 * votes.c - this instance's trip vote and the leader's tally.
 *
 * Every instance whose local breaker trips holds an ephemeral vote znode
 * (it dies with the session, so a crashed instance's vote goes by
 * itself).  A vote is deleted only if this session may hold one: a
 * delete of a missing node still costs the ensemble a transaction.
 *
 * The leader lists the votes (leaving a watch) and reads each one
 * (leaving a data watch: a set changes what it says).  A child counts
 * only if it is named after a live instance and its data decodes: anyone
 * who can write the ensemble can create children, and forged votes must
 * not trip a healthy fleet.  Each list bumps a generation, so the reads
 * of an older list never report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "membership.h"
#include "record.h"
#include "util.h"
#include "votes.h"
#include "zk.h"

struct votes {
	struct zk *zk;
	const struct membership *mb;
	struct dep *dep;
	char *dir;
	char *path; /* our own vote */
	votes_report_fn report;
	void *arg;
	struct zk_watch list_w;
	struct zk_watch data_w; /* every vote child's data (leader) */

	bool want; /* our vote cast */
	struct vote_record vote;
	uint64_t gen_held; /* session generation that may hold our vote */

	bool counting;     /* we lead: the tally is ours to keep */
	size_t count;      /* valid votes of live instances (leader) */
	size_t count_live; /* the live count last reported with them */
	uint64_t list_gen; /* bumped per list: older tallies are void */
	uint64_t rejected;
};

/* One count of the votes: the data reads of one children list. */
struct votes_tally {
	struct votes *v;
	uint64_t gen;
	size_t pending; /* reads not back yet */
	size_t count;   /* votes that decoded so far */
};

/* One vote's data read. */
struct votes_read {
	struct votes_tally *t;
	char *path;
};

static void votes_list(struct votes *);

/* Report when the count of votes or of live instances moved. */
static void
votes_report(struct votes *v, size_t count)
{
	size_t live = membership_live(v->mb);

	if (count == v->count && live == v->count_live)
		return;
	v->count = count;
	v->count_live = live;
	log_info("fleet: %s has %zu trip vote(s) of %zu live", dep_name(v->dep),
	    count, live);
	if (v->report != NULL)
		v->report(v->dep, count, live, v->arg);
}

/* One read of a tally is back (or was never sent): maybe report. */
static void
votes_tally_step(struct votes_tally *t)
{
	struct votes *v = t->v;

	if (--t->pending > 0)
		return;
	if (t->gen == v->list_gen && v->counting)
		votes_report(v, t->count);
	free(t);
}

/* A vote's data: it counts only if it decodes as a vote record. */
static void
votes_read_done(const struct zk_result *r, void *arg)
{
	struct votes_read *vr = arg;
	struct votes_tally *t = vr->t;
	struct votes *v = t->v;
	struct vote_record vote;
	char err[160];

	if (r->rc == ZK_OK && t->gen == v->list_gen) {
		if (record_vote_decode(r->data,
		        r->datalen < 0 ? 0 : (size_t)r->datalen, &vote, err,
		        sizeof(err))
		    == 0)
			t->count++;
		else {
			v->rejected++;
			dep_reject_record(v->dep);
			log_warnx("fleet: vote %s rejected: %s", vr->path, err);
		}
	}
	/* ZK_NONODE: withdrawn meanwhile; the children watch re-counts. */
	free(vr->path);
	free(vr);
	votes_tally_step(t);
}

/* Read one vote's data (leaving a watch: a set changes what it says). */
static void
votes_read(struct votes_tally *t, const char *name)
{
	struct votes *v = t->v;
	struct votes_read *vr = xcalloc(1, sizeof(*vr));

	vr->t = t;
	xasprintf(&vr->path, "%s/%s", v->dir, name);
	t->pending++;
	if (zk_get(v->zk, vr->path, &v->data_w, votes_read_done, vr, t->gen)
	    == -1) {
		t->pending--;
		free(vr->path);
		free(vr);
	}
}

/* The votes list (leader): read the live instances' votes. */
static void
votes_list_done(const struct zk_result *r, void *arg)
{
	struct votes *v = arg;
	struct votes_tally *t;
	int i;

	if (r->rc != ZK_OK || !v->counting)
		return;
	t = xcalloc(1, sizeof(*t));
	t->v = v;
	t->gen = ++v->list_gen;
	t->pending = 1; /* held until every read is sent */
	for (i = 0; i < r->nchildren; i++) {
		if (membership_is_live(v->mb, r->children[i]))
			votes_read(t, r->children[i]);
		else
			log_debug("fleet: %s/%s is no live instance's vote",
			    v->dir, r->children[i]);
	}
	votes_tally_step(t);
}

/* List the votes and leave a watch. */
static void
votes_list(struct votes *v)
{
	zk_children(v->zk, v->dir, &v->list_w, votes_list_done, v, 0);
}

/* The list or a vote changed: the leader counts again. */
static void
votes_fired(int type, const char *path, void *arg)
{
	struct votes *v = arg;

	(void)type;
	(void)path;
	if (v->counting)
		votes_list(v);
}

/* A vote create, set or delete came back. */
static void
votes_write_done(const struct zk_result *r, void *arg)
{
	struct votes *v = arg;
	char *json;

	if (r->rc == ZK_NODEEXISTS && v->want) {
		if ((json = record_vote_encode(&v->vote)) == NULL)
			return;
		zk_set(v->zk, v->path, json, (int)strlen(json), -1,
		    votes_write_done, v, 0);
		free(json);
	} else if (r->rc != ZK_OK && r->rc != ZK_NONODE
	    && zk_rc_answered(r->rc))
		log_warnx("fleet: vote %s: %s", v->path, zk_strerror(r->rc));
}

/* A vote's delete came back; a lost one is sent again on reconnect. */
static void
votes_deleted(const struct zk_result *r, void *arg)
{
	struct votes *v = arg;

	if (!zk_rc_answered(r->rc)) {
		if (!v->want && r->tag == zk_generation(v->zk))
			v->gen_held = r->tag;
	} else if (r->rc != ZK_OK && r->rc != ZK_NONODE)
		log_warnx("fleet: vote %s: %s", v->path, zk_strerror(r->rc));
}

struct votes *
votes_new(struct zk *zk, const struct membership *mb, struct dep *dep,
    const char *dir, const char *self_id, votes_report_fn report, void *arg)
{
	struct votes *v = xcalloc(1, sizeof(*v));

	v->zk = zk;
	v->mb = mb;
	v->dep = dep;
	v->dir = xstrdup(dir);
	xasprintf(&v->path, "%s/%s", dir, self_id);
	v->report = report;
	v->arg = arg;
	zk_watch_init(&v->list_w, zk, votes_fired, v);
	zk_watch_init(&v->data_w, zk, votes_fired, v);
	return v;
}

void
votes_free(struct votes *v)
{
	if (v == NULL)
		return;
	free(v->dir);
	free(v->path);
	free(v);
}

/* Make the vote znode match what the local breaker wants. */
void
votes_sync(struct votes *v)
{
	uint64_t gen = zk_generation(v->zk);
	char *json;

	if (!zk_connected(v->zk))
		return;
	if (!v->want) {
		if (v->gen_held != gen)
			return; /* none of ours: an ephemeral dies with its session */
		v->gen_held = 0;
		zk_delete(v->zk, v->path, -1, votes_deleted, v, gen);
		return;
	}
	if ((json = record_vote_encode(&v->vote)) == NULL)
		return;
	v->gen_held = gen;
	zk_create(v->zk, v->path, json, (int)strlen(json), ZK_EPHEMERAL,
	    votes_write_done, v, 0);
	free(json);
}

/* Cast or withdraw our trip vote (a cast again refreshes its data). */
void
votes_cast(struct votes *v, bool tripped, const struct breaker_stats *st,
    uint64_t since_ms)
{
	if (v->want == tripped && !tripped)
		return;
	v->want = tripped;
	memset(&v->vote, 0, sizeof(v->vote));
	if (st != NULL) {
		v->vote.failure_rate = st->failure_rate_pct < 0
		    ? 0
		    : (uint32_t)st->failure_rate_pct;
		v->vote.calls = st->calls;
	}
	v->vote.since_ms = since_ms;
	votes_sync(v);
}

/*
 * For good (the dependency was removed): no vote wanted, none counted,
 * and our vote znode deleted whatever we think this session holds (a
 * missing one costs one transaction, once).
 */
void
votes_withdraw(struct votes *v)
{
	v->want = false;
	votes_unlead(v);
	v->gen_held = 0;
	if (zk_connected(v->zk))
		zk_delete(
		    v->zk, v->path, -1, votes_deleted, v, zk_generation(v->zk));
}

void
votes_lead(struct votes *v)
{
	v->counting = true;
	votes_list(v);
}

void
votes_unlead(struct votes *v)
{
	v->counting = false;
	v->count = 0;
	v->count_live = 0;
	v->list_gen++;
}

void
votes_recount(struct votes *v)
{
	if (v->counting)
		votes_list(v);
}

size_t
votes_count(const struct votes *v)
{
	return v->count;
}

bool
votes_own(const struct votes *v)
{
	return v->want;
}

uint64_t
votes_rejected(const struct votes *v)
{
	return v->rejected;
}
