/* What push, pull and the remote list share inside sync/. */
#ifndef ARCA_SYNC_SYNC_H
#define ARCA_SYNC_SYNC_H

#include <stdint.h>

#include "arca/remote.h"
#include "store/names.h"
#include "store/store.h"
#include "sync/layout.h"
#include "sync/transport.h"

/** Pack objects are cut at about this many bytes (tests make it small). */
extern uint64_t arca_sync__pack_target;
/** restore --from downloads data in pieces of this many bytes (tests make
 *  it small). */
extern uint64_t arca_sync__restore_piece;

/** A remote as the store knows it (or a URL given directly). */
typedef struct {
	char name[ARCA_NAME_MAX + 1]; /* "" for a URL given directly */
	char *url;
	char *region;                 /* NULL: none */
	int insecure_http;
	const char *cache;            /* key prefix in remote_chunks: the name; NULL for a URL */
} arca_remote_conf;

void arca_remote_conf_clear(arca_remote_conf *c);
/** `remote` is a remote's name or, when no remote has that name, a URL
 *  (`s` NULL: a store that knows no remote). */
int arca_sync__remote_conf(arca_remote_conf *c, arca_store *s, const char *remote);
/** Checks opts (NULL: defaults) into *o. */
int arca_sync__options(arca_sync_options *o, const arca_sync_options *opts);
/** Opens the transport of `c` with the credentials of `o`. */
int arca_sync__open(arca_transport **t, const arca_remote_conf *c, const arca_sync_options *o);
/** Reads (and with `create`, first writes) the marker ARCA-REMOTE. */
int arca_sync__marker(arca_transport *t, int create);

/** 1 when `anc` is `id` or among its ancestors (parents recorded in `s`,
 *  read in `txn`), else 0. */
int arca_sync__is_ancestor(arca_store *s, MDB_txn *txn, const arca_id *anc, const arca_id *id);
/** The newest entry of ref NAME:TAG on `t` (hint first, then entries up
 *  to the first missing one): 1 with *e filled, 0 when the ref has no
 *  entry. An entry that is not the one its key names is ARCA_ECORRUPT.
 *  With `trust_hint`, the hinted entry (or none, without a hint) is taken
 *  as the newest: only for a writer whose create-only put of the next
 *  entry fails if it is not, and who then asks again without it.
 *  Adds the GETs it made to *requests. */
int arca_sync__ref_current(arca_transport *t, const char *name, const char *tag,
		int trust_hint, arca_ref_entry *e, uint64_t *requests);

#endif
