/*
 * flaky_service.c - an HTTP dependency whose health the tests switch at run
 * time, so that breakerd's health checks and half-open probes meet a real
 * server.  One libevent loop, no threads, no sleeping: "slow" replies wait
 * on a timer, "hang" requests are held and never answered, "refuse" closes
 * the listening socket until the mode changes.  The control endpoints live
 * on a second port so they keep working while the service port refuses.
 * Every service request is counted per peer address, per path and per
 * X-Breakerd-Instance header (all test daemons share 127.0.0.1), and the
 * last FLAKY_RECENT requests are kept with CLOCK_MONOTONIC timestamps.
 * A witness check (X-Breakerd-Witness: the leader it checks for) is
 * marked as such in the ring ("witness") and in the log (a 7th column),
 * and counted per instance under by_witness instead of by_instance.
 *
 * A capacity (-r, rate= on the control port) makes "ok" answer 503 "over
 * capacity" to the requests above RATE in each second since the service
 * came up, with an optional warm-up (-w) during which the capacity grows
 * from 10% to 100%: a recovering dependency with cold caches.  /health
 * is exempt (probes are not load).  The stats then give the requests
 * served and refused second by second since it came up.
 */
#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "util.h"

#define FLAKY_RECENT   256  /* requests kept for /_control/stats */
#define FLAKY_KEYS     256  /* distinct keys per table; more go to "other" */
#define FLAKY_HELD_MAX 4096 /* slow/hung requests held at once */
#define FLAKY_KEY_MAX  128
#define FLAKY_SECONDS  600 /* per-second counts kept since coming up */

enum flaky_mode {
	FLAKY_OK,
	FLAKY_ERROR,
	FLAKY_SLOW,
	FLAKY_HANG,
	FLAKY_REFUSE,
	FLAKY_NMODES
};

static const char *const flaky_mode_names[FLAKY_NMODES] = {
    "ok", "error", "slow", "hang", "refuse"};

struct flaky_count {
	char key[FLAKY_KEY_MAX];
	uint64_t n;
};

/* A small counter map; linear search is fine at test volumes. */
struct flaky_table {
	struct flaky_count e[FLAKY_KEYS];
	size_t n;
	uint64_t other;
};

struct flaky_recent {
	uint64_t t_ms;
	char src[64];
	uint16_t sport;
	char path[FLAKY_KEY_MAX];
	char instance[FLAKY_KEY_MAX];
	char witness[FLAKY_KEY_MAX]; /* "" unless a witness check */
	enum flaky_mode mode;
};

struct flaky;

/* A request answered later (slow) or never (hang). */
struct flaky_held {
	TAILQ_ENTRY(flaky_held) entry;
	struct flaky *f;
	struct evhttp_request *req;
	struct event *timer; /* NULL when hung */
};
TAILQ_HEAD(flaky_held_list, flaky_held);

struct flaky {
	struct event_base *base;
	struct evhttp *http; /* the service port */
	struct evhttp_bound_socket *bound;
	uint16_t port;
	struct evhttp *ctl; /* the control port */
	uint16_t cport;
	enum flaky_mode mode;
	uint32_t slow_ms;
	int error_code;
	FILE *log;
	const char *addr; /* listen address of both ports */

	uint64_t total;
	uint64_t by_mode[FLAKY_NMODES];
	struct flaky_table by_source;
	struct flaky_table by_path;
	struct flaky_table by_instance; /* checks and probes of its own */
	struct flaky_table by_witness;  /* witness checks, by witness */
	struct flaky_recent recent[FLAKY_RECENT];
	uint64_t nrecent; /* ever recorded; ring index = nrecent % size */
	struct flaky_held_list held;
	size_t nheld;

	/* capacity: 0 = unlimited */
	uint32_t rate;
	uint32_t warmup_ms;
	uint64_t up_ms;   /* monotonic: last switch into ok */
	uint64_t cur_idx; /* second since up_ms being counted */
	uint64_t over_capacity;
	uint32_t served[FLAKY_SECONDS];
	uint32_t refused[FLAKY_SECONDS];
};

