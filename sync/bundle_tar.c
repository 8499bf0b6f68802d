/* libarchive for bundles: a deterministic tar writer and a plain tar
 * reader, with their errors translated. */
#include "sync/versions.h"
#include "sync/bundle_tar.h"
#include "arca/arca.h"
#include "util/error.h"

#include <stdlib.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>

#define TAR_BLOCK 10240

int arca_bundle__tar_error(struct archive *a, int code, const char *what)
{
	const char *m = a ? archive_error_string(a) : NULL;
	int e = a ? archive_errno(a) : 0;
	if (code == ARCA_EIO && (e == ENOSPC || e == EDQUOT))
		code = ARCA_ENOSPC;
	return arca_err_set(code, "%s: %s", what, m ? m : "libarchive failed");
}

uint64_t arca_bundle__tar_bytes(struct archive *a)
{
	la_int64_t n = archive_filter_bytes(a, -1);
	return n > 0 ? (uint64_t)n : 0;
}

/* Where the bytes go: the fd, until a failure says to drop the rest. */
struct arca_bundle_sink {
	int fd;
	int discard;
};

static la_ssize_t sink_write(struct archive *a, void *cd, const void *buf, size_t n)
{
	arca_bundle_sink *s = cd;
	const char *p = buf;
	size_t done = 0;
	if (s->discard)
		return (la_ssize_t)n;
	while (done < n) {
		ssize_t w = write(s->fd, p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			archive_set_error(a, w < 0 ? errno : EIO, "write");
			return -1;
		}
		done += (size_t)w;
	}
	return (la_ssize_t)n;
}

int arca_bundle__tar_open_write(struct archive **out, arca_bundle_sink **sink, int fd)
{
	struct archive *a = archive_write_new();
	arca_bundle_sink *s = calloc(1, sizeof(*s));
	if (!a || !s) {
		if (a)
			archive_write_free(a);
		free(s);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	s->fd = fd;
	/* libarchive pads the last block only for fd 1 and devices unless
	 * told: a file and a pipe must get the same bytes */
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, TAR_BLOCK) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open2(a, s, NULL, sink_write, NULL, NULL) != ARCHIVE_OK) {
		int rc = arca_bundle__tar_error(a, ARCA_EIO, "bundle: open for writing");
		archive_write_free(a);
		free(s);
		return rc;
	}
	*out = a;
	*sink = s;
	return 0;
}

int arca_bundle__tar_header(struct archive *a, const char *key, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	int r;
	if (!e)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	archive_entry_set_pathname(e, key);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return arca_bundle__tar_error(a, ARCA_EIO, "bundle: write member header");
	return 0;
}

int arca_bundle__tar_data(struct archive *a, const char *key, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		la_ssize_t w = archive_write_data(a, c, n);
		if (w <= 0) {
			int rc = arca_bundle__tar_error(a, ARCA_EIO, "bundle: write");
			return arca_err_wrap(rc, "%s", key);
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int arca_bundle__tar_close(struct archive *a)
{
	if (archive_write_close(a) != ARCHIVE_OK)
		return arca_bundle__tar_error(a, ARCA_EIO, "bundle: write the end");
	return 0;
}

int arca_bundle__tar_open_read(struct archive **out, int fd)
{
	struct archive *a = archive_read_new();
	if (!a)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if (archive_read_support_filter_none(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open_fd(a, fd, TAR_BLOCK) != ARCHIVE_OK) {
		int rc = arca_bundle__tar_error(a, ARCA_ECORRUPT, "bundle: not a tar file");
		archive_read_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void arca_bundle__tar_free_writer(struct archive *a, arca_bundle_sink *sink)
{
	/* after a failure no end is written: a cut bundle must look cut. The
	 * sink drops what the free still writes (archive_write_fail would
	 * keep libarchive from freeing its buffers). */
	if (sink)
		sink->discard = 1;
	if (a)
		(void)archive_write_free(a);
	free(sink);
}

void arca_bundle__tar_free_reader(struct archive *a)
{
	if (a)
		(void)archive_read_free(a);
}

const char *arca_sync__archive_version(void)
{
	/* "libarchive 3.6.2" */
	const char *v = archive_version_string();
	return v && !strncmp(v, "libarchive ", 11) ? v + 11 : v;
}
