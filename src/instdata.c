/*
 * instdata.c - coalesced writes of this instance's znode data.
 *
 * The node is created by membership.c with the registration record; the
 * record is kept here as a JSON object and every key set by a module is
 * merged into a copy of it at write time, so one setData carries all of
 * them and no module overwrites another's key.  A one-second timer sends
 * at most one write, only when something changed or when the session
 * changed (a new session's node holds the bare record again).  A write
 * that fails (the node not registered yet, no session) is retried on the
 * next tick.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "fleet.h"
#include "instdata.h"
#include "log.h"
#include "membership.h"
#include "util.h"
#include "zk.h"

#define INSTDATA_TICK_MS 1000

struct instdata {
	struct zk *zk;
	char *path;
	json_t *record; /* the registration record */
	json_t *keys;   /* what modules set */
	struct event *tick;
	bool dirty;
	bool writing;
	int64_t written_session;
	uint64_t writes;
};

/* Our write came back. */
static void
instdata_done(const struct zk_result *r, void *arg)
{
	struct instdata *in = arg;

	in->writing = false;
	if (r->rc == ZK_OK) {
		in->writes++;
		in->written_session = zk_session_id(in->zk);
		return;
	}
	in->dirty = true;
	log_debug("instdata: %s: %s", in->path, zk_strerror(r->rc));
}

/* The record with every key merged in, as one compact JSON text. */
static char *
instdata_text(const struct instdata *in)
{
	json_t *obj = json_copy(in->record);
	char *text;

	json_object_update(obj, in->keys);
	text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(obj);
	return text;
}

/* Once a second: write if a key changed or the session did. */
static void
instdata_tick(evutil_socket_t fd, short what, void *arg)
{
	struct instdata *in = arg;
	char *text;

	(void)fd;
	(void)what;
	if (json_object_size(in->keys) == 0 || in->writing
	    || !zk_connected(in->zk))
		return;
	if (in->written_session != zk_session_id(in->zk))
		in->dirty = true;
	if (!in->dirty || (text = instdata_text(in)) == NULL)
		return;
	if (zk_set(in->zk, in->path, text, (int)strlen(text), -1, instdata_done,
	        in, 0)
	    == 0) {
		in->writing = true;
		in->dirty = false;
	}
	free(text);
}

/* Keep the registration record and start the timer. */
struct instdata *
instdata_new(struct event_base *base, struct fleet *fl, const char *instance_id)
{
	struct timeval tv = {INSTDATA_TICK_MS / 1000, 0};
	struct instdata *in = xcalloc(1, sizeof(*in));

	in->zk = fleet_zk(fl);
	xasprintf(&in->path, "%s/instances/%s", fleet_root(fl), instance_id);
	in->record =
	    json_loads(membership_record(fleet_membership(fl)), 0, NULL);
	if (!json_is_object(in->record)) {
		json_decref(in->record);
		in->record = json_object();
	}
	in->keys = json_object();
	if ((in->tick = event_new(base, -1, EV_PERSIST, instdata_tick, in))
	    == NULL)
		fatalx("instdata_new: event_new");
	event_add(in->tick, &tv);
	return in;
}

void
instdata_free(struct instdata *in)
{
	if (in == NULL)
		return;
	event_free(in->tick);
	json_decref(in->record);
	json_decref(in->keys);
	free(in->path);
	free(in);
}

/* Set a key; an equal value changes nothing (and writes nothing). */
void
instdata_set(struct instdata *in, const char *key, json_t *value)
{
	json_t *old = json_object_get(in->keys, key);

	if (old != NULL && json_equal(old, value)) {
		json_decref(value);
		return;
	}
	json_object_set_new(in->keys, key, value);
	in->dirty = true;
}

uint64_t
instdata_writes(const struct instdata *in)
{
	return in->writes;
}
