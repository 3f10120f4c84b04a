/*
 * config.c - read and validate breakerd's JSON configuration.
 *
 * The text is strict JSON plus whole-line '#' comments, which are blanked
 * to spaces before jansson sees the text so that jansson's line:column
 * stay exact.  Decoding rejects duplicate keys; the decoded tree is then
 * walked with one table of fields per JSON object, so every key has its
 * type, range and setter in one line.  Anything not in a table is an
 * error.  Positions of values come from jsonpos, which finds a key path
 * in the text again.  All defaults are set in config_defaults() and
 * config_dep_defaults() and nowhere else.  Parsing does no I/O and reads
 * no host state; config_load() reads the file and fills the hostname.
 */
#include <sys/types.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "jsonpos.h"
#include "log.h"
#include "util.h"

#define CONFIG_FILE_MAX    (1024 * 1024) /* config_load refuses larger files */
#define CONFIG_DEPTH_MAX   8     /* deepest key path the schema allows is 5 */
#define CONFIG_DEPS_MAX    10000 /* dependencies per daemon */
#define CONFIG_UIDS_MAX    1024  /* socket.admin_uids entries */
#define CONFIG_PATHLEN_MAX 4096  /* file names (credential_file) */
#define CONFIG_ROOT_MAX    255   /* zookeeper.root */
#define CONFIG_HOSTS_MAX   1024  /* zookeeper.hosts, whole string */
#define CONFIG_URL_MAX     2048  /* health.http */
#define CONFIG_MSG_MAX     256

/* Parser state: the text (for positions), the key path, the output. */
struct config_ctx {
	const char *text; /* comment-blanked text jansson decoded */
	size_t len;
	const char *file;
	char *err;
	size_t errlen;
	struct jsonpos_step path[CONFIG_DEPTH_MAX];
	size_t depth;
	int in_defaults;        /* walking the "defaults" section */
	json_t *defaults;       /* deferred: applied before dependencies */
	json_t *deps;           /* deferred: needs the defaults first */
	struct dep_config tmpl; /* built-in defaults + "defaults" section */
};

/* One key of a JSON object: how to set it into the struct at base. */
struct field {
	const char *key;
	int (*set)(struct config_ctx *, json_t *, void *, const struct field *);
	size_t off;              /* where in base the value goes */
	uint32_t min, max;       /* integer range */
	const struct field *sub; /* nested object's table */
	int (*check)(const char *, char *, size_t); /* string validator */
};

static const char *const policy_names[] = {
    "last-known", "local", "fail-closed", "fail-open"};
static const char *const window_names[] = {"count", "time"};
static const char *const curve_names[] = {"linear", "exponential", "steps"};
static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* The built-in defaults of the daemon-wide settings. */
static void
config_defaults(struct config *cfg)
{
	cfg->socket_path = xstrdup("/run/breakerd/breakerd.sock");
	cfg->socket_mode = 0660;
	cfg->socket_group = NULL;
	cfg->max_clients = 1024;
	cfg->idle_timeout_ms = 30000;
	cfg->startup_wait_ms = 2000;
	cfg->watch_buffer_max = 65536;
	cfg->shm_path = NULL; /* derived from socket_path after parsing */
	cfg->shm_drain_ms = 10;
	cfg->zk_hosts = NULL;
	cfg->zk_session_timeout_ms = 10000;
	cfg->zk_history_keep = 100;
	cfg->zk_root = xstrdup("/breakerd/default");
	cfg->zk_credential_file = NULL;
	cfg->unreachable = POLICY_LAST_KNOWN;
	cfg->log_level = LOG_LVL_INFO;
	cfg->metrics_port = 0;
	cfg->metrics_address = xstrdup("127.0.0.1");
}

/* The built-in defaults of one dependency (before the "defaults" section). */
static void
config_dep_defaults(struct dep_config *d)
{
	memset(d, 0, sizeof(*d));
	breaker_settings_default(&d->breaker);
	d->health.kind = HEALTH_NONE;
	d->health.interval_ms = 5000;
	d->health.jitter_ms = 500;
	d->health.timeout_ms = 1000;
	d->health.healthy_threshold = 2;
	d->health.unhealthy_threshold = 3;
	d->health.witness_checks = 2;
	d->health.blind_hold_ms = 60000;
	d->health.status_min = 200;
	d->health.status_max = 399;
	d->quorum.min_votes = 1;
	d->quorum.fraction_pct = 50;
	d->probe.count = 3;
	d->probe.interval_ms = 1000;
	d->ramp.duration_ms = 0; /* off: docs/recovery.md says why */
	d->ramp.curve = RAMP_LINEAR;
	d->ramp.min_pct = 10;
	d->fleet_window.interval_ms = 5000;
	d->fleet_window.minimum_calls = 100;
	d->fleet_window.short_window_ms = 300000;
	d->fleet_window.long_window_ms = 3600000;
	d->fleet_window.burn_rate_pct = 1440;
}

/* Enter a member of the current object. */
static void
config_push_key(struct config_ctx *c, const char *key)
{
	if (c->depth == CONFIG_DEPTH_MAX)
		fatalx(
		    "%s: key path deeper than %d", __func__, CONFIG_DEPTH_MAX);
	c->path[c->depth].key = key;
	c->path[c->depth++].index = 0;
}

/* Enter an element of the current array. */
static void
config_push_index(struct config_ctx *c, size_t index)
{
	if (c->depth == CONFIG_DEPTH_MAX)
		fatalx(
		    "%s: key path deeper than %d", __func__, CONFIG_DEPTH_MAX);
	c->path[c->depth].key = NULL;
	c->path[c->depth++].index = index;
}

static void
config_pop(struct config_ctx *c)
{
	c->depth--;
}