/* Print the usage message and exit with status. */
static void
flaky_usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: flaky_service -p PORT [-c CPORT] [-m MODE] [-s SLOW_MS]"
	    " [-e CODE] [-l LOGFILE] [-b ADDR]\n"
	    "  -p PORT     service port (GET any path)\n"
	    "  -c CPORT    control port (/_control/mode?m=MODE[&delay_ms=N]"
	    "[&code=N],\n"
	    "              /_control/stats, /_control/reset); default: the "
	    "service port\n"
	    "  -m MODE     ok (200), error (500), slow (200 after SLOW_MS),\n"
	    "              hang (never answers), refuse (listener closed)\n"
	    "  -s SLOW_MS  delay of slow mode (default 3000)\n"
	    "  -e CODE     status of error mode (default 500)\n"
	    "  -r RATE     capacity: requests per second served in ok mode\n"
	    "              (others get 503; /health exempt); 0 = unlimited\n"
	    "  -w MS       warm-up: capacity grows from 10%% to RATE over MS\n"
	    "              after each switch into ok\n"
	    "  -l LOGFILE  append one line per service request\n"
	    "  -b ADDR     listen address of both ports (default 127.0.0.1;\n"
	    "              0.0.0.0 in a container, so that the request log\n"
	    "              shows each caller's own address)\n");
	exit(status);
}

/* Mode by name, or -1. */
static int
flaky_mode_parse(const char *s)
{
	int i;

	for (i = 0; i < FLAKY_NMODES; i++)
		if (strcmp(s, flaky_mode_names[i]) == 0)
			return i;
	return -1;
}

/* Count one occurrence of key (truncated to FLAKY_KEY_MAX - 1 bytes). */
static void
flaky_count_add(struct flaky_table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (strncmp(t->e[i].key, key, FLAKY_KEY_MAX - 1) == 0) {
			t->e[i].n++;
			return;
		}
	}
	if (t->n == FLAKY_KEYS) {
		t->other++;
		return;
	}
	strlcpy_b(t->e[t->n].key, key, sizeof(t->e[t->n].key));
	t->e[t->n].n = 1;
	t->n++;
}

/* Count a service request and keep it in the recent ring and the log. */
static void
flaky_record(struct flaky *f, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct flaky_recent *r = &f->recent[f->nrecent % FLAKY_RECENT];
	const char *path, *inst, *wit;
	char *addr = NULL;
	uint16_t sport = 0;

	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &addr, &sport);
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	inst = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "X-Breakerd-Instance");
	wit = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "X-Breakerd-Witness");
	memset(r, 0, sizeof(*r));
	strlcpy_b(r->witness, wit != NULL ? wit : "", sizeof(r->witness));
	r->t_ms = now_mono_ms();
	strlcpy_b(r->src, addr != NULL ? addr : "?", sizeof(r->src));
	r->sport = sport;
	strlcpy_b(r->path, path != NULL && *path ? path : "/", sizeof(r->path));
	strlcpy_b(r->instance, inst != NULL ? inst : "", sizeof(r->instance));
	r->mode = f->mode;
	f->nrecent++;
	f->total++;
	f->by_mode[f->mode]++;
	flaky_count_add(&f->by_source, r->src);
	flaky_count_add(&f->by_path, r->path);
	if (inst != NULL && wit != NULL)
		flaky_count_add(&f->by_witness, inst);
	else if (inst != NULL)
		flaky_count_add(&f->by_instance, inst);
	if (f->log != NULL) {
		fprintf(f->log, "%llu %s:%u %s %s %s%s%s\n",
		    (unsigned long long)r->t_ms, r->src, sport, r->path,
		    inst != NULL ? inst : "-", flaky_mode_names[f->mode],
		    *r->witness != '\0' ? " " : "", r->witness);
		fflush(f->log);
	}
}

/* Send a short text reply. */
static void
flaky_reply(
    struct evhttp_request *req, int code, const char *body, const char *mode)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		fatalx("flaky_reply: evbuffer_new");
	evbuffer_add_printf(b, "%s\n", body);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain");
	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "X-Flaky-Mode", mode);
	evhttp_send_reply(req, code, code < 400 ? "OK" : "Error", b);
	evbuffer_free(b);
}

/*
 * Answer a held request and forget it.  If the client went away meanwhile,
 * libevent detached the request from its connection and evhttp_send_reply
 * only frees it, so this is safe either way.
 */
static void
flaky_held_done(struct flaky_held *h, int code, const char *body)
{
	struct flaky *f = h->f;

	TAILQ_REMOVE(&f->held, h, entry);
	f->nheld--;
	if (h->timer != NULL)
		event_free(h->timer);
	flaky_reply(h->req, code, body, h->timer != NULL ? "slow" : "hang");
	free(h);
}

