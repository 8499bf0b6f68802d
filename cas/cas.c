#include "cas/cas.h"
#include "cas/chunker.h"
#include "cas/hash.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* Virtual size of the LMDB map: the index file grows on demand up to it,
 * and only pages in use take disk or memory, so a large map costs nothing
 * on 64-bit systems (1 TiB of index is ~10^10 chunks). Smaller sizes are
 * tried where the system refuses to reserve that much address space. */
static const uint64_t map_sizes[] = { 1ull << 40, 1ull << 36, 1ull << 33 };

int arca_mdb_txn_begin(MDB_env *env, unsigned flags, MDB_txn **out)
{
	int mrc = mdb_txn_begin(env, NULL, flags, out);
	if (mrc == MDB_MAP_RESIZED) {
		/* another process grew the map: adopt its size */
		mdb_env_set_mapsize(env, 0);
		mrc = mdb_txn_begin(env, NULL, flags, out);
	}
	return mrc;
}
#define WRITE_BUF_LEN (1u << 20)

int arca_lmdb_error(int mdb_rc, const char *what)
{
	int code = ARCA_ERROR;
	if (mdb_rc == ENOSPC || mdb_rc == MDB_MAP_FULL)
		code = ARCA_ENOSPC;
	else if (mdb_rc == MDB_CORRUPTED || mdb_rc == MDB_PAGE_NOTFOUND || mdb_rc == MDB_INVALID)
		code = ARCA_ECORRUPT;
	else if (mdb_rc == MDB_NOTFOUND)
		code = ARCA_ENOTFOUND;
	else if (mdb_rc == ENOMEM)
		code = ARCA_ENOMEM;
	else if (mdb_rc > 0)
		code = ARCA_EIO;
	return arca_err_set(code, "index: %s: %s", what, mdb_strerror(mdb_rc));
}

static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);
	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

static void pack_path(char *out, size_t n, const arca_cas *cas, uint32_t no)
{
	snprintf(out, n, "%s/pack-%08u.arcp", cas->packdir, no);
}

int arca_cas_open(arca_cas **out, const char *dir)
{
	arca_cas *cas;
	char *lmdb_path = NULL;
	int rc, mrc, dead;

	cas = calloc(1, sizeof(*cas));
	if (!cas)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	pthread_mutex_init(&cas->fd_lock, NULL);
	cas->pack_target = ARCA_PACK_TARGET;
	cas->dir = strdup(dir);
	cas->packdir = path_join(dir, "packs");
	lmdb_path = path_join(dir, "index.lmdb");
	if (!cas->dir || !cas->packdir || !lmdb_path) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto fail;
	}
	if (mkdir(cas->packdir, 0755) < 0 && errno != EEXIST) {
		rc = arca_err_sys("create %s", cas->packdir);
		goto fail;
	}
	for (size_t i = 0; i < sizeof(map_sizes) / sizeof(map_sizes[0]); i++) {
		if ((mrc = mdb_env_create(&cas->env)) != 0 ||
		    (mrc = mdb_env_set_maxdbs(cas->env, 16)) != 0 ||
		    (mrc = mdb_env_set_mapsize(cas->env, map_sizes[i])) != 0 ||
		    (mrc = mdb_env_set_maxreaders(cas->env, 1022)) != 0) {
			rc = arca_lmdb_error(mrc, "create environment");
			goto fail;
		}
		/* NOTLS: worker threads hold read transactions while the
		 * calling thread holds the write transaction. */
		mrc = mdb_env_open(cas->env, lmdb_path, MDB_NOSUBDIR | MDB_NOTLS, 0644);
		if (mrc != ENOMEM && mrc != EINVAL)
			break;
		mdb_env_close(cas->env);
		cas->env = NULL;
	}
	if (mrc != 0) {
		rc = arca_lmdb_error(mrc, lmdb_path);
		goto fail;
	}
	mdb_reader_check(cas->env, &dead);
	{
		const char *names[] = { "chunks", "packs", "meta", "deadpacks", "macs" };
		MDB_dbi *dbis[] = { &cas->dbi_chunks, &cas->dbi_packs, &cas->dbi_meta, &cas->dbi_dead,
			&cas->dbi_macs };
		if ((rc = arca_cas_open_dbis(cas, names, dbis, 5)) != 0)
			goto fail;
	}
	free(lmdb_path);
	*out = cas;
	return 0;
fail:
	free(lmdb_path);
	arca_cas_free(cas);
	return rc;
}

void arca_cas_free(arca_cas *cas)
{
	if (!cas)
		return;
	for (size_t i = 0; i < cas->npack_fds; i++)
		if (cas->pack_fds[i] >= 0)
			close(cas->pack_fds[i]);
	free(cas->pack_fds);
	if (cas->env)
		mdb_env_close(cas->env);
	pthread_mutex_destroy(&cas->fd_lock);
	free(cas->dir);
	free(cas->packdir);
	free(cas);
}

/* Opens named databases, creating them only when missing, so opening an
 * existing store never waits for the writer. */
