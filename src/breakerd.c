/*
 * breakerd.c - the daemon: read the configuration, build the registry,
 * open the control socket, join the fleet in ZooKeeper (unless
 * standalone) and run the libevent loop until SIGTERM or SIGINT.
 *
 * Readiness: once every dependency's fleet state has been read (or at
 * once standalone) the daemon tells systemd READY=1 (sd_notify; a no-op
 * when not started by systemd); STATUS says ready=1 from the same test.
 * Until then, answers about an unread dependency are held by the control
 * socket for at most startup_wait_ms.
 *
 * This file only wires modules together: what a module reports through a
 * hook is passed on to the modules that care (a changed view goes to the
 * log, to WATCH clients and to the prober; a local trip goes to the vote
 * in ZooKeeper).  All of it runs on the loop thread.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "control.h"
#include "fleet.h"
#include "log.h"
#include "metrics.h"
#include "prober.h"
#include "instdata.h"
#include "summary.h"
#include "errcode.h"
#include "registry.h"
#include "reload.h"
#include "shm.h"
#include "util.h"

#define TICK_MS 100 /* local open waits and override expiry */

struct daemon {
	struct config cfg;
	int debug; /* -d: debug logging whatever log_level says */
	struct event_base *base;
	struct registry *reg;
	struct control *ctl;
	struct fleet *fleet;       /* NULL when standalone */
	struct prober *prober;     /* NULL when standalone */
	struct instdata *instdata; /* our instance znode's data; fleet only */
	struct summary *summary;   /* NULL without a fleet window */
	struct evhttp *http;       /* metrics listener, or NULL */
	struct event *tick_ev;
	struct event *wait_ev;  /* startup_wait_ms */
	struct shm *shm;        /* shared-memory table, or NULL */
	struct event *drain_ev; /* its heartbeat and counter drain */
	struct event *sig_evs[3];
	struct daemon_wait *waits;   /* added dependencies' start-up waits */
	struct dep_config **retired; /* dependency arrays a reload replaced */
	size_t *nretired;            /* (and their lengths) */
	size_t nretire;
	bool notified_ready; /* READY=1 sent */
	uint64_t started_ms;
	uint64_t local_override_version; /* standalone FORCE count */
	int exit_status;
};

static uint64_t daemon_seed(void);

/* The start-up wait of a dependency added by a reload. */
struct daemon_wait {
	struct daemon *dm;
	struct dep *d;
	struct event *ev;
	struct daemon_wait *next;
};

static void
daemon_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: breakerd [-dhnV] [-f file]\n"
	    "  -f file   configuration (default %s)\n"
	    "  -n        check the configuration and exit (78 if it is bad)\n"
	    "  -d        log at debug level (overrides log_level)\n"
	    "  -V        print the version and exit\n"
	    "  -h        this help\n"
	    "Runs in the foreground and logs to stderr; SIGTERM or SIGINT\n"
	    "stop it gracefully; SIGHUP re-reads the configuration (as\n"
	    "breakerctl reload).  See breakerd(8) and docs/.\n",
	    "/etc/breakerd/breakerd.json");
}

/* The effective view changed: log it, tell WATCH clients. */
static void
daemon_changed(struct dep *d, const struct dep_view *old,
    const struct dep_view *now, const char *reason, void *arg)
{
	struct daemon *dm = arg;

	if (dm->fleet != NULL
	    && (old->version != now->version
	        || old->authority != now->authority))
		fleet_applied(dm->fleet);
	if (old->state != now->state)
		log_info("%s: %s -> %s (%s) [%s v%llu]", dep_name(d),
		    breaker_state_name(old->state),
		    breaker_state_name(now->state), reason,
		    authority_name(now->authority),
		    (unsigned long long)now->version);
	else
		log_debug("%s: %s %s v%llu (%s)", dep_name(d),
		    breaker_state_name(now->state),
		    authority_name(now->authority),
		    (unsigned long long)now->version, reason);
	if (dm->ctl != NULL)
		control_notify(dm->ctl, now);
	if (dm->prober != NULL && now->version != old->version)
		prober_fleet_changed(dm->prober, d);
	shm_publish(dm->shm, d);
}

