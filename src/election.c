/*
 * election.c - the ZooKeeper leader election recipe for one dependency.
 *
 * join: create _c_<uuid>-n_ EPHEMERAL_SEQUENTIAL; list the children, sort
 * them by the sequence number after the last '_' and find ours by uuid (so
 * a create whose reply was lost is found again instead of leaving a second
 * node).  Not first: watch the predecessor with exists; if it is already
 * gone, list again at once.  First: stat our node and lead only if its
 * ephemeralOwner is this session (the double leader of CURATOR-696).
 *
 * A leader may hand over (spreading leadership over the fleet): if a
 * successor waits, it stops leading first, then deletes its node and
 * creates a new one, which goes last; the successor's watch fires.
 *
 * Every step carries an epoch; suspend, expiry and deposition bump it so
 * that the completions of an older flow are ignored.  The uuid lives as
 * long as the session's node may: it changes on a new session and after
 * the node was found gone.
 */
#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "election.h"
#include "log.h"
#include "util.h"
#include "zk.h"

#define ELECTION_RETRY_MS 1000

struct election {
	struct zk *zk;
	char *dir;
	char *instance_id;
	election_fn fn;
	void *arg;

	uint64_t epoch;
	char uuid[ELECTION_UUID_LEN + 1];
	char node[1024];
	bool creating;
	bool leader;
	bool suspended;
	bool abdicating;            /* handing over: checking for a successor */
	bool left;                  /* election_leave: for good */
	char old_node[1024];        /* our node left behind by a handover */
	election_ok_fn handover_ok; /* may this successor take over? */
	void *handover_arg;
	struct zk_watch pred_watch;
	struct event *retry_ev;
};

static void election_list(struct election *);
static void election_create(struct election *);
static void election_drop_old(struct election *);
static void election_left_done(const struct zk_result *, void *);

/* Sequence number after the last '_' of name. */
int
election_seq(const char *name, uint64_t *seq)
{
	const char *p = strrchr(name, '_');

	if (p == NULL || p[1] == '\0')
		return -1;
	return parse_u64(p + 1, 0, UINT64_MAX, seq);
}

/* qsort order: by sequence, names without one last, then by name. */
static int
election_cmp(const void *a, const void *b)
{
	const char *na = *(char *const *)a, *nb = *(char *const *)b;
	uint64_t sa, sb;
	int ha, hb;

	ha = election_seq(na, &sa) == 0;
	hb = election_seq(nb, &sb) == 0;
	if (ha != hb)
		return ha ? -1 : 1;
	if (ha && sa != sb)
		return sa < sb ? -1 : 1;
	return strcmp(na, nb);
}

/* Sort candidates by sequence number, not lexically. */
void
election_sort(char **names, size_t n)
{
	if (n > 1)
		qsort(names, n, sizeof(*names), election_cmp);
}

/* Which name is ours: it holds "_c_<uuid>-". */
ssize_t
election_find(char *const *names, size_t n, const char *uuid)
{
	char needle[ELECTION_UUID_LEN + 8];
	size_t i;

	if (uuid[0] == '\0')
		return -1;
	snprintf(needle, sizeof(needle), "_c_%s-", uuid);
	for (i = 0; i < n; i++)
		if (strstr(names[i], needle) != NULL)
			return (ssize_t)i;
	return -1;
}

/* A version 4 uuid from the kernel's random source. */
void
election_uuid(char out[ELECTION_UUID_LEN + 1])
{
	unsigned char b[16];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(b)) {
		n = getrandom(b + got, sizeof(b) - got, 0);
		if (n == -1 && errno != EINTR)
			fatal("election_uuid: getrandom");
		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, ELECTION_UUID_LEN + 1,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
	    b[11], b[12], b[13], b[14], b[15]);
}

/* Change leadership and tell the owner once. */
static void
election_set_leader(struct election *e, bool leader)
{
	if (e->leader == leader)
		return;
	e->leader = leader;
	log_info("election %s: %s", e->dir,
	    leader ? "leader (owner checked)" : "not leader");
	e->fn(leader, e->arg);
}

/* Is rc a lost connection (the flow resumes on reconnect)? */
static bool
election_rc_transient(int rc)
{
	return rc == ZK_CONNECTIONLOSS || rc == ZK_OPERATIONTIMEOUT
	    || rc == ZK_CLOSING || rc == ZK_SESSIONEXPIRED
	    || rc == ZK_INVALIDSTATE;
}

