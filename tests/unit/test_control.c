/*
 * test_control.c - the control socket server over a real Unix socket: a
 * libevent loop runs control.c and a real registry in a second thread,
 * and the test talks to it as a client from the main thread.  Anything
 * that must happen on the loop (control_notify, completing a deferred
 * FORCE, reading stats, control_free) is run there with loop_call().
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "control.h"
#include "harness.h"
#include "log.h"
#include "protocol.h"
#include "registry.h"
#include "util.h"

#define NDEPS 3
static const char *const dep_names[NDEPS] = {"payments", "ledger", "search"};

/* What the hooks saw, and a FORCE held back for the test to complete. */
struct hook_state {
	int forces;
	int publishes;
	bool defer;
	char reason[PROTO_REASON_MAX + 1];
	uint32_t ttl_s;
	enum breaker_state to;
	uid_t uid;
	done_fn done;
	void *done_arg;
	uint64_t version;
};

static struct {
	char dir[64];
	char path[128];
	struct config cfg;
	struct dep_config deps[NDEPS];
	uid_t admin[1];
	struct event_base *base;
	struct registry *reg;
	struct control *ctl;
	pthread_t thread;
	struct hook_state hs; /* touched on the loop only */
} T;

/* ---- hooks (run on the loop thread) ---- */

static void
hook_status(struct evbuffer *out, void *arg)
{
	(void)arg;
	evbuffer_add_printf(out, "test_status=1\nclients=%d\n", 7);
}

static void
hook_metrics(struct evbuffer *out, void *arg)
{
	(void)arg;
	evbuffer_add_printf(out, "# TYPE x counter\nx 1\n");
}

static void
hook_force(struct dep *d, enum breaker_state to, uint32_t ttl_s,
    const char *reason, uid_t uid, done_fn done, void *done_arg, void *arg)
{
	struct hook_state *hs = arg;

	(void)d;
	hs->forces++;
	hs->to = to;
	hs->ttl_s = ttl_s;
	hs->uid = uid;
	strlcpy_b(hs->reason, reason, sizeof hs->reason);
	if (hs->defer) {
		hs->done = done;
		hs->done_arg = done_arg;
		return;
	}
	done(0, ++hs->version, NULL, done_arg);
}

static void
hook_publish(struct dep *d, enum breaker_state to, const char *reason,
    uid_t uid, done_fn done, void *done_arg, void *arg)
{
	struct hook_state *hs = arg;

	(void)d;
	(void)to;
	(void)reason;
	(void)uid;
	hs->publishes++;
	done(PROTO_EBUSY, 0, "not leader", done_arg);
}

/* ---- running things on the loop ---- */

struct loop_call {
	void (*fn)(void *);
	void *arg;
	sem_t sem;
};

static void
loop_call_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop_call *c = arg;

	(void)fd;
	(void)what;
	c->fn(c->arg);
	sem_post(&c->sem);
}

/* Run fn(arg) on the loop thread and wait for it. */
static void
loop_call(void (*fn)(void *), void *arg)
{
	struct loop_call c = {fn, arg, {{0}}};
	struct timeval zero = {0, 0};

	sem_init(&c.sem, 0, 0);
	CU_ASSERT_EQUAL_FATAL(
	    event_base_once(T.base, -1, EV_TIMEOUT, loop_call_cb, &c, &zero),
	    0);
	while (sem_wait(&c.sem) == -1 && errno == EINTR)
		;
	sem_destroy(&c.sem);
}