/* Append s to buf at *n, replacing unprintable bytes (keys are input). */
static void
config_append(char *buf, size_t size, size_t *n, const char *s)
{
	for (; *s != '\0' && *n + 1 < size; s++)
		buf[(*n)++] =
		    ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
	buf[*n] = '\0';
}

/* The current key path as text: dependencies[1].breaker.window_size */
static void
config_path_string(const struct config_ctx *c, char *buf, size_t size)
{
	char idx[32];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->depth; i++) {
		if (c->path[i].key == NULL) {
			snprintf(idx, sizeof(idx), "[%zu]", c->path[i].index);
			config_append(buf, size, &n, idx);
			continue;
		}
		if (i > 0)
			config_append(buf, size, &n, ".");
		config_append(buf, size, &n, c->path[i].key);
	}
}

/*
 * Report an error at the current key path: at the key itself (at_key) or
 * at its value; if the path is not in the text (a value that came from
 * defaults) at the nearest enclosing value that is.  Returns -1.
 */
static int __attribute__((format(printf, 3, 4)))
config_error(struct config_ctx *c, int at_key, const char *fmt, ...)
{
	char msg[CONFIG_MSG_MAX], where[CONFIG_MSG_MAX];
	unsigned line = 1, col = 1;
	size_t d = c->depth;
	va_list ap;

	while (jsonpos_find(c->text, c->len, c->path, d,
	           at_key && d == c->depth, &line, &col)
	        == -1
	    && d > 0)
		d--;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_path_string(c, where, sizeof(where));
	if (where[0] != '\0')
		snprintf(c->err, c->errlen, "%s:%u:%u: %s: %s", c->file, line,
		    col, where, msg);
	else
		snprintf(
		    c->err, c->errlen, "%s:%u:%u: %s", c->file, line, col, msg);
	return -1;
}

/* "an integer", "a string", ... for wrong-type messages. */
static const char *
config_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
	default:
		return "null";
	}
}

/* Report a value of the wrong type. */
static int
config_type_error(struct config_ctx *c, const json_t *v, const char *want)
{
	return config_error(
	    c, 0, "expected %s, got %s", want, config_type_name(v));
}

/* An integer value within [min, max]. */
static int
config_int(struct config_ctx *c, const json_t *v, uint64_t min, uint64_t max,
    uint64_t *out)
{
	json_int_t i;

	if (!json_is_integer(v))
		return config_type_error(c, v, "an integer");
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return config_error(c, 0, "%lld is out of range %llu..%llu",
		    (long long)i, (unsigned long long)min,
		    (unsigned long long)max);
	*out = (uint64_t)i;
	return 0;
}

/* A non-empty string value. */
static int
config_string(struct config_ctx *c, const json_t *v, const char **out)
{
	if (!json_is_string(v))
		return config_type_error(c, v, "a string");
	if (json_string_length(v) == 0)
		return config_error(c, 0, "must not be empty");
	*out = json_string_value(v);
	return 0;
}

/* A string that must be one of names[0..n); *idx is its position. */
static int
config_enum(struct config_ctx *c, const json_t *v, const char *const *names,
    size_t n, size_t *idx)
{
	char list[CONFIG_MSG_MAX] = "";
	const char *s = NULL;
	size_t len = 0;

	if (config_string(c, v, &s) == -1)
		return -1;
	for (*idx = 0; *idx < n; (*idx)++)
		if (strcmp(s, names[*idx]) == 0)
			return 0;
	for (size_t i = 0; i < n; i++) {
		config_append(list, sizeof(list), &len, i == 0 ? "" : ", ");
		config_append(list, sizeof(list), &len, names[i]);
	}
	return config_error(c, 0, "\"%.64s\" is not one of %s", s, list);
}

/* Find key in a field table. */
static const struct field *
config_field(const struct field *tab, const char *key)
{
	for (; tab->key != NULL; tab++)
		if (strcmp(tab->key, key) == 0)
			return tab;
	return NULL;
}

