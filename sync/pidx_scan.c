/* The expected index of a streamed pack object: one entry per chunk id,
 * at its first record, as arca_rpack_builder lists them. */
#include "sync/pidx_scan.h"
#include "cas/pack.h"
#include "util/array.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

enum { U_PACK_HDR, U_REC_HDR, U_TABLE, U_SKIP };

void arca_pidx_scan_init(arca_pidx_scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->unit = U_PACK_HDR;
	sc->need = ARCA_PACK_HEADER_LEN;
}

static int entry(arca_pidx_scan *sc, const uint8_t id[32], uint16_t member)
{
	int rc = arca_idset_add(&sc->seen, id);
	if (rc <= 0)
		return rc; /* 0: a later copy, the first one is indexed */
	if ((rc = arca_array_grow(&sc->e, &sc->cap_e, sc->n + 1, sizeof(*sc->e), 256)) != 0)
		return rc;
	memcpy(sc->e[sc->n].id, id, 32);
	sc->e[sc->n].offset = sc->rec_off;
	sc->e[sc->n].length = sc->rec_len;
	sc->e[sc->n].member = member;
	sc->n++;
	return 0;
}

/* buf holds a whole unit. */
static int unit_done(arca_pidx_scan *sc)
{
	arca_record rec;
	arca_group g;
	int rc;

	switch (sc->unit) {
	case U_PACK_HDR:
		sc->unit = U_REC_HDR;
		sc->need = ARCA_RECORD_HEADER_LEN;
		return 0;
	case U_REC_HDR:
		sc->rec_off = sc->start;
		if (!memcmp(sc->buf, ARCA_RECORD_MAGIC, 4) &&
		    arca_record_decode(&rec, sc->buf, sc->len) == 0) {
			sc->rec_len = ARCA_RECORD_HEADER_LEN + rec.stored_len;
			sc->skip = rec.stored_len;
			sc->unit = U_SKIP;
			return entry(sc, rec.id, ARCA_PIDX_PLAIN);
		}
		if (memcmp(sc->buf, ARCA_GROUP_MAGIC, 4) || arca_group_decode(&g, sc->buf, sc->len) ||
		    g.nmembers == 0 || g.nmembers > ARCA_GROUP_MAX_MEMBERS) {
			sc->bad = 1; /* the reader refuses it too, and says why */
			return 0;
		}
		sc->nmembers = g.nmembers;
		sc->rec_len = ARCA_RECORD_HEADER_LEN + g.nmembers * ARCA_GROUP_MEMBER_LEN +
			g.stored_len;
		sc->skip = g.stored_len;
		sc->unit = U_TABLE;
		sc->need = (size_t)g.nmembers * ARCA_GROUP_MEMBER_LEN;
		return 0;
	default: /* U_TABLE */
		sc->unit = U_SKIP;
		for (uint32_t i = 0; i < sc->nmembers; i++)
			if ((rc = entry(sc, sc->buf + (size_t)i * ARCA_GROUP_MEMBER_LEN,
					(uint16_t)i)) != 0)
				return rc;
		return 0;
	}
}

int arca_pidx_scan_feed(arca_pidx_scan *sc, const void *pv, size_t n)
{
	const uint8_t *p = pv;
	size_t k;
	int rc;

	while (n && !sc->bad) {
		if (sc->unit == U_SKIP) {
			if (!sc->skip) {
				sc->unit = U_REC_HDR;
				sc->need = ARCA_RECORD_HEADER_LEN;
				continue;
			}
			k = sc->skip < n ? (size_t)sc->skip : n;
			sc->skip -= k;
			sc->pos += k;
			p += k;
			n -= k;
			continue;
		}
		if (sc->len == 0)
			sc->start = sc->pos;
		if (sc->cap < sc->need) {
			uint8_t *b = realloc(sc->buf, sc->need);
			if (!b)
				return arca_err_set(ARCA_ENOMEM, "out of memory");
			sc->buf = b;
			sc->cap = sc->need;
		}
		k = sc->need - sc->len < n ? sc->need - sc->len : n;
		memcpy(sc->buf + sc->len, p, k);
		sc->len += k;
		sc->pos += k;
		p += k;
		n -= k;
		if (sc->len == sc->need) {
			rc = unit_done(sc);
			sc->len = 0;
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return memcmp(((const arca_pidx_entry *)a)->id, ((const arca_pidx_entry *)b)->id, 32);
}

int arca_pidx_scan_check(arca_pidx_scan *sc, const uint8_t sha[32], uint64_t size,
		const void *idx, size_t n)
{
	arca_pidx px = { { 0 }, 0, 0, NULL };
	int rc, bad;

	if (sc->bad || sc->n == 0)
		return arca_err_set(ARCA_ECORRUPT, "the pack before it holds no chunks it can index");
	if ((rc = arca_pidx_decode(&px, idx, n)) != 0)
		return rc;
	qsort(sc->e, sc->n, sizeof(*sc->e), cmp_entry);
	bad = memcmp(px.pack_sha, sha, 32) || px.pack_size != size || px.n != sc->n;
	for (size_t i = 0; !bad && i < sc->n; i++)
		bad = memcmp(px.e[i].id, sc->e[i].id, 32) || px.e[i].offset != sc->e[i].offset ||
			px.e[i].length != sc->e[i].length || px.e[i].member != sc->e[i].member;
	arca_pidx_clear(&px);
	return bad ? arca_err_set(ARCA_ECORRUPT, "it does not index the pack before it") : 0;
}

void arca_pidx_scan_release(arca_pidx_scan *sc)
{
	arca_idset_release(&sc->seen);
	free(sc->buf);
	free(sc->e);
	memset(sc, 0, sizeof(*sc));
}