static void *
loop_main(void *arg)
{
	(void)arg;
	event_base_loop(T.base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void
get_stats_fn(void *arg)
{
	control_stats(T.ctl, arg);
}

static struct control_stats
get_stats(void)
{
	struct control_stats st;

	loop_call(get_stats_fn, &st);
	return st;
}

static void
get_hooks_fn(void *arg)
{
	*(struct hook_state *)arg = T.hs;
}

static struct hook_state
get_hooks(void)
{
	struct hook_state hs;

	loop_call(get_hooks_fn, &hs);
	return hs;
}

/* ---- set-up and tear-down ---- */

static bool setup_fleet; /* the next setup() is a fleet member */

/* A config built in code, one server with three dependencies. */
static void
setup(uint32_t max_clients, uint32_t idle_ms, uint32_t watch_max)
{
	struct control_hooks hooks = {.status = hook_status,
	    .metrics = hook_metrics,
	    .force = hook_force,
	    .publish = hook_publish,
	    .arg = &T.hs};

	memset(&T, 0, sizeof T);
	strlcpy_b(T.dir, "/tmp/test_control.XXXXXX", sizeof T.dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(T.dir));
	chmod(T.dir, 0755); /* the setuid child must reach the socket */
	snprintf(T.path, sizeof T.path, "%s/ctl.sock", T.dir);
	for (int i = 0; i < NDEPS; i++) {
		strlcpy_b(T.deps[i].name, dep_names[i], sizeof T.deps[i].name);
		breaker_settings_default(&T.deps[i].breaker);
	}
	T.cfg.socket_path = T.path;
	T.cfg.socket_mode = 0666;
	T.cfg.max_clients = max_clients;
	T.cfg.idle_timeout_ms = idle_ms;
	T.cfg.watch_buffer_max = watch_max;
	T.cfg.unreachable = POLICY_LAST_KNOWN;
	/* Never connected to: only makes the registry a fleet member's. */
	T.cfg.zk_hosts = setup_fleet ? (char *)(uintptr_t) "127.0.0.1:1" : NULL;
	T.cfg.deps = T.deps;
	T.cfg.ndeps = NDEPS;
	T.base = event_base_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(T.base);
	T.reg = registry_new(&T.cfg, 1, now_mono_ms());
	T.ctl = control_new(T.base, &T.cfg, T.reg, &hooks);
	CU_ASSERT_EQUAL_FATAL(control_listen(T.ctl), 0);
	CU_ASSERT_EQUAL_FATAL(
	    pthread_create(&T.thread, NULL, loop_main, NULL), 0);
}

static void
free_fn(void *arg)
{
	(void)arg;
	control_free(T.ctl);
	T.ctl = NULL;
}

/* The usual set-up as a fleet member: dependencies held until read. */
static void
setup_member(void)
{
	setup_fleet = true;
	setup(16, 30000, 65536);
	setup_fleet = false;
}

static void
teardown(void)
{
	struct stat st;

	if (T.ctl != NULL)
		loop_call(free_fn, NULL);
	/* control_free removed the socket */
	CU_ASSERT_EQUAL(stat(T.path, &st), -1);
	event_base_loopexit(T.base, NULL);
	pthread_join(T.thread, NULL);
	registry_free(T.reg);
	event_base_free(T.base);
	rmdir(T.dir);
}

/* ---- a blocking line client ---- */

struct client {
	int fd;
	char buf[65536];
	size_t len;
};

static int
client_connect(struct client *c)
{
	struct sockaddr_un sa;

	memset(c, 0, sizeof *c);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	strlcpy_b(sa.sun_path, T.path, sizeof sa.sun_path);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return -1;
	return connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
}

static void
client_send(struct client *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(c->fd, data, len);
		if (n <= 0) {
			CU_FAIL("write to the control socket failed");
			return;
		}
		data += n;
		len -= (size_t)n;
	}
}

static void
client_puts(struct client *c, const char *s)
{
	client_send(c, s, strlen(s));
}

/*
 * Read one line (without "\n") into out; returns its length, -1 on EOF
 * or error, -2 on timeout (10 s: generous, only there to end a hang).
 */
static int
client_line_t(struct client *c, char *out, size_t outlen, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl != NULL) {
			size_t n = (size_t)(nl - c->buf);
			size_t k = n < outlen - 1 ? n : outlen - 1;
			memcpy(out, c->buf, k);
			out[k] = '\0';
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return (int)k;
		}
		struct pollfd pfd = {c->fd, POLLIN, 0};
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -2;
		ssize_t r =
		    read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
}

static int
client_line(struct client *c, char *out, size_t outlen)
{
	return client_line_t(c, out, outlen, 10000);
}

/* Send a line, read one line, compare. */
static void
expect(struct client *c, const char *req, const char *want)
{
	char line[512];

	if (req != NULL)
		client_puts(c, req);
	if (client_line(c, line, sizeof line) < 0)
		line[0] = '\0';
	CU_ASSERT_STRING_EQUAL(line, want);
	if (strcmp(line, want) != 0)
		fprintf(stderr, "\n  after %s  want '%s' got '%s'\n",
		    req ? req : "(none)", want, line);
}