int arca_cas_open_dbis(arca_cas *cas, const char **names, MDB_dbi **dbis, size_t n)
{
	MDB_txn *txn;
	int mrc = 0;

	for (int create = 0; create < 2; create++) {
		mrc = arca_mdb_txn_begin(cas->env, create ? 0 : MDB_RDONLY, &txn);
		if (mrc)
			return arca_lmdb_error(mrc, "open databases");
		for (size_t i = 0; i < n && !mrc; i++)
			mrc = mdb_dbi_open(txn, names[i], create ? MDB_CREATE : 0, dbis[i]);
		if (mrc) {
			mdb_txn_abort(txn);
			if (mrc == MDB_NOTFOUND && !create)
				continue;
			return arca_lmdb_error(mrc, "open databases");
		}
		/* Committing (even read-only) keeps the handles open. */
		mrc = arca_cas__commit(txn);
		return mrc ? arca_lmdb_error(mrc, "open databases") : 0;
	}
	return arca_lmdb_error(mrc, "open databases");
}

int arca_cas_txn_read(arca_cas *cas, MDB_txn **out)
{
	int mrc = arca_mdb_txn_begin(cas->env, MDB_RDONLY, out);
	return mrc ? arca_lmdb_error(mrc, "begin read transaction") : 0;
}

size_t arca_chunk_loc_encode(uint8_t out[ARCA_LOC_GROUP_LEN], const arca_chunk_loc *loc)
{
	memset(out, 0, ARCA_LOC_GROUP_LEN);
	arca_put_le32(out, loc->pack);
	arca_put_le64(out + 4, loc->offset);
	arca_put_le32(out + 12, loc->stored_len);
	arca_put_le32(out + 16, loc->raw_len);
	out[20] = loc->codec;
	if (!loc->grouped)
		return ARCA_LOC_LEN;
	out[21] = 1;
	arca_put_le16(out + 22, loc->nmembers);
	arca_put_le32(out + 24, loc->member_off);
	arca_put_le32(out + 28, loc->group_raw);
	return ARCA_LOC_GROUP_LEN;
}

int arca_chunk_loc_decode(arca_chunk_loc *loc, const void *v, size_t n)
{
	const uint8_t *p = v;
	if (n != ARCA_LOC_LEN && n != ARCA_LOC_GROUP_LEN)
		return arca_err_set(ARCA_ECORRUPT, "index: chunk entry has %zu bytes", n);
	memset(loc, 0, sizeof(*loc));
	loc->pack = arca_get_le32(p);
	loc->offset = arca_get_le64(p + 4);
	loc->stored_len = arca_get_le32(p + 12);
	loc->raw_len = arca_get_le32(p + 16);
	loc->codec = p[20];
	if (loc->pack == 0 || loc->raw_len == 0 || loc->raw_len > ARCA_CHUNK_MAX_LIMIT ||
	    loc->stored_len == 0 || loc->stored_len > arca_record_stored_max() ||
	    loc->offset < ARCA_PACK_HEADER_LEN || loc->codec > ARCA_CODEC_ZSTD ||
	    (n == ARCA_LOC_LEN && p[21]))
		return arca_err_set(ARCA_ECORRUPT, "index: chunk entry out of range");
	if (n == ARCA_LOC_LEN)
		return p[22] || p[23] ? arca_err_set(ARCA_ECORRUPT, "index: chunk entry out of range") : 0;
	loc->grouped = 1;
	loc->nmembers = arca_get_le16(p + 22);
	loc->member_off = arca_get_le32(p + 24);
	loc->group_raw = arca_get_le32(p + 28);
	if (p[21] != 1 || loc->nmembers == 0 || loc->nmembers > ARCA_GROUP_MAX_MEMBERS ||
	    loc->group_raw > ARCA_GROUP_RAW_MAX || loc->member_off > loc->group_raw ||
	    loc->raw_len > loc->group_raw - loc->member_off)
		return arca_err_set(ARCA_ECORRUPT, "index: group member entry out of range");
	return 0;
}

uint64_t arca_chunk_loc_footprint(const arca_chunk_loc *loc)
{
	uint64_t whole = ARCA_RECORD_HEADER_LEN + (uint64_t)loc->stored_len;
	if (!loc->grouped)
		return whole;
	whole += (uint64_t)loc->nmembers * ARCA_GROUP_MEMBER_LEN;
	return loc->group_raw ? whole * loc->raw_len / loc->group_raw : whole;
}

