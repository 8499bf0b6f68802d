/*
 * The index a pack object must have, worked out from its bytes as they
 * stream past (sync/pidx_scan.c): an importer checks the index that came
 * with a pack against it. Only record headers and group tables are
 * looked at (and buffered); the records themselves are checked by the
 * remote-pack reader that takes the same bytes.
 */
#ifndef ARCA_SYNC_PIDX_SCAN_H
#define ARCA_SYNC_PIDX_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "sync/idset.h"
#include "sync/layout.h"

typedef struct {
	int unit;                /* what buf is gathering */
	uint8_t *buf;
	size_t len, need, cap;
	uint64_t pos;            /* bytes taken so far */
	uint64_t start;          /* stream offset of the unit in buf */
	uint64_t skip;           /* payload bytes still to pass over */
	uint64_t rec_off;        /* the current record's offset and length */
	uint32_t rec_len;
	uint32_t nmembers;
	int bad;                 /* not a pack object: the reader says why */
	arca_idset seen;
	arca_pidx_entry *e;
	size_t n, cap_e;
} arca_pidx_scan;

void arca_pidx_scan_init(arca_pidx_scan *sc);
/** Takes the next bytes of the pack object; ARCA_ENOMEM only. */
int arca_pidx_scan_feed(arca_pidx_scan *sc, const void *p, size_t n);
/** 0 when the index `idx` (n bytes) is exactly the one the pack object
 *  (`sha`, `size` bytes) scanned has: header, every entry, nothing else.
 *  ARCA_ECORRUPT otherwise. */
int arca_pidx_scan_check(arca_pidx_scan *sc, const uint8_t sha[32], uint64_t size,
		const void *idx, size_t n);
void arca_pidx_scan_release(arca_pidx_scan *sc);

#endif
