/*
 * test_witness.c - the pure part of the witness protocol: the request
 * record (round trip, hostile input), which candidate is the witness, a
 * witness's bounded run of checks, what an answer means to the leader,
 * lead_overruled() (a blind verdict restarts the phase, no OPEN) and the
 * two health keys (witness_checks, blind_hold_ms): defaults and ranges.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "harness.h"
#include "lead.h"
#include "util.h"
#include "witness.h"

/* A request as a leader writes it. */
static struct witness_record
req_make(void)
{
	struct witness_record r;

	memset(&r, 0, sizeof(r));
	strlcpy_b(r.leader, "inst-a", sizeof(r.leader));
	r.req = 7;
	r.term = 3;
	r.checks = 2;
	return r;
}

/* Decode text; 0 on success. */
static int
dec(const char *text, struct witness_record *out)
{
	char err[160];

	return witness_record_decode(text, strlen(text), out, err, sizeof(err));
}

static void
test_request_round_trip(void)
{
	struct witness_record r = req_make(), back;
	char *json = witness_record_encode(&r);

	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	CU_ASSERT_PTR_NULL(strstr(json, "verdict")); /* a request has none */
	CU_ASSERT_EQUAL(dec(json, &back), 0);
	CU_ASSERT_STRING_EQUAL(back.leader, "inst-a");
	CU_ASSERT_EQUAL(back.req, 7);
	CU_ASSERT_EQUAL(back.term, 3);
	CU_ASSERT_EQUAL(back.checks, 2);
	CU_ASSERT_EQUAL(back.verdict, WITNESS_PENDING);
	free(json);
}

