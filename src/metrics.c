/*
 * metrics.c - Prometheus text exposition (format 0.0.4).  Families are
 * written one at a time, each with its HELP and TYPE lines, walking the
 * dependencies once per family.  Transition counters are printed only once
 * non-zero, so a daemon with a thousand dependencies stays readable.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "metrics.h"
#include "prober.h"
#include "registry.h"

#define M "breakerd_"

/* HELP and TYPE lines of one family. */
static void
metrics_family(
    struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP " M "%s %s\n# TYPE " M "%s %s\n", name,
	    help, name, type);
}

/* One sample of a family with a second label: name{dep,label="value"} n. */
static void
metrics_sample2(struct evbuffer *out, const char *name, const char *dep,
    const char *label, const char *value, uint64_t n)
{
	evbuffer_add_printf(out, M "%s{dep=\"%s\",%s=\"%s\"} %llu\n", name, dep,
	    label, value, (unsigned long long)n);
}

/*
 * A counter family with one sample per dependency: the uint64_t member of
 * struct dep_counters at offset off.
 */
static void
metrics_dep_counter(struct evbuffer *out, struct registry *reg,
    const char *name, const char *help, size_t off)
{
	uint64_t n;

	metrics_family(out, name, "counter", help);
	for (size_t i = 0; i < registry_count(reg); i++) {
		struct dep *d = registry_at(reg, i);

		memcpy(&n, (const char *)dep_counters(d) + off, sizeof(n));
		evbuffer_add_printf(out, M "%s{dep=\"%s\"} %llu\n", name,
		    dep_name(d), (unsigned long long)n);
	}
}

/* The recovery ramp: its share now and the calls it held back. */
static void
metrics_ramp(struct evbuffer *out, struct registry *reg, uint64_t now_ms)
{
	metrics_family(out, "ramp_share", "gauge",
	    "Share of calls the recovery ramp admits now (1: not ramping).");
	for (size_t i = 0; i < registry_count(reg); i++) {
		struct dep *d = registry_at(reg, i);
		uint32_t ppm = dep_ramp_share(d, now_ms);

		evbuffer_add_printf(out, M "ramp_share{dep=\"%s\"} %u.%06u\n",
		    dep_name(d), ppm == 0 ? 1 : 0, ppm);
	}
	metrics_dep_counter(out, reg, "ramp_held_total",
	    "ALLOW answers DENY RAMPING: calls the recovery ramp held back.",
	    offsetof(struct dep_counters, ramp_held));
	metrics_dep_counter(out, reg, "ramps_total",
	    "Recovery ramps started (the fleet closed an open breaker).",
	    offsetof(struct dep_counters, ramps));
}

static void
metrics_states(struct evbuffer *out, struct registry *reg, uint64_t now_ms)
{
	struct dep_view v;

	metrics_family(out, "state", "gauge",
	    "Effective breaker state: 1 for the current state, 0 otherwise.");
	for (size_t i = 0; i < registry_count(reg); i++) {
		dep_view(registry_at(reg, i), now_ms, &v);
		for (int s = 0; s < BREAKER_NSTATES; s++)
			evbuffer_add_printf(out,
			    M "state{dep=\"%s\",state=\"%s\"} %d\n", v.name,
			    breaker_state_name((enum breaker_state)s),
			    v.state == (enum breaker_state)s);
	}
	metrics_family(out, "authority", "gauge",
	    "Authority of the answers: 1 for the current one.");
	for (size_t i = 0; i < registry_count(reg); i++) {
		dep_view(registry_at(reg, i), now_ms, &v);
		for (int a = AUTH_AUTHORITATIVE; a <= AUTH_LOCAL; a++)
			evbuffer_add_printf(out,
			    M "authority{dep=\"%s\",authority=\"%s\"} %d\n",
			    v.name, authority_name((enum authority)a),
			    v.authority == (enum authority)a);
	}
	metrics_family(out, "fleet_version", "gauge",
	    "Version of the fleet state znode last applied.");
	for (size_t i = 0; i < registry_count(reg); i++) {
		dep_view(registry_at(reg, i), now_ms, &v);
		evbuffer_add_printf(out, M "fleet_version{dep=\"%s\"} %llu\n",
		    v.name, (unsigned long long)v.version);
	}
	metrics_ramp(out, reg, now_ms);
}

/* One gauge of the local breakers' sliding windows; which picks the
 * total (0 calls, 1 failures, 2 slow). */
static void
metrics_window_family(struct evbuffer *out, struct registry *reg,
    uint64_t now_ms, const char *name, const char *help, int which)
{
	struct breaker_stats st;

	metrics_family(out, name, "gauge", help);
	for (size_t i = 0; i < registry_count(reg); i++) {
		struct dep *d = registry_at(reg, i);

		breaker_stats(dep_breaker(d), now_ms, &st);
		evbuffer_add_printf(out, M "%s{dep=\"%s\"} %u\n", name,
		    dep_name(d),
		    which == 0       ? st.calls
		        : which == 1 ? st.failures
		                     : st.slow);
	}
}

