/* Reading and checking chunk records (and groups) from the packs. */
#include "cas/cas_impl.h"
#include "cas/hash.h"
#include "util/buf.h"
#include "util/array.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int arca_chunk_reader_init(arca_chunk_reader *r)
{
	memset(r, 0, sizeof(*r));
	return arca_decoder_new(&r->dec);
}

void arca_chunk_reader_set_key(arca_chunk_reader *r, const uint8_t key[32])
{
	memcpy(r->key, key, 32);
	r->keyed = 1;
}

/* The bytes of chunk `id` are its own: by its MAC `tag` if not NULL,
 * else (or when the MAC disagrees: the packs, not the index, are the
 * truth) by SHA-256. */
static int check_content(const arca_chunk_reader *r, const arca_chunk_loc *loc,
		const uint8_t id[32], const uint8_t *tag, const uint8_t *p, uint32_t len)
{
	uint8_t d[32];
	char hex[17];
	int rc;
	if (tag) {
		if ((rc = arca_mac(d, r->key, id, p, len)) != 0)
			return rc;
		if (memcmp(d, tag, ARCA_MAC_LEN) == 0)
			return 0;
	}
	if ((rc = arca_sha256_digest(d, p, len)) != 0)
		return rc;
	if (memcmp(d, id, 32) == 0)
		return 0;
	arca_hex_encode(hex, id, 8);
	return arca_err_set(ARCA_ECORRUPT, "pack %08u: chunk %s: content does not match its id",
		loc->pack, hex);
}

void arca_chunk_reader_release(arca_chunk_reader *r)
{
	arca_decoder_free(r->dec);
	free(r->stored);
	free(r->raw);
	free(r->graw);
	memset(r, 0, sizeof(*r));
}

int arca_cas__ensure_cap(uint8_t **p, size_t *cap, size_t need)
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