static void
test_answer_round_trip(void)
{
	struct witness_record r = req_make(), back;
	char *json;

	r.verdict = WITNESS_HEALTHY;
	r.ok = 2;
	strlcpy_b(r.by, "inst-b", sizeof(r.by));
	strlcpy_b(r.detail, "HTTP 200", sizeof(r.detail));
	json = witness_record_encode(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	CU_ASSERT_EQUAL(dec(json, &back), 0);
	CU_ASSERT_EQUAL(back.verdict, WITNESS_HEALTHY);
	CU_ASSERT_EQUAL(back.ok, 2);
	CU_ASSERT_EQUAL(back.failed, 0);
	CU_ASSERT_STRING_EQUAL(back.by, "inst-b");
	CU_ASSERT_STRING_EQUAL(back.detail, "HTTP 200");
	free(json);
}

static void
test_bad_records(void)
{
	struct witness_record out = req_make();
	char err[160], big[5000];

	CU_ASSERT_EQUAL(dec("", &out), -1);
	CU_ASSERT_EQUAL(dec("[1]", &out), -1);
	CU_ASSERT_EQUAL(dec("{\"req\":1,\"checks\":2}", &out), -1); /* leader */
	CU_ASSERT_EQUAL(dec("{\"leader\":\"a\",\"checks\":2}", &out), -1);
	CU_ASSERT_EQUAL(
	    dec("{\"leader\":\"a\",\"req\":1,\"checks\":0}", &out), -1);
	CU_ASSERT_EQUAL(dec("{\"leader\":\"a\",\"req\":1,\"checks\":11}", &out),
	    -1); /* over WITNESS_CHECKS_MAX */
	CU_ASSERT_EQUAL(
	    dec("{\"leader\":\"a\",\"req\":-1,\"checks\":2}", &out), -1);
	CU_ASSERT_EQUAL(dec("{\"leader\":7,\"req\":1,\"checks\":2}", &out), -1);
	CU_ASSERT_EQUAL(dec("{\"leader\":\"a\",\"req\":1,\"checks\":2,"
	                    "\"verdict\":\"maybe\"}",
	                    &out),
	    -1);
	CU_ASSERT_EQUAL(dec("{\"leader\":\"a\",\"req\":1,\"checks\":2,"
	                    "\"ok\":99}",
	                    &out),
	    -1);
	CU_ASSERT_EQUAL(dec("{\"leader\":\"a\",\"leader\":\"b\",\"req\":1,"
	                    "\"checks\":2}",
	                    &out),
	    -1); /* duplicate member */
	memset(big, 'x', sizeof(big));
	CU_ASSERT_EQUAL(
	    witness_record_decode(big, sizeof(big), &out, err, sizeof(err)),
	    -1);
	/* A rejected record leaves out untouched. */
	CU_ASSERT_STRING_EQUAL(out.leader, "inst-a");
	CU_ASSERT_EQUAL(out.req, 7);
	/* Unknown members are ignored. */
	CU_ASSERT_EQUAL(dec("{\"leader\":\"a\",\"req\":1,\"checks\":2,"
	                    "\"future\":true}",
	                    &out),
	    0);
}

static void
test_successor(void)
{
	char a[] = "_c_x-n_0000000001", b[] = "_c_y-n_0000000002",
	     c[] = "_c_z-n_0000000010";
	char *names[] = {a, b, c};

	CU_ASSERT_EQUAL(witness_successor(names, 3, "_c_x-n_0000000001"), 1);
	CU_ASSERT_EQUAL(witness_successor(names, 3, "_c_y-n_0000000002"), 2);
	CU_ASSERT_EQUAL(witness_successor(names, 3, "_c_z-n_0000000010"), -1);
	CU_ASSERT_EQUAL(witness_successor(names, 3, "_c_q-n_0000000005"), -1);
	CU_ASSERT_EQUAL(witness_successor(names, 1, "_c_x-n_0000000001"), -1);
	CU_ASSERT_EQUAL(witness_successor(names, 3, ""), -1);
	CU_ASSERT_EQUAL(witness_successor(names, 3, NULL), -1);
}

static void
test_run_all_ok(void)
{
	struct witness_run run;

	witness_run_start(&run, 3);
	CU_ASSERT_FALSE(witness_run_result(&run, true, "HTTP 200"));
	CU_ASSERT_EQUAL(witness_run_verdict(&run), WITNESS_PENDING);
	CU_ASSERT_FALSE(witness_run_result(&run, true, "HTTP 200"));
	CU_ASSERT_TRUE(witness_run_result(&run, true, "HTTP 204"));
	CU_ASSERT_EQUAL(witness_run_verdict(&run), WITNESS_HEALTHY);
	CU_ASSERT_EQUAL(run.ok, 3);
	CU_ASSERT_STRING_EQUAL(run.detail, "HTTP 204");
}

static void
test_run_stops_at_failure(void)
{
	struct witness_run run;

	witness_run_start(&run, 3);
	CU_ASSERT_FALSE(witness_run_result(&run, true, "HTTP 200"));
	CU_ASSERT_TRUE(witness_run_result(&run, false, "HTTP 500"));
	CU_ASSERT_EQUAL(witness_run_verdict(&run), WITNESS_UNHEALTHY);
	CU_ASSERT_EQUAL(run.ok, 1);
	CU_ASSERT_EQUAL(run.failed, 1);
	CU_ASSERT_STRING_EQUAL(run.detail, "HTTP 500");
}

static void
test_run_bounds(void)
{
	struct witness_run run;
	int n = 0;

	witness_run_start(&run, 1000); /* clamped: never more than MAX */
	CU_ASSERT_EQUAL(run.want, WITNESS_CHECKS_MAX);
	while (!witness_run_result(&run, true, "ok"))
		n++;
	CU_ASSERT_EQUAL(n + 1, WITNESS_CHECKS_MAX);
	witness_run_start(&run, 0); /* at least one */
	CU_ASSERT_EQUAL(run.want, 1);
	CU_ASSERT_TRUE(witness_run_result(&run, true, "ok"));
}

static void
test_outcome(void)
{
	struct witness_record a = req_make();

	CU_ASSERT_EQUAL(witness_outcome(NULL), WITNESS_ALONE);
	CU_ASSERT_EQUAL(witness_outcome(&a), WITNESS_ALONE); /* pending */
	a.verdict = WITNESS_UNHEALTHY;
	a.failed = 1;
	CU_ASSERT_EQUAL(witness_outcome(&a), WITNESS_CONFIRMED);
	a.verdict = WITNESS_UNKNOWN;
	CU_ASSERT_EQUAL(witness_outcome(&a), WITNESS_ALONE);
	a.verdict = WITNESS_HEALTHY;
	a.failed = 0;
	a.ok = 1; /* fewer ok than asked: not enough to overrule */
	CU_ASSERT_EQUAL(witness_outcome(&a), WITNESS_ALONE);
	a.ok = 2;
	CU_ASSERT_EQUAL(witness_outcome(&a), WITNESS_BLIND);
	a.failed = 1; /* inconsistent: healthy with a failure */
	CU_ASSERT_EQUAL(witness_outcome(&a), WITNESS_ALONE);
}

static void
test_names(void)
{
	enum witness_verdict v;

	CU_ASSERT_EQUAL(witness_verdict_parse("healthy", &v), 0);
	CU_ASSERT_EQUAL(v, WITNESS_HEALTHY);
	CU_ASSERT_EQUAL(witness_verdict_parse("nope", &v), -1);
	CU_ASSERT_EQUAL(witness_verdict_parse(NULL, &v), -1);
	CU_ASSERT_STRING_EQUAL(witness_outcome_name(WITNESS_BLIND), "blind");
	CU_ASSERT_STRING_EQUAL(
	    witness_verdict_name(WITNESS_UNHEALTHY), "unhealthy");
}

/* A dependency with 3/1 thresholds and 3 probes 500 ms apart. */
static void
cfg_make(struct dep_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strlcpy_b(cfg->name, "payments", sizeof(cfg->name));
	breaker_settings_default(&cfg->breaker);
	cfg->breaker.jitter_pct = 0;
	cfg->health.kind = HEALTH_HTTP;
	cfg->health.interval_ms = 1000;
	cfg->health.timeout_ms = 500;
	cfg->health.healthy_threshold = 1;
	cfg->health.unhealthy_threshold = 3;
	cfg->probe.count = 3;
	cfg->probe.interval_ms = 500;
}

static void
test_overruled_closed(void)
{
	struct dep_config cfg;
	struct state_record next;
	struct lead *l;

	cfg_make(&cfg);
	l = lead_new(&cfg, "inst-a", 1);
	lead_takeover(l, NULL, 1000);
	CU_ASSERT_EQUAL(lead_health(l, false, "refused", 1000, &next), 0);
	CU_ASSERT_EQUAL(lead_health(l, false, "refused", 2000, &next), 0);
	CU_ASSERT_EQUAL(lead_health(l, false, "refused", 3000, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_OPEN);
	/* Pending: frozen while the witness is asked. */
	CU_ASSERT_FALSE(lead_wants_health(l));
	lead_overruled(l, 3100);
	CU_ASSERT_TRUE(lead_wants_health(l));
	/* Fresh counts: two more failures do not open, a third does. */
	CU_ASSERT_EQUAL(lead_health(l, false, "refused", 4000, &next), 0);
	CU_ASSERT_EQUAL(lead_health(l, false, "refused", 5000, &next), 0);
	CU_ASSERT_EQUAL(lead_health(l, false, "refused", 6000, &next), 1);
	lead_free(l);
}

static void
test_overruled_half_open(void)
{
	struct dep_config cfg;
	struct state_record rec, next;
	struct lead *l;

	cfg_make(&cfg);
	memset(&rec, 0, sizeof(rec));
	rec.state = BREAKER_HALF_OPEN;
	rec.term = 2;
	l = lead_new(&cfg, "inst-a", 1);
	lead_takeover(l, &rec, 1000);
	CU_ASSERT_TRUE(lead_probe_due(l, 1000));
	lead_probe_sent(l, 1000);
	CU_ASSERT_EQUAL(lead_probe_result(l, false, "refused", 1001, &next), 1);
	CU_ASSERT_EQUAL(next.state, BREAKER_OPEN);
	lead_overruled(l, 1500);
	/* A fresh sequence: probe 1 of 3 again, half-open limit from 1500. */
	CU_ASSERT_TRUE(lead_probe_due(l, 1500));
	CU_ASSERT_EQUAL(
	    lead_deadline(l), 1500); /* the next probe, before the limit */
	CU_ASSERT_EQUAL(
	    lead_tick(l, 1500 + lead_half_open_max_ms(&cfg) - 1, &next), 0);
	lead_free(l);
}

/* Parse a config whose one dependency has the given health members. */
static int
parse_health(const char *members, struct config *cfg)
{
	char text[512], err[256];

	snprintf(text, sizeof(text),
	    "{\"instance_id\": \"i\", \"dependencies\": [{\"name\": \"p\", "
	    "\"health\": {\"http\": \"http://127.0.0.1:9/h\"%s}}]}",
	    members);
	return config_parse(
	    text, strlen(text), "t.json", cfg, err, sizeof(err));
}

static void
test_config_keys(void)
{
	struct config cfg;

	CU_ASSERT_EQUAL_FATAL(parse_health("", &cfg), 0);
	CU_ASSERT_EQUAL(cfg.deps[0].health.witness_checks, 2);
	CU_ASSERT_EQUAL(cfg.deps[0].health.blind_hold_ms, 60000);
	config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(parse_health(", \"witness_checks\": 0, "
	                                   "\"blind_hold_ms\": 5000",
	                          &cfg),
	    0);
	CU_ASSERT_EQUAL(cfg.deps[0].health.witness_checks, 0);
	CU_ASSERT_EQUAL(cfg.deps[0].health.blind_hold_ms, 5000);
	config_free(&cfg);
	CU_ASSERT_EQUAL(parse_health(", \"witness_checks\": 11", &cfg), -1);
	CU_ASSERT_EQUAL(parse_health(", \"witness_checks\": -1", &cfg), -1);
	CU_ASSERT_EQUAL(parse_health(", \"witness_checks\": \"2\"", &cfg), -1);
	CU_ASSERT_EQUAL(
	    parse_health(", \"blind_hold_ms\": 86400001", &cfg), -1);
}

static const struct harness_test tests[] = {
    {"request round trip", test_request_round_trip},
    {"answer round trip", test_answer_round_trip},
    {"bad records", test_bad_records},
    {"successor", test_successor},
    {"run all ok", test_run_all_ok},
    {"run stops at failure", test_run_stops_at_failure},
    {"run bounds", test_run_bounds},
    {"outcome", test_outcome},
    {"names", test_names},
    {"overruled in CLOSED", test_overruled_closed},
    {"overruled in HALF_OPEN", test_overruled_half_open},
    {"config keys", test_config_keys},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("witness", tests);
}
