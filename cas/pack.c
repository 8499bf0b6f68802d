#include "cas/pack.h"
#include "cas/chunker.h"
#include "cas/hash.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/hex.h"

#include <stdlib.h>
#include <string.h>
/* for ZSTD_d_stableOutBuffer (zstd >= 1.4.6; set at run time, so a
 * library without it only costs a copy) */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

struct arca_decoder {
	ZSTD_DCtx *dctx;
	int stable;   /* streams write straight into the caller's buffer */
};

size_t arca_record_stored_max(void)
{
	return ZSTD_COMPRESSBOUND(ARCA_CHUNK_MAX_LIMIT);
}

size_t arca_record_total_max(void)
{
	size_t chunk = ARCA_RECORD_HEADER_LEN + arca_record_stored_max();
	size_t group = ARCA_RECORD_HEADER_LEN + (size_t)ARCA_GROUP_MAX_MEMBERS * ARCA_GROUP_MEMBER_LEN +
		ZSTD_COMPRESSBOUND(ARCA_GROUP_RAW_MAX);
	return chunk > group ? chunk : group;
}

void arca_pack_header_encode(uint8_t out[ARCA_PACK_HEADER_LEN], uint32_t pack_no)
{
	memcpy(out, ARCA_PACK_MAGIC, 8);
	arca_put_le32(out + 8, ARCA_PACK_VERSION);
	arca_put_le32(out + 12, pack_no);
}

int arca_pack_header_decode(uint32_t *pack_no, const uint8_t *p, size_t n)
{
	if (n < ARCA_PACK_HEADER_LEN || memcmp(p, ARCA_PACK_MAGIC, 8) != 0)
		return arca_err_set(ARCA_ECORRUPT, "not a pack file (bad magic)");
	if (arca_get_le32(p + 8) != ARCA_PACK_VERSION)
		return arca_err_set(ARCA_EUNSUPPORTED, "pack format version %u not supported",
			arca_get_le32(p + 8));
	*pack_no = arca_get_le32(p + 12);
	return 0;
}

static uint32_t header_check(const uint8_t *p)
{
	uint8_t d[ARCA_HASH_LEN];
	if (arca_sha256_digest(d, p, 60) != 0)
		return 0;
	return arca_get_le32(d);
}

void arca_record_encode(uint8_t out[ARCA_RECORD_HEADER_LEN], const arca_record *r)
{
	memset(out, 0, ARCA_RECORD_HEADER_LEN);
	memcpy(out, ARCA_RECORD_MAGIC, 4);
	out[4] = ARCA_RECORD_VERSION;
	out[5] = r->codec;
	arca_put_le32(out + 8, r->raw_len);
	arca_put_le32(out + 12, r->stored_len);
	memcpy(out + 16, r->id, 32);
	arca_put_le32(out + 60, header_check(out));
}

int arca_record_decode(arca_record *r, const uint8_t *p, size_t n)
{
	if (n < ARCA_RECORD_HEADER_LEN)
		return arca_err_set(ARCA_ECORRUPT, "record header truncated");
	if (memcmp(p, ARCA_RECORD_MAGIC, 4) != 0)
		return arca_err_set(ARCA_ECORRUPT, "record: bad magic");
	if (p[4] != ARCA_RECORD_VERSION)
		return arca_err_set(ARCA_ECORRUPT, "record: unknown version %u", p[4]);
	for (int i = 6; i < 8; i++)
		if (p[i])
			return arca_err_set(ARCA_ECORRUPT, "record: reserved bytes set");
	for (int i = 48; i < 60; i++)
		if (p[i])
			return arca_err_set(ARCA_ECORRUPT, "record: reserved bytes set");
	if (arca_get_le32(p + 60) != header_check(p))
		return arca_err_set(ARCA_ECORRUPT, "record: header checksum mismatch");
	r->codec = p[5];
	r->raw_len = arca_get_le32(p + 8);
	r->stored_len = arca_get_le32(p + 12);
	memcpy(r->id, p + 16, 32);
	if (r->codec != ARCA_CODEC_RAW && r->codec != ARCA_CODEC_ZSTD)
		return arca_err_set(ARCA_ECORRUPT, "record: unknown codec %u", r->codec);
	if (r->raw_len == 0 || r->raw_len > ARCA_CHUNK_MAX_LIMIT)
		return arca_err_set(ARCA_ECORRUPT, "record: raw length %u out of range", r->raw_len);
	if (r->stored_len == 0 || r->stored_len > arca_record_stored_max() ||
	    (r->codec == ARCA_CODEC_RAW && r->stored_len != r->raw_len))
		return arca_err_set(ARCA_ECORRUPT, "record: stored length %u out of range", r->stored_len);
	return 0;
}