/* Tell systemd (and the log) once every dependency is synced. */
static void
daemon_check_ready(struct daemon *dm)
{
	if (dm->notified_ready || !registry_ready(dm->reg))
		return;
	dm->notified_ready = true;
	log_info("ready: every dependency's fleet state is read");
	sd_notify(0, "READY=1\nSTATUS=ready: every dependency synced");
}

/* Held answers may go: a fleet state was read, or the wait ended. */
static void
daemon_release(struct dep *d, void *arg)
{
	struct daemon *dm = arg;

	if (dm->ctl != NULL)
		control_release(dm->ctl, d);
	daemon_check_ready(dm);
}

/* startup_wait_ms is over: unread dependencies answer `local`. */
static void
daemon_wait_over(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *dm = arg;
	size_t i, unread = 0;

	(void)fd;
	(void)what;
	for (i = 0; i < registry_count(dm->reg); i++)
		if (dep_must_hold(registry_at(dm->reg, i)))
			unread++;
	if (unread > 0) {
		log_warnx("startup_wait_ms (%u) over with %zu dependencies' "
		          "fleet state unread: answering them from the local "
		          "breaker (authority local)",
		    dm->cfg.startup_wait_ms, unread);
		sd_notify(0, "STATUS=answering local: fleet state unread");
	}
	registry_wait_over(dm->reg, now_mono_ms());
}

/* The local breaker tripped or recovered. */
static void
daemon_local_vote(
    struct dep *d, bool tripped, const struct breaker_stats *st, void *arg)
{
	struct daemon *dm = arg;

	if (dm->fleet != NULL)
		fleet_vote(dm->fleet, d, tripped, st);
	log_info("%s: local breaker %s (%u calls, failure rate %d%%)",
	    dep_name(d), tripped ? "tripped" : "recovered", st->calls,
	    st->failure_rate_pct);
}

/* STATUS: an override in force, and its ttl left as measured here. */
static void
daemon_status_override(struct evbuffer *out, struct dep *d, uint64_t now)
{
	const struct override_record *o = dep_override(d, NULL);
	uint64_t left;

	if (o == NULL)
		return;
	evbuffer_add_printf(
	    out, "override.%s=%s", dep_name(d), breaker_state_name(o->state));
	if (dep_override_left(d, now, &left))
		evbuffer_add_printf(out, " ttl_ms=%llu ttl_left_ms=%llu",
		    (unsigned long long)o->ttl_ms, (unsigned long long)left);
	else
		evbuffer_add_printf(out, " ttl_ms=0");
	evbuffer_add_printf(out, " by=%s\n", o->by[0] != '\0' ? o->by : "?");
}

/* STATUS: key=value lines. */
static void
daemon_status(struct evbuffer *out, void *arg)
{
	struct daemon *dm = arg;
	uint64_t now = now_mono_ms();
	struct control_stats cs;
	struct dep_view v;

	evbuffer_add_printf(out,
	    "instance_id=%s\nversion=%s\npid=%ld\nuptime_s=%llu\n"
	    "mode=%s\ndeps=%zu\n",
	    dm->cfg.instance_id, BREAKERD_VERSION, (long)getpid(),
	    (unsigned long long)((now - dm->started_ms) / 1000),
	    dm->cfg.zk_hosts == NULL ? "standalone" : "fleet",
	    registry_count(dm->reg));
	/* fleet_status has its own zk_session and ready lines. */
	if (dm->fleet != NULL)
		fleet_status(dm->fleet, out);
	else
		evbuffer_add_printf(out, "zk_session=standalone\nready=1\n");
	if (dm->prober != NULL)
		prober_status(dm->prober, out);
	control_stats(dm->ctl, &cs);
	evbuffer_add_printf(out, "startup_wait=%s\nanswers_held=%llu\n",
	    registry_waiting(dm->reg) ? "waiting" : "over",
	    (unsigned long long)cs.held);
	if (dm->prober != NULL)
		prober_status_witness(dm->prober, out);
	if (dm->summary != NULL)
		summary_status(dm->summary, out);
	for (size_t i = 0; i < registry_count(dm->reg); i++) {
		struct dep *d = registry_at(dm->reg, i);

		dep_view(d, now, &v);
		evbuffer_add_printf(out, "dep.%s=%s %llu %s%s%s\n", v.name,
		    breaker_state_name(v.state), (unsigned long long)v.version,
		    authority_name(v.authority),
		    dep_is_leader(d) ? " leader" : "",
		    dep_must_hold(d) ? " held" : "");
		daemon_status_override(out, d, now);
		if (v.ramp_ppm != 0)
			evbuffer_add_printf(out, "ramp.%s=%u.%u%%\n", v.name,
			    v.ramp_ppm / 10000, v.ramp_ppm / 1000 % 10);
	}
}