int arca_cas_lookup(arca_cas *cas, MDB_txn *txn, const uint8_t id[32], arca_chunk_loc *loc)
{
	MDB_val k = { 32, (void *)id }, v;
	int mrc = mdb_get(txn, cas->dbi_chunks, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return ARCA_ENOTFOUND;
	if (mrc)
		return arca_lmdb_error(mrc, "chunk lookup");
	return arca_chunk_loc_decode(loc, v.mv_data, v.mv_size);
}

int arca_chunk_reader_init(arca_chunk_reader *r)
{
	memset(r, 0, sizeof(*r));
	return arca_decoder_new(&r->dec);
}

void arca_chunk_reader_release(arca_chunk_reader *r)
{
	arca_decoder_free(r->dec);
	free(r->stored);
	free(r->raw);
	free(r->graw);
	memset(r, 0, sizeof(*r));
}

static int ensure_cap(uint8_t **p, size_t *cap, size_t need)
{
	uint8_t *n;
	if (*cap >= need)
		return 0;
	n = realloc(*p, need);
	if (!n)
		return arca_err_set(ARCA_ENOMEM, "out of memory (%zu bytes)", need);
	*p = n;
	*cap = need;
	return 0;
}

static int pack_fd(arca_cas *cas, uint32_t no, int *out)
{
	int rc = 0;
	char path[4096];

	pthread_mutex_lock(&cas->fd_lock);
	if (no >= cas->npack_fds) {
		size_t n = no + 16;
		int *fds = realloc(cas->pack_fds, n * sizeof(int));
		if (!fds) {
			rc = arca_err_set(ARCA_ENOMEM, "out of memory");
			goto done;
		}
		for (size_t i = cas->npack_fds; i < n; i++)
			fds[i] = -1;
		cas->pack_fds = fds;
		cas->npack_fds = n;
	}
	if (cas->pack_fds[no] < 0) {
		pack_path(path, sizeof(path), cas, no);
		cas->pack_fds[no] = open(path, O_RDONLY | O_CLOEXEC);
		if (cas->pack_fds[no] < 0) {
			rc = arca_err_sys("open pack %08u", no);
			if (rc == ARCA_ENOTFOUND)
				rc = ARCA_ECORRUPT;
			goto done;
		}
	}
	*out = cas->pack_fds[no];
done:
	pthread_mutex_unlock(&cas->fd_lock);
	return rc;
}

/* Reads `total` bytes of the record at `loc` into r->stored. */
static int read_record_bytes(arca_cas *cas, const arca_chunk_loc *loc, size_t total,
		arca_chunk_reader *r, const char *what)
{
	ssize_t got;
	int fd, rc;
	r->gvalid = 0; /* r->stored is about to hold this record */
	if ((rc = pack_fd(cas, loc->pack, &fd)) != 0 ||
	    (rc = ensure_cap(&r->stored, &r->stored_cap, total)) != 0)
		return rc;
	got = arca_pread_full(fd, r->stored, total, (off_t)loc->offset);
	if (got < 0)
		return arca_err_sys("pack %08u: read at %llu", loc->pack,
			(unsigned long long)loc->offset);
	if ((size_t)got != total)
		return arca_err_set(ARCA_ECORRUPT, "pack %08u: %s at %llu is truncated",
			loc->pack, what, (unsigned long long)loc->offset);
	return 0;
}

int arca_cas_load_group(arca_cas *cas, const arca_chunk_loc *loc, arca_chunk_reader *r,
		const uint8_t **table)
{
	size_t tlen = (size_t)loc->nmembers * ARCA_GROUP_MEMBER_LEN;
	size_t total = ARCA_RECORD_HEADER_LEN + tlen + (size_t)loc->stored_len;
	arca_group g;
	int rc;

	if (r->gvalid && r->gpack == loc->pack && r->goff == loc->offset) {
		*table = r->stored + ARCA_RECORD_HEADER_LEN;
		return 0;
	}
	if ((rc = ensure_cap(&r->graw, &r->graw_cap, loc->group_raw)) != 0 ||
	    (rc = read_record_bytes(cas, loc, total, r, "group")) != 0)
		return rc;
	if ((rc = arca_group_decode(&g, r->stored, total)) != 0 ||
	    (rc = arca_group_table_check(&g, r->stored + ARCA_RECORD_HEADER_LEN)) != 0)
		return arca_err_wrap(rc, "pack %08u offset %llu", loc->pack,
			(unsigned long long)loc->offset);
	if (g.nmembers != loc->nmembers || g.raw_len != loc->group_raw ||
	    g.stored_len != loc->stored_len || g.codec != loc->codec)
		return arca_err_set(ARCA_ECORRUPT,
			"pack %08u offset %llu: group does not match the index",
			loc->pack, (unsigned long long)loc->offset);
	if ((rc = arca_group_unpack(r->dec, &g, r->stored + ARCA_RECORD_HEADER_LEN + tlen,
			r->graw, r->graw_cap)) != 0)
		return arca_err_wrap(rc, "pack %08u offset %llu", loc->pack,
			(unsigned long long)loc->offset);
	r->gvalid = 1;
	r->gpack = loc->pack;
	r->goff = loc->offset;
	*table = r->stored + ARCA_RECORD_HEADER_LEN;
	return 0;
}

/* A member of a group record: the group (decompressed once for
 * consecutive members) must list it where the index says; its bytes must
 * hash to its id. */
static int read_member(arca_cas *cas, const arca_chunk_loc *loc, const uint8_t id[32],
		arca_chunk_reader *r, const uint8_t **raw)
{
	const uint8_t *t;
	uint8_t digest[32];
	uint64_t off = 0;
	int found = 0, rc;

	if ((rc = arca_cas_load_group(cas, loc, r, &t)) != 0)
		return rc;
	for (uint32_t i = 0; i < loc->nmembers && off <= loc->member_off; i++) {
		const uint8_t *m = t + (size_t)i * ARCA_GROUP_MEMBER_LEN;
		if (off == loc->member_off && !memcmp(m, id, 32) &&
		    arca_get_le32(m + 32) == loc->raw_len)
			found = 1;
		off += arca_get_le32(m + 32);
	}
	if (!found)
		return arca_err_set(ARCA_ECORRUPT, "pack %08u offset %llu: group has no such member",
			loc->pack, (unsigned long long)loc->offset);
	if ((rc = arca_sha256_digest(digest, r->graw + loc->member_off, loc->raw_len)) != 0)
		return rc;
	if (memcmp(digest, id, 32) != 0) {
		char hex[17];
		arca_hex_encode(hex, id, 8);
		return arca_err_set(ARCA_ECORRUPT, "pack %08u: chunk %s: content does not match its id",
			loc->pack, hex);
	}
	*raw = r->graw + loc->member_off;
	return 0;
}

int arca_cas_read(arca_cas *cas, const arca_chunk_loc *loc, const uint8_t id[32],
		arca_chunk_reader *r, const uint8_t **raw)
{
	size_t total = ARCA_RECORD_HEADER_LEN + (size_t)loc->stored_len;
	arca_record rec;
	int rc;

	if (loc->grouped)
		return read_member(cas, loc, id, r, raw);
	if ((rc = ensure_cap(&r->raw, &r->raw_cap, loc->raw_len)) != 0 ||
	    (rc = read_record_bytes(cas, loc, total, r, "record")) != 0)
		return rc;
	if ((rc = arca_record_decode(&rec, r->stored, total)) != 0)
		return arca_err_wrap(rc, "pack %08u offset %llu", loc->pack,
			(unsigned long long)loc->offset);
	if (memcmp(rec.id, id, 32) != 0 || rec.raw_len != loc->raw_len ||
	    rec.stored_len != loc->stored_len || rec.codec != loc->codec)
		return arca_err_set(ARCA_ECORRUPT,
			"pack %08u offset %llu: record does not match the index",
			loc->pack, (unsigned long long)loc->offset);
	rc = arca_record_unpack(r->dec, &rec, r->stored + ARCA_RECORD_HEADER_LEN,
		r->raw, r->raw_cap);
	if (rc)
		return arca_err_wrap(rc, "pack %08u", loc->pack);
	*raw = r->raw;
	return 0;
}

int arca_cas_get(arca_cas *cas, MDB_txn *txn, const uint8_t id[32],
		arca_chunk_reader *r, const uint8_t **raw, uint32_t *len)
{
	arca_chunk_loc loc;
	int rc = arca_cas_lookup(cas, txn, id, &loc);
	if (rc == ARCA_ENOTFOUND)
		return arca_err_set(ARCA_ECORRUPT, "chunk missing from the store");
	if (rc)
		return rc;
	if ((rc = arca_cas_read(cas, &loc, id, r, raw)) != 0)
		return rc;
	*len = loc.raw_len;
	return 0;
}

int arca_meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int mrc = mdb_get(txn, dbi, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		*out = 0;
		return 0;
	}
	if (mrc)
		return arca_lmdb_error(mrc, key);
	if (v.mv_size != 8)
		return arca_err_set(ARCA_ECORRUPT, "index: meta %s has bad size", key);
	*out = arca_get_le64(v.mv_data);
	return 0;
}

