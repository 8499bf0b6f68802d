/*
 * Manifest format, version 1 (docs/FORMAT.md, "Manifests").
 *
 * The writer emits canonical bytes through a callback; the reader is a
 * pull parser over a byte source that treats every byte as hostile: field
 * sizes are capped, paths are checked component by component and entries
 * must come in canonical order (pre-order, siblings sorted bytewise), so
 * a reader never needs more memory than one path per directory level.
 */
#ifndef ARCA_STORE_MANIFEST_H
#define ARCA_STORE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define ARCA_MF_MAGIC "ARCAMF"
#define ARCA_MF_VERSION 1
#define ARCA_MF_HEADER_LEN 12
#define ARCA_MF_PATH_MAX 4095
#define ARCA_MF_MAX_SIZE (1ull << 62)

enum {
	ARCA_MF_DIR = 'D',
	ARCA_MF_FILE = 'F',
	ARCA_MF_SYMLINK = 'L',
	ARCA_MF_HARDLINK = 'H',
	ARCA_MF_FIFO = 'P',
	ARCA_MF_END = 'E'
};

enum { ARCA_EXT_CHUNK = 'C', ARCA_EXT_HOLE = 'Z', ARCA_EXT_END = 'E' };

typedef struct {
	uint8_t type;
	const char *path;     /* "" for the root directory */
	size_t path_len;
	uint32_t mode;        /* permission bits, 07777 */
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const char *target;   /* symlink target, or hardlink's earlier path */
	size_t target_len;
	uint64_t size;        /* FILE: content size; its extents add up to it */
} arca_mf_entry;

typedef int (*arca_mf_write_fn)(void *ctx, const void *p, size_t n);

typedef struct {
	arca_mf_write_fn write;
	void *ctx;
	uint64_t pending_hole;  /* adjacent holes merge into one extent */
	int in_extents;
} arca_mf_writer;

void arca_mf_writer_init(arca_mf_writer *w, arca_mf_write_fn fn, void *ctx);
int arca_mf_write_header(arca_mf_writer *w, int kind);
/** Writes an entry; a FILE entry must be followed by extents and
 *  arca_mf_write_extents_end(). */
int arca_mf_write_entry(arca_mf_writer *w, const arca_mf_entry *e);
/** A chunk (`id` set) or hole (`id` NULL) of `len` bytes. */
int arca_mf_write_extent(arca_mf_writer *w, const uint8_t *id, uint64_t len);
int arca_mf_write_extents_end(arca_mf_writer *w);
/** Ends a tree manifest (after its last entry). */
int arca_mf_write_end(arca_mf_writer *w);

/** Reads exactly `n` bytes. Returns 0; ARCA_ENOTFOUND when the data ends
 *  exactly before the read (clean end); ARCA_ECORRUPT when it ends in the
 *  middle; or another error. */
typedef int (*arca_mf_read_fn)(void *ctx, void *p, size_t n);

typedef struct {
	arca_mf_read_fn read;
	void *ctx;
	int kind;
	int state;
	char path[ARCA_MF_PATH_MAX + 1];
	char prev[ARCA_MF_PATH_MAX + 1];
	char prev_dir[ARCA_MF_PATH_MAX + 1]; /* innermost open directory */
	size_t prev_len;
	char target[ARCA_MF_PATH_MAX + 1];
	/* ancestors of the next entry: path lengths of open directories */
	uint16_t dirs[ARCA_MF_PATH_MAX / 2 + 2];
	size_t ndirs;
	uint64_t extent_total;
	uint64_t expect_total;  /* FILE: size from the entry */
	int last_was_hole;     /* canonical form has no adjacent holes */
	uint64_t entries;
} arca_mf_reader;

void arca_mf_reader_init(arca_mf_reader *r, arca_mf_read_fn fn, void *ctx);
/** Reads the header; *kind is ARCA_KIND_TREE or ARCA_KIND_IMAGE. */
int arca_mf_read_header(arca_mf_reader *r, int *kind);
/**
 * Next tree entry: 1 with *e filled (strings valid until the next call),
 * 0 at the end of the manifest. After a FILE entry, read its extents.
 * `*depth_out` (may be NULL) receives how many directory levels the entry
 * sits below the root: consumers pop their directory stacks to that depth.
 */
int arca_mf_next_entry(arca_mf_reader *r, arca_mf_entry *e, size_t *depth_out);
/**
 * Next extent of the current file or image: 1 with *len and either
 * *has_id = 1 and id, or *has_id = 0 for a hole; 0 at the end of extents
 * (then *len is the total size via arca_mf_reader.extent_total).
 */
int arca_mf_next_extent(arca_mf_reader *r, uint8_t id[32], uint64_t *len, int *has_id);
/** 1 while the reader is inside a file's or image's extent list. */
int arca_mf_in_extents(const arca_mf_reader *r);
/** For images: after the last extent, confirms nothing follows. */
int arca_mf_read_finish(arca_mf_reader *r);

/** Canonical order of manifest paths: component-wise, '/' before every
 *  other byte. Returns <0, 0 or >0. */
int arca_mf_path_cmp(const char *a, size_t na, const char *b, size_t nb);

/** Checks one path as a manifest would carry it (components not empty,
 *  not "." or "..", no NUL, no leading or trailing '/'). */
int arca_mf_path_check(const char *p, size_t n);

#endif