/* METRICS: Prometheus text. */
static void
daemon_metrics(struct evbuffer *out, void *arg)
{
	struct daemon *dm = arg;
	uint64_t now = now_mono_ms();
	struct control_stats cs;
	struct metrics_daemon md = {
	    .zk_session = fleet_session_name(registry_session(dm->reg)),
	    .ready = registry_ready(dm->reg),
	    .uptime_s = (now - dm->started_ms) / 1000,
	};

	control_stats(dm->ctl, &cs);
	md.clients = cs.clients;
	if (dm->fleet != NULL)
		md.live_instances = fleet_live_instances(dm->fleet);

	metrics_render(out, dm->reg, dm->prober, &md, now);
	shm_metrics(dm->shm, out);
	if (dm->summary != NULL)
		summary_metrics(dm->summary, out);
	if (dm->fleet != NULL)
		fleet_metrics(dm->fleet, out);
}

/* GET /metrics on the optional HTTP listener, for Prometheus scrapers. */
static void
daemon_http_metrics(struct evhttp_request *req, void *arg)
{
	struct daemon *dm = arg;
	struct evbuffer *out;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	daemon_metrics(out, dm);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* Listen for scrapers on metrics_address:metrics_port (if configured). */
static void
daemon_setup_http(struct daemon *dm)
{
	if (dm->cfg.metrics_port == 0)
		return;
	if ((dm->http = evhttp_new(dm->base)) == NULL)
		fatalx("evhttp_new failed");
	evhttp_set_allowed_methods(dm->http, EVHTTP_REQ_GET);
	evhttp_set_timeout(dm->http, 10);
	evhttp_set_cb(dm->http, "/metrics", daemon_http_metrics, dm);
	if (evhttp_bind_socket(
	        dm->http, dm->cfg.metrics_address, dm->cfg.metrics_port)
	    != 0)
		fatal("cannot listen for metrics on %s port %u",
		    dm->cfg.metrics_address, (unsigned)dm->cfg.metrics_port);
	log_info("metrics: http://%s:%u/metrics", dm->cfg.metrics_address,
	    (unsigned)dm->cfg.metrics_port);
}

/* FORCE: the override znode in a fleet, this daemon's memory standalone. */
static void
daemon_force(struct dep *d, enum breaker_state to, uint32_t ttl_s,
    const char *reason, uid_t uid, done_fn done, void *done_arg, void *arg)
{
	struct daemon *dm = arg;
	uint64_t now = now_mono_ms();
	struct override_record rec;
	char by[32];

	snprintf(by, sizeof(by), "uid %u", (unsigned)uid);
	if (dm->fleet != NULL) {
		fleet_force(
		    dm->fleet, d, to, ttl_s, reason, by, done, done_arg);
		return;
	}
	if (to == BREAKER_NSTATES)
		dep_apply_override(d, NULL, NULL, now);
	else {
		memset(&rec, 0, sizeof(rec));
		rec.state = to;
		rec.ttl_ms = (uint64_t)ttl_s * 1000; /* ends by registry_tick */
		strlcpy_b(rec.by, by, sizeof(rec.by));
		strlcpy_b(rec.reason, reason, sizeof(rec.reason));
		dep_apply_override(d, &rec, NULL, now);
	}
	done(0, ++dm->local_override_version, NULL, done_arg);
}

/* PUBLISH: only a leader can, and only in a fleet. */
static void
daemon_publish(struct dep *d, enum breaker_state to, const char *reason,
    uid_t uid, done_fn done, void *done_arg, void *arg)
{
	struct daemon *dm = arg;
	char why[160];

	if (dm->fleet == NULL) {
		done(PROTO_EUNAVAIL, 0, "standalone: no fleet to publish to",
		    done_arg);
		return;
	}
	snprintf(why, sizeof(why), "published by uid %u%s%s", (unsigned)uid,
	    *reason != '\0' ? ": " : "", reason);
	fleet_publish(dm->fleet, d, to, why, NULL, done, done_arg);
}

/* HISTORY: the fleet's transition history (none standalone). */
static void
daemon_history(struct dep *d, size_t n, body_fn done, void *done_arg, void *arg)
{
	struct daemon *dm = arg;

	if (dm->fleet == NULL) {
		done(PROTO_EUNAVAIL, "standalone: no fleet history", NULL,
		    done_arg);
		return;
	}
	fleet_history(dm->fleet, d, n, done, done_arg);
}

/* Acknowledgements join the instance znode's other keys (instdata). */
static void
daemon_ack_sink(const char *key, void *value, void *arg)
{
	instdata_set(arg, key, value);
}

/* FLEET: every instance's acknowledgements (fleet mode). */
static void
daemon_fleet(body_fn done, void *done_arg, void *arg)
{
	struct daemon *dm = arg;

	if (dm->fleet == NULL) {
		done(PROTO_EUNAVAIL, "standalone: no fleet", NULL, done_arg);
		return;
	}
	fleet_view(dm->fleet, done, done_arg);
}

/* Leadership of a dependency moved to or from this instance. */
static void
daemon_leader(struct dep *d, bool is_leader, void *arg)
{
	struct daemon *dm = arg;

	log_info(
	    "%s: %s leader", dep_name(d), is_leader ? "became" : "no longer");
	if (dm->prober != NULL)
		prober_leader_changed(dm->prober, d, is_leader);
}

static void
daemon_votes(struct dep *d, size_t votes, size_t live, void *arg)
{
	struct daemon *dm = arg;

	log_debug("%s: %zu trip votes of %zu live instances", dep_name(d),
	    votes, live);
	if (dm->prober != NULL)
		prober_votes_changed(dm->prober, d);
}

/* The fleet cannot go on (e.g. our instance id is held by another). */
static void
daemon_fatal(const char *msg, void *arg)
{
	struct daemon *dm = arg;

	log_warnx("fatal: %s", msg);
	dm->exit_status = 1;
	event_base_loopbreak(dm->base);
}

static bool
daemon_prober_may_act(struct dep *d, void *arg)
{
	struct daemon *dm = arg;

	return fleet_is_leader(dm->fleet, d)
	    && fleet_lease_valid(dm->fleet, now_mono_ms());
}

static void
daemon_prober_publish(struct dep *d, const struct state_record *next,
    done_fn done, void *done_arg, void *arg)
{
	struct daemon *dm = arg;

	fleet_publish(
	    dm->fleet, d, next->state, next->reason, next, done, done_arg);
}

static size_t
daemon_prober_votes(struct dep *d, void *arg)
{
	struct daemon *dm = arg;

	return fleet_vote_count(dm->fleet, d);
}

static size_t
daemon_prober_live(void *arg)
{
	struct daemon *dm = arg;

	return fleet_live_instances(dm->fleet);
}

/* Ask the next candidate before our own checks open dep for everyone. */
static void
daemon_prober_corroborate(struct dep *d, uint32_t checks, uint32_t timeout_ms,
    witness_done_fn done, void *done_arg, void *arg)
{
	struct daemon *dm = arg;

	fleet_corroborate(dm->fleet, d, checks, timeout_ms, done, done_arg);
}

/* Blind for dep: let a seeing instance lead it. */
static void
daemon_prober_hand_over(struct dep *d, void *arg)
{
	struct daemon *dm = arg;

	fleet_hand_over(dm->fleet, d);
}

/* Trip votes of the other instances: the fleet's traffic failing too. */
static size_t
daemon_prober_other_votes(struct dep *d, void *arg)
{
	struct daemon *dm = arg;

	return fleet_other_votes(dm->fleet, d);
}

/* Another leader asks us, as its witness, to check dep. */
static void
daemon_witness_check(struct dep *d, const char *leader, uint32_t n,
    witness_check_done_fn done, void *ctx, void *arg)
{
	struct daemon *dm = arg;
	struct witness_run none;

	if (dm->prober == NULL) { /* shutting down: nothing checks */
		memset(&none, 0, sizeof(none));
		done(&none, ctx);
		return;
	}
	prober_witness_check(dm->prober, d, leader, n, done, ctx);
}

/* That request went away. */
static void
daemon_witness_cancel(struct dep *d, void *arg)
{
	struct daemon *dm = arg;

	if (dm->prober != NULL)
		prober_witness_cancel(dm->prober, d);
}

static void
daemon_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *dm = arg;

	(void)fd;
	(void)what;
	registry_tick(dm->reg, now_mono_ms());
	daemon_check_ready(dm);
}