int arca_meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t value)
{
	uint8_t buf[8];
	MDB_val k = { strlen(key), (void *)key }, v = { 8, buf };
	int mrc;
	arca_put_le64(buf, value);
	mrc = mdb_put(txn, dbi, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, key) : 0;
}

int arca_meta_add_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, int64_t delta)
{
	uint64_t v;
	int rc = arca_meta_get_u64(txn, dbi, key, &v);
	if (rc)
		return rc;
	return arca_meta_put_u64(txn, dbi, key, v + (uint64_t)delta);
}

/* ---- writer ---- */

struct arca_cas_writer {
	arca_cas *cas;
	MDB_txn *txn;
	uint8_t mac_key[32];
	uint32_t pack_no;      /* current pack, 0 = none open yet */
	int fd;
	uint64_t pack_len;     /* logical length incl. buffered bytes */
	uint32_t next_pack;    /* number for the next new pack (never reused) */
	int force_new;         /* start a new pack before the next append */
	uint64_t first_pack_committed; /* committed length of the pack we appended to */
	uint32_t first_pack_no;
	int created_pack;
	uint8_t *wbuf;
	size_t wlen;
	int64_t d_chunks, d_unique, d_stored;
	ZSTD_CCtx *cctx;       /* for put_raw */
	uint8_t *cbuf;
	size_t cbuf_cap;
};

static void pack_key(uint8_t k[4], uint32_t no)
{
	k[0] = (uint8_t)(no >> 24); k[1] = (uint8_t)(no >> 16);
	k[2] = (uint8_t)(no >> 8); k[3] = (uint8_t)no;
}

