/*
 * probe.c - what every kind of check shares: the timeout, the one-shot
 * result, and its delivery from a fresh loop iteration.  Executors report
 * from deep inside libevent's callbacks (evhttp's request callback, a
 * bufferevent event); freeing an evhttp connection there is unsafe, so
 * probe_finish() only records the result and activates an event whose
 * callback stops the executor, calls done and frees the probe.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "probe.h"
#include "util.h"

struct probe {
	struct event_base *base;
	struct event *timeout;
	struct event *deliver;
	probe_done_cb done;
	void *arg;
	void *impl;
	probe_stop_cb stop;
	uint64_t started_ms;
	uint32_t timeout_ms;
	bool finished;
	char witness_for[64]; /* a witness check: the leader that asked */
	struct probe_result result;
};

/* Stop the executor (it frees what it holds). */
static void
probe_stop_impl(struct probe *p)
{
	if (p->stop != NULL && p->impl != NULL)
		p->stop(p->impl);
	p->impl = NULL;
	p->stop = NULL;
}

/* Free the probe's events and the probe. */
static void
probe_free(struct probe *p)
{
	probe_stop_impl(p);
	event_free(p->timeout);
	event_free(p->deliver);
	free(p);
}

/* The deferred half of probe_finish(): stop, tell, free. */
static void
probe_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd;
	(void)what;
	probe_stop_impl(p);
	p->done(&p->result, p->arg);
	probe_free(p);
}

/* The check took too long. */
static void
probe_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd;
	(void)what;
	probe_finish(p, false, 0, "timeout after %u ms", p->timeout_ms);
}

/* Start a check of the configured kind. */
struct probe *
probe_start(struct event_base *base, const struct health_config *hc,
    const char *instance_id, probe_done_cb done, void *arg)
{
	return probe_start_witness(base, hc, instance_id, NULL, done, arg);
}

/* The one check start; witness_for tags a check a leader asked for. */
struct probe *
probe_start_witness(struct event_base *base, const struct health_config *hc,
    const char *instance_id, const char *witness_for, probe_done_cb done,
    void *arg)
{
	struct probe *p;
	struct timeval tv;
	int rc;

	p = xcalloc(1, sizeof(*p));
	if (witness_for != NULL)
		strlcpy_b(p->witness_for, witness_for, sizeof(p->witness_for));
	p->base = base;
	p->done = done;
	p->arg = arg;
	p->started_ms = now_mono_ms();
	p->timeout_ms = hc->timeout_ms == 0 ? 1000 : hc->timeout_ms;
	p->timeout = evtimer_new(base, probe_timeout_cb, p);
	p->deliver = event_new(base, -1, 0, probe_deliver_cb, p);
	if (p->timeout == NULL || p->deliver == NULL)
		fatalx("probe_start: event_new failed");
	tv.tv_sec = p->timeout_ms / 1000;
	tv.tv_usec = (p->timeout_ms % 1000) * 1000;
	evtimer_add(p->timeout, &tv);
	if (hc->kind == HEALTH_HTTP)
		rc = probe_http_start(p, hc, instance_id);
	else if (hc->kind == HEALTH_TCP)
		rc = probe_tcp_start(p, hc);
	else {
		log_warnx("probe_start: no health check target");
		rc = -1;
	}
	if (rc == -1) {
		probe_free(p);
		return NULL;
	}
	return p;
}

/* Stop a probe before it reported; done is not called. */
void
probe_cancel(struct probe *p)
{
	if (p != NULL)
		probe_free(p);
}

/* Attach the executor's state and how to stop it. */
void
probe_set_impl(struct probe *p, void *impl, probe_stop_cb stop)
{
	p->impl = impl;
	p->stop = stop;
}

/* The loop the probe runs on, for the executors. */
struct event_base *
probe_base(const struct probe *p)
{
	return p->base;
}

/* The leader a witness check is for; "" for the leader's own checks. */
const char *
probe_witness_for(const struct probe *p)
{
	return p->witness_for;
}

/* Record the one result and deliver it from a fresh loop iteration. */
void
probe_finish(struct probe *p, bool ok, int http_status, const char *fmt, ...)
{
	va_list ap;
	uint64_t now = now_mono_ms();

	if (p->finished)
		return;
	p->finished = true;
	p->result.ok = ok;
	p->result.http_status = http_status;
	p->result.elapsed_ms = (uint32_t)(now - p->started_ms);
	va_start(ap, fmt);
	vsnprintf(p->result.detail, sizeof(p->result.detail), fmt, ap);
	va_end(ap);
	evtimer_del(p->timeout);
	event_active(p->deliver, EV_TIMEOUT, 1);
}

/* A short name for why a connection failed. */
const char *
probe_errno_detail(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connect refused";
	case ECONNRESET:
		return "connection reset";
	case ETIMEDOUT:
		return "connect timed out";
	case EHOSTUNREACH:
	case ENETUNREACH:
		return "unreachable";
	case 0:
		return "connection closed";
	default:
		return strerror(err);
	}
}