/* Something unexpected: log it and list again a little later. */
static void
election_retry(struct election *e, const char *what, int rc)
{
	struct timeval tv = {
	    ELECTION_RETRY_MS / 1000, (ELECTION_RETRY_MS % 1000) * 1000};

	if (election_rc_transient(rc))
		return; /* the reconnect or the new session restarts us */
	log_warnx(
	    "election %s: %s: %s; retrying", e->dir, what, zk_strerror(rc));
	evtimer_add(e->retry_ev, &tv);
}

/* The retry timer. */
static void
election_retry_cb(int fd, short ev, void *arg)
{
	struct election *e = arg;

	(void)fd;
	(void)ev;
	if (!e->suspended && e->uuid[0] != '\0')
		election_list(e);
}

/* Our node's stat: lead only if it belongs to this session. */
static void
election_verify_done(const struct zk_result *r, void *arg)
{
	struct election *e = arg;

	if (r->tag != e->epoch)
		return;
	if (r->rc == ZK_OK && r->stat.ephemeral_owner == zk_session_id(e->zk)) {
		election_set_leader(e, true);
		return;
	}
	if (r->rc == ZK_OK || r->rc == ZK_NONODE) {
		log_warnx("election %s: node %s %s; rejoining", e->dir, e->node,
		    r->rc == ZK_OK ? "owned by another session" : "is gone");
		election_deposed(e);
		return;
	}
	election_retry(e, "stat own node", r->rc);
}

/* The predecessor's exists: gone already means list again at once. */
static void
election_pred_done(const struct zk_result *r, void *arg)
{
	struct election *e = arg;

	if (r->tag != e->epoch)
		return;
	if (r->rc == ZK_NONODE)
		election_list(e);
	else if (r->rc != ZK_OK)
		election_retry(e, "watch predecessor", r->rc);
}

/* The predecessor changed (deleted, most likely): look again. */
static void
election_pred_fired(int type, const char *path, void *arg)
{
	struct election *e = arg;

	(void)type;
	(void)path;
	if (!e->suspended && e->uuid[0] != '\0' && !e->leader)
		election_list(e);
}

/* Act on a sorted list of candidates. */
static void
election_decide(struct election *e, char **names, size_t n)
{
	char path[1024];
	ssize_t own;

	election_sort(names, n);
	if ((own = election_find(names, n, e->uuid)) == -1) {
		e->node[0] = '\0';
		election_set_leader(e, false);
		election_create(e);
		return;
	}
	snprintf(e->node, sizeof(e->node), "%s/%s", e->dir, names[own]);
	if (own == 0) {
		if (zk_exists(
		        e->zk, e->node, NULL, election_verify_done, e, e->epoch)
		    == -1)
			election_retry(e, "stat own node", ZK_SYSTEMERROR);
		return;
	}
	election_set_leader(e, false);
	snprintf(path, sizeof(path), "%s/%s", e->dir, names[own - 1]);
	if (zk_exists(
	        e->zk, path, &e->pred_watch, election_pred_done, e, e->epoch)
	    == -1)
		election_retry(e, "watch predecessor", ZK_SYSTEMERROR);
}

/* The candidates' list. */
static void
election_list_done(const struct zk_result *r, void *arg)
{
	struct election *e = arg;

	if (r->tag != e->epoch)
		return;
	if (r->rc != ZK_OK) {
		election_retry(e, "list candidates", r->rc);
		return;
	}
	election_decide(e, r->children, (size_t)r->nchildren);
}

/* List the candidates. */
static void
election_list(struct election *e)
{
	if (zk_children(e->zk, e->dir, NULL, election_list_done, e, e->epoch)
	    == -1)
		election_retry(e, "list candidates", ZK_SYSTEMERROR);
}

/* Our node was created: find our place. */
static void
election_create_done(const struct zk_result *r, void *arg)
{
	struct election *e = arg;

	if (e->left && r->rc == ZK_OK) { /* created as we left: remove it */
		zk_delete(e->zk, r->value, -1, election_left_done, e, 0);
		return;
	}
	if (r->tag != e->epoch)
		return;
	e->creating = false;
	if (r->rc != ZK_OK) {
		/* A lost reply: the list after reconnect finds it by uuid. */
		election_retry(e, "create node", r->rc);
		return;
	}
	snprintf(e->node, sizeof(e->node), "%s", r->value);
	election_list(e);
}

/* Create our candidate node (once per flow). */
static void
election_create(struct election *e)
{
	char path[1024];

	if (e->creating)
		return;
	if (e->uuid[0] == '\0')
		election_uuid(e->uuid);
	snprintf(path, sizeof(path), "%s/_c_%s-n_", e->dir, e->uuid);
	if (zk_create(e->zk, path, e->instance_id, (int)strlen(e->instance_id),
	        ZK_EPHEMERAL_SEQUENTIAL, election_create_done, e, e->epoch)
	    == -1) {
		election_retry(e, "create node", ZK_SYSTEMERROR);
		return;
	}
	e->creating = true;
}

