/*
 * bench_socket.c - the local-query benchmark.  In one run it measures two
 * baselines and the real daemon through the same client code, so the
 * ratios compare servers, not clients:
 *
 *   raw ping-pong      a forked child doing blocking read()/write() on a
 *                      Unix socket, one reply per "PING\n" line;
 *   libevent line srv  a forked child with one bufferevent per client that
 *                      answers every evbuffer_readln() line with "OK PONG";
 *   breakerd           build/breakerd (or $BREAKERD_BIN) started standalone
 *                      on a generated config, asked GET, ALLOW and REPORT.
 *
 * Latency is N serial round trips from one client (after a warm-up);
 * throughput is one or many clients (one thread each), each keeping a
 * window of requests in flight for a fixed time.  Every figure is split
 * into rounds run interleaved (raw, libevent, GET, ALLOW, REPORT, raw, ...)
 * so a change in the machine's load hits every row alike.  The server's
 * own CPU time per request (from /proc/PID/schedstat) is printed too: it
 * moves much less with the load than req/s does.  Every reply is checked
 * against what it must be.  Missed ratios are printed, never judged: the
 * exit status is non-zero only when something broke (a server did not
 * start, a wrong reply, a timeout).  See docs/benchmarks.md.
 *
 *   build/bench/bench_socket [-v] [-n round_trips] [-d seconds_per_figure]
 *                            [-r rounds] [-c clients] [-w window]
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "util.h"

#define BENCH_BUF         8192 /* client and raw-server read buffer */
#define BENCH_REQ_MAX     64   /* longest request line */
#define BENCH_WINDOW_MAX  256
#define BENCH_CLIENTS_MAX 64
#define BENCH_ROUNDS_MAX  16
#define BENCH_TIMEOUT_S   5    /* a silent server is an error after this */
#define BENCH_START_MS    5000 /* the daemon must answer PING by then */
#define BENCH_PONG        "OK PONG\n"
#define BENCH_TARGET_P50  1.5
#define BENCH_TARGET_THR  0.7

struct bench_opts {
	uint64_t n;       /* round trips per latency figure */
	double secs;      /* seconds per throughput figure */
	uint64_t rounds;  /* interleaved slices every figure is split into */
	uint64_t clients; /* clients in the many-client run */
	uint64_t window;  /* requests in flight per client */
	int verbose;      /* print every round's figures */
};

/* One row of the table: what it asks where, and what it measured. */
struct bench_row {
	const char *label;
	const char *path;
	const char *req;
	const char *want;
	int many;      /* measure the many-client throughput too */
	uint64_t *lat; /* round-trip samples, ns, pooled over the rounds */
	size_t nlat;
	double rps1[BENCH_ROUNDS_MAX]; /* per round; the median is shown */
	double rpsn[BENCH_ROUNDS_MAX];
	double p50_us;
	double p99_us;
	double med1; /* < 0: not measured */
	double medn;
	pid_t pid;       /* the server process */
	uint64_t cpu_ns; /* its CPU time during the throughput runs */
	uint64_t reqs;   /* requests answered in those runs */
};

/* One client connection and the one request it repeats. */
struct bench_conn {
	int fd;
	int failed;
	const char *want; /* the exact reply line, without "\n" */
	size_t wantlen;
	size_t reqlen;
	uint64_t done; /* replies received and checked */
	char reqs[BENCH_WINDOW_MAX * BENCH_REQ_MAX]; /* window copies */
	char buf[BENCH_BUF];
	size_t len;
};

/* What every throughput thread shares. */
struct bench_run {
	pthread_barrier_t start;
	uint64_t deadline_ns;
	uint64_t window;
};

struct bench_thread {
	struct bench_run *run;
	struct bench_conn *conn;
};

static char bench_dir[] = "/tmp/bench_socket.XXXXXX";
static pid_t bench_children[3];
static size_t bench_nchildren;

