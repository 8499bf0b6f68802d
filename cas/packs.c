/* Pack files: their names and listing, the live and retired packs tables,
 * deleting retired packs, the store id a pack names. */
#include "cas/cas_impl.h"
#include "util/array.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int pack_path_in(arca_buf *b, const char *packdir, uint32_t no)
{
	return arca_buf_setf(b, "%s/pack-%08u.arcp", packdir, no) != 0 ?
		arca_err_set(ARCA_EINVAL, "pack path too long") : 0;
}

int arca_cas_pack_path(const arca_cas *cas, uint32_t no, arca_buf *out)
{
	return pack_path_in(out, cas->packdir, no);
}

int arca_cas__pack_path(arca_buf *b, const arca_cas *cas, uint32_t no)
{
	return pack_path_in(b, cas->packdir, no);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int arca_cas__list_packs(const char *packdir, uint32_t **nos, size_t *n)
{
	DIR *d = opendir(packdir);
	struct dirent *de;
	uint32_t *v = NULL;
	size_t cnt = 0, cap = 0;

	*nos = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : arca_err_sys("list %s", packdir);
	while ((de = readdir(d)) != NULL) {
		unsigned no;
		char tail;
		struct stat st;
		if (strlen(de->d_name) != 18 ||
		    sscanf(de->d_name, "pack-%8u.arcp%c", &no, &tail) != 1 || no == 0)
			continue;
		/* a directory or symlink by that name is no pack */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (arca_array_grow(&v, &cap, cnt + 1, sizeof(*v), 64) != 0) {
			free(v);
			closedir(d);
			return ARCA_ENOMEM;
		}
		v[cnt++] = no;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), u32_cmp);
	*nos = v;
	*n = cnt;
	return 0;
}

int arca_cas_pack_files(arca_cas *cas, uint32_t **nos, size_t *n)
{
	return arca_cas__list_packs(cas->packdir, nos, n);
}

int arca_cas_writer_retire_pack(arca_cas_writer *w, uint32_t no)
{
	uint8_t kb[4], vb[8];
	MDB_val k = { 4, kb }, v = { 8, vb };
	int mrc;

	if (no == w->pack_no && w->fd >= 0) {
		/* nothing more goes into it; the next append opens a new pack */
		close(w->fd);
		w->fd = -1;
		w->wlen = 0;
		w->pack_len = UINT64_MAX;
		w->first_pack_no = 0;
	}
	arca_put_be32(kb, no);
	mrc = mdb_del(w->txn, w->cas->dbi_packs, &k, NULL);
	if (mrc && mrc != MDB_NOTFOUND)
		return arca_lmdb_error(mrc, "retire pack");
	/* readers whose snapshot predates this transaction may still read it */
	arca_put_le64(vb, (uint64_t)mdb_txn_id(w->txn));
	mrc = mdb_put(w->txn, w->cas->dbi_dead, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "retire pack") : 0;
}

/* Oldest transaction any live reader is using; UINT64_MAX when none. */
static int oldest_reader_msg(const char *msg, void *ctx)
{
	uint64_t *oldest = ctx;
	unsigned long long pid, txn;
	char thread[64];
	if (sscanf(msg, "%llu %63s %llu", &pid, thread, &txn) == 3 && txn < *oldest)
		*oldest = txn;
	return 0;
}

int arca_cas_reap_dead_packs(arca_cas *cas, uint64_t *deleted, uint64_t *pending)
{
	uint64_t oldest = UINT64_MAX;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	arca_buf path = ARCA_BUF_INIT(PATH_MAX);
	int dead, rc = 0, mrc;

	*deleted = *pending = 0;
	/* Take the write lock first: then no other gc can retire a pack
	 * between our look at the readers and the deletions. */
	if ((rc = arca_cas_write_txn_begin(cas, &txn)) != 0)
		return rc;
	mdb_reader_check(cas->env, &dead);
	if (mdb_reader_list(cas->env, oldest_reader_msg, &oldest) < 0) {
		rc = arca_err_set(ARCA_ERROR, "index: cannot list readers");
		goto done;
	}
	if ((mrc = mdb_cursor_open(txn, cas->dbi_dead, &cur)) != 0) {
		rc = arca_lmdb_error(mrc, "dead packs cursor");
		goto done;
	}
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		uint32_t no;
		if (k.mv_size != 4 || v.mv_size != 8) {
			rc = arca_err_set(ARCA_ECORRUPT, "index: bad dead pack entry");
			goto done;
		}
		no = arca_get_be32(kp);
		if (arca_get_le64(v.mv_data) > oldest) {
			(*pending)++;
			continue;
		}
		if ((rc = arca_cas__pack_path(&path, cas, no)) != 0)
			goto done;
		if (unlink(arca_buf_cstr(&path)) < 0 && errno != ENOENT) {
			rc = arca_err_sys("remove pack %08u", no);
			goto done;
		}
		/* our own cached descriptor would keep the space in use */
		pthread_mutex_lock(&cas->fd_lock);
		if (no < cas->npack_fds && cas->pack_fds[no] >= 0) {
			close(cas->pack_fds[no]);
			cas->pack_fds[no] = -1;
		}
		pthread_mutex_unlock(&cas->fd_lock);
		if ((mrc = mdb_cursor_del(cur, 0)) != 0) {
			rc = arca_lmdb_error(mrc, "dead packs");
			goto done;
		}
		(*deleted)++;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	rc = arca_cas_write_txn_commit(cas, txn);
	txn = NULL;
done:
	if (cur)
		mdb_cursor_close(cur);
	arca_cas_write_txn_abort(cas, txn);
	arca_buf_release(&path);
	return rc;
}