/* Set up an election on dir; nothing is sent until election_join. */
struct election *
election_new(struct event_base *base, struct zk *zk, const char *dir,
    const char *instance_id, election_fn fn, void *arg)
{
	struct election *e = xcalloc(1, sizeof(*e));

	e->zk = zk;
	e->dir = xstrdup(dir);
	e->instance_id = xstrdup(instance_id);
	e->fn = fn;
	e->arg = arg;
	zk_watch_init(&e->pred_watch, zk, election_pred_fired, e);
	if ((e->retry_ev = evtimer_new(base, election_retry_cb, e)) == NULL)
		fatalx("election_new: evtimer_new");
	return e;
}

void
election_free(struct election *e)
{
	if (e == NULL)
		return;
	event_free(e->retry_ev);
	free(e->dir);
	free(e->instance_id);
	free(e);
}

/* One of our nodes deleted on leaving (gone already is as good). */
static void
election_left_done(const struct zk_result *r, void *arg)
{
	struct election *e = arg;

	if (r->rc != ZK_OK && r->rc != ZK_NONODE && zk_rc_answered(r->rc))
		log_warnx("election %s: deleting our node on leaving: %s",
		    e->dir, zk_strerror(r->rc));
}

/* The candidates on leaving: delete every node with our uuid. */
static void
election_left_list(const struct zk_result *r, void *arg)
{
	struct election *e = arg;
	char needle[ELECTION_UUID_LEN + 8], path[1024];

	if (r->rc != ZK_OK)
		return;
	snprintf(needle, sizeof(needle), "_c_%s-", e->uuid);
	for (int i = 0; i < r->nchildren; i++)
		if (strstr(r->children[i], needle) != NULL) {
			snprintf(path, sizeof(path), "%s/%s", e->dir,
			    r->children[i]);
			zk_delete(e->zk, path, -1, election_left_done, e, 0);
		}
}

/*
 * Leave for good (the dependency was removed): step down, then delete
 * our candidate node so that the next one leads at once.  The node is
 * found by our uuid, as a create whose reply is still out may have made
 * one we do not know; a create that succeeds later deletes its node.
 * Completions may still come: e must stay allocated until the session
 * is freed (the caller keeps it).
 */
void
election_leave(struct election *e)
{
	if (e->left)
		return;
	e->left = true;
	e->epoch++;
	e->suspended = true; /* nothing listed, watched or retried now */
	e->abdicating = false;
	evtimer_del(e->retry_ev);
	election_set_leader(e, false);
	if (e->node[0] != '\0')
		zk_delete(e->zk, e->node, -1, election_left_done, e, 0);
	if (e->old_node[0] != '\0')
		zk_delete(e->zk, e->old_node, -1, election_left_done, e, 0);
	if (e->uuid[0] != '\0')
		zk_children(e->zk, e->dir, NULL, election_left_list, e, 1);
	e->node[0] = '\0';
	e->old_node[0] = '\0';
}

/* A new session: a new uuid, a new node. */
void
election_join(struct election *e)
{
	e->epoch++;
	e->suspended = false;
	e->creating = false;
	e->abdicating = false;
	e->old_node[0] = '\0'; /* went with the old session */
	e->node[0] = '\0';
	election_uuid(e->uuid);
	election_set_leader(e, false);
	election_create(e);
}

/* The session is back: nothing was in flight, find our node again. */
void
election_reconnected(struct election *e)
{
	e->epoch++;
	e->suspended = false;
	e->creating = false;
	e->abdicating = false;
	election_drop_old(e);
	if (e->uuid[0] == '\0')
		election_join(e);
	else
		election_list(e);
}

/* Disconnected: stop leading now; the reconnect re-checks. */
void
election_suspend(struct election *e)
{
	e->epoch++;
	e->suspended = true;
	e->abdicating = false;
	evtimer_del(e->retry_ev);
	election_set_leader(e, false);
}

/* The session expired and took our node with it. */
void
election_expired(struct election *e)
{
	e->epoch++;
	e->suspended = true;
	e->creating = false;
	e->abdicating = false;
	e->node[0] = '\0';
	e->old_node[0] = '\0';
	e->uuid[0] = '\0';
	evtimer_del(e->retry_ev);
	election_set_leader(e, false);
}

/* Our node is gone (or not ours): step down and join again. */
void
election_deposed(struct election *e)
{
	e->epoch++;
	e->creating = false;
	e->abdicating = false;
	e->node[0] = '\0';
	election_uuid(e->uuid);
	election_set_leader(e, false);
	if (!e->suspended)
		election_create(e);
}

