/*
 * The remote layout's objects as bytes (docs/FORMAT.md, "Remote layout").
 * Text objects (ref entries, hints, the bundle header) are decoded, then
 * encoded again and compared with the input: only the one canonical form
 * of each value is accepted, so two readers never disagree about one.
 */
#include "sync/layout.h"
#include "cas/hash.h"
#include "cas/pack.h"
#include "store/names.h"
#include "util/error.h"
#include "util/hex.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define PIDX_MAGIC "ARCAPIDX"
#define ARTO_MAGIC "ARCAARTO"
#define TRAILER_LEN 32
#define ARTO_RECORD_MAX (64u << 20)

/* ---- keys ---- */

int arca_layout_pack_key(arca_buf *out, const uint8_t sha[32])
{
	char hex[65];
	arca_hex_encode(hex, sha, 32);
	return arca_buf_setf(out, "packs/%s.arcp", hex);
}

int arca_layout_index_key(arca_buf *out, const uint8_t sha[32])
{
	char hex[65];
	arca_hex_encode(hex, sha, 32);
	return arca_buf_setf(out, "packs/%s.idx", hex);
}

int arca_layout_artifact_key(arca_buf *out, const arca_id *id)
{
	char hex[65];
	arca_hex_encode(hex, id->bytes, 32);
	return arca_buf_setf(out, "artifacts/%s", hex);
}

int arca_layout_ref_key(arca_buf *out, const char *name, const char *tag, uint64_t seq)
{
	int rc;
	if ((rc = arca_store__check_word("name", name, ARCA_NAME_MAX, 1)) != 0 ||
	    (rc = arca_store__check_word("tag", tag, ARCA_TAG_MAX, 0)) != 0)
		return rc;
	if (seq == 0)
		return arca_buf_setf(out, "refs/%s/%s/HEAD", name, tag);
	return arca_buf_setf(out, "refs/%s/%s/%016" PRIx64, name, tag, seq);
}

static int is_lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

int arca_layout_ref_check(const char *name, const char *tag)
{
	if (strchr(name, '/') && (!strcmp(tag, "HEAD") || (strlen(tag) == 16 &&
			is_lower_hex(tag, 16))))
		return arca_err_set(ARCA_EINVAL, "ref %s:%s cannot go to a remote: a name with a "
			"'/' cannot take a tag that is HEAD or 16 hex digits (its key would be a "
			"directory where %.*s:%s keeps an entry)", name, tag,
			(int)(strrchr(name, '/') - name), name, strrchr(name, '/') + 1);
	return 0;
}

int arca_layout_parse_ref_key(const char *key, char *name, size_t name_cap, char *tag,
		size_t tag_cap, uint64_t *seq)
{
	const char *last, *tagp, *p;
	size_t nlen, tlen;

	if (!key || strncmp(key, "refs/", 5) != 0)
		goto bad;
	p = key + 5;
	last = strrchr(p, '/');
	if (!last || last == p)
		goto bad;
	for (tagp = last - 1; tagp > p && *tagp != '/'; tagp--)
		;
	if (tagp == p)
		goto bad; /* no name part */
	nlen = (size_t)(tagp - p);
	tlen = (size_t)(last - tagp - 1);
	if (nlen == 0 || nlen > ARCA_NAME_MAX || nlen >= name_cap || tlen == 0 ||
	    tlen > ARCA_TAG_MAX || tlen >= tag_cap)
		goto bad;
	memcpy(name, p, nlen);
	name[nlen] = '\0';
	memcpy(tag, tagp + 1, tlen);
	tag[tlen] = '\0';
	if (arca_store__check_word("name", name, ARCA_NAME_MAX, 1) != 0 ||
	    arca_store__check_word("tag", tag, ARCA_TAG_MAX, 0) != 0)
		goto bad;
	last++;
	if (!strcmp(last, "HEAD")) {
		*seq = 0;
		return 0;
	}
	if (strlen(last) != 16 || !is_lower_hex(last, 16))
		goto bad;
	*seq = 0;
	for (int i = 0; i < 16; i++)
		*seq = (*seq << 4) | (uint64_t)(last[i] <= '9' ? last[i] - '0' : last[i] - 'a' + 10);
	if (*seq == 0)
		goto bad;
	return 0;
bad:
	return arca_err_set(ARCA_EINVAL, "not a ref key: '%.300s'", key ? key : "");
}