/* Highest committed pack and its committed length; 0 when none. */
static int last_pack(arca_cas *cas, MDB_txn *txn, uint32_t *no, uint64_t *len)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int mrc = mdb_cursor_open(txn, cas->dbi_packs, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "packs cursor");
	mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	mdb_cursor_close(cur);
	if (mrc == MDB_NOTFOUND) {
		*no = 0;
		*len = 0;
		return 0;
	}
	if (mrc)
		return arca_lmdb_error(mrc, "packs cursor");
	if (k.mv_size != 4 || v.mv_size != 8)
		return arca_err_set(ARCA_ECORRUPT, "index: bad pack entry");
	{
		const uint8_t *kp = k.mv_data;
		*no = (uint32_t)kp[0] << 24 | (uint32_t)kp[1] << 16 | (uint32_t)kp[2] << 8 | kp[3];
	}
	*len = arca_get_le64(v.mv_data);
	return 0;
}

/* Cuts off what a crashed writer appended but never committed. Runs
 * inside the write transaction, so no other writer is active. Pack files
 * numbered `next` and up were never committed. */
static int repair_tails(arca_cas *cas, uint32_t last_no, uint64_t last_len, uint32_t next)
{
	char path[4096];
	struct stat st;

	if (last_no > 0) {
		pack_path(path, sizeof(path), cas, last_no);
		if (stat(path, &st) < 0)
			return arca_err_set(ARCA_ECORRUPT, "pack %08u is missing", last_no);
		if ((uint64_t)st.st_size < last_len)
			return arca_err_set(ARCA_ECORRUPT,
				"pack %08u is shorter (%lld bytes) than committed (%llu)",
				last_no, (long long)st.st_size, (unsigned long long)last_len);
		if ((uint64_t)st.st_size > last_len && truncate(path, (off_t)last_len) < 0)
			return arca_err_sys("truncate torn tail of pack %08u", last_no);
	}
	for (uint32_t no = next;; no++) {
		pack_path(path, sizeof(path), cas, no);
		if (unlink(path) < 0) {
			if (errno == ENOENT)
				break;
			return arca_err_sys("remove uncommitted pack %08u", no);
		}
	}
	return 0;
}

