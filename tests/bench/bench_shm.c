/*
 * bench_shm.c - the local fast path benchmark.  In one run, against one
 * standalone build/breakerd (or $BREAKERD_BIN) on a generated config:
 *
 *   atomic load    the baseline: one acquire load of a shared word, the
 *                  least any shared-memory answer can cost;
 *   ALLOW table    bd_allow() answered from the shared-memory table;
 *   ALLOW socket   bd_allow() over the Unix socket (BREAKERD_SHM=off);
 *   REPORT table   bd_report() added to the table's counters;
 *   GET table      bd_get() from the table;
 *
 * each with 1 thread, 16 threads (one handle shared by all, as an
 * application would; the socket rows give each thread its own handle so
 * that they are not serialised on its lock) and 4 processes.  A figure is
 * the distribution of per-call times of batches (the mean of a batch of
 * calls timed with two clock reads), p50 and p99 over every batch of
 * every thread.  Then the trip latency the drain adds: the time from the
 * REPORT that trips a breaker (through the table) to the first ALLOW from
 * the table that says DENY, against the bound drain_ms + one 100 ms tick.
 *
 *   build/bench/bench_shm [-q]   (-q: fewer calls, for a quick look)
 *
 * Every answer is checked; the exit status is non-zero only when
 * something broke.  Targets missed are printed, never judged.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "breakerd_client.h"
#include "util.h"

#define THREADS_MAX 16
#define PROCS       4
#define DRAIN_MS    10
#define TICK_MS     100
#define TRIPS       20

struct row {
	const char *name;
	int kind; /* ROW_* */
	int socket;
	uint64_t batch, nbatches; /* per thread */
};

enum { ROW_ATOMIC, ROW_ALLOW, ROW_REPORT, ROW_GET };

struct result {
	double p50, p99, mops;
	int failed;
};

struct worker {
	const struct row *row;
	struct bd_client *c;
	double *ns; /* per batch, per call */
	uint64_t nbatches;
	int bad;
	pthread_barrier_t *go;
};

static char sock[128], dir[64];
static pid_t daemon_pid;
static _Atomic uint32_t shared_word = 1;
static volatile uint64_t sink;
static uint64_t fallbacks; /* of the table rows' shared handles */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One batch of the row's call; 0 if every answer was right. */
static int
run_batch(const struct row *r, struct bd_client *c)
{
	struct bd_view v;
	uint64_t acc = 0;
	int bad = 0;

	for (uint64_t i = 0; i < r->batch; i++) {
		switch (r->kind) {
		case ROW_ATOMIC:
			acc += atomic_load_explicit(
			    &shared_word, memory_order_acquire);
			break;
		case ROW_ALLOW:
			bad |= bd_allow(c, "payments") != 1;
			break;
		case ROW_REPORT:
			bad |= bd_report(c, "payments", BD_OK, 1) != 0;
			break;
		case ROW_GET:
			bad |= bd_get(c, "payments", &v) != 0;
			break;
		}
	}
	sink += acc;
	return bad;
}

static struct bd_client *
open_client(int socket_only)
{
	struct bd_options o;
	struct bd_client *c;

	bd_options_init(&o);
	o.socket_path = sock;
	o.timeout_ms = 2000;
	if (socket_only)
		setenv("BREAKERD_SHM", "off", 1);
	c = bd_open(&o);
	unsetenv("BREAKERD_SHM");
	return c;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->go);
	for (uint64_t b = 0; b < w->nbatches; b++) {
		uint64_t t0 = now_mono_ns();

		w->bad |= run_batch(w->row, w->c);
		w->ns[b] = (double)(now_mono_ns() - t0) / (double)w->row->batch;
	}
	return NULL;
}

/* Percentiles over every batch of every worker, and calls per second. */
static void
summarise(
    double *ns, uint64_t n, uint64_t calls, double secs, struct result *res)
{
	qsort(ns, n, sizeof *ns, cmp_double);
	res->p50 = ns[n / 2];
	res->p99 = ns[n * 99 / 100];
	res->mops = (double)calls / secs / 1e6;
}