/* ---- pack index ---- */

static int entry_cmp(const void *a, const void *b)
{
	const arca_pidx_entry *x = a, *y = b;
	int c = memcmp(x->id, y->id, 32);
	if (c)
		return c;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return (int)x->member - (int)y->member;
}

int arca_pidx_encode(arca_buf *out, const uint8_t pack_sha[32], uint64_t pack_size,
		arca_pidx_entry *e, uint32_t n)
{
	uint8_t h[ARCA_PIDX_HEADER_LEN], d[32];
	uint32_t m = 0;
	size_t start = out->len;
	int rc;

	if (n == 0 || n > ARCA_PIDX_MAX_ENTRIES)
		return arca_err_set(ARCA_EINVAL, "pack index of %u entries", n);
	qsort(e, n, sizeof(*e), entry_cmp);
	for (uint32_t i = 0; i < n; i++)
		if (i == 0 || memcmp(e[i].id, e[m - 1].id, 32) != 0)
			e[m++] = e[i];
	memset(h, 0, sizeof(h));
	memcpy(h, PIDX_MAGIC, 8);
	arca_put_le32(h + 8, ARCA_LAYOUT_VERSION);
	arca_put_le32(h + 12, m);
	arca_put_le64(h + 16, pack_size);
	memcpy(h + 24, pack_sha, 32);
	if ((rc = arca_buf_grow(out, sizeof(h) + (size_t)m * ARCA_PIDX_ENTRY_LEN + TRAILER_LEN)) != 0 ||
	    (rc = arca_buf_put(out, h, sizeof(h))) != 0)
		return rc;
	for (uint32_t i = 0; i < m; i++) {
		uint8_t r[ARCA_PIDX_ENTRY_LEN];
		memset(r, 0, sizeof(r));
		memcpy(r, e[i].id, 32);
		arca_put_le64(r + 32, e[i].offset);
		arca_put_le32(r + 40, e[i].length);
		arca_put_le16(r + 44, e[i].member);
		if ((rc = arca_buf_put(out, r, sizeof(r))) != 0)
			return rc;
	}
	if ((rc = arca_sha256_digest(d, out->ptr + start, out->len - start)) != 0)
		return rc;
	return arca_buf_put(out, d, sizeof(d));
}

