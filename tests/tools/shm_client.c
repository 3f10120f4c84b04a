/*
 * shm_client.c - a libbreakerd_client user that integration tests drive
 * over stdin: one command per line, one reply line each, so that a test
 * keeps the same handle (and its mapping of the shared-memory table)
 * across daemon stops and restarts.
 *
 *   shm_client SOCKET [fail_open]
 *   allow DEP N            -> "allow=A deny=D"
 *   get DEP                -> "STATE VERSION AUTHORITY" or "ERR code"
 *   report DEP ok|fail|slow MS N -> "ok" or "ERR code"
 *   getloop DEP MS         -> every distinct "STATE VERSION AUTHORITY"
 *                             read during MS, then "end N" (N reads)
 *   stats                  -> "mapped=M maps=N fallbacks=F stale=S torn=T"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "breakerd_client.h"

static unsigned long long
tool_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* getloop: print every change of what GET says; 0 reads is an error. */
static void
tool_getloop(struct bd_client *c, const char *dep, long ms)
{
	unsigned long long until = tool_now_ms() + (unsigned long long)ms;
	char last[128] = "", now[128];
	unsigned long long n = 0;
	struct bd_view v;

	while (tool_now_ms() < until) {
		if (bd_get(c, dep, &v) != 0)
			continue;
		n++;
		snprintf(now, sizeof now, "%s %llu %s", v.state,
		    (unsigned long long)v.version, v.authority);
		if (strcmp(now, last) != 0) {
			printf("%s\n", now);
			memcpy(last, now, sizeof last);
		}
	}
	printf("end %llu\n", n);
}

static void
tool_line(struct bd_client *c, char *line)
{
	char *w[6] = {0};
	int n = 0, rc;
	struct bd_view v;
	struct bd_table_stats st;

	for (char *p = strtok(line, " \n"); p != NULL && n < 6;
	     p = strtok(NULL, " \n"))
		w[n++] = p;
	if (n == 3 && strcmp(w[0], "allow") == 0) {
		long k = strtol(w[2], NULL, 10), a = 0;

		for (long i = 0; i < k; i++)
			a += bd_allow(c, w[1]);
		printf("allow=%ld deny=%ld\n", a, k - a);
	} else if (n == 2 && strcmp(w[0], "get") == 0) {
		if ((rc = bd_get(c, w[1], &v)) == 0)
			printf("%s %llu %s\n", v.state,
			    (unsigned long long)v.version, v.authority);
		else
			printf("ERR %d\n", rc);
	} else if (n == 5 && strcmp(w[0], "report") == 0) {
		enum bd_outcome o = strcmp(w[2], "ok") == 0 ? BD_OK
		    : strcmp(w[2], "fail") == 0             ? BD_FAIL
		                                            : BD_SLOW;
		long k = strtol(w[4], NULL, 10);
		unsigned ms = (unsigned)strtoul(w[3], NULL, 10);

		rc = 0;
		for (long i = 0; i < k && rc == 0; i++)
			rc = bd_report(c, w[1], o, ms);
		if (rc == 0)
			printf("ok\n");
		else
			printf("ERR %d\n", rc);
	} else if (n == 3 && strcmp(w[0], "getloop") == 0) {
		tool_getloop(c, w[1], strtol(w[2], NULL, 10));
	} else if (n == 1 && strcmp(w[0], "stats") == 0) {
		bd_table_stats(c, &st);
		printf(
		    "mapped=%d maps=%llu fallbacks=%llu stale=%llu torn=%llu\n",
		    st.mapped, (unsigned long long)st.maps,
		    (unsigned long long)st.fallbacks,
		    (unsigned long long)st.stale, (unsigned long long)st.torn);
	} else
		printf("ERR usage\n");
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct bd_options o;
	struct bd_client *c;
	char line[512];

	if (argc < 2) {
		fprintf(stderr, "usage: shm_client SOCKET [fail_open]\n");
		return 2;
	}
	bd_options_init(&o);
	o.socket_path = argv[1];
	o.fail_open = argc > 2 ? atoi(argv[2]) : 0;
	o.reconnect_ms = 50;
	o.timeout_ms = 500;
	if ((c = bd_open(&o)) == NULL)
		return 1;
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof line, stdin) != NULL)
		tool_line(c, line);
	bd_close(c);
	return 0;
}