int arca_meta_hash(uint8_t out[32], const uint8_t store_id[ARCA_STORE_ID_LEN],
		const void *a, size_t alen, const void *b, size_t blen)
{
	arca_sha256 *h = NULL;
	int rc;
	if ((rc = arca_sha256_new(&h)) == 0 &&
	    (rc = arca_sha256_update(h, store_id, ARCA_STORE_ID_LEN)) == 0 &&
	    (rc = arca_sha256_update(h, a, alen)) == 0 && (rc = arca_sha256_update(h, b, blen)) == 0)
		rc = arca_sha256_final(h, out);
	arca_sha256_free(h);
	return rc;
}

void arca_meta_encode(uint8_t out[ARCA_RECORD_HEADER_LEN], const arca_meta_hdr *m)
{
	memset(out, 0, ARCA_RECORD_HEADER_LEN);
	memcpy(out, ARCA_META_MAGIC, 4);
	out[4] = ARCA_RECORD_VERSION;
	out[5] = m->type;
	out[6] = m->flags;
	arca_put_le32(out + 8, m->len);
	arca_put_le32(out + 12, m->tag);
	memcpy(out + 16, m->hash, 32);
	arca_put_le64(out + 48, m->seq);
	arca_put_le32(out + 60, header_check(out));
}

int arca_meta_decode(arca_meta_hdr *m, const uint8_t *p, size_t n)
{
	if (n < ARCA_RECORD_HEADER_LEN)
		return arca_err_set(ARCA_ECORRUPT, "meta record header truncated");
	if (memcmp(p, ARCA_META_MAGIC, 4) != 0)
		return arca_err_set(ARCA_ECORRUPT, "meta record: bad magic");
	if (p[4] != ARCA_RECORD_VERSION)
		return arca_err_set(ARCA_ECORRUPT, "meta record: unknown version %u", p[4]);
	if (p[7] || arca_get_le32(p + 56))
		return arca_err_set(ARCA_ECORRUPT, "meta record: reserved bytes set");
	if (arca_get_le32(p + 60) != header_check(p))
		return arca_err_set(ARCA_ECORRUPT, "meta record: header checksum mismatch");
	m->type = p[5];
	m->flags = p[6];
	m->len = arca_get_le32(p + 8);
	m->tag = arca_get_le32(p + 12);
	memcpy(m->hash, p + 16, 32);
	m->seq = arca_get_le64(p + 48);
	if (m->type == 0 || m->type > ARCA_META_TYPE_MAX)
		return arca_err_set(ARCA_ECORRUPT, "meta record: unknown type %u", m->type);
	if (m->flags & ~ARCA_META_F_CKPT)
		return arca_err_set(ARCA_ECORRUPT, "meta record: unknown flags %#x", m->flags);
	if (m->len > ARCA_META_PAYLOAD_MAX)
		return arca_err_set(ARCA_ECORRUPT, "meta record: payload of %u bytes", m->len);
	if (m->seq == 0)
		return arca_err_set(ARCA_ECORRUPT, "meta record: sequence 0");
	return 0;
}

void arca_group_encode(uint8_t out[ARCA_RECORD_HEADER_LEN], const arca_group *g)
{
	memset(out, 0, ARCA_RECORD_HEADER_LEN);
	memcpy(out, ARCA_GROUP_MAGIC, 4);
	out[4] = ARCA_RECORD_VERSION;
	out[5] = g->codec;
	arca_put_le32(out + 8, g->raw_len);
	arca_put_le32(out + 12, g->stored_len);
	memcpy(out + 16, g->table_hash, 32);
	arca_put_le32(out + 48, g->nmembers);
	arca_put_le32(out + 60, header_check(out));
}

