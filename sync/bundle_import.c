/*
 * arca_import: a bundle (docs/FORMAT.md, "Bundle") read in one pass from
 * a file or a pipe. Every member is hostile until checked: its name must
 * be the next key the format allows, its size within its kind's cap
 * before a byte of it is read; packs stream through the remote-pack
 * reader into this store's write (every chunk hashed on the way), each
 * artifact's manifest is read back from what is staged and must hash to
 * its id and name only chunks the store now has. The artifacts and refs
 * go into the same write, committed once at the end: any failure aborts
 * it and leaves the store exactly as it was.
 */
#include "arca/remote.h"
#include "cas/cas.h"
#include "cas/hash.h"
#include "store/history.h"
#include "store/journal.h"
#include "store/manifest.h"
#include "store/names.h"
#include "store/record.h"
#include "store/store.h"
#include "sync/bundle_tar.h"
#include "sync/fetch.h"
#include "sync/sync.h"
#include "sync/idset.h"
#include "sync/layout.h"
#include "sync/pidx_scan.h"
#include "sync/rpack.h"
#include "util/array.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/hex.h"
#include "util/progress.h"
#include "util/version.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

enum { K_HEADER, K_MARKER, K_PACK, K_INDEX, K_ARTO, K_REF };

/* Where the member sequence is: what may come next. */
enum {
	S_HEADER,   /* arca-bundle */
	S_MARKER,   /* ARCA-REMOTE */
	S_PACKS,    /* a pack, or the first artifact */
	S_INDEX,    /* the index of the pack just read */
	S_ARTS,     /* the next artifact, or the first ref */
	S_REFS      /* the next ref */
};

typedef struct {
	arca_id id;
	int64_t created_ns;
} art_seen;

typedef struct {
	arca_store *s;
	arca_cas_writer *w;
	struct archive *ar;
	arca_sync_result *out;
	arca_progress_state ps;
	int force;                /* move refs even to unrelated artifacts */
	arca_bundle_header h;
	int state;
	/* packs read, in order, and the one whose index comes next */
	uint8_t (*packs)[32];
	size_t npacks, pack_cap;
	uint64_t pack_size;
	/* the index the pack just read must come with */
	arca_pidx_scan scan;
	int scanning;
	/* chunk -> the first pack of the bundle that holds it; chunks that
	 * more than one holds */
	arca_idset where, multi;
	/* per pack: the artifact being checked lists it */
	uint8_t *listed;
	/* the artifacts the refs name, each once, in the header's order */
	art_seen *arts;
	size_t narts, next_art;
	size_t next_ref;
	/* member data */
	uint8_t *buf;
	size_t buf_cap;
	arca_chunk_reader cr;
} importer;

static int corrupt(const char *fmt, const char *name)
{
	return arca_err_set(ARCA_ECORRUPT, fmt, name);
}

/* ---- member names ---- */

