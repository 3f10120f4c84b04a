/*
 * metrics.h - Prometheus text exposition of the registry's counters and
 * the daemon's gauges (docs/metrics.md lists every series).
 */
#ifndef BREAKERD_METRICS_H
#define BREAKERD_METRICS_H

#include <stdint.h>

struct evbuffer;
struct prober;
struct registry;

/* Daemon-wide figures that the registry does not hold. */
struct metrics_daemon {
	const char *zk_session; /* fleet_session_name() */
	int ready;
	uint64_t uptime_s;
	uint64_t clients;        /* connected socket clients */
	uint64_t live_instances; /* 0 when standalone */
};

/* Append every series, HELP and TYPE lines included; prober may be NULL
 * (standalone). */
void metrics_render(struct evbuffer *, struct registry *, struct prober *,
    const struct metrics_daemon *, uint64_t now_ms);

#endif