static int check_trailer(const uint8_t *p, size_t n, const char *what)
{
	uint8_t d[32];
	int rc;
	if ((rc = arca_sha256_digest(d, p, n - TRAILER_LEN)) != 0)
		return rc;
	if (memcmp(d, p + n - TRAILER_LEN, 32) != 0)
		return arca_err_set(ARCA_ECORRUPT, "%s: checksum mismatch", what);
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int arca_pidx_decode(arca_pidx *out, const void *pv, size_t n)
{
	const uint8_t *p = pv;
	uint32_t count;
	uint64_t size;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n < ARCA_PIDX_HEADER_LEN + TRAILER_LEN || memcmp(p, PIDX_MAGIC, 8) != 0)
		return arca_err_set(ARCA_ECORRUPT, "pack index: bad magic or truncated");
	if (arca_get_le32(p + 8) != ARCA_LAYOUT_VERSION)
		return arca_err_set(ARCA_EUNSUPPORTED, "pack index version %u not supported",
			arca_get_le32(p + 8));
	count = arca_get_le32(p + 12);
	size = arca_get_le64(p + 16);
	if (count == 0 || count > ARCA_PIDX_MAX_ENTRIES)
		return arca_err_set(ARCA_ECORRUPT, "pack index: %u entries", count);
	if (n != ARCA_PIDX_HEADER_LEN + (size_t)count * ARCA_PIDX_ENTRY_LEN + TRAILER_LEN)
		return arca_err_set(ARCA_ECORRUPT, "pack index: %zu bytes for %u entries", n, count);
	if ((rc = check_trailer(p, n, "pack index")) != 0)
		return rc;
	if (!all_zero(p + 56, 8))
		return arca_err_set(ARCA_ECORRUPT, "pack index: reserved bytes set");
	if (size < ARCA_PACK_HEADER_LEN + ARCA_RECORD_HEADER_LEN)
		return arca_err_set(ARCA_ECORRUPT, "pack index: pack size %" PRIu64, size);
	if (!(out->e = malloc((size_t)count * sizeof(*out->e))))
		return arca_err_set(ARCA_ENOMEM, "out of memory (pack index)");
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *r = p + ARCA_PIDX_HEADER_LEN + (size_t)i * ARCA_PIDX_ENTRY_LEN;
		arca_pidx_entry *x = &out->e[i];
		memcpy(x->id, r, 32);
		x->offset = arca_get_le64(r + 32);
		x->length = arca_get_le32(r + 40);
		x->member = arca_get_le16(r + 44);
		if (i && memcmp(out->e[i - 1].id, x->id, 32) >= 0) {
			rc = arca_err_set(ARCA_ECORRUPT, "pack index: entries out of order");
			goto fail;
		}
		if (r[46] || r[47] || x->offset < ARCA_PACK_HEADER_LEN ||
		    x->length < ARCA_RECORD_HEADER_LEN || x->offset > size ||
		    x->length > size - x->offset ||
		    (x->member != ARCA_PIDX_PLAIN && x->member >= ARCA_GROUP_MAX_MEMBERS)) {
			rc = arca_err_set(ARCA_ECORRUPT, "pack index: entry %u out of range", i);
			goto fail;
		}
	}
	memcpy(out->pack_sha, p + 24, 32);
	out->pack_size = size;
	out->n = count;
	return 0;
fail:
	arca_pidx_clear(out);
	return rc;
}

const arca_pidx_entry *arca_pidx_find(const arca_pidx *x, const uint8_t id[32])
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(x->e[mid].id, id, 32);
		if (c == 0)
			return &x->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void arca_pidx_clear(arca_pidx *x)
{
	free(x->e);
	memset(x, 0, sizeof(*x));
}

/* ---- artifact object ---- */

static int sha_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

int arca_arto_encode(arca_buf *out, const void *record, uint32_t record_len,
		uint8_t (*packs)[32], uint32_t npacks)
{
	uint8_t h[ARCA_ARTO_HEADER_LEN], d[32];
	uint32_t m = 0;
	size_t start = out->len;
	int rc;

	if (record_len == 0 || record_len > ARTO_RECORD_MAX || npacks > ARCA_ARTO_MAX_PACKS)
		return arca_err_set(ARCA_EINVAL, "artifact object: record %u bytes, %u packs",
			record_len, npacks);
	if (npacks)
		qsort(packs, npacks, 32, sha_cmp);
	for (uint32_t i = 0; i < npacks; i++)
		if (i == 0 || memcmp(packs[i], packs[m - 1], 32) != 0)
			memmove(packs[m++], packs[i], 32);
	memset(h, 0, sizeof(h));
	memcpy(h, ARTO_MAGIC, 8);
	arca_put_le32(h + 8, ARCA_LAYOUT_VERSION);
	arca_put_le32(h + 12, record_len);
	arca_put_le32(h + 16, m);
	if ((rc = arca_buf_grow(out, sizeof(h) + record_len + (size_t)m * 32 + TRAILER_LEN)) != 0 ||
	    (rc = arca_buf_put(out, h, sizeof(h))) != 0 ||
	    (rc = arca_buf_put(out, record, record_len)) != 0 ||
	    (m && (rc = arca_buf_put(out, packs, (size_t)m * 32)) != 0))
		return rc;
	if ((rc = arca_sha256_digest(d, out->ptr + start, out->len - start)) != 0)
		return rc;
	return arca_buf_put(out, d, sizeof(d));
}