/* Apply every member of an object through its table; unknown is an error. */
static int
config_object(
    struct config_ctx *c, json_t *obj, const struct field *tab, void *base)
{
	const struct field *f;
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(obj))
		return config_type_error(c, obj, "an object");
	json_object_foreach(obj, key, v)
	{
		config_push_key(c, key);
		if ((f = config_field(tab, key)) == NULL)
			rc = config_error(c, 1, "unknown key");
		else
			rc = f->set(c, v, base, f);
		config_pop(c);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* Setter: a nested object with its own table. */
static int
config_set_section(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	return config_object(c, v, f->sub, (char *)base + f->off);
}

/* Setter: a uint32_t in [min, max]. */
static int
config_set_u32(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	uint64_t x = 0;

	if (config_int(c, v, f->min, f->max, &x) == -1)
		return -1;
	*(uint32_t *)(void *)((char *)base + f->off) = (uint32_t)x;
	return 0;
}

/* Setter: a uint16_t in [min, max]. */
static int
config_set_u16(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	uint64_t x = 0;

	if (config_int(c, v, f->min, f->max, &x) == -1)
		return -1;
	*(uint16_t *)(void *)((char *)base + f->off) = (uint16_t)x;
	return 0;
}

/* Setter: a string checked by f->check, stored as a new char *. */
static int
config_set_str(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	char msg[CONFIG_MSG_MAX];
	const char *s = NULL;
	char **dst = (char **)(void *)((char *)base + f->off);

	if (config_string(c, v, &s) == -1)
		return -1;
	if (f->check != NULL && f->check(s, msg, sizeof(msg)) == -1)
		return config_error(c, 0, "%s", msg);
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

/* Is s a name of 1..max characters from [A-Za-z0-9._-]? */
static int
config_name_ok(const char *s, size_t max)
{
	size_t n = strspn(s,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._"
	    "-");

	return n >= 1 && n <= max && s[n] == '\0';
}

/* Check a dependency name or instance id; writes why not into msg. */
static int
config_check_name(const char *s, char *msg, size_t msglen, size_t max)
{
	if (config_name_ok(s, max))
		return 0;
	snprintf(msg, msglen,
	    "\"%.80s\" must be 1..%zu characters from [A-Za-z0-9._-]", s, max);
	return -1;
}

/* Setter: instance_id. */
static int
config_set_instance_id(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct config *cfg = base;
	char msg[CONFIG_MSG_MAX];
	const char *s = NULL;

	(void)f;
	if (config_string(c, v, &s) == -1)
		return -1;
	if (config_check_name(s, msg, sizeof(msg), INSTANCE_ID_MAX) == -1)
		return config_error(c, 0, "%s", msg);
	strlcpy_b(cfg->instance_id, s, sizeof(cfg->instance_id));
	return 0;
}

/* Setter: a dependency's name (uniqueness is checked by the caller). */
static int
config_set_dep_name(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct dep_config *d = base;
	char msg[CONFIG_MSG_MAX];
	const char *s = NULL;

	(void)f;
	if (config_string(c, v, &s) == -1)
		return -1;
	if (config_check_name(s, msg, sizeof(msg), DEP_NAME_MAX) == -1)
		return config_error(c, 0, "%s", msg);
	strlcpy_b(d->name, s, sizeof(d->name));
	return 0;
}

/* Check an absolute file name (no control characters, bounded). */
static int
config_check_abs_path(const char *s, char *msg, size_t msglen)
{
	if (s[0] != '/') {
		snprintf(msg, msglen, "\"%.80s\" must be an absolute path", s);
		return -1;
	}
	if (strlen(s) >= CONFIG_PATHLEN_MAX) {
		snprintf(msg, msglen, "path longer than %d bytes",
		    CONFIG_PATHLEN_MAX - 1);
		return -1;
	}
	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(msg, msglen, "control character in path");
			return -1;
		}
	return 0;
}

/* Check an IP address literal (no DNS on the loop thread). */
static int
config_check_ip_literal(const char *s, char *msg, size_t msglen)
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, s, addr) != 1
	    && inet_pton(AF_INET6, s, addr) != 1) {
		snprintf(
		    msg, msglen, "\"%.80s\" is not an IP address literal", s);
		return -1;
	}
	return 0;
}

/* Check a Unix socket path: absolute and short enough for sun_path. */
static int
config_check_socket_path(const char *s, char *msg, size_t msglen)
{
	struct sockaddr_un sun;

	if (config_check_abs_path(s, msg, msglen) == -1)
		return -1;
	if (strlen(s) >= sizeof(sun.sun_path)) {
		snprintf(msg, msglen,
		    "socket path is %zu bytes, the limit is %zu", strlen(s),
		    sizeof(sun.sun_path) - 1);
		return -1;
	}
	return 0;
}

/* Check socket.shm_path: "off", or an absolute path the temporary name
 * (path + ".tmp") still fits. */
static int
config_check_shm_path(const char *s, char *msg, size_t msglen)
{
	if (strcmp(s, "off") == 0)
		return 0;
	if (config_check_abs_path(s, msg, msglen) == -1)
		return -1;
	if (strlen(s) + 4 >= CONFIG_PATHLEN_MAX) {
		snprintf(msg, msglen, "shm_path longer than %d bytes",
		    CONFIG_PATHLEN_MAX - 5);
		return -1;
	}
	if (s[strlen(s) - 1] == '/') {
		snprintf(
		    msg, msglen, "shm_path must name a file, not a directory");
		return -1;
	}
	return 0;
}

/* Check a group name or number (resolved by the daemon, not here). */
static int
config_check_group(const char *s, char *msg, size_t msglen)
{
	if (config_name_ok(s, 32) && s[0] != '-')
		return 0;
	snprintf(msg, msglen, "\"%.80s\" is not a valid group name", s);
	return -1;
}

/* Setter: socket.mode, an octal string such as "0660". */
static int
config_set_mode(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct config *cfg = base;
	unsigned long m = 0;
	const char *s = NULL;
	size_t n;

	(void)f;
	/* A JSON integer is decimal: 660 would silently mean 01224. */
	if (json_is_integer(v))
		return config_error(c, 0,
		    "expected an octal string such as \"0660\", got an "
		    "integer");
	if (config_string(c, v, &s) == -1)
		return -1;
	n = strspn(s, "01234567");
	if (n == 0 || n > 4 || s[n] != '\0')
		return config_error(c, 0, "\"%.16s\" is not an octal mode", s);
	for (size_t i = 0; i < n; i++)
		m = m * 8 + (unsigned long)(s[i] - '0');
	if (m > 0777)
		return config_error(c, 0, "mode %s is out of range 0..0777", s);
	cfg->socket_mode = (mode_t)m;
	return 0;
}

/* Setter: socket.admin_uids, an array of user ids. */
static int
config_set_admin_uids(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct config *cfg = base;
	size_t n, i;
	uint64_t uid = 0;
	int rc = 0;

	(void)f;
	if (!json_is_array(v))
		return config_type_error(c, v, "an array");
	if ((n = json_array_size(v)) > CONFIG_UIDS_MAX)
		return config_error(
		    c, 0, "more than %d entries", CONFIG_UIDS_MAX);
	free(cfg->admin_uids);
	cfg->admin_uids = xcalloc(n, sizeof(*cfg->admin_uids));
	cfg->n_admin_uids = 0;
	for (i = 0; i < n && rc == 0; i++) {
		config_push_index(c, i);
		/* (uid_t)-1 means "no change" to chown(2): never a real user. */
		rc = config_int(
		    c, json_array_get(v, i), 0, UINT32_MAX - 1, &uid);
		config_pop(c);
		if (rc == 0)
			cfg->admin_uids[cfg->n_admin_uids++] = (uid_t)uid;
	}
	return rc;
}

