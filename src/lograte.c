/*
 * lograte.c - the log rate limiter and the parsing of the ZooKeeper
 * client's log lines.  With its ensemble down the client writes about a
 * hundred lines a second, nearly all the same two; an operator needs one
 * line saying so and a count, not 3.5 million lines a day.  Pure code:
 * the caller holds whatever lock and reads whatever clock it needs.
 */
#include <ctype.h>
#include <string.h>

#include "lograte.h"
#include "util.h"

/* Start with no kinds seen. */
void
lograte_init(struct lograte *lr, uint64_t interval_ms)
{
	memset(lr, 0, sizeof(*lr));
	lr->interval_ms = interval_ms;
}

/* Fold digit runs so that ports, errnos and ids do not split a kind. */
void
lograte_key(const char *msg, char *out, size_t outlen)
{
	size_t n = 0;
	bool indigits = false;

	if (outlen == 0)
		return;
	for (; *msg != '\0' && n + 1 < outlen; msg++) {
		if (isdigit((unsigned char)*msg)) {
			if (!indigits)
				out[n++] = '#';
			indigits = true;
			continue;
		}
		indigits = false;
		out[n++] = *msg;
	}
	out[n] = '\0';
}

/* The slot of key, or the one to reuse (free, else printed longest ago). */
static struct lograte_slot *
lograte_find(struct lograte *lr, const char *key, bool *found)
{
	struct lograte_slot *s, *victim = NULL;

	*found = false;
	for (s = lr->slots; s < lr->slots + LOGRATE_SLOTS; s++) {
		if (s->used && strcmp(s->key, key) == 0) {
			*found = true;
			return s;
		}
		if (victim == NULL || !s->used
		    || (victim->used && s->since_ms < victim->since_ms))
			victim = s;
	}
	return victim;
}

/* Print the first of a kind and one per interval with the count. */
bool
lograte_admit(struct lograte *lr, const char *msg, uint64_t now_ms,
    uint64_t *suppressed, uint64_t *since_ms)
{
	char key[LOGRATE_KEY_MAX];
	struct lograte_slot *s;
	bool found;

	lograte_key(msg, key, sizeof(key));
	s = lograte_find(lr, key, &found);
	*suppressed = 0;
	*since_ms = 0;
	if (found && now_ms - s->since_ms < lr->interval_ms) {
		s->suppressed++;
		return false;
	}
	if (found) {
		*suppressed = s->suppressed;
		*since_ms = now_ms - s->since_ms;
	} else {
		strlcpy_b(s->key, key, sizeof(s->key));
		s->used = true;
	}
	s->since_ms = now_ms;
	s->suppressed = 0;
	return true;
}

/* Skip "date time,ms:pid(0xtid):ZOO_LEVEL@function@line: ". */
const char *
lograte_zk_text(const char *msg, int *level)
{
	static const char *const names[] = {
	    "ERROR@", "WARN@", "INFO@", "DEBUG@"};
	const char *p, *q;
	size_t i;

	*level = 1;
	if ((p = strstr(msg, ":ZOO_")) == NULL)
		return msg;
	p += 5;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(p, names[i], strlen(names[i])) == 0)
			*level = (int)i;
	if ((q = strstr(p, ": ")) == NULL)
		return msg;
	return q + 2;
}

/* Copy s[0..n) in lower case. */
static void
lograte_lower(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i;

	if (outlen == 0)
		return;
	for (i = 0; i < n && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

/* The errno text, or a timeout, that a ZooKeeper client line names. */
bool
lograte_zk_cause(const char *text, char *out, size_t outlen)
{
	const char *p, *q;

	if ((p = strstr(text, "errno=")) != NULL && (p = strchr(p, '(')) != NULL
	    && (q = strchr(p, ')')) != NULL && q > p + 1) {
		lograte_lower(p + 1, (size_t)(q - p - 1), out, outlen);
		return true;
	}
	if (strstr(text, "timed out") != NULL
	    || strstr(text, "Exceeded deadline") != NULL) {
		lograte_lower("timed out", 9, out, outlen);
		return true;
	}
	return false;
}
