/*
 * witness.c - the witness protocol on ZooKeeper, on the loop thread.
 *
 * Leader side (witness_ask): list the dependency's election, take the
 * candidate right behind our own node (the instance that would lead
 * after a handover), read its instance id from its node, and create
 * <dir>/witness/<that id> EPHEMERAL with one fenced multi
 * (check(own election node) + create), holding the request.  Then read
 * it back with a data watch and wait, bounded by a timer, for the
 * witness to write its verdict into the same node.  Whatever happens
 * (answer, timeout, error, leadership lost) the request is deleted and
 * the caller is told exactly once.  One request per dependency at a
 * time.
 *
 * Witness side: every instance keeps one watch per dependency, on the
 * request node named after itself, so a request wakes only the instance
 * it names (no herd).  A new request starts a bounded run of checks (the
 * hooks run them: the prober's probe code, tagged as witness checks);
 * the verdict is written with the version read, so an answer never
 * lands on a newer request.  A request that goes away cancels the run.
 */
#include <sys/types.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "election.h"
#include "log.h"
#include "util.h"
#include "witness.h"
#include "zk.h"

/* One dependency's requests, ours and those addressed to us. */
struct wdep {
	struct witness *w;
	struct dep *dep;
	char *edir;     /* <dir>/election */
	char *wdir;     /* <dir>/witness */
	char *own_path; /* <wdir>/<our id>: requests addressed to us */
	struct zk_watch own_w;

	/* As a witness. */
	bool removed; /* a reload removed dep: nothing more is read */
	bool serving;
	int serve_version;
	struct witness_record serve;
	uint64_t answered;

	/* As the leader: the one request out. */
	bool asking;
	bool ask_created;
	uint64_t ask_gen;
	uint64_t next_req;
	char fence[1024];
	char ask_path[1024];
	struct witness_record ask;
	witness_done_fn done;
	void *done_arg;
	struct event *timer;
	struct zk_watch ask_w;
};

struct witness {
	struct event_base *base;
	struct zk *zk;
	char id[WITNESS_ID_MAX + 1];
	struct witness_hooks hooks;
	struct wdep **deps; /* one by one: completions point at them */
	size_t ndeps;
	struct wdep **tombs; /* removed by a reload, freed with w */
	size_t ntombs;
	char *root;
};

/* One create of a request in flight: a late success is cleaned up. */
struct witness_create {
	struct wdep *wd;
	char path[1024];
};

static void witness_read_own(struct wdep *);

/* dep's entry, NULL if unknown. */
static struct wdep *
witness_find(const struct witness *w, const struct dep *dep)
{
	for (size_t i = 0; i < w->ndeps; i++)
		if (w->deps[i]->dep == dep)
			return w->deps[i];
	return NULL;
}

/* ---- leader side ------------------------------------------------------ */

/* The request's delete came back; a lost one dies with our session. */
static void
witness_deleted(const struct zk_result *r, void *arg)
{
	struct wdep *wd = arg;

	if (r->rc != ZK_OK && r->rc != ZK_NONODE && zk_rc_answered(r->rc))
		log_warnx("witness: deleting %s: %s", wd->ask_path,
		    zk_strerror(r->rc));
}

/* The ask is over: delete the request, tell the caller once. */
static void
witness_finish(struct wdep *wd, enum witness_outcome o,
    const struct witness_record *answer, const char *why)
{
	witness_done_fn done = wd->done;
	void *arg = wd->done_arg;

	if (!wd->asking)
		return;
	wd->asking = false;
	wd->ask_gen++; /* later completions of this ask are dropped */
	evtimer_del(wd->timer);
	if (wd->ask_created)
		zk_delete(wd->w->zk, wd->ask_path, -1, witness_deleted, wd, 0);
	wd->ask_created = false;
	done(o, answer, why, arg);
}

