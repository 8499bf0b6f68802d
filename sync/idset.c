/* Open-addressing id set (sync/idset.h). */
#include "sync/idset.h"
#include "cas/hash.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(const arca_idset *s, const uint8_t id[32])
{
	uint64_t h = s->key;
	for (int i = 0; i < 4; i++) {
		uint64_t w;
		memcpy(&w, id + 8 * i, 8);
		h ^= w;
		h *= 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return (size_t)h & (s->cap - 1);
}

static int find(const arca_idset *s, const uint8_t id[32], size_t *at)
{
	size_t i = slot_of(s, id);
	while (s->used[i]) {
		if (!memcmp(s->slot[i], id, 32)) {
			*at = i;
			return 1;
		}
		i = (i + 1) & (s->cap - 1);
	}
	*at = i;
	return 0;
}

static int grow(arca_idset *s)
{
	arca_idset n = *s;
	size_t cap = s->cap ? s->cap * 2 : 64;
	if (cap > SIZE_MAX / 64)
		return arca_err_set(ARCA_ENOMEM, "out of memory (id set)");
	n.cap = cap;
	n.n = 0;
	n.slot = malloc(cap * 32);
	n.used = calloc(cap, 1);
	n.val = calloc(cap, sizeof(uint32_t));
	if (!n.slot || !n.used || !n.val) {
		free(n.slot);
		free(n.used);
		free(n.val);
		return arca_err_set(ARCA_ENOMEM, "out of memory (id set)");
	}
	if (!s->cap && arca_random_bytes(&n.key, sizeof(n.key)) != 0)
		n.key = (uint64_t)(uintptr_t)s ^ 0x61726361u;
	for (size_t i = 0; i < s->cap; i++) {
		size_t at;
		if (!s->used[i])
			continue;
		find(&n, s->slot[i], &at);
		memcpy(n.slot[at], s->slot[i], 32);
		n.val[at] = s->val[i];
		n.used[at] = 1;
		n.n++;
	}
	free(s->slot);
	free(s->used);
	free(s->val);
	*s = n;
	return 0;
}

int arca_idset_add(arca_idset *s, const uint8_t id[32])
{
	return arca_idset_put(s, id, 0);
}

int arca_idset_put(arca_idset *s, const uint8_t id[32], uint32_t v)
{
	size_t at;
	int rc;
	if (s->cap && find(s, id, &at))
		return 0;
	if ((s->n + 1) * 2 > s->cap) {
		if ((rc = grow(s)) != 0)
			return rc;
	}
	find(s, id, &at);
	memcpy(s->slot[at], id, 32);
	s->val[at] = v;
	s->used[at] = 1;
	s->n++;
	return 1;
}

int arca_idset_get(const arca_idset *s, const uint8_t id[32], uint32_t *v)
{
	size_t at;
	if (!s->cap || !find(s, id, &at))
		return 0;
	*v = s->val[at];
	return 1;
}

int arca_idset_has(const arca_idset *s, const uint8_t id[32])
{
	size_t at;
	return s->cap && find(s, id, &at);
}

void arca_idset_release(arca_idset *s)
{
	free(s->slot);
	free(s->used);
	free(s->val);
	memset(s, 0, sizeof(*s));
}
