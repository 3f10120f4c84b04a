/*
 * history.c - the transition history under <root>/deps/<dep>/history.
 *
 * The leader adds one persistent sequential znode per transition in the
 * same multi as its state write, so an entry exists exactly when the
 * transition does, and deletes the oldest entries in that multi so that
 * the directory never grows past its bound.  It keeps the list of entry
 * numbers it knows (read when it starts leading, or again after a multi
 * that failed because of the history); an instance that does not lead
 * holds no list.  HISTORY on any instance reads the newest entries.
 *
 * The codec at the top is pure: entries are untrusted input (anyone with
 * write access to the ensemble can write there), decoded strictly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "errcode.h"
#include "history.h"
#include "jfield.h"
#include "log.h"
#include "util.h"

#define HISTORY_BYTES_MAX 4096
#define HISTORY_INT_MAX   ((json_int_t)JFIELD_INT_MAX)

/* ---- codec ---------------------------------------------------------------- */

/* Serialise an entry; "seq" only for protocol lines. */
char *
history_encode(const struct history_entry *e, bool with_seq)
{
	json_t *o;
	char *s;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I}", "from",
	    breaker_state_name(e->from), "to", breaker_state_name(e->to),
	    "kind", e->kind, "reason", e->reason, "by", e->by, "term",
	    (json_int_t)e->term, "version", (json_int_t)e->version, "leader",
	    e->leader, "at_ms", (json_int_t)e->at_ms);
	if (o == NULL)
		return NULL;
	if (with_seq)
		json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* An integer member in [-1, HISTORY_INT_MAX]; -1 (none) if absent. */
static int
history_int(json_t *o, const char *key, int64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*out = -1;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < -1
	    || json_integer_value(v) > HISTORY_INT_MAX) {
		snprintf(err, errlen, "\"%s\" is not an integer in range", key);
		return -1;
	}
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* A required state-name member. */
static int
history_state(json_t *o, const char *key, enum breaker_state *out, char *err,
    size_t errlen)
{
	char name[32];
	int s;

	if (jfield_str(o, key, name, sizeof(name), err, errlen) == -1)
		return -1;
	if ((s = breaker_state_parse(name)) == -1) {
		snprintf(err, errlen, "\"%s\" is not a state", key);
		return -1;
	}
	*out = (enum breaker_state)s;
	return 0;
}

/* Every member of an entry object. */
static int
history_members(json_t *o, void *rec, char *err, size_t errlen)
{
	struct history_entry *e = rec;

	if (history_state(o, "from", &e->from, err, errlen) == -1
	    || history_state(o, "to", &e->to, err, errlen) == -1
	    || jfield_str(o, "kind", e->kind, sizeof(e->kind), err, errlen)
	        == -1
	    || jfield_str(
	           o, "reason", e->reason, sizeof(e->reason), err, errlen)
	        == -1
	    || jfield_str(o, "by", e->by, sizeof(e->by), err, errlen) == -1
	    || jfield_str(
	           o, "leader", e->leader, sizeof(e->leader), err, errlen)
	        == -1
	    || jfield_uint(
	           o, "term", JFIELD_INT_MAX, false, &e->term, err, errlen)
	        == -1
	    || history_int(o, "version", &e->version, err, errlen) == -1
	    || jfield_uint(
	           o, "at_ms", JFIELD_INT_MAX, false, &e->at_ms, err, errlen)
	        == -1
	    || history_int(o, "seq", &e->seq, err, errlen) == -1)
		return -1;
	return 0;
}

/* Decode strictly; the entry is untouched on error. */
int
history_decode(const char *buf, size_t len, struct history_entry *out,
    char *err, size_t errlen)
{
	return jfield_decode(buf, len, HISTORY_BYTES_MAX, history_members, out,
	    sizeof(*out), err, errlen);
}

/* The number after "h-": ZooKeeper's ten-digit sequence. */
int64_t
history_seq(const char *name)
{
	uint64_t v;

	if (strncmp(name, HISTORY_PREFIX, strlen(HISTORY_PREFIX)) != 0)
		return -1;
	name += strlen(HISTORY_PREFIX);
	if (strlen(name) != 10
	    || parse_u64(name, 0, (uint64_t)INT32_MAX, &v) == -1)
		return -1;
	return (int64_t)v;
}

