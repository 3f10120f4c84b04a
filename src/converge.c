/*
 * converge.c - acknowledgements in the instance znodes, and the leader's
 * measure of how long the fleet takes to apply what it published.
 *
 * An instance writes its instance znode again (the instance record plus
 * "acks" and "auth" per dependency) when an applied version or authority
 * changed, at most once per CONV_WRITE_GAP_MS: the first change after a
 * quiet spell is handed on at once, later ones are folded into one a
 * second; nothing is written while nothing changes.  In the daemon the
 * keys go to instdata.c, which owns the node's data and writes it (with
 * the fleet window's summaries) at most once a second.
 *
 * A leader that published version v of a dependency at monotonic t0 reads
 * every live instance's znode with a data watch and, each time one
 * changes, checks whether all of them acknowledged v; the first time they
 * have, now - t0 goes into the histogram and the dependency counts as
 * converged.  Watches are re-armed only while something is pending, so a
 * quiet fleet costs no reads either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "converge.h"
#include "errcode.h"
#include "log.h"
#include "membership.h"
#include "registry.h"
#include "util.h"
#include "zk.h"

const double conv_bucket_le[CONV_NBUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

/* ---- pure ------------------------------------------------------------ */

/* Count one observation in every bucket it fits. */
void
conv_hist_observe(struct conv_hist *h, uint64_t ms)
{
	size_t i;

	for (i = 0; i < CONV_NBUCKETS; i++)
		if ((double)ms <= conv_bucket_le[i] * 1000.0)
			h->bucket[i]++;
	h->count++;
	h->sum_ms += ms;
}

