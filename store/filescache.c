/*
 * The files cache: for each file of an artifact that is some name's
 * latest snapshot, the stat fields that change whenever its content can
 * have changed. A later snapshot (or a diff against a live tree) trusts
 * the parent's content for a file whose stat is unchanged and does not
 * read it.
 */
#include "store/filescache.h"
#include "store/store.h"
#include "cas/hash.h"
#include "util/buf.h"
#include "util/error.h"

#include <string.h>

void arca_file_stat_from(arca_file_stat *fs, const struct stat *st)
{
	fs->dev = (uint64_t)st->st_dev;
	fs->ino = (uint64_t)st->st_ino;
	fs->size = (uint64_t)st->st_size;
	fs->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	fs->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

void arca_file_stat_encode(uint8_t out[ARCA_FILE_STAT_LEN], const arca_file_stat *fs)
{
	arca_put_le64(out, fs->dev);
	arca_put_le64(out + 8, fs->ino);
	arca_put_le64(out + 16, fs->size);
	arca_put_le64(out + 24, (uint64_t)fs->mtime_ns);
	arca_put_le64(out + 32, (uint64_t)fs->ctime_ns);
}

int arca_files_cache_key(uint8_t key[64], const arca_id *artifact, const char *path, size_t len)
{
	memcpy(key, artifact->bytes, 32);
	return arca_sha256_digest(key + 32, path, len);
}

int arca_files_cache_match(arca_store *s, MDB_txn *txn, const arca_id *artifact,
		const char *path, size_t len, const arca_file_stat *fs)
{
	uint8_t key[64], want[ARCA_FILE_STAT_LEN];
	MDB_val k = { 64, key }, v;
	if (arca_files_cache_key(key, artifact, path, len) != 0)
		return 0;
	if (mdb_get(txn, s->dbi_files, &k, &v) != 0 || v.mv_size != ARCA_FILE_STAT_LEN)
		return 0;
	arca_file_stat_encode(want, fs);
	return memcmp(v.mv_data, want, ARCA_FILE_STAT_LEN) == 0;
}

int arca_files_cache_drop(arca_store *s, MDB_txn *txn, const arca_id *artifact)
{
	MDB_cursor *cur;
	MDB_val k = { 32, (void *)artifact->bytes }, v;
	int mrc = mdb_cursor_open(txn, s->dbi_files, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "files cache cursor");
	for (;;) {
		/* seek again after each delete: simplest correct cursor use */
		k.mv_size = 32;
		k.mv_data = (void *)artifact->bytes;
		if ((mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) != 0)
			break;
		if (k.mv_size != 64 || memcmp(k.mv_data, artifact->bytes, 32) != 0)
			break;
		if ((mrc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (mrc && mrc != MDB_NOTFOUND)
		return arca_lmdb_error(mrc, "files cache");
	return 0;
}