/* "... by uid 1000 ..." -> "uid 1000": who acted, from our own reasons. */
void
history_who(const char *reason, char *out, size_t outlen)
{
	const char *p = strstr(reason, "by uid ");
	size_t n = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (p == NULL)
		return;
	p += 3;
	while (p[4 + n] >= '0' && p[4 + n] <= '9' && n < 10)
		n++;
	if (n == 0 || 4 + n >= outlen)
		return;
	memcpy(out, p, 4 + n);
	out[4 + n] = '\0';
}

/* Entries to delete so that have + 1 - deleted <= keep. */
size_t
history_excess(size_t have, size_t keep)
{
	size_t over;

	if (keep == 0)
		keep = 1;
	if (have + 1 <= keep)
		return 0;
	over = have + 1 - keep;
	return over < HISTORY_DEL_MAX ? over : HISTORY_DEL_MAX;
}

/* ---- the leader's list ------------------------------------------------- */

struct history {
	struct zk *zk;
	char *dir;
	size_t keep;
	bool listed;    /* seqs holds every entry we know of */
	bool syncing;   /* a children read is out */
	uint64_t epoch; /* bumped by reset: older reads are void */
	int64_t *seqs;  /* ascending */
	size_t nseqs;
	size_t cap;
};

struct history *
history_new(struct zk *zk, const char *dir, size_t keep)
{
	struct history *h = xcalloc(1, sizeof(*h));

	h->zk = zk;
	h->dir = xstrdup(dir);
	h->keep = keep ? keep : HISTORY_KEEP_DEFAULT;
	return h;
}

void
history_free(struct history *h)
{
	if (h == NULL)
		return;
	free(h->seqs);
	free(h->dir);
	free(h);
}

void
history_set_keep(struct history *h, size_t keep)
{
	h->keep = keep ? keep : HISTORY_KEEP_DEFAULT;
}

/* Not the writer any more: the list may go stale, forget it. */
void
history_reset(struct history *h)
{
	h->listed = false;
	h->syncing = false;
	h->nseqs = 0;
	h->epoch++;
}

/* Append one number, keeping the array ascending. */
static void
history_push(struct history *h, int64_t seq)
{
	if (seq < 0 || (h->nseqs > 0 && h->seqs[h->nseqs - 1] >= seq))
		return;
	if (h->nseqs == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->seqs = xreallocarray(h->seqs, h->cap, sizeof(*h->seqs));
	}
	h->seqs[h->nseqs++] = seq;
}

/* qsort order of entry numbers. */
static int
history_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The numbers of a children list, ascending, into *out (malloc'ed). */
static size_t
history_parse_children(const struct zk_result *r, int64_t **out)
{
	size_t n = 0;
	int i;

	*out = xcalloc((size_t)r->nchildren + 1, sizeof(**out));
	for (i = 0; i < r->nchildren; i++)
		if (((*out)[n] = history_seq(r->children[i])) >= 0)
			n++;
	qsort(*out, n, sizeof(**out), history_cmp);
	return n;
}

/* A create whose completion nobody needs. */
static void
history_ignore(const struct zk_result *r, void *arg)
{
	(void)r;
	(void)arg;
}

/* The children list came back (leader's sync). */
static void
history_sync_done(const struct zk_result *r, void *arg)
{
	struct history *h = arg;
	int64_t *seqs;
	size_t n, i;

	if (r->tag != h->epoch)
		return;
	h->syncing = false;
	if (r->rc == ZK_NONODE) {
		zk_create(h->zk, h->dir, "", 0, 0, history_ignore, NULL, 0);
		return;
	}
	if (r->rc != ZK_OK)
		return;
	n = history_parse_children(r, &seqs);
	h->nseqs = 0;
	for (i = 0; i < n; i++)
		history_push(h, seqs[i]);
	free(seqs);
	h->listed = true;
}

/* Read the list of entries (when starting to lead, or after trouble). */
void
history_sync(struct history *h)
{
	if (h->syncing)
		return;
	h->listed = false;
	if (zk_children(h->zk, h->dir, NULL, history_sync_done, h, h->epoch)
	    == 0)
		h->syncing = true;
}

/* Plan the create and, with a known list, the deletes of the oldest. */
int
history_plan(struct history *h, const struct history_entry *e,
    bool with_deletes, struct history_plan *p)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	if ((p->json = history_encode(e, false)) == NULL)
		return -1;
	snprintf(p->create_path, sizeof(p->create_path), "%s/" HISTORY_PREFIX,
	    h->dir);
	if (!with_deletes || !h->listed)
		return 0;
	p->ndel = history_excess(h->nseqs, h->keep);
	for (i = 0; i < p->ndel; i++)
		snprintf(p->del_path[i], sizeof(p->del_path[i]),
		    "%s/" HISTORY_PREFIX "%010lld", h->dir,
		    (long long)h->seqs[i]);
	return 0;
}

