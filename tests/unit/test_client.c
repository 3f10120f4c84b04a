/*
 * test_client.c - unit tests of libbreakerd_client against a tiny fake
 * daemon that runs in a thread on a Unix socket in a mkdtemp directory.
 *
 * The fake speaks just enough of protocol v1 to test the client's side:
 * framing and parsing, ERR mapping, timeouts (a fake that never answers),
 * fail-open/closed when the daemon is gone, reconnection after a restart,
 * concurrent use of one handle, and watches that survive a restart.  The
 * real daemon's protocol is tested elsewhere.  Time bounds are generous and
 * never the only assertion.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "breakerd_client.h"
#include "harness.h"

#define FAKE_CONNS 32
#define FAKE_DEPS  16

enum fake_mode { FAKE_NORMAL, FAKE_SILENT, FAKE_HANGUP };

struct fake_conn {
	int fd;
	int watching;
	char watch[512]; /* the WATCH line's dependencies, " a b " */
	size_t len;
	char buf[8192];
};

struct fake_dep {
	char name[65];
	char state[16];
	uint64_t version;
	int changed;
};

struct fake {
	char dir[64];
	char path[96];
	int lfd;
	int wake[2];
	int stop;
	pthread_t thread;
	pthread_mutex_t lock;
	enum fake_mode mode;
	struct fake_conn conns[FAKE_CONNS];
	struct fake_dep deps[FAKE_DEPS];
	int ndeps;
	int nreports;
	char last_report[256];
};

/* Monotonic milliseconds for elapsed-time bounds. */
static uint64_t
test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleep ms milliseconds. */
static void
test_sleep_ms(int ms)
{
	poll(NULL, 0, ms);
}

/* Find or add dep (fake locked); new dependencies start CLOSED. */
static struct fake_dep *
fake_dep(struct fake *f, const char *name)
{
	struct fake_dep *d;
	int i;

	for (i = 0; i < f->ndeps; i++)
		if (strcmp(f->deps[i].name, name) == 0)
			return &f->deps[i];
	if (f->ndeps == FAKE_DEPS)
		return &f->deps[0];
	d = &f->deps[f->ndeps++];
	snprintf(d->name, sizeof d->name, "%s", name);
	snprintf(d->state, sizeof d->state, "CLOSED");
	d->version = 1;
	return d;
}

/* Write a whole string to a connection (blocking; replies are short). */
static void
fake_write(struct fake_conn *fc, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;

	while (len > 0 && (n = send(fc->fd, s, len, MSG_NOSIGNAL)) > 0) {
		s += n;
		len -= (size_t)n;
	}
}

/* Send an EVENT line for d. */
static void
fake_event(struct fake_conn *fc, const struct fake_dep *d)
{
	char line[256];

	snprintf(line, sizeof line, "EVENT %s %s %llu authoritative\n", d->name,
	    d->state, (unsigned long long)d->version);
	fake_write(fc, line);
}

/* Is dep among the names a watching connection asked for? */
static int
fake_watches(const struct fake_conn *fc, const char *dep)
{
	char key[80];

	if (strcmp(fc->watch, " ") == 0)
		return 1;
	snprintf(key, sizeof key, " %s ", dep);
	return strstr(fc->watch, key) != NULL;
}

/* WATCH [deps]: OK, then the current view of each. */
static void
fake_cmd_watch(struct fake *f, struct fake_conn *fc, const char *args)
{
	char name[65];
	size_t n;
	int i;

	snprintf(fc->watch, sizeof fc->watch, " %s ", args);
	fc->watching = 1;
	fake_write(fc, "OK\n");
	while (*args != '\0') {
		n = strcspn(args, " ");
		snprintf(name, sizeof name, "%.*s", (int)n, args);
		fake_dep(f, name);
		args += n + (args[n] == ' ');
	}
	for (i = 0; i < f->ndeps; i++)
		if (fake_watches(fc, f->deps[i].name))
			fake_event(fc, &f->deps[i]);
}

