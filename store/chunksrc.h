/*
 * Where the fill pool and the manifest reader get chunk bytes from: the
 * store's chunk store (the default), or anything else that hands out
 * verified chunks for ids (a remote's records downloaded for a restore).
 */
#ifndef ARCA_STORE_CHUNKSRC_H
#define ARCA_STORE_CHUNKSRC_H

#include <stdint.h>

#include "store/store.h"

/* Every thread that reads has its own state from `state_new`. */
typedef struct {
	void *ctx;
	/** Per-thread buffers and handles into *state (freed by state_free). */
	int (*state_new)(void *ctx, void **state);
	/**
	 * The bytes of chunk `id`, checked to hash to it, into *raw (valid
	 * until the next get on the same state). ARCA_ENOTFOUND when the
	 * source has no such chunk; ARCA_ECORRUPT when what it has is bad.
	 */
	int (*get)(void *ctx, void *state, const uint8_t id[32], const uint8_t **raw,
			uint32_t *len);
	/** The store's keyed MAC of `id` (for compares): 1 with `tag`, 0 when
	 *  there is none. May be NULL (never a MAC). */
	int (*mac)(void *ctx, void *state, const uint8_t id[32], uint8_t tag[16]);
	void (*state_free)(void *ctx, void *state);
	/** Which record of the source holds `id`: 1 with *key (equal keys:
	 *  chunks one decode yields), 0 when unknown. The fill pool keeps
	 *  the chunks of a record with one worker, so it is decoded once.
	 *  May be NULL. */
	int (*group)(void *ctx, void *state, const uint8_t id[32], uint64_t *key);
} arca_chunk_source;

/** The chunks of store `s` (its cas; each state holds a read txn). */
arca_chunk_source arca_store__cas_source(arca_store *s);

#endif
