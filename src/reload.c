/*
 * reload.c - compare the running configuration with a new one.  Only
 * settings that can change without touching the ZooKeeper session, the
 * socket or the fleet state are applied live (log_level, a dependency's
 * health, quorum, probe, breaker, ramp and fleet-window thresholds), and
 * dependencies added or removed (the daemon adds them to, or takes them
 * out of, the registry, the fleet, the prober and the shared table; here
 * only which ones, and the settings array rebuilt for them); every other
 * difference is reported, by name, as needing a restart, so that an
 * operator never believes a change took effect when it did not.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "registry.h"
#include "reload.h"
#include "util.h"

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

/* Does anything of a dependency differ (names equal)? */
static bool
reload_dep_differs(const struct dep_config *a, const struct dep_config *b)
{
	return reload_dep_changed(a, b)
	    || memcmp(&a->breaker, &b->breaker, sizeof(a->breaker)) != 0
	    || memcmp(&a->ramp, &b->ramp, sizeof(a->ramp)) != 0
	    || memcmp(
	           &a->fleet_window, &b->fleet_window, sizeof(a->fleet_window))
	    != 0;
}

/* The breaker line; reload_carry rewrites it with the counts. */
static void
reload_breaker_line(struct reload_report *r, const char *name,
    const struct breaker_settings *a, const struct breaker_settings *b)
{
	if (a->window_type != b->window_type)
		reload_line(r,
		    "applied: dependency %s breaker settings (window "
		    "restarted: kind changed %s -> %s)",
		    name, breaker_window_name(a->window_type),
		    breaker_window_name(b->window_type));
	else
		reload_line(r,
		    "applied: dependency %s breaker settings (window kept)",
		    name);
}

/*
 * What of the fleet window changes live: its thresholds and interval,
 * read where they are used, and switching it on or off (its window made
 * or dropped, its summaries published or withdrawn).  A new long window
 * of one that stays on (the leader's budget history is bucketed by it)
 * needs the fleet window built again: a restart.
 */
static unsigned
reload_fwin(struct reload_report *r, const char *name,
    const struct fleet_window_config *a, const struct fleet_window_config *b)
{
	if (memcmp(a, b, sizeof(*a)) == 0)
		return 0;
	if (a->enabled != b->enabled) {
		reload_line(r,
		    "applied: dependency %s fleet_window %s (fleet window "
		    "%s)",
		    name, b->enabled ? "added" : "removed",
		    b->enabled ? "started" : "stopped");
		return RELOAD_FWIN | RELOAD_FWIN_ON;
	}
	if (a->long_window_ms != b->long_window_ms) {
		r->nrestart++;
		reload_line(r,
		    "restart needed: dependency %s fleet_window."
		    "long_window_ms changed",
		    name);
		return 0;
	}
	reload_line(r,
	    "applied: dependency %s fleet_window settings (fleet window "
	    "kept)",
	    name);
	return RELOAD_FWIN;
}

/* One dependency in both: what of it changes live (all of it can). */
static void
reload_dep(struct reload_report *r, const struct dep_config *o, size_t ci,
    const struct dep_config *n, size_t ni)
{
	unsigned what = 0;
	size_t line = 0;

	if (!reload_dep_differs(o, n))
		return;
	if (r->napply == RELOAD_LINES_MAX) {
		/* Never claim what was not done: too many at once. */
		r->nrestart++;
		reload_line(r,
		    "restart needed: dependency %s changed (more than %d "
		    "dependencies changed in one reload)",
		    n->name, RELOAD_LINES_MAX);
		return;
	}
	if (reload_dep_changed(o, n)) {
		what |= RELOAD_HEALTH;
		reload_line(r,
		    "applied: dependency %s health, quorum and probe "
		    "settings (fleet state and window kept)",
		    n->name);
	}
	if (memcmp(&o->breaker, &n->breaker, sizeof(o->breaker)) != 0) {
		what |= RELOAD_BREAKER;
		line = r->nlines;
		reload_breaker_line(r, n->name, &o->breaker, &n->breaker);
	}
	if (memcmp(&o->ramp, &n->ramp, sizeof(o->ramp)) != 0) {
		what |= RELOAD_RAMP;
		reload_line(r,
		    "applied: dependency %s ramp settings (a running ramp "
		    "goes on from the same fraction of its course)",
		    n->name);
	}
	what |= reload_fwin(r, n->name, &o->fleet_window, &n->fleet_window);
	if (what == 0)
		return; /* only what needs a restart */
	r->apply_cur[r->napply] = ci;
	r->apply_next[r->napply] = ni;
	r->apply_what[r->napply] = what;
	r->apply_line[r->napply++] = line;
}

/*
 * A dependency new in b: added live, with its own election in a fleet
 * and, with a fleet window, its summaries published and (as its leader)
 * read.  One past the report's bounds needs a restart.
 */
static void
reload_added(const struct config *a, const struct config *b, size_t i,
    struct reload_report *r)
{
	const struct dep_config *d = &b->deps[i];
	const char *how;

