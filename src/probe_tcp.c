/*
 * probe_tcp.c - the TCP check: healthy iff a non-blocking connect to the
 * target completes before the timeout (probe.c's timer).  Nothing is sent;
 * the connection is closed as soon as it is up.  The config guarantees an
 * IP literal, so the address is parsed, never resolved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/util.h>

#include "log.h"
#include "probe.h"
#include "util.h"

struct probe_tcp {
	struct probe *p;
	struct bufferevent *bev;
};

/* Close the socket, connected or not. */
static void
probe_tcp_stop(void *arg)
{
	struct probe_tcp *t = arg;

	if (t->bev != NULL)
		bufferevent_free(t->bev);
	free(t);
}

/* Connected, or the connect failed. */
static void
probe_tcp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct probe_tcp *t = arg;
	int err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		probe_finish(t->p, true, 0, "connected");
	else
		probe_finish(t->p, false, 0, "%s", probe_errno_detail(err));
}

/* Parse host:port (IPv4 or IPv6 literal) into ss. */
static int
probe_tcp_addr(
    const struct health_config *hc, struct sockaddr_storage *ss, int *sslen)
{
	char buf[300];

	if (hc->host == NULL || hc->port == 0)
		return -1;
	if (strchr(hc->host, ':') != NULL && hc->host[0] != '[')
		snprintf(buf, sizeof(buf), "[%s]:%u", hc->host, hc->port);
	else
		snprintf(buf, sizeof(buf), "%s:%u", hc->host, hc->port);
	*sslen = (int)sizeof(*ss);
	return evutil_parse_sockaddr_port(buf, (struct sockaddr *)ss, sslen);
}

/* Start the connect; the result comes through probe_finish(). */
int
probe_tcp_start(struct probe *p, const struct health_config *hc)
{
	struct probe_tcp *t;
	struct sockaddr_storage ss;
	int sslen;

	if (probe_tcp_addr(hc, &ss, &sslen) == -1) {
		log_warnx("probe_tcp_start: bad address %s:%u",
		    hc->host == NULL ? "(none)" : hc->host, hc->port);
		return -1;
	}
	t = xcalloc(1, sizeof(*t));
	t->p = p;
	t->bev =
	    bufferevent_socket_new(probe_base(p), -1, BEV_OPT_CLOSE_ON_FREE);
	if (t->bev == NULL) {
		log_warnx("probe_tcp_start: bufferevent_socket_new failed");
		free(t);
		return -1;
	}
	probe_set_impl(p, t, probe_tcp_stop);
	bufferevent_setcb(t->bev, NULL, NULL, probe_tcp_event_cb, t);
	if (bufferevent_socket_connect(t->bev, (struct sockaddr *)&ss, sslen)
	    == -1)
		probe_finish(p, false, 0, "%s", probe_errno_detail(errno));
	return 0;
}