/* The shared table's heartbeat and the drain of its counters. */
static void
daemon_drain(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *dm = arg;

	(void)fd;
	(void)what;
	shm_drain(dm->shm, now_mono_ms());
}

/* Publish the shared-memory table (if configured) and drain it. */
static void
daemon_setup_shm(struct daemon *dm)
{
	struct timeval tv = {(time_t)(dm->cfg.shm_drain_ms / 1000),
	    (suseconds_t)(dm->cfg.shm_drain_ms % 1000) * 1000};

	if (dm->cfg.shm_path == NULL)
		return;
	dm->shm = shm_open_table(&dm->cfg, dm->reg, now_mono_ms());
	if (dm->shm == NULL) {
		log_warnx("shm: no state table: applications use the socket");
		return;
	}
	dm->drain_ev = event_new(dm->base, -1, EV_PERSIST, daemon_drain, dm);
	event_add(dm->drain_ev, &tv);
}

/* An added dependency's start-up wait is over (it may be gone). */
static void
daemon_wait_dep_over(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_wait *w = arg, **pp;
	struct daemon *dm = w->dm;

	(void)fd;
	(void)what;
	if (!dep_removed(w->d) && dep_must_hold(w->d))
		log_warnx("%s: startup_wait_ms (%u) over with its fleet state "
		          "unread: answering from the local breaker",
		    dep_name(w->d), dm->cfg.startup_wait_ms);
	registry_dep_wait_over(dm->reg, w->d);
	for (pp = &dm->waits; *pp != w; pp = &(*pp)->next)
		;
	*pp = w->next;
	event_free(w->ev);
	free(w);
}