/* The request node, read back (with a data watch) after a change. */
static void
witness_answer_done(const struct zk_result *r, void *arg)
{
	struct wdep *wd = arg;
	struct witness_record a;
	char err[160];

	if (r->tag != wd->ask_gen || !wd->asking)
		return;
	if (r->rc == ZK_NONODE) {
		wd->ask_created = false;
		witness_finish(wd, WITNESS_ALONE, NULL, "request vanished");
		return;
	}
	if (r->rc != ZK_OK)
		return; /* the timer bounds the wait */
	if (witness_record_decode(r->data,
	        r->datalen < 0 ? 0 : (size_t)r->datalen, &a, err, sizeof(err))
	    == -1) {
		log_warnx("witness: %s rejected: %s", wd->ask_path, err);
		witness_finish(wd, WITNESS_ALONE, NULL, "answer rejected");
		return;
	}
	if (a.verdict == WITNESS_PENDING || a.req != wd->ask.req
	    || strcmp(a.leader, wd->w->id) != 0)
		return; /* not answered yet: the watch fires on the answer */
	witness_finish(wd, witness_outcome(&a), &a, "answered");
}

/* Read the request and leave a data watch for the answer. */
static void
witness_read_answer(struct wdep *wd)
{
	if (zk_get(wd->w->zk, wd->ask_path, &wd->ask_w, witness_answer_done, wd,
	        wd->ask_gen)
	    == -1)
		witness_finish(wd, WITNESS_ALONE, NULL, "read not sent");
}

/* The request node changed (answered) or went. */
static void
witness_ask_fired(int type, const char *path, void *arg)
{
	struct wdep *wd = arg;

	(void)type;
	if (wd->asking && wd->ask_created && strcmp(path, wd->ask_path) == 0)
		witness_read_answer(wd);
}

/* The fenced create of the request came back. */
static void
witness_created(const struct zk_result *r, void *arg)
{
	struct witness_create *c = arg;
	struct wdep *wd = c->wd;

	if (r->tag != wd->ask_gen || !wd->asking) {
		if (r->rc == ZK_OK) /* given up meanwhile: do not leave it */
			zk_delete(
			    wd->w->zk, c->path, -1, witness_deleted, wd, 0);
		free(c);
		return;
	}
	free(c);
	if (r->rc == ZK_OK) {
		wd->ask_created = true;
		log_info("witness: %s: asked %s for %u check(s) (request "
		         "%" PRIu64 ")",
		    dep_name(wd->dep), wd->ask.by, wd->ask.checks, wd->ask.req);
		witness_read_answer(wd);
	} else if (r->multi_err[0] == ZK_NONODE)
		witness_finish(wd, WITNESS_ALONE, NULL, "deposed");
	else if (r->multi_err[1] == ZK_NODEEXISTS) {
		/* A request of an earlier session or leader: clear it. */
		zk_delete(wd->w->zk, wd->ask_path, -1, witness_deleted, wd, 0);
		witness_finish(
		    wd, WITNESS_ALONE, NULL, "an old request was in the way");
	} else
		witness_finish(wd, WITNESS_ALONE, NULL, zk_strerror(r->rc));
}

/* Is an election node's data a usable instance id for a witness? */
static bool
witness_id_ok(const struct witness *w, const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;

	return n > 0 && n <= WITNESS_ID_MAX && strchr(id, '/') == NULL
	    && strcmp(id, ".") != 0 && strcmp(id, "..") != 0
	    && strcmp(id, w->id) != 0;
}

