/*
 * arca_export: a bundle (docs/FORMAT.md, "Bundle") written in one pass to
 * a file or a pipe. The chunks are those the refs' artifacts reach minus
 * those their --since bases reach, copied as stored into remote pack
 * objects in the order the artifacts need them, so the same store, refs
 * and bases give the same bytes. A tar member needs its size before its
 * bytes: each pack is built in an unlinked temporary file (opts->tmp_dir,
 * else the store's directory, else /tmp) and copied into the tar once it
 * is cut.
 */
#include "arca/remote.h"
#include "store/ids.h"
#include "store/names.h"
#include "store/reach.h"
#include "store/record.h"
#include "store/resolve.h"
#include "store/store.h"
#include "sync/bundle_tar.h"
#include "sync/idset.h"
#include "sync/layout.h"
#include "sync/rpack.h"
#include "util/array.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/progress.h"
#include "util/version.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The value of a chunk in a --since base: the importer has it. */
#define IN_BASE UINT32_MAX

typedef struct {
	arca_id id;
	arca_buf rec_bytes;        /* the LMDB value, as it travels */
	arca_artifact_rec rec;
	uint32_t *packs;           /* indexes into exporter.pack_shas */
	size_t npacks, cap;
} art;

typedef struct {
	arca_store *s;
	const char *tmp_dir;
	MDB_txn *txn;
	struct archive *ar;
	arca_bundle_sink *sink;
	arca_sync_result *out;
	arca_progress_state ps;
	arca_idset where;       /* chunk -> pack index, or IN_BASE */
	/* the pack being built */
	arca_rpack_builder *b;
	int tmpfd;
	/* packs cut so far */
	uint8_t (*pack_shas)[32];
	size_t npacks, pack_cap;
	art *arts;
	size_t narts;
	art *cur;                  /* the artifact being walked */
	uint8_t *seen;             /* per pack: already in cur->packs */
	size_t seen_cap;
} exporter;

/* ---- resolving ---- */

/* "NAME:TAG" or "NAME" (NAME:latest). */
static int split_ref(const char *ref, char *name, char *tag)
{
	size_t n = strlen(ref);
	int rc;
	if (strchr(ref, ':'))
		return (rc = arca_store__split_ref(ref, name, tag)) != 0 ? rc :
			arca_layout_ref_check(name, tag);
	if ((rc = arca_store__check_word("name", ref, ARCA_NAME_MAX, 1)) != 0)
		return rc;
	memcpy(name, ref, n + 1);
	memcpy(tag, "latest", sizeof("latest"));
	return 0;
}

/* A bundle carries refs: an artifact id that is no name is refused. */
static int looks_like_id(const char *ref)
{
	size_t n = strlen(ref);
	if (n > 4 && !memcmp(ref, "art_", 4))
		return 1;
	return !strchr(ref, ':') && n >= 8 && n <= 64 && arca_ids__is_hex(ref, n);
}

static int id_refused(const char *ref)
{
	return arca_err_set(ARCA_EINVAL, "'%s' looks like an artifact id: a bundle carries "
		"refs, give NAME or NAME:TAG (arca tag makes one)", ref);
}

static int load_art(exporter *x, art *a)
{
	MDB_val k = { 32, a->id.bytes }, v;
	char hex[ARCA_ID_STRLEN];
	int mrc = mdb_get(x->txn, x->s->dbi_artifacts, &k, &v), rc;

	arca_id_format(hex, &a->id);
	if (mrc == MDB_NOTFOUND)
		return arca_err_set(ARCA_ENOTFOUND, "artifact %s not found", hex);
	if (mrc)
		return arca_lmdb_error(mrc, "artifact lookup");
	if (v.mv_size == 0 || v.mv_size > ARCA_RECORD_MAX)
		return arca_err_set(ARCA_ECORRUPT, "index: artifact record of %s has a bad size", hex);
	a->rec_bytes.max = ARCA_RECORD_MAX;
	if ((rc = arca_buf_put(&a->rec_bytes, v.mv_data, v.mv_size)) != 0)
		return rc;
	if ((rc = arca_artifact_rec_decode(&a->rec, &a->id, v.mv_data, v.mv_size)) != 0)
		return arca_err_wrap(rc, "%s", hex);
	return 0;
}

static void art_clear(art *a)
{
	arca_buf_release(&a->rec_bytes);
	arca_artifact_rec_clear(&a->rec);
	free(a->packs);
	memset(a, 0, sizeof(*a));
}