int arca_group_decode(arca_group *g, const uint8_t *p, size_t n)
{
	if (n < ARCA_RECORD_HEADER_LEN)
		return arca_err_set(ARCA_ECORRUPT, "group header truncated");
	if (memcmp(p, ARCA_GROUP_MAGIC, 4) != 0)
		return arca_err_set(ARCA_ECORRUPT, "group: bad magic");
	if (p[4] != ARCA_RECORD_VERSION)
		return arca_err_set(ARCA_ECORRUPT, "group: unknown version %u", p[4]);
	if (p[6] || p[7])
		return arca_err_set(ARCA_ECORRUPT, "group: reserved bytes set");
	for (int i = 52; i < 60; i++)
		if (p[i])
			return arca_err_set(ARCA_ECORRUPT, "group: reserved bytes set");
	if (arca_get_le32(p + 60) != header_check(p))
		return arca_err_set(ARCA_ECORRUPT, "group: header checksum mismatch");
	g->codec = p[5];
	g->raw_len = arca_get_le32(p + 8);
	g->stored_len = arca_get_le32(p + 12);
	memcpy(g->table_hash, p + 16, 32);
	g->nmembers = arca_get_le32(p + 48);
	if (g->codec != ARCA_CODEC_RAW && g->codec != ARCA_CODEC_ZSTD)
		return arca_err_set(ARCA_ECORRUPT, "group: unknown codec %u", g->codec);
	if (g->nmembers == 0 || g->nmembers > ARCA_GROUP_MAX_MEMBERS)
		return arca_err_set(ARCA_ECORRUPT, "group: member count %u out of range", g->nmembers);
	if (g->raw_len < g->nmembers || g->raw_len > ARCA_GROUP_RAW_MAX)
		return arca_err_set(ARCA_ECORRUPT, "group: raw length %u out of range", g->raw_len);
	if (g->stored_len == 0 || g->stored_len > ZSTD_COMPRESSBOUND(ARCA_GROUP_RAW_MAX) ||
	    (g->codec == ARCA_CODEC_RAW && g->stored_len != g->raw_len))
		return arca_err_set(ARCA_ECORRUPT, "group: stored length %u out of range", g->stored_len);
	return 0;
}

int arca_group_table_check(const arca_group *g, const uint8_t *table)
{
	uint8_t d[ARCA_HASH_LEN];
	uint64_t sum = 0;
	int rc;
	if ((rc = arca_sha256_digest(d, table, (size_t)g->nmembers * ARCA_GROUP_MEMBER_LEN)) != 0)
		return rc;
	if (memcmp(d, g->table_hash, 32) != 0)
		return arca_err_set(ARCA_ECORRUPT, "group: member table does not match its header");
	for (uint32_t i = 0; i < g->nmembers; i++) {
		uint32_t len = arca_get_le32(table + (size_t)i * ARCA_GROUP_MEMBER_LEN + 32);
		if (len == 0 || len > ARCA_CHUNK_MAX_LIMIT)
			return arca_err_set(ARCA_ECORRUPT, "group: member length out of range");
		sum += len;
	}
	if (sum != g->raw_len)
		return arca_err_set(ARCA_ECORRUPT, "group: member lengths do not add up");
	return 0;
}

int arca_decoder_new(arca_decoder **out)
{
	arca_decoder *d = calloc(1, sizeof(*d));
	if (!d || !(d->dctx = ZSTD_createDCtx())) {
		free(d);
		return arca_err_set(ARCA_ENOMEM, "out of memory (zstd context)");
	}
	/* A chunk never exceeds ARCA_CHUNK_MAX_LIMIT; refuse frames that ask
	 * for a larger window. */
	ZSTD_DCtx_setParameter(d->dctx, ZSTD_d_windowLogMax, 24);
	d->stable = !ZSTD_isError(ZSTD_DCtx_setParameter(d->dctx, ZSTD_d_stableOutBuffer, 1));
	*out = d;
	return 0;
}

void arca_decoder_free(arca_decoder *d)
{
	if (!d)
		return;
	ZSTD_freeDCtx(d->dctx);
	free(d);
}

int arca_group_unpack(arca_decoder *d, const arca_group *g, const uint8_t *stored,
		uint8_t *raw, size_t raw_cap)
{
	size_t got;
	if (raw_cap < g->raw_len)
		return arca_err_set(ARCA_EINVAL, "group: buffer too small");
	if (g->codec == ARCA_CODEC_RAW) {
		memcpy(raw, stored, g->raw_len);
		return 0;
	}
	got = ZSTD_decompressDCtx(d->dctx, raw, g->raw_len, stored, g->stored_len);
	if (ZSTD_isError(got))
		return arca_err_set(ARCA_ECORRUPT, "group: zstd: %s", ZSTD_getErrorName(got));
	if (got != g->raw_len)
		return arca_err_set(ARCA_ECORRUPT, "group: decompressed to %zu bytes, expected %u",
			got, g->raw_len);
	return 0;
}