/* Hold answers about an added dependency as a joining instance does. */
static void
daemon_wait_dep(struct daemon *dm, struct dep *d)
{
	struct daemon_wait *w = xcalloc(1, sizeof(*w));
	struct timeval tv = {(time_t)(dm->cfg.startup_wait_ms / 1000),
	    (suseconds_t)(dm->cfg.startup_wait_ms % 1000) * 1000};

	w->dm = dm;
	w->d = d;
	if ((w->ev = evtimer_new(dm->base, daemon_wait_dep_over, w)) == NULL)
		fatalx("evtimer_new failed");
	w->next = dm->waits;
	dm->waits = w;
	evtimer_add(w->ev, &tv);
}

/*
 * A dependency the file no longer has: out of the fleet (election left,
 * vote withdrawn, watches dropped), the prober and the shared table,
 * then the registry.  Its fleet state znode stays: other instances may
 * still have it.
 */
static void
daemon_remove_dep(struct daemon *dm, struct dep *d)
{
	summary_remove_dep(dm->summary, d);
	if (dm->fleet != NULL)
		fleet_remove_dep(dm->fleet, d);
	if (dm->prober != NULL)
		prober_remove_dep(dm->prober, d);
	shm_remove_dep(dm->shm, d);
	if (dm->ctl != NULL)
		control_forget(dm->ctl, d);
	registry_remove(dm->reg, d);
	log_info("%s: removed", dep_name(d));
}

/* A dependency's fleet window, added live (nothing without one). */
static void
daemon_summary_add(struct daemon *dm, struct dep *d)
{
	if (dm->fleet == NULL)
		return;
	if (dm->summary == NULL) /* the first with a fleet window */
		dm->summary = summary_new(dm->base, &dm->cfg, dm->reg,
		    dm->fleet, dm->prober, dm->instdata);
	else
		summary_add_dep(dm->summary, d);
}

