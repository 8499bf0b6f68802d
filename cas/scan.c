/* Walking a pack's records from its bytes alone (arca repair): damage is
 * skipped to the next good header, a torn tail cut off. */
#include "cas/cas_impl.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Which record starts at `p`: 'K', 'G', 'M', or 0 when none does. */
static int record_at(const uint8_t *p, size_t n, arca_record *rec, arca_group *g,
		arca_meta_hdr *m)
{
	if (n < ARCA_RECORD_HEADER_LEN)
		return 0;
	if (!memcmp(p, ARCA_RECORD_MAGIC, 4))
		return arca_record_decode(rec, p, n) == 0 ? 'K' : 0;
	if (!memcmp(p, ARCA_GROUP_MAGIC, 4))
		return arca_group_decode(g, p, n) == 0 ? 'G' : 0;
	if (!memcmp(p, ARCA_META_MAGIC, 4))
		return arca_meta_decode(m, p, n) == 0 ? 'M' : 0;
	return 0;
}

/* Offset of the next good record header after `from`, or `size`. */
static uint64_t resync(int fd, uint64_t from, uint64_t size)
{
	enum { WIN = 1 << 20 };
	uint8_t *buf = malloc(WIN + ARCA_RECORD_HEADER_LEN);
	uint64_t at = from;
	if (!buf)
		return size;
	while (at < size) {
		ssize_t got = arca_pread_full(fd, buf, WIN + ARCA_RECORD_HEADER_LEN, (off_t)at);
		if (got <= 0)
			break;
		for (ssize_t i = 0; i + ARCA_RECORD_HEADER_LEN <= got; i++) {
			arca_record rec;
			arca_group g;
			arca_meta_hdr m;
			if (buf[i] == 'A' && record_at(buf + i, (size_t)(got - i), &rec, &g, &m)) {
				free(buf);
				return at + (uint64_t)i;
			}
		}
		if (got < WIN + ARCA_RECORD_HEADER_LEN)
			break;
		at += WIN;
	}
	free(buf);
	return size;
}

int arca_cas_scan_pack(arca_cas *cas, uint32_t no, const arca_cas_scan_ops *ops,
		arca_cas_scan_stats *ss, uint64_t *len)
{
	arca_buf pathb = ARCA_BUF_INIT(PATH_MAX);
	const char *path;
	uint8_t hdr[ARCA_RECORD_HEADER_LEN];
	struct stat st;
	uint64_t off = ARCA_PACK_HEADER_LEN, size;
	uint32_t hno;
	int fd, rc = 0, resynced = 0;

	if ((rc = arca_cas_pack_path(cas, no, &pathb)) != 0)
		return rc;
	path = arca_buf_cstr(&pathb);
	if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		rc = arca_err_sys("repair: open %s", path);
		arca_buf_release(&pathb);
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = arca_err_sys("repair: stat %s", path);
		goto done;
	}
	/* it becomes a live pack, which writers append to: 0600 like theirs */
	if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) {
		rc = arca_err_sys("repair: chmod %s", path);
		goto done;
	}
	size = (uint64_t)st.st_size;
	ss->opened = 1;
	/* the file name says which pack it is: a damaged header is rewritten */
	if (arca_pread_full(fd, hdr, ARCA_PACK_HEADER_LEN, 0) != ARCA_PACK_HEADER_LEN ||
	    arca_pack_header_decode(&hno, hdr, ARCA_PACK_HEADER_LEN) != 0 || hno != no) {
		arca_pack_header_encode(hdr, no);
		if (arca_pwrite_all(fd, hdr, ARCA_PACK_HEADER_LEN, 0) < 0) {
			rc = arca_err_sys("repair: rewrite header of %s", path);
			goto done;
		}
		if (size < ARCA_PACK_HEADER_LEN)
			size = ARCA_PACK_HEADER_LEN;
		ss->headers_fixed++;
	}
	while (off < size) {
		arca_record rec;
		arca_group g;
		arca_meta_hdr m;
		uint64_t total = 0;
		ssize_t got = arca_pread_full(fd, hdr, sizeof(hdr), (off_t)off);
		int kind = got > 0 ? record_at(hdr, (size_t)got, &rec, &g, &m) : 0;

		if (kind == 'K')
			total = ARCA_RECORD_HEADER_LEN + (uint64_t)rec.stored_len;
		else if (kind == 'G')
			total = ARCA_RECORD_HEADER_LEN + (uint64_t)g.nmembers * ARCA_GROUP_MEMBER_LEN +
				g.stored_len;
		else if (kind == 'M')
			total = ARCA_RECORD_HEADER_LEN + (uint64_t)m.len;
		/* after damage the scan may land inside a payload (a stored file
		 * that holds a pack): a header found there proves nothing, so its
		 * length is neither skipped nor taken for a torn tail unless the
		 * whole record checks out */
		if (kind && resynced && off + total > size)
			kind = 0;
		if (kind && off + total > size) {
			/* a record cut short at the end: a torn tail */
			ss->bytes_truncated += size - off;
			if (ftruncate(fd, (off_t)off) < 0) {
				rc = arca_err_sys("repair: truncate %s", path);
				goto done;
			}
			size = off;
			break;
		}
		if (kind == 'K')
			rc = ops->chunk(ops->ctx, no, off, &rec);
		else if (kind == 'G')
			rc = ops->group(ops->ctx, no, off, &g);
		else if (kind == 'M')
			rc = ops->meta(ops->ctx, fd, no, off, &m);
		if (rc < 0)
			goto done;
		if (!kind || (rc == 1 && resynced)) {
			uint64_t next = resync(fd, off + 1, size);
			ss->bytes_skipped += next - off;
			if (!kind)
				ss->records_damaged++;
			off = next;
			resynced = 1;
			rc = 0;
			continue;
		}
		rc = 0;
		resynced = 0;
		off += total;
	}
	if (fdatasync(fd) < 0) {
		rc = arca_err_sys("repair: sync %s", path);
		goto done;
	}
	*len = size;
done:
	close(fd);
	arca_buf_release(&pathb);
	return rc;
}
