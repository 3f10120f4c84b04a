/*
 * membership.c - register this instance and count the live ones.
 *
 * The node is EPHEMERAL, so it lives exactly as long as our session.  If
 * the create finds it already there, its ephemeralOwner decides: our own
 * session (a create whose reply was lost) means adopt it; another session
 * means another daemon uses our id - or our previous incarnation was
 * killed and its session has not expired yet.  So we retry for two session
 * timeouts and only then give up through the fatal hook.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "membership.h"
#include "util.h"
#include "zk.h"

struct membership {
	struct zk *zk;
	char *dir;
	char *path;
	char *id;
	char *json;
	membership_live_fn live_fn;
	membership_fatal_fn fatal_fn;
	void (*registered_fn)(void *);
	void *arg;

	uint64_t epoch;
	bool registered;
	bool fatal;
	size_t live;
	char **names;               /* the live ids, sorted (the last list) */
	uint64_t conflict_deadline; /* monotonic; 0 = no conflict seen */
	struct zk_watch watch;
	struct event *retry_ev;
};

static void membership_create(struct membership *);

/* Try again in ms (a conflict, an unexpected error). */
static void
membership_retry_in(struct membership *m, uint32_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(m->retry_ev, &tv);
}

/* The retry timer: create again. */
static void
membership_retry_cb(int fd, short ev, void *arg)
{
	struct membership *m = arg;

	(void)fd;
	(void)ev;
	if (zk_connected(m->zk) && !m->registered && !m->fatal)
		membership_create(m);
}

/* The node exists: is it ours? */
static void
membership_owner_done(const struct zk_result *r, void *arg)
{
	struct membership *m = arg;
	char msg[256];
	uint32_t t = zk_timeout_ms(m->zk);

	if (r->tag != m->epoch)
		return;
	if (r->rc == ZK_NONODE) { /* gone meanwhile: try again now */
		membership_create(m);
		return;
	}
	if (r->rc != ZK_OK)
		return; /* connection trouble: the reconnect retries */
	if (r->stat.ephemeral_owner == zk_session_id(m->zk)) {
		m->registered = true;
		m->conflict_deadline = 0;
		log_info("membership: %s adopted (our session)", m->path);
		if (m->registered_fn != NULL)
			m->registered_fn(m->arg);
		return;
	}
	if (m->conflict_deadline == 0)
		m->conflict_deadline = now_mono_ms() + 2ULL * t + 1000;
	if (now_mono_ms() < m->conflict_deadline) {
		log_warnx("membership: %s is held by session 0x%llx; waiting "
		          "for it to expire",
		    m->path, (unsigned long long)r->stat.ephemeral_owner);
		membership_retry_in(m, t / 2 + 1);
		return;
	}
	snprintf(msg, sizeof(msg),
	    "instance id \"%s\" is already registered by another live "
	    "session (0x%llx): is another breakerd running with this id?",
	    m->id, (unsigned long long)r->stat.ephemeral_owner);
	log_warnx("membership: %s", msg);
	m->fatal = true;
	m->fatal_fn(msg, m->arg);
}

/* Our create came back. */
static void
membership_create_done(const struct zk_result *r, void *arg)
{
	struct membership *m = arg;

	if (r->tag != m->epoch)
		return;
	if (r->rc == ZK_OK) {
		m->registered = true;
		m->conflict_deadline = 0;
		log_info("membership: registered %s", m->path);
		if (m->registered_fn != NULL)
			m->registered_fn(m->arg);
	} else if (r->rc == ZK_NODEEXISTS) {
		if (zk_exists(m->zk, m->path, NULL, membership_owner_done, m,
		        m->epoch)
		    == -1)
			membership_retry_in(m, 1000);
	} else if (zk_rc_answered(r->rc)) {
		log_warnx(
		    "membership: create %s: %s", m->path, zk_strerror(r->rc));
		membership_retry_in(m, 1000);
	}
}

/* Register (ephemeral). */
static void
membership_create(struct membership *m)
{
	if (zk_create(m->zk, m->path, m->json, (int)strlen(m->json),
	        ZK_EPHEMERAL, membership_create_done, m, m->epoch)
	    == -1)
		membership_retry_in(m, 1000);
}

/* qsort order of two names. */
static int
membership_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Did the sorted list change from the one held? */
static bool
membership_changed(const struct membership *m, char **names, size_t n)
{
	size_t i;

	if (n != m->live)
		return true;
	for (i = 0; i < n; i++)
		if (strcmp(names[i], m->names[i]) != 0)
			return true;
	return false;
}