/* GET dep, with special names that provoke errors and bad replies. */
static void
fake_cmd_get(struct fake *f, struct fake_conn *fc, const char *dep)
{
	char line[6000];
	struct fake_dep *d;

	if (strcmp(dep, "missing") == 0)
		snprintf(line, sizeof line, "ERR ENOENT no such dependency\n");
	else if (strncmp(dep, "err-", 4) == 0)
		snprintf(line, sizeof line, "ERR %s test error\n", dep + 4);
	else if (strcmp(dep, "garbled") == 0)
		snprintf(line, sizeof line, "OK garbled CLOSED\n");
	else if (strcmp(dep, "wrongdep") == 0)
		snprintf(line, sizeof line, "OK other CLOSED 1 local\n");
	else if (strcmp(dep, "huge") == 0) {
		memset(line, 'x', 5000);
		snprintf(line + 5000, sizeof line - 5000, "\n");
	} else {
		d = fake_dep(f, dep);
		snprintf(line, sizeof line, "OK %s %s %llu authoritative\n",
		    d->name, d->state, (unsigned long long)d->version);
	}
	fake_write(fc, line);
}

/* ALLOW dep. */
static void
fake_cmd_allow(struct fake *f, struct fake_conn *fc, const char *dep)
{
	char line[128];
	struct fake_dep *d = fake_dep(f, dep);

	if (strcmp(d->state, "CLOSED") == 0)
		snprintf(line, sizeof line, "OK ALLOW\n");
	else
		snprintf(line, sizeof line, "OK DENY %s\n", d->state);
	fake_write(fc, line);
}

/* LIST: every known dependency, framed by OK <n> and END. */
static void
fake_cmd_list(struct fake *f, struct fake_conn *fc)
{
	char line[256];
	int i;

	snprintf(line, sizeof line, "OK %d\n", f->ndeps);
	fake_write(fc, line);
	for (i = 0; i < f->ndeps; i++) {
		snprintf(line, sizeof line, "%s %s %llu local\n",
		    f->deps[i].name, f->deps[i].state,
		    (unsigned long long)f->deps[i].version);
		fake_write(fc, line);
	}
	fake_write(fc, "END\n");
}

/* Answer one request line (fake locked). */
static void
fake_handle(struct fake *f, struct fake_conn *fc, const char *line)
{
	if (strcmp(line, "PING") == 0)
		fake_write(fc, "OK PONG\n");
	else if (strncmp(line, "GET ", 4) == 0)
		fake_cmd_get(f, fc, line + 4);
	else if (strncmp(line, "ALLOW ", 6) == 0)
		fake_cmd_allow(f, fc, line + 6);
	else if (strncmp(line, "REPORT ", 7) == 0) {
		f->nreports++;
		snprintf(f->last_report, sizeof f->last_report, "%s", line);
		fake_write(fc, "OK\n");
	} else if (strcmp(line, "WATCH") == 0)
		fake_cmd_watch(f, fc, "");
	else if (strncmp(line, "WATCH ", 6) == 0)
		fake_cmd_watch(f, fc, line + 6);
	else if (strcmp(line, "LIST") == 0)
		fake_cmd_list(f, fc);
	else if (strcmp(line, "STATUS") == 0)
		fake_write(fc, "OK\nversion=fake\nuptime_s=1\nEND\n");
	else
		fake_write(fc, "ERR EPROTO unknown command\n");
}

/* Close one connection slot. */
static void
fake_conn_close(struct fake_conn *fc)
{
	close(fc->fd);
	memset(fc, 0, sizeof *fc);
	fc->fd = -1;
}

/* Read from a connection and answer each complete line. */
static void
fake_conn_read(struct fake *f, struct fake_conn *fc)
{
	char *nl;
	ssize_t n;
	size_t used;

	n = read(fc->fd, fc->buf + fc->len, sizeof fc->buf - 1 - fc->len);
	if (n <= 0 || f->mode == FAKE_HANGUP) {
		fake_conn_close(fc);
		return;
	}
	fc->len += (size_t)n;
	while ((nl = memchr(fc->buf, '\n', fc->len)) != NULL) {
		*nl = '\0';
		used = (size_t)(nl - fc->buf) + 1;
		if (f->mode == FAKE_NORMAL)
			fake_handle(f, fc, fc->buf);
		fc->len -= used;
		memmove(fc->buf, nl + 1, fc->len);
	}
}

