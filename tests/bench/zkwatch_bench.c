/*
 * zkwatch_bench.c - the propagation measurements of the fleet benchmark
 * (tests/bench/bench_fleet.py), both sides timed by the same C code so the
 * ratios compare ZooKeeper with breakerd, not two clients:
 *
 *   zk mode     the baseline: one writer session does setData on K znodes
 *               (pipelined), N watcher sessions each hold a data watch on
 *               every one of them; per round it times set -> watch fired
 *               on every (session, znode), and set -> the re-arming
 *               getData answered (a client that wants the new value needs
 *               that read; breakerd does it too);
 *   sock mode   breakerd: N WATCH subscribers, one per instance socket; per
 *               transition it sends PUBLISH <dep> OPEN|CLOSED (alternating)
 *               to the leader's socket and times PUBLISH -> the EVENT line
 *               on every subscriber;
 *   read mode   a raw client learning K states: connect, then getData with
 *               a watch on each znode; prints "L <connect_us> <all_us>"
 *               counted from the start of main.
 *
 * One line per round on stdout:
 *
 *   R <round> <ack_us> <first_us> <all_us> <all_read_us>
 *
 * ack: the writer's (last) reply (setData completion, PUBLISH's "OK <v>");
 * first/all: the first and the last subscriber to see it; all_read: the
 * last re-arming read (zk) or equal to all (sock).  Lines starting with
 * '#' are comments.  Exit status 0, or 1 if something broke (no session,
 * a round not seen within 10 s, an ERR reply); timing never fails.
 *
 *   zkwatch_bench zk -h HOSTS -p PATH -n WATCHERS [-k KEYS] -r ROUNDS
 *                    [-g GAP_MS]
 *   zkwatch_bench read -h HOSTS -p PATH -k KEYS
 *   zkwatch_bench sock -l LEADER_SOCK -d DEP -r ROUNDS [-g GAP_MS] SOCK...
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

#include "util.h"

#define ZW_MAX_SUBS   512  /* watcher sessions or sockets */
#define ZW_MAX_KEYS   1000 /* znodes per watcher session */
#define ZW_MAX_ROUNDS 100000
#define ZW_ROUND_MS   20000 /* a round not complete by then is an error */
#define ZW_CONNECT_MS 15000
#define ZW_TIMEOUT_MS 10000 /* requested session timeout */
#define ZW_LINE       4096

struct zw_bench;

/* One watch: a (session, znode) pair (zk mode). */
struct zw_watcher {
	struct zw_bench *b;
	zhandle_t *zh;
	const char *path;
	uint64_t fire_ns; /* this round's watch event, 0 until it fires */
	uint64_t read_ns; /* this round's re-arming read answered */
};

/* What the completion threads and the main thread share (zk mode). */
struct zw_bench {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int nconnected;
	int narmed; /* watches registered (read answered) */
	int nread;  /* re-arming reads answered after a fire, this round */
	int nacked; /* setData answered, this round */
	int errors;
	uint64_t t0_ns;
	uint64_t ack_ns; /* the last setData answer of the round */
	char **paths;    /* k znodes: PATH (k = 1) or PATH-0 .. PATH-<k-1> */
	size_t k;
	zhandle_t **sess; /* nsess watcher sessions */
	size_t nsess;
	struct zw_watcher *w; /* nsess * k */
	size_t n;
};

/* One subscriber connection (sock mode). */
struct zw_sub {
	int fd;
	char buf[ZW_LINE];
	size_t len;
	uint64_t seen_ns;
};

struct zw_opts {
	const char *hosts, *path, *leader, *dep;
	unsigned long watchers, keys, rounds, gap_ms;
};

static void zw_get_done(int rc, const char *value, int len,
    const struct Stat *stat, const void *data);

/* Microseconds from a to b (0 if b is unset). */
static unsigned long
zw_us(uint64_t a, uint64_t b)
{
	return b > a ? (unsigned long)((b - a) / 1000) : 0;
}

/* Sleep ms milliseconds. */
static void
zw_sleep_ms(unsigned long ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Allocate or die: a benchmark has nothing to fall back on. */
static void *
zw_calloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL) {
		perror("calloc");
		exit(1);
	}
	return p;
}

