/* Chunk id -> u32 map with open addressing and linear probing. */
#include "sync/chunkset.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(const uint8_t id[32], size_t cap)
{
	return (size_t)arca_get_le64(id) & (cap - 1);
}

static int find(const arca_chunkset *cs, const uint8_t id[32], size_t *slot)
{
	size_t i = slot_of(id, cs->cap);
	for (;; i = (i + 1) & (cs->cap - 1)) {
		if (!cs->vals[i]) {
			*slot = i;
			return 0;
		}
		if (!memcmp(cs->keys[i], id, 32)) {
			*slot = i;
			return 1;
		}
	}
}

static int grow(arca_chunkset *cs)
{
	size_t cap = cs->cap ? cs->cap * 2 : 1024, slot;
	arca_chunkset next = { NULL, NULL, cap, cs->n };

	if (cap < cs->cap || cap > SIZE_MAX / 32)
		return arca_err_set(ARCA_ENOMEM, "chunk set: too many chunks");
	next.keys = malloc(cap * 32);
	next.vals = calloc(cap, sizeof(uint32_t));
	if (!next.keys || !next.vals) {
		free(next.keys);
		free(next.vals);
		return arca_err_set(ARCA_ENOMEM, "out of memory (chunk set of %zu ids)", cs->n);
	}
	for (size_t i = 0; i < cs->cap; i++) {
		if (!cs->vals[i])
			continue;
		find(&next, cs->keys[i], &slot);
		memcpy(next.keys[slot], cs->keys[i], 32);
		next.vals[slot] = cs->vals[i];
	}
	free(cs->keys);
	free(cs->vals);
	*cs = next;
	return 0;
}

int arca_chunkset_add(arca_chunkset *cs, const uint8_t id[32], uint32_t val)
{
	size_t slot;
	int rc;
	if ((cs->n + 1) * 4 > cs->cap * 3 && (rc = grow(cs)) != 0)
		return rc;
	if (find(cs, id, &slot))
		return 1;
	memcpy(cs->keys[slot], id, 32);
	cs->vals[slot] = val + 1;
	cs->n++;
	return 0;
}

int arca_chunkset_get(const arca_chunkset *cs, const uint8_t id[32], uint32_t *val)
{
	size_t slot;
	if (!cs->cap || !find(cs, id, &slot))
		return 0;
	if (val)
		*val = cs->vals[slot] - 1;
	return 1;
}

void arca_chunkset_release(arca_chunkset *cs)
{
	free(cs->keys);
	free(cs->vals);
	memset(cs, 0, sizeof(*cs));
}