/* ---- members ---- */

/* An unlinked file in opts->tmp_dir, else in the store's directory (no
 * name at all where the filesystem has O_TMPFILE), else in /tmp. */
static int tmp_in(exporter *x, const char *dir)
{
	arca_buf tmpl = ARCA_BUF_INIT(PATH_MAX);
	x->tmpfd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (x->tmpfd >= 0)
		return 0;
	if (arca_buf_setf(&tmpl, "%s/arca-export-XXXXXX", dir) != 0)
		return arca_err_set(ARCA_EINVAL, "export: temporary directory path too long");
	x->tmpfd = mkostemp((char *)tmpl.ptr, O_CLOEXEC);
	if (x->tmpfd >= 0)
		(void)unlink(arca_buf_cstr(&tmpl));
	arca_buf_release(&tmpl);
	return x->tmpfd >= 0 ? 0 : arca_err_sys("export: temporary file in %s", dir);
}

static int tmp_open(exporter *x)
{
	if (x->tmp_dir && *x->tmp_dir)
		return tmp_in(x, x->tmp_dir);
	if (tmp_in(x, x->s->dir) == 0)
		return 0;
	return tmp_in(x, "/tmp");
}

static int counted(exporter *x, uint64_t bytes)
{
	x->out->objects++;
	x->out->bytes += bytes;
	return arca_progress__add(&x->ps, 1, bytes);
}

static int put_buf(exporter *x, const char *key, const void *p, size_t n)
{
	int rc = arca_bundle__tar_header(x->ar, key, n);
	if (!rc)
		rc = arca_bundle__tar_data(x->ar, key, p, n);
	return rc ? rc : counted(x, n);
}

static int put_fd(exporter *x, const char *key, int fd, uint64_t size)
{
	uint8_t *buf = malloc(1u << 20);
	uint64_t off = 0;
	int rc;

	if (!buf)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if ((rc = arca_bundle__tar_header(x->ar, key, size)) != 0)
		goto done;
	while (off < size) {
		size_t want = size - off > (1u << 20) ? (1u << 20) : (size_t)(size - off);
		ssize_t got = arca_pread_full(fd, buf, want, (off_t)off);
		if (got < 0) {
			rc = arca_err_sys("export: read temporary pack");
			goto done;
		}
		if ((size_t)got != want) {
			rc = arca_err_set(ARCA_EIO, "export: temporary pack is shorter than built");
			goto done;
		}
		if ((rc = arca_bundle__tar_data(x->ar, key, buf, want)) != 0 ||
		    (rc = arca_progress__add(&x->ps, 0, want)) != 0)
			goto done;
		off += want;
	}
	x->out->objects++;
	x->out->bytes += size;
	rc = arca_progress__add(&x->ps, 1, 0);
done:
	free(buf);
	return rc;
}

/* ---- packs ---- */

static int pack_start(exporter *x)
{
	int rc = tmp_open(x);
	if (rc)
		return rc;
	if ((rc = arca_rpack_builder_new(&x->b, x->s, x->tmpfd)) != 0) {
		close(x->tmpfd);
		x->tmpfd = -1;
	}
	return rc;
}

/* Cuts the pack being built: its bytes, then its index, into the tar;
 * every chunk it holds (copied groups' members too) is now placed. */
static int pack_finish(exporter *x)
{
	arca_buf index = ARCA_BUF_INIT(SIZE_MAX);
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	arca_pidx px = { { 0 }, 0, 0, NULL };
	uint8_t sha[32];
	uint32_t no = (uint32_t)x->npacks;
	struct stat st;
	int rc;

	if ((rc = arca_rpack_builder_finish(x->b, sha, &index)) != 0)
		goto done;
	if (fstat(x->tmpfd, &st) < 0) {
		rc = arca_err_sys("export: temporary pack");
		goto done;
	}
	if ((rc = arca_pidx_decode(&px, index.ptr, index.len)) != 0)
		goto done;
	if (px.pack_size != (uint64_t)st.st_size) {
		rc = arca_err_set(ARCA_EIO, "export: pack size differs from its index");
		goto done;
	}
	if ((rc = arca_array_grow(&x->pack_shas, &x->pack_cap, x->npacks + 1, 32, 16)) != 0)
		goto done;
	memcpy(x->pack_shas[x->npacks++], sha, 32);
	for (uint32_t i = 0; i < px.n; i++)
		if ((rc = arca_idset_put(&x->where, px.e[i].id, no)) < 0)
			goto done;
	x->out->chunks += px.n;
	if ((rc = arca_layout_pack_key(&key, sha)) != 0 ||
	    (rc = put_fd(x, arca_buf_cstr(&key), x->tmpfd, px.pack_size)) != 0 ||
	    (key.len = 0, rc = arca_layout_index_key(&key, sha)) != 0 ||
	    (rc = put_buf(x, arca_buf_cstr(&key), index.ptr, index.len)) != 0)
		goto done;
done:
	arca_rpack_builder_free(x->b);
	x->b = NULL;
	close(x->tmpfd);
	x->tmpfd = -1;
	arca_pidx_clear(&px);
	arca_buf_release(&index);
	arca_buf_release(&key);
	return rc;
}