/* The delay of a slow reply is over. */
static void
flaky_slow_cb(evutil_socket_t fd, short what, void *arg)
{
	struct flaky_held *h = arg;

	(void)fd;
	(void)what;
	flaky_held_done(h, 200, "ok");
}

/* Keep a request to answer after slow_ms (slow) or never (hang). */
static void
flaky_hold(struct flaky *f, struct evhttp_request *req, int slow)
{
	struct flaky_held *h;
	struct timeval tv;

	if (f->nheld >= FLAKY_HELD_MAX) {
		flaky_reply(req, 503, "too many held requests", "busy");
		return;
	}
	h = xcalloc(1, sizeof(*h));
	h->f = f;
	h->req = req;
	if (slow) {
		h->timer = evtimer_new(f->base, flaky_slow_cb, h);
		if (h->timer == NULL)
			fatalx("flaky_hold: evtimer_new");
		tv.tv_sec = f->slow_ms / 1000;
		tv.tv_usec = (f->slow_ms % 1000) * 1000;
		evtimer_add(h->timer, &tv);
	}
	TAILQ_INSERT_TAIL(&f->held, h, entry);
	f->nheld++;
}

/* Leaving hang mode: answer every hung request with 503 "released". */
static void
flaky_release_hung(struct flaky *f)
{
	struct flaky_held *h, *next;

	for (h = TAILQ_FIRST(&f->held); h != NULL; h = next) {
		next = TAILQ_NEXT(h, entry);
		if (h->timer == NULL)
			flaky_held_done(h, 503, "released");
	}
}

/* The capacity now (requests per second), during or after the warm-up. */
static uint64_t
flaky_capacity(const struct flaky *f, uint64_t now)
{
	uint64_t t = now - f->up_ms;

	if (f->warmup_ms == 0 || t >= f->warmup_ms)
		return f->rate;
	return (uint64_t)f->rate / 10
	    + (uint64_t)f->rate * 9 * t / 10 / f->warmup_ms;
}

/* Is this request above the capacity of its second?  Counts it. */
static bool
flaky_over(struct flaky *f, struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	uint64_t now = now_mono_ms(), idx = (now - f->up_ms) / 1000;
	uint64_t i = idx < FLAKY_SECONDS ? idx : FLAKY_SECONDS - 1;
	bool over;

	if (path != NULL && strcmp(path, "/health") == 0)
		return false;
	f->cur_idx = idx;
	over = f->rate != 0 && f->served[i] >= flaky_capacity(f, now);
	if (over) {
		f->refused[i]++;
		f->over_capacity++;
	} else
		f->served[i]++;
	return over;
}

