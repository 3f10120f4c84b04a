/*
 * test_protocol.c - the control protocol's parser and formatters: every
 * command, every error path the parser owns, the line-length boundary
 * (4096 bytes counting the terminator), terminators, blanks, numbers that
 * must be refused, and the reply formats the socket writes.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "protocol.h"

static char buf[PROTO_LINE_MAX * 2];
static struct proto_request req;
static struct proto_error err;

/* Parse len bytes of s from a private writable copy (one spare byte). */
static int
parse_n(const char *s, size_t len)
{
	memcpy(buf, s, len);
	buf[len] = 'X'; /* the parser must write its own terminator */
	return proto_parse(buf, len, &req, &err);
}

static int
parse(const char *s)
{
	return parse_n(s, strlen(s));
}

/* Parse and expect a failure with this code. */
static void
expect_err(const char *s, enum proto_errcode code)
{
	int rc = parse(s);

	CU_ASSERT_EQUAL(rc, -1);
	CU_ASSERT_EQUAL(err.code, code);
	CU_ASSERT(err.msg[0] != '\0');
	if (rc != -1 || err.code != code)
		fprintf(stderr, "\n  line '%s': rc %d code %d msg '%s'\n", s,
		    rc, err.code, err.msg);
}

/* A line of exactly total bytes: "PING", blanks, then the terminator. */
static int
parse_padded(size_t total, const char *term)
{
	size_t tl = strlen(term), i;
	char line[PROTO_LINE_MAX + 16];

	memcpy(line, "PING", 4);
	for (i = 4; i < total - tl; i++)
		line[i] = ' ';
	memcpy(line + i, term, tl);
	return parse_n(line, total);
}

static void
test_ping(void)
{
	CU_ASSERT_EQUAL(parse("PING\n"), 0);
	CU_ASSERT_EQUAL(req.cmd, PROTO_PING);
	CU_ASSERT_EQUAL(parse("ping"), 0);
	CU_ASSERT_EQUAL(req.cmd, PROTO_PING);
	CU_ASSERT_EQUAL(parse("  PiNg  \r\n"), 0);
	CU_ASSERT_EQUAL(req.cmd, PROTO_PING);
	expect_err("PING now\n", PROTO_EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "usage: PING"));
}

static void
test_noarg_commands(void)
{
	static const struct {
		const char *line;
		enum proto_cmd cmd;
	} t[] = {{"LIST\n", PROTO_LIST}, {"STATUS\n", PROTO_STATUS},
	    {"METRICS\n", PROTO_METRICS}, {"QUIT\n", PROTO_QUIT},
	    {"HELP\n", PROTO_HELP}, {"list", PROTO_LIST}};
	char line[64];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		CU_ASSERT_EQUAL(parse(t[i].line), 0);
		CU_ASSERT_EQUAL(req.cmd, t[i].cmd);
		CU_ASSERT_FALSE(proto_cmd_admin(req.cmd));
		snprintf(line, sizeof line, "%s x\n", proto_cmd_name(t[i].cmd));
		expect_err(line, PROTO_EPROTO);
	}
}

static void
test_get_allow(void)
{
	CU_ASSERT_EQUAL(parse("GET payments\n"), 0);
	CU_ASSERT_EQUAL(req.cmd, PROTO_GET);
	CU_ASSERT_STRING_EQUAL(req.dep, "payments");
	/* tokens are split in place: the pointer is into the line */
	CU_ASSERT(req.dep >= buf && req.dep < buf + sizeof buf);
	CU_ASSERT_EQUAL(parse("ALLOW ledger-db.v2_x\r\n"), 0);
	CU_ASSERT_EQUAL(req.cmd, PROTO_ALLOW);
	CU_ASSERT_STRING_EQUAL(req.dep, "ledger-db.v2_x");
	CU_ASSERT_EQUAL(parse("GET\tpayments\t\n"), 0);
	CU_ASSERT_STRING_EQUAL(req.dep, "payments");
	expect_err("GET\n", PROTO_EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "usage: GET <dep>"));
	expect_err("GET a b\n", PROTO_EPROTO);
	expect_err("ALLOW\n", PROTO_EPROTO);
	expect_err("ALLOW pay$\n", PROTO_EPROTO);
	expect_err("GET pay/ments\n", PROTO_EPROTO);
	expect_err("GET caf\xc3\xa9\n", PROTO_EPROTO);
}