int arca_arto_decode(arca_arto *out, const void *pv, size_t n)
{
	const uint8_t *p = pv;
	uint32_t r, np;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n < ARCA_ARTO_HEADER_LEN + TRAILER_LEN || memcmp(p, ARTO_MAGIC, 8) != 0)
		return arca_err_set(ARCA_ECORRUPT, "artifact object: bad magic or truncated");
	if (arca_get_le32(p + 8) != ARCA_LAYOUT_VERSION)
		return arca_err_set(ARCA_EUNSUPPORTED, "artifact object version %u not supported",
			arca_get_le32(p + 8));
	r = arca_get_le32(p + 12);
	np = arca_get_le32(p + 16);
	if (r == 0 || r > ARTO_RECORD_MAX || np > ARCA_ARTO_MAX_PACKS)
		return arca_err_set(ARCA_ECORRUPT, "artifact object: record %u bytes, %u packs", r, np);
	if (n != ARCA_ARTO_HEADER_LEN + (size_t)r + (size_t)np * 32 + TRAILER_LEN)
		return arca_err_set(ARCA_ECORRUPT, "artifact object: %zu bytes, expected %zu", n,
			ARCA_ARTO_HEADER_LEN + (size_t)r + (size_t)np * 32 + TRAILER_LEN);
	if ((rc = check_trailer(p, n, "artifact object")) != 0)
		return rc;
	if (!all_zero(p + 20, 12))
		return arca_err_set(ARCA_ECORRUPT, "artifact object: reserved bytes set");
	out->record = p + ARCA_ARTO_HEADER_LEN;
	out->record_len = r;
	out->npacks = np;
	out->packs = (const uint8_t (*)[32])(p + ARCA_ARTO_HEADER_LEN + r);
	for (uint32_t i = 1; i < np; i++)
		if (memcmp(out->packs[i - 1], out->packs[i], 32) >= 0) {
			memset(out, 0, sizeof(*out));
			return arca_err_set(ARCA_ECORRUPT, "artifact object: packs not sorted");
		}
	return 0;
}

/* ---- text objects: lines ---- */

/* The next '\n'-terminated line of [*p, end): its start and length
 * without the newline; 0 at the end or when the last line is open. */
static int next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl;
	if (*p >= end || !(nl = memchr(*p, '\n', (size_t)(end - *p))))
		return 0;
	*line = *p;
	*len = (size_t)(nl - *p);
	*p = nl + 1;
	return 1;
}

/* Canonical unsigned decimal: digits, no leading zero but "0" itself. */
static int parse_u64(const char *p, size_t n, uint64_t *v)
{
	*v = 0;
	if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d;
		if (p[i] < '0' || p[i] > '9')
			return -1;
		d = (unsigned)(p[i] - '0');
		if (*v > (UINT64_MAX - d) / 10)
			return -1;
		*v = *v * 10 + d;
	}
	return 0;
}

static int parse_i64(const char *p, size_t n, int64_t *v)
{
	uint64_t u;
	if (n && p[0] == '-') {
		if (parse_u64(p + 1, n - 1, &u) != 0 || u == 0 || u > (uint64_t)INT64_MAX + 1)
			return -1;
		*v = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
		return 0;
	}
	if (parse_u64(p, n, &u) != 0 || u > INT64_MAX)
		return -1;
	*v = (int64_t)u;
	return 0;
}

/* "<prefix><64 lower hex>" */
static int parse_hex_id(const char *line, size_t n, const char *prefix, uint8_t out[32])
{
	size_t pl = strlen(prefix);
	if (n != pl + 64 || memcmp(line, prefix, pl) != 0 || !is_lower_hex(line + pl, 64))
		return -1;
	return arca_hex_decode(out, 32, line + pl, 64) == 64 ? 0 : -1;
}

static int has_prefix(const char *line, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);
	return n >= pl && memcmp(line, prefix, pl) == 0;
}

/* "NAME:TAG" of n bytes into checked name and tag. */
static int parse_ref_name(const char *p, size_t n, char *name, char *tag)
{
	char key[ARCA_REF_KEY_MAX + 1];
	if (n == 0 || n >= sizeof(key) || memchr(p, '\0', n))
		return -1;
	memcpy(key, p, n);
	key[n] = '\0';
	return arca_store__split_ref(key, name, tag) == 0 ? 0 : -1;
}

/* ---- ref entries and hints ---- */