/* Split "host:port" or "[v6]:port" (s, n bytes) into host and port text. */
static int
config_split_hostport(const char *s, size_t n, char *host, size_t hostlen,
    char *port, size_t portlen, int *af)
{
	const char *h = s, *colon;
	size_t hn, pn;

	*af = AF_INET;
	if (n > 0 && s[0] == '[') {
		colon = memchr(s, ']', n);
		if (colon == NULL || colon + 1 == s + n || colon[1] != ':')
			return -1;
		h = s + 1;
		hn = (size_t)(colon - h);
		colon++;
		*af = AF_INET6;
	} else {
		if ((colon = memrchr(s, ':', n)) == NULL)
			return -1;
		hn = (size_t)(colon - s);
	}
	pn = (size_t)(s + n - colon - 1);
	if (hn == 0 || hn >= hostlen || pn >= portlen)
		return -1;
	memcpy(host, h, hn);
	host[hn] = '\0';
	memcpy(port, colon + 1, pn);
	port[pn] = '\0';
	return 0;
}

/*
 * Check "host:port" (s, n bytes) with an IP-literal host, "[v6]:port" for
 * IPv6; names are refused because resolving them would block.  The host
 * (without brackets) goes to host[hostlen].
 */
static int
config_check_hostport(const char *s, size_t n, char *host, size_t hostlen,
    uint16_t *port, char *msg, size_t msglen)
{
	unsigned char addr[16];
	char pbuf[8];
	uint64_t p;
	int af, shown = (int)(n > 80 ? 80 : n);

	if (config_split_hostport(s, n, host, hostlen, pbuf, sizeof(pbuf), &af)
	    == -1) {
		snprintf(msg, msglen, "\"%.*s\" is not host:port", shown, s);
		return -1;
	}
	if (inet_pton(af, host, addr) != 1) {
		snprintf(msg, msglen,
		    "\"%.*s\": host must be an IP address literal (no DNS; "
		    "IPv6 in brackets)",
		    shown, s);
		return -1;
	}
	if (parse_u64(pbuf, 1, 65535, &p) == -1) {
		snprintf(
		    msg, msglen, "\"%.*s\": port must be 1..65535", shown, s);
		return -1;
	}
	*port = (uint16_t)p;
	return 0;
}

/* Check zookeeper.hosts: an odd number of comma-separated ip:port. */
static int
config_check_zk_hosts(const char *s, char *msg, size_t msglen)
{
	char host[64];
	const char *p = s, *comma;
	size_t count = 0, n;
	uint16_t port;

	if (strlen(s) > CONFIG_HOSTS_MAX) {
		snprintf(msg, msglen, "longer than %d bytes", CONFIG_HOSTS_MAX);
		return -1;
	}
	for (;; p = comma + 1) {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (config_check_hostport(
		        p, n, host, sizeof(host), &port, msg, msglen)
		    == -1)
			return -1;
		count++;
		if (comma == NULL)
			break;
	}
	/* ZOOKEEPER-2466: with an even list the reconnect skips servers. */
	if (count % 2 == 0) {
		snprintf(msg, msglen,
		    "%zu hosts: list an odd number of servers (ZOOKEEPER-2466)",
		    count);
		return -1;
	}
	return 0;
}