int arca_cas__pack_fd(arca_cas *cas, uint32_t no, int *out)
{
	int rc = 0;
	arca_buf path = ARCA_BUF_INIT(PATH_MAX);

	pthread_mutex_lock(&cas->fd_lock);
	if (no >= cas->npack_fds) {
		size_t old = cas->npack_fds;
		if ((rc = arca_array_grow(&cas->pack_fds, &cas->npack_fds, (size_t)no + 1,
				sizeof(int), 16)) != 0)
			goto done;
		for (size_t i = old; i < cas->npack_fds; i++)
			cas->pack_fds[i] = -1;
	}
	if (cas->pack_fds[no] < 0) {
		if ((rc = arca_cas__pack_path(&path, cas, no)) != 0)
			goto done;
		cas->pack_fds[no] = open(arca_buf_cstr(&path), O_RDONLY | O_CLOEXEC);
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
	arca_buf_release(&path);
	return rc;
}

/* Reads `total` bytes of the record at `loc` into r->stored. */
static int read_record_bytes(arca_cas *cas, const arca_chunk_loc *loc, size_t total,
		arca_chunk_reader *r, const char *what)
{
	ssize_t got;
	int fd = -1, rc;
	r->gvalid = 0; /* r->stored is about to hold this record */
	if ((rc = arca_cas__pack_fd(cas, loc->pack, &fd)) != 0 ||
	    (rc = arca_cas__ensure_cap(&r->stored, &r->stored_cap, total)) != 0)
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

/* Decodes the group record read for `loc` (`total` bytes) and checks its
 * member table and that it is the group the index describes. */
static int check_group(arca_group *g, const arca_chunk_loc *loc, const uint8_t *bytes,
		size_t total)
{
	int rc;
	if ((rc = arca_group_decode(g, bytes, total)) != 0 ||
	    (rc = arca_group_table_check(g, bytes + ARCA_RECORD_HEADER_LEN)) != 0)
		return arca_err_wrap(rc, "pack %08u offset %llu", loc->pack,
			(unsigned long long)loc->offset);
	if (g->nmembers != loc->nmembers || g->raw_len != loc->group_raw ||
	    g->stored_len != loc->stored_len || g->codec != loc->codec)
		return arca_err_set(ARCA_ECORRUPT,
			"pack %08u offset %llu: group does not match the index",
			loc->pack, (unsigned long long)loc->offset);
	return 0;
}

/* The group record of `loc`, decoded at least up to byte `need` of its
 * raw bytes: decoding stops there and resumes for a later member, so a
 * read of one member pays only for what comes before it. */
static int load_group_upto(arca_cas *cas, const arca_chunk_loc *loc, arca_chunk_reader *r,
		size_t need, const uint8_t **table)
{
	size_t tlen = (size_t)loc->nmembers * ARCA_GROUP_MEMBER_LEN;
	size_t total = ARCA_RECORD_HEADER_LEN + tlen + (size_t)loc->stored_len;
	int rc;

	/* the group held serves only an index row that describes it too */
	if (!r->gvalid || r->gpack != loc->pack || r->goff != loc->offset ||
	    r->g.nmembers != loc->nmembers || r->g.raw_len != loc->group_raw ||
	    r->g.stored_len != loc->stored_len || r->g.codec != loc->codec) {
		if ((rc = arca_cas__ensure_cap(&r->graw, &r->graw_cap, loc->group_raw)) != 0 ||
		    (rc = read_record_bytes(cas, loc, total, r, "group")) != 0)
			return rc;
		if ((rc = check_group(&r->g, loc, r->stored, total)) != 0)
			return rc;
		r->gvalid = 1;
		r->gpack = loc->pack;
		r->goff = loc->offset;
		r->gin = r->gout = 0;
	}
	/* decodes what is still missing (for a whole load, after a member
	 * read decoded every byte: the frame's end) */
	if ((rc = arca_group_unpack_upto(r->dec, &r->g, r->stored + ARCA_RECORD_HEADER_LEN + tlen,
			r->graw, r->graw_cap, &r->gin, &r->gout, need)) != 0) {
		r->gvalid = 0;
		return arca_err_wrap(rc, "pack %08u offset %llu", loc->pack,
			(unsigned long long)loc->offset);
	}
	*table = r->stored + ARCA_RECORD_HEADER_LEN;
	return 0;
}

int arca_cas_load_group(arca_cas *cas, const arca_chunk_loc *loc, arca_chunk_reader *r,
		const uint8_t **table)
{
	return load_group_upto(cas, loc, r, loc->group_raw, table);
}

/* A member of a group record: the group (decompressed once for
 * consecutive members) must list it where the index says; its bytes must
 * hash to its id. */
static int read_member(arca_cas *cas, const arca_chunk_loc *loc, const uint8_t id[32],
		const uint8_t *tag, arca_chunk_reader *r, const uint8_t **raw)
{
	const uint8_t *t = NULL;
	uint64_t off = 0;
	int found = 0, rc;

	if ((rc = load_group_upto(cas, loc, r, (size_t)loc->member_off + loc->raw_len, &t)) != 0)
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
	if ((rc = check_content(r, loc, id, tag, r->graw + loc->member_off, loc->raw_len)) != 0)
		return rc;
	*raw = r->graw + loc->member_off;
	return 0;
}

/* arca_cas_read, checked by `tag` when not NULL */
static int read_checked(arca_cas *cas, const arca_chunk_loc *loc, const uint8_t id[32],
		const uint8_t *tag, arca_chunk_reader *r, const uint8_t **raw)
{
	size_t total = ARCA_RECORD_HEADER_LEN + (size_t)loc->stored_len;
	arca_record rec;
	int rc;

	if (loc->grouped)
		return read_member(cas, loc, id, tag, r, raw);
	if ((rc = arca_cas__ensure_cap(&r->raw, &r->raw_cap, loc->raw_len)) != 0 ||
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
	rc = arca_record_decompress(r->dec, &rec, r->stored + ARCA_RECORD_HEADER_LEN,
		r->raw, r->raw_cap);
	if (rc)
		return arca_err_wrap(rc, "pack %08u", loc->pack);
	if ((rc = check_content(r, loc, id, tag, r->raw, rec.raw_len)) != 0)
		return rc;
	*raw = r->raw;
	return 0;
}

int arca_cas_read(arca_cas *cas, const arca_chunk_loc *loc, const uint8_t id[32],
		arca_chunk_reader *r, const uint8_t **raw)
{
	return read_checked(cas, loc, id, NULL, r, raw);
}

int arca_cas_get(arca_cas *cas, MDB_txn *txn, const uint8_t id[32],
		arca_chunk_reader *r, const uint8_t **raw, uint32_t *len)
{
	arca_chunk_loc loc;
	uint8_t tag[ARCA_MAC_LEN];
	int keyed, rc = arca_cas_lookup(cas, txn, id, &loc);
	if (rc == ARCA_ENOTFOUND)
		return arca_err_set(ARCA_ECORRUPT, "chunk missing from the store");
	if (rc)
		return rc;
	keyed = r->keyed && arca_cas_mac_get(cas, txn, id, tag) == 1;
	if ((rc = read_checked(cas, &loc, id, keyed ? tag : NULL, r, raw)) != 0)
		return rc;
	*len = loc.raw_len;
	return 0;
}

int arca_cas_read_stored(arca_cas *cas, const arca_chunk_loc *loc, const uint8_t id[32],
		arca_chunk_reader *r, arca_stored_record *out)
{
	size_t tlen = loc->grouped ? (size_t)loc->nmembers * ARCA_GROUP_MEMBER_LEN : 0;
	size_t total = ARCA_RECORD_HEADER_LEN + tlen + (size_t)loc->stored_len;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_record_bytes(cas, loc, total, r, loc->grouped ? "group" : "record")) != 0)
		return rc;
	if (loc->grouped) {
		arca_group g;
		if ((rc = check_group(&g, loc, r->stored, total)) != 0)
			return rc;
		out->codec = g.codec;
		out->raw_len = g.raw_len;
		out->stored_len = g.stored_len;
		out->nmembers = (uint16_t)g.nmembers;
		out->table = r->stored + ARCA_RECORD_HEADER_LEN;
	} else {
		arca_record rec;
		if ((rc = arca_record_decode(&rec, r->stored, total)) != 0)
			return arca_err_wrap(rc, "pack %08u offset %llu", loc->pack,
				(unsigned long long)loc->offset);
		if (memcmp(rec.id, id, 32) != 0 || rec.raw_len != loc->raw_len ||
		    rec.stored_len != loc->stored_len || rec.codec != loc->codec)
			return arca_err_set(ARCA_ECORRUPT,
				"pack %08u offset %llu: record does not match the index",
				loc->pack, (unsigned long long)loc->offset);
		out->codec = rec.codec;
		out->raw_len = rec.raw_len;
		out->stored_len = rec.stored_len;
	}
	out->stored = r->stored + ARCA_RECORD_HEADER_LEN + tlen;
	return 0;
}