/* packs/<64 hex>.arcp or .idx, artifacts/<64 hex>: lower-case hex only. */
static int parse_hex_key(const char *name, const char *prefix, const char *suffix,
		uint8_t out[32])
{
	size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(name);
	if (n != pl + 64 + sl || memcmp(name, prefix, pl) || memcmp(name + n - sl, suffix, sl))
		return 0;
	for (size_t i = pl; i < pl + 64; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return arca_hex_decode(out, 32, name + pl, 64) == 64;
}

static int classify(const char *name, uint8_t sha[32], char *rname, char *rtag, uint64_t *seq)
{
	arca_buf again = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	int ok;
	if (!strcmp(name, ARCA_BUNDLE_HEADER_KEY))
		return K_HEADER;
	if (!strcmp(name, ARCA_LAYOUT_MARKER_KEY))
		return K_MARKER;
	if (parse_hex_key(name, "packs/", ".arcp", sha))
		return K_PACK;
	if (parse_hex_key(name, "packs/", ".idx", sha))
		return K_INDEX;
	if (parse_hex_key(name, "artifacts/", "", sha))
		return K_ARTO;
	if (strncmp(name, "refs/", 5) || arca_layout_parse_ref_key(name, rname, ARCA_NAME_MAX + 1,
			rtag, ARCA_TAG_MAX + 1, seq) != 0)
		return -1;
	/* only the canonical spelling of the key */
	ok = arca_layout_ref_key(&again, rname, rtag, *seq) == 0 &&
		!strcmp(arca_buf_cstr(&again), name);
	arca_buf_release(&again);
	return ok ? K_REF : -1;
}

static int bad_name(const char *name)
{
	if (name[0] == '/')
		return corrupt("bundle: member '%.300s' has an absolute name", name);
	if (!strcmp(name, "..") || !strncmp(name, "../", 3) || strstr(name, "/../") ||
	    (strlen(name) >= 3 && !strcmp(name + strlen(name) - 3, "/..")))
		return corrupt("bundle: member '%.300s' climbs out with '..'", name);
	return corrupt("bundle: member '%.300s' is not a bundle key", name);
}

/* ---- reading a member ---- */

static int data_error(importer *im, const char *name)
{
	const char *m = archive_error_string(im->ar);
	return arca_err_set(ARCA_ECORRUPT, "bundle: member %.300s: %s", name,
		m ? m : "unreadable");
}

static int read_all(importer *im, const char *name, size_t size)
{
	size_t got = 0;
	la_ssize_t r;
	int rc;
	if ((rc = arca_array_resize(&im->buf, &im->buf_cap, size + 1, 1)) != 0)
		return rc;
	while (got < size) {
		r = archive_read_data(im->ar, im->buf + got, size - got);
		if (r < 0)
			return data_error(im, name);
		if (r == 0)
			return corrupt("bundle: member %.300s is truncated", name);
		got += (size_t)r;
	}
	if ((r = archive_read_data(im->ar, im->buf, 1)) < 0)
		return data_error(im, name);
	if (r > 0)
		return corrupt("bundle: member %.300s is longer than its header says", name);
	return arca_progress__add(&im->ps, 0, size);
}

/* ---- the header ---- */

static int take_header(importer *im, size_t size)
{
	MDB_txn *txn;
	int rc;

	if ((rc = read_all(im, ARCA_BUNDLE_HEADER_KEY, size)) != 0 ||
	    (rc = arca_bundle_header_decode(&im->h, im->buf, size)) != 0)
		return rc;
	if (im->h.nrefs == 0)
		return arca_err_set(ARCA_ECORRUPT, "bundle: the header names no ref");
	im->arts = calloc(im->h.nrefs, sizeof(art_seen));
	if (!im->arts)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (size_t i = 0; i < im->h.nrefs; i++) {
		int dup = 0;
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(im->h.names[i], im->h.names[j]) && !strcmp(im->h.tags[i], im->h.tags[j]))
				return arca_err_set(ARCA_ECORRUPT, "bundle: ref %s:%s is listed twice",
					im->h.names[i], im->h.tags[i]);
		}
		for (size_t j = 0; j < im->narts && !dup; j++)
			dup = !memcmp(im->arts[j].id.bytes, im->h.ids[i].bytes, 32);
		if (!dup)
			im->arts[im->narts++].id = im->h.ids[i];
	}

	/* the write starts here: packs are staged in it */
	if ((rc = arca_store__writer_begin(&im->w, im->s)) != 0)
		return rc;
	txn = arca_cas_writer_txn(im->w);
	for (size_t i = 0; i < im->h.nsince; i++) {
		MDB_val k = { 32, im->h.since[i].bytes }, v;
		int mrc = mdb_get(txn, im->s->dbi_artifacts, &k, &v);
		if (mrc == MDB_NOTFOUND) {
			char hex[ARCA_ID_STRLEN];
			arca_id_format(hex, &im->h.since[i]);
			return arca_err_set(ARCA_ENOTFOUND, "bundle is based on %s (--since), which "
				"this store does not have: import that first", hex);
		}
		if (mrc)
			return arca_lmdb_error(mrc, "artifact lookup");
	}
	return 0;
}

/* ---- packs and their indexes ---- */

/* Every chunk the store lacks (the reader asks the writer). */
static int want(const uint8_t id[32], void *ctx)
{
	(void)id;
	(void)ctx;
	return 1;
}

