/* Chunk MACs and the store's MAC key. */
#include "cas/cas_impl.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const uint8_t *arca_cas_writer_mac_key(arca_cas_writer *w)
{
	return w->mac_key;
}

int arca_cas_writer_put_mac(arca_cas_writer *w, const uint8_t id[32], const uint8_t tag[16])
{
	MDB_val k = { 32, (void *)id }, v = { 16, (void *)tag };
	int mrc = mdb_put(w->txn, w->cas->dbi_macs, &k, &v, MDB_NOOVERWRITE);
	return mrc && mrc != MDB_KEYEXIST ? arca_lmdb_error(mrc, "record chunk MAC") : 0;
}

int arca_cas_mac_key(arca_cas *cas, MDB_txn *txn, uint8_t key[32])
{
	MDB_val k = { strlen(ARCA_META_MAC_KEY), (void *)ARCA_META_MAC_KEY }, v;
	int mrc = mdb_get(txn, cas->dbi_meta, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return 0;
	if (mrc)
		return arca_lmdb_error(mrc, "store key");
	if (v.mv_size != 32)
		return arca_err_set(ARCA_ECORRUPT, "index: store key has bad size");
	memcpy(key, v.mv_data, 32);
	return 1;
}

int arca_cas_mac_get(arca_cas *cas, MDB_txn *txn, const uint8_t id[32], uint8_t tag[16])
{
	MDB_val k = { 32, (void *)id }, v;
	if (mdb_get(txn, cas->dbi_macs, &k, &v) != 0 || v.mv_size != 16)
		return 0;
	memcpy(tag, v.mv_data, 16);
	return 1;
}