	if (r->nadd == RELOAD_LINES_MAX) {
		r->nrestart++;
		reload_line(r, "restart needed: dependency %s added", d->name);
		return;
	}
	r->add_next[r->nadd++] = i;
	/* a's mode is the running one (a change of it needs a restart) */
	if (a->zk_hosts == NULL)
		how = "";
	else if (d->fleet_window.enabled)
		how = " (election joined, fleet window started)";
	else
		how = " (election joined)";
	reload_line(r, "applied: dependency %s added%s", d->name, how);
}

/* A dependency gone from the file: removed live, on the same terms. */
static void
reload_removed(const struct config *a, size_t i, struct reload_report *r)
{
	const struct dep_config *d = &a->deps[i];
	const char *how;

	if (r->nremove == RELOAD_LINES_MAX) {
		r->nrestart++;
		reload_line(
		    r, "restart needed: dependency %s removed", d->name);
		return;
	}
	r->remove_cur[r->nremove++] = i;
	if (a->zk_hosts == NULL)
		how = "";
	else if (d->fleet_window.enabled)
		how = " (election left, vote withdrawn, fleet window stopped)";
	else
		how = " (election left, vote withdrawn)";
	reload_line(r, "applied: dependency %s removed%s", d->name, how);
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
			reload_added(a, b, i, r);
			continue;
		}
		reload_dep(r, o, (size_t)(o - a->deps), &b->deps[i], i);
	}
	for (i = 0; i < a->ndeps; i++)
		if (config_find_dep(b, a->deps[i].name) == NULL)
			reload_removed(a, i, r);
}

/* Swap the live settings of the listed dependencies into cur. */
void
reload_apply(
    struct config *cur, struct config *next, const struct reload_report *r)
{
	size_t k;

	if (r->log_level)
		cur->log_level = next->log_level;
	for (k = 0; k < r->napply; k++) {
		struct dep_config *a = &cur->deps[r->apply_cur[k]];
		struct dep_config *b = &next->deps[r->apply_next[k]];
		unsigned what = r->apply_what[k];

		/* Swapped, not copied: next holds the old values, for
		 * reload_carry and for config_free to free. */
		if (what & RELOAD_HEALTH) {
			struct health_config h = a->health;
			struct quorum_config q = a->quorum;
			struct probe_config p = a->probe;

			a->health = b->health;
			a->quorum = b->quorum;
			a->probe = b->probe;
			b->health = h;
			b->quorum = q;
			b->probe = p;
		}
		if (what & RELOAD_BREAKER) {
			struct breaker_settings s = a->breaker;

			a->breaker = b->breaker;
			b->breaker = s;
		}
		if (what & RELOAD_RAMP) {
			struct ramp_config rc = a->ramp;

			a->ramp = b->ramp;
			b->ramp = rc;
		}
		if (what & RELOAD_FWIN) {
			struct fleet_window_config fw = a->fleet_window;

			a->fleet_window = b->fleet_window;
			b->fleet_window = fw;
		}
	}
}

/* The running breakers and ramps take the settings reload_apply swapped. */
void
reload_carry(struct reload_report *r, const struct config *cur,
    const struct config *next, struct registry *reg, uint64_t now_ms)
{
	struct breaker_carry c;
	char kept[56]; /* the longest text is 45 characters */
	size_t k;

	for (k = 0; k < r->napply; k++) {
		const struct dep_config *a = &cur->deps[r->apply_cur[k]];
		const struct dep_config *old = &next->deps[r->apply_next[k]];
		struct dep *d;

		if ((r->apply_what[k] & (RELOAD_BREAKER | RELOAD_RAMP)) == 0
		    || (d = registry_find(reg, a->name)) == NULL)
			continue;
		if (dep_reconfigure(d, &old->ramp, now_ms, &c) == -1
		    || (r->apply_what[k] & RELOAD_BREAKER) == 0
		    || r->apply_line[k] >= r->nlines)
			continue;
		breaker_carry_text(&c, kept, sizeof(kept));
		snprintf(r->lines[r->apply_line[k]], RELOAD_LINE_LEN,
		    "applied: dependency %s breaker settings (%s)", a->name,
		    kept);
	}
}

/* Is cur's entry i removed by r? */
static bool
reload_is_removed(const struct reload_report *r, size_t i)
{
	for (size_t k = 0; k < r->nremove; k++)
		if (r->remove_cur[k] == i)
			return true;
	return false;
}

struct dep_config *
reload_deps_rebuild(struct config *cur, struct config *next,
    const struct reload_report *r, size_t *nold)
{
	struct dep_config *old = cur->deps, *nd;
	size_t n = cur->ndeps - r->nremove + r->nadd, k = 0, i;

	nd = xcalloc(n > 0 ? n : 1, sizeof(*nd));
	for (i = 0; i < cur->ndeps; i++) {
		if (reload_is_removed(r, i))
			continue;
		nd[k++] = old[i];
		/* the strings are the new entry's now */
		old[i].health.url = NULL;
		old[i].health.host = NULL;
	}
	for (i = 0; i < r->nadd; i++) {
		struct dep_config *b = &next->deps[r->add_next[i]];

		nd[k++] = *b;
		b->health.url = NULL;
		b->health.host = NULL;
	}
	*nold = cur->ndeps;
	cur->deps = nd;
	cur->ndeps = k;
	return old;
}

void
reload_retired_free(struct dep_config *deps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(deps[i].health.url);
		free(deps[i].health.host);
	}
	free(deps);
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