/* Pipelined reply number i is want; a failure (and false) if not. */
static bool
reply_is(struct client *c, int i, const char *want)
{
	char line[512];

	if (client_line(c, line, sizeof line) < 0) {
		fprintf(stderr, "\n  reply %d missing\n", i);
		CU_FAIL("reply missing");
		return false;
	}
	if (strcmp(line, want) != 0) {
		fprintf(stderr, "\n  reply %d: want '%s' got '%s'\n", i, want,
		    line);
		CU_FAIL("reply out of order");
		return false;
	}
	return true;
}

/* No line comes on c within ms: the answer is held. */
static void
expect_nothing(struct client *c, int ms)
{
	char line[512];

	CU_ASSERT_EQUAL(client_line_t(c, line, sizeof line, ms), -2);
}

/* The server closed: EOF, not a timeout. */
static void
expect_eof(struct client *c)
{
	char line[512];

	CU_ASSERT_EQUAL(client_line(c, line, sizeof line), -1);
}

static void
client_close(struct client *c)
{
	close(c->fd);
}

/* ---- tests ---- */

static void
test_basic_commands(void)
{
	struct client c;
	char line[512];

	setup(16, 30000, 65536);
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	expect(&c, "PING\n", "OK PONG");
	expect(&c, "GET payments\r\n", "OK payments CLOSED 0 local");
	expect(&c, "GET nope\n", "ERR ENOENT no such dependency 'nope'");
	expect(&c, "ALLOW ledger\n", "OK ALLOW");
	expect(&c, "REPORT search fail 20\n", "OK");
	expect(&c, "FROB\n", "ERR EPROTO unknown command 'FROB' (try HELP)");
	expect(&c, "GET\n", "ERR EPROTO usage: GET <dep>");
	expect(&c, "\n", "ERR EPROTO empty request");
	expect(&c, "LIST\n", "OK 3");
	expect(&c, NULL, "payments CLOSED 0 local");
	expect(&c, NULL, "ledger CLOSED 0 local");
	expect(&c, NULL, "search CLOSED 0 local");
	expect(&c, NULL, "END");
	expect(&c, "STATUS\n", "OK");
	expect(&c, NULL, "test_status=1");
	expect(&c, NULL, "clients=7");
	expect(&c, NULL, "END");
	expect(&c, "METRICS\n", "OK");
	expect(&c, NULL, "# TYPE x counter");
	expect(&c, NULL, "x 1");
	expect(&c, NULL, "END");
	expect(&c, "HELP\n", "OK");
	for (int i = 0; proto_help_lines[i] != NULL; i++)
		expect(&c, NULL, proto_help_lines[i]);
	expect(&c, NULL, "END");
	/* root is always an admin: FORCE completes through the hook */
	expect(&c, "FORCE payments open 60 db failover  now\n", "OK 1");
	struct hook_state hs = get_hooks();
	CU_ASSERT_EQUAL(hs.forces, 1);
	CU_ASSERT_EQUAL(hs.to, BREAKER_FORCED_OPEN);
	CU_ASSERT_EQUAL(hs.ttl_s, 60);
	CU_ASSERT_EQUAL(hs.uid, 0);
	CU_ASSERT_STRING_EQUAL(hs.reason, "db failover  now");
	expect(&c, "FORCE nope open\n", "ERR ENOENT no such dependency 'nope'");
	expect(&c, "PUBLISH ledger OPEN x\n", "ERR EBUSY not leader");
	expect(&c, "QUIT\nPING\n", "OK BYE");
	expect_eof(&c);
	client_close(&c);
	struct control_stats st = get_stats();
	CU_ASSERT_EQUAL(st.requests, 16); /* not the PING after QUIT */
	CU_ASSERT_EQUAL(st.errors[PROTO_ENOENT], 2);
	CU_ASSERT_EQUAL(st.errors[PROTO_EBUSY], 1);
	CU_ASSERT_EQUAL(st.accepted, 1);
	(void)line;
	teardown();
}

/* 1000 pipelined requests in one write come back in order. */
static void
test_pipelining(void)
{
	static char big[1000 * 32];
	char want[128];
	size_t off = 0;
	struct client c;

	setup(16, 30000, 65536);
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	for (int i = 0; i < 1000; i++) {
		if (i % 3 == 0)
			off += (size_t)snprintf(
			    big + off, sizeof big - off, "GET d%d\n", i);
		else if (i % 3 == 1)
			off += (size_t)snprintf(
			    big + off, sizeof big - off, "PING\n");
		else
			off += (size_t)snprintf(big + off, sizeof big - off,
			    "FORCE ledger auto %d\n", i);
	}
	client_send(&c, big, off);
	for (int i = 0; i < 1000; i++) {
		if (i % 3 == 0)
			snprintf(want, sizeof want,
			    "ERR ENOENT no such dependency 'd%d'", i);
		else if (i % 3 == 1)
			snprintf(want, sizeof want, "OK PONG");
		else
			snprintf(want, sizeof want, "OK %d", (i + 1) / 3);
		if (!reply_is(&c, i, want))
			break;
	}
	client_close(&c);
	teardown();
}

