/*
 * client.c - libbreakerd_client: a blocking-but-bounded client for the local
 * breakerd daemon, for applications without an event loop.
 *
 * It must link into any program, so it uses only libc and pthreads: not the
 * daemon's core (no util.c allocators that exit, no log.c), and it reports
 * failures through return codes rather than logging.  Every wait is a poll()
 * against one deadline per request, so a hung or dead daemon costs a caller
 * at most timeout_ms, and after a failure the connection is dropped and
 * re-made lazily, no more than once per reconnect_ms.  A connection that the
 * daemon closed while idle (a restart) is noticed before the next request
 * and replaced at once, so a restart is invisible to callers.
 *
 * A watch runs on its own thread and connection; a self-pipe wakes its
 * poll() so bd_watch_stop() never waits on the daemon.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "breakerd_client.h"
#include "client_shm.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* BSDs: SO_NOSIGPIPE is set on the socket instead */
#endif

#define BD_NO_DEADLINE UINT64_MAX
#define BD_WOKEN       1 /* internal: the watch's wake pipe fired */

/* One connection and what has been read from it but not yet consumed. */
struct bd_conn {
	int fd;
	size_t len;
	char buf[2 * BD_LINE_MAX];
};

struct bd_client {
	pthread_mutex_t lock;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int timeout_ms;
	int fail_open;
	int reconnect_ms;
	uint64_t next_connect_ms; /* no connect attempt before this */
	struct bd_conn conn;
	struct bd_tabctl tab; /* the shared-memory table, asked first */
};

struct bd_watch {
	struct bd_client
	    *c;        /* options and connection; used by the thread only */
	char *request; /* "WATCH a b c" */
	bd_watch_cb cb;
	void *arg;
	int wake[2];
	pthread_t thread;
};

/* ERR codes of protocol v1 and what they become here. */
static const struct {
	const char *name;
	int code;
} bd_err_codes[] = {
    {"EPROTO", BD_EPROTO},
    {"ENOENT", BD_ENOENT},
    {"EPERM", BD_EPERM},
    {"ETOOLONG", BD_ETOOLONG},
    {"EUNAVAIL", BD_EUNAVAIL},
    {"EBUSY", BD_EBUSY},
};

