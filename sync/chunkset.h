/*
 * A map from chunk ids to a u32, in memory, for the sets an export
 * builds (the chunks a --since base has, the bundle pack each chunk went
 * to). Open addressing on the ids' own bytes (SHA-256 outputs, so
 * uniform): 36 bytes a slot, at most 3/4 full, so 48..96 bytes per id;
 * ten million chunks (640 GiB at 64 KiB) take under 1 GiB.
 */
#ifndef ARCA_SYNC_CHUNKSET_H
#define ARCA_SYNC_CHUNKSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint8_t (*keys)[32];
	uint32_t *vals;       /* value + 1; 0 marks an empty slot */
	size_t cap;           /* a power of two, or 0 */
	size_t n;
} arca_chunkset;

#define ARCA_CHUNKSET_INIT { NULL, NULL, 0, 0 }
/* The largest value a set holds. */
#define ARCA_CHUNKSET_VAL_MAX (UINT32_MAX - 1)

/** Adds `id` with `val` (<= ARCA_CHUNKSET_VAL_MAX) unless present:
 *  1 when it was (its value is kept), 0 when added, ARCA_ENOMEM. */
int arca_chunkset_add(arca_chunkset *cs, const uint8_t id[32], uint32_t val);
/** 1 with *val (may be NULL) when `id` is in the set, else 0. */
int arca_chunkset_get(const arca_chunkset *cs, const uint8_t id[32], uint32_t *val);
/** Frees the memory; the set is empty and reusable. */
void arca_chunkset_release(arca_chunkset *cs);

#endif