int arca_ref_entry_encode(arca_buf *out, const arca_ref_entry *e)
{
	char id[65] = "deleted", prev[65] = "none";
	if (!e->deleted)
		arca_hex_encode(id, e->id.bytes, 32);
	if (e->has_prev)
		arca_hex_encode(prev, e->prev.bytes, 32);
	return arca_buf_printf(out, "arca-ref 1\nref %s:%s\nseq %" PRIu64 "\nid %s\nprev %s\n"
		"time %" PRId64 "\n", e->name, e->tag, e->seq, id, prev, e->time_ns);
}

int arca_ref_entry_decode(arca_ref_entry *e, const void *pv, size_t n)
{
	const char *p = pv, *end = p + n, *l;
	size_t ln;
	arca_buf again = ARCA_BUF_INIT(ARCA_REF_ENTRY_MAX + 1);
	int rc = ARCA_ECORRUPT;

	memset(e, 0, sizeof(*e));
	if (n > ARCA_REF_ENTRY_MAX || memchr(p, '\0', n))
		goto bad;
	if (!next_line(&p, end, &l, &ln) || ln != 10 || memcmp(l, "arca-ref 1", 10) != 0) {
		if (n >= 9 && !memcmp(pv, "arca-ref ", 9) && !has_prefix(pv, n, "arca-ref 1\n"))
			return arca_err_set(ARCA_EUNSUPPORTED, "ref entry: version not supported");
		goto bad;
	}
	if (!next_line(&p, end, &l, &ln) || !has_prefix(l, ln, "ref ") ||
	    parse_ref_name(l + 4, ln - 4, e->name, e->tag) != 0)
		goto bad;
	if (!next_line(&p, end, &l, &ln) || !has_prefix(l, ln, "seq ") ||
	    parse_u64(l + 4, ln - 4, &e->seq) != 0 || e->seq == 0)
		goto bad;
	if (!next_line(&p, end, &l, &ln))
		goto bad;
	if (ln == 10 && !memcmp(l, "id deleted", 10))
		e->deleted = 1;
	else if (parse_hex_id(l, ln, "id ", e->id.bytes) != 0)
		goto bad;
	if (!next_line(&p, end, &l, &ln))
		goto bad;
	if (!(ln == 9 && !memcmp(l, "prev none", 9))) {
		if (parse_hex_id(l, ln, "prev ", e->prev.bytes) != 0)
			goto bad;
		e->has_prev = 1;
	}
	if (!next_line(&p, end, &l, &ln) || !has_prefix(l, ln, "time ") ||
	    parse_i64(l + 5, ln - 5, &e->time_ns) != 0 || p != end)
		goto bad;
	/* the one canonical spelling only */
	if (arca_ref_entry_encode(&again, e) != 0 || again.len != n || memcmp(again.ptr, pv, n))
		goto bad;
	arca_buf_release(&again);
	return 0;
bad:
	arca_buf_release(&again);
	memset(e, 0, sizeof(*e));
	return arca_err_set(rc, "ref entry: malformed");
}

int arca_ref_hint_encode(arca_buf *out, uint64_t seq)
{
	return arca_buf_printf(out, "arca-ref-head 1\nseq %" PRIu64 "\n", seq);
}

int arca_ref_hint_decode(uint64_t *seq, const void *pv, size_t n)
{
	const char *p = pv, *end = p + n, *l;
	size_t ln;

	*seq = 0;
	if (n > ARCA_REF_ENTRY_MAX || memchr(p, '\0', n) || !next_line(&p, end, &l, &ln) ||
	    ln != 15 || memcmp(l, "arca-ref-head 1", 15) != 0 ||
	    !next_line(&p, end, &l, &ln) || !has_prefix(l, ln, "seq ") ||
	    parse_u64(l + 4, ln - 4, seq) != 0 || *seq == 0 || p != end) {
		*seq = 0;
		return arca_err_set(ARCA_ECORRUPT, "ref hint: malformed");
	}
	return 0;
}

/* ---- bundle header ---- */