/* Keep the lease fresh and re-check ownership while leading. */
void
election_refresh(struct election *e)
{
	if (!e->leader || e->node[0] == '\0')
		return;
	if (zk_exists(e->zk, e->node, NULL, election_verify_done, e, e->epoch)
	    == -1)
		log_warnx("election_refresh: %s not sent", e->node);
}

/* The delete of the node we handed over came back. */
static void
election_old_done(const struct zk_result *r, void *arg)
{
	struct election *e = arg;

	if (r->rc == ZK_OK || r->rc == ZK_NONODE) {
		e->old_node[0] = '\0'; /* one handover at a time: it is ours */
		return;
	}
	if (!election_rc_transient(r->rc))
		log_warnx("election %s: deleting %s: %s", e->dir, e->old_node,
		    zk_strerror(r->rc));
	/* Kept in old_node: the reconnect (or the next handover) retries. */
}

/*
 * Delete the node we handed over.  Until it is gone it stays first in
 * the queue and nobody leads, so a failed delete is sent again on the
 * next reconnect.
 */
static void
election_drop_old(struct election *e)
{
	if (e->old_node[0] == '\0')
		return;
	if (zk_delete(e->zk, e->old_node, -1, election_old_done, e, e->epoch)
	    == -1)
		log_warnx(
		    "election %s: delete of %s not sent", e->dir, e->old_node);
}

/* Stop leading, delete our node and join again at the end of the queue. */
static void
election_hand_over(struct election *e)
{
	e->epoch++; /* a refresh in flight must not confirm us again */
	e->abdicating = true; /* the owner can tell this from a deposition */
	election_set_leader(e, false);
	e->abdicating = false;
	strlcpy_b(e->old_node, e->node, sizeof(e->old_node));
	e->node[0] = '\0';
	e->creating = false;
	election_drop_old(e);
	election_uuid(e->uuid);
	election_create(e); /* sent after the delete: FIFO keeps us last */
}

/* The successor's node: its data is its instance id; may it take over? */
static void
election_successor_done(const struct zk_result *r, void *arg)
{
	struct election *e = arg;

	if (r->tag != e->epoch || !e->abdicating)
		return;
	e->abdicating = false;
	if (r->rc != ZK_OK || !e->leader || r->data == NULL)
		return; /* gone meanwhile: the next attempt looks again */
	if (e->handover_ok != NULL
	    && !e->handover_ok(r->data, e->handover_arg)) {
		log_debug("election %s: successor %s should not take over",
		    e->dir, r->data);
		return;
	}
	election_hand_over(e);
}

/*
 * The candidates, for a handover: go on only if we are still first and
 * someone is behind us; then ask the owner about that successor.  The
 * handover itself: stop leading (the owner hears it at once, as on a
 * deposition), delete our node and join again with a new one, last in
 * the queue; the successor's predecessor watch fires and it takes over
 * with its own fenced write.
 */
static void
election_abdicate_list(const struct zk_result *r, void *arg)
{
	struct election *e = arg;
	char path[1024];
	ssize_t own;

	if (r->tag != e->epoch || !e->abdicating)
		return;
	if (r->rc == ZK_OK && e->leader) {
		election_sort(r->children, (size_t)r->nchildren);
		own = election_find(r->children, (size_t)r->nchildren, e->uuid);
		if (own == 0 && r->nchildren >= 2) {
			snprintf(path, sizeof(path), "%s/%s", e->dir,
			    r->children[1]);
			if (zk_get(e->zk, path, NULL, election_successor_done,
			        e, e->epoch)
			    == 0)
				return;
		} else
			log_debug("election %s: no successor; keeping "
			          "leadership",
			    e->dir);
	}
	e->abdicating = false;
}

/* Leader only: hand leadership to the next candidate, if there is one. */
void
election_abdicate(struct election *e, election_ok_fn ok, void *arg)
{
	if (!e->leader || e->abdicating || e->suspended || e->node[0] == '\0'
	    || e->old_node[0] != '\0')
		return;
	e->handover_ok = ok;
	e->handover_arg = arg;
	if (zk_children(
	        e->zk, e->dir, NULL, election_abdicate_list, e, e->epoch)
	    == -1)
		return;
	e->abdicating = true;
}

/* Is the current loss of leadership a handover (not a deposition)? */
bool
election_abdicating(const struct election *e)
{
	return e->abdicating && !e->leader;
}

bool
election_leader(const struct election *e)
{
	return e->leader;
}

const char *
election_node(const struct election *e)
{
	return e->node;
}
