#include "store/manifest.h"
#include "cas/chunker.h"
#include "util/buf.h"
#include "util/error.h"

#include <string.h>

#include "arca/arca.h"

enum { ST_HEADER, ST_ENTRIES, ST_EXTENTS, ST_DONE };

/* ---- writer ---- */

void arca_mf_writer_init(arca_mf_writer *w, arca_mf_write_fn fn, void *ctx)
{
	memset(w, 0, sizeof(*w));
	w->write = fn;
	w->ctx = ctx;
}

int arca_mf_write_header(arca_mf_writer *w, int kind)
{
	uint8_t h[ARCA_MF_HEADER_LEN] = { 0 };
	memcpy(h, ARCA_MF_MAGIC, 6);
	arca_put_le16(h + 6, ARCA_MF_VERSION);
	h[8] = (uint8_t)kind;
	w->in_extents = kind == ARCA_KIND_IMAGE;
	return w->write(w->ctx, h, sizeof(h));
}

static int put_str(arca_buf *b, const char *s, size_t n)
{
	uint8_t l[2];
	arca_put_le16(l, (uint16_t)n);
	int rc = arca_buf_put(b, l, 2);
	return rc ? rc : arca_buf_put(b, s, n);
}

int arca_mf_write_entry(arca_mf_writer *w, const arca_mf_entry *e)
{
	uint8_t tmp[8192 + 64];
	arca_buf b = { tmp, 0, sizeof(tmp), sizeof(tmp) };
	uint8_t f[32];
	int rc;

	if (e->path_len > ARCA_MF_PATH_MAX || e->target_len > ARCA_MF_PATH_MAX)
		return arca_err_set(ARCA_EINVAL, "path too long for a manifest");
	tmp[0] = e->type;
	b.len = 1;
	if ((rc = put_str(&b, e->path, e->path_len)) != 0)
		return rc;
	if (e->type == ARCA_MF_HARDLINK) {
		rc = put_str(&b, e->target, e->target_len);
	} else {
		arca_put_le32(f, e->mode & 07777);
		arca_put_le32(f + 4, e->uid);
		arca_put_le32(f + 8, e->gid);
		arca_put_le64(f + 12, (uint64_t)e->mtime_sec);
		arca_put_le32(f + 20, e->mtime_nsec);
		if (e->type == ARCA_MF_FILE) {
			if (e->size > ARCA_MF_MAX_SIZE)
				return arca_err_set(ARCA_EINVAL, "file too large for a manifest");
			arca_put_le64(f + 24, e->size);
		}
		rc = arca_buf_put(&b, f, e->type == ARCA_MF_FILE ? 32 : 24);
		if (!rc && e->type == ARCA_MF_SYMLINK)
			rc = put_str(&b, e->target, e->target_len);
	}
	if (rc)
		return rc;
	w->in_extents = e->type == ARCA_MF_FILE;
	w->pending_hole = 0;
	return w->write(w->ctx, tmp, b.len);
}

static int flush_hole(arca_mf_writer *w)
{
	uint8_t h[9];
	if (!w->pending_hole)
		return 0;
	h[0] = ARCA_EXT_HOLE;
	arca_put_le64(h + 1, w->pending_hole);
	w->pending_hole = 0;
	return w->write(w->ctx, h, sizeof(h));
}

int arca_mf_write_extent(arca_mf_writer *w, const uint8_t *id, uint64_t len)
{
	uint8_t c[37];
	int rc;
	if (!w->in_extents)
		return arca_err_set(ARCA_EINVAL, "manifest: extent outside a file");
	if (len == 0)
		return 0;
	if (!id) {
		w->pending_hole += len;
		return 0;
	}
	if ((rc = flush_hole(w)) != 0)
		return rc;
	c[0] = ARCA_EXT_CHUNK;
	arca_put_le32(c + 1, (uint32_t)len);
	memcpy(c + 5, id, 32);
	return w->write(w->ctx, c, sizeof(c));
}

int arca_mf_write_extents_end(arca_mf_writer *w)
{
	uint8_t e = ARCA_EXT_END;
	int rc = flush_hole(w);
	w->in_extents = 0;
	return rc ? rc : w->write(w->ctx, &e, 1);
}

int arca_mf_write_end(arca_mf_writer *w)
{
	uint8_t e = ARCA_MF_END;
	return w->write(w->ctx, &e, 1);
}

/* ---- reader ---- */

void arca_mf_reader_init(arca_mf_reader *r, arca_mf_read_fn fn, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->read = fn;
	r->ctx = ctx;
	r->state = ST_HEADER;
}

static int bad(const char *what)
{
	return arca_err_set(ARCA_ECORRUPT, "manifest: %s", what);
}

static int rd(arca_mf_reader *r, void *p, size_t n)
{
	int rc = r->read(r->ctx, p, n);
	return rc == ARCA_ENOTFOUND ? bad("truncated") : rc;
}

