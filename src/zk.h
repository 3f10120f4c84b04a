/*
 * zk.h - one ZooKeeper session and the hand-off of its callbacks to the
 * libevent loop.  libzookeeper_mt runs watchers and completions on its
 * own completion thread; here they only copy what they got into a queue
 * and wake the loop through an eventfd, so every caller of this module
 * sees results on the loop thread.  Requests are asynchronous only.  When
 * the session expires (or authentication fails) the handle is replaced by
 * a new one with a new generation; results of the old handle are dropped.
 * Only zk.c includes zookeeper.h: callers see the result codes, create
 * flags, watch events and the parts of a Stat below, in names of ours.
 */
#ifndef BREAKERD_ZK_H
#define BREAKERD_ZK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct event_base;
struct zk;

#define ZK_MULTI_MAX 6 /* a fenced multi: the fence and up to 5 operations */

/*
 * Result codes: ZooKeeper's own values (zk.c checks that they match), so
 * that any other code a request ends with still reads as itself in
 * zk_strerror.  Only those breakerd tests for are named.
 */
enum zk_rc {
	ZK_OK = 0,
	ZK_SYSTEMERROR = -1,
	ZK_RUNTIMEINCONSISTENCY = -2,
	ZK_CONNECTIONLOSS = -4,
	ZK_OPERATIONTIMEOUT = -7,
	ZK_INVALIDSTATE = -9,
	ZK_NONODE = -101,
	ZK_NOAUTH = -102,
	ZK_BADVERSION = -103,
	ZK_NODEEXISTS = -110,
	ZK_SESSIONEXPIRED = -112,
	ZK_CLOSING = -116,
};

/* Create flags (zk.c turns them into ZooKeeper's); 0 is persistent. */
enum zk_create_flag {
	ZK_EPHEMERAL = 1,
	ZK_SEQUENCE = 2,
	ZK_EPHEMERAL_SEQUENTIAL = ZK_EPHEMERAL | ZK_SEQUENCE,
};

/* What a watch saw fire (zk_watch_fn's type). */
enum zk_event {
	ZK_EV_OTHER,   /* anything else ZooKeeper may send */
	ZK_EV_CREATED, /* the znode was created */
	ZK_EV_DELETED, /* the znode was deleted */
	ZK_EV_CHANGED, /* its data changed */
	ZK_EV_CHILD,   /* its children changed */
};

/* What the session did, as the loop thread sees it. */
enum zk_session_event {
	ZK_SESS_CONNECTED,   /* connected; new says whether a new session */
	ZK_SESS_CONNECTING,  /* connection lost: the session may still live */
	ZK_SESS_EXPIRED,     /* the session is gone; a new one is opened */
	ZK_SESS_AUTH_FAILED, /* credentials refused; retried with backoff */
};

/*
 * What breakerd uses of a znode's Stat; ZooKeeper's struct Stat stays in
 * zk.c, which fills this in one place (zk_stat_from).
 */
struct zk_stat {
	struct znode_ver ver; /* czxid, mzxid, version: orders the contents */
	int64_t mtime;        /* server wall clock of the last change (ms) */
	int64_t ephemeral_owner; /* owning session; 0 for a persistent znode */
};

/* A completion, copied: only the members of the call's kind are set. */
struct zk_result {
	int rc;           /* ZK_OK or another enum zk_rc value */
	uint64_t tag;     /* what the caller passed with the request */
	uint64_t sent_ms; /* monotonic time the request was sent */
	bool has_stat;
	struct zk_stat stat;
	char *data;      /* get: the znode's data (NUL-terminated copy) */
	int datalen;     /* -1 if the znode holds no data */
	char *value;     /* create: the created path */
	char **children; /* get_children */
	int nchildren;
	int multi_err[ZK_MULTI_MAX]; /* multi: per-op results (fence first) */
};

/* Called on the loop thread with a result; r is freed after it returns. */
typedef void (*zk_done_fn)(const struct zk_result *r, void *arg);
/* A watch fired (type an enum zk_event); on the loop thread. */
typedef void (*zk_watch_fn)(int type, const char *path, void *arg);
/* Session changes; is_new is true on the first connect of a handle. */
typedef void (*zk_session_fn)(enum zk_session_event, bool is_new, void *arg);