/* Requests for test_pipelining_backpressure, written by a second thread. */
#define BURST_N 30000

struct burst {
	int fd;
	char *data;
	size_t len;
};

static void *
burst_writer(void *arg)
{
	struct burst *b = arg;
	size_t off = 0;

	while (off < b->len) {
		ssize_t n = write(b->fd, b->data + off, b->len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	return NULL;
}

/*
 * Far more replies than the socket buffers hold, while the client reads
 * late: the server's direct write fills the socket, the rest waits in its
 * output buffer, reading pauses and resumes; every reply must still come,
 * once and in order, with a FORCE in the middle holding later ones back.
 */
static void
test_pipelining_backpressure(void)
{
	struct burst b;
	struct client c;
	pthread_t th;
	char want[128];
	size_t cap = (size_t)BURST_N * 32, off = 0;
	int i;

	setup(16, 30000, 65536);
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	b.data = malloc(cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b.data);
	for (i = 0; i < BURST_N; i++)
		off += (size_t)snprintf(b.data + off, cap - off, "%s\n",
		    i == BURST_N / 2 ? "FORCE ledger auto" : "GET ledger");
	b.fd = c.fd;
	b.len = off;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, burst_writer, &b), 0);
	usleep(300000); /* let both directions fill up */
	for (i = 0; i < BURST_N; i++) {
		if (i == BURST_N / 2)
			snprintf(want, sizeof want, "OK 1");
		else
			snprintf(want, sizeof want, "OK ledger CLOSED 0 local");
		if (!reply_is(&c, i, want))
			break;
	}
	CU_ASSERT_EQUAL(i, BURST_N);
	pthread_join(th, NULL);
	free(b.data);
	client_close(&c);
	teardown();
}

static void
set_defer_fn(void *arg)
{
	T.hs.defer = *(bool *)arg;
}

/* How the fleet finishes a held FORCE: done's arguments. */
struct completion {
	int code;
	uint64_t version;
	const char *msg;
};

static struct completion done_ok = {0, 41, NULL};
static struct completion done_err = {PROTO_EUNAVAIL, 0, "no\nquorum"};

/* On the loop: finish the held FORCE, once. */
static void
complete_fn(void *arg)
{
	const struct completion *cp = arg;
	done_fn done = T.hs.done;

	T.hs.done = NULL;
	if (done != NULL)
		done(cp->code, cp->version, cp->msg, T.hs.done_arg);
}

/* Wait (up to 2 s) until the hooks saw n FORCEs; what they saw. */
static struct hook_state
wait_forces(int n)
{
	struct hook_state hs = get_hooks();

	for (int i = 0; i < 200 && hs.forces < n; i++) {
		usleep(10000);
		hs = get_hooks();
	}
	return hs;
}

/* Replies behind an unfinished FORCE wait for it, events included. */
static void
test_async_order(void)
{
	struct client c;
	bool yes = true;
	struct hook_state hs;

	setup(16, 30000, 65536);
	loop_call(set_defer_fn, &yes);
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	client_puts(&c, "FORCE payments closed\nPING\nGET ledger\n");
	hs = wait_forces(1);
	CU_ASSERT_EQUAL(hs.forces, 1);
	/* nothing may overtake the FORCE's reply */
	expect_nothing(&c, 300);
	loop_call(complete_fn, &done_ok);
	expect(&c, NULL, "OK 41");
	expect(&c, NULL, "OK PONG");
	expect(&c, NULL, "OK ledger CLOSED 0 local");
	/* an error completion, with its message made one line */
	client_puts(&c, "FORCE payments open\nPING\n");
	wait_forces(2);
	loop_call(complete_fn, &done_err);
	expect(&c, NULL, "ERR EUNAVAIL no?quorum");
	expect(&c, NULL, "OK PONG");
	client_close(&c);
	teardown();
}