/* nthreads threads in this process. */
static void
run_threads(const struct row *r, int nthreads, struct result *res)
{
	struct worker w[THREADS_MAX];
	pthread_t th[THREADS_MAX];
	pthread_barrier_t go;
	struct bd_client *shared = NULL;
	double *all = calloc((size_t)nthreads * r->nbatches, sizeof *all);
	uint64_t t0;

	pthread_barrier_init(&go, NULL, (unsigned)nthreads + 1);
	if (r->kind != ROW_ATOMIC && !r->socket)
		shared = open_client(0);
	for (int i = 0; i < nthreads; i++) {
		w[i].row = r;
		w[i].c = r->kind == ROW_ATOMIC ? NULL
		    : r->socket                ? open_client(1)
		                               : shared;
		w[i].ns = all + (size_t)i * r->nbatches;
		w[i].nbatches = r->nbatches;
		w[i].bad = 0;
		w[i].go = &go;
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	pthread_barrier_wait(&go);
	t0 = now_mono_ns();
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		res->failed |= w[i].bad;
		if (r->socket)
			bd_close(w[i].c);
	}
	summarise(all, (size_t)nthreads * r->nbatches,
	    (uint64_t)nthreads * r->nbatches * r->batch,
	    (double)(now_mono_ns() - t0) / 1e9, res);
	if (shared != NULL) {
		struct bd_table_stats st;

		bd_table_stats(shared, &st);
		fallbacks += st.fallbacks;
		bd_close(shared);
	}
	pthread_barrier_destroy(&go);
	free(all);
}

/* PROCS processes, each one thread with its own handle; batches come
 * back through a pipe. */