/* The instances list: keep the names; a change of the set is reported. */
static void
membership_list_done(const struct zk_result *r, void *arg)
{
	struct membership *m = arg;
	size_t i, n;
	char **names;

	if (r->rc != ZK_OK)
		return; /* re-armed on reconnect */
	n = (size_t)r->nchildren;
	names = xcalloc(n ? n : 1, sizeof(*names));
	for (i = 0; i < n; i++)
		names[i] = xstrdup(r->children[i]);
	qsort(names, n, sizeof(*names), membership_cmp);
	if (!membership_changed(m, names, n)) {
		strv_free(names, n);
		return;
	}
	if (n != m->live)
		log_info("membership: %zu live instance(s)", n);
	strv_free(m->names, m->live);
	m->names = names;
	m->live = n;
	m->live_fn(n, m->arg);
}

/* List the instances and leave a watch. */
static void
membership_list(struct membership *m)
{
	if (zk_children(m->zk, m->dir, &m->watch, membership_list_done, m, 0)
	    == -1)
		log_warnx("membership_list: not sent");
}

/* The instances changed. */
static void
membership_fired(int type, const char *path, void *arg)
{
	struct membership *m = arg;

	(void)type;
	(void)path;
	membership_list(m);
}

struct membership *
membership_new(struct event_base *base, struct zk *zk, const char *dir,
    const char *instance_id, const char *json, membership_live_fn live_fn,
    membership_fatal_fn fatal_fn, void *arg)
{
	struct membership *m = xcalloc(1, sizeof(*m));

	m->zk = zk;
	m->dir = xstrdup(dir);
	xasprintf(&m->path, "%s/%s", dir, instance_id);
	m->id = xstrdup(instance_id);
	m->json = xstrdup(json);
	m->live_fn = live_fn;
	m->fatal_fn = fatal_fn;
	m->arg = arg;
	zk_watch_init(&m->watch, zk, membership_fired, m);
	if ((m->retry_ev = evtimer_new(base, membership_retry_cb, m)) == NULL)
		fatalx("membership_new: evtimer_new");
	return m;
}

void
membership_free(struct membership *m)
{
	if (m == NULL)
		return;
	event_free(m->retry_ev);
	strv_free(m->names, m->live);
	free(m->dir);
	free(m->path);
	free(m->id);
	free(m->json);
	free(m);
}

/* A new session: register, then list (a wait for a holder restarts). */
void
membership_start(struct membership *m)
{
	m->epoch++;
	m->registered = false;
	m->conflict_deadline = 0;
	if (m->fatal)
		return;
	membership_create(m);
	membership_list(m);
}

/*
 * Back on the same session: the create may have been lost in flight.  A
 * wait for another session's node restarts: while we were cut off the
 * ensemble may have had no leader, and a newly elected leader gives every
 * session a fresh timeout, so the old holder (our killed predecessor) may
 * rightly live one more timeout from now.  Only a holder that outlives two
 * timeouts of connected time is another daemon with our id.
 */
void
membership_reconnected(struct membership *m)
{
	m->epoch++;
	m->conflict_deadline = 0;
	if (!m->registered && !m->fatal)
		membership_create(m);
	membership_list(m);
}

void
membership_expired(struct membership *m)
{
	m->epoch++;
	m->registered = false;
	evtimer_del(m->retry_ev);
}

/* A data update came back: nothing to do but to say when it failed. */
static void
membership_set_done(const struct zk_result *r, void *arg)
{
	struct membership *m = arg;

	if (r->rc != ZK_OK && zk_rc_answered(r->rc))
		log_warnx(
		    "membership: set %s: %s", m->path, zk_strerror(r->rc));
}

/* New data for our node: sent now if registered, else at registration. */
int
membership_set_data(struct membership *m, const char *json)
{
	free(m->json);
	m->json = xstrdup(json);
	if (!m->registered)
		return -1;
	return zk_set(m->zk, m->path, m->json, (int)strlen(m->json), -1,
	    membership_set_done, m, m->epoch);
}

void
membership_on_registered(struct membership *m, void (*fn)(void *))
{
	m->registered_fn = fn;
}

bool
membership_registered(const struct membership *m)
{
	return m->registered;
}

/* The registration record our node is created with. */
const char *
membership_record(const struct membership *m)
{
	return m->json;
}

size_t
membership_live(const struct membership *m)
{
	return m->live;
}

/* Is id one of the live instances (the last list of instances/)? */
bool
membership_is_live(const struct membership *m, const char *id)
{
	const char *key = id;

	if (m->live == 0)
		return false;
	return bsearch(
	           &key, m->names, m->live, sizeof(*m->names), membership_cmp)
	    != NULL;
}

/* The i-th live id of the last list (sorted). */
const char *
membership_at(const struct membership *m, size_t i)
{
	return i < m->live ? m->names[i] : "";
}