/* A done callback after the client went away must be harmless. */
static void
test_done_after_disconnect(void)
{
	struct client c;
	bool yes = true;

	setup(16, 30000, 65536);
	loop_call(set_defer_fn, &yes);
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	client_puts(&c, "FORCE payments open 10 gone\nPING\nPING\n");
	wait_forces(1);
	CU_ASSERT_EQUAL(get_hooks().forces, 1);
	client_close(&c);
	for (int i = 0; i < 500 && get_stats().clients != 0; i++)
		usleep(10000);
	CU_ASSERT_EQUAL(get_stats().clients, 0);
	loop_call(
	    complete_fn, &done_ok); /* ASan would catch a use after free */
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	expect(&c, "PING\n", "OK PONG");
	client_close(&c);
	/* and after control_free too */
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	client_puts(&c, "FORCE ledger open\n");
	wait_forces(2);
	loop_call(free_fn, NULL);
	expect_eof(&c);
	loop_call(complete_fn, &done_ok);
	client_close(&c);
	teardown();
}

/* An over-long line gets one ETOOLONG and the connection goes on. */
static void
test_too_long(void)
{
	static char big[PROTO_LINE_MAX * 3];
	struct client c;

	setup(16, 30000, 65536);
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	memset(big, 'A', 5000);
	big[5000] = '\n';
	client_send(&c, big, 5001);
	expect(&c, "PING\n", "ERR ETOOLONG line exceeds 4096 bytes");
	expect(&c, NULL, "OK PONG");
	/* exactly 4096 bytes with the "\n" is fine; 4097 is not */
	memcpy(big, "PING", 4);
	memset(big + 4, ' ', PROTO_LINE_MAX - 5);
	big[PROTO_LINE_MAX - 1] = '\n';
	client_send(&c, big, PROTO_LINE_MAX);
	expect(&c, NULL, "OK PONG");
	memset(big + 4, ' ', PROTO_LINE_MAX - 4);
	big[PROTO_LINE_MAX] = '\n';
	client_send(&c, big, PROTO_LINE_MAX + 1);
	expect(&c, NULL, "ERR ETOOLONG line exceeds 4096 bytes");
	/* a long line dribbled in pieces: still one error */
	memset(big, 'B', sizeof big);
	for (int i = 0; i < 3; i++) {
		client_send(&c, big, PROTO_LINE_MAX);
		usleep(20000);
	}
	client_puts(&c, "tail\nGET payments\n");
	expect(&c, NULL, "ERR ETOOLONG line exceeds 4096 bytes");
	expect(&c, NULL, "OK payments CLOSED 0 local");
	client_puts(&c, "GET pay\x01ments\n");
	expect(&c, NULL, "ERR EPROTO control character 0x01 in request");
	client_close(&c);
	teardown();
}

/* Run one admin command as uid 65534 in a child; return its exit code:
 * 0 if the reply started with want. */