/* The local breaker's sliding window now (HALF_OPEN: its trial calls). */
static void
metrics_window(struct evbuffer *out, struct registry *reg, uint64_t now_ms)
{
	metrics_window_family(out, reg, now_ms, "window_calls",
	    "Calls in this instance's sliding window now.", 0);
	metrics_window_family(out, reg, now_ms, "window_failures",
	    "Failed calls in this instance's sliding window now.", 1);
	metrics_window_family(out, reg, now_ms, "window_slow",
	    "Slow calls in this instance's sliding window now.", 2);
}

static void
metrics_transitions(struct evbuffer *out, struct registry *reg)
{
	metrics_family(out, "transitions_total", "counter",
	    "Changes of the effective state, by from and to.");
	for (size_t i = 0; i < registry_count(reg); i++) {
		struct dep *d = registry_at(reg, i);
		const struct dep_counters *c = dep_counters(d);

		for (int f = 0; f < BREAKER_NSTATES; f++)
			for (int t = 0; t < BREAKER_NSTATES; t++) {
				if (c->transitions[f][t] == 0)
					continue;
				evbuffer_add_printf(out,
				    M
				    "transitions_total{dep=\"%s\",from=\"%s\","
				    "to=\"%s\"} %llu\n",
				    dep_name(d),
				    breaker_state_name((enum breaker_state)f),
				    breaker_state_name((enum breaker_state)t),
				    (unsigned long long)c->transitions[f][t]);
			}
	}
}

static void
metrics_calls(struct evbuffer *out, struct registry *reg)
{
	metrics_family(out, "calls_total", "counter",
	    "Calls reported by applications (REPORT), by outcome.");
	for (size_t i = 0; i < registry_count(reg); i++) {
		struct dep *d = registry_at(reg, i);
		const struct dep_counters *c = dep_counters(d);

		for (int o = 0; o < BREAKER_NOUTCOMES; o++)
			metrics_sample2(out, "calls_total", dep_name(d),
			    "outcome",
			    breaker_outcome_name((enum breaker_outcome)o),
			    c->calls[o]);
	}
	metrics_family(
	    out, "decisions_total", "counter", "ALLOW answers, by decision.");
	for (size_t i = 0; i < registry_count(reg); i++) {
		struct dep *d = registry_at(reg, i);
		const struct dep_counters *c = dep_counters(d);

		metrics_sample2(out, "decisions_total", dep_name(d), "decision",
		    "allow", c->allowed);
		metrics_sample2(out, "decisions_total", dep_name(d), "decision",
		    "deny", c->denied);
	}
}

static void
metrics_fleet(struct evbuffer *out, struct registry *reg)
{
	metrics_family(
	    out, "leader", "gauge", "1 if this instance leads the dependency.");
	for (size_t i = 0; i < registry_count(reg); i++) {
		struct dep *d = registry_at(reg, i);

		evbuffer_add_printf(out, M "leader{dep=\"%s\"} %d\n",
		    dep_name(d), dep_is_leader(d));
	}
	metrics_dep_counter(out, reg, "records_rejected_total",
	    "State or override znodes that did not parse (last good kept).",
	    offsetof(struct dep_counters, records_rejected));
	metrics_dep_counter(out, reg, "records_stale_total",
	    "Records ignored because a newer version was already applied.",
	    offsetof(struct dep_counters, records_stale));
	metrics_family(out, "apply_lag_seconds", "gauge",
	    "Wall time from the leader's write to its application here "
	    "(clock skew included).");
	for (size_t i = 0; i < registry_count(reg); i++) {
		struct dep *d = registry_at(reg, i);
		long long ms = (long long)dep_counters(d)->apply_lag_ms;

		evbuffer_add_printf(out,
		    M "apply_lag_seconds{dep=\"%s\"} %s%lld.%03lld\n",
		    dep_name(d), ms < 0 ? "-" : "", llabs(ms) / 1000,
		    llabs(ms) % 1000);
	}
	metrics_dep_counter(out, reg, "unsynced_answers_total",
	    "Answers given from the local breaker (authority local) because "
	    "startup_wait_ms ran out before the fleet state was read.",
	    offsetof(struct dep_counters, unsynced_answers));
}