/* Accept a connection into a free slot (closing it at once in HANGUP). */
static void
fake_accept(struct fake *f)
{
	int fd, i;

	if ((fd = accept(f->lfd, NULL, NULL)) == -1)
		return;
	if (f->mode == FAKE_HANGUP) {
		close(fd);
		return;
	}
	for (i = 0; i < FAKE_CONNS; i++)
		if (f->conns[i].fd == -1) {
			f->conns[i].fd = fd;
			return;
		}
	close(fd);
}

/* Push EVENT lines for every changed dependency to its watchers. */
static void
fake_push(struct fake *f)
{
	int i, j;

	for (i = 0; i < f->ndeps; i++) {
		if (!f->deps[i].changed)
			continue;
		f->deps[i].changed = 0;
		for (j = 0; j < FAKE_CONNS; j++)
			if (f->conns[j].fd != -1 && f->conns[j].watching
			    && fake_watches(&f->conns[j], f->deps[i].name))
				fake_event(&f->conns[j], &f->deps[i]);
	}
}

/* The fake daemon's loop: poll the listener, the wake pipe, the clients. */
static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfd[FAKE_CONNS + 2];
	char b[64];
	int i;

	for (;;) {
		pfd[0].fd = f->lfd;
		pfd[1].fd = f->wake[0];
		for (i = 0; i < FAKE_CONNS; i++)
			pfd[i + 2].fd = f->conns[i].fd;
		for (i = 0; i < FAKE_CONNS + 2; i++) {
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (poll(pfd, FAKE_CONNS + 2, -1) == -1 && errno != EINTR)
			break;
		pthread_mutex_lock(&f->lock);
		if (pfd[1].revents != 0 && read(f->wake[0], b, sizeof b) > 0)
			fake_push(f);
		if (f->stop) {
			pthread_mutex_unlock(&f->lock);
			break;
		}
		if (pfd[0].revents != 0)
			fake_accept(f);
		for (i = 0; i < FAKE_CONNS; i++)
			if (f->conns[i].fd != -1 && pfd[i + 2].revents != 0)
				fake_conn_read(f, &f->conns[i]);
		pthread_mutex_unlock(&f->lock);
	}
	return NULL;
}

/* Bind and listen on f->path and start the fake's thread. */
static void
fake_start(struct fake *f)
{
	struct sockaddr_un sun;
	int i;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(f->lfd != -1);
	CU_ASSERT_FATAL(bind(f->lfd, (struct sockaddr *)&sun, sizeof sun) == 0);
	CU_ASSERT_FATAL(listen(f->lfd, 16) == 0);
	CU_ASSERT_FATAL(pipe(f->wake) == 0);
	for (i = 0; i < FAKE_CONNS; i++) {
		memset(&f->conns[i], 0, sizeof f->conns[i]);
		f->conns[i].fd = -1;
	}
	f->stop = 0;
	CU_ASSERT_FATAL(pthread_create(&f->thread, NULL, fake_main, f) == 0);
}

