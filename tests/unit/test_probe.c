/*
 * test_probe.c - the HTTP and TCP checks against listeners on 127.0.0.1 in
 * the same process: an evhttp server that answers a chosen status and
 * remembers the headers it got, a port with nothing behind it (refused) and
 * a socket that listens but never answers (timeout).  Then the prober
 * (prober.c) on a real registry with a fake fleet: checks open the fleet,
 * probes close it, failed probes back off, and nothing is sent by an
 * instance that may not act.  Every loop run is bounded by a guard timer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "harness.h"
#include "probe.h"
#include "prober.h"
#include "registry.h"
#include "util.h"

static struct event_base *base;
static struct evhttp *server;
static uint16_t http_port;
static int answer_status = 200;
static int requests;
static char seen_instance[64];
static char seen_host[64];
static char seen_uri[128];

static struct probe_result result;
static int dones;

/* The test server: answer answer_status, remember the headers. */
static void
server_cb(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *v;

	(void)arg;
	requests++;
	v = evhttp_find_header(in, "X-Breakerd-Instance");
	snprintf(seen_instance, sizeof(seen_instance), "%s", v ? v : "");
	v = evhttp_find_header(in, "Host");
	snprintf(seen_host, sizeof(seen_host), "%s", v ? v : "");
	snprintf(seen_uri, sizeof(seen_uri), "%s", evhttp_request_get_uri(req));
	evhttp_send_reply(req, answer_status, "X", NULL);
}