static int
as_nobody(const char *req, const char *want)
{
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		struct client c;
		char line[256];
		if (setgid(65534) == -1 || setuid(65534) == -1)
			_exit(3);
		if (client_connect(&c) == -1)
			_exit(4);
		if (write(c.fd, req, strlen(req)) != (ssize_t)strlen(req))
			_exit(5);
		if (client_line(&c, line, sizeof line) < 0)
			_exit(6);
		_exit(strncmp(line, want, strlen(want)) == 0 ? 0 : 7);
	}
	if (pid == -1 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_eperm(void)
{
	if (getuid() != 0) {
		fprintf(stderr, "(not root: EPERM test skipped) ");
		return;
	}
	setup(16, 30000, 65536);
	CU_ASSERT_EQUAL(as_nobody("FORCE payments open\n",
	                    "ERR EPERM FORCE needs an admin"),
	    0);
	CU_ASSERT_EQUAL(as_nobody("PUBLISH payments OPEN\n", "ERR EPERM"), 0);
	CU_ASSERT_EQUAL(as_nobody("GET payments\n", "OK payments"), 0);
	CU_ASSERT_EQUAL(get_hooks().forces, 0);
	teardown();

	/* listed in admin_uids: allowed */
	setup(16, 30000, 65536);
	T.admin[0] = 65534;
	T.cfg.admin_uids = T.admin;
	T.cfg.n_admin_uids = 1;
	CU_ASSERT_EQUAL(as_nobody("FORCE payments open\n", "OK 1"), 0);
	CU_ASSERT_EQUAL(get_hooks().uid, 65534);
	teardown();
}

struct notify_arg {
	const char *dep;
	enum breaker_state state;
	int count;
};

static void
notify_fn(void *arg)
{
	struct notify_arg *na = arg;
	struct dep_view v = {
	    na->dep, na->state, 0, AUTH_AUTHORITATIVE, -1, 0, false};

	for (int i = 0; i < na->count; i++) {
		v.version = (uint64_t)i + 1;
		control_notify(T.ctl, &v);
	}
}

static void
test_watch(void)
{
	struct client c, all;
	struct notify_arg na = {"ledger", BREAKER_OPEN, 1};

	setup(16, 30000, 65536);
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	CU_ASSERT_EQUAL_FATAL(client_connect(&all), 0);
	expect(&c, "WATCH payments nope\n",
	    "ERR ENOENT no such dependency 'nope'");
	expect(&c, "WATCH payments payments\n", "OK");
	expect(&c, NULL, "EVENT payments CLOSED 0 local");
	expect(&all, "WATCH\n", "OK");
	expect(&all, NULL, "EVENT payments CLOSED 0 local");
	expect(&all, NULL, "EVENT ledger CLOSED 0 local");
	expect(&all, NULL, "EVENT search CLOSED 0 local");
	CU_ASSERT_EQUAL(get_stats().watchers, 2);
	loop_call(notify_fn, &na); /* ledger: only the all-watcher */
	na.dep = "payments";
	loop_call(notify_fn, &na);
	expect(&all, NULL, "EVENT ledger OPEN 1 authoritative");
	expect(&all, NULL, "EVENT payments OPEN 1 authoritative");
	expect(&c, NULL, "EVENT payments OPEN 1 authoritative");
	/* requests on a WATCH connection are still answered */
	expect(&c, "PING\n", "OK PONG");
	expect(&c, "WATCH ledger\n", "OK");
	expect(&c, NULL, "EVENT ledger CLOSED 0 local");
	na.dep = "ledger";
	na.state = BREAKER_HALF_OPEN;
	loop_call(notify_fn, &na);
	expect(&c, NULL, "EVENT ledger HALF_OPEN 1 authoritative");
	client_close(&c);
	client_close(&all);
	for (int i = 0; i < 500 && get_stats().watchers != 0; i++)
		usleep(10000);
	CU_ASSERT_EQUAL(get_stats().watchers, 0);
	teardown();
}

/* A subscriber that does not read is dropped; its memory stays bounded. */
static void
test_watch_overflow(void)
{
	struct notify_arg na = {"payments", BREAKER_OPEN, 20000};
	struct client slow, fast;
	char line[512];
	int events = 0, rc;

	setup(16, 30000, 4096);
	CU_ASSERT_EQUAL_FATAL(client_connect(&slow), 0);
	CU_ASSERT_EQUAL_FATAL(client_connect(&fast), 0);
	expect(&slow, "WATCH payments\n", "OK");
	expect(&slow, NULL, "EVENT payments CLOSED 0 local");
	expect(&fast, "WATCH search\n", "OK");
	expect(&fast, NULL, "EVENT search CLOSED 0 local");
	/* 20000 events in one loop turn: nothing can be written meanwhile */
	loop_call(notify_fn, &na);
	struct control_stats st = get_stats();
	CU_ASSERT_EQUAL(st.watch_dropped, 1);
	CU_ASSERT_EQUAL(st.watchers, 1);
	while ((rc = client_line(&slow, line, sizeof line)) >= 0
	    && strncmp(line, "EVENT ", 6) == 0)
		events++;
	CU_ASSERT_STRING_EQUAL(line, "ERR EBUSY watch buffer overflow");
	expect_eof(&slow);
	/* about 4096 bytes of ~36-byte lines, far below the 20000 sent */
	CU_ASSERT(events > 50 && events < 200);
	/* a subscriber keeping up in small batches is never dropped */
	na.dep = "search";
	na.count = 50;
	for (int round = 0; round < 20; round++) {
		loop_call(notify_fn, &na);
		for (int i = 0; i < na.count; i++)
			if (client_line(&fast, line, sizeof line) < 0
			    || strncmp(line, "EVENT search OPEN", 17) != 0) {
				CU_FAIL("fast watcher lost an event");
				round = 20;
				break;
			}
	}
	CU_ASSERT_EQUAL(get_stats().watch_dropped, 1);
	client_close(&slow);
	client_close(&fast);
	teardown();
}

static void
test_max_clients(void)
{
	struct client a, b, c;

	setup(2, 30000, 65536);
	CU_ASSERT_EQUAL_FATAL(client_connect(&a), 0);
	expect(&a, "PING\n", "OK PONG");
	CU_ASSERT_EQUAL_FATAL(client_connect(&b), 0);
	expect(&b, "PING\n", "OK PONG");
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	expect(&c, NULL, "ERR EBUSY too many clients");
	expect_eof(&c);
	client_close(&c);
	CU_ASSERT_EQUAL(get_stats().refused, 1);
	client_close(&a);
	for (int i = 0; i < 500 && get_stats().clients != 1; i++)
		usleep(10000);
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	expect(&c, "PING\n", "OK PONG");
	client_close(&b);
	client_close(&c);
	teardown();
}

/* A half-written line is given idle_timeout_ms; a silent client is not. */
static void
test_idle_timeout(void)
{
	struct client half, quiet;

	setup(16, 200, 65536);
	CU_ASSERT_EQUAL_FATAL(client_connect(&half), 0);
	CU_ASSERT_EQUAL_FATAL(client_connect(&quiet), 0);
	expect(&quiet, "PING\n", "OK PONG");
	client_puts(&half, "PIN");
	expect_eof(&half);
	usleep(400000);
	expect(&quiet, "PING\n", "OK PONG");
	client_close(&half);
	client_close(&quiet);
	teardown();
}

/* After the peer shuts down its side, buffered requests are answered. */
static void
test_half_close(void)
{
	struct client c;

	setup(16, 30000, 65536);
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	client_puts(&c, "PING\nGET search");
	shutdown(c.fd, SHUT_WR);
	expect(&c, NULL, "OK PONG");
	expect(&c, NULL, "OK search CLOSED 0 local");
	expect_eof(&c);
	client_close(&c);
	teardown();
}

static void
test_listen(void)
{
	struct control *other;
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	setup(16, 30000, 65536);
	CU_ASSERT_EQUAL(stat(T.path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0666);
	CU_ASSERT(S_ISSOCK(st.st_mode));
	/* a second server on a live socket refuses and leaves it alone */
	other = control_new(T.base, &T.cfg, T.reg, NULL);
	CU_ASSERT_EQUAL(control_listen(other), -1);
	control_free(other);
	CU_ASSERT_EQUAL(stat(T.path, &st), 0);
	teardown();

	/* a stale socket (nobody listening) is replaced */
	setup(16, 30000, 65536);
	loop_call(free_fn, NULL);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	strlcpy_b(sa.sun_path, T.path, sizeof sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_EQUAL(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
	T.ctl = control_new(T.base, &T.cfg, T.reg, NULL);
	CU_ASSERT_EQUAL(control_listen(T.ctl), 0);
	loop_call(free_fn, NULL);
	/* a regular file is never removed */
	fd = open(T.path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	other = control_new(T.base, &T.cfg, T.reg, NULL);
	CU_ASSERT_EQUAL(control_listen(other), -1);
	control_free(other);
	CU_ASSERT_EQUAL(stat(T.path, &st), 0);
	CU_ASSERT(S_ISREG(st.st_mode));
	unlink(T.path);
	/* an unknown group is an error */
	T.cfg.socket_group = (char *)(uintptr_t) "no-such-group-xyz";
	other = control_new(T.base, &T.cfg, T.reg, NULL);
	CU_ASSERT_EQUAL(control_listen(other), -1);
	control_free(other);
	T.cfg.socket_group = NULL;
	teardown();
}

/* On the loop: payments' fleet state (OPEN) is read; release. */
static void
sync_payments_fn(void *arg)
{
	struct dep *d = registry_find(T.reg, "payments");
	struct state_record r;
	struct znode_ver zv = {3, 3, 1};

	(void)arg;
	memset(&r, 0, sizeof r);
	r.state = BREAKER_OPEN;
	r.term = 1;
	dep_apply_state(d, &r, &zv, now_mono_ms(), 0);
	dep_set_synced(d, true, now_mono_ms());
	control_release(T.ctl, d);
}

/* On the loop: the start-up wait is over; release the rest. */
static void
wait_over_fn(void *arg)
{
	(void)arg;
	registry_wait_over(T.reg, now_mono_ms());
	control_release(T.ctl, NULL);
}

/*
 * A fleet member that has not read a dependency holds GET/ALLOW/LIST
 * about it, in request order, while PING on another connection answers
 * at once; the read releases them with the fleet's state, the end of
 * the start-up wait with the local breaker's.  A client that leaves
 * with held answers costs nothing.
 */
static void
test_held_until_synced(void)
{
	struct client a, b, c;
	struct control_stats st;

	setup_member();
	CU_ASSERT_EQUAL_FATAL(client_connect(&a), 0);
	CU_ASSERT_EQUAL_FATAL(client_connect(&b), 0);
	CU_ASSERT_EQUAL_FATAL(client_connect(&c), 0);
	client_puts(&c, "GET ledger\n");
	client_puts(&a,
	    "ALLOW payments\nPING\nGET payments\nLIST\n"
	    "ALLOW ledger\nPING\n");
	expect(&b, "PING\n", "OK PONG");
	expect_nothing(&a, 200);
	close(c.fd); /* leaves with a held answer */
	loop_call(sync_payments_fn, NULL);
	expect(&a, NULL, "OK DENY OPEN");
	expect(&a, NULL, "OK PONG");
	expect(&a, NULL, "OK payments OPEN 1 authoritative");
	/* LIST still waits: ledger and search are unread. */
	expect_nothing(&a, 200);
	loop_call(wait_over_fn, NULL);
	expect(&a, NULL, "OK 3");
	expect(&a, NULL, "payments OPEN 1 authoritative");
	expect(&a, NULL, "ledger CLOSED 0 local");
	expect(&a, NULL, "search CLOSED 0 local");
	expect(&a, NULL, "END");
	expect(&a, NULL, "OK ALLOW");
	expect(&a, NULL, "OK PONG");
	/* Nothing is held any more. */
	expect(&b, "GET search\n", "OK search CLOSED 0 local");
	st = get_stats();
	CU_ASSERT_EQUAL(st.held, 5);
	close(a.fd);
	close(b.fd);
	teardown();
}

/* On the loop: a reload removes ledger (as breakerd.c does it). */
static void
remove_ledger_fn(void *arg)
{
	struct dep *d = registry_find(T.reg, "ledger");

	(void)arg;
	control_forget(T.ctl, d);
	registry_remove(T.reg, d);
	control_release(T.ctl, NULL);
}

/*
 * A dependency removed while answers about it are held: they get the
 * error a request naming it now gets, in their place; the others wait
 * on, and a WATCH of it ends up subscribed to nothing.
 */
static void
test_held_then_removed(void)
{
	struct client a, w;

	setup_member();
	CU_ASSERT_EQUAL_FATAL(client_connect(&a), 0);
	CU_ASSERT_EQUAL_FATAL(client_connect(&w), 0);
	client_puts(
	    &a, "GET ledger\nPING\nWATCH ledger payments\nGET search\n");
	expect_nothing(&a, 200);
	loop_call(sync_payments_fn, NULL);
	client_puts(&w, "WATCH payments\n");
	expect(&w, NULL, "OK");
	expect(&w, NULL, "EVENT payments OPEN 1 authoritative");
	loop_call(remove_ledger_fn, NULL);
	expect(&a, NULL, "ERR ENOENT no such dependency 'ledger' (removed)");
	expect(&a, NULL, "OK PONG");
	expect(&a, NULL, "ERR ENOENT no such dependency 'ledger' (removed)");
	/* search is still unread: held */
	expect_nothing(&a, 200);
	loop_call(wait_over_fn, NULL);
	expect(&a, NULL, "OK search CLOSED 0 local");
	expect(&a, "GET ledger\n", "ERR ENOENT no such dependency 'ledger'");
	expect(&a, "LIST\n", "OK 2");
	expect(&a, NULL, "payments OPEN 1 authoritative");
	expect(&a, NULL, "search CLOSED 0 local");
	expect(&a, NULL, "END");
	close(a.fd);
	close(w.fd);
	teardown();
}

static const struct harness_test tests[] = {
    {"basic_commands", test_basic_commands},
    {"pipelining", test_pipelining},
    {"pipelining_backpressure", test_pipelining_backpressure},
    {"async_order", test_async_order},
    {"done_after_disconnect", test_done_after_disconnect},
    {"too_long", test_too_long},
    {"eperm", test_eperm},
    {"watch", test_watch},
    {"watch_overflow", test_watch_overflow},
    {"max_clients", test_max_clients},
    {"idle_timeout", test_idle_timeout},
    {"half_close", test_half_close},
    {"listen", test_listen},
    {"held_until_synced", test_held_until_synced},
    {"held_then_removed", test_held_then_removed},
    {NULL, NULL},
};

int
main(void)
{
	log_init("test_control", LOG_LVL_WARN);
	if (evthread_use_pthreads() == -1)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	return harness_run("control", tests);
}