int arca_cas_writer_begin(arca_cas_writer **out, arca_cas *cas)
{
	arca_cas_writer *w;
	uint32_t no = 0;
	uint64_t len = 0;
	int rc, mrc;

	w = calloc(1, sizeof(*w));
	if (!w)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	w->cas = cas;
	w->fd = -1;
	w->wbuf = malloc(WRITE_BUF_LEN);
	if (!w->wbuf) {
		free(w);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	mrc = arca_mdb_txn_begin(cas->env, 0, &w->txn);
	if (mrc) {
		free(w->wbuf);
		free(w);
		return arca_lmdb_error(mrc, "begin write transaction");
	}
	{
		uint64_t next = 0;
		if ((rc = last_pack(cas, w->txn, &no, &len)) != 0 ||
		    (rc = arca_meta_get_u64(w->txn, cas->dbi_meta, ARCA_META_PACK_NEXT, &next)) != 0) {
			arca_cas_writer_abort(w);
			return rc;
		}
		if (next <= no)
			next = (uint64_t)no + 1;
		if (next > UINT32_MAX - 1) {
			arca_cas_writer_abort(w);
			return arca_err_set(ARCA_ECORRUPT, "index: pack numbering out of range");
		}
		w->next_pack = (uint32_t)next;
		if ((rc = repair_tails(cas, no, len, w->next_pack)) != 0) {
			arca_cas_writer_abort(w);
			return rc;
		}
	}
	if ((rc = arca_cas_mac_key(cas, w->txn, w->mac_key)) == 0) {
		/* first writer of this store: make its secret */
		MDB_val k = { strlen(ARCA_META_MAC_KEY), (void *)ARCA_META_MAC_KEY },
			v = { sizeof(w->mac_key), w->mac_key };
		if ((rc = arca_mac_keygen(w->mac_key)) != 0 ||
		    (mrc = mdb_put(w->txn, cas->dbi_meta, &k, &v, 0)) != 0) {
			rc = rc ? rc : arca_lmdb_error(mrc, "store key");
			arca_cas_writer_abort(w);
			return rc;
		}
	} else if (rc < 0) {
		arca_cas_writer_abort(w);
		return rc;
	}
	if (no > 0 && len < cas->pack_target) {
		char path[4096];
		pack_path(path, sizeof(path), cas, no);
		w->fd = open(path, O_WRONLY | O_CLOEXEC);
		if (w->fd < 0) {
			rc = arca_err_sys("open pack %08u", no);
			arca_cas_writer_abort(w);
			return rc;
		}
		w->pack_no = no;
		w->pack_len = len;
		w->first_pack_no = no;
		w->first_pack_committed = len;
	} else {
		w->pack_no = no; /* full or none: the next put opens no+1 */
		w->pack_len = UINT64_MAX;
	}
	*out = w;
	return 0;
}

MDB_txn *arca_cas_writer_txn(arca_cas_writer *w)
{
	return w->txn;
}

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

int arca_cas_writer_has(arca_cas_writer *w, const uint8_t id[32])
{
	MDB_val k = { 32, (void *)id }, v;
	return mdb_get(w->txn, w->cas->dbi_chunks, &k, &v) == 0;
}

static int flush_wbuf(arca_cas_writer *w)
{
	off_t at;
	if (!w->wlen)
		return 0;
	at = (off_t)(w->pack_len - w->wlen);
	if (arca_pwrite_all(w->fd, w->wbuf, w->wlen, at) < 0)
		return arca_err_sys("write pack %08u", w->pack_no);
	w->wlen = 0;
	return 0;
}

static int record_pack_len(arca_cas_writer *w)
{
	uint8_t kb[4], vb[8];
	MDB_val k = { 4, kb }, v = { 8, vb };
	int mrc;
	pack_key(kb, w->pack_no);
	arca_put_le64(vb, w->pack_len);
	mrc = mdb_put(w->txn, w->cas->dbi_packs, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "record pack length") : 0;
}

/* Finishes the current pack (durable, length recorded) and starts the next. */
static int rotate_pack(arca_cas_writer *w)
{
	char path[4096];
	uint8_t hdr[ARCA_PACK_HEADER_LEN];
	int rc;

	if (w->fd >= 0) {
		if ((rc = flush_wbuf(w)) != 0)
			return rc;
		if (arca_fdatasync(w->fd) < 0)
			return arca_err_sys("sync pack %08u", w->pack_no);
		if ((rc = record_pack_len(w)) != 0)
			return rc;
		close(w->fd);
		w->fd = -1;
	}
	w->pack_no = w->next_pack++;
	if ((rc = arca_meta_put_u64(w->txn, w->cas->dbi_meta, ARCA_META_PACK_NEXT, w->next_pack)) != 0)
		return rc;
	pack_path(path, sizeof(path), w->cas, w->pack_no);
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return arca_err_sys("create pack %08u", w->pack_no);
	w->created_pack = 1;
	arca_pack_header_encode(hdr, w->pack_no);
	memcpy(w->wbuf, hdr, sizeof(hdr));
	w->wlen = sizeof(hdr);
	w->pack_len = sizeof(hdr);
	return 0;
}

static int append(arca_cas_writer *w, const void *p, size_t n)
{
	int rc;
	if (w->wlen + n > WRITE_BUF_LEN && (rc = flush_wbuf(w)) != 0)
		return rc;
	if (n > WRITE_BUF_LEN) {
		if (arca_pwrite_all(w->fd, p, n, (off_t)w->pack_len) < 0)
			return arca_err_sys("write pack %08u", w->pack_no);
	} else {
		memcpy(w->wbuf + w->wlen, p, n);
		w->wlen += n;
	}
	w->pack_len += n;
	return 0;
}

/* Appends one record to the current pack; *loc says where it went. */
static int append_record(arca_cas_writer *w, const uint8_t id[32], uint32_t raw_len,
		uint8_t codec, const void *stored, uint32_t stored_len, arca_chunk_loc *loc)
{
	uint8_t hdr[ARCA_RECORD_HEADER_LEN];
	arca_record rec;
	size_t rec_len = ARCA_RECORD_HEADER_LEN + (size_t)stored_len;
	int rc;

	if (w->pack_len == UINT64_MAX || w->force_new ||
	    (w->pack_len > ARCA_PACK_HEADER_LEN && w->pack_len + rec_len > w->cas->pack_target)) {
		if ((rc = rotate_pack(w)) != 0)
			return rc;
		w->force_new = 0;
	}
	memcpy(rec.id, id, 32);
	rec.codec = codec;
	rec.raw_len = raw_len;
	rec.stored_len = stored_len;
	arca_record_encode(hdr, &rec);
	memset(loc, 0, sizeof(*loc));
	loc->pack = w->pack_no;
	loc->offset = w->pack_len;
	loc->stored_len = stored_len;
	loc->raw_len = raw_len;
	loc->codec = codec;
	if ((rc = append(w, hdr, sizeof(hdr))) != 0)
		return rc;
	return append(w, stored, stored_len);
}

int arca_cas_writer_put(arca_cas_writer *w, const uint8_t id[32], uint32_t raw_len,
		uint8_t codec, const void *stored, uint32_t stored_len, int *added)
{
	uint8_t locb[ARCA_LOC_GROUP_LEN];
	arca_chunk_loc loc;
	MDB_val k = { 32, (void *)id }, v = { 0, locb };
	int rc, mrc;

	if (added)
		*added = 0;
	if (arca_cas_writer_has(w, id))
		return 0;
	if ((rc = append_record(w, id, raw_len, codec, stored, stored_len, &loc)) != 0)
		return rc;
	v.mv_size = arca_chunk_loc_encode(locb, &loc);
	mrc = mdb_put(w->txn, w->cas->dbi_chunks, &k, &v, MDB_NOOVERWRITE);
	if (mrc)
		return arca_lmdb_error(mrc, "add chunk");
	w->d_chunks++;
	w->d_unique += raw_len;
	w->d_stored += stored_len;
	if (added)
		*added = 1;
	return 0;
}

int arca_cas_writer_put_group(arca_cas_writer *w, const uint8_t (*ids)[32],
		const uint32_t *lens, uint32_t n, uint8_t codec, const void *stored,
		uint32_t stored_len, uint64_t *added, uint64_t *added_raw)
{
	uint8_t hdr[ARCA_RECORD_HEADER_LEN], *table = NULL;
	size_t tlen = (size_t)n * ARCA_GROUP_MEMBER_LEN, rec_len;
	arca_group g;
	uint64_t off = 0, nadded = 0, nraw = 0;
	uint32_t fresh = 0;
	uint64_t at;
	int rc, mrc;

	if (added)
		*added = 0;
	if (added_raw)
		*added_raw = 0;
	if (n == 0 || n > ARCA_GROUP_MAX_MEMBERS)
		return arca_err_set(ARCA_EINVAL, "group of %u members", n);
	for (uint32_t i = 0; i < n; i++)
		fresh += !arca_cas_writer_has(w, ids[i]);
	if (!fresh)
		return 0;
	if (!(table = malloc(tlen)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	memset(&g, 0, sizeof(g));
	for (uint32_t i = 0; i < n; i++) {
		memcpy(table + (size_t)i * ARCA_GROUP_MEMBER_LEN, ids[i], 32);
		arca_put_le32(table + (size_t)i * ARCA_GROUP_MEMBER_LEN + 32, lens[i]);
		g.raw_len += lens[i];
	}
	g.codec = codec;
	g.stored_len = stored_len;
	g.nmembers = n;
	if ((rc = arca_sha256_digest(g.table_hash, table, tlen)) != 0)
		goto done;
	arca_group_encode(hdr, &g);
	rec_len = ARCA_RECORD_HEADER_LEN + tlen + stored_len;
	if (w->pack_len == UINT64_MAX || w->force_new ||
	    (w->pack_len > ARCA_PACK_HEADER_LEN && w->pack_len + rec_len > w->cas->pack_target)) {
		if ((rc = rotate_pack(w)) != 0)
			goto done;
		w->force_new = 0;
	}
	at = w->pack_len;
	if ((rc = append(w, hdr, sizeof(hdr))) != 0 || (rc = append(w, table, tlen)) != 0 ||
	    (rc = append(w, stored, stored_len)) != 0)
		goto done;
	for (uint32_t i = 0; i < n; i++) {
		arca_chunk_loc loc = { w->pack_no, at, stored_len, lens[i], codec, 1, (uint16_t)n,
			(uint32_t)off, g.raw_len };
		uint8_t locb[ARCA_LOC_GROUP_LEN];
		MDB_val k = { 32, (void *)ids[i] }, v = { 0, locb };
		off += lens[i];
		if (arca_cas_writer_has(w, ids[i]))
			continue; /* also repeats inside this group */
		v.mv_size = arca_chunk_loc_encode(locb, &loc);
		if ((mrc = mdb_put(w->txn, w->cas->dbi_chunks, &k, &v, MDB_NOOVERWRITE)) != 0) {
			rc = arca_lmdb_error(mrc, "add chunk");
			goto done;
		}
		nadded++;
		nraw += lens[i];
	}
	w->d_chunks += (int64_t)nadded;
	w->d_unique += (int64_t)nraw;
	w->d_stored += (int64_t)(tlen + stored_len);
	if (added)
		*added = nadded;
	if (added_raw)
		*added_raw = nraw;
done:
	free(table);
	return rc;
}

int arca_cas_writer_move(arca_cas_writer *w, const uint8_t id[32], const arca_chunk_loc *old,
		const void *stored, arca_chunk_loc *out)
{
	return append_record(w, id, old->raw_len, old->codec, stored, old->stored_len, out);
}

void arca_cas_writer_new_pack(arca_cas_writer *w)
{
	w->force_new = 1;
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
	pack_key(kb, no);
	mrc = mdb_del(w->txn, w->cas->dbi_packs, &k, NULL);
	if (mrc && mrc != MDB_NOTFOUND)
		return arca_lmdb_error(mrc, "retire pack");
	/* readers whose snapshot predates this transaction may still read it */
	arca_put_le64(vb, (uint64_t)mdb_txn_id(w->txn));
	mrc = mdb_put(w->txn, w->cas->dbi_dead, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "retire pack") : 0;
}

int arca_cas_writer_add_stats(arca_cas_writer *w, int64_t chunks, int64_t unique, int64_t stored)
{
	w->d_chunks += chunks;
	w->d_unique += unique;
	w->d_stored += stored;
	return 0;
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
	char path[4096];
	int dead, rc = 0, mrc;

	*deleted = *pending = 0;
	/* Take the write lock first: then no other gc can retire a pack
	 * between our look at the readers and the deletions. */
	if ((mrc = arca_mdb_txn_begin(cas->env, 0, &txn)) != 0)
		return arca_lmdb_error(mrc, "begin write transaction");
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
		no = (uint32_t)kp[0] << 24 | (uint32_t)kp[1] << 16 | (uint32_t)kp[2] << 8 | kp[3];
		if (arca_get_le64(v.mv_data) > oldest) {
			(*pending)++;
			continue;
		}
		pack_path(path, sizeof(path), cas, no);
		if (unlink(path) < 0 && errno != ENOENT) {
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
	mrc = arca_cas__commit(txn);
	txn = NULL;
	if (mrc)
		rc = arca_lmdb_error(mrc, "commit");
done:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

static int compress_into(arca_cas_writer *w, const void *raw, uint32_t len, int level,
		size_t *clen)
{
	size_t bound = ZSTD_compressBound(len);
	int rc;
	if (!w->cctx) {
		w->cctx = ZSTD_createCCtx();
		if (!w->cctx)
			return arca_err_set(ARCA_ENOMEM, "out of memory (zstd)");
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	}
	if ((rc = ensure_cap(&w->cbuf, &w->cbuf_cap, bound)) != 0)
		return rc;
	*clen = ZSTD_compress2(w->cctx, w->cbuf, bound, raw, len);
	if (ZSTD_isError(*clen))
		return arca_err_set(ARCA_ERROR, "zstd: %s", ZSTD_getErrorName(*clen));
	return 0;
}

int arca_cas_writer_rewrite(arca_cas_writer *w, const uint8_t id[32], const void *raw,
		uint32_t len, int level, arca_chunk_loc *out)
{
	uint8_t locb[ARCA_LOC_GROUP_LEN];
	MDB_val k = { 32, (void *)id }, v = { 0, locb };
	size_t clen;
	int rc, mrc;
	if ((rc = compress_into(w, raw, len, level, &clen)) != 0)
		return rc;
	if (clen < len)
		rc = append_record(w, id, len, ARCA_CODEC_ZSTD, w->cbuf, (uint32_t)clen, out);
	else
		rc = append_record(w, id, len, ARCA_CODEC_RAW, raw, len, out);
	if (rc)
		return rc;
	v.mv_size = arca_chunk_loc_encode(locb, out);
	if ((mrc = mdb_put(w->txn, w->cas->dbi_chunks, &k, &v, 0)) != 0)
		return arca_lmdb_error(mrc, "update chunk location");
	return 0;
}

int arca_cas_writer_put_raw(arca_cas_writer *w, const void *raw, uint32_t len,
		int level, uint8_t id_out[32])
{
	size_t clen;
	int rc;

	if ((rc = arca_sha256_digest(id_out, raw, len)) != 0)
		return rc;
	if (arca_cas_writer_has(w, id_out))
		return 0;
	if ((rc = compress_into(w, raw, len, level, &clen)) != 0)
		return rc;
	if (clen < len)
		return arca_cas_writer_put(w, id_out, len, ARCA_CODEC_ZSTD, w->cbuf,
			(uint32_t)clen, NULL);
	return arca_cas_writer_put(w, id_out, len, ARCA_CODEC_RAW, raw, len, NULL);
}

static void writer_free(arca_cas_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	ZSTD_freeCCtx(w->cctx);
	free(w->cbuf);
	free(w->wbuf);
	free(w);
}

int arca_cas_writer_commit(arca_cas_writer *w)
{
	arca_cas *cas = w->cas;
	int rc = 0, mrc;

	if (w->fd >= 0 && w->pack_len != UINT64_MAX &&
	    (w->pack_len != w->first_pack_committed || w->pack_no != w->first_pack_no)) {
		if ((rc = flush_wbuf(w)) != 0)
			goto fail;
		if (arca_fdatasync(w->fd) < 0) {
			rc = arca_err_sys("sync pack %08u", w->pack_no);
			goto fail;
		}
		if ((rc = record_pack_len(w)) != 0)
			goto fail;
	}
	if (w->created_pack && arca_fsync_dir(cas->packdir) < 0) {
		rc = arca_err_sys("sync %s", cas->packdir);
		goto fail;
	}
	if ((w->d_chunks || w->d_unique || w->d_stored) &&
	    ((rc = arca_meta_add_u64(w->txn, cas->dbi_meta, ARCA_META_CHUNKS, w->d_chunks)) != 0 ||
	     (rc = arca_meta_add_u64(w->txn, cas->dbi_meta, ARCA_META_UNIQUE, w->d_unique)) != 0 ||
	     (rc = arca_meta_add_u64(w->txn, cas->dbi_meta, ARCA_META_STORED, w->d_stored)) != 0))
		goto fail;
	mrc = arca_cas__commit(w->txn);
	w->txn = NULL;
	if (mrc) {
		rc = arca_lmdb_error(mrc, "commit");
		goto fail;
	}
	writer_free(w);
	return 0;
fail:
	arca_cas_writer_abort(w);
	return rc;
}

void arca_cas_writer_abort(arca_cas_writer *w)
{
	if (!w)
		return;
	/* Cut our appends while we still hold the write transaction: once it
	 * is gone another writer may append and commit to the same pack.
	 * Best effort; the next writer repairs whatever is left. */
	if (w->txn && w->first_pack_no && w->fd >= 0 && w->pack_no == w->first_pack_no)
		if (arca_ftruncate(w->fd, (off_t)w->first_pack_committed) < 0) { /* repaired later */ }
	if (w->txn)
		mdb_txn_abort(w->txn);
	writer_free(w);
}