static int take_pack(importer *im, const char *name, const uint8_t sha[32], size_t size)
{
	arca_rpack_reader *r = NULL;
	uint64_t staged = 0, got = 0;
	int rc;

	for (size_t i = 0; i < im->npacks; i++)
		if (!memcmp(im->packs[i], sha, 32))
			return corrupt("bundle: duplicate member %.300s", name);
	if ((rc = arca_array_grow(&im->packs, &im->pack_cap, im->npacks + 1, 32, 16)) != 0 ||
	    (rc = arca_array_resize(&im->buf, &im->buf_cap, 1u << 20, 1)) != 0)
		return rc;
	if (im->scanning)
		arca_pidx_scan_release(&im->scan);
	arca_pidx_scan_init(&im->scan);
	im->scanning = 1;
	if ((rc = arca_rpack_reader_new(&r, im->w, sha, 0, want, im)) != 0)
		return rc;
	for (;;) {
		la_ssize_t n = archive_read_data(im->ar, im->buf, 1u << 20);
		if (n < 0) {
			rc = data_error(im, name);
			goto done;
		}
		if (n == 0)
			break;
		got += (uint64_t)n;
		if ((rc = arca_rpack_reader_feed(r, im->buf, (size_t)n)) != 0) {
			rc = arca_err_wrap(rc, "bundle: member %.300s", name);
			goto done;
		}
		if ((rc = arca_pidx_scan_feed(&im->scan, im->buf, (size_t)n)) != 0 ||
		    (rc = arca_progress__add(&im->ps, 0, (uint64_t)n)) != 0)
			goto done;
	}
	if (got != size) {
		rc = corrupt("bundle: member %.300s is truncated", name);
		goto done;
	}
	if ((rc = arca_rpack_reader_finish(r, &staged)) != 0) {
		rc = arca_err_wrap(rc, "bundle: member %.300s", name);
		goto done;
	}
	memcpy(im->packs[im->npacks++], sha, 32);
	im->pack_size = size;
	im->out->chunks += staged;
done:
	arca_rpack_reader_free(r);
	return rc;
}

/* The index must be the one the pack just read has: its name, its size
 * and the place of every chunk in it. */