/* HISTORY <dep> [n]: n defaults to 20, 1..1000, not admin. */
static void
test_history(void)
{
	CU_ASSERT_EQUAL(parse("HISTORY payments\n"), 0);
	CU_ASSERT_EQUAL(req.cmd, PROTO_HISTORY);
	CU_ASSERT_STRING_EQUAL(req.dep, "payments");
	CU_ASSERT_EQUAL(req.count, PROTO_HISTORY_DEFAULT);
	CU_ASSERT_FALSE(proto_cmd_admin(req.cmd));
	CU_ASSERT_EQUAL(parse("history payments 1000"), 0);
	CU_ASSERT_EQUAL(req.count, 1000);
	CU_ASSERT_EQUAL(parse("HISTORY payments 1"), 0);
	CU_ASSERT_EQUAL(req.count, 1);
	expect_err("HISTORY\n", PROTO_EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "usage: HISTORY <dep> [n]"));
	expect_err("HISTORY payments 0\n", PROTO_EPROTO);
	expect_err("HISTORY payments 1001\n", PROTO_EPROTO);
	expect_err("HISTORY payments -1\n", PROTO_EPROTO);
	expect_err("HISTORY payments 5 6\n", PROTO_EPROTO);
	expect_err("HISTORY pay$ 5\n", PROTO_EPROTO);
}

static void
test_dep_names(void)
{
	char name[80], line[100];

	memset(name, 'a', 64);
	name[64] = '\0';
	CU_ASSERT_TRUE(proto_valid_dep(name));
	snprintf(line, sizeof line, "GET %s\n", name);
	CU_ASSERT_EQUAL(parse(line), 0);
	CU_ASSERT_EQUAL(strlen(req.dep), 64);
	name[64] = 'a';
	name[65] = '\0';
	CU_ASSERT_FALSE(proto_valid_dep(name));
	snprintf(line, sizeof line, "GET %s\n", name);
	expect_err(line, PROTO_EPROTO);
	CU_ASSERT_FALSE(proto_valid_dep(""));
	CU_ASSERT_TRUE(proto_valid_dep("A.b_c-9"));
	CU_ASSERT_FALSE(proto_valid_dep("a b"));
	CU_ASSERT_FALSE(proto_valid_dep("a:b"));
}

static void
test_report(void)
{
	CU_ASSERT_EQUAL(parse("REPORT payments ok\n"), 0);
	CU_ASSERT_EQUAL(req.cmd, PROTO_REPORT);
	CU_ASSERT_STRING_EQUAL(req.dep, "payments");
	CU_ASSERT_EQUAL(req.outcome, BREAKER_OK);
	CU_ASSERT_FALSE(req.has_duration);
	CU_ASSERT_EQUAL(parse("REPORT payments fail 250\n"), 0);
	CU_ASSERT_EQUAL(req.outcome, BREAKER_FAIL);
	CU_ASSERT_TRUE(req.has_duration);
	CU_ASSERT_EQUAL(req.duration_ms, 250);
	CU_ASSERT_EQUAL(parse("report payments SLOW 0"), 0);
	CU_ASSERT_EQUAL(req.outcome, BREAKER_SLOW);
	CU_ASSERT_TRUE(req.has_duration);
	CU_ASSERT_EQUAL(req.duration_ms, 0);
	CU_ASSERT_EQUAL(parse("REPORT p ok 86400000\n"), 0);
	CU_ASSERT_EQUAL(req.duration_ms, PROTO_MS_MAX);
	expect_err("REPORT p ok 86400001\n", PROTO_EPROTO);
	expect_err("REPORT p ok 1e3\n", PROTO_EPROTO);
	expect_err("REPORT p ok -1\n", PROTO_EPROTO);
	expect_err("REPORT p ok +5\n", PROTO_EPROTO);
	expect_err("REPORT p ok 99999999999999999999\n", PROTO_EPROTO);
	expect_err("REPORT p ok 12ms\n", PROTO_EPROTO);
	expect_err("REPORT p maybe\n", PROTO_EPROTO);
	expect_err("REPORT p\n", PROTO_EPROTO);
	expect_err("REPORT\n", PROTO_EPROTO);
	expect_err("REPORT p ok 5 6\n", PROTO_EPROTO);
}

