/*
 * probe_http.c - the HTTP check: one GET through libevent's evhttp client
 * on a fresh connection (Connection: close), healthy iff the status is in
 * the configured range.  The config guarantees an IP literal, so evhttp
 * gets no DNS base and never resolves.  Each request says which instance
 * sent it (X-Breakerd-Instance), so a dependency's logs, and the tests,
 * can tell that only the leader probes.  The timeout is probe.c's timer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "probe.h"
#include "util.h"

#ifndef BREAKERD_VERSION
#define BREAKERD_VERSION "unknown"
#endif

#define PROBE_HTTP_BODY_MAX (256 * 1024) /* a health page, not a download */

struct probe_http {
	struct probe *p;
	struct evhttp_connection *evcon;
	bool stopping; /* callbacks run during the free must do nothing */
	bool failed;   /* the error callback ran */
	enum evhttp_request_error error;
	int sockerr;
	uint16_t status_min;
	uint16_t status_max;
};

/* Free the connection, and with it a request still in flight. */
static void
probe_http_stop(void *arg)
{
	struct probe_http *h = arg;

	h->stopping = true;
	if (h->evcon != NULL)
		evhttp_connection_free(h->evcon);
	free(h);
}

/* evhttp says why a request failed; the request callback follows. */
static void
probe_http_error_cb(enum evhttp_request_error error, void *arg)
{
	struct probe_http *h = arg;

	h->sockerr = errno;
	if (h->stopping)
		return;
	h->failed = true;
	h->error = error;
}

/* A name for a failed request without a response. */
static const char *
probe_http_error_detail(const struct probe_http *h)
{
	/* libevent 2.1 sends a refused connect (and only a failed connect)
	 * straight to the request callback without the error callback, and
	 * errno does not survive the clean-up. */
	if (!h->failed)
		return "connect refused";
	switch (h->error) {
	case EVREQ_HTTP_TIMEOUT:
		return "HTTP timeout";
	case EVREQ_HTTP_EOF:
		if (h->sockerr == ECONNREFUSED || h->sockerr == ECONNRESET)
			return probe_errno_detail(h->sockerr);
		return "connection closed";
	case EVREQ_HTTP_INVALID_HEADER:
		return "invalid HTTP response";
	case EVREQ_HTTP_BUFFER_ERROR:
		return probe_errno_detail(h->sockerr);
	case EVREQ_HTTP_DATA_TOO_LONG:
		return "response too long";
	default:
		return "request failed";
	}
}

/* The response (or NULL on failure): judge the status. */
static void
probe_http_done_cb(struct evhttp_request *req, void *arg)
{
	struct probe_http *h = arg;
	int code;

	if (h->stopping)
		return;
	code = req == NULL ? 0 : evhttp_request_get_response_code(req);
	if (code == 0) {
		probe_finish(h->p, false, 0, "%s", probe_http_error_detail(h));
		return;
	}
	probe_finish(h->p, code >= h->status_min && code <= h->status_max, code,
	    "HTTP %d", code);
}

/* The request target of the URL: path and query, "/" when empty. */
static char *
probe_http_target(const char *url)
{
	struct evhttp_uri *uri;
	const char *path, *query;
	char *target;

	if (url == NULL || (uri = evhttp_uri_parse(url)) == NULL)
		return xstrdup("/");
	path = evhttp_uri_get_path(uri);
	if (path == NULL || *path == '\0')
		path = "/";
	query = evhttp_uri_get_query(uri);
	if (query != NULL)
		xasprintf(&target, "%s?%s", path, query);
	else
		target = xstrdup(path);
	evhttp_uri_free(uri);
	return target;
}

/* Fill the request's headers. */
static void
probe_http_headers(struct evhttp_request *req, const struct probe *p,
    const struct health_config *hc, const char *instance_id)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	char host[300];

	if (hc->port == 80)
		snprintf(host, sizeof(host), "%s", hc->host);
	else
		snprintf(host, sizeof(host), "%s:%u", hc->host, hc->port);
	evhttp_add_header(hdr, "Host", host);
	evhttp_add_header(hdr, "User-Agent", "breakerd/" BREAKERD_VERSION);
	evhttp_add_header(hdr, "X-Breakerd-Instance", instance_id);
	if (*probe_witness_for(p) != '\0')
		evhttp_add_header(
		    hdr, "X-Breakerd-Witness", probe_witness_for(p));
	evhttp_add_header(hdr, "Connection", "close");
}

/* Send one GET; the result comes through probe_finish(). */
int
probe_http_start(
    struct probe *p, const struct health_config *hc, const char *instance_id)
{
	struct probe_http *h;
	struct evhttp_request *req;
	char *target;
	int rc;

	if (hc->host == NULL || hc->port == 0) {
		log_warnx("probe_http_start: no host or port");
		return -1;
	}
	h = xcalloc(1, sizeof(*h));
	h->p = p;
	h->status_min = hc->status_min;
	h->status_max = hc->status_max;
	h->evcon =
	    evhttp_connection_base_new(probe_base(p), NULL, hc->host, hc->port);
	if (h->evcon == NULL) {
		log_warnx("probe_http_start: cannot connect to %s", hc->host);
		free(h);
		return -1;
	}
	probe_set_impl(p, h, probe_http_stop);
	evhttp_connection_set_retries(h->evcon, 0);
	evhttp_connection_set_max_body_size(h->evcon, PROBE_HTTP_BODY_MAX);
	req = evhttp_request_new(probe_http_done_cb, h);
	evhttp_request_set_error_cb(req, probe_http_error_cb);
	probe_http_headers(req, p, hc, instance_id);
	target = probe_http_target(hc->url);
	rc = evhttp_make_request(h->evcon, req, EVHTTP_REQ_GET, target);
	free(target);
	if (rc != 0)
		probe_finish(p, false, 0, "request failed");
	return 0;
}