/*
 * A watcher: one per watched path (or per purpose), allocated by the
 * caller and kept alive until zk_free; ZooKeeper fires the same
 * (function, context) pair on a path once.
 */
struct zk_watch {
	zk_watch_fn fn;
	void *arg;
	struct zk *zk;
};

struct zk *zk_new(struct event_base *, const char *hosts, uint32_t timeout_ms,
    const char *credential, zk_session_fn, void *arg);
/* Open the first handle.  Returns -1 if zookeeper_init failed at once. */
int zk_start(struct zk *);
/* Close the handle (ephemerals go at once) and free its requests. */
void zk_stop(struct zk *);
void zk_free(struct zk *);
void zk_watch_init(struct zk_watch *, struct zk *, zk_watch_fn, void *arg);

bool zk_connected(const struct zk *);
/* Negotiated session timeout T in ms (the configured one until known). */
uint32_t zk_timeout_ms(const struct zk *);
int64_t zk_session_id(const struct zk *);
uint64_t zk_generation(const struct zk *);
/* Send time of the last request the server answered (lease base). */
uint64_t zk_last_ok_send_ms(const struct zk *);
bool zk_has_auth(const struct zk *);
/* Is rc an answer from the server (the session was alive when it sent)? */
bool zk_rc_answered(int rc);
/* ZooKeeper's text for rc, for logs and replies. */
const char *zk_strerror(int rc);

/*
 * Requests.  Each returns 0 if sent (done is then called exactly once,
 * with ZK_CLOSING if the handle closes first), or -1 if it could not be
 * sent, and then done is never called.  watch may be NULL.
 */
int zk_create(struct zk *, const char *path, const char *data, int len,
    int flags, zk_done_fn, void *arg, uint64_t tag);
int zk_get(struct zk *, const char *path, struct zk_watch *, zk_done_fn,
    void *arg, uint64_t tag);
int zk_exists(struct zk *, const char *path, struct zk_watch *, zk_done_fn,
    void *arg, uint64_t tag);
int zk_children(struct zk *, const char *path, struct zk_watch *, zk_done_fn,
    void *arg, uint64_t tag);
int zk_set(struct zk *, const char *path, const char *data, int len,
    int version, zk_done_fn, void *arg, uint64_t tag);
int zk_delete(struct zk *, const char *path, int version, zk_done_fn, void *arg,
    uint64_t tag);
/*
 * One multi: check(fence, -1) + setData(path, version), or, with
 * version -1 and create true, check(fence) + create(path) persistent.
 */
int zk_fenced_write(struct zk *, const char *fence, const char *path,
    const char *data, int len, int version, bool create, zk_done_fn, void *arg,
    uint64_t tag);
/* One multi: check(fence, -1) + delete(path, version). */
int zk_fenced_delete(struct zk *, const char *fence, const char *path,
    int version, zk_done_fn, void *arg, uint64_t tag);
/* One multi: check(fence, -1) + create(path) with flags (ZK_EPHEMERAL). */
int zk_fenced_create(struct zk *, const char *fence, const char *path,
    const char *data, int len, int flags, zk_done_fn, void *arg, uint64_t tag);

/* One operation of a fenced multi (strings are copied). */
enum zk_op_kind { ZK_OP_SET, ZK_OP_CREATE, ZK_OP_CREATE_SEQ, ZK_OP_DELETE };
struct zk_op {
	enum zk_op_kind kind;
	const char *path;
	const char *data; /* SET, CREATE*: len bytes */
	int len;
	int version; /* SET, DELETE: expected version, -1 any */
	int flags;   /* CREATE*: more enum zk_create_flag (ZK_EPHEMERAL) */
};

/*
 * check(fence, -1) + nops operations (1..ZK_MULTI_MAX - 1), all or none.
 * The result's multi_err[0] is the fence's, multi_err[1 + i] op i's; on
 * success stat is the first SET's and value the first create's path.
 */
int zk_fenced_multi(struct zk *, const char *fence, const struct zk_op *ops,
    int nops, zk_done_fn, void *arg, uint64_t tag);

#endif
