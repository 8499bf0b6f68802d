/*
 * The tar side of bundles (sync/bundle_tar.c): libarchive, set up so that
 * the same members give the same bytes, and its errors as arca errors.
 * Only the bundle code sees libarchive.
 */
#ifndef ARCA_SYNC_BUNDLE_TAR_H
#define ARCA_SYNC_BUNDLE_TAR_H

#include <stddef.h>
#include <stdint.h>

struct archive;
typedef struct arca_bundle_sink arca_bundle_sink;

/* Caps on a member's size, by kind (docs/FORMAT.md, "Bundle"). */
#define ARCA_BUNDLE_MAX_PACK (256ull << 20)
#define ARCA_BUNDLE_MAX_INDEX (192ull << 20)
#define ARCA_BUNDLE_MAX_ARTO ((65ull << 20) + 32ull * 65536)
#define ARCA_BUNDLE_MAX_SMALL (64u << 10)    /* the marker and ref entries */

/** A POSIX (pax restricted) tar writer on `fd`: no compression, every
 *  block but the last padded, whatever `fd` is. */
int arca_bundle__tar_open_write(struct archive **out, arca_bundle_sink **sink, int fd);
/** Starts member `key` of `size` bytes: a regular file, mode 0644, owner
 *  0:0 without names, mtime 0. */
int arca_bundle__tar_header(struct archive *a, const char *key, uint64_t size);
int arca_bundle__tar_data(struct archive *a, const char *key, const void *p, size_t n);
/** Writes the end of the archive. */
int arca_bundle__tar_close(struct archive *a);

/** A tar reader on `fd` (ustar and pax; no compression). */
int arca_bundle__tar_open_read(struct archive **out, int fd);
/** Bytes written to or read from the fd so far (the tar's own). */
uint64_t arca_bundle__tar_bytes(struct archive *a);
/** The error of the last libarchive call on `a`, as `code` with context. */
int arca_bundle__tar_error(struct archive *a, int code, const char *what);
/** Frees a writer (NULL ok), writing nothing more (after
 *  arca_bundle__tar_close, or after a failure); does not close the fd. */
void arca_bundle__tar_free_writer(struct archive *a, arca_bundle_sink *sink);
/** Frees a reader (NULL ok); does not close the fd. */
void arca_bundle__tar_free_reader(struct archive *a);

#endif