/* A loopback socket bound to an ephemeral port; listening if asked. */
static int
loopback_socket(bool listening, uint16_t *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	if (listening)
		CU_ASSERT_FATAL(listen(fd, 16) == 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Start the loop and the HTTP server once. */
static void
setup(void)
{
	struct evhttp_bound_socket *bs;
	evutil_socket_t fd;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (base != NULL)
		return;
	base = event_base_new();
	server = evhttp_new(base);
	evhttp_set_gencb(server, server_cb, NULL);
	bs = evhttp_bind_socket_with_handle(server, "127.0.0.1", 0);
	CU_ASSERT_FATAL(bs != NULL);
	fd = evhttp_bound_socket_get_fd(bs);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	http_port = ntohs(sin.sin_port);
}

/* The probe reported: stop the loop. */
static void
done_cb(const struct probe_result *r, void *arg)
{
	(void)arg;
	result = *r;
	dones++;
	event_base_loopbreak(base);
}

/* Run the loop until done or the guard (ms) fires. */
static void
run_loop(int guard_ms)
{
	struct timeval tv = {guard_ms / 1000, (guard_ms % 1000) * 1000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* A health config for 127.0.0.1:port. */
static struct health_config
hc_make(enum health_kind kind, uint16_t port, const char *path)
{
	static char url[128];
	struct health_config hc;

	memset(&hc, 0, sizeof(hc));
	hc.kind = kind;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	hc.url = url;
	hc.host = (char *)(uintptr_t) "127.0.0.1";
	hc.port = port;
	hc.timeout_ms = 300;
	hc.status_min = 200;
	hc.status_max = 299;
	return hc;
}

/* Run one probe to completion; returns how many times done was called. */
static int
run_probe(const struct health_config *hc)
{
	struct probe *p;

	dones = 0;
	memset(&result, 0, sizeof(result));
	p = probe_start(base, hc, "inst-7", done_cb, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(dones, 0); /* never from inside probe_start */
	run_loop(5000);
	return dones;
}

/* One probe runs to its one answer, healthy or not as ok says. */
static void
expect_probe(const struct health_config *hc, bool ok)
{
	CU_ASSERT_EQUAL(run_probe(hc), 1);
	CU_ASSERT_EQUAL(result.ok, ok);
}

static void
test_http_ok(void)
{
	struct health_config hc;

	setup();
	hc = hc_make(HEALTH_HTTP, http_port, "/healthz?deep=1");
	answer_status = 200;
	requests = 0;
	expect_probe(&hc, true);
	CU_ASSERT_EQUAL(result.http_status, 200);
	CU_ASSERT_STRING_EQUAL(result.detail, "HTTP 200");
	CU_ASSERT_EQUAL(requests, 1);
	CU_ASSERT_STRING_EQUAL(seen_instance, "inst-7");
	CU_ASSERT_STRING_EQUAL(seen_uri, "/healthz?deep=1");
	CU_ASSERT_TRUE(strncmp(seen_host, "127.0.0.1:", 10) == 0);
}

static void
test_http_status_range(void)
{
	struct health_config hc;

	setup();
	hc = hc_make(HEALTH_HTTP, http_port, "");
	answer_status = 500;
	expect_probe(&hc, false);
	CU_ASSERT_EQUAL(result.http_status, 500);
	CU_ASSERT_STRING_EQUAL(result.detail, "HTTP 500");
	CU_ASSERT_STRING_EQUAL(seen_uri, "/");
	answer_status = 204;
	expect_probe(&hc, true);
	answer_status = 301;
	expect_probe(&hc, false);
	hc.status_max = 399;
	expect_probe(&hc, true);
}

static void
test_refused(void)
{
	struct health_config hc;
	uint16_t port;
	int fd = loopback_socket(false, &port); /* bound, not listening */

	setup();
	hc = hc_make(HEALTH_HTTP, port, "/");
	expect_probe(&hc, false);
	CU_ASSERT_EQUAL(result.http_status, 0);
	CU_ASSERT_STRING_EQUAL(result.detail, "connect refused");
	hc.kind = HEALTH_TCP;
	expect_probe(&hc, false);
	CU_ASSERT_STRING_EQUAL(result.detail, "connect refused");
	close(fd);
}

static void
test_timeout(void)
{
	struct health_config hc;
	uint16_t port;
	int fd = loopback_socket(true, &port); /* listens, never answers */

	setup();
	hc = hc_make(HEALTH_HTTP, port, "/");
	expect_probe(&hc, false);
	CU_ASSERT_STRING_EQUAL(result.detail, "timeout after 300 ms");
	CU_ASSERT_TRUE(result.elapsed_ms >= 250 && result.elapsed_ms < 4000);
	close(fd);
}

static void
test_tcp_ok(void)
{
	struct health_config hc;
	uint16_t port;
	int fd = loopback_socket(true, &port);

	setup();
	hc = hc_make(HEALTH_TCP, port, "");
	expect_probe(&hc, true);
	CU_ASSERT_STRING_EQUAL(result.detail, "connected");
	CU_ASSERT_TRUE(result.elapsed_ms < 4000);
	close(fd);
}

static void
test_cancel(void)
{
	struct health_config hc;
	struct probe *p;
	uint16_t port;
	int fd = loopback_socket(true, &port);

	setup();
	/* Cancel before anything happened, and after the request is out. */
	hc = hc_make(HEALTH_HTTP, http_port, "/");
	dones = 0;
	p = probe_start(base, &hc, "inst-7", done_cb, NULL);
	probe_cancel(p);
	hc = hc_make(HEALTH_HTTP, port, "/");
	p = probe_start(base, &hc, "inst-7", done_cb, NULL);
	run_loop(100);
	probe_cancel(p);
	hc.kind = HEALTH_TCP;
	p = probe_start(base, &hc, "inst-7", done_cb, NULL);
	probe_cancel(p);
	run_loop(500); /* past every timeout: still no callback */
	CU_ASSERT_EQUAL(dones, 0);
	close(fd);
}

static void
test_bad_config(void)
{
	struct health_config hc;

	setup();
	hc = hc_make(HEALTH_NONE, 1, "/");
	CU_ASSERT_PTR_NULL(probe_start(base, &hc, "i", done_cb, NULL));
	hc = hc_make(HEALTH_TCP, 0, "/");
	CU_ASSERT_PTR_NULL(probe_start(base, &hc, "i", done_cb, NULL));
}

/* The prober's world: a config, a registry, a fake fleet. */
static struct config pcfg;
static struct registry *preg;
static struct prober *pr;
static struct dep *pdep;
static bool acting;
static size_t votes_now;
static struct state_record pubs[16];
static int npubs;
static int reqs_at[16]; /* server requests seen at each publish */
static enum breaker_state stop_at;
static int32_t zversion;

/* Fake fleet: leader and lease as the test says. */
static bool
fake_may_act(struct dep *d, void *arg)
{
	(void)d;
	(void)arg;
	return acting;
}

/* Fake fleet: apply the record as ZooKeeper's watch would, answer at once. */
static void
fake_publish(struct dep *d, const struct state_record *next, done_fn done,
    void *done_arg, void *arg)
{
	struct znode_ver ver;

	(void)arg;
	zversion++;
	ver.czxid = 1;
	ver.mzxid = 1 + zversion;
	ver.version = zversion;
	if (npubs < 16) {
		reqs_at[npubs] = requests;
		pubs[npubs++] = *next;
	}
	dep_apply_state(d, next, &ver, now_mono_ms(), 0);
	done(0, (uint64_t)zversion, "ok", done_arg);
	prober_fleet_changed(pr, d);
	if (next->state == stop_at)
		event_base_loopbreak(base);
}

/* Fake fleet: votes and membership. */
static size_t
fake_votes(struct dep *d, void *arg)
{
	(void)d;
	(void)arg;
	return votes_now;
}

/* Fake fleet: three live instances. */
static size_t
fake_live(void *arg)
{
	(void)arg;
	return 3;
}

/* A registry with one dependency checked on the test server. */
static void
prober_setup(void)
{
	static const struct prober_ops ops = {
	    fake_may_act, fake_publish, fake_votes, fake_live, NULL};
	char text[1024], err[256];

	setup();
	snprintf(text, sizeof(text),
	    "{\"instance_id\": \"inst-t\", \"dependencies\": [{"
	    "\"name\": \"payments\","
	    "\"breaker\": {\"open_wait_ms\": 200, \"open_wait_max_ms\": 1000,"
	    " \"backoff_multiplier_pct\": 200, \"jitter_pct\": 0},"
	    "\"quorum\": {\"min_votes\": 2, \"fraction_pct\": 50},"
	    "\"health\": {\"http\": \"http://127.0.0.1:%u/health\","
	    " \"interval_ms\": 100, \"jitter_ms\": 0, \"timeout_ms\": 100,"
	    " \"unhealthy_threshold\": 2, \"healthy_threshold\": 1},"
	    "\"probe\": {\"count\": 3, \"interval_ms\": 50}}]}",
	    http_port);
	if (config_parse(text, strlen(text), "test", &pcfg, err, sizeof(err))
	    != 0) {
		fprintf(stderr, "config: %s\n", err);
		CU_FAIL_FATAL("config_parse");
	}
	preg = registry_new(&pcfg, 1, now_mono_ms());
	pdep = registry_find(preg, "payments");
	pr = prober_new(base, preg, "inst-t", &ops, 7);
	acting = true;
	votes_now = 0;
	npubs = 0;
	requests = 0;
	zversion = 0;
	stop_at = BREAKER_NSTATES;
}

/* Free the prober's world. */
static void
prober_teardown(void)
{
	prober_free(pr);
	registry_free(preg);
	config_free(&pcfg);
}

static void
test_prober_cycle(void)
{
	prober_setup();
	answer_status = 500;
	prober_leader_changed(pr, pdep, true);
	stop_at = BREAKER_OPEN;
	run_loop(5000);
	CU_ASSERT_EQUAL_FATAL(npubs, 1);
	CU_ASSERT_EQUAL(pubs[0].state, BREAKER_OPEN);
	CU_ASSERT_STRING_EQUAL(
	    pubs[0].reason, "health check: 2 consecutive failures (HTTP 500)");
	CU_ASSERT_EQUAL(reqs_at[0], 2);
	CU_ASSERT_STRING_EQUAL(seen_instance, "inst-t");
	CU_ASSERT_EQUAL(dep_fleet(pdep, NULL)->state, BREAKER_OPEN);
	/* It comes back: one probe sequence of 3, then CLOSED. */
	answer_status = 200;
	stop_at = BREAKER_CLOSED;
	run_loop(5000);
	CU_ASSERT_EQUAL_FATAL(npubs, 3);
	CU_ASSERT_EQUAL(pubs[1].state, BREAKER_HALF_OPEN);
	CU_ASSERT_STRING_EQUAL(pubs[1].reason, "open wait 200 ms over");
	CU_ASSERT_EQUAL(reqs_at[1], 2); /* nothing sent while OPEN */
	CU_ASSERT_EQUAL(pubs[2].state, BREAKER_CLOSED);
	CU_ASSERT_STRING_EQUAL(pubs[2].reason, "probe 3/3 ok");
	CU_ASSERT_EQUAL(reqs_at[2], 5);
	prober_teardown();
}

static void
test_prober_backoff(void)
{
	struct prober_counters c;

	prober_setup();
	answer_status = 500;
	prober_leader_changed(pr, pdep, true);
	stop_at = BREAKER_NSTATES;
	for (int i = 0; i < 40 && npubs < 3; i++)
		run_loop(100);
	CU_ASSERT_EQUAL_FATAL(npubs, 3);
	CU_ASSERT_EQUAL(pubs[2].state, BREAKER_OPEN);
	CU_ASSERT_STRING_EQUAL(pubs[2].reason, "probe 1/3 failed: HTTP 500");
	CU_ASSERT_EQUAL(pubs[2].failed_recoveries, 1);
	CU_ASSERT_EQUAL(pubs[2].open_wait_ms, 400);
	CU_ASSERT_EQUAL(prober_counters(pr, pdep, &c), 0);
	CU_ASSERT_EQUAL(c.checks_sent, 2);
	CU_ASSERT_EQUAL(c.checks_failed, 2);
	CU_ASSERT_EQUAL(c.probes_sent, 1);
	CU_ASSERT_EQUAL(c.probes_failed, 1);
	CU_ASSERT_EQUAL(c.publishes, 3);
	prober_teardown();
}

static void
test_prober_not_acting(void)
{
	struct evbuffer *out = evbuffer_new();
	char buf[2048];
	size_t n;

	prober_setup();
	answer_status = 500;
	acting = false; /* elected, but the lease ran out */
	prober_leader_changed(pr, pdep, true);
	run_loop(400);
	CU_ASSERT_EQUAL(requests, 0);
	CU_ASSERT_EQUAL(npubs, 0);
	/* Acting: checks go out; then leadership is lost: they stop. */
	acting = true;
	run_loop(1300);
	CU_ASSERT_TRUE(requests > 0);
	prober_status(pr, out);
	n = evbuffer_remove(out, buf, sizeof(buf) - 1);
	buf[n] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "probe.leading=1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "probe.payments.state="));
	prober_leader_changed(pr, pdep, false);
	requests = 0;
	run_loop(400);
	CU_ASSERT_EQUAL(requests, 0);
	prober_status(pr, out);
	n = evbuffer_remove(out, buf, sizeof(buf) - 1);
	buf[n] = '\0';
	CU_ASSERT_STRING_EQUAL(buf, "probe.leading=0\n");
	evbuffer_free(out);
	prober_teardown();
}

static void
test_prober_votes_and_override(void)
{
	struct override_record o = {.state = BREAKER_FORCED_OPEN};
	struct znode_ver ov = {.czxid = 5, .mzxid = 5, .version = 0};

	prober_setup();
	answer_status = 200;
	prober_leader_changed(pr, pdep, true);
	votes_now = 1;
	prober_votes_changed(pr, pdep);
	CU_ASSERT_EQUAL(npubs, 0);
	votes_now = 2;
	prober_votes_changed(pr, pdep);
	CU_ASSERT_EQUAL_FATAL(npubs, 1);
	CU_ASSERT_STRING_EQUAL(pubs[0].reason, "votes 2/3");
	prober_teardown();
	/* An override pauses the leader: no checks at all. */
	prober_setup();
	answer_status = 500;
	dep_apply_override(pdep, &o, &ov, now_mono_ms());
	prober_leader_changed(pr, pdep, true);
	run_loop(400);
	CU_ASSERT_EQUAL(requests, 0);
	CU_ASSERT_EQUAL(npubs, 0);
	prober_teardown();
}

/* Connect to 127.0.0.1:port: does anything listen there? */
static bool
port_listens(uint16_t port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	CU_ASSERT_FATAL(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return rc == 0;
}

/*
 * The tests above leave nothing to run: no event is active, freeing the
 * test server removes its listener from the loop and closes its port
 * (LeakSanitizer, in the sanitize suite, checks the memory).
 */
static void
test_teardown(void)
{
	int added;

	setup();
	CU_ASSERT_TRUE(port_listens(http_port));
	CU_ASSERT_EQUAL(
	    event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE), 0);
	added = event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
	evhttp_free(server);
	server = NULL;
	CU_ASSERT_EQUAL(
	    event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED), added - 1);
	CU_ASSERT_FALSE(port_listens(http_port));
	event_base_free(base);
	base = NULL;
}

static const struct harness_test tests[] = {
    {"http ok and headers", test_http_ok},
    {"http status range", test_http_status_range},
    {"connect refused", test_refused},
    {"timeout", test_timeout},
    {"tcp connect ok", test_tcp_ok},
    {"cancel: no callback", test_cancel},
    {"bad config", test_bad_config},
    {"prober: open, probe, close", test_prober_cycle},
    {"prober: failed probe backs off", test_prober_backoff},
    {"prober: only an acting leader sends", test_prober_not_acting},
    {"prober: votes and overrides", test_prober_votes_and_override},
    {"teardown", test_teardown},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("probe", tests);
}