/* Make a fake in a fresh temporary directory and start it. */
static struct fake *
fake_new(enum fake_mode mode)
{
	struct fake *f = calloc(1, sizeof *f);

	CU_ASSERT_FATAL(f != NULL);
	snprintf(f->dir, sizeof f->dir, "/tmp/bdclient.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(f->dir) != NULL);
	snprintf(f->path, sizeof f->path, "%s/breakerd.sock", f->dir);
	pthread_mutex_init(&f->lock, NULL);
	f->mode = mode;
	fake_start(f);
	return f;
}

/* Stop the thread, close every socket and remove the socket file. */
static void
fake_stop(struct fake *f)
{
	int i;

	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	pthread_mutex_unlock(&f->lock);
	CU_ASSERT(write(f->wake[1], "s", 1) == 1);
	pthread_join(f->thread, NULL);
	for (i = 0; i < FAKE_CONNS; i++)
		if (f->conns[i].fd != -1)
			fake_conn_close(&f->conns[i]);
	close(f->lfd);
	close(f->wake[0]);
	close(f->wake[1]);
	f->lfd = -1;
	unlink(f->path);
}

/* Stop the fake and remove its directory. */
static void
fake_free(struct fake *f)
{
	if (f->lfd != -1)
		fake_stop(f);
	rmdir(f->dir);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Change a dependency's state and tell the watchers. */
static void
fake_set_state(struct fake *f, const char *dep, const char *state)
{
	struct fake_dep *d;

	pthread_mutex_lock(&f->lock);
	d = fake_dep(f, dep);
	snprintf(d->state, sizeof d->state, "%s", state);
	d->version++;
	d->changed = 1;
	if (f->lfd != -1) /* running: wake it to push the events */
		CU_ASSERT(write(f->wake[1], "p", 1) == 1);
	pthread_mutex_unlock(&f->lock);
}

/* A client of the fake with short timeouts. */
static struct bd_client *
test_open(const struct fake *f, int timeout_ms, int fail_open)
{
	struct bd_options o;
	struct bd_client *c;

	bd_options_init(&o);
	o.socket_path = f->path;
	o.timeout_ms = timeout_ms;
	o.fail_open = fail_open;
	o.reconnect_ms = 20;
	c = bd_open(&o);
	CU_ASSERT_FATAL(c != NULL);
	return c;
}

static void
test_parse_view(void)
{
	struct bd_view v;
	char longdep[200];

	CU_ASSERT(bd_parse_view("OK payments OPEN 42 stale", &v) == 0);
	CU_ASSERT_STRING_EQUAL(v.dep, "payments");
	CU_ASSERT_STRING_EQUAL(v.state, "OPEN");
	CU_ASSERT(v.version == 42);
	CU_ASSERT_STRING_EQUAL(v.authority, "stale");
	CU_ASSERT(bd_parse_view("EVENT db HALF_OPEN 18446744073709551615 "
	                        "local extra words",
	              &v)
	    == 0);
	CU_ASSERT(v.version == UINT64_MAX);
	CU_ASSERT_STRING_EQUAL(v.authority, "local");
	CU_ASSERT(bd_parse_view("OK db OPEN 18446744073709551616 local", &v)
	    == BD_EBADREPLY);
	CU_ASSERT(bd_parse_view("OK db OPEN -1 local", &v) == BD_EBADREPLY);
	CU_ASSERT(bd_parse_view("OK db OPEN 12", &v) == BD_EBADREPLY);
	CU_ASSERT(bd_parse_view("ERR ENOENT db x y", &v) == BD_EBADREPLY);
	CU_ASSERT(bd_parse_view("", &v) == BD_EBADREPLY);
	CU_ASSERT(bd_parse_view("OK db AVERYLONGSTATENAME 1 local", &v)
	    == BD_EBADREPLY);
	memset(longdep, 'd', sizeof longdep);
	memcpy(longdep, "OK ", 3);
	snprintf(longdep + 3 + 65, sizeof longdep - 68, " OPEN 1 local");
	CU_ASSERT(bd_parse_view(longdep, &v) == BD_EBADREPLY);
}

static void
test_get(void)
{
	struct fake *f = fake_new(FAKE_NORMAL);
	struct bd_client *c = test_open(f, 1000, 1);
	struct bd_view v;

	CU_ASSERT(bd_get(c, "payments", &v) == 0);
	CU_ASSERT_STRING_EQUAL(v.dep, "payments");
	CU_ASSERT_STRING_EQUAL(v.state, "CLOSED");
	CU_ASSERT(v.version == 1);
	CU_ASSERT_STRING_EQUAL(v.authority, "authoritative");
	fake_set_state(f, "payments", "FORCED_OPEN");
	CU_ASSERT(bd_get(c, "payments", &v) == 0);
	CU_ASSERT_STRING_EQUAL(v.state, "FORCED_OPEN");
	CU_ASSERT(v.version == 2);
	CU_ASSERT(bd_get(c, "has space", &v) == BD_EINVAL);
	CU_ASSERT(bd_get(c, "", &v) == BD_EINVAL);
	CU_ASSERT(bd_get(c, "wrongdep", &v) == BD_EBADREPLY);
	bd_close(c);
	fake_free(f);
}

static void
test_allow(void)
{
	struct fake *f = fake_new(FAKE_NORMAL);
	struct bd_client *open_c = test_open(f, 1000, 1);
	struct bd_client *closed_c = test_open(f, 1000, 0);

	CU_ASSERT(bd_allow(open_c, "payments") == 1);
	CU_ASSERT(bd_allow(closed_c, "payments") == 1);
	fake_set_state(f, "payments", "OPEN");
	/* A real DENY wins over a fail-open policy. */
	CU_ASSERT(bd_allow(open_c, "payments") == 0);
	CU_ASSERT(bd_allow(closed_c, "payments") == 0);
	fake_set_state(f, "payments", "CLOSED");
	CU_ASSERT(bd_allow(closed_c, "payments") == 1);
	bd_close(open_c);
	bd_close(closed_c);
	fake_free(f);
}

static void
test_report(void)
{
	struct fake *f = fake_new(FAKE_NORMAL);
	struct bd_client *c = test_open(f, 1000, 1);
	char name[100];

	CU_ASSERT(bd_report(c, "payments", BD_FAIL, 123) == 0);
	CU_ASSERT_STRING_EQUAL(f->last_report, "REPORT payments fail 123");
	CU_ASSERT(bd_report(c, "ledger", BD_SLOW, 4000) == 0);
	CU_ASSERT_STRING_EQUAL(f->last_report, "REPORT ledger slow 4000");
	CU_ASSERT(bd_report(c, "ledger", BD_OK, 0) == 0);
	CU_ASSERT_STRING_EQUAL(f->last_report, "REPORT ledger ok 0");
	CU_ASSERT(f->nreports == 3);
	memset(name, 'n', sizeof name);
	name[BD_DEP_MAX + 1] = '\0';
	CU_ASSERT(bd_report(c, name, BD_OK, 1) == BD_EINVAL);
	name[BD_DEP_MAX] = '\0';
	CU_ASSERT(bd_report(c, name, BD_OK, 1) == 0);
	CU_ASSERT(bd_report(c, "x\ny", BD_OK, 1) == BD_EINVAL);
	CU_ASSERT(bd_report(c, "x", (enum bd_outcome)7, 1) == BD_EINVAL);
	CU_ASSERT(f->nreports == 4);
	bd_close(c);
	fake_free(f);
}

/* Retry GET until it works (after a throttled reconnect); its result. */
static int
test_get_eventually(struct bd_client *c, const char *dep, struct bd_view *v)
{
	uint64_t end = test_now_ms() + 5000;
	int rc;

	while ((rc = bd_get(c, dep, v)) != 0 && test_now_ms() < end)
		test_sleep_ms(10);
	return rc;
}

static void
test_errors(void)
{
	struct fake *f = fake_new(FAKE_NORMAL);
	struct bd_client *c = test_open(f, 1000, 1);
	struct bd_view v;
	char reply[64];

	CU_ASSERT(bd_get(c, "missing", &v) == BD_ENOENT);
	CU_ASSERT(bd_get(c, "err-EPERM", &v) == BD_EPERM);
	CU_ASSERT(bd_get(c, "err-EBUSY", &v) == BD_EBUSY);
	CU_ASSERT(bd_get(c, "err-EUNAVAIL", &v) == BD_EUNAVAIL);
	CU_ASSERT(bd_get(c, "err-ETOOLONG", &v) == BD_ETOOLONG);
	CU_ASSERT(bd_get(c, "err-EPROTO", &v) == BD_EPROTO);
	CU_ASSERT(bd_get(c, "err-EWHATEVER", &v) == BD_ESERVER);
	CU_ASSERT(bd_get(c, "garbled", &v) == BD_EBADREPLY);
	CU_ASSERT(bd_command(c, "FROB", reply, sizeof reply) == BD_EPROTO);
	CU_ASSERT(strncmp(reply, "ERR EPROTO ", 11) == 0);
	CU_ASSERT(bd_command(c, "PING", reply, sizeof reply) == 0);
	CU_ASSERT_STRING_EQUAL(reply, "OK PONG");
	CU_ASSERT(bd_command(c, "PING", reply, 4) == 0);
	CU_ASSERT_STRING_EQUAL(reply, "OK ");
	CU_ASSERT(bd_command(c, "LIST", reply, sizeof reply) == BD_EINVAL);
	CU_ASSERT(bd_command(c, "watch a", reply, sizeof reply) == BD_EINVAL);
	CU_ASSERT(
	    bd_command(c, "PING\nPING", reply, sizeof reply) == BD_EINVAL);
	/* A reply line over BD_LINE_MAX is refused; the client recovers. */
	CU_ASSERT(bd_get(c, "huge", &v) == BD_EBADREPLY);
	CU_ASSERT(test_get_eventually(c, "payments", &v) == 0);
	CU_ASSERT_STRING_EQUAL(v.state, "CLOSED");
	CU_ASSERT_STRING_EQUAL(
	    bd_strerror(BD_ETIMEOUT), "timed out waiting for the daemon");
	CU_ASSERT_STRING_EQUAL(bd_strerror(12345), "unknown error");
	bd_close(c);
	fake_free(f);
}

/* Collect the lines of a multi-line reply. */
static void
test_query_cb(const char *line, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%s|", line);
}

static void
test_query(void)
{
	struct fake *f = fake_new(FAKE_NORMAL);
	struct bd_client *c = test_open(f, 1000, 1);
	char out[512] = "";

	fake_set_state(f, "a", "OPEN");
	fake_set_state(f, "b", "CLOSED");
	CU_ASSERT(bd_query(c, "LIST", test_query_cb, out) == 0);
	CU_ASSERT_STRING_EQUAL(out, "OK 2|a OPEN 2 local|b CLOSED 2 local|");
	out[0] = '\0';
	CU_ASSERT(bd_query(c, "STATUS", test_query_cb, out) == 0);
	CU_ASSERT_STRING_EQUAL(out, "OK|version=fake|uptime_s=1|");
	out[0] = '\0';
	CU_ASSERT(bd_query(c, "NOPE", test_query_cb, out) == BD_EPROTO);
	CU_ASSERT_STRING_EQUAL(out, "ERR EPROTO unknown command|");
	/* The connection is still in step after all that. */
	CU_ASSERT(bd_command(c, "PING", out, sizeof out) == 0);
	CU_ASSERT_STRING_EQUAL(out, "OK PONG");
	bd_close(c);
	fake_free(f);
}

static void
test_timeout(void)
{
	struct fake *f = fake_new(FAKE_SILENT);
	struct bd_client *c = test_open(f, 100, 1);
	struct bd_client *closed_c = test_open(f, 100, 0);
	struct bd_view v;
	uint64_t t0;

	t0 = test_now_ms();
	CU_ASSERT(bd_get(c, "payments", &v) == BD_ETIMEOUT);
	CU_ASSERT(test_now_ms() - t0 < 3000);
	test_sleep_ms(30); /* past reconnect_ms: a fresh attempt, same fate */
	t0 = test_now_ms();
	CU_ASSERT(bd_allow(c, "payments") == 1);
	CU_ASSERT(bd_allow(closed_c, "payments") == 0);
	CU_ASSERT(bd_report(closed_c, "payments", BD_OK, 1) != 0);
	CU_ASSERT(test_now_ms() - t0 < 5000);
	bd_close(c);
	bd_close(closed_c);
	fake_free(f);
}

static void
test_unreachable(void)
{
	struct fake *f = fake_new(FAKE_NORMAL);
	struct bd_client *c = test_open(f, 1000, 1);
	struct bd_client *closed_c = test_open(f, 1000, 0);
	struct bd_view v;
	char reply[64];

	CU_ASSERT(bd_allow(closed_c, "payments") == 1);
	fake_stop(f);
	CU_ASSERT(bd_get(c, "payments", &v) == BD_EUNREACH);
	CU_ASSERT(bd_allow(c, "payments") == 1);
	CU_ASSERT(bd_allow(closed_c, "payments") == 0);
	CU_ASSERT(bd_command(c, "PING", reply, sizeof reply) == BD_EUNREACH);
	bd_close(c);
	bd_close(closed_c);
	/* Never connected at all: bd_open still gives a handle. */
	c = test_open(f, 1000, 0);
	CU_ASSERT(bd_get(c, "payments", &v) == BD_EUNREACH);
	CU_ASSERT(bd_allow(c, "payments") == 0);
	bd_close(c);
	fake_free(f);
}

static void
test_hangup(void)
{
	struct fake *f = fake_new(FAKE_HANGUP);
	struct bd_client *c = test_open(f, 500, 0);
	struct bd_view v;
	int i, rc;

	/* Writes to a socket the daemon closed must not raise SIGPIPE. */
	signal(SIGPIPE, SIG_DFL);
	for (i = 0; i < 20; i++) {
		rc = bd_get(c, "payments", &v);
		CU_ASSERT(rc == BD_EUNREACH || rc == BD_ETIMEOUT);
		CU_ASSERT(bd_allow(c, "payments") == 0);
		test_sleep_ms(25);
	}
	bd_close(c);
	fake_free(f);
}

static void
test_reconnect(void)
{
	struct fake *f = fake_new(FAKE_NORMAL);
	struct bd_client *c = test_open(f, 1000, 0);
	struct bd_view v;

	CU_ASSERT(bd_get(c, "payments", &v) == 0);
	/* A restart between two requests is invisible to the caller. */
	fake_stop(f);
	fake_start(f);
	CU_ASSERT(bd_get(c, "payments", &v) == 0);
	/* A request while the daemon is down fails; then it comes back. */
	fake_stop(f);
	CU_ASSERT(bd_get(c, "payments", &v) == BD_EUNREACH);
	fake_set_state(f, "payments", "OPEN");
	fake_start(f);
	CU_ASSERT(test_get_eventually(c, "payments", &v) == 0);
	CU_ASSERT_STRING_EQUAL(v.state, "OPEN");
	CU_ASSERT(bd_allow(c, "payments") == 0);
	bd_close(c);
	fake_free(f);
}

struct test_worker {
	struct bd_client *c;
	int id;
	int ok;
};

/* One of the concurrent users: GETs of its own dependency, checked. */
static void *
test_worker_main(void *arg)
{
	struct test_worker *tw = arg;
	struct bd_view v;
	char dep[16];
	int i;

	snprintf(dep, sizeof dep, "dep%d", tw->id);
	for (i = 0; i < 200; i++) {
		if (bd_get(tw->c, dep, &v) == 0 && strcmp(v.dep, dep) == 0)
			tw->ok++;
		if (bd_report(tw->c, dep, BD_OK, (unsigned)i) == 0)
			tw->ok++;
	}
	return NULL;
}

static void
test_concurrent(void)
{
	struct fake *f = fake_new(FAKE_NORMAL);
	struct bd_client *c = test_open(f, 5000, 0);
	struct test_worker tw[8];
	pthread_t th[8];
	int i;

	for (i = 0; i < 8; i++) {
		tw[i].c = c;
		tw[i].id = i;
		tw[i].ok = 0;
		CU_ASSERT_FATAL(
		    pthread_create(&th[i], NULL, test_worker_main, &tw[i])
		    == 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT(tw[i].ok == 400);
	}
	CU_ASSERT(f->nreports == 8 * 200);
	bd_close(c);
	fake_free(f);
}

struct test_events {
	pthread_mutex_t lock;
	int n;
	struct bd_view v[64];
};

/* Watch callback: record the view. */
static void
test_watch_cb(const struct bd_view *view, void *arg)
{
	struct test_events *te = arg;

	pthread_mutex_lock(&te->lock);
	if (te->n < 64)
		te->v[te->n++] = *view;
	pthread_mutex_unlock(&te->lock);
}

/* Wait until an event for dep in state (dep "" = unreachable) arrives
 * after index from; its index, or -1 after a generous bound. */
static int
test_wait_event(
    struct test_events *te, int from, const char *dep, const char *state)
{
	uint64_t end = test_now_ms() + 5000;
	int i;

	while (test_now_ms() < end) {
		pthread_mutex_lock(&te->lock);
		for (i = from; i < te->n; i++)
			if (strcmp(te->v[i].dep, dep) == 0
			    && strcmp(te->v[i].state, state) == 0) {
				pthread_mutex_unlock(&te->lock);
				return i;
			}
		pthread_mutex_unlock(&te->lock);
		test_sleep_ms(5);
	}
	return -1;
}

static void
test_watch(void)
{
	static const char *const deps[] = {"payments", "ledger"};
	struct fake *f = fake_new(FAKE_NORMAL);
	struct test_events te = {.n = 0};
	struct bd_options o;
	struct bd_watch *w;
	int i, j, lost = 0;

	pthread_mutex_init(&te.lock, NULL);
	bd_options_init(&o);
	o.socket_path = f->path;
	o.reconnect_ms = 20;
	w = bd_watch_start(&o, deps, 2, test_watch_cb, &te);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(test_wait_event(&te, 0, "payments", "CLOSED") >= 0);
	CU_ASSERT(test_wait_event(&te, 0, "ledger", "CLOSED") >= 0);
	fake_set_state(f, "payments", "OPEN");
	fake_set_state(f, "other", "OPEN"); /* not watched */
	i = test_wait_event(&te, 0, "payments", "OPEN");
	CU_ASSERT(i >= 0);
	CU_ASSERT(te.v[i].version == 2);
	/* Restart: one "unreachable" view, then current views again. */
	fake_stop(f);
	i = test_wait_event(&te, i, "", "UNKNOWN");
	CU_ASSERT(i >= 0);
	CU_ASSERT_STRING_EQUAL(te.v[i].authority, "unreachable");
	test_sleep_ms(100); /* several failed reconnects: still one notice */
	fake_set_state(f, "ledger", "HALF_OPEN");
	fake_start(f);
	CU_ASSERT(test_wait_event(&te, i, "payments", "OPEN") > i);
	CU_ASSERT(test_wait_event(&te, i, "ledger", "HALF_OPEN") > i);
	pthread_mutex_lock(&te.lock);
	for (j = 0; j < te.n; j++) {
		CU_ASSERT(strcmp(te.v[j].dep, "other") != 0);
		lost += te.v[j].dep[0] == '\0';
	}
	pthread_mutex_unlock(&te.lock);
	CU_ASSERT(lost == 1);
	bd_watch_stop(w);
	fake_free(f);
	pthread_mutex_destroy(&te.lock);
}

static void
test_watch_unreachable(void)
{
	struct fake *f = fake_new(FAKE_NORMAL);
	struct test_events te = {.n = 0};
	struct bd_options o;
	struct bd_watch *w;
	int i, lost = 0;

	pthread_mutex_init(&te.lock, NULL);
	fake_stop(f);
	bd_options_init(&o);
	o.socket_path = f->path;
	o.reconnect_ms = 10;
	w = bd_watch_start(&o, NULL, 0, test_watch_cb, &te);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(test_wait_event(&te, 0, "", "UNKNOWN") == 0);
	test_sleep_ms(100);
	bd_watch_stop(w);
	for (i = 0; i < te.n; i++)
		lost += te.v[i].dep[0] == '\0';
	CU_ASSERT(lost == 1); /* reported once per outage, not per retry */
	CU_ASSERT(bd_watch_start(&o, NULL, 0, NULL, NULL) == NULL);
	fake_free(f);
	pthread_mutex_destroy(&te.lock);
}

static const struct harness_test tests[] = {
    {"parse_view", test_parse_view},
    {"get", test_get},
    {"allow", test_allow},
    {"report", test_report},
    {"errors", test_errors},
    {"query", test_query},
    {"timeout", test_timeout},
    {"unreachable", test_unreachable},
    {"hangup", test_hangup},
    {"reconnect", test_reconnect},
    {"concurrent", test_concurrent},
    {"watch", test_watch},
    {"watch_unreachable", test_watch_unreachable},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("client", tests);
}