/* Check zookeeper.root: /a/b, components from [A-Za-z0-9._-]. */
static int
config_check_zk_root(const char *s, char *msg, size_t msglen)
{
	const char *p = s, *why = NULL;
	size_t n;

	if (s[0] != '/')
		why = "must start with '/'";
	else if (strlen(s) > CONFIG_ROOT_MAX)
		why = "is too long";
	else if (strcmp(s, "/zookeeper") == 0
	    || strncmp(s, "/zookeeper/", 11) == 0)
		why = "/zookeeper is reserved by ZooKeeper";
	while (why == NULL && *p == '/') {
		p++;
		n = strspn(p,
		    "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
		if (n == 0)
			why = "has an empty component (or a trailing '/')";
		else if ((n == 1 && p[0] == '.')
		    || (n == 2 && p[0] == '.' && p[1] == '.'))
			why = "has a '.' or '..' component";
		else if (p[n] != '\0' && p[n] != '/')
			why = "may only use [A-Za-z0-9._-] between slashes";
		p += n;
	}
	if (why == NULL)
		return 0;
	snprintf(msg, msglen, "\"%.80s\" %s", s, why);
	return -1;
}

/* Setter: a key that would hold a secret inline; always refused. */
static int
config_set_secret(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	(void)v;
	(void)base;
	(void)f;
	return config_error(c, 1,
	    "unknown key (secrets are never inline: put \"user:password\" in "
	    "the file named by credential_file)");
}

/* Setter: zookeeper.unreachable_policy. */
static int
config_set_policy(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct config *cfg = base;
	size_t i;

	(void)f;
	if (config_enum(c, v, policy_names, nitems(policy_names), &i) == -1)
		return -1;
	cfg->unreachable = (enum unreachable_policy)i;
	return 0;
}

/* Setter: log_level. */
static int
config_set_log_level(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct config *cfg = base;
	size_t i;

	(void)f;
	if (config_enum(c, v, level_names, nitems(level_names), &i) == -1)
		return -1;
	cfg->log_level = log_level_parse(level_names[i]);
	return 0;
}

/* Setter: breaker.window. */
static int
config_set_window(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct breaker_settings *b = base;
	size_t i;

	(void)f;
	if (config_enum(c, v, window_names, nitems(window_names), &i) == -1)
		return -1;
	b->window_type = i == 0 ? BREAKER_WINDOW_COUNT : BREAKER_WINDOW_TIME;
	return 0;
}

/* Setter: ramp.curve. */
static int
config_set_curve(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct ramp_config *r = base;
	size_t i;

	(void)f;
	if (config_enum(c, v, curve_names, nitems(curve_names), &i) == -1)
		return -1;
	r->curve = (enum ramp_curve)i;
	return 0;
}

/* Setter: ramp.steps_pct, 1..16 shares in percent; implies "steps". */
static int
config_set_steps(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct ramp_config *r = base;
	uint64_t x = 0;
	size_t n, i;
	int rc = 0;

	(void)f;
	if (!json_is_array(v))
		return config_type_error(c, v, "an array");
	if ((n = json_array_size(v)) == 0 || n > RAMP_STEPS_MAX)
		return config_error(
		    c, 0, "%zu steps: 1..%d expected", n, RAMP_STEPS_MAX);
	for (i = 0; i < n && rc == 0; i++) {
		config_push_index(c, i);
		rc = config_int(c, json_array_get(v, i), 1, 100, &x);
		if (rc == 0 && i > 0 && x < r->steps_pct[i - 1])
			rc = config_error(c, 0, "steps must not decrease");
		config_pop(c);
		r->steps_pct[i] = (uint32_t)x;
	}
	r->nsteps = (uint32_t)n;
	r->curve = RAMP_STEPS;
	return rc;
}

/* Setter: "fleet_window": present means enabled, even when empty. */
static int
config_set_fleet_window(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct fleet_window_config *w =
	    (void *)((char *)base + offsetof(struct dep_config, fleet_window));

	w->enabled = true;
	return config_object(c, v, f->sub, w);
}

/* The health target is per dependency; refuse it in "defaults". */
static int
config_health_target_ok(struct config_ctx *c, const struct health_config *h)
{
	if (c->in_defaults)
		return config_error(c, 1,
		    "a health check target belongs to one dependency, "
		    "not to defaults");
	if (h->kind != HEALTH_NONE)
		return config_error(c, 1, "give either http or tcp, not both");
	return 0;
}

/* Check the path part of an http URL: printable ASCII without spaces. */
static int
config_check_url_path(const char *p, char *msg, size_t msglen)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			snprintf(msg, msglen,
			    "URL path may only hold printable ASCII "
			    "(percent-encode the rest)");
			return -1;
		}
	return 0;
}

/* Setter: health.http, "http://ip:port/path". */
static int
config_set_http(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct health_config *h = base;
	char msg[CONFIG_MSG_MAX], host[64];
	const char *s = NULL, *hp, *slash;
	uint16_t port;

	(void)f;
	if (config_string(c, v, &s) == -1
	    || config_health_target_ok(c, h) == -1)
		return -1;
	if (strncmp(s, "http://", 7) != 0)
		return config_error(
		    c, 0, "\"%.80s\" must start with http:// (no https)", s);
	if (strlen(s) > CONFIG_URL_MAX)
		return config_error(
		    c, 0, "URL longer than %d bytes", CONFIG_URL_MAX);
	hp = s + 7;
	slash = strchr(hp, '/');
	if (config_check_hostport(hp,
	        slash != NULL ? (size_t)(slash - hp) : strlen(hp), host,
	        sizeof(host), &port, msg, sizeof(msg))
	        == -1
	    || (slash != NULL
	        && config_check_url_path(slash, msg, sizeof(msg)) == -1))
		return config_error(c, 0, "%s", msg);
	h->kind = HEALTH_HTTP;
	h->url = xstrdup(s);
	h->host = xstrdup(host);
	h->port = port;
	return 0;
}

/* Setter: health.tcp, "ip:port". */
static int
config_set_tcp(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct health_config *h = base;
	char msg[CONFIG_MSG_MAX], host[64];
	const char *s = NULL;
	uint16_t port;

	(void)f;
	if (config_string(c, v, &s) == -1
	    || config_health_target_ok(c, h) == -1)
		return -1;
	if (config_check_hostport(
	        s, strlen(s), host, sizeof(host), &port, msg, sizeof(msg))
	    == -1)
		return config_error(c, 0, "%s", msg);
	h->kind = HEALTH_TCP;
	h->host = xstrdup(host);
	h->port = port;
	return 0;
}

/* Setter: health.expected_status, [min, max] HTTP status codes. */
static int
config_set_status(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	struct health_config *h = base;
	uint64_t lo = 0, hi = 0;
	int rc;

	(void)f;
	if (!json_is_array(v))
		return config_type_error(c, v, "an array [min, max]");
	if (json_array_size(v) != 2)
		return config_error(c, 0,
		    "expected [min, max], got %zu elements",
		    json_array_size(v));
	config_push_index(c, 0);
	rc = config_int(c, json_array_get(v, 0), 100, 599, &lo);
	config_pop(c);
	config_push_index(c, 1);
	if (rc == 0)
		rc = config_int(c, json_array_get(v, 1), 100, 599, &hi);
	config_pop(c);
	if (rc == 0 && lo > hi)
		rc = config_error(c, 0, "min %llu is above max %llu",
		    (unsigned long long)lo, (unsigned long long)hi);
	if (rc == 0) {
		h->status_min = (uint16_t)lo;
		h->status_max = (uint16_t)hi;
	}
	return rc;
}