static void
test_watch(void)
{
	char line[PROTO_LINE_MAX];
	size_t off;

	CU_ASSERT_EQUAL(parse("WATCH\n"), 0);
	CU_ASSERT_EQUAL(req.cmd, PROTO_WATCH);
	CU_ASSERT_EQUAL(req.ndeps, 0);
	CU_ASSERT_EQUAL(parse("WATCH a  b\tc \n"), 0);
	CU_ASSERT_EQUAL(req.ndeps, 3);
	CU_ASSERT_STRING_EQUAL(req.deps[0], "a");
	CU_ASSERT_STRING_EQUAL(req.deps[1], "b");
	CU_ASSERT_STRING_EQUAL(req.deps[2], "c");
	expect_err("WATCH a b! c\n", PROTO_EPROTO);

	/* max arity: 64 names accepted, 65 refused */
	off = (size_t)snprintf(line, sizeof line, "WATCH");
	for (int i = 0; i < PROTO_WATCH_MAX; i++)
		off +=
		    (size_t)snprintf(line + off, sizeof line - off, " d%d", i);
	snprintf(line + off, sizeof line - off, "\n");
	CU_ASSERT_EQUAL(parse(line), 0);
	CU_ASSERT_EQUAL(req.ndeps, PROTO_WATCH_MAX);
	CU_ASSERT_STRING_EQUAL(req.deps[63], "d63");
	snprintf(line + off, sizeof line - off, " d64\n");
	expect_err(line, PROTO_EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "64"));
}

static void
test_force(void)
{
	CU_ASSERT_EQUAL(parse("FORCE payments open\n"), 0);
	CU_ASSERT_EQUAL(req.cmd, PROTO_FORCE);
	CU_ASSERT_TRUE(proto_cmd_admin(req.cmd));
	CU_ASSERT_STRING_EQUAL(req.dep, "payments");
	CU_ASSERT_EQUAL(req.to, BREAKER_FORCED_OPEN);
	CU_ASSERT_EQUAL(req.ttl_s, 0);
	CU_ASSERT_STRING_EQUAL(req.reason, "");
	CU_ASSERT_EQUAL(parse("FORCE payments closed 300\n"), 0);
	CU_ASSERT_EQUAL(req.to, BREAKER_CLOSED);
	CU_ASSERT_EQUAL(req.ttl_s, 300);
	CU_ASSERT_EQUAL(parse("force payments AUTO\r\n"), 0);
	CU_ASSERT_EQUAL(req.to, BREAKER_NSTATES);
	/* the reason is the rest of the line, inner blanks kept */
	CU_ASSERT_EQUAL(
	    parse("FORCE p open 60   db  failover\tin progress  \r\n"), 0);
	CU_ASSERT_EQUAL(req.ttl_s, 60);
	CU_ASSERT_STRING_EQUAL(req.reason, "db  failover\tin progress");
	CU_ASSERT_EQUAL(parse("FORCE p open maintenance window\n"), 0);
	CU_ASSERT_EQUAL(req.ttl_s, 0);
	CU_ASSERT_STRING_EQUAL(req.reason, "maintenance window");
	CU_ASSERT_EQUAL(parse("FORCE p open 0 5xx storm\n"), 0);
	CU_ASSERT_STRING_EQUAL(req.reason, "5xx storm");
	CU_ASSERT_EQUAL(parse("FORCE p open 604800\n"), 0);
	CU_ASSERT_EQUAL(req.ttl_s, PROTO_TTL_MAX);
	CU_ASSERT_EQUAL(parse("FORCE p open 1 caf\xc3\xa9\n"), 0);
	CU_ASSERT_STRING_EQUAL(req.reason, "caf\xc3\xa9");
	expect_err("FORCE p open 604801\n", PROTO_EPROTO);
	expect_err("FORCE p open 1e3\n", PROTO_EPROTO);
	expect_err("FORCE p open -1 why\n", PROTO_EPROTO);
	expect_err("FORCE p open +1\n", PROTO_EPROTO);
	expect_err("FORCE p open 99999999999999999999\n", PROTO_EPROTO);
	expect_err("FORCE p opened\n", PROTO_EPROTO);
	expect_err("FORCE p half_open\n", PROTO_EPROTO);
	expect_err("FORCE p\n", PROTO_EPROTO);
	expect_err("FORCE\n", PROTO_EPROTO);
	expect_err("FORCE b@d open\n", PROTO_EPROTO);
}