/* A dependency new in the file: in the registry, prober, fleet, table. */
static void
daemon_add_dep(struct daemon *dm, const struct dep_config *c)
{
	struct dep *d = registry_add(dm->reg, c, daemon_seed(), now_mono_ms());

	if (dm->prober != NULL)
		prober_add_dep(dm->prober, d);
	if (dm->fleet != NULL) {
		daemon_wait_dep(dm, d);
		fleet_add_dep(dm->fleet, d);
		daemon_summary_add(dm, d);
	}
	shm_add_dep(dm->shm, d);
	log_info("%s: added%s", dep_name(d),
	    dm->fleet != NULL ? ": reading its fleet state" : "");
}

/*
 * Dependencies added or removed: the removed ones go first, then the
 * array is rebuilt (the old one is kept, as the removed dependencies'
 * memory is, for what may still point into it) and everything that
 * points at settings is rebound, then the added ones come in.
 */
static void
daemon_reload_deps(
    struct daemon *dm, struct config *next, const struct reload_report *r)
{
	struct dep_config *old;
	size_t k, nold;
	struct dep *d;

	if (r->nadd == 0 && r->nremove == 0)
		return;
	for (k = 0; k < r->nremove; k++)
		if ((d = registry_find(
		         dm->reg, dm->cfg.deps[r->remove_cur[k]].name))
		    != NULL)
			daemon_remove_dep(dm, d);
	old = reload_deps_rebuild(&dm->cfg, next, r, &nold);
	dm->retired =
	    xreallocarray(dm->retired, dm->nretire + 1, sizeof(*dm->retired));
	dm->nretired =
	    xreallocarray(dm->nretired, dm->nretire + 1, sizeof(*dm->nretired));
	dm->retired[dm->nretire] = old;
	dm->nretired[dm->nretire++] = nold;
	registry_rebind(dm->reg, &dm->cfg);
	if (dm->prober != NULL)
		prober_rebind(dm->prober);
	summary_rebind(dm->summary);
	for (k = dm->cfg.ndeps - r->nadd; k < dm->cfg.ndeps; k++)
		daemon_add_dep(dm, &dm->cfg.deps[k]);
}

/*
 * Fleet windows switched on or off (reload_apply set the dependency's
 * settings): made or dropped as for a dependency added or removed.
 * Before the array is rebuilt: apply_cur indexes the current one.
 */
static void
daemon_reload_fwin(struct daemon *dm, const struct reload_report *r)
{
	struct dep *d;

	for (size_t k = 0; k < r->napply; k++) {
		if ((r->apply_what[k] & RELOAD_FWIN_ON) == 0
		    || (d = registry_find(
		            dm->reg, dm->cfg.deps[r->apply_cur[k]].name))
		        == NULL)
			continue;
		if (dep_config(d)->fleet_window.enabled)
			daemon_summary_add(dm, d);
		else
			summary_remove_dep(dm->summary, d);
	}
}

/*
 * Re-read the configuration: validated fully first (a bad file changes
 * nothing), then what can change live is applied and every other
 * difference reported as needing a restart.  -1 and err on a bad file.
 */
static int
daemon_reload(struct daemon *dm, struct evbuffer *out, char *err, size_t len)
{
	struct reload_report r;
	struct config next;
	size_t i;

	memset(&next, 0, sizeof(next));
	if (dm->cfg.path == NULL) {
		snprintf(err, len, "no configuration file to read");
		return -1;
	}
	if (config_load(dm->cfg.path, &next, err, len) == -1) {
		log_warnx("reload: %s; nothing changed", err);
		return -1;
	}
	reload_diff(&dm->cfg, &next, &r);
	reload_apply(&dm->cfg, &next, &r);
	reload_carry(&r, &dm->cfg, &next, dm->reg, now_mono_ms());
	daemon_reload_fwin(dm, &r);
	daemon_reload_deps(dm, &next, &r);
	if (r.log_level && !dm->debug)
		log_setlevel((enum log_level)dm->cfg.log_level);
	if (out != NULL)
		evbuffer_add_printf(out, "OK %zu\n", r.nlines);
	for (i = 0; i < r.nlines; i++) {
		log_info("reload %s: %s", dm->cfg.path, r.lines[i]);
		if (out != NULL)
			evbuffer_add_printf(out, "%s\n", r.lines[i]);
	}
	config_free(&next);
	return 0;
}

