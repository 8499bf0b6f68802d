/*
 * Content-defined chunking (FastCDC: gear rolling hash, normalized
 * chunking, cut-point skipping below the minimum size).
 *
 * The chunker is a pure function of the byte stream: boundaries do not
 * depend on how the stream is split across calls.
 */
#ifndef ARCA_CAS_CHUNKER_H
#define ARCA_CAS_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define ARCA_CHUNK_MIN_DEFAULT (16u * 1024)
#define ARCA_CHUNK_AVG_DEFAULT (64u * 1024)
#define ARCA_CHUNK_MAX_DEFAULT (256u * 1024)
/* Hard limit on any chunk, also enforced on every reader of stored data. */
#define ARCA_CHUNK_MAX_LIMIT (8u * 1024 * 1024)

typedef struct {
	uint32_t min, avg, max;
	uint64_t mask_s;  /* stricter mask before the average size */
	uint64_t mask_l;  /* looser mask after it */
	uint64_t hash;
	uint32_t pos;     /* bytes in the current chunk so far */
} arca_chunker;

/** Validates sizes: 64 <= min <= avg <= max <= ARCA_CHUNK_MAX_LIMIT,
 *  avg a power of two. Returns 0 or ARCA_EINVAL. */
int arca_chunker_check(uint32_t min, uint32_t avg, uint32_t max);

void arca_chunker_init(arca_chunker *c, uint32_t min, uint32_t avg, uint32_t max);

/** Starts a new chunk (e.g. at the beginning of a file or data region). */
static inline void arca_chunker_reset(arca_chunker *c)
{
	c->hash = 0;
	c->pos = 0;
}

/**
 * Scans `p[0..n)`. Returns how many of those bytes belong to the current
 * chunk and sets *cut to 1 when the chunk ends right after them (the
 * chunker is then reset for the next chunk); *cut = 0 means all `n`
 * bytes were consumed and the chunk continues.
 */
size_t arca_chunker_scan(arca_chunker *c, const uint8_t *p, size_t n, int *cut);

#endif
