/* A set of 32-byte ids (chunk ids, pack names) for the sync engine: open
 * addressing, hashed with a random key so that ids a remote chose cannot
 * be made to collide. */
#ifndef ARCA_SYNC_IDSET_H
#define ARCA_SYNC_IDSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint8_t (*slot)[32];
	uint8_t *used;
	uint32_t *val;        /* a value per id (0 unless set) */
	size_t cap, n;
	uint64_t key;
} arca_idset;

#define ARCA_IDSET_INIT { NULL, NULL, NULL, 0, 0, 0 }

/** 1 when `id` was added, 0 when it was there, ARCA_ENOMEM. */
int arca_idset_add(arca_idset *s, const uint8_t id[32]);
/** Adds `id` with value `v` unless present: 1 added, 0 present (its
 *  value kept), ARCA_ENOMEM. */
int arca_idset_put(arca_idset *s, const uint8_t id[32], uint32_t v);
/** 1 with *v when `id` is in the set, else 0. */
int arca_idset_get(const arca_idset *s, const uint8_t id[32], uint32_t *v);
/** 1 when `id` is in the set. */
int arca_idset_has(const arca_idset *s, const uint8_t id[32]);
void arca_idset_release(arca_idset *s);

#endif