/* Setter: "defaults", kept until the top level is done. */
static int
config_set_defaults(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	(void)base;
	(void)f;
	if (!json_is_object(v))
		return config_type_error(c, v, "an object");
	c->defaults = v;
	return 0;
}

/* Setter: "dependencies", kept until "defaults" has been applied. */
static int
config_set_deps(
    struct config_ctx *c, json_t *v, void *base, const struct field *f)
{
	(void)base;
	(void)f;
	if (!json_is_array(v))
		return config_type_error(c, v, "an array");
	c->deps = v;
	return 0;
}

#define U32(k, s, m, lo, hi)                                                   \
	{                                                                      \
		.key = (k), .set = config_set_u32, .off = offsetof(s, m),      \
		.min = (lo), .max = (hi)                                       \
	}
#define STR(k, m, fn)                                                          \
	{                                                                      \
		.key = (k), .set = config_set_str,                             \
		.off = offsetof(struct config, m), .check = (fn)               \
	}
#define SECTION(k, s, m, t)                                                    \
	{                                                                      \
		.key = (k), .set = config_set_section, .off = offsetof(s, m),  \
		.sub = (t)                                                     \
	}
#define FN(k, fn)                                                              \
	{                                                                      \
		.key = (k), .set = (fn)                                        \
	}
#define DAY_MS 86400000u

static const struct field breaker_fields[] = {FN("window", config_set_window),
    U32("window_size", struct breaker_settings, window_size, 1, 100000),
    U32("minimum_calls", struct breaker_settings, minimum_calls, 1, 100000),
    U32("failure_rate_pct", struct breaker_settings, failure_rate_pct, 1, 100),
    U32("slow_rate_pct", struct breaker_settings, slow_rate_pct, 1, 100),
    U32("slow_call_ms", struct breaker_settings, slow_call_ms, 1, DAY_MS),
    U32("consecutive_failures", struct breaker_settings, consecutive_failures,
        0, 100000),
    U32("open_wait_ms", struct breaker_settings, open_wait_ms, 1, DAY_MS),
    U32("backoff_multiplier_pct", struct breaker_settings,
        backoff_multiplier_pct, 100, 1000),
    U32("open_wait_max_ms", struct breaker_settings, open_wait_max_ms, 1,
        DAY_MS),
    U32("jitter_pct", struct breaker_settings, jitter_pct, 0, 100),
    U32("half_open_calls", struct breaker_settings, half_open_calls, 1, 100000),
    U32("half_open_max_ms", struct breaker_settings, half_open_max_ms, 0,
        DAY_MS),
    {.key = NULL}};

static const struct field health_fields[] = {FN("http", config_set_http),
    FN("tcp", config_set_tcp),
    U32("interval_ms", struct health_config, interval_ms, 100, DAY_MS),
    U32("jitter_ms", struct health_config, jitter_ms, 0, DAY_MS),
    U32("timeout_ms", struct health_config, timeout_ms, 10, 600000),
    U32("healthy_threshold", struct health_config, healthy_threshold, 1, 1000),
    U32("unhealthy_threshold", struct health_config, unhealthy_threshold, 1,
        1000),
    FN("expected_status", config_set_status),
    U32("witness_checks", struct health_config, witness_checks, 0, 10),
    U32("blind_hold_ms", struct health_config, blind_hold_ms, 0, DAY_MS),
    {.key = NULL}};

static const struct field quorum_fields[] = {
    U32("min_votes", struct quorum_config, min_votes, 1, 100000),
    U32("fraction_pct", struct quorum_config, fraction_pct, 0, 100),
    {.key = NULL}};

static const struct field probe_fields[] = {
    U32("count", struct probe_config, count, 1, 1000),
    U32("interval_ms", struct probe_config, interval_ms, 10, DAY_MS),
    {.key = NULL}};

static const struct field ramp_fields[] = {
    U32("duration_ms", struct ramp_config, duration_ms, 0, DAY_MS),
    FN("curve", config_set_curve),
    U32("min_pct", struct ramp_config, min_pct, 1, 100),
    FN("steps_pct", config_set_steps), {.key = NULL}};

static const struct field fleet_window_fields[] = {
    U32("interval_ms", struct fleet_window_config, interval_ms, 1000, 600000),
    U32("failure_rate_pct", struct fleet_window_config, failure_rate_pct, 0,
        100),
    U32("minimum_calls", struct fleet_window_config, minimum_calls, 1,
        100000000),
    U32("objective_bp", struct fleet_window_config, objective_bp, 0, 9999),
    U32("short_window_ms", struct fleet_window_config, short_window_ms, 1000,
        DAY_MS),
    U32("long_window_ms", struct fleet_window_config, long_window_ms, 1000,
        DAY_MS),
    U32("burn_rate_pct", struct fleet_window_config, burn_rate_pct, 100,
        100000),
    {.key = NULL}};

static const struct field dep_fields[] = {FN("name", config_set_dep_name),
    SECTION("breaker", struct dep_config, breaker, breaker_fields),
    SECTION("health", struct dep_config, health, health_fields),
    SECTION("quorum", struct dep_config, quorum, quorum_fields),
    SECTION("probe", struct dep_config, probe, probe_fields),
    SECTION("ramp", struct dep_config, ramp, ramp_fields),
    {.key = "fleet_window",
        .set = config_set_fleet_window,
        .sub = fleet_window_fields},
    {.key = NULL}};

static const struct field defaults_fields[] = {
    SECTION("breaker", struct dep_config, breaker, breaker_fields),
    SECTION("health", struct dep_config, health, health_fields),
    SECTION("quorum", struct dep_config, quorum, quorum_fields),
    SECTION("probe", struct dep_config, probe, probe_fields),
    SECTION("ramp", struct dep_config, ramp, ramp_fields),
    {.key = "fleet_window",
        .set = config_set_fleet_window,
        .sub = fleet_window_fields},
    {.key = NULL}};