/* Every request on the service port: count it, then act by mode. */
static void
flaky_serve_cb(struct evhttp_request *req, void *arg)
{
	struct flaky *f = arg;

	flaky_record(f, req);
	switch (f->mode) {
	case FLAKY_OK:
		if (flaky_over(f, req))
			flaky_reply(req, 503, "over capacity", "ok");
		else
			flaky_reply(req, 200, "ok", "ok");
		break;
	case FLAKY_ERROR:
		flaky_reply(req, f->error_code, "error", "error");
		break;
	case FLAKY_SLOW:
		flaky_hold(f, req, 1);
		break;
	case FLAKY_HANG:
		flaky_hold(f, req, 0);
		break;
	case FLAKY_REFUSE:
	default:
		/* A kept-alive connection from before the switch. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
		flaky_reply(req, 503, "refused", "refuse");
		break;
	}
}

/* Open the service listener (again). */
static int
flaky_listen(struct flaky *f)
{
	if (f->bound != NULL)
		return 0;
	f->bound = evhttp_bind_socket_with_handle(f->http, f->addr, f->port);
	if (f->bound == NULL) {
		log_warn("flaky_listen: bind %s:%u", f->addr, f->port);
		return -1;
	}
	return 0;
}

/* Close the service listener: new connections are refused. */
static void
flaky_unlisten(struct flaky *f)
{
	if (f->bound == NULL)
		return;
	evhttp_del_accept_socket(f->http, f->bound);
	f->bound = NULL;
}

/* The service came up: capacity and per-second counts start again. */
static void
flaky_came_up(struct flaky *f)
{
	f->up_ms = now_mono_ms();
	f->cur_idx = 0;
	memset(f->served, 0, sizeof(f->served));
	memset(f->refused, 0, sizeof(f->refused));
}

/* Switch mode; returns -1 if the listener cannot be reopened. */
static int
flaky_set_mode(struct flaky *f, enum flaky_mode mode)
{
	enum flaky_mode old = f->mode;

	if (mode == FLAKY_REFUSE)
		flaky_unlisten(f);
	else if (flaky_listen(f) == -1)
		return -1;
	f->mode = mode;
	if (mode == FLAKY_OK && old != FLAKY_OK)
		flaky_came_up(f);
	if (old == FLAKY_HANG && mode != FLAKY_HANG)
		flaky_release_hung(f);
	log_info(
	    "mode %s -> %s", flaky_mode_names[old], flaky_mode_names[mode]);
	return 0;
}

/* Parse a decimal query parameter within [min, max]; -1 if bad. */
static int
flaky_param_u32(struct evkeyvalq *q, const char *name, uint32_t min,
    uint32_t max, uint32_t *out)
{
	const char *s = evhttp_find_header(q, name);
	uint64_t v;

	if (s == NULL)
		return 0;
	if (parse_u64(s, min, max, &v) == -1)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* /_control/mode?m=MODE[&delay_ms=N][&code=N] */
static void
flaky_ctl_mode(struct flaky *f, struct evhttp_request *req, const char *query)
{
	struct evkeyvalq q;
	const char *m;
	uint32_t delay = f->slow_ms, code = (uint32_t)f->error_code;
	uint32_t rate = f->rate, warmup = f->warmup_ms;
	int mode = (int)f->mode;

	TAILQ_INIT(&q);
	if (query != NULL && evhttp_parse_query_str(query, &q) == -1) {
		flaky_reply(req, 400, "bad query", "control");
		return;
	}
	m = evhttp_find_header(&q, "m");
	if (m != NULL)
		mode = flaky_mode_parse(m);
	if (mode == -1
	    || flaky_param_u32(&q, "delay_ms", 0, 3600000, &delay) == -1
	    || flaky_param_u32(&q, "code", 100, 599, &code) == -1
	    || flaky_param_u32(&q, "rate", 0, 10000000, &rate) == -1
	    || flaky_param_u32(&q, "warmup_ms", 0, 3600000, &warmup) == -1) {
		evhttp_clear_headers(&q);
		flaky_reply(req, 400,
		    "bad mode, delay_ms, code, rate or warmup_ms", "control");
		return;
	}
	evhttp_clear_headers(&q);
	f->rate = rate;
	f->warmup_ms = warmup;
	f->slow_ms = delay;
	f->error_code = (int)code;
	if (flaky_set_mode(f, (enum flaky_mode)mode) == -1) {
		flaky_reply(req, 500, "cannot reopen the listener", "control");
		return;
	}
	flaky_reply(req, 200, flaky_mode_names[f->mode], "control");
}

/* Append s as a JSON string. */
static void
flaky_json_str(struct evbuffer *b, const char *s)
{
	const unsigned char *p;

	evbuffer_add(b, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			evbuffer_add_printf(b, "\\u%04x", *p);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\"", 1);
}

/* Append a counter table as a JSON object ("other" holds the overflow). */
static void
flaky_json_table(
    struct evbuffer *b, const char *name, const struct flaky_table *t)
{
	size_t i;

	evbuffer_add_printf(b, ",\"%s\":{", name);
	for (i = 0; i < t->n; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		flaky_json_str(b, t->e[i].key);
		evbuffer_add_printf(b, ":%llu", (unsigned long long)t->e[i].n);
	}
	if (t->other > 0)
		evbuffer_add_printf(b, "%s\"(other)\":%llu", t->n ? "," : "",
		    (unsigned long long)t->other);
	evbuffer_add(b, "}", 1);
}

/* Append the recent requests, oldest first. */
static void
flaky_json_recent(struct evbuffer *b, const struct flaky *f)
{
	const struct flaky_recent *r;
	uint64_t i, first;

	first = f->nrecent > FLAKY_RECENT ? f->nrecent - FLAKY_RECENT : 0;
	evbuffer_add_printf(b, ",\"recent\":[");
	for (i = first; i < f->nrecent; i++) {
		r = &f->recent[i % FLAKY_RECENT];
		evbuffer_add_printf(b,
		    "%s{\"t_ms\":%llu,\"src\":", i > first ? "," : "",
		    (unsigned long long)r->t_ms);
		flaky_json_str(b, r->src);
		evbuffer_add_printf(b, ",\"sport\":%u,\"path\":", r->sport);
		flaky_json_str(b, r->path);
		evbuffer_add_printf(b, ",\"instance\":");
		flaky_json_str(b, r->instance);
		evbuffer_add_printf(b, ",\"witness\":");
		flaky_json_str(b, r->witness);
		evbuffer_add_printf(
		    b, ",\"mode\":\"%s\"}", flaky_mode_names[r->mode]);
	}
	evbuffer_add(b, "]", 1);
}

/* Append the capacity and the counts per second since coming up. */
static void
flaky_json_seconds(struct evbuffer *b, const struct flaky *f)
{
	uint64_t n =
	    f->cur_idx < FLAKY_SECONDS ? f->cur_idx + 1 : FLAKY_SECONDS;

	evbuffer_add_printf(b,
	    ",\"capacity\":%u,\"warmup_ms\":%u,\"over_capacity\":%llu,"
	    "\"up_ms\":%llu,\"seconds\":[",
	    f->rate, f->warmup_ms, (unsigned long long)f->over_capacity,
	    (unsigned long long)f->up_ms);
	for (uint64_t i = 0; i < n; i++)
		evbuffer_add_printf(
		    b, "%s[%u,%u]", i ? "," : "", f->served[i], f->refused[i]);
	evbuffer_add(b, "]", 1);
}

/* /_control/stats: everything counted, as one JSON object. */
static void
flaky_ctl_stats(struct flaky *f, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	int i;

	if (b == NULL)
		fatalx("flaky_ctl_stats: evbuffer_new");
	evbuffer_add_printf(b,
	    "{\"mode\":\"%s\",\"slow_ms\":%u,\"error_code\":%d,\"port\":%u,"
	    "\"now_ms\":%llu,\"total\":%llu,\"held\":%zu,\"by_mode\":{",
	    flaky_mode_names[f->mode], f->slow_ms, f->error_code, f->port,
	    (unsigned long long)now_mono_ms(), (unsigned long long)f->total,
	    f->nheld);
	for (i = 0; i < FLAKY_NMODES; i++)
		evbuffer_add_printf(b, "%s\"%s\":%llu", i ? "," : "",
		    flaky_mode_names[i], (unsigned long long)f->by_mode[i]);
	evbuffer_add(b, "}", 1);
	flaky_json_table(b, "by_source", &f->by_source);
	flaky_json_table(b, "by_path", &f->by_path);
	flaky_json_table(b, "by_instance", &f->by_instance);
	flaky_json_table(b, "by_witness", &f->by_witness);
	flaky_json_recent(b, f);
	flaky_json_seconds(b, f);
	evbuffer_add(b, "}\n", 2);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* /_control/reset: zero every counter (held requests stay held). */
static void
flaky_ctl_reset(struct flaky *f, struct evhttp_request *req)
{
	f->total = 0;
	memset(f->by_mode, 0, sizeof(f->by_mode));
	memset(&f->by_source, 0, sizeof(f->by_source));
	memset(&f->by_path, 0, sizeof(f->by_path));
	memset(&f->by_instance, 0, sizeof(f->by_instance));
	memset(&f->by_witness, 0, sizeof(f->by_witness));
	f->nrecent = 0;
	f->over_capacity = 0;
	flaky_came_up(f);
	flaky_reply(req, 200, "reset", "control");
}

/* Dispatch a control request (any method). */
static void
flaky_ctl_cb(struct evhttp_request *req, void *arg)
{
	struct flaky *f = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	if (path == NULL)
		flaky_reply(req, 400, "no path", "control");
	else if (strcmp(path, "/_control/mode") == 0)
		flaky_ctl_mode(f, req, evhttp_uri_get_query(uri));
	else if (strcmp(path, "/_control/stats") == 0)
		flaky_ctl_stats(f, req);
	else if (strcmp(path, "/_control/reset") == 0)
		flaky_ctl_reset(f, req);
	else if (f->ctl != f->http)
		flaky_reply(req, 404, "unknown control path", "control");
	else
		flaky_serve_cb(req, f);
}

/* SIGTERM/SIGINT: leave the loop; main frees everything. */
static void
flaky_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct flaky *f = arg;

	(void)what;
	log_info("signal %d, exiting", (int)sig);
	event_base_loopexit(f->base, NULL);
}

/* Parse a port number or exit. */
static uint16_t
flaky_parse_port(const char *s)
{
	uint64_t v;

	if (parse_u64(s, 1, 65535, &v) == -1)
		fatalx("bad port: %s", s);
	return (uint16_t)v;
}

/* Command line into f; exits on errors. */
static void
flaky_options(struct flaky *f, int argc, char **argv)
{
	uint64_t v;
	int ch, m;

	while ((ch = getopt(argc, argv, "b:c:e:hl:m:p:r:s:w:")) != -1) {
		switch (ch) {
		case 'b':
			f->addr = optarg;
			break;
		case 'c':
			f->cport = flaky_parse_port(optarg);
			break;
		case 'e':
			if (parse_u64(optarg, 100, 599, &v) == -1)
				fatalx("bad status code: %s", optarg);
			f->error_code = (int)v;
			break;
		case 'h':
			flaky_usage(0);
			break;
		case 'l':
			f->log = fopen(optarg, "a");
			if (f->log == NULL)
				fatal("%s", optarg);
			break;
		case 'm':
			if ((m = flaky_mode_parse(optarg)) == -1)
				fatalx("bad mode: %s", optarg);
			f->mode = (enum flaky_mode)m;
			break;
		case 'p':
			f->port = flaky_parse_port(optarg);
			break;
		case 's':
			if (parse_u64(optarg, 0, 3600000, &v) == -1)
				fatalx("bad delay: %s", optarg);
			f->slow_ms = (uint32_t)v;
			break;
		case 'r':
			if (parse_u64(optarg, 0, 10000000, &v) == -1)
				fatalx("bad rate: %s", optarg);
			f->rate = (uint32_t)v;
			break;
		case 'w':
			if (parse_u64(optarg, 0, 3600000, &v) == -1)
				fatalx("bad warm-up: %s", optarg);
			f->warmup_ms = (uint32_t)v;
			break;
		default:
			flaky_usage(2);
		}
	}
	if (f->port == 0 || optind != argc)
		flaky_usage(2);
}

/* Set up the listeners; exits on failure (start-up). */
static void
flaky_setup(struct flaky *f)
{
	if ((f->http = evhttp_new(f->base)) == NULL)
		fatalx("evhttp_new");
	/* Hung requests must outlive any client timeout. */
	evhttp_set_timeout(f->http, 3600);
	evhttp_set_allowed_methods(f->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT
	        | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(f->http, flaky_serve_cb, f);
	if (f->mode != FLAKY_REFUSE && flaky_listen(f) == -1)
		exit(1);
	if (f->cport == 0) {
		f->ctl = f->http;
		evhttp_set_cb(f->http, "/_control/mode", flaky_ctl_cb, f);
		evhttp_set_cb(f->http, "/_control/stats", flaky_ctl_cb, f);
		evhttp_set_cb(f->http, "/_control/reset", flaky_ctl_cb, f);
		return;
	}
	if ((f->ctl = evhttp_new(f->base)) == NULL)
		fatalx("evhttp_new");
	evhttp_set_allowed_methods(f->ctl, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(f->ctl, flaky_ctl_cb, f);
	if (evhttp_bind_socket(f->ctl, f->addr, f->cport) == -1)
		fatal("bind control %s:%u", f->addr, f->cport);
}

/* Free what is left at exit, so that leak checkers stay quiet. */
static void
flaky_teardown(struct flaky *f)
{
	struct flaky_held *h;

	while ((h = TAILQ_FIRST(&f->held)) != NULL) {
		TAILQ_REMOVE(&f->held, h, entry);
		if (h->timer != NULL)
			event_free(h->timer);
		free(h);
	}
	if (f->ctl != f->http)
		evhttp_free(f->ctl);
	evhttp_free(f->http);
	if (f->log != NULL)
		fclose(f->log);
}

int
main(int argc, char **argv)
{
	static struct flaky f;
	struct event *sigterm, *sigint;

	log_init("flaky_service", LOG_LVL_INFO);
	signal(SIGPIPE, SIG_IGN);
	f.mode = FLAKY_OK;
	f.addr = "127.0.0.1";
	f.slow_ms = 3000;
	f.error_code = 500;
	TAILQ_INIT(&f.held);
	flaky_options(&f, argc, argv);
	if ((f.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	flaky_came_up(&f);
	flaky_setup(&f);
	sigterm = evsignal_new(f.base, SIGTERM, flaky_signal_cb, &f);
	sigint = evsignal_new(f.base, SIGINT, flaky_signal_cb, &f);
	if (sigterm == NULL || sigint == NULL)
		fatalx("evsignal_new");
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	log_info("listening on %s:%u (control %u), mode %s", f.addr, f.port,
	    f.cport ? f.cport : f.port, flaky_mode_names[f.mode]);
	event_base_dispatch(f.base);
	flaky_teardown(&f);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(f.base);
	return 0;
}