/* Decoding goes a little past what was asked, as the next member is
 * usually wanted next: by raw bytes, or (with a stable output buffer,
 * whose size may not change) by compressed bytes fed at a time. */
#define UNPACK_AHEAD (128u * 1024)
#define UNPACK_IN_STEP (32u * 1024)

int arca_group_unpack_upto(arca_decoder *d, const arca_group *g, const uint8_t *stored,
		uint8_t *raw, size_t raw_cap, size_t *in_pos, size_t *out_pos, size_t need)
{
	if (raw_cap < g->raw_len)
		return arca_err_set(ARCA_EINVAL, "group: buffer too small");
	if (need > g->raw_len)
		need = g->raw_len;
	if (g->codec == ARCA_CODEC_RAW) {
		if (*out_pos < g->raw_len)
			memcpy(raw, stored, g->raw_len);
		*in_pos = g->stored_len;
		*out_pos = g->raw_len;
		return 0;
	}
	if (*in_pos == 0 && *out_pos == 0)
		ZSTD_DCtx_reset(d->dctx, ZSTD_reset_session_only);
	/* a whole group also reads the frame's end: its checksum, and that
	 * nothing follows it in the record */
	while (*out_pos < need || (need == g->raw_len && *in_pos < g->stored_len)) {
		size_t lim = need + UNPACK_AHEAD < g->raw_len ? need + UNPACK_AHEAD : g->raw_len;
		size_t inlim = *in_pos + UNPACK_IN_STEP < g->stored_len ?
			*in_pos + UNPACK_IN_STEP : g->stored_len;
		ZSTD_inBuffer in = { stored, d->stable ? inlim : g->stored_len, *in_pos };
		ZSTD_outBuffer out = { raw, d->stable ? g->raw_len : lim, *out_pos };
		size_t ret = ZSTD_decompressStream(d->dctx, &out, &in);
		if (ZSTD_isError(ret))
			return arca_err_set(ARCA_ECORRUPT, "group: zstd: %s", ZSTD_getErrorName(ret));
		if (out.pos == *out_pos && in.pos == *in_pos && in.size == g->stored_len)
			return arca_err_set(ARCA_ECORRUPT, "group: compressed data ends early");
		*in_pos = in.pos;
		*out_pos = out.pos;
		if (ret == 0 && out.pos != g->raw_len)
			return arca_err_set(ARCA_ECORRUPT, "group: decompressed to %zu bytes, expected %u",
				out.pos, g->raw_len);
		if (ret == 0 && need == g->raw_len && in.pos != g->stored_len)
			return arca_err_set(ARCA_ECORRUPT, "group: bytes after the compressed data");
	}
	return 0;
}

int arca_record_unpack(arca_decoder *d, const arca_record *r,
		const uint8_t *stored, uint8_t *raw, size_t raw_cap)
{
	uint8_t digest[ARCA_HASH_LEN];
	char hex[17];
	int rc;

	if ((rc = arca_record_decompress(d, r, stored, raw, raw_cap)) != 0)
		return rc;
	if ((rc = arca_sha256_digest(digest, raw, r->raw_len)) != 0)
		return rc;
	if (memcmp(digest, r->id, 32) != 0) {
		arca_hex_encode(hex, r->id, 8);
		return arca_err_set(ARCA_ECORRUPT, "chunk %s: content does not match its id", hex);
	}
	return 0;
}

int arca_record_decompress(arca_decoder *d, const arca_record *r,
		const uint8_t *stored, uint8_t *raw, size_t raw_cap)
{
	char hex[17];

	if (raw_cap < r->raw_len)
		return arca_err_set(ARCA_EINVAL, "record: buffer too small");
	if (r->codec == ARCA_CODEC_ZSTD) {
		size_t got = ZSTD_decompressDCtx(d->dctx, raw, r->raw_len, stored, r->stored_len);
		if (ZSTD_isError(got)) {
			arca_hex_encode(hex, r->id, 8);
			return arca_err_set(ARCA_ECORRUPT, "chunk %s: zstd: %s", hex,
				ZSTD_getErrorName(got));
		}
		if (got != r->raw_len) {
			arca_hex_encode(hex, r->id, 8);
			return arca_err_set(ARCA_ECORRUPT, "chunk %s: decompressed to %zu bytes, expected %u",
				hex, got, r->raw_len);
		}
	} else {
		memcpy(raw, stored, r->raw_len);
	}
	return 0;
}
