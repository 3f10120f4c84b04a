/*
 * reload.c - compare the running configuration with a new one.  Only
 * settings that can change without touching the ZooKeeper session, the
 * socket or the dependencies' state are applied live (log_level); every
 * other difference is reported, by name, as needing a restart, so that an
 * operator never believes a change took effect when it did not.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "reload.h"

/* Add one report line (silently bounded). */
static void __attribute__((format(printf, 2, 3)))
reload_line(struct reload_report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->nlines == RELOAD_LINES_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(r->lines[r->nlines++], RELOAD_LINE_LEN, fmt, ap);
	va_end(ap);
}

/* Two optional strings differ? */
static bool
reload_strdiff(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* A setting that only a restart changes. */
static void
reload_restart(struct reload_report *r, const char *what)
{
	r->nrestart++;
	reload_line(r, "restart needed: %s changed", what);
}

/* Settings of the daemon itself, outside the dependencies. */
static void
reload_daemon(
    const struct config *a, const struct config *b, struct reload_report *r)
{
	if (strcmp(a->instance_id, b->instance_id) != 0)
		reload_restart(r, "instance_id");
	if (reload_strdiff(a->socket_path, b->socket_path)
	    || a->socket_mode != b->socket_mode
	    || reload_strdiff(a->socket_group, b->socket_group))
		reload_restart(r, "socket (path, mode or group)");
	if (a->n_admin_uids != b->n_admin_uids
	    || (a->n_admin_uids > 0
	        && memcmp(a->admin_uids, b->admin_uids,
	               a->n_admin_uids * sizeof(*a->admin_uids))
	            != 0))
		reload_restart(r, "socket.admin_uids");
	if (a->max_clients != b->max_clients
	    || a->idle_timeout_ms != b->idle_timeout_ms
	    || a->watch_buffer_max != b->watch_buffer_max)
		reload_restart(r, "socket limits");
	if (reload_strdiff(a->zk_hosts, b->zk_hosts)
	    || a->zk_session_timeout_ms != b->zk_session_timeout_ms
	    || reload_strdiff(a->zk_root, b->zk_root)
	    || reload_strdiff(a->zk_credential_file, b->zk_credential_file)
	    || a->unreachable != b->unreachable
	    || a->zk_history_keep != b->zk_history_keep
	    || a->startup_wait_ms != b->startup_wait_ms)
		reload_restart(r, "zookeeper settings");
	if (reload_strdiff(a->shm_path, b->shm_path)
	    || a->shm_drain_ms != b->shm_drain_ms)
		reload_restart(r, "socket.shm_path or shm_drain_ms");
	if (a->metrics_port != b->metrics_port
	    || reload_strdiff(a->metrics_address, b->metrics_address))
		reload_restart(r, "metrics_port or metrics_address");
	if (a->log_level != b->log_level) {
		r->log_level = true;
		reload_line(r, "applied: log_level %s -> %s",
		    log_level_name((enum log_level)a->log_level),
		    log_level_name((enum log_level)b->log_level));
	}
}

/* Do two dependencies' live settings differ (names equal)? */
static bool
reload_dep_changed(const struct dep_config *a, const struct dep_config *b)
{
	return memcmp(&a->quorum, &b->quorum, sizeof(a->quorum)) != 0
	    || memcmp(&a->probe, &b->probe, sizeof(a->probe)) != 0
	    || a->health.kind != b->health.kind
	    || reload_strdiff(a->health.url, b->health.url)
	    || reload_strdiff(a->health.host, b->health.host)
	    || a->health.port != b->health.port
	    || a->health.interval_ms != b->health.interval_ms
	    || a->health.jitter_ms != b->health.jitter_ms
	    || a->health.timeout_ms != b->health.timeout_ms
	    || a->health.healthy_threshold != b->health.healthy_threshold
	    || a->health.unhealthy_threshold != b->health.unhealthy_threshold
	    || a->health.status_min != b->health.status_min
	    || a->health.status_max != b->health.status_max;
}

/* Dependencies added, removed or changed. */
static void
reload_deps(
    const struct config *a, const struct config *b, struct reload_report *r)
{
	const struct dep_config *o;
	size_t i;

	for (i = 0; i < b->ndeps; i++) {
		if ((o = config_find_dep(a, b->deps[i].name)) == NULL) {
			r->nrestart++;
			reload_line(r, "restart needed: dependency %s added",
			    b->deps[i].name);
			continue;
		}
		if (memcmp(&o->breaker, &b->deps[i].breaker, sizeof(o->breaker))
		    != 0) {
			r->nrestart++;
			reload_line(r,
			    "restart needed: dependency %s breaker settings "
			    "changed",
			    b->deps[i].name);
		}
		if (memcmp(&o->ramp, &b->deps[i].ramp, sizeof(o->ramp)) != 0
		    || memcmp(&o->fleet_window, &b->deps[i].fleet_window,
		           sizeof(o->fleet_window))
		        != 0) {
			r->nrestart++;
			reload_line(r,
			    "restart needed: dependency %s ramp or "
			    "fleet_window "
			    "settings changed",
			    b->deps[i].name);
		}
		if (reload_dep_changed(o, &b->deps[i])
		    && r->napply < RELOAD_LINES_MAX) {
			r->apply_cur[r->napply] = (size_t)(o - a->deps);
			r->apply_next[r->napply++] = i;
			reload_line(r,
			    "applied: dependency %s health, quorum and probe "
			    "settings (fleet state and window kept)",
			    b->deps[i].name);
		}
	}
	for (i = 0; i < a->ndeps; i++)
		if (config_find_dep(b, a->deps[i].name) == NULL) {
			r->nrestart++;
			reload_line(r, "restart needed: dependency %s removed",
			    a->deps[i].name);
		}
}

/* Swap the live settings of the listed dependencies into cur. */
void
reload_apply(
    struct config *cur, struct config *next, const struct reload_report *r)
{
	struct health_config h;
	size_t k;

	if (r->log_level)
		cur->log_level = next->log_level;
	for (k = 0; k < r->napply; k++) {
		struct dep_config *a = &cur->deps[r->apply_cur[k]];
		struct dep_config *b = &next->deps[r->apply_next[k]];

		h = a->health;
		a->health = b->health;
		b->health = h;
		a->quorum = b->quorum;
		a->probe = b->probe;
	}
}

void
reload_diff(const struct config *cur, const struct config *next,
    struct reload_report *r)
{
	memset(r, 0, sizeof(*r));
	reload_daemon(cur, next, r);
	reload_deps(cur, next, r);
	if (r->nlines == 0)
		reload_line(r, "no change");
}