static void
run_procs(const struct row *r, struct result *res)
{
	double *all = calloc(PROCS * r->nbatches, sizeof *all);
	int fds[PROCS][2], st;
	pid_t pids[PROCS];
	uint64_t t0 = now_mono_ns();

	for (int p = 0; p < PROCS; p++) {
		if (pipe(fds[p]) == -1 || (pids[p] = fork()) == -1)
			exit(1);
		if (pids[p] == 0) {
			struct bd_client *c = r->kind == ROW_ATOMIC
			    ? NULL
			    : open_client(r->socket);
			double *ns = calloc(r->nbatches, sizeof *ns);
			int bad = 0;

			for (uint64_t b = 0; b < r->nbatches; b++) {
				uint64_t t = now_mono_ns();

				bad |= run_batch(r, c);
				ns[b] = (double)(now_mono_ns() - t)
				    / (double)r->batch;
			}
			if (write(fds[p][1], ns, r->nbatches * sizeof *ns) < 0)
				bad = 1;
			_exit(bad);
		}
		close(fds[p][1]);
	}
	for (int p = 0; p < PROCS; p++) {
		size_t want = r->nbatches * sizeof *all, got = 0;
		char *dst = (char *)(all + (size_t)p * r->nbatches);
		ssize_t n;

		while (got < want
		    && (n = read(fds[p][0], dst + got, want - got)) > 0)
			got += (size_t)n;
		close(fds[p][0]);
		waitpid(pids[p], &st, 0);
		res->failed |=
		    got != want || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	summarise(all, PROCS * r->nbatches, PROCS * r->nbatches * r->batch,
	    (double)(now_mono_ns() - t0) / 1e9, res);
	free(all);
}

static void
print_row(const char *name, const char *how, const struct result *r)
{
	printf("%-14s %-12s %10.1f %10.1f %10.2f%s\n", name, how, r->p50,
	    r->p99, r->mops, r->failed ? "  WRONG ANSWERS" : "");
}

/* Write the config and start the daemon; wait for its table. */
static void
start_daemon(void)
{
	const char *bin = getenv("BREAKERD_BIN");
	char conf[128], shm[160];
	struct stat st;
	FILE *f;

	snprintf(dir, sizeof dir, "/tmp/bd-bench-shm.XXXXXX");
	if (mkdtemp(dir) == NULL)
		exit(1);
	snprintf(sock, sizeof sock, "%s/s.sock", dir);
	snprintf(conf, sizeof conf, "%s/c.json", dir);
	snprintf(shm, sizeof shm, "%s.shm", sock);
	if ((f = fopen(conf, "w")) == NULL)
		exit(1);
	fprintf(f,
	    "{\"log_level\":\"warn\",\"socket\":{\"path\":\"%s\","
	    "\"shm_drain_ms\":%d},\"dependencies\":[{\"name\":\"payments\"}",
	    sock, DRAIN_MS);
	for (int i = 0; i < TRIPS; i++)
		fprintf(f,
		    ",{\"name\":\"trip%d\",\"breaker\":{\"window\":\"count\","
		    "\"window_size\":10,\"minimum_calls\":10,"
		    "\"failure_rate_pct\":50,\"open_wait_ms\":600000,"
		    "\"open_wait_max_ms\":600000}}",
		    i);
	fprintf(f, "]}\n");
	fclose(f);
	if ((daemon_pid = fork()) == 0) {
		execl(bin != NULL ? bin : "build/breakerd", "breakerd", "-f",
		    conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && stat(shm, &st) == -1; i++)
		usleep(10000);
	usleep(100000);
}

static void
stop_daemon(void)
{
	char path[256];

	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
	}
	snprintf(path, sizeof path, "%s/c.json", dir);
	unlink(path);
	rmdir(dir);
}

/* REPORT fails through the table until one trips; then time the DENY. */
static int
trip_latency(double *p50, double *max)
{
	struct bd_client *c = open_client(0);
	double ms[TRIPS];
	char dep[16];
	int n = 0;

	for (int i = 0; i < TRIPS; i++) {
		uint64_t t0, deadline;

		snprintf(dep, sizeof dep, "trip%d", i);
		for (int k = 0; k < 9; k++)
			bd_report(c, dep, BD_FAIL, 1);
		usleep(50000); /* drained: the next report is the one */
		t0 = now_mono_ns();
		bd_report(c, dep, BD_FAIL, 1);
		deadline = t0 + 5000000000ull;
		while (bd_allow(c, dep) == 1 && now_mono_ns() < deadline)
			;
		if (now_mono_ns() >= deadline)
			continue;
		ms[n++] = (double)(now_mono_ns() - t0) / 1e6;
	}
	bd_close(c);
	if (n == 0)
		return -1;
	qsort(ms, (size_t)n, sizeof ms[0], cmp_double);
	*p50 = ms[n / 2];
	*max = ms[n - 1];
	return n == TRIPS ? 0 : -1;
}

int
main(int argc, char **argv)
{
	int quick = argc > 1 && strcmp(argv[1], "-q") == 0;
	uint64_t k = quick ? 1 : 5;
	const struct row rows[] = {
	    {"atomic load", ROW_ATOMIC, 0, 1000, 400 * k},
	    {"ALLOW table", ROW_ALLOW, 0, 1000, 400 * k},
	    {"ALLOW socket", ROW_ALLOW, 1, 50, 40 * k},
	    {"REPORT table", ROW_REPORT, 0, 1000, 400 * k},
	    {"GET table", ROW_GET, 0, 1000, 400 * k},
	};
	struct result res[5][3];
	struct bd_table_stats st;
	struct bd_client *c;
	double tp50 = 0, tmax = 0;
	int failed = 0, trip_ok;

	memset(res, 0, sizeof res);
	start_daemon();
	c = open_client(0);
	bd_table_stats(c, &st);
	if (!st.mapped) {
		fprintf(
		    stderr, "bench_shm: the daemon's table is not mapped\n");
		bd_close(c);
		stop_daemon();
		return 1;
	}
	bd_close(c);
	/* Interleaved: each row's 1-thread, 16-thread, 4-process figures. */
	for (size_t i = 0; i < 5; i++) {
		run_threads(&rows[i], 1, &res[i][0]);
		run_threads(&rows[i], 16, &res[i][1]);
		run_procs(&rows[i], &res[i][2]);
	}
	trip_ok = trip_latency(&tp50, &tmax);
	stop_daemon();

	printf("per call, ns (batch means); Mops/s = calls per second, all "
	       "threads\n");
	printf("%-14s %-12s %10s %10s %10s\n", "row", "how", "p50", "p99",
	    "Mops/s");
	for (size_t i = 0; i < 5; i++) {
		print_row(rows[i].name, "1 thread", &res[i][0]);
		print_row(rows[i].name, "16 threads", &res[i][1]);
		print_row(rows[i].name, "4 processes", &res[i][2]);
		for (int j = 0; j < 3; j++)
			failed |= res[i][j].failed;
	}
	printf(
	    "\nratios (p50)             1 thread  16 threads  4 processes\n");
	printf(
	    "socket / table ALLOW   %10.0fx %10.0fx %10.0fx   target >= 100x\n",
	    res[2][0].p50 / res[1][0].p50, res[2][1].p50 / res[1][1].p50,
	    res[2][2].p50 / res[1][2].p50);
	printf("table ALLOW / atomic   %10.1fx %10.1fx %10.1fx\n",
	    res[1][0].p50 / res[0][0].p50, res[1][1].p50 / res[0][1].p50,
	    res[1][2].p50 / res[0][2].p50);
	printf("targets: ALLOW table p50 <= 100 ns: %s; REPORT table p50 <= "
	       "100 ns: %s (1 thread)\n",
	    res[1][0].p50 <= 100 ? "met" : "MISSED",
	    res[3][0].p50 <= 100 ? "met" : "MISSED");
	if (trip_ok == 0)
		printf(
		    "trip latency through the drain: p50 %.1f ms, max %.1f ms "
		    "over %d trips; bound drain %d ms + tick %d ms = %d ms: "
		    "%s\n",
		    tp50, tmax, TRIPS, DRAIN_MS, TICK_MS, DRAIN_MS + TICK_MS,
		    tmax <= DRAIN_MS + TICK_MS ? "met" : "MISSED");
	else
		printf(
		    "trip latency: a breaker did not trip through the table\n");
	printf("table rows' calls that fell back to the socket: %llu\n",
	    (unsigned long long)fallbacks);
	return failed || trip_ok != 0 ? 1 : 0;
}
