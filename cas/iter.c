/* The cursor under the table iterators (chunks, packs, journal). */
#include "cas/cas_impl.h"
#include "util/error.h"

#include <stdlib.h>

int arca_cas__iter_open(arca_cas_iter **out, arca_cas *cas, MDB_txn *txn, MDB_dbi dbi,
		const char *what)
{
	arca_cas_iter *it = calloc(1, sizeof(*it));
	int mrc;
	*out = NULL;
	if (!it)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if ((mrc = mdb_cursor_open(txn, dbi, &it->cur)) != 0) {
		free(it);
		return arca_lmdb_error(mrc, what);
	}
	it->cas = cas;
	it->txn = txn;
	*out = it;
	return 0;
}

int arca_cas__iter_step(arca_cas_iter *it, const char *what)
{
	int mrc = mdb_cursor_get(it->cur, &it->k, &it->v, it->started ? MDB_NEXT : MDB_FIRST);
	it->started = 1;
	if (mrc == MDB_NOTFOUND)
		return ARCA_ITER_END;
	return mrc ? arca_lmdb_error(mrc, what) : 0;
}

void arca_cas_iter_free(arca_cas_iter *it)
{
	if (!it)
		return;
	mdb_cursor_close(it->cur);
	free(it);
}
