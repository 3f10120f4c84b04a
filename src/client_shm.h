/*
 * client_shm.h - libbreakerd_client's reader of the daemon's shared-memory
 * state table (shm_layout.h).  Private to the library: client.c embeds a
 * struct bd_tabctl in every handle and asks it first; a negative answer
 * means "ask the socket".
 */
#ifndef BREAKERD_CLIENT_SHM_H
#define BREAKERD_CLIENT_SHM_H

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>

#include "breakerd_client.h"

#define BDT_RETIRED_MAX 8 /* replaced mappings kept until bd_close() */

struct bd_table;

struct bd_tabctl {
	_Atomic(struct bd_table *) cur; /* NULL: no table mapped */
	struct bd_table *retired[BDT_RETIRED_MAX];
	unsigned nretired;
	int off; /* BREAKERD_SHM=off, or no room left to remap */
	char path[PATH_MAX];
	uint64_t next_try_ms; /* no (re)mapping attempt before this */
	_Atomic int want_remap;
	_Atomic uint64_t fallbacks, stale, torn, maps;
};

/* Not exported from libbreakerd_client.so: only bd_* is its API. */
#pragma GCC visibility push(hidden)

/* Where the table is: $BREAKERD_SHM, else the socket path + ".shm". */
void bdt_init(struct bd_tabctl *, const char *socket_path);
void bdt_free(struct bd_tabctl *);
/* (Re)map the table if there is none or it went stale; at most once per
 * retry_ms.  Called with the client's lock held. */
void bdt_refresh(struct bd_tabctl *, uint64_t now_ms, int retry_ms);

/* 1 allow, 0 deny, -1 ask the socket. */
int bdt_allow(struct bd_tabctl *, const char *dep);
/* 0 with view filled, or -1: ask the socket. */
int bdt_get(struct bd_tabctl *, const char *dep, struct bd_view *);
/* 0 counted in the table, or -1: send it over the socket. */
int bdt_report(
    struct bd_tabctl *, const char *dep, enum bd_outcome, unsigned duration_ms);
void bdt_stats(struct bd_tabctl *, struct bd_table_stats *);

#pragma GCC visibility pop

#endif