static void
metrics_daemon(struct evbuffer *out, const struct metrics_daemon *dm)
{
	static const char *const sessions[] = {
	    "standalone", "connecting", "connected", "suspended", "lost"};

	metrics_family(out, "zk_session", "gauge",
	    "ZooKeeper session state: 1 for the current one.");
	for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++)
		evbuffer_add_printf(out, M "zk_session{state=\"%s\"} %d\n",
		    sessions[i],
		    dm->zk_session != NULL
		        && strcmp(dm->zk_session, sessions[i]) == 0);
	metrics_family(out, "ready", "gauge",
	    "1 once every dependency's fleet state has been read.");
	evbuffer_add_printf(out, M "ready %d\n", dm->ready);
	metrics_family(out, "live_instances", "gauge",
	    "Live breakerd instances registered in ZooKeeper.");
	evbuffer_add_printf(out, M "live_instances %llu\n",
	    (unsigned long long)dm->live_instances);
	metrics_family(out, "clients", "gauge", "Connected socket clients.");
	evbuffer_add_printf(
	    out, M "clients %llu\n", (unsigned long long)dm->clients);
	metrics_family(out, "uptime_seconds", "gauge",
	    "Seconds since the daemon started.");
	evbuffer_add_printf(
	    out, M "uptime_seconds %llu\n", (unsigned long long)dm->uptime_s);
}

/* Which prober counter pair a family shows. */
enum probe_family { PF_CHECKS, PF_PROBES, PF_PUBLISHES };

/* One ok/fail counter pair per dependency the prober knows. */
static void
metrics_probe_family(struct evbuffer *out, struct registry *reg,
    struct prober *pr, const char *name, const char *help,
    enum probe_family which)
{
	struct prober_counters c;
	uint64_t ok, fail;

	metrics_family(out, name, "counter", help);
	for (size_t i = 0; i < registry_count(reg); i++) {
		struct dep *d = registry_at(reg, i);

		if (prober_counters(pr, d, &c) == -1)
			continue;
		ok = which == PF_CHECKS  ? c.checks_ok
		    : which == PF_PROBES ? c.probes_ok
		                         : c.publishes;
		fail = which == PF_CHECKS ? c.checks_failed
		    : which == PF_PROBES  ? c.probes_failed
		                          : c.publish_failures;
		metrics_sample2(out, name, dep_name(d), "result", "ok", ok);
		metrics_sample2(out, name, dep_name(d), "result", "fail", fail);
	}
}

/* The leader's health checks, probes and writes, counted since start. */
static void
metrics_probes(struct evbuffer *out, struct registry *reg, struct prober *pr)
{
	metrics_probe_family(out, reg, pr, "health_checks_total",
	    "Active health checks sent while leading, by result.", PF_CHECKS);
	metrics_probe_family(out, reg, pr, "probes_total",
	    "Half-open probes sent while leading, by result.", PF_PROBES);
	metrics_probe_family(out, reg, pr, "publishes_total",
	    "State records this instance wrote as leader, by result.",
	    PF_PUBLISHES);
}

/* Second opinions: asked as leader (by outcome), run as witness, blind. */
static void
metrics_witness(struct evbuffer *out, struct registry *reg, struct prober *pr)
{
	struct prober_counters c;

	metrics_family(out, "witness_requests_total", "counter",
	    "Second opinions this instance sought as leader before opening, "
	    "by outcome (confirmed, alone: no witness or no answer, blind; "
	    "votes: others' trip votes agreed, no witness asked).");
	for (size_t i = 0; i < registry_count(reg); i++) {
		const char *d = dep_name(registry_at(reg, i));

		if (prober_counters(pr, registry_at(reg, i), &c) == -1)
			continue;
		const struct {
			const char *name;
			uint64_t n;
		} o[] = {{"confirmed", c.witness_confirmed},
		    {"alone", c.witness_alone}, {"blind", c.witness_blind},
		    {"votes", c.witness_votes}};

		for (size_t k = 0; k < sizeof(o) / sizeof(o[0]); k++)
			metrics_sample2(out, "witness_requests_total", d,
			    "outcome", o[k].name, o[k].n);
	}
	metrics_family(out, "witness_checks_total", "counter",
	    "Health checks this instance ran as another leader's witness.");
	for (size_t i = 0; i < registry_count(reg); i++)
		if (prober_counters(pr, registry_at(reg, i), &c) == 0)
			evbuffer_add_printf(out,
			    M "witness_checks_total{dep=\"%s\"} %llu\n",
			    dep_name(registry_at(reg, i)),
			    (unsigned long long)c.witness_checks);
	metrics_family(out, "blind", "gauge",
	    "1 while this instance holds a blind mark for the dependency.");
	for (size_t i = 0; i < registry_count(reg); i++)
		if (prober_counters(pr, registry_at(reg, i), &c) == 0)
			evbuffer_add_printf(out, M "blind{dep=\"%s\"} %d\n",
			    dep_name(registry_at(reg, i)), c.blind);
}

void
metrics_render(struct evbuffer *out, struct registry *reg, struct prober *pr,
    const struct metrics_daemon *dm, uint64_t now_ms)
{
	metrics_states(out, reg, now_ms);
	metrics_window(out, reg, now_ms);
	metrics_transitions(out, reg);
	metrics_calls(out, reg);
	metrics_fleet(out, reg);
	if (pr != NULL)
		metrics_probes(out, reg, pr);
	if (pr != NULL)
		metrics_witness(out, reg, pr);
	metrics_daemon(out, dm);
}