/* Notes that the artifact being walked needs pack `no`. */
static int need_pack(exporter *x, uint32_t no)
{
	art *a = x->cur;
	int rc;
	if (no >= x->seen_cap) {
		size_t old = x->seen_cap;
		if ((rc = arca_array_grow(&x->seen, &x->seen_cap, (size_t)no + 1, 1, 64)) != 0)
			return rc;
		memset(x->seen + old, 0, x->seen_cap - old);
	}
	if (x->seen[no])
		return 0;
	if (a->npacks >= ARCA_ARTO_MAX_PACKS)
		return arca_err_set(ARCA_EINVAL, "export: an artifact needs more than %u packs",
			ARCA_ARTO_MAX_PACKS);
	if ((rc = arca_array_grow(&a->packs, &a->cap, a->npacks + 1, sizeof(uint32_t), 8)) != 0)
		return rc;
	a->packs[a->npacks++] = no;
	x->seen[no] = 1;
	return 0;
}

static int on_chunk(const uint8_t id[32], uint32_t len, int manifest, void *ctx)
{
	exporter *x = ctx;
	uint32_t no;
	uint64_t size;
	int rc;
	(void)len;
	(void)manifest;

	if (arca_idset_get(&x->where, id, &no))
		return no == IN_BASE ? 0 : need_pack(x, no);
	if ((rc = arca_progress__cancelled(&x->ps)) != 0)
		return rc;
	if (!x->b && (rc = pack_start(x)) != 0)
		return rc;
	no = (uint32_t)x->npacks;
	if ((rc = arca_rpack_builder_add(x->b, x->txn, id, &size)) != 0 ||
	    (rc = arca_idset_put(&x->where, id, no)) < 0 ||
	    (rc = need_pack(x, no)) != 0)
		return rc;
	return size >= ARCA_REMOTE_PACK_TARGET ? pack_finish(x) : 0;
}

static int on_base_chunk(const uint8_t id[32], uint32_t len, int manifest, void *ctx)
{
	exporter *x = ctx;
	(void)len;
	(void)manifest;
	int rc = arca_idset_put(&x->where, id, IN_BASE);
	return rc < 0 ? rc : 0;
}

/* ---- objects after the packs ---- */

static int put_artifact(exporter *x, art *a)
{
	arca_buf obj = ARCA_BUF_INIT(SIZE_MAX), key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	uint8_t (*shas)[32] = calloc(a->npacks + 1, 32);
	int rc;

	if (!shas)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (size_t i = 0; i < a->npacks; i++)
		memcpy(shas[i], x->pack_shas[a->packs[i]], 32);
	if ((rc = arca_arto_encode(&obj, a->rec_bytes.ptr, (uint32_t)a->rec_bytes.len, shas,
			(uint32_t)a->npacks)) == 0 &&
	    (rc = arca_layout_artifact_key(&key, &a->id)) == 0)
		rc = put_buf(x, arca_buf_cstr(&key), obj.ptr, obj.len);
	if (!rc)
		x->out->artifacts++;
	free(shas);
	arca_buf_release(&obj);
	arca_buf_release(&key);
	return rc;
}

static int put_ref(exporter *x, const char *name, const char *tag, const arca_id *id,
		int64_t time_ns)
{
	arca_buf obj = ARCA_BUF_INIT(ARCA_REF_ENTRY_MAX), key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	arca_ref_entry e;
	int rc;

	memset(&e, 0, sizeof(e));
	memcpy(e.name, name, strlen(name) + 1);
	memcpy(e.tag, tag, strlen(tag) + 1);
	e.seq = 1;
	e.id = *id;
	e.time_ns = time_ns;
	if ((rc = arca_ref_entry_encode(&obj, &e)) == 0 &&
	    (rc = arca_layout_ref_key(&key, name, tag, 1)) == 0)
		rc = put_buf(x, arca_buf_cstr(&key), obj.ptr, obj.len);
	if (!rc)
		x->out->refs_moved++;
	arca_buf_release(&obj);
	arca_buf_release(&key);
	return rc;
}