/* The plan as multi operations. */
int
history_plan_ops(const struct history_plan *p, struct zk_op *ops)
{
	size_t i;

	ops[0].kind = ZK_OP_CREATE_SEQ;
	ops[0].path = p->create_path;
	ops[0].data = p->json;
	ops[0].len = (int)strlen(p->json);
	ops[0].version = -1;
	ops[0].flags = 0;
	for (i = 0; i < p->ndel; i++) {
		ops[1 + i].kind = ZK_OP_DELETE;
		ops[1 + i].path = p->del_path[i];
		ops[1 + i].data = NULL;
		ops[1 + i].len = 0;
		ops[1 + i].version = -1;
		ops[1 + i].flags = 0;
	}
	return 1 + (int)p->ndel;
}

void
history_plan_clear(struct history_plan *p)
{
	free(p->json);
	p->json = NULL;
}

/* Drop the n oldest numbers (they were deleted). */
static void
history_pop(struct history *h, size_t n)
{
	if (n > h->nseqs)
		n = h->nseqs;
	if (n == 0)
		return;
	memmove(h->seqs, h->seqs + n, (h->nseqs - n) * sizeof(*h->seqs));
	h->nseqs -= n;
}

/* Keep the list in step with a multi's outcome. */
bool
history_done(struct history *h, const struct history_plan *p,
    const struct zk_result *r, int first)
{
	const char *slash;
	size_t i;
	int err;

	if (r->rc == ZK_OK) {
		if (h->listed) {
			history_pop(h, p->ndel);
			if (r->value != NULL
			    && (slash = strrchr(r->value, '/')) != NULL)
				history_push(h, history_seq(slash + 1));
		}
		return false;
	}
	for (i = 0; i <= p->ndel && first + (int)i < ZK_MULTI_MAX; i++) {
		err = r->multi_err[first + (int)i];
		if (err != ZK_OK && err != ZK_RUNTIMEINCONSISTENCY) {
			log_warnx("history: %s: %s; listing it again", h->dir,
			    zk_strerror(err));
			history_sync(h);
			return true;
		}
	}
	return false;
}

/* ---- reading ------------------------------------------------------------- */

struct history_reader {
	struct zk *zk;
	char *dir;
	history_read_fn fn;
	void *arg;
	struct history_entry *entries;
	bool *ok;
	size_t n;
	size_t pending;
	bool failed;
};

/* Hand the entries that decoded to the caller, oldest first. */
static void
history_reader_finish(struct history_reader *rd)
{
	size_t i, k = 0;

	for (i = 0; i < rd->n; i++)
		if (rd->ok[i])
			rd->entries[k++] = rd->entries[i];
	if (rd->failed && k == 0 && rd->n > 0)
		rd->fn(PROTO_EUNAVAIL, "history not readable now", NULL, 0,
		    rd->arg);
	else
		rd->fn(0, NULL, rd->entries, k, rd->arg);
	free(rd->entries);
	free(rd->ok);
	free(rd->dir);
	free(rd);
}