int arca_bundle_header_encode(arca_buf *out, const arca_bundle_header *h)
{
	char hex[65];
	int rc;
	if (h->nrefs == 0 || h->nrefs > ARCA_BUNDLE_MAX_REFS || h->nsince > ARCA_BUNDLE_MAX_REFS)
		return arca_err_set(ARCA_EINVAL, "bundle of %zu refs, %zu bases", h->nrefs, h->nsince);
	if ((rc = arca_buf_printf(out, "arca-bundle 1\n")) != 0)
		return rc;
	for (size_t i = 0; i < h->nrefs; i++) {
		arca_hex_encode(hex, h->ids[i].bytes, 32);
		if ((rc = arca_buf_printf(out, "ref %s:%s %s\n", h->names[i], h->tags[i], hex)) != 0)
			return rc;
	}
	for (size_t i = 0; i < h->nsince; i++) {
		arca_hex_encode(hex, h->since[i].bytes, 32);
		if ((rc = arca_buf_printf(out, "since %s\n", hex)) != 0)
			return rc;
	}
	return 0;
}

int arca_bundle_header_decode(arca_bundle_header *h, const void *pv, size_t n)
{
	const char *p = pv, *end = p + n, *l;
	size_t ln, lines = 0;
	arca_buf again = ARCA_BUF_INIT(ARCA_BUNDLE_HEADER_MAX + 1);
	int rc = 0;

	memset(h, 0, sizeof(*h));
	if (n > ARCA_BUNDLE_HEADER_MAX || memchr(p, '\0', n))
		goto bad;
	for (const char *q = p; q < end; q++)
		lines += *q == '\n';
	if (!next_line(&p, end, &l, &ln) || ln != 13 || memcmp(l, "arca-bundle 1", 13) != 0) {
		if (has_prefix(pv, n, "arca-bundle ") && !has_prefix(pv, n, "arca-bundle 1\n"))
			return arca_err_set(ARCA_EUNSUPPORTED, "bundle version not supported");
		goto bad;
	}
	if (lines - 1 > 2 * (size_t)ARCA_BUNDLE_MAX_REFS)
		goto bad;
	if (lines > 1 && (!(h->names = calloc(lines - 1, sizeof(*h->names))) ||
	    !(h->tags = calloc(lines - 1, sizeof(*h->tags))) ||
	    !(h->ids = calloc(lines - 1, sizeof(*h->ids))) ||
	    !(h->since = calloc(lines - 1, sizeof(*h->since))))) {
		arca_bundle_header_clear(h);
		return arca_err_set(ARCA_ENOMEM, "out of memory (bundle header)");
	}
	while (next_line(&p, end, &l, &ln)) {
		if (has_prefix(l, ln, "ref ")) {
			const char *sp = memchr(l + 4, ' ', ln - 4);
			if (h->nsince || !sp || h->nrefs == ARCA_BUNDLE_MAX_REFS ||
			    parse_ref_name(l + 4, (size_t)(sp - l - 4), h->names[h->nrefs],
				    h->tags[h->nrefs]) != 0 ||
			    parse_hex_id(sp, (size_t)(l + ln - sp), " ", h->ids[h->nrefs].bytes) != 0)
				goto bad;
			h->nrefs++;
		} else if (has_prefix(l, ln, "since ")) {
			if (h->nsince == ARCA_BUNDLE_MAX_REFS ||
			    parse_hex_id(l, ln, "since ", h->since[h->nsince].bytes) != 0)
				goto bad;
			h->nsince++;
		} else {
			goto bad;
		}
	}
	if (p != end || h->nrefs == 0)
		goto bad;
	if ((rc = arca_bundle_header_encode(&again, h)) != 0 || again.len != n ||
	    memcmp(again.ptr, pv, n) != 0)
		goto bad;
	arca_buf_release(&again);
	return 0;
bad:
	arca_buf_release(&again);
	arca_bundle_header_clear(h);
	return arca_err_set(ARCA_ECORRUPT, "bundle header: malformed");
}

void arca_bundle_header_clear(arca_bundle_header *h)
{
	free(h->names);
	free(h->tags);
	free(h->ids);
	free(h->since);
	memset(h, 0, sizeof(*h));
}