/* ---- the export ---- */

static art *find_art(exporter *x, const arca_id *id)
{
	for (size_t i = 0; i < x->narts; i++)
		if (!memcmp(x->arts[i].id.bytes, id->bytes, 32))
			return &x->arts[i];
	return NULL;
}

static int walk(exporter *x, art *a, arca_reach_fn fn)
{
	char hex[ARCA_ID_STRLEN];
	int rc = arca_store__reach(x->s, &a->rec, fn, x);
	if (rc && rc != ARCA_EUSER) {
		arca_id_format(hex, &a->id);
		return arca_err_wrap(rc, "export: %s", hex);
	}
	return rc;
}

static int run(exporter *x, arca_bundle_header *h, int fd, const char *const *since,
		size_t n_since)
{
	arca_buf hb = ARCA_BUF_INIT(ARCA_BUNDLE_HEADER_MAX);
	art *bases = NULL;
	int rc = 0;

	/* the bases first: what they reach is left out */
	if (n_since && !(bases = calloc(n_since, sizeof(art))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (size_t i = 0; i < n_since && !rc; i++) {
		int dup = 0;
		if ((rc = arca_store__resolve(&bases[i].id, x->s, x->txn, since[i])) != 0) {
			rc = arca_err_wrap(rc, "--since");
			break;
		}
		for (size_t j = 0; j < h->nsince && !dup; j++)
			dup = !memcmp(h->since[j].bytes, bases[i].id.bytes, 32);
		if (dup)
			continue;
		h->since[h->nsince++] = bases[i].id;
		if ((rc = load_art(x, &bases[i])) == 0)
			rc = walk(x, &bases[i], on_base_chunk);
	}
	if (rc)
		goto done;
	for (size_t i = 0; i < h->nrefs; i++) {
		if (find_art(x, &h->ids[i]))
			continue;
		x->arts[x->narts].id = h->ids[i];
		if ((rc = load_art(x, &x->arts[x->narts++])) != 0)
			goto done;
	}

	if ((rc = arca_bundle_header_encode(&hb, h)) != 0) {
		if (rc == ARCA_EINVAL && hb.len + 1024 > hb.max)
			rc = arca_err_set(ARCA_EINVAL, "export: too many refs for one bundle (its "
				"header is at most %u MiB)", ARCA_BUNDLE_HEADER_MAX >> 20);
		goto done;
	}
	if ((rc = arca_bundle__tar_open_write(&x->ar, &x->sink, fd)) != 0 ||
	    (rc = arca_progress__begin(&x->ps, ARCA_PROGRESS_UPLOAD, 0, 0)) != 0 ||
	    (rc = put_buf(x, ARCA_BUNDLE_HEADER_KEY, hb.ptr, hb.len)) != 0 ||
	    (rc = put_buf(x, ARCA_LAYOUT_MARKER_KEY, ARCA_LAYOUT_MARKER,
		    strlen(ARCA_LAYOUT_MARKER))) != 0)
		goto done;
	for (size_t i = 0; i < x->narts; i++) {
		x->cur = &x->arts[i];
		if (x->seen)
			memset(x->seen, 0, x->seen_cap);
		if ((rc = walk(x, x->cur, on_chunk)) != 0)
			goto done;
	}
	if (x->b && (rc = pack_finish(x)) != 0)
		goto done;
	for (size_t i = 0; i < x->narts; i++)
		if ((rc = put_artifact(x, &x->arts[i])) != 0)
			goto done;
	for (size_t i = 0; i < h->nrefs; i++)
		if ((rc = put_ref(x, h->names[i], h->tags[i], &h->ids[i],
				find_art(x, &h->ids[i])->rec.a.created_ns)) != 0)
			goto done;
	if ((rc = arca_bundle__tar_close(x->ar)) != 0)
		goto done;
	rc = arca_progress__end(&x->ps, x->out->objects, x->out->bytes);
	x->out->bytes = arca_bundle__tar_bytes(x->ar); /* the bundle's size */
done:
	for (size_t i = 0; bases && i < n_since; i++)
		art_clear(&bases[i]);
	free(bases);
	arca_buf_release(&hb);
	return rc;
}

int arca_export(arca_sync_result *out, arca_store *s, const char *const *refs, size_t n,
		const char *const *since, size_t n_since, int fd, const arca_sync_options *opts)
{
	arca_sync_result local = ARCA_SYNC_RESULT_INIT;
	arca_bundle_header h;
	exporter x;
	size_t nuniq = 0;
	int rc;

	if (!out)
		out = &local;
	if ((rc = arca__result_start("arca_sync_result", out, sizeof(*out),
			ARCA_SYNC_RESULT_VERSION)) != 0)
		return rc;
	if (!s || (!refs && n) || (!since && n_since))
		return arca_err_set(ARCA_EINVAL, "arca_export: NULL argument");
	if (fd < 0)
		return arca_err_set(ARCA_EINVAL, "arca_export: bad file descriptor");
	if (n == 0)
		return arca_err_set(ARCA_EINVAL, "export: no refs given");
	if (n > ARCA_BUNDLE_MAX_REFS || n_since > ARCA_BUNDLE_MAX_REFS)
		return arca_err_set(ARCA_EINVAL, "export: at most %d refs and %d bases",
			ARCA_BUNDLE_MAX_REFS, ARCA_BUNDLE_MAX_REFS);
	if (opts && (rc = arca__check_version("arca_sync_options", opts->version,
			ARCA_SYNC_OPTIONS_VERSION)) != 0)
		return rc;

	memset(&x, 0, sizeof(x));
	memset(&h, 0, sizeof(h));
	x.s = s;
	x.tmp_dir = opts ? opts->tmp_dir : NULL;
	x.out = out;
	x.tmpfd = -1;
	arca_progress__init(&x.ps, opts ? opts->progress_cb : NULL,
		opts ? opts->progress_payload : NULL);
	h.names = calloc(n, sizeof(*h.names));
	h.tags = calloc(n, sizeof(*h.tags));
	h.ids = calloc(n, sizeof(*h.ids));
	h.since = calloc(n_since + 1, sizeof(*h.since));
	x.arts = calloc(n, sizeof(art));
	if (!h.names || !h.tags || !h.ids || !h.since || !x.arts) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = arca_cas_txn_read(s->cas, &x.txn)) != 0)
		goto done;
	/* each NAME:TAG once, in the order given */
	for (size_t i = 0; i < n; i++) {
		char key[ARCA_REF_KEY_MAX + 1];
		int dup = 0;
		if (!refs[i]) {
			rc = arca_err_set(ARCA_EINVAL, "arca_export: NULL ref");
			goto done;
		}
		if (!strncmp(refs[i], "art_", 4) ||
		    (rc = split_ref(refs[i], h.names[nuniq], h.tags[nuniq])) != 0) {
			if (looks_like_id(refs[i]))
				rc = id_refused(refs[i]);
			else if (!rc)
				rc = arca_err_set(ARCA_EINVAL, "'%s' is not a NAME or NAME:TAG", refs[i]);
			goto done;
		}
		for (size_t j = 0; j < nuniq && !dup; j++)
			dup = !strcmp(h.names[j], h.names[nuniq]) && !strcmp(h.tags[j], h.tags[nuniq]);
		if (dup)
			continue;
		snprintf(key, sizeof(key), "%s:%s", h.names[nuniq], h.tags[nuniq]);
		if ((rc = arca_store__resolve(&h.ids[nuniq], s, x.txn, key)) != 0) {
			if (rc == ARCA_ENOTFOUND && looks_like_id(refs[i]))
				rc = id_refused(refs[i]);
			goto done;
		}
		nuniq++;
	}
	h.nrefs = nuniq;
	for (size_t i = 0; i < n_since; i++)
		if (!since[i]) {
			rc = arca_err_set(ARCA_EINVAL, "arca_export: NULL since ref");
			goto done;
		}
	rc = run(&x, &h, fd, since, n_since);
done:
	if (x.ar)
		arca_bundle__tar_free_writer(x.ar, x.sink);
	if (x.b)
		arca_rpack_builder_free(x.b);
	if (x.tmpfd >= 0)
		close(x.tmpfd);
	for (size_t i = 0; x.arts && i < x.narts; i++)
		art_clear(&x.arts[i]);
	free(x.arts);
	free(x.pack_shas);
	free(x.seen);
	arca_idset_release(&x.where);
	if (x.txn)
		mdb_txn_abort(x.txn);
	free(h.names);
	free(h.tags);
	free(h.ids);
	free(h.since);
	return rc;
}
