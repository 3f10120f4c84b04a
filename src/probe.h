/*
 * probe.h - one active check of a dependency (a health check or a
 * half-open probe), run on the libevent loop without blocking: an HTTP GET
 * through evhttp or a TCP connect, each bounded by the check's timeout.
 * The caller gets exactly one result through done, always from a later
 * loop iteration, unless it cancels first.
 */
#ifndef BREAKERD_PROBE_H
#define BREAKERD_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"

struct probe;

struct probe_result {
	bool ok;
	int http_status; /* 0 when there was no HTTP response */
	uint32_t elapsed_ms;
	char detail[128]; /* "connect refused", "timeout after 1000 ms",
			     "HTTP 500", "HTTP 200", "connected" */
};

typedef void (*probe_done_cb)(const struct probe_result *, void *arg);

/*
 * Start a check of hc's target; instance_id goes into the HTTP request's
 * X-Breakerd-Instance header.  Returns NULL (and logs) only if the check
 * cannot even be set up; a target that fails is a result, not an error.
 * The probe frees itself after done returns: never cancel it from done.
 */
struct probe *probe_start(struct event_base *, const struct health_config *hc,
    const char *instance_id, probe_done_cb done, void *arg);
/*
 * The same check as a witness for the leader witness_for (its instance
 * id): HTTP checks also carry X-Breakerd-Witness: <witness_for>, so that
 * the dependency's log tells them from the leader's own checks.
 */
struct probe *probe_start_witness(struct event_base *,
    const struct health_config *hc, const char *instance_id,
    const char *witness_for, probe_done_cb done, void *arg);
/* Stop a running probe and free it; done is not called. */
void probe_cancel(struct probe *);

/*
 * Between probe.c and the executors (probe_http.c, probe_tcp.c).  An
 * executor starts its work and registers a stop function that frees it; it
 * reports with probe_finish(), which may be called from inside libevent's
 * callbacks: the result is delivered, and the executor stopped, from a
 * fresh loop iteration.
 */
typedef void (*probe_stop_cb)(void *impl);

void probe_set_impl(struct probe *, void *impl, probe_stop_cb stop);
void probe_finish(struct probe *, bool ok, int http_status, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
struct event_base *probe_base(const struct probe *);
/* "" or the leader a witness check is for. */
const char *probe_witness_for(const struct probe *);
/* Turn a connect errno into a short detail ("connect refused"). */
const char *probe_errno_detail(int err);

int probe_http_start(
    struct probe *, const struct health_config *, const char *instance_id);
int probe_tcp_start(struct probe *, const struct health_config *);

#endif