/* Monotonic milliseconds: deadlines must not move with the wall clock. */
static uint64_t
bd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Bounded copy that always terminates; returns 0, or -1 if truncated. */
static int
bd_copy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size == 0)
		return -1;
	if (n >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

/* A dependency name: 1..BD_DEP_MAX printable characters, no spaces. */
static int
bd_dep_valid(const char *dep)
{
	size_t n;

	if (dep == NULL)
		return 0;
	for (n = 0; dep[n] != '\0'; n++)
		if (dep[n] <= ' ' || dep[n] == 0x7f)
			return 0;
	return n > 0 && n <= BD_DEP_MAX;
}

/* Milliseconds left before deadline, as poll() wants them. */
static int
bd_poll_timeout(uint64_t deadline)
{
	uint64_t now;

	if (deadline == BD_NO_DEADLINE)
		return -1;
	now = bd_now_ms();
	if (now >= deadline)
		return 0;
	return deadline - now > 60000 ? 60000 : (int)(deadline - now);
}

/*
 * Wait until fd is ready for events, the deadline passes (BD_ETIMEOUT) or
 * wakefd (if >= 0) becomes readable (BD_WOKEN).
 */
static int
bd_wait(int fd, short events, uint64_t deadline, int wakefd)
{
	struct pollfd pfd[2];
	int n;

	pfd[0].fd = fd;
	pfd[0].events = events;
	pfd[1].fd = wakefd;
	pfd[1].events = POLLIN;
	for (;;) {
		pfd[0].revents = pfd[1].revents = 0;
		n = poll(pfd, wakefd >= 0 ? 2 : 1, bd_poll_timeout(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return BD_EUNREACH;
		if (wakefd >= 0 && pfd[1].revents != 0)
			return BD_WOKEN;
		if (n > 0)
			return 0;
		if (bd_poll_timeout(deadline) == 0)
			return BD_ETIMEOUT;
	}
}

/* Make fd close-on-exec, non-blocking and, where needed, SIGPIPE-free. */
static int
bd_fd_setup(int fd)
{
	int flags;

	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return -1;
	if ((flags = fcntl(fd, F_GETFL)) == -1
	    || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return -1;
#ifdef SO_NOSIGPIPE
	{
		int one = 1;

		if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one)
		    == -1)
			return -1;
	}
#endif
	return 0;
}

/* After a connect in progress: wait for it and fetch its result. */
static int
bd_connect_finish(int fd, uint64_t deadline)
{
	int rc, err = 0;
	socklen_t len = sizeof err;

	if ((rc = bd_wait(fd, POLLOUT, deadline, -1)) != 0)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0)
		return BD_EUNREACH;
	return 0;
}

/*
 * One non-blocking connect attempt.  Returns 0 with *fdp set, BD_EUNREACH,
 * or 1 when the listen backlog is full (Linux says EAGAIN) and it is worth
 * trying again.
 */
static int
bd_connect_once(const char *path, uint64_t deadline, int *fdp)
{
	struct sockaddr_un sun;
	int fd, rc = 0;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (bd_copy(sun.sun_path, path, sizeof sun.sun_path) == -1)
		return BD_EINVAL;
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return BD_EUNREACH;
	if (bd_fd_setup(fd) == -1)
		rc = BD_EUNREACH;
	else if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
		rc = 0;
	else if (errno == EINPROGRESS || errno == EINTR)
		rc = bd_connect_finish(fd, deadline);
	else
		rc = errno == EAGAIN ? 1 : BD_EUNREACH;
	if (rc != 0)
		close(fd);
	else
		*fdp = fd;
	return rc;
}

/* Connect to path before deadline, retrying while the backlog is full. */
static int
bd_connect(const char *path, uint64_t deadline, int *fdp)
{
	int rc;

	while ((rc = bd_connect_once(path, deadline, fdp)) == 1) {
		if (bd_poll_timeout(deadline) == 0)
			return BD_ETIMEOUT;
		poll(NULL, 0, 2);
	}
	return rc;
}

/* Drop a connection and anything buffered from it. */
static void
bd_conn_close(struct bd_conn *conn)
{
	if (conn->fd != -1)
		close(conn->fd);
	conn->fd = -1;
	conn->len = 0;
}

/* Write all of buf before deadline; MSG_NOSIGNAL keeps SIGPIPE away. */
static int
bd_send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = bd_wait(fd, POLLOUT, deadline, -1)) != 0)
				return rc;
			continue;
		}
		return BD_EUNREACH;
	}
	return 0;
}

/*
 * Take one complete line out of the buffer into line (BD_LINE_MAX bytes):
 * 1 if taken, 0 if there is none yet, -1 if it is too long.
 */
static int
bd_take_line(struct bd_conn *conn, char *line)
{
	char *nl;
	size_t n;

	if ((nl = memchr(conn->buf, '\n', conn->len)) == NULL)
		return 0;
	n = (size_t)(nl - conn->buf);
	if (n >= BD_LINE_MAX)
		return -1;
	if (n > 0 && conn->buf[n - 1] == '\r')
		conn->buf[n - 1] = '\0';
	*nl = '\0';
	memcpy(line, conn->buf, n + 1);
	conn->len -= n + 1;
	memmove(conn->buf, nl + 1, conn->len);
	return 1;
}

/*
 * Read one line (newline stripped) into line, which holds BD_LINE_MAX.
 * BD_EBADREPLY for a line longer than that, BD_EUNREACH on EOF.
 */
static int
bd_read_line(struct bd_conn *conn, char *line, uint64_t deadline, int wakefd)
{
	ssize_t n;
	int rc;

	for (;;) {
		if ((rc = bd_take_line(conn, line)) != 0)
			return rc == 1 ? 0 : BD_EBADREPLY;
		if (conn->len >= BD_LINE_MAX)
			return BD_EBADREPLY;
		n = read(conn->fd, conn->buf + conn->len,
		    sizeof conn->buf - conn->len);
		if (n > 0) {
			conn->len += (size_t)n;
			continue;
		}
		if (n == 0)
			return BD_EUNREACH;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return BD_EUNREACH;
		if ((rc = bd_wait(conn->fd, POLLIN, deadline, wakefd)) != 0)
			return rc;
	}
}

