/*
 * errcode.h - how an asynchronous request ends: the error codes the
 * control socket names (docs/protocol.md, "ERR <CODE> <msg>") and the two
 * completion callbacks every module that finishes a request later calls.
 * A leaf: it includes nothing of breakerd, so a module can promise these
 * without pulling in the protocol parser or the module it reports to.
 */
#ifndef BREAKERD_ERRCODE_H
#define BREAKERD_ERRCODE_H

#include <stdint.h>

struct evbuffer;

/* The error taxonomy; 0 is success, so that done callbacks can pass 0. */
enum proto_errcode {
	PROTO_EPROTO = 1, /* malformed request, unknown command, bad arity */
	PROTO_ENOENT,     /* no such dependency */
	PROTO_EPERM,      /* admin command from a non-admin peer */
	PROTO_ETOOLONG,   /* line longer than PROTO_LINE_MAX */
	PROTO_EUNAVAIL,   /* the daemon cannot do it now (no fleet, no hook) */
	PROTO_EBUSY,      /* limits: clients, watch buffer; not leader */
	PROTO_NERRCODES
};

/*
 * Completion of a write (FORCE, PUBLISH, a prober's publish): code 0 and
 * the znode's new version (reply "OK <version>"), or an enum
 * proto_errcode and a one-line msg.  Called exactly once, on the loop
 * thread, possibly before the call that took it returns.
 */
typedef void (*done_fn)(int code, uint64_t version, const char *msg, void *arg);

/*
 * Completion of a request with a reply body (HISTORY, FLEET, RELOAD):
 * code 0 and body holding every reply line but the final "END" (which the
 * socket adds), or an enum proto_errcode and msg (body then NULL or
 * ignored).  Same rules as done_fn.
 */
typedef void (*body_fn)(
    int code, const char *msg, struct evbuffer *body, void *arg);

#endif