/* One entry's data came back. */
static void
history_entry_done(const struct zk_result *r, void *arg)
{
	struct history_reader *rd = arg;
	size_t i = (size_t)r->tag;
	char err[160];
	int64_t seq = rd->entries[i].seq;

	if (r->rc == ZK_OK) {
		if (history_decode(r->data,
		        r->datalen < 0 ? 0 : (size_t)r->datalen,
		        &rd->entries[i], err, sizeof(err))
		    == 0) {
			rd->entries[i].seq = seq;
			rd->ok[i] = true;
		} else
			log_warnx("history: %s/" HISTORY_PREFIX "%010lld "
			          "rejected: %s",
			    rd->dir, (long long)seq, err);
	} else if (r->rc != ZK_NONODE)
		rd->failed = true;
	if (--rd->pending == 0)
		history_reader_finish(rd);
}

/* Read the newest rd->n of the listed entries. */
static void
history_read_entries(struct history_reader *rd, const int64_t *seqs, size_t n)
{
	char path[1024];
	size_t i, from = n > rd->n ? n - rd->n : 0;

	rd->n = n - from;
	rd->entries = xcalloc(rd->n + 1, sizeof(*rd->entries));
	rd->ok = xcalloc(rd->n + 1, sizeof(*rd->ok));
	rd->pending = rd->n + 1; /* +1 until every read is sent */
	for (i = 0; i < rd->n; i++) {
		rd->entries[i].seq = seqs[from + i];
		snprintf(path, sizeof(path), "%s/" HISTORY_PREFIX "%010lld",
		    rd->dir, (long long)seqs[from + i]);
		if (zk_get(rd->zk, path, NULL, history_entry_done, rd, i)
		    == -1) {
			rd->failed = true;
			rd->pending--;
		}
	}
	if (--rd->pending == 0)
		history_reader_finish(rd);
}

/* The directory's children came back. */
static void
history_list_done(const struct zk_result *r, void *arg)
{
	struct history_reader *rd = arg;
	int64_t *seqs;
	size_t n;

	if (r->rc == ZK_NONODE || (r->rc == ZK_OK && r->nchildren == 0)) {
		rd->n = 0;
		history_reader_finish(rd);
		return;
	}
	if (r->rc != ZK_OK) {
		rd->fn(PROTO_EUNAVAIL, "history not readable now", NULL, 0,
		    rd->arg);
		free(rd->dir);
		free(rd);
		return;
	}
	n = history_parse_children(r, &seqs);
	history_read_entries(rd, seqs, n);
	free(seqs);
}

/* HISTORY: list the directory, then read the newest n entries. */
void
history_read(
    struct zk *zk, const char *dir, size_t n, history_read_fn fn, void *arg)
{
	struct history_reader *rd = xcalloc(1, sizeof(*rd));

	rd->zk = zk;
	rd->dir = xstrdup(dir);
	rd->fn = fn;
	rd->arg = arg;
	rd->n = n;
	if (zk_children(zk, dir, NULL, history_list_done, rd, 0) == -1) {
		free(rd->dir);
		free(rd);
		fn(PROTO_EUNAVAIL, "no ZooKeeper session", NULL, 0, arg);
	}
}

/* A body read: where its reply goes. */
struct history_body {
	body_fn done;
	void *arg;
};

/* The entries are back: OK <n>, then one JSON line per entry. */
static void
history_body_done(int code, const char *msg, const struct history_entry *es,
    size_t n, void *arg)
{
	struct history_body *hb = arg;
	struct evbuffer *body;
	char *line;
	size_t i;

	if (code != 0 || (body = evbuffer_new()) == NULL) {
		hb->done(code ? code : PROTO_EUNAVAIL, msg, NULL, hb->arg);
		free(hb);
		return;
	}
	evbuffer_add_printf(body, "OK %zu\n", n);
	for (i = 0; i < n; i++)
		if ((line = history_encode(&es[i], true)) != NULL) {
			evbuffer_add_printf(body, "%s\n", line);
			free(line);
		}
	hb->done(0, NULL, body, hb->arg);
	evbuffer_free(body);
	free(hb);
}

/* HISTORY's reply, read from ZooKeeper. */
void
history_read_body(
    struct zk *zk, const char *dir, size_t n, body_fn done, void *arg)
{
	struct history_body *hb = xcalloc(1, sizeof(*hb));

	hb->done = done;
	hb->arg = arg;
	history_read(zk, dir, n, history_body_done, hb);
}
