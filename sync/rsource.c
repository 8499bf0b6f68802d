/*
 * The chunk source of a restore from a remote: records downloaded into
 * temporary files, read back with pread, checked as a local pack's are
 * (header, lengths, member table, decompression) and every chunk hashed
 * against its id before it is handed out.
 */
#include "sync/rsource.h"
#include "cas/hash.h"
#include "cas/pack.h"
#include "util/array.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/hex.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static int bad_short(const arca_rsource_loc *l)
{
	char hex[17];
	arca_hex_encode(hex, l->sha, 8);
	return arca_err_set(ARCA_ECORRUPT, "pack %s offset %" PRIu64 ": object shorter than "
		"its index says", hex, l->pack_off);
}

void arca_rsource_init(arca_rsource *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
}

int arca_rsource_gate(arca_rsource *r, size_t npieces)
{
	uint8_t *d = calloc(npieces ? npieces : 1, 1);
	if (!d)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	pthread_mutex_lock(&r->mu);
	free(r->done);
	r->done = d;
	r->npieces = npieces;
	r->failed = 0;
	pthread_mutex_unlock(&r->mu);
	return 0;
}

void arca_rsource_piece_done(arca_rsource *r, size_t i, int rc)
{
	pthread_mutex_lock(&r->mu);
	if (rc)
		r->failed = 1;
	else if (i < r->npieces)
		r->done[i] = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* Waits for the pieces that hold `l`. */
static int wait_pieces(arca_rsource *r, const arca_rsource_loc *l)
{
	int rc = 0;
	pthread_mutex_lock(&r->mu);
	for (uint32_t k = l->piece0; k < l->piece0 + l->npieces && !rc; k++) {
		while (k < r->npieces && !r->done[k] && !r->failed)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->failed || k >= r->npieces)
			rc = arca_err_set(ARCA_EIO, "the download failed");
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int arca_rsource_add(arca_rsource *r, const arca_idset *need, const arca_pidx *x,
		uint32_t npacks, const arca_fetch_run *runs, size_t nruns,
		const arca_fetch_landed *at, int *fds, size_t nfds, const uint32_t *piece0,
		uint64_t piece_size)
{
	size_t f0 = r->nfds, ri = 0;
	int rc;

	if ((rc = arca_array_grow(&r->fds, &r->fdcap, r->nfds + nfds, sizeof(*r->fds), 16)) != 0) {
		for (size_t i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return rc;
	}
	for (size_t i = 0; i < nfds; i++)
		r->fds[r->nfds++] = fds[i];
	/* the plan gives each pack's runs together, packs in order */
	for (uint32_t k = 0; k < npacks && ri < nruns; k++) {
		size_t a = ri, b = ri;
		while (b < nruns && runs[b].sha == x[k].pack_sha)
			b++;
		if (a == b)
			continue;
		ri = b;
		for (uint32_t i = 0; i < x[k].n; i++) {
			const arca_pidx_entry *e = &x[k].e[i];
			arca_rsource_loc l;
			size_t j;
			if (!arca_idset_has(need, e->id) || arca_idset_has(&r->at, e->id))
				continue;
			l.sha = x[k].pack_sha;
			l.pack_off = e->offset;
			l.len = e->length;
			l.member = e->member;
			if ((j = arca_fetch__run_at(runs, a, b, e->offset)) == b)
				return bad_short(&l);
			if (e->offset - runs[j].off + e->length > at[j].got)
				return bad_short(&l);
			l.file = (uint32_t)(f0 + at[j].file);
			l.off = at[j].base + (e->offset - runs[j].off);
			l.piece0 = l.npieces = 0;
			if (piece0) {
				uint64_t rel = e->offset - runs[j].off;
				l.piece0 = piece0[j] + (uint32_t)(rel / piece_size);
				l.npieces = (uint32_t)((rel + e->length - 1) / piece_size -
					rel / piece_size + 1);
			}
			if ((rc = arca_array_grow(&r->locs, &r->loccap, r->nlocs + 1, sizeof(*r->locs),
					256)) != 0 ||
			    (rc = arca_idset_put(&r->at, e->id, (uint32_t)r->nlocs)) < 0)
				return rc;
			r->locs[r->nlocs++] = l;
		}
	}
	return 0;
}

int arca_rsource_has(const arca_rsource *r, const uint8_t id[32])
{
	return arca_idset_has(&r->at, id);
}

void arca_rsource_release(arca_rsource *r)
{
	for (size_t i = 0; i < r->nfds; i++)
		if (r->fds[i] >= 0)
			close(r->fds[i]);
	free(r->fds);
	free(r->locs);
	free(r->done);
	arca_idset_release(&r->at);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	memset(r, 0, sizeof(*r));
}

/* ---- reading (one state per thread) ---- */

typedef struct {
	arca_decoder *dec;
	uint8_t *rec, *raw;          /* a chunk record and its raw bytes */
	size_t rec_cap, raw_cap;
	/* the last group record read: its members come from it while the
	 * next chunks are its members */
	uint8_t *grec, *graw;
	size_t grec_cap, graw_cap;
	uint32_t *goff;              /* member -> offset in graw */
	arca_group grp;
	int gvalid;
	uint32_t gfile;
	uint64_t goffset;
} rs_state;

static int rs_state_new(void *ctx, void **out)
{
	rs_state *st = calloc(1, sizeof(*st));
	int rc;
	(void)ctx;
	if (!st)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if (!(st->goff = malloc(ARCA_GROUP_MAX_MEMBERS * sizeof(*st->goff)))) {
		free(st);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	if ((rc = arca_decoder_new(&st->dec)) != 0) {
		free(st->goff);
		free(st);
		return rc;
	}
	*out = st;
	return 0;
}

static void rs_state_free(void *ctx, void *state)
{
	rs_state *st = state;
	(void)ctx;
	if (!st)
		return;
	arca_decoder_free(st->dec);
	free(st->rec);
	free(st->raw);
	free(st->grec);
	free(st->graw);
	free(st->goff);
	free(st);
}

/* The whole record at `l` into *buf. */
static int read_record(const arca_rsource *r, const arca_rsource_loc *l, uint8_t **buf,
		size_t *cap)
{
	size_t max = ARCA_RECORD_HEADER_LEN + (size_t)ARCA_GROUP_MAX_MEMBERS * ARCA_GROUP_MEMBER_LEN +
		arca_record_stored_max();
	ssize_t got;
	int rc;
	if (l->len < ARCA_RECORD_HEADER_LEN || l->len > max)
		return arca_err_set(ARCA_ECORRUPT, "the index gives a record of %" PRIu32 " bytes",
			l->len);
	if ((rc = arca_array_resize(buf, cap, l->len, 1)) != 0)
		return rc;
	got = arca_pread_full(r->fds[l->file], *buf, l->len, (off_t)l->off);
	if (got < 0)
		return arca_err_sys("read temporary file");
	if ((size_t)got != l->len)
		return arca_err_set(ARCA_ECORRUPT, "record cut short");
	return 0;
}

static int get_plain(const arca_rsource *r, rs_state *st, const arca_rsource_loc *l,
		const uint8_t id[32], const uint8_t **raw, uint32_t *len)
{
	arca_record rec;
	int rc;
	if ((rc = read_record(r, l, &st->rec, &st->rec_cap)) != 0)
		return rc;
	if (memcmp(st->rec, ARCA_RECORD_MAGIC, 4) != 0)
		return arca_err_set(ARCA_ECORRUPT, "not a chunk record");
	if ((rc = arca_record_decode(&rec, st->rec, ARCA_RECORD_HEADER_LEN)) != 0)
		return rc;
	if (memcmp(rec.id, id, 32) != 0)
		return arca_err_set(ARCA_ECORRUPT, "the record holds another chunk");
	if ((uint64_t)ARCA_RECORD_HEADER_LEN + rec.stored_len != l->len)
		return arca_err_set(ARCA_ECORRUPT, "record length differs from the index");
	if ((rc = arca_array_resize(&st->raw, &st->raw_cap, rec.raw_len, 1)) != 0 ||
	    (rc = arca_record_unpack(st->dec, &rec, st->rec + ARCA_RECORD_HEADER_LEN, st->raw,
		    st->raw_cap)) != 0)
		return rc;
	*raw = st->raw;
	*len = rec.raw_len;
	return 0;
}

static int load_group(const arca_rsource *r, rs_state *st, const arca_rsource_loc *l)
{
	const uint8_t *table;
	size_t tlen;
	uint64_t off = 0;
	int rc;

	st->gvalid = 0;
	if ((rc = read_record(r, l, &st->grec, &st->grec_cap)) != 0)
		return rc;
	if (memcmp(st->grec, ARCA_GROUP_MAGIC, 4) != 0)
		return arca_err_set(ARCA_ECORRUPT, "not a group record");
	if ((rc = arca_group_decode(&st->grp, st->grec, ARCA_RECORD_HEADER_LEN)) != 0)
		return rc;
	tlen = (size_t)st->grp.nmembers * ARCA_GROUP_MEMBER_LEN;
	if ((uint64_t)ARCA_RECORD_HEADER_LEN + tlen + st->grp.stored_len != l->len)
		return arca_err_set(ARCA_ECORRUPT, "record length differs from the index");
	table = st->grec + ARCA_RECORD_HEADER_LEN;
	if ((rc = arca_group_table_check(&st->grp, table)) != 0)
		return rc;
	if ((rc = arca_array_resize(&st->graw, &st->graw_cap,
			st->grp.raw_len ? st->grp.raw_len : 1, 1)) != 0 ||
	    (rc = arca_group_unpack(st->dec, &st->grp, table + tlen, st->graw, st->graw_cap)) != 0)
		return rc;
	for (uint32_t i = 0; i < st->grp.nmembers; i++) {
		st->goff[i] = (uint32_t)off;
		off += arca_get_le32(table + (size_t)i * ARCA_GROUP_MEMBER_LEN + 32);
	}
	st->gvalid = 1;
	st->gfile = l->file;
	st->goffset = l->off;
	return 0;
}

static int get_member(const arca_rsource *r, rs_state *st, const arca_rsource_loc *l,
		const uint8_t id[32], const uint8_t **raw, uint32_t *len)
{
	const uint8_t *m;
	uint8_t d[32];
	int rc;

	if (!(st->gvalid && st->gfile == l->file && st->goffset == l->off) &&
	    (rc = load_group(r, st, l)) != 0)
		return rc;
	if (l->member >= st->grp.nmembers)
		return arca_err_set(ARCA_ECORRUPT, "the index names member %u of a group of %" PRIu32,
			l->member, st->grp.nmembers);
	m = st->grec + ARCA_RECORD_HEADER_LEN + (size_t)l->member * ARCA_GROUP_MEMBER_LEN;
	if (memcmp(m, id, 32) != 0)
		return arca_err_set(ARCA_ECORRUPT, "the group holds another chunk there");
	*len = arca_get_le32(m + 32);
	*raw = st->graw + st->goff[l->member];
	if ((rc = arca_sha256_digest(d, *raw, *len)) != 0)
		return rc;
	if (memcmp(d, id, 32) != 0) {
		char hex[17];
		arca_hex_encode(hex, id, 8);
		return arca_err_set(ARCA_ECORRUPT, "chunk %s: content does not match its id", hex);
	}
	return 0;
}

static int rs_get(void *ctx, void *state, const uint8_t id[32], const uint8_t **raw,
		uint32_t *len)
{
	arca_rsource *r = ctx;
	rs_state *st = state;
	const arca_rsource_loc *l;
	uint32_t i;
	int rc;

	if (!arca_idset_get(&r->at, id, &i)) {
		char hex[17];
		arca_hex_encode(hex, id, 8);
		return arca_err_set(ARCA_ENOTFOUND, "chunk %s was not fetched", hex);
	}
	l = &r->locs[i];
	if (l->npieces && (rc = wait_pieces(r, l)) != 0)
		return rc;
	rc = l->member == ARCA_PIDX_PLAIN ? get_plain(r, st, l, id, raw, len) :
		get_member(r, st, l, id, raw, len);
	if (rc) {
		char hex[17];
		arca_hex_encode(hex, l->sha, 8);
		arca_err_wrap(rc, "pack %s offset %" PRIu64, hex, l->pack_off);
		return rc < 0 ? rc : ARCA_ECORRUPT;
	}
	return 0;
}

/* Which group record holds `id` (for the fill pool to keep its members
 * with one worker); the index is complete before the restore starts. */
static int rs_group(void *ctx, void *state, const uint8_t id[32], uint64_t *key)
{
	arca_rsource *r = ctx;
	const arca_rsource_loc *l;
	uint32_t i;
	(void)state;
	if (!arca_idset_get(&r->at, id, &i))
		return 0;
	l = &r->locs[i];
	if (l->member == ARCA_PIDX_PLAIN)
		return 0;
	*key = ((uint64_t)l->file << 48) ^ l->off;
	return 1;
}

arca_chunk_source arca_rsource_source(arca_rsource *r)
{
	arca_chunk_source src = { r, rs_state_new, rs_get, NULL, rs_state_free, rs_group };
	return src;
}
