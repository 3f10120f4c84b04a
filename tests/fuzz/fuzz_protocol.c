/*
 * fuzz_protocol.c - libFuzzer target for the control protocol: any bytes
 * go through proto_parse() as one line, and what it hands back is checked
 * against the parser's promises (pointers inside the line, names valid,
 * limits kept) and pushed through every formatter.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A pointer the parser returned must lie inside the line buffer. */
static void
fuzz_inside(const char *p, const char *buf, size_t size)
{
	if (p != NULL && (p < buf || p > buf + size))
		abort();
}

/* Check a successful parse and format what it produced. */
static void
fuzz_check(const struct proto_request *req, const char *buf, size_t size)
{
	struct dep_view v;
	char out[PROTO_REPLY_MAX];

	memset(&v, 0, sizeof(v));
	if ((unsigned)req->cmd >= PROTO_NCMDS)
		abort();
	fuzz_inside(req->dep, buf, size);
	if (req->dep != NULL && !proto_valid_dep(req->dep))
		abort();
	if (req->reason == NULL || strlen(req->reason) > PROTO_REASON_MAX)
		abort();
	if (req->ndeps > PROTO_WATCH_MAX || req->ttl_s > PROTO_TTL_MAX
	    || req->duration_ms > PROTO_MS_MAX)
		abort();
	for (size_t i = 0; i < req->ndeps; i++) {
		fuzz_inside(req->deps[i], buf, size);
		if (!proto_valid_dep(req->deps[i]))
			abort();
	}
	if (req->dep != NULL) {
		v.name = req->dep;
		v.state = req->to < BREAKER_NSTATES ? req->to : BREAKER_CLOSED;
		v.version = req->ttl_s;
		v.authority = AUTH_LOCAL;
		v.ramp_ppm = req->duration_ms % (RAMP_ONE + 1);
		v.ramp_held = req->has_duration;
		if (proto_format_view(out, sizeof out, "EVENT ", &v) < 0)
			abort(); /* a 64-byte name always fits */
		proto_format_allow(out, sizeof out, false, &v);
	}
	proto_format_error(out, sizeof out, PROTO_EUNAVAIL, req->reason);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_request req;
	struct proto_error err;
	char *buf, out[PROTO_REPLY_MAX];

	buf = malloc(size + 1); /* the one spare byte the parser may write */
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	if (proto_parse(buf, size, &req, &err) == 0)
		fuzz_check(&req, buf, size);
	else {
		if (err.code < PROTO_EPROTO || err.code >= PROTO_NERRCODES
		    || memchr(err.msg, '\0', sizeof err.msg) == NULL)
			abort();
		if (proto_format_error(out, sizeof out, err.code, err.msg) < 0)
			abort(); /* every parser message fits a reply */
		if (strchr(out, '\n') != out + strlen(out) - 1)
			abort();
	}
	free(buf);
	return 0;
}