static const struct field socket_fields[] = {
    STR("path", socket_path, config_check_socket_path),
    FN("mode", config_set_mode), STR("group", socket_group, config_check_group),
    FN("admin_uids", config_set_admin_uids),
    U32("max_clients", struct config, max_clients, 1, 1000000),
    U32("idle_timeout_ms", struct config, idle_timeout_ms, 100, 3600000),
    U32("watch_buffer_max", struct config, watch_buffer_max, 4096,
        64 * 1024 * 1024),
    STR("shm_path", shm_path, config_check_shm_path),
    U32("shm_drain_ms", struct config, shm_drain_ms, 1, 1000), {.key = NULL}};

static const struct field zk_fields[] = {
    STR("hosts", zk_hosts, config_check_zk_hosts),
    U32("session_timeout_ms", struct config, zk_session_timeout_ms, 1000,
        120000),
    STR("root", zk_root, config_check_zk_root),
    U32("startup_wait_ms", struct config, startup_wait_ms, 0, 600000),
    STR("credential_file", zk_credential_file, config_check_abs_path),
    FN("unreachable_policy", config_set_policy),
    U32("history_keep", struct config, zk_history_keep, 1, 100000),
    FN("password", config_set_secret), FN("auth", config_set_secret),
    FN("secret", config_set_secret), FN("digest", config_set_secret),
    {.key = NULL}};

static const struct field top_fields[] = {
    FN("instance_id", config_set_instance_id),
    /* socket and zookeeper keys are flat in struct config: offset 0 */
    {.key = "socket",
        .set = config_set_section,
        .off = 0,
        .sub = socket_fields},
    {.key = "zookeeper", .set = config_set_section, .off = 0, .sub = zk_fields},
    FN("log_level", config_set_log_level),
    {.key = "metrics_port",
        .set = config_set_u16,
        .off = offsetof(struct config, metrics_port),
        .min = 0,
        .max = 65535},
    STR("metrics_address", metrics_address, config_check_ip_literal),
    FN("defaults", config_set_defaults), FN("dependencies", config_set_deps),
    {.key = NULL}};

/* Checks across the fields of one dependency, once defaults are merged. */
static int
config_dep_check(struct config_ctx *c, const struct dep_config *d)
{
	const struct breaker_settings *b = &d->breaker;
	const char *why;
	int rc = 0;

	config_push_key(c, "breaker");
	if (b->open_wait_max_ms < b->open_wait_ms)
		rc = config_error(c, 0,
		    "open_wait_max_ms %u is below open_wait_ms %u",
		    b->open_wait_max_ms, b->open_wait_ms);
	else if (b->window_type == BREAKER_WINDOW_TIME && b->window_size > 3600)
		rc = config_error(c, 0,
		    "a time window of %u s is above the limit of 3600 s",
		    b->window_size);
	else if ((why = breaker_settings_check(b)) != NULL)
		rc = config_error(c, 0, "%s", why);
	config_pop(c);
	if (rc == 0 && (why = ramp_config_check(&d->ramp)) != NULL) {
		config_push_key(c, "ramp");
		rc = config_error(c, 0, "%s", why);
		config_pop(c);
	}
	if (rc == 0 && d->fleet_window.enabled
	    && d->fleet_window.long_window_ms
	        < d->fleet_window.short_window_ms) {
		config_push_key(c, "fleet_window");
		rc = config_error(c, 0,
		    "long_window_ms %u is below short_window_ms %u",
		    d->fleet_window.long_window_ms,
		    d->fleet_window.short_window_ms);
		config_pop(c);
	}
	if (rc == 0 && d->health.kind != HEALTH_NONE
	    && d->health.timeout_ms > d->health.interval_ms) {
		config_push_key(c, "health");
		rc = config_error(c, 0, "timeout_ms %u is above interval_ms %u",
		    d->health.timeout_ms, d->health.interval_ms);
		config_pop(c);
	}
	return rc;
}

/* Parse dependency i into cfg->deps[i] (already a copy of the template). */
static int
config_dep(struct config_ctx *c, json_t *v, struct config *cfg, size_t i)
{
	struct dep_config *d = &cfg->deps[i];

	if (config_object(c, v, dep_fields, d) == -1)
		return -1;
	if (d->name[0] == '\0')
		return config_error(c, 0, "missing key \"name\"");
	for (size_t j = 0; j < i; j++) {
		if (strcmp(cfg->deps[j].name, d->name) != 0)
			continue;
		config_push_key(c, "name");
		config_error(c, 0,
		    "\"%s\" is already used by dependencies[%zu]", d->name, j);
		config_pop(c);
		return -1;
	}
	return config_dep_check(c, d);
}

/* Parse the "dependencies" array, each one starting from the template. */
static int
config_deps(struct config_ctx *c, struct config *cfg)
{
	size_t n, i;
	int rc = 0;

	if (c->deps == NULL)
		return config_error(c, 0,
		    "missing key \"dependencies\" (at least "
		    "one dependency is required)");
	n = json_array_size(c->deps);
	config_push_key(c, "dependencies");
	if (n == 0)
		rc = config_error(c, 0, "at least one dependency is required");
	else if (n > CONFIG_DEPS_MAX)
		rc = config_error(
		    c, 0, "more than %d dependencies", CONFIG_DEPS_MAX);
	if (rc == 0)
		cfg->deps = xcalloc(n, sizeof(*cfg->deps));
	for (i = 0; i < n && rc == 0; i++) {
		cfg->deps[i] = c->tmpl;
		cfg->ndeps = i + 1;
		config_push_index(c, i);
		rc = config_dep(c, json_array_get(c->deps, i), cfg, i);
		config_pop(c);
	}
	config_pop(c);
	return rc;
}