/* The code of a reply line: 0 for OK, the mapped ERR code, or BADREPLY. */
static int
bd_reply_code(const char *line)
{
	size_t i, n;

	if (strncmp(line, "OK", 2) == 0 && (line[2] == '\0' || line[2] == ' '))
		return 0;
	if (strncmp(line, "ERR ", 4) != 0)
		return BD_EBADREPLY;
	line += 4;
	n = strcspn(line, " ");
	for (i = 0; i < sizeof bd_err_codes / sizeof bd_err_codes[0]; i++)
		if (strlen(bd_err_codes[i].name) == n
		    && strncmp(line, bd_err_codes[i].name, n) == 0)
			return bd_err_codes[i].code;
	return BD_ESERVER;
}

/*
 * An idle connection that is readable has either been closed by the daemon
 * (it restarted) or holds stray bytes: either way it cannot carry a request.
 */
static int
bd_conn_stale(const struct bd_conn *conn)
{
	struct pollfd pfd;

	if (conn->len > 0)
		return 1;
	pfd.fd = conn->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) != 0;
}

/* Make sure c has a live connection, honouring the reconnect throttle. */
static int
bd_client_connect(struct bd_client *c, uint64_t deadline)
{
	int rc;

	if (c->conn.fd != -1 && !bd_conn_stale(&c->conn))
		return 0;
	bd_conn_close(&c->conn);
	if (bd_now_ms() < c->next_connect_ms)
		return BD_EUNREACH;
	rc = bd_connect(c->path, deadline, &c->conn.fd);
	if (rc != 0)
		c->next_connect_ms = bd_now_ms() + (uint64_t)c->reconnect_ms;
	return rc;
}

/* Note a failed request: drop the connection and throttle reconnects. */
static int
bd_client_fail(struct bd_client *c, int rc)
{
	bd_conn_close(&c->conn);
	c->next_connect_ms = bd_now_ms() + (uint64_t)c->reconnect_ms;
	return rc;
}

/* Connect if needed and send line plus newline; c must be locked. */
static int
bd_client_send(struct bd_client *c, const char *line, uint64_t deadline)
{
	char buf[BD_LINE_MAX];
	int n, rc;

	n = snprintf(buf, sizeof buf, "%s\n", line);
	if (n < 0 || (size_t)n >= sizeof buf)
		return BD_EINVAL;
	if ((rc = bd_client_connect(c, deadline)) != 0)
		return rc;
	if ((rc = bd_send_all(c->conn.fd, buf, (size_t)n, deadline)) != 0)
		return bd_client_fail(c, rc);
	return 0;
}

/* Send one request and read its first reply line; c must be locked. */
static int
bd_client_request(
    struct bd_client *c, const char *line, char *reply, uint64_t *deadline)
{
	int rc;

	*deadline = bd_now_ms() + (uint64_t)c->timeout_ms;
	if ((rc = bd_client_send(c, line, *deadline)) != 0)
		return rc;
	if ((rc = bd_read_line(&c->conn, reply, *deadline, -1)) != 0)
		return bd_client_fail(c, rc);
	return 0;
}

/* One request, one reply line, under the lock.  Returns the reply's code. */
static int
bd_roundtrip(struct bd_client *c, const char *line, char *reply)
{
	uint64_t deadline;
	int rc;

	pthread_mutex_lock(&c->lock);
	bdt_refresh(&c->tab, bd_now_ms(), c->reconnect_ms);
	rc = bd_client_request(c, line, reply, &deadline);
	pthread_mutex_unlock(&c->lock);
	return rc != 0 ? rc : bd_reply_code(reply);
}

/* Apply the defaults to zero or negative fields. */
static void
bd_options_fix(struct bd_client *c, const struct bd_options *o)
{
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 200;
	c->reconnect_ms = o->reconnect_ms > 0 ? o->reconnect_ms : 1000;
	c->fail_open = o->fail_open != 0;
}

