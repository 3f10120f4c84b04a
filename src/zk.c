/*
 * zk.c - the ZooKeeper session and the hand-off of its callbacks.
 *
 * libzookeeper_mt calls every watcher and completion on its completion
 * thread.  The functions marked "ZK thread" below only copy what they got
 * into a heap message, append it to a mutex-protected unbounded list and
 * write to a non-blocking eventfd; a persistent libevent event on the loop
 * thread drains the list and calls the module's users.  Nothing there can
 * block, so zookeeper_close (which joins the completion thread) cannot
 * deadlock against it.
 *
 * Each handle has a generation.  Request contexts belong to the generation
 * that sent them and live on a list; when a handle is closed (expiry,
 * authentication failure, stop) the list is failed with ZCLOSING and
 * freed, since completions are not reliably delivered after close.
 * Messages that carry an older generation are dropped without touching
 * their context.
 */
#include <sys/eventfd.h>
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <zookeeper/zookeeper.h>

#include "log.h"
#include "lograte.h"
#include "util.h"
#include "zk.h"

/* zk.h names ZooKeeper's result codes with ZooKeeper's values. */
#define ZK_SAME_RC(ours, theirs)                                               \
	_Static_assert((int)(ours) == (int)(theirs), #ours " is not " #theirs)
ZK_SAME_RC(ZK_OK, ZOK);
ZK_SAME_RC(ZK_SYSTEMERROR, ZSYSTEMERROR);
ZK_SAME_RC(ZK_RUNTIMEINCONSISTENCY, ZRUNTIMEINCONSISTENCY);
ZK_SAME_RC(ZK_CONNECTIONLOSS, ZCONNECTIONLOSS);
ZK_SAME_RC(ZK_OPERATIONTIMEOUT, ZOPERATIONTIMEOUT);
ZK_SAME_RC(ZK_INVALIDSTATE, ZINVALIDSTATE);
ZK_SAME_RC(ZK_NONODE, ZNONODE);
ZK_SAME_RC(ZK_NOAUTH, ZNOAUTH);
ZK_SAME_RC(ZK_BADVERSION, ZBADVERSION);
ZK_SAME_RC(ZK_NODEEXISTS, ZNODEEXISTS);
ZK_SAME_RC(ZK_SESSIONEXPIRED, ZSESSIONEXPIRED);
ZK_SAME_RC(ZK_CLOSING, ZCLOSING);

#define ZK_BACKOFF_MIN_MS 1000
#define ZK_BACKOFF_MAX_MS 30000
#define ZK_COND_TICK_MS   1000
#define ZK_CAUSE_FRESH_MS 5000

/*
 * The ZooKeeper client logs from its own threads, process-wide, through
 * one callback that has no context: its state is global and guarded by
 * mu.  While our session is not connected (absorb) the client's lines
 * are only counted and their cause kept; the loop thread then logs the
 * condition once and a summary per interval.  Otherwise they go through
 * the rate limiter.
 */
static struct {
	pthread_mutex_t mu;
	struct lograte lr;
	bool absorb;
	uint64_t absorbed;
	char cause[64];
	uint64_t cause_ms;
} zk_logs = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The context given to zookeeper_init: which handle a callback is from. */
struct zk_handle_ctx {
	struct zk *zk;
	uint64_t gen;
};

/* One request in flight; owned by its generation's list. */
struct zk_req {
	TAILQ_ENTRY(zk_req) entry;
	struct zk *zk; /* read by the ZK thread: set before sending */
	uint64_t gen;
	zk_done_fn done;
	void *arg;
	uint64_t tag;
	uint64_t sent_ms;
	/* multi: ops, results and stats are written by the ZK thread. */
	int nops;
	zoo_op_t ops[ZK_MULTI_MAX];
	zoo_op_result_t results[ZK_MULTI_MAX];
	struct Stat stat;
	char *path;
	char *fence;
	char *opath[ZK_MULTI_MAX];
	char *odata[ZK_MULTI_MAX];
	char *created[ZK_MULTI_MAX]; /* create ops: the path made */
};
TAILQ_HEAD(zk_reqs, zk_req);

enum zk_msg_kind { ZK_MSG_SESSION, ZK_MSG_WATCH, ZK_MSG_DONE };

/* What a ZK-thread callback copied for the loop. */
struct zk_msg {
	TAILQ_ENTRY(zk_msg) entry;
	enum zk_msg_kind kind;
	uint64_t gen;
	int type;
	int state;
	char *path;
	struct zk_watch *watch;
	struct zk_req *req;
	struct zk_result res;
};
TAILQ_HEAD(zk_msgs, zk_msg);

struct zk {
	struct event_base *base;
	char *hosts;
	uint32_t want_timeout_ms;
	char *credential;
	zk_session_fn session_fn;
	void *session_arg;

	zhandle_t *zh;
	struct zk_handle_ctx *hctx;
	uint64_t gen;
	struct zk_reqs reqs;
	bool connected;
	bool ever_connected; /* this handle */
	bool stopped;
	uint32_t timeout_ms;
	int64_t session_id;
	uint64_t last_ok_send_ms;
	uint32_t backoff_ms;
	struct event *retry_ev;

	/* The session's condition as logged (loop thread). */
	struct event *cond_ev;
	bool cond_reported;
	char cond_cause[64];
	uint64_t cond_since_ms;
	uint64_t cond_report_ms;
	uint64_t cond_suppressed; /* client lines absorbed since cond_since */
	struct lograte cond_lr;   /* a flapping cause is logged rarely */

	struct ACL acl_entries[2];
	struct ACL_vector acl;

	/* Shared with the ZK thread: mu guards msgs. */
	pthread_mutex_t mu;
	struct zk_msgs msgs;
	int efd;
	struct event *efd_ev;
};

static void zk_open(struct zk *);
static void zk_cond_begin(struct zk *, const char *);
static void zk_cond_clear(struct zk *);

/* Append a message and wake the loop (any thread; never blocks). */
static void
zk_push(struct zk *zk, struct zk_msg *m)
{
	uint64_t one = 1;

	pthread_mutex_lock(&zk->mu);
	TAILQ_INSERT_TAIL(&zk->msgs, m, entry);
	pthread_mutex_unlock(&zk->mu);
	/* EAGAIN means the counter is already huge: the loop will wake. */
	if (write(zk->efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		log_warn("zk_push: eventfd write");
}

/* A completion message for req (ZK thread). */
static struct zk_msg *
zk_msg_done(const void *data, int rc)
{
	struct zk_req *req = (struct zk_req *)(uintptr_t)data;
	struct zk_msg *m;

	m = xcalloc(1, sizeof(*m));
	m->kind = ZK_MSG_DONE;
	m->gen = req->gen;
	m->req = req;
	m->res.rc = rc;
	m->res.datalen = -1;
	return m;
}

/* ZooKeeper's watch event type as zk.h names it (its are not constants). */
static int
zk_event_from(int type)
{
	if (type == ZOO_CREATED_EVENT)
		return ZK_EV_CREATED;
	if (type == ZOO_DELETED_EVENT)
		return ZK_EV_DELETED;
	if (type == ZOO_CHANGED_EVENT)
		return ZK_EV_CHANGED;
	if (type == ZOO_CHILD_EVENT)
		return ZK_EV_CHILD;
	return ZK_EV_OTHER;
}

/* zk.h's create flags as ZooKeeper's. */
static int
zk_zoo_flags(int flags)
{
	return ((flags & ZK_EPHEMERAL) != 0 ? ZOO_EPHEMERAL : 0)
	    | ((flags & ZK_SEQUENCE) != 0 ? ZOO_SEQUENCE : 0);
}

/* The session watcher given to zookeeper_init (ZK thread). */
static void
zk_session_watcher(
    zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	const struct zk_handle_ctx *hc = ctx;
	struct zk_msg *m;

	(void)zh;
	(void)path;
	if (type != ZOO_SESSION_EVENT)
		return; /* only session events come here: we use w* calls */
	m = xcalloc(1, sizeof(*m));
	m->kind = ZK_MSG_SESSION;
	m->gen = hc->gen;
	m->state = state;
	zk_push(hc->zk, m);
}

/* A path watcher (ZK thread): session events are the session's business. */
static void
zk_path_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	const struct zk_handle_ctx *hc = zoo_get_context(zh);
	struct zk_watch *w = ctx;
	struct zk_msg *m;

	if (type == ZOO_SESSION_EVENT || hc == NULL)
		return;
	m = xcalloc(1, sizeof(*m));
	m->kind = ZK_MSG_WATCH;
	m->gen = hc->gen;
	m->type = zk_event_from(type);
	m->state = state;
	m->path = xstrdup(path != NULL ? path : "");
	m->watch = w;
	zk_push(w->zk, m);
}

/* Completion of delete and add_auth (ZK thread). */
static void
zk_void_done(int rc, const void *data)
{
	struct zk_req *req = (struct zk_req *)(uintptr_t)data;
	struct zk_msg *m = zk_msg_done(data, rc);

	zk_push(req->zk, m);
}

/* The one copy of ZooKeeper's Stat into what the callers see (ZK thread). */
static void
zk_stat_from(struct zk_result *res, const struct Stat *st)
{
	res->stat.ver.czxid = st->czxid;
	res->stat.ver.mzxid = st->mzxid;
	res->stat.ver.version = st->version;
	res->stat.mtime = st->mtime;
	res->stat.ephemeral_owner = st->ephemeralOwner;
	res->has_stat = true;
}

/* Completion of a multi: copy the per-op errors, stat and created path. */
static void
zk_multi_done(int rc, const void *data)
{
	struct zk_req *req = (struct zk_req *)(uintptr_t)data;
	struct zk_msg *m = zk_msg_done(data, rc);
	int i;

	for (i = 0; i < req->nops; i++) {
		m->res.multi_err[i] = req->results[i].err;
		if (rc != ZOK)
			continue;
		if (req->ops[i].type == ZOO_SETDATA_OP && !m->res.has_stat)
			zk_stat_from(&m->res, &req->stat);
		if (req->created[i] != NULL && m->res.value == NULL)
			m->res.value = xstrdup(req->created[i]);
	}
	zk_push(req->zk, m);
}

/* Completion of exists and set (ZK thread). */
static void
zk_stat_done(int rc, const struct Stat *stat, const void *data)
{
	struct zk_req *req = (struct zk_req *)(uintptr_t)data;
	struct zk_msg *m = zk_msg_done(data, rc);

	if (stat != NULL && rc == ZOK)
		zk_stat_from(&m->res, stat);
	zk_push(req->zk, m);
}

/* Completion of get (ZK thread). */
static void
zk_data_done(int rc, const char *value, int len, const struct Stat *stat,
    const void *data)
{
	struct zk_req *req = (struct zk_req *)(uintptr_t)data;
	struct zk_msg *m = zk_msg_done(data, rc);

	if (stat != NULL && rc == ZOK)
		zk_stat_from(&m->res, stat);
	if (rc == ZOK && value != NULL && len >= 0) {
		m->res.data = xmalloc((size_t)len + 1);
		memcpy(m->res.data, value, (size_t)len);
		m->res.data[len] = '\0';
		m->res.datalen = len;
	}
	zk_push(req->zk, m);
}

/* Completion of get_children (ZK thread). */
static void
zk_strings_done(int rc, const struct String_vector *sv, const void *data)
{
	struct zk_req *req = (struct zk_req *)(uintptr_t)data;
	struct zk_msg *m = zk_msg_done(data, rc);
	int i;

	if (rc == ZOK && sv != NULL && sv->count > 0) {
		m->res.children = xcalloc((size_t)sv->count, sizeof(char *));
		for (i = 0; i < sv->count; i++)
			m->res.children[i] = xstrdup(sv->data[i]);
		m->res.nchildren = sv->count;
	}
	zk_push(req->zk, m);
}

/* Completion of create2 (ZK thread). */
static void
zk_string_stat_done(
    int rc, const char *value, const struct Stat *stat, const void *data)
{
	struct zk_req *req = (struct zk_req *)(uintptr_t)data;
	struct zk_msg *m = zk_msg_done(data, rc);

	if (rc == ZOK && value != NULL)
		m->res.value = xstrdup(value);
	if (rc == ZOK && stat != NULL)
		zk_stat_from(&m->res, stat);
	zk_push(req->zk, m);
}

/* zoo_add_auth's completion: failures come as AUTH_FAILED_STATE. */
static void
zk_auth_done(int rc, const void *data)
{
	(void)rc;
	(void)data;
}

/* Free what a result owns. */
static void
zk_result_clear(struct zk_result *r)
{
	free(r->data);
	free(r->value);
	strv_free(r->children, r->nchildren < 0 ? 0 : (size_t)r->nchildren);
}

/* Free a request context. */
static void
zk_req_free(struct zk_req *req)
{
	int i;

	free(req->path);
	free(req->fence);
	for (i = 0; i < ZK_MULTI_MAX; i++) {
		free(req->opath[i]);
		free(req->odata[i]);
		free(req->created[i]);
	}
	free(req);
}

const char *
zk_strerror(int rc)
{
	return zerror(rc);
}

/* Is rc an answer from the server about the request itself? */
bool
zk_rc_answered(int rc)
{
	switch (rc) {
	case ZOK:
	case ZNONODE:
	case ZNODEEXISTS:
	case ZBADVERSION:
	case ZNOTEMPTY:
	case ZNOCHILDRENFOREPHEMERALS:
	case ZNOAUTH:
	case ZRUNTIMEINCONSISTENCY:
		return true;
	default:
		return false;
	}
}

/* Deliver one completion on the loop thread. */
static void
zk_deliver_done(struct zk *zk, struct zk_msg *m)
{
	struct zk_req *req = m->req;

	TAILQ_REMOVE(&zk->reqs, req, entry);
	m->res.tag = req->tag;
	m->res.sent_ms = req->sent_ms;
	if (zk_rc_answered(m->res.rc) && req->sent_ms > zk->last_ok_send_ms)
		zk->last_ok_send_ms = req->sent_ms;
	if (req->done != NULL)
		req->done(&m->res, req->arg);
	zk_req_free(req);
}

/* Fail every request of the closed handle (loop thread). */
static void
zk_fail_reqs(struct zk *zk)
{
	struct zk_reqs old;
	struct zk_req *req;
	struct zk_result r;

	TAILQ_INIT(&old);
	TAILQ_CONCAT(&old, &zk->reqs, entry);
	while ((req = TAILQ_FIRST(&old)) != NULL) {
		TAILQ_REMOVE(&old, req, entry);
		memset(&r, 0, sizeof(r));
		r.rc = ZCLOSING;
		r.datalen = -1;
		r.tag = req->tag;
		r.sent_ms = req->sent_ms;
		if (req->done != NULL)
			req->done(&r, req->arg);
		zk_req_free(req);
	}
}

/* Close the current handle from the loop thread and bump the generation. */
static void
zk_close_handle(struct zk *zk)
{
	if (zk->zh != NULL) {
		zookeeper_close(zk->zh); /* joins the ZK threads */
		zk->zh = NULL;
	}
	/* After close no ZK thread can read the context any more. */
	free(zk->hctx);
	zk->hctx = NULL;
	zk->gen++;
	zk->connected = false;
	zk->ever_connected = false;
	zk->session_id = 0;
	zk->last_ok_send_ms = 0;
	zk_fail_reqs(zk);
}

/* Open the handle again after a backoff. */
static void
zk_retry_cb(int fd, short ev, void *arg)
{
	struct zk *zk = arg;

	(void)fd;
	(void)ev;
	if (!zk->stopped && zk->zh == NULL)
		zk_open(zk);
}

/* Schedule a new handle with exponential backoff. */
static void
zk_schedule_retry(struct zk *zk)
{
	struct timeval tv;

	if (zk->backoff_ms == 0)
		zk->backoff_ms = ZK_BACKOFF_MIN_MS;
	tv.tv_sec = zk->backoff_ms / 1000;
	tv.tv_usec = (zk->backoff_ms % 1000) * 1000;
	evtimer_add(zk->retry_ev, &tv);
	zk->backoff_ms *= 2;
	if (zk->backoff_ms > ZK_BACKOFF_MAX_MS)
		zk->backoff_ms = ZK_BACKOFF_MAX_MS;
}

/* A session state change, on the loop thread. */
static void
zk_deliver_session(struct zk *zk, int state)
{
	bool is_new;

	if (state == ZOO_CONNECTED_STATE) {
		is_new = !zk->ever_connected;
		zk->connected = true;
		zk->ever_connected = true;
		zk->backoff_ms = 0;
		zk->timeout_ms = (uint32_t)zoo_recv_timeout(zk->zh);
		zk->session_id = zoo_client_id(zk->zh)->client_id;
		log_info("zookeeper session 0x%llx %s, timeout %u ms",
		    (unsigned long long)zk->session_id,
		    is_new ? "established" : "reconnected", zk->timeout_ms);
		zk_cond_clear(zk);
		zk->session_fn(ZK_SESS_CONNECTED, is_new, zk->session_arg);
	} else if (state == ZOO_CONNECTING_STATE
	    || state == ZOO_ASSOCIATING_STATE) {
		if (!zk->connected)
			return;
		zk->connected = false;
		zk_cond_begin(zk, "connection lost");
		log_warnx("zookeeper connection lost (%s); session 0x%llx "
		          "suspended",
		    zk->cond_cause, (unsigned long long)zk->session_id);
		zk->session_fn(ZK_SESS_CONNECTING, false, zk->session_arg);
	} else if (state == ZOO_EXPIRED_SESSION_STATE) {
		log_warnx("zookeeper session 0x%llx expired; opening a new one",
		    (unsigned long long)zk->session_id);
		zk_close_handle(zk);
		zk->session_fn(ZK_SESS_EXPIRED, false, zk->session_arg);
		if (!zk->stopped && zk->zh == NULL)
			zk_open(zk);
	} else if (state == ZOO_AUTH_FAILED_STATE) {
		log_warnx(
		    "zookeeper AUTHENTICATION FAILED: check the credential "
		    "file; retrying in %u ms",
		    zk->backoff_ms ? zk->backoff_ms : ZK_BACKOFF_MIN_MS);
		zk_close_handle(zk);
		zk->session_fn(ZK_SESS_AUTH_FAILED, false, zk->session_arg);
		if (!zk->stopped)
			zk_schedule_retry(zk);
	}
}

/* Handle one message on the loop thread; old generations are dropped. */
static void
zk_deliver(struct zk *zk, struct zk_msg *m)
{
	if (m->gen != zk->gen || zk->stopped)
		return;
	switch (m->kind) {
	case ZK_MSG_SESSION:
		zk_deliver_session(zk, m->state);
		break;
	case ZK_MSG_WATCH:
		m->watch->fn(m->type, m->path, m->watch->arg);
		break;
	case ZK_MSG_DONE:
		zk_deliver_done(zk, m);
		break;
	}
}

/* Free a message. */
static void
zk_msg_free(struct zk_msg *m)
{
	zk_result_clear(&m->res);
	free(m->path);
	free(m);
}

/* Take every queued message and deliver them in order. */
static void
zk_drain(struct zk *zk)
{
	struct zk_msgs batch;
	struct zk_msg *m;

	TAILQ_INIT(&batch);
	pthread_mutex_lock(&zk->mu);
	TAILQ_CONCAT(&batch, &zk->msgs, entry);
	pthread_mutex_unlock(&zk->mu);
	while ((m = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, m, entry);
		zk_deliver(zk, m);
		zk_msg_free(m);
	}
}

/* The eventfd is readable: ZK threads queued something. */
static void
zk_efd_cb(int fd, short ev, void *arg)
{
	struct zk *zk = arg;
	uint64_t n;

	(void)ev;
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("zk_efd_cb: eventfd read");
	zk_drain(zk);
}

/* The ZooKeeper library's log lines, into ours (any ZK thread). */
static void
zk_log_cb(const char *message)
{
	uint64_t now = now_mono_ms(), sup = 0, since = 0;
	const char *text;
	char cause[64];
	bool print = false;
	int level;

	text = lograte_zk_text(message, &level);
	pthread_mutex_lock(&zk_logs.mu);
	if (lograte_zk_cause(text, cause, sizeof(cause))) {
		strlcpy_b(zk_logs.cause, cause, sizeof(zk_logs.cause));
		zk_logs.cause_ms = now;
	}
	if (zk_logs.absorb)
		zk_logs.absorbed++;
	else
		print = lograte_admit(&zk_logs.lr, text, now, &sup, &since);
	pthread_mutex_unlock(&zk_logs.mu);
	if (!print)
		return;
	if (sup > 0)
		log_warnx("zookeeper: %s; %llu similar messages in the last "
		          "%llu s",
		    text, (unsigned long long)sup,
		    (unsigned long long)(since / 1000));
	else if (level <= 1)
		log_warnx("zookeeper: %s", text);
	else
		log_debug("zookeeper: %s", text);
}

/* Take the client's absorbed line count and fresh cause (loop thread). */
static uint64_t
zk_logs_take(uint64_t now, char *cause, size_t causelen, bool absorb)
{
	uint64_t n;

	pthread_mutex_lock(&zk_logs.mu);
	n = zk_logs.absorbed;
	zk_logs.absorbed = 0;
	zk_logs.absorb = absorb;
	if (zk_logs.cause[0] != '\0'
	    && now - zk_logs.cause_ms < ZK_CAUSE_FRESH_MS)
		strlcpy_b(cause, zk_logs.cause, causelen);
	pthread_mutex_unlock(&zk_logs.mu);
	return n;
}

/* Arm the condition timer. */
static void
zk_cond_arm(struct zk *zk)
{
	struct timeval tv = {
	    ZK_COND_TICK_MS / 1000, (ZK_COND_TICK_MS % 1000) * 1000};

	evtimer_add(zk->cond_ev, &tv);
}

/* The session stopped being usable: absorb the client's retry noise. */
static void
zk_cond_begin(struct zk *zk, const char *dflt)
{
	uint64_t now = now_mono_ms();

	if (!zk->cond_reported && zk->cond_since_ms == 0) {
		zk->cond_since_ms = now;
		zk->cond_report_ms = now;
		zk->cond_suppressed = 0;
	}
	strlcpy_b(zk->cond_cause, dflt, sizeof(zk->cond_cause));
	zk->cond_suppressed +=
	    zk_logs_take(now, zk->cond_cause, sizeof(zk->cond_cause), true);
	if (strcmp(dflt, "connection lost") == 0)
		zk->cond_reported = true; /* the caller logs it */
	zk_cond_arm(zk);
}

/* Connected: say how long and how noisily it was not, once. */
static void
zk_cond_clear(struct zk *zk)
{
	char cause[64] = "";
	uint64_t now = now_mono_ms(), n;

	evtimer_del(zk->cond_ev);
	n = zk->cond_suppressed
	    + zk_logs_take(now, cause, sizeof(cause), false);
	if (zk->cond_reported)
		log_info("zookeeper: reachable again after %llu s; %llu "
		         "similar messages in the last %llu s",
		    (unsigned long long)((now - zk->cond_since_ms) / 1000),
		    (unsigned long long)n,
		    (unsigned long long)((now - zk->cond_report_ms) / 1000));
	zk->cond_reported = false;
	zk->cond_since_ms = 0;
	zk->cond_suppressed = 0;
}

/* The cause changed while unreachable: say so, once a minute per kind. */
static void
zk_cond_cause_changed(struct zk *zk, const char *cause, uint64_t now)
{
	char msg[160];
	uint64_t sup, since;

	snprintf(msg, sizeof(msg), "still unreachable, now %s (was %s)", cause,
	    zk->cond_cause);
	if (lograte_admit(&zk->cond_lr, msg, now, &sup, &since))
		log_warnx("zookeeper: %s", msg);
}

/* Once a second while not connected: log changes, and repeats rarely. */
static void
zk_cond_cb(int fd, short ev, void *arg)
{
	struct zk *zk = arg;
	char cause[64];
	uint64_t now = now_mono_ms();

	(void)fd;
	(void)ev;
	if (zk->connected || zk->stopped)
		return;
	strlcpy_b(cause, zk->cond_cause, sizeof(cause));
	zk->cond_suppressed += zk_logs_take(now, cause, sizeof(cause), true);
	if (!zk->cond_reported && strcmp(cause, "no answer") == 0
	    && now - zk->cond_since_ms < 3 * ZK_COND_TICK_MS) {
		/* Connecting may just be slow: no verdict yet. */
	} else if (!zk->cond_reported) {
		log_warnx("zookeeper: unreachable (%s): no server of %s "
		          "answers; answers follow the unreachable policy",
		    cause, zk->hosts);
		zk->cond_reported = true;
		zk->cond_report_ms = now;
		zk->cond_suppressed = 0;
	} else if (strcmp(cause, zk->cond_cause) != 0) {
		zk_cond_cause_changed(zk, cause, now);
	} else if (now - zk->cond_report_ms >= LOGRATE_INTERVAL_MS) {
		log_warnx("zookeeper: still unreachable (%s) after %llu s; "
		          "%llu similar messages in the last %llu s",
		    cause,
		    (unsigned long long)((now - zk->cond_since_ms) / 1000),
		    (unsigned long long)zk->cond_suppressed,
		    (unsigned long long)((now - zk->cond_report_ms) / 1000));
		zk->cond_report_ms = now;
		zk->cond_suppressed = 0;
	}
	strlcpy_b(zk->cond_cause, cause, sizeof(zk->cond_cause));
	zk_cond_arm(zk);
}

/* Open a new handle (start, expiry, retry). */
static void
zk_open(struct zk *zk)
{
	struct zk_handle_ctx *hc;

	hc = xcalloc(1, sizeof(*hc));
	hc->zk = zk;
	hc->gen = zk->gen;
	zk->zh = zookeeper_init2(zk->hosts, zk_session_watcher,
	    (int)zk->want_timeout_ms, NULL, hc, ZOO_NO_LOG_CLIENTENV,
	    zk_log_cb);
	if (zk->zh == NULL) {
		log_warn("zk_open: zookeeper_init %s", zk->hosts);
		free(hc);
		zk_schedule_retry(zk);
		return;
	}
	/*
	 * The hosts are IP literals (config.c insists), yet by default the
	 * client re-resolves its host list whenever its IO thread wakes:
	 * measured at a quarter of an idle daemon's CPU.  Resolve only on
	 * connection loss.
	 */
	if (zoo_set_servers_resolution_delay(zk->zh, -1) != ZOK)
		log_warnx("zk_open: cannot turn off periodic host resolution");
	zk->hctx = hc;
	zk->ever_connected = false;
	if (!zk->cond_reported && zk->cond_since_ms == 0)
		zk_cond_begin(zk, "no answer");
	/* Queued before any request, so it precedes them on the wire. */
	if (zk->credential != NULL
	    && zoo_add_auth(zk->zh, "digest", zk->credential,
	           (int)strlen(zk->credential), zk_auth_done, NULL)
	        != ZOK)
		log_warnx("zk_open: zoo_add_auth failed");
}

/* Build the ACLs: the authenticated creator may do all, anyone may read. */
static void
zk_acl_init(struct zk *zk)
{
	zk->acl_entries[0].perms = ZOO_PERM_ALL;
	zk->acl_entries[0].id.scheme = (char *)(uintptr_t) "auth";
	zk->acl_entries[0].id.id = (char *)(uintptr_t) "";
	zk->acl_entries[1].perms = ZOO_PERM_READ;
	zk->acl_entries[1].id.scheme = (char *)(uintptr_t) "world";
	zk->acl_entries[1].id.id = (char *)(uintptr_t) "anyone";
	zk->acl.count = 2;
	zk->acl.data = zk->acl_entries;
}

/* Create the session manager; nothing is sent until zk_start. */
struct zk *
zk_new(struct event_base *base, const char *hosts, uint32_t timeout_ms,
    const char *credential, zk_session_fn fn, void *arg)
{
	struct zk *zk;

	zk = xcalloc(1, sizeof(*zk));
	zk->base = base;
	zk->hosts = xstrdup(hosts);
	zk->want_timeout_ms = timeout_ms;
	zk->timeout_ms = timeout_ms;
	zk->credential = credential != NULL ? xstrdup(credential) : NULL;
	zk->session_fn = fn;
	zk->session_arg = arg;
	zk->gen = 1;
	TAILQ_INIT(&zk->reqs);
	TAILQ_INIT(&zk->msgs);
	pthread_mutex_init(&zk->mu, NULL);
	zk_acl_init(zk);
	if ((zk->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("zk_new: eventfd");
	zk->efd_ev =
	    event_new(base, zk->efd, EV_READ | EV_PERSIST, zk_efd_cb, zk);
	zk->retry_ev = evtimer_new(base, zk_retry_cb, zk);
	zk->cond_ev = evtimer_new(base, zk_cond_cb, zk);
	lograte_init(&zk->cond_lr, LOGRATE_INTERVAL_MS);
	pthread_mutex_lock(&zk_logs.mu);
	lograte_init(&zk_logs.lr, LOGRATE_INTERVAL_MS);
	pthread_mutex_unlock(&zk_logs.mu);
	if (zk->efd_ev == NULL || zk->retry_ev == NULL || zk->cond_ev == NULL)
		fatalx("zk_new: event_new");
	event_add(zk->efd_ev, NULL);
	zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
	return zk;
}

/* Open the first handle. */
int
zk_start(struct zk *zk)
{
	zk_open(zk);
	return zk->zh != NULL ? 0 : -1;
}

/* Close the session: its ephemerals are deleted by the server at once. */
void
zk_stop(struct zk *zk)
{
	if (zk->stopped)
		return;
	zk->stopped = true;
	evtimer_del(zk->retry_ev);
	evtimer_del(zk->cond_ev);
	zk_close_handle(zk);
}

/* Free everything; messages still queued are dropped. */
void
zk_free(struct zk *zk)
{
	struct zk_msg *m;

	if (zk == NULL)
		return;
	zk_stop(zk);
	while ((m = TAILQ_FIRST(&zk->msgs)) != NULL) {
		TAILQ_REMOVE(&zk->msgs, m, entry);
		zk_msg_free(m);
	}
	event_free(zk->efd_ev);
	event_free(zk->retry_ev);
	event_free(zk->cond_ev);
	close(zk->efd);
	pthread_mutex_destroy(&zk->mu);
	if (zk->credential != NULL) {
		explicit_bzero(zk->credential, strlen(zk->credential));
		free(zk->credential);
	}
	free(zk->hosts);
	free(zk);
}

/* Set up a watcher object for one path or purpose. */
void
zk_watch_init(struct zk_watch *w, struct zk *zk, zk_watch_fn fn, void *arg)
{
	w->fn = fn;
	w->arg = arg;
	w->zk = zk;
}

bool
zk_connected(const struct zk *zk)
{
	return zk->connected;
}

uint32_t
zk_timeout_ms(const struct zk *zk)
{
	return zk->timeout_ms;
}

int64_t
zk_session_id(const struct zk *zk)
{
	return zk->session_id;
}

uint64_t
zk_generation(const struct zk *zk)
{
	return zk->gen;
}

uint64_t
zk_last_ok_send_ms(const struct zk *zk)
{
	return zk->last_ok_send_ms;
}

bool
zk_has_auth(const struct zk *zk)
{
	return zk->credential != NULL;
}

/* With credentials every znode is auth ALL + world READ; else open. */
static const struct ACL_vector *
zk_acl(const struct zk *zk)
{
	return zk->credential != NULL ? &zk->acl : &ZOO_OPEN_ACL_UNSAFE;
}

/* A new request context on the current generation, or NULL if no handle. */
static struct zk_req *
zk_req_new(
    struct zk *zk, const char *path, zk_done_fn done, void *arg, uint64_t tag)
{
	struct zk_req *req;

	if (zk->zh == NULL || zk->stopped)
		return NULL;
	req = xcalloc(1, sizeof(*req));
	req->zk = zk;
	req->gen = zk->gen;
	req->done = done;
	req->arg = arg;
	req->tag = tag;
	req->sent_ms = now_mono_ms();
	req->path = xstrdup(path);
	return req;
}

/* Keep a sent request on the list, or free it if the library refused. */
static int
zk_req_sent(struct zk *zk, struct zk_req *req, int rc, const char *what)
{
	if (rc != ZOK) {
		log_warnx("%s %s: %s", what, req->path, zerror(rc));
		zk_req_free(req);
		return -1;
	}
	TAILQ_INSERT_TAIL(&zk->reqs, req, entry);
	return 0;
}

/* Create a znode with the session's ACL; the result has its Stat. */
int
zk_create(struct zk *zk, const char *path, const char *data, int len, int flags,
    zk_done_fn done, void *arg, uint64_t tag)
{
	struct zk_req *req;
	int rc;

	if ((req = zk_req_new(zk, path, done, arg, tag)) == NULL)
		return -1;
	rc = zoo_acreate2(zk->zh, req->path, data, len, zk_acl(zk),
	    zk_zoo_flags(flags), zk_string_stat_done, req);
	return zk_req_sent(zk, req, rc, "zk_create");
}

/* Read a znode's data, optionally leaving a watch. */
int
zk_get(struct zk *zk, const char *path, struct zk_watch *w, zk_done_fn done,
    void *arg, uint64_t tag)
{
	struct zk_req *req;
	int rc;

	if ((req = zk_req_new(zk, path, done, arg, tag)) == NULL)
		return -1;
	rc = zoo_awget(zk->zh, req->path, w != NULL ? zk_path_watcher : NULL, w,
	    zk_data_done, req);
	return zk_req_sent(zk, req, rc, "zk_get");
}

/* Stat a znode; with w, a watch is left even if it does not exist. */
int
zk_exists(struct zk *zk, const char *path, struct zk_watch *w, zk_done_fn done,
    void *arg, uint64_t tag)
{
	struct zk_req *req;
	int rc;

	if ((req = zk_req_new(zk, path, done, arg, tag)) == NULL)
		return -1;
	rc = zoo_awexists(zk->zh, req->path, w != NULL ? zk_path_watcher : NULL,
	    w, zk_stat_done, req);
	return zk_req_sent(zk, req, rc, "zk_exists");
}

/* List a znode's children, optionally leaving a watch. */
int
zk_children(struct zk *zk, const char *path, struct zk_watch *w,
    zk_done_fn done, void *arg, uint64_t tag)
{
	struct zk_req *req;
	int rc;

	if ((req = zk_req_new(zk, path, done, arg, tag)) == NULL)
		return -1;
	rc = zoo_awget_children(zk->zh, req->path,
	    w != NULL ? zk_path_watcher : NULL, w, zk_strings_done, req);
	return zk_req_sent(zk, req, rc, "zk_children");
}

/* Set a znode's data at an expected version (-1: any). */
int
zk_set(struct zk *zk, const char *path, const char *data, int len, int version,
    zk_done_fn done, void *arg, uint64_t tag)
{
	struct zk_req *req;
	int rc;

	if ((req = zk_req_new(zk, path, done, arg, tag)) == NULL)
		return -1;
	rc = zoo_aset(zk->zh, req->path, data, len, version, zk_stat_done, req);
	return zk_req_sent(zk, req, rc, "zk_set");
}

/* Delete a znode at an expected version (-1: any). */
int
zk_delete(struct zk *zk, const char *path, int version, zk_done_fn done,
    void *arg, uint64_t tag)
{
	struct zk_req *req;
	int rc;

	if ((req = zk_req_new(zk, path, done, arg, tag)) == NULL)
		return -1;
	rc = zoo_adelete(zk->zh, req->path, version, zk_void_done, req);
	return zk_req_sent(zk, req, rc, "zk_delete");
}

/* check(fence) + set or create, atomically: the leader's state write. */
int
zk_fenced_write(struct zk *zk, const char *fence, const char *path,
    const char *data, int len, int version, bool create, zk_done_fn done,
    void *arg, uint64_t tag)
{
	struct zk_op op = {.kind = create ? ZK_OP_CREATE : ZK_OP_SET,
	    .path = path,
	    .data = data,
	    .len = len,
	    .version = version};

	return zk_fenced_multi(zk, fence, &op, 1, done, arg, tag);
}

/* check(fence) + create(path, flags): a leader's fenced create. */
int
zk_fenced_create(struct zk *zk, const char *fence, const char *path,
    const char *data, int len, int flags, zk_done_fn done, void *arg,
    uint64_t tag)
{
	struct zk_op op = {.kind = ZK_OP_CREATE,
	    .path = path,
	    .data = data,
	    .len = len,
	    .version = -1,
	    .flags = flags};

	return zk_fenced_multi(zk, fence, &op, 1, done, arg, tag);
}

/* Fill multi op slot i (1..) from op; the request owns the copies. */
static void
zk_multi_op(struct zk *zk, struct zk_req *req, int i, const struct zk_op *op)
{
	req->opath[i] = xstrdup(op->path);
	if (op->kind != ZK_OP_DELETE) {
		req->odata[i] = xmalloc((size_t)op->len + 1);
		memcpy(req->odata[i], op->data, (size_t)op->len);
	}
	switch (op->kind) {
	case ZK_OP_SET:
		zoo_set_op_init(&req->ops[i], req->opath[i], req->odata[i],
		    op->len, op->version, &req->stat);
		break;
	case ZK_OP_CREATE:
	case ZK_OP_CREATE_SEQ:
		req->created[i] = xcalloc(1, 1024);
		zoo_create_op_init(&req->ops[i], req->opath[i], req->odata[i],
		    op->len, zk_acl(zk),
		    zk_zoo_flags(op->flags
		        | (op->kind == ZK_OP_CREATE_SEQ ? ZK_SEQUENCE : 0)),
		    req->created[i], 1024);
		break;
	case ZK_OP_DELETE:
		zoo_delete_op_init(&req->ops[i], req->opath[i], op->version);
		break;
	}
}

/* check(fence) + up to five operations in one transaction. */
int
zk_fenced_multi(struct zk *zk, const char *fence, const struct zk_op *ops,
    int nops, zk_done_fn done, void *arg, uint64_t tag)
{
	struct zk_req *req;
	int i, rc;

	if (nops < 1 || nops >= ZK_MULTI_MAX)
		return -1;
	if ((req = zk_req_new(zk, ops[0].path, done, arg, tag)) == NULL)
		return -1;
	req->fence = xstrdup(fence);
	req->nops = nops + 1;
	zoo_check_op_init(&req->ops[0], req->fence, -1);
	for (i = 0; i < nops; i++)
		zk_multi_op(zk, req, i + 1, &ops[i]);
	for (i = 0; i < req->nops; i++)
		req->results[i].err = ZOK;
	rc = zoo_amulti(
	    zk->zh, req->nops, req->ops, req->results, zk_multi_done, req);
	return zk_req_sent(zk, req, rc, "zk_fenced_multi");
}

/*
 * One multi: check(fence, -1) + delete(path, version).  The leader ends
 * an override this way: a deposed leader cannot, and a changed override
 * (a new FORCE) is not removed by the expiry of the one before.
 */
int
zk_fenced_delete(struct zk *zk, const char *fence, const char *path,
    int version, zk_done_fn done, void *arg, uint64_t tag)
{
	struct zk_op op = {
	    .kind = ZK_OP_DELETE, .path = path, .version = version};

	return zk_fenced_multi(zk, fence, &op, 1, done, arg, tag);
}
