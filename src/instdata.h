/*
 * instdata.h - the data of this instance's znode (<root>/instances/<id>):
 * the registration record plus keys that other modules keep up to date
 * ("windows": the fleet window's summaries; acknowledgements can join
 * them).  Changes are coalesced: the node is written at most once a
 * second, only when a key changed, and again after a new session
 * re-created the node with the bare registration record.  Loop thread.
 */
#ifndef BREAKERD_INSTDATA_H
#define BREAKERD_INSTDATA_H

#include <stdint.h>

#include <jansson.h>

struct event_base;
struct fleet;
struct instdata;

struct instdata *instdata_new(
    struct event_base *, struct fleet *, const char *instance_id);
/* After fleet_stop: completions of its writes point into it. */
void instdata_free(struct instdata *);
/* Set key to value (the reference is stolen); written if it changed. */
void instdata_set(struct instdata *, const char *key, json_t *value);
/* Writes of the node that the server acknowledged. */
uint64_t instdata_writes(const struct instdata *);

#endif