static int take_index(importer *im, const char *name, size_t size)
{
	int rc;
	if (size != (uint64_t)ARCA_PIDX_HEADER_LEN + (uint64_t)im->scan.n * ARCA_PIDX_ENTRY_LEN + 32)
		return corrupt("bundle: %.300s does not index the pack before it", name);
	if ((rc = read_all(im, name, size)) != 0)
		return rc;
	if ((rc = arca_pidx_scan_check(&im->scan, im->packs[im->npacks - 1], im->pack_size,
			im->buf, size)) != 0)
		return arca_err_wrap(rc, "bundle: member %.300s", name);
	for (size_t i = 0; i < im->scan.n; i++) {
		rc = arca_idset_put(&im->where, im->scan.e[i].id, (uint32_t)(im->npacks - 1));
		if (rc == 0)
			rc = arca_idset_add(&im->multi, im->scan.e[i].id);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- artifacts ---- */

/* A chunk this bundle carries must be in a pack the artifact object
 * lists: unpacked, the bundle is a remote that pulls go by. */
static int placed(importer *im, const uint8_t id[32])
{
	uint32_t p;
	char hex[17];
	if (!arca_idset_get(&im->where, id, &p) || im->listed[p] || arca_idset_has(&im->multi, id))
		return 0;
	arca_hex_encode(hex, id, 8);
	return arca_err_set(ARCA_ECORRUPT, "its object does not list the pack that holds chunk %s",
		hex);
}

/* The manifest's bytes, read back from the chunks this write has (staged
 * or committed), each checked against its id, all hashed. */
typedef struct {
	importer *im;
	const arca_artifact_rec *rec;
	arca_sha256 *hash;
	uint32_t next;
	const uint8_t *cur;
	size_t cur_len, cur_off;
	uint64_t total;
} mf_src;

static int mf_read(void *ctx, void *p, size_t n)
{
	mf_src *m = ctx;
	uint8_t *c = p;
	size_t done = 0;
	int rc;

	while (done < n) {
		if (m->cur_off == m->cur_len) {
			uint32_t len;
			if (m->next == m->rec->nchunks)
				return done == 0 ? ARCA_ENOTFOUND :
					arca_err_set(ARCA_ECORRUPT, "manifest: truncated");
			rc = arca_cas_get(m->im->s->cas, arca_cas_writer_txn(m->im->w),
				m->rec->chunk_ids[m->next], &m->im->cr, &m->cur, &len);
			if (rc == ARCA_ENOTFOUND)
				return arca_err_set(ARCA_ECORRUPT, "a manifest chunk is in neither the "
					"bundle nor the store");
			if (rc || (rc = placed(m->im, m->rec->chunk_ids[m->next])) != 0)
				return rc;
			if (len != m->rec->chunk_lens[m->next])
				return arca_err_set(ARCA_ECORRUPT, "manifest chunk has the wrong length");
			if ((rc = arca_sha256_update(m->hash, m->cur, len)) != 0)
				return rc;
			m->cur_len = len;
			m->cur_off = 0;
			m->next++;
			m->total += len;
		}
		size_t k = m->cur_len - m->cur_off;
		if (k > n - done)
			k = n - done;
		memcpy(c + done, m->cur + m->cur_off, k);
		m->cur_off += k;
		done += k;
	}
	return 0;
}

static int need_chunk(importer *im, const uint8_t id[32])
{
	char hex[17];
	if (arca_cas_writer_has(im->w, id))
		return placed(im, id);
	arca_hex_encode(hex, id, 8);
	return arca_err_set(ARCA_ECORRUPT, "needs chunk %s, which neither the bundle nor the "
		"store has", hex);
}

/* Walks the manifest: it must parse to its end, hash to the id, and
 * every data chunk it names must be here. */
static int check_manifest(importer *im, const arca_artifact_rec *rec)
{
	arca_mf_reader *r = malloc(sizeof(*r));
	mf_src m;
	arca_mf_entry e;
	uint8_t id[32], d[32];
	uint64_t len, logical = 0, data = 0;
	int kind, has_id, rc;

	memset(&m, 0, sizeof(m));
	m.im = im;
	m.rec = rec;
	if (!r)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if ((rc = arca_sha256_new(&m.hash)) != 0)
		goto done;
	if ((rc = arca_cas_writer_flush(im->w)) != 0)
		goto done;
	arca_mf_reader_init(r, mf_read, &m);
	if ((rc = arca_mf_read_header(r, &kind)) != 0)
		goto done;
	if (kind != (int)rec->a.kind) {
		rc = arca_err_set(ARCA_ECORRUPT, "manifest kind differs from the record");
		goto done;
	}
	for (;;) {
		if (kind == ARCA_KIND_TREE) {
			if ((rc = arca_mf_next_entry(r, &e, NULL)) <= 0)
				break;
			if (e.type != ARCA_MF_FILE)
				continue;
		}
		while ((rc = arca_mf_next_extent(r, id, &len, &has_id)) == 1) {
			if (logical + len < logical) {
				rc = arca_err_set(ARCA_ECORRUPT, "manifest: sizes overflow");
				goto done;
			}
			logical += len;
			data += has_id ? len : 0;
			if (has_id && (rc = need_chunk(im, id)) != 0)
				goto done;
		}
		if (rc < 0)
			goto done;
		if (kind == ARCA_KIND_IMAGE) {
			rc = arca_mf_read_finish(r);
			break;
		}
		if ((rc = arca_progress__cancelled(&im->ps)) != 0)
			goto done;
	}
	if (rc)
		goto done;
	if (m.next != rec->nchunks || m.cur_off != m.cur_len) {
		rc = arca_err_set(ARCA_ECORRUPT, "manifest has bytes past its end");
		goto done;
	}
	if ((rc = arca_sha256_final(m.hash, d)) != 0)
		goto done;
	if (memcmp(d, rec->a.id.bytes, 32) != 0 || m.total != rec->a.manifest_bytes)
		rc = arca_err_set(ARCA_ECORRUPT, "manifest does not hash to the artifact id");
	else if (logical != rec->a.logical_bytes || data != rec->a.data_bytes)
		rc = arca_err_set(ARCA_ECORRUPT, "the record's sizes differ from the manifest's");
done:
	arca_sha256_free(m.hash);
	free(r);
	return rc;
}

/* 1 + the pack's number in the bundle, or 0. */
static size_t known_pack(importer *im, const uint8_t sha[32])
{
	for (size_t i = 0; i < im->npacks; i++)
		if (!memcmp(im->packs[i], sha, 32))
			return i + 1;
	return 0;
}

static int take_artifact(importer *im, const char *name, const uint8_t idb[32], size_t size)
{
	arca_artifact_rec rec;
	arca_buf again = ARCA_BUF_INIT(ARCA_RECORD_MAX);
	arca_arto o;
	art_seen *a = &im->arts[im->next_art];
	MDB_txn *txn = arca_cas_writer_txn(im->w);
	MDB_val k = { 32, (void *)idb }, v;
	char hex[ARCA_ID_STRLEN];
	int rc, mrc;

	memset(&rec, 0, sizeof(rec));
	if (memcmp(a->id.bytes, idb, 32) != 0) {
		for (size_t i = 0; i < im->next_art; i++)
			if (!memcmp(im->arts[i].id.bytes, idb, 32))
				return corrupt("bundle: duplicate member %.300s", name);
		return corrupt("bundle: member %.300s is out of order", name);
	}
	arca_id_format(hex, &a->id);
	if ((rc = read_all(im, name, size)) != 0)
		return rc;
	if ((rc = arca_arto_decode(&o, im->buf, size)) != 0 ||
	    (rc = arca_artifact_rec_decode(&rec, &a->id, o.record, o.record_len)) != 0 ||
	    (rc = arca_fetch__check_record(&rec)) != 0)
		goto bad;
	if ((rc = arca_artifact_rec_encode(&again, &rec)) != 0)
		goto bad;
	if (again.len != o.record_len || memcmp(again.ptr, o.record, again.len)) {
		rc = arca_err_set(ARCA_ECORRUPT, "record is not in canonical form");
		goto bad;
	}
	free(im->listed);
	if (!(im->listed = calloc(im->npacks + 1, 1))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	for (uint32_t i = 0; i < o.npacks; i++) {
		size_t no = known_pack(im, o.packs[i]);
		if (!no) {
			rc = arca_err_set(ARCA_ECORRUPT, "names a pack the bundle does not hold");
			goto bad;
		}
		im->listed[no - 1] = 1;
	}
	if ((rc = check_manifest(im, &rec)) != 0)
		goto bad;
	a->created_ns = rec.a.created_ns;
	/* content already here keeps the record of its first snapshot */
	mrc = mdb_get(txn, im->s->dbi_artifacts, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		if ((rc = arca_store__art_put(im->s, txn, &a->id, o.record, o.record_len)) != 0)
			goto done;
		im->out->artifacts++;
	} else if (mrc) {
		rc = arca_lmdb_error(mrc, "artifact lookup");
		goto done;
	}
	im->next_art++;
	goto done;
bad:
	/* a manifest that ends early reads as "not found" */
	rc = arca_err_wrap(rc == ARCA_ENOTFOUND ? ARCA_ECORRUPT : rc, "bundle: artifact %s", hex);
done:
	arca_artifact_rec_clear(&rec);
	arca_buf_release(&again);
	return rc;
}

/* ---- refs ---- */

static int take_ref(importer *im, const char *name, const char *rname, const char *rtag,
		uint64_t seq, size_t size)
{
	size_t i = im->next_ref;
	const art_seen *a = NULL;
	arca_ref_entry e;
	MDB_txn *txn = arca_cas_writer_txn(im->w);
	MDB_val k, v;
	char key[ARCA_REF_KEY_MAX + 1];
	int rc, n, moved;

	if (i == im->h.nrefs || strcmp(rname, im->h.names[i]) || strcmp(rtag, im->h.tags[i])) {
		for (size_t j = 0; j < i; j++)
			if (!strcmp(rname, im->h.names[j]) && !strcmp(rtag, im->h.tags[j]))
				return corrupt("bundle: duplicate member %.300s", name);
		return corrupt("bundle: member %.300s is out of order", name);
	}
	if (seq != 1)
		return corrupt("bundle: ref entry %.300s is not the first", name);
	if ((rc = read_all(im, name, size)) != 0)
		return rc;
	if ((rc = arca_ref_entry_decode(&e, im->buf, size)) != 0)
		return arca_err_wrap(rc, "bundle: member %.300s", name);
	for (size_t j = 0; j < im->narts && !a; j++)
		if (!memcmp(im->arts[j].id.bytes, im->h.ids[i].bytes, 32))
			a = &im->arts[j];
	if (strcmp(e.name, rname) || strcmp(e.tag, rtag) || e.seq != 1 || e.deleted ||
	    e.has_prev || memcmp(e.id.bytes, im->h.ids[i].bytes, 32) || !a ||
	    e.time_ns != a->created_ns)
		return corrupt("bundle: ref entry %.300s does not match the bundle's header", name);

	n = snprintf(key, sizeof(key), "%s:%s", rname, rtag);
	k.mv_size = (size_t)n;
	k.mv_data = key;
	moved = 1;
	if (mdb_get(txn, im->s->dbi_refs, &k, &v) == 0 && v.mv_size == 32) {
		arca_id here;
		memcpy(here.bytes, v.mv_data, 32);
		moved = memcmp(here.bytes, e.id.bytes, 32) != 0;
		/* as a pull: a ref moves only forward, unless forced (an older
		 * bundle imported late must not rewind it) */
		if (moved && !im->force && !arca_sync__is_ancestor(im->s, txn, &here, &e.id)) {
			char mine[ARCA_ID_STRLEN], theirs[ARCA_ID_STRLEN];
			arca_id_format(mine, &here);
			arca_id_format(theirs, &e.id);
			return arca_err_set(ARCA_EEXISTS, "ref %s is at %s here, which %s from the "
				"bundle does not descend from", key, mine, theirs);
		}
	}
	if (!moved) {
		im->next_ref++;
		return 0;
	}
	/* a ref moved here is one more entry in the name's history, at the
	 * time of the snapshot it names */
	if ((rc = arca_store__ref_put(im->s, txn, key, (size_t)n, &e.id)) != 0 ||
	    (rc = arca_store__journal_history(im->s, txn, rname, &e.id, e.time_ns)) != 0 ||
	    (rc = arca_store__history_put(im->s, txn, rname, strlen(rname), &e.id, e.time_ns)) != 0)
		return rc;
	im->out->refs_moved++;
	im->next_ref++;
	return 0;
}

/* ---- the member loop ---- */

static uint64_t cap_of(int kind)
{
	switch (kind) {
	case K_PACK: return ARCA_BUNDLE_MAX_PACK;
	case K_INDEX: return ARCA_BUNDLE_MAX_INDEX;
	case K_ARTO: return ARCA_BUNDLE_MAX_ARTO;
	case K_HEADER: return ARCA_BUNDLE_HEADER_MAX;
	default: return ARCA_BUNDLE_MAX_SMALL;
	}
}

/* Whether a member of `kind` may come in state `st`. */
static int allowed(int st, int kind)
{
	switch (st) {
	case S_HEADER: return kind == K_HEADER;
	case S_MARKER: return kind == K_MARKER;
	case S_PACKS: return kind == K_PACK || kind == K_ARTO;
	case S_INDEX: return kind == K_INDEX;
	case S_ARTS: return kind == K_ARTO || kind == K_REF;
	default: return kind == K_REF;
	}
}

static int take_member(importer *im, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	char rname[ARCA_NAME_MAX + 1], rtag[ARCA_TAG_MAX + 1];
	uint8_t sha[32];
	uint64_t seq = 0;
	int64_t size;
	int kind, rc;

	if (!name || !*name)
		return arca_err_set(ARCA_ECORRUPT, "bundle: a member has no name");
	if ((kind = classify(name, sha, rname, rtag, &seq)) < 0)
		return bad_name(name);
	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) ||
	    archive_entry_symlink(e))
		return corrupt("bundle: member %.300s is not a regular file", name);
	if (archive_entry_sparse_count(e) != 0)
		return corrupt("bundle: member %.300s is a sparse file", name);
	if (!archive_entry_size_is_set(e) || (size = archive_entry_size(e)) < 0)
		return corrupt("bundle: member %.300s has no size", name);
	if ((uint64_t)size > cap_of(kind))
		return corrupt("bundle: member %.300s is larger than its kind allows", name);
	if (!allowed(im->state, kind)) {
		if (kind == K_HEADER || (kind == K_MARKER && im->state > S_MARKER) ||
		    (kind == K_PACK && known_pack(im, sha)) ||
		    (kind == K_INDEX && im->state != S_INDEX && known_pack(im, sha)))
			return corrupt("bundle: duplicate member %.300s", name);
		return corrupt("bundle: member %.300s is out of order", name);
	}
	switch (kind) {
	case K_HEADER:
		rc = take_header(im, (size_t)size);
		im->state = S_MARKER;
		break;
	case K_MARKER: /* unpacked, a bundle is a directory remote */
		if ((rc = read_all(im, name, (size_t)size)) == 0 &&
		    (size != (int64_t)strlen(ARCA_LAYOUT_MARKER) ||
		     memcmp(im->buf, ARCA_LAYOUT_MARKER, (size_t)size)))
			rc = corrupt("bundle: member %.300s is not a version 1 remote marker", name);
		im->state = S_PACKS;
		break;
	case K_PACK:
		rc = take_pack(im, name, sha, (size_t)size);
		im->state = S_INDEX;
		break;
	case K_INDEX:
		if (memcmp(sha, im->packs[im->npacks - 1], 32))
			return corrupt("bundle: member %.300s is not the index of the pack before it",
				name);
		rc = take_index(im, name, (size_t)size);
		im->state = S_PACKS;
		break;
	case K_ARTO:
		if (im->next_art == im->narts)
			return corrupt("bundle: member %.300s is not an artifact the refs name", name);
		rc = take_artifact(im, name, sha, (size_t)size);
		im->state = S_ARTS;
		break;
	default:
		if (im->next_art != im->narts)
			return corrupt("bundle: member %.300s comes before the artifacts", name);
		rc = take_ref(im, name, rname, rtag, seq, (size_t)size);
		im->state = S_REFS;
		break;
	}
	if (!rc) {
		im->out->objects++;
		rc = arca_progress__add(&im->ps, 1, 0);
	}
	return rc;
}

static int run(importer *im, int fd)
{
	struct archive_entry *e;
	int rc, r;

	if ((rc = arca_bundle__tar_open_read(&im->ar, fd)) != 0 ||
	    (rc = arca_progress__begin(&im->ps, ARCA_PROGRESS_DOWNLOAD, 0, 0)) != 0)
		return rc;
	while ((r = archive_read_next_header(im->ar, &e)) == ARCHIVE_OK)
		if ((rc = take_member(im, e)) != 0)
			return rc;
	if (r != ARCHIVE_EOF)
		return arca_bundle__tar_error(im->ar, ARCA_ECORRUPT, "bundle");
	if (im->state == S_HEADER)
		return arca_err_set(ARCA_ECORRUPT, "bundle: empty (no arca-bundle member)");
	if (im->state == S_MARKER)
		return arca_err_set(ARCA_ECORRUPT, "bundle: truncated (no %s member)",
			ARCA_LAYOUT_MARKER_KEY);
	if (im->state == S_INDEX)
		return arca_err_set(ARCA_ECORRUPT, "bundle: truncated (a pack without its index)");
	if (im->next_art != im->narts || im->next_ref != im->h.nrefs)
		return arca_err_set(ARCA_ECORRUPT, "bundle: truncated (%zu of %zu artifacts, "
			"%zu of %zu refs)", im->next_art, im->narts, im->next_ref, im->h.nrefs);
	im->out->bytes = arca_bundle__tar_bytes(im->ar);
	if ((rc = arca_progress__end(&im->ps, 0, 0)) != 0)
		return rc;
	rc = arca_cas_writer_commit(im->w);
	im->w = NULL;
	return rc;
}

int arca_import(arca_sync_result *out, arca_store *s, int fd, const arca_sync_options *opts)
{
	arca_sync_result local = ARCA_SYNC_RESULT_INIT;
	importer im;
	int rc;

	if (!out)
		out = &local;
	if ((rc = arca__result_start("arca_sync_result", out, sizeof(*out),
			ARCA_SYNC_RESULT_VERSION)) != 0)
		return rc;
	if (!s)
		return arca_err_set(ARCA_EINVAL, "arca_import: NULL argument");
	if (fd < 0)
		return arca_err_set(ARCA_EINVAL, "arca_import: bad file descriptor");
	if (opts && (rc = arca__check_version("arca_sync_options", opts->version,
			ARCA_SYNC_OPTIONS_VERSION)) != 0)
		return rc;
	memset(&im, 0, sizeof(im));
	im.s = s;
	im.out = out;
	im.force = opts ? opts->force : 0;
	arca_progress__init(&im.ps, opts ? opts->progress_cb : NULL,
		opts ? opts->progress_payload : NULL);
	if ((rc = arca_chunk_reader_init(&im.cr)) != 0)
		return rc;
	rc = run(&im, fd);
	arca_cas_writer_abort(im.w);
	arca_bundle__tar_free_reader(im.ar);
	arca_chunk_reader_release(&im.cr);
	arca_bundle_header_clear(&im.h);
	free(im.packs);
	free(im.listed);
	arca_idset_release(&im.where);
	arca_idset_release(&im.multi);
	if (im.scanning)
		arca_pidx_scan_release(&im.scan);
	free(im.arts);
	free(im.buf);
	if (rc) /* nothing was added */
		arca__result_clear(out, sizeof(*out));
	return rc;
}
