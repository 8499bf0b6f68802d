/* Whether one artifact descends from another, by the parents this store
 * records: what decides if a ref may move without --force, on a remote
 * (push) and here (pull). */
#include "sync/sync.h"
#include "store/history.h"
#include "store/record.h"
#include "store/artifact.h"

#include <string.h>

int arca_sync__is_ancestor(arca_store *s, MDB_txn *txn, const arca_id *anc, const arca_id *id)
{
	arca_id cur = *id;
	for (int i = 0; i < ARCA_ANCESTRY_MAX; i++) {
		arca_artifact_rec rec;
		int has;
		if (!memcmp(cur.bytes, anc->bytes, 32))
			return 1;
		if (arca_artifact_rec_get(&rec, s, txn, &cur) != 0)
			return 0;
		has = rec.a.has_parent;
		cur = rec.a.parent;
		arca_artifact_rec_clear(&rec);
		if (!has)
			return 0;
	}
	return 0;
}
