/* Removing artifacts (rm): their records, files cache, history and, with
 * force, the refs to them, in one write transaction. */
#include "store/refs.h"
#include "store/history.h"
#include "store/journal.h"
#include "store/names.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

typedef struct {
	const arca_id *id;
	int force;
	char first[ARCA_REF_KEY_MAX];
	size_t count;
	MDB_txn *txn;
	arca_store *s;
} ref_scan;

/* Counts refs pointing at scan->id; with force, deletes them. */
static int scan_ref(const char *key, size_t klen, const arca_id *id, void *ctx)
{
	ref_scan *rs = ctx;
	if (memcmp(id->bytes, rs->id->bytes, 32) != 0)
		return 0;
	if (rs->count++ == 0)
		snprintf(rs->first, sizeof(rs->first), "%.*s", (int)klen, key);
	return 0;
}

/* Without `force`, fails when a ref points at `id`; with it, deletes every
 * such ref (the walk restarts after each delete). */
static int drop_refs_to(arca_store *s, MDB_txn *txn, const arca_id *id, int force)
{
	for (;;) {
		ref_scan rs;
		char str[ARCA_ID_STRLEN];
		int rc;

		memset(&rs, 0, sizeof(rs));
		rs.id = id;
		if ((rc = arca_store__refs_walk_keys(s, txn, scan_ref, &rs)) != 0)
			return rc;
		if (!rs.count)
			return 0;
		if (!force) {
			arca_id_format(str, id);
			return arca_err_set(ARCA_EREFERENCED,
				"%.24s is still referenced by %s%s (removing with force deletes those refs too)",
				str, rs.first, rs.count > 1 ? " and other refs" : "");
		}
		if ((rc = arca_store__ref_del(s, txn, rs.first, strlen(rs.first))) != 0)
			return rc == ARCA_ENOTFOUND ? arca_err_set(ARCA_ECORRUPT, "index: ref vanished") : rc;
	}
}

typedef struct {
	const arca_id *ids;
	size_t n;
	int force;
} rm_job;

static int do_remove(arca_store *s, MDB_txn *txn, void *ctx)
{
	rm_job *j = ctx;
	for (size_t i = 0; i < j->n; i++) {
		int rc;
		if ((rc = drop_refs_to(s, txn, &j->ids[i], j->force)) != 0 ||
		    (rc = arca_store__art_del(s, txn, &j->ids[i])) != 0)
			return rc;
	}
	return arca_store__history_drop(s, txn, j->ids, j->n);
}

int arca_artifact_remove(arca_store *s, const arca_id *ids, size_t n, int force)
{
	rm_job j = { ids, n, force };
	if (!s || (!ids && n))
		return arca_err_set(ARCA_EINVAL, "arca_artifact_remove: NULL argument");
	return arca_store__in_write_txn(s, do_remove, &j);
}
