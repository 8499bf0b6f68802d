#include "cas/chunker.h"
#include "util/error.h"

#include <pthread.h>

/* The gear table is derived from a fixed seed with splitmix64 so that any
 * two stores with the same chunk sizes cut identical boundaries
 * (docs/FORMAT.md, "Chunking"). */
#define GEAR_SEED 0x61726361u /* "arca" */

static uint64_t gear[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

static void gear_init(void)
{
	uint64_t s = GEAR_SEED;
	for (int i = 0; i < 256; i++) {
		uint64_t z = (s += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		gear[i] = z ^ (z >> 31);
	}
}

static unsigned log2_u32(uint32_t v)
{
	unsigned k = 0;
	while (v > 1) {
		v >>= 1;
		k++;
	}
	return k;
}

/* `bits` one-bits at the top of the word: the gear hash shifts left, so
 * high bits depend on the most recent 64 bytes. */
static uint64_t top_mask(unsigned bits)
{
	if (bits == 0)
		return 0;
	if (bits >= 64)
		return ~0ull;
	return ~0ull << (64 - bits);
}

int arca_chunker_check(uint32_t min, uint32_t avg, uint32_t max)
{
	if (min < 64 || min > avg || avg > max || max > ARCA_CHUNK_MAX_LIMIT ||
	    (avg & (avg - 1)) != 0)
		return arca_err_set(ARCA_EINVAL,
			"invalid chunk sizes min=%u avg=%u max=%u (need 64 <= min <= avg <= max <= %u, avg a power of two)",
			min, avg, max, ARCA_CHUNK_MAX_LIMIT);
	return 0;
}

void arca_chunker_init(arca_chunker *c, uint32_t min, uint32_t avg, uint32_t max)
{
	unsigned k;

	pthread_once(&gear_once, gear_init);
	c->min = min;
	c->avg = avg;
	c->max = max;
	k = log2_u32(avg);
	/* Normalized chunking, level 2 (FastCDC paper, section 3.3). */
	c->mask_s = top_mask(k + 2);
	c->mask_l = top_mask(k >= 2 ? k - 2 : 0);
	arca_chunker_reset(c);
}

size_t arca_chunker_scan(arca_chunker *c, const uint8_t *p, size_t n, int *cut)
{
	const uint64_t mask_s = c->mask_s, mask_l = c->mask_l;
	uint64_t h = c->hash;
	size_t pos = c->pos; /* chunk bytes seen before p[0] */
	size_t i = 0, lim;
	size_t avg_end = c->avg > pos ? c->avg - pos : 0;
	size_t max_end = c->max - pos;

	*cut = 0;
	if (pos < c->min) {
		size_t skip = c->min - pos;
		if (skip >= n) {
			c->pos += (uint32_t)n;
			return n;
		}
		i = skip;
	}
	lim = n < avg_end ? n : avg_end;
	for (; i < lim; i++) {
		h = (h << 1) + gear[p[i]];
		if (!(h & mask_s)) {
			i++;
			goto found;
		}
	}
	lim = n < max_end ? n : max_end;
	for (; i < lim; i++) {
		h = (h << 1) + gear[p[i]];
		if (!(h & mask_l)) {
			i++;
			goto found;
		}
	}
	if (i == max_end)
		goto found;
	c->hash = h;
	c->pos = (uint32_t)(pos + n);
	return n;
found:
	*cut = 1;
	arca_chunker_reset(c);
	return i;
}
