/*
 * The remote layout's objects as bytes (docs/FORMAT.md, "Remote layout"):
 * keys, the marker, pack indexes, artifact objects, ref entries and hints,
 * the bundle header. Pure codecs: no I/O, no store. Every decoder takes
 * hostile bytes: bounds-checked, size-capped, fuzzed (fuzz/fuzz_layout.c),
 * and either fills its output completely or fails with ARCA_ECORRUPT and
 * a message naming the object.
 */
#ifndef ARCA_SYNC_LAYOUT_H
#define ARCA_SYNC_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "arca/arca.h"
#include "store/names.h"
#include "util/buf.h"

#define ARCA_LAYOUT_VERSION 1
#define ARCA_LAYOUT_MARKER_KEY "ARCA-REMOTE"
#define ARCA_LAYOUT_MARKER "arca-remote 1\n"

#define ARCA_PIDX_HEADER_LEN 64
#define ARCA_PIDX_ENTRY_LEN 48
#define ARCA_PIDX_MAX_ENTRIES 4194304u
#define ARCA_PIDX_PLAIN 0xFFFFu        /* member index of a chunk record */
#define ARCA_ARTO_HEADER_LEN 32
#define ARCA_ARTO_MAX_PACKS 65536u
#define ARCA_REF_ENTRY_MAX 1024        /* bytes of a ref entry or hint */
#define ARCA_REMOTE_PACK_TARGET (64u << 20)

/* ---- keys (into a buffer of at least ARCA_LAYOUT_KEY_MAX) ---- */

#define ARCA_LAYOUT_KEY_MAX 512
int arca_layout_pack_key(arca_buf *out, const uint8_t sha[32]);   /* packs/<hex>.arcp */
int arca_layout_index_key(arca_buf *out, const uint8_t sha[32]);  /* packs/<hex>.idx */
int arca_layout_artifact_key(arca_buf *out, const arca_id *id);   /* artifacts/<hex> */
/** refs/NAME/TAG/<seq as 16 hex digits>; seq 0 gives refs/NAME/TAG/HEAD. */
int arca_layout_ref_key(arca_buf *out, const char *name, const char *tag, uint64_t seq);
/** ARCA_EINVAL when ref NAME:TAG cannot have keys of its own: with a '/'
 *  in NAME, a TAG that is HEAD or 16 hex digits makes refs/NAME/TAG a
 *  directory where another ref keeps an entry (a dir remote cannot hold
 *  both). Push and export check it before they write anything. */
int arca_layout_ref_check(const char *name, const char *tag);
/** Parses a key under refs/ ("refs/NAME/TAG/<seq>" or ".../HEAD", seq 0);
 *  ARCA_EINVAL for anything else (checked names, as for local refs). */
int arca_layout_parse_ref_key(const char *key, char *name, size_t name_cap, char *tag,
		size_t tag_cap, uint64_t *seq);

/* ---- pack index ---- */

typedef struct {
	uint8_t id[32];
	uint64_t offset;      /* of the record in the pack object */
	uint32_t length;      /* of the whole record */
	uint16_t member;      /* ARCA_PIDX_PLAIN or index in the group */
} arca_pidx_entry;

typedef struct {
	uint8_t pack_sha[32];
	uint64_t pack_size;
	uint32_t n;
	arca_pidx_entry *e;   /* sorted by id; owned */
} arca_pidx;

/** Sorts `e` (n entries, 1 or more; of duplicate ids the entry at the
 *  lowest offset is kept) and appends the encoded index to `out`. */
int arca_pidx_encode(arca_buf *out, const uint8_t pack_sha[32], uint64_t pack_size,
		arca_pidx_entry *e, uint32_t n);
int arca_pidx_decode(arca_pidx *out, const void *p, size_t n);
/** The entry of `id`, or NULL (binary search). */
const arca_pidx_entry *arca_pidx_find(const arca_pidx *x, const uint8_t id[32]);
void arca_pidx_clear(arca_pidx *x);

/* ---- artifact object ---- */

typedef struct {
	const uint8_t *record;    /* into the decoded bytes */
	uint32_t record_len;
	uint32_t npacks;
	const uint8_t (*packs)[32]; /* into the decoded bytes; sorted, unique */
} arca_arto;

/** packs: sorted and deduplicated here. */
int arca_arto_encode(arca_buf *out, const void *record, uint32_t record_len,
		uint8_t (*packs)[32], uint32_t npacks);
/** Points into `p` (which must outlive *out). Checks layout only; the
 *  record is parsed by the caller (store/record.h). */
int arca_arto_decode(arca_arto *out, const void *p, size_t n);

/* ---- ref entries and hints ---- */

typedef struct {
	char name[ARCA_NAME_MAX + 1];
	char tag[ARCA_TAG_MAX + 1];
	uint64_t seq;
	int deleted;
	arca_id id;           /* unless deleted */
	int has_prev;
	arca_id prev;
	int64_t time_ns;
} arca_ref_entry;

int arca_ref_entry_encode(arca_buf *out, const arca_ref_entry *e);
/** Exactly the six canonical lines; anything else is ARCA_ECORRUPT. */
int arca_ref_entry_decode(arca_ref_entry *e, const void *p, size_t n);
int arca_ref_hint_encode(arca_buf *out, uint64_t seq);
int arca_ref_hint_decode(uint64_t *seq, const void *p, size_t n);

/* ---- bundle header (member "arca-bundle") ---- */

#define ARCA_BUNDLE_HEADER_KEY "arca-bundle"
#define ARCA_BUNDLE_MAX_REFS 4096
/* 4096 refs of the longest names and 4096 since lines fit */
#define ARCA_BUNDLE_HEADER_MAX (4u << 20)

typedef struct {
	size_t nrefs;
	char (*names)[ARCA_NAME_MAX + 1];
	char (*tags)[ARCA_TAG_MAX + 1];
	arca_id *ids;
	size_t nsince;
	arca_id *since;
} arca_bundle_header;

int arca_bundle_header_encode(arca_buf *out, const arca_bundle_header *h);
int arca_bundle_header_decode(arca_bundle_header *h, const void *p, size_t n);
void arca_bundle_header_clear(arca_bundle_header *h);

#endif