/* RELOAD on the socket (admin). */
static void
daemon_reload_cmd(body_fn done, void *done_arg, void *arg)
{
	struct daemon *dm = arg;
	struct evbuffer *out = evbuffer_new();
	char err[512];

	if (out == NULL || daemon_reload(dm, out, err, sizeof(err)) == -1)
		done(PROTO_EPROTO, out == NULL ? "out of memory" : err, NULL,
		    done_arg);
	else
		done(0, NULL, out, done_arg);
	if (out != NULL)
		evbuffer_free(out);
}

/* SIGTERM/SIGINT: leave the loop; cleanup closes ZooKeeper first. */
static void
daemon_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *dm = arg;

	(void)what;
	if (sig == SIGHUP) {
		char err[512];

		log_info("received SIGHUP: re-reading %s",
		    dm->cfg.path != NULL ? dm->cfg.path : "(none)");
		daemon_reload(dm, NULL, err, sizeof(err));
		return;
	}
	log_info("received %s, shutting down", strsignal((int)sig));
	event_base_loopbreak(dm->base);
}

/* Seed the breakers' jitter differently on every host and start. */
static uint64_t
daemon_seed(void)
{
	uint64_t seed = 0;

	if (getentropy(&seed, sizeof(seed)) == -1)
		seed = now_mono_ms();
	return seed ^ ((uint64_t)getpid() << 32);
}

/* Join the fleet: ZooKeeper session, elections, and the prober. */
static void
daemon_setup_fleet(struct daemon *dm)
{
	struct fleet_hooks fh = {daemon_leader, daemon_votes, daemon_fatal, dm};
	struct prober_ops po = {daemon_prober_may_act, daemon_prober_publish,
	    daemon_prober_votes, daemon_prober_live, dm};
	struct prober_witness_ops pw = {daemon_prober_corroborate,
	    daemon_prober_hand_over, dm, daemon_prober_other_votes};
	struct witness_hooks wh = {
	    daemon_witness_check, daemon_witness_cancel, dm};

	dm->fleet = fleet_new(dm->base, &dm->cfg, dm->reg, &fh);
	dm->prober = prober_new(dm->base, dm->reg, dm->cfg.instance_id, &po,
	    daemon_seed() ^ 0x9e3779b97f4a7c15ULL);
	prober_set_witness_ops(dm->prober, &pw);
	fleet_set_witness_hooks(dm->fleet, &wh);
	dm->instdata = instdata_new(dm->base, dm->fleet, dm->cfg.instance_id);
	fleet_set_ack_sink(dm->fleet, daemon_ack_sink, dm->instdata);
	dm->summary = summary_new(
	    dm->base, &dm->cfg, dm->reg, dm->fleet, dm->prober, dm->instdata);
	if (fleet_start(dm->fleet) == -1)
		fatalx("cannot start the ZooKeeper session to %s",
		    dm->cfg.zk_hosts);
}