/*
 * The shared-memory table goes beside the socket unless shm_path says
 * where ("off": no table).  Two files of ours must not be one.
 */
static int
config_shm_path(struct config_ctx *c, struct config *cfg)
{
	size_t n;

	if (cfg->shm_path != NULL && strcmp(cfg->shm_path, "off") == 0) {
		free(cfg->shm_path);
		cfg->shm_path = NULL;
		return 0;
	}
	if (cfg->shm_path == NULL) {
		n = strlen(cfg->socket_path) + sizeof(".shm");
		cfg->shm_path = xmalloc(n);
		snprintf(cfg->shm_path, n, "%s.shm", cfg->socket_path);
	}
	if (strcmp(cfg->shm_path, cfg->socket_path) == 0)
		return config_error(
		    c, 0, "socket.shm_path must not be the socket's own path");
	return 0;
}

/* Walk the decoded document: top level, then defaults, then dependencies. */
static int
config_root(struct config_ctx *c, json_t *root, struct config *cfg)
{
	int rc;

	if (!json_is_object(root))
		return config_error(c, 0,
		    "the top level must be an object, not %s",
		    config_type_name(root));
	if (config_object(c, root, top_fields, cfg) == -1)
		return -1;
	config_dep_defaults(&c->tmpl);
	if (c->defaults != NULL) {
		c->in_defaults = 1;
		config_push_key(c, "defaults");
		rc = config_object(c, c->defaults, defaults_fields, &c->tmpl);
		config_pop(c);
		c->in_defaults = 0;
		if (rc == -1)
			return -1;
	}
	if (config_deps(c, cfg) == -1)
		return -1;
	return config_shm_path(c, cfg);
}

/* Copy text, blanking whole-line '#' comments so positions do not move. */
static char *
config_uncomment(const char *text, size_t len)
{
	char *buf = xmalloc(len + 1);
	size_t i = 0, j;

	memcpy(buf, text, len);
	buf[len] = '\0';
	while (i < len) {
		for (j = i; j < len && (buf[j] == ' ' || buf[j] == '\t'); j++)
			;
		/* JSON strings cannot span lines, so this is never inside one. */
		if (j < len && buf[j] == '#')
			for (; j < len && buf[j] != '\n'; j++)
				buf[j] = ' ';
		while (j < len && buf[j] != '\n')
			j++;
		i = j + 1;
	}
	return buf;
}

int
config_parse(const char *text, size_t len, const char *filename,
    struct config *cfg, char *err, size_t errlen)
{
	struct config_ctx c;
	json_error_t je;
	json_t *root;
	char *buf;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	memset(&c, 0, sizeof(c));
	c.file = filename != NULL ? filename : "<config>";
	c.err = err;
	c.errlen = errlen;
	buf = config_uncomment(text, len);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		snprintf(err, errlen, "%s:%d:%d: %s", c.file,
		    je.line < 1 ? 1 : je.line, je.column < 1 ? 1 : je.column,
		    je.text);
		free(buf);
		return -1;
	}
	c.text = buf;
	c.len = len;
	cfg->path = xstrdup(c.file);
	config_defaults(cfg);
	rc = config_root(&c, root, cfg);
	json_decref(root);
	free(buf);
	if (rc == -1)
		config_free(cfg);
	return rc;
}

/* Read at most CONFIG_FILE_MAX bytes of path into a new buffer. */
static int
config_read(
    const char *path, char **textp, size_t *lenp, char *err, size_t errlen)
{
	char *buf = xmalloc(CONFIG_FILE_MAX + 1);
	FILE *f;
	size_t n;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(buf);
		return -1;
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		n = (size_t)-1;
	} else if (n > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    CONFIG_FILE_MAX);
		n = (size_t)-1;
	}
	fclose(f);
	if (n == (size_t)-1) {
		free(buf);
		return -1;
	}
	*textp = buf;
	*lenp = n;
	return 0;
}

/* The default instance id: the host name, with other characters as '-'. */
static void
config_hostname_id(char *id, size_t size)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
	char host[256];

	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		strlcpy_b(host, "breakerd", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p != '\0'; p++)
		if (strchr(ok, *p) == NULL)
			*p = '-';
	strlcpy_b(id, host, size);
}

int
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (config_read(path, &text, &len, err, errlen) == -1)
		return -1;
	rc = config_parse(text, len, path, cfg, err, errlen);
	free(text);
	if (rc == 0 && cfg->instance_id[0] == '\0')
		config_hostname_id(cfg->instance_id, sizeof(cfg->instance_id));
	return rc;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->ndeps; i++) {
		free(cfg->deps[i].health.url);
		free(cfg->deps[i].health.host);
	}
	free(cfg->deps);
	free(cfg->path);
	free(cfg->socket_path);
	free(cfg->socket_group);
	free(cfg->shm_path);
	free(cfg->admin_uids);
	free(cfg->zk_hosts);
	free(cfg->zk_root);
	free(cfg->metrics_address);
	free(cfg->zk_credential_file);
	memset(cfg, 0, sizeof(*cfg));
}

/* Linear search: lookups are rare (start-up, reload), lists are short. */
const struct dep_config *
config_find_dep(const struct config *cfg, const char *name)
{
	if (cfg == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->ndeps; i++)
		if (strcmp(cfg->deps[i].name, name) == 0)
			return &cfg->deps[i];
	return NULL;
}

const char *
config_policy_name(enum unreachable_policy p)
{
	if ((size_t)p < nitems(policy_names))
		return policy_names[p];
	return "?";
}