static void
test_reason_length(void)
{
	char line[512], reason[PROTO_REASON_MAX + 2];

	memset(reason, 'r', sizeof reason);
	reason[PROTO_REASON_MAX] = '\0';
	snprintf(line, sizeof line, "FORCE p open 5 %s\n", reason);
	CU_ASSERT_EQUAL(parse(line), 0);
	CU_ASSERT_EQUAL(strlen(req.reason), PROTO_REASON_MAX);
	reason[PROTO_REASON_MAX] = 'r';
	reason[PROTO_REASON_MAX + 1] = '\0';
	snprintf(line, sizeof line, "FORCE p open 5 %s\n", reason);
	expect_err(line, PROTO_EPROTO);
	snprintf(line, sizeof line, "PUBLISH p OPEN %s\n", reason);
	expect_err(line, PROTO_EPROTO);
}

static void
test_publish(void)
{
	CU_ASSERT_EQUAL(parse("PUBLISH payments OPEN probe failed\n"), 0);
	CU_ASSERT_EQUAL(req.cmd, PROTO_PUBLISH);
	CU_ASSERT_TRUE(proto_cmd_admin(req.cmd));
	CU_ASSERT_STRING_EQUAL(req.dep, "payments");
	CU_ASSERT_EQUAL(req.to, BREAKER_OPEN);
	CU_ASSERT_STRING_EQUAL(req.reason, "probe failed");
	for (int s = 0; s < BREAKER_NSTATES; s++) {
		char line[64];
		snprintf(line, sizeof line, "PUBLISH d %s\n",
		    breaker_state_name((enum breaker_state)s));
		CU_ASSERT_EQUAL(parse(line), 0);
		CU_ASSERT_EQUAL(req.to, (enum breaker_state)s);
		CU_ASSERT_STRING_EQUAL(req.reason, "");
	}
	CU_ASSERT_EQUAL(parse("publish d half_open\n"), 0);
	CU_ASSERT_EQUAL(req.to, BREAKER_HALF_OPEN);
	expect_err("PUBLISH d AJAR\n", PROTO_EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "AJAR"));
	expect_err("PUBLISH d\n", PROTO_EPROTO);
	expect_err("PUBLISH\n", PROTO_EPROTO);
}

static void
test_line_length(void)
{
	CU_ASSERT_EQUAL(parse_padded(PROTO_LINE_MAX, "\n"), 0);
	CU_ASSERT_EQUAL(req.cmd, PROTO_PING);
	CU_ASSERT_EQUAL(parse_padded(PROTO_LINE_MAX + 1, "\n"), -1);
	CU_ASSERT_EQUAL(err.code, PROTO_ETOOLONG);
	CU_ASSERT_STRING_EQUAL(err.msg, "line exceeds 4096 bytes");
	CU_ASSERT_EQUAL(parse_padded(PROTO_LINE_MAX, "\r\n"), 0);
	CU_ASSERT_EQUAL(parse_padded(PROTO_LINE_MAX + 1, "\r\n"), -1);
	CU_ASSERT_EQUAL(err.code, PROTO_ETOOLONG);
	/* unterminated: the terminator it would need counts too */
	CU_ASSERT_EQUAL(parse_padded(PROTO_LINE_MAX - 1, ""), 0);
	CU_ASSERT_EQUAL(parse_padded(PROTO_LINE_MAX, ""), -1);
	CU_ASSERT_EQUAL(err.code, PROTO_ETOOLONG);
}