static void
daemon_setup(struct daemon *dm)
{
	struct registry_hooks rh = {.changed = daemon_changed,
	    .local_vote = daemon_local_vote,
	    .release = daemon_release,
	    .arg = dm};
	struct timeval wtv;
	struct control_hooks ch = {.status = daemon_status,
	    .metrics = daemon_metrics,
	    .force = daemon_force,
	    .publish = daemon_publish,
	    .history = daemon_history,
	    .fleet = daemon_fleet,
	    .reload = daemon_reload_cmd,
	    .arg = dm};
	struct timeval tv = {0, TICK_MS * 1000};

	/*
	 * No evthread_use_pthreads(): ZooKeeper's threads never touch libevent
	 * (they queue under their own mutex and write an eventfd), so the
	 * loop needs no locks around its buffers.
	 */
	if ((dm->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	dm->started_ms = now_mono_ms();
	dm->reg = registry_new(&dm->cfg, daemon_seed(), dm->started_ms);
	registry_set_hooks(dm->reg, &rh);
	dm->ctl = control_new(dm->base, &dm->cfg, dm->reg, &ch);
	if (control_listen(dm->ctl) == -1)
		fatalx("cannot listen on %s", dm->cfg.socket_path);
	daemon_setup_http(dm);
	if (dm->cfg.zk_hosts != NULL)
		daemon_setup_fleet(dm);
	daemon_setup_shm(dm);
	dm->tick_ev = event_new(dm->base, -1, EV_PERSIST, daemon_tick, dm);
	event_add(dm->tick_ev, &tv);
	dm->wait_ev = evtimer_new(dm->base, daemon_wait_over, dm);
	wtv.tv_sec = dm->cfg.startup_wait_ms / 1000;
	wtv.tv_usec = (suseconds_t)(dm->cfg.startup_wait_ms % 1000) * 1000;
	if (dm->cfg.zk_hosts != NULL)
		evtimer_add(dm->wait_ev, &wtv);
	daemon_check_ready(dm); /* standalone: ready at once */
	dm->sig_evs[0] = evsignal_new(dm->base, SIGTERM, daemon_signal, dm);
	dm->sig_evs[1] = evsignal_new(dm->base, SIGINT, daemon_signal, dm);
	dm->sig_evs[2] = evsignal_new(dm->base, SIGHUP, daemon_signal, dm);
	for (size_t i = 0; i < nitems(dm->sig_evs); i++)
		event_add(dm->sig_evs[i], NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * Graceful stop: close the ZooKeeper session first so that our ephemeral
 * election nodes go at once and another instance takes over in
 * milliseconds, then the socket, then everything else.
 */
static void
daemon_teardown(struct daemon *dm)
{
	/* Applications go back to the socket before anything else stops. */
	if (dm->drain_ev != NULL)
		event_free(dm->drain_ev);
	shm_close(dm->shm);
	dm->shm = NULL;
	if (dm->prober != NULL)
		prober_free(dm->prober);
	dm->prober = NULL;
	if (dm->fleet != NULL) {
		fleet_stop(dm->fleet);
		fleet_free(dm->fleet);
	}
	dm->fleet = NULL;
	/* after the session: its completions and watches point into it */
	summary_free(dm->summary);
	dm->summary = NULL;
	instdata_free(dm->instdata);
	dm->instdata = NULL;
	if (dm->http != NULL)
		evhttp_free(dm->http);
	control_free(dm->ctl);
	dm->ctl = NULL;
	for (size_t i = 0; i < nitems(dm->sig_evs); i++)
		event_free(dm->sig_evs[i]);
	event_free(dm->tick_ev);
	event_free(dm->wait_ev);
	while (dm->waits != NULL) {
		struct daemon_wait *w = dm->waits;

		dm->waits = w->next;
		event_free(w->ev);
		free(w);
	}
	registry_free(dm->reg);
	event_base_free(dm->base);
	config_free(&dm->cfg);
	for (size_t i = 0; i < dm->nretire; i++)
		reload_retired_free(dm->retired[i], dm->nretired[i]);
	free(dm->retired);
	free(dm->nretired);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = "/etc/breakerd/breakerd.json";
	struct daemon dm;
	char err[1024];
	int ch, check_only = 0, debug = 0;

	memset(&dm, 0, sizeof(dm));
	log_init("breakerd", LOG_LVL_INFO);
	while ((ch = getopt_long(argc, argv, "df:hnV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			dm.debug = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'h':
			daemon_usage(stdout);
			return 0;
		case 'n':
			check_only = 1;
			break;
		case 'V':
			printf("breakerd %s\n", BREAKERD_VERSION);
			return 0;
		default:
			daemon_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		daemon_usage(stderr);
		return 2;
	}
	if (config_load(path, &dm.cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "breakerd: %s\n", err);
		return EX_CONFIG_STATUS;
	}
	if (check_only) {
		printf("breakerd: %s: configuration OK (%zu dependencies)\n",
		    path, dm.cfg.ndeps);
		config_free(&dm.cfg);
		return 0;
	}
	log_setlevel(debug ? LOG_LVL_DEBUG : (enum log_level)dm.cfg.log_level);
	daemon_setup(&dm);
	log_info("breakerd %s starting: instance %s, %zu dependencies, %s",
	    BREAKERD_VERSION, dm.cfg.instance_id, dm.cfg.ndeps,
	    dm.cfg.zk_hosts == NULL ? "standalone" : dm.cfg.zk_hosts);
	event_base_dispatch(dm.base);
	sd_notify(0, "STOPPING=1");
	daemon_teardown(&dm);
	log_info("stopped");
	return dm.exit_status;
}