/* Fill a sockaddr_un; -1 if the path does not fit. */
static int
bench_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlcpy_b(sun->sun_path, path, sizeof(sun->sun_path))
	    >= sizeof(sun->sun_path)) {
		fprintf(stderr, "bench_socket: path too long: %s\n", path);
		return -1;
	}
	return 0;
}

/* A listening Unix socket, made before the fork so clients never race it. */
static int
bench_listen(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (bench_sun(&sun, path) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1
	    || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1
	    || listen(fd, 128) == -1) {
		fprintf(stderr, "bench_socket: listen %s: %s\n", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* A blocking client socket whose reads time out instead of hanging. */
static int
bench_connect(const char *path, int quiet)
{
	struct sockaddr_un sun;
	struct timeval tv = {.tv_sec = BENCH_TIMEOUT_S};
	int fd;

	if (bench_sun(&sun, path) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (!quiet)
			fprintf(stderr, "bench_socket: connect %s: %s\n", path,
			    strerror(errno));
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Write all of buf; -1 on error. */
static int
bench_write(int fd, const char *buf, size_t len)
{
	ssize_t r;

	while (len > 0) {
		if ((r = send(fd, buf, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Raw server: answer each complete line of one connection, blocking. */
static void
bench_raw_conn(int fd)
{
	static char out[BENCH_BUF / 2 * (sizeof(BENCH_PONG) - 1)];
	char in[BENCH_BUF], *p, *nl;
	size_t len = 0, k, rest;
	ssize_t r;

	for (k = 0; k < sizeof(out) / (sizeof(BENCH_PONG) - 1); k++)
		memcpy(out + k * (sizeof(BENCH_PONG) - 1), BENCH_PONG,
		    sizeof(BENCH_PONG) - 1);
	while ((r = read(fd, in + len, sizeof(in) - len)) > 0) {
		len += (size_t)r;
		for (k = 0, p = in;
		     (nl = memchr(p, '\n', len - (size_t)(p - in))) != NULL;
		     p = nl + 1)
			k++;
		rest = len - (size_t)(p - in);
		memmove(in, p, rest);
		len = rest;
		if (len == sizeof(in)
		    || bench_write(fd, out, k * (sizeof(BENCH_PONG) - 1)) == -1)
			return;
	}
}

/* Raw server main loop: one connection at a time, in a child. */
static void
bench_raw_serve(int lfd)
{
	int fd;

	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		bench_raw_conn(fd);
		close(fd);
	}
}

/* libevent server: every line read gets one fixed reply. */
static void
bench_lev_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	char *line;
	size_t n;

	(void)arg;
	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		free(line);
		evbuffer_add(out, BENCH_PONG, sizeof(BENCH_PONG) - 1);
	}
}

/* libevent server: a client went away. */
static void
bench_lev_event(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

/* libevent server: a new client. */
static void
bench_lev_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct bufferevent *bev;

	(void)sa;
	(void)salen;
	(void)arg;
	bev = bufferevent_socket_new(
	    evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, bench_lev_read, NULL, bench_lev_event, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* libevent server main loop, in a child. */
static void
bench_lev_serve(int lfd)
{
	struct event_base *base;
	struct evconnlistener *l;

	if ((base = event_base_new()) == NULL)
		_exit(1);
	evutil_make_socket_nonblocking(lfd);
	l = evconnlistener_new(
	    base, bench_lev_accept, NULL, LEV_OPT_CLOSE_ON_FREE, -1, lfd);
	if (l == NULL)
		_exit(1);
	event_base_dispatch(base);
	_exit(0);
}

/* Fork a baseline server on a socket listening at dir/name. */
static int
bench_spawn_server(
    const char *name, void (*serve)(int), char *path, size_t pathlen)
{
	pid_t pid;
	int lfd;

	snprintf(path, pathlen, "%s/%s", bench_dir, name);
	if ((lfd = bench_listen(path)) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(lfd);
		return -1;
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		serve(lfd);
		_exit(0);
	}
	close(lfd);
	bench_children[bench_nchildren++] = pid;
	return 0;
}

/*
 * Read once and consume every complete reply line, checking each.
 * Returns how many were consumed, or -1 (EOF, timeout, wrong reply).
 */
static int
bench_read_replies(struct bench_conn *c)
{
	char *p = c->buf, *nl;
	ssize_t r;
	int k = 0;

	do
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	while (r == -1 && errno == EINTR);
	if (r <= 0) {
		fprintf(stderr, "bench_socket: read: %s\n",
		    r == 0 ? "server closed the connection" : strerror(errno));
		return -1;
	}
	c->len += (size_t)r;
	while ((nl = memchr(p, '\n', c->len - (size_t)(p - c->buf))) != NULL) {
		if ((size_t)(nl - p) != c->wantlen
		    || memcmp(p, c->want, c->wantlen) != 0) {
			fprintf(stderr,
			    "bench_socket: reply \"%.*s\", want "
			    "\"%s\"\n",
			    (int)(nl - p), p, c->want);
			return -1;
		}
		k++;
		p = nl + 1;
	}
	c->len -= (size_t)(p - c->buf);
	memmove(c->buf, p, c->len);
	return k;
}

/* Wrap a connected socket in a client that repeats req, expects want. */
static struct bench_conn *
bench_conn_new(int fd, const char *req, const char *want, uint64_t window)
{
	struct bench_conn *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->reqlen = strlen(req);
	if (c->reqlen > BENCH_REQ_MAX) /* the rows are constants */
		abort();
	c->want = want;
	c->wantlen = strlen(want);
	for (uint64_t i = 0; i < window; i++)
		memcpy(c->reqs + i * c->reqlen, req, c->reqlen);
	return c;
}

/* Connect a client that repeats req and expects want. */
static struct bench_conn *
bench_conn_open(
    const char *path, const char *req, const char *want, uint64_t window)
{
	int fd;

	if ((fd = bench_connect(path, 0)) == -1)
		return NULL;
	return bench_conn_new(fd, req, want, window);
}

/* Close and free a client. */
static void
bench_conn_close(struct bench_conn *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c);
}

/* One round trip; its duration in ns, or 0 on error. */
static uint64_t
bench_round_trip(struct bench_conn *c)
{
	uint64_t t0 = now_mono_ns();
	int k = 0, r;

	if (bench_write(c->fd, c->reqs, c->reqlen) == -1)
		return 0;
	while (k == 0) {
		if ((r = bench_read_replies(c)) == -1)
			return 0;
		k += r;
	}
	if (k != 1) {
		fprintf(stderr, "bench_socket: %d replies to one request\n", k);
		return 0;
	}
	t0 = now_mono_ns() - t0;
	return t0 == 0 ? 1 : t0; /* 0 means error */
}

/* Sort helper. */
static int
bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* n more serial round trips, after a warm-up, appended to row->lat. */
static int
bench_latency(struct bench_conn *c, uint64_t n, struct bench_row *row)
{
	uint64_t warm = n / 10 < 1000 ? n / 10 : 1000;

	for (uint64_t i = 0; i < warm + n; i++) {
		uint64_t t = bench_round_trip(c);

		if (t == 0)
			return -1;
		if (i >= warm)
			row->lat[row->nlat++] = t;
	}
	return 0;
}

/* Keep window requests in flight until the deadline, then drain. */
static int
bench_pipeline(struct bench_conn *c, struct bench_run *run)
{
	uint64_t sent = run->window;
	int k;

	if (bench_write(c->fd, c->reqs, sent * c->reqlen) == -1)
		return -1;
	while (c->done < sent) {
		if ((k = bench_read_replies(c)) == -1)
			return -1;
		c->done += (uint64_t)k;
		if (k == 0 || now_mono_ns() >= run->deadline_ns)
			continue;
		if (bench_write(c->fd, c->reqs, (size_t)k * c->reqlen) == -1)
			return -1;
		sent += (uint64_t)k;
	}
	return 0;
}

/* Throughput thread body. */
static void *
bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;

	pthread_barrier_wait(&t->run->start);
	if (bench_pipeline(t->conn, t->run) == -1)
		t->conn->failed = 1;
	return NULL;
}

/* Free nclients connections. */
static void
bench_conns_close(struct bench_conn **cs, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		bench_conn_close(cs[i]);
}

/* Run the threads of one throughput measurement; requests/s or -1. */
static double
bench_run_threads(struct bench_conn **cs, uint64_t nc, struct bench_run *run,
    double secs, uint64_t *reqs)
{
	struct bench_thread th[BENCH_CLIENTS_MAX];
	pthread_t tid[BENCH_CLIENTS_MAX];
	uint64_t t0, total = 0;
	int bad = 0;

	pthread_barrier_init(&run->start, NULL, (unsigned)nc + 1);
	for (uint64_t i = 0; i < nc; i++) {
		th[i].run = run;
		th[i].conn = cs[i];
		if (pthread_create(&tid[i], NULL, bench_thread_main, &th[i])) {
			fprintf(
			    stderr, "bench_socket: pthread_create failed\n");
			exit(1);
		}
	}
	t0 = now_mono_ns();
	run->deadline_ns = t0 + (uint64_t)(secs * 1e9);
	pthread_barrier_wait(&run->start);
	for (uint64_t i = 0; i < nc; i++) {
		pthread_join(tid[i], NULL);
		bad |= cs[i]->failed;
		total += cs[i]->done;
	}
	pthread_barrier_destroy(&run->start);
	*reqs = total;
	if (bad)
		return -1;
	return (double)total / ((double)(now_mono_ns() - t0) / 1e9);
}

/*
 * CPU time of a process's main thread in ns, from /proc/<pid>/schedstat
 * (0 if unreadable).  Unlike req/s it hardly moves with the machine's
 * load, so it shows what a request costs the server itself.
 */
static uint64_t
bench_cpu_ns(pid_t pid)
{
	char path[64], buf[128];
	uint64_t ns;
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/schedstat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	buf[strcspn(buf, " \n")] = '\0';
	return parse_u64(buf, 0, UINT64_MAX, &ns) == 0 ? ns : 0;
}

/* nc clients each pipelining window requests for secs; requests/s or -1. */
static double
bench_throughput(
    struct bench_row *row, uint64_t window, uint64_t nc, double secs)
{
	struct bench_conn *cs[BENCH_CLIENTS_MAX] = {NULL};
	struct bench_run run = {.window = window};
	double rps = -1;
	uint64_t i, cpu0, reqs = 0;

	for (i = 0; i < nc; i++) {
		cs[i] = bench_conn_open(row->path, row->req, row->want, window);
		if (cs[i] == NULL)
			break;
	}
	if (i == nc) {
		cpu0 = bench_cpu_ns(row->pid);
		rps = bench_run_threads(cs, nc, &run, secs, &reqs);
		row->cpu_ns += bench_cpu_ns(row->pid) - cpu0;
		row->reqs += reqs;
	}
	bench_conns_close(cs, nc);
	return rps;
}

/* One round of a row: n round trips, then throughput with 1 and nc. */
static int
bench_measure(struct bench_row *row, const struct bench_opts *o, uint64_t n,
    uint64_t round)
{
	double secs = o->secs / (double)o->rounds;
	struct bench_conn *c;
	int rc;

	if ((c = bench_conn_open(row->path, row->req, row->want, 1)) == NULL)
		return -1;
	rc = bench_latency(c, n, row);
	bench_conn_close(c);
	if (rc == -1)
		return -1;
	row->rps1[round] = bench_throughput(row, o->window, 1, secs);
	if (row->rps1[round] < 0)
		return -1;
	if (row->many) {
		row->rpsn[round] =
		    bench_throughput(row, o->window, o->clients, secs);
		if (row->rpsn[round] < 0)
			return -1;
	}
	return 0;
}

/* Sort helper for doubles. */
static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of n figures (sorts them). */
static double
bench_median(double *v, uint64_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Turn a row's samples into its figures. */
static void
bench_finish(struct bench_row *row, const struct bench_opts *o)
{
	qsort(row->lat, row->nlat, sizeof(*row->lat), bench_cmp_u64);
	row->p50_us = (double)row->lat[row->nlat / 2] / 1000.0;
	row->p99_us = (double)row->lat[row->nlat * 99 / 100] / 1000.0;
	row->med1 = bench_median(row->rps1, o->rounds);
	row->medn = row->many ? bench_median(row->rpsn, o->rounds) : -1;
}

/* Send req on a new connection and read the first reply line. */
static int
bench_first_line(
    const char *path, const char *req, char *out, size_t outlen, int quiet)
{
	size_t len = 0;
	ssize_t r;
	char *nl;
	int fd;

	if ((fd = bench_connect(path, quiet)) == -1)
		return -1;
	if (bench_write(fd, req, strlen(req)) == -1)
		goto fail;
	while ((nl = memchr(out, '\n', len)) == NULL && len + 1 < outlen) {
		if ((r = read(fd, out + len, outlen - 1 - len)) <= 0)
			goto fail;
		len += (size_t)r;
	}
	if (nl == NULL)
		goto fail;
	*nl = '\0';
	close(fd);
	return 0;
fail:
	if (!quiet)
		fprintf(stderr, "bench_socket: no reply to %s", req);
	close(fd);
	return -1;
}

/* 1 if word (ended by ' ' or NUL at *end) is one of list. */
static int
bench_word_in(const char *word, const char **end, const char *const *list)
{
	size_t n = strcspn(word, " ");

	*end = word + n;
	for (; *list != NULL; list++)
		if (strlen(*list) == n && memcmp(*list, word, n) == 0)
			return 1;
	return 0;
}

/* A GET reply must be "OK payments CLOSED <version> <authority>". */
static int
bench_check_get(const char *line)
{
	static const char *const closed[] = {"CLOSED", NULL};
	static const char *const auth[] = {
	    "authoritative", "stale", "local", NULL};
	static const char prefix[] = "OK payments ";
	const char *p = line + sizeof(prefix) - 1, *end;
	char num[32];
	uint64_t v;
	size_t n;

	if (strncmp(line, prefix, sizeof(prefix) - 1) != 0
	    || !bench_word_in(p, &end, closed) || *end != ' ')
		return -1;
	p = end + 1;
	n = strcspn(p, " ");
	if (n == 0 || n >= sizeof(num) || p[n] != ' ')
		return -1;
	memcpy(num, p, n);
	num[n] = '\0';
	if (parse_u64(num, 0, UINT64_MAX, &v) == -1)
		return -1;
	return bench_word_in(p + n + 1, &end, auth) && *end == '\0' ? 0 : -1;
}

/* Write the daemon's standalone configuration. */
static int
bench_write_config(const char *conf, const char *sock)
{
	FILE *fp;

	if ((fp = fopen(conf, "w")) == NULL) {
		fprintf(
		    stderr, "bench_socket: %s: %s\n", conf, strerror(errno));
		return -1;
	}
	fprintf(fp,
	    "{\"instance_id\": \"bench\",\n"
	    " \"socket\": {\"path\": \"%s\", \"mode\": \"0600\"},\n"
	    " \"log_level\": \"warn\",\n"
	    " \"dependencies\": [{\"name\": \"payments\"}]}\n",
	    sock);
	return fclose(fp) == 0 ? 0 : -1;
}

/* Sleep ms milliseconds. */
static void
bench_sleep_ms(long ms)
{
	struct timespec ts = {
	    .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Wait until the daemon answers PING; -1 if it died or never did. */
static int
bench_daemon_wait(pid_t pid, const char *sock)
{
	uint64_t end = now_mono_ns() + BENCH_START_MS * 1000000ULL;
	char line[256];
	int status;

	while (now_mono_ns() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr,
			    "bench_socket: breakerd exited during "
			    "start-up (status 0x%x)\n",
			    (unsigned)status);
			bench_children[--bench_nchildren] = 0;
			return -1;
		}
		if (bench_first_line(sock, "PING\n", line, sizeof(line), 1)
		    == 0) {
			if (strcmp(line, "OK PONG") == 0)
				return 0;
			fprintf(stderr, "bench_socket: PING -> \"%s\"\n", line);
			return -1;
		}
		bench_sleep_ms(20);
	}
	fprintf(stderr,
	    "bench_socket: breakerd did not answer PING within "
	    "%d ms\n",
	    BENCH_START_MS);
	return -1;
}

/* Start the daemon on a generated config; its pid is the last child. */
static int
bench_daemon_start(const char *bin, char *sock, size_t socklen)
{
	char conf[256];
	pid_t pid;

	snprintf(sock, socklen, "%s/breakerd.sock", bench_dir);
	snprintf(conf, sizeof(conf), "%s/breakerd.json", bench_dir);
	if (bench_write_config(conf, sock) == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		execl(bin, bin, "-f", conf, (char *)NULL);
		fprintf(stderr,
		    "bench_socket: exec %s: %s (set BREAKERD_BIN)\n", bin,
		    strerror(errno));
		_exit(127);
	}
	bench_children[bench_nchildren++] = pid;
	return bench_daemon_wait(pid, sock);
}

/* SIGTERM the daemon (the last child); -1 if it did not exit cleanly. */
static int
bench_daemon_stop(void)
{
	pid_t pid = bench_children[bench_nchildren - 1];
	int status;

	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			bench_children[--bench_nchildren] = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				return 0;
			fprintf(stderr,
			    "bench_socket: breakerd ended with "
			    "status 0x%x after SIGTERM\n",
			    (unsigned)status);
			return -1;
		}
		bench_sleep_ms(10);
	}
	fprintf(stderr,
	    "bench_socket: breakerd still running 3 s after "
	    "SIGTERM\n");
	return -1;
}

/* atexit: end every child still running and remove the temporary dir. */
static void
bench_cleanup(void)
{
	static const char *const names[] = {
	    "raw.sock", "lev.sock", "breakerd.sock", "breakerd.json"};
	char path[256];

	for (size_t i = 0; i < bench_nchildren; i++) {
		kill(bench_children[i], SIGKILL);
		waitpid(bench_children[i], NULL, 0);
	}
	bench_nchildren = 0;
	for (size_t i = 0; i < nitems(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", bench_dir, names[i]);
		unlink(path);
	}
	rmdir(bench_dir);
}

/* Print one figure, or "-" when it was not measured. */
static void
bench_print_rate(double rps)
{
	if (rps < 0)
		printf(" %16s", "-");
	else
		printf(" %16.0f", rps);
}

/* Server CPU ns per request in the throughput runs; 0 if unknown. */
static double
bench_cpu_per_req(const struct bench_row *row)
{
	return row->reqs ? (double)row->cpu_ns / (double)row->reqs : 0.0;
}

/* The table, baselines and daemon side by side. */
static void
bench_print_table(
    const struct bench_row *rows, size_t n, const struct bench_opts *o)
{
	char hdr[32];

	printf("local query (N=%zu round trips from 1 client; throughput: "
	       "1 and %llu clients x %llu in flight, %.2f s each)\n"
	       "(%llu interleaved rounds: latency pooled, req/s the median)\n",
	    rows[0].nlat, (unsigned long long)o->clients,
	    (unsigned long long)o->window, o->secs,
	    (unsigned long long)o->rounds);
	snprintf(hdr, sizeof(hdr), "%llu-client req/s",
	    (unsigned long long)o->clients);
	printf("%-18s %8s %8s %16s %16s %12s\n", "", "p50 us", "p99 us",
	    "1-client req/s", hdr, "srv ns/req");
	for (size_t i = 0; i < n; i++) {
		printf("%-18s %8.1f %8.1f", rows[i].label, rows[i].p50_us,
		    rows[i].p99_us);
		bench_print_rate(rows[i].med1);
		bench_print_rate(rows[i].medn);
		printf(" %12.0f\n", bench_cpu_per_req(&rows[i]));
	}
}

/* The ratios against the targets; GET is the contract, the rest context. */
static void
bench_print_ratios(
    const struct bench_row *rows, size_t n, const struct bench_opts *o)
{
	const struct bench_row *raw = &rows[0], *lev = &rows[1];
	double r;

	for (size_t i = 2; i < n; i++) {
		const char *tag = i == 2 ? "" : "  (reference)";

		r = rows[i].p50_us / raw->p50_us;
		printf("ratio %s p50 / raw p50 = %.2f (target <= %.1f)  %s%s\n",
		    rows[i].label, r, BENCH_TARGET_P50,
		    r <= BENCH_TARGET_P50 ? "ok" : "MISS", tag);
		r = rows[i].medn / lev->medn;
		printf("ratio %llu-client %s / libevent = %.2f (target >= "
		       "%.1f)  %s%s\n",
		    (unsigned long long)o->clients, rows[i].label, r,
		    BENCH_TARGET_THR, r >= BENCH_TARGET_THR ? "ok" : "MISS",
		    tag);
	}
	printf("srv ns/req: the server's CPU time (/proc/PID/schedstat) per "
	       "request over the\nthroughput runs; breakerd GET / libevent = "
	       "%.2f (context, no target)\n",
	    bench_cpu_per_req(&rows[2]) / bench_cpu_per_req(lev));
}

/* Parse one numeric flag into [min, max]; -1 if bad. */
static int
bench_flag_u64(const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	return parse_u64(arg, min, max, out);
}

/* Parse the command line; exits on a bad flag. */
static void
bench_options(int argc, char **argv, struct bench_opts *o)
{
	char *end;
	int ch, bad = 0;

	while (!bad && (ch = getopt(argc, argv, "n:d:r:c:w:v")) != -1) {
		switch (ch) {
		case 'n':
			bad = bench_flag_u64(optarg, 100, 100000000, &o->n);
			break;
		case 'd':
			o->secs = strtod(optarg, &end);
			bad =
			    *end != '\0' || !(o->secs >= 0.05 && o->secs <= 60);
			break;
		case 'r':
			bad = bench_flag_u64(
			    optarg, 1, BENCH_ROUNDS_MAX, &o->rounds);
			break;
		case 'c':
			bad = bench_flag_u64(
			    optarg, 1, BENCH_CLIENTS_MAX, &o->clients);
			break;
		case 'w':
			bad = bench_flag_u64(
			    optarg, 1, BENCH_WINDOW_MAX, &o->window);
			break;
		case 'v':
			o->verbose = 1;
			break;
		default:
			bad = 1;
		}
	}
	if (!bad && optind == argc)
		return;
	fprintf(stderr,
	    "usage: bench_socket [-n round_trips (100..1e8)] "
	    "[-d seconds_per_figure (0.05..60)] [-r rounds (1..%d)]\n"
	    "                    [-c clients (1..%d)] [-w window (1..%d)] "
	    "[-v]\n",
	    BENCH_ROUNDS_MAX, BENCH_CLIENTS_MAX, BENCH_WINDOW_MAX);
	exit(2);
}

/* Ask GET once and check it: every later GET reply must equal this one. */
static int
bench_get_reference(const char *sock, char *reply, size_t len)
{
	if (bench_first_line(sock, "GET payments\n", reply, len, 0) == -1)
		return -1;
	if (bench_check_get(reply) == -1) {
		fprintf(
		    stderr, "bench_socket: GET payments -> \"%s\"\n", reply);
		return -1;
	}
	return 0;
}

/* -v: one round's figures for one row, as they come. */
static void
bench_print_round(const struct bench_row *row, uint64_t r)
{
	printf("round %llu %-18s 1-client %9.0f req/s",
	    (unsigned long long)r + 1, row->label, row->rps1[r]);
	if (row->many)
		printf("   many-client %9.0f req/s", row->rpsn[r]);
	printf("\n");
	fflush(stdout);
}

/* Run every round over every row, interleaved so drift hits them all. */
static int
bench_rounds(struct bench_row *rows, size_t nrows, const struct bench_opts *o)
{
	uint64_t per = o->n / o->rounds > 0 ? o->n / o->rounds : 1;

	for (size_t i = 0; i < nrows; i++)
		rows[i].lat = xcalloc(per * o->rounds, sizeof(uint64_t));
	for (uint64_t r = 0; r < o->rounds; r++) {
		for (size_t i = 0; i < nrows; i++) {
			if (bench_measure(&rows[i], o, per, r) == -1) {
				fprintf(stderr,
				    "bench_socket: %s failed in "
				    "round %llu (%s)\n",
				    rows[i].label, (unsigned long long)r + 1,
				    rows[i].path);
				return -1;
			}
			if (o->verbose)
				bench_print_round(&rows[i], r);
		}
	}
	for (size_t i = 0; i < nrows; i++)
		bench_finish(&rows[i], o);
	return 0;
}
/* Start the servers: every fork happens before the first thread. */
static int
bench_servers(const char *bin, char *raw, char *lev, char *sock, size_t len)
{
	if (bench_spawn_server("raw.sock", bench_raw_serve, raw, len) == -1
	    || bench_spawn_server("lev.sock", bench_lev_serve, lev, len) == -1)
		return -1;
	if (bench_daemon_start(bin, sock, len) == -1) {
		fprintf(
		    stderr, "bench_socket: breakerd (%s) did not start\n", bin);
		return -1;
	}
	return 0;
}

/* Start the servers, measure every row, print the table and ratios. */
int
main(int argc, char **argv)
{
	struct bench_opts o = {
	    .n = 20000, .secs = 1.5, .rounds = 5, .clients = 16, .window = 32};
	static char raw[256], lev[256], sock[256], get[256];
	struct bench_row rows[] = {
	    {.label = "raw ping-pong",
	        .path = raw,
	        .req = "PING\n",
	        .want = "OK PONG"},
	    {.label = "libevent line srv",
	        .path = lev,
	        .req = "PING\n",
	        .want = "OK PONG",
	        .many = 1},
	    {.label = "breakerd GET",
	        .path = sock,
	        .req = "GET payments\n",
	        .want = get,
	        .many = 1},
	    {.label = "breakerd ALLOW",
	        .path = sock,
	        .req = "ALLOW payments\n",
	        .want = "OK ALLOW",
	        .many = 1},
	    {.label = "breakerd REPORT",
	        .path = sock,
	        .req = "REPORT payments ok 5\n",
	        .want = "OK",
	        .many = 1},
	};
	const char *bin = getenv("BREAKERD_BIN");

	bench_options(argc, argv, &o);
	if (bin == NULL || *bin == '\0')
		bin = "build/breakerd";
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(bench_dir) == NULL) {
		fprintf(stderr, "bench_socket: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	atexit(bench_cleanup);
	if (bench_servers(bin, raw, lev, sock, sizeof(raw)) == -1)
		return 1;
	for (size_t i = 0; i < nitems(rows); i++)
		rows[i].pid = bench_children[i < 2 ? i : 2];
	if (bench_get_reference(sock, get, sizeof(get)) == -1
	    || bench_rounds(rows, nitems(rows), &o) == -1
	    || bench_daemon_stop() == -1)
		return 1;
	bench_print_table(rows, nitems(rows), &o);
	bench_print_ratios(rows, nitems(rows), &o);
	for (size_t i = 0; i < nitems(rows); i++)
		free(rows[i].lat);
	return 0;
}