int arca_mf_read_header(arca_mf_reader *r, int *kind)
{
	uint8_t h[ARCA_MF_HEADER_LEN];
	int rc;
	if (r->state != ST_HEADER)
		return arca_err_set(ARCA_EINVAL, "manifest: header already read");
	if ((rc = rd(r, h, sizeof(h))) != 0)
		return rc;
	if (memcmp(h, ARCA_MF_MAGIC, 6) != 0)
		return bad("bad magic");
	if (arca_get_le16(h + 6) != ARCA_MF_VERSION)
		return arca_err_set(ARCA_EUNSUPPORTED, "manifest: version %u not supported",
			arca_get_le16(h + 6));
	if ((h[8] != ARCA_KIND_TREE && h[8] != ARCA_KIND_IMAGE) || h[9] || h[10] || h[11])
		return bad("bad header");
	r->kind = h[8];
	*kind = r->kind;
	r->state = r->kind == ARCA_KIND_TREE ? ST_ENTRIES : ST_EXTENTS;
	return 0;
}

int arca_mf_path_check(const char *p, size_t n)
{
	size_t start = 0;
	if (n == 0)
		return arca_err_set(ARCA_EUNSAFE, "manifest: empty path");
	if (memchr(p, '\0', n))
		return arca_err_set(ARCA_EUNSAFE, "manifest: NUL byte in path");
	if (p[0] == '/')
		return arca_err_set(ARCA_EUNSAFE, "manifest: absolute path '%.*s' refused",
			(int)(n > 200 ? 200 : n), p);
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		size_t len = i - start;
		if (len == 0 || (len == 1 && p[start] == '.') ||
		    (len == 2 && p[start] == '.' && p[start + 1] == '.'))
			return arca_err_set(ARCA_EUNSAFE,
				"manifest: path '%.*s' has an empty, '.' or '..' component",
				(int)(n > 200 ? 200 : n), p);
		if (len > 255)
			return arca_err_set(ARCA_EUNSAFE, "manifest: name longer than 255 bytes");
		start = i + 1;
	}
	return 0;
}

static int read_str(arca_mf_reader *r, char *out, size_t *len)
{
	uint8_t l[2];
	int rc;
	if ((rc = rd(r, l, 2)) != 0)
		return rc;
	*len = arca_get_le16(l);
	if (*len > ARCA_MF_PATH_MAX)
		return bad("string too long");
	if ((rc = rd(r, out, *len)) != 0)
		return rc;
	out[*len] = '\0';
	return 0;
}

