/*
 * Pack files and their self-describing chunk records (docs/FORMAT.md,
 * "Pack files"). Parsers here see hostile bytes: every field is checked.
 */
#ifndef ARCA_CAS_PACK_H
#define ARCA_CAS_PACK_H

#include <stddef.h>
#include <stdint.h>

#define ARCA_PACK_MAGIC "ARCAPACK"
#define ARCA_PACK_VERSION 1
#define ARCA_PACK_HEADER_LEN 16
#define ARCA_RECORD_MAGIC "ARCK"
#define ARCA_RECORD_VERSION 1
#define ARCA_RECORD_HEADER_LEN 64

enum { ARCA_CODEC_RAW = 0, ARCA_CODEC_ZSTD = 1 };

typedef struct {
	uint8_t id[32];
	uint8_t codec;
	uint32_t raw_len;
	uint32_t stored_len;
} arca_record;

/** Upper bound on stored_len for any record. */
size_t arca_record_stored_max(void);
/** Upper bound on a whole record, chunk or group: header, table, payload. */
size_t arca_record_total_max(void);

void arca_pack_header_encode(uint8_t out[ARCA_PACK_HEADER_LEN], uint32_t pack_no);
/** 0, or ARCA_ECORRUPT when the header is not a version-1 pack header. */
int arca_pack_header_decode(uint32_t *pack_no, const uint8_t *p, size_t n);

void arca_record_encode(uint8_t out[ARCA_RECORD_HEADER_LEN], const arca_record *r);
/** Parses and checks a record header; ARCA_ECORRUPT on any mismatch. */
int arca_record_decode(arca_record *r, const uint8_t *p, size_t n);

/*
 * Group records: several chunks compressed together as one zstd frame, so
 * small chunks compress as well as large ones while each keeps its own id.
 * Header (64 bytes, same check as a chunk record), then a member table of
 * (32-byte id, u32 raw length) entries, then the payload.
 */
#define ARCA_GROUP_MAGIC "ARCG"
#define ARCA_GROUP_MEMBER_LEN 36
#define ARCA_GROUP_MAX_MEMBERS 4096
#define ARCA_GROUP_RAW_MAX (8u * 1024 * 1024)

typedef struct {
	uint8_t codec;
	uint32_t raw_len;       /* sum of the members' raw lengths */
	uint32_t stored_len;    /* payload bytes */
	uint32_t nmembers;
	uint8_t table_hash[32]; /* SHA-256 of the member table */
} arca_group;

void arca_group_encode(uint8_t out[ARCA_RECORD_HEADER_LEN], const arca_group *g);
/** Parses and checks a group header; ARCA_ECORRUPT on any mismatch. */
int arca_group_decode(arca_group *g, const uint8_t *p, size_t n);
/** Checks a member table against its header (hash, lengths, sum). */
int arca_group_table_check(const arca_group *g, const uint8_t *table);

/*
 * Meta records: the store's metadata (artifacts, refs, history, chunking
 * parameters) journaled into the packs, so the index can be rebuilt from
 * the packs alone. Header (64 bytes, same check as a chunk record), then
 * the payload, whose SHA-256 the header holds.
 */
#define ARCA_META_MAGIC "ARCM"
#define ARCA_META_PAYLOAD_MAX (64u << 20)

enum {
	ARCA_META_PARAMS = 1,   /* u64 format, chunk min, avg, max; store id */
	ARCA_META_ART_PUT = 2,  /* id[32] + artifact record */
	ARCA_META_ART_DEL = 3,  /* id[32] */
	ARCA_META_REF_SET = 4,  /* id[32] + "NAME:TAG" */
	ARCA_META_REF_DEL = 5,  /* "NAME:TAG" */
	ARCA_META_HIST_ADD = 6, /* id[32] + i64 time ns + name */
	ARCA_META_CKPT_END = 7, /* u64 first seq, u64 last seq, u64 members */
	ARCA_META_COMMIT = 8,   /* u64 first seq, u64 records: the writer's
	                           records before this one are committed */
	ARCA_META_REMOTE_SET = 9, /* NAME + 0 + remote config */
	ARCA_META_REMOTE_DEL = 10, /* NAME */
	ARCA_META_ENV_SET = 11, /* NAME + 0 + env record */
	ARCA_META_ENV_DEL = 12, /* NAME */
	ARCA_META_TYPE_MAX = 12
};

/* flags */
#define ARCA_META_F_CKPT 1      /* member of a checkpoint */

typedef struct {
	uint8_t type;
	uint8_t flags;
	uint32_t len;           /* payload bytes */
	uint64_t seq;           /* store-wide, strictly increasing */
	uint32_t tag;           /* random per writer: tells an aborted writer's
	                           records from those that reused its numbers */
	uint8_t hash[32];       /* SHA-256 of the payload */
} arca_meta_hdr;

#define ARCA_STORE_ID_LEN 16

/** A meta record's hash: SHA-256 of the store id, then the payload (a
 *  then b). Binding records to their store keeps another store's records
 *  (say, a pack file stored inside a snapshot) from ever being replayed. */
int arca_meta_hash(uint8_t out[32], const uint8_t store_id[ARCA_STORE_ID_LEN],
		const void *a, size_t alen, const void *b, size_t blen);

void arca_meta_encode(uint8_t out[ARCA_RECORD_HEADER_LEN], const arca_meta_hdr *m);
/** Parses and checks a meta record header; ARCA_ECORRUPT on any mismatch. */
int arca_meta_decode(arca_meta_hdr *m, const uint8_t *p, size_t n);

typedef struct arca_decoder arca_decoder;

int arca_decoder_new(arca_decoder **out);
void arca_decoder_free(arca_decoder *d);

/**
 * Turns a record's stored payload back into its raw bytes in `raw`
 * (capacity `raw_cap` >= r->raw_len) and checks they hash to r->id.
 * ARCA_ECORRUPT when they do not.
 */
int arca_record_unpack(arca_decoder *d, const arca_record *r,
		const uint8_t *stored, uint8_t *raw, size_t raw_cap);
/** The same without the hash check (the caller checks another way). */
int arca_record_decompress(arca_decoder *d, const arca_record *r,
		const uint8_t *stored, uint8_t *raw, size_t raw_cap);

/** Decompresses a group payload into exactly g->raw_len bytes of `raw`.
 *  Members are not hashed here; callers hash what they use. */
int arca_group_unpack(arca_decoder *d, const arca_group *g, const uint8_t *stored,
		uint8_t *raw, size_t raw_cap);
/**
 * Decodes group `g`'s payload into `raw` until at least its first `need`
 * bytes are out (stopping soon after), resuming from *in_pos and *out_pos
 * (0 and 0 to begin; nothing else may use `d` in between); with `need`
 * the whole group, also the frame's end (checksum, nothing after it).
 * Returns at once when that is done already. The bytes are not checked:
 * the caller checks each member it takes.
 */
int arca_group_unpack_upto(arca_decoder *d, const arca_group *g, const uint8_t *stored,
		uint8_t *raw, size_t raw_cap, size_t *in_pos, size_t *out_pos, size_t need);

#endif
