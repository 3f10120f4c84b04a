/*
 * example.c - how a C application guards calls to a dependency with
 * breakerd, through libbreakerd_client.
 *
 *	cc example.c $(pkg-config --cflags --libs breakerd_client)
 *	./a.out payments
 *
 * Ask before the call (bd_allow), report after it (bd_report).  If the
 * daemon is down, bd_allow answers by the fail_open policy within
 * timeout_ms, so the application never hangs on its circuit breaker.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <breakerd_client.h>

/* Stand-in for the real call to the dependency; 0 on success. */
static int
example_call(const char *dep)
{
	(void)dep;
	return 0;
}

/* Milliseconds on the monotonic clock, to time the call. */
static unsigned
example_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int
main(int argc, char **argv)
{
	const char *dep = argc > 1 ? argv[1] : "payments";
	struct bd_options opts;
	struct bd_client *bd;
	struct bd_view view;
	unsigned t0;
	int rc;

	bd_options_init(&opts); /* default socket, 200 ms, fail open */
	opts.timeout_ms = 100;  /* a breaker check must be cheap */
	if ((bd = bd_open(&opts)) == NULL) {
		fprintf(stderr, "bd_open failed\n");
		return 2;
	}

	if (!bd_allow(bd, dep)) {
		printf("%s: denied, failing fast\n", dep);
		bd_close(bd);
		return 1;
	}
	t0 = example_now_ms();
	rc = example_call(dep);
	rc = bd_report(
	    bd, dep, rc == 0 ? BD_OK : BD_FAIL, example_now_ms() - t0);
	if (rc != 0)
		fprintf(stderr, "report: %s\n", bd_strerror(rc));

	if ((rc = bd_get(bd, dep, &view)) != 0) {
		fprintf(stderr, "get %s: %s\n", dep, bd_strerror(rc));
		bd_close(bd);
		return 3;
	}
	printf("%s: allowed; state %s version %llu (%s)\n", view.dep,
	    view.state, (unsigned long long)view.version, view.authority);
	bd_close(bd);
	return 0;
}