/* Compares paths component-wise: '/' sorts before every other byte. */
int arca_mf_path_cmp(const char *a, size_t na, const char *b, size_t nb)
{
	size_t n = na < nb ? na : nb;
	for (size_t i = 0; i < n; i++) {
		unsigned ca = a[i] == '/' ? 0 : (unsigned char)a[i];
		unsigned cb = b[i] == '/' ? 0 : (unsigned char)b[i];
		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return na < nb ? -1 : na > nb;
}

/* Checks that the path in r->path (length n) names a child of the
 * innermost open directory, closing directories it has left. */
static int place_entry(arca_mf_reader *r, size_t n, size_t *depth)
{
	size_t start;
	while (r->ndirs > 1) {
		size_t d = r->dirs[r->ndirs - 1];
		if (n > d && r->path[d] == '/' && memcmp(r->path, r->prev_dir, d) == 0)
			break;
		r->ndirs--;
	}
	start = r->ndirs > 1 ? r->dirs[r->ndirs - 1] + 1 : 0;
	if (memchr(r->path + start, '/', n - start))
		return bad("entry whose parent directory is not listed before it");
	*depth = r->ndirs;
	return 0;
}

int arca_mf_next_entry(arca_mf_reader *r, arca_mf_entry *e, size_t *depth_out)
{
	uint8_t type, f[24];
	size_t n, depth = 0;
	int rc;

	if (r->state != ST_ENTRIES)
		return arca_err_set(ARCA_EINVAL, "manifest: not at an entry");
	if ((rc = rd(r, &type, 1)) != 0)
		return rc;
	if (type == ARCA_MF_END) {
		if (r->entries == 0)
			return bad("tree without a root entry");
		r->state = ST_DONE;
		return arca_mf_read_finish(r);
	}
	if (type != ARCA_MF_DIR && type != ARCA_MF_FILE && type != ARCA_MF_SYMLINK &&
	    type != ARCA_MF_HARDLINK && type != ARCA_MF_FIFO)
		return bad("unknown entry type");
	if ((rc = read_str(r, r->path, &n)) != 0)
		return rc;
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->path = r->path;
	e->path_len = n;
	if (r->entries == 0) {
		if (type != ARCA_MF_DIR || n != 0)
			return bad("first entry must be the root directory");
		r->ndirs = 1;
		r->dirs[0] = 0;
		r->prev_len = 0;
	} else {
		if ((rc = arca_mf_path_check(r->path, n)) != 0)
			return rc;
		if (arca_mf_path_cmp(r->prev, r->prev_len, r->path, n) >= 0)
			return bad("entries out of order or repeated");
		if ((rc = place_entry(r, n, &depth)) != 0)
			return rc;
	}
	if (type == ARCA_MF_HARDLINK) {
		if ((rc = read_str(r, r->target, &e->target_len)) != 0)
			return rc;
		if ((rc = arca_mf_path_check(r->target, e->target_len)) != 0)
			return rc;
		if (arca_mf_path_cmp(r->target, e->target_len, r->path, n) >= 0)
			return bad("hardlink to a later entry");
		e->target = r->target;
	} else {
		if ((rc = rd(r, f, 24)) != 0)
			return rc;
		e->mode = arca_get_le32(f);
		e->uid = arca_get_le32(f + 4);
		e->gid = arca_get_le32(f + 8);
		e->mtime_sec = (int64_t)arca_get_le64(f + 12);
		e->mtime_nsec = arca_get_le32(f + 20);
		if (e->mode & ~07777u)
			return bad("mode has bits outside 07777");
		if (e->mtime_nsec >= 1000000000u)
			return bad("mtime nanoseconds out of range");
		if (type == ARCA_MF_FILE) {
			if ((rc = rd(r, f, 8)) != 0)
				return rc;
			e->size = arca_get_le64(f);
			if (e->size > ARCA_MF_MAX_SIZE)
				return bad("file size out of range");
		}
		if (type == ARCA_MF_SYMLINK) {
			if ((rc = read_str(r, r->target, &e->target_len)) != 0)
				return rc;
			if (e->target_len == 0 || memchr(r->target, '\0', e->target_len))
				return bad("bad symlink target");
			e->target = r->target;
		}
	}
	memcpy(r->prev, r->path, n);
	r->prev_len = n;
	if (type == ARCA_MF_DIR && n > 0) {
		memcpy(r->prev_dir, r->path, n);
		r->dirs[r->ndirs++] = (uint16_t)n;
	}
	if (type == ARCA_MF_FILE) {
		r->state = ST_EXTENTS;
		r->extent_total = 0;
		r->expect_total = e->size;
		r->last_was_hole = 0;
	}
	r->entries++;
	if (depth_out)
		*depth_out = depth;
	return 1;
}

int arca_mf_next_extent(arca_mf_reader *r, uint8_t id[32], uint64_t *len, int *has_id)
{
	uint8_t t, b[36];
	int rc;

	if (r->state != ST_EXTENTS)
		return arca_err_set(ARCA_EINVAL, "manifest: not in a file's extents");
	if ((rc = rd(r, &t, 1)) != 0)
		return rc;
	switch (t) {
	case ARCA_EXT_CHUNK:
		if ((rc = rd(r, b, 36)) != 0)
			return rc;
		*len = arca_get_le32(b);
		if (*len == 0 || *len > ARCA_CHUNK_MAX_LIMIT)
			return bad("chunk length out of range");
		memcpy(id, b + 4, 32);
		*has_id = 1;
		r->last_was_hole = 0;
		break;
	case ARCA_EXT_HOLE:
		if ((rc = rd(r, b, 8)) != 0)
			return rc;
		*len = arca_get_le64(b);
		if (*len == 0 || *len > ARCA_MF_MAX_SIZE)
			return bad("hole length out of range");
		if (r->last_was_hole)
			return bad("adjacent holes (not canonical)");
		*has_id = 0;
		r->last_was_hole = 1;
		break;
	case ARCA_EXT_END:
		if (r->kind == ARCA_KIND_TREE && r->extent_total != r->expect_total)
			return bad("file extents do not add up to its size");
		r->last_was_hole = 0;
		r->state = r->kind == ARCA_KIND_TREE ? ST_ENTRIES : ST_DONE;
		*len = 0;
		*has_id = 0;
		return 0;
	default:
		return bad("unknown extent type");
	}
	if (r->extent_total + *len > ARCA_MF_MAX_SIZE ||
	    (r->kind == ARCA_KIND_TREE && r->extent_total + *len > r->expect_total))
		return bad("extents run past the file size");
	r->extent_total += *len;
	return 1;
}

int arca_mf_in_extents(const arca_mf_reader *r)
{
	return r->state == ST_EXTENTS;
}

int arca_mf_read_finish(arca_mf_reader *r)
{
	uint8_t extra;
	if (r->state != ST_DONE)
		return arca_err_set(ARCA_EINVAL, "manifest: not at the end");
	/* The byte source reports ARCA_ENOTFOUND at a clean end of data. */
	int rc = r->read(r->ctx, &extra, 1);
	if (rc == 0)
		return bad("trailing bytes after the end");
	if (rc != ARCA_ENOTFOUND)
		return rc;
	return 0;
}
