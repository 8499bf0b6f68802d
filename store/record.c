/* The artifact record codec: arca_artifact_rec <-> the bytes of its LMDB
 * value (docs/FORMAT.md). Pure bytes: input is hostile. */
#include "store/record.h"
#include "cas/chunker.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

#define REC_VERSION 1
#define REC_HAS_PARENT 1

static int put_str(arca_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	uint8_t l[2];
	if (n > 0xffff)
		return arca_err_set(ARCA_EINVAL, "string too long");
	arca_put_le16(l, (uint16_t)n);
	int rc = arca_buf_put(b, l, 2);
	return rc ? rc : arca_buf_put(b, s, n);
}

int arca_artifact_rec_encode(arca_buf *b, const arca_artifact_rec *rec)
{
	const arca_artifact *a = &rec->a;
	uint8_t h[44];
	int rc;

	h[0] = REC_VERSION;
	h[1] = (uint8_t)a->kind;
	arca_put_le16(h + 2, a->has_parent ? REC_HAS_PARENT : 0);
	arca_put_le64(h + 4, a->logical_bytes);
	arca_put_le64(h + 12, a->entries);
	arca_put_le64(h + 20, (uint64_t)a->created_ns);
	arca_put_le64(h + 28, a->manifest_bytes);
	arca_put_le64(h + 36, a->data_bytes);
	if ((rc = arca_buf_put(b, h, sizeof(h))) != 0)
		return rc;
	if (a->has_parent && (rc = arca_buf_put(b, a->parent.bytes, 32)) != 0)
		return rc;
	if ((rc = put_str(b, a->name)) != 0 || (rc = put_str(b, a->tag)) != 0)
		return rc;
	arca_put_le16(h, (uint16_t)a->nlabels);
	if ((rc = arca_buf_put(b, h, 2)) != 0)
		return rc;
	for (size_t i = 0; i < a->nlabels; i++)
		if ((rc = put_str(b, a->labels[i].key)) != 0 ||
		    (rc = put_str(b, a->labels[i].value)) != 0)
			return rc;
	arca_put_le32(h, rec->nchunks);
	if ((rc = arca_buf_put(b, h, 4)) != 0)
		return rc;
	for (uint32_t i = 0; i < rec->nchunks; i++) {
		arca_put_le32(h, rec->chunk_lens[i]);
		if ((rc = arca_buf_put(b, rec->chunk_ids[i], 32)) != 0 ||
		    (rc = arca_buf_put(b, h, 4)) != 0)
			return rc;
	}
	return 0;
}

typedef struct {
	const uint8_t *p;
	size_t n, off;
} cursor;

static const uint8_t *take(cursor *c, size_t n)
{
	if (n > c->n - c->off)
		return NULL;
	const uint8_t *p = c->p + c->off;
	c->off += n;
	return p;
}

static int take_str(cursor *c, char **out)
{
	const uint8_t *l = take(c, 2), *s;
	size_t n;
	*out = NULL;
	if (!l)
		return -1;
	n = arca_get_le16(l);
	if (!(s = take(c, n)) || memchr(s, '\0', n))
		return -1;
	if (n == 0)
		return 0;
	*out = malloc(n + 1);
	if (!*out)
		return -1;
	memcpy(*out, s, n);
	(*out)[n] = '\0';
	return 0;
}

int arca_artifact_rec_decode(arca_artifact_rec *rec, const arca_id *id, const void *p, size_t n)
{
	cursor c = { p, n, 0 };
	const uint8_t *h;
	arca_artifact *a = &rec->a;
	uint32_t nl;

	memset(rec, 0, sizeof(*rec));
	a->id = *id;
	if (!(h = take(&c, 44)) || h[0] != REC_VERSION)
		goto bad;
	a->kind = h[1];
	if (a->kind != ARCA_KIND_TREE && a->kind != ARCA_KIND_IMAGE)
		goto bad;
	if (arca_get_le16(h + 2) & ~REC_HAS_PARENT)
		goto bad; /* unknown flags: not a record this version wrote */
	a->has_parent = (arca_get_le16(h + 2) & REC_HAS_PARENT) != 0;
	a->logical_bytes = arca_get_le64(h + 4);
	a->entries = arca_get_le64(h + 12);
	a->created_ns = (int64_t)arca_get_le64(h + 20);
	a->manifest_bytes = arca_get_le64(h + 28);
	a->data_bytes = arca_get_le64(h + 36);
	if (a->data_bytes > a->logical_bytes)
		goto bad;
	if (a->has_parent) {
		if (!(h = take(&c, 32)))
			goto bad;
		memcpy(a->parent.bytes, h, 32);
	}
	if (take_str(&c, &a->name) || take_str(&c, &a->tag) || !(h = take(&c, 2)))
		goto bad;
	nl = arca_get_le16(h);
	if (nl > ARCA_LABELS_MAX)
		goto bad;
	a->labels = calloc(nl ? nl : 1, sizeof(arca_label));
	if (!a->labels)
		goto bad;
	for (uint32_t i = 0; i < nl; i++) {
		char *k, *v;
		if (take_str(&c, &k))
			goto bad;
		a->labels[i].key = k;
		a->nlabels = i + 1;
		if (take_str(&c, &v))
			goto bad;
		a->labels[i].value = v ? v : strdup("");
		if (!k || !a->labels[i].value)
			goto bad; /* labels have a key */
	}
	if (!(h = take(&c, 4)))
		goto bad;
	rec->nchunks = arca_get_le32(h);
	if ((uint64_t)rec->nchunks * 36 != c.n - c.off)
		goto bad;
	rec->chunk_ids = malloc((size_t)rec->nchunks * 32 + 1);
	rec->chunk_lens = malloc((size_t)rec->nchunks * 4 + 1);
	if (!rec->chunk_ids || !rec->chunk_lens)
		goto bad;
	for (uint32_t i = 0; i < rec->nchunks; i++) {
		h = take(&c, 36);
		memcpy(rec->chunk_ids[i], h, 32);
		rec->chunk_lens[i] = arca_get_le32(h + 32);
		if (rec->chunk_lens[i] == 0 || rec->chunk_lens[i] > ARCA_CHUNK_MAX_LIMIT)
			goto bad;
	}
	return 0;
bad:
	arca_artifact_rec_clear(rec);
	return arca_err_set(ARCA_ECORRUPT, "index: artifact record is damaged");
}

void arca_record__artifact_clear(arca_artifact *a)
{
	free(a->name);
	free(a->tag);
	for (size_t i = 0; i < a->nlabels; i++) {
		free((char *)a->labels[i].key);
		free((char *)a->labels[i].value);
	}
	free(a->labels);
	memset(a, 0, sizeof(*a));
}

void arca_artifact_rec_clear(arca_artifact_rec *rec)
{
	arca_record__artifact_clear(&rec->a);
	free(rec->chunk_ids);
	free(rec->chunk_lens);
	memset(rec, 0, sizeof(*rec));
}
