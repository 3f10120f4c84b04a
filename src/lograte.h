/*
 * lograte.h - rate limiting of repeated log lines, and the pure parsing
 * of the ZooKeeper client's own log lines.  A message's key is its text
 * with every run of digits folded, so "Socket 127.0.0.1:2181 ... errno=111"
 * and the same line for port 2182 count as one kind.  The first line of a
 * kind is printed; repeats within the interval are counted, and the next
 * one after it is printed with how many were suppressed.  No I/O, no
 * clock (the caller passes monotonic ms), no locking (the caller locks).
 */
#ifndef BREAKERD_LOGRATE_H
#define BREAKERD_LOGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGRATE_SLOTS       16
#define LOGRATE_KEY_MAX     128
#define LOGRATE_INTERVAL_MS 60000

struct lograte_slot {
	char key[LOGRATE_KEY_MAX];
	uint64_t since_ms;   /* when this kind was last printed */
	uint64_t suppressed; /* repeats not printed since then */
	bool used;
};

struct lograte {
	uint64_t interval_ms;
	struct lograte_slot slots[LOGRATE_SLOTS];
};

void lograte_init(struct lograte *, uint64_t interval_ms);
/*
 * Should msg be printed now?  When it should, *suppressed is how many of
 * its kind were not printed since the last one, and *since_ms how long
 * ago that one was (0 and 0 for a new kind).
 */
bool lograte_admit(struct lograte *, const char *msg, uint64_t now_ms,
    uint64_t *suppressed, uint64_t *since_ms);
/* The key of msg: digit runs folded to '#', at most outlen - 1 bytes. */
void lograte_key(const char *msg, char *out, size_t outlen);
/*
 * The text of a ZooKeeper client log line, without its own timestamp,
 * thread and "ZOO_WARN@function@line: " prefix (msg itself if it has no
 * such prefix).  *level is 0 error, 1 warn, 2 info, 3 debug (1 if unknown).
 */
const char *lograte_zk_text(const char *msg, int *level);
/*
 * The cause a ZooKeeper client line names, in lower case, into out:
 * "errno=111(Connection refused)" -> "connection refused", a session
 * timeout -> "timed out".  Returns false (out untouched) if none.
 */
bool lograte_zk_cause(const char *text, char *out, size_t outlen);

#endif
