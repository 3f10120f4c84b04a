/*
 * config.h - breakerd's configuration: a strict JSON file (with whole-line
 * '#' comments) read by jansson.  Parsing is split from file reading so the
 * parser is tested without I/O.  Every error names file:line:column.
 */
#ifndef BREAKERD_CONFIG_H
#define BREAKERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "breaker.h"
#include "ramp.h"

#define EX_CONFIG_STATUS 78 /* sysexits.h EX_CONFIG */
#define DEP_NAME_MAX     64 /* [A-Za-z0-9._-]{1,64} */
#define INSTANCE_ID_MAX  64 /* [A-Za-z0-9._-]{1,64} */

enum health_kind { HEALTH_NONE, HEALTH_HTTP, HEALTH_TCP };

struct health_config {
	enum health_kind kind;
	char *url;  /* HEALTH_HTTP: http://host:port/path */
	char *host; /* HEALTH_TCP (and parsed from url) */
	uint16_t port;
	uint32_t interval_ms;         /* between checks */
	uint32_t jitter_ms;           /* + random [0, jitter_ms] per interval */
	uint32_t timeout_ms;          /* per check */
	uint32_t healthy_threshold;   /* successes in a row to be healthy */
	uint32_t unhealthy_threshold; /* failures in a row to open the fleet */
	uint16_t status_min;          /* HTTP: expected status range */
	uint16_t status_max;
	uint32_t witness_checks; /* a witness's checks before a trip; 0 off */
	uint32_t blind_hold_ms; /* a blind leader keeps off leading that long */
};

/* Fleet-wide trip: open when votes >= min_votes AND >= fraction of live. */
struct quorum_config {
	uint32_t min_votes;    /* >= 1 */
	uint32_t fraction_pct; /* 0..100 of live instances */
};

/* Half-open probing by the leader. */
struct probe_config {
	uint32_t count;       /* successes needed to close */
	uint32_t interval_ms; /* spacing between probes */
};

/*
 * Trip on the fleet's numbers: the leader sums the window summaries the
 * instances publish, and trips on the fleet's failure rate or, with an
 * objective, on the error budget's burn rate over two windows.
 */
struct fleet_window_config {
	bool enabled;         /* "fleet_window" present */
	uint32_t interval_ms; /* an instance publishes at most this often */
	uint32_t failure_rate_pct; /* 0: the breaker's failure_rate_pct */
	uint32_t minimum_calls;    /* fleet-wide, before the rate counts */
	uint32_t objective_bp; /* SLO in basis points (9990 = 99.9%); 0 off */
	uint32_t short_window_ms; /* burn-rate windows */
	uint32_t long_window_ms;
	uint32_t burn_rate_pct; /* trip at this burn in both (1440 = 14.4x) */
};

struct dep_config {
	char name[DEP_NAME_MAX + 1];
	struct breaker_settings breaker;
	struct health_config health;
	struct quorum_config quorum;
	struct probe_config probe;
	struct ramp_config ramp;
	struct fleet_window_config fleet_window;
};

/* What answers say while ZooKeeper is unreachable. */
enum unreachable_policy {
	POLICY_LAST_KNOWN,  /* keep the last fleet state (default) */
	POLICY_LOCAL,       /* fall back to the local breaker only */
	POLICY_FAIL_CLOSED, /* deny everything (treat as OPEN) */
	POLICY_FAIL_OPEN    /* allow everything (treat as CLOSED) */
};

struct config {
	char *path; /* where it was read from, for messages */
	char instance_id[INSTANCE_ID_MAX + 1]; /* default: hostname */

	char *socket_path;  /* default /run/breakerd/breakerd.sock */
	mode_t socket_mode; /* default 0660 */
	char *socket_group; /* NULL: the daemon's own group */
	uid_t *admin_uids;  /* who may FORCE; root always may */
	size_t n_admin_uids;
	uint32_t max_clients;      /* default 1024 */
	uint32_t idle_timeout_ms;  /* half-written line timeout, 30000 */
	uint32_t watch_buffer_max; /* bytes queued to a WATCH client, 65536 */
	char *shm_path;            /* shared-memory table; NULL: none (off) */
	uint32_t shm_drain_ms;     /* counters drained this often, default 10 */

	char *zk_hosts;                 /* NULL: standalone (no fleet) */
	uint32_t zk_session_timeout_ms; /* default 10000 */
	uint32_t zk_history_keep;       /* transitions kept per dependency */
	char *zk_root;                  /* default /breakerd/default */
	char *zk_credential_file;       /* "user:password" file; NULL = none */
	enum unreachable_policy unreachable;
	uint32_t startup_wait_ms; /* hold unsynced answers this long, 2000 */

	int log_level;         /* enum log_level */
	uint16_t metrics_port; /* 0 = no HTTP metrics listener */
	char *metrics_address; /* IP literal for it; default 127.0.0.1 */

	struct dep_config *deps;
	size_t ndeps;
};

/*
 * Parse a configuration from text.  filename is used in messages only.
 * On error returns -1 and writes "file:line:column: message" into err.
 * On success *cfg is filled (free with config_free) and 0 is returned.
 */
int config_parse(const char *text, size_t len, const char *filename,
    struct config *cfg, char *err, size_t errlen);

/* Read a file and parse it; I/O errors are reported as "file: message". */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);

void config_free(struct config *);

const struct dep_config *config_find_dep(const struct config *, const char *);
const char *config_policy_name(enum unreachable_policy);

#endif