/* Allocate a client for opts without connecting. */
static struct bd_client *
bd_client_new(const struct bd_options *opts)
{
	struct bd_options defaults;
	struct bd_client *c;
	const char *path;

	if (opts == NULL) {
		bd_options_init(&defaults);
		opts = &defaults;
	}
	path = opts->socket_path;
	if (path == NULL && (path = getenv("BREAKERD_SOCKET")) == NULL)
		path = BD_DEFAULT_SOCKET;
	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	if (bd_copy(c->path, path, sizeof c->path) == -1
	    || pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	bd_options_fix(c, opts);
	c->conn.fd = -1;
	bdt_init(&c->tab, c->path);
	return c;
}

/* Defaults for applications: fail open is the usual sidecar policy. */
void
bd_options_init(struct bd_options *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->timeout_ms = 200;
	opts->fail_open = 1;
	opts->reconnect_ms = 1000;
}

/* Make a handle and connect once; a daemon that is down is not an error. */
struct bd_client *
bd_open(const struct bd_options *opts)
{
	struct bd_client *c;

	if ((c = bd_client_new(opts)) == NULL)
		return NULL;
	pthread_mutex_lock(&c->lock);
	bd_client_connect(c, bd_now_ms() + (uint64_t)c->timeout_ms);
	bdt_refresh(&c->tab, bd_now_ms(), c->reconnect_ms);
	pthread_mutex_unlock(&c->lock);
	return c;
}

/* Free a handle and its connection. */
void
bd_close(struct bd_client *c)
{
	if (c == NULL)
		return;
	bd_conn_close(&c->conn);
	bdt_free(&c->tab);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Split line into at most max space-separated words, in place. */
static size_t
bd_split(char *line, char **words, size_t max)
{
	size_t n = 0;

	while (n < max) {
		while (*line == ' ')
			line++;
		if (*line == '\0')
			break;
		words[n++] = line;
		line += strcspn(line, " ");
		if (*line == '\0')
			break;
		*line++ = '\0';
	}
	return n;
}

/* Parse a decimal uint64 that fills the whole string. */
static int
bd_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* Parse "OK|EVENT dep STATE version authority"; extra words are ignored. */
int
bd_parse_view(const char *line, struct bd_view *view)
{
	char buf[BD_LINE_MAX], *w[6];
	struct bd_view v;

	memset(&v, 0, sizeof v);
	if (bd_copy(buf, line, sizeof buf) == -1 || bd_split(buf, w, 6) < 5)
		return BD_EBADREPLY;
	if (strcmp(w[0], "OK") != 0 && strcmp(w[0], "EVENT") != 0)
		return BD_EBADREPLY;
	if (!bd_dep_valid(w[1]) || bd_copy(v.dep, w[1], sizeof v.dep) == -1
	    || bd_copy(v.state, w[2], sizeof v.state) == -1
	    || bd_parse_u64(w[3], &v.version) == -1
	    || bd_copy(v.authority, w[4], sizeof v.authority) == -1)
		return BD_EBADREPLY;
	*view = v;
	return 0;
}

/* GET dep; the reply must name the dependency asked about. */
int
bd_get(struct bd_client *c, const char *dep, struct bd_view *view)
{
	char line[BD_LINE_MAX], reply[BD_LINE_MAX];
	struct bd_view v;
	int rc;

	if (c == NULL || view == NULL || !bd_dep_valid(dep))
		return BD_EINVAL;
	if (bdt_get(&c->tab, dep, view) == 0)
		return 0;
	snprintf(line, sizeof line, "GET %s", dep);
	if ((rc = bd_roundtrip(c, line, reply)) != 0)
		return rc;
	if (bd_parse_view(reply, &v) != 0 || strcmp(v.dep, dep) != 0)
		return BD_EBADREPLY;
	*view = v;
	return 0;
}

/* ALLOW dep; anything but a clear answer falls back on the policy. */
int
bd_allow(struct bd_client *c, const char *dep)
{
	char line[BD_LINE_MAX], reply[BD_LINE_MAX];
	int rc;

	if (c == NULL)
		return 0;
	if (!bd_dep_valid(dep))
		return c->fail_open;
	if ((rc = bdt_allow(&c->tab, dep)) >= 0)
		return rc;
	snprintf(line, sizeof line, "ALLOW %s", dep);
	if (bd_roundtrip(c, line, reply) != 0)
		return c->fail_open;
	if (strcmp(reply, "OK ALLOW") == 0)
		return 1;
	if (strcmp(reply, "OK DENY") == 0 || strncmp(reply, "OK DENY ", 8) == 0)
		return 0;
	return c->fail_open;
}

/* REPORT dep outcome duration. */
int
bd_report(struct bd_client *c, const char *dep, enum bd_outcome outcome,
    unsigned duration_ms)
{
	static const char *const names[] = {"ok", "fail", "slow"};
	char line[BD_LINE_MAX], reply[BD_LINE_MAX];

	if (c == NULL || !bd_dep_valid(dep) || (unsigned)outcome > BD_SLOW)
		return BD_EINVAL;
	if (bdt_report(&c->tab, dep, outcome, duration_ms) == 0)
		return 0;
	snprintf(line, sizeof line, "REPORT %s %s %u", dep, names[outcome],
	    duration_ms);
	return bd_roundtrip(c, line, reply);
}

/* Is line a request this library can send: one line, bounded, not empty. */
static int
bd_line_valid(const char *line)
{
	size_t n;

	if (line == NULL || (n = strlen(line)) == 0 || n >= BD_LINE_MAX - 1)
		return 0;
	return strpbrk(line, "\r\n") == NULL;
}

/* Does line start with word (case-insensitively, as a whole word)? */
static int
bd_is_word(const char *line, const char *word)
{
	size_t n = strlen(word);

	return strncasecmp(line, word, n) == 0
	    && (line[n] == '\0' || line[n] == ' ');
}

/* A raw single-line request. */
int
bd_command(struct bd_client *c, const char *line, char *reply, size_t len)
{
	static const char *const multi[] = {
	    "LIST", "STATUS", "METRICS", "HELP", "WATCH"};
	char buf[BD_LINE_MAX];
	uint64_t deadline;
	size_t i;
	int rc;

	if (c == NULL || !bd_line_valid(line))
		return BD_EINVAL;
	for (i = 0; i < sizeof multi / sizeof multi[0]; i++)
		if (bd_is_word(line, multi[i]))
			return BD_EINVAL;
	pthread_mutex_lock(&c->lock);
	rc = bd_client_request(c, line, buf, &deadline);
	if (rc == 0 && bd_is_word(line, "QUIT"))
		bd_conn_close(&c->conn);
	pthread_mutex_unlock(&c->lock);
	if (rc != 0)
		return rc;
	if (reply != NULL && len > 0)
		bd_copy(reply, buf, len);
	return bd_reply_code(buf);
}

/* Read the lines of a multi-line reply up to END; c must be locked. */
static int
bd_query_locked(struct bd_client *c, const char *line, bd_line_cb cb, void *arg)
{
	char buf[BD_LINE_MAX];
	uint64_t deadline;
	int rc;

	if ((rc = bd_client_request(c, line, buf, &deadline)) != 0)
		return rc;
	if (strncmp(buf, "ERR ", 4) == 0) {
		cb(buf, arg);
		return bd_reply_code(buf);
	}
	while (strcmp(buf, "END") != 0) {
		cb(buf, arg);
		/* Progress, not the whole reply, is bounded: METRICS is big. */
		deadline = bd_now_ms() + (uint64_t)c->timeout_ms;
		if ((rc = bd_read_line(&c->conn, buf, deadline, -1)) != 0)
			return bd_client_fail(c, rc);
	}
	return 0;
}

/* A request whose reply is several lines ending with END. */
int
bd_query(struct bd_client *c, const char *line, bd_line_cb cb, void *arg)
{
	int rc;

	if (c == NULL || cb == NULL || !bd_line_valid(line)
	    || bd_is_word(line, "WATCH"))
		return BD_EINVAL;
	pthread_mutex_lock(&c->lock);
	rc = bd_query_locked(c, line, cb, arg);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Tell the watcher that views are unknown until the daemon is back. */
static void
bd_watch_lost(struct bd_watch *w)
{
	struct bd_view v;

	memset(&v, 0, sizeof v);
	bd_copy(v.state, "UNKNOWN", sizeof v.state);
	bd_copy(v.authority, "unreachable", sizeof v.authority);
	w->cb(&v, w->arg);
}

/*
 * One watch connection: subscribe, then hand every EVENT to the callback
 * until the connection fails (BD_E*) or the watch is stopped (BD_WOKEN).
 * *subscribed tells the caller whether the daemon accepted the WATCH.
 */
static int
bd_watch_session(struct bd_watch *w, int *subscribed)
{
	struct bd_client *c = w->c;
	char line[BD_LINE_MAX];
	struct bd_view v;
	uint64_t deadline;
	int rc;

	*subscribed = 0;
	c->next_connect_ms = 0; /* the thread does its own throttling */
	if ((rc = bd_client_request(c, w->request, line, &deadline)) != 0)
		return rc;
	if ((rc = bd_reply_code(line)) != 0)
		return bd_client_fail(c, rc);
	*subscribed = 1;
	for (;;) {
		rc = bd_read_line(&c->conn, line, BD_NO_DEADLINE, w->wake[0]);
		if (rc != 0)
			return bd_client_fail(c, rc);
		if (strncmp(line, "EVENT ", 6) == 0
		    && bd_parse_view(line, &v) == 0)
			w->cb(&v, w->arg);
	}
}

/* The watch thread: sessions until stopped, reporting each outage once. */
static void *
bd_watch_main(void *arg)
{
	struct bd_watch *w = arg;
	int rc, subscribed, down = 0;

	for (;;) {
		rc = bd_watch_session(w, &subscribed);
		if (rc == BD_WOKEN)
			break;
		if (subscribed)
			down = 0;
		if (!down)
			bd_watch_lost(w);
		down = 1;
		if (bd_wait(w->wake[0], POLLIN,
		        bd_now_ms() + (uint64_t)w->c->reconnect_ms, -1)
		    == 0)
			break;
	}
	return NULL;
}

/* Build "WATCH d1 d2 ..." after checking every name. */
static char *
bd_watch_request(const char *const *deps, size_t n)
{
	char buf[BD_LINE_MAX];
	size_t i, off;
	int len;

	off = (size_t)snprintf(buf, sizeof buf, "WATCH");
	for (i = 0; i < n; i++) {
		if (!bd_dep_valid(deps[i]))
			return NULL;
		len = snprintf(buf + off, sizeof buf - off, " %s", deps[i]);
		if (len < 0 || (size_t)len >= sizeof buf - off - 1)
			return NULL;
		off += (size_t)len;
	}
	return strdup(buf);
}

/* Free a watch whose thread is not running. */
static void
bd_watch_free(struct bd_watch *w)
{
	if (w->wake[0] != -1) {
		close(w->wake[0]);
		close(w->wake[1]);
	}
	bd_close(w->c);
	free(w->request);
	free(w);
}

/* Start a watch thread on its own connection. */
struct bd_watch *
bd_watch_start(const struct bd_options *opts, const char *const *deps, size_t n,
    bd_watch_cb cb, void *arg)
{
	struct bd_watch *w;

	if (cb == NULL || (n > 0 && deps == NULL)
	    || (w = calloc(1, sizeof *w)) == NULL)
		return NULL;
	w->cb = cb;
	w->arg = arg;
	w->wake[0] = w->wake[1] = -1;
	if ((w->c = bd_client_new(opts)) == NULL
	    || (w->request = bd_watch_request(deps, n)) == NULL
	    || pipe(w->wake) == -1) {
		w->wake[0] = -1;
		bd_watch_free(w);
		return NULL;
	}
	fcntl(w->wake[0], F_SETFD, FD_CLOEXEC);
	fcntl(w->wake[1], F_SETFD, FD_CLOEXEC);
	if (pthread_create(&w->thread, NULL, bd_watch_main, w) != 0) {
		bd_watch_free(w);
		return NULL;
	}
	return w;
}

/* Wake the thread through its pipe, wait for it, free everything. */
void
bd_watch_stop(struct bd_watch *w)
{
	char b = 'x';

	if (w == NULL)
		return;
	while (write(w->wake[1], &b, 1) == -1 && errno == EINTR)
		continue;
	pthread_join(w->thread, NULL);
	bd_watch_free(w);
}

/* How this handle used the shared-memory table. */
int
bd_table_stats(struct bd_client *c, struct bd_table_stats *st)
{
	if (c == NULL || st == NULL)
		return BD_EINVAL;
	bdt_stats(&c->tab, st);
	return 0;
}

/* Names for the BD_E* codes. */
const char *
bd_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
	case BD_EINVAL:
		return "invalid argument";
	case BD_EUNREACH:
		return "daemon unreachable";
	case BD_ETIMEOUT:
		return "timed out waiting for the daemon";
	case BD_EBADREPLY:
		return "malformed reply from the daemon";
	case BD_ENOMEM:
		return "out of memory";
	case BD_EPROTO:
		return "daemon did not understand the request";
	case BD_ENOENT:
		return "unknown dependency";
	case BD_EPERM:
		return "permission denied";
	case BD_ETOOLONG:
		return "request too long";
	case BD_EUNAVAIL:
		return "daemon cannot answer now";
	case BD_EBUSY:
		return "daemon busy";
	case BD_ESERVER:
		return "error reply from the daemon";
	default:
		return "unknown error";
	}
}