static void
test_blank_and_control(void)
{
	expect_err("\n", PROTO_EPROTO);
	CU_ASSERT_STRING_EQUAL(err.msg, "empty request");
	expect_err("", PROTO_EPROTO);
	expect_err("\r\n", PROTO_EPROTO);
	expect_err("   \t \n", PROTO_EPROTO);
	CU_ASSERT_EQUAL(parse_n("GET pay\0ments\n", 14), -1);
	CU_ASSERT_EQUAL(err.code, PROTO_EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "0x00"));
	expect_err("GET pay\x01ments\n", PROTO_EPROTO);
	expect_err("GET payments\x7f\n", PROTO_EPROTO);
	expect_err("PING\r\r\n", PROTO_EPROTO);
	expect_err("PING\r", PROTO_EPROTO);
	expect_err("PI\rNG\n", PROTO_EPROTO);
	expect_err("\x1b[A\n", PROTO_EPROTO);
}

static void
test_unknown_command(void)
{
	expect_err("FROB x\n", PROTO_EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'FROB'"));
	expect_err("GETX p\n", PROTO_EPROTO);
	/* a long word is quoted short, and non-ASCII is not echoed */
	expect_err("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
	    PROTO_EPROTO);
	CU_ASSERT(strlen(err.msg) < 80);
	expect_err("\xff\xfe\n", PROTO_EPROTO);
	CU_ASSERT_PTR_NULL(strchr(err.msg, '\xff'));
}

static void
test_errcode_names(void)
{
	CU_ASSERT_STRING_EQUAL(proto_errcode_name(PROTO_EPROTO), "EPROTO");
	CU_ASSERT_STRING_EQUAL(proto_errcode_name(PROTO_ENOENT), "ENOENT");
	CU_ASSERT_STRING_EQUAL(proto_errcode_name(PROTO_EPERM), "EPERM");
	CU_ASSERT_STRING_EQUAL(proto_errcode_name(PROTO_ETOOLONG), "ETOOLONG");
	CU_ASSERT_STRING_EQUAL(proto_errcode_name(PROTO_EUNAVAIL), "EUNAVAIL");
	CU_ASSERT_STRING_EQUAL(proto_errcode_name(PROTO_EBUSY), "EBUSY");
	CU_ASSERT_STRING_EQUAL(proto_errcode_name(0), "EUNKNOWN");
	CU_ASSERT_STRING_EQUAL(proto_errcode_name(-3), "EUNKNOWN");
	CU_ASSERT_STRING_EQUAL(proto_errcode_name(PROTO_NERRCODES), "EUNKNOWN");
	CU_ASSERT_STRING_EQUAL(proto_cmd_name(PROTO_NCMDS), "?");
}

static void
test_format_view(void)
{
	struct dep_view v = {
	    "payments", BREAKER_HALF_OPEN, 42, AUTH_STALE, -1, 0, false};
	char out[128];
	int n;

	n = proto_format_view(out, sizeof out, "OK ", &v);
	CU_ASSERT_STRING_EQUAL(out, "OK payments HALF_OPEN 42 stale\n");
	CU_ASSERT_EQUAL(n, (int)strlen(out));
	v.state = BREAKER_CLOSED;
	v.version = 0;
	v.authority = AUTH_LOCAL;
	proto_format_view(out, sizeof out, "EVENT ", &v);
	CU_ASSERT_STRING_EQUAL(out, "EVENT payments CLOSED 0 local\n");
	v.authority = AUTH_AUTHORITATIVE;
	v.version = UINT64_MAX;
	proto_format_view(out, sizeof out, "", &v);
	CU_ASSERT_STRING_EQUAL(
	    out, "payments CLOSED 18446744073709551615 authoritative\n");
	/* a ramp adds one trailing word that v1 readers skip */
	v.version = 9;
	v.ramp_ppm = 375000;
	proto_format_view(out, sizeof out, "OK ", &v);
	CU_ASSERT_STRING_EQUAL(
	    out, "OK payments CLOSED 9 authoritative ramp=37.5%\n");
	v.ramp_ppm = 1000;
	proto_format_view(out, sizeof out, "", &v);
	CU_ASSERT_STRING_EQUAL(
	    out, "payments CLOSED 9 authoritative ramp=0.1%\n");
	v.ramp_ppm = 0;
	v.version = UINT64_MAX;
	/* truncation is reported, and the buffer stays terminated */
	CU_ASSERT_EQUAL(proto_format_view(out, 10, "", &v), -1);
	CU_ASSERT_EQUAL(strlen(out), 9);
}

static void
test_format_other(void)
{
	struct dep_view v = {
	    "p", BREAKER_FORCED_OPEN, 3, AUTH_LOCAL, -1, 0, false};
	char out[128];

	proto_format_get(out, sizeof out, &v);
	CU_ASSERT_STRING_EQUAL(out, "OK p FORCED_OPEN 3 local\n");
	v.ttl_left_ms = 2875;
	proto_format_get(out, sizeof out, &v);
	CU_ASSERT_STRING_EQUAL(
	    out, "OK p FORCED_OPEN 3 local ttl_left_ms=2875\n");
	v.ttl_left_ms = -1;
	v.state = BREAKER_CLOSED;
	v.ramp_ppm = 500000;
	proto_format_get(out, sizeof out, &v);
	CU_ASSERT_STRING_EQUAL(out, "OK p CLOSED 3 local ramp=50.0%\n");
	v.ramp_ppm = 0;
	v.state = BREAKER_FORCED_OPEN;
	v.ttl_left_ms = 2875;
	v.ttl_left_ms = -1;
	proto_format_allow(out, sizeof out, true, &v);
	CU_ASSERT_STRING_EQUAL(out, "OK ALLOW\n");
	proto_format_allow(out, sizeof out, false, &v);
	CU_ASSERT_STRING_EQUAL(out, "OK DENY FORCED_OPEN\n");
	v.state = BREAKER_CLOSED;
	v.ramp_held = true;
	proto_format_allow(out, sizeof out, false, &v);
	CU_ASSERT_STRING_EQUAL(out, "OK DENY RAMPING\n");
	v.ramp_held = false;
	v.state = BREAKER_FORCED_OPEN;
	proto_format_version(out, sizeof out, 17);
	CU_ASSERT_STRING_EQUAL(out, "OK 17\n");
	proto_format_error(out, sizeof out, PROTO_ENOENT, "no such dependency");
	CU_ASSERT_STRING_EQUAL(out, "ERR ENOENT no such dependency\n");
	proto_format_error(out, sizeof out, PROTO_EBUSY, "a\nb\rc\x01");
	CU_ASSERT_STRING_EQUAL(out, "ERR EBUSY a?b?c?\n");
	proto_format_error(out, sizeof out, PROTO_EPERM, "");
	CU_ASSERT_STRING_EQUAL(out, "ERR EPERM\n");
	CU_ASSERT_EQUAL(proto_format_error(out, 8, PROTO_EPROTO, "x"), -1);
}

static void
test_help(void)
{
	size_t n = 0;

	for (; proto_help_lines[n] != NULL; n++)
		CU_ASSERT_PTR_NULL(strchr(proto_help_lines[n], '\n'));
	CU_ASSERT_EQUAL(n, PROTO_NCMDS);
}

/* A parse that fails must not leave a half-filled request behind. */
static void
test_reset_between(void)
{
	CU_ASSERT_EQUAL(parse("WATCH a b\n"), 0);
	CU_ASSERT_EQUAL(parse("FORCE p open 5 x\n"), 0);
	CU_ASSERT_EQUAL(req.ndeps, 0);
	CU_ASSERT_EQUAL(parse("GET q\n"), 0);
	CU_ASSERT_EQUAL(req.ttl_s, 0);
	CU_ASSERT_STRING_EQUAL(req.reason, "");
}

static const struct harness_test tests[] = {
    {"ping", test_ping},
    {"noarg_commands", test_noarg_commands},
    {"get_allow", test_get_allow},
    {"dep_names", test_dep_names},
    {"history", test_history},
    {"report", test_report},
    {"watch", test_watch},
    {"force", test_force},
    {"reason_length", test_reason_length},
    {"publish", test_publish},
    {"line_length", test_line_length},
    {"blank_and_control", test_blank_and_control},
    {"unknown_command", test_unknown_command},
    {"errcode_names", test_errcode_names},
    {"format_view", test_format_view},
    {"format_other", test_format_other},
    {"help", test_help},
    {"reset_between", test_reset_between},
    {NULL, NULL},
};

int
main(void)
{
	return harness_run("protocol", tests);
}