/* The successor's node: its data names the witness; send the request. */
static void
witness_candidate_done(const struct zk_result *r, void *arg)
{
	struct wdep *wd = arg;
	struct witness_create *c;
	char *json;

	if (r->tag != wd->ask_gen || !wd->asking)
		return;
	if (r->rc != ZK_OK || !witness_id_ok(wd->w, r->data)) {
		witness_finish(wd, WITNESS_ALONE, NULL, "no usable successor");
		return;
	}
	/* by names the witness for our log; a request does not encode it */
	strlcpy_b(wd->ask.by, r->data, sizeof(wd->ask.by));
	snprintf(
	    wd->ask_path, sizeof(wd->ask_path), "%s/%s", wd->wdir, r->data);
	if ((json = witness_record_encode(&wd->ask)) == NULL) {
		witness_finish(wd, WITNESS_ALONE, NULL, "cannot encode");
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->wd = wd;
	strlcpy_b(c->path, wd->ask_path, sizeof(c->path));
	if (zk_fenced_create(wd->w->zk, wd->fence, wd->ask_path, json,
	        (int)strlen(json), ZK_EPHEMERAL, witness_created, c,
	        wd->ask_gen)
	    == -1) {
		free(c);
		witness_finish(wd, WITNESS_ALONE, NULL, "request not sent");
	}
	free(json);
}

/* The candidates: the one right behind us is the witness. */
static void
witness_list_done(const struct zk_result *r, void *arg)
{
	struct wdep *wd = arg;
	const char *own = strrchr(wd->fence, '/');
	char path[1024];
	ssize_t i;

	if (r->tag != wd->ask_gen || !wd->asking)
		return;
	if (r->rc != ZK_OK) {
		witness_finish(wd, WITNESS_ALONE, NULL, zk_strerror(r->rc));
		return;
	}
	election_sort(r->children, (size_t)r->nchildren);
	i = witness_successor(
	    r->children, (size_t)r->nchildren, own != NULL ? own + 1 : NULL);
	if (i < 0) {
		witness_finish(wd, WITNESS_ALONE, NULL, "no other candidate");
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", wd->edir, r->children[i]);
	if (zk_get(
	        wd->w->zk, path, NULL, witness_candidate_done, wd, wd->ask_gen)
	    == -1)
		witness_finish(wd, WITNESS_ALONE, NULL, "read not sent");
}

/* No answer in time: the leader's evidence stands alone. */
static void
witness_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wdep *wd = arg;

	(void)fd;
	(void)what;
	witness_finish(wd, WITNESS_ALONE, NULL, "no answer in time");
}

/* Ask the next candidate to check dep (leader only, fenced). */
void
witness_ask(struct witness *w, struct dep *dep, const char *fence,
    uint64_t term, uint32_t checks, uint32_t timeout_ms, witness_done_fn done,
    void *arg)
{
	struct wdep *wd = witness_find(w, dep);
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

	if (wd == NULL || wd->asking || checks == 0 || fence == NULL
	    || *fence == '\0') {
		done(WITNESS_ALONE, NULL,
		    checks == 0 ? "witness checks off" : "cannot ask now", arg);
		return;
	}
	wd->asking = true;
	wd->ask_created = false;
	wd->ask_gen++;
	wd->done = done;
	wd->done_arg = arg;
	strlcpy_b(wd->fence, fence, sizeof(wd->fence));
	memset(&wd->ask, 0, sizeof(wd->ask));
	strlcpy_b(wd->ask.leader, w->id, sizeof(wd->ask.leader));
	wd->ask.req = ++wd->next_req;
	wd->ask.term = term;
	wd->ask.checks =
	    checks > WITNESS_CHECKS_MAX ? WITNESS_CHECKS_MAX : checks;
	evtimer_add(wd->timer, &tv);
	if (zk_children(
	        w->zk, wd->edir, NULL, witness_list_done, wd, wd->ask_gen)
	    == -1)
		witness_finish(wd, WITNESS_ALONE, NULL, "no ZooKeeper session");
}

/* Leadership lost: the ask is void. */
void
witness_cancel(struct witness *w, struct dep *dep)
{
	struct wdep *wd = witness_find(w, dep);

	if (wd != NULL)
		witness_finish(wd, WITNESS_ALONE, NULL, "cancelled");
}

/* ---- witness side ----------------------------------------------------- */

/* Our verdict's write came back. */
static void
witness_answered_cb(const struct zk_result *r, void *arg)
{
	struct wdep *wd = arg;

	if (r->rc != ZK_OK && zk_rc_answered(r->rc))
		log_info("witness: %s: answer not written (%s): the leader "
		         "gave up meanwhile",
		    dep_name(wd->dep), zk_strerror(r->rc));
}

/* Our run of checks is over: write the verdict into the request. */
static void
witness_serve_done(const struct witness_run *run, void *ctx)
{
	struct wdep *wd = ctx;
	struct witness_record *a = &wd->serve;
	char *json;

	if (!wd->serving)
		return;
	wd->serving = false;
	wd->answered++;
	a->verdict = witness_run_verdict(run);
	if (a->verdict == WITNESS_PENDING)
		a->verdict = WITNESS_UNKNOWN; /* nothing to check with */
	a->ok = run->ok;
	a->failed = run->failed;
	strlcpy_b(a->by, wd->w->id, sizeof(a->by));
	strlcpy_b(a->detail, run->detail, sizeof(a->detail));
	log_info("witness: %s: %s for %s (%u of %u ok: %s)", dep_name(wd->dep),
	    witness_verdict_name(a->verdict), a->leader, a->ok, a->checks,
	    a->detail);
	if ((json = witness_record_encode(a)) == NULL)
		return;
	zk_set(wd->w->zk, wd->own_path, json, (int)strlen(json),
	    wd->serve_version, witness_answered_cb, wd, 0);
	free(json);
}

/* Stop a run whose request went away. */
static void
witness_serve_stop(struct wdep *wd)
{
	if (!wd->serving)
		return;
	wd->serving = false;
	log_info("witness: %s: request %" PRIu64 " of %s withdrawn; checks "
	         "stopped",
	    dep_name(wd->dep), wd->serve.req, wd->serve.leader);
	if (wd->w->hooks.cancel != NULL)
		wd->w->hooks.cancel(wd->dep, wd->w->hooks.arg);
}

/* A request addressed to us: start a run unless it is one we know. */
static void
witness_serve(struct wdep *wd, const struct witness_record *req, int version)
{
	struct witness *w = wd->w;

	if (req->verdict != WITNESS_PENDING)
		return; /* answered (by us) */
	if (wd->serving && wd->serve.req == req->req
	    && strcmp(wd->serve.leader, req->leader) == 0)
		return; /* already running for it */
	witness_serve_stop(wd);
	wd->serve = *req;
	wd->serve_version = version;
	wd->serving = true;
	log_info("witness: %s: %s asks for %u check(s) (request %" PRIu64 ")",
	    dep_name(wd->dep), req->leader, req->checks, req->req);
	if (w->hooks.check == NULL) {
		struct witness_run none;

		memset(&none, 0, sizeof(none));
		strlcpy_b(none.detail, "no checker", sizeof(none.detail));
		witness_serve_done(&none, wd);
		return;
	}
	w->hooks.check(wd->dep, req->leader, req->checks, witness_serve_done,
	    wd, w->hooks.arg);
}

/* Our request node is absent: its exists left the watch. */
static void
witness_own_exists(const struct zk_result *r, void *arg)
{
	struct wdep *wd = arg;

	if (r->rc == ZK_OK && !wd->removed) /* created meanwhile */
		witness_read_own(wd);
}

/* Our request node, read (with a watch). */
static void
witness_own_done(const struct zk_result *r, void *arg)
{
	struct wdep *wd = arg;
	struct witness_record req;
	char err[160];

	if (wd->removed)
		return;
	if (r->rc == ZK_NONODE) {
		witness_serve_stop(wd);
		zk_exists(wd->w->zk, wd->own_path, &wd->own_w,
		    witness_own_exists, wd, 0);
		return;
	}
	if (r->rc != ZK_OK)
		return; /* the reconnect reads again */
	if (witness_record_decode(r->data,
	        r->datalen < 0 ? 0 : (size_t)r->datalen, &req, err, sizeof(err))
	    == -1) {
		log_warnx("witness: %s rejected: %s", wd->own_path, err);
		return;
	}
	witness_serve(wd, &req, r->stat.ver.version);
}

/* Read the request node addressed to us and leave the watch. */
static void
witness_read_own(struct wdep *wd)
{
	zk_get(wd->w->zk, wd->own_path, &wd->own_w, witness_own_done, wd, 0);
}

/* A request addressed to us appeared, changed or went. */
static void
witness_own_fired(int type, const char *path, void *arg)
{
	struct wdep *wd = arg;

	(void)type;
	(void)path;
	if (!wd->removed)
		witness_read_own(wd);
}

/* ---- set-up ------------------------------------------------------------ */

/* One entry per registry dependency. */
struct witness *
witness_new(struct event_base *base, struct zk *zk, struct registry *reg,
    const char *root, const char *instance_id)
{
	struct witness *w = xcalloc(1, sizeof(*w));

	w->base = base;
	w->zk = zk;
	strlcpy_b(w->id, instance_id, sizeof(w->id));
	w->root = xstrdup(root);
	for (size_t i = 0; i < registry_count(reg); i++)
		witness_add_dep(w, registry_at(reg, i));
	return w;
}

/* An entry for dep (at start, or added by a reload: read on connect). */
void
witness_add_dep(struct witness *w, struct dep *dep)
{
	struct wdep *wd = xcalloc(1, sizeof(*wd));

	wd->w = w;
	wd->dep = dep;
	xasprintf(&wd->edir, "%s/deps/%s/election", w->root, dep_name(dep));
	xasprintf(&wd->wdir, "%s/deps/%s/witness", w->root, dep_name(dep));
	xasprintf(&wd->own_path, "%s/%s", wd->wdir, w->id);
	zk_watch_init(&wd->own_w, w->zk, witness_own_fired, wd);
	zk_watch_init(&wd->ask_w, w->zk, witness_ask_fired, wd);
	if ((wd->timer = evtimer_new(w->base, witness_timeout_cb, wd)) == NULL)
		fatalx("witness_add_dep: evtimer_new");
	w->deps = xreallocarray(w->deps, w->ndeps + 1, sizeof(*w->deps));
	w->deps[w->ndeps++] = wd;
}

/*
 * A reload removed dep: its ask ends (ALONE), a run for another leader
 * stops, and the entry is kept, inert, until witness_free, since
 * completions may still come for it.
 */
void
witness_remove_dep(struct witness *w, struct dep *dep)
{
	struct wdep *wd = witness_find(w, dep);
	size_t i;

	if (wd == NULL)
		return;
	witness_finish(wd, WITNESS_ALONE, NULL, "dependency removed");
	witness_serve_stop(wd);
	wd->removed = true;
	for (i = 0; w->deps[i] != wd; i++)
		;
	memmove(&w->deps[i], &w->deps[i + 1],
	    (w->ndeps - i - 1) * sizeof(*w->deps));
	w->ndeps--;
	w->tombs = xreallocarray(w->tombs, w->ntombs + 1, sizeof(*w->tombs));
	w->tombs[w->ntombs++] = wd;
}

static void
witness_wdep_free(struct wdep *wd)
{
	event_free(wd->timer);
	free(wd->edir);
	free(wd->wdir);
	free(wd->own_path);
	free(wd);
}

void
witness_set_hooks(struct witness *w, const struct witness_hooks *h)
{
	w->hooks = *h;
}

/* After zk_free: no completion can reach us any more. */
void
witness_free(struct witness *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->ndeps; i++)
		witness_wdep_free(w->deps[i]);
	for (size_t i = 0; i < w->ntombs; i++)
		witness_wdep_free(w->tombs[i]);
	free(w->deps);
	free(w->tombs);
	free(w->root);
	free(w);
}

/* (Re)connected: read every request node addressed to us. */
void
witness_connected(struct witness *w)
{
	for (size_t i = 0; i < w->ndeps; i++)
		witness_read_own(w->deps[i]);
}

void
witness_read_dep(struct witness *w, struct dep *dep)
{
	struct wdep *wd = witness_find(w, dep);

	if (wd != NULL)
		witness_read_own(wd);
}

uint64_t
witness_answered(const struct witness *w, const struct dep *dep)
{
	const struct wdep *wd = witness_find(w, dep);

	return wd != NULL ? wd->answered : 0;
}
