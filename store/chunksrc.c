/* The default chunk source: the store's own chunk store. */
#include "store/chunksrc.h"
#include "util/error.h"

#include <stdlib.h>

typedef struct {
	arca_chunk_reader rd;
	MDB_txn *txn;
} cas_state;

static int cas_state_new(void *ctx, void **out)
{
	arca_store *s = ctx;
	cas_state *st = calloc(1, sizeof(*st));
	int rc;
	if (!st)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if ((rc = arca_chunk_reader_init(&st->rd)) != 0) {
		free(st);
		return rc;
	}
	if ((rc = arca_cas_txn_read(s->cas, &st->txn)) != 0) {
		arca_chunk_reader_release(&st->rd);
		free(st);
		return rc;
	}
	{
		uint8_t key[32];
		/* the store's own chunks: checked by their MACs, much faster */
		if (arca_cas_mac_key(s->cas, st->txn, key) == 1)
			arca_chunk_reader_set_key(&st->rd, key);
	}
	*out = st;
	return 0;
}

static int cas_get(void *ctx, void *state, const uint8_t id[32], const uint8_t **raw,
		uint32_t *len)
{
	arca_store *s = ctx;
	cas_state *st = state;
	return arca_cas_get(s->cas, st->txn, id, &st->rd, raw, len);
}

static int cas_mac(void *ctx, void *state, const uint8_t id[32], uint8_t tag[16])
{
	arca_store *s = ctx;
	cas_state *st = state;
	return arca_cas_mac_get(s->cas, st->txn, id, tag);
}

static int cas_group(void *ctx, void *state, const uint8_t id[32], uint64_t *key)
{
	arca_store *s = ctx;
	cas_state *st = state;
	arca_chunk_loc loc;
	if (arca_cas_lookup(s->cas, st->txn, id, &loc) != 0 || !loc.grouped)
		return 0;
	*key = ((uint64_t)loc.pack << 40) ^ loc.offset;
	return 1;
}

static void cas_state_free(void *ctx, void *state)
{
	cas_state *st = state;
	(void)ctx;
	if (!st)
		return;
	if (st->txn)
		mdb_txn_abort(st->txn);
	arca_chunk_reader_release(&st->rd);
	free(st);
}

arca_chunk_source arca_store__cas_source(arca_store *s)
{
	arca_chunk_source src = { s, cas_state_new, cas_get, cas_mac, cas_state_free, cas_group };
	return src;
}