/* The instance record with the acknowledgements set. */
char *
conv_instance_json(const char *base, const char *const *deps,
    const uint64_t *versions, const char *const *auths, size_t n)
{
	json_t *o, *acks, *auth;
	char *s;
	size_t i;

	if ((o = json_loads(base, 0, NULL)) == NULL || !json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	acks = json_object();
	auth = json_object();
	for (i = 0; i < n; i++) {
		json_object_set_new(
		    acks, deps[i], json_integer((json_int_t)versions[i]));
		json_object_set_new(auth, deps[i], json_string(auths[i]));
	}
	json_object_set_new(o, "acks", acks);
	json_object_set_new(o, "auth", auth);
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* acks[dep] of an instance znode; -1 if absent or not a version. */
int
conv_ack_of(const char *buf, size_t len, const char *dep, uint64_t *out)
{
	json_t *o, *v;
	int rc = -1;

	if (buf == NULL || len == 0 || len > 65536
	    || (o = json_loadb(buf, len, 0, NULL)) == NULL)
		return -1;
	v = json_object_get(json_object_get(o, "acks"), dep);
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		rc = 0;
	}
	json_decref(o);
	return rc;
}

/* The first write after a quiet second goes at once. */
uint64_t
conv_write_at(uint64_t last_write_ms, uint64_t now_ms)
{
	if (last_write_ms == 0 || now_ms >= last_write_ms + CONV_WRITE_GAP_MS)
		return now_ms;
	return last_write_ms + CONV_WRITE_GAP_MS;
}

/* ---- state ------------------------------------------------------------ */

/* What a leader measures for one dependency. */
struct conv_dep {
	struct dep *dep;
	bool measured;  /* published at least once while leading */
	bool pending;   /* waiting for every acknowledgement */
	bool converged; /* the last published version is everywhere */
	uint64_t version;
	uint64_t t0_ms;
};

/* Another instance's znode as the leader last read it. */
struct conv_inst {
	struct conv_inst *next;
	struct converge *c;
	char *id;
	char *path;
	struct zk_watch w;
	bool armed; /* a data watch is set */
	char *data;
	size_t len;
};

struct converge {
	struct event_base *base;
	struct zk *zk;
	struct membership *mb;
	struct registry *reg;
	char *dir;
	char *base_json;
	char *sent; /* the data last written */
	uint64_t last_write_ms;
	struct event *write_ev;
	struct conv_dep *deps;
	size_t ndeps;
	struct conv_inst *insts;
	struct conv_hist hist;
	uint64_t writes;
	conv_sink_fn sink;
	void *sink_arg;
};

void
conv_set_sink(struct converge *c, conv_sink_fn fn, void *arg)
{
	c->sink = fn;
	c->sink_arg = arg;
}

/* Hand "acks" and "auth" of the merged record to the sink. */
static void
conv_to_sink(struct converge *c, const char *json)
{
	json_t *o = json_loads(json, 0, NULL);

	if (o == NULL)
		return;
	c->sink("acks", json_incref(json_object_get(o, "acks")), c->sink_arg);
	c->sink("auth", json_incref(json_object_get(o, "auth")), c->sink_arg);
	json_decref(o);
	c->writes++;
}

static void conv_evaluate(struct converge *);
static struct conv_dep *conv_dep_of(struct converge *, const struct dep *);

/* The data this instance should hold now. */
static char *
conv_current(struct converge *c)
{
	const char **names = xcalloc(c->ndeps + 1, sizeof(*names));
	const char **auths = xcalloc(c->ndeps + 1, sizeof(*auths));
	uint64_t *vers = xcalloc(c->ndeps + 1, sizeof(*vers));
	uint64_t now = now_mono_ms();
	struct dep_view v;
	char *json;
	size_t i;

	for (i = 0; i < c->ndeps; i++) {
		dep_view(c->deps[i].dep, now, &v);
		names[i] = v.name;
		vers[i] = v.version;
		auths[i] = authority_name(v.authority);
	}
	json = conv_instance_json(c->base_json, names, vers, auths, c->ndeps);
	free(names);
	free(auths);
	free(vers);
	return json;
}

/* Write the acknowledgements if they changed. */
static void
conv_write(struct converge *c)
{
	char *json = conv_current(c);

	if (json == NULL || (c->sent != NULL && strcmp(json, c->sent) == 0)) {
		free(json);
		return;
	}
	c->last_write_ms = now_mono_ms();
	if (c->sink != NULL)
		conv_to_sink(c, json);
	else if (membership_set_data(c->mb, json) == 0)
		c->writes++;
	free(c->sent);
	c->sent = json;
}

/* The coalescing timer ran out. */
static void
conv_write_cb(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	conv_write(arg);
}

/* Something applied may have changed: now, or at the next free second. */
void
conv_applied(struct converge *c)
{
	uint64_t now = now_mono_ms(), at;
	struct timeval tv;

	if (evtimer_pending(c->write_ev, NULL))
		return; /* a write is due; it will carry this too */
	at = conv_write_at(c->last_write_ms, now);
	if (at <= now) {
		conv_write(c);
		return;
	}
	tv.tv_sec = (time_t)((at - now) / 1000);
	tv.tv_usec = (suseconds_t)((at - now) % 1000) * 1000;
	evtimer_add(c->write_ev, &tv);
}

struct converge *
conv_new(struct event_base *base, struct zk *zk, struct membership *mb,
    struct registry *reg, const char *instances_dir, const char *base_json)
{
	struct converge *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->zk = zk;
	c->mb = mb;
	c->reg = reg;
	c->dir = xstrdup(instances_dir);
	c->base_json = xstrdup(base_json);
	c->ndeps = registry_count(reg);
	c->deps = xcalloc(c->ndeps + 1, sizeof(*c->deps));
	for (size_t i = 0; i < c->ndeps; i++)
		c->deps[i].dep = registry_at(reg, i);
	if ((c->write_ev = evtimer_new(base, conv_write_cb, c)) == NULL)
		fatalx("conv_new: evtimer_new");
	return c;
}

/* A reload added a dependency: acknowledged from the next write on. */
void
conv_add_dep(struct converge *c, struct dep *d)
{
	c->deps = xreallocarray(c->deps, c->ndeps + 2, sizeof(*c->deps));
	memset(&c->deps[c->ndeps], 0, sizeof(c->deps[c->ndeps]));
	c->deps[c->ndeps++].dep = d;
	conv_applied(c);
}

/* A reload removed one: no acknowledgement or measure of it any more. */
void
conv_remove_dep(struct converge *c, const struct dep *d)
{
	struct conv_dep *cd = conv_dep_of(c, d);
	size_t i;

	if (cd == NULL)
		return;
	i = (size_t)(cd - c->deps);
	memmove(cd, cd + 1, (c->ndeps - i - 1) * sizeof(*cd));
	c->ndeps--;
	conv_applied(c);
}

void
conv_free(struct converge *c)
{
	struct conv_inst *i, *next;

	if (c == NULL)
		return;
	for (i = c->insts; i != NULL; i = next) {
		next = i->next;
		free(i->id);
		free(i->path);
		free(i->data);
		free(i);
	}
	event_free(c->write_ev);
	free(c->deps);
	free(c->sent);
	free(c->base_json);
	free(c->dir);
	free(c);
}

/* ---- the leader's measure --------------------------------------------- */

/* The index of d in the registry. */
static struct conv_dep *
conv_dep_of(struct converge *c, const struct dep *d)
{
	size_t i;

	for (i = 0; i < c->ndeps; i++)
		if (c->deps[i].dep == d)
			return &c->deps[i];
	return NULL;
}

/* Is anything waiting for acknowledgements? */
static bool
conv_any_pending(const struct converge *c)
{
	size_t i;

	for (i = 0; i < c->ndeps; i++)
		if (c->deps[i].pending)
			return true;
	return false;
}

/* The entry of instance id, made on first sight and kept (stable watch). */
static struct conv_inst *
conv_inst(struct converge *c, const char *id)
{
	struct conv_inst *i;

	for (i = c->insts; i != NULL; i = i->next)
		if (strcmp(i->id, id) == 0)
			return i;
	i = xcalloc(1, sizeof(*i));
	i->c = c;
	i->id = xstrdup(id);
	xasprintf(&i->path, "%s/%s", c->dir, id);
	i->next = c->insts;
	c->insts = i;
	return i;
}

static void conv_arm(struct conv_inst *);

/* An instance znode read came back. */
static void
conv_got(const struct zk_result *r, void *arg)
{
	struct conv_inst *i = arg;

	i->armed = r->rc == ZK_OK;
	free(i->data);
	i->data = NULL;
	i->len = 0;
	if (r->rc == ZK_OK && r->data != NULL && r->datalen > 0) {
		i->data = xstrdup(r->data);
		i->len = (size_t)r->datalen;
	}
	conv_evaluate(i->c);
}

/* The znode changed: read it again while something is pending. */
static void
conv_fired(int type, const char *path, void *arg)
{
	struct conv_inst *i = arg;

	(void)type;
	(void)path;
	i->armed = false;
	if (conv_any_pending(i->c))
		conv_arm(i);
}

/* Read with a watch (once at a time per instance). */
static void
conv_arm(struct conv_inst *i)
{
	if (i->armed)
		return;
	i->armed = true;
	if (zk_get(i->c->zk, i->path, &i->w, conv_got, i, 0) == -1)
		i->armed = false;
}

/* Arm every live instance's watch (those armed hold current data). */
static void
conv_arm_all(struct converge *c)
{
	size_t k;

	for (k = 0; k < membership_live(c->mb); k++) {
		struct conv_inst *i = conv_inst(c, membership_at(c->mb, k));

		if (i->w.fn == NULL)
			zk_watch_init(&i->w, c->zk, conv_fired, i);
		conv_arm(i);
	}
}

/* Has every live instance acknowledged at least version of dep? */
static bool
conv_all_acked(struct converge *c, const char *dep, uint64_t version)
{
	uint64_t v;
	size_t k;

	for (k = 0; k < membership_live(c->mb); k++) {
		struct conv_inst *i = conv_inst(c, membership_at(c->mb, k));

		if (i->data == NULL
		    || conv_ack_of(i->data, i->len, dep, &v) == -1
		    || v < version)
			return false;
	}
	return membership_live(c->mb) > 0;
}

/* Close every measure whose version reached every live instance. */
static void
conv_evaluate(struct converge *c)
{
	uint64_t now = now_mono_ms();
	size_t d;

	for (d = 0; d < c->ndeps; d++) {
		struct conv_dep *cd = &c->deps[d];

		if (!cd->pending
		    || !conv_all_acked(c, dep_name(cd->dep), cd->version))
			continue;
		cd->pending = false;
		cd->converged = true;
		conv_hist_observe(&c->hist, now - cd->t0_ms);
		log_debug("converge: %s v%llu on all %zu instances in %llu ms",
		    dep_name(cd->dep), (unsigned long long)cd->version,
		    membership_live(c->mb),
		    (unsigned long long)(now - cd->t0_ms));
	}
}

void
conv_published(struct converge *c, const struct dep *d, uint64_t version)
{
	struct conv_dep *cd = conv_dep_of(c, d);

	if (cd == NULL)
		return;
	cd->measured = true;
	cd->pending = true;
	cd->converged = false;
	cd->version = version;
	cd->t0_ms = now_mono_ms();
	conv_arm_all(c);
	conv_evaluate(c);
}

void
conv_not_leader(struct converge *c, const struct dep *d)
{
	struct conv_dep *cd = conv_dep_of(c, d);
	struct dep *dep;

	if (cd == NULL)
		return;
	dep = cd->dep; /* the measure goes, not the entry */
	memset(cd, 0, sizeof(*cd));
	cd->dep = dep;
}

void
conv_live_changed(struct converge *c)
{
	if (!conv_any_pending(c))
		return;
	conv_arm_all(c);
	conv_evaluate(c);
}

/* A new session has no watches; the next publish arms them again. */
void
conv_session_reset(struct converge *c)
{
	struct conv_inst *i;

	for (i = c->insts; i != NULL; i = i->next)
		i->armed = false;
	free(c->sent); /* the new registration carries the current data */
	c->sent = NULL;
}

/* breakerd_propagation_seconds and breakerd_converged{dep}. */
void
conv_metrics(const struct converge *c, struct evbuffer *out)
{
	size_t i;

	evbuffer_add_printf(out,
	    "# HELP breakerd_propagation_seconds Leader's publish to the "
	    "last live instance's acknowledgement, on the leader's clock.\n"
	    "# TYPE breakerd_propagation_seconds histogram\n");
	for (i = 0; i < CONV_NBUCKETS; i++)
		evbuffer_add_printf(out,
		    "breakerd_propagation_seconds_bucket{le=\"%g\"} %llu\n",
		    conv_bucket_le[i], (unsigned long long)c->hist.bucket[i]);
	evbuffer_add_printf(out,
	    "breakerd_propagation_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "breakerd_propagation_seconds_sum %llu.%03llu\n"
	    "breakerd_propagation_seconds_count %llu\n",
	    (unsigned long long)c->hist.count,
	    (unsigned long long)(c->hist.sum_ms / 1000),
	    (unsigned long long)(c->hist.sum_ms % 1000),
	    (unsigned long long)c->hist.count);
	evbuffer_add_printf(out,
	    "# HELP breakerd_converged 1 once every live instance "
	    "acknowledged the last version this leader published.\n"
	    "# TYPE breakerd_converged gauge\n");
	for (i = 0; i < c->ndeps; i++)
		if (c->deps[i].measured)
			evbuffer_add_printf(out,
			    "breakerd_converged{dep=\"%s\"} %d\n",
			    dep_name(c->deps[i].dep), c->deps[i].converged);
	evbuffer_add_printf(out,
	    "# HELP breakerd_ack_writes_total Acknowledgement writes to this "
	    "instance's znode.\n# TYPE breakerd_ack_writes_total counter\n"
	    "breakerd_ack_writes_total %llu\n",
	    (unsigned long long)c->writes);
}

/* ---- FLEET --------------------------------------------------------------- */

/* One FLEET read: every instance znode, then the reply. */
struct conv_fread {
	struct converge *c;
	body_fn done;
	void *arg;
	json_t *insts;
	size_t pending;
	char **names; /* the children, by tag */
	size_t nnames;
};

/* Free a FLEET read. */
static void
conv_fread_free(struct conv_fread *fr)
{
	size_t i;

	for (i = 0; i < fr->nnames; i++)
		free(fr->names[i]);
	free(fr->names);
	free(fr);
}

/* What this instance knows of each dependency: the fleet's view. */
static json_t *
conv_deps_json(struct converge *c)
{
	uint64_t now = now_mono_ms();
	const struct state_record *rec;
	struct dep_view v;
	json_t *deps = json_object(), *o;
	size_t i;

	for (i = 0; i < c->ndeps; i++) {
		struct dep *d = c->deps[i].dep;

		dep_view(d, now, &v);
		rec = dep_fleet(d, NULL);
		o = json_pack("{s:I, s:s, s:s}", "version",
		    (json_int_t)v.version, "state", breaker_state_name(v.state),
		    "leader", rec != NULL ? rec->leader : "");
		if (o != NULL)
			json_object_set_new(deps, v.name, o);
	}
	return deps;
}

/* Every read is back: one JSON document. */
static void
conv_fread_finish(struct conv_fread *fr)
{
	struct evbuffer *body = evbuffer_new();
	json_t *doc;
	char *s;

	doc = json_pack("{s:o, s:o}", "instances", fr->insts, "deps",
	    conv_deps_json(fr->c));
	s = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (body == NULL || s == NULL)
		fr->done(
		    PROTO_EUNAVAIL, "cannot build the reply", NULL, fr->arg);
	else {
		evbuffer_add_printf(body, "OK 1\n%s\n", s);
		fr->done(0, NULL, body, fr->arg);
	}
	if (body != NULL)
		evbuffer_free(body);
	free(s);
	json_decref(doc);
	conv_fread_free(fr);
}

/* One instance znode came back: its record, named, with its age. */
static void
conv_fread_got(const struct zk_result *r, void *arg)
{
	struct conv_fread *fr = arg;
	json_t *data;
	int64_t age;

	if (r->rc == ZK_OK && r->datalen > 0 && r->tag < fr->nnames
	    && (data = json_loadb(r->data, (size_t)r->datalen, 0, NULL))
	        != NULL) {
		if (json_is_object(data)) {
			age = (int64_t)now_wall_ms() /* display only */
			    - (int64_t)r->stat.mtime;
			json_object_set_new(data, "ack_age_ms",
			    json_integer((json_int_t)(age > 0 ? age : 0)));
			json_object_set_new(
			    data, "instance", json_string(fr->names[r->tag]));
			json_array_append(fr->insts, data);
		}
		json_decref(data);
	}
	if (--fr->pending == 0)
		conv_fread_finish(fr);
}

/* The instances directory's children came back: read each. */
static void
conv_fread_list(const struct zk_result *r, void *arg)
{
	struct conv_fread *fr = arg;
	char path[1024];
	int k;

	if (r->rc != ZK_OK) {
		fr->done(PROTO_EUNAVAIL, "instances not readable now", NULL,
		    fr->arg);
		json_decref(fr->insts);
		conv_fread_free(fr);
		return;
	}
	fr->names = xcalloc((size_t)r->nchildren + 1, sizeof(*fr->names));
	for (k = 0; k < r->nchildren; k++)
		fr->names[fr->nnames++] = xstrdup(r->children[k]);
	fr->pending = (size_t)r->nchildren + 1;
	for (k = 0; k < r->nchildren; k++) {
		snprintf(
		    path, sizeof(path), "%s/%s", fr->c->dir, r->children[k]);
		if (zk_get(
		        fr->c->zk, path, NULL, conv_fread_got, fr, (uint64_t)k)
		    == -1)
			fr->pending--;
	}
	if (--fr->pending == 0)
		conv_fread_finish(fr);
}

void
conv_fleet_read(struct converge *c, body_fn done, void *arg)
{
	struct conv_fread *fr = xcalloc(1, sizeof(*fr));

	fr->c = c;
	fr->done = done;
	fr->arg = arg;
	fr->insts = json_array();
	if (zk_children(c->zk, c->dir, NULL, conv_fread_list, fr, 0) == -1) {
		json_decref(fr->insts);
		free(fr);
		done(PROTO_EUNAVAIL, "no ZooKeeper session", NULL, arg);
	}
}