/* A timespec ms milliseconds from now on CLOCK_REALTIME (condvar clock). */
static struct timespec
zw_deadline(unsigned long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* Wait until *counter reaches want (mutex held); -1 on timeout. */
static int
zw_wait_count(
    struct zw_bench *b, const int *counter, int want, unsigned long ms)
{
	struct timespec dl = zw_deadline(ms);

	while (*counter < want && b->errors == 0)
		if (pthread_cond_timedwait(&b->cv, &b->mu, &dl) == ETIMEDOUT)
			return -1;
	return b->errors == 0 ? 0 : -1;
}

/* Count an error and wake the main thread. */
static void
zw_error(struct zw_bench *b)
{
	pthread_mutex_lock(&b->mu);
	b->errors++;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* Session watcher of every handle: count connects. */
static void
zw_session(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct zw_bench *b = ctx;

	(void)zh;
	(void)path;
	if (type != ZOO_SESSION_EVENT)
		return;
	pthread_mutex_lock(&b->mu);
	if (state == ZOO_CONNECTED_STATE)
		b->nconnected++;
	else if (state == ZOO_EXPIRED_SESSION_STATE
	    || state == ZOO_AUTH_FAILED_STATE)
		b->errors++;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* Issue the re-arming read of one watch (data watch + getData). */
static void
zw_arm(struct zw_watcher *w, watcher_fn fn)
{
	if (zoo_awget(w->zh, w->path, fn, w, zw_get_done, w) != ZOK)
		zw_error(w->b);
}

/* The data watch fired: time it and re-arm at once, as breakerd does. */
static void
zw_data_watch(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct zw_watcher *w = ctx;
	uint64_t now = now_mono_ns();

	(void)zh;
	(void)state;
	(void)path;
	if (type != ZOO_CHANGED_EVENT)
		return;
	pthread_mutex_lock(&w->b->mu);
	if (w->fire_ns == 0)
		w->fire_ns = now;
	pthread_mutex_unlock(&w->b->mu);
	zw_arm(w, zw_data_watch);
}

/* A re-arming read answered: the watch is registered again. */
static void
zw_get_done(int rc, const char *value, int len, const struct Stat *stat,
    const void *data)
{
	struct zw_watcher *w = (struct zw_watcher *)(uintptr_t)data;
	uint64_t now = now_mono_ns();

	(void)value;
	(void)len;
	(void)stat;
	if (rc == ZNONODE) {
		/* This server has not seen the writer's create yet. */
		zw_arm(w, zw_data_watch);
		return;
	}
	pthread_mutex_lock(&w->b->mu);
	if (rc != ZOK) {
		fprintf(stderr, "getData %s: %s\n", w->path, zerror(rc));
		w->b->errors++;
	}
	w->b->narmed++;
	if (w->fire_ns != 0 && w->read_ns == 0) {
		w->read_ns = now;
		w->b->nread++;
	}
	/* Wake the main thread only when it has something to see: with
	 * thousands of watches, a wake-up per read would slow the baseline. */
	if (rc != ZOK || w->b->nread == (int)w->b->n
	    || w->b->narmed == (int)w->b->n)
		pthread_cond_broadcast(&w->b->cv);
	pthread_mutex_unlock(&w->b->mu);
}

/* A writer's setData answered. */
static void
zw_set_done(int rc, const struct Stat *stat, const void *data)
{
	struct zw_bench *b = (struct zw_bench *)(uintptr_t)data;
	uint64_t now = now_mono_ns();

	(void)stat;
	pthread_mutex_lock(&b->mu);
	b->ack_ns = now;
	b->nacked++;
	if (rc != ZOK)
		b->errors++;
	if (rc != ZOK || b->nacked == (int)b->k)
		pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/*
 * A session tuned as a lean client would be: the library re-resolves its
 * host list each time its IO thread polls unless told not to, which costs
 * a getaddrinfo() (netlink round trips) per wake-up; the hosts are IP
 * literals, so the baseline turns that off (-1).
 */
static zhandle_t *
zw_open(const char *hosts, struct zw_bench *b)
{
	zhandle_t *zh =
	    zookeeper_init(hosts, zw_session, ZW_TIMEOUT_MS, NULL, b, 0);

	if (zh == NULL)
		fprintf(stderr, "zookeeper_init: %s\n", strerror(errno));
	else
		zoo_set_servers_resolution_delay(zh, -1);
	return zh;
}

/* Open the watcher sessions and the writer; wait until all connect. */
static int
zw_zk_connect(struct zw_bench *b, const char *hosts, zhandle_t **writer)
{
	size_t i;
	int rc;

	for (i = 0; i <= b->nsess; i++) {
		zhandle_t *zh = zw_open(hosts, b);
		if (zh == NULL)
			return -1;
		if (i < b->nsess)
			b->sess[i] = zh;
		else
			*writer = zh;
	}
	pthread_mutex_lock(&b->mu);
	rc = zw_wait_count(b, &b->nconnected, (int)b->nsess + 1, ZW_CONNECT_MS);
	pthread_mutex_unlock(&b->mu);
	if (rc == -1)
		fprintf(stderr, "only %d of %zu sessions connected\n",
		    b->nconnected, b->nsess + 1);
	return rc;
}

/* The k znode names, and every (session, znode) watch. */
static void
zw_zk_layout(struct zw_bench *b, const char *path)
{
	size_t i, j;

	b->paths = zw_calloc(b->k, sizeof(*b->paths));
	for (j = 0; j < b->k; j++) {
		size_t len = strlen(path) + 16;
		b->paths[j] = zw_calloc(1, len);
		if (b->k == 1)
			snprintf(b->paths[j], len, "%s", path);
		else
			snprintf(b->paths[j], len, "%s-%zu", path, j);
	}
	b->sess = zw_calloc(b->nsess, sizeof(*b->sess));
	b->n = b->nsess * b->k;
	b->w = zw_calloc(b->n, sizeof(*b->w));
	for (i = 0; i < b->n; i++) {
		b->w[i].b = b;
		b->w[i].path = b->paths[i % b->k];
	}
}

/* Make sure the znodes exist (synchronous: start-up only). */
static int
zw_zk_ensure(struct zw_bench *b, zhandle_t *zh)
{
	size_t j;
	int rc;

	for (j = 0; j < b->k; j++) {
		rc = zoo_create(
		    zh, b->paths[j], "0", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
		if (rc != ZOK && rc != ZNODEEXISTS) {
			fprintf(
			    stderr, "create %s: %s\n", b->paths[j], zerror(rc));
			return -1;
		}
	}
	return 0;
}

/* First, last fire and last read of this round (mutex held). */
static void
zw_zk_spread(const struct zw_bench *b, uint64_t *first, uint64_t *last,
    uint64_t *lastread)
{
	size_t i;

	*first = *last = *lastread = 0;
	for (i = 0; i < b->n; i++) {
		if (*first == 0 || b->w[i].fire_ns < *first)
			*first = b->w[i].fire_ns;
		if (b->w[i].fire_ns > *last)
			*last = b->w[i].fire_ns;
		if (b->w[i].read_ns > *lastread)
			*lastread = b->w[i].read_ns;
	}
}

/* One baseline round: setData on every znode (pipelined), wait for every
 * watch to fire and be re-read. */
static int
zw_zk_round(struct zw_bench *b, zhandle_t *writer, unsigned long r)
{
	char data[32];
	uint64_t first, last, lastread;
	size_t i, j;
	int rc = ZOK, len;

	len = snprintf(data, sizeof(data), "%lu", r);
	pthread_mutex_lock(&b->mu);
	for (i = 0; i < b->n; i++)
		b->w[i].fire_ns = b->w[i].read_ns = 0;
	b->nread = b->nacked = 0;
	b->t0_ns = now_mono_ns();
	for (j = 0; j < b->k && rc == ZOK; j++)
		rc = zoo_aset(
		    writer, b->paths[j], data, len, -1, zw_set_done, b);
	if (rc == ZOK)
		rc = zw_wait_count(b, &b->nread, (int)b->n, ZW_ROUND_MS);
	if (rc == ZOK)
		rc = zw_wait_count(b, &b->nacked, (int)b->k, ZW_ROUND_MS);
	zw_zk_spread(b, &first, &last, &lastread);
	pthread_mutex_unlock(&b->mu);
	if (rc != ZOK) {
		fprintf(stderr, "round %lu: %d of %zu watches seen\n", r,
		    b->nread, b->n);
		return -1;
	}
	printf("R %lu %lu %lu %lu %lu\n", r, zw_us(b->t0_ns, b->ack_ns),
	    zw_us(b->t0_ns, first), zw_us(b->t0_ns, last),
	    zw_us(b->t0_ns, lastread));
	fflush(stdout);
	return 0;
}

/* Set up the baseline: sessions, znodes, every watch armed. */
static int
zw_zk_setup(struct zw_bench *b, const struct zw_opts *o, zhandle_t **writer)
{
	size_t i;
	int rc;

	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->nsess = o->watchers;
	b->k = o->keys;
	zw_zk_layout(b, o->path);
	zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
	if (zw_zk_connect(b, o->hosts, writer) == -1
	    || zw_zk_ensure(b, *writer) == -1)
		return -1;
	for (i = 0; i < b->n; i++) {
		b->w[i].zh = b->sess[i / b->k];
		zw_arm(&b->w[i], zw_data_watch);
	}
	pthread_mutex_lock(&b->mu);
	rc = zw_wait_count(b, &b->narmed, (int)b->n, ZW_ROUND_MS);
	pthread_mutex_unlock(&b->mu);
	if (rc == -1)
		fprintf(
		    stderr, "only %d of %zu watches armed\n", b->narmed, b->n);
	return rc;
}

/* zk mode: the raw ZooKeeper baseline. */
static int
zw_zk_main(const struct zw_opts *o)
{
	static struct zw_bench b;
	zhandle_t *writer = NULL;
	unsigned long r;
	size_t i;
	int rc;

	rc = zw_zk_setup(&b, o, &writer);
	printf("# zk: %zu watcher sessions x %zu znodes + 1 writer on %s\n",
	    b.nsess, b.k, o->hosts);
	for (r = 0; r < o->rounds && rc == 0; r++) {
		rc = zw_zk_round(&b, writer, r);
		zw_sleep_ms(o->gap_ms);
	}
	for (i = 0; i < b.nsess; i++)
		if (b.sess[i] != NULL)
			zookeeper_close(b.sess[i]);
	if (writer != NULL)
		zookeeper_close(writer);
	return rc == 0 ? 0 : 1;
}

/*
 * read mode: what a raw client needs to learn k states: connect, then
 * getData with a watch on each znode (pipelined).  Prints
 * "L <connect_us> <all_read_us>" from the start of main.
 */
static int
zw_read_main(const struct zw_opts *o, uint64_t t_start)
{
	static struct zw_bench b;
	uint64_t t_conn;
	size_t i;
	int rc;

	pthread_mutex_init(&b.mu, NULL);
	pthread_cond_init(&b.cv, NULL);
	b.nsess = 1;
	b.k = o->keys;
	zw_zk_layout(&b, o->path);
	zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
	b.sess[0] = zw_open(o->hosts, &b);
	if (b.sess[0] == NULL)
		return 1;
	pthread_mutex_lock(&b.mu);
	rc = zw_wait_count(&b, &b.nconnected, 1, ZW_CONNECT_MS);
	pthread_mutex_unlock(&b.mu);
	t_conn = now_mono_ns();
	for (i = 0; i < b.n && rc == 0; i++) {
		b.w[i].zh = b.sess[0];
		zw_arm(&b.w[i], zw_data_watch);
	}
	pthread_mutex_lock(&b.mu);
	if (rc == 0)
		rc = zw_wait_count(&b, &b.narmed, (int)b.n, ZW_ROUND_MS);
	pthread_mutex_unlock(&b.mu);
	if (rc == -1)
		fprintf(stderr, "read: %d of %zu znodes read\n", b.narmed, b.n);
	else
		printf("L %lu %lu\n", zw_us(t_start, t_conn),
		    zw_us(t_start, now_mono_ns()));
	fflush(stdout);
	zookeeper_close(b.sess[0]);
	return rc == 0 ? 0 : 1;
}

/* Connect to a Unix socket; -1 on error. */
static int
zw_unix_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: path too long\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "connect %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Write a whole line; -1 on error. */
static int
zw_write_all(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = write(fd, s + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/*
 * Read what is there into s->buf and take the first complete line into
 * line; 1 if a line was taken, 0 if none yet, -1 on EOF or error.
 */
static int
zw_take_line(struct zw_sub *s, char *line, size_t linelen, bool do_read)
{
	char *nl;
	size_t n;

	if (do_read && s->len < sizeof(s->buf) - 1) {
		ssize_t got =
		    read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
		if (got <= 0)
			return -1;
		s->len += (size_t)got;
	}
	s->buf[s->len] = '\0';
	if ((nl = strchr(s->buf, '\n')) == NULL)
		return s->len >= sizeof(s->buf) - 1 ? -1 : 0;
	n = (size_t)(nl - s->buf);
	if (n >= linelen)
		n = linelen - 1;
	memcpy(line, s->buf, n);
	line[n] = '\0';
	s->len -= (size_t)(nl + 1 - s->buf);
	memmove(s->buf, nl + 1, s->len);
	return 1;
}

/* Block (bounded) until one line arrives on s; -1 on timeout or EOF. */
static int
zw_read_line(struct zw_sub *s, char *line, size_t linelen, int ms)
{
	struct pollfd p = {s->fd, POLLIN, 0};
	int rc;

	while ((rc = zw_take_line(s, line, linelen, false)) == 0) {
		if (poll(&p, 1, ms) <= 0)
			return -1;
		if ((rc = zw_take_line(s, line, linelen, true)) != 0)
			break;
	}
	return rc == 1 ? 0 : -1;
}

/* Subscribe s to dep: WATCH, then OK and the snapshot EVENT. */
static int
zw_subscribe(struct zw_sub *s, const char *path, const char *dep)
{
	char line[ZW_LINE], req[128];

	if ((s->fd = zw_unix_connect(path)) == -1)
		return -1;
	snprintf(req, sizeof(req), "WATCH %s\n", dep);
	if (zw_write_all(s->fd, req) == -1
	    || zw_read_line(s, line, sizeof(line), 5000) == -1
	    || strcmp(line, "OK") != 0
	    || zw_read_line(s, line, sizeof(line), 5000) == -1
	    || strncmp(line, "EVENT ", 6) != 0) {
		fprintf(stderr, "%s: WATCH %s failed\n", path, dep);
		return -1;
	}
	return 0;
}

/* Is line "EVENT <dep> <state> ..."? */
static bool
zw_is_event(const char *line, const char *dep, const char *state)
{
	size_t dl = strlen(dep), sl = strlen(state);

	return strncmp(line, "EVENT ", 6) == 0
	    && strncmp(line + 6, dep, dl) == 0 && line[6 + dl] == ' '
	    && strncmp(line + 7 + dl, state, sl) == 0
	    && line[7 + dl + sl] == ' ';
}

/* Drain the lines of sub i; mark it seen on the awaited EVENT. */
static int
zw_sub_drain(struct zw_sub *s, const char *dep, const char *state, uint64_t now,
    int *seen)
{
	char line[ZW_LINE];
	int rc;

	rc = zw_take_line(s, line, sizeof(line), true);
	while (rc == 1) {
		if (s->seen_ns == 0 && zw_is_event(line, dep, state)) {
			s->seen_ns = now;
			(*seen)++;
		} else if (strncmp(line, "ERR", 3) == 0) {
			fprintf(stderr, "subscriber: %s\n", line);
			return -1;
		}
		rc = zw_take_line(s, line, sizeof(line), false);
	}
	return rc;
}

/* Handle the leader's reply to PUBLISH; -1 on ERR. */
static int
zw_leader_reply(struct zw_sub *l, uint64_t now, uint64_t *ack)
{
	char line[ZW_LINE];
	int rc;

	while ((rc = zw_take_line(l, line, sizeof(line), *ack == 0)) == 1) {
		if (strncmp(line, "OK ", 3) == 0 && *ack == 0) {
			*ack = now;
			return 0;
		}
		if (strncmp(line, "ERR", 3) == 0) {
			fprintf(stderr, "PUBLISH: %s\n", line);
			return -1;
		}
	}
	return rc == -1 ? -1 : 0;
}

/* Poll the leader and every subscriber until all saw state (bounded). */
static int
zw_sock_wait(struct zw_sub *subs, size_t n, struct zw_sub *l, const char *dep,
    const char *state, uint64_t *ack)
{
	static struct pollfd p[ZW_MAX_SUBS + 1];
	uint64_t deadline = now_mono_ns() + ZW_ROUND_MS * 1000000ull;
	int seen = 0;
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (struct pollfd){subs[i].fd, POLLIN, 0};
	p[n] = (struct pollfd){l->fd, POLLIN, 0};
	while ((size_t)seen < n || *ack == 0) {
		if (now_mono_ns() > deadline || poll(p, n + 1, 1000) == -1)
			return -1;
		uint64_t now = now_mono_ns();
		for (i = 0; i < n; i++)
			if ((p[i].revents & (POLLIN | POLLHUP))
			    && zw_sub_drain(&subs[i], dep, state, now, &seen)
			        == -1)
				return -1;
		if ((p[n].revents & (POLLIN | POLLHUP))
		    && zw_leader_reply(l, now, ack) == -1)
			return -1;
	}
	return 0;
}

/* One breakerd round: PUBLISH on the leader, wait for every EVENT. */
static int
zw_sock_round(struct zw_sub *subs, size_t n, struct zw_sub *l, const char *dep,
    unsigned long r)
{
	const char *state = (r % 2 == 0) ? "OPEN" : "CLOSED";
	uint64_t t0, ack = 0, first = 0, last = 0;
	char req[160];
	size_t i;

	for (i = 0; i < n; i++)
		subs[i].seen_ns = 0;
	snprintf(
	    req, sizeof(req), "PUBLISH %s %s bench round %lu\n", dep, state, r);
	t0 = now_mono_ns();
	if (zw_write_all(l->fd, req) == -1
	    || zw_sock_wait(subs, n, l, dep, state, &ack) == -1) {
		fprintf(
		    stderr, "round %lu (%s) not seen everywhere\n", r, state);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (first == 0 || subs[i].seen_ns < first)
			first = subs[i].seen_ns;
		if (subs[i].seen_ns > last)
			last = subs[i].seen_ns;
	}
	printf("R %lu %lu %lu %lu %lu\n", r, zw_us(t0, ack), zw_us(t0, first),
	    zw_us(t0, last), zw_us(t0, last));
	fflush(stdout);
	return 0;
}

/* sock mode: breakerd's PUBLISH -> every WATCH subscriber. */
static int
zw_sock_main(const struct zw_opts *o, char **paths, size_t n)
{
	static struct zw_sub subs[ZW_MAX_SUBS];
	static struct zw_sub leader;
	unsigned long r;
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++)
		rc = zw_subscribe(&subs[i], paths[i], o->dep);
	if (rc == 0 && (leader.fd = zw_unix_connect(o->leader)) == -1)
		rc = -1;
	printf("# sock: %zu subscribers, leader %s, dep %s\n", n, o->leader,
	    o->dep);
	for (r = 0; r < o->rounds && rc == 0; r++) {
		rc = zw_sock_round(subs, n, &leader, o->dep, r);
		zw_sleep_ms(o->gap_ms);
	}
	for (i = 0; i < n; i++)
		if (subs[i].fd > 0)
			close(subs[i].fd);
	if (leader.fd > 0)
		close(leader.fd);
	return rc == 0 ? 0 : 1;
}

/* Parse a bounded unsigned option value; exits on error. */
static unsigned long
zw_num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v > max) {
		fprintf(stderr, "bad number: %s\n", s);
		exit(2);
	}
	return v;
}

/* Print the usage and exit 2. */
static void
zw_usage(void)
{
	fprintf(stderr,
	    "usage: zkwatch_bench zk -h HOSTS -p PATH -n WATCHERS [-k KEYS] "
	    "-r ROUNDS [-g GAP_MS]\n"
	    "       zkwatch_bench read -h HOSTS -p PATH -k KEYS\n"
	    "       zkwatch_bench sock -l LEADER_SOCK -d DEP -r ROUNDS "
	    "[-g GAP_MS] SOCK...\n");
	exit(2);
}

/* Parse the mode and options, run the mode. */
int
main(int argc, char **argv)
{
	struct zw_opts o = {NULL, NULL, NULL, NULL, 5, 1, 50, 30};
	uint64_t t_start = now_mono_ns();
	const char *mode;
	int ch;

	if (argc < 2)
		zw_usage();
	mode = argv[1];
	optind = 2;
	while ((ch = getopt(argc, argv, "h:p:n:k:r:g:l:d:")) != -1) {
		switch (ch) {
		case 'h':
			o.hosts = optarg;
			break;
		case 'p':
			o.path = optarg;
			break;
		case 'n':
			o.watchers = zw_num(optarg, ZW_MAX_SUBS);
			break;
		case 'k':
			o.keys = zw_num(optarg, ZW_MAX_KEYS);
			break;
		case 'r':
			o.rounds = zw_num(optarg, ZW_MAX_ROUNDS);
			break;
		case 'g':
			o.gap_ms = zw_num(optarg, 60000);
			break;
		case 'l':
			o.leader = optarg;
			break;
		case 'd':
			o.dep = optarg;
			break;
		default:
			zw_usage();
		}
	}
	if (strcmp(mode, "zk") == 0 && o.hosts != NULL && o.path != NULL
	    && o.watchers > 0 && o.keys > 0)
		return zw_zk_main(&o);
	if (strcmp(mode, "read") == 0 && o.hosts != NULL && o.path != NULL
	    && o.keys > 0)
		return zw_read_main(&o, t_start);
	if (strcmp(mode, "sock") == 0 && o.leader != NULL && o.dep != NULL
	    && optind < argc && (size_t)(argc - optind) <= ZW_MAX_SUBS)
		return zw_sock_main(&o, argv + optind, (size_t)(argc - optind));
	zw_usage();
	return 2;
}