int arca_cas_dir_pack_files(const char *dir, uint32_t **nos, size_t *n)
{
	arca_buf packdir = ARCA_BUF_INIT(PATH_MAX);
	int rc = arca_buf_setf(&packdir, "%s/packs", dir);
	*nos = NULL;
	*n = 0;
	if (rc == 0)
		rc = arca_cas__list_packs(arca_buf_cstr(&packdir), nos, n);
	arca_buf_release(&packdir);
	return rc;
}

int arca_cas_pack_store_id(const char *dir, uint32_t no, uint8_t id[ARCA_STORE_ID_LEN])
{
	uint8_t hdr[ARCA_RECORD_HEADER_LEN], p[ARCA_CAS_PARAMS_LEN], d[32];
	arca_buf path = ARCA_BUF_INIT(PATH_MAX);
	arca_meta_hdr m;
	int fd, ok;

	if (arca_buf_setf(&path, "%s/packs/pack-%08u.arcp", dir, no) != 0 ||
	    (fd = open(arca_buf_cstr(&path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		arca_buf_release(&path);
		return 0;
	}
	arca_buf_release(&path);
	ok = arca_pread_full(fd, hdr, sizeof(hdr), ARCA_PACK_HEADER_LEN) == sizeof(hdr) &&
		arca_meta_decode(&m, hdr, sizeof(hdr)) == 0 && m.type == ARCA_META_PARAMS &&
		m.len == sizeof(p) &&
		arca_pread_full(fd, p, sizeof(p), ARCA_PACK_HEADER_LEN + sizeof(hdr)) == sizeof(p) &&
		arca_meta_hash(d, p + 32, p, sizeof(p), NULL, 0) == 0 && !memcmp(d, m.hash, 32);
	close(fd);
	if (ok)
		memcpy(id, p + 32, ARCA_STORE_ID_LEN);
	return ok;
}

int arca_cas_packs_iter(arca_cas_iter **out, arca_cas *cas, MDB_txn *txn, int retired)
{
	return arca_cas__iter_open(out, cas, txn, retired ? cas->dbi_dead : cas->dbi_packs,
		retired ? "dead packs cursor" : "packs cursor");
}

int arca_cas_packs_next(arca_cas_iter *it, uint32_t *no, uint64_t *value)
{
	int rc = arca_cas__iter_step(it, "packs cursor");
	*no = 0;
	*value = 0;
	if (rc)
		return rc;
	if (it->k.mv_size == 4)
		*no = arca_get_be32(it->k.mv_data);
	if (it->v.mv_size == 8)
		*value = arca_get_le64(it->v.mv_data);
	return it->k.mv_size == 4 && it->v.mv_size == 8 ? 0 :
		arca_err_set(ARCA_ECORRUPT, "index: bad pack entry");
}

int arca_cas_pack_totals(arca_cas *cas, MDB_txn *txn, uint64_t *count, uint64_t *bytes)
{
	arca_cas_iter *it;
	uint32_t no;
	uint64_t len;
	int rc = arca_cas_packs_iter(&it, cas, txn, 0);
	*count = *bytes = 0;
	if (rc)
		return rc;
	while ((rc = arca_cas_packs_next(it, &no, &len)) == 0 || rc == ARCA_ECORRUPT) {
		*bytes += len;
		(*count)++;
	}
	arca_cas_iter_free(it);
	return rc == ARCA_ITER_END ? 0 : rc;
}
